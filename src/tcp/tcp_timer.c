/*
 * Timers (DESIGN-NOTES 4). Each control block keeps one deadline per timer
 * and sits at most once in a binary min-heap, keyed by the earliest deadline
 * it had when last placed there (heap_at). Moving a deadline later, which is
 * what nearly every ACK does to the retransmission timer, touches nothing:
 * the block wakes at its old time, finds nothing due and is placed again.
 * Only an earlier deadline sifts the heap. The stack's next deadline is the
 * heap's top, or the oldest TIME_WAIT record's, both read in constant time.
 */
#include <errno.h>

#include "core/stack.h"

static ustack_time_t earliest(const struct us_tcb *tcb)
{
	ustack_time_t m = USTACK_TIME_NEVER;
	for (int i = 0; i < US_TM__COUNT; i++)
		if (tcb->tm[i] < m)
			m = tcb->tm[i];
	return m;
}

static void heap_place(struct us_tcb **h, uint32_t i, struct us_tcb *tcb)
{
	h[i] = tcb;
	tcb->heap_idx = i;
}

static void sift_up(struct us_tcp_layer *tl, uint32_t i)
{
	struct us_tcb *tcb = tl->heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (tl->heap[p]->heap_at <= tcb->heap_at)
			break;
		heap_place(tl->heap, i, tl->heap[p]);
		i = p;
	}
	heap_place(tl->heap, i, tcb);
}

static void sift_down(struct us_tcp_layer *tl, uint32_t i)
{
	struct us_tcb *tcb = tl->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= tl->heap_len)
			break;
		if (c + 1 < tl->heap_len && tl->heap[c + 1]->heap_at < tl->heap[c]->heap_at)
			c++;
		if (tcb->heap_at <= tl->heap[c]->heap_at)
			break;
		heap_place(tl->heap, i, tl->heap[c]);
		i = c;
	}
	heap_place(tl->heap, i, tcb);
}

static void heap_remove(struct us_tcp_layer *tl, struct us_tcb *tcb)
{
	uint32_t i = tcb->heap_idx;
	tcb->heap_idx = US_HEAP_NONE;
	struct us_tcb *last = tl->heap[--tl->heap_len];
	if (last == tcb)
		return;
	heap_place(tl->heap, i, last);
	sift_down(tl, i);
	sift_up(tl, last->heap_idx);
}

/* Every control block may need one slot, so the slots are reserved when the
 * block is made (us_tcb_new) and placing a timer never fails. */
