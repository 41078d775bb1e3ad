/*
 * The script's tokens, cut as packetdrill's flex scanner (lexer.l) cuts
 * them: at each point the longest match wins, and a tie goes to the rule
 * listed first there (so "123" is a number, not a word, and "0x1f" is hex).
 * Comments are C and C++ style. Every token is bounded; an over-long one is
 * an error rather than a truncation, so nothing is silently misread.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "drill.h"

void lex_init(struct lexer *lx, const char *src, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lx->src = src;
	lx->len = len;
	lx->line = 1;
}

static int at(const struct lexer *lx, size_t i)
{
	return i < lx->len ? (unsigned char)lx->src[i] : -1;
}

static bool is_word_char(int c)
{
	return c >= 0 && (isalnum(c) || c == '_');
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Lengths of the candidate matches at lx->pos; 0 means no match. */
static size_t match_float(const struct lexer *lx)
{
	size_t i = lx->pos;
	if (at(lx, i) == '-')
		i++;
	while (is_digit(at(lx, i)))
		i++;
	if (at(lx, i) != '.' || !is_digit(at(lx, i + 1)))
		return 0;
	i++;
	while (is_digit(at(lx, i)))
		i++;
	return i - lx->pos;
}

static size_t match_int(const struct lexer *lx)
{
	size_t i = lx->pos;
	if (at(lx, i) == '-')
		i++;
	size_t d = i;
	while (is_digit(at(lx, i)))
		i++;
	return i > d ? i - lx->pos : 0;
}

static size_t match_hex(const struct lexer *lx)
{
	size_t i = lx->pos;
	if (at(lx, i) != '0' || at(lx, i + 1) != 'x')
		return 0;
	i += 2;
	size_t d = i;
	while (at(lx, i) >= 0 && isxdigit(at(lx, i)))
		i++;
	return i > d ? i - lx->pos : 0;
}

static size_t match_word(const struct lexer *lx)
{
	size_t i = lx->pos;
	while (is_word_char(at(lx, i)))
		i++;
	return i - lx->pos;
}

static size_t match_option(const struct lexer *lx)
{
	size_t i = lx->pos;
	if (at(lx, i) != '-' || at(lx, i + 1) != '-')
		return 0;
	i += 2;
	size_t d = i;
	while (is_word_char(at(lx, i)))
		i++;
	return i > d ? i - lx->pos : 0;
}

static size_t match_ipv4(const struct lexer *lx)
{
	size_t i = lx->pos;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (at(lx, i) != '.')
				return 0;
			i++;
		}
		size_t d = i;
		while (is_digit(at(lx, i)))
			i++;
		if (i == d)
			return 0;
	}
	return i - lx->pos;
}

static bool copy_text(struct lexer *lx, struct tok *t, size_t from, size_t n)
{
	if (n >= sizeof(t->text)) {
		snprintf(lx->err, sizeof(lx->err), "token longer than %d bytes", DRILL_MAX_TOKEN - 1);
		return false;
	}
	memcpy(t->text, lx->src + from, n);
	t->text[n] = '\0';
	return true;
}

/* Exact decimal parsing: "0.1" is 100000 us, never 99999 as a float
 * could make it. */
static void set_time(struct tok *t)
{
	const char *s = t->text;
	t->time_ok = false;
	if (*s == '-')
		return;
	int64_t secs = 0, frac = 0;
	int fd = 0;
	for (; is_digit((unsigned char)*s); s++) {
		if (secs > 1000000000)
			return; /* over 30 years of virtual time: refuse */
		secs = secs * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; is_digit((unsigned char)*s); s++) {
			if (fd < 6) {
				frac = frac * 10 + (*s - '0');
				fd++;
			}
		}
	}
	while (fd < 6) {
		frac *= 10;
		fd++;
	}
	t->usecs = secs * 1000000 + frac;
	t->time_ok = true;
}

static bool set_int(struct lexer *lx, struct tok *t, int base)
{
	const char *s = t->text;
	bool neg = false;
	if (*s == '-') {
		neg = true;
		s++;
	}
	if (base == 16)
		s += 2;
	uint64_t v = 0;
	for (; *s; s++) {
		int d = is_digit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base ||
		    v * (uint64_t)base + (uint64_t)d > INT64_MAX) {
			snprintf(lx->err, sizeof(lx->err), "number out of range: %.64s", t->text);
			return false;
		}
		v = v * (uint64_t)base + (uint64_t)d;
	}
	t->num = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

