/*
 * Selective acknowledgments (RFC 2018, RFC 2883), both sides.
 *
 * Receiving: the out-of-order ranges waiting in the receive ring
 * (tcp_reass.c) are reported on every segment we send, the range that
 * changed last first, as many as fit; a duplicate is reported once, in
 * front of them (DSACK).
 *
 * Sending: one record per segment in flight (struct us_txseg, tcp.h) says
 * whether the peer SACKed it, whether it is taken for lost, and whether a
 * retransmission of it is in flight; the counts of each give RFC 6675's
 * pipe without a walk. A SACK block finds its records by binary search,
 * so an ACK costs the logarithm of the flight plus the records it newly
 * covers. SACK information is advisory (RFC 2018 8): nothing is freed
 * from the send ring until the cumulative ACK covers it, and a timeout
 * forgets every SACK mark, so a peer that reneges loses nothing.
 */
#include <string.h>

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

/* ---- The sender's scoreboard ---- */

/* A segment that grows a record past this many bytes gets one of its own. */
static uint32_t rec_limit(const struct us_tcb *tcb)
{
	return tcb->snd_mss;
}

bool us_sack_active(const struct us_tcb *tcb)
{
	return tcb->sack_ok && !tcb->txq.broken;
}

struct us_txseg *us_sack_at(const struct us_tcb *tcb, uint32_t i)
{
	return &tcb->txq.a[(tcb->txq.base + i) & (tcb->txq.cap - 1)];
}

struct us_txseg *us_sack_by_id(const struct us_txq *q, uint32_t id)
{
	return &q->a[id & (q->cap - 1)];
}

static uint32_t id_at(const struct us_txq *q, uint32_t i)
{
	return q->base + i;
}

static void t_unlink(struct us_txq *q, uint32_t id)
{
	struct us_txseg *r = us_sack_by_id(q, id);
	if (q->tn == 1) {
		q->tn = 0;
		return;
	}
	if (id == q->thead)
		q->thead = r->tnext;
	else
		us_sack_by_id(q, r->tprev)->tnext = r->tnext;
	if (id == q->ttail)
		q->ttail = r->tprev;
	else
		us_sack_by_id(q, r->tnext)->tprev = r->tprev;
	q->tn--;
}

static void t_append(struct us_txq *q, uint32_t id)
{
	if (q->tn == 0) {
		q->thead = id;
	} else {
		us_sack_by_id(q, q->ttail)->tnext = id;
		us_sack_by_id(q, id)->tprev = q->ttail;
	}
	q->ttail = id;
	q->tn++;
}

/* A record not SACKed was sent again: it is now the newest. */
static void t_touch(struct us_txq *q, uint32_t id)
{
	if (q->tn && id == q->ttail)
		return;
	t_unlink(q, id);
	t_append(q, id);
}

void us_sack_free(struct ustack *st, struct us_tcb *tcb)
{
	us_free(st, tcb->txq.a, tcb->txq.cap * sizeof(*tcb->txq.a));
	memset(&tcb->txq, 0, sizeof(tcb->txq));
}

