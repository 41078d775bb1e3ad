/*
 * Segment arrival, RFC 9293 section 3.10.7, in the RFC's order: the socket
 * lookup, then LISTEN (3.10.7.2), SYN-SENT (3.10.7.3) and the synchronized
 * states (3.10.7.4: sequence check, RST, SYN, ACK, text, FIN). Where the RFC
 * leaves a choice, the branch does what Linux does and says so.
 *
 * Guide to us_tcp_input: parse and validate (every rejection is a named
 * drop), find the connection by four-tuple, then the TIME_WAIT record, then
 * a listener; nothing found means a reset (3.10.7.1).
 */
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "wire/tcp.h"

/* RFC 9293 3.7.1: the MSS assumed when the peer sends none. */
#define US_DEFAULT_MSS 536
/* Linux's TCP_DELACK_MIN. */
#define US_DELACK_MS 40


static void trace_seg_in(struct ustack *st, const struct us_tcp *seg, const struct us_tcb *tcb)
{
	if (US_TRACING(st)) {
		struct ustack_event ev = { .type = USTACK_EV_SEG_IN, .seg = &seg->h };
		us_event_conn(&ev, tcb);
		ev.laddr = seg->h.daddr;
		ev.raddr = seg->h.saddr;
		ev.lport = seg->h.dport;
		ev.rport = seg->h.sport;
		us_trace(st, &ev);
	}
}

static void drop(struct ustack *st, enum ustack_stat why, const struct us_tcp *seg, const struct us_tcb *tcb)
{
	us_drop(st, why, &seg->h, tcb);
}

uint32_t us_tcp_secs(const struct ustack *st)
{
	return (uint32_t)(st->now / USTACK_SEC(1));
}

/*
 * Options of a SYN: MSS (RFC 9293 3.7.1), window scale (RFC 7323 2),
 * timestamps (RFC 7323 3) and SACK-permitted (RFC 2018 2). Each is on only
 * if both sides sent it; ours were sent if the sysctl allows (a SYN) or
 * are sent now because the peer's were (a SYN,ACK, us_tcp_send_syn).
 */
static void take_syn_options(struct ustack *st, struct us_tcb *tcb, const struct ustack_tcp_options *opt)
{
	uint32_t mss = (opt->present & USTACK_OPT_MSS) ? opt->mss : US_DEFAULT_MSS;
	/* net.ipv4.tcp_min_snd_mss bounds it below (us_tcp_mss_for): a peer
	 * announcing MSS 1 must not turn one write into thousands of
	 * segments. Unlike Linux, never above what the path takes: DF is
	 * set, so a larger segment would not get out. */
	tcb->mss_clamp = (uint16_t)(mss ? mss : 1);
	tcb->ts_ok = st->sys.tcp_timestamps && (opt->present & USTACK_OPT_TS);
	tcb->sack_ok = st->sys.tcp_sack && (opt->present & USTACK_OPT_SACK_PERM);
	if (tcb->ts_ok) {
		/* RFC 7323 4.3: TS.Recent starts with the SYN's TSval. Every
		 * segment we send then carries 12 bytes of option, so a full
		 * one holds that much less (Linux: 1448 for 1460). */
		tcb->ts_recent = opt->ts_val;
		tcb->ts_recent_stamp = us_tcp_secs(st);
	}
	tcb->snd_mss = us_tcp_mss_for(st, tcb, tcb->pmtu);
	if ((opt->present & USTACK_OPT_WSCALE) && st->sys.tcp_window_scaling) {
		tcb->ws_ok = true;
		tcb->snd_wscale = opt->wscale;
	} else {
		/* RFC 7323 2.2: scaling is on only if both sides said so. */
		tcb->ws_ok = false;
		tcb->snd_wscale = 0;
		tcb->rcv_wscale = 0;
	}
	/* The MSS is known: the window can be sized. A connection can leave
	 * SYN_RECEIVED without passing ESTABLISHED (closed early, then
	 * retransmitting its FIN), so this cannot wait until then. */
	us_tcp_cc_init(st, tcb);
}

/* RFC 7323 5.5: TS.Recent is forgotten after 24 days without an update,
 * since the peer's clock may have moved by half its range since. */
#define US_PAWS_24DAYS (24u * 24 * 3600)
/* Linux's TCP_PAWS_WINDOW: a TSval one tick behind TS.Recent still passes. */
#define US_PAWS_WINDOW 1

/* Linux's tcp_paws_check: whether tsval may follow TS.Recent, `win` ticks
 * of slack allowed. */
bool us_tcp_paws_ok(const struct ustack *st, uint32_t ts_recent, uint32_t stamp, uint32_t tsval, int32_t win)
{
	if ((int32_t)(ts_recent - tsval) <= win)
		return true;
	if ((int32_t)(us_tcp_secs(st) - (stamp + US_PAWS_24DAYS)) >= 0)
		return true;
	/* Linux: some stacks send TSval 0 in their SYN; it proves nothing. */
	return ts_recent == 0;
}

/*
 * RFC 5961 3.2 and 4.2: an answer that only the true peer can use. RFC 5961
 * 7 asks for a limit on them; Linux's default (since 6.0) is its per-socket
 * one for out-of-window answers, at most one per 500 ms, shared with the
 * ACKs to unacceptable segments, and so is ustack's.
 */
static void challenge_ack(struct ustack *st, struct us_tcb *tcb)
{
	if (us_tcp_oow_rate_limited(st, &tcb->last_oow_ack, 0))
		return;
	us_count(st, USTACK_STAT_TCP_CHALLENGE_ACKS);
	us_tcp_send_ack(st, tcb);
}

/* ---- LISTEN (RFC 9293 3.10.7.2) ---- */

/* A child of listener lst for the peer of seg, in SYN_RECEIVED, hashed
 * and in lst's SYN queue; its sequence numbers are the caller's to set.
 * NULL if there is no room (the drop is counted). */
