/*
 * The script grammar of packetdrill's parser.y, by recursive descent:
 *
 *   script  := option* event*
 *   event   := time (packet | syscall | `command` | %{ code }%)
 *   time    := T | +T | * | T~T | +T~+T
 *   packet  := (< | >) [ports] tcp | udp (N) | icmp type [code] [mtu N] [id N] [echoed]
 *   tcp     := flags start:end(len) [ack N] [win N] [urg N] [<options> | <...>]
 *   syscall := [...T] name(args) = expr [ERRNO] [(note)]
 *
 * What the grammar accepts but ustack cannot run (Python, shell commands
 * other than the sysctl settings shell.c reads, IPv6, TOS and ECN marks,
 * Fast Open, MD5, socket options ustack lacks) stops the parse with the
 * script marked skipped, naming the construct: such a script must never
 * count as passed. Errors carry the line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <ustack/trace.h>

#include "drill.h"

#define LOOKAHEAD 3
#define MAX_NODES 200000

struct parser {
	struct lexer lx;
	struct tok la[LOOKAHEAD];
	int nla;
	struct script *s;
	char *err;
	size_t errlen;
	int nodes;
	bool failed, skipped;
};

static void fail(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, int line, const char *fmt, ...)
{
	if (p->failed || p->skipped)
		return;
	char msg[DRILL_ERR];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: parse error: %s", p->s->path, line, msg);
	p->failed = true;
}

static void skip(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void skip(struct parser *p, int line, const char *fmt, ...)
{
	if (p->failed || p->skipped)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->s->skip, sizeof(p->s->skip), fmt, ap);
	va_end(ap);
	p->s->skip_line = line;
	p->skipped = true;
}

static bool stop(const struct parser *p)
{
	return p->failed || p->skipped;
}

/* The k-th token ahead (0 = next), read on demand. */
static struct tok *peek(struct parser *p, int k)
{
	while (p->nla <= k) {
		struct tok *t = &p->la[p->nla];
		if (!lex_next(&p->lx, t)) {
			fail(p, p->lx.line, "%s", p->lx.err);
			memset(t, 0, sizeof(*t));
			t->type = T_EOF;
			t->line = p->lx.line;
		}
		p->nla++;
	}
	return &p->la[k];
}

static void advance(struct parser *p)
{
	peek(p, 0);
	memmove(&p->la[0], &p->la[1], sizeof(p->la[0]) * (size_t)(p->nla - 1));
	p->nla--;
}

static bool is_char(struct parser *p, int k, char c)
{
	struct tok *t = peek(p, k);
	return t->type == T_CHAR && t->text[0] == c;
}

static bool is_word(struct parser *p, int k, const char *w)
{
	struct tok *t = peek(p, k);
	return t->type == T_WORD && strcmp(t->text, w) == 0;
}

static const char *describe(const struct tok *t)
{
	switch (t->type) {
	case T_EOF:
		return "end of file";
	case T_STRING:
		return "a string";
	case T_BACKQUOTE:
		return "a shell command";
	case T_CODE:
		return "a code block";
	default:
		return t->text;
	}
}

static bool expect_char(struct parser *p, char c, const char *where)
{
	struct tok *t = peek(p, 0);
	if (t->type != T_CHAR || t->text[0] != c) {
		fail(p, t->line, "expected '%c' %s, found '%s'", c, where, describe(t));
		return false;
	}
	advance(p);
	return true;
}

/* An integer token in [lo, hi]. */
static bool take_int(struct parser *p, int64_t lo, int64_t hi, const char *what, int64_t *out)
{
	struct tok *t = peek(p, 0);
	if (t->type != T_INT && t->type != T_HEX) {
		fail(p, t->line, "expected %s, found '%s'", what, describe(t));
		return false;
	}
	if (t->num < lo || t->num > hi) {
		fail(p, t->line, "%s out of range: %s", what, t->text);
		return false;
	}
	*out = t->num;
	advance(p);
	return true;
}

/* ---- Expressions ---- */

static struct expr *new_expr(struct parser *p, enum expr_type type, int line)
{
	if (++p->nodes > MAX_NODES) {
		fail(p, line, "script too large");
		return NULL;
	}
	struct expr *e = calloc(1, sizeof(*e));
	if (!e) {
		fail(p, line, "out of memory");
		return NULL;
	}
	e->type = type;
	return e;
}

