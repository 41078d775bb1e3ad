/*
 * A reader for the JSON-lines trace format (docs/TRACE-FORMAT.md), the
 * files --trace-json and ustack-demo write: a small strict parser of exactly
 * those objects, with no library behind it.
 *
 * Strict means a line is refused, with its line and column, when it is not
 * one JSON object, when a field the format defines is missing, of the wrong
 * type or out of range (a port above 65535, a flag name TCP does not have,
 * an unknown state), when a field appears twice, or when it carries a field
 * of another event type (a "seq" in a state event). Fields the format does
 * not define are skipped, as the format asks of readers, but must still be
 * valid JSON. Empty lines are refused too: every line is an event.
 *
 * Use:
 *
 *	struct jsonl_reader r;
 *	struct jsonl_event ev;
 *	if (jsonl_open(&r, "trace.jsonl") < 0) { fprintf(stderr, "%s\n", r.err); ... }
 *	int n;
 *	while ((n = jsonl_next(&r, &ev)) > 0)
 *		... ev.type, ev.t, ev.seg.seq ...
 *	if (n < 0)
 *		fprintf(stderr, "%s\n", r.err);   // "trace.jsonl:12:40: expected ',' or '}'"
 *	jsonl_close(&r);
 */
#ifndef USTACK_TOOLS_JSONL_H
#define USTACK_TOOLS_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ustack/trace.h>
#include <ustack/ustack.h>

/* Room for the strings of an event, with their NUL; longer ones are refused. */
#define JSONL_TEXT_MAX 128
/* Lines longer than this are refused (a valid one is under 1 KiB). */
#define JSONL_LINE_MAX 65536

/* One event, as read. Only the fields of its type are meaningful; the rest
 * are zero. */
struct jsonl_event {
	ustack_time_t t; /* "t", in nanoseconds: the 9 decimals are exact */
	char host[JSONL_TEXT_MAX];
	enum ustack_event_type type;

	/* seg_in, seg_out, and drop when has_seg. seg.opt.present says which
	 * options "opts" held; urgent is always 0 (the format omits it). */
	bool has_seg;
	struct ustack_tcp_segment seg;
	bool has_iss, has_irs; /* false for null */
	uint32_t iss, irs;

	/* state: remote "*:*" (a listener) reads as raddr 0, rport 0. */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	enum ustack_tcp_state from, to;
	char cause[JSONL_TEXT_MAX];

	/* drop: the counter's name, and its number in this build
	 * (USTACK_STAT__COUNT for a name a later version added). */
	char reason[JSONL_TEXT_MAX];
	enum ustack_stat drop;
};

/*
 * Parses one line, without its newline. Returns 0, or -EINVAL with a
 * message ("column 12: ...") in err.
 */
int jsonl_parse(const char *line, size_t len, struct jsonl_event *ev, char *err, size_t errsize);

/*
 * The event as the stack would have delivered it, for ustack_event_format
 * and ustack_event_json: out->seg and out->cause point into `in`, which must
 * outlive `out`; out->stack is NULL and out->fd -1. For a segment event,
 * laddr/raddr are taken from the segment's direction.
 */
void jsonl_to_event(const struct jsonl_event *in, struct ustack_event *out);

struct jsonl_reader {
	FILE *f;
	bool own; /* opened by jsonl_open: closed by jsonl_close */
	char name[256];
	unsigned long line; /* of the last line read, from 1 */
	char *buf;
	size_t cap;
	char err[768]; /* "NAME:LINE:COLUMN: what is wrong", after a failure */
};

/* Opens a file ("-" is standard input). 0, or a negative errno with err set. */
int jsonl_open(struct jsonl_reader *r, const char *path);
/* Reads from a stream the caller owns; name is for messages. */
void jsonl_init(struct jsonl_reader *r, FILE *f, const char *name);
/*
 * The next event: 1 and *ev filled, 0 at the end of the file, -EINVAL for a
 * malformed line, or the negative errno of a read error (err says which
 * line and why in both cases). Reading on after an error is allowed: it
 * continues with the next line.
 */
int jsonl_next(struct jsonl_reader *r, struct jsonl_event *ev);
void jsonl_close(struct jsonl_reader *r);

#endif