static struct us_tcb *child_new(struct ustack *st, struct us_tcb *lst, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	struct us_listen *lq = lst->lq;
	struct us_tcb *c = us_tcb_new(st);
	if (!c) {
		drop(st, st->tcp.nconns >= st->cfg.max_conns ? USTACK_STAT_DROP_TCP_CONN_LIMIT
							       : USTACK_STAT_DROP_TCP_NO_MEMORY,
		     seg, lst);
		return NULL;
	}
	c->n.t = (struct us_tuple){ h->daddr, h->saddr, h->dport, h->sport };
	c->passive = true;
	c->reuseaddr = lst->reuseaddr;
	c->nodelay = lst->nodelay;
	c->linger = lst->linger;
	c->linger_sec = lst->linger_sec;
	c->rcvbuf = lst->rcvbuf;
	c->rcvbuf_lock = lst->rcvbuf_lock;
	c->sndbuf = lst->sndbuf;
	c->sndbuf_lock = lst->sndbuf_lock;
	c->cc = lst->cc;
	c->keepalive = lst->keepalive;
	c->ka_idle = lst->ka_idle;
	c->ka_intvl = lst->ka_intvl;
	c->ka_cnt = lst->ka_cnt;
	us_tcp_pmtu_init(st, c);
	if (us_tcp_hash_insert(st, &c->n)) {
		us_tcb_free(st, c);
		drop(st, USTACK_STAT_DROP_TCP_NO_MEMORY, seg, lst);
		return NULL;
	}
	us_port_share(st, &c->port, &lst->port);
	c->parent = lst;
	c->qnext = lq->syn_head;
	if (lq->syn_head)
		lq->syn_head->qprev = c;
	lq->syn_head = c;
	lq->nsyn++;
	us_count(st, USTACK_STAT_TCP_PASSIVE_OPENS);
	c->state = USTACK_TCP_LISTEN; /* the child's life starts as its parent's */
	return c;
}

/*
 * The SYN queue is full: answer with a SYN cookie (tcp_syncookie.c) and
 * keep nothing. The SYN-ACK is the one a child would have sent (window,
 * shift, options), but for what the cookie cannot carry.
 */
static void send_cookie(struct ustack *st, struct us_tcb *lst, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	const struct ustack_tcp_options *po = &h->opt;
	struct us_tuple t = { h->daddr, h->saddr, h->dport, h->sport };
	/* Without timestamps there is nowhere to keep window scale and
	 * SACK-permitted, so, as Linux does, the SYN-ACK offers neither. */
	bool ts = st->sys.tcp_timestamps && (po->present & USTACK_OPT_TS);
	bool sack = ts && st->sys.tcp_sack && (po->present & USTACK_OPT_SACK_PERM);
	bool ws = ts && st->sys.tcp_window_scaling && (po->present & USTACK_OPT_WSCALE);
	uint16_t rcv_mss = (uint16_t)(us_pmtu_get(st, t.raddr, NULL, NULL) - 40);
	struct us_tcp_out o;
	memset(&o, 0, sizeof(o));
	o.seq = us_syncookie_isn(st, &t, h->seq, (po->present & USTACK_OPT_MSS) ? po->mss : US_DEFAULT_MSS);
	o.ack = h->seq + 1;
	o.flags = USTACK_TCP_SYN | USTACK_TCP_ACK;
	uint32_t tsval = us_syncookie_tsval(us_tcp_ts_clock(st), sack, ws, po->wscale) + us_tcp_ts_offset(st, &t);
	us_tcp_syn_options(&o.opt, rcv_mss, sack, ts, tsval, po->ts_val, ws,
			   us_tcp_wscale(st, lst->rcvbuf, lst->rcvbuf_lock));
	o.win = us_tcp_syn_window(st, lst->rcvbuf, rcv_mss - (ts ? US_TCPOLEN_TS_ALIGNED : 0));
	lst->lq->last_cookie = st->now;
	us_count(st, USTACK_STAT_TCP_SYNCOOKIES_SENT);
	us_tcp_emit(st, &t, &o, NULL, 0, lst);
}

/* Linux's TCP_SYNCOOKIE_VALID: ACKs are taken for cookies only for two
 * minutes after one was sent, so that a listener never flooded does not
 * try every stray ACK. */
#define US_SYNCOOKIE_VALID USTACK_SEC(120)

static void synced_input(struct ustack *st, struct us_tcb *tcb, const struct us_tcp *seg);

/*
 * An ACK to a listener: the return of a SYN cookie (Linux's
 * cookie_v4_check)? Returns 1 if a connection was made from it (and the
 * segment processed), 0 if it is no cookie of ours, -1 if the cookie is
 * wrong or too old.
 */
static int cookie_ack(struct ustack *st, struct us_tcb *lst, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	struct us_listen *lq = lst->lq;
	if (!st->sys.tcp_syncookies || (h->flags & (USTACK_TCP_RST | USTACK_TCP_SYN)) || !lq->last_cookie ||
	    st->now - lq->last_cookie > US_SYNCOOKIE_VALID)
		return 0;
	struct us_tuple t = { h->daddr, h->saddr, h->dport, h->sport };
	int mss = us_syncookie_check(st, &t, h->ack - 1, h->seq - 1);
	struct ustack_tcp_options opt = { .present = USTACK_OPT_MSS, .mss = (uint16_t)(mss > 0 ? mss : 0) };
	uint32_t ts_off = us_tcp_ts_offset(st, &t);
	if (mss > 0 && st->sys.tcp_timestamps && (h->opt.present & USTACK_OPT_TS)) {
		bool sack, ws;
		uint8_t wscale;
		if (!us_syncookie_ts_decode(h->opt.ts_ecr - ts_off, &sack, &ws, &wscale))
			mss = -1;
		opt.present |= USTACK_OPT_TS;
		opt.ts_val = h->opt.ts_val; /* TS.Recent starts here */
		if (sack)
			opt.present |= USTACK_OPT_SACK_PERM;
		if (ws) {
			opt.present |= USTACK_OPT_WSCALE;
			opt.wscale = wscale;
		}
	}
	if (mss < 0)
		return -1;
	us_count(st, USTACK_STAT_TCP_SYNCOOKIES_RECV);
	if (lq->nacc > lq->backlog) {
		/* Linux: no room to accept it; the peer will retransmit. */
		drop(st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW, seg, lst);
		return 1;
	}
	struct us_tcb *c = child_new(st, lst, seg);
	if (!c)
		return 1;
	c->irs = h->seq - 1;
	c->rcv_nxt = h->seq;
	c->iss = h->ack - 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->sndq_seq = c->iss + 1;
	c->snd_wl1 = c->irs;
	take_syn_options(st, c, &opt);
	c->ts_off = ts_off;
	if (c->ws_ok)
		c->rcv_wscale = us_tcp_wscale(st, c->rcvbuf, c->rcvbuf_lock);
	c->syn_wnd = us_tcp_syn_window(st, c->rcvbuf, us_tcp_rcv_seg(c));
	us_tcp_rcv_window(c, true);
	c->last_ack_sent = c->rcv_nxt;
	us_tcp_set_state(st, c, USTACK_TCP_SYN_RECEIVED, "rcv SYN cookie");
	/* The ACK completes the handshake as if the SYN-ACK had been ours to
	 * keep; it may carry data too. */
	synced_input(st, c, seg);
	return 1;
}

