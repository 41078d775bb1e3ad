/*
 * The stack's invariants, checked on demand: by the fuzzers after every
 * input and by the randomized tests after every step, so that they find
 * logic errors and not only memory errors. Nothing on the data path calls
 * this; it walks every connection.
 */
#include <stdarg.h>
#include <stdio.h>

#include "core/stack.h"

static bool tuple_same(const struct us_tuple *a, const struct us_tuple *b)
{
	return a->laddr == b->laddr && a->raddr == b->raddr && a->lport == b->lport && a->rport == b->rport;
}

static int fail(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (why && n)
		vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -1;
}

/* The SACK scoreboard (tcp_sack.c): records in sequence order, touching,
 * covering exactly [SND.UNA, SND.MAX) while in use, each within one MSS
 * (and a FIN), their counts matching their marks, and their number
 * bounded by the send buffer. */
static int check_scoreboard(const struct us_tcb *t, char *why, size_t n)
{
	const struct us_txq *q = &t->txq;
	if (!q->n)
		return 0;
	if (!t->sack_ok || q->broken)
		return fail(why, n, "port %u: %u scoreboard records without a scoreboard", t->n.t.lport, q->n);
	if (q->n > q->cap || (q->cap & (q->cap - 1)))
		return fail(why, n, "port %u: scoreboard ring %u/%u", t->n.t.lport, q->n, q->cap);
	/* About two records per MSS; a fall of the MSS (us_sack_resize) cuts
	 * each record and may leave one short piece of each. */
	uint32_t bound = 3 * (t->sndbuf / t->snd_mss) + 4;
	if (q->n > bound)
		return fail(why, n, "port %u: %u scoreboard records, over %u", t->n.t.lport, q->n, bound);
	uint32_t cnt[3] = { 0 }, bytes[3] = { 0 };
	/* The SYN has no record: while it is unacknowledged, records start
	 * after it (a FIN sent from SYN_RECEIVED, RFC 9293 3.10.4 CLOSE). */
	uint32_t at = t->snd_una == t->iss ? t->snd_una + 1 : t->snd_una;
	for (uint32_t i = 0; i < q->n; i++) {
		const struct us_txseg *r = us_sack_at(t, i);
		if (r->seq != at || !SEQ_LT(r->seq, r->end) || r->end - r->seq > t->snd_mss + 1u)
			return fail(why, n, "port %u: scoreboard record %u [%u,%u) misplaced (expected at %u)",
				    t->n.t.lport, i, r->seq, r->end, at);
		if ((r->flags & US_TX_SACKED) && (r->flags & (US_TX_LOST | US_TX_RETRANS)))
			return fail(why, n, "port %u: a SACKed record marked lost or in retransmission",
				    t->n.t.lport);
		if ((r->flags & US_TX_RETRANS) && !(r->flags & US_TX_EVER))
			return fail(why, n, "port %u: a retransmission never sent twice", t->n.t.lport);
		for (int k = 0; k < 3; k++) {
			if (r->flags & (1u << k)) {
				cnt[k]++;
				bytes[k] += r->end - r->seq;
			}
		}
		at = r->end;
	}
	/* The time-ordered list holds every record not SACKed, once. */
	uint32_t id = q->thead, listed = 0;
	for (uint32_t k = 0; k < q->tn; k++) {
		const struct us_txseg *r = us_sack_by_id(q, id);
		if (id - q->base >= q->n || (r->flags & US_TX_SACKED))
			return fail(why, n, "port %u: time list holds record id %u (base %u, %u records)",
				    t->n.t.lport, id, q->base, q->n);
		if (k && us_sack_by_id(q, r->tprev)->tnext != id)
			return fail(why, n, "port %u: time list links broken at id %u", t->n.t.lport, id);
		listed++;
		if (k + 1 < q->tn)
			id = r->tnext;
	}
	if (q->tn && id != q->ttail)
		return fail(why, n, "port %u: time list does not end at its tail", t->n.t.lport);
	if (listed != q->n - cnt[0])
		return fail(why, n, "port %u: time list has %u records, %u not SACKed", t->n.t.lport, listed,
			    q->n - cnt[0]);
	if (at != t->snd_max)
		return fail(why, n, "port %u: scoreboard ends at %u, snd_max %u", t->n.t.lport, at, t->snd_max);
	if (cnt[0] != q->sacked || cnt[1] != q->lost || cnt[2] != q->retrans || bytes[0] != q->sacked_b ||
	    bytes[1] != q->lost_b || bytes[2] != q->retrans_b)
		return fail(why, n, "port %u: scoreboard counts %u/%u/%u differ from its marks %u/%u/%u",
			    t->n.t.lport, q->sacked, q->lost, q->retrans, cnt[0], cnt[1], cnt[2]);
	if (SEQ_GT(q->sack_high, t->snd_max))
		return fail(why, n, "port %u: highest SACK %u past snd_max", t->n.t.lport, q->sack_high);
	return 0;
}

