/*
 * The JSON-lines trace: ustack_event_json writes exactly what
 * docs/TRACE-FORMAT.md shows, and the reader in tools/lib/jsonl.c reads it
 * back to the same values, refusing every malformed line with its line and
 * column. A whole run on the simulator goes through both.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/socket.h>
#include <ustack/trace.h>

#include "lib/jsonl.h"
#include "tcapture.h"

#define A_CLIENT 0xC6120001u
#define A_SERVER 0xC6120002u

/* The two lines of docs/TRACE-FORMAT.md's example, verbatim. */
static const char doc_state[] =
    "{\"t\":0.000000000,\"host\":\"client\",\"type\":\"state\",\"local\":\"198.18.0.1:46029\","
    "\"remote\":\"198.18.0.2:9999\",\"from\":\"CLOSED\",\"to\":\"SYN_SENT\",\"cause\":\"connect\"}";
static const char doc_syn[] =
    "{\"t\":0.000000000,\"host\":\"client\",\"type\":\"seg_out\",\"src\":\"198.18.0.1:46029\","
    "\"dst\":\"198.18.0.2:9999\",\"flags\":\"SYN\",\"seq\":2371849210,\"ack\":0,\"win\":64240,\"len\":0,"
    "\"opts\":{\"mss\":1460,\"wscale\":7},\"iss\":2371849210,\"irs\":null}";

static struct ustack_tcp_segment syn_seg(void)
{
	struct ustack_tcp_segment s = { .saddr = A_CLIENT,
					.daddr = A_SERVER,
					.sport = 46029,
					.dport = 9999,
					.seq = 2371849210u,
					.window = 64240,
					.flags = USTACK_TCP_SYN };
	s.opt.present = USTACK_OPT_MSS | USTACK_OPT_WSCALE;
	s.opt.mss = 1460;
	s.opt.wscale = 7;
	return s;
}

/* Field by field: structures have padding memcmp would read. */
static bool seg_eq(const struct ustack_tcp_segment *a, const struct ustack_tcp_segment *b)
{
	const struct ustack_tcp_options *x = &a->opt, *y = &b->opt;
	if (a->saddr != b->saddr || a->daddr != b->daddr || a->sport != b->sport || a->dport != b->dport ||
	    a->seq != b->seq || a->ack != b->ack || a->window != b->window || a->flags != b->flags ||
	    a->len != b->len)
		return false;
	if (x->present != y->present)
		return false;
	if ((x->present & USTACK_OPT_MSS) && x->mss != y->mss)
		return false;
	if ((x->present & USTACK_OPT_WSCALE) && x->wscale != y->wscale)
		return false;
	if ((x->present & USTACK_OPT_TS) && (x->ts_val != y->ts_val || x->ts_ecr != y->ts_ecr))
		return false;
	if (x->present & USTACK_OPT_SACK) {
		if (x->nsack != y->nsack)
			return false;
		for (int i = 0; i < x->nsack && i < 4; i++)
			if (x->sack[i].left != y->sack[i].left || x->sack[i].right != y->sack[i].right)
				return false;
	}
	return true;
}

static char *json(const struct ustack_event *ev, const char *host)
{
	static char buf[USTACK_EVENT_JSON_MAX];
	int n = ustack_event_json(ev, host, buf, sizeof(buf));
	cr_assert_gt(n, 0);
	cr_assert_lt((size_t)n, sizeof(buf));
	cr_assert_eq(strlen(buf), (size_t)n);
	return buf;
}

/* ---- writing ---- */

Test(trace_json, the_documents_example)
{
	struct ustack_event st = { .type = USTACK_EV_STATE,
				   .laddr = A_CLIENT,
				   .raddr = A_SERVER,
				   .lport = 46029,
				   .rport = 9999,
				   .old_state = USTACK_TCP_CLOSED,
				   .new_state = USTACK_TCP_SYN_SENT,
				   .cause = "connect",
				   .fd = 3 };
	cr_expect_str_eq(json(&st, "client"), doc_state);
	struct ustack_tcp_segment s = syn_seg();
	struct ustack_event out = {
		.type = USTACK_EV_SEG_OUT, .seg = &s, .iss = 2371849210u, .has_iss = true
	};
	cr_expect_str_eq(json(&out, "client"), doc_syn);
}

