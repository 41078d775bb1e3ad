/*
 * ustack-diagram: the sequence diagram of one TCP connection, as SVG or as
 * text, from a JSON-lines trace of ustack (docs/TRACE-FORMAT.md) or from a
 * pcap capture of any stack.
 *
 *   ustack-diagram trace.jsonl                 text on standard output
 *   ustack-diagram -o conn.svg demo.pcap       SVG, chosen by the extension
 *   tcpdump -w - -U port 80 | ustack-diagram --port 80 -
 *
 * A trace says when each segment left and when it arrived, and each stack's
 * own state changes. A capture has one vantage point, so each segment has
 * one time, and the states are inferred from the segments (RFC 9293) and
 * marked so. The drawing is tools/lib/diagram.h's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/diagram.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ustack-diagram [options] FILE\n"
		"The sequence diagram of a TCP connection, from a JSON-lines trace (docs/TRACE-FORMAT.md)\n"
		"or a pcap capture (RAW, IPV4, ETHERNET or LINUX_SLL links). FILE - is standard input.\n"
		"  -o FILE      write the diagram there (default: standard output)\n"
		"  --svg        SVG (the default when -o names a .svg file)\n"
		"  --text       text (the default otherwise)\n"
		"  --utf8       text drawn with box-drawing characters instead of ASCII\n"
		"  --conn N     the N-th connection of the input, counting from 1 (default: 1)\n"
		"  --port P     the first connection with an endpoint on port P\n"
		"  --list       list the connections and exit\n"
		"  --absolute   sequence numbers as on the wire, not relative to each side's ISN\n"
		"  --help       this text\n");
}

static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!f)
		return -errno;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int r = 0;
	while (buf) {
		if (n == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!buf)
		r = -ENOMEM;
	else if (ferror(f))
		r = -EIO;
	if (f != stdin)
		fclose(f);
	if (r) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = n;
	return 0;
}

static bool is_pcap(const char *buf, size_t len)
{
	static const uint32_t magics[] = { 0xa1b2c3d4u, 0xa1b23c4du, 0xd4c3b2a1u, 0x4d3cb2a1u };
	uint32_t m;
	if (len < 4)
		return false;
	memcpy(&m, buf, 4);
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (m == magics[i])
			return true;
	return false;
}

static int load(struct diagram_trace *tr, const char *path, char *err, size_t errsize)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_all(path, &buf, &len);
	if (r) {
		snprintf(err, errsize, "%s: %s", path, strerror(-r));
		return r;
	}
	if (is_pcap(buf, len)) {
		char why[256];
		r = diagram_trace_read_pcap(tr, buf, len, why, sizeof(why));
		if (r)
			snprintf(err, errsize, "%s: %s", path, why);
	} else {
		FILE *f = len ? fmemopen(buf, len, "r") : NULL;
		if (f) {
			r = diagram_trace_read_jsonl(tr, f, path, err, errsize);
			fclose(f);
		} else if (len) {
			r = -errno;
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
		}
	}
	free(buf);
	return r;
}

static void list(const struct diagram_trace *tr)
{
	size_t n = diagram_trace_conns(tr, NULL, 0);
	struct diagram_conn *c = calloc(n + 1, sizeof(*c));
	if (!c)
		return;
	diagram_trace_conns(tr, c, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t a = c[i].a.addr, b = c[i].b.addr;
		printf("%zu  %u.%u.%u.%u:%u  %u.%u.%u.%u:%u  %zu events\n", i + 1, a >> 24, (a >> 16) & 255,
		       (a >> 8) & 255, a & 255, c[i].a.port, b >> 24, (b >> 16) & 255, (b >> 8) & 255,
		       b & 255, c[i].b.port, c[i].nevents);
	}
	free(c);
}

static bool parse_num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > max || v == 0)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	int format = 0; /* 1 text, 2 SVG, 0 by the output's name */
	bool do_list = false;
	struct diagram_opts o = { 0 };
	struct diagram_select sel = { 0 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		unsigned long v;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "-o") && i + 1 < argc) {
			out = argv[++i];
		} else if (!strcmp(a, "--svg")) {
			format = 2;
		} else if (!strcmp(a, "--text")) {
			format = 1;
		} else if (!strcmp(a, "--utf8")) {
			o.utf8 = true;
		} else if (!strcmp(a, "--absolute")) {
			o.absolute = true;
		} else if (!strcmp(a, "--list")) {
			do_list = true;
		} else if (!strcmp(a, "--conn") && i + 1 < argc) {
			if (!parse_num(argv[++i], 1000000000ul, &v)) {
				fprintf(stderr, "ustack-diagram: --conn takes a number from 1, not '%s'\n",
					argv[i]);
				return 2;
			}
			sel.index = v - 1;
		} else if (!strcmp(a, "--port") && i + 1 < argc) {
			if (!parse_num(argv[++i], 65535, &v)) {
				fprintf(stderr,
					"ustack-diagram: --port takes a port from 1 to 65535, not '%s'\n",
					argv[i]);
				return 2;
			}
			sel.port = (uint16_t)v;
		} else if ((a[0] != '-' || !strcmp(a, "-")) && !in) {
			in = a;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!in) {
		usage(stderr);
		return 2;
	}

	char err[512];
	struct diagram_trace tr;
	diagram_trace_init(&tr);
	if (load(&tr, in, err, sizeof(err))) {
		fprintf(stderr, "ustack-diagram: %s\n", err);
		diagram_trace_free(&tr);
		return 1;
	}
	if (do_list) {
		list(&tr);
		diagram_trace_free(&tr);
		return 0;
	}
	struct diagram d;
	if (diagram_build(&d, &tr, &sel, err, sizeof(err))) {
		fprintf(stderr, "ustack-diagram: %s: %s\n", in, err);
		diagram_trace_free(&tr);
		return 1;
	}
	diagram_trace_free(&tr);
	if (!format) {
		size_t n = out ? strlen(out) : 0;
		format = n >= 4 && !strcmp(out + n - 4, ".svg") ? 2 : 1;
	}
	FILE *f = out ? fopen(out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "ustack-diagram: %s: %s\n", out, strerror(errno));
		diagram_free(&d);
		return 1;
	}
	int r = format == 2 ? diagram_write_svg(&d, &o, f) : diagram_write_text(&d, &o, f);
	if ((f != stdout ? fclose(f) : fflush(f)) && !r)
		r = -EIO;
	diagram_free(&d);
	if (r) {
		fprintf(stderr, "ustack-diagram: %s: %s\n", out ? out : "standard output", strerror(-r));
		return 1;
	}
	return 0;
}
