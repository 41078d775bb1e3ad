/*
 * The socket calls' errors, as Linux returns them (checked against the
 * kernel this project runs on, 6.18): bad descriptors, unsupported
 * families, types and protocols, bind/listen/accept/connect/send/recv/
 * shutdown in the wrong state, socket options and their Linux quirks
 * (SO_RCVBUF and SO_SNDBUF doubled, with floors), descriptor allocation
 * (lowest free first, from 3), ephemeral ports for bind(0) (RFC 6056,
 * Linux's 32768-60999), the descriptor limit, and poll on a fresh socket.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "testnet.h"

static struct tpeer P;

static void setup(void)
{
	tpeer_init(&P, NULL);
}

static void teardown(void)
{
	tpeer_fini(&P);
}

TestSuite(socket_api, .init = setup, .fini = teardown);

static int new_socket(void)
{
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0, "socket() failed: %d", fd);
	return fd;
}

static int bound_socket(uint16_t port)
{
	int fd = new_socket();
	struct sockaddr_in sin = t_sin(0, port);
	cr_assert_eq(ustack_bind(P.st, fd, T_SA(sin), sizeof(sin)), 0);
	return fd;
}

#define EXPECT_ERR(call, err)                                                                              \
	do {                                                                                               \
		long r_ = (long)(call);                                                                    \
		cr_assert_eq(r_, -(long)(err), "%s = %ld (%s), want -%s", #call, r_,                       \
			     r_ < 0 ? strerror((int)-r_) : "no error", #err);                              \
	} while (0)

/* ---- descriptors ---- */

static const char *const call_names[] = {
	"bind", "listen", "accept", "connect", "send", "recv", "shutdown",
	"getsockname", "getpeername", "setsockopt", "getsockopt", "sock_poll", "sock_state", "close",
};

static long call(int which, int fd)
{
	struct sockaddr_in sin = t_sin(0, 5555), peer = t_sin(T_ADDR_B, 80);
	struct sockaddr_in out;
	socklen_t len = sizeof(out);
	int one = 1;
	char buf[4];
	switch (which) {
	case 0:
		return ustack_bind(P.st, fd, T_SA(sin), sizeof(sin));
	case 1:
		return ustack_listen(P.st, fd, 8);
	case 2:
		return ustack_accept(P.st, fd, (struct sockaddr *)&out, &len);
	case 3:
		return ustack_connect(P.st, fd, T_SA(peer), sizeof(peer));
	case 4:
		return ustack_send(P.st, fd, "x", 1, 0);
	case 5:
		return ustack_recv(P.st, fd, buf, sizeof(buf), 0);
	case 6:
		return ustack_shutdown(P.st, fd, SHUT_RDWR);
	case 7:
		return ustack_getsockname(P.st, fd, (struct sockaddr *)&out, &len);
	case 8:
		return ustack_getpeername(P.st, fd, (struct sockaddr *)&out, &len);
	case 9:
		return ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	case 10:
		len = sizeof(one);
		return ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_ERROR, &one, &len);
	case 11:
		return ustack_sock_poll(P.st, fd);
	case 12:
		return ustack_sock_state(P.st, fd);
	default:
		return ustack_close(P.st, fd);
	}
}

Test(socket_api, bad_descriptors)
{
	int closed = new_socket();
	int live = new_socket(); /* something in the table around it */
	cr_assert_eq(ustack_close(P.st, closed), 0);
	const struct {
		int fd;
		const char *what;
	} fds[] = {
		{ -1, "-1" },
		{ 0, "0 (stdin's number)" },
		{ 1, "1" },
		{ 2, "2" },
		{ closed, "closed" },
		{ live + 1, "never opened" },
		{ 1000, "1000" },
		{ INT_MAX, "INT_MAX" },
		{ INT_MIN, "INT_MIN" },
	};
	int ncalls = (int)(sizeof(call_names) / sizeof(call_names[0]));
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		for (int c = 0; c < ncalls; c++) {
			long r = call(c, fds[i].fd);
			cr_assert_eq(r, -EBADF, "%s on fd %s (%d) = %ld, want -EBADF", call_names[c],
				     fds[i].what, fds[i].fd, r);
		}
	cr_assert_eq(ustack_sock_state(P.st, live), USTACK_TCP_CLOSED, "the live socket is untouched");
	cr_assert_null(tpeer_next(&P), "nothing sent");
}