Test(trace_json, time_has_nine_decimals)
{
	struct ustack_event ev = { .type = USTACK_EV_STATE,
				   .time = USTACK_SEC(61) + 45000001,
				   .laddr = A_CLIENT,
				   .lport = 80,
				   .new_state = USTACK_TCP_LISTEN,
				   .cause = "listen" };
	cr_expect_str_eq(json(&ev, "s"),
			 "{\"t\":61.045000001,\"host\":\"s\",\"type\":\"state\",\"local\":\"198.18.0.1:80\","
			 "\"remote\":\"*:*\",\"from\":\"CLOSED\",\"to\":\"LISTEN\",\"cause\":\"listen\"}");
}

Test(trace_json, every_option_and_both_isns)
{
	struct ustack_tcp_segment s = { .saddr = A_SERVER,
					.daddr = A_CLIENT,
					.sport = 1,
					.dport = 65535,
					.seq = 4294967295u,
					.ack = 7,
					.window = 65535,
					.len = 1448,
					.flags = USTACK_TCP_ACK | USTACK_TCP_PSH | USTACK_TCP_ECE |
						 USTACK_TCP_CWR };
	s.opt.present =
	    USTACK_OPT_MSS | USTACK_OPT_WSCALE | USTACK_OPT_SACK_PERM | USTACK_OPT_TS | USTACK_OPT_SACK;
	s.opt.mss = 536;
	s.opt.wscale = 14;
	s.opt.ts_val = 1;
	s.opt.ts_ecr = 4294967295u;
	s.opt.nsack = 2;
	s.opt.sack[0].left = 10;
	s.opt.sack[0].right = 20;
	s.opt.sack[1].left = 30;
	s.opt.sack[1].right = 40;
	struct ustack_event ev = { .type = USTACK_EV_SEG_IN,
				   .time = 1,
				   .seg = &s,
				   .iss = 5,
				   .irs = 6,
				   .has_iss = true,
				   .has_irs = true };
	cr_expect_str_eq(
	    json(&ev, "server"),
	    "{\"t\":0.000000001,\"host\":\"server\",\"type\":\"seg_in\",\"src\":\"198.18.0.2:1\","
	    "\"dst\":\"198.18.0.1:65535\",\"flags\":\"PSH,ACK,ECE,CWR\",\"seq\":4294967295,\"ack\":7,"
	    "\"win\":65535,\"len\":1448,\"opts\":{\"mss\":536,\"wscale\":14,\"sackOK\":true,"
	    "\"ts\":[1,4294967295],\"sack\":[[10,20],[30,40]]},\"iss\":5,\"irs\":6}");
}

Test(trace_json, no_options_no_flags)
{
	struct ustack_tcp_segment s = { .saddr = A_SERVER, .daddr = A_CLIENT, .sport = 2, .dport = 3 };
	struct ustack_event ev = { .type = USTACK_EV_SEG_OUT, .seg = &s };
	cr_expect_str_eq(json(&ev, "x"),
			 "{\"t\":0.000000000,\"host\":\"x\",\"type\":\"seg_out\",\"src\":"
			 "\"198.18.0.2:2\",\"dst\":\"198.18.0.1:3\",\"flags\":\".\",\"seq\":0,\"ack\":0,"
			 "\"win\":0,\"len\":0,\"opts\":{},\"iss\":null,\"irs\":null}");
}

Test(trace_json, drops_with_and_without_a_segment)
{
	struct ustack_event ev = { .type = USTACK_EV_DROP,
				   .time = USTACK_SEC(2),
				   .drop = USTACK_STAT_DROP_IP_CHECKSUM };
	cr_expect_str_eq(json(&ev, "server"), "{\"t\":2.000000000,\"host\":\"server\",\"type\":\"drop\","
					      "\"reason\":\"drop.ip.checksum\"}");
	struct ustack_tcp_segment s = { .saddr = A_CLIENT,
					.daddr = A_SERVER,
					.sport = 5,
					.dport = 6,
					.seq = 9,
					.flags = USTACK_TCP_RST };
	ev.drop = USTACK_STAT_DROP_TCP_NO_SOCKET;
	ev.seg = &s;
	cr_expect_str_eq(
	    json(&ev, "server"),
	    "{\"t\":2.000000000,\"host\":\"server\",\"type\":\"drop\",\"reason\":\"drop.tcp.no_socket\","
	    "\"src\":\"198.18.0.1:5\",\"dst\":\"198.18.0.2:6\",\"flags\":\"RST\",\"seq\":9,\"ack\":0,"
	    "\"win\":0,\"len\":0,\"opts\":{},\"iss\":null,\"irs\":null}");
}

