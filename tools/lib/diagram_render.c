/*
 * Drawing a struct diagram: one layout shared by the text and the SVG
 * renderers, so both show the same rows in the same order.
 *
 * Every sending, arrival and state change is an anchor on its side's
 * lifeline. Anchors at the same time (and phase) form an instant; within an
 * instant each side stacks its anchors in rows, a row holding at most one
 * arrival, one sending and one state change, so a segment that arrives and
 * the one it provokes meet at one point as in the RFC's figures. Instants
 * are spaced in proportion to the time between them, scaled so that a
 * typical flight takes ARROW_DY pixels; an idle gap much longer than that
 * is cut out and marked, so a 60 s TIME_WAIT does not make the picture a
 * minute tall.
 */
#include "diagram.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Pixels. */
#define ROW 18.0      /* between rows of one instant */
#define ARROW_DY 40.0 /* a typical flight */
#define CUT_DY 56.0   /* the height of a cut-out gap */
#define MAX_DY 240.0  /* longer gaps are cut */
#define CHAR_W 6.7    /* of the 11 px monospace font, to size columns */
#define LABEL_SHARE 0.7
#define LABEL_H 12.0 /* a label's height, for collisions */
#define RECENT 64    /* labels checked for a collision */

enum akind { A_RECV, A_STATE, A_SEND }; /* at one moment: arrive, change state, answer */

struct anchor {
	ustack_time_t t;
	int phase;
	size_t order;
	enum akind kind;
	size_t idx; /* segment or state */
	int side;
	size_t inst;
	int row;
};

struct instant {
	ustack_time_t t;
	size_t first, count; /* anchors */
	int rows;
	double y;
	ustack_time_t cut; /* the idle time cut out just before it, 0 if none */
	double cut_y;      /* where that cut begins */
	double reach;      /* the lowest y its drawing reaches: its last row, or a lost arrow's end */
};

struct layout {
	struct anchor *a;
	size_t n;
	struct instant *in;
	size_t ninst;
	size_t *send_at, *recv_at, *state_at; /* anchor of each segment's ends and each state change */
	double bottom;                        /* y below the last row */
};

#define NONE ((size_t)-1)

