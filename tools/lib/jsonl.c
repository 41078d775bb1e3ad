/*
 * The JSON-lines trace reader: see jsonl.h. A recursive-descent parser over
 * one line: the top-level object's keys are looked up in a table that says
 * how to read each value and which event types it belongs to; anything else
 * is skipped as generic JSON. Which fields are present is kept as a bit set,
 * checked against the event type once the object is closed, since JSON
 * does not promise "type" comes first.
 */
#include "jsonl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum field {
	F_T,
	F_HOST,
	F_TYPE,
	/* segments */
	F_SRC,
	F_DST,
	F_FLAGS,
	F_SEQ,
	F_ACK,
	F_WIN,
	F_LEN,
	F_OPTS,
	F_ISS,
	F_IRS,
	/* state */
	F_LOCAL,
	F_REMOTE,
	F_FROM,
	F_TO,
	F_CAUSE,
	/* drop */
	F_REASON,
	F__COUNT
};

static const char *const field_names[F__COUNT] = {
	"t",    "host", "type", "src",   "dst",    "flags", "seq", "ack",   "win",    "len",
	"opts", "iss",  "irs",  "local", "remote", "from",  "to",  "cause", "reason",
};

#define BIT(f) (1u << (f))
#define SEG_FIELDS                                                                                          \
	(BIT(F_SRC) | BIT(F_DST) | BIT(F_FLAGS) | BIT(F_SEQ) | BIT(F_ACK) | BIT(F_WIN) | BIT(F_LEN) |       \
	 BIT(F_OPTS) | BIT(F_ISS) | BIT(F_IRS))
#define STATE_FIELDS (BIT(F_LOCAL) | BIT(F_REMOTE) | BIT(F_FROM) | BIT(F_TO) | BIT(F_CAUSE))
#define COMMON_FIELDS (BIT(F_T) | BIT(F_HOST) | BIT(F_TYPE))

/* JSON nested deeper than this in a field we skip is refused: the stack
 * of a recursive skipper must stay bounded whatever the input. */
#define MAX_DEPTH 32

struct cur {
	const char *start, *p, *end;
	char *err;
	size_t errsize;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cur *c, const char *fmt, ...)
{
	if (c->failed)
		return -EINVAL;
	c->failed = true;
	int n = snprintf(c->err, c->errsize, "column %zu: ", (size_t)(c->p - c->start) + 1);
	if (n >= 0 && (size_t)n < c->errsize) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errsize - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static int peek(struct cur *c)
{
	skip_ws(c);
	return c->p < c->end ? (unsigned char)*c->p : -1;
}

static const char *describe(int ch)
{
	static __thread char b[16];
	if (ch < 0)
		return "the end of the line";
	if (ch >= 0x20 && ch < 0x7f)
		snprintf(b, sizeof(b), "'%c'", ch);
	else
		snprintf(b, sizeof(b), "byte 0x%02x", ch);
	return b;
}

static int expect(struct cur *c, char ch, const char *what)
{
	int got = peek(c);
	if (got != (unsigned char)ch)
		return fail(c, "expected %s, found %s", what, describe(got));
	c->p++;
	return 0;
}

static int hex4(struct cur *c, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		if (c->p >= c->end)
			return fail(c, "unfinished \\u escape");
		char h = *c->p;
		unsigned d;
		if (h >= '0' && h <= '9')
			d = (unsigned)(h - '0');
		else if (h >= 'a' && h <= 'f')
			d = (unsigned)(h - 'a' + 10);
		else if (h >= 'A' && h <= 'F')
			d = (unsigned)(h - 'A' + 10);
		else
			return fail(c, "bad hex digit %s in a \\u escape", describe((unsigned char)h));
		v = v * 16 + d;
		c->p++;
	}
	*out = v;
	return 0;
}

