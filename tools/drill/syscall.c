/*
 * The system calls a script makes, on ustack's socket API, with
 * packetdrill's checks and messages (run_system_call.c there).
 *
 * ustack's sockets never block. A socket the script has not made
 * non-blocking (fcntl O_NONBLOCK, SOCK_NONBLOCK, MSG_DONTWAIT) must behave
 * as Linux's blocking one, so a call that gets EAGAIN (EINPROGRESS for
 * connect) reports "would block" and is attempted again after every
 * packet and timer until it completes; a blocking write completes only
 * when every byte is queued, a blocking connect when the handshake ends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define MAX_IO (16u << 20) /* the largest buffer a read or write may name */

enum { DONE = 1, BLOCK = 0, ERROR = -1 };

static int rt_error(struct run *r, const struct call *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rt_error(struct run *r, const struct call *c, const char *fmt, ...)
{
	char msg[DRILL_ERR];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	run_fail(r, "%s:%d: runtime error in %s call: %s", r->s->path, c->ev->line, c->ev->sc.name, msg);
	return ERROR;
}

static const struct expr *arg(const struct call *c, int i)
{
	const struct expr *e = c->ev->sc.args;
	while (e && i-- > 0)
		e = e->next;
	return e;
}

static bool eval_int(const struct expr *e, int64_t *v, char *err, size_t n)
{
	if (!e) {
		snprintf(err, n, "Argument list too short");
		return false;
	}
	switch (e->type) {
	case E_INT:
		*v = e->num;
		return true;
	case E_WORD:
		if (sym_lookup(e->str, v))
			return true;
		snprintf(err, n, "unknown symbol %s", e->str);
		return false;
	case E_OR: {
		int64_t acc = 0, x;
		for (const struct expr *k = e->kids; k; k = k->next) {
			if (!eval_int(k, &x, err, n))
				return false;
			acc |= x;
		}
		*v = acc;
		return true;
	}
	case E_LIST:
		/* [N]: an int passed by reference, as packetdrill writes it. */
		if (e->nkids == 1)
			return eval_int(e->kids, v, err, n);
		break;
	case E_CALL:
		if (strcmp(e->str, "htons") == 0 && e->nkids == 1)
			return eval_int(e->kids, v, err, n);
		if (strcmp(e->str, "inet_addr") == 0 && e->nkids == 1 && e->kids->type == E_STRING) {
			struct in_addr a;
			if (inet_pton(AF_INET, e->kids->str, &a) != 1) {
				snprintf(err, n, "bad address \"%s\"", e->kids->str);
				return false;
			}
			*v = ntohl(a.s_addr);
			return true;
		}
		break;
	default:
		break;
	}
	snprintf(err, n, "Bad type; expected an integer");
	return false;
}

static int int_arg(struct run *r, const struct call *c, int i, int64_t lo, int64_t hi, int64_t *v)
{
	char err[DRILL_ERR];
	if (!eval_int(arg(c, i), v, err, sizeof(err)))
		return rt_error(r, c, "%s", err);
	if (*v < lo || *v > hi)
		return rt_error(r, c, "argument %d out of range: %lld", i + 1, (long long)*v);
	return DONE;
}

static int check_args(struct run *r, const struct call *c, int lo, int hi)
{
	int n = c->ev->sc.nargs;
	if (n < lo || n > hi)
		return rt_error(r, c, "Expected %d args but got %d", lo, n);
	return DONE;
}

static bool is_ellipsis(const struct expr *e)
{
	return e && e->type == E_ELLIPSIS;
}

static bool is_null(const struct expr *e)
{
	return e &&
	       ((e->type == E_WORD && strcmp(e->str, "NULL") == 0) || (e->type == E_INT && e->num == 0));
}

/* {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")} */
static int sockaddr_arg(struct run *r, const struct call *c, int i, struct sockaddr_in *sin)
{
	const struct expr *e = arg(c, i);
	char err[DRILL_ERR];
	memset(sin, 0, sizeof(*sin));
	if (!e || e->type != E_STRUCT)
		return rt_error(r, c, "expected ... or a sockaddr for argument %d", i + 1);
	for (const struct expr *f = e->kids; f; f = f->next) {
		int64_t v;
		if (!f->name)
			return rt_error(r, c, "sockaddr fields need names");
		if (!eval_int(f, &v, err, sizeof(err)))
			return rt_error(r, c, "%s: %s", f->name, err);
		if (strcmp(f->name, "sa_family") == 0 || strcmp(f->name, "sin_family") == 0)
			sin->sin_family = (sa_family_t)v;
		else if (strcmp(f->name, "sin_port") == 0)
			sin->sin_port = htons((uint16_t)v);
		else if (strcmp(f->name, "sin_addr") == 0)
			sin->sin_addr.s_addr = htonl((uint32_t)v);
		else
			return rt_error(r, c, "unknown sockaddr field %s", f->name);
	}
	return DONE;
}

static int fd_arg(struct run *r, const struct call *c, struct dsock **s)
{
	int64_t fd;
	if (int_arg(r, c, 0, INT32_MIN, INT32_MAX, &fd) != DONE)
		return ERROR;
	*s = run_sock_by_script_fd(r, (int)fd);
	if (!*s)
		return rt_error(r, c, "unable to find fd with script fd %lld", (long long)fd);
	return DONE;
}

static const char *err_text(int e)
{
	return e ? strerror(e) : "Success";
}

/* packetdrill's end_syscall: the result, then the errno. fd_mode: any
 * descriptor matches an expected one (socket, accept). */
static bool finish(struct run *r, const struct call *c, long ret, bool fd_mode)
{
	const struct syscall *sc = &c->ev->sc;
	int64_t expected;
	char err[DRILL_ERR];
	if (!eval_int(sc->result, &expected, err, sizeof(err))) {
		rt_error(r, c, "result: %s", err);
		return false;
	}
	long actual = ret < 0 ? -1 : ret;
	int aerr = ret < 0 ? (int)-ret : 0;
	if (fd_mode && expected >= 0) {
		if (actual < 0) {
			rt_error(r, c, "Expected non-negative result but got %ld with errno %d (%s)", actual,
				 aerr, err_text(aerr));
			return false;
		}
	} else if (actual != expected) {
		rt_error(r, c, "Expected result %lld but got %ld with errno %d (%s)", (long long)expected,
			 actual, aerr, err_text(aerr));
		return false;
	}
	if (sc->err_name[0]) {
		int64_t want = 0;
		sym_lookup(sc->err_name, &want);
		if (want != aerr) {
			rt_error(r, c, "Expected errno %d (%s) but got %d (%s)", (int)want,
				 err_text((int)want), aerr, err_text(aerr));
			return false;
		}
	}
	return true;
}

static int result_fd(struct run *r, const struct call *c, int *fd)
{
	int64_t v;
	char err[DRILL_ERR];
	if (!eval_int(c->ev->sc.result, &v, err, sizeof(err)))
		return rt_error(r, c, "result: %s", err);
	if (v < 0 || v > INT32_MAX)
		return rt_error(r, c, "invalid socket fd %lld in script", (long long)v);
	if (run_sock_by_script_fd(r, (int)v))
		return rt_error(r, c, "duplicate fd %lld in script", (long long)v);
	*fd = (int)v;
	return DONE;
}

static void learn_local(struct run *r, struct dsock *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	if (ustack_getsockname(r->st, s->live_fd, (struct sockaddr *)&sin, &len) == 0) {
		s->l_port = ntohs(sin.sin_port);
		s->l_ip = r->cfg->local_ip;
	}
}

/* ---- The calls ---- */

static int sc_socket(struct run *r, struct call *c)
{
	int64_t domain = AF_INET, type, proto = 0;
	if (check_args(r, c, 3, 3) != DONE)
		return ERROR;
	if (!is_ellipsis(arg(c, 0)) && int_arg(r, c, 0, INT32_MIN, INT32_MAX, &domain) != DONE)
		return ERROR;
	if (int_arg(r, c, 1, INT32_MIN, INT32_MAX, &type) != DONE)
		return ERROR;
	if (!is_ellipsis(arg(c, 2)) && int_arg(r, c, 2, INT32_MIN, INT32_MAX, &proto) != DONE)
		return ERROR;
	int fd = ustack_socket(r->st, (int)domain, (int)type, (int)proto);
	if (!finish(r, c, fd, true) || fd < 0)
		return DONE;
	int sfd;
	if (result_fd(r, c, &sfd) != DONE)
		return ERROR;
	if (r->nsocks == RUN_MAX_SOCKS)
		return rt_error(r, c, "more than %d sockets", RUN_MAX_SOCKS);
	struct dsock *s = &r->socks[r->nsocks++];
	memset(s, 0, sizeof(*s));
	s->script_fd = sfd;
	s->live_fd = fd;
	s->proto = (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_DGRAM ? P_UDP : P_TCP;
	s->state = SS_NEW;
	s->nonblock = type & SOCK_NONBLOCK;
	s->l_ip = r->cfg->local_ip;
	/* Later packets in the script belong to the newest socket. */
	r->sut = s;
	return DONE;
}

static int sc_bind(struct run *r, struct call *c)
{
	struct dsock *s;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int64_t len = sizeof(sin);
	if (check_args(r, c, 3, 3) != DONE || fd_arg(r, c, &s) != DONE)
		return ERROR;
	if (is_ellipsis(arg(c, 1))) {
		sin.sin_addr.s_addr = htonl(r->cfg->local_ip);
		sin.sin_port = htons(r->cfg->bind_port);
	} else if (sockaddr_arg(r, c, 1, &sin) != DONE) {
		return ERROR;
	}
	if (!is_ellipsis(arg(c, 2)) && int_arg(r, c, 2, 0, sizeof(sin), &len) != DONE)
		return ERROR;
	int ret = ustack_bind(r->st, s->live_fd, (struct sockaddr *)&sin, (socklen_t)len);
	if (finish(r, c, ret, false) && ret == 0)
		learn_local(r, s);
	return DONE;
}

static int sc_listen(struct run *r, struct call *c)
{
	struct dsock *s;
	int64_t backlog;
	if (check_args(r, c, 2, 2) != DONE || fd_arg(r, c, &s) != DONE ||
	    int_arg(r, c, 1, INT32_MIN, INT32_MAX, &backlog) != DONE)
		return ERROR;
	int ret = ustack_listen(r->st, s->live_fd, (int)backlog);
	if (finish(r, c, ret, false) && ret == 0) {
		s->state = SS_LISTENING;
		learn_local(r, s);
	}
	return DONE;
}

static int sc_accept(struct run *r, struct call *c)
{
	struct dsock *s;
	if (check_args(r, c, 3, 3) != DONE || fd_arg(r, c, &s) != DONE)
		return ERROR;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = ustack_accept(r->st, s->live_fd, (struct sockaddr *)&sin, &len);
	if (fd == -EAGAIN && !s->nonblock)
		return BLOCK;
	if (!finish(r, c, fd, true) || fd < 0)
		return DONE;
	int sfd;
	if (result_fd(r, c, &sfd) != DONE)
		return ERROR;
	for (int i = 0; i < r->nsocks; i++) {
		struct dsock *k = &r->socks[i];
		if (k->proto == P_TCP && k->live_fd < 0 && !k->closed &&
		    (k->state == SS_PASSIVE_SYNACK_SENT || k->state == SS_PASSIVE_SYNACK_ACKED) &&
		    k->r_port == ntohs(sin.sin_port)) {
			k->script_fd = sfd;
			k->live_fd = fd;
			return DONE;
		}
	}
	return rt_error(r, c, "unable to find socket matching accept() call");
}

static int sc_connect(struct run *r, struct call *c, bool first)
{
	struct dsock *s;
	if (check_args(r, c, 3, 3) != DONE || fd_arg(r, c, &s) != DONE)
		return ERROR;
	int ret;
	if (first) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		int64_t len = sizeof(sin);
		if (is_ellipsis(arg(c, 1))) {
			sin.sin_addr.s_addr = htonl(r->cfg->remote_ip);
			sin.sin_port = htons(r->cfg->connect_port);
		} else if (sockaddr_arg(r, c, 1, &sin) != DONE) {
			return ERROR;
		}
		if (!is_ellipsis(arg(c, 2)) && int_arg(r, c, 2, 0, sizeof(sin), &len) != DONE)
			return ERROR;
		if (s->proto == P_TCP) {
			if (sin.sin_family == AF_UNSPEC) {
				s->state = SS_NEW;
			} else if (s->state == SS_NEW) {
				s->state = SS_ACTIVE_CONNECTING;
				s->r_ip = ntohl(sin.sin_addr.s_addr);
				s->r_port = ntohs(sin.sin_port);
			}
		}
		ret = ustack_connect(r->st, s->live_fd, (struct sockaddr *)&sin, (socklen_t)len);
		if (ret == -EINPROGRESS && !s->nonblock && s->proto == P_TCP)
			return BLOCK;
	} else {
		/* The handshake ended one way or the other when the socket
		 * turns writable or reports an error; connect() again tells
		 * which, as on a non-blocking socket. */
		int m = ustack_sock_poll(r->st, s->live_fd);
		if (m >= 0 && !(m & (POLLOUT | POLLERR | POLLHUP)))
			return BLOCK;
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(s->r_port),
					   .sin_addr.s_addr = htonl(s->r_ip) };
		ret = ustack_connect(r->st, s->live_fd, (struct sockaddr *)&sin, sizeof(sin));
	}
	finish(r, c, ret, false);
	return DONE;
}

