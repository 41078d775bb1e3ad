/*
 * A JSON-lines trace (docs/TRACE-FORMAT.md) into a diagram trace, through
 * the strict reader in jsonl.h: the adapter only maps one event type onto
 * the other.
 */
#include "diagram.h"

#include <errno.h>
#include <string.h>

#include "jsonl.h"

/* Longer strings are cut: a name or a cause only labels the picture. */
static void copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void from_jsonl(const struct jsonl_event *j, struct diagram_event *e)
{
	memset(e, 0, sizeof(*e));
	e->t = j->t;
	copy_cut(e->host, sizeof(e->host), j->host);
	e->has_seg = j->has_seg;
	e->seg = j->seg;
	e->has_iss = j->has_iss;
	e->has_irs = j->has_irs;
	e->iss = j->iss;
	e->irs = j->irs;
	e->laddr = j->laddr;
	e->raddr = j->raddr;
	e->lport = j->lport;
	e->rport = j->rport;
	e->from = j->from;
	e->to = j->to;
	copy_cut(e->cause, sizeof(e->cause), j->cause);
	copy_cut(e->reason, sizeof(e->reason), j->reason);
	switch (j->type) {
	case USTACK_EV_SEG_OUT:
		e->kind = DIAGRAM_EV_SEG_OUT;
		break;
	case USTACK_EV_SEG_IN:
		e->kind = DIAGRAM_EV_SEG_IN;
		break;
	case USTACK_EV_STATE:
		e->kind = DIAGRAM_EV_STATE;
		break;
	default:
		e->kind = DIAGRAM_EV_DROP;
		break;
	}
}

int diagram_trace_read_jsonl(struct diagram_trace *tr, FILE *f, const char *name, char *err, size_t errsize)
{
	struct jsonl_reader r;
	jsonl_init(&r, f, name);
	struct jsonl_event j;
	int n;
	while ((n = jsonl_next(&r, &j)) > 0) {
		/* Drops that did not parse as TCP belong to no connection. */
		if (j.type == USTACK_EV_DROP && !j.has_seg)
			continue;
		struct diagram_event e;
		from_jsonl(&j, &e);
		if (diagram_trace_add(tr, &e)) {
			snprintf(err, errsize, "%s: out of memory", name);
			n = -ENOMEM;
			break;
		}
	}
	if (n < 0 && n != -ENOMEM)
		snprintf(err, errsize, "%s", r.err);
	jsonl_close(&r);
	return n < 0 ? n : 0;
}