/* Appends one code point as UTF-8; out may be NULL (skipping). */
static int put_utf8(struct cur *c, char *out, size_t cap, size_t *n, unsigned cp)
{
	char u[4];
	size_t k;
	if (cp < 0x80) {
		u[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (out) {
		if (*n + k >= cap)
			return fail(c, "string longer than %zu bytes", cap - 1);
		memcpy(out + *n, u, k);
	}
	*n += k;
	return 0;
}

/* A JSON string into out (NUL-terminated, at most cap - 1 bytes), or
 * skipped when out is NULL. A \u0000 is refused: C strings cannot hold it. */
static int parse_string(struct cur *c, char *out, size_t cap)
{
	if (expect(c, '"', "a string"))
		return -EINVAL;
	size_t n = 0;
	for (;;) {
		if (c->p >= c->end)
			return fail(c, "unterminated string");
		unsigned char ch = (unsigned char)*c->p;
		if (ch == '"') {
			c->p++;
			break;
		}
		if (ch < 0x20)
			return fail(c, "control character %s in a string (JSON needs it escaped)",
				    describe(ch));
		unsigned cp = ch;
		c->p++;
		if (ch == '\\') {
			if (c->p >= c->end)
				return fail(c, "unterminated string");
			char e = *c->p++;
			switch (e) {
			case '"':
				cp = '"';
				break;
			case '\\':
				cp = '\\';
				break;
			case '/':
				cp = '/';
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'n':
				cp = '\n';
				break;
			case 'r':
				cp = '\r';
				break;
			case 't':
				cp = '\t';
				break;
			case 'u':
				if (hex4(c, &cp))
					return -EINVAL;
				if (cp >= 0xd800 && cp < 0xdc00) {
					unsigned lo;
					if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u')
						return fail(c, "a high surrogate \\u%04x alone", cp);
					c->p += 2;
					if (hex4(c, &lo))
						return -EINVAL;
					if (lo < 0xdc00 || lo > 0xdfff)
						return fail(c, "\\u%04x is not a low surrogate", lo);
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return fail(c, "a low surrogate \\u%04x alone", cp);
				} else if (cp == 0) {
					return fail(c, "\\u0000 in a string");
				}
				if (put_utf8(c, out, cap, &n, cp))
					return -EINVAL;
				continue;
			default:
				c->p--;
				return fail(c, "unknown escape \\%s", describe((unsigned char)e));
			}
		}
		/* Raw bytes, escaped ASCII: one byte each. */
		if (out) {
			if (n + 1 >= cap)
				return fail(c, "string longer than %zu bytes", cap - 1);
			out[n] = (char)cp;
		}
		n++;
	}
	if (out)
		out[n] = 0;
	return 0;
}

static bool is_digit(const struct cur *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* Any JSON number (skipped). */
static int skip_number(struct cur *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (!is_digit(c))
		return fail(c, "malformed number");
	if (*c->p == '0')
		c->p++;
	else
		while (is_digit(c))
			c->p++;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!is_digit(c))
			return fail(c, "malformed number: a digit must follow '.'");
		while (is_digit(c))
			c->p++;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!is_digit(c))
			return fail(c, "malformed number: a digit must follow the exponent");
		while (is_digit(c))
			c->p++;
	}
	return 0;
}

/* The number ends here: not followed by more of a number (a fraction or
 * exponent where an integer belongs). */
static int number_end(struct cur *c, const char *what)
{
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E' || is_digit(c)))
		return fail(c, "%s must be a whole number written plainly", what);
	return 0;
}

