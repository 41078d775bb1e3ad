/*
 * Retransmission on timeout (RFC 6298): the SYN's backoff schedule and
 * Linux's limits, and a lost data segment sent again.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testnet.h"

/* RFC 6298 2.1 and 5.5: first RTO 1 s, doubling; Linux gives up after 6
 * retransmissions, 127 s after the first SYN, with ETIMEDOUT. */
Test(retransmit, syn_backoff_and_give_up)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(p.peer_addr, 80);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *s = tpeer_next(&p);
	uint32_t iss = s->h.seq;
	ustack_time_t t0 = p.now, at = t0;
	for (int i = 0; i < 6; i++) {
		at += USTACK_SEC(1u << i);
		cr_assert_eq(ustack_next_deadline(p.st), at, "retransmission %d due at +%llu ms", i + 1,
			     (unsigned long long)((at - t0) / 1000000));
		tpeer_advance(&p, at - p.now);
		s = tpeer_next(&p);
		cr_assert(s, "no retransmission %d", i + 1);
		cr_assert_eq(s->h.flags, USTACK_TCP_SYN);
		cr_assert_eq(s->h.seq, iss);
		cr_assert_null(tpeer_next(&p));
	}
	tpeer_advance(&p, at + USTACK_SEC(64) - p.now);
	cr_assert_null(tpeer_next(&p), "nothing after the last try");
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_CLOSED);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(sin), sizeof(sin)), -ETIMEDOUT);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_RETRANS_SEGS), 6);
	cr_assert_eq(p.now - t0, USTACK_SEC(127));
	tpeer_fini(&p);
}

/* A lost data segment is sent again after the RTO, and the RTO follows the
 * measured RTT: SRTT + max(4 RTTVAR, 200 ms) as in Linux. */
Test(retransmit, data_after_rto)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, 80, 5000, &iss, &lport);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_send(p.st, fd, "hello", 5, 0), 5);
	const struct tseg *s = tpeer_next(&p);
	cr_assert_eq(s->h.len, 5u);
	/* The handshake took no time: SRTT ~ 0, so RTO = 200 ms (and the
	 * microsecond a zero sample is rounded up to). */
	ustack_time_t rto = ustack_next_deadline(p.st) - p.now;
	cr_assert(rto >= USTACK_MSEC(200) && rto <= USTACK_MSEC(201), "RTO %llu ns", (unsigned long long)rto);
	tpeer_advance(&p, USTACK_MSEC(199));
	cr_assert_null(tpeer_next(&p), "retransmitted early");
	tpeer_advance(&p, rto - USTACK_MSEC(199));
	s = tpeer_next(&p);
	cr_assert(s, "no retransmission");
	cr_assert_eq(s->h.seq, iss + 1);
	cr_assert_eq(s->h.len, 5u);
	cr_assert_arr_eq(s->data, "hello", 5);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 5001, iss + 6, 1000, NULL, 0, NULL);
	/* The timer stops once everything is ACKed. Deadlines are kept lazily,
	 * so the stack may wake once more at the old time, and then finds
	 * nothing to do. */
	ustack_time_t acked_at = p.now;
	ustack_time_t d = ustack_next_deadline(p.st);
	if (d != USTACK_TIME_NEVER && d < acked_at + USTACK_SEC(1))
		tpeer_advance(&p, d - p.now);
	cr_assert_null(tpeer_next(&p), "nothing is retransmitted once all is ACKed");
	/* What remains is the drained send buffer's release, a second after
	 * it drained; then the connection has no deadline at all. */
	cr_assert_eq(ustack_next_deadline(p.st), acked_at + USTACK_SEC(1));
	tpeer_advance(&p, acked_at + USTACK_SEC(1) - p.now);
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_next_deadline(p.st), USTACK_TIME_NEVER, "timers stopped once all is ACKed");
	tpeer_fini(&p);
}

/* DESIGN-NOTES 5: buffers follow use. A send ring that drains is kept for
 * a second, so a busy connection does not free and reallocate it on every
 * ACK, and is given back once the connection rests; the receive ring too. */
Test(retransmit, drained_buffers_given_back_after_a_second)
{
	struct t_memcount mem = { 0 };
	struct ustack_config cfg = { .alloc = t_counting_alloc, .alloc_ctx = &mem };
	struct tpeer p;
	tpeer_init(&p, &cfg);
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, 80, 5000, &iss, &lport);
	cr_assert_geq(fd, 0);
	long idle = mem.blocks;
	cr_assert_eq(ustack_send(p.st, fd, "hello", 5, 0), 5);
	cr_assert_eq(mem.blocks, idle + 1, "the send ring is allocated when data needs it");
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK | USTACK_TCP_PSH, 5001, iss + 6, 1000, "world", 5, NULL);
	cr_assert_eq(mem.blocks, idle + 2, "and the receive ring");
	char buf[8];
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 5);
	tpeer_advance(&p, USTACK_MSEC(999));
	cr_assert_eq(mem.blocks, idle + 2, "drained rings are kept for a second");
	tpeer_advance(&p, USTACK_MSEC(1));
	cr_assert_eq(mem.blocks, idle, "and then given back");
	tpeer_fini(&p);
}
