/*
 * TIME_WAIT and SO_REUSEADDR, the heart of the article: the side that
 * closes first waits 2MSL (RFC 9293 3.6.1, 60 s as in Linux), answers a
 * retransmitted FIN and starts its wait again; while it waits, its port can
 * be bound again only as Linux allows. And sequence numbers that wrap
 * around 2^32 in the middle of a connection (RFC 9293 3.4).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_FIN USTACK_TCP_FIN
#define F_PSH USTACK_TCP_PSH

static struct tpeer p;

static void setup(void)
{
	tpeer_init(&p, NULL);
}

static void teardown(void)
{
	tpeer_fini(&p);
}

TestSuite(timewait, .init = setup, .fini = teardown);

struct count_ctx {
	uint16_t lport;
	int state;
	ustack_time_t timer;
};

static int find(void *ctx, const struct ustack_conn_info *ci)
{
	struct count_ctx *c = ctx;
	if (ci->lport == c->lport && ci->rport) {
		c->state = ci->state;
		c->timer = ci->timer;
	}
	return 0;
}

static int conn_state(uint16_t lport, ustack_time_t *timer)
{
	struct count_ctx c = { .lport = lport, .state = -1 };
	ustack_tcp_foreach(p.st, find, &c);
	if (timer)
		*timer = c.timer;
	return c.state;
}

static void expect(uint8_t flags, uint32_t seq, uint32_t ack)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s, "expected a segment; trace:\n%s", p.trace);
	cr_assert_eq(s->h.flags, flags, "flags %#x want %#x; trace:\n%s", s->h.flags, flags, p.trace);
	cr_assert_eq(s->h.seq, seq, "seq %u want %u; trace:\n%s", s->h.seq, seq, p.trace);
	cr_assert_eq(s->h.ack, ack, "ack %u want %u; trace:\n%s", s->h.ack, ack, p.trace);
}

static void expect_nothing(void)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert_null(s, "unexpected segment flags %#x seq %u; trace:\n%s", s ? s->h.flags : 0, s ? s->h.seq : 0,
		       p.trace);
}

/* The server (the stack) closes first and ends in TIME_WAIT; returns the
 * time it got there. */