/* A non-negative integer no greater than max, JSON-style (no leading 0). */
static int parse_uint(struct cur *c, uint64_t max, const char *what, uint64_t *out)
{
	int ch = peek(c);
	if (ch == '-')
		return fail(c, "%s must not be negative", what);
	if (!is_digit(c))
		return fail(c, "%s must be a number, found %s", what, describe(ch));
	const char *start = c->p;
	uint64_t v = 0;
	while (is_digit(c)) {
		unsigned d = (unsigned)(*c->p - '0');
		if (v > (max - d) / 10) {
			c->p = start;
			return fail(c, "%s is larger than %llu", what, (unsigned long long)max);
		}
		v = v * 10 + d;
		c->p++;
	}
	if (c->p - start > 1 && *start == '0') {
		c->p = start;
		return fail(c, "%s has a leading zero", what);
	}
	if (number_end(c, what))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u32(struct cur *c, const char *what, uint32_t *out)
{
	uint64_t v;
	if (parse_uint(c, UINT32_MAX, what, &v))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* "t": seconds with up to 9 decimals, read exactly into nanoseconds. */
static int parse_time(struct cur *c, ustack_time_t *out)
{
	uint64_t sec;
	const uint64_t max_sec = UINT64_MAX / 1000000000u - 1;
	int ch = peek(c);
	if (ch == '-')
		return fail(c, "\"t\" must not be negative");
	if (!is_digit(c))
		return fail(c, "\"t\" must be a number, found %s", describe(ch));
	const char *start = c->p;
	uint64_t v = 0;
	while (is_digit(c)) {
		v = v * 10 + (unsigned)(*c->p - '0');
		c->p++;
		if (v > max_sec) {
			c->p = start;
			return fail(c, "\"t\" is too large");
		}
	}
	if (c->p - start > 1 && *start == '0') {
		c->p = start;
		return fail(c, "\"t\" has a leading zero");
	}
	sec = v;
	uint64_t ns = 0;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		int digits = 0;
		while (is_digit(c)) {
			if (++digits > 9)
				return fail(c, "\"t\" has more than 9 decimals (nanoseconds)");
			ns = ns * 10 + (unsigned)(*c->p - '0');
			c->p++;
		}
		if (!digits)
			return fail(c, "malformed number: a digit must follow '.'");
		for (; digits < 9; digits++)
			ns *= 10;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E'))
		return fail(c, "\"t\" must be written without an exponent");
	*out = sec * 1000000000u + ns;
	return 0;
}

static int parse_literal(struct cur *c, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n))
		return fail(c, "expected a JSON value, found %s",
			    describe(c->p < c->end ? (unsigned char)*c->p : -1));
	c->p += n;
	if (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || is_digit(c)))
		return fail(c, "expected a JSON value");
	return 0;
}

static int skip_value(struct cur *c, int depth);

static int skip_container(struct cur *c, int depth, bool object)
{
	if (depth >= MAX_DEPTH)
		return fail(c, "nested more than %d deep", MAX_DEPTH);
	c->p++;
	char close = object ? '}' : ']';
	if (peek(c) == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		if (object) {
			if (parse_string(c, NULL, 0) || expect(c, ':', "':' after a key"))
				return -EINVAL;
		}
		if (skip_value(c, depth + 1))
			return -EINVAL;
		int ch = peek(c);
		if (ch == close) {
			c->p++;
			return 0;
		}
		if (ch != ',')
			return fail(c, "expected ',' or '%c', found %s", close, describe(ch));
		c->p++;
	}
}

static int skip_value(struct cur *c, int depth)
{
	int ch = peek(c);
	switch (ch) {
	case '{':
		return skip_container(c, depth, true);
	case '[':
		return skip_container(c, depth, false);
	case '"':
		return parse_string(c, NULL, 0);
	case 't':
		return parse_literal(c, "true");
	case 'f':
		return parse_literal(c, "false");
	case 'n':
		return parse_literal(c, "null");
	default:
		if (ch == '-' || (ch >= '0' && ch <= '9'))
			return skip_number(c);
		return fail(c, "expected a JSON value, found %s", describe(ch));
	}
}

/* "A.B.C.D:port", or "*:*" where any_ok. Reads the string first so that the
 * column points at it. */