static void listen_input(struct ustack *st, struct us_tcb *lst, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	struct us_listen *lq = lst->lq;
	if (h->flags & USTACK_TCP_RST) {
		drop(st, USTACK_STAT_DROP_TCP_LISTEN_RST, seg, lst);
		return;
	}
	if (h->flags & USTACK_TCP_ACK) {
		int r = cookie_ack(st, lst, seg);
		if (r > 0)
			return;
		drop(st, r < 0 ? USTACK_STAT_DROP_TCP_SYNCOOKIE_BAD : USTACK_STAT_DROP_TCP_LISTEN_NO_SYN, seg, lst);
		us_tcp_reset_reply(st, seg);
		return;
	}
	if (!(h->flags & USTACK_TCP_SYN)) {
		drop(st, USTACK_STAT_DROP_TCP_LISTEN_NO_SYN, seg, lst);
		return;
	}
	if (h->flags & USTACK_TCP_FIN) {
		/* Linux discards SYN+FIN in LISTEN. */
		drop(st, USTACK_STAT_DROP_TCP_BAD_FLAGS, seg, lst);
		return;
	}
	/*
	 * Linux's tcp_conn_request, measured on 6.18: the SYN queue is full
	 * once it holds more than the backlog (min(backlog, somaxconn)); then
	 * a SYN gets a cookie (tcp_syncookies = 1; always with 2), or is
	 * dropped (0). A full accept queue (more than backlog) refuses SYNs
	 * even with cookies. Without cookies, the last quarter of
	 * tcp_max_syn_backlog is kept for peers proven alive, which ustack
	 * does not track: it stays empty.
	 */
	bool cookie = st->sys.tcp_syncookies == 2;
	if (lq->nsyn > lq->backlog) {
		if (!st->sys.tcp_syncookies) {
			drop(st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW, seg, lst);
			return;
		}
		cookie = true;
	}
	if (lq->nacc > lq->backlog) {
		drop(st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW, seg, lst);
		return;
	}
	uint32_t msb = st->sys.tcp_max_syn_backlog;
	if (!cookie && !st->sys.tcp_syncookies && (msb < lq->nsyn || msb - lq->nsyn < msb / 4)) {
		drop(st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW, seg, lst);
		return;
	}
	if (cookie) {
		send_cookie(st, lst, seg);
		return;
	}
	struct us_tcb *c = child_new(st, lst, seg);
	if (!c)
		return;
	c->irs = h->seq;
	c->rcv_nxt = h->seq + 1;
	c->iss = us_tcp_isn(st, &c->n.t);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->sndq_seq = c->iss + 1;
	c->snd_wnd = h->window; /* RFC 7323 2.2: never scaled in a SYN */
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = h->seq;
	take_syn_options(st, c, &h->opt);
	us_tcp_set_state(st, c, USTACK_TCP_SYN_RECEIVED, "rcv SYN");
	us_tcp_send_syn(st, c);
}

/* ---- SYN-SENT (RFC 9293 3.10.7.3) ---- */

static void syn_sent_input(struct ustack *st, struct us_tcb *tcb, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	bool ack = h->flags & USTACK_TCP_ACK;
	if (ack && (SEQ_LEQ(h->ack, tcb->iss) || SEQ_GT(h->ack, tcb->snd_max))) {
		drop(st, USTACK_STAT_DROP_TCP_SYN_SENT_BAD_ACK, seg, tcb);
		us_tcp_reset_reply(st, seg);
		return;
	}
	if (h->flags & USTACK_TCP_RST) {
		if (!ack) {
			drop(st, USTACK_STAT_DROP_TCP_SYN_SENT_BAD_ACK, seg, tcb);
			return;
		}
		us_count(st, USTACK_STAT_TCP_ATTEMPT_FAILS);
		us_tcp_drop(st, tcb, ECONNREFUSED, "rcv RST");
		return;
	}
	if (!(h->flags & USTACK_TCP_SYN)) {
		drop(st, USTACK_STAT_DROP_TCP_SYN_SENT_NO_SYN, seg, tcb);
		return;
	}
	if (ack && st->sys.tcp_timestamps && (h->opt.present & USTACK_OPT_TS) && h->opt.ts_ecr) {
		/* Linux (LINUX_MIB_PAWSACTIVEREJECTED): the echo must name a
		 * time between our first SYN and now, or the SYN-ACK answers
		 * some other SYN; reset it and keep waiting. rtt_start is the
		 * first SYN's time: retransmissions do not move it. */
		uint32_t e = h->opt.ts_ecr - tcb->ts_off;
		uint32_t first = (uint32_t)(tcb->rtt_start / USTACK_MSEC(1));
		if (SEQ_LT(e, first) || SEQ_GT(e, us_tcp_ts_clock(st))) {
			drop(st, USTACK_STAT_DROP_TCP_PAWS, seg, tcb);
			us_tcp_reset_reply(st, seg);
			return;
		}
	}
	tcb->irs = h->seq;
	tcb->rcv_nxt = h->seq + 1;
	take_syn_options(st, tcb, &h->opt);
	/* An echo of our SYN's TSval times the handshake even after a
	 * retransmission (us_tcp_acked). */
	tcb->rcv_tsecr = tcb->ts_ok && ack ? h->opt.ts_ecr : 0;
	/* The window our SYN offered starts at RCV.NXT, known only now. */
	us_tcp_rcv_window(tcb, true);
	tcb->snd_wnd = h->window;
	tcb->max_snd_wnd = tcb->snd_wnd;
	tcb->snd_wl1 = h->seq;
	if (ack) {
		tcb->snd_una = h->ack;
		tcb->snd_wl2 = h->ack;
		us_tcp_acked(st, tcb, h->ack);
		us_tcp_established(st, tcb, "rcv SYN,ACK");
		tcb->ack_now = true;
		us_tcp_output(st, tcb);
		if (tcb->ack_now)
			us_tcp_send_ack(st, tcb);
		return;
	}
	/* RFC 9293 3.5, figure 7: simultaneous open. */
	us_tcp_set_state(st, tcb, USTACK_TCP_SYN_RECEIVED, "rcv SYN");
	us_tcp_send_syn(st, tcb);
}