Test(socket_api, socket_arguments)
{
	EXPECT_ERR(ustack_socket(P.st, AF_INET6, SOCK_STREAM, 0), EAFNOSUPPORT);
	EXPECT_ERR(ustack_socket(P.st, AF_UNIX, SOCK_STREAM, 0), EAFNOSUPPORT);
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_RAW, 0), EPROTONOSUPPORT);
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_STREAM, 99), EPROTONOSUPPORT);
	/* No failed call took a descriptor. */
	cr_assert_eq(ustack_socket(P.st, AF_INET, SOCK_STREAM, IPPROTO_TCP), 3);
	cr_assert_eq(ustack_socket(P.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 4,
		     "SOCK_NONBLOCK and SOCK_CLOEXEC are accepted");
}

Test(socket_api, descriptors_lowest_first)
{
	cr_assert_eq(new_socket(), 3, "the first descriptor is 3, as after stdin, stdout, stderr");
	cr_assert_eq(new_socket(), 4);
	cr_assert_eq(new_socket(), 5);
	cr_assert_eq(ustack_close(P.st, 4), 0);
	cr_assert_eq(new_socket(), 4, "the lowest free descriptor is reused");
	cr_assert_eq(new_socket(), 6);
	cr_assert_eq(ustack_close(P.st, 3), 0);
	cr_assert_eq(ustack_close(P.st, 5), 0);
	cr_assert_eq(new_socket(), 3);
	cr_assert_eq(new_socket(), 5);
}

Test(socket_api, max_sockets_emfile)
{
	tpeer_fini(&P);
	struct ustack_config cfg = { .max_sockets = 3 };
	tpeer_init(&P, &cfg);
	cr_assert_eq(new_socket(), 3);
	cr_assert_eq(new_socket(), 4);
	cr_assert_eq(new_socket(), 5);
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_STREAM, 0), EMFILE);
	cr_assert_eq(ustack_close(P.st, 4), 0);
	cr_assert_eq(new_socket(), 4, "a descriptor is free again");
	EXPECT_ERR(ustack_socket(P.st, AF_INET, SOCK_STREAM, 0), EMFILE);
}

/* accept() with the table full: -EMFILE, and the connection stays queued
 * for a later accept (Linux takes the descriptor before dequeuing). */
Test(socket_api, accept_emfile_keeps_connection)
{
	tpeer_fini(&P);
	struct ustack_config cfg = { .max_sockets = 2 };
	tpeer_init(&P, &cfg);
	int lfd = bound_socket(8080);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	int other = new_socket();
	tpeer_send(&P, 40000, 8080, USTACK_TCP_SYN, 5000, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = tpeer_next(&P);
	cr_assert_not_null(sa);
	tpeer_send(&P, 40000, 8080, USTACK_TCP_ACK, 5001, sa->h.seq + 1, 512, NULL, 0, NULL);
	cr_assert_eq(ustack_sock_poll(P.st, lfd), POLLIN, "a connection to accept");
	EXPECT_ERR(ustack_accept(P.st, lfd, NULL, NULL), EMFILE);
	cr_assert_null(tpeer_next(&P), "the connection is not reset; trace:\n%s", P.trace);
	cr_assert_eq(ustack_sock_poll(P.st, lfd), POLLIN, "still queued");
	cr_assert_eq(ustack_close(P.st, other), 0);
	int fd = ustack_accept(P.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0, "accepted once a descriptor is free: %d", fd);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
}

/* ---- bind ---- */

Test(socket_api, bind_errors)
{
	int fd = new_socket();
	struct sockaddr_in sin = t_sin(0, 5000);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(sin), sizeof(sin) - 1), EINVAL);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(sin), 0), EINVAL);
	struct sockaddr_in fam = sin;
	fam.sin_family = AF_INET6;
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(fam), sizeof(fam)), EAFNOSUPPORT);
	struct sockaddr_in foreign = t_sin(T_ADDR_B, 5000);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(foreign), sizeof(foreign)), EADDRNOTAVAIL);
	/* None of that bound anything. */
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	cr_assert_eq(ustack_getsockname(P.st, fd, (struct sockaddr *)&got, &len), 0);
	cr_assert_eq(got.sin_port, 0, "still unbound");
	struct sockaddr_in mine = t_sin(P.addr, 5000);
	cr_assert_eq(ustack_bind(P.st, fd, T_SA(mine), sizeof(mine)), 0, "the stack's own address");
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(sin), sizeof(sin)), EINVAL);
	struct sockaddr_in other = t_sin(0, 5001);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(other), sizeof(other)), EINVAL);
	len = sizeof(got);
	cr_assert_eq(ustack_getsockname(P.st, fd, (struct sockaddr *)&got, &len), 0);
	cr_assert_eq(len, sizeof(got));
	cr_assert_eq(got.sin_family, AF_INET);
	cr_assert_eq(ntohs(got.sin_port), 5000);
	cr_assert_eq(ntohl(got.sin_addr.s_addr), P.addr);
}