/* Skips blanks and comments; false on an unterminated comment. */
static bool skip_space(struct lexer *lx)
{
	for (;;) {
		int c = at(lx, lx->pos);
		if (c == '\n') {
			lx->line++;
			lx->pos++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->pos++;
		} else if (c == '/' && at(lx, lx->pos + 1) == '/') {
			while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
				lx->pos++;
		} else if (c == '/' && at(lx, lx->pos + 1) == '*') {
			int start = lx->line;
			lx->pos += 2;
			for (;;) {
				if (lx->pos >= lx->len) {
					snprintf(lx->err, sizeof(lx->err),
						 "comment opened on line %d never closes", start);
					return false;
				}
				if (lx->src[lx->pos] == '*' && at(lx, lx->pos + 1) == '/') {
					lx->pos += 2;
					break;
				}
				if (lx->src[lx->pos] == '\n')
					lx->line++;
				lx->pos++;
			}
		} else {
			return true;
		}
	}
}

/* A quoted token: "...", `...` (backslash escapes the next byte), or
 * %{ ... }%. The text kept is what lies between the delimiters. */
static bool quoted(struct lexer *lx, struct tok *t, const char *open, const char *close, enum tok_type type)
{
	size_t olen = strlen(open), clen = strlen(close);
	size_t start = lx->pos + olen, i = start;
	int line = lx->line;
	for (;;) {
		if (i >= lx->len) {
			snprintf(lx->err, sizeof(lx->err), "%s opened on line %d never closes", open, line);
			return false;
		}
		if (clen == 1 && lx->src[i] == '\\' && i + 1 < lx->len) {
			if (lx->src[i + 1] == '\n')
				lx->line++;
			i += 2;
			continue;
		}
		if (strncmp(lx->src + i, close, clen) == 0)
			break;
		if (lx->src[i] == '\n')
			lx->line++;
		i++;
	}
	t->type = type;
	/* Code blocks and commands are only reported, never run: keep a
	 * prefix when they are long. */
	size_t n = i - start;
	if (type != T_STRING && n >= sizeof(t->text))
		n = sizeof(t->text) - 1;
	if (!copy_text(lx, t, start, n))
		return false;
	lx->pos = i + clen;
	return true;
}

bool lex_next(struct lexer *lx, struct tok *t)
{
	memset(t, 0, sizeof(*t));
	if (!skip_space(lx))
		return false;
	t->line = lx->line;
	if (lx->pos >= lx->len) {
		t->type = T_EOF;
		return true;
	}
	int c = at(lx, lx->pos);
	if (c == '"')
		return quoted(lx, t, "\"", "\"", T_STRING);
	if (c == '`')
		return quoted(lx, t, "`", "`", T_BACKQUOTE);
	if (c == '%' && at(lx, lx->pos + 1) == '{')
		return quoted(lx, t, "%{", "}%", T_CODE);
	if (c == 0) {
		snprintf(lx->err, sizeof(lx->err), "NUL byte in script");
		return false;
	}

	/* The candidates in lexer.l's order; the longest wins, the first of
	 * equals. */
	struct {
		enum tok_type type;
		size_t n;
	} cand[] = {
		{ T_ELLIPSIS,
		  (c == '.' && at(lx, lx->pos + 1) == '.' && at(lx, lx->pos + 2) == '.') ? 3 : 0 },
		{ T_OPTION, match_option(lx) },
		{ T_FLOAT, match_float(lx) },
		{ T_INT, match_int(lx) },
		{ T_HEX, match_hex(lx) },
		{ T_WORD, match_word(lx) },
		{ T_IPV4, match_ipv4(lx) },
	};
	size_t best = 0, bi = 0;
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		if (cand[i].n > best) {
			best = cand[i].n;
			bi = i;
		}
	}
	if (best == 0) {
		t->type = T_CHAR;
		t->text[0] = (char)c;
		t->text[1] = '\0';
		lx->pos++;
		return true;
	}
	t->type = cand[bi].type;
	if (!copy_text(lx, t, lx->pos, best))
		return false;
	lx->pos += best;
	switch (t->type) {
	case T_INT:
		if (!set_int(lx, t, 10))
			return false;
		set_time(t);
		break;
	case T_HEX:
		if (!set_int(lx, t, 16))
			return false;
		break;
	case T_FLOAT:
		set_time(t);
		break;
	default:
		break;
	}
	return true;
}
