/*
 * Sequence diagrams: from a trace of many events to the model of one
 * connection (see diagram.h). Rendering is in diagram_render.c, the capture
 * reader in diagram_pcap.c, the JSON-lines adapter in diagram_jsonl.c.
 */
#include "diagram.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t size, const char *fmt, ...)
{
	if (!err || !size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

/* ---- the trace ---- */

void diagram_trace_init(struct diagram_trace *tr)
{
	memset(tr, 0, sizeof(*tr));
}

void diagram_trace_free(struct diagram_trace *tr)
{
	free(tr->ev);
	memset(tr, 0, sizeof(*tr));
}

int diagram_trace_add(struct diagram_trace *tr, const struct diagram_event *ev)
{
	if (tr->n == tr->cap) {
		size_t ncap = tr->cap ? tr->cap * 2 : 256;
		struct diagram_event *n = realloc(tr->ev, ncap * sizeof(*n));
		if (!n) {
			tr->nomem = true;
			return -ENOMEM;
		}
		tr->ev = n;
		tr->cap = ncap;
	}
	tr->ev[tr->n++] = *ev;
	return 0;
}

int diagram_trace_add_ustack(struct diagram_trace *tr, const char *host, const struct ustack_event *ev)
{
	struct diagram_event e = { .t = ev->time };
	copy_str(e.host, sizeof(e.host), host);
	e.has_iss = ev->has_iss;
	e.has_irs = ev->has_irs;
	e.iss = ev->iss;
	e.irs = ev->irs;
	e.laddr = ev->laddr;
	e.raddr = ev->raddr;
	e.lport = ev->lport;
	e.rport = ev->rport;
	if (ev->seg) {
		e.has_seg = true;
		e.seg = *ev->seg;
	}
	switch (ev->type) {
	case USTACK_EV_SEG_OUT:
		e.kind = DIAGRAM_EV_SEG_OUT;
		break;
	case USTACK_EV_SEG_IN:
		e.kind = DIAGRAM_EV_SEG_IN;
		break;
	case USTACK_EV_STATE:
		/* A listener is no connection: its LISTEN shows as the initial
		 * state of the connections it spawns. */
		if (ev->rport == 0)
			return 0;
		e.kind = DIAGRAM_EV_STATE;
		e.from = ev->old_state;
		e.to = ev->new_state;
		copy_str(e.cause, sizeof(e.cause), ev->cause);
		break;
	case USTACK_EV_DROP:
		if (!ev->seg)
			return 0;
		e.kind = DIAGRAM_EV_DROP;
		copy_str(e.reason, sizeof(e.reason), ustack_stat_name(ev->drop));
		break;
	default:
		return 0;
	}
	return diagram_trace_add(tr, &e);
}

/* ---- connections ---- */

static bool ep_eq(struct diagram_endpoint x, struct diagram_endpoint y)
{
	return x.addr == y.addr && x.port == y.port;
}

/* The two endpoints an event is about; false for an event of no connection. */
static bool event_eps(const struct diagram_event *e, struct diagram_endpoint *x, struct diagram_endpoint *y)
{
	if (e->kind == DIAGRAM_EV_STATE) {
		if (e->rport == 0)
			return false;
		*x = (struct diagram_endpoint){ e->laddr, e->lport };
		*y = (struct diagram_endpoint){ e->raddr, e->rport };
		return true;
	}
	if (!e->has_seg)
		return false;
	*x = (struct diagram_endpoint){ e->seg.saddr, e->seg.sport };
	*y = (struct diagram_endpoint){ e->seg.daddr, e->seg.dport };
	return true;
}

static bool conn_has(const struct diagram_conn *c, struct diagram_endpoint x, struct diagram_endpoint y)
{
	return (ep_eq(c->a, x) && ep_eq(c->b, y)) || (ep_eq(c->a, y) && ep_eq(c->b, x));
}

size_t diagram_trace_conns(const struct diagram_trace *tr, struct diagram_conn *out, size_t max)
{
	/* Few connections are expected; a linear search keeps the order of
	 * first appearance without a hash. */
	struct diagram_conn *all = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < tr->n; i++) {
		struct diagram_endpoint x, y;
		if (!event_eps(&tr->ev[i], &x, &y))
			continue;
		size_t k = 0;
		while (k < n && !conn_has(&all[k], x, y))
			k++;
		if (k == n) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct diagram_conn *p = realloc(all, ncap * sizeof(*p));
				if (!p)
					break;
				all = p;
				cap = ncap;
			}
			all[n++] = (struct diagram_conn){ x, y, 0 };
		}
		all[k].nevents++;
	}
	for (size_t k = 0; k < n && k < max; k++)
		out[k] = all[k];
	free(all);
	return n;
}

