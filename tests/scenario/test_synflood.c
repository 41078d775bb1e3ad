/*
 * SYN floods (RFC 4987): a listener's SYN queue is bounded by its backlog
 * as in Linux, and once it is full SYNs are answered with SYN cookies,
 * which cost no memory; the ACK that returns a valid cookie makes the
 * connection then.
 *
 * The exact-segment tests check the cookie itself: what it carries (MSS,
 * and window scale and SACK in the TSval), what it refuses (a wrong or old
 * cookie) and tcp_syncookies = 0. The flood test sends a million SYNs
 * from random addresses at a listener on the simulator while a real
 * client connects: the listener's memory stays under a fixed cap, and the
 * client is accepted within 3 s of virtual time. Under AddressSanitizer
 * the flood is 100 000 SYNs (USTACK_FLOOD_SYNS sets any count).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_RST USTACK_TCP_RST
#define F_PSH USTACK_TCP_PSH

static struct tpeer p;
static int lfd;

static const struct tseg *next(void)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s, "the stack sent nothing; trace:\n%s", p.trace);
	return s;
}

/* A listener on port 80 with backlog 0: its SYN queue holds one child. */
static void setup(void)
{
	tpeer_init(&p, NULL);
	lfd = t_listen(p.st, p.addr, 80, 0);
	cr_assert_geq(lfd, 0);
}

static void teardown(void)
{
	tpeer_fini(&p);
}

TestSuite(syncookie, .init = setup, .fini = teardown);

static struct ustack_tcp_options syn_opt(uint16_t mss, bool sack, bool ts, int ws)
{
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = mss };
	if (sack)
		o.present |= USTACK_OPT_SACK_PERM;
	if (ts) {
		o.present |= USTACK_OPT_TS;
		o.ts_val = 1000;
	}
	if (ws >= 0) {
		o.present |= USTACK_OPT_WSCALE;
		o.wscale = (uint8_t)ws;
	}
	return o;
}

/* Fills the SYN queue with one half-open child from port 3000. */
static void fill_queue(void)
{
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	tpeer_send(&p, 3000, 80, F_SYN, 100, 0, 65535, NULL, 0, &o);
	cr_assert_eq(next()->h.flags, F_SYN | F_ACK);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_SYNCOOKIES_SENT), 0);
}

/* A SYN from port 4000 that must be answered with a cookie; returns the
 * SYN-ACK. */
static const struct tseg *cookie_synack(const struct ustack_tcp_options *o)
{
	tpeer_send(&p, 4000, 80, F_SYN, 5000, 0, 65535, NULL, 0, o);
	const struct tseg *s = next();
	cr_assert_eq(s->h.flags, F_SYN | F_ACK);
	cr_assert_eq(s->h.ack, 5001);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_SYNCOOKIES_SENT), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW), 0);
	return s;
}

Test(syncookie, queue_bound_is_backlog_plus_one_as_in_linux)
{
	/* Measured on Linux 6.18: listen(fd, 0) takes one SYN into its queue
	 * and answers the next with a cookie; listen(fd, 2) takes three. */
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	cookie_synack(&o);
}

