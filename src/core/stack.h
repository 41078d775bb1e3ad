/*
 * The stack instance: the one place all state hangs off (no globals), and
 * the helpers every layer shares: allocation through the caller's allocator,
 * counters, trace events and the keyed hashes.
 */
#ifndef US_CORE_STACK_H
#define US_CORE_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/trace.h>
#include <ustack/ustack.h>

#include "core/siphash.h"
#include "core/sysctl.h"
#include "ip/ip.h"
#include "socket/socket.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

struct ustack {
	struct ustack_config cfg; /* with defaults filled in */
	struct us_sysctl sys;     /* Linux's net.ipv4.tcp_* settings */
	ustack_time_t now;
	uint64_t rng; /* splitmix64 state, from cfg.seed */
	struct us_sipkey key_hash, key_isn, key_port;
	uint64_t stats[USTACK_STAT__COUNT];
	uint16_t ip_id;
	/* The packet being handled came with USTACK_RX_CSUM_OK: its TCP or
	 * UDP checksum is not to be verified. Only for the call. */
	bool rx_csum_ok;
	struct us_tcp_layer tcp;
	struct us_udp_layer udp;
	struct us_frag_table frag; /* IPv4 datagrams in reassembly */
	struct us_icmp_state icmp; /* the rate limit of ICMP errors */
	struct us_pmtu_table pmtu; /* path MTUs learned (RFC 1191) */
	struct us_socktab socks;
	/* Headers of the packet being sent: IPv4 + TCP with options (or UDP,
	 * or ICMP). */
	uint8_t hdr[20 + 60];
};

void *us_alloc(struct ustack *st, size_t size); /* zeroed */
void *us_realloc(struct ustack *st, void *p, size_t osize, size_t nsize);
void us_free(struct ustack *st, void *p, size_t size);
uint64_t us_random(struct ustack *st);

static inline void us_count(struct ustack *st, enum ustack_stat s)
{
	st->stats[s]++;
}

/* Checks the stack's invariants (check.c): 0, or -1 with the first broken
 * one described in why. For fuzzers and tests; it walks everything. */
int us_check_invariants(struct ustack *st, char *why, size_t n);

/* Counts a drop and tells the trace hook; seg may be NULL. */
void us_drop(struct ustack *st, enum ustack_stat reason, const struct ustack_tcp_segment *seg,
	     const struct us_tcb *tcb);

/* Fills the connection part of an event from a control block. */
void us_event_conn(struct ustack_event *ev, const struct us_tcb *tcb);

static inline void us_trace(struct ustack *st, struct ustack_event *ev)
{
	ev->time = st->now;
	ev->stack = st;
	st->cfg.trace(st->cfg.trace_ctx, ev);
}

#define US_TRACING(st) __builtin_expect((st)->cfg.trace != NULL, 0)

/* IPv4 output: headers in st->hdr[0..hdr_len) after the 20 IP bytes are
 * written here; payload follows as iovecs. DF is set if df (RFC 1191:
 * TCP's, unless the path MTU is below route.min_pmtu). */
void us_ip_output(struct ustack *st, uint32_t dst, uint8_t proto, size_t l4_hdr_len, const struct iovec *payload,
		  int npayload, size_t payload_len, bool df);

#endif
