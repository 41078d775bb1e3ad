/*
 * The shell commands a script runs in backticks, as far as they concern
 * the stack under test: packetdrill scripts set Linux's sysctls that way,
 * directly (`sysctl -q net.ipv4.tcp_sack=0`, `echo 0 >
 * /proc/sys/net/ipv4/tcp_sack`) or through a shell script they call
 * (packetdrill's common defaults.sh). This is a small interpreter of that
 * much shell, not a shell:
 *
 *   - words with '...', "...", backslash escapes and $((arithmetic));
 *   - commands joined by ;, &&, || or newlines (all run: none fails here);
 *   - redirections (>, >>, 2>, 2>&1, &>): only `echo ... > /proc/sys/...`
 *     means something;
 *   - sysctl [-q] [-w] [-e] NAME=VALUE... and echo V > /proc/sys/NAME:
 *     a setting for the stack;
 *   - bash FILE, sh FILE, source FILE, . FILE, or a path: that file's
 *     lines, read relative to the file that names it (for the script, its
 *     folder: packetdrill's own runner starts it from there), # comments;
 *   - ip, tc, ethtool, true, :, set, and sysctl without '=' (a read):
 *     about the host, or nothing; ignored, and listed with -v.
 *
 * Anything else (variables, pipes, loops, a command it does not know)
 * skips the script, naming the line: a setting it could not see might be
 * what the script tests.
 *
 * Each setting is then checked against ustack (check_setting): a name
 * ustack has is applied when the command runs; a name it lacks passes only
 * if the value is what ustack does anyway (the table `known`), and
 * otherwise skips the script, naming the setting.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/ustack.h>

#include "drill.h"

#define SH_MAX_WORDS 64
#define SH_MAX_WORD 512
#define SH_MAX_FILE (64 * 1024)
#define SH_MAX_DEPTH 4

/*
 * Settings ustack does not have, with the values that describe what it
 * does: a script may set them to one of these and still run. "*" is any
 * value, where the setting cannot matter to a script ustack-drill runs.
 */
static const struct known {
	const char *name, *values, *why;
} known[] = {
	{ "net.ipv4.tcp_ecn", "0", "ustack neither asks for nor accepts ECN" },
	{ "net.ipv4.tcp_ecn_fallback", "*", "no ECN" },
	{ "net.ipv4.tcp_ecn_option", "*", "AccECN options only with tcp_ecn=3; no ECN" },
	{ "net.ipv4.tcp_fack", "0", "no FACK (Linux removed it in 4.15)" },
	{ "net.ipv4.tcp_fastopen", "*", "ustack-drill skips every Fast Open call and option" },
	{ "net.ipv4.tcp_fastopen_key", "*", "ustack-drill skips every Fast Open call and option" },
	{ "net.ipv4.tcp_no_metrics_save", "1", "no per-destination metrics cache" },
	{ "net.ipv4.tcp_notsent_lowat", "4294967295 -1", "no TCP_NOTSENT_LOWAT" },
	{ "net.ipv4.tcp_pacing_ca_ratio", "*", "no pacing: CUBIC and Reno on a pfifo queue do not pace" },
	{ "net.ipv4.tcp_pacing_ss_ratio", "*", "no pacing" },
	{ "net.ipv4.tcp_shrink_window", "0", "the window never shrinks" },
	{ "net.ipv4.tcp_syn_linear_timeouts", "0", "SYN retransmissions back off from the first" },
	{ "net.ipv4.tcp_thin_linear_timeouts", "0", "no thin-stream timeouts" },
	{ "net.ipv4.tcp_tso_win_divisor", "*", "no TSO, so nothing is deferred for it" },
	{ "net.ipv4.tcp_autocorking", "0", "no autocorking" },
	{ "net.ipv4.tcp_workaround_signed_windows", "0", "windows are unsigned" },
};

struct sh {
	struct script *s;
	int at; /* the event whose command this is, -1 for the init command */
	const char *file; /* where the line being read comes from */
	int line;
	int depth;
	char *why;
	size_t whylen;
	int rc; /* 0, 1 skip, -1 error */
};