void expr_free(struct expr *e)
{
	while (e) {
		struct expr *next = e->next;
		expr_free(e->kids);
		free(e->str);
		free(e->name);
		free(e);
		e = next;
	}
}

static char *dup_str(struct parser *p, const char *s, int line)
{
	char *d = strdup(s);
	if (!d)
		fail(p, line, "out of memory");
	return d;
}

static struct expr *parse_expr(struct parser *p, int depth);

/* Elements up to `close`, separated by commas; in braces, "name=value"
 * elements keep their name. */
static bool parse_elements(struct parser *p, struct expr *parent, char close, int depth)
{
	struct expr **tail = &parent->kids;
	if (is_char(p, 0, close)) {
		advance(p);
		return true;
	}
	for (;;) {
		if (parent->nkids >= DRILL_MAX_LIST) {
			fail(p, peek(p, 0)->line, "more than %d elements in a list", DRILL_MAX_LIST);
			return false;
		}
		char *name = NULL;
		if (close == '}' && peek(p, 0)->type == T_WORD && is_char(p, 1, '=')) {
			name = dup_str(p, peek(p, 0)->text, peek(p, 0)->line);
			advance(p);
			advance(p);
			if (!name)
				return false;
		}
		struct expr *e = parse_expr(p, depth + 1);
		if (!e) {
			free(name);
			return false;
		}
		e->name = name;
		*tail = e;
		tail = &e->next;
		parent->nkids++;
		if (is_char(p, 0, ',')) {
			advance(p);
			continue;
		}
		return expect_char(p, close, "to close the list");
	}
}

static struct expr *parse_primary(struct parser *p, int depth)
{
	struct tok *t = peek(p, 0);
	int line = t->line;
	if (depth > DRILL_MAX_DEPTH) {
		fail(p, line, "expression nested too deeply");
		return NULL;
	}
	struct expr *e = NULL;
	switch (t->type) {
	case T_ELLIPSIS:
		e = new_expr(p, E_ELLIPSIS, line);
		advance(p);
		return e;
	case T_INT:
	case T_HEX:
		e = new_expr(p, E_INT, line);
		if (e)
			e->num = t->num;
		advance(p);
		return e;
	case T_STRING:
		e = new_expr(p, E_STRING, line);
		if (e && !(e->str = dup_str(p, t->text, line))) {
			expr_free(e);
			return NULL;
		}
		advance(p);
		/* "abc"... (a prefix) and "a" "b" (concatenation) are not needed
		 * by any call run here. */
		if (peek(p, 0)->type == T_ELLIPSIS || peek(p, 0)->type == T_STRING)
			skip(p, line, "string pattern or concatenation");
		return e;
	case T_WORD:
		if (is_char(p, 1, '(')) {
			e = new_expr(p, E_CALL, line);
			if (!e || !(e->str = dup_str(p, t->text, line))) {
				expr_free(e);
				return NULL;
			}
			advance(p);
			advance(p);
			if (!parse_elements(p, e, ')', depth)) {
				expr_free(e);
				return NULL;
			}
			return e;
		}
		e = new_expr(p, E_WORD, line);
		if (e && !(e->str = dup_str(p, t->text, line))) {
			expr_free(e);
			return NULL;
		}
		advance(p);
		return e;
	case T_CHAR:
		if (t->text[0] == '[' || t->text[0] == '{') {
			char close = t->text[0] == '[' ? ']' : '}';
			e = new_expr(p, close == ']' ? E_LIST : E_STRUCT, line);
			if (!e)
				return NULL;
			advance(p);
			if (!parse_elements(p, e, close, depth)) {
				expr_free(e);
				return NULL;
			}
			return e;
		}
		break;
	default:
		break;
	}
	fail(p, line, "expected an expression, found '%s'", describe(t));
	return NULL;
}

