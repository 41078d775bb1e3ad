/*
 * Receiving data, in order or not (RFC 9293 3.10.7.4, seventh step).
 *
 * A segment's payload is copied once, from the packet straight to its final
 * place in the receive ring: in-order data at the tail, out-of-order data at
 * its offset past the tail, where it waits for the gap before it to fill.
 * The ring never needs more room than the window we advertised, so nothing
 * is kept anywhere else. What waits is described by a short sorted list of
 * sequence ranges; it has a fixed number of slots, so a peer sending many
 * tiny scattered segments (SegmentSmack) costs a bounded amount of work and
 * memory: a segment that would need one more range is dropped and counted.
 */
#include <errno.h>
#include <string.h>

#include "core/stack.h"

static struct us_reass *reass_get(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->rq)
		tcb->rq = us_alloc(st, sizeof(*tcb->rq));
	return tcb->rq;
}

void us_reass_free(struct ustack *st, struct us_tcb *tcb)
{
	us_free(st, tcb->rq, sizeof(*tcb->rq));
	tcb->rq = NULL;
}

/* Bytes from RCV.NXT to the end of what waits out of order: the ranges
 * are sorted, so the last one ends furthest. */
uint32_t us_reass_span(const struct us_tcb *tcb)
{
	const struct us_reass *rq = tcb->rq;
	return rq && rq->n ? rq->blk[rq->n - 1].end - tcb->rcv_nxt : 0;
}

/* Bytes from the ring's head that hold data, waiting data included. */
static uint32_t extent(const struct us_tcb *tcb)
{
	return tcb->rcvq.len + us_reass_span(tcb);
}

/* Adds [start, end) to the sorted, disjoint list, merging what touches it.
 * Returns false if that would need more ranges than there are slots. */
static bool ranges_add(struct us_reass *rq, uint32_t start, uint32_t end)
{
	int i = 0;
	while (i < rq->n && SEQ_LT(rq->blk[i].end, start))
		i++;
	int j = i;
	while (j < rq->n && SEQ_LEQ(rq->blk[j].start, end))
		j++;
	/* blk[i..j) touch or overlap the new range: merge them into one. */
	if (i == j) {
		if (rq->n == US_REASS_MAX)
			return false;
		memmove(&rq->blk[i + 1], &rq->blk[i], (size_t)(rq->n - i) * sizeof(rq->blk[0]));
		rq->blk[i].start = start;
		rq->blk[i].end = end;
		rq->n++;
		return true;
	}
	if (SEQ_LT(rq->blk[i].start, start))
		start = rq->blk[i].start;
	if (SEQ_GT(rq->blk[j - 1].end, end))
		end = rq->blk[j - 1].end;
	rq->blk[i].start = start;
	rq->blk[i].end = end;
	memmove(&rq->blk[i + 1], &rq->blk[j], (size_t)(rq->n - j) * sizeof(rq->blk[0]));
	rq->n = (uint8_t)(rq->n - (j - i - 1));
	return true;
}

/* The first waiting range that shares bytes with [start, end), or -1. */
static int first_overlap(const struct us_reass *rq, uint32_t start, uint32_t end)
{
	for (int i = 0; i < rq->n; i++)
		if (SEQ_LT(rq->blk[i].start, end) && SEQ_GT(rq->blk[i].end, start))
			return i;
	return -1;
}

/* RFC 2883 4: bytes that arrive again while they wait out of order are
 * reported as a duplicate; Linux reports the first overlap only. */
static void note_overlap(struct ustack *st, struct us_tcb *tcb, uint32_t start, uint32_t end)
{
	struct us_reass *rq = tcb->rq;
	int i = rq ? first_overlap(rq, start, end) : -1;
	if (i < 0)
		return;
	uint32_t lo = SEQ_GT(rq->blk[i].start, start) ? rq->blk[i].start : start;
	uint32_t hi = SEQ_LT(rq->blk[i].end, end) ? rq->blk[i].end : end;
	us_sack_note_dup(st, tcb, lo, hi);
}

/* RFC 2018 4: the range holding seq becomes the first to report. */
static void note_recent(struct us_reass *rq, uint32_t seq)
{
	int k = rq->nrecent < 4 ? rq->nrecent : 3;
	memmove(&rq->recent[1], &rq->recent[0], (size_t)k * sizeof(rq->recent[0]));
	rq->recent[0] = seq;
	rq->nrecent = (uint8_t)(k + 1);
}

/*
 * Takes plen bytes at seq (at or after RCV.NXT, inside the window). Returns
 * how far RCV.NXT moved, or a negative errno if the segment could not be
 * kept: -ENOSPC (no room in the buffer, or too many ranges), -ENOBUFS (the
 * stack's net.ipv4.tcp_mem limit), -ENOMEM (the allocator failed).
 */
int us_reass_take(struct ustack *st, struct us_tcb *tcb, uint32_t seq, const uint8_t *data, uint32_t plen)
{
	struct us_ring *r = &tcb->rcvq;
	uint32_t off = seq - tcb->rcv_nxt;
	/* The window never promises more than the buffer holds, except by the
	 * rounding of a scaled window; trim to the buffer. */
	uint32_t room = tcb->rcvbuf > r->len ? tcb->rcvbuf - r->len : 0;
	if (off >= room)
		return -ENOSPC;
	if (plen > room - off)
		plen = room - off;
	int err = us_ring_reserve(st, r, r->len + off + plen, tcb->rcvbuf, extent(tcb));
	if (err)
		return err == -ENOMEM ? -ENOMEM : -ENOBUFS;
	note_overlap(st, tcb, seq, seq + plen);
	if (off) {
		struct us_reass *rq = reass_get(st, tcb);
		if (!rq)
			return -ENOMEM;
		if (!ranges_add(rq, seq, seq + plen))
			return -ENOSPC;
		note_recent(rq, seq);
		us_ring_write_at(r, r->len + off, data, plen);
		return 0;
	}
	us_ring_write(r, data, plen);
	uint32_t before = tcb->rcv_nxt;
	tcb->rcv_nxt += plen;
	struct us_reass *rq = tcb->rq;
	if (rq && rq->n) {
		/* Whatever waited and now touches RCV.NXT joins the stream. */
		int k = 0;
		while (k < rq->n && SEQ_LEQ(rq->blk[k].start, tcb->rcv_nxt)) {
			if (SEQ_GT(rq->blk[k].end, tcb->rcv_nxt)) {
				r->len += rq->blk[k].end - tcb->rcv_nxt;
				tcb->rcv_nxt = rq->blk[k].end;
			}
			k++;
		}
		memmove(&rq->blk[0], &rq->blk[k], (size_t)(rq->n - k) * sizeof(rq->blk[0]));
		rq->n = (uint8_t)(rq->n - k);
	}
	return (int)(tcb->rcv_nxt - before);
}

bool us_reass_pending(const struct us_tcb *tcb)
{
	return tcb->rq && tcb->rq->n;
}