static int parse_endpoint(struct cur *c, const char *what, bool any_ok, uint32_t *addr, uint16_t *port)
{
	const char *at;
	char s[32];
	if (peek(c) != '"')
		return fail(c, "\"%s\" must be a string \"A.B.C.D:port\"", what);
	at = c->p;
	if (parse_string(c, s, sizeof(s)))
		return -EINVAL;
	if (any_ok && !strcmp(s, "*:*")) {
		*addr = 0;
		*port = 0;
		return 0;
	}
	uint32_t a = 0;
	const char *q = s;
	for (int i = 0; i < 5; i++) {
		unsigned v = 0;
		int digits = 0;
		while (*q >= '0' && *q <= '9' && digits < 6) {
			v = v * 10 + (unsigned)(*q++ - '0');
			digits++;
		}
		bool last = i == 4;
		char sep = last ? 0 : i == 3 ? ':' : '.';
		bool bad = !digits || (digits > 1 && q[-digits] == '0') || v > (last ? 65535u : 255u) ||
			   *q != sep;
		if (bad) {
			c->p = at;
			return fail(c, "\"%s\" is not \"A.B.C.D:port\": \"%s\"", what, s);
		}
		if (last)
			*port = (uint16_t)v;
		else
			a = a << 8 | v;
		q++;
	}
	*addr = a;
	return 0;
}

static int parse_flags(struct cur *c, uint8_t *out)
{
	static const char *const names[8] = { "FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR" };
	const char *at;
	char s[64];
	if (peek(c) != '"')
		return fail(c, "\"flags\" must be a string such as \"SYN,ACK\"");
	at = c->p;
	if (parse_string(c, s, sizeof(s)))
		return -EINVAL;
	*out = 0;
	if (!strcmp(s, "."))
		return 0;
	for (char *tok = s, *next; tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = 0;
		int bit = -1;
		for (int i = 0; i < 8; i++)
			if (!strcmp(tok, names[i]))
				bit = i;
		if (bit < 0 || (*out & (1u << bit))) {
			c->p = at;
			return fail(c, "\"flags\": %s \"%s\"", bit < 0 ? "unknown flag" : "repeated flag",
				    tok);
		}
		*out |= (uint8_t)(1u << bit);
	}
	return 0;
}

static int parse_state(struct cur *c, const char *what, enum ustack_tcp_state *out)
{
	const char *at;
	char s[32];
	if (peek(c) != '"')
		return fail(c, "\"%s\" must be a state name such as \"ESTABLISHED\"", what);
	at = c->p;
	if (parse_string(c, s, sizeof(s)))
		return -EINVAL;
	for (int i = 0; i < USTACK_TCP__STATE_COUNT; i++) {
		if (!strcmp(s, ustack_tcp_state_name((enum ustack_tcp_state)i))) {
			*out = (enum ustack_tcp_state)i;
			return 0;
		}
	}
	c->p = at;
	return fail(c, "\"%s\": unknown state \"%s\"", what, s);
}

/* [a, b] of two 32-bit integers. */
static int parse_pair(struct cur *c, const char *what, uint32_t *a, uint32_t *b)
{
	if (expect(c, '[', "'[' (a pair of numbers)") || parse_u32(c, what, a) || expect(c, ',', "','") ||
	    parse_u32(c, what, b) || expect(c, ']', "']' after a pair"))
		return -EINVAL;
	return 0;
}