static struct expr *parse_expr(struct parser *p, int depth)
{
	struct expr *e = parse_primary(p, depth);
	if (!e || !is_char(p, 0, '|'))
		return e;
	struct expr * or = new_expr(p, E_OR, peek(p, 0)->line);
	if (! or) {
		expr_free(e);
		return NULL;
	}
	or->kids = e;
	or->nkids = 1;
	struct expr *last = e;
	while (is_char(p, 0, '|')) {
		advance(p);
		if (or->nkids >= DRILL_MAX_LIST) {
			fail(p, peek(p, 0)->line, "too many '|' terms");
			break;
		}
		struct expr *r = parse_primary(p, depth + 1);
		if (!r)
			break;
		last->next = r;
		last = r;
		or->nkids++;
	}
	if (stop(p)) {
		expr_free(or);
		return NULL;
	}
	return or ;
}

/* Words the runner cannot resolve, and calls it does not know, make the
 * script unrunnable here; found before anything runs. */
static void check_symbols(struct parser *p, const struct expr *e, int line)
{
	for (; e && !stop(p); e = e->next) {
		int64_t v;
		if (e->type == E_WORD && !sym_lookup(e->str, &v)) {
			if (sym_unsupported_sockopt(e->str))
				skip(p, line, "socket option %s", e->str);
			else
				skip(p, line, "unknown symbol %s", e->str);
		}
		if (e->type == E_WORD && strcmp(e->str, "AF_INET6") == 0)
			skip(p, line, "IPv6");
		if (e->type == E_CALL && strcmp(e->str, "htons") != 0 && strcmp(e->str, "inet_addr") != 0)
			skip(p, line, "%s()", e->str);
		check_symbols(p, e->kids, line);
	}
}

/* ---- Packets ---- */

static bool add_opt(struct parser *p, struct spkt *k, const uint8_t *b, size_t n, int line)
{
	if (!opt_append(k, b, n)) {
		fail(p, line, "TCP option list too long");
		return false;
	}
	return true;
}

static void parse_tcp_options(struct parser *p, struct spkt *k)
{
	int line = peek(p, 0)->line;
	advance(p); /* < */
	if (peek(p, 0)->type == T_ELLIPSIS) {
		advance(p);
		if (k->dir == DIR_IN)
			fail(p, line, "<...> for TCP options can only be used with outbound packets");
		k->opt_nocheck = true;
		expect_char(p, '>', "after <...");
		return;
	}
	for (;;) {
		struct tok *t = peek(p, 0);
		line = t->line;
		int64_t a, b;
		if (t->type != T_WORD) {
			fail(p, line, "expected a TCP option, found '%s'", describe(t));
			return;
		}
		if (strcmp(t->text, "nop") == 0 || strcmp(t->text, "eol") == 0) {
			uint8_t kind = t->text[0] == 'n' ? 1 : 0;
			advance(p);
			if (!add_opt(p, k, &kind, 1, line))
				return;
		} else if (strcmp(t->text, "mss") == 0) {
			advance(p);
			if (!take_int(p, 0, 65535, "mss value", &a))
				return;
			uint8_t o[4] = { 2, 4, (uint8_t)(a >> 8), (uint8_t)a };
			if (!add_opt(p, k, o, 4, line))
				return;
		} else if (strcmp(t->text, "wscale") == 0) {
			advance(p);
			if (!take_int(p, 0, 255, "window scale shift count", &a))
				return;
			uint8_t o[3] = { 3, 3, (uint8_t)a };
			if (!add_opt(p, k, o, 3, line))
				return;
		} else if (strcmp(t->text, "sackOK") == 0) {
			advance(p);
			uint8_t o[2] = { 4, 2 };
			if (!add_opt(p, k, o, 2, line))
				return;
		} else if (strcmp(t->text, "sack") == 0) {
			advance(p);
			uint8_t o[34] = { 5, 2 };
			int n = 0;
			while (peek(p, 0)->type == T_INT && is_char(p, 1, ':')) {
				if (n == 4) {
					fail(p, line, "more than 4 SACK blocks");
					return;
				}
				if (!take_int(p, 0, UINT32_MAX, "SACK left edge", &a))
					return;
				advance(p);
				if (!take_int(p, 0, UINT32_MAX, "SACK right edge", &b))
					return;
				uint32_t l = htonl((uint32_t)a), r = htonl((uint32_t)b);
				memcpy(o + 2 + 8 * n, &l, 4);
				memcpy(o + 6 + 8 * n, &r, 4);
				n++;
			}
			if (n == 0) {
				fail(p, line, "sack needs at least one block left:right");
				return;
			}
			o[1] = (uint8_t)(2 + 8 * n);
			if (!add_opt(p, k, o, o[1], line))
				return;
		} else if (strcmp(t->text, "TS") == 0) {
			advance(p);
			if (!is_word(p, 0, "val")) {
				fail(p, line, "expected 'val' after TS");
				return;
			}
			advance(p);
			if (!take_int(p, 0, UINT32_MAX, "TS val", &a))
				return;
			if (!is_word(p, 0, "ecr")) {
				fail(p, line, "expected 'ecr' after TS val");
				return;
			}
			advance(p);
			if (!take_int(p, 0, UINT32_MAX, "TS ecr", &b))
				return;
			uint32_t v = htonl((uint32_t)a), e = htonl((uint32_t)b);
			uint8_t o[10] = { 8, 10 };
			memcpy(o + 2, &v, 4);
			memcpy(o + 6, &e, 4);
			if (!add_opt(p, k, o, 10, line))
				return;
		} else if (strcmp(t->text, "FO") == 0 || strcmp(t->text, "FOEXP") == 0 ||
			   strcmp(t->text, "md5") == 0 || strcmp(t->text, "ECN") == 0) {
			skip(p, line, "TCP option %s", t->text);
			return;
		} else {
			fail(p, line, "unknown TCP option '%s'", t->text);
			return;
		}
		if (is_char(p, 0, ',')) {
			advance(p);
			continue;
		}
		if (!expect_char(p, '>', "to end the TCP options"))
			return;
		break;
	}
	if (k->optlen & 3)
		fail(p, line,
		     "TCP options are not padded correctly to ensure TCP header is a multiple of 4 bytes: "
		     "%d excess bytes",
		     k->optlen & 3);
}

