/*
 * One line of text per trace event, in the spirit of tcpdump: source >
 * destination, flags, then the numbers the article draws on its arrows.
 * Sequence numbers are relative to each side's ISN by default, so the
 * handshake reads "seq 0", "seq 0 ack 1", "ack 1" whatever the ISNs were;
 * a SYN not yet tied to a connection is its own origin.
 */
#include <stdio.h>

#include <ustack/trace.h>

#include "trace/buf.h"

static void put_addr(struct us_buf *b, uint32_t a, uint16_t port)
{
	us_buf_put(b, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, port);
}

int ustack_tcp_flags_format(uint8_t flags, char *out, size_t size)
{
	static const char *const names[8] = { "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR" };
	/* The order people say them in: SYN,ACK and FIN,ACK. */
	static const int order[8] = { 1, 2, 0, 3, 4, 5, 6, 7 };
	struct us_buf b = { out, size, 0 };
	if (size)
		out[0] = 0;
	for (int i = 0; i < 8; i++)
		if (flags & (1u << order[i]))
			us_buf_put(&b, "%s%s", b.len ? "," : "", names[order[i]]);
	if (!b.len)
		us_buf_put(&b, ".");
	return (int)b.len;
}

static void put_options(struct us_buf *b, const struct ustack_tcp_options *o)
{
	if (!o->present)
		return;
	const char *sep = "";
	us_buf_put(b, " <");
	if (o->present & USTACK_OPT_MSS) {
		us_buf_put(b, "%smss %u", sep, o->mss);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK_PERM) {
		us_buf_put(b, "%ssackOK", sep);
		sep = ",";
	}
	if (o->present & USTACK_OPT_TS) {
		us_buf_put(b, "%sTS val %u ecr %u", sep, o->ts_val, o->ts_ecr);
		sep = ",";
	}
	if (o->present & USTACK_OPT_WSCALE) {
		us_buf_put(b, "%swscale %u", sep, o->wscale);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK) {
		us_buf_put(b, "%ssack", sep);
		for (int i = 0; i < o->nsack; i++)
			us_buf_put(b, " %u:%u", o->sack[i].left, o->sack[i].right);
	}
	us_buf_put(b, ">");
}

static void put_segment(struct us_buf *b, const struct ustack_event *ev, bool out, unsigned flags)
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
	us_buf_put(b, " > ");
	put_addr(b, s->daddr, s->dport);
	us_buf_put(b, " %s seq %u", fl, seq);
	if (s->flags & USTACK_TCP_ACK)
		us_buf_put(b, " ack %u", ack);
	us_buf_put(b, " win %u len %u", s->window, s->len);
	if (s->flags & USTACK_TCP_URG)
		us_buf_put(b, " urg %u", s->urgent);
	put_options(b, &s->opt);
}

int ustack_event_format(const struct ustack_event *ev, unsigned flags, char *out, size_t size)
{
	struct us_buf b = { out, size, 0 };
	if (size)
		out[0] = 0;
	if (!(flags & USTACK_FMT_NO_TIME))
		us_buf_put(&b, "%4llu.%06llu ", (unsigned long long)(ev->time / 1000000000u),
		    (unsigned long long)(ev->time % 1000000000u / 1000u));
	switch (ev->type) {
	case USTACK_EV_SEG_IN:
	case USTACK_EV_SEG_OUT:
		us_buf_put(&b, "%s ", ev->type == USTACK_EV_SEG_IN ? "in   " : "out  ");
		put_segment(&b, ev, ev->type == USTACK_EV_SEG_OUT, flags);
		break;
	case USTACK_EV_STATE:
		us_buf_put(&b, "state ");
		put_addr(&b, ev->laddr, ev->lport);
		us_buf_put(&b, " ");
		if (ev->rport) {
			put_addr(&b, ev->raddr, ev->rport);
			us_buf_put(&b, " ");
		}
		us_buf_put(&b, "%s -> %s (%s)", ustack_tcp_state_name(ev->old_state), ustack_tcp_state_name(ev->new_state),
		    ev->cause ? ev->cause : "");
		break;
	case USTACK_EV_DROP:
		us_buf_put(&b, "drop  %s", ustack_stat_name(ev->drop));
		if (ev->seg) {
			us_buf_put(&b, " ");
			put_segment(&b, ev, false, flags);
		}
		break;
	}
	return (int)b.len;
}