static int parse_opts(struct cur *c, struct ustack_tcp_options *o)
{
	memset(o, 0, sizeof(*o));
	if (expect(c, '{', "an object for \"opts\""))
		return -EINVAL;
	if (peek(c) == '}') {
		c->p++;
		return 0;
	}
	unsigned seen = 0;
	for (;;) {
		char key[32];
		const char *at = (skip_ws(c), c->p);
		if (parse_string(c, key, sizeof(key)) || expect(c, ':', "':' after a key"))
			return -EINVAL;
		unsigned bit = 0;
		uint64_t v;
		if (!strcmp(key, "mss")) {
			bit = USTACK_OPT_MSS;
			if (parse_uint(c, 65535, "\"mss\"", &v))
				return -EINVAL;
			o->mss = (uint16_t)v;
		} else if (!strcmp(key, "wscale")) {
			bit = USTACK_OPT_WSCALE;
			if (parse_uint(c, 255, "\"wscale\"", &v))
				return -EINVAL;
			o->wscale = (uint8_t)v;
		} else if (!strcmp(key, "sackOK")) {
			bit = USTACK_OPT_SACK_PERM;
			if (peek(c) != 't')
				return fail(c, "\"sackOK\" must be true");
			if (parse_literal(c, "true"))
				return -EINVAL;
		} else if (!strcmp(key, "ts")) {
			bit = USTACK_OPT_TS;
			if (parse_pair(c, "\"ts\"", &o->ts_val, &o->ts_ecr))
				return -EINVAL;
		} else if (!strcmp(key, "sack")) {
			bit = USTACK_OPT_SACK;
			if (expect(c, '[', "'[' (a list of [left, right] blocks)"))
				return -EINVAL;
			if (peek(c) == ']') {
				c->p++;
			} else {
				for (;;) {
					if (o->nsack == 4)
						return fail(c, "\"sack\" has more than 4 blocks");
					if (parse_pair(c, "a sack edge", &o->sack[o->nsack].left,
						       &o->sack[o->nsack].right))
						return -EINVAL;
					o->nsack++;
					int ch = peek(c);
					if (ch == ']') {
						c->p++;
						break;
					}
					if (ch != ',')
						return fail(c, "expected ',' or ']', found %s",
							    describe(ch));
					c->p++;
				}
			}
		} else if (skip_value(c, 1)) {
			return -EINVAL;
		}
		if (bit && (seen & bit)) {
			c->p = at;
			return fail(c, "option \"%s\" appears twice", key);
		}
		seen |= bit;
		o->present |= (uint8_t)bit;
		int ch = peek(c);
		if (ch == '}') {
			c->p++;
			return 0;
		}
		if (ch != ',')
			return fail(c, "expected ',' or '}' in \"opts\", found %s", describe(ch));
		c->p++;
	}
}

/* An integer or null. */
static int parse_isn(struct cur *c, const char *what, bool *has, uint32_t *v)
{
	if (peek(c) == 'n') {
		*has = false;
		return parse_literal(c, "null");
	}
	*has = true;
	return parse_u32(c, what, v);
}

static int parse_field(struct cur *c, enum field f, struct jsonl_event *ev, char *type, size_t type_size)
{
	uint64_t v;
	struct ustack_tcp_segment *s = &ev->seg;
	switch (f) {
	case F_T:
		return parse_time(c, &ev->t);
	case F_HOST:
		if (peek(c) != '"')
			return fail(c, "\"host\" must be a string");
		return parse_string(c, ev->host, sizeof(ev->host));
	case F_TYPE:
		if (peek(c) != '"')
			return fail(c, "\"type\" must be a string");
		return parse_string(c, type, type_size);
	case F_SRC:
		return parse_endpoint(c, "src", false, &s->saddr, &s->sport);
	case F_DST:
		return parse_endpoint(c, "dst", false, &s->daddr, &s->dport);
	case F_FLAGS:
		return parse_flags(c, &s->flags);
	case F_SEQ:
		return parse_u32(c, "\"seq\"", &s->seq);
	case F_ACK:
		return parse_u32(c, "\"ack\"", &s->ack);
	case F_WIN:
		if (parse_uint(c, 65535, "\"win\"", &v))
			return -EINVAL;
		s->window = (uint16_t)v;
		return 0;
	case F_LEN:
		return parse_u32(c, "\"len\"", &s->len);
	case F_OPTS:
		return parse_opts(c, &s->opt);
	case F_ISS:
		return parse_isn(c, "\"iss\"", &ev->has_iss, &ev->iss);
	case F_IRS:
		return parse_isn(c, "\"irs\"", &ev->has_irs, &ev->irs);
	case F_LOCAL:
		return parse_endpoint(c, "local", false, &ev->laddr, &ev->lport);
	case F_REMOTE:
		return parse_endpoint(c, "remote", true, &ev->raddr, &ev->rport);
	case F_FROM:
		return parse_state(c, "from", &ev->from);
	case F_TO:
		return parse_state(c, "to", &ev->to);
	case F_CAUSE:
		if (peek(c) != '"')
			return fail(c, "\"cause\" must be a string");
		return parse_string(c, ev->cause, sizeof(ev->cause));
	case F_REASON:
		if (peek(c) != '"')
			return fail(c, "\"reason\" must be a string");
		return parse_string(c, ev->reason, sizeof(ev->reason));
	case F__COUNT:
		break;
	}
	return skip_value(c, 1);
}