/* ---- building one connection ---- */

static int side_of(const struct diagram *d, struct diagram_endpoint e)
{
	if (ep_eq(d->side[0].ep, e))
		return 0;
	if (ep_eq(d->side[1].ep, e))
		return 1;
	return -1;
}

/* The side that reported the event, -1 for the wire. */
static int reporter(const struct diagram *d, const struct diagram_event *e)
{
	switch (e->kind) {
	case DIAGRAM_EV_SEG_OUT:
		return side_of(d, (struct diagram_endpoint){ e->seg.saddr, e->seg.sport });
	case DIAGRAM_EV_SEG_IN:
	case DIAGRAM_EV_DROP:
		return side_of(d, (struct diagram_endpoint){ e->seg.daddr, e->seg.dport });
	case DIAGRAM_EV_STATE:
		return side_of(d, (struct diagram_endpoint){ e->laddr, e->lport });
	default:
		return -1;
	}
}

static bool is_pure_syn(const struct ustack_tcp_segment *h)
{
	return (h->flags & (USTACK_TCP_SYN | USTACK_TCP_ACK | USTACK_TCP_RST)) == USTACK_TCP_SYN;
}

static bool same_header(const struct ustack_tcp_segment *x, const struct ustack_tcp_segment *y)
{
	return x->seq == y->seq && x->ack == y->ack && x->flags == y->flags && x->len == y->len &&
	       x->window == y->window;
}

