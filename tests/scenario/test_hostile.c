/*
 * Hostile peers, segment by segment: what a blind or malicious sender can
 * make ustack do, and what it cannot (docs/SECURITY.md lists the classes).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

static struct tpeer p;

static void setup(void)
{
	tpeer_init(&p, NULL);
}

static void teardown(void)
{
	tpeer_fini(&p);
}

TestSuite(hostile, .init = setup, .fini = teardown);

/* An MSS of 1 would turn one write into thousands of segments; Linux's
 * tcp_min_snd_mss (48) is the floor. */
Test(hostile, tiny_mss_clamped_to_48)
{
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(p.peer_addr, 80);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&p);
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = 1 };
	tpeer_send(&p, 80, syn->h.sport, USTACK_TCP_SYN | USTACK_TCP_ACK, 1000, syn->h.seq + 1, 65535, NULL, 0, &o);
	cr_assert(tpeer_next(&p));
	char buf[480] = { 0 };
	cr_assert_eq(ustack_send(p.st, fd, buf, sizeof(buf), 0), 480);
	const struct tseg *s;
	int n = 0;
	while ((s = tpeer_next(&p))) {
		cr_assert_eq(s->h.len, 48u, "segment %d carries %u bytes", n, s->h.len);
		n++;
	}
	cr_assert_eq(n, 10, "480 bytes in %d segments", n);
}

/* RFC 5961 5.2: an ACK for data never sent is answered and dropped; one
 * older than the largest window the peer offered draws a challenge ACK;
 * neither moves SND.UNA. */
Test(hostile, acks_outside_the_acceptable_range)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_send(p.st, fd, "abc", 3, 0), 3);
	cr_assert(tpeer_next(&p));
	uint64_t unsent = ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_UNSENT);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001, iss + 1 + 100000, 65535, NULL, 0, NULL);
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s && s->h.flags == USTACK_TCP_ACK && s->h.seq == iss + 4 && s->h.ack == 1001, "trace:\n%s",
		  p.trace);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_UNSENT), unsent + 1);
	tpeer_advance(&p, USTACK_MSEC(500)); /* past the rate limit; the data is resent meanwhile */
	while (tpeer_next(&p))
		;
	uint64_t old = ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_TOO_OLD);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001, iss - 0x40000000u, 65535, NULL, 0, NULL);
	s = tpeer_next(&p);
	cr_assert(s && s->h.flags == USTACK_TCP_ACK && s->h.ack == 1001, "a challenge ACK; trace:\n%s", p.trace);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_TOO_OLD), old + 1);
	struct ustack_tcp_info ti;
	socklen_t len = sizeof(ti);
	cr_assert_eq(ustack_getsockopt(p.st, fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	cr_assert_eq(ti.unacked, 3u, "SND.UNA did not move");
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
}

/* A flood of ACKs for data never sent is not reflected one for one: the
 * answers share the challenge-ACK limit (RFC 5961 7), one per 500 ms. */
Test(hostile, acks_of_unsent_data_answered_at_a_limited_rate)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	uint64_t unsent = ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_UNSENT);
	uint64_t skipped = ustack_stat(p.st, USTACK_STAT_TCP_ACK_SKIPPED);
	for (uint32_t i = 0; i < 10; i++)
		tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001, iss + 1 + 100000 + i, 65535, NULL, 0, NULL);
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s && s->h.flags == USTACK_TCP_ACK && s->h.ack == 1001, "trace:\n%s", p.trace);
	cr_assert_null(tpeer_next(&p), "one answer for ten; trace:\n%s", p.trace);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_ACK_UNSENT), unsent + 10);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_ACK_SKIPPED), skipped + 9);
	tpeer_advance(&p, USTACK_MSEC(500));
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001, iss + 1 + 100000, 65535, NULL, 0, NULL);
	cr_assert(tpeer_next(&p), "answered again after 500 ms; trace:\n%s", p.trace);
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
}