Test(syncookie, cookie_without_timestamps_carries_the_mss)
{
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1400, true, false, 7);
	const struct tseg *s = cookie_synack(&o);
	/* Without timestamps the cookie has no room for window scale or
	 * SACK-permitted, so, as in Linux, the SYN-ACK offers neither. */
	cr_assert_eq(s->h.opt.present, USTACK_OPT_MSS);
	cr_assert_eq(s->h.opt.mss, 1460);
	cr_assert_eq(s->h.window, 64240);
	uint32_t cookie = s->h.seq;
	tpeer_advance(&p, USTACK_MSEC(10));
	tpeer_send(&p, 4000, 80, F_ACK, 5001, cookie + 1, 1000, NULL, 0, NULL);
	cr_assert_null(tpeer_next(&p), "nothing to say to a valid cookie's ACK");
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_SYNCOOKIES_RECV), 1);
	int fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	/* MSS 1400 comes back as 1300, the largest of Linux's cookie MSS
	 * values not above it; the window is taken unscaled. */
	static char big[4000];
	cr_assert_eq(ustack_send(p.st, fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	s = next();
	cr_assert_eq(s->h.seq, cookie + 1);
	cr_assert_eq(s->h.len, 1000, "a 1000-byte window, unscaled");
	cr_assert_eq(s->h.opt.present, 0);
	cr_assert_null(tpeer_next(&p));
	tpeer_send(&p, 4000, 80, F_ACK, 5001, cookie + 1001, 3000, NULL, 0, NULL);
	s = next();
	cr_assert_eq(s->h.len, 1300);
}

Test(syncookie, timestamps_carry_window_scale_and_sack)
{
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1460, true, true, 5);
	const struct tseg *s = cookie_synack(&o);
	cr_assert_eq(s->h.opt.present,
		     USTACK_OPT_MSS | USTACK_OPT_SACK_PERM | USTACK_OPT_TS | USTACK_OPT_WSCALE);
	cr_assert_eq(s->h.opt.ts_ecr, 1000);
	cr_assert_eq(s->h.window, 65160);
	uint32_t cookie = s->h.seq, tsval = s->h.opt.ts_val;
	tpeer_advance(&p, USTACK_MSEC(10));
	struct ustack_tcp_options a = { .present = USTACK_OPT_TS, .ts_val = 1010, .ts_ecr = tsval };
	/* The cookie's ACK may carry data. */
	tpeer_send(&p, 4000, 80, F_ACK | F_PSH, 5001, cookie + 1, 100, "hello", 5, &a);
	s = next();
	cr_assert_eq(s->h.ack, 5006);
	cr_assert_eq(s->h.opt.ts_ecr, 1010);
	int fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	char buf[16];
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 5);
	/* Window 100 << 5 = 3200 bytes: two 1448-byte segments; the 304
	 * left wait (RFC 9293 3.8.6.2.1). Unscaled, 100 bytes would go. */
	static char big[5000];
	cr_assert_eq(ustack_send(p.st, fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	uint32_t sent = 0;
	while ((s = tpeer_next(&p))) {
		cr_assert_leq(s->h.len, 1448);
		sent += s->h.len;
	}
	cr_assert_eq(sent, 2896, "%u sent; trace:\n%s", sent, p.trace);
}

Test(syncookie, wrong_cookie_is_reset_and_counted)
{
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	uint32_t cookie = cookie_synack(&o)->h.seq;
	tpeer_send(&p, 4000, 80, F_ACK, 5001, cookie + 2, 1000, NULL, 0, NULL);
	const struct tseg *s = next();
	cr_assert_eq(s->h.flags, F_RST);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_SYNCOOKIE_BAD), 1);
	/* Nor does a right cookie for another peer's ISN pass. */
	tpeer_send(&p, 4000, 80, F_ACK, 6001, cookie + 1, 1000, NULL, 0, NULL);
	cr_assert_eq(next()->h.flags, F_RST);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_SYNCOOKIE_BAD), 2);
	cr_assert_lt(ustack_accept(p.st, lfd, NULL, NULL), 0);
}

Test(syncookie, cookie_expires_after_three_minutes)
{
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	uint32_t cookie = cookie_synack(&o)->h.seq;
	/* Keep the listener flooded, so that ACKs are still tried as
	 * cookies, while this one ages. */
	tpeer_advance(&p, USTACK_SEC(110));
	tpeer_send(&p, 4001, 80, F_SYN, 9000, 0, 65535, NULL, 0, &o);
	while (tpeer_next(&p))
		;
	tpeer_advance(&p, USTACK_SEC(110));
	while (tpeer_next(&p))
		;
	tpeer_send(&p, 4000, 80, F_ACK, 5001, cookie + 1, 1000, NULL, 0, NULL);
	cr_assert_eq(next()->h.flags, F_RST);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_SYNCOOKIE_BAD), 1);
}

Test(syncookie, without_syncookies_a_full_queue_drops)
{
	p.st->sys.tcp_syncookies = 0;
	fill_queue();
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	tpeer_send(&p, 4000, 80, F_SYN, 5000, 0, 65535, NULL, 0, &o);
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_SYNCOOKIES_SENT), 0);
}

Test(syncookie, always_with_syncookies_2)
{
	p.st->sys.tcp_syncookies = 2;
	struct ustack_tcp_options o = syn_opt(1460, false, false, -1);
	tpeer_send(&p, 4000, 80, F_SYN, 5000, 0, 65535, NULL, 0, &o);
	uint32_t cookie = next()->h.seq;
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_SYNCOOKIES_SENT), 1);
	tpeer_send(&p, 4000, 80, F_ACK, 5001, cookie + 1, 1000, NULL, 0, NULL);
	cr_assert_geq(ustack_accept(p.st, lfd, NULL, NULL), 0);
}

/* ---- The flood ---- */

/* Counts the listener's bytes and refuses any allocation past the cap. */
struct capped {
	size_t cur, peak, cap;
	unsigned long refused;
};

static void *capped_alloc(void *ctx, void *ptr, size_t osize, size_t nsize)
{
	struct capped *c = ctx;
	if (nsize == 0) {
		free(ptr);
		c->cur -= osize;
		return NULL;
	}
	if (c->cur - osize + nsize > c->cap) {
		c->refused++;
		return NULL;
	}
	void *q = realloc(ptr, nsize);
	if (!q)
		return NULL;
	c->cur = c->cur - osize + nsize;
	if (c->cur > c->peak)
		c->peak = c->cur;
	return q;
}