/* ---- Synchronized states (RFC 9293 3.10.7.4) ---- */

/*
 * net.ipv4.tcp_invalid_ratelimit (500 ms; 0 is no limit): answer an
 * unacceptable segment with at most one ACK per interval when it carries
 * nothing, since two stacks that each find the other's ACKs unacceptable
 * would otherwise trade them forever. Segments with data are always
 * answered: they are not ACK loops.
 */
bool us_tcp_oow_rate_limited(struct ustack *st, ustack_time_t *last, uint32_t seglen)
{
	if (seglen)
		return false;
	if (*last && st->now - *last < USTACK_MSEC(st->sys.tcp_invalid_ratelimit)) {
		us_count(st, USTACK_STAT_TCP_ACK_SKIPPED);
		return true;
	}
	*last = st->now;
	return false;
}

/* Linux's tcp_may_update_window: whether an ACK would move the send
 * window (RFC 9293 3.10.7.4's SND.WL1/SND.WL2 test, plus a larger window). */
static bool may_update_window(const struct us_tcb *tcb, const struct ustack_tcp_segment *h)
{
	uint32_t nwin = (uint32_t)h->window << tcb->snd_wscale;
	return SEQ_GT(h->ack, tcb->snd_una) || SEQ_GT(h->seq, tcb->snd_wl1) ||
	       (h->seq == tcb->snd_wl1 && (nwin > tcb->snd_wnd || !nwin));
}

/*
 * RFC 7323 5.3 R1, PAWS: a segment whose TSval is older than TS.Recent is
 * an old duplicate. As Linux's tcp_validate_incoming: a duplicate ACK at
 * RCV.NXT within the replay window passes (ACKs are reordered freely); a
 * RST is exempt (RFC 7323 5.2 would check it; Linux lets the sequence
 * checks judge it); a SYN gets a challenge ACK; an old pure ACK below
 * RCV.NXT is dropped quietly; anything else is answered with a duplicate
 * ACK, rate-limited as for unacceptable segments. Returns true if the
 * segment was dropped. Sets rcv_tsecr for the RTT (us_tcp_acked).
 */
static bool paws_reject(struct ustack *st, struct us_tcb *tcb, const struct us_tcp *seg, uint32_t seglen)
{
	const struct ustack_tcp_segment *h = &seg->h;
	tcb->rcv_tsecr = 0;
	if (!tcb->ts_ok || !(h->opt.present & USTACK_OPT_TS))
		return false;
	tcb->rcv_tsecr = h->opt.ts_ecr;
	if (us_tcp_paws_ok(st, tcb->ts_recent, tcb->ts_recent_stamp, h->opt.ts_val, US_PAWS_WINDOW))
		return false;
	uint8_t f = h->flags;
	bool pure_ack = (f & USTACK_TCP_ACK) && seglen == 0;
	/* Linux's tcp_tsval_replay: the RTO, in ticks (jiffies scaled by
	 * 1024/HZ, so about milliseconds). */
	uint32_t replay = (uint32_t)((uint64_t)tcb->rto_us * 1024 / 1000000);
	if (pure_ack && h->seq == tcb->rcv_nxt && h->ack == tcb->snd_una && !may_update_window(tcb, h) &&
	    (int32_t)(tcb->ts_recent - h->opt.ts_val) <= (int32_t)replay)
		return false;
	if (f & USTACK_TCP_RST)
		return false;
	if (f & USTACK_TCP_SYN) {
		challenge_ack(st, tcb);
		drop(st, USTACK_STAT_DROP_TCP_SYN_IN_WINDOW, seg, tcb);
		return true;
	}
	if (pure_ack && SEQ_LT(h->seq, tcb->rcv_nxt)) {
		drop(st, USTACK_STAT_DROP_TCP_PAWS_OLD_ACK, seg, tcb);
		return true;
	}
	if (!us_tcp_oow_rate_limited(st, &tcb->last_oow_ack, seglen))
		us_tcp_send_ack(st, tcb);
	drop(st, USTACK_STAT_DROP_TCP_PAWS, seg, tcb);
	return true;
}

/* RFC 9293 3.10.7.4, first: the four cases of segment acceptability. */
static bool acceptable(uint32_t seq, uint32_t seglen, uint32_t rcv_nxt, uint32_t wnd)
{
	if (seglen == 0)
		return wnd == 0 ? seq == rcv_nxt : SEQ_GEQ(seq, rcv_nxt) && SEQ_LT(seq, rcv_nxt + wnd);
	if (wnd == 0)
		return false;
	uint32_t last = seq + seglen - 1;
	return (SEQ_GEQ(seq, rcv_nxt) && SEQ_LT(seq, rcv_nxt + wnd)) ||
	       (SEQ_GEQ(last, rcv_nxt) && SEQ_LT(last, rcv_nxt + wnd));
}