/* Room for one more element in a growing array, doubling from `first`. */
static int reserve(void **arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : first;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int push_seg(struct diagram *d, size_t *cap, const struct diagram_seg *s)
{
	if (reserve((void **)&d->seg, cap, d->nseg, sizeof(*d->seg), 64))
		return -ENOMEM;
	d->seg[d->nseg++] = *s;
	return 0;
}

static int push_state(struct diagram *d, size_t *cap, const struct diagram_state *s)
{
	if (reserve((void **)&d->state, cap, d->nstate, sizeof(*d->state), 32))
		return -ENOMEM;
	d->state[d->nstate++] = *s;
	return 0;
}

/* A received segment belongs to the latest sending of the same header not
 * yet received and sent no later: a retransmission identical to a lost
 * original then takes the arrival, as it should. */
static long match_arrival(const struct diagram *d, int from, ustack_time_t t,
			  const struct ustack_tcp_segment *h, bool received)
{
	for (size_t i = d->nseg; i-- > 0;) {
		const struct diagram_seg *s = &d->seg[i];
		if (s->from != from || !(s->know & DIAGRAM_KNOW_SENT) || s->t_sent > t ||
		    (s->marks & DIAGRAM_DUP))
			continue;
		if (!!(s->know & DIAGRAM_KNOW_RECV) != received || !same_header(&s->h, h))
			continue;
		return (long)i;
	}
	return -1;
}

static int add_arrival(struct diagram *d, size_t *cap, int from, const struct diagram_event *e, size_t order)
{
	long i = match_arrival(d, from, e->t, &e->seg, false);
	if (i >= 0) {
		d->seg[i].know |= DIAGRAM_KNOW_RECV;
		d->seg[i].t_recv = e->t;
		d->seg[i].order_recv = order;
		return 0;
	}
	struct diagram_seg s = { .from = from,
				 .know = DIAGRAM_KNOW_RECV,
				 .t_sent = e->t,
				 .t_recv = e->t,
				 .order = order,
				 .order_recv = order,
				 .h = e->seg };
	i = match_arrival(d, from, e->t, &e->seg, true);
	if (i >= 0) {
		/* The network delivered one sending twice. */
		s = d->seg[i];
		s.t_recv = e->t;
		s.order_recv = order;
		s.marks |= DIAGRAM_DUP;
	}
	return push_seg(d, cap, &s);
}

/* A drop follows the arrival it throws away. */
static void mark_drop(struct diagram *d, int from, const struct diagram_event *e)
{
	for (size_t i = d->nseg; i-- > 0;) {
		struct diagram_seg *s = &d->seg[i];
		if (s->from == from && (s->know & DIAGRAM_KNOW_RECV) && s->t_recv == e->t &&
		    same_header(&s->h, &e->seg)) {
			s->marks |= DIAGRAM_DROPPED;
			copy_str(s->reason, sizeof(s->reason), e->reason);
			return;
		}
	}
}

static uint32_t seq_space(const struct ustack_tcp_segment *h)
{
	return h->len + !!(h->flags & USTACK_TCP_SYN) + !!(h->flags & USTACK_TCP_FIN);
}

static void mark_retransmissions(struct diagram *d)
{
	bool have[2] = { false, false };
	uint32_t high[2] = { 0, 0 };
	for (size_t i = 0; i < d->nseg; i++) {
		struct diagram_seg *s = &d->seg[i];
		uint32_t space = seq_space(&s->h);
		if ((s->marks & DIAGRAM_DUP) || !space || (s->h.flags & USTACK_TCP_RST))
			continue;
		int f = s->from;
		uint32_t end = s->h.seq + space;
		if (have[f] && SEQ_LT(s->h.seq, high[f]))
			s->marks |= DIAGRAM_RETRANS;
		if (!have[f] || SEQ_LT(high[f], end))
			high[f] = end;
		have[f] = true;
	}
}

/*
 * Lost: sent, never received, by a side whose arrivals are reported, and
 * the receiver was still reporting events well after it should have
 * arrived. The margin, the longest flight seen, keeps a segment still in
 * flight when the trace ends from being called lost.
 */
static void mark_lost(struct diagram *d, const ustack_time_t last[2])
{
	ustack_time_t flight = 0;
	for (size_t i = 0; i < d->nseg; i++) {
		const struct diagram_seg *s = &d->seg[i];
		if ((s->know & (DIAGRAM_KNOW_SENT | DIAGRAM_KNOW_RECV)) ==
			(DIAGRAM_KNOW_SENT | DIAGRAM_KNOW_RECV) &&
		    s->t_recv - s->t_sent > flight)
			flight = s->t_recv - s->t_sent;
	}
	for (size_t i = 0; i < d->nseg; i++) {
		struct diagram_seg *s = &d->seg[i];
		int to = 1 - s->from;
		if (s->know == DIAGRAM_KNOW_SENT && d->side[to].traced && last[to] > s->t_sent + flight)
			s->marks |= DIAGRAM_LOST;
	}
}

/* ---- inferring states from segments (RFC 9293 3.10) ---- */

struct inf_ev {
	ustack_time_t t;
	int phase;
	size_t order;
	int recv; /* 0 sending, 1 arrival */
	size_t seg;
};

static int inf_cmp(const void *pa, const void *pb)
{
	const struct inf_ev *a = pa, *b = pb;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->phase != b->phase)
		return a->phase - b->phase;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	return a->recv - b->recv;
}

struct inf_side {
	enum ustack_tcp_state st;
	bool syn_sent, fin_sent, have_nxt;
	uint32_t syn_seq, fin_seq, nxt;
};

struct inferrer {
	struct diagram *d;
	size_t *cap;
	bool want[2];
	struct inf_side s[2];
	int err;
};

static void inf_to(struct inferrer *in, int side, enum ustack_tcp_state to, const struct inf_ev *at,
		   const char *cause)
{
	struct inf_side *s = &in->s[side];
	if (s->st == to)
		return;
	if (in->want[side]) {
		struct diagram_state r = { .side = side,
					   .t = at->t,
					   .order = at->order,
					   .from = s->st,
					   .to = to,
					   .inferred = true };
		/* A sender changes state as it sends, a receiver once the
		 * segment has arrived: taking the phase and order of that end
		 * places the change beside it among events at the same time. */
		r.phase = at->phase;
		copy_str(r.cause, sizeof(r.cause), cause);
		if (push_state(in->d, in->cap, &r))
			in->err = -ENOMEM;
	}
	s->st = to;
}

