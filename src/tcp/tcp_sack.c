/*
 * Selective acknowledgments (RFC 2018, RFC 2883), both sides.
 *
 * Receiving: the out-of-order ranges waiting in the receive ring
 * (tcp_reass.c) are reported on every segment we send, the range that
 * changed last first, as many as fit; a duplicate is reported once, in
 * front of them (DSACK).
 */
#include "core/stack.h"

/* RFC 2883 4: a duplicate [lo, hi) goes in the first block of the next
 * segment. Linux keeps one; a second duplicate before that segment leaves
 * replaces it. */
void us_sack_note_dup(struct ustack *st, struct us_tcb *tcb, uint32_t lo, uint32_t hi)
{
	if (!tcb->sack_ok || !st->sys.tcp_dsack || !SEQ_LT(lo, hi))
		return;
	tcb->dsack_due = true;
	tcb->dsack_lo = lo;
	tcb->dsack_hi = hi;
}

/* The waiting range that holds seq, or -1. */
static int block_of(const struct us_reass *rq, uint32_t seq)
{
	for (int i = 0; i < rq->n; i++)
		if (SEQ_LEQ(rq->blk[i].start, seq) && SEQ_LT(seq, rq->blk[i].end))
			return i;
	return -1;
}

/*
 * RFC 2018 4: the blocks for the segment about to leave. The wire builder
 * keeps as many as fit beside the other options (4 alone, 3 beside
 * timestamps), the first ones. Ranges that joined the stream, or merged
 * with one already listed, drop out of the recent list here.
 */
void us_sack_options(struct us_tcb *tcb, struct ustack_tcp_options *opt)
{
	if (!tcb->sack_ok)
		return;
	uint8_t n = 0;
	if (tcb->dsack_due) {
		opt->sack[n].left = tcb->dsack_lo;
		opt->sack[n].right = tcb->dsack_hi;
		n++;
		tcb->dsack_due = false;
	}
	struct us_reass *rq = tcb->rq;
	if (rq) {
		int listed[4], nl = 0;
		uint8_t keep = 0;
		for (int i = 0; i < rq->nrecent; i++) {
			int b = block_of(rq, rq->recent[i]);
			bool dup = b < 0;
			for (int j = 0; j < nl && !dup; j++)
				dup = listed[j] == b;
			if (dup)
				continue;
			listed[nl++] = b;
			rq->recent[keep++] = rq->recent[i];
			if (n < 4) {
				opt->sack[n].left = rq->blk[b].start;
				opt->sack[n].right = rq->blk[b].end;
				n++;
			}
		}
		rq->nrecent = keep;
	}
	if (n) {
		opt->present |= USTACK_OPT_SACK;
		opt->nsack = n;
	}
}