static int anchor_cmp(const void *pa, const void *pb)
{
	const struct anchor *a = pa, *b = pb;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	if (a->phase != b->phase)
		return a->phase - b->phase;
	if (a->order != b->order)
		return a->order < b->order ? -1 : 1;
	if (a->kind != b->kind)
		return (int)a->kind - (int)b->kind;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int time_cmp(const void *pa, const void *pb)
{
	ustack_time_t a = *(const ustack_time_t *)pa, b = *(const ustack_time_t *)pb;
	return a < b ? -1 : a > b;
}

/* The typical time a segment is in flight, or, for a capture, between
 * consecutive events: the median, which one long stall cannot skew. */
static ustack_time_t typical_gap(const struct diagram *d, const struct layout *l)
{
	size_t cap = d->nseg + l->ninst + 1, n = 0;
	ustack_time_t *v = malloc(cap * sizeof(*v));
	if (!v)
		return 0;
	for (size_t i = 0; i < d->nseg; i++) {
		const struct diagram_seg *s = &d->seg[i];
		if ((s->know & DIAGRAM_KNOW_SENT) && (s->know & DIAGRAM_KNOW_RECV) && s->t_recv > s->t_sent)
			v[n++] = s->t_recv - s->t_sent;
	}
	if (n == 0)
		for (size_t k = 1; k < l->ninst; k++)
			if (l->in[k].t > l->in[k - 1].t)
				v[n++] = l->in[k].t - l->in[k - 1].t;
	ustack_time_t m = 0;
	if (n) {
		qsort(v, n, sizeof(*v), time_cmp);
		m = v[n / 2];
	}
	free(v);
	return m;
}

static bool enters_time_wait(const struct diagram *d, const struct anchor *a)
{
	return a->kind == A_STATE && d->state[a->idx].to == USTACK_TCP_TIME_WAIT;
}

/* Whether the next anchor of `side` in the instant after position k is a
 * sending. */
static bool next_is_send(const struct layout *l, const struct instant *in, size_t k, int side)
{
	for (size_t j = k + 1; j < in->first + in->count; j++)
		if (l->a[j].side == side)
			return l->a[j].kind == A_SEND;
	return false;
}

static void place_rows(struct layout *l, struct instant *in)
{
	int row[2] = { -1, -1 };
	bool has[2][3] = { { false } };
	for (size_t k = in->first; k < in->first + in->count; k++) {
		struct anchor *a = &l->a[k];
		int s = a->side;
		bool open = row[s] < 0 || has[s][a->kind];
		/* A state change after a sending, just before another sending,
		 * belongs beside the one it comes with (FIN_WAIT_1 beside the
		 * FIN, not beside the data sent before close()). */
		if (!open && a->kind == A_STATE && has[s][A_SEND] && next_is_send(l, in, k, s))
			open = true;
		if (open) {
			row[s]++;
			memset(has[s], 0, sizeof(has[s]));
		}
		has[s][a->kind] = true;
		a->row = row[s];
	}
	int rows = row[0] > row[1] ? row[0] : row[1];
	in->rows = rows + 1;
}

static void layout_free(struct layout *l)
{
	free(l->a);
	free(l->in);
	free(l->send_at);
	free(l->recv_at);
	free(l->state_at);
	memset(l, 0, sizeof(*l));
}

static int layout(const struct diagram *d, struct layout *l, double top)
{
	memset(l, 0, sizeof(*l));
	l->a = calloc(2 * d->nseg + d->nstate + 1, sizeof(*l->a));
	l->in = calloc(2 * d->nseg + d->nstate + 1, sizeof(*l->in));
	l->send_at = calloc(d->nseg + 1, sizeof(size_t));
	l->recv_at = calloc(d->nseg + 1, sizeof(size_t));
	l->state_at = calloc(d->nstate + 1, sizeof(size_t));
	if (!l->a || !l->in || !l->send_at || !l->recv_at || !l->state_at) {
		layout_free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->nseg; i++) {
		const struct diagram_seg *s = &d->seg[i];
		/* An end nobody reported takes the other end's time, in a phase
		 * of its own just before or after: the arrow gets a small fixed
		 * slope. */
		l->a[l->n++] = (struct anchor){ .t = s->t_sent,
						.phase = (s->know & DIAGRAM_KNOW_SENT) ? 1 : 0,
						.order = s->order, .kind = A_SEND, .idx = i, .side = s->from };
		if (!(s->marks & DIAGRAM_LOST))
			l->a[l->n++] = (struct anchor){ .t = s->t_recv,
							.phase = (s->know & DIAGRAM_KNOW_RECV) ? 1 : 2,
							.order = s->order_recv, .kind = A_RECV, .idx = i,
							.side = 1 - s->from };
	}
	for (size_t i = 0; i < d->nstate; i++) {
		const struct diagram_state *s = &d->state[i];
		l->a[l->n++] = (struct anchor){ s->t, s->phase, s->order, A_STATE, i, s->side, 0, 0 };
	}
	qsort(l->a, l->n, sizeof(*l->a), anchor_cmp);
	for (size_t i = 0; i < d->nseg; i++)
		l->send_at[i] = l->recv_at[i] = NONE;
	for (size_t k = 0; k < l->n; k++) {
		struct anchor *a = &l->a[k];
		if (k == 0 || a->t != a[-1].t || a->phase != a[-1].phase)
			l->in[l->ninst++] = (struct instant){ .t = a->t, .first = k };
		a->inst = l->ninst - 1;
		l->in[a->inst].count++;
		if (a->kind == A_SEND)
			l->send_at[a->idx] = k;
		else if (a->kind == A_RECV)
			l->recv_at[a->idx] = k;
		else
			l->state_at[a->idx] = k;
	}
	ustack_time_t typical = typical_gap(d, l);
	double per_ns = typical ? ARROW_DY / (double)typical : 0;
	double y = top;
	bool tw_pending = false;
	for (size_t k = 0; k < l->ninst; k++) {
		struct instant *in = &l->in[k];
		place_rows(l, in);
		if (k > 0) {
			const struct instant *prev = &l->in[k - 1];
			double last = prev->y + (prev->rows - 1) * ROW;
			double dy = (double)(in->t - prev->t) * per_ns;
			/* Room for the TIME_WAIT bracket's label under its start. */
			double min = tw_pending ? 2 * ROW : ROW;
			if (dy > MAX_DY) {
				/* The cut begins below whatever the last instant drew. */
				in->cut = in->t - prev->t;
				in->cut_y = prev->reach > last ? prev->reach : last;
				y = in->cut_y + CUT_DY;
				if (y < last + min)
					y = last + min;
			} else {
				y = last + (dy > min ? dy : min);
				if (y < prev->reach + ROW / 2)
					y = prev->reach + ROW / 2;
			}
		}
		in->y = y;
		in->reach = y + (in->rows - 1) * ROW;
		tw_pending = false;
		for (size_t j = in->first; j < in->first + in->count; j++) {
			const struct anchor *a = &l->a[j];
			if (enters_time_wait(d, a))
				tw_pending = true;
			/* A lost arrow ends in a cross half a flight below. */
			if (a->kind == A_SEND && (d->seg[a->idx].marks & DIAGRAM_LOST) &&
			    y + a->row * ROW + ARROW_DY / 2 + 6 > in->reach)
				in->reach = y + a->row * ROW + ARROW_DY / 2 + 6;
		}
	}
	l->bottom = l->ninst ? l->in[l->ninst - 1].reach : top;
	return 0;
}

static double anchor_y(const struct layout *l, size_t k)
{
	return l->in[l->a[k].inst].y + l->a[k].row * ROW;
}

/* ---- labels ---- */

static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = *len < size ? size - *len : 0;
	int n = vsnprintf(room ? buf + *len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

/* The window is worth printing on a SYN (no scaling yet) and where it
 * changed; repeating it on every segment would only widen the picture. */
static bool show_window(const struct diagram *d, size_t i)
{
	const struct diagram_seg *s = &d->seg[i];
	if (s->h.flags & USTACK_TCP_SYN)
		return true;
	for (size_t j = i; j-- > 0;) {
		const struct diagram_seg *p = &d->seg[j];
		if (p->from == s->from && !(p->marks & DIAGRAM_DUP))
			return p->h.window != s->h.window;
	}
	return true;
}

int diagram_seg_label(const struct diagram *d, size_t i, const struct diagram_opts *o, char *buf,
		      size_t size)
{
	static const struct diagram_opts defaults;
	if (!o)
		o = &defaults;
	const struct diagram_seg *s = &d->seg[i];
	const struct ustack_tcp_segment *h = &s->h;
	const struct diagram_side *me = &d->side[s->from], *peer = &d->side[1 - s->from];
	uint32_t seq = h->seq, ack = h->ack;
	if (!o->absolute) {
		if (me->has_isn)
			seq -= me->isn;
		if (peer->has_isn)
			ack -= peer->isn;
	}
	size_t len = 0;
	if (size)
		buf[0] = 0;
	char fl[40];
	ustack_tcp_flags_format(h->flags, fl, sizeof(fl));
	appendf(buf, size, &len, "%s seq=%u", fl, seq);
	if (h->flags & USTACK_TCP_ACK)
		appendf(buf, size, &len, " ack=%u", ack);
	if (show_window(d, i))
		appendf(buf, size, &len, " win=%u", h->window);
	if (h->len)
		appendf(buf, size, &len, " len=%u", h->len);
	if (h->flags & USTACK_TCP_URG)
		appendf(buf, size, &len, " urg=%u", h->urgent);
	const struct ustack_tcp_options *op = &h->opt;
	if (op->present) {
		const char *sep = "";
		appendf(buf, size, &len, " <");
		if (op->present & USTACK_OPT_MSS) {
			appendf(buf, size, &len, "%smss %u", sep, op->mss);
			sep = ",";
		}
		if (op->present & USTACK_OPT_SACK_PERM) {
			appendf(buf, size, &len, "%ssackOK", sep);
			sep = ",";
		}
		if (op->present & USTACK_OPT_TS) {
			appendf(buf, size, &len, "%sTS val %u ecr %u", sep, op->ts_val, op->ts_ecr);
			sep = ",";
		}
		if (op->present & USTACK_OPT_WSCALE) {
			appendf(buf, size, &len, "%swscale %u", sep, op->wscale);
			sep = ",";
		}
		if (op->present & USTACK_OPT_SACK) {
			appendf(buf, size, &len, "%ssack", sep);
			for (int k = 0; k < op->nsack && k < 4; k++) {
				uint32_t l = op->sack[k].left, r = op->sack[k].right;
				if (!o->absolute && peer->has_isn) {
					l -= peer->isn;
					r -= peer->isn;
				}
				appendf(buf, size, &len, " %u:%u", l, r);
			}
		}
		appendf(buf, size, &len, ">");
	}
	if (s->marks & DIAGRAM_RETRANS)
		appendf(buf, size, &len, " (retransmission)");
	if (s->marks & DIAGRAM_DUP)
		appendf(buf, size, &len, " (duplicate)");
	if (s->marks & DIAGRAM_LOST)
		appendf(buf, size, &len, " (lost)");
	if (s->marks & DIAGRAM_DROPPED)
		appendf(buf, size, &len, " (dropped: %s)", s->reason);
	return (int)len;
}

static void state_label(const struct diagram_state *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", ustack_tcp_state_name(s->to), s->inferred ? "*" : "");
}

static void initial_label(const struct diagram *d, int side, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", ustack_tcp_state_name(d->side[side].initial),
		 d->side[side].initial_inferred ? "*" : "");
}

/* Milliseconds from the first event, to the microsecond, in integers so
 * that every machine prints the same digits. */
static void fmt_ms(const struct diagram *d, ustack_time_t t, char *buf, size_t size)
{
	unsigned long long us = (unsigned long long)((t - d->t0) / 1000u);
	snprintf(buf, size, "%llu.%03llu", us / 1000u, us % 1000u);
}

static void fmt_dur(ustack_time_t ns, char *buf, size_t size)
{
	unsigned long long us = (unsigned long long)(ns / 1000u);
	if (ns >= USTACK_SEC(1) && ns % USTACK_SEC(1) == 0)
		snprintf(buf, size, "%llu s", (unsigned long long)(ns / USTACK_SEC(1)));
	else if (ns >= USTACK_SEC(1))
		snprintf(buf, size, "%llu.%03llu s", us / 1000000u, us / 1000u % 1000u);
	else if (ns >= USTACK_MSEC(1))
		snprintf(buf, size, "%llu.%03llu ms", us / 1000u, us % 1000u);
	else
		snprintf(buf, size, "%llu us", us);
}

static void fmt_ep(const struct diagram_endpoint *e, char *buf, size_t size)
{
	uint32_t a = e->addr;
	snprintf(buf, size, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, e->port);
}

/* The TIME_WAIT of a side: the state change into it, the one out of it
 * (NONE if the trace ends first), and the label of the bracket. */
struct twait {
	size_t enter, leave;
	char label[64];
};

static size_t find_twaits(const struct diagram *d, struct twait *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < d->nstate && n < max; i++) {
		if (d->state[i].to != USTACK_TCP_TIME_WAIT)
			continue;
		struct twait w = { i, NONE, "" };
		for (size_t j = i + 1; j < d->nstate; j++)
			if (d->state[j].side == d->state[i].side &&
			    d->state[j].from == USTACK_TCP_TIME_WAIT) {
				w.leave = j;
				break;
			}
		if (w.leave != NONE) {
			char dur[32];
			fmt_dur(d->state[w.leave].t - d->state[i].t, dur, sizeof(dur));
			snprintf(w.label, sizeof(w.label), "TIME_WAIT 2MSL (%s)", dur);
		} else {
			snprintf(w.label, sizeof(w.label), "TIME_WAIT 2MSL");
		}
		out[n++] = w;
	}
	return n;
}