/* Index of the first record ending after seq (n if none). */
static uint32_t find(const struct us_tcb *tcb, uint32_t seq)
{
	uint32_t lo = 0, hi = tcb->txq.n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (SEQ_GT(us_sack_at(tcb, mid)->end, seq))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static bool grow(struct ustack *st, struct us_txq *q)
{
	uint32_t ncap = q->cap ? q->cap * 2 : 64;
	struct us_txseg *na = us_alloc(st, ncap * sizeof(*na));
	if (!na)
		return false;
	/* Ids stay; only their slots move. */
	for (uint32_t i = 0; i < q->n; i++)
		na[(q->base + i) & (ncap - 1)] = q->a[(q->base + i) & (q->cap - 1)];
	us_free(st, q->a, q->cap * sizeof(*q->a));
	q->a = na;
	q->cap = ncap;
	return true;
}

/* The scoreboard is given up for this flight: counted, and recovery is
 * NewReno's until everything sent so far is acknowledged. */
static void give_up(struct ustack *st, struct us_tcb *tcb)
{
	us_count(st, USTACK_STAT_TCP_SACK_SCOREBOARD_LOST);
	struct us_txq *q = &tcb->txq;
	q->n = q->tn = 0;
	q->sacked = q->lost = q->retrans = 0;
	q->sacked_b = q->lost_b = q->retrans_b = 0;
	q->broken = true;
}

static void set_flags(struct us_txq *q, struct us_txseg *r, uint8_t flags)
{
	uint32_t len = r->end - r->seq;
	uint8_t gone = r->flags & ~flags, added = flags & ~r->flags;
	if (gone & US_TX_SACKED)
		q->sacked--, q->sacked_b -= len;
	if (gone & US_TX_LOST)
		q->lost--, q->lost_b -= len;
	if (gone & US_TX_RETRANS)
		q->retrans--, q->retrans_b -= len;
	if (added & US_TX_SACKED)
		q->sacked++, q->sacked_b += len;
	if (added & US_TX_LOST)
		q->lost++, q->lost_b += len;
	if (added & US_TX_RETRANS)
		q->retrans++, q->retrans_b += len;
	r->flags = flags;
}

/* [seq, end) was just sent; again if any of it had been sent before. */
void us_sack_sent(struct ustack *st, struct us_tcb *tcb, uint32_t seq, uint32_t end, bool again)
{
	struct us_txq *q = &tcb->txq;
	if (!tcb->sack_ok || SEQ_LT(seq, tcb->sndq_seq) || seq == end)
		return;
	if (q->broken) {
		if (q->n == 0 && tcb->snd_una == seq && !again)
			q->broken = false; /* nothing in flight: start afresh */
		else
			return;
	}
	if (!again) {
		if (q->n == 0) {
			q->lost_hint = q->sack_high = seq;
		} else {
			struct us_txseg *t = us_sack_at(tcb, q->n - 1);
			if (t->end != seq) {
				give_up(st, tcb);
				return;
			}
			if (t->flags == 0 && end - t->seq <= rec_limit(tcb)) {
				t->end = end;
				t->xmit = st->now;
				t_touch(q, id_at(q, q->n - 1));
				return;
			}
		}
		if (q->n == q->cap && !grow(st, q)) {
			give_up(st, tcb);
			return;
		}
		struct us_txseg *r = us_sack_at(tcb, q->n++);
		*r = (struct us_txseg){ .seq = seq, .end = end, .xmit = st->now };
		t_append(q, id_at(q, q->n - 1));
		return;
	}
	/* A retransmission: every record it touches is in flight again. */
	for (uint32_t i = find(tcb, seq); i < q->n; i++) {
		struct us_txseg *r = us_sack_at(tcb, i);
		if (!SEQ_LT(r->seq, end))
			break;
		r->xmit = st->now;
		if (!(r->flags & US_TX_SACKED)) {
			set_flags(q, r, r->flags | US_TX_RETRANS | US_TX_EVER);
			t_touch(q, id_at(q, i));
		}
	}
}

void us_sack_mark_lost(struct ustack *st, struct us_tcb *tcb, struct us_txseg *r)
{
	struct us_txq *q = &tcb->txq;
	if (r->flags & US_TX_SACKED)
		return;
	if ((r->flags & US_TX_LOST) && !(r->flags & US_TX_RETRANS))
		return;
	/* A retransmission taken for lost is to be sent again. */
	set_flags(q, r, (uint8_t)((r->flags | US_TX_LOST) & ~US_TX_RETRANS));
	us_count(st, USTACK_STAT_TCP_MARKED_LOST);
	tcb->sack_lost_total++;
	if (SEQ_LT(r->seq, q->lost_hint))
		q->lost_hint = r->seq;
}

/* RFC 6675 4 IsLost, as Linux's tcp_mark_head_lost: from SND.UNA, every
 * record not SACKed is lost until more than `sacked` SACKed ones have been
 * passed, so each hole marked has at least DupThresh SACKed segments above
 * it when sacked = (SACKed segments) - DupThresh. */
void us_sack_mark_head_lost(struct ustack *st, struct us_tcb *tcb, uint32_t sacked)
{
	uint32_t cnt = 0;
	for (uint32_t i = 0; i < tcb->txq.n; i++) {
		struct us_txseg *r = us_sack_at(tcb, i);
		if (r->flags & US_TX_SACKED) {
			if (++cnt > sacked)
				break;
			continue;
		}
		if (!(r->flags & US_TX_LOST))
			us_sack_mark_lost(st, tcb, r);
	}
}

/* RFC 2018 8 and RFC 6675 5.1: after a timeout SACK marks are forgotten
 * and everything in flight is taken for lost (Linux's tcp_enter_loss). */
void us_sack_rto(struct us_tcb *tcb)
{
	struct us_txq *q = &tcb->txq;
	q->tn = 0;
	for (uint32_t i = 0; i < q->n; i++) {
		struct us_txseg *r = us_sack_at(tcb, i);
		set_flags(q, r, (uint8_t)((r->flags & US_TX_EVER) | US_TX_LOST));
		t_append(q, id_at(q, i)); /* the SACKed rejoin; by sequence, near enough to time */
	}
	q->lost_hint = tcb->snd_una;
	q->sack_high = tcb->snd_una;
	tcb->tlp_out = false;
	us_tcb_timer_stop(tcb, US_TM_TLP);
	us_tcb_timer_stop(tcb, US_TM_RACK);
}

/* Pieces of at most mss bytes of data that record r is cut into; the
 * FIN, if r holds it, rides on the last. */
static uint32_t pieces(const struct us_tcb *tcb, const struct us_txseg *r, uint32_t mss)
{
	uint32_t len = r->end - r->seq;
	if (tcb->fin_queued && r->end == tcb->sndq_seq + tcb->sndq.len + 1)
		len--;
	return len > mss ? (len + mss - 1) / mss : 1;
}

/*
 * The MSS fell (path MTU discovery, tcp_icmp.c): every record longer than
 * the new MSS is cut into pieces that are not, each keeping its marks and
 * its send time, so that a retransmission covers whole records. With
 * mark_lost, the pieces of a record that was cut are taken for lost, as
 * Linux's tcp_simple_retransmit marks every segment longer than the new
 * MSS: it was too large to pass. Returns false if memory ran out; the
 * scoreboard is then given up for this flight (counted).
 */
bool us_sack_resize(struct ustack *st, struct us_tcb *tcb, uint32_t mss, bool mark_lost)
{
	struct us_txq *q = &tcb->txq;
	if (!q->n || q->broken)
		return true;
	uint32_t total = 0;
	for (uint32_t i = 0; i < q->n; i++)
		total += pieces(tcb, us_sack_at(tcb, i), mss);
	if (total == q->n)
		return true;
	uint32_t ncap = 64;
	while (ncap < total)
		ncap *= 2;
	struct us_txseg *na = us_alloc(st, ncap * sizeof(*na));
	if (!na) {
		give_up(st, tcb);
		return false;
	}
	struct us_txq old = *q;
	/* The records, cut, in sequence order from id 0; each old record's
	 * tprev (no longer needed) remembers where its pieces start. */
	uint32_t k = 0;
	for (uint32_t i = 0; i < old.n; i++) {
		struct us_txseg *r = &old.a[(old.base + i) & (old.cap - 1)];
		uint32_t np = pieces(tcb, r, mss);
		r->tprev = k;
		for (uint32_t j = 0; j < np; j++, k++) {
			na[k] = *r;
			na[k].seq = r->seq + j * mss;
			if (j + 1 < np)
				na[k].end = na[k].seq + mss;
		}
	}
	q->a = na;
	q->cap = ncap;
	q->base = 0;
	q->n = total;
	q->tn = 0;
	q->sacked = q->lost = q->retrans = 0;
	q->sacked_b = q->lost_b = q->retrans_b = 0;
	for (uint32_t i = 0; i < total; i++) {
		uint8_t f = na[i].flags;
		na[i].flags = 0;
		set_flags(q, &na[i], f);
	}
	/* The time-ordered list as it was, each record replaced by its
	 * pieces in sequence order. */
	uint32_t id = old.thead;
	for (uint32_t t = 0; t < old.tn; t++) {
		const struct us_txseg *r = &old.a[id & (old.cap - 1)];
		for (uint32_t j = r->tprev; j < total && SEQ_LT(na[j].seq, r->end); j++)
			t_append(q, j);
		id = r->tnext;
	}
	if (mark_lost) {
		for (uint32_t i = 0; i < old.n; i++) {
			const struct us_txseg *r = &old.a[(old.base + i) & (old.cap - 1)];
			if (pieces(tcb, r, mss) == 1)
				continue;
			for (uint32_t j = r->tprev; j < total && SEQ_LT(na[j].seq, r->end); j++)
				us_sack_mark_lost(st, tcb, &na[j]);
		}
	}
	us_free(st, old.a, old.cap * sizeof(*old.a));
	return true;
}

/* RFC 5682 (Linux's tcp_undo_cwnd_reduction): the timeout was spurious;
 * nothing is taken for lost any more. */
void us_sack_unmark_lost(struct us_tcb *tcb)
{
	struct us_txq *q = &tcb->txq;
	for (uint32_t i = 0; i < q->n && q->lost; i++) {
		struct us_txseg *r = us_sack_at(tcb, i);
		if (r->flags & US_TX_LOST)
			set_flags(q, r, (uint8_t)(r->flags & ~US_TX_LOST));
	}
}

/* RFC 6675 4 pipe: bytes in flight, neither SACKed nor taken for lost,
 * plus retransmissions in flight. */
uint32_t us_sack_pipe(const struct us_tcb *tcb)
{
	const struct us_txq *q = &tcb->txq;
	uint32_t out = tcb->snd_max - tcb->snd_una, gone = q->sacked_b + q->lost_b;
	return (out > gone ? out - gone : 0) + q->retrans_b;
}

/* The same in segments, as Linux's tcp_packets_in_flight. */
uint32_t us_sack_pipe_segs(const struct us_tcb *tcb)
{
	const struct us_txq *q = &tcb->txq;
	uint32_t gone = q->sacked + q->lost;
	return (q->n > gone ? q->n - gone : 0) + q->retrans;
}

/* RFC 6675 4 NextSeg, rule 1: the first record taken for lost and not yet
 * sent again; NULL if none (rule 2, new data, is the caller's). */
struct us_txseg *us_sack_next_lost(struct us_tcb *tcb)
{
	struct us_txq *q = &tcb->txq;
	if (!q->lost)
		return NULL;
	for (uint32_t i = find(tcb, q->lost_hint); i < q->n; i++) {
		struct us_txseg *r = us_sack_at(tcb, i);
		if ((r->flags & (US_TX_LOST | US_TX_RETRANS | US_TX_SACKED)) == US_TX_LOST) {
			q->lost_hint = r->seq;
			return r;
		}
	}
	q->lost_hint = tcb->snd_max;
	return NULL;
}

/* RFC 2883 5: is the first block a duplicate report? */
static bool is_dsack(const struct ustack_tcp_options *opt, uint32_t ack)
{
	if (SEQ_LEQ(opt->sack[0].right, ack))
		return true;
	return opt->nsack > 1 && SEQ_GEQ(opt->sack[0].left, opt->sack[1].left) &&
	       SEQ_LEQ(opt->sack[0].right, opt->sack[1].right);
}

/*
 * RFC 3708, as Linux's tcp_check_dsack and tcp_sacktag_one: a duplicate
 * reported within the current episode (past undo_marker) is one of its
 * retransmissions that was not needed. Below SND.UNA the records are gone
 * and the block's segments (segs) are counted; inside the flight only segments
 * that were resent count, so a copy the network made cannot pass for one.
 */
static void dsack_undo(struct us_tcb *tcb, uint32_t left, uint32_t right, uint32_t una, uint32_t segs)
{
	if (!tcb->undo_on || !tcb->undo_retrans || !segs || !SEQ_GT(right, tcb->undo_marker))
		return;
	uint32_t n = 0;
	if (SEQ_LT(left, una)) {
		n = segs;
	} else {
		for (uint32_t i = find(tcb, left); i < tcb->txq.n; i++) {
			const struct us_txseg *r = us_sack_at(tcb, i);
			if (SEQ_GEQ(r->seq, right))
				break;
			if (r->flags & US_TX_EVER)
				n++;
		}
	}
	tcb->undo_retrans = n < tcb->undo_retrans ? tcb->undo_retrans - n : 0;
}

/*
 * An acceptable ACK arrived and SND.UNA moved from old_una to its value
 * now: drops the records it covers and marks those its SACK blocks cover.
 * Returns the segments delivered by this ACK (RFC 6937's DeliveredData,
 * counted in segments as Linux counts it).
 */
uint32_t us_sack_on_ack(struct ustack *st, struct us_tcb *tcb, const struct ustack_tcp_options *opt,
			uint32_t old_una)
{
	struct us_txq *q = &tcb->txq;
	uint32_t delivered = 0, una = tcb->snd_una;
	tcb->dsack_rcvd = false;
	tcb->orig_delivered = false;
	if (!tcb->sack_ok)
		return 0;
	if (q->broken) {
		if (una == tcb->snd_max)
			q->broken = false;
		return 0;
	}
	/* The cumulative ACK. */
	while (q->n) {
		struct us_txseg *r = us_sack_at(tcb, 0);
		if (SEQ_LEQ(r->end, una)) {
			if (!(r->flags & US_TX_SACKED)) {
				delivered++;
				us_rack_delivered(st, tcb, r);
				if (!(r->flags & US_TX_EVER))
					tcb->orig_delivered = true;
			}
			if (!(r->flags & US_TX_SACKED))
				t_unlink(q, q->base);
			set_flags(q, r, 0);
			q->base++;
			q->n--;
			continue;
		}
		if (SEQ_LT(r->seq, una)) {
			/* Part of a record: it shrinks; counts follow its bytes. */
			uint8_t f = r->flags;
			set_flags(q, r, 0);
			r->seq = una;
			set_flags(q, r, f);
		}
		break;
	}
	if (SEQ_LT(q->lost_hint, una))
		q->lost_hint = una;
	if (SEQ_LT(q->sack_high, una))
		q->sack_high = una;
	(void)old_una;
	if (!(opt->present & USTACK_OPT_SACK) || !opt->nsack)
		return delivered;
	int first = 0;
	if (is_dsack(opt, una)) {
		/* RFC 2883: a copy arrived twice; the retransmission (or the
		 * network's duplicate) was not needed. */
		us_count(st, USTACK_STAT_TCP_DSACK_RECV);
		us_rack_dsack(st, tcb);
		tcb->dsack_rcvd = true;
		first = 1;
		/* Linux's tcp_dsack_seen: the block's segments, once; a
		 * needless retransmission was delivered all the same. */
		uint32_t l0 = opt->sack[0].left, r0 = opt->sack[0].right;
		uint32_t segs = SEQ_LT(l0, r0) ? (r0 - l0 + tcb->snd_mss - 1) / tcb->snd_mss : 0;
		dsack_undo(tcb, l0, r0, una, segs);
		delivered += segs;
	}
	for (int b = first; b < opt->nsack; b++) {
		uint32_t left = opt->sack[b].left, right = opt->sack[b].right;
		/* RFC 2018 and Linux's tcp_is_sackblock_valid: only blocks
		 * inside what is outstanding mean anything. */
		if (!SEQ_LT(left, right) || SEQ_LT(left, una) || SEQ_GT(right, tcb->snd_max))
			continue;
		for (uint32_t i = find(tcb, left); i < q->n; i++) {
			struct us_txseg *r = us_sack_at(tcb, i);
			if (SEQ_GT(r->end, right))
				break;
			if (SEQ_LT(r->seq, left) || (r->flags & US_TX_SACKED))
				continue;
			if (!(r->flags & US_TX_EVER) && SEQ_LT(r->end, q->sack_high))
				tcb->reord_seen = true; /* delivered past a later one */
			/* Linux's FLAG_ORIG_SACK_ACKED: only what was sent
			 * before the timeout counts (F-RTO step 3b). */
			if (!(r->flags & US_TX_EVER) && SEQ_LEQ(r->end, tcb->recover))
				tcb->orig_delivered = true;
			t_unlink(q, id_at(q, i));
			set_flags(q, r, US_TX_SACKED | (r->flags & US_TX_EVER));
			delivered++;
			us_rack_delivered(st, tcb, r);
			if (SEQ_GT(r->end, q->sack_high))
				q->sack_high = r->end;
		}
	}
	return delivered;
}