Test(trace_json, strings_are_escaped_and_a_missing_host_is_the_address)
{
	struct ustack_event ev = { .type = USTACK_EV_STATE,
				   .laddr = A_SERVER,
				   .lport = 1,
				   .new_state = USTACK_TCP_LISTEN,
				   .cause = "a \"b\"\\\n\x01" };
	const char *line = json(&ev, "h\"\t");
	cr_expect(strstr(line, "\"host\":\"h\\\"\\t\""), "%s", line);
	cr_expect(strstr(line, "\"cause\":\"a \\\"b\\\"\\\\\\n\\u0001\"}"), "%s", line);
	line = json(&ev, NULL);
	cr_expect(strstr(line, "\"host\":\"198.18.0.2\""), "no stack, no name: the local address; %s", line);
}

Test(trace_json, truncates_as_snprintf)
{
	struct ustack_tcp_segment s = syn_seg();
	struct ustack_event out = {
		.type = USTACK_EV_SEG_OUT, .seg = &s, .iss = 2371849210u, .has_iss = true
	};
	char small[20];
	memset(small, 'x', sizeof(small));
	int n = ustack_event_json(&out, "client", small, sizeof(small));
	cr_expect_eq(n, (int)strlen(doc_syn), "the length it wanted");
	cr_expect_eq(small[19], 0);
	cr_expect_eq(strncmp(small, doc_syn, 19), 0);
	cr_expect_eq(ustack_event_json(&out, "client", NULL, 0), n);
}

Test(trace_json, worst_case_fits_the_documented_maximum)
{
	struct ustack_tcp_segment s = { .saddr = 0xffffffffu,
					.daddr = 0xffffffffu,
					.sport = 65535,
					.dport = 65535,
					.seq = 4294967295u,
					.ack = 4294967295u,
					.window = 65535,
					.len = 4294967295u,
					.flags = 0xff };
	s.opt.present = 0x1f;
	s.opt.mss = 65535;
	s.opt.wscale = 255;
	s.opt.ts_val = s.opt.ts_ecr = 4294967295u;
	s.opt.nsack = 4;
	for (int i = 0; i < 4; i++)
		s.opt.sack[i].left = s.opt.sack[i].right = 4294967295u;
	struct ustack_event ev = { .type = USTACK_EV_DROP,
				   .time = UINT64_MAX,
				   .seg = &s,
				   .iss = 4294967295u,
				   .irs = 4294967295u,
				   .has_iss = true,
				   .has_irs = true,
				   .drop = USTACK_STAT_DROP_TCP_DOFF_PAST_END };
	char host[65];
	memset(host, 1, 64); /* each byte escapes to six */
	host[64] = 0;
	cr_expect_lt(ustack_event_json(&ev, host, NULL, 0), USTACK_EVENT_JSON_MAX);
}

/* ---- reading ---- */

static int parse(const char *line, struct jsonl_event *ev, char *err, size_t errsize)
{
	return jsonl_parse(line, strlen(line), ev, err, errsize);
}