static int buf_arg(struct run *r, const struct call *c, int i, bool *null)
{
	const struct expr *e = arg(c, i);
	*null = is_null(e);
	if (!is_ellipsis(e) && !*null)
		return rt_error(r, c, "Expected ... or NULL for buffer");
	return DONE;
}

/* read, recv, recvfrom. */
static int sc_read(struct run *r, struct call *c, int nargs)
{
	struct dsock *s;
	int64_t n, flags = 0;
	bool null;
	if (check_args(r, c, nargs, nargs) != DONE || fd_arg(r, c, &s) != DONE ||
	    buf_arg(r, c, 1, &null) != DONE || int_arg(r, c, 2, 0, MAX_IO, &n) != DONE)
		return ERROR;
	if (nargs > 3 && int_arg(r, c, 3, INT32_MIN, INT32_MAX, &flags) != DONE)
		return ERROR;
	bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
	bool waitall = (flags & MSG_WAITALL) && s->proto == P_TCP && !nonblock;
	if (s->proto == P_TCP)
		flags &= ~(int64_t)MSG_WAITALL;
	uint8_t *buf = null ? NULL : malloc(n ? (size_t)n : 1);
	if (!null && !buf)
		return rt_error(r, c, "out of memory");
	struct sockaddr_in sin;
	socklen_t alen = sizeof(sin);
	ssize_t ret = ustack_recvfrom(r->st, s->live_fd, buf, (size_t)n - c->done, (int)flags,
				      nargs > 4 ? (struct sockaddr *)&sin : NULL, nargs > 4 ? &alen : NULL);
	free(buf);
	if (ret == -EAGAIN && !nonblock && c->done == 0)
		return BLOCK;
	if (waitall) {
		if (ret > 0)
			c->done += (size_t)ret;
		if (ret > 0 && c->done < (size_t)n)
			return BLOCK;
		if (ret == -EAGAIN)
			return BLOCK;
		if (c->done > 0)
			ret = (ssize_t)c->done;
	}
	finish(r, c, (long)ret, false);
	return DONE;
}