static bool synchronized_or_opening(enum ustack_tcp_state st)
{
	return st != USTACK_TCP_CLOSED && st != USTACK_TCP_LISTEN;
}

static void inf_send(struct inferrer *in, int x, const struct ustack_tcp_segment *h, const struct inf_ev *at)
{
	struct inf_side *s = &in->s[x];
	if (h->flags & USTACK_TCP_RST) {
		if (synchronized_or_opening(s->st))
			inf_to(in, x, USTACK_TCP_CLOSED, at, "snd RST");
		return;
	}
	if (h->flags & USTACK_TCP_SYN) {
		s->syn_sent = true;
		s->syn_seq = h->seq;
		if (!(h->flags & USTACK_TCP_ACK) && s->st == USTACK_TCP_CLOSED)
			inf_to(in, x, USTACK_TCP_SYN_SENT, at, "snd SYN");
		else if ((h->flags & USTACK_TCP_ACK) && !synchronized_or_opening(s->st))
			inf_to(in, x, USTACK_TCP_SYN_RECEIVED, at, "snd SYN,ACK");
	}
	if (h->flags & USTACK_TCP_FIN) {
		s->fin_sent = true;
		s->fin_seq = h->seq + h->len + !!(h->flags & USTACK_TCP_SYN);
		if (s->st == USTACK_TCP_ESTABLISHED || s->st == USTACK_TCP_SYN_RECEIVED)
			inf_to(in, x, USTACK_TCP_FIN_WAIT_1, at, "snd FIN");
		else if (s->st == USTACK_TCP_CLOSE_WAIT)
			inf_to(in, x, USTACK_TCP_LAST_ACK, at, "snd FIN");
	}
}

static void inf_recv(struct inferrer *in, int x, const struct ustack_tcp_segment *h, const struct inf_ev *at)
{
	int y = 1 - x;
	struct inf_side *sx = &in->s[x], *sy = &in->s[y];
	/* Whether the FIN, if any, is next in sequence: a FIN past a hole
	 * waits until the hole is filled. */
	bool in_order = !sx->have_nxt || SEQ_LEQ(h->seq, sx->nxt);
	uint32_t end = h->seq + seq_space(h);
	if (!sx->have_nxt || (in_order && SEQ_LT(sx->nxt, end))) {
		sx->nxt = end;
		sx->have_nxt = true;
	}
	if (h->flags & USTACK_TCP_RST) {
		if (synchronized_or_opening(sy->st))
			inf_to(in, y, USTACK_TCP_CLOSED, at, "rcv RST");
		return;
	}
	bool ack = h->flags & USTACK_TCP_ACK;
	bool acks_syn = ack && sy->syn_sent && SEQ_GEQ(h->ack, sy->syn_seq + 1);
	bool acks_fin = ack && sy->fin_sent && SEQ_GEQ(h->ack, sy->fin_seq + 1);
	if (h->flags & USTACK_TCP_SYN) {
		if (!ack) {
			if (sy->st == USTACK_TCP_LISTEN || sy->st == USTACK_TCP_SYN_SENT)
				inf_to(in, y, USTACK_TCP_SYN_RECEIVED, at, "rcv SYN");
		} else if ((sy->st == USTACK_TCP_SYN_SENT || sy->st == USTACK_TCP_SYN_RECEIVED) &&
			   acks_syn) {
			inf_to(in, y, USTACK_TCP_ESTABLISHED, at, "rcv SYN,ACK");
		}
		return;
	}
	if (acks_syn && sy->st == USTACK_TCP_SYN_RECEIVED)
		inf_to(in, y, USTACK_TCP_ESTABLISHED, at, "rcv ACK");
	if (acks_fin) {
		if (sy->st == USTACK_TCP_FIN_WAIT_1)
			inf_to(in, y, USTACK_TCP_FIN_WAIT_2, at, "rcv ACK of FIN");
		else if (sy->st == USTACK_TCP_CLOSING)
			inf_to(in, y, USTACK_TCP_TIME_WAIT, at, "rcv ACK of FIN");
		else if (sy->st == USTACK_TCP_LAST_ACK)
			inf_to(in, y, USTACK_TCP_CLOSED, at, "rcv ACK of FIN");
	}
	if ((h->flags & USTACK_TCP_FIN) && in_order) {
		switch (sy->st) {
		case USTACK_TCP_SYN_RECEIVED:
		case USTACK_TCP_ESTABLISHED:
			inf_to(in, y, USTACK_TCP_CLOSE_WAIT, at, "rcv FIN");
			break;
		case USTACK_TCP_FIN_WAIT_1:
			inf_to(in, y, USTACK_TCP_CLOSING, at, "rcv FIN");
			break;
		case USTACK_TCP_FIN_WAIT_2:
			inf_to(in, y, USTACK_TCP_TIME_WAIT, at, "rcv FIN");
			break;
		default:
			break;
		}
	}
}