Test(socket_api, bind_port_zero_is_ephemeral)
{
	int a = bound_socket(0), b = bound_socket(0);
	struct sockaddr_in sa, sb;
	socklen_t la = sizeof(sa), lb = sizeof(sb);
	cr_assert_eq(ustack_getsockname(P.st, a, (struct sockaddr *)&sa, &la), 0);
	cr_assert_eq(ustack_getsockname(P.st, b, (struct sockaddr *)&sb, &lb), 0);
	uint16_t pa = ntohs(sa.sin_port), pb = ntohs(sb.sin_port);
	cr_assert(pa >= 32768 && pa <= 60999, "port %u, want one in Linux's 32768-60999", pa);
	cr_assert(pb >= 32768 && pb <= 60999, "port %u, want one in Linux's 32768-60999", pb);
	cr_assert_neq(pa, pb, "two sockets, two ports");
	cr_assert_eq(sa.sin_addr.s_addr, 0, "bound to the wildcard address");
	/* The port is really held: binding it again is refused. */
	int c = new_socket();
	struct sockaddr_in again = t_sin(0, pa);
	EXPECT_ERR(ustack_bind(P.st, c, T_SA(again), sizeof(again)), EADDRINUSE);
}

/* ---- calls on a socket in the wrong state ---- */

Test(socket_api, fresh_socket_errors)
{
	int fd = new_socket();
	char buf[4];
	EXPECT_ERR(ustack_send(P.st, fd, "x", 1, 0), EPIPE);
	EXPECT_ERR(ustack_recv(P.st, fd, buf, sizeof(buf), 0), ENOTCONN);
	EXPECT_ERR(ustack_shutdown(P.st, fd, SHUT_WR), ENOTCONN);
	EXPECT_ERR(ustack_shutdown(P.st, fd, SHUT_RDWR), ENOTCONN);
	EXPECT_ERR(ustack_shutdown(P.st, fd, 3), EINVAL);
	EXPECT_ERR(ustack_shutdown(P.st, fd, -1), EINVAL);
	EXPECT_ERR(ustack_accept(P.st, fd, NULL, NULL), EINVAL);
	struct sockaddr_in out;
	socklen_t len = sizeof(out);
	EXPECT_ERR(ustack_getpeername(P.st, fd, (struct sockaddr *)&out, &len), ENOTCONN);
	int m = ustack_sock_poll(P.st, fd);
	cr_assert_eq(m, POLLOUT | POLLHUP, "poll on a fresh socket %#x, want POLLOUT|POLLHUP as Linux", m);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	cr_assert_null(tpeer_next(&P), "nothing sent");
	cr_assert_eq(ustack_close(P.st, fd), 0);
	EXPECT_ERR(ustack_close(P.st, fd), EBADF);
}

Test(socket_api, listener_errors)
{
	int fd = bound_socket(8080);
	cr_assert_eq(ustack_listen(P.st, fd, -1), 0, "a negative backlog is somaxconn");
	int v = -1;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
	cr_assert_eq(v, 1, "SO_ACCEPTCONN on a listener");
	cr_assert_eq(ustack_listen(P.st, fd, 4), 0, "listen again changes the backlog");
	EXPECT_ERR(ustack_accept(P.st, fd, NULL, NULL), EAGAIN);
	struct sockaddr_in peer = t_sin(T_ADDR_B, 80);
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer)), EISCONN);
	char buf[4];
	EXPECT_ERR(ustack_recv(P.st, fd, buf, sizeof(buf), 0), ENOTCONN);
	EXPECT_ERR(ustack_send(P.st, fd, "x", 1, 0), EPIPE);
	struct sockaddr_in out;
	len = sizeof(out);
	EXPECT_ERR(ustack_getpeername(P.st, fd, (struct sockaddr *)&out, &len), ENOTCONN);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_LISTEN);
	cr_assert_null(tpeer_next(&P), "nothing sent");
	/* listen() without bind() picks an ephemeral port. */
	int e = new_socket();
	cr_assert_eq(ustack_listen(P.st, e, 1), 0);
	len = sizeof(out);
	cr_assert_eq(ustack_getsockname(P.st, e, (struct sockaddr *)&out, &len), 0);
	cr_assert(ntohs(out.sin_port) >= 32768 && ntohs(out.sin_port) <= 60999, "port %u",
		  ntohs(out.sin_port));
}