/* write, send, sendto. */
static int sc_write(struct run *r, struct call *c, int nargs)
{
	struct dsock *s;
	int64_t n, flags = 0, alen = sizeof(struct sockaddr_in);
	bool null;
	if (check_args(r, c, nargs, nargs) != DONE || fd_arg(r, c, &s) != DONE ||
	    buf_arg(r, c, 1, &null) != DONE || int_arg(r, c, 2, 0, MAX_IO, &n) != DONE)
		return ERROR;
	if (nargs > 3 && int_arg(r, c, 3, INT32_MIN, INT32_MAX, &flags) != DONE)
		return ERROR;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	const struct sockaddr *to = NULL;
	if (nargs > 4) {
		if (is_ellipsis(arg(c, 4))) {
			sin.sin_addr.s_addr = htonl(r->cfg->remote_ip);
			sin.sin_port = htons(r->cfg->connect_port);
			to = (struct sockaddr *)&sin;
		} else if (!is_null(arg(c, 4))) {
			if (sockaddr_arg(r, c, 4, &sin) != DONE)
				return ERROR;
			to = (struct sockaddr *)&sin;
		}
		if (!is_ellipsis(arg(c, 5)) && int_arg(r, c, 5, 0, 1024, &alen) != DONE)
			return ERROR;
	}
	bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
	/* SIGPIPE is Linux's business, not the stack's. */
	flags &= ~(int64_t)(MSG_NOSIGNAL | MSG_DONTWAIT);
	uint8_t *buf = null ? NULL : calloc(1, n ? (size_t)n : 1);
	if (!null && !buf)
		return rt_error(r, c, "out of memory");
	ssize_t ret = ustack_sendto(r->st, s->live_fd, buf ? buf + c->done : NULL, (size_t)n - c->done,
				    (int)flags, to, (socklen_t)alen);
	free(buf);
	if (s->proto == P_TCP && !nonblock) {
		/* A blocking write returns when every byte is queued, or with
		 * what it queued when an error stops it. */
		if (ret > 0)
			c->done += (size_t)ret;
		if ((ret > 0 && c->done < (size_t)n) || ret == -EAGAIN)
			return BLOCK;
		if (c->done > 0)
			ret = (ssize_t)c->done;
	}
	finish(r, c, (long)ret, false);
	return DONE;
}

