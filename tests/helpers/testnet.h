/*
 * Test fixtures.
 *
 * struct tpeer drives one stack by hand, as smoltcp's socket tests do: the
 * test plays the remote host, sends exact segments with tpeer_send and reads
 * back exactly what the stack sent with tpeer_next. A test reads like the
 * RFC's figures: "send this, expect exactly these, then nothing".
 *
 * struct tnet puts two stacks on the simulator and records every segment on
 * the wire, for scenarios where both ends are ustack.
 */
#ifndef USTACK_TESTS_TESTNET_H
#define USTACK_TESTS_TESTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/ustack.h>

#define T_ADDR_A 0xC6120001u /* 198.18.0.1 */
#define T_ADDR_B 0xC6120002u /* 198.18.0.2 */
#define T_MAXSEG 4096
#define T_MAXDATA 2048

struct tseg {
	ustack_time_t t;
	struct ustack_tcp_segment h;
	uint8_t data[T_MAXDATA];
	bool bad; /* did not parse as IPv4/TCP */
};

/* ---- one stack, the test as its peer ---- */

struct tpeer {
	struct ustack *st;
	ustack_time_t now;
	uint32_t addr;      /* the stack's */
	uint32_t peer_addr; /* the test's */
	struct tseg *out;
	size_t nout, rd;
	char trace[64 * 1024]; /* formatted trace, for failure messages */
	size_t trace_len;
};

/* cfg may be NULL; its addr, output and trace are replaced. */
void tpeer_init(struct tpeer *p, const struct ustack_config *cfg);
void tpeer_fini(struct tpeer *p);

/* Sends a segment from peer_addr:sport to the stack's dport. */
void tpeer_send(struct tpeer *p, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		uint16_t win, const void *data, size_t len, const struct ustack_tcp_options *opt);
/* Hands the stack raw bytes as an IPv4 packet. */
void tpeer_raw(struct tpeer *p, const void *pkt, size_t len);
/* The next segment the stack sent, or NULL if none is left. */
const struct tseg *tpeer_next(struct tpeer *p);
/* Moves the clock on and runs the stack's timers. */
void tpeer_advance(struct tpeer *p, ustack_time_t dt);
/* Connects a socket of the stack to the peer and completes the handshake:
 * returns the fd; *iss is the stack's ISN; the peer's ISN is `peer_iss`. */
int tpeer_establish_active(struct tpeer *p, uint16_t peer_port, uint32_t peer_iss, uint32_t *iss,
			   uint16_t *lport);
/* An allocator for ustack_config.alloc that counts what a stack holds:
 * bytes and blocks outstanding, and the most bytes ever held. */
struct t_memcount {
	size_t bytes, peak;
	long blocks;
};
void *t_counting_alloc(void *ctx, void *ptr, size_t osize, size_t nsize);

/* A socket of st bound to addr:port and listening: its fd, or a negative
 * errno. */
int t_listen(struct ustack *st, uint32_t addr, uint16_t port, int backlog);
/* Listens on lport, lets the peer connect from peer_port, accepts. */
int tpeer_establish_passive(struct tpeer *p, uint16_t lport, uint16_t peer_port, uint32_t peer_iss, uint32_t *iss,
			    int *listen_fd);

/* Builds a valid IPv4+TCP packet; returns its length. */
size_t t_build_packet(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
		      uint32_t seq, uint32_t ack, uint16_t win, const void *data, size_t len,
		      const struct ustack_tcp_options *opt);

/* ---- two stacks on the simulator ---- */

struct tnet {
	struct ustack_sim *sim;
	struct ustack *a, *b;
	struct tseg *wire; /* every delivered segment, in order */
	size_t n;
	char trace[256 * 1024];
	size_t trace_len;
};

void tnet_init(struct tnet *n, uint64_t seed, const struct ustack_link_params *link);
void tnet_fini(struct tnet *n);
/* Runs until idle but at most `limit` of virtual time. */
void tnet_run(struct tnet *n, ustack_time_t limit);
/* Runs for exactly `dt`. */
void tnet_run_for(struct tnet *n, ustack_time_t dt);

struct sockaddr_in t_sin(uint32_t addr, uint16_t port);
/* TCP_INFO of a connection; aborts (a crashed test) if there is none. */
struct ustack_tcp_info t_tcp_info(struct ustack *st, int fd);
#define T_SA(sin) ((const struct sockaddr *)&(sin))

/* ---- one stack, raw packets both ways ---- */

/*
 * For what tpeer's decoder does not read (UDP, ICMP, fragments): the test
 * hands the stack raw IPv4 packets and reads back, byte for byte, every
 * packet the stack sent.
 */
struct tpkt {
	ustack_time_t t;
	size_t len;
	uint8_t *b;
};

struct traw {
	struct ustack *st;
	ustack_time_t now;
	uint32_t addr;      /* the stack's: T_ADDR_A */
	uint32_t peer_addr; /* the test's: T_ADDR_B */
	struct tpkt *out;
	size_t nout, cap, rd;
	char trace[64 * 1024];
	size_t trace_len;
};

/* cfg may be NULL; its addr, output and trace are replaced (its allocator
 * is kept). */
void traw_init(struct traw *r, const struct ustack_config *cfg);
void traw_fini(struct traw *r);
void traw_input(struct traw *r, const void *pkt, size_t len);
/* The next packet the stack sent, or NULL if none is left. */
const struct tpkt *traw_next(struct traw *r);
/* Moves the clock on and runs the stack's timers. */
void traw_advance(struct traw *r, ustack_time_t dt);

/* Writes a 20-byte IPv4 header (TTL 64, checksum) and the payload into
 * buf; frag is the flags-and-offset field. Returns the packet's length. */
size_t t_build_ip(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id, uint16_t frag,
		  const void *payload, size_t len);
/* A valid IPv4 + UDP packet (checksum set, DF clear); returns its length. */
size_t t_build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		   const void *data, size_t len);

#endif