static unsigned long flood_count(void)
{
	const char *v = getenv("USTACK_FLOOD_SYNS");
	if (v)
		return strtoul(v, NULL, 10);
#if defined(__SANITIZE_ADDRESS__)
	return 100000;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return 100000;
#endif
#endif
	return 1000000;
}

/* What the listener needs: its tables and 129 half-open children. */
#define FLOOD_CAP (256u << 10)

Test(synflood, legitimate_client_gets_through_a_million_syns)
{
	unsigned long nsyn = flood_count();
	struct ustack_sim *sim;
	cr_assert_eq(ustack_sim_create(7, &sim), 0);
	struct capped mem = { .cap = FLOOD_CAP };
	struct ustack *srv, *cli;
	struct ustack_config cfg = { .addr = T_ADDR_A, .alloc = capped_alloc, .alloc_ctx = &mem };
	cr_assert_eq(ustack_sim_add_stack(sim, &cfg, &srv), 0);
	struct ustack_config ccfg = { .addr = T_ADDR_B };
	cr_assert_eq(ustack_sim_add_stack(sim, &ccfg, &cli), 0);
	struct ustack_link_params link = { .delay = USTACK_MSEC(20) };
	cr_assert_eq(ustack_sim_set_path(sim, T_ADDR_A, T_ADDR_B, &link), 0);

	int lfd2 = ustack_socket(srv, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(T_ADDR_A, 80);
	cr_assert_eq(ustack_bind(srv, lfd2, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(srv, lfd2, 128), 0);

	/* The flood spreads over 2 s; the client connects 0.5 s into it. */
	const ustack_time_t span = USTACK_SEC(2), step = USTACK_MSEC(1);
	unsigned long per_step = nsyn / (span / step), sent = 0;
	ustack_time_t start = ustack_sim_now(sim), t_connect = 0, t_accept = 0;
	int cfd = -1, afd = -1;
	uint64_t rnd = 0x9e3779b97f4a7c15ull;
	uint8_t pkt[128];
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_SACK_PERM | USTACK_OPT_TS |
						   USTACK_OPT_WSCALE,
					.mss = 1460, .wscale = 7 };
	while (sent < nsyn || afd < 0) {
		ustack_time_t now = ustack_sim_now(sim);
		cr_assert_lt(now - start, USTACK_SEC(10), "the client was never accepted");
		for (unsigned long i = 0; i < per_step && sent < nsyn; i++, sent++) {
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			uint32_t src = 0x0a000000u | (uint32_t)(rnd >> 40); /* 10.0.0.0/8 */
			o.ts_val = (uint32_t)(rnd >> 20);
			size_t n = t_build_packet(pkt, src, T_ADDR_A, (uint16_t)(1024 + (rnd >> 17) % 60000), 80,
						  F_SYN, (uint32_t)(rnd >> 32), 0, 65535, NULL, 0, &o);
			ustack_input(srv, now, pkt, n);
		}
		if (cfd < 0 && now - start >= USTACK_MSEC(500)) {
			cfd = ustack_socket(cli, AF_INET, SOCK_STREAM, 0);
			cr_assert_eq(ustack_connect(cli, cfd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
			t_connect = now;
		}
		if (afd < 0) {
			afd = ustack_accept(srv, lfd2, NULL, NULL);
			if (afd >= 0)
				t_accept = now;
		}
		ustack_sim_run_for(sim, step);
	}
	cr_assert_geq(cfd, 0);
	cr_assert_lt(t_accept - t_connect, USTACK_SEC(3), "accepted %.3f s after connect()",
		     (double)(t_accept - t_connect) / 1e9);
	cr_assert(ustack_sock_poll(cli, cfd) & POLLOUT, "the client's connect() completed");
	/* The memory: the SYN queue (129 children) and the tables, never
	 * more; no allocation was refused on the way. */
	cr_assert_eq(mem.refused, 0, "%lu allocations refused", mem.refused);
	cr_assert_leq(mem.peak, FLOOD_CAP);
	cr_assert_geq(ustack_stat(srv, USTACK_STAT_TCP_SYNCOOKIES_SENT), nsyn - 129);
	cr_assert_eq(ustack_stat(srv, USTACK_STAT_TCP_SYNCOOKIES_RECV), 1);
	cr_log_info("%lu SYNs: peak %zu bytes, client accepted %.3f s after connect()", nsyn, mem.peak,
		    (double)(t_accept - t_connect) / 1e9);
	ustack_sim_destroy(sim);
}
