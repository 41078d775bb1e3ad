/*
 * libFuzzer target: the pcap reader of ustack-diagram
 * (tools/lib/diagram_pcap.c), and what the tool does next with whatever it
 * read: pick a connection, build its diagram (states inferred from the
 * segments) and draw it as text and as SVG. Every byte of a capture comes
 * from outside, so none of that may misbehave on any input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib/diagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink(void)
{
	static FILE *f;
	if (!f && !(f = fopen("/dev/null", "w")))
		abort();
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diagram_trace tr;
	char err[256];
	diagram_trace_init(&tr);
	if (diagram_trace_read_pcap(&tr, data, size, err, sizeof(err)) == 0) {
		struct diagram_conn conns[4];
		size_t n = diagram_trace_conns(&tr, conns, 4);
		/* The last connection too, with absolute numbers: another path. */
		struct diagram_select sel = { .index = n ? n - 1 : 0 };
		struct diagram d;
		if (diagram_build(&d, &tr, NULL, err, sizeof(err)) == 0) {
			diagram_write_text(&d, NULL, sink());
			diagram_write_svg(&d, NULL, sink());
			diagram_free(&d);
		}
		struct diagram_opts o = { .absolute = true, .utf8 = true };
		if (n > 1 && diagram_build(&d, &tr, &sel, err, sizeof(err)) == 0) {
			diagram_write_text(&d, &o, sink());
			diagram_free(&d);
		}
	}
	diagram_trace_free(&tr);
	return 0;
}