/* start:end(len), with packetdrill's consistency rule. */
static bool parse_seq(struct parser *p, uint32_t *start, uint16_t *len)
{
	int line = peek(p, 0)->line;
	int64_t a, b, n;
	if (!take_int(p, 0, UINT32_MAX, "TCP start sequence number", &a) ||
	    !expect_char(p, ':', "in start:end(len)") ||
	    !take_int(p, 0, UINT32_MAX, "TCP end sequence number", &b) ||
	    !expect_char(p, '(', "in start:end(len)") || !take_int(p, 0, 65535, "TCP payload size", &n) ||
	    !expect_char(p, ')', "in start:end(len)"))
		return false;
	if (b != a + n) {
		fail(p, line, "inconsistent TCP sequence numbers and payload size");
		return false;
	}
	*start = (uint32_t)a;
	*len = (uint16_t)n;
	return true;
}

static void parse_tcp(struct parser *p, struct spkt *k)
{
	struct tok *t = peek(p, 0);
	int line = t->line;
	char flags[16] = "";
	if (t->type == T_WORD) {
		if (strlen(t->text) >= sizeof(flags) - 1) {
			fail(p, line, "bad TCP flags '%s'", t->text);
			return;
		}
		strcpy(flags, t->text);
		advance(p);
		if (is_char(p, 0, '.')) {
			strcat(flags, ".");
			advance(p);
		} else if (peek(p, 0)->type == T_FLOAT) {
			skip(p, line, "AccECN ACE flags");
			return;
		}
	} else if (t->type == T_CHAR && (t->text[0] == '.' || t->text[0] == '-')) {
		if (t->text[0] == '.')
			strcpy(flags, ".");
		advance(p);
	} else if (t->type == T_FLOAT) {
		skip(p, line, "AccECN ACE flags");
		return;
	} else {
		fail(p, line, "expected TCP flags, found '%s'", describe(t));
		return;
	}
	for (const char *f = flags; *f; f++) {
		static const char letters[] = "FSRP.UEWA";
		static const uint8_t bits[] = { USTACK_TCP_FIN, USTACK_TCP_SYN, USTACK_TCP_RST,
						USTACK_TCP_PSH, USTACK_TCP_ACK, USTACK_TCP_URG,
						USTACK_TCP_ECE, USTACK_TCP_CWR, 0 };
		const char *w = strchr(letters, *f);
		if (!w) {
			fail(p, line, "Invalid TCP flag: '%c'", *f);
			return;
		}
		if (*f == 'A') {
			skip(p, line, "AccECN AE flag");
			return;
		}
		k->flags |= bits[w - letters];
	}
	if (!parse_seq(p, &k->seq, &k->len))
		return;
	int64_t v;
	if (is_word(p, 0, "ack")) {
		advance(p);
		if (!take_int(p, 0, UINT32_MAX, "TCP ack sequence number", &v))
			return;
		k->ack = (uint32_t)v;
	}
	if (is_word(p, 0, "win")) {
		advance(p);
		if (!take_int(p, 0, 65535, "TCP window value", &v))
			return;
		k->win = (int32_t)v;
	}
	if (is_word(p, 0, "urg")) {
		advance(p);
		if (!take_int(p, 0, 65535, "urg_ptr value", &v))
			return;
		k->urg = (uint16_t)v;
	}
	if (is_char(p, 0, '<'))
		parse_tcp_options(p, k);
	if (!stop(p) && k->dir == DIR_IN && k->win < 0)
		fail(p, line, "window must be specified for inbound packets");
}