static ustack_time_t server_closes_first(bool reuse, int *lfd_out, uint32_t *iss_out)
{
	int lfd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (reuse)
		cr_assert_eq(ustack_setsockopt(p.st, lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	struct sockaddr_in sin = t_sin(0, 9999);
	cr_assert_eq(ustack_bind(p.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(p.st, lfd, 4), 0);
	uint32_t piss = 1000;
	tpeer_send(&p, 40000, 9999, F_SYN, piss, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = tpeer_next(&p);
	cr_assert(sa && sa->h.flags == (F_SYN | F_ACK));
	uint32_t iss = sa->h.seq;
	tpeer_send(&p, 40000, 9999, F_ACK, piss + 1, iss + 1, 65535, NULL, 0, NULL);
	int fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_close(p.st, fd), 0);
	expect(F_FIN | F_ACK, iss + 1, piss + 1);
	tpeer_send(&p, 40000, 9999, F_ACK, piss + 1, iss + 2, 65535, NULL, 0, NULL);
	tpeer_send(&p, 40000, 9999, F_FIN | F_ACK, piss + 1, iss + 2, 65535, NULL, 0, NULL);
	expect(F_ACK, iss + 2, piss + 2);
	cr_assert_eq(conn_state(9999, NULL), USTACK_TCP_TIME_WAIT);
	*lfd_out = lfd;
	*iss_out = iss;
	return p.now;
}

Test(timewait, lasts_exactly_2msl)
{
	int lfd;
	uint32_t iss;
	ustack_time_t t0 = server_closes_first(true, &lfd, &iss);
	ustack_time_t timer;
	cr_assert_eq(conn_state(9999, &timer), USTACK_TCP_TIME_WAIT);
	cr_assert_eq(timer, t0 + USTACK_SEC(60), "2MSL is 60 s by default");
	cr_assert_eq(ustack_next_deadline(p.st), t0 + USTACK_SEC(60));
	tpeer_advance(&p, USTACK_SEC(60) - 1);
	cr_assert_eq(conn_state(9999, NULL), USTACK_TCP_TIME_WAIT, "gone a nanosecond early");
	tpeer_advance(&p, 1);
	cr_assert_eq(conn_state(9999, NULL), -1, "still there after 2MSL");
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEWAIT_EXPIRED), 1);
	cr_assert(strstr(p.trace, "TIME_WAIT -> CLOSED (2MSL timeout)"));
	expect_nothing();
}

Test(timewait, msl_is_configurable)
{
	tpeer_fini(&p);
	struct ustack_config c = { .msl_ms = 2000 };
	tpeer_init(&p, &c);
	int lfd;
	uint32_t iss;
	server_closes_first(true, &lfd, &iss);
	tpeer_advance(&p, USTACK_SEC(4) - 1);
	cr_assert_eq(conn_state(9999, NULL), USTACK_TCP_TIME_WAIT);
	tpeer_advance(&p, 1);
	cr_assert_eq(conn_state(9999, NULL), -1);
}

/* RFC 9293 3.10.7.4 (eighth, TIME-WAIT): a retransmitted FIN is ACKed
 * again and the 2MSL wait starts over. */
Test(timewait, retransmitted_fin_reacked_and_timer_restarted)
{
	int lfd;
	uint32_t iss, piss = 1000;
	ustack_time_t t0 = server_closes_first(true, &lfd, &iss);
	tpeer_advance(&p, USTACK_SEC(30));
	tpeer_send(&p, 40000, 9999, F_FIN | F_ACK, piss + 1, iss + 2, 65535, NULL, 0, NULL);
	expect(F_ACK, iss + 2, piss + 2);
	expect_nothing();
	ustack_time_t t1 = p.now, timer;
	cr_assert_eq(conn_state(9999, &timer), USTACK_TCP_TIME_WAIT);
	cr_assert_eq(timer, t1 + USTACK_SEC(60));
	tpeer_advance(&p, t0 + USTACK_SEC(60) - p.now);
	cr_assert_eq(conn_state(9999, NULL), USTACK_TCP_TIME_WAIT, "the restart did not take");
	tpeer_advance(&p, t1 + USTACK_SEC(60) - p.now);
	cr_assert_eq(conn_state(9999, NULL), -1);
}

/* A bare ACK at RCV.NXT in TIME_WAIT is absorbed, as in Linux. */
Test(timewait, bare_ack_absorbed)
{
	int lfd;
	uint32_t iss, piss = 1000;
	server_closes_first(true, &lfd, &iss);
	tpeer_send(&p, 40000, 9999, F_ACK, piss + 2, iss + 2, 65535, NULL, 0, NULL);
	expect_nothing();
	cr_assert_eq(conn_state(9999, NULL), USTACK_TCP_TIME_WAIT);
}

/* A new SYN above the old sequence space may reopen the four-tuple (RFC
 * 9293 3.10.7.4 note; Linux does). */
Test(timewait, new_syn_reopens)
{
	int lfd;
	uint32_t iss, piss = 1000;
	server_closes_first(true, &lfd, &iss);
	tpeer_send(&p, 40000, 9999, F_SYN, piss + 100000, 0, 65535, NULL, 0, NULL);
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s && s->h.flags == (F_SYN | F_ACK), "trace:\n%s", p.trace);
	cr_assert_eq(s->h.ack, piss + 100001);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEWAIT_RECYCLED), 1);
	/* An old SYN below it is only ACKed. */
}