static void enter_time_wait(struct ustack *st, struct us_tcb *tcb, const char *cause)
{
	us_tcp_set_state(st, tcb, USTACK_TCP_TIME_WAIT, cause);
	us_tcb_timer_stop(tcb, US_TM_RTO);
	ustack_time_t deadline = st->now + USTACK_MSEC(2 * (uint64_t)st->cfg.msl_ms);
	if (tcb->fd < 0 && !tcb->in_accq)
		us_tw_enter(st, tcb, deadline); /* frees tcb */
	else
		us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT, deadline);
}

/*
 * RFC 1122 4.2.3.2 and RFC 5681 4.2, as Linux does them: ACK at once while
 * a connection starts (quickack, up to 16 segments), for out-of-order data
 * and for data that fills a gap; otherwise ACK every second full-sized
 * segment, or after 40 ms. `fin`: the peer's FIN follows the data, which
 * ends quick ACKs (fin_arrived).
 */
static void ack_data(struct ustack *st, struct us_tcb *tcb, uint32_t len, bool fin)
{
	/* Linux (tcp_event_data_recv): data after a silence longer than the
	 * RTO means the sender is restarting its window; ACK quickly again. */
	if (tcb->last_data_rcv && st->now - tcb->last_data_rcv > USTACK_USEC(tcb->rto_us))
		tcb->quickacks = US_QUICKACKS;
	tcb->last_data_rcv = st->now;
	tcb->rcv_unacked += len;
	if (tcb->quickacks && !fin) {
		tcb->quickacks--;
		tcb->ack_now = true;
	} else if (tcb->rcv_unacked >= 2u * us_tcp_rcv_seg(tcb)) {
		tcb->ack_now = true;
	} else if (!tcb->ack_delayed) {
		tcb->ack_delayed = true;
		us_tcb_timer_set(st, tcb, US_TM_DELACK, st->now + USTACK_MSEC(US_DELACK_MS));
	}
}

/* The text step: data into the receive ring, in order or waiting for a
 * gap. Returns false if the connection went away. */
static bool take_text(struct ustack *st, struct us_tcb *tcb, const struct us_tcp *seg, uint32_t seq,
		      const uint8_t *data, uint32_t *plen, bool *fin)
{
	if (*plen == 0)
		return true;
	uint32_t before = tcb->rcv_nxt;
	bool gap = us_reass_pending(tcb);
	int moved = us_reass_take(st, tcb, seq, data, *plen);
	if (moved < 0) {
		drop(st, moved == -ENOBUFS  ? USTACK_STAT_DROP_TCP_MEM_LIMIT
			 : moved == -ENOMEM ? USTACK_STAT_DROP_TCP_NO_MEMORY
					    : USTACK_STAT_DROP_TCP_OFO_FULL,
		     seg, tcb);
		tcb->ack_now = true;
		*fin = false;
		*plen = 0;
		return true;
	}
	tcb->bytes_received += (uint32_t)moved;
	if (seq != before) {
		/* RFC 5681 4.2: out of order, ACK at once so the sender sees
		 * the gap; a FIN after it waits with the data. */
		us_count(st, USTACK_STAT_TCP_OFO_QUEUED);
		tcb->ack_now = true;
		/* Linux (tcp_data_queue_ofo): room for what waits out of
		 * order, for a socket the application holds. */
		if (tcb->fd >= 0 && tcb->state != USTACK_TCP_SYN_RECEIVED)
			us_tcp_rcvbuf_grow(st, tcb, tcb->rcvq_space);
		if (*fin && tcb->rq) {
			tcb->rq->fin = true;
			tcb->rq->fin_seq = seq + *plen;
		}
		*fin = false;
		return true;
	}
	us_tcp_rcv_rtt_measure(st, tcb, *plen);
	/* Linux (tcp_event_data_recv): a segment that opens the window is
	 * ACKed at once, announcing the new space (one quick ACK). */
	if (us_tcp_rcv_grow(tcb, *plen) && !tcb->quickacks)
		tcb->quickacks = 1;
	if (gap)
		tcb->ack_now = true; /* RFC 5681 4.2: a gap filled */
	else
		ack_data(st, tcb, (uint32_t)moved,
			 *fin && tcb->state == USTACK_TCP_ESTABLISHED && !SEQ_LT(tcb->rcv_nxt, seq + *plen));
	/* The FIN counts only if all the data before it was kept. */
	if (SEQ_LT(tcb->rcv_nxt, seq + *plen))
		*fin = false;
	return true;
}

/* RFC 9293 3.10.7.4, eighth: the peer's FIN is in sequence. Returns false
 * if the block went away (to TIME_WAIT). */
static bool fin_arrived(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->fin_rcvd) {
		tcb->rcv_nxt++;
		tcb->fin_rcvd = true;
		/* Data waiting out of order past the FIN cannot belong to the
		 * stream, which ends here; Linux's tcp_fin drops it too. Left,
		 * it would now start at RCV.NXT as if it followed the FIN. */
		if (tcb->rq && tcb->rq->n) {
			us_drop(st, USTACK_STAT_DROP_TCP_PAST_FIN, NULL, NULL);
			tcb->rq->n = 0;
			tcb->rq->nrecent = 0;
			tcb->rq->fin = false;
		}
	}
	switch (tcb->state) {
	case USTACK_TCP_SYN_RECEIVED:
	case USTACK_TCP_ESTABLISHED:
		/* Linux (tcp_fin) enters pingpong mode here, which ends quick
		 * ACKs: once data has come, the FIN's ACK waits for the
		 * delayed-ACK timer, for the application's reply to carry it.
		 * Before any data Linux's ACK timeout is still zero: at once. */
		if (!tcb->last_data_rcv) {
			tcb->ack_now = true;
		} else if (!tcb->ack_now && !tcb->ack_delayed) {
			tcb->ack_delayed = true;
			us_tcb_timer_set(st, tcb, US_TM_DELACK, st->now + USTACK_MSEC(US_DELACK_MS));
		}
		tcb->quickacks = 0;
		us_tcp_set_state(st, tcb, USTACK_TCP_CLOSE_WAIT, "rcv FIN");
		return true;
	case USTACK_TCP_FIN_WAIT_1:
		tcb->ack_now = true;
		us_tcp_set_state(st, tcb, USTACK_TCP_CLOSING, "rcv FIN");
		return true;
	case USTACK_TCP_FIN_WAIT_2:
		us_tcp_send_ack(st, tcb);
		us_tcb_timer_stop(tcb, US_TM_FIN_WAIT);
		enter_time_wait(st, tcb, "rcv FIN");
		return false;
	case USTACK_TCP_TIME_WAIT:
		/* RFC 9293 3.10.7.4: acknowledge it and restart 2MSL. */
		us_tcp_send_ack(st, tcb);
		us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT, st->now + USTACK_MSEC(2 * (uint64_t)st->cfg.msl_ms));
		return false;
	default:
		tcb->ack_now = true;
		return true;
	}
}