static int check_tcb(const struct ustack *st, const struct us_tcb *t, char *why, size_t n)
{
	if (t->state == USTACK_TCP_LISTEN || t->state == USTACK_TCP_CLOSED)
		return 0;
	/* The MSS fits the path MTU it was made from (tcp_icmp.c), once the
	 * peer's MSS is known. */
	if (t->mss_clamp && t->pmtu && t->snd_mss + 40u > t->pmtu)
		return fail(why, n, "port %u: snd_mss %u does not fit path MTU %u", t->n.t.lport, t->snd_mss, t->pmtu);
	/* RFC 9293 3.3.1: SND.UNA <= SND.NXT <= SND.MAX in sequence space. */
	if (SEQ_GT(t->snd_una, t->snd_nxt) || SEQ_GT(t->snd_nxt, t->snd_max))
		return fail(why, n, "port %u: snd_una %u snd_nxt %u snd_max %u out of order", t->n.t.lport, t->snd_una,
			    t->snd_nxt, t->snd_max);
	/* The send ring holds exactly the bytes from sndq_seq; nothing was
	 * sent beyond them but the FIN. */
	uint32_t data_end = t->sndq_seq + t->sndq.len;
	if (SEQ_GT(t->snd_max, data_end + (t->fin_queued ? 1u : 0u)))
		return fail(why, n, "port %u: snd_max %u past the data (%u) and FIN", t->n.t.lport, t->snd_max,
			    data_end);
	if (SEQ_LT(t->snd_una, t->sndq_seq - 1u) || SEQ_GT(t->sndq_seq, t->snd_una + 1u))
		if (!(t->fin_queued && t->snd_una == data_end + 1u))
			return fail(why, n, "port %u: send ring starts at %u, snd_una %u", t->n.t.lport, t->sndq_seq,
				    t->snd_una);
	if (t->sndq.len > t->sndbuf || (t->sndq.buf && t->sndq.len > t->sndq.cap))
		return fail(why, n, "port %u: send ring %u over its bound", t->n.t.lport, t->sndq.len);
	if (t->rcvq.len > t->rcvbuf || (t->rcvq.buf && t->rcvq.len > t->rcvq.cap))
		return fail(why, n, "port %u: receive ring %u over its bound", t->n.t.lport, t->rcvq.len);
	if (t->rcvq.len && !t->rcvq.buf)
		return fail(why, n, "port %u: bytes counted in a ring with no storage", t->n.t.lport);
	if (t->rq) {
		uint32_t prev = t->rcv_nxt;
		for (int i = 0; i < t->rq->n; i++) {
			/* Waiting ranges are sorted, disjoint, past RCV.NXT and
			 * inside the buffer. */
			if (!SEQ_GT(t->rq->blk[i].start, prev) || !SEQ_LT(t->rq->blk[i].start, t->rq->blk[i].end))
				return fail(why, n, "port %u: out-of-order range %d [%u,%u) misplaced", t->n.t.lport,
					    i, t->rq->blk[i].start, t->rq->blk[i].end);
			if (t->rq->blk[i].end - t->rcv_nxt + t->rcvq.len > t->rcvbuf)
				return fail(why, n, "port %u: out-of-order data past the buffer", t->n.t.lport);
			prev = t->rq->blk[i].end;
		}
	}
	if (check_scoreboard(t, why, n))
		return -1;
	if (t->cwnd == 0 && t->state == USTACK_TCP_ESTABLISHED)
		return fail(why, n, "port %u: zero congestion window", t->n.t.lport);
	(void)st;
	return 0;
}