static void stop(struct sh *h, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void stop(struct sh *h, int rc, const char *fmt, ...)
{
	if (h->rc)
		return;
	h->rc = rc;
	va_list ap;
	va_start(ap, fmt);
	/* In the script itself the line is told apart; in a file it runs,
	 * the message names both. */
	int n = h->depth ? snprintf(h->why, h->whylen, "%s:%d: ", h->file, h->line) : 0;
	if (n >= 0 && (size_t)n < h->whylen)
		vsnprintf(h->why + n, h->whylen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void note(struct sh *h, const char *what, const char *cmd)
{
	if (h->s->cfg.verbose)
		printf("%s:%d: %s: %s\n", h->file, h->line, what, cmd);
}

static void discard_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	(void)ctx, (void)iov, (void)iovcnt;
}

/* ---- $((arithmetic)) ---- */

struct ar {
	const char *p;
	bool bad;
};

static int64_t ar_expr(struct ar *a, int depth);

static void ar_space(struct ar *a)
{
	while (*a->p == ' ' || *a->p == '\t')
		a->p++;
}

static int64_t ar_atom(struct ar *a, int depth)
{
	ar_space(a);
	if (*a->p == '(') {
		a->p++;
		int64_t v = ar_expr(a, depth + 1);
		ar_space(a);
		if (*a->p != ')')
			a->bad = true;
		else
			a->p++;
		return v;
	}
	if (*a->p == '-') {
		a->p++;
		return -ar_atom(a, depth + 1);
	}
	char *end;
	long long v = strtoll(a->p, &end, 0);
	if (end == a->p)
		a->bad = true;
	a->p = end;
	return v;
}

static int64_t ar_term(struct ar *a, int depth)
{
	int64_t v = ar_atom(a, depth);
	for (;;) {
		ar_space(a);
		char op = *a->p;
		if (op != '*' && op != '/' && op != '%')
			return v;
		a->p++;
		int64_t w = ar_atom(a, depth);
		if (op == '*')
			v *= w;
		else if (w == 0)
			a->bad = true;
		else
			v = op == '/' ? v / w : v % w;
	}
}

static int64_t ar_expr(struct ar *a, int depth)
{
	if (depth > 16) {
		a->bad = true;
		return 0;
	}
	int64_t v = ar_term(a, depth);
	for (;;) {
		ar_space(a);
		char op = *a->p;
		if (op != '+' && op != '-')
			return v;
		a->p++;
		int64_t w = ar_term(a, depth);
		v = op == '+' ? v + w : v - w;
	}
}

/* ---- Words ---- */

enum { W_WORD, W_SEP, W_REDIR };

struct word {
	int type;
	int fd; /* W_REDIR: the descriptor redirected (1 or 2) */
	bool dup; /* W_REDIR: >&N, no target */
	char text[SH_MAX_WORD];
};

static bool put(struct sh *h, struct word *w, size_t *n, char c)
{
	if (*n + 1 >= sizeof(w->text)) {
		stop(h, 1, "shell word too long");
		return false;
	}
	w->text[(*n)++] = c;
	w->text[*n] = 0;
	return true;
}

/* $((...)) at p: appends the value, returns the bytes consumed (0 on error). */
static size_t arith(struct sh *h, const char *p, struct word *w, size_t *n)
{
	const char *end = strstr(p + 3, "))");
	if (!end) {
		stop(h, 1, "shell arithmetic not understood");
		return 0;
	}
	char buf[256];
	size_t len = (size_t)(end - (p + 3));
	if (len >= sizeof(buf)) {
		stop(h, 1, "shell arithmetic too long");
		return 0;
	}
	memcpy(buf, p + 3, len);
	buf[len] = 0;
	struct ar a = { buf, false };
	int64_t v = ar_expr(&a, 0);
	ar_space(&a);
	if (a.bad || *a.p) {
		stop(h, 1, "shell arithmetic $((%s)) not understood", buf);
		return 0;
	}
	char num[32];
	snprintf(num, sizeof(num), "%lld", (long long)v);
	for (char *c = num; *c; c++)
		if (!put(h, w, n, *c))
			return 0;
	return len + 5;
}

/* Cuts one line (or a whole backtick command) into words; returns the
 * count, or -1 after stop(). */
static int split(struct sh *h, const char *p, struct word *v, int max)
{
	int nw = 0;
	struct word *w = NULL;
	size_t n = 0;
#define NEW_WORD(t)                                                                                        \
	do {                                                                                               \
		if (nw == max) {                                                                           \
			stop(h, 1, "too many shell words");                                                \
			return -1;                                                                         \
		}                                                                                          \
		w = &v[nw++];                                                                              \
		memset(w, 0, sizeof(*w));                                                                  \
		w->type = (t);                                                                             \
		n = 0;                                                                                     \
	} while (0)
	while (*p) {
		char c = *p;
		if (c == ' ' || c == '\t') {
			w = NULL;
			p++;
			continue;
		}
		if (c == '#' && !w) {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (c == '\n' || c == ';' || (c == '&' && p[1] == '&') || (c == '|' && p[1] == '|')) {
			NEW_WORD(W_SEP);
			p += (c == '\n' || c == ';') ? 1 : 2;
			w = NULL;
			continue;
		}
		if (c == '>' || (c == '&' && p[1] == '>')) {
			int fd = 1;
			if (c == '&') {
				fd = 3; /* both */
				p++;
			} else if (w && w->type == W_WORD && (!strcmp(w->text, "1") || !strcmp(w->text, "2")) &&
				   p[-1] == w->text[0]) {
				fd = w->text[0] - '0';
				nw--; /* "2>" : the 2 was the descriptor */
			}
			NEW_WORD(W_REDIR);
			w->fd = fd;
			p++;
			if (*p == '>')
				p++; /* >> appends: the same here */
			if (*p == '&' && (p[1] == '1' || p[1] == '2')) {
				w->dup = true;
				p += 2;
			}
			w = NULL;
			continue;
		}
		if (c == '|' || c == '&' || c == '<' || c == '`' || c == '(' || c == ')' || c == '{' || c == '}' ||
		    c == '*' || c == '?' || c == '[' || c == '~') {
			stop(h, 1, "shell construct '%c' not understood", c);
			return -1;
		}
		if (!w || w->type != W_WORD)
			NEW_WORD(W_WORD);
		if (c == '\'') {
			const char *e = strchr(p + 1, '\'');
			if (!e) {
				stop(h, 1, "unterminated quote");
				return -1;
			}
			for (p++; p < e; p++)
				if (!put(h, w, &n, *p))
					return -1;
			p++;
		} else if (c == '"') {
			for (p++; *p && *p != '"';) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`')) {
					if (!put(h, w, &n, p[1]))
						return -1;
					p += 2;
				} else if (p[0] == '$' && p[1] == '(' && p[2] == '(') {
					size_t k = arith(h, p, w, &n);
					if (!k)
						return -1;
					p += k;
				} else if (*p == '$' || *p == '`') {
					stop(h, 1, "shell expansion '%c' not understood", *p);
					return -1;
				} else if (!put(h, w, &n, *p++)) {
					return -1;
				}
			}
			if (*p != '"') {
				stop(h, 1, "unterminated quote");
				return -1;
			}
			p++;
		} else if (c == '\\') {
			if (p[1] == '\n') {
				p += 2; /* a continued line */
				continue;
			}
			if (!p[1] || !put(h, w, &n, p[1]))
				return -1;
			p += 2;
		} else if (c == '$' && p[1] == '(' && p[2] == '(') {
			size_t k = arith(h, p, w, &n);
			if (!k)
				return -1;
			p += k;
		} else if (c == '$') {
			stop(h, 1, "shell variable or expansion not understood");
			return -1;
		} else {
			if (!put(h, w, &n, c))
				return -1;
			p++;
		}
	}
#undef NEW_WORD
	return nw;
}

/* ---- Settings ---- */

static bool value_in(const char *value, const char *values)
{
	if (!strcmp(values, "*"))
		return true;
	char *end;
	long long v = strtoll(value, &end, 0);
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end || end == value)
		return false;
	for (const char *p = values; *p;) {
		long long k = strtoll(p, &end, 0);
		if (k == v)
			return true;
		p = end;
		while (*p == ' ')
			p++;
	}
	return false;
}