/* SYN+FIN to a listener is dropped, as Linux does, and creates nothing. */
Test(hostile, syn_fin_to_listener)
{
	int lfd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, 80);
	cr_assert_eq(ustack_bind(p.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(p.st, lfd, 4), 0);
	tpeer_send(&p, 4000, 80, USTACK_TCP_SYN | USTACK_TCP_FIN, 1, 0, 65535, NULL, 0, NULL);
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_BAD_FLAGS), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_PASSIVE_OPENS), 0);
}

/* net.ipv4.tcp_mem[2] bounds the buffers of all connections together: a
 * peer that opens connections and fills each with out-of-order data (the
 * gap before it never filled) gets its segments dropped under
 * drop.tcp.mem_limit once the stack holds its limit, and a connection
 * still moves in-order data in the first 4 KiB every ring is granted. */
Test(hostile, out_of_order_floods_bounded_by_tcp_mem)
{
	struct t_memcount mem = { 0 };
	struct ustack_config cfg = { .alloc = t_counting_alloc, .alloc_ctx = &mem };
	struct tpeer q;
	tpeer_init(&q, &cfg);
	cr_assert_eq(ustack_sysctl_set(q.st, "net.ipv4.tcp_mem", "4 8 16"), 0); /* 64 KiB */
	enum { CONNS = 8, SEGS = 40 };
	int fd[CONNS];
	uint16_t lport[CONNS];
	uint32_t iss[CONNS];
	for (int c = 0; c < CONNS; c++) {
		fd[c] = tpeer_establish_active(&q, 80, 1000, &iss[c], &lport[c]);
		cr_assert_geq(fd[c], 0);
	}
	while (tpeer_next(&q))
		;
	size_t base = mem.bytes;
	static uint8_t data[1000];
	memset(data, 'x', sizeof(data));
	/* Each connection is sent 40 KB that all wait behind a missing first
	 * segment: 320 KB wanted, 64 KiB allowed. */
	for (int c = 0; c < CONNS; c++) {
		for (uint32_t i = 1; i <= SEGS; i++)
			tpeer_send(&q, 80, lport[c], USTACK_TCP_ACK, 1001 + i * 1000, iss[c] + 1, 65535, data, 1000,
				   NULL);
		while (tpeer_next(&q))
			;
	}
	uint64_t dropped = ustack_stat(q.st, USTACK_STAT_DROP_TCP_MEM_LIMIT);
	cr_assert_gt(dropped, 0, "nothing was dropped for the limit");
	/* 64 KiB of rings, plus the 4 KiB each ring may always have, plus
	 * the bookkeeping of the out-of-order ranges. */
	size_t bound = 65536 + CONNS * 4096 + CONNS * 1024;
	cr_assert_leq(mem.peak - base, bound, "the stack held %zu bytes past its base, bound %zu", mem.peak - base,
		      bound);
	/* The last connection, starved of memory, still takes the missing
	 * first segment and delivers it. */
	int c = CONNS - 1;
	tpeer_send(&q, 80, lport[c], USTACK_TCP_ACK, 1001, iss[c] + 1, 65535, data, 1000, NULL);
	char buf[65536];
	ssize_t got = ustack_recv(q.st, fd[c], buf, sizeof(buf), 0);
	cr_assert_geq(got, 1000, "read %zd bytes", got);
	cr_assert_eq(ustack_sock_state(q.st, fd[c]), USTACK_TCP_ESTABLISHED);
	tpeer_fini(&q);
}

/* Data waiting out of order beyond a FIN that then arrives in order cannot
 * belong to the stream: it is dropped, as Linux's tcp_fin does, and never
 * read (found by fuzz_stack: left in place, it started at RCV.NXT). */
Test(hostile, data_past_the_fin_dropped)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001 + 11, iss + 1, 65535, "beyond", 6, NULL);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK, 1001, iss + 1, 65535, "0123456789", 10, NULL);
	tpeer_send(&p, 80, lport, USTACK_TCP_ACK | USTACK_TCP_FIN, 1001 + 10, iss + 1, 65535, NULL, 0, NULL);
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_CLOSE_WAIT);
	char why[256];
	cr_assert_eq(us_check_invariants(p.st, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_PAST_FIN), 1);
	char buf[64];
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 10);
	cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 0, "end of stream after the FIN");
}