/* The times and phases at which a segment leaves and arrives, as the
 * layout places them: a time not reported is taken from the other end. */
static void seg_ends(const struct diagram_seg *s, struct inf_ev *snd, struct inf_ev *rcv)
{
	*snd = (struct inf_ev){ s->t_sent, (s->know & DIAGRAM_KNOW_SENT) ? 1 : 0, s->order, 0, 0 };
	*rcv = (struct inf_ev){ s->t_recv, (s->know & DIAGRAM_KNOW_RECV) ? 1 : 2, s->order_recv, 1, 0 };
}

static int infer(struct diagram *d, size_t *state_cap, const bool want[2])
{
	struct inf_ev *ev = calloc(2 * d->nseg + 1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < d->nseg; i++) {
		struct inf_ev snd, rcv;
		seg_ends(&d->seg[i], &snd, &rcv);
		snd.seg = rcv.seg = i;
		if (!(d->seg[i].marks & DIAGRAM_DUP))
			ev[n++] = snd;
		if (!(d->seg[i].marks & DIAGRAM_LOST))
			ev[n++] = rcv;
	}
	qsort(ev, n, sizeof(*ev), inf_cmp);

	struct inferrer in = { .d = d, .cap = state_cap, .want = { want[0], want[1] } };
	/* Where each side starts. A pure SYN first means an opening: its
	 * sender was CLOSED; the other side LISTENed if it answered with a
	 * SYN,ACK, and was CLOSED if it answered with a RST, said nothing, or
	 * opened too (simultaneous open). Anything else first means the
	 * capture began on a connection already open. */
	enum ustack_tcp_state init[2] = { USTACK_TCP_ESTABLISHED, USTACK_TCP_ESTABLISHED };
	if (n) {
		const struct diagram_seg *first = &d->seg[ev[0].seg];
		int x = first->from, y = 1 - x;
		if (is_pure_syn(&first->h)) {
			init[x] = USTACK_TCP_CLOSED;
			init[y] = USTACK_TCP_CLOSED;
			for (size_t k = 0; k < n; k++) {
				const struct diagram_seg *s = &d->seg[ev[k].seg];
				if (ev[k].recv || s->from != y)
					continue;
				if ((s->h.flags & (USTACK_TCP_SYN | USTACK_TCP_ACK | USTACK_TCP_RST)) ==
				    (USTACK_TCP_SYN | USTACK_TCP_ACK))
					init[y] = USTACK_TCP_LISTEN;
				break;
			}
		} else if ((first->h.flags & (USTACK_TCP_SYN | USTACK_TCP_ACK)) ==
			   (USTACK_TCP_SYN | USTACK_TCP_ACK)) {
			init[x] = USTACK_TCP_LISTEN;
			init[y] = USTACK_TCP_SYN_SENT;
		}
	}
	for (int s = 0; s < 2; s++) {
		in.s[s].st = init[s];
		if (want[s]) {
			d->side[s].initial = init[s];
			d->side[s].initial_inferred = true;
		}
	}
	for (size_t k = 0; k < n && !in.err; k++) {
		const struct diagram_seg *s = &d->seg[ev[k].seg];
		if (ev[k].recv)
			inf_recv(&in, s->from, &s->h, &ev[k]);
		else
			inf_send(&in, s->from, &s->h, &ev[k]);
	}
	free(ev);
	return in.err;
}