/* sysctl(8)'s name in its dotted form, for messages and the table. */
static void dotted(const char *name, char *out, size_t len)
{
	if (!strncmp(name, "/proc/sys/", 10))
		name += 10;
	const char *dot = strchr(name, '.'), *slash = strchr(name, '/');
	bool slashes = slash && (!dot || slash < dot);
	size_t i = 0;
	for (; name[i] && i + 1 < len; i++)
		out[i] = slashes && name[i] == '/' ? '.' : name[i];
	out[i] = 0;
}

static void check_setting(struct sh *h, const char *name, const char *value)
{
	char dn[sizeof(h->s->sets[0].name)];
	if (strlen(name) >= sizeof(dn) || strlen(value) >= sizeof(h->s->sets[0].value)) {
		stop(h, 1, "sysctl name or value too long");
		return;
	}
	dotted(name, dn, sizeof(dn));
	struct script *s = h->s;
	if (!s->scratch) {
		struct ustack_config cfg = { .addr = 0xC0A80001u, .output = discard_output };
		if (ustack_create(&cfg, &s->scratch)) {
			stop(h, -1, "out of memory");
			return;
		}
	}
	int err = ustack_sysctl_set(s->scratch, name, value);
	bool apply = err == 0;
	if (err == -ENOENT) {
		char buf[8];
		if (ustack_sysctl_get(s->scratch, name, buf, sizeof(buf)) >= 0) {
			/* The name is ustack's; the value named something it lacks. */
			stop(h, 1, "%s=%s not supported (ustack has no such algorithm)", dn, value);
			return;
		}
		size_t i = 0;
		while (i < sizeof(known) / sizeof(known[0]) && strcmp(known[i].name, dn))
			i++;
		if (i == sizeof(known) / sizeof(known[0]) || !value_in(value, known[i].values)) {
			stop(h, 1, "%s=%s not supported", dn, value);
			return;
		}
		char msg[256];
		snprintf(msg, sizeof(msg), "%s=%s (%s)", dn, value, known[i].why);
		note(h, "passes: ustack lacks it, and does this anyway", msg);
	} else if (err) {
		stop(h, 1, "%s=%s refused by ustack: %s", dn, value, strerror(-err));
		return;
	}
	if (!apply)
		return;
	if (s->nsets == DRILL_MAX_SETS) {
		stop(h, -1, "more than %d settings", DRILL_MAX_SETS);
		return;
	}
	struct dsetting *d = &s->sets[s->nsets++];
	memcpy(d->name, dn, sizeof(d->name));
	memcpy(d->value, value, strlen(value) + 1);
	d->at = h->at;
	d->line = h->line;
	char msg[256];
	snprintf(msg, sizeof(msg), "%s=%s", dn, value);
	note(h, "sysctl", msg);
}