static void parse_icmp(struct parser *p, struct spkt *k)
{
	static const char *const types[] = {
		[0] = "echo_reply",   [3] = "unreachable",    [4] = "source_quench",	 [5] = "redirect",
		[8] = "echo_request", [11] = "time_exceeded", [12] = "parameter_problem"
	};
	static const char *const codes[] = { "net_unreachable",
					     "host_unreachable",
					     "protocol_unreachable",
					     "port_unreachable",
					     "frag_needed",
					     "source_route_failed",
					     "net_unknown",
					     "host_unknown",
					     "source_host_isolated",
					     "net_prohibited",
					     "host_prohibited",
					     "net_unreachable_for_tos",
					     "host_unreachable_for_tos",
					     "packet_filtered",
					     "precedence_violation",
					     "precedence_cutoff" };
	struct tok *t = peek(p, 0);
	int line = t->line;
	int type = -1, code = 0;
	if (t->type != T_WORD) {
		fail(p, line, "expected an ICMP type, found '%s'", describe(t));
		return;
	}
	if (sscanf(t->text, "type_%d", &type) != 1) {
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (types[i] && strcmp(types[i], t->text) == 0)
				type = (int)i;
	}
	if (type < 0 || type > 255) {
		fail(p, line, "bad ICMP type %s", t->text);
		return;
	}
	advance(p);
	t = peek(p, 0);
	if (t->type == T_WORD && strcmp(t->text, "mtu") != 0 && strcmp(t->text, "id") != 0) {
		code = -1;
		if (sscanf(t->text, "code_%d", &code) != 1 && type == 3) {
			for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
				if (strcmp(codes[i], t->text) == 0)
					code = (int)i;
		}
		if (code < 0 || code > 255) {
			fail(p, line, "bad ICMP code %s", t->text);
			return;
		}
		advance(p);
	}
	k->icmp_type = (uint8_t)type;
	k->icmp_code = (uint8_t)code;
	int64_t v;
	if (is_word(p, 0, "mtu")) {
		advance(p);
		if (!take_int(p, 0, 65535, "ICMP MTU", &v))
			return;
		if (type != 3 || code != 4) {
			fail(p, line, "ICMPv4 MTU is only valid for unreachable-frag_needed");
			return;
		}
		k->mtu = (int32_t)v;
	}
	if (is_word(p, 0, "id")) {
		advance(p);
		if (!take_int(p, 0, 65535, "echo id", &v))
			return;
		k->echo_id = (uint16_t)v;
	}
	if (is_char(p, 0, '[')) {
		advance(p);
		if (is_word(p, 0, "udp")) {
			advance(p);
			if (!expect_char(p, '(', "after udp") ||
			    !take_int(p, 0, 65535, "UDP payload size", &v) ||
			    !expect_char(p, ')', "after the UDP size"))
				return;
			k->echoed = P_UDP;
			k->echoed_len = (uint16_t)v;
		} else if (is_word(p, 0, "raw")) {
			skip(p, line, "ICMP with a raw payload");
			return;
		} else {
			if (!parse_seq(p, &k->echoed_seq, &k->echoed_len))
				return;
			k->echoed = P_TCP;
		}
		expect_char(p, ']', "after the echoed header");
	} else {
		/* packetdrill echoes a TCP header by default. */
		k->echoed = P_TCP;
	}
}