static int try_bind(bool reuse)
{
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	if (reuse)
		ustack_setsockopt(p.st, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = t_sin(0, 9999);
	int r = ustack_bind(p.st, fd, T_SA(sin), sizeof(sin));
	ustack_close(p.st, fd);
	return r;
}

/* The article's restart, with Linux's rule (measured on Linux 6.1): the
 * TIME_WAIT record keeps the old socket's SO_REUSEADDR, and both must
 * have it. */
Test(timewait, reuseaddr_lets_a_restarted_server_bind)
{
	int lfd;
	uint32_t iss;
	server_closes_first(true, &lfd, &iss);
	cr_assert_eq(ustack_close(p.st, lfd), 0);
	cr_assert_eq(try_bind(false), -EADDRINUSE);
	cr_assert_eq(try_bind(true), 0);
	tpeer_advance(&p, USTACK_SEC(60));
	cr_assert_eq(try_bind(false), 0, "the port is free after 2MSL");
}

Test(timewait, reuseaddr_needs_the_old_socket_to_have_it_too)
{
	int lfd;
	uint32_t iss;
	server_closes_first(false, &lfd, &iss);
	cr_assert_eq(ustack_close(p.st, lfd), 0);
	cr_assert_eq(try_bind(false), -EADDRINUSE);
	cr_assert_eq(try_bind(true), -EADDRINUSE, "Linux refuses this too");
}

Test(timewait, second_listener_fails_either_way)
{
	int one = 1;
	int a = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	int b = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	ustack_setsockopt(p.st, a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ustack_setsockopt(p.st, b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = t_sin(0, 9999);
	cr_assert_eq(ustack_bind(p.st, a, T_SA(sin), sizeof(sin)), 0);
	/* Both may bind while neither listens... */
	cr_assert_eq(ustack_bind(p.st, b, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(p.st, a, 4), 0);
	/* ...but only one may listen. */
	cr_assert_eq(ustack_listen(p.st, b, 4), -EADDRINUSE);
	cr_assert_eq(try_bind(true), -EADDRINUSE);
	cr_assert_eq(try_bind(false), -EADDRINUSE);
	ustack_close(p.st, b);
	ustack_close(p.st, a);
	cr_assert_eq(try_bind(false), 0);
}

Test(timewait, established_connection_holds_the_port)
{
	int lfd;
	uint32_t iss;
	int one = 1;
	lfd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	ustack_setsockopt(p.st, lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = t_sin(0, 9999);
	ustack_bind(p.st, lfd, T_SA(sin), sizeof(sin));
	ustack_listen(p.st, lfd, 4);
	tpeer_send(&p, 40000, 9999, F_SYN, 5, 0, 65535, NULL, 0, NULL);
	iss = tpeer_next(&p)->h.seq;
	tpeer_send(&p, 40000, 9999, F_ACK, 6, iss + 1, 65535, NULL, 0, NULL);
	int fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	ustack_close(p.st, lfd);
	/* The accepted connection still holds 9999, with its listener's
	 * SO_REUSEADDR: only a socket that sets it too may bind. */
	cr_assert_eq(try_bind(false), -EADDRINUSE);
	cr_assert_eq(try_bind(true), 0);
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
}

/* RFC 9293 3.4: sequence numbers are compared modulo 2^32. The stack's ISN
 * is placed just below 2^32 through RFC 6528's clock term: ISN = M + F(),
 * M ticking every 4 us, so waiting the right time moves it anywhere. */
Test(timewait, data_across_sequence_wraparound)
{
	struct sockaddr_in local = t_sin(0, 41000), remote = t_sin(p.peer_addr, 7);
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_bind(p.st, fd, T_SA(local), sizeof(local)), 0);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(remote), sizeof(remote)), -EINPROGRESS);
	uint32_t f = tpeer_next(&p)->h.seq - (uint32_t)(p.now / 4000);
	ustack_close(p.st, fd);
	uint32_t target = 0xFFFFFE00u;
	uint64_t ticks = (uint32_t)(target - f);
	ustack_time_t when = ticks * 4000;
	while (when <= p.now)
		when += 4000ull << 32; /* M's period: 2^32 ticks of 4 us */
	tpeer_advance(&p, when - p.now);

	fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_bind(p.st, fd, T_SA(local), sizeof(local)), 0);
	cr_assert_eq(ustack_connect(p.st, fd, T_SA(remote), sizeof(remote)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&p);
	uint32_t iss = syn->h.seq;
	cr_assert_eq(iss, target, "ISN %#x, wanted %#x", iss, target);
	uint32_t piss = 0xFFFFFD00u;
	tpeer_send(&p, 7, 41000, F_SYN | F_ACK, piss, iss + 1, 65535, NULL, 0, NULL);
	expect(F_ACK, iss + 1, piss + 1);

	/* 2000 bytes each way; both directions cross zero. */
	static char out[2000], in[2000], buf[4000];
	for (int i = 0; i < 2000; i++) {
		out[i] = (char)i;
		in[i] = (char)(3 * i + 1);
	}
	cr_assert_eq(ustack_send(p.st, fd, out, sizeof(out), 0), 2000);
	const struct tseg *s1 = tpeer_next(&p), *s2 = tpeer_next(&p);
	cr_assert(s1 && s2);
	cr_assert_eq(s1->h.seq, iss + 1);
	cr_assert_eq(s1->h.len, 536u, "no MSS option from the peer: 536 (RFC 9293 3.7.1)");
	cr_assert_eq(s2->h.seq, iss + 1 + 536);
	cr_assert_arr_eq(s1->data, out, 536);
	size_t got = s1->h.len + s2->h.len;
	const struct tseg *s;
	while ((s = tpeer_next(&p)))
		got += s->h.len;
	cr_assert_eq(got, 2000u);
	tpeer_send(&p, 7, 41000, F_ACK, piss + 1, iss + 2001, 65535, NULL, 0, NULL);
	expect_nothing();
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);

	tpeer_send(&p, 7, 41000, F_ACK | F_PSH, piss + 1, iss + 2001, 65535, in, 1000, NULL);
	expect(F_ACK, iss + 2001, piss + 1001);
	tpeer_send(&p, 7, 41000, F_ACK | F_PSH, piss + 1001, iss + 2001, 65535, in + 1000, 1000, NULL);
	expect(F_ACK, iss + 2001, piss + 2001);
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 2000);
	cr_assert_arr_eq(buf, in, 2000);
	cr_assert(iss + 2001 < iss, "the test must really wrap");
}