static void synced_input(struct ustack *st, struct us_tcb *tcb, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	uint32_t seq = h->seq, plen = h->len;
	const uint8_t *data = seg->payload;
	bool syn = h->flags & USTACK_TCP_SYN, fin = h->flags & USTACK_TCP_FIN;
	bool rst = h->flags & USTACK_TCP_RST, ack = h->flags & USTACK_TCP_ACK;

	if (tcb->state == USTACK_TCP_SYN_RECEIVED && syn && !rst) {
		if (!tcb->passive && ack && seq + 1 == tcb->rcv_nxt && h->ack == tcb->snd_nxt) {
			/* Simultaneous open: the peer's SYN,ACK repeats a SYN we
			 * hold; Linux lets it through as the ACK that completes
			 * the handshake. */
			seq++;
			syn = false;
		} else if (tcb->passive && !ack && seq == tcb->irs) {
			/* A retransmitted SYN: answer it again, as Linux's
			 * request sockets do (tcp_check_req), at most once
			 * per tcp_invalid_ratelimit: unlike data, a SYN is
			 * not exempt from the out-of-window limit, so a
			 * flood of copies draws no flood of SYN-ACKs. The
			 * answer restarts the SYN-ACK's own timer at its
			 * current timeout, as Linux's mod_timer_pending does. */
			if (!us_tcp_oow_rate_limited(st, &tcb->last_oow_ack, 0)) {
				us_tcp_send_syn(st, tcb);
				us_tcb_timer_set(st, tcb, US_TM_RTO, st->now + USTACK_USEC(tcb->rto_us));
			}
			return;
		}
	}

	if (tcb->state == USTACK_TCP_TIME_WAIT && !rst) {
		/* A socket still open in TIME_WAIT answers as the compact
		 * record does (tcp_timewait.c): ACK, and a FIN restarts 2MSL. */
		us_tcp_send_ack(st, tcb);
		if (fin)
			us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT,
					 st->now + USTACK_MSEC(2 * (uint64_t)st->cfg.msl_ms));
		drop(st, USTACK_STAT_DROP_TCP_TIMEWAIT, seg, tcb);
		return;
	}

	uint32_t seglen = plen + syn + fin;
	if (paws_reject(st, tcb, seg, seglen))
		return;

	/* First: is the segment in the window? */
	uint32_t wnd = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
	if (!acceptable(seq, seglen, tcb->rcv_nxt, wnd)) {
		if (wnd == 0 && seq == tcb->rcv_nxt && !syn) {
			/* RFC 9293 3.10.7.4: with a zero window, still take the
			 * ACK and RST of a segment at RCV.NXT; only its text and
			 * FIN are refused. */
			plen = 0;
			fin = false;
		} else if (syn && !rst) {
			/* RFC 5961 4.2: a SYN gets a challenge ACK whatever its
			 * sequence number. */
			challenge_ack(st, tcb);
			drop(st, USTACK_STAT_DROP_TCP_SYN_IN_WINDOW, seg, tcb);
			return;
		} else {
			if (plen && !rst && SEQ_LT(seq, tcb->rcv_nxt)) {
				/* RFC 2883 4 and Linux's tcp_send_dupack: data
				 * already received is reported as a duplicate,
				 * and ACKs go out at once for a while, since the
				 * sender is retransmitting. */
				uint32_t hi = SEQ_LT(seq + plen, tcb->rcv_nxt) ? seq + plen : tcb->rcv_nxt;
				us_sack_note_dup(st, tcb, seq, hi);
				tcb->quickacks = US_QUICKACKS;
			}
			if (!rst && !us_tcp_oow_rate_limited(st, &tcb->last_oow_ack, seglen))
				us_tcp_send_ack(st, tcb);
			drop(st, rst ? USTACK_STAT_DROP_TCP_RST_OUT_OF_WINDOW : USTACK_STAT_DROP_TCP_NOT_ACCEPTABLE, seg,
			     tcb);
			return;
		}
	}
	/* Trim what lies before RCV.NXT and past the window. */
	if (syn && SEQ_LT(seq, tcb->rcv_nxt)) {
		syn = false;
		seq++;
	}
	if (SEQ_LT(seq, tcb->rcv_nxt)) {
		uint32_t old = tcb->rcv_nxt - seq;
		/* RFC 2883 4: the part already received is a duplicate. */
		if (plen && !rst)
			us_sack_note_dup(st, tcb, seq, seq + (old < plen ? old : plen));
		if (old > plen) {
			fin = false; /* a FIN already taken */
			old = plen;
		}
		data += old;
		plen -= old;
		seq += old;
	}
	if (SEQ_GEQ(seq, tcb->rcv_nxt)) {
		uint32_t room = tcb->rcv_nxt + wnd - seq;
		if (SEQ_GT(seq, tcb->rcv_nxt + wnd))
			room = 0;
		if (plen > room) {
			plen = room;
			fin = false;
		}
	}

	/* Second: RST. RFC 5961 3.2: only an exact match resets; anything
	 * else in the window earns a challenge ACK. */
	if (rst) {
		if (h->seq != tcb->rcv_nxt) {
			challenge_ack(st, tcb);
			drop(st, USTACK_STAT_DROP_TCP_RST_INEXACT, seg, tcb);
			return;
		}
		switch (tcb->state) {
		case USTACK_TCP_SYN_RECEIVED:
			if (tcb->passive) {
				/* Back to LISTEN: the half-open child just goes. */
				us_tcp_set_state(st, tcb, USTACK_TCP_CLOSED, "rcv RST");
				us_tcp_maybe_free(st, tcb);
			} else {
				us_count(st, USTACK_STAT_TCP_ATTEMPT_FAILS);
				us_tcp_drop(st, tcb, ECONNREFUSED, "rcv RST");
			}
			return;
		case USTACK_TCP_ESTABLISHED:
			us_count(st, USTACK_STAT_TCP_ESTAB_RESETS);
			us_tcp_drop(st, tcb, ECONNRESET, "rcv RST");
			return;
		case USTACK_TCP_CLOSE_WAIT:
			/* Linux's tcp_reset: the peer had closed, so the error
			 * is a broken pipe, not a reset. */
			us_count(st, USTACK_STAT_TCP_ESTAB_RESETS);
			us_tcp_drop(st, tcb, EPIPE, "rcv RST");
			return;
		case USTACK_TCP_FIN_WAIT_1:
		case USTACK_TCP_FIN_WAIT_2:
			us_tcp_drop(st, tcb, ECONNRESET, "rcv RST");
			return;
		default: /* CLOSING, LAST_ACK, TIME_WAIT */
			us_tcp_closed(st, tcb, "rcv RST");
			return;
		}
	}

	/* Fourth: a SYN in a synchronized state (RFC 5961 4.2). */
	if (syn) {
		challenge_ack(st, tcb);
		drop(st, USTACK_STAT_DROP_TCP_SYN_IN_WINDOW, seg, tcb);
		return;
	}

	/* Fifth: the ACK field. */
	if (!ack) {
		drop(st, USTACK_STAT_DROP_TCP_NO_ACK, seg, tcb);
		return;
	}
	if (tcb->ts_ok && (h->opt.present & USTACK_OPT_TS)) {
		/* RFC 7323 4.3 (R3): keep the TSval of the segment that the
		 * next ACK answers, the oldest one unacknowledged, and never
		 * move TS.Recent back. Linux does this at the same step. */
		if (SEQ_LEQ(h->seq, tcb->last_ack_sent) &&
		    us_tcp_paws_ok(st, tcb->ts_recent, tcb->ts_recent_stamp, h->opt.ts_val, 0)) {
			tcb->ts_recent = h->opt.ts_val;
			tcb->ts_recent_stamp = us_tcp_secs(st);
		}
	}
	tcb->last_rcv = st->now;
	tcb->probes = 0; /* the peer is there: probes so far are answered */
	if (tcb->state == USTACK_TCP_SYN_RECEIVED) {
		if (!(SEQ_LT(tcb->snd_una, h->ack) && SEQ_LEQ(h->ack, tcb->snd_max))) {
			drop(st, USTACK_STAT_DROP_TCP_SYNRECV_BAD_ACK, seg, tcb);
			us_tcp_reset_reply(st, seg);
			return;
		}
		struct us_tcb *lst = tcb->parent;
		if (lst && lst->lq->nacc > lst->lq->backlog) {
			/* Linux (tcp_abort_on_overflow = 0): drop the ACK and let
			 * the peer retransmit until there is room. */
			drop(st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW, seg, tcb);
			return;
		}
		tcb->snd_wnd = (uint32_t)h->window << tcb->snd_wscale;
		tcb->max_snd_wnd = tcb->snd_wnd;
		tcb->snd_wl1 = seq;
		tcb->snd_wl2 = h->ack;
		us_tcp_established(st, tcb, "rcv ACK");
		if (lst)
			us_tcp_queue_child(st, tcb);
	}
	if (SEQ_GT(h->ack, tcb->snd_max)) {
		/* RFC 9293 3.10.7.4: an ACK for something not yet sent is
		 * answered with an ACK; RFC 5961 7 asks that such answers be
		 * limited, else a flood of them is reflected one for one
		 * (Linux sends nothing in ESTABLISHED, a challenge ACK later). */
		challenge_ack(st, tcb);
		drop(st, USTACK_STAT_DROP_TCP_ACK_UNSENT, seg, tcb);
		return;
	}
	if (SEQ_LT(h->ack, tcb->snd_una - tcb->max_snd_wnd)) {
		/* RFC 5961 5.2: too old to be from the peer. */
		challenge_ack(st, tcb);
		drop(st, USTACK_STAT_DROP_TCP_ACK_TOO_OLD, seg, tcb);
		return;
	}
	uint32_t peer_wnd = (uint32_t)h->window << tcb->snd_wscale;
	/* RFC 5681 2: a duplicate ACK acknowledges nothing new, carries no
	 * data, SYN or FIN, repeats the window, while data is outstanding. */
	bool dup = h->ack == tcb->snd_una && plen == 0 && !fin && peer_wnd == tcb->snd_wnd &&
		   tcb->snd_una != tcb->snd_max;
	uint32_t acked = 0, flight_before = us_tcp_flight(tcb), old_una = tcb->snd_una;
	if (SEQ_GT(h->ack, tcb->snd_una)) {
		acked = h->ack - tcb->snd_una;
		if (SEQ_GT(h->ack, tcb->sndq_seq)) {
			uint32_t n = h->ack - tcb->sndq_seq;
			if (n > tcb->sndq.len)
				n = tcb->sndq.len;
			if (n) {
				us_ring_consume(&tcb->sndq, n);
				tcb->sndq_seq += n;
				tcb->bytes_acked += n;
				if (tcb->sndq.len == 0)
					us_tcp_rings_drained(st, tcb);
			}
		}
		tcb->snd_una = h->ack;
		if (SEQ_LT(tcb->snd_nxt, tcb->snd_una))
			tcb->snd_nxt = tcb->snd_una; /* the original got through after a timeout */
		us_tcp_acked(st, tcb, h->ack);
	}
	/* RFC 9293 3.10.7.4 takes the window from any segment with
	 * SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK. Linux (tcp_may_update_window)
	 * wants new data acknowledged, a newer SEQ, or, with the same SEQ, a
	 * window that grows or closes: a smaller window repeating the last
	 * numbers may be an old segment reordered, and is ignored. */
	if (acked || SEQ_LT(tcb->snd_wl1, seq) ||
	    (tcb->snd_wl1 == seq && (peer_wnd > tcb->snd_wnd || peer_wnd == 0))) {
		if (peer_wnd > tcb->snd_wnd)
			tcb->backoff = 0; /* the window opened: probing starts over */
		tcb->snd_wnd = peer_wnd;
		if (tcb->snd_wnd > tcb->max_snd_wnd)
			tcb->max_snd_wnd = tcb->snd_wnd;
		tcb->snd_wl1 = seq;
		tcb->snd_wl2 = h->ack;
	}
	uint32_t delivered = us_sack_on_ack(st, tcb, &h->opt, old_una);
	us_tcp_ack_event(st, tcb, acked, dup, flight_before, delivered);
	bool fin_acked = tcb->fin_queued && SEQ_GT(tcb->snd_una, tcb->sndq_seq + tcb->sndq.len);
	switch (tcb->state) {
	case USTACK_TCP_FIN_WAIT_1:
		if (fin_acked) {
			us_tcp_set_state(st, tcb, USTACK_TCP_FIN_WAIT_2, "rcv ACK of FIN");
			if (tcb->fd < 0)
				us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT,
						 st->now + USTACK_MSEC(st->cfg.fin_timeout_ms));
		}
		break;
	case USTACK_TCP_CLOSING:
		if (fin_acked) {
			enter_time_wait(st, tcb, "rcv ACK of FIN");
			return;
		}
		break;
	case USTACK_TCP_LAST_ACK:
		if (fin_acked) {
			us_tcp_closed(st, tcb, "rcv ACK of FIN");
			return;
		}
		break;
	default:
		break;
	}

	/* Sixth, URG: urgent data is delivered inline (Linux with
	 * SO_OOBINLINE); the pointer is traced but not acted on. */

	/* Seventh: segment text. */
	if (plen || fin) {
		switch (tcb->state) {
		case USTACK_TCP_ESTABLISHED:
		case USTACK_TCP_FIN_WAIT_1:
		case USTACK_TCP_FIN_WAIT_2:
			if (plen && tcb->fd < 0 && !tcb->in_accq) {
				/* RFC 9293 3.10.4 and Linux: data for a socket the
				 * user has closed cannot be delivered; say so. */
				drop(st, USTACK_STAT_DROP_TCP_RCV_CLOSED, seg, tcb);
				us_tcp_send_rst(st, tcb);
				us_tcp_drop(st, tcb, ECONNRESET, "data after close");
				return;
			}
			if (!take_text(st, tcb, seg, seq, data, &plen, &fin))
				return;
			break;
		default:
			/* CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer's FIN
			 * came before; nothing more can be in sequence. */
			plen = 0;
			break;
		}
	}

	/* Eighth: FIN, once everything before it is in. */
	if (fin && seq + plen == tcb->rcv_nxt) {
		if (!fin_arrived(st, tcb))
			return;
	} else if (tcb->rq && tcb->rq->fin && tcb->rq->fin_seq == tcb->rcv_nxt) {
		/* A FIN that came early, now that the data before it is in. */
		tcb->rq->fin = false;
		if (!fin_arrived(st, tcb))
			return;
	}

	us_tcp_output(st, tcb);
	us_tcp_check_space(st, tcb);
	if (tcb->ack_now)
		us_tcp_send_ack(st, tcb);
}