/* sport>dport, when the script names them; false on a bad one. */
static bool parse_ports(struct parser *p, struct spkt *k)
{
	if (peek(p, 0)->type != T_INT || !is_char(p, 1, '>'))
		return true;
	int64_t a, b;
	if (!take_int(p, 0, 65535, "src port", &a))
		return false;
	advance(p);
	if (!take_int(p, 0, 65535, "dst port", &b))
		return false;
	k->ports = true;
	k->sport = (uint16_t)a;
	k->dport = (uint16_t)b;
	return true;
}

static void parse_packet(struct parser *p, struct event *ev)
{
	struct spkt *k = &ev->pkt;
	struct tok *t = peek(p, 0);
	k->dir = t->text[0] == '<' ? DIR_IN : DIR_OUT;
	k->win = -1;
	k->mtu = -1;
	k->echoed = -1;
	advance(p);
	t = peek(p, 0);
	if (t->type == T_CHAR && (t->text[0] == '(' || t->text[0] == '[')) {
		skip(p, t->line, "IP TOS/ECN/TTL marks on a packet");
		return;
	}
	if (t->type == T_WORD && (strcmp(t->text, "ipv4") == 0 || strcmp(t->text, "ipv6") == 0 ||
				  strcmp(t->text, "gre") == 0 || strcmp(t->text, "GREv0") == 0 ||
				  strcmp(t->text, "mpls") == 0 || strcmp(t->text, "encap") == 0)) {
		skip(p, t->line, "encapsulation or explicit IP header (%s)", t->text);
		return;
	}
	/* As parser.y has it: "udp 1234>5678 (N)", but "1234>5678 S. ..." */
	if (is_word(p, 0, "udp")) {
		int64_t n;
		advance(p);
		k->proto = P_UDP;
		if (!parse_ports(p, k))
			return;
		if (expect_char(p, '(', "after udp") && take_int(p, 0, 65535, "UDP payload size", &n))
			k->len = (uint16_t)n;
		expect_char(p, ')', "after the UDP size");
		return;
	}
	if (is_word(p, 0, "icmp")) {
		advance(p);
		k->proto = P_ICMP;
		parse_icmp(p, k);
		return;
	}
	k->proto = P_TCP;
	if (parse_ports(p, k))
		parse_tcp(p, k);
}

/* ---- System calls ---- */

static void parse_note(struct parser *p)
{
	/* "(Connection refused)": words for the reader, not checked. */
	int line = peek(p, 0)->line;
	advance(p);
	for (int n = 0; n < 64; n++) {
		struct tok *t = peek(p, 0);
		if (t->type == T_EOF)
			break;
		advance(p);
		if (t->type == T_CHAR && t->text[0] == ')')
			return;
	}
	fail(p, line, "note in parentheses never closes");
}