int us_check_invariants(struct ustack *st, char *why, size_t n)
{
	const struct us_tcp_layer *tl = &st->tcp;
	uint32_t nodes = 0;
	bool last_found = false;
	for (uint32_t i = 0; i <= tl->hash_mask; i++) {
		for (const struct us_node *nd = tl->hash[i]; nd; nd = nd->hnext) {
			nodes++;
			if (!nd->in_hash)
				return fail(why, n, "a hashed node says it is not hashed");
			if (nd == tl->last) {
				/* The lookup cache (tcp_conn.c) must answer what the
				 * table does: a live connection, in its own tuple's
				 * chain, the first there with that tuple. */
				const struct us_node *first = tl->hash[us_tcp_bucket(st, &nd->t)];
				while (first && !tuple_same(&first->t, &nd->t))
					first = first->hnext;
				if (first != nd)
					return fail(why, n, "lookup cache holds port %u, which the table does not find",
						    nd->t.lport);
				if (nd->kind != US_NODE_TCB || ((const struct us_tcb *)nd)->state == USTACK_TCP_LISTEN)
					return fail(why, n, "lookup cache holds a listener or TIME_WAIT record");
				last_found = true;
			}
			if (nd->kind == US_NODE_TCB && check_tcb(st, (const struct us_tcb *)nd, why, n))
				return -1;
		}
	}
	if (nodes != tl->nodes)
		return fail(why, n, "hash holds %u nodes, counted %u", nodes, tl->nodes);
	if (tl->last && !last_found)
		return fail(why, n, "lookup cache holds a node that is not in the table");
	if (tl->nconns > st->cfg.max_conns)
		return fail(why, n, "%u connections over the cap %u", tl->nconns, st->cfg.max_conns);
	/* The path MTUs learned (pmtu.c): as many as counted, each between
	 * RFC 791's 68 and the link's MTU. */
	uint32_t pmtus = 0;
	for (uint32_t i = 0; i < US_PMTU_BUCKETS * US_PMTU_WAYS; i++) {
		const struct us_pmtu_ent *e = &st->pmtu.e[i];
		if (!e->mtu)
			continue;
		pmtus++;
		if (e->mtu < 68 || e->mtu > st->cfg.mtu)
			return fail(why, n, "path MTU %u learned, outside 68..%u", e->mtu, st->cfg.mtu);
	}
	if (pmtus != st->pmtu.n)
		return fail(why, n, "%u path MTUs learned, counted %u", pmtus, st->pmtu.n);
	/* The timer heap: each block knows its slot, and no child is earlier
	 * than its parent. */
	for (uint32_t i = 0; i < tl->heap_len; i++) {
		if (tl->heap[i]->heap_idx != i)
			return fail(why, n, "timer heap slot %u holds a block that thinks it is at %u", i,
				    tl->heap[i]->heap_idx);
		if (i && tl->heap[(i - 1) / 2]->heap_at > tl->heap[i]->heap_at)
			return fail(why, n, "timer heap out of order at %u", i);
	}
	/* TIME_WAIT records wait in deadline order. */
	for (const struct us_tw *tw = tl->tw_head; tw && tw->next; tw = tw->next)
		if (tw->deadline > tw->next->deadline)
			return fail(why, n, "TIME_WAIT queue out of order");
	return 0;
}