static const char *first_field(unsigned bits)
{
	for (int f = 0; f < F__COUNT; f++)
		if (bits & BIT(f))
			return field_names[f];
	return "?";
}

int jsonl_parse(const char *line, size_t len, struct jsonl_event *ev, char *err, size_t errsize)
{
	struct cur c = { line, line, line + len, err, errsize, false };
	if (errsize)
		err[0] = 0;
	memset(ev, 0, sizeof(*ev));
	if (peek(&c) < 0)
		return fail(&c, "empty line (every line must be one event object)");
	if (expect(&c, '{', "'{' (each line is one JSON object)"))
		return -EINVAL;
	unsigned seen = 0;
	char type[16] = "";
	const char *type_at = c.p;
	if (peek(&c) != '}') {
		for (;;) {
			char key[256];
			skip_ws(&c);
			const char *at = c.p;
			if (peek(&c) != '"')
				return fail(&c, "expected a key in quotes, found %s", describe(peek(&c)));
			if (parse_string(&c, key, sizeof(key)) || expect(&c, ':', "':' after a key"))
				return -EINVAL;
			enum field f = F__COUNT;
			for (int i = 0; i < F__COUNT; i++)
				if (!strcmp(key, field_names[i]))
					f = (enum field)i;
			if (f != F__COUNT) {
				if (seen & BIT(f)) {
					c.p = at;
					return fail(&c, "field \"%s\" appears twice", key);
				}
				seen |= BIT(f);
				if (f == F_TYPE)
					type_at = (skip_ws(&c), c.p);
			}
			if (parse_field(&c, f, ev, type, sizeof(type)))
				return -EINVAL;
			int ch = peek(&c);
			if (ch == '}') {
				c.p++;
				break;
			}
			if (ch != ',')
				return fail(&c, "expected ',' or '}' after a value, found %s", describe(ch));
			c.p++;
		}
	} else {
		c.p++;
	}
	if (peek(&c) >= 0)
		return fail(&c, "text after the object");

	unsigned missing = COMMON_FIELDS & ~seen;
	if (missing) {
		c.p = c.end;
		return fail(&c, "missing field \"%s\"", first_field(missing));
	}
	unsigned allowed, required;
	if (!strcmp(type, "seg_in") || !strcmp(type, "seg_out")) {
		ev->type = type[4] == 'i' ? USTACK_EV_SEG_IN : USTACK_EV_SEG_OUT;
		allowed = required = SEG_FIELDS;
		ev->has_seg = true;
	} else if (!strcmp(type, "state")) {
		ev->type = USTACK_EV_STATE;
		allowed = required = STATE_FIELDS;
	} else if (!strcmp(type, "drop")) {
		ev->type = USTACK_EV_DROP;
		allowed = BIT(F_REASON) | SEG_FIELDS;
		/* The segment's fields come all together or not at all. */
		ev->has_seg = (seen & SEG_FIELDS) != 0;
		required = BIT(F_REASON) | (ev->has_seg ? SEG_FIELDS : 0);
	} else {
		c.p = type_at;
		return fail(&c, "unknown event type \"%s\" (seg_in, seg_out, state or drop)", type);
	}
	unsigned stray = seen & ~(allowed | COMMON_FIELDS);
	if (stray) {
		c.p = c.end;
		return fail(&c, "field \"%s\" does not belong in a %s event", first_field(stray), type);
	}
	missing = required & ~seen;
	if (missing) {
		c.p = c.end;
		return fail(&c, "missing field \"%s\" in a %s event", first_field(missing), type);
	}
	if (ev->type == USTACK_EV_DROP) {
		if (strncmp(ev->reason, "drop.", 5)) {
			c.p = c.end;
			return fail(&c, "\"reason\" must name a drop counter (\"drop.*\"), not \"%s\"",
				    ev->reason);
		}
		ev->drop = USTACK_STAT__COUNT;
		for (int i = USTACK_STAT__FIRST_DROP; i < USTACK_STAT__COUNT; i++)
			if (!strcmp(ev->reason, ustack_stat_name((enum ustack_stat)i)))
				ev->drop = (enum ustack_stat)i;
	}
	return 0;
}