/* ---- diagram_build ---- */

static int pick(const struct diagram_trace *tr, const struct diagram_select *sel, struct diagram_conn *out,
		char *err, size_t errsize)
{
	size_t n = diagram_trace_conns(tr, NULL, 0);
	if (n == 0) {
		set_err(err, errsize, "no TCP connection in the trace");
		return -ENOENT;
	}
	struct diagram_conn *all = calloc(n, sizeof(*all));
	if (!all) {
		set_err(err, errsize, "out of memory");
		return -ENOMEM;
	}
	diagram_trace_conns(tr, all, n);
	int r = -ENOENT;
	if (sel && sel->port) {
		for (size_t k = 0; k < n && r; k++)
			if (all[k].a.port == sel->port || all[k].b.port == sel->port) {
				*out = all[k];
				r = 0;
			}
		if (r)
			set_err(err, errsize, "no connection on port %u", sel->port);
	} else {
		size_t k = sel ? sel->index : 0;
		if (k < n) {
			*out = all[k];
			r = 0;
		} else {
			set_err(err, errsize, "no connection number %zu (from 1): the trace has %zu", k + 1, n);
		}
	}
	free(all);
	return r;
}

static bool in_conn(const struct diagram *d, const struct diagram_event *e)
{
	struct diagram_endpoint x, y;
	if (!event_eps(e, &x, &y))
		return false;
	int sx = side_of(d, x), sy = side_of(d, y);
	return sx >= 0 && sy >= 0 && sx != sy;
}

/* The side drawn on the left: the one that opened (sent the first SYN). */
static void choose_sides(struct diagram *d, const struct diagram_trace *tr, struct diagram_conn c)
{
	d->side[0].ep = c.a;
	d->side[1].ep = c.b;
	bool found = false;
	for (size_t i = 0; i < tr->n && !found; i++) {
		const struct diagram_event *e = &tr->ev[i];
		if (!in_conn(d, e))
			continue;
		if (e->kind != DIAGRAM_EV_STATE && is_pure_syn(&e->seg)) {
			d->side[0].ep = (struct diagram_endpoint){ e->seg.saddr, e->seg.sport };
			found = true;
		} else if (e->kind == DIAGRAM_EV_STATE && e->to == USTACK_TCP_SYN_SENT) {
			d->side[0].ep = (struct diagram_endpoint){ e->laddr, e->lport };
			found = true;
		}
	}
	if (!found) {
		/* No opening seen: whoever spoke first. */
		for (size_t i = 0; i < tr->n; i++) {
			const struct diagram_event *e = &tr->ev[i];
			if (in_conn(d, e) && e->kind != DIAGRAM_EV_STATE) {
				d->side[0].ep = (struct diagram_endpoint){ e->seg.saddr, e->seg.sport };
				break;
			}
		}
	}
	d->side[1].ep = ep_eq(d->side[0].ep, c.a) ? c.b : c.a;
}

static void choose_isns(struct diagram *d, const struct diagram_trace *tr)
{
	/* Best: what a stack reported as its ISN (or its peer's); then the
	 * SYN's sequence number; then, as Wireshark does, the first sequence
	 * number seen. */
	for (size_t i = 0; i < tr->n; i++) {
		const struct diagram_event *e = &tr->ev[i];
		int r = reporter(d, e);
		if (r < 0 || !in_conn(d, e))
			continue;
		if (e->has_iss && !d->side[r].has_isn) {
			d->side[r].has_isn = true;
			d->side[r].isn = e->iss;
		}
		if (e->has_irs && !d->side[1 - r].has_isn) {
			d->side[1 - r].has_isn = true;
			d->side[1 - r].isn = e->irs;
		}
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < d->nseg; i++) {
			const struct diagram_seg *s = &d->seg[i];
			struct diagram_side *sd = &d->side[s->from];
			if (!sd->has_isn && (pass == 1 || (s->h.flags & USTACK_TCP_SYN))) {
				sd->has_isn = true;
				sd->isn = s->h.seq;
			}
		}
}