int us_tcp_timer_reserve(struct ustack *st, uint32_t nblocks)
{
	struct us_tcp_layer *tl = &st->tcp;
	if (nblocks <= tl->heap_cap)
		return 0;
	uint32_t ncap = tl->heap_cap ? tl->heap_cap * 2 : 64;
	struct us_tcb **nh = us_realloc(st, tl->heap, tl->heap_cap * sizeof(*nh), ncap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	tl->heap = nh;
	tl->heap_cap = ncap;
	return 0;
}

static void heap_insert(struct us_tcp_layer *tl, struct us_tcb *tcb, ustack_time_t at)
{
	tcb->heap_at = at;
	heap_place(tl->heap, tl->heap_len++, tcb);
	sift_up(tl, tcb->heap_idx);
}

void us_tcb_timer_set(struct ustack *st, struct us_tcb *tcb, enum us_timer which, ustack_time_t at)
{
	tcb->tm[which] = at;
	if (tcb->heap_idx == US_HEAP_NONE) {
		heap_insert(&st->tcp, tcb, earliest(tcb));
	} else if (at < tcb->heap_at) {
		tcb->heap_at = at;
		sift_up(&st->tcp, tcb->heap_idx);
	}
}

void us_tcb_timer_stop(struct us_tcb *tcb, enum us_timer which)
{
	tcb->tm[which] = USTACK_TIME_NEVER;
}

void us_tcb_timer_forget(struct ustack *st, struct us_tcb *tcb)
{
	for (int i = 0; i < US_TM__COUNT; i++)
		tcb->tm[i] = USTACK_TIME_NEVER;
	if (tcb->heap_idx != US_HEAP_NONE)
		heap_remove(&st->tcp, tcb);
}

/* ---- Retransmission timeout (RFC 6298) ---- */

#define USEC(ms) ((uint32_t)(ms) * 1000u)

void us_tcp_rto_init(struct ustack *st, struct us_tcb *tcb)
{
	tcb->srtt_us = tcb->rttvar_us = 0;
	tcb->rto_us = USEC(st->cfg.rto_initial_ms); /* RFC 6298 2.1 */
	tcb->retries = 0;
	tcb->rtt_active = false;
}

/*
 * The minimum RTT over the last tcp_min_rtt_wlen seconds (Linux's
 * tcp_update_rtt_min), so that a path that got longer is believed after a
 * while: kept as three samples with Kathleen Nichols' windowed filter, as
 * Linux does. v[0] is the least sample of the window; v[1] and v[2] are
 * the least of its later quarter and half, ready to take over when v[0]
 * ages out, without keeping every sample.
 */
static void win_min_set(struct us_win_min *m, int from, uint32_t t, uint32_t v)
{
	for (int i = from; i < 3; i++) {
		m->t[i] = t;
		m->v[i] = v;
	}
}

static void win_min_shift(struct us_win_min *m)
{
	m->t[0] = m->t[1], m->v[0] = m->v[1];
	m->t[1] = m->t[2], m->v[1] = m->v[2];
}

void us_tcp_min_rtt_update(struct ustack *st, struct us_tcb *tcb, uint32_t rtt_us)
{
	struct us_win_min *m = &tcb->min_rtt;
	uint32_t now = (uint32_t)(st->now / 1000000u); /* ms; differences survive the wrap */
	uint32_t win = st->sys.tcp_min_rtt_wlen * 1000u;
	uint32_t v = rtt_us ? rtt_us : 1;
	/* A new minimum, or nothing in the window any more: start over. */
	if (m->v[0] == 0 || v <= m->v[0] || now - m->t[2] > win) {
		win_min_set(m, 0, now, v);
		return;
	}
	if (v <= m->v[1])
		win_min_set(m, 1, now, v);
	else if (v <= m->v[2])
		win_min_set(m, 2, now, v);
	uint32_t age = now - m->t[0];
	if (age > win) {
		/* The minimum aged out: the runners-up move up, this sample
		 * becomes the last, and again if the new minimum is old too. */
		win_min_shift(m);
		win_min_set(m, 2, now, v);
		if (now - m->t[0] > win) {
			win_min_shift(m);
			win_min_set(m, 2, now, v);
		}
	} else if (m->t[1] == m->t[0] && age > win / 4) {
		/* A quarter of the window without a second choice: take one
		 * from the later samples, so the minimum can hand over. */
		win_min_set(m, 1, now, v);
	} else if (m->t[2] == m->t[1] && age > win / 2) {
		win_min_set(m, 2, now, v);
	}
}

/* RFC 6298 2.2 and 2.3, with Linux's floor: the minimum (200 ms) bounds the
 * variance term, so RTO >= SRTT + 200 ms as in tcp_set_rto. */
static void rtt_sample(struct ustack *st, struct us_tcb *tcb, uint32_t r)
{
	if (r == 0)
		r = 1;
	us_tcp_min_rtt_update(st, tcb, r); /* RACK.min_RTT (RFC 8985 6.2), from every sample as Linux */
	if (tcb->srtt_us == 0) {
		tcb->srtt_us = r;
		tcb->rttvar_us = r / 2;
	} else {
		uint32_t delta = tcb->srtt_us > r ? tcb->srtt_us - r : r - tcb->srtt_us;
		tcb->rttvar_us = (3 * tcb->rttvar_us + delta) / 4;
		tcb->srtt_us = (7 * tcb->srtt_us + r) / 8;
	}
	uint32_t var = 4 * tcb->rttvar_us;
	if (var < USEC(st->cfg.rto_min_ms))
		var = USEC(st->cfg.rto_min_ms);
	uint64_t rto = (uint64_t)tcb->srtt_us + var;
	if (rto > USEC(st->cfg.rto_max_ms))
		rto = USEC(st->cfg.rto_max_ms);
	tcb->rto_us = (uint32_t)rto;
}

static void rto_arm(struct ustack *st, struct us_tcb *tcb)
{
	us_tcb_timer_set(st, tcb, US_TM_RTO, st->now + USTACK_USEC(tcb->rto_us));
}

void us_tcp_sent(struct ustack *st, struct us_tcb *tcb, uint32_t seq, uint32_t len, bool retransmit)
{
	if (len == 0)
		return;
	if (retransmit) {
		/* Karn's algorithm: an ACK after a retransmission cannot say
		 * which copy it answers, so no sample is taken from it. */
		us_count(st, USTACK_STAT_TCP_RETRANS_SEGS);
		tcb->rtt_active = false;
		if (tcb->undo_on) {
			/* For the undo (tcp_recovery.c): how many resends a
			 * DSACK must return, and when the first one left. */
			tcb->undo_retrans += (len + tcb->snd_mss - 1) / tcb->snd_mss;
			if (!tcb->retrans_tsval && tcb->ts_ok)
				tcb->retrans_tsval = us_tcp_ts_clock(st) + tcb->ts_off;
		}
	} else if (!tcb->rtt_active) {
		tcb->rtt_active = true;
		tcb->rtt_seq = seq;
		tcb->rtt_start = st->now;
	}
	if (tcb->tm[US_TM_RTO] == USTACK_TIME_NEVER)
		rto_arm(st, tcb); /* RFC 6298 5.1 */
	if (!retransmit)
		us_tlp_schedule(st, tcb, false); /* RFC 8985 7.2: new data sent */
}

void us_tcp_acked(struct ustack *st, struct us_tcb *tcb, uint32_t ack)
{
	bool handshake = tcb->state == USTACK_TCP_SYN_SENT || tcb->state == USTACK_TCP_SYN_RECEIVED;
	if (tcb->rtt_active && SEQ_GT(ack, tcb->rtt_seq)) {
		rtt_sample(st, tcb, (uint32_t)((st->now - tcb->rtt_start) / 1000u));
		tcb->rtt_active = false;
	} else if (!tcb->rtt_active && tcb->rcv_tsecr) {
		/* Nothing timed by sequence number, so a retransmission was
		 * acknowledged: Karn's rule forbids a sample, but the echoed
		 * TSval says which copy arrived (RFC 7323 4.1; Linux's
		 * tcp_rtt_tsopt_us, at least one tick). */
		uint32_t ms = us_tcp_ts_clock(st) + tcb->ts_off - tcb->rcv_tsecr;
		if (ms < 3600u * 1000)
			rtt_sample(st, tcb, ms ? ms * 1000u : 1000u);
	} else if (handshake && tcb->retries && tcb->srtt_us == 0) {
		/* RFC 6298 5.7: the SYN was retransmitted and gave no sample. */
		tcb->rto_us = USEC(3000);
	}
	tcb->retries = 0;
	if (tcb->snd_una == tcb->snd_max)
		us_tcb_timer_stop(tcb, US_TM_RTO); /* RFC 6298 5.2 */
	else
		rto_arm(st, tcb); /* 5.3 */
}

/* RFC 6298 5.4 to 5.6. Returns false if the connection was given up. */
static bool rto_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->snd_una == tcb->snd_max)
		return true; /* nothing outstanding: a stale deadline */
	uint8_t limit = tcb->state == USTACK_TCP_SYN_SENT	? st->cfg.syn_retries
			: tcb->state == USTACK_TCP_SYN_RECEIVED ? st->cfg.synack_retries
								: st->cfg.retries2;
	if (tcb->retries >= limit) {
		us_count(st, USTACK_STAT_TCP_TIMEOUT_ABORTS);
		if (tcb->state == USTACK_TCP_SYN_SENT)
			us_count(st, USTACK_STAT_TCP_ATTEMPT_FAILS);
		us_tcp_drop(st, tcb, ETIMEDOUT, "retransmission timeout");
		return false;
	}
	tcb->retries++;
	us_count(st, USTACK_STAT_TCP_TIMEOUTS);
	uint64_t rto = (uint64_t)tcb->rto_us * 2; /* 5.5: back off */
	tcb->rto_us = rto > USEC(st->cfg.rto_max_ms) ? USEC(st->cfg.rto_max_ms) : (uint32_t)rto;
	tcb->rtt_active = false;
	if (SEQ_LEQ(tcb->snd_una, tcb->iss)) {
		/* The SYN itself is unacknowledged, whatever the state (a
		 * connection closed in SYN_RECEIVED is in FIN_WAIT_1 by now). */
		us_tcp_send_syn(st, tcb);
	} else {
		us_tcp_rto_event(st, tcb);
		/* 5.4: the earliest unacknowledged segment; the rest follow
		 * as ACKs come back: with SACK, what the scoreboard now takes
		 * for lost (all of it), skipping what gets SACKed meanwhile;
		 * without, go-back-N. */
		uint32_t before = tcb->total_retrans;
		if (us_sack_active(tcb))
			us_tcp_output(st, tcb);
		if (tcb->total_retrans == before) {
			tcb->snd_nxt = tcb->snd_una;
			us_tcp_output_one(st, tcb);
		}
	}
	rto_arm(st, tcb); /* 5.6 */
	return true;
}

