/*
 * ustack-drill: runs packetdrill scripts against a fresh ustack instance on
 * a virtual clock. This header is what the parts share:
 *
 *   lex.c      the script's tokens, as packetdrill's lexer.l cuts them
 *   parse.c    the grammar of parser.y, reduced to what a ustack can run;
 *              whatever it cannot run marks the script skipped
 *   symbols.c  the names a script may use (errno values, socket constants)
 *   packet.c   script packets: building inbound ones, reading outbound ones,
 *              comparing and printing them
 *   shell.c    the shell commands a script runs, as far as they set sysctls
 *   run.c      the executor: time, the socket under test, packets, and the
 *              system calls (blocking emulated over non-blocking sockets)
 *
 * Everything a script can make the parser allocate is bounded (token
 * length, events, expression depth), since scripts come from anywhere and
 * the parser will be fuzzed.
 */
#ifndef USTACK_DRILL_H
#define USTACK_DRILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ustack;

/* Limits on what one script may hold. */
#define DRILL_MAX_SCRIPT (1u << 20) /* bytes of script text */
#define DRILL_MAX_TOKEN 1024 /* bytes of one token */
#define DRILL_MAX_EVENTS 20000
#define DRILL_MAX_DEPTH 16 /* nesting of expressions */
#define DRILL_MAX_ARGS 16
#define DRILL_MAX_LIST 64 /* elements of one [..] or {..} */
#define DRILL_ERR 512 /* bytes of one error message */
#define DRILL_MAX_SETS 256 /* sysctl settings the shell commands make */

/* ---- Tokens (lex.c) ---- */

enum tok_type {
	T_EOF,
	T_INT, /* decimal, maybe negative */
	T_HEX, /* 0x... */
	T_FLOAT, /* decimal with a fraction: times */
	T_WORD, /* [A-Za-z0-9_]+ that is not a number */
	T_STRING, /* "..." with escapes kept */
	T_BACKQUOTE, /* `...`: a shell command */
	T_CODE, /* %{ ... }%: a Python block */
	T_OPTION, /* --name or --name=value */
	T_ELLIPSIS, /* ... */
	T_IPV4, /* a.b.c.d */
	T_CHAR, /* any other single character */
};

struct tok {
	enum tok_type type;
	int line;
	char text[DRILL_MAX_TOKEN];
	int64_t num; /* T_INT, T_HEX */
	int64_t usecs; /* T_FLOAT, T_INT: the value as a time in microseconds */
	bool time_ok; /* usecs is valid (non-negative, in range) */
};

struct lexer {
	const char *src;
	size_t len, pos;
	int line;
	char err[DRILL_ERR];
};

void lex_init(struct lexer *lx, const char *src, size_t len);
/* Reads the next token; returns false (with lx->err set) on a lexical error. */
bool lex_next(struct lexer *lx, struct tok *t);

/* ---- Expressions: system call arguments and results ---- */

enum expr_type {
	E_ELLIPSIS,
	E_INT,
	E_WORD, /* a symbol, resolved when run */
	E_STRING,
	E_LIST, /* [a, b] */
	E_STRUCT, /* {name=value, ...} or {a, b} */
	E_OR, /* a | b */
	E_CALL, /* htons(8080), inet_addr("1.2.3.4") */
};

struct expr {
	enum expr_type type;
	int64_t num;
	char *str; /* E_WORD, E_STRING, E_CALL (name) */
	char *name; /* a field name inside E_STRUCT ("fd", "events", ...) */
	struct expr *kids; /* E_LIST, E_STRUCT, E_CALL arguments, E_OR operands */
	struct expr *next;
	int nkids;
};

void expr_free(struct expr *e);

/* ---- Script packets ---- */

enum { DIR_IN, DIR_OUT };
enum { P_TCP, P_UDP, P_ICMP };

struct spkt {
	int dir;
	int proto;
	bool ports; /* the script named ports: sport>dport */
	uint16_t sport, dport;
	/* TCP */
	uint8_t flags; /* USTACK_TCP_* */
	uint32_t seq, ack;
	uint16_t len; /* payload bytes; also UDP's payload length */
	int32_t win; /* -1: not given (outbound: not checked) */
	uint16_t urg;
	bool opt_nocheck; /* <...> */
	uint8_t opt[40];
	uint8_t optlen;
	/* ICMP */
	uint8_t icmp_type, icmp_code;
	int32_t mtu; /* -1: none */
	uint16_t echo_id;
	int echoed; /* -1 none, else P_TCP or P_UDP */
	uint32_t echoed_seq;
	uint16_t echoed_len;
};

/* ---- Events ---- */