/* ---- Commands ---- */

static void run_text(struct sh *h, const char *text);

static void run_file(struct sh *h, const char *path)
{
	if (h->depth >= SH_MAX_DEPTH) {
		stop(h, 1, "shell scripts nested more than %d deep", SH_MAX_DEPTH);
		return;
	}
	char full[1024];
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else {
		const char *slash = strrchr(h->file, '/');
		int dir = slash ? (int)(slash - h->file) : 1;
		snprintf(full, sizeof(full), "%.*s/%s", dir, slash ? h->file : ".", path);
	}
	FILE *f = fopen(full, "rb");
	if (!f) {
		/* The shell would fail, and packetdrill with it. */
		stop(h, -1, "%s: %s", full, strerror(errno));
		return;
	}
	char *buf = malloc(SH_MAX_FILE + 1);
	size_t n = buf ? fread(buf, 1, SH_MAX_FILE + 1, f) : 0;
	fclose(f);
	if (!buf || n > SH_MAX_FILE) {
		free(buf);
		stop(h, 1, "%s: larger than %d bytes", full, SH_MAX_FILE);
		return;
	}
	buf[n] = 0;
	if (memchr(buf, 0, n)) {
		free(buf);
		stop(h, 1, "%s: not a shell script", full);
		return;
	}
	note(h, "reading", full);
	struct sh sub = *h;
	sub.file = full;
	sub.line = 1;
	sub.depth = h->depth + 1;
	/* Line by line, so that a message names its line; a line ending in a
	 * backslash continues on the next. */
	char *line = buf;
	while (*line && !sub.rc) {
		char *e = line;
		while (*e && (*e != '\n' || (e > line && e[-1] == '\\')))
			e++;
		char save = *e;
		*e = 0;
		run_text(&sub, line);
		for (char *c = line; c < e; c++)
			sub.line += *c == '\n';
		sub.line++;
		*e = save;
		line = *e ? e + 1 : e;
	}
	h->rc = sub.rc; /* its message is in the buffer both share */
	free(buf);
}

static bool is_word(const struct word *w, int i, int n)
{
	return i < n && w[i].type == W_WORD;
}