static int sc_close(struct run *r, struct call *c)
{
	struct dsock *s;
	if (check_args(r, c, 1, 1) != DONE || fd_arg(r, c, &s) != DONE)
		return ERROR;
	int ret = ustack_close(r->st, s->live_fd);
	if (finish(r, c, ret, false) && ret == 0)
		s->closed = true;
	return DONE;
}

static int sc_shutdown(struct run *r, struct call *c)
{
	struct dsock *s;
	int64_t how;
	if (check_args(r, c, 2, 2) != DONE || fd_arg(r, c, &s) != DONE ||
	    int_arg(r, c, 1, INT32_MIN, INT32_MAX, &how) != DONE)
		return ERROR;
	finish(r, c, ustack_shutdown(r->st, s->live_fd, (int)how), false);
	return DONE;
}

union optval {
	int i;
	struct linger l;
	char s[256];
};

/* An option value as the script writes it: [N], {onoff=1, linger=0}, "reno". */
static int optval_arg(struct run *r, const struct call *c, int i, union optval *v, size_t *size)
{
	const struct expr *e = arg(c, i);
	char err[DRILL_ERR];
	memset(v, 0, sizeof(*v));
	if (e && e->type == E_STRING) {
		*size = strlen(e->str);
		if (*size >= sizeof(v->s))
			return rt_error(r, c, "option string too long");
		memcpy(v->s, e->str, *size);
		return DONE;
	}
	if (e && e->type == E_STRUCT) {
		int64_t x;
		for (const struct expr *f = e->kids; f; f = f->next) {
			if (!f->name || !eval_int(f, &x, err, sizeof(err)))
				return rt_error(r, c, "bad linger value");
			if (strcmp(f->name, "onoff") == 0)
				v->l.l_onoff = (int)x;
			else if (strcmp(f->name, "linger") == 0)
				v->l.l_linger = (int)x;
			else
				return rt_error(r, c, "unknown linger field %s", f->name);
		}
		*size = sizeof(v->l);
		return DONE;
	}
	int64_t x;
	if (!eval_int(e, &x, err, sizeof(err)))
		return rt_error(r, c, "%s", err);
	v->i = (int)x;
	*size = sizeof(int);
	return DONE;
}