enum time_type { TM_ABS, TM_REL, TM_ANY, TM_ABS_RANGE, TM_REL_RANGE };
enum ev_type { EV_PACKET, EV_SYSCALL, EV_COMMAND };

#define SYSCALL_NONBLOCKING (-1)

struct syscall {
	char name[32];
	struct expr *args;
	int nargs;
	struct expr *result;
	char err_name[32]; /* "" when no errno is expected */
	int64_t end_usecs; /* SYSCALL_NONBLOCKING, or the time after "..." */
};

struct event {
	int line;
	enum time_type tt;
	int64_t usecs, usecs_end; /* as written; made absolute when run */
	int64_t offset; /* what a relative time was measured from */
	enum ev_type type;
	struct spkt pkt;
	struct syscall sc;
};

/* Options that a command line or a script's first lines may set. */
struct drill_config {
	uint32_t local_ip, remote_ip; /* host order */
	uint16_t bind_port, connect_port;
	uint16_t mtu;
	int64_t tolerance_usecs;
	double tolerance_percent;
	bool verbose;
	uint64_t seed;
};

/* A sysctl a shell command sets (shell.c), applied when it runs. */
struct dsetting {
	char name[128];
	char value[256];
	int at; /* the event of its command; -1: the script's first command, before any event */
	int line;
};

struct script {
	const char *path;
	struct event *ev;
	int nev;
	struct dsetting *sets;
	int nsets;
	struct ustack *scratch; /* shell.c tries each setting here first */
	struct drill_config cfg;
	char skip[DRILL_ERR]; /* why the script cannot run here; "" if it can */
	int skip_line;
};

/*
 * Parses script text into s. The options in s->cfg (from the command line)
 * are overridden by those at the script's head. Returns 0, or -1 with a
 * message "path:line: ..." in err. An unsupported construct is not an
 * error: s->skip names it and parsing stops there.
 */
int drill_parse(struct script *s, const char *text, size_t len, char *err, size_t errlen);
void drill_script_free(struct script *s);

/*
 * Interprets a backtick command (shell.c) run by event `at` (-1: before
 * the first): appends the sysctls it sets to s->sets. Returns 0, 1 when
 * the script must be skipped, -1 when it must fail (a file it runs does
 * not exist); `why` says which and where.
 */
int drill_shell(struct script *s, const char *cmd, int at, int line, char *why, size_t whylen);

/* Runs a parsed script against a fresh stack (run.c). Returns 0 if it
 * passed, or -1 with packetdrill's message ("path:line: ...") in err. */
int drill_run(struct script *s, char *err, size_t errlen);

/* Applies one "--name=value" option; returns 0, -1 for a bad value (msg in
 * err), or 1 for an option this runner does not have. */
int drill_option(struct drill_config *c, const char *name, const char *value, char *err, size_t errlen);

/* ---- Symbols (symbols.c) ---- */

/* The value of a name a script may use; false if unknown. */
bool sym_lookup(const char *name, int64_t *val);
/* An errno's name ("ECONNREFUSED") for a value, or NULL. */
const char *errno_name(int err);
/* Socket options the runner knows ustack lacks: the script is skipped. */
bool sym_unsupported_sockopt(const char *name);
/* System calls the runner can perform. */
bool sym_supported_syscall(const char *name);

/* ---- Packets (packet.c) ---- */

/* Appends one option's bytes; false if they do not fit in 40. */
bool opt_append(struct spkt *p, const uint8_t *bytes, size_t n);

/* A packet the stack sent, decoded enough to compare. */
struct live {
	int64_t usecs; /* script time it was sent */
	uint8_t *buf;
	size_t len;
	uint32_t saddr, daddr;
	uint8_t proto; /* IP protocol number */
	uint16_t sport, dport;
	/* TCP */
	uint32_t seq, ack;
	uint8_t flags, doff, res;
	uint16_t win, urg;
	const uint8_t *opt;
	uint8_t optlen;
	uint32_t plen; /* TCP or UDP payload bytes */
	const uint8_t *payload;
	/* ICMP */
	uint8_t icmp_type, icmp_code;
	bool ok; /* parsed as IPv4 with a transport header we know */
};

/* Decodes p->buf; sets p->ok. */
void live_decode(struct live *p);

/* Writes a one-line description in packetdrill's short form. */
void spkt_format(const struct spkt *p, char *buf, size_t size);
/* The same for a live packet whose seq and ack are already in script space. */
void live_format(const struct live *p, uint32_t seq, uint32_t ack, char *buf, size_t size);
void opt_format(const uint8_t *opt, size_t len, char *buf, size_t size);

#endif
