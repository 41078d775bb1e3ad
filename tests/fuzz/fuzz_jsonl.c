/*
 * libFuzzer target: the JSON-lines trace reader (tools/lib/jsonl.c), as
 * ustack-diagram and the tests use it: line by line through a stream, and
 * into a diagram. What the reader accepts must go back out: the event
 * written again by the stack's own writer (ustack_event_json) must read
 * back to the same event, so reader and writer agree on the format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/diagram.h"
#include "lib/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void)
{
	static FILE *f;
	if (!f && !(f = fopen("/dev/null", "w")))
		abort();
	return f;
}

static bool same_seg(const struct ustack_tcp_segment *a, const struct ustack_tcp_segment *b)
{
	return a->saddr == b->saddr && a->daddr == b->daddr && a->sport == b->sport && a->dport == b->dport &&
	       a->seq == b->seq && a->ack == b->ack && a->flags == b->flags && a->window == b->window &&
	       a->len == b->len && a->opt.present == b->opt.present;
}

/* Writes ev again and reads it back: the same event, or abort. */
static void round_trip(const struct jsonl_event *ev)
{
	static struct jsonl_event again;
	struct ustack_event out;
	char line[USTACK_EVENT_JSON_MAX + 512], err[256];
	/* A counter a later version added reads fine (jsonl.h) but this
	 * build's writer cannot name it: nothing to compare. */
	if (ev->type == USTACK_EV_DROP && ev->drop == USTACK_STAT__COUNT)
		return;
	jsonl_to_event(ev, &out);
	int n = ustack_event_json(&out, ev->host, line, sizeof(line));
	if (n < 0 || (size_t)n >= sizeof(line))
		return; /* a host name past what the writer promises room for */
	if (jsonl_parse(line, (size_t)n, &again, err, sizeof(err)) != 0) {
		fprintf(stderr, "written event does not read back: %s\n%s\n", err, line);
		abort();
	}
	if (again.type != ev->type || again.t != ev->t || strcmp(again.host, ev->host) != 0 ||
	    again.has_seg != ev->has_seg || (ev->has_seg && !same_seg(&again.seg, &ev->seg))) {
		fprintf(stderr, "event changed on the way back:\n%s\n", line);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The stream reader, line by line, on after errors as it allows. */
	FILE *f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	struct jsonl_reader r;
	struct jsonl_event ev;
	jsonl_init(&r, f, "fuzz");
	int n, lines = 0;
	while ((n = jsonl_next(&r, &ev)) != 0 && lines++ < 1000) {
		if (n > 0)
			round_trip(&ev);
		char text[512];
		struct ustack_event out;
		if (n > 0) {
			jsonl_to_event(&ev, &out);
			ustack_event_format(&out, 0, text, sizeof(text));
		}
	}
	jsonl_close(&r);
	fclose(f);

	/* The same bytes as ustack-diagram reads them. */
	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	struct diagram_trace tr;
	char err[768];
	diagram_trace_init(&tr);
	if (diagram_trace_read_jsonl(&tr, f, "fuzz", err, sizeof(err)) == 0) {
		struct diagram d;
		if (diagram_build(&d, &tr, NULL, err, sizeof(err)) == 0) {
			diagram_write_text(&d, NULL, sink());
			diagram_write_svg(&d, NULL, sink());
			diagram_free(&d);
		}
	}
	diagram_trace_free(&tr);
	fclose(f);
	return 0;
}