static int sc_setsockopt(struct run *r, struct call *c)
{
	struct dsock *s;
	int64_t level, name, len;
	union optval v;
	size_t size;
	if (check_args(r, c, 5, 5) != DONE || fd_arg(r, c, &s) != DONE ||
	    int_arg(r, c, 1, INT32_MIN, INT32_MAX, &level) != DONE ||
	    int_arg(r, c, 2, INT32_MIN, INT32_MAX, &name) != DONE ||
	    optval_arg(r, c, 3, &v, &size) != DONE || int_arg(r, c, 4, 0, sizeof(v), &len) != DONE)
		return ERROR;
	finish(r, c, ustack_setsockopt(r->st, s->live_fd, (int)level, (int)name, &v, (socklen_t)len), false);
	return DONE;
}

static int sc_getsockopt(struct run *r, struct call *c)
{
	struct dsock *s;
	int64_t level, name, len;
	if (check_args(r, c, 5, 5) != DONE || fd_arg(r, c, &s) != DONE ||
	    int_arg(r, c, 1, INT32_MIN, INT32_MAX, &level) != DONE ||
	    int_arg(r, c, 2, INT32_MIN, INT32_MAX, &name) != DONE)
		return ERROR;
	if (!arg(c, 4) || arg(c, 4)->type != E_LIST)
		return rt_error(r, c, "expected [length] for the option length");
	if (int_arg(r, c, 4, 0, 255, &len) != DONE)
		return ERROR;
	union optval live;
	memset(&live, 0, sizeof(live));
	socklen_t llen = (socklen_t)len;
	int ret = ustack_getsockopt(r->st, s->live_fd, (int)level, (int)name, &live, &llen);
	if (!finish(r, c, ret, false) || ret < 0)
		return DONE;
	if ((int64_t)llen != len)
		return rt_error(r, c, "Bad getsockopt optlen: expected: %lld actual: %d", (long long)len,
				(int)llen);
	const struct expr *e = arg(c, 3);
	if (is_ellipsis(e))
		return DONE;
	union optval want;
	size_t size;
	if (optval_arg(r, c, 3, &want, &size) != DONE)
		return ERROR;
	if (e->type == E_STRING) {
		if (size != (size_t)len || memcmp(want.s, live.s, size) != 0)
			return rt_error(r, c, "Bad getsockopt optval: expected: '%s' actual: '%.*s'", want.s,
					(int)llen, live.s);
	} else if (e->type == E_STRUCT) {
		if (want.l.l_onoff != live.l.l_onoff || want.l.l_linger != live.l.l_linger)
			return rt_error(r, c,
					"Bad getsockopt optval: expected: {onoff=%d, linger=%d} actual: "
					"{onoff=%d, linger=%d}",
					want.l.l_onoff, want.l.l_linger, live.l.l_onoff, live.l.l_linger);
	} else {
		if (len != 4)
			return rt_error(r, c, "Unsupported getsockopt optlen: %lld", (long long)len);
		if (want.i != live.i)
			return rt_error(r, c, "Bad getsockopt optval: expected: %d actual: %d", want.i,
					live.i);
	}
	return DONE;
}