/* Destroying a stack whose listener still holds connections nobody
 * accepted, one of them reset while it waited: each block is reachable from
 * the hash and from the queue, and must be freed exactly once (ASan checks). */
Test(timewait, destroy_with_unaccepted_connections)
{
	int lfd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, 9999);
	cr_assert_eq(ustack_bind(p.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(p.st, lfd, 16), 0);
	for (uint16_t port = 40000; port < 40008; port++) {
		tpeer_send(&p, port, 9999, F_SYN, 100, 0, 65535, NULL, 0, NULL);
		const struct tseg *sa = tpeer_next(&p);
		cr_assert(sa && sa->h.flags == (F_SYN | F_ACK));
		tpeer_send(&p, port, 9999, F_ACK, 101, sa->h.seq + 1, 65535, NULL, 0, NULL);
		if (port == 40003)
			tpeer_send(&p, port, 9999, USTACK_TCP_RST, 101, 0, 0, NULL, 0, NULL);
	}
	/* One more still in the handshake. */
	tpeer_send(&p, 41000, 9999, F_SYN, 100, 0, 65535, NULL, 0, NULL);
	/* Destroyed here, inside the test, so that a fault counts against it. */
	tpeer_fini(&p);
	tpeer_init(&p, NULL);
}

/* The port table grows as ports come into use (past its first 64 slots)
 * and every port stays findable: a port a connection holds cannot be
 * bound, and once all are closed every one can. */
Test(timewait, many_ports_stay_findable)
{
	enum { N = 600 };
	int fds[N];
	uint16_t ports[N];
	for (int i = 0; i < N; i++) {
		fds[i] = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in to = t_sin(p.peer_addr, (uint16_t)(1000 + i));
		cr_assert_eq(ustack_connect(p.st, fds[i], T_SA(to), sizeof(to)), -EINPROGRESS);
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		ustack_getsockname(p.st, fds[i], (struct sockaddr *)&me, &len);
		ports[i] = ntohs(me.sin_port);
	}
	while (tpeer_next(&p))
		;
	for (int i = 0; i < N; i += 37) {
		int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = t_sin(0, ports[i]);
		cr_assert_eq(ustack_bind(p.st, fd, T_SA(sin), sizeof(sin)), -EADDRINUSE, "port %u", ports[i]);
		ustack_close(p.st, fd);
	}
	for (int i = 0; i < N; i++)
		ustack_close(p.st, fds[i]);
	for (int i = 0; i < N; i += 37) {
		int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = t_sin(0, ports[i]);
		cr_assert_eq(ustack_bind(p.st, fd, T_SA(sin), sizeof(sin)), 0, "port %u after close", ports[i]);
		ustack_close(p.st, fd);
	}
}