void diagram_free(struct diagram *d)
{
	free(d->seg);
	free(d->state);
	memset(d, 0, sizeof(*d));
}

int diagram_build(struct diagram *d, const struct diagram_trace *tr, const struct diagram_select *sel,
		  char *err, size_t errsize)
{
	memset(d, 0, sizeof(*d));
	struct diagram_conn c;
	int r = pick(tr, sel, &c, err, errsize);
	if (r)
		return r;
	choose_sides(d, tr, c);

	size_t seg_cap = 0, state_cap = 0;
	bool has_states[2] = { false, false }, any_wire = false, any_reported = false;
	ustack_time_t last[2] = { 0, 0 };
	bool have_t0 = false;
	for (size_t i = 0; i < tr->n && !r; i++) {
		const struct diagram_event *e = &tr->ev[i];
		if (!in_conn(d, e))
			continue;
		if (!have_t0 || e->t < d->t0)
			d->t0 = e->t;
		have_t0 = true;
		int rep = reporter(d, e);
		if (rep >= 0) {
			any_reported = true;
			d->side[rep].traced = true;
			if (e->t > last[rep])
				last[rep] = e->t;
			if (!d->side[rep].name[0] && e->host[0])
				copy_str(d->side[rep].name, sizeof(d->side[rep].name), e->host);
		}
		switch (e->kind) {
		case DIAGRAM_EV_SEG_OUT: {
			struct diagram_seg s = { .from = rep,
						 .know = DIAGRAM_KNOW_SENT,
						 .t_sent = e->t,
						 .t_recv = e->t,
						 .order = i,
						 .order_recv = i,
						 .h = e->seg };
			r = push_seg(d, &seg_cap, &s);
			break;
		}
		case DIAGRAM_EV_SEG_IN:
			r = add_arrival(d, &seg_cap, 1 - rep, e, i);
			break;
		case DIAGRAM_EV_SEG_WIRE: {
			any_wire = true;
			int from = side_of(d, (struct diagram_endpoint){ e->seg.saddr, e->seg.sport });
			struct diagram_seg s = { .from = from,
						 .t_sent = e->t,
						 .t_recv = e->t,
						 .order = i,
						 .order_recv = i,
						 .h = e->seg };
			r = push_seg(d, &seg_cap, &s);
			break;
		}
		case DIAGRAM_EV_STATE: {
			struct diagram_state s = {
				.side = rep, .t = e->t, .order = i, .phase = 1, .from = e->from, .to = e->to
			};
			copy_str(s.cause, sizeof(s.cause), e->cause);
			if (!has_states[rep]) {
				d->side[rep].initial = e->from;
				has_states[rep] = true;
			}
			r = push_state(d, &state_cap, &s);
			break;
		}
		case DIAGRAM_EV_DROP:
			mark_drop(d, 1 - rep, e);
			break;
		}
	}
	if (r) {
		set_err(err, errsize, "out of memory");
		diagram_free(d);
		return r;
	}
	d->capture = any_wire && !any_reported;
	mark_retransmissions(d);
	mark_lost(d, last);
	choose_isns(d, tr);

	/* A side that reported no states of its own gets them inferred. */
	bool want[2] = { !has_states[0], !has_states[1] };
	if ((want[0] || want[1]) && infer(d, &state_cap, want)) {
		set_err(err, errsize, "out of memory");
		diagram_free(d);
		return -ENOMEM;
	}
	bool opened = false;
	for (size_t i = 0; i < d->nseg; i++)
		if (is_pure_syn(&d->seg[i].h)) {
			opened = true;
			break;
		}
	for (int s = 0; s < 2; s++)
		if (!d->side[s].name[0])
			copy_str(d->side[s].name, sizeof(d->side[s].name),
				 opened ? (s ? "server" : "client") : (s ? "B" : "A"));
	return 0;
}