/* ---- The other timers ---- */

static bool delack_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->ack_delayed && tcb->state != USTACK_TCP_CLOSED) {
		us_count(st, USTACK_STAT_TCP_DELAYED_ACKS);
		us_tcp_send_ack(st, tcb);
	}
	return true;
}

/* RFC 1122 4.2.3.6, with Linux's choices: probe only an idle connection
 * (nothing in flight, nothing waiting), abort with a RST after the last
 * probe goes unanswered. */
static bool keepalive_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->keepalive || !(tcb->state == USTACK_TCP_ESTABLISHED || tcb->state == USTACK_TCP_CLOSE_WAIT ||
				 tcb->state == USTACK_TCP_FIN_WAIT_2))
		return true;
	ustack_time_t idle = USTACK_SEC(tcb->ka_idle), intvl = USTACK_SEC(tcb->ka_intvl);
	if (tcb->snd_una != tcb->snd_max || tcb->sndq.len) {
		us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, st->now + intvl);
		return true;
	}
	if (tcb->probes == 0 && st->now - tcb->last_rcv < idle) {
		us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, tcb->last_rcv + idle);
		return true;
	}
	if (tcb->probes >= tcb->ka_cnt) {
		us_count(st, USTACK_STAT_TCP_TIMEOUT_ABORTS);
		us_tcp_send_rst(st, tcb);
		us_tcp_drop(st, tcb, ETIMEDOUT, "keepalive timeout");
		return false;
	}
	us_count(st, USTACK_STAT_TCP_KEEPALIVE_PROBES);
	us_tcp_send_probe(st, tcb);
	tcb->probes++;
	us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, st->now + intvl);
	return true;
}

