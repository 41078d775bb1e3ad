/*
 * RFC 7323 timestamps with exact segments: what a SYN-ACK answers, the
 * clock TSval follows, PAWS and its counter, and TS.Recent going stale
 * after 24 idle days (RFC 7323 5.5), which the packetdrill scripts in
 * tests/scripts/paws/ cannot wait for on a real kernel.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_PSH USTACK_TCP_PSH

static struct tpeer p;
static int lfd, cfd;
static uint32_t iss;        /* the stack's */
static uint32_t our_ts;     /* the SYN-ACK's TSval */
static const uint32_t PISS = 5000;

static struct ustack_tcp_options ts_opt(uint32_t val, uint32_t ecr)
{
	struct ustack_tcp_options o = { .present = USTACK_OPT_TS, .ts_val = val, .ts_ecr = ecr };
	return o;
}

static const struct tseg *next(void)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s, "the stack sent nothing; trace:\n%s", p.trace);
	return s;
}

/* Listens on port 80; the peer connects from 4000 offering MSS, window
 * scale and timestamps with TSval 1000. */
static void setup(void)
{
	tpeer_init(&p, NULL);
	lfd = t_listen(p.st, p.addr, 80, 8);
	cr_assert_geq(lfd, 0);
	struct ustack_tcp_options o = ts_opt(1000, 0);
	o.present |= USTACK_OPT_MSS | USTACK_OPT_WSCALE;
	o.mss = 1460;
	o.wscale = 7;
	tpeer_send(&p, 4000, 80, F_SYN, PISS, 0, 65535, NULL, 0, &o);
	const struct tseg *s = next();
	cr_assert_eq(s->h.flags, F_SYN | F_ACK);
	/* RFC 7323 3.2: answered, echoing the SYN's TSval; no sackOK since
	 * the peer offered none; Linux's window for 1448-byte segments. */
	cr_assert_eq(s->h.opt.present, USTACK_OPT_MSS | USTACK_OPT_WSCALE | USTACK_OPT_TS);
	cr_assert_eq(s->h.opt.ts_ecr, 1000);
	cr_assert_eq(s->h.window, 65160);
	iss = s->h.seq;
	our_ts = s->h.opt.ts_val;
	o = ts_opt(1100, our_ts);
	tpeer_advance(&p, USTACK_MSEC(10));
	tpeer_send(&p, 4000, 80, F_ACK, PISS + 1, iss + 1, 502, NULL, 0, &o);
	cfd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(cfd, 0);
	cr_assert_null(tpeer_next(&p));
}

static void teardown(void)
{
	tpeer_fini(&p);
}

TestSuite(timestamps, .init = setup, .fini = teardown);

/* Data from the peer at `off` bytes into its stream; returns the ACK. */
static const struct tseg *data(uint32_t off, uint32_t tsval)
{
	struct ustack_tcp_options o = ts_opt(tsval, our_ts);
	tpeer_send(&p, 4000, 80, F_ACK | F_PSH, PISS + 1 + off, iss + 1, 502, "0123456789", 10, &o);
	return next();
}

Test(timestamps, tsval_ticks_in_milliseconds)
{
	const struct tseg *a = data(0, 2000);
	cr_assert_eq(a->h.opt.present, USTACK_OPT_TS);
	uint32_t t0 = a->h.opt.ts_val;
	/* The SYN-ACK went 10 ms before this ACK. */
	cr_assert_eq(t0 - our_ts, 10);
	tpeer_advance(&p, USTACK_MSEC(1500));
	a = data(10, 2100);
	cr_assert_eq(a->h.opt.ts_val - t0, 1500);
	cr_assert_eq(a->h.opt.ts_ecr, 2100);
}

Test(timestamps, paws_drops_old_data_and_counts_it)
{
	const struct tseg *a = data(0, 2000);
	cr_assert_eq(a->h.ack, PISS + 11);
	/* 500 ticks older than TS.Recent: an old duplicate (RFC 7323 5.3). */
	a = data(10, 1500);
	cr_assert_eq(a->h.ack, PISS + 11, "the data was not taken");
	cr_assert_eq(a->h.opt.ts_ecr, 2000);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_PAWS), 1);
	char buf[64];
	cr_assert_eq(ustack_recv(p.st, cfd, buf, sizeof(buf), 0), 10);
}

Test(timestamps, ts_recent_holds_for_23_idle_days)
{
	cr_assert_eq(data(0, 2000)->h.ack, PISS + 11);
	tpeer_advance(&p, USTACK_SEC(23ull * 24 * 3600));
	const struct tseg *a = data(10, 5);
	cr_assert_eq(a->h.ack, PISS + 11);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_PAWS), 1);
}

Test(timestamps, ts_recent_is_stale_after_24_idle_days)
{
	cr_assert_eq(data(0, 2000)->h.ack, PISS + 11);
	/* RFC 7323 5.5: the peer's clock may have wrapped its sign since;
	 * the old TS.Recent no longer judges, and the new TSval replaces it. */
	tpeer_advance(&p, USTACK_SEC(24ull * 24 * 3600 + 1));
	const struct tseg *a = data(10, 5);
	cr_assert_eq(a->h.ack, PISS + 21);
	cr_assert_eq(a->h.opt.ts_ecr, 5);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_PAWS), 0);
}

Test(timestamps, a_full_segment_leaves_room_for_the_option)
{
	static char big[3000];
	cr_assert_eq(ustack_send(p.st, cfd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	const struct tseg *s = next();
	cr_assert_eq(s->h.len, 1448);
	cr_assert_eq(s->h.opt.present, USTACK_OPT_TS);
	cr_assert_eq(s->h.opt.ts_ecr, 1100);
}

/* An active open whose SYN-ACK echoes a TSval we never sent: Linux resets
 * that SYN-ACK and keeps waiting (LINUX_MIB_PAWSACTIVEREJECTED). */
Test(timestamps, synack_echoing_a_future_tsval_is_reset)
{
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(p.peer_addr, 9000);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *s = next();
	cr_assert_eq(s->h.flags, F_SYN);
	cr_assert_eq(s->h.opt.present,
		     USTACK_OPT_MSS | USTACK_OPT_SACK_PERM | USTACK_OPT_TS | USTACK_OPT_WSCALE);
	cr_assert_eq(s->h.opt.ts_ecr, 0);
	uint32_t syn_iss = s->h.seq, syn_ts = s->h.opt.ts_val;
	uint16_t lport = s->h.sport;
	tpeer_advance(&p, USTACK_MSEC(10));
	struct ustack_tcp_options o = ts_opt(7000, syn_ts + 1000);
	o.present |= USTACK_OPT_MSS;
	o.mss = 1460;
	tpeer_send(&p, 9000, lport, F_SYN | F_ACK, 800, syn_iss + 1, 65535, NULL, 0, &o);
	s = next();
	cr_assert_eq(s->h.flags, USTACK_TCP_RST);
	cr_assert_eq(s->h.seq, syn_iss + 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_DROP_TCP_PAWS), 1);
	/* The right echo completes the handshake. */
	o.ts_ecr = syn_ts;
	tpeer_send(&p, 9000, lport, F_SYN | F_ACK, 800, syn_iss + 1, 65535, NULL, 0, &o);
	s = next();
	cr_assert_eq(s->h.flags, F_ACK);
	cr_assert_eq(s->h.opt.ts_ecr, 7000);
}