/* Linux (inet_shutdown): shutdown() on a listener succeeds; with SHUT_RD
 * or SHUT_RDWR it stops listening (accept then gives EINVAL). Checked on
 * Linux 6.18: 0 for every `how`. */
Test(socket_api, shutdown_listener_as_linux)
{
	int fd = bound_socket(8080);
	cr_assert_eq(ustack_listen(P.st, fd, 4), 0);
	long r = ustack_shutdown(P.st, fd, SHUT_RDWR);
	cr_assert_eq(r, 0, "shutdown(listener, SHUT_RDWR) = %ld (%s), want 0 as Linux", r,
		     r < 0 ? strerror((int)-r) : "");
	EXPECT_ERR(ustack_accept(P.st, fd, NULL, NULL), EINVAL);
}

Test(socket_api, connect_errors)
{
	int fd = new_socket();
	struct sockaddr_in peer = t_sin(P.peer_addr, 80);
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer) - 1), EINVAL);
	struct sockaddr_in fam = peer;
	fam.sin_family = AF_INET6;
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(fam), sizeof(fam)), EAFNOSUPPORT);
	cr_assert_null(tpeer_next(&P), "no SYN for a bad address");
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert_not_null(syn);
	cr_assert_eq(syn->h.flags, USTACK_TCP_SYN);
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer)), EALREADY);
	struct sockaddr_in elsewhere = t_sin(P.peer_addr, 81);
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(elsewhere), sizeof(elsewhere)), EALREADY);
	cr_assert_null(tpeer_next(&P), "no second SYN");
	EXPECT_ERR(ustack_listen(P.st, fd, 4), EINVAL);
	EXPECT_ERR(ustack_accept(P.st, fd, NULL, NULL), EINVAL);
	struct sockaddr_in sin = t_sin(0, 6000);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(sin), sizeof(sin)), EINVAL);
	char buf[4];
	EXPECT_ERR(ustack_send(P.st, fd, "x", 1, 0), EAGAIN);
	EXPECT_ERR(ustack_recv(P.st, fd, buf, sizeof(buf), 0), EAGAIN);
	struct sockaddr_in out;
	socklen_t len = sizeof(out);
	EXPECT_ERR(ustack_getpeername(P.st, fd, (struct sockaddr *)&out, &len), ENOTCONN);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT);
}

Test(socket_api, established_errors)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	struct sockaddr_in peer = t_sin(P.peer_addr, 80);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer)), 0,
		     "the first connect() after it completed");
	EXPECT_ERR(ustack_connect(P.st, fd, T_SA(peer), sizeof(peer)), EISCONN);
	EXPECT_ERR(ustack_listen(P.st, fd, 4), EINVAL);
	EXPECT_ERR(ustack_accept(P.st, fd, NULL, NULL), EINVAL);
	struct sockaddr_in sin = t_sin(0, 6000);
	EXPECT_ERR(ustack_bind(P.st, fd, T_SA(sin), sizeof(sin)), EINVAL);
	EXPECT_ERR(ustack_shutdown(P.st, fd, 7), EINVAL);
	int e = -1;
	socklen_t len = sizeof(e);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	cr_assert_eq(e, 0, "SO_ERROR on a healthy connection");
	struct sockaddr_in out;
	len = sizeof(out);
	cr_assert_eq(ustack_getpeername(P.st, fd, (struct sockaddr *)&out, &len), 0);
	cr_assert_eq(ntohl(out.sin_addr.s_addr), P.peer_addr);
	cr_assert_eq(ntohs(out.sin_port), 80);
	len = sizeof(out);
	cr_assert_eq(ustack_getsockname(P.st, fd, (struct sockaddr *)&out, &len), 0);
	cr_assert_eq(ntohl(out.sin_addr.s_addr), P.addr);
	cr_assert_eq(ntohs(out.sin_port), lport);
	cr_assert_null(tpeer_next(&P), "none of that sent anything; trace:\n%s", P.trace);
}

/* ---- socket options ---- */

static int get_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	int r = ustack_getsockopt(P.st, fd, level, name, &v, &len);
	cr_assert_eq(r, 0, "getsockopt(%d, %d) = %d", level, name, r);
	cr_assert_eq(len, sizeof(int), "getsockopt(%d, %d) length %u", level, name, (unsigned)len);
	return v;
}

