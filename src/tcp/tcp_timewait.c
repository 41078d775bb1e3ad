/*
 * TIME_WAIT as a compact record (DESIGN-NOTES 5, after Linux's timewait
 * socket and FreeBSD's tcptw): when a connection nobody holds any more
 * reaches TIME_WAIT, its control block and buffers are freed and a record
 * of about a hundred bytes (104 on 64-bit; the block is 640) keeps the
 * four-tuple, the port, the sequence numbers needed to answer a
 * retransmitted FIN, and the timestamp state its ACKs and PAWS need.
 *
 * Every record waits the same 2MSL from its last restart and the clock only
 * moves forward, so appending at the tail keeps the queue in deadline order:
 * expiry pops from the head, and a restart moves a record to the tail, both
 * in constant time. (A record made from a socket closed late in TIME_WAIT
 * waits at least as long as the tail: us_tw_enter.)
 */
#include "core/stack.h"
#include "wire/tcp.h"

static void tw_event(struct ustack_event *ev, const struct us_tw *tw)
{
	ev->fd = -1;
	ev->laddr = tw->n.t.laddr;
	ev->raddr = tw->n.t.raddr;
	ev->lport = tw->n.t.lport;
	ev->rport = tw->n.t.rport;
	ev->iss = tw->iss;
	ev->irs = tw->irs;
	ev->has_iss = ev->has_irs = true;
}

static void queue_unlink(struct us_tcp_layer *tl, struct us_tw *tw)
{
	if (tw->prev)
		tw->prev->next = tw->next;
	else
		tl->tw_head = tw->next;
	if (tw->next)
		tw->next->prev = tw->prev;
	else
		tl->tw_tail = tw->prev;
	tw->prev = tw->next = NULL;
}

static void queue_append(struct us_tcp_layer *tl, struct us_tw *tw)
{
	tw->prev = tl->tw_tail;
	tw->next = NULL;
	if (tl->tw_tail)
		tl->tw_tail->next = tw;
	else
		tl->tw_head = tw;
	tl->tw_tail = tw;
}

void us_tw_enter(struct ustack *st, struct us_tcb *tcb, ustack_time_t deadline)
{
	struct us_tw *tw = us_alloc(st, sizeof(*tw));
	if (!tw) {
		/* Keep the full block in TIME_WAIT instead: correct, only larger. */
		us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT, deadline);
		return;
	}
	tw->n.kind = US_NODE_TW;
	tw->n.t = tcb->n.t;
	tw->port = tcb->port; /* the port passes to the record as it is */
	tcb->port.bb = NULL;
	tw->snd_nxt = tcb->snd_nxt;
	tw->rcv_nxt = tcb->rcv_nxt;
	tw->iss = tcb->iss;
	tw->irs = tcb->irs;
	tw->rcv_wnd = us_tcp_rcv_window(tcb, false);
	tw->ts_ok = tcb->ts_ok;
	tw->ts_off = tcb->ts_off;
	tw->ts_recent = tcb->ts_recent;
	tw->ts_recent_stamp = tcb->ts_recent_stamp;
	/* A socket closed while already in TIME_WAIT brings the deadline it
	 * had (us_tcp_close), which may fall before the tail's. Waiting until
	 * the tail's deadline instead keeps the queue in order at no cost: it
	 * is never past 2MSL from now, and a longer wait is the safe side. */
	if (st->tcp.tw_tail && st->tcp.tw_tail->deadline > deadline)
		deadline = st->tcp.tw_tail->deadline;
	tw->deadline = deadline;
	us_tcp_hash_remove(st, &tcb->n);
	us_tcb_free(st, tcb);
	st->tcp.nconns++;
	us_tcp_hash_insert(st, &tw->n); /* cannot collide: the block just left */
	queue_append(&st->tcp, tw);
}

void us_tw_free(struct ustack *st, struct us_tw *tw)
{
	if (tw->n.in_hash)
		us_tcp_hash_remove(st, &tw->n);
	queue_unlink(&st->tcp, tw);
	us_port_release(st, &tw->port);
	us_free(st, tw, sizeof(*tw));
	st->tcp.nconns--;
}

static void tw_close(struct ustack *st, struct us_tw *tw, const char *cause)
{
	if (US_TRACING(st)) {
		struct ustack_event ev = { .type = USTACK_EV_STATE,
					   .old_state = USTACK_TCP_TIME_WAIT,
					   .new_state = USTACK_TCP_CLOSED,
					   .cause = cause };
		tw_event(&ev, tw);
		us_trace(st, &ev);
	}
	us_tw_free(st, tw);
}

static void tw_ack(struct ustack *st, struct us_tw *tw)
{
	struct us_tcp_out o = { .seq = tw->snd_nxt, .ack = tw->rcv_nxt, .flags = USTACK_TCP_ACK, .win = tw->rcv_wnd };
	if (tw->ts_ok) {
		/* Linux's tcp_v4_timewait_ack: the record's clock and echo. */
		o.opt.present = USTACK_OPT_TS;
		o.opt.ts_val = us_tcp_ts_clock(st) + tw->ts_off;
		o.opt.ts_ecr = tw->ts_recent;
	}
	struct us_tcb view = { .iss = tw->iss, .irs = tw->irs, .state = USTACK_TCP_TIME_WAIT, .fd = -1 };
	view.n.t = tw->n.t;
	us_tcp_emit(st, &tw->n.t, &o, NULL, 0, &view);
}