static int sc_fcntl(struct run *r, struct call *c)
{
	struct dsock *s;
	int64_t cmd, a = 0;
	if (check_args(r, c, 2, 3) != DONE || fd_arg(r, c, &s) != DONE ||
	    int_arg(r, c, 1, INT32_MIN, INT32_MAX, &cmd) != DONE)
		return ERROR;
	if (c->ev->sc.nargs == 3 && int_arg(r, c, 2, INT32_MIN, INT32_MAX, &a) != DONE)
		return ERROR;
	long ret;
	switch (cmd) {
	case F_GETFL:
		ret = O_RDWR | (s->nonblock ? O_NONBLOCK : 0);
		break;
	case F_SETFL:
		s->nonblock = a & O_NONBLOCK;
		ret = 0;
		break;
	case F_GETFD:
	case F_SETFD:
		ret = 0;
		break;
	default:
		ret = -EINVAL;
		break;
	}
	finish(r, c, ret, false);
	return DONE;
}

/* poll(2)'s revents for one socket: what ustack reports, with the
 * RDNORM/WRNORM twins Linux adds, masked as Linux masks them. */
static int revents(struct run *r, const struct dsock *s, int events)
{
	if (!s)
		return POLLNVAL;
	int m = ustack_sock_poll(r->st, s->live_fd);
	if (m < 0)
		return POLLNVAL;
	if (m & POLLIN)
		m |= POLLRDNORM;
	if (m & POLLOUT)
		m |= POLLWRNORM | (s->proto == P_UDP ? POLLWRBAND : 0);
	return m & (events | POLLERR | POLLHUP | POLLNVAL);
}

static void revents_format(int ev, char *buf, size_t n)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = { { POLLIN, "POLLIN" },	    { POLLPRI, "POLLPRI" },
		      { POLLOUT, "POLLOUT" },	    { POLLERR, "POLLERR" },
		      { POLLHUP, "POLLHUP" },	    { POLLNVAL, "POLLNVAL" },
		      { POLLRDNORM, "POLLRDNORM" }, { POLLRDBAND, "POLLRDBAND" },
		      { POLLWRNORM, "POLLWRNORM" }, { POLLWRBAND, "POLLWRBAND" },
		      { POLLRDHUP, "POLLRDHUP" } };
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ev & names[i].bit) {
			size_t u = strlen(buf);
			snprintf(buf + u, n - u, "%s%s", u ? "|" : "", names[i].name);
		}
	}
	if (!buf[0])
		snprintf(buf, n, "0");
}

