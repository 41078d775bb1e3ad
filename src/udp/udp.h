/*
 * UDP (RFC 768, RFC 1122 4.1): sockets, their port table, and datagram
 * arrival and departure.
 *
 * A UDP socket begins with the same struct us_node as a TCP control block,
 * so the descriptor table holds either and tells them apart by its kind.
 * UDP's ports are a space of their own (RFC 768 and RFC 9293 number them
 * independently): a UDP socket on port 53 and a TCP one never meet.
 */
#ifndef US_UDP_UDP_H
#define US_UDP_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tcp/tcp.h"

struct ustack;
struct us_ipv4;
struct us_icmp_err;

/* A datagram waiting to be read, with where it came from. */
struct us_udp_dgram {
	struct us_udp_dgram *next;
	uint32_t saddr;
	uint16_t sport;
	uint32_t len;
	uint8_t data[];
};

struct us_udp_sock {
	struct us_node n; /* must be first; n.t: local address and port, and the peer once connected */
	struct us_udp_sock *pnext; /* chain in the port table */
	int fd;
	int so_error;              /* a hard ICMP error, reported once */
	bool reuseaddr : 1;
	bool broadcast : 1;        /* SO_BROADCAST */
	bool connected : 1;
	bool bound : 1;            /* holds n.t.lport in the port table */
	bool port_locked : 1;      /* bind() chose the port: disconnect keeps it */
	bool addr_locked : 1;      /* bind() chose the address */
	bool rd_shut : 1, wr_shut : 1;
	uint32_t rcvbuf, sndbuf;
	uint32_t rmem;             /* bytes charged for the datagrams queued */
	uint64_t bind_seq;         /* order of binding: the newest wins ties */
	struct us_udp_dgram *rq_head, *rq_tail;
};

struct us_udp_layer {
	struct us_udp_sock **ports; /* chains by port */
	uint32_t ports_mask;
	uint32_t nbound;
	uint64_t bind_seq;
};

int us_udp_init(struct ustack *st);
void us_udp_fini(struct ustack *st);

struct us_udp_sock *us_udp_new(struct ustack *st);
/* Closes: the queue and the port go, then the socket. */
void us_udp_free(struct ustack *st, struct us_udp_sock *s);

int us_udp_bind(struct ustack *st, struct us_udp_sock *s, uint32_t addr, uint16_t port);
/* Binds an unbound socket to an ephemeral port (Linux's inet_autobind). */
int us_udp_autobind(struct ustack *st, struct us_udp_sock *s);
int us_udp_connect(struct ustack *st, struct us_udp_sock *s, uint32_t raddr, uint16_t rport);
int us_udp_disconnect(struct ustack *st, struct us_udp_sock *s);
/* One datagram of len bytes, to daddr:dport if to_addr, else to the peer. */
ssize_t us_udp_send(struct ustack *st, struct us_udp_sock *s, const void *buf, size_t len, bool to_addr,
		    uint32_t daddr, uint16_t dport);
/* One datagram, or its first len bytes (MSG_PEEK, MSG_TRUNC). */
ssize_t us_udp_recv(struct ustack *st, struct us_udp_sock *s, void *buf, size_t len, int flags,
		    uint32_t *saddr, uint16_t *sport);
int us_udp_shutdown(struct ustack *st, struct us_udp_sock *s, int how);
int us_udp_poll(struct ustack *st, struct us_udp_sock *s);

/* A datagram from IP (pkt is the whole IP packet, for an ICMP quote). */
void us_udp_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip);
/* An ICMP error about a datagram this stack sent on t (local = the
 * quote's source). Returns 0 or the drop reason. */
int us_udp_icmp_error(struct ustack *st, const struct us_tuple *t, const struct us_icmp_err *e);

#endif