static void parse_syscall(struct parser *p, struct event *ev)
{
	struct syscall *sc = &ev->sc;
	sc->end_usecs = SYSCALL_NONBLOCKING;
	if (peek(p, 0)->type == T_ELLIPSIS) {
		advance(p);
		struct tok *t = peek(p, 0);
		if ((t->type != T_INT && t->type != T_FLOAT) || !t->time_ok) {
			fail(p, t->line, "expected an end time after '...', found '%s'", describe(t));
			return;
		}
		sc->end_usecs = t->usecs;
		advance(p);
	}
	struct tok *t = peek(p, 0);
	int line = t->line;
	if (t->type != T_WORD || !is_char(p, 1, '(')) {
		fail(p, line, "expected a packet or a system call, found '%s'", describe(t));
		return;
	}
	if (strlen(t->text) >= sizeof(sc->name)) {
		skip(p, line, "system call %.40s", t->text);
		return;
	}
	strcpy(sc->name, t->text);
	if (!sym_supported_syscall(sc->name)) {
		skip(p, line, "system call %s", sc->name);
		return;
	}
	advance(p);
	struct expr holder = { .type = E_LIST };
	advance(p); /* ( */
	if (!parse_elements(p, &holder, ')', 0)) {
		expr_free(holder.kids);
		return;
	}
	sc->args = holder.kids;
	sc->nargs = holder.nkids;
	if (!expect_char(p, '=', "after the system call"))
		return;
	sc->result = parse_expr(p, 0);
	if (!sc->result)
		return;
	t = peek(p, 0);
	if (t->type == T_WORD) {
		if (strlen(t->text) >= sizeof(sc->err_name)) {
			fail(p, t->line, "bad errno name");
			return;
		}
		int64_t v;
		if (!sym_lookup(t->text, &v) || !errno_name((int)v)) {
			fail(p, t->line, "unknown errno %s", t->text);
			return;
		}
		strcpy(sc->err_name, t->text);
		advance(p);
	}
	if (is_char(p, 0, '('))
		parse_note(p);
	check_symbols(p, sc->args, line);
	check_symbols(p, sc->result, line);
	/* Options ustack does not take, by name. */
	if (!stop(p) && (strcmp(sc->name, "setsockopt") == 0 || strcmp(sc->name, "getsockopt") == 0) &&
	    sc->nargs >= 3) {
		const struct expr *opt = sc->args->next->next;
		if (opt->type == E_WORD && strcmp(sc->name, "setsockopt") == 0 &&
		    strcmp(opt->str, "TCP_MAXSEG") == 0)
			skip(p, line, "socket option TCP_MAXSEG (set)");
	}
}

/* ---- Events ---- */

static bool take_time(struct parser *p, int64_t *usecs)
{
	struct tok *t = peek(p, 0);
	if (t->type != T_INT && t->type != T_FLOAT) {
		fail(p, t->line, "expected a time, found '%s'", describe(t));
		return false;
	}
	if (!t->time_ok) {
		fail(p, t->line, "negative or too large time %s", t->text);
		return false;
	}
	*usecs = t->usecs;
	advance(p);
	return true;
}

/* A backtick command: the sysctls it sets (shell.c), or why it cannot
 * run here. */
static void command(struct parser *p, const struct tok *t, int at)
{
	char why[DRILL_ERR];
	int r = drill_shell(p->s, t->text, at, t->line, why, sizeof(why));
	if (r < 0)
		fail(p, t->line, "%s", why);
	else if (r > 0)
		skip(p, t->line, "%s", why);
}

static void parse_event(struct parser *p, struct event *ev)
{
	struct tok *t = peek(p, 0);
	ev->line = t->line;
	if (is_char(p, 0, '*')) {
		ev->tt = TM_ANY;
		advance(p);
	} else if (is_char(p, 0, '+')) {
		advance(p);
		ev->tt = TM_REL;
		if (!take_time(p, &ev->usecs))
			return;
		if (is_char(p, 0, '~')) {
			advance(p);
			if (!expect_char(p, '+', "in a relative time range"))
				return;
			ev->tt = TM_REL_RANGE;
			if (!take_time(p, &ev->usecs_end))
				return;
		}
	} else {
		ev->tt = TM_ABS;
		if (!take_time(p, &ev->usecs))
			return;
		if (is_char(p, 0, '~')) {
			advance(p);
			ev->tt = TM_ABS_RANGE;
			if (!take_time(p, &ev->usecs_end))
				return;
		}
	}
	if ((ev->tt == TM_ABS_RANGE || ev->tt == TM_REL_RANGE) && ev->usecs_end < ev->usecs) {
		fail(p, ev->line, "time range is backwards");
		return;
	}
	t = peek(p, 0);
	if (t->type == T_BACKQUOTE) {
		ev->type = EV_COMMAND;
		command(p, t, (int)(ev - p->s->ev));
		advance(p);
		if (!stop(p) && ev->tt != TM_ABS && ev->tt != TM_REL)
			fail(p, ev->line, "event time %s can only be used with outbound packets",
			     ev->tt == TM_ANY ? "<star>" : "range");
		return;
	}
	if (t->type == T_CODE) {
		skip(p, t->line, "python code block %%{ }%%");
		return;
	}
	if (t->type == T_CHAR && (t->text[0] == '<' || t->text[0] == '>')) {
		ev->type = EV_PACKET;
		parse_packet(p, ev);
		if (stop(p))
			return;
		if (ev->tt == TM_ANY && ev->pkt.dir != DIR_OUT)
			fail(p, ev->line, "event time <star> can only be used with outbound packets");
		else if ((ev->tt == TM_ABS_RANGE || ev->tt == TM_REL_RANGE) && ev->pkt.dir != DIR_OUT)
			fail(p, ev->line, "event time range can only be used with outbound packets");
		return;
	}
	ev->type = EV_SYSCALL;
	parse_syscall(p, ev);
	if (!stop(p) && ev->tt != TM_ABS && ev->tt != TM_REL)
		fail(p, ev->line, "event time %s can only be used with outbound packets",
		     ev->tt == TM_ANY ? "<star>" : "range");
}