static void set_int(int fd, int level, int name, int v)
{
	int r = ustack_setsockopt(P.st, fd, level, name, &v, sizeof(v));
	cr_assert_eq(r, 0, "setsockopt(%d, %d, %d) = %d", level, name, v, r);
}

Test(socket_api, option_round_trips)
{
	int fd = new_socket();
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ERROR), 0, "SO_ERROR on a fresh socket");
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);

	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 0, "off by default");
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 5);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1, "any non-zero value reads back as 1");
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 0);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 0);

	cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0, "Nagle on by default");
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 5);
	cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 0);
	cr_assert_eq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);

	struct linger l = { -1, -1 };
	socklen_t len = sizeof(l);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
	cr_assert(l.l_onoff == 0 && l.l_linger == 0, "no linger by default: {%d, %d}", l.l_onoff,
		  l.l_linger);
	struct linger set = { 1, 30 };
	cr_assert_eq(ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &set, sizeof(set)), 0);
	len = sizeof(l);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
	cr_assert_eq(len, sizeof(l));
	cr_assert(l.l_onoff == 1 && l.l_linger == 30, "SO_LINGER {%d, %d}, want {1, 30}", l.l_onoff,
		  l.l_linger);
	set = (struct linger){ 0, 0 };
	cr_assert_eq(ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &set, sizeof(set)), 0);
	len = sizeof(l);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &l, &len), 0);
	cr_assert_eq(l.l_onoff, 0);
	EXPECT_ERR(ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_LINGER, &set, sizeof(set) - 1), EINVAL);
}

/* Linux doubles the value for its bookkeeping overhead and enforces a
 * floor: SOCK_MIN_RCVBUF 2304, SOCK_MIN_SNDBUF 4608 (on 64 bits). */
Test(socket_api, buffer_sizes_as_linux)
{
	tpeer_fini(&P);
	struct ustack_config cfg = { .tcp_rmem = 100000, .tcp_wmem = 50000 };
	tpeer_init(&P, &cfg);
	int fd = new_socket();
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 100000, "a fresh socket has the configured tcp_rmem");
	/* Linux's tcp_init_sock: tcp_wmem[1], then autotuned up to
	 * tcp_wmem[2] (the configured tcp_wmem) once connected. */
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 16384, "a fresh socket has tcp_wmem[1]");
	set_int(fd, SOL_SOCKET, SO_RCVBUF, 10000);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 20000, "SO_RCVBUF 10000 reads back doubled");
	set_int(fd, SOL_SOCKET, SO_RCVBUF, 1);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 2304, "the floor SOCK_MIN_RCVBUF");
	set_int(fd, SOL_SOCKET, SO_SNDBUF, 10000);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 20000, "SO_SNDBUF 10000 reads back doubled");
	set_int(fd, SOL_SOCKET, SO_SNDBUF, 1);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 4608, "the floor SOCK_MIN_SNDBUF");
	set_int(fd, SOL_SOCKET, SO_RCVBUF, 1 << 30);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_RCVBUF), 2 * 212992, "capped at net.core.rmem_max, doubled");
	set_int(fd, SOL_SOCKET, SO_SNDBUF, 1 << 30);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_SNDBUF), 2 * 212992, "capped at net.core.wmem_max, doubled");
}

Test(socket_api, unknown_options)
{
	int fd = new_socket();
	int v = 1;
	socklen_t len = sizeof(v);
	EXPECT_ERR(ustack_setsockopt(P.st, fd, SOL_SOCKET, 9999, &v, sizeof(v)), ENOPROTOOPT);
	EXPECT_ERR(ustack_getsockopt(P.st, fd, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
	EXPECT_ERR(ustack_setsockopt(P.st, fd, IPPROTO_TCP, 9999, &v, sizeof(v)), ENOPROTOOPT);
	len = sizeof(v);
	EXPECT_ERR(ustack_getsockopt(P.st, fd, IPPROTO_TCP, 9999, &v, &len), ENOPROTOOPT);
	EXPECT_ERR(ustack_setsockopt(P.st, fd, 12345, 1, &v, sizeof(v)), ENOPROTOOPT);
	len = sizeof(v);
	EXPECT_ERR(ustack_getsockopt(P.st, fd, 12345, 1, &v, &len), ENOPROTOOPT);
	/* A known option with a short value. */
	EXPECT_ERR(ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_REUSEADDR, &v, 2), EINVAL);
	EXPECT_ERR(ustack_setsockopt(P.st, fd, IPPROTO_TCP, TCP_NODELAY, &v, 0), EINVAL);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 0, "unchanged by the failed calls");
}