static int sc_poll(struct run *r, struct call *c, bool first)
{
	int64_t nfds, timeout;
	if (check_args(r, c, 3, 3) != DONE || int_arg(r, c, 1, 0, DRILL_MAX_LIST, &nfds) != DONE ||
	    int_arg(r, c, 2, INT32_MIN, INT32_MAX, &timeout) != DONE)
		return ERROR;
	const struct expr *list = arg(c, 0);
	if (!list || list->type != E_LIST)
		return rt_error(r, c, "expected a list of pollfds");
	if (nfds != list->nkids)
		return rt_error(r, c, "nfds %lld does not match %d-element pollfd array", (long long)nfds,
				list->nkids);
	int got[DRILL_MAX_LIST], want[DRILL_MAX_LIST], ready = 0, i = 0;
	char err[DRILL_ERR];
	for (const struct expr *p = list->kids; p; p = p->next, i++) {
		int64_t fd = -1, events = 0, rev = 0;
		if (p->type != E_STRUCT)
			return rt_error(r, c, "expected {fd=..., events=...} in the pollfd array");
		for (const struct expr *f = p->kids; f; f = f->next) {
			int64_t v;
			if (!f->name || !eval_int(f, &v, err, sizeof(err)))
				return rt_error(r, c, "bad pollfd field");
			if (strcmp(f->name, "fd") == 0)
				fd = v;
			else if (strcmp(f->name, "events") == 0)
				events = v;
			else if (strcmp(f->name, "revents") == 0)
				rev = v;
			else
				return rt_error(r, c, "unknown pollfd field %s", f->name);
		}
		struct dsock *s = fd >= 0 ? run_sock_by_script_fd(r, (int)fd) : NULL;
		got[i] = fd < 0 ? 0 : revents(r, s, (int)events);
		want[i] = (int)rev;
		if (got[i])
			ready++;
	}
	if (ready == 0 && timeout != 0) {
		if (first && timeout > 0)
			c->deadline = r->now + timeout * 1000;
		if (c->deadline < 0 || r->now < c->deadline)
			return BLOCK;
	}
	if (!finish(r, c, ready, false))
		return DONE;
	for (i = 0; i < list->nkids; i++) {
		if (got[i] != want[i]) {
			char a[128], b[128];
			revents_format(want[i], a, sizeof(a));
			revents_format(got[i], b, sizeof(b));
			return rt_error(r, c, "Expected revents of %s but got %s for pollfd %d", a, b, i);
		}
	}
	return DONE;
}

int syscall_attempt(struct run *r, struct call *c, bool first)
{
	const char *n = c->ev->sc.name;
	if (strcmp(n, "socket") == 0)
		return sc_socket(r, c);
	if (strcmp(n, "bind") == 0)
		return sc_bind(r, c);
	if (strcmp(n, "listen") == 0)
		return sc_listen(r, c);
	if (strcmp(n, "accept") == 0)
		return sc_accept(r, c);
	if (strcmp(n, "connect") == 0)
		return sc_connect(r, c, first);
	if (strcmp(n, "read") == 0)
		return sc_read(r, c, 3);
	if (strcmp(n, "recv") == 0)
		return sc_read(r, c, 4);
	if (strcmp(n, "recvfrom") == 0)
		return sc_read(r, c, 6);
	if (strcmp(n, "write") == 0)
		return sc_write(r, c, 3);
	if (strcmp(n, "send") == 0)
		return sc_write(r, c, 4);
	if (strcmp(n, "sendto") == 0)
		return sc_write(r, c, 6);
	if (strcmp(n, "close") == 0)
		return sc_close(r, c);
	if (strcmp(n, "shutdown") == 0)
		return sc_shutdown(r, c);
	if (strcmp(n, "setsockopt") == 0)
		return sc_setsockopt(r, c);
	if (strcmp(n, "getsockopt") == 0)
		return sc_getsockopt(r, c);
	if (strcmp(n, "fcntl") == 0)
		return sc_fcntl(r, c);
	if (strcmp(n, "poll") == 0)
		return sc_poll(r, c, first);
	return rt_error(r, c, "Unknown system call: '%s'", n);
}

void syscall_check_end(struct run *r, struct call *c)
{
	char err[DRILL_ERR];
	struct event *ev = c->ev;
	enum time_type tt = ev->tt == TM_REL ? TM_REL : TM_ABS;
	if (!run_verify_time(r, tt, ev->sc.end_usecs, 0, r->now, ev->usecs, "system call return", err,
			     sizeof(err)))
		run_fail(r, "%s:%d: %s", r->s->path, ev->line, err);
}