/* FIN_WAIT_2 of an orphan: the peer never closed (Linux's tcp_fin_timeout).
 * TIME_WAIT of a socket the user still holds: 2MSL is over. */
static bool fin_wait_expired(struct ustack *st, struct us_tcb *tcb)
{
	us_tcp_closed(st, tcb, tcb->state == USTACK_TCP_TIME_WAIT ? "2MSL timeout" : "FIN_WAIT_2 timeout");
	return false;
}

/*
 * Buffers follow use (DESIGN-NOTES 5), with a second of hysteresis: a ring
 * that drains is given back only if it is still empty a second later.
 * Giving it back at once made a bulk transfer free and reallocate (and
 * fault in) megabytes every time the reader caught up: a fifth of its time.
 */
#define US_RECLAIM_MS 1000

void us_tcp_rings_drained(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->tm[US_TM_RECLAIM] == USTACK_TIME_NEVER)
		us_tcb_timer_set(st, tcb, US_TM_RECLAIM, st->now + USTACK_MSEC(US_RECLAIM_MS));
}

static bool reclaim_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->sndq.buf && tcb->sndq.len == 0)
		us_ring_release(st, &tcb->sndq);
	if (tcb->rcvq.buf && tcb->rcvq.len == 0 && !us_reass_pending(tcb))
		us_ring_release(st, &tcb->rcvq);
	if (tcb->txq.a && tcb->txq.n == 0)
		us_sack_free(st, tcb);
	return true;
}

/* In enum us_timer's order. Each returns false if the block may be gone. */
static bool (*const handlers[US_TM__COUNT])(struct ustack *, struct us_tcb *) = {
	[US_TM_RTO] = rto_expired,
	[US_TM_PERSIST] = us_tcp_persist_expired,
	[US_TM_DELACK] = delack_expired,
	[US_TM_KEEPALIVE] = keepalive_expired,
	[US_TM_FIN_WAIT] = fin_wait_expired,
	[US_TM_RECLAIM] = reclaim_expired,
	[US_TM_RACK] = us_rack_timer_expired,
	[US_TM_TLP] = us_tlp_expired,
};

void us_tcp_timers_run(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	while (tl->heap_len && tl->heap[0]->heap_at <= st->now) {
		struct us_tcb *tcb = tl->heap[0];
		heap_remove(tl, tcb);
		bool alive = true;
		for (int i = 0; i < US_TM__COUNT && alive; i++) {
			if (tcb->tm[i] <= st->now) {
				tcb->tm[i] = USTACK_TIME_NEVER;
				alive = handlers[i](st, tcb);
			}
		}
		if (!alive)
			continue;
		ustack_time_t next = earliest(tcb);
		if (next != USTACK_TIME_NEVER && tcb->heap_idx == US_HEAP_NONE)
			heap_insert(tl, tcb, next);
	}
	us_tw_expire(st);
}

ustack_time_t us_tcp_next_deadline(const struct ustack *st)
{
	const struct us_tcp_layer *tl = &st->tcp;
	ustack_time_t d = USTACK_TIME_NEVER;
	if (tl->heap_len)
		d = tl->heap[0]->heap_at;
	if (tl->tw_head && tl->tw_head->deadline < d)
		d = tl->tw_head->deadline;
	return d;
}