Test(jsonl_read, the_documents_example)
{
	struct jsonl_event ev;
	char err[256];
	cr_assert_eq(parse(doc_syn, &ev, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ev.type, USTACK_EV_SEG_OUT);
	cr_expect_eq(ev.t, 0);
	cr_expect_str_eq(ev.host, "client");
	cr_expect(ev.has_seg);
	struct ustack_tcp_segment want = syn_seg();
	cr_expect(seg_eq(&ev.seg, &want), "every segment field, options included");
	cr_expect(ev.has_iss);
	cr_expect_eq(ev.iss, 2371849210u);
	cr_expect_not(ev.has_irs);

	cr_assert_eq(parse(doc_state, &ev, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ev.type, USTACK_EV_STATE);
	cr_expect_eq(ev.laddr, A_CLIENT);
	cr_expect_eq(ev.lport, 46029);
	cr_expect_eq(ev.raddr, A_SERVER);
	cr_expect_eq(ev.rport, 9999);
	cr_expect_eq(ev.from, USTACK_TCP_CLOSED);
	cr_expect_eq(ev.to, USTACK_TCP_SYN_SENT);
	cr_expect_str_eq(ev.cause, "connect");
	cr_expect_not(ev.has_seg);
}

Test(jsonl_read, lenient_where_the_format_says_so)
{
	struct jsonl_event ev;
	char err[256];
	/* Any key order, spaces, fields it does not know (any JSON), unknown
	 * options, escapes, and a drop counter a later version added. */
	const char *line =
	    " { \"reason\" : \"drop.future.thing\", \"new\": {\"a\":[1,2.5e-3,true,null,\"x\"]}, "
	    "\"type\":\"drop\", \"host\":\"\\u00e9\\ud83d\\ude00\\/\", \"t\": 12.5 }\r";
	cr_assert_eq(parse(line, &ev, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ev.type, USTACK_EV_DROP);
	cr_expect_eq(ev.t, USTACK_MSEC(12500));
	cr_expect_str_eq(ev.host, "\xc3\xa9\xf0\x9f\x98\x80/");
	cr_expect_str_eq(ev.reason, "drop.future.thing");
	cr_expect_eq(ev.drop, USTACK_STAT__COUNT, "a name this build does not know");
	cr_expect_not(ev.has_seg);

	line = "{\"t\":1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.tcp.no_socket\"}";
	cr_assert_eq(parse(line, &ev, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ev.drop, USTACK_STAT_DROP_TCP_NO_SOCKET);
	cr_expect_eq(ev.t, USTACK_SEC(1));

	line = "{\"t\":0,\"host\":\"h\",\"type\":\"seg_in\",\"src\":\"1.2.3.4:5\",\"dst\":\"0.0.0.0:0\","
	       "\"flags\":\"ACK,SYN\",\"seq\":0,\"ack\":4294967295,\"win\":0,\"len\":0,"
	       "\"opts\":{\"sack\":[],\"exp\":[254,[1]]},\"iss\":null,\"irs\":3}";
	cr_assert_eq(parse(line, &ev, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(ev.seg.flags, USTACK_TCP_SYN | USTACK_TCP_ACK);
	cr_expect_eq(ev.seg.saddr, 0x01020304u);
	cr_expect_eq(ev.seg.ack, 4294967295u);
	cr_expect_eq(ev.seg.opt.present, USTACK_OPT_SACK);
	cr_expect_eq(ev.seg.opt.nsack, 0);
	cr_expect(ev.has_irs);
	cr_expect_eq(ev.irs, 3);
}

/* A line, and what the error must say (with its column). */
static const struct {
	const char *line, *err;
} bad[] = {
	{ "", "column 1: empty line" },
	{ "   ", "empty line" },
	{ "[1]", "column 1: expected '{'" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"} x",
	  "column 52: text after the object" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"", "expected ',' or '}'" },
	{ "{\"t\":1 \"host\":\"h\"}", "column 8: expected ',' or '}'" },
	{ "{t:1}", "column 2: expected a key in quotes" },
	{ "{\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}", "missing field \"t\"" },
	{ "{\"t\":1,\"type\":\"drop\",\"reason\":\"drop.x\"}", "missing field \"host\"" },
	{ "{\"t\":1,\"host\":\"h\"}", "missing field \"type\"" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"ping\"}", "column 26: unknown event type \"ping\"" },
	{ "{\"t\":1,\"t\":2,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}",
	  "column 8: field \"t\" appears twice" },
	{ "{\"t\":-1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}",
	  "\"t\" must not be negative" },
	{ "{\"t\":1.0000000001,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}",
	  "more than 9 decimals" },
	{ "{\"t\":1e3,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}", "without an exponent" },
	{ "{\"t\":01,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}", "leading zero" },
	{ "{\"t\":1.,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}", "a digit must follow '.'" },
	{ "{\"t\":\"1\",\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\"}", "\"t\" must be a number" },
	{ "{\"t\":1,\"host\":7,\"type\":\"drop\",\"reason\":\"drop.x\"}", "\"host\" must be a string" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"ip.in\"}", "must name a drop counter" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"drop\",\"reason\":\"drop.x\",\"seq\":1}",
	  "missing field \"src\" in a drop" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"state\",\"local\":\"1.2.3.4:5\",\"remote\":\"*:*\","
	  "\"from\":\"LISTEN\",\"to\":\"CLOSED\",\"cause\":\"c\",\"seq\":1}",
	  "field \"seq\" does not belong in a state event" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"state\",\"local\":\"1.2.3.4:5\",\"remote\":\"*:*\","
	  "\"from\":\"LISTEN\",\"to\":\"ESTAB\",\"cause\":\"c\"}",
	  "\"to\": unknown state \"ESTAB\"" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"state\",\"local\":\"*:*\",\"remote\":\"*:*\","
	  "\"from\":\"LISTEN\",\"to\":\"CLOSED\",\"cause\":\"c\"}",
	  "\"local\" is not \"A.B.C.D:port\"" },
	{ "{\"t\":1,\"host\":\"h\",\"type\":\"state\",\"local\":\"1.2.3.4:5\",\"from\":\"LISTEN\","
	  "\"to\":\"CLOSED\",\"cause\":\"c\"}",
	  "missing field \"remote\" in a state event" },
	{ "{\"t\":1,\"host\":\"\\q\"}", "unknown escape" },
	{ "{\"t\":1,\"host\":\"\t\"}", "control character" },
	{ "{\"t\":1,\"host\":\"abc", "unterminated string" },
	{ "{\"t\":1,\"host\":\"\\ud800x\"}", "a high surrogate \\ud800 alone" },
	{ "{\"t\":1,\"host\":\"\\udc00\"}", "a low surrogate" },
	{ "{\"t\":1,\"host\":\"\\u0000\"}", "\\u0000" },
	{ "{\"t\":1,\"host\":\"\\u12g4\"}", "bad hex digit" },
	{ "{\"t\":1,\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	  "nested more than" },
	{ "{\"t\":1,\"x\":tru}", "expected a JSON value" },
	{ "{\"t\":1,\"x\":[1,]}", "expected a JSON value" },
	{ "{\"t\":1,\"x\":-}", "malformed number" },
	{ "{\"t\":1,\"x\":{\"a\" 1}}", "expected ':' after a key" },
};

/* A seg_in line with one field replaced, for the segment checks. */
static const struct {
	const char *field, *value, *err;
} bad_seg[] = {
	{ "src", "\"1.2.3.256:5\"", "\"src\" is not \"A.B.C.D:port\"" },
	{ "src", "\"1.2.3.4:65536\"", "is not \"A.B.C.D:port\"" },
	{ "src", "\"1.2.3.4\"", "is not \"A.B.C.D:port\"" },
	{ "src", "\"1.2.3:4\"", "is not \"A.B.C.D:port\"" },
	{ "src", "\"01.2.3.4:5\"", "is not \"A.B.C.D:port\"" },
	{ "src", "\"1.2.3.4:5 \"", "is not \"A.B.C.D:port\"" },
	{ "dst", "16909060", "\"dst\" must be a string" },
	{ "flags", "\"SYN,FOO\"", "unknown flag \"FOO\"" },
	{ "flags", "\"SYN,SYN\"", "repeated flag \"SYN\"" },
	{ "flags", "\"\"", "unknown flag \"\"" },
	{ "flags", "\"SYN,\"", "unknown flag \"\"" },
	{ "flags", "18", "\"flags\" must be a string" },
	{ "seq", "4294967296", "\"seq\" is larger than 4294967295" },
	{ "seq", "-1", "\"seq\" must not be negative" },
	{ "seq", "1.5", "\"seq\" must be a whole number" },
	{ "seq", "1e2", "\"seq\" must be a whole number" },
	{ "ack", "null", "\"ack\" must be a number" },
	{ "win", "65536", "\"win\" is larger than 65535" },
	{ "len", "\"12\"", "\"len\" must be a number" },
	{ "opts", "[]", "an object for \"opts\"" },
	{ "opts", "{\"mss\":65536}", "\"mss\" is larger than 65535" },
	{ "opts", "{\"wscale\":256}", "\"wscale\" is larger than 255" },
	{ "opts", "{\"sackOK\":false}", "\"sackOK\" must be true" },
	{ "opts", "{\"ts\":[1]}", "expected ','" },
	{ "opts", "{\"ts\":[1,2,3]}", "expected ']' after a pair" },
	{ "opts", "{\"mss\":1,\"mss\":2}", "option \"mss\" appears twice" },
	{ "opts", "{\"sack\":[[1,2],[3,4],[5,6],[7,8],[9,10]]}", "more than 4 blocks" },
	{ "opts", "{\"sack\":[1,2]}", "expected '['" },
	{ "iss", "true", "\"iss\" must be a number" },
	{ "irs", "nul", "expected a JSON value" },
};

/* A seg_in line with `field` given `value`, or left out if value is NULL. */
static void seg_line(char *buf, size_t size, const char *field, const char *value)
{
	static const char *const names[] = { "src", "dst", "flags", "seq", "ack",
					     "win", "len", "opts",  "iss", "irs" };
	static const char *const good[] = {
		"\"1.2.3.4:5\"", "\"5.6.7.8:9\"", "\"SYN\"", "1", "0", "100", "0", "{}", "1", "null"
	};
	int n = snprintf(buf, size, "{\"t\":1,\"host\":\"h\",\"type\":\"seg_in\"");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		bool this = field && !strcmp(field, names[i]);
		if (this && !value)
			continue;
		n += snprintf(buf + n, size - (size_t)n, ",\"%s\":%s", names[i], this ? value : good[i]);
	}
	snprintf(buf + n, size - (size_t)n, "}");
}

Test(jsonl_read, refuses_malformed_lines_and_says_where)
{
	struct jsonl_event ev;
	char err[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(parse(bad[i].line, &ev, err, sizeof(err)), -EINVAL, "accepted: %s",
			     bad[i].line);
		cr_expect(strstr(err, bad[i].err), "for %s\n  the error was: %s\n  expected: %s",
			  bad[i].line, err, bad[i].err);
		cr_expect_eq(strncmp(err, "column ", 7), 0, "no column in: %s", err);
	}
	char line[512];
	seg_line(line, sizeof(line), NULL, NULL);
	cr_assert_eq(parse(line, &ev, err, sizeof(err)), 0, "the good segment line: %s", err);
	for (size_t i = 0; i < sizeof(bad_seg) / sizeof(bad_seg[0]); i++) {
		seg_line(line, sizeof(line), bad_seg[i].field, bad_seg[i].value);
		cr_expect_eq(parse(line, &ev, err, sizeof(err)), -EINVAL, "accepted: %s", line);
		cr_expect(strstr(err, bad_seg[i].err), "for %s\n  the error was: %s\n  expected: %s", line,
			  err, bad_seg[i].err);
	}
	/* Each segment field is required. */
	static const char *const names[] = { "src", "dst", "flags", "seq", "ack",
					     "win", "len", "opts",  "iss", "irs" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		seg_line(line, sizeof(line), names[i], NULL);
		char want[64];
		snprintf(want, sizeof(want), "missing field \"%s\" in a seg_in event", names[i]);
		cr_expect_eq(parse(line, &ev, err, sizeof(err)), -EINVAL, "accepted: %s", line);
		cr_expect(strstr(err, want), "for %s: %s", line, err);
	}
	/* An over-long string is refused, not cut. */
	char longhost[400];
	snprintf(line, sizeof(line), "{\"t\":1,\"host\":\"%s\",\"type\":\"drop\",\"reason\":\"drop.x\"}",
		 (memset(longhost, 'a', 200), longhost[200] = 0, longhost));
	cr_expect_eq(parse(line, &ev, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "string longer than 127 bytes"), "%s", err);
	/* A NUL inside the line is a byte like any other: refused. */
	static const char nul[] = "{\"t\":1\0}";
	cr_expect_eq(jsonl_parse(nul, sizeof(nul) - 1, &ev, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "byte 0x00"), "%s", err);
}

Test(jsonl_read, file_errors_name_the_line)
{
	char path[] = "/tmp/ustack-jsonl-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "%s\n%s\n", doc_state, doc_syn);
	fprintf(f, "{\"t\":1,\"host\":\"h\",\"type\":\"state\"}\n");
	fprintf(f, "%s", doc_state); /* no newline at the end: still a line */
	fclose(f);
	struct jsonl_reader r;
	struct jsonl_event ev;
	cr_assert_eq(jsonl_open(&r, path), 0);
	cr_expect_eq(jsonl_next(&r, &ev), 1);
	cr_expect_eq(ev.type, USTACK_EV_STATE);
	cr_expect_eq(jsonl_next(&r, &ev), 1);
	cr_expect_eq(ev.type, USTACK_EV_SEG_OUT);
	cr_expect_eq(jsonl_next(&r, &ev), -EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:3:34: missing field \"local\" in a state event", path);
	cr_expect_str_eq(r.err, want);
	cr_expect_eq(r.line, 3);
	cr_expect_eq(jsonl_next(&r, &ev), 1, "reading goes on after a bad line");
	cr_expect_eq(r.line, 4);
	cr_expect_eq(jsonl_next(&r, &ev), 0);
	jsonl_close(&r);
	unlink(path);
	cr_expect_eq(jsonl_open(&r, path), -ENOENT);
	cr_expect(strstr(r.err, path), "%s", r.err);
}

/* ---- a whole run ---- */

/*
 * The echo story on a lossy link, every event of both stacks written by the
 * hook: each line reads back to exactly the event that was traced, and
 * writing the event read gives the line again, byte for byte.
 */
Test(jsonl_read, a_run_reads_back_to_the_same_events)
{
	struct tcap c;
	struct ustack_link_params link = { .delay = USTACK_MSEC(3), .loss = 0.1, .duplicate = 0.05 };
	tcap_init(&c, 5, &link, 0);
	char why[128];
	cr_assert_eq(tcap_story(&c, 30000, 4000, USTACK_SEC(600), why, sizeof(why)), 0, "%s", why);
	/* And a connection refused, for drops and resets in the trace. */
	int fd = ustack_socket(c.client, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(1),
				  .sin_addr.s_addr = htonl(TCAP_SERVER) };
	cr_assert_eq(ustack_connect(c.client, fd, (struct sockaddr *)&to, sizeof(to)), -EINPROGRESS);
	ustack_sim_run_for(c.sim, USTACK_SEC(5));
	cr_assert_eq(tcap_finish(&c), 0);

	struct jsonl_reader r;
	cr_assert_eq(jsonl_open(&r, c.json_path), 0);
	FILE *raw = fopen(c.json_path, "r");
	cr_assert(raw);
	struct jsonl_event ev;
	size_t i = 0, states = 0, drops = 0;
	char *text = NULL;
	size_t cap = 0;
	int got;
	while ((got = jsonl_next(&r, &ev)) > 0) {
		cr_assert_lt(i, c.nev, "more lines than events");
		const struct tcap_event *want = &c.ev[i];
		const struct ustack_event *w = &want->ev;
		cr_assert_eq(ev.type, w->type, "line %zu: type", i + 1);
		cr_assert_eq(ev.t, w->time, "line %zu: time", i + 1);
		cr_assert_str_eq(ev.host, want->host, "line %zu", i + 1);
		cr_assert_eq(ev.has_seg, w->seg != NULL, "line %zu", i + 1);
		if (w->seg) {
			cr_assert(seg_eq(&ev.seg, w->seg), "line %zu: the segment", i + 1);
			cr_assert_eq(ev.has_iss, w->has_iss, "line %zu", i + 1);
			cr_assert_eq(ev.has_irs, w->has_irs, "line %zu", i + 1);
			if (w->has_iss)
				cr_assert_eq(ev.iss, w->iss, "line %zu", i + 1);
			if (w->has_irs)
				cr_assert_eq(ev.irs, w->irs, "line %zu", i + 1);
		}
		if (w->type == USTACK_EV_STATE) {
			states++;
			cr_assert_eq(ev.laddr, w->laddr);
			cr_assert_eq(ev.lport, w->lport);
			cr_assert_eq(ev.rport, w->rport);
			if (w->rport)
				cr_assert_eq(ev.raddr, w->raddr);
			cr_assert_eq(ev.from, w->old_state, "line %zu", i + 1);
			cr_assert_eq(ev.to, w->new_state, "line %zu", i + 1);
			cr_assert_str_eq(ev.cause, w->cause ? w->cause : "");
		}
		if (w->type == USTACK_EV_DROP) {
			drops++;
			cr_assert_eq(ev.drop, w->drop, "line %zu: reason", i + 1);
		}
		/* And back again: the same bytes. */
		struct ustack_event back;
		jsonl_to_event(&ev, &back);
		char line[USTACK_EVENT_JSON_MAX];
		ustack_event_json(&back, ev.host, line, sizeof(line));
		ssize_t n = getline(&text, &cap, raw);
		cr_assert_gt(n, 0);
		text[n - 1] = 0;
		cr_assert_str_eq(line, text, "line %zu written again differs", i + 1);
		i++;
	}
	cr_assert_eq(got, 0, "%s", r.err);
	cr_expect_eq(i, c.nev, "%zu lines for %zu events", i, c.nev);
	cr_expect_gt(states, 8, "both sides' lifecycles are in the trace");
	cr_expect_gt(drops, 0, "the refused connection's SYN is dropped (no socket)");
	free(text);
	fclose(raw);
	jsonl_close(&r);
	tcap_fini(&c);
}