/* One simple command: words [a, b), redirections among them. */
static void run_simple(struct sh *h, struct word *v, int a, int b, const char *text)
{
	const char *out = NULL; /* where stdout goes */
	struct word *args[SH_MAX_WORDS];
	int n = 0;
	for (int i = a; i < b; i++) {
		if (v[i].type == W_REDIR) {
			if (v[i].dup)
				continue;
			if (!is_word(v, i + 1, b)) {
				stop(h, 1, "redirection without a target");
				return;
			}
			if (v[i].fd & 1)
				out = v[i + 1].text;
			i++;
			continue;
		}
		args[n++] = &v[i];
	}
	if (n == 0)
		return;
	const char *cmd = args[0]->text;
	if (strchr(cmd, '=') && !strchr(cmd, '/')) {
		stop(h, 1, "shell variable assignment `%s` not understood", cmd);
		return;
	}
	if (!strcmp(cmd, "sysctl")) {
		int i = 1;
		for (; i < n && args[i]->text[0] == '-'; i++) {
			for (const char *f = args[i]->text + 1; *f; f++)
				if (*f != 'q' && *f != 'w' && *f != 'e') {
					stop(h, 1, "sysctl -%c not understood", *f);
					return;
				}
		}
		for (; i < n; i++) {
			char *eq = strchr(args[i]->text, '=');
			if (!eq) {
				note(h, "ignored (a read)", args[i]->text);
				continue;
			}
			/* sysctl(8) takes "a = b" as "a=b". */
			char *k = eq, *val = eq + 1;
			while (k > args[i]->text && (k[-1] == ' ' || k[-1] == '\t'))
				k--;
			*k = 0;
			while (*val == ' ' || *val == '\t')
				val++;
			check_setting(h, args[i]->text, val);
			if (h->rc)
				return;
		}
		return;
	}
	if (!strcmp(cmd, "echo")) {
		char val[SH_MAX_WORD] = "";
		size_t len = 0;
		for (int i = 1; i < n; i++) {
			if (i == 1 && (!strcmp(args[i]->text, "-n") || !strcmp(args[i]->text, "-e"))) {
				stop(h, 1, "echo %s not understood", args[i]->text);
				return;
			}
			int k = snprintf(val + len, sizeof(val) - len, "%s%s", i > 1 ? " " : "", args[i]->text);
			if (k < 0 || (size_t)k >= sizeof(val) - len) {
				stop(h, 1, "echo: value too long");
				return;
			}
			len += (size_t)k;
		}
		if (out && !strncmp(out, "/proc/sys/", 10))
			check_setting(h, out, val);
		else
			note(h, "ignored (output to the host)", text);
		return;
	}
	if (!strcmp(cmd, "ip") || !strcmp(cmd, "tc") || !strcmp(cmd, "ethtool") || !strcmp(cmd, "true") ||
	    !strcmp(cmd, ":") || !strcmp(cmd, "set")) {
		note(h, "ignored (host only)", text);
		return;
	}
	if (!strcmp(cmd, "bash") || !strcmp(cmd, "sh") || !strcmp(cmd, "source") || !strcmp(cmd, ".")) {
		if (n != 2 || args[1]->text[0] == '-') {
			stop(h, 1, "`%s` not understood", text);
			return;
		}
		run_file(h, args[1]->text);
		return;
	}
	if (strchr(cmd, '/') || (strlen(cmd) > 3 && !strcmp(cmd + strlen(cmd) - 3, ".sh"))) {
		if (n != 1) {
			stop(h, 1, "arguments to %s not understood", cmd);
			return;
		}
		run_file(h, cmd);
		return;
	}
	stop(h, 1, "shell command `%.60s` not understood", text);
}

/* A backtick command or one line of a file. */
static void run_text(struct sh *h, const char *text)
{
	struct word *v = malloc(sizeof(*v) * SH_MAX_WORDS);
	if (!v) {
		stop(h, -1, "out of memory");
		return;
	}
	int n = split(h, text, v, SH_MAX_WORDS);
	int a = 0;
	for (int i = 0; i <= n && !h->rc; i++) {
		if (i == n || v[i].type == W_SEP) {
			/* The command's own text, for messages: rebuilt from
			 * the words. */
			char line[256] = "";
			size_t len = 0;
			for (int k = a; k < i && len < sizeof(line); k++) {
				static const char *const redir[2][4] = { { "", ">", "2>", "&>" },
									 { "", ">&1", "2>&1", "&>" } };
				const char *t = v[k].type == W_REDIR ? redir[v[k].dup][v[k].fd] : v[k].text;
				int m = snprintf(line + len, sizeof(line) - len, "%s%s", k > a ? " " : "", t);
				if (m > 0)
					len += (size_t)m;
			}
			run_simple(h, v, a, i, line);
			a = i + 1;
		}
	}
	free(v);
}

int drill_shell(struct script *s, const char *cmd, int at, int line, char *why, size_t whylen)
{
	if (strlen(cmd) >= DRILL_MAX_TOKEN - 1) {
		snprintf(why, whylen, "%s:%d: shell command too long", s->path, line);
		return 1;
	}
	struct sh h = { .s = s, .at = at, .file = s->path, .line = line, .why = why, .whylen = whylen };
	if (!s->sets) {
		s->sets = calloc(DRILL_MAX_SETS, sizeof(*s->sets));
		if (!s->sets) {
			snprintf(why, whylen, "%s:%d: out of memory", s->path, line);
			return -1;
		}
	}
	run_text(&h, cmd);
	return h.rc;
}
