/*
 * One line of text per trace event, in the spirit of tcpdump: source >
 * destination, flags, then the numbers the article draws on its arrows.
 * Sequence numbers are relative to each side's ISN by default, so the
 * handshake reads "seq 0", "seq 0 ack 1", "ack 1" whatever the ISNs were;
 * a SYN not yet tied to a connection is its own origin.
 */
#include <stdarg.h>
#include <stdio.h>

#include <ustack/trace.h>

struct buf {
	char *p;
	size_t size, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = b->len < b->size ? b->size - b->len : 0;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static void put_addr(struct buf *b, uint32_t a, uint16_t port)
{
	put(b, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, port);
}

int ustack_tcp_flags_format(uint8_t flags, char *out, size_t size)
{
	static const char *const names[8] = { "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR" };
	/* The order people say them in: SYN,ACK and FIN,ACK. */
	static const int order[8] = { 1, 2, 0, 3, 4, 5, 6, 7 };
	struct buf b = { out, size, 0 };
	if (size)
		out[0] = 0;
	for (int i = 0; i < 8; i++)
		if (flags & (1u << order[i]))
			put(&b, "%s%s", b.len ? "," : "", names[order[i]]);
	if (!b.len)
		put(&b, ".");
	return (int)b.len;
}

static void put_options(struct buf *b, const struct ustack_tcp_options *o)
{
	if (!o->present)
		return;
	const char *sep = "";
	put(b, " <");
	if (o->present & USTACK_OPT_MSS) {
		put(b, "%smss %u", sep, o->mss);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK_PERM) {
		put(b, "%ssackOK", sep);
		sep = ",";
	}
	if (o->present & USTACK_OPT_TS) {
		put(b, "%sTS val %u ecr %u", sep, o->ts_val, o->ts_ecr);
		sep = ",";
	}
	if (o->present & USTACK_OPT_WSCALE) {
		put(b, "%swscale %u", sep, o->wscale);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK) {
		put(b, "%ssack", sep);
		for (int i = 0; i < o->nsack; i++)
			put(b, " %u:%u", o->sack[i].left, o->sack[i].right);
	}
	put(b, ">");
}

static void put_segment(struct buf *b, const struct ustack_event *ev, bool out, unsigned flags)
{
	const struct ustack_tcp_segment *s = ev->seg;
	bool rel = !(flags & USTACK_FMT_ABSOLUTE);
	/* Whose ISN each number counts from. */
	bool seq_known = out ? ev->has_iss : ev->has_irs;
	bool ack_known = out ? ev->has_irs : ev->has_iss;
	uint32_t seq_base = out ? ev->iss : ev->irs, ack_base = out ? ev->irs : ev->iss;
	uint32_t seq = s->seq, ack = s->ack;
	if (rel) {
		if (seq_known)
			seq -= seq_base;
		else if (s->flags & USTACK_TCP_SYN)
			seq = 0;
		if (ack_known)
			ack -= ack_base;
	}
	char fl[40];
	ustack_tcp_flags_format(s->flags, fl, sizeof(fl));
	put_addr(b, s->saddr, s->sport);
	put(b, " > ");
	put_addr(b, s->daddr, s->dport);
	put(b, " %s seq %u", fl, seq);
	if (s->flags & USTACK_TCP_ACK)
		put(b, " ack %u", ack);
	put(b, " win %u len %u", s->window, s->len);
	if (s->flags & USTACK_TCP_URG)
		put(b, " urg %u", s->urgent);
	put_options(b, &s->opt);
}

int ustack_event_format(const struct ustack_event *ev, unsigned flags, char *out, size_t size)
{
	struct buf b = { out, size, 0 };
	if (size)
		out[0] = 0;
	if (!(flags & USTACK_FMT_NO_TIME))
		put(&b, "%4llu.%06llu ", (unsigned long long)(ev->time / 1000000000u),
		    (unsigned long long)(ev->time % 1000000000u / 1000u));
	switch (ev->type) {
	case USTACK_EV_SEG_IN:
	case USTACK_EV_SEG_OUT:
		put(&b, "%s ", ev->type == USTACK_EV_SEG_IN ? "in   " : "out  ");
		put_segment(&b, ev, ev->type == USTACK_EV_SEG_OUT, flags);
		break;
	case USTACK_EV_STATE:
		put(&b, "state ");
		put_addr(&b, ev->laddr, ev->lport);
		put(&b, " ");
		if (ev->rport) {
			put_addr(&b, ev->raddr, ev->rport);
			put(&b, " ");
		}
		put(&b, "%s -> %s (%s)", ustack_tcp_state_name(ev->old_state), ustack_tcp_state_name(ev->new_state),
		    ev->cause ? ev->cause : "");
		break;
	case USTACK_EV_DROP:
		put(&b, "drop  %s", ustack_stat_name(ev->drop));
		if (ev->seg) {
			put(&b, " ");
			put_segment(&b, ev, false, flags);
		}
		break;
	}
	return (int)b.len;
}
