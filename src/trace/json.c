/*
 * Trace events as JSON lines, exactly as docs/TRACE-FORMAT.md specifies:
 * the machine-readable twin of format.c, for ustack-diagram and for
 * anything else that wants to read a run back (jq, a notebook). Keys come
 * in the order the document lists them, so lines are stable to diff.
 */
#include <stdio.h>

#include <ustack/trace.h>

#include "trace/buf.h"

/* A JSON string: quotes, backslashes and control characters escaped;
 * other bytes (UTF-8 included) pass through. */
static void put_str(struct us_buf *b, const char *s)
{
	us_buf_put(b, "\"");
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			us_buf_put(b, "\\%c", *c);
		else if (*c == '\n')
			us_buf_put(b, "\\n");
		else if (*c == '\t')
			us_buf_put(b, "\\t");
		else if (*c < 0x20 || *c == 0x7f)
			us_buf_put(b, "\\u%04x", *c);
		else
			us_buf_put(b, "%c", *c);
	}
	us_buf_put(b, "\"");
}

static void put_addr(struct us_buf *b, const char *key, uint32_t a, uint16_t port)
{
	us_buf_put(b, ",\"%s\":\"%u.%u.%u.%u:%u\"", key, a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, port);
}

static void put_options(struct us_buf *b, const struct ustack_tcp_options *o)
{
	const char *sep = "";
	us_buf_put(b, ",\"opts\":{");
	if (o->present & USTACK_OPT_MSS) {
		us_buf_put(b, "\"mss\":%u", o->mss);
		sep = ",";
	}
	if (o->present & USTACK_OPT_WSCALE) {
		us_buf_put(b, "%s\"wscale\":%u", sep, o->wscale);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK_PERM) {
		us_buf_put(b, "%s\"sackOK\":true", sep);
		sep = ",";
	}
	if (o->present & USTACK_OPT_TS) {
		us_buf_put(b, "%s\"ts\":[%u,%u]", sep, o->ts_val, o->ts_ecr);
		sep = ",";
	}
	if (o->present & USTACK_OPT_SACK) {
		us_buf_put(b, "%s\"sack\":[", sep);
		int n = o->nsack < 4 ? o->nsack : 4;
		for (int i = 0; i < n; i++)
			us_buf_put(b, "%s[%u,%u]", i ? "," : "", o->sack[i].left, o->sack[i].right);
		us_buf_put(b, "]");
	}
	us_buf_put(b, "}");
}

static void put_segment(struct us_buf *b, const struct ustack_event *ev)
{
	const struct ustack_tcp_segment *s = ev->seg;
	char fl[40];
	ustack_tcp_flags_format(s->flags, fl, sizeof(fl));
	put_addr(b, "src", s->saddr, s->sport);
	put_addr(b, "dst", s->daddr, s->dport);
	us_buf_put(b, ",\"flags\":\"%s\",\"seq\":%u,\"ack\":%u,\"win\":%u,\"len\":%u", fl, s->seq, s->ack,
	    s->window, s->len);
	put_options(b, &s->opt);
	if (ev->has_iss)
		us_buf_put(b, ",\"iss\":%u", ev->iss);
	else
		us_buf_put(b, ",\"iss\":null");
	if (ev->has_irs)
		us_buf_put(b, ",\"irs\":%u", ev->irs);
	else
		us_buf_put(b, ",\"irs\":null");
}

int ustack_event_json(const struct ustack_event *ev, const char *host, char *out, size_t size)
{
	static const char *const types[] = {
		[USTACK_EV_SEG_IN] = "seg_in",
		[USTACK_EV_SEG_OUT] = "seg_out",
		[USTACK_EV_STATE] = "state",
		[USTACK_EV_DROP] = "drop",
	};
	struct us_buf b = { out, size, 0 };
	if (size)
		out[0] = 0;
	us_buf_put(&b, "{\"t\":%llu.%09llu,\"host\":", (unsigned long long)(ev->time / 1000000000u),
	    (unsigned long long)(ev->time % 1000000000u));
	if (host) {
		put_str(&b, host);
	} else {
		uint32_t a = ev->stack ? ustack_addr(ev->stack) : ev->laddr;
		us_buf_put(&b, "\"%u.%u.%u.%u\"", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	}
	unsigned type = (unsigned)ev->type;
	us_buf_put(&b, ",\"type\":\"%s\"", type < sizeof(types) / sizeof(types[0]) ? types[type] : "unknown");
	switch (ev->type) {
	case USTACK_EV_SEG_IN:
	case USTACK_EV_SEG_OUT:
		if (ev->seg)
			put_segment(&b, ev);
		break;
	case USTACK_EV_STATE:
		put_addr(&b, "local", ev->laddr, ev->lport);
		if (ev->rport)
			put_addr(&b, "remote", ev->raddr, ev->rport);
		else
			us_buf_put(&b, ",\"remote\":\"*:*\"");
		us_buf_put(&b, ",\"from\":\"%s\",\"to\":\"%s\",\"cause\":", ustack_tcp_state_name(ev->old_state),
		    ustack_tcp_state_name(ev->new_state));
		put_str(&b, ev->cause ? ev->cause : "");
		break;
	case USTACK_EV_DROP:
		us_buf_put(&b, ",\"reason\":");
		put_str(&b, ustack_stat_name(ev->drop));
		if (ev->seg)
			put_segment(&b, ev);
		break;
	}
	us_buf_put(&b, "}");
	return (int)b.len;
}