void us_tcp_input(struct ustack *st, uint32_t saddr, uint32_t daddr, const uint8_t *buf, size_t len)
{
	struct us_tcp seg;
	us_count(st, USTACK_STAT_TCP_IN);
	int why = us_tcp_parse(buf, len, saddr, daddr, !(st->cfg.csum_offload & USTACK_CSUM_RX) && !st->rx_csum_ok,
			       &seg);
	if (why) {
		us_drop(st, (enum ustack_stat)why, NULL, NULL);
		return;
	}
	const struct ustack_tcp_segment *h = &seg.h;
	if (h->sport == 0 || h->dport == 0) {
		drop(st, USTACK_STAT_DROP_TCP_BAD_PORT, &seg, NULL);
		return;
	}
	struct us_tuple t = { .laddr = daddr, .raddr = saddr, .lport = h->dport, .rport = h->sport };
	struct us_node *n = us_tcp_lookup(st, &t);
	if (n && n->kind == US_NODE_TW) {
		if (!us_tw_input(st, (struct us_tw *)n, &seg))
			return;
		n = NULL; /* a new SYN took the four-tuple over: on to the listener */
	}
	struct us_tcb *tcb = n ? (struct us_tcb *)n : us_tcp_lookup_listener(st, daddr, h->dport);
	trace_seg_in(st, &seg, tcb);
	if (!tcb) {
		drop(st, USTACK_STAT_DROP_TCP_NO_SOCKET, &seg, NULL);
		us_tcp_reset_reply(st, &seg);
		return;
	}
	switch (tcb->state) {
	case USTACK_TCP_LISTEN:
		listen_input(st, tcb, &seg);
		break;
	case USTACK_TCP_SYN_SENT:
		syn_sent_input(st, tcb, &seg);
		break;
	case USTACK_TCP_CLOSED:
		/* Hashed but closed cannot happen: closing unhashes. */
		drop(st, USTACK_STAT_DROP_TCP_NO_SOCKET, &seg, tcb);
		break;
	default:
		synced_input(st, tcb, &seg);
		break;
	}
}