static void parse_options(struct parser *p)
{
	while (peek(p, 0)->type == T_OPTION && !stop(p)) {
		struct tok *t = peek(p, 0);
		int line = t->line;
		char name[DRILL_MAX_TOKEN], value[DRILL_MAX_TOKEN] = "";
		snprintf(name, sizeof(name), "%s", t->text + 2);
		advance(p);
		bool has_value = false;
		if (is_char(p, 0, '=')) {
			advance(p);
			t = peek(p, 0);
			if (t->type == T_EOF || t->type == T_CHAR) {
				fail(p, line, "option --%s needs a value", name);
				return;
			}
			snprintf(value, sizeof(value), "%s", t->text);
			advance(p);
			has_value = true;
			if (is_char(p, 0, '=')) {
				skip(p, line, "option --%s", name);
				return;
			}
		}
		char err[DRILL_ERR];
		int r = drill_option(&p->s->cfg, name, has_value ? value : NULL, err, sizeof(err));
		if (r < 0)
			fail(p, line, "%s", err);
		else if (r > 0)
			skip(p, line, "option --%s", name);
	}
}

int drill_parse(struct script *s, const char *text, size_t len, char *err, size_t errlen)
{
	struct parser *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", s->path);
		return -1;
	}
	lex_init(&p->lx, text, len);
	p->s = s;
	p->err = err;
	p->errlen = errlen;
	err[0] = '\0';
	s->skip[0] = '\0';
	parse_options(p);
	/* packetdrill's init command: runs before the first event. */
	if (!stop(p) && peek(p, 0)->type == T_BACKQUOTE) {
		command(p, peek(p, 0), -1);
		advance(p);
	}
	int cap = 0;
	while (!stop(p) && peek(p, 0)->type != T_EOF) {
		if (s->nev > 0 && peek(p, 0)->type == T_BACKQUOTE) {
			/* The cleanup command, after the last event: it
			 * restores the host, and this stack is gone by then. */
			struct tok *t = peek(p, 0);
			if (s->cfg.verbose)
				printf("%s:%d: ignored (cleanup command): %.60s\n", s->path, t->line, t->text);
			advance(p);
			if (!stop(p) && peek(p, 0)->type != T_EOF)
				fail(p, peek(p, 0)->line, "events after the cleanup command");
			break;
		}
		if (s->nev == DRILL_MAX_EVENTS) {
			fail(p, peek(p, 0)->line, "more than %d events", DRILL_MAX_EVENTS);
			break;
		}
		if (s->nev == cap) {
			int ncap = cap ? cap * 2 : 64;
			struct event *nev = realloc(s->ev, sizeof(*nev) * (size_t)ncap);
			if (!nev) {
				fail(p, peek(p, 0)->line, "out of memory");
				break;
			}
			s->ev = nev;
			cap = ncap;
		}
		struct event *ev = &s->ev[s->nev++];
		memset(ev, 0, sizeof(*ev));
		parse_event(p, ev);
	}
	if (!stop(p) && s->nev == 0)
		fail(p, p->lx.line, "script has no events");
	bool failed = p->failed;
	free(p);
	return failed ? -1 : 0;
}

void drill_script_free(struct script *s)
{
	for (int i = 0; i < s->nev; i++) {
		expr_free(s->ev[i].sc.args);
		expr_free(s->ev[i].sc.result);
	}
	free(s->ev);
	s->ev = NULL;
	s->nev = 0;
	free(s->sets);
	s->sets = NULL;
	s->nsets = 0;
	if (s->scratch)
		ustack_destroy(s->scratch);
	s->scratch = NULL;
}
