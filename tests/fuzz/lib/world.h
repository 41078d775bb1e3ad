/*
 * What the stack-level fuzz targets share: a stack on a virtual clock whose
 * peer is the fuzzer, helpers that build well-formed IPv4, TCP, UDP and ICMP
 * packets around fuzzed fields (valid checksums, so that the bytes reach the
 * layer under test instead of dying at a checksum), TCP connections set up
 * by injected segments, and the invariant check run after every step.
 *
 * Input is consumed with fz_take*: past its end they return zeros, so every
 * prefix of an input is itself a valid program.
 */
#ifndef USTACK_FUZZ_WORLD_H
#define USTACK_FUZZ_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/ustack.h>

#define FZ_ME 0xC6120002u   /* 198.18.0.2, the stack */
#define FZ_PEER 0xC6120001u /* 198.18.0.1, the fuzzer */

/* A TCP connection as the peer sees it. */
struct fz_conn {
	uint16_t sport, dport; /* the peer's port, the stack's */
	uint32_t peer_nxt;     /* next sequence number the peer sends */
	uint32_t stack_nxt;    /* highest the stack has sent, +1 */
	int fd;
};

struct fz_world {
	struct ustack *st;
	ustack_time_t now;
	const uint8_t *in;
	size_t left;
	struct fz_conn *conns; /* the connections whose stack_nxt output() follows */
	int nconns;
	/* The last packet the stack sent (its first bytes), for targets that
	 * quote it back, as a router's ICMP error would. */
	uint8_t last_out[128];
	size_t last_out_len;
};

uint8_t fz_take8(struct fz_world *w);
uint16_t fz_take16(struct fz_world *w);
uint32_t fz_take32(struct fz_world *w);
/* Up to n bytes of input, in place; *got says how many. */
const uint8_t *fz_take(struct fz_world *w, size_t n, size_t *got);

/* A stack at FZ_ME with small buffers; aborts on failure. */
void fz_create(struct fz_world *w, const uint8_t *data, size_t size);
void fz_destroy(struct fz_world *w);
/* Aborts with the reason when an invariant of the stack is broken. */
void fz_check(struct fz_world *w);
/* The same for the receive queue of the UDP socket fd, if it is one. */
void fz_check_udp(struct fz_world *w, int fd);
void fz_advance(struct fz_world *w, ustack_time_t dt);

/* An IPv4 packet from FZ_PEER with this payload, frag field and id. */
void fz_inject_ip(struct fz_world *w, uint8_t proto, uint16_t id, uint16_t frag, const uint8_t *payload,
		  size_t len);
/* Writes a TCP segment src -> dst into th: the header with these fields
 * and options (optlen at most 40), plen payload bytes of 'x', the
 * checksum. th must hold 60 + plen bytes. Returns the segment's length. */
size_t fz_build_tcp(uint8_t *th, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
		    uint32_t seq, uint32_t ack, uint16_t win, const uint8_t *opts, size_t optlen, size_t plen);
/* A TCP segment from FZ_PEER, plen payload bytes of 'x'. */
void fz_inject_tcp(struct fz_world *w, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t win, const uint8_t *opts, size_t optlen, size_t plen);

/* Establishes c (sport, dport, peer_nxt set) with the stack's listener
 * on c->dport, and accepts it: c->fd. */
void fz_connect_in(struct fz_world *w, struct fz_conn *c, int lfd);
/* The stack connects out to FZ_PEER:c->sport; the peer answers. */
void fz_connect_out(struct fz_world *w, struct fz_conn *c);

#endif