/*
 * A segment for a connection in TIME_WAIT (RFC 9293 3.10.7.4, and Linux's
 * tcp_timewait_state_process where the RFC leaves room). Returns 1 when the
 * record was ended to let a new connection's SYN through, 0 when the
 * segment was dealt with here.
 */
/* Linux's TCP_PAWS_MSL: a RST that fails PAWS is still believed once
 * TS.Recent is a minute old. */
#define US_PAWS_MSL 60

int us_tw_input(struct ustack *st, struct us_tw *tw, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	uint8_t f = h->flags;
	/* RFC 7323 5 in TIME_WAIT, as Linux's tcp_timewait_state_process:
	 * an old TSval marks an old duplicate; unlike in ESTABLISHED, a RST is
	 * not exempt unless TS.Recent is over a minute old. */
	bool saw_ts = tw->ts_ok && (h->opt.present & USTACK_OPT_TS);
	bool paws_reject = saw_ts && !us_tcp_paws_ok(st, tw->ts_recent, tw->ts_recent_stamp, h->opt.ts_val, 0) &&
			   !((f & USTACK_TCP_RST) &&
			     (int32_t)(us_tcp_secs(st) - (tw->ts_recent_stamp + US_PAWS_MSL)) >= 0);
	if ((f & USTACK_TCP_SYN) && !(f & (USTACK_TCP_RST | USTACK_TCP_ACK)) && !paws_reject &&
	    (SEQ_GT(h->seq, tw->rcv_nxt) || (saw_ts && (int32_t)(tw->ts_recent - h->opt.ts_val) < 0))) {
		/* RFC 9293 3.10.7.4 note and RFC 6191's Linux practice: a new
		 * SYN above the old sequence space, or with a later timestamp,
		 * may reopen the four-tuple. */
		us_count(st, USTACK_STAT_TCP_TIMEWAIT_RECYCLED);
		tw_close(st, tw, "rcv new SYN");
		return 1;
	}
	if (US_TRACING(st)) {
		struct ustack_event ev = { .type = USTACK_EV_SEG_IN, .seg = h };
		tw_event(&ev, tw);
		us_trace(st, &ev);
	}
	if (paws_reject) {
		us_drop(st, USTACK_STAT_DROP_TCP_PAWS, h, NULL);
		if (f & USTACK_TCP_RST)
			return 0;
		/* Linux: answered as any other old segment, and the wait
		 * restarts. */
		tw->deadline = st->now + USTACK_MSEC(2 * (uint64_t)st->cfg.msl_ms);
		queue_unlink(&st->tcp, tw);
		queue_append(&st->tcp, tw);
		if (!us_tcp_oow_rate_limited(st, &tw->last_oow_ack, h->len + !!(f & USTACK_TCP_FIN)))
			tw_ack(st, tw);
		return 0;
	}
	if (f & USTACK_TCP_RST) {
		/* Linux (net.ipv4.tcp_rfc1337 = 0): an exact RST ends
		 * TIME_WAIT early; any other RST is ignored. */
		if (h->seq == tw->rcv_nxt)
			tw_close(st, tw, "rcv RST");
		else
			us_drop(st, USTACK_STAT_DROP_TCP_TIMEWAIT, h, NULL);
		return 0;
	}
	/* As Linux does: a bare ACK at RCV.NXT is absorbed; anything else,
	 * the peer's retransmitted FIN above all, is answered with an ACK
	 * (RFC 9293 3.10.7.4). Either restarts the 2MSL wait, since the peer
	 * is evidently still there (RFC 9293: "restart the 2 MSL timeout"). */
	bool bare = h->seq == tw->rcv_nxt && h->len == 0 && !(f & (USTACK_TCP_FIN | USTACK_TCP_SYN));
	if (bare && saw_ts) {
		tw->ts_recent = h->opt.ts_val;
		tw->ts_recent_stamp = us_tcp_secs(st);
	}
	if (f & USTACK_TCP_ACK) {
		tw->deadline = st->now + USTACK_MSEC(2 * (uint64_t)st->cfg.msl_ms);
		queue_unlink(&st->tcp, tw);
		queue_append(&st->tcp, tw);
	}
	us_drop(st, USTACK_STAT_DROP_TCP_TIMEWAIT, h, NULL);
	/* An empty segment out of the window is answered at most every
	 * 500 ms, as Linux does (ACK loops); a FIN or data always is. */
	uint32_t seglen = h->len + !!(f & USTACK_TCP_FIN);
	if (!bare && !us_tcp_oow_rate_limited(st, &tw->last_oow_ack, seglen))
		tw_ack(st, tw);
	return 0;
}

void us_tw_expire(struct ustack *st)
{
	while (st->tcp.tw_head && st->tcp.tw_head->deadline <= st->now) {
		us_count(st, USTACK_STAT_TCP_TIMEWAIT_EXPIRED);
		tw_close(st, st->tcp.tw_head, "2MSL timeout");
	}
}
