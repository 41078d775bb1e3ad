/*
 * Undoing a reduction that proves spurious, as Linux does: the segment
 * taken for lost was only late. With SACK, a fast retransmission whose
 * copy comes back as a duplicate (RFC 3708, DSACK), or an ACK echoing a
 * timestamp older than the retransmission (RFC 3522, Eifel), gives the
 * window back at the end of recovery; an ACK that shows neither does not.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>

#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define MSS 1448 /* 1460 less timestamps */
#define NSEG 10

static struct tpeer p;
static int fd;
static uint32_t iss, our_ts;
static const uint32_t PISS = 5000;
static uint32_t seg_ts[NSEG]; /* TSval of each first transmission */
static uint32_t rtx_ts;       /* TSval of the retransmission of the first */

static const struct tseg *next(void)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s, "the stack sent nothing; trace:\n%s", p.trace);
	return s;
}

static void ack(uint32_t ackno, uint32_t tsecr, int nsack, uint32_t l0, uint32_t r0)
{
	struct ustack_tcp_options o = { .present = USTACK_OPT_TS, .ts_val = 2000, .ts_ecr = tsecr };
	if (nsack) {
		o.present |= USTACK_OPT_SACK;
		o.nsack = 1;
		o.sack[0].left = l0;
		o.sack[0].right = r0;
	}
	tpeer_send(&p, 4000, 80, F_ACK, PISS + 1, ackno, 5000, NULL, 0, &o);
}

static struct ustack_tcp_info info(void)
{
	return t_tcp_info(p.st, fd);
}

/*
 * A connection with SACK and timestamps; ten segments go out, the first
 * is held up: SACKs for the other nine make the stack resend it (RACK).
 * Returns the window before the reduction.
 */
static uint32_t lose_the_first_for_a_while(void)
{
	tpeer_init(&p, NULL);
	int lfd = t_listen(p.st, p.addr, 80, 8);
	cr_assert_geq(lfd, 0);
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE | USTACK_OPT_SACK_PERM |
						   USTACK_OPT_TS,
					.mss = 1460, .wscale = 7, .ts_val = 1000 };
	tpeer_send(&p, 4000, 80, F_SYN, PISS, 0, 65535, NULL, 0, &o);
	const struct tseg *s = next();
	cr_assert_eq(s->h.flags, F_SYN | F_ACK);
	iss = s->h.seq;
	our_ts = s->h.opt.ts_val;
	tpeer_advance(&p, USTACK_MSEC(10));
	ack(iss + 1, our_ts, 0, 0, 0);
	fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	static char buf[NSEG * MSS];
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(ustack_send(p.st, fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	for (int i = 0; i < NSEG; i++) {
		s = next();
		cr_assert_eq(s->h.seq, iss + 1 + (uint32_t)i * MSS);
		cr_assert_eq(s->h.len, MSS);
		seg_ts[i] = s->h.opt.ts_val;
	}
	uint32_t before = info().cwnd;
	tpeer_advance(&p, USTACK_MSEC(10));
	uint32_t base = iss + 1;
	for (int k = 2; k <= NSEG; k += 2)
		ack(base, seg_ts[k - 1], 1, base + MSS, base + (uint32_t)k * MSS);
	/* RACK may wait its reordering window before it calls it lost. */
	tpeer_advance(&p, USTACK_MSEC(5));
	bool resent = false;
	while ((s = tpeer_next(&p))) {
		if (s->h.seq == base && s->h.len == MSS) {
			resent = true;
			rtx_ts = s->h.opt.ts_val;
		}
	}
	cr_assert(resent, "the first segment was not resent; trace:\n%s", p.trace);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_FAST_RETRANS), 1);
	cr_assert_lt(info().cwnd, before, "recovery reduced the window");
	cr_assert_gt(rtx_ts, seg_ts[0], "the retransmission carries a later TSval");
	return before;
}

Test(undo, dsack_of_the_retransmission_gives_the_window_back)
{
	uint32_t before = lose_the_first_for_a_while();
	uint32_t base = iss + 1;
	/* The original arrived after all; the copy is reported as a
	 * duplicate below the ACK, which echoes the copy's TSval. */
	ack(base + NSEG * MSS, rtx_ts, 1, base, base + MSS);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_DSACK_RECV), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_UNDO_DSACK), 1, "trace:\n%s", p.trace);
	struct ustack_tcp_info ti = info();
	cr_assert_geq(ti.cwnd, before, "window %u, before the reduction %u", ti.cwnd, before);
	cr_assert_eq(ti.ca_state, 0);
	tpeer_fini(&p);
}

Test(undo, an_echo_older_than_the_retransmission_gives_the_window_back)
{
	uint32_t before = lose_the_first_for_a_while();
	/* The ACK for everything echoes the original's TSval: the original
	 * made it, so the retransmission was not needed. */
	ack(iss + 1 + NSEG * MSS, seg_ts[0], 0, 0, 0);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_UNDO_TS), 1, "trace:\n%s", p.trace);
	cr_assert_geq(info().cwnd, before);
	tpeer_fini(&p);
}

Test(undo, a_real_loss_keeps_the_reduction)
{
	uint32_t before = lose_the_first_for_a_while();
	/* Acknowledged through the retransmission, no duplicate reported. */
	ack(iss + 1 + NSEG * MSS, rtx_ts, 0, 0, 0);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_UNDO_DSACK) + ustack_stat(p.st, USTACK_STAT_TCP_UNDO_TS), 0);
	struct ustack_tcp_info ti = info();
	cr_assert_lt(ti.cwnd, before);
	/* Recovery ended at ssthresh; the ACK then grew it a little. */
	cr_assert(ti.cwnd >= ti.ssthresh && ti.cwnd < ti.ssthresh + 2 * MSS, "cwnd %u ssthresh %u", ti.cwnd,
		  ti.ssthresh);
	tpeer_fini(&p);
}

Test(undo, a_duplicate_the_network_made_is_not_taken_for_one)
{
	uint32_t before = lose_the_first_for_a_while();
	uint32_t base = iss + 1;
	/* A DSACK inside the flight for a segment sent only once (the
	 * network duplicated it) says nothing about the retransmission. */
	ack(base, rtx_ts, 1, base + 5 * MSS, base + 6 * MSS);
	ack(base + NSEG * MSS, rtx_ts, 0, 0, 0);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_UNDO_DSACK), 0);
	cr_assert_lt(info().cwnd, before);
	tpeer_fini(&p);
}