void jsonl_to_event(const struct jsonl_event *in, struct ustack_event *out)
{
	memset(out, 0, sizeof(*out));
	out->type = in->type;
	out->time = in->t;
	out->fd = -1;
	out->iss = in->iss;
	out->irs = in->irs;
	out->has_iss = in->has_iss;
	out->has_irs = in->has_irs;
	if (in->has_seg) {
		const struct ustack_tcp_segment *s = &in->seg;
		out->seg = s;
		bool outbound = in->type == USTACK_EV_SEG_OUT;
		out->laddr = outbound ? s->saddr : s->daddr;
		out->raddr = outbound ? s->daddr : s->saddr;
		out->lport = outbound ? s->sport : s->dport;
		out->rport = outbound ? s->dport : s->sport;
	}
	if (in->type == USTACK_EV_STATE) {
		out->laddr = in->laddr;
		out->raddr = in->raddr;
		out->lport = in->lport;
		out->rport = in->rport;
		out->old_state = in->from;
		out->new_state = in->to;
		out->cause = in->cause;
	}
	out->drop = in->drop;
}

void jsonl_init(struct jsonl_reader *r, FILE *f, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "(trace)");
}

int jsonl_open(struct jsonl_reader *r, const char *path)
{
	bool std = !strcmp(path, "-");
	FILE *f = std ? stdin : fopen(path, "r");
	jsonl_init(r, f, std ? "(stdin)" : path);
	if (!f) {
		int err = -errno;
		snprintf(r->err, sizeof(r->err), "%s: %s", path, strerror(errno));
		return err;
	}
	r->own = !std;
	return 0;
}

int jsonl_next(struct jsonl_reader *r, struct jsonl_event *ev)
{
	r->err[0] = 0;
	errno = 0;
	ssize_t n = getline(&r->buf, &r->cap, r->f);
	if (n < 0) {
		if (ferror(r->f)) {
			int err = errno ? errno : EIO;
			snprintf(r->err, sizeof(r->err), "%s:%lu: read error: %s", r->name, r->line + 1,
				 strerror(err));
			clearerr(r->f);
			return -err;
		}
		return 0;
	}
	r->line++;
	size_t len = (size_t)n;
	if (len && r->buf[len - 1] == '\n')
		len--;
	char why[400];
	int err;
	if (len > JSONL_LINE_MAX) {
		snprintf(why, sizeof(why), "line longer than %d bytes", JSONL_LINE_MAX);
		err = -EINVAL;
	} else {
		err = jsonl_parse(r->buf, len, ev, why, sizeof(why));
	}
	if (err) {
		/* "column N: ..." becomes "NAME:LINE:N: ..." as compilers say it. */
		unsigned long col = 0;
		int used = 0;
		if (sscanf(why, "column %lu: %n", &col, &used) >= 1 && used > 0)
			snprintf(r->err, sizeof(r->err), "%s:%lu:%lu: %s", r->name, r->line, col,
				 why + used);
		else
			snprintf(r->err, sizeof(r->err), "%s:%lu: %s", r->name, r->line, why);
		return err;
	}
	return 1;
}

void jsonl_close(struct jsonl_reader *r)
{
	if (r->own && r->f)
		fclose(r->f);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}