static bool any_inferred(const struct diagram *d)
{
	if (d->side[0].initial_inferred || d->side[1].initial_inferred)
		return true;
	for (size_t i = 0; i < d->nstate; i++)
		if (d->state[i].inferred)
			return true;
	return false;
}

/* ---- text ---- */

/* Display columns of a UTF-8 string: one per code point, which holds for
 * everything printed here. */
static size_t ucols(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

enum tkind { T_ARROW, T_STATES, T_CUT };

struct tline {
	enum tkind kind;
	size_t seg;        /* T_ARROW */
	size_t state[2];   /* NONE or the state change shown on each side */
	char time[2][24];  /* each side's time column */
	char col[2][64];   /* each side's state column, when not a state */
	ustack_time_t cut; /* T_CUT */
	size_t key;        /* first anchor, for ordering */
};

struct glyphs {
	const char *life, *fill, *refill, *right, *left, *cross, *cut, *bar;
};

static const struct glyphs ascii = { "|", "-", "=", ">", "<", "X", "~", ":" };
static const struct glyphs utf8 = { "\u2502", "\u2500", "\u2550", "\u25b6",
				    "\u25c0", "\u2715", "\u2248", "\u254e" };

struct tbuf {
	char *p;
	size_t len, cap;
	bool nomem;
};

static void tput(struct tbuf *b, const char *s)
{
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *p = realloc(b->p, ncap);
		if (!p) {
			b->nomem = true;
			return;
		}
		b->p = p;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

static void trep(struct tbuf *b, const char *s, size_t n)
{
	while (n--)
		tput(b, s);
}

/* s left-aligned (or right-aligned) in w columns. */
static void tpad(struct tbuf *b, const char *s, size_t w, bool right)
{
	size_t c = ucols(s);
	if (right)
		trep(b, " ", w > c ? w - c : 0);
	tput(b, s);
	if (!right)
		trep(b, " ", w > c ? w - c : 0);
}

/* The arrow between the lifelines, w columns wide (w >= label + 12). */
static void tarrow(struct tbuf *b, const struct glyphs *g, const char *label, int from, unsigned marks,
		   size_t w)
{
	const char *fill = (marks & DIAGRAM_RETRANS) ? g->refill : g->fill;
	size_t lc = ucols(label);
	/* A lost segment stops mid-way, with a cross: it never arrived. */
	bool lost = marks & DIAGRAM_LOST;
	size_t body = w;
	if (lost && lc + 10 < w / 2)
		body = w / 2;
	else if (lost)
		body = lc + 10 < w ? lc + 10 : w;
	if (from == 1) {
		trep(b, " ", w - body);
		tput(b, lost ? g->cross : g->left);
		trep(b, fill, 3);
	} else {
		trep(b, fill, 4);
	}
	tput(b, " ");
	tput(b, label);
	tput(b, " ");
	trep(b, fill, body - lc - 7);
	if (from == 0) {
		tput(b, lost ? g->cross : g->right);
		trep(b, " ", w - body);
	} else {
		tput(b, fill);
	}
}

static void trim_line(struct tbuf *b, size_t start)
{
	while (b->len > start && b->p[b->len - 1] == ' ')
		b->p[--b->len] = 0;
	tput(b, "\n");
}

static int tline_cmp(const void *pa, const void *pb)
{
	const struct tline *a = pa, *b = pb;
	return a->key < b->key ? -1 : a->key > b->key;
}

/* One line per sending (with its sender's state change, when the two share
 * a row) and per remaining state change; a cut line where time was cut. */
static int text_lines(const struct diagram *d, const struct layout *l, struct tline **out, size_t *nout)
{
	size_t cap = d->nseg + d->nstate + l->ninst + 2 * d->nstate + 4, n = 0;
	struct tline *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	ustack_time_t pending_cut = 0;
	for (size_t k = 0; k < l->ninst; k++) {
		const struct instant *in = &l->in[k];
		pending_cut += in->cut;
		size_t first = n;
		for (int row = 0; row < in->rows; row++) {
			size_t send[2] = { NONE, NONE }, state[2] = { NONE, NONE }, key[2] = { NONE, NONE };
			for (size_t j = in->first; j < in->first + in->count; j++) {
				const struct anchor *a = &l->a[j];
				if (a->row != row)
					continue;
				if (key[a->side] == NONE)
					key[a->side] = j;
				if (a->kind == A_SEND)
					send[a->side] = a->idx;
				else if (a->kind == A_STATE)
					state[a->side] = a->idx;
			}
			size_t row_first = n, states_line = NONE;
			for (int s = 0; s < 2; s++) {
				if (send[s] == NONE && state[s] == NONE)
					continue;
				if (send[s] == NONE && states_line != NONE) {
					/* Both sides change state on this row: one line. */
					t[states_line].state[s] = state[s];
					fmt_ms(d, d->state[state[s]].t, t[states_line].time[s], 24);
					continue;
				}
				struct tline *x = &t[n++];
				x->key = key[s];
				x->state[0] = x->state[1] = NONE;
				x->state[s] = state[s];
				if (send[s] == NONE) {
					x->kind = T_STATES;
					states_line = n - 1;
					fmt_ms(d, d->state[state[s]].t, x->time[s], 24);
					continue;
				}
				const struct diagram_seg *g = &d->seg[send[s]];
				x->kind = T_ARROW;
				x->seg = send[s];
				/* An end nobody reported has no time of its own; a
				 * capture's one time is the sender's. */
				if ((g->know & DIAGRAM_KNOW_SENT) || d->capture)
					fmt_ms(d, g->t_sent, x->time[s], 24);
				if (g->know & DIAGRAM_KNOW_RECV)
					fmt_ms(d, g->t_recv, x->time[1 - s], 24);
			}
			/* The two sides' lines of one row in the order of their events. */
			qsort(&t[row_first], n - row_first, sizeof(*t), tline_cmp);
		}
		if (pending_cut && n > first) {
			/* The cut goes before the first line after it. */
			memmove(&t[first + 1], &t[first], (n - first) * sizeof(*t));
			memset(&t[first], 0, sizeof(*t));
			t[first].kind = T_CUT;
			t[first].cut = pending_cut;
			t[first].state[0] = t[first].state[1] = NONE;
			t[first].key = t[first + 1].key;
			n++;
			pending_cut = 0;
		}
	}
	*out = t;
	*nout = n;
	return 0;
}

/* Fills the state columns of the lines inside each TIME_WAIT with a
 * bracket and its label; a line is added when none is there to hold it. */
static int text_brackets(const struct diagram *d, const struct glyphs *g, struct tline **lines, size_t *n)
{
	struct twait tw[8];
	size_t ntw = find_twaits(d, tw, 8);
	for (size_t w = 0; w < ntw; w++) {
		int side = d->state[tw[w].enter].side;
		size_t start = NONE, end = *n;
		for (size_t i = 0; i < *n; i++) {
			if ((*lines)[i].state[side] == tw[w].enter)
				start = i;
			if (tw[w].leave != NONE && (*lines)[i].state[side] == tw[w].leave)
				end = i;
		}
		if (start == NONE)
			continue;
		if (end == start + 1 || start + 1 == *n) {
			struct tline *t = realloc(*lines, (*n + 1) * sizeof(*t));
			if (!t)
				return -ENOMEM;
			memmove(&t[start + 2], &t[start + 1], (*n - start - 1) * sizeof(*t));
			memset(&t[start + 1], 0, sizeof(*t));
			t[start + 1].kind = T_STATES;
			t[start + 1].state[0] = t[start + 1].state[1] = NONE;
			*lines = t;
			(*n)++;
			end++;
		}
		for (size_t i = start + 1; i < end; i++) {
			struct tline *t = &(*lines)[i];
			if (t->state[side] != NONE)
				continue;
			snprintf(t->col[side], sizeof(t->col[side]), "%s%s%s", g->bar,
				 i == start + 1 ? " " : "", i == start + 1 ? tw[w].label : "");
		}
	}
	return 0;
}

static void tcol(const struct diagram *d, const struct tline *t, int side, char *buf, size_t size)
{
	if (t->state[side] != NONE)
		state_label(&d->state[t->state[side]], buf, size);
	else
		snprintf(buf, size, "%s", t->col[side]);
}

int diagram_write_text(const struct diagram *d, const struct diagram_opts *o, FILE *f)
{
	static const struct diagram_opts defaults;
	if (!o)
		o = &defaults;
	const struct glyphs *g = o->utf8 ? &utf8 : &ascii;
	struct layout l;
	if (layout(d, &l, 0))
		return -ENOMEM;
	struct tline *t = NULL;
	size_t n = 0;
	if (text_lines(d, &l, &t, &n) || text_brackets(d, g, &t, &n)) {
		free(t);
		layout_free(&l);
		return -ENOMEM;
	}

	/* Column widths from what they will hold. */
	char ep[2][32], init[2][24], buf[256];
	size_t tw[2] = { 2, 2 }, sw[2], aw = 40;
	for (int s = 0; s < 2; s++) {
		fmt_ep(&d->side[s].ep, ep[s], sizeof(ep[s]));
		initial_label(d, s, init[s], sizeof(init[s]));
		sw[s] = ucols(ep[s]);
		if (ucols(d->side[s].name) > sw[s])
			sw[s] = ucols(d->side[s].name);
		if (ucols(init[s]) > sw[s])
			sw[s] = ucols(init[s]);
	}
	for (size_t i = 0; i < n; i++) {
		for (int s = 0; s < 2; s++) {
			tcol(d, &t[i], s, buf, sizeof(buf));
			if (ucols(buf) > sw[s])
				sw[s] = ucols(buf);
			if (strlen(t[i].time[s]) > tw[s])
				tw[s] = strlen(t[i].time[s]);
		}
		if (t[i].kind == T_ARROW) {
			diagram_seg_label(d, t[i].seg, o, buf, sizeof(buf));
			if (ucols(buf) + 12 > aw)
				aw = ucols(buf) + 12;
		}
	}

	struct tbuf b = { 0 };
	size_t start = 0;
	/* Header: names and endpoints above the state columns. */
	for (int h = 0; h < 2; h++) {
		start = b.len;
		trep(&b, " ", tw[0] + 2);
		tpad(&b, h ? ep[0] : d->side[0].name, sw[0], false);
		trep(&b, " ", 2 + 1 + aw + 1 + 2);
		tpad(&b, h ? ep[1] : d->side[1].name, sw[1], false);
		trim_line(&b, start);
	}
	start = b.len;
	trep(&b, " ", tw[0] + 2);
	tpad(&b, init[0], sw[0], false);
	tput(&b, "  ");
	tput(&b, g->life);
	trep(&b, " ", aw);
	tput(&b, g->life);
	tput(&b, "  ");
	tpad(&b, init[1], sw[1], false);
	trim_line(&b, start);

	for (size_t i = 0; i < n; i++) {
		start = b.len;
		char col[2][128];
		tcol(d, &t[i], 0, col[0], sizeof(col[0]));
		tcol(d, &t[i], 1, col[1], sizeof(col[1]));
		tpad(&b, t[i].time[0], tw[0], true);
		tput(&b, "  ");
		tpad(&b, col[0], sw[0], false);
		tput(&b, "  ");
		if (t[i].kind == T_CUT) {
			char dur[32], mid[64];
			fmt_dur(t[i].cut, dur, sizeof(dur));
			snprintf(mid, sizeof(mid), "... %s ...", dur);
			size_t mc = ucols(mid), left = aw > mc ? (aw - mc) / 2 : 0;
			tput(&b, g->cut);
			trep(&b, " ", left);
			tput(&b, mid);
			trep(&b, " ", aw > mc + left ? aw - mc - left : 0);
			tput(&b, g->cut);
		} else {
			tput(&b, g->life);
			if (t[i].kind == T_ARROW) {
				diagram_seg_label(d, t[i].seg, o, buf, sizeof(buf));
				tarrow(&b, g, buf, d->seg[t[i].seg].from, d->seg[t[i].seg].marks, aw);
			} else {
				trep(&b, " ", aw);
			}
			tput(&b, g->life);
		}
		tput(&b, "  ");
		tpad(&b, col[1], sw[1], false);
		tput(&b, "  ");
		tpad(&b, t[i].time[1], tw[1], true);
		trim_line(&b, start);
	}
	tput(&b, "\n");
	tput(&b, "times in ms from the first event; ");
	tput(&b, o->absolute ? "seq and ack as on the wire\n" : "seq and ack relative to each side's ISN\n");
	if (any_inferred(d))
		tput(&b, "* (inferred): a state inferred from the segments, not reported by the stack\n");

	int r = 0;
	if (b.nomem)
		r = -ENOMEM;
	else if (fwrite(b.p, 1, b.len, f) != b.len)
		r = -EIO;
	free(b.p);
	free(t);
	layout_free(&l);
	return r;
}

/* ---- SVG ---- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			/* Control characters are not allowed in XML 1.0. */
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

static const char svg_style[] =
	"text{font-family:monospace;font-size:11px;fill:#222}\n"
	".name{font-size:13px;font-weight:bold}\n"
	".life{stroke:#888;stroke-width:1.5}\n"
	".arrow line{stroke:#1f4e99;stroke-width:1.3}\n"
	".arrow text{fill:#1f4e99}\n"
	".retrans line{stroke:#c45500;stroke-dasharray:6 3}\n"
	".retrans text{fill:#c45500}\n"
	".lost line,.lost path{stroke:#c00000;stroke-width:1.3;fill:none}\n"
	".lost text{fill:#c00000}\n"
	".dup line{stroke-dasharray:2 2}\n"
	".state,.initial{font-weight:bold}\n"
	".inferred{font-style:italic;fill:#6a3d9a}\n"
	".time{fill:#777;font-size:10px}\n"
	".twait{fill:#fff3cd;stroke:#b8860b;stroke-width:1}\n"
	".twait-label{fill:#8a6500}\n"
	".cut{fill:#fff;stroke:none}\n"
	".zigzag{fill:none;stroke:#888;stroke-width:1.2}\n"
	".cut-label{fill:#777;font-style:italic}\n"
	".legend{fill:#555}\n";

/* A label drawn along an arrow: from x0 to x1, its baseline at y at x0 and
 * sloping by k. */
struct label {
	double x0, x1, y, k;
};

static double label_y(const struct label *l, double x)
{
	return l->y + l->k * (x - l->x0);
}

/* Whether lb writes over one of the last RECENT labels: their baselines
 * come closer than a label's height somewhere they overlap in x. The
 * distance is linear in x, so the ends of the overlap decide. */
static bool collides(const struct label *placed, size_t n, const struct label *lb)
{
	for (size_t i = 0; i < n && i < RECENT; i++) {
		const struct label *p = &placed[i];
		double a = p->x0 > lb->x0 ? p->x0 : lb->x0, b = p->x1 < lb->x1 ? p->x1 : lb->x1;
		if (a >= b)
			continue;
		double da = label_y(lb, a) - label_y(p, a), db = label_y(lb, b) - label_y(p, b);
		if ((da < 0) != (db < 0) || (da < LABEL_H && da > -LABEL_H) ||
		    (db < LABEL_H && db > -LABEL_H))
			return true;
	}
	return false;
}

/*
 * Where the label of an arrow from (x1, y1) towards x2 with slope k goes:
 * along the arrow, above it, in the middle, unless it would write over a
 * label already drawn (arrows that cross); then below it, or slid towards
 * one end, where crossing arrows have drawn apart. A shear rather than a
 * rotation keeps the letters upright and needs no trigonometry. A lost
 * arrow is short: its label starts at the sender and runs on past the
 * cross.
 */
static struct label place_label(const struct label *placed, size_t n, double k, double x1, double y1,
				double x2, double w, bool lost)
{
	static const double where[] = { 0.5, 0.35, 0.65, 0.22, 0.78 };
	double lo = x1 < x2 ? x1 : x2, hi = x1 < x2 ? x2 : x1;
	struct label first = { 0 };
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		for (int below = 0; below < 2; below++) {
			struct label lb = { .k = k };
			if (lost)
				lb.x0 = x1 < x2 ? x1 + 10 : x1 - 10 - w;
			else
				lb.x0 = lo + (hi - lo) * where[i] - w / 2;
			if (!lost && lb.x0 < lo + 4)
				lb.x0 = lo + 4;
			if (!lost && lb.x0 + w > hi - 4)
				lb.x0 = hi - 4 - w;
			lb.x1 = lb.x0 + w;
			lb.y = y1 + k * (lb.x0 - x1) + (below ? LABEL_H : -4);
			if (i == 0 && !below)
				first = lb;
			if (!collides(placed, n, &lb))
				return lb;
		}
		if (lost)
			break;
	}
	return first;
}

int diagram_write_svg(const struct diagram *d, const struct diagram_opts *o, FILE *f)
{
	static const struct diagram_opts defaults;
	if (!o)
		o = &defaults;
	const double top = 96;
	struct layout l;
	if (layout(d, &l, top))
		return -ENOMEM;
	struct twait tw[8];
	size_t ntw = find_twaits(d, tw, 8);

	/* Columns, from the widest thing each holds. */
	char ep[2][32], init[2][24], buf[256];
	size_t scols[2], tcols = 8, acols = 40;
	for (int s = 0; s < 2; s++) {
		fmt_ep(&d->side[s].ep, ep[s], sizeof(ep[s]));
		initial_label(d, s, init[s], sizeof(init[s]));
		scols[s] = ucols(init[s]);
	}
	for (size_t i = 0; i < d->nstate; i++) {
		state_label(&d->state[i], buf, sizeof(buf));
		if (ucols(buf) > scols[d->state[i].side])
			scols[d->state[i].side] = ucols(buf);
		fmt_ms(d, d->state[i].t, buf, sizeof(buf));
		if (strlen(buf) + 3 > tcols)
			tcols = strlen(buf) + 3;
	}
	for (size_t w = 0; w < ntw; w++) {
		int s = d->state[tw[w].enter].side;
		if (ucols(tw[w].label) > scols[s])
			scols[s] = ucols(tw[w].label);
	}
	for (size_t i = 0; i < d->nseg; i++) {
		diagram_seg_label(d, i, o, buf, sizeof(buf));
		if (ucols(buf) > acols)
			acols = ucols(buf);
		fmt_ms(d, d->seg[i].t_recv > d->seg[i].t_sent ? d->seg[i].t_recv : d->seg[i].t_sent, buf,
		       sizeof(buf));
		if (strlen(buf) + 3 > tcols)
			tcols = strlen(buf) + 3;
	}
	double tw_px = tcols * CHAR_W * 10 / 11 + 8; /* times are 10 px */
	double xa = 10 + tw_px + 12 + scols[0] * CHAR_W + 22;
	/* Labels fill at most LABEL_SHARE of the arrows' width: where two
	 * arrows meet at a lifeline (one arrives, the answer leaves), they have
	 * drawn apart enough by where their labels begin. */
	double xb =
	    xa + (acols * CHAR_W / LABEL_SHARE > 60 * CHAR_W ? acols * CHAR_W / LABEL_SHARE : 60 * CHAR_W);
	double width = xb + 22 + scols[1] * CHAR_W + 12 + tw_px + 10;
	double bottom = l.bottom + 30;
	int legend_lines = 2 + any_inferred(d);
	double height = bottom + 16 + 15 * legend_lines;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 "
		"%.0f %.0f\">\n",
		width, height, width, height);
	fputs("<title>TCP connection: ", f);
	xml_text(f, d->side[0].name);
	fprintf(f, " %s, ", ep[0]);
	xml_text(f, d->side[1].name);
	fprintf(f, " %s</title>\n", ep[1]);
	fprintf(f, "<style>\n%s</style>\n", svg_style);
	fprintf(f, "<defs>\n");
	fprintf(f, "<marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" "
		   "markerHeight=\"9\" "
		   "orient=\"auto\"><path d=\"M0,1 L10,5 L0,9 z\" fill=\"#1f4e99\"/></marker>\n");
	fprintf(f,
		"<marker id=\"head-retrans\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"9\" "
		"markerHeight=\"9\" orient=\"auto\"><path d=\"M0,1 L10,5 L0,9 z\" "
		"fill=\"#c45500\"/></marker>\n");
	fprintf(f, "</defs>\n");
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");

	/* Names and lifelines. */
	double x[2] = { xa, xb };
	for (int s = 0; s < 2; s++) {
		fprintf(f, "<text class=\"name\" x=\"%.1f\" y=\"22\" text-anchor=\"middle\">", x[s]);
		xml_text(f, d->side[s].name);
		fprintf(f, "</text>\n<text x=\"%.1f\" y=\"38\" text-anchor=\"middle\">%s</text>\n", x[s],
			ep[s]);
		fprintf(f, "<line class=\"life\" x1=\"%.1f\" y1=\"48\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x[s],
			x[s], bottom);
		fprintf(f, "<text class=\"initial%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text>\n",
			d->side[s].initial_inferred ? " inferred" : "", s ? xb + 16 : xa - 16, top - 30 + 4,
			s ? "start" : "end", init[s]);
	}

	/* TIME_WAIT: a box along the lifeline, a bracket and its label. */
	for (size_t w = 0; w < ntw; w++) {
		int s = d->state[tw[w].enter].side;
		double y1 = anchor_y(&l, l.state_at[tw[w].enter]);
		double y2 = tw[w].leave != NONE ? anchor_y(&l, l.state_at[tw[w].leave]) : bottom;
		double bx = s ? xb + 6 : xa - 6, dir = s ? 1 : -1;
		fprintf(f,
			"<g class=\"twait-box\"><rect class=\"twait\" x=\"%.1f\" y=\"%.1f\" width=\"8\" "
			"height=\"%.1f\"/>",
			x[s] - 4, y1, y2 - y1);
		fprintf(f, "<path d=\"M%.1f,%.1f h%.1f V%.1f h%.1f\" fill=\"none\" stroke=\"#b8860b\"%s/>",
			bx, y1, dir * 5, y2, -dir * 5,
			tw[w].leave == NONE ? " stroke-dasharray=\"3 3\"" : "");
		fprintf(
		    f,
		    "<text class=\"twait-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s</text></g>\n",
		    bx + dir * 10, y1 + ROW + 4, s ? "start" : "end", tw[w].label);
	}

	/* Cuts: a zig-zag across each lifeline and the time left out. */
	for (size_t k = 1; k < l.ninst; k++) {
		if (!l.in[k].cut)
			continue;
		double ym = l.in[k].cut_y + CUT_DY / 2;
		char dur[32];
		fmt_dur(l.in[k].cut, dur, sizeof(dur));
		fprintf(f, "<g class=\"cut-mark\">");
		for (int s = 0; s < 2; s++) {
			fprintf(f, "<rect class=\"cut\" x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\"/>",
				x[s] - 7, ym - 6);
			fprintf(f,
				"<polyline class=\"zigzag\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f "
				"%.1f,%.1f\"/>",
				x[s] - 7, ym - 4, x[s] - 2, ym + 2, x[s] + 2, ym - 2, x[s] + 7, ym + 4);
		}
		fprintf(f,
			"<text class=\"cut-label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">... %s "
			"...</text></g>\n",
			(xa + xb) / 2, ym + 4, dur);
	}

	/* Times, once per row of each side. */
	for (size_t k = 0; k < l.n; k++) {
		const struct anchor *a = &l.a[k];
		bool first = true;
		for (size_t j = l.in [a->inst].first; j < k; j++)
			if (l.a[j].side == a->side && l.a[j].row == a->row)
				first = false;
		if (!first)
			continue;
		/* An end nobody reported has no time of its own. */
		if (a->kind == A_SEND && !(d->seg[a->idx].know & DIAGRAM_KNOW_SENT) && !d->capture)
			continue;
		if (a->kind == A_RECV && !(d->seg[a->idx].know & DIAGRAM_KNOW_RECV))
			continue;
		fmt_ms(d, a->t, buf, sizeof(buf));
		fprintf(f, "<text class=\"time\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s ms</text>\n",
			a->side ? width - 10 : 10 + tw_px, anchor_y(&l, k) + 4, buf);
	}

	/* State changes beside their lifeline. */
	for (size_t i = 0; i < d->nstate; i++) {
		const struct diagram_state *s = &d->state[i];
		double y = anchor_y(&l, l.state_at[i]);
		state_label(s, buf, sizeof(buf));
		fprintf(f, "<text class=\"state%s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"><title>",
			s->inferred ? " inferred" : "", s->side ? xb + 16 : xa - 16, y + 4,
			s->side ? "start" : "end");
		fprintf(f, "%s -&gt; %s", ustack_tcp_state_name(s->from), ustack_tcp_state_name(s->to));
		if (s->cause[0]) {
			fputs(" (", f);
			xml_text(f, s->cause);
			fputs(")", f);
		}
		fprintf(f, "</title>%s</text>\n", buf);
	}

	/* One arrow per segment. */
	struct label placed[RECENT];
	size_t nplaced = 0;
	for (size_t i = 0; i < d->nseg; i++) {
		const struct diagram_seg *s = &d->seg[i];
		double x1 = x[s->from], y1 = anchor_y(&l, l.send_at[i]), x2, y2;
		if (s->marks & DIAGRAM_LOST) {
			x2 = (xa + xb) / 2;
			y2 = y1 + ARROW_DY / 2;
		} else {
			x2 = x[1 - s->from];
			y2 = anchor_y(&l, l.recv_at[i]);
		}
		diagram_seg_label(d, i, o, buf, sizeof(buf));
		fprintf(f, "<g class=\"arrow%s%s%s\">", (s->marks & DIAGRAM_LOST) ? " lost" : "",
			(s->marks & DIAGRAM_RETRANS) ? " retrans" : "",
			(s->marks & DIAGRAM_DUP) ? " dup" : "");
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"", x1, y1, x2, y2);
		if (s->marks & DIAGRAM_LOST)
			fprintf(f, "/><path d=\"M%.1f,%.1f l10,10 M%.1f,%.1f l10,-10\"/>", x2 - 5, y2 - 5,
				x2 - 5, y2 + 5);
		else
			fprintf(f, " marker-end=\"url(#%s)\"/>",
				(s->marks & DIAGRAM_RETRANS) ? "head-retrans" : "head");
		double k = (y2 - y1) / (x2 - x1), w = ucols(buf) * CHAR_W;
		struct label lb =
		    place_label(placed, nplaced, k, x1, y1, x2, w, !!(s->marks & DIAGRAM_LOST));
		placed[nplaced++ % RECENT] = lb;
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" transform=\"matrix(1 %.4f 0 1 0 %.2f)\">", lb.x0,
			lb.y, k, -k * lb.x0);
		xml_text(f, buf);
		fprintf(f, "</text></g>\n");
	}

	/* Legend. */
	double ly = bottom + 20;
	fprintf(f,
		"<text class=\"legend\" x=\"10\" y=\"%.1f\">times in ms from the first event; %s</text>\n",
		ly, o->absolute ? "seq and ack as on the wire" : "seq and ack relative to each side's ISN");
	ly += 15;
	fprintf(f,
		"<text class=\"legend\" x=\"10\" y=\"%.1f\">dashed orange: retransmission; red with a "
		"cross: lost; "
		"zig-zag: idle time left out</text>\n",
		ly);
	if (any_inferred(d))
		fprintf(f,
			"<text class=\"legend inferred\" x=\"10\" y=\"%.1f\">* (inferred): state inferred "
			"from the "
			"segments, not reported by the stack</text>\n",
			ly + 15);
	fprintf(f, "</svg>\n");
	layout_free(&l);
	return ferror(f) ? -EIO : 0;
}

int diagram_save(const struct diagram_trace *tr, const char *path, const struct diagram_opts *o, char *err,
		 size_t errsize)
{
	struct diagram d;
	int r = diagram_build(&d, tr, NULL, err, errsize);
	if (r)
		return r;
	FILE *f = fopen(path, "w");
	if (!f) {
		r = -errno;
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		diagram_free(&d);
		return r;
	}
	size_t n = strlen(path);
	bool svg = n >= 4 && !strcmp(path + n - 4, ".svg");
	r = svg ? diagram_write_svg(&d, o, f) : diagram_write_text(&d, o, f);
	if (fclose(f) && !r)
		r = -EIO;
	if (r)
		snprintf(err, errsize, "%s: %s", path, strerror(-r));
	diagram_free(&d);
	return r;
}
