/*
 * Resets, sent and received: the reply to a segment for no connection
 * (RFC 9293 3.10.7.1), a refused connect (3.10.7.3), a RST in SYN-SENT and
 * in each synchronized state (3.10.7.3, 3.10.7.4, "second, check the RST
 * bit"), the blind-attack defences of RFC 5961 (3.2: only a RST at exactly
 * RCV.NXT resets, others in the window earn a challenge ACK; 4.2: a SYN on a
 * synchronized connection earns one too), and the aborts a user causes
 * (3.10.4 and RFC 2525 2.17: close with unread data, SO_LINGER 0, a listener
 * closed with connections queued, data for a socket already closed).
 *
 * Most tests drive one stack with tpeer, the test being the remote host, so
 * every segment and every "nothing in reply" is exact. The refused-connect
 * tests run two stacks on the simulator. Socket errors are Linux's, as
 * checked against the kernel this project runs on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_FIN USTACK_TCP_FIN
#define F_RST USTACK_TCP_RST
#define F_PSH USTACK_TCP_PSH

#define PEER_PORT 80      /* the test's port when the stack connects */
#define PEER_ISS 1000u    /* the test's initial sequence number */
#define LISTEN_PORT 8080  /* the stack's port when the test connects */
#define CLIENT_PORT 40000 /* the test's port when it connects */

/* ---- one stack, the test as its peer ---- */

static struct tpeer P;
static uint64_t snap[USTACK_STAT__COUNT];

static void peer_setup(void)
{
	tpeer_init(&P, NULL);
}

static void peer_teardown(void)
{
	tpeer_fini(&P);
}

TestSuite(reset, .init = peer_setup, .fini = peer_teardown);

static void snapshot(void)
{
	for (int i = 0; i < USTACK_STAT__COUNT; i++)
		snap[i] = ustack_stat(P.st, (enum ustack_stat)i);
}

static uint64_t delta(enum ustack_stat s)
{
	return ustack_stat(P.st, s) - snap[s];
}

static void expect_delta(enum ustack_stat s, uint64_t want, const char *what)
{
	cr_assert_eq(delta(s), want, "%s: %s went up by %llu, want %llu; trace:\n%s", what,
		     ustack_stat_name(s), (unsigned long long)delta(s), (unsigned long long)want, P.trace);
}

static void expect_seg(const struct tseg *s, uint8_t flags, uint32_t seq, uint32_t ack, const char *what)
{
	char want[64], got[64];
	ustack_tcp_flags_format(flags, want, sizeof(want));
	cr_assert_not_null(s, "%s: expected a %s segment, the stack sent nothing; trace:\n%s", what, want,
			   P.trace);
	cr_assert(!s->bad, "%s: the stack sent a packet that does not parse", what);
	ustack_tcp_flags_format(s->h.flags, got, sizeof(got));
	cr_assert_eq(s->h.flags, flags, "%s: flags %s, want %s; trace:\n%s", what, got, want, P.trace);
	cr_assert_eq(s->h.seq, seq, "%s: seq %u, want %u; trace:\n%s", what, s->h.seq, seq, P.trace);
	if (flags & F_ACK)
		cr_assert_eq(s->h.ack, ack, "%s: ack %u, want %u; trace:\n%s", what, s->h.ack, ack, P.trace);
	cr_assert_eq(s->h.len, 0u, "%s: %u bytes of payload, want none", what, s->h.len);
}

static void expect_nothing(const char *what)
{
	const struct tseg *s = tpeer_next(&P);
	char f[64] = "";
	if (s)
		ustack_tcp_flags_format(s->h.flags, f, sizeof(f));
	cr_assert_null(s, "%s: the stack should send nothing, it sent %s seq %u ack %u; trace:\n%s", what, f,
		       s ? s->h.seq : 0, s ? s->h.ack : 0, P.trace);
}

/* The ACK of data or of a FIN: at once, or after a delayed-ACK timer (RFC
 * 9293 3.8.6.3 allows up to 500 ms; Linux waits at most 200 ms). */
static const struct tseg *next_ack(void)
{
	const struct tseg *s = tpeer_next(&P);
	for (int i = 0; !s && i < 50; i++) {
		tpeer_advance(&P, USTACK_MSEC(10));
		s = tpeer_next(&P);
	}
	return s;
}

struct find {
	uint16_t lport, rport;
	int n;
	enum ustack_tcp_state state;
	int fd;
};

static int find_cb(void *ctx, const struct ustack_conn_info *ci)
{
	struct find *f = ctx;
	if (ci->lport == f->lport && ci->rport == f->rport) {
		f->n++;
		f->state = ci->state;
		f->fd = ci->fd;
	}
	return 0;
}

/* The state of the table entry lport/rport (rport 0: a listener), or -1. */
static int conn_state(struct ustack *st, uint16_t lport, uint16_t rport)
{
	struct find f = { .lport = lport, .rport = rport };
	ustack_tcp_foreach(st, find_cb, &f);
	return f.n ? (int)f.state : -1;
}

static int count_port(void *ctx, const struct ustack_conn_info *ci)
{
	struct find *f = ctx;
	if (ci->lport == f->lport)
		f->n++;
	return 0;
}

/* How many table entries (listeners, connections, TIME_WAIT) use lport. */
static int port_entries(struct ustack *st, uint16_t lport)
{
	struct find f = { .lport = lport };
	ustack_tcp_foreach(st, count_port, &f);
	return f.n;
}

/* An active connection from the stack to the test: the stack's ISN, port
 * and descriptor; SND.NXT and RCV.NXT as the tests move them on. */
struct conn {
	int fd;
	uint32_t iss;
	uint16_t lport;
	uint32_t snd_nxt, rcv_nxt;
};

static struct conn establish(void)
{
	struct conn c;
	c.fd = tpeer_establish_active(&P, PEER_PORT, PEER_ISS, &c.iss, &c.lport);
	cr_assert_geq(c.fd, 0, "handshake failed; trace:\n%s", P.trace);
	c.snd_nxt = c.iss + 1;
	c.rcv_nxt = PEER_ISS + 1;
	cr_assert_null(tpeer_next(&P), "nothing after the handshake; trace:\n%s", P.trace);
	return c;
}

/* The test sends a segment on c's connection. */
static void peer(const struct conn *c, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
		 size_t len)
{
	tpeer_send(&P, PEER_PORT, c->lport, flags, seq, ack, 512, data, len, NULL);
}

static void expect_state(const struct conn *c, int want, const char *what)
{
	int got = ustack_sock_state(P.st, c->fd);
	cr_assert_eq(got, want, "%s: state %s, want %s; trace:\n%s", what,
		     got >= 0 ? ustack_tcp_state_name((enum ustack_tcp_state)got) : "(error)",
		     ustack_tcp_state_name((enum ustack_tcp_state)want), P.trace);
}

static int so_error(struct ustack *st, int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	cr_assert_eq(ustack_getsockopt(st, fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	return e;
}

/* The user shuts down the write side: the stack sends its FIN. */
static void shut_wr(struct conn *c, int state_after)
{
	cr_assert_eq(ustack_shutdown(P.st, c->fd, SHUT_WR), 0);
	expect_seg(tpeer_next(&P), F_FIN | F_ACK, c->snd_nxt, c->rcv_nxt, "the stack's FIN");
	c->snd_nxt++;
	expect_state(c, state_after, "after shutdown(SHUT_WR)");
}

/* The test sends its FIN; the stack acknowledges it. */
static void peer_fin(struct conn *c, uint32_t ack, int state_after)
{
	peer(c, F_FIN | F_ACK, c->rcv_nxt, ack, NULL, 0);
	c->rcv_nxt++;
	expect_seg(next_ack(), F_ACK, c->snd_nxt, c->rcv_nxt, "the ACK of the peer's FIN");
	expect_state(c, state_after, "after the peer's FIN");
}

/* A RST at exactly RCV.NXT: the connection ends and the stack says nothing
 * (RFC 9293 3.10.7.4; RFC 5961 3.2 "exactly matches"). */
static void exact_rst(const struct conn *c, const char *state)
{
	snapshot();
	peer(c, F_RST, c->rcv_nxt, 0, NULL, 0);
	char what[96];
	snprintf(what, sizeof(what), "RST at RCV.NXT in %s", state);
	expect_nothing(what);
	cr_assert_eq(conn_state(P.st, c->lport, PEER_PORT), -1,
		     "%s: the connection should leave the table; trace:\n%s", what, P.trace);
	expect_delta(USTACK_STAT_TCP_OUT, 0, what);
}

/* ---- RFC 9293 3.10.7.1: a segment for no connection ---- */

struct closed_case {
	const char *name;
	uint8_t flags;
	uint32_t seq, ack;
	size_t len;
	/* the reply: rflags 0 for none */
	uint8_t rflags;
	uint32_t rseq, rack;
};

Test(reset, closed_port_replies)
{
	static const struct closed_case cases[] = {
		/* If the ACK bit is off, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
		 * SEG.LEN counting SYN and FIN. */
		{ "SYN", F_SYN, 5000, 0, 0, F_RST | F_ACK, 0, 5001 },
		{ "SYN with 10 bytes", F_SYN, 7000, 0, 10, F_RST | F_ACK, 0, 7011 },
		{ "FIN,PSH with 10 bytes", F_FIN | F_PSH, 9000, 0, 10, F_RST | F_ACK, 0, 9011 },
		{ "no flags, 4 bytes", 0, 0xfffffffeu, 0, 4, F_RST | F_ACK, 0, 2 },
		/* If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>. */
		{ "ACK", F_ACK, 5000, 123456, 0, F_RST, 123456, 0 },
		{ "ACK,PSH with 10 bytes", F_ACK | F_PSH, 5000, 777, 10, F_RST, 777, 0 },
		{ "FIN,ACK", F_FIN | F_ACK, 5000, 0xdeadbeefu, 0, F_RST, 0xdeadbeefu, 0 },
		{ "SYN,ACK", F_SYN | F_ACK, 5000, 42, 0, F_RST, 42, 0 },
		/* An incoming RST is discarded: never answer a reset. */
		{ "RST", F_RST, 5000, 0, 0, 0, 0, 0 },
		{ "RST,ACK", F_RST | F_ACK, 5000, 99, 0, 0, 0, 0 },
	};
	static const char data[10] = "0123456789";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct closed_case *k = &cases[i];
		char what[96];
		snprintf(what, sizeof(what), "%s to a closed port", k->name);
		snapshot();
		tpeer_send(&P, 1234, 4321, k->flags, k->seq, k->ack, 1000, data, k->len, NULL);
		expect_delta(USTACK_STAT_DROP_TCP_NO_SOCKET, 1, what);
		if (!k->rflags) {
			expect_nothing(what);
			expect_delta(USTACK_STAT_TCP_OUT_RST, 0, what);
			continue;
		}
		const struct tseg *s = tpeer_next(&P);
		expect_seg(s, k->rflags, k->rseq, k->rack, what);
		cr_assert_eq(s->h.saddr, P.addr, "%s: from the stack's address", what);
		cr_assert_eq(s->h.daddr, P.peer_addr, "%s: to the sender", what);
		cr_assert_eq(s->h.sport, 4321, "%s: from the port the segment was for", what);
		cr_assert_eq(s->h.dport, 1234, "%s: to the sender's port", what);
		expect_delta(USTACK_STAT_TCP_OUT_RST, 1, what);
		expect_nothing(what);
	}
	cr_assert_eq(port_entries(P.st, 4321), 0, "nothing was created for the closed port");
}

/* ---- RFC 9293 3.10.7.3: SYN-SENT ---- */

Test(reset, syn_sent_ignores_rst_without_acceptable_ack)
{
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert_not_null(syn);
	cr_assert_eq(syn->h.flags, F_SYN);
	uint32_t iss = syn->h.seq;
	uint16_t lport = syn->h.sport;

	/* "If the ACK bit is off ... drop the segment and return." */
	snapshot();
	tpeer_send(&P, PEER_PORT, lport, F_RST, PEER_ISS, 0, 0, NULL, 0, NULL);
	expect_nothing("RST without ACK in SYN-SENT");
	expect_delta(USTACK_STAT_DROP_TCP_SYN_SENT_BAD_ACK, 1, "RST without ACK in SYN-SENT");
	expect_delta(USTACK_STAT_TCP_ATTEMPT_FAILS, 0, "RST without ACK in SYN-SENT");
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT, "the connection survives; trace:\n%s",
		     P.trace);
	cr_assert_eq(so_error(P.st, fd), 0, "no error for an ignored RST");

	/* "If SEG.ACK =< ISS or SEG.ACK > SND.NXT ... (unless the RST bit is
	 * set, if so drop the segment and return)". */
	const uint32_t bad[] = { iss, iss - 1000, iss + 2, iss + 100000 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "RST,ACK with ack ISS%+d in SYN-SENT", (int)(bad[i] - iss));
		snapshot();
		tpeer_send(&P, PEER_PORT, lport, F_RST | F_ACK, PEER_ISS, bad[i], 0, NULL, 0, NULL);
		expect_nothing(what);
		expect_delta(USTACK_STAT_DROP_TCP_SYN_SENT_BAD_ACK, 1, what);
		cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT, "%s: the connection survives",
			     what);
	}
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_ATTEMPT_FAILS), 0);

	/* And the true SYN,ACK still completes the handshake. */
	tpeer_send(&P, PEER_PORT, lport, F_SYN | F_ACK, PEER_ISS, iss + 1, 65535, NULL, 0, NULL);
	const struct tseg *ack = tpeer_next(&P);
	cr_assert_not_null(ack, "the handshake completes; trace:\n%s", P.trace);
	cr_assert_eq(ack->h.flags, F_ACK);
	cr_assert_eq(ack->h.seq, iss + 1);
	cr_assert_eq(ack->h.ack, PEER_ISS + 1);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
}

/* An ACK (without RST) that acknowledges nothing we sent is answered with
 * <SEQ=SEG.ACK><CTL=RST>, and the connection attempt goes on. */
Test(reset, syn_sent_resets_bad_ack)
{
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert_not_null(syn);
	uint32_t iss = syn->h.seq;
	snapshot();
	tpeer_send(&P, PEER_PORT, syn->h.sport, F_SYN | F_ACK, PEER_ISS, iss + 5, 65535, NULL, 0, NULL);
	expect_seg(tpeer_next(&P), F_RST, iss + 5, 0, "SYN,ACK acknowledging unsent data");
	expect_nothing("after the RST");
	expect_delta(USTACK_STAT_DROP_TCP_SYN_SENT_BAD_ACK, 1, "SYN,ACK with a bad ack");
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT);
}

/* ---- RFC 9293 3.10.7.4: a RST at RCV.NXT in each synchronized state ---- */

Test(reset, rst_in_syn_received_returns_to_listen)
{
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, LISTEN_PORT);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_SYN, 5000, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = tpeer_next(&P);
	cr_assert_not_null(sa);
	cr_assert_eq(sa->h.flags, F_SYN | F_ACK);
	cr_assert_eq(conn_state(P.st, LISTEN_PORT, CLIENT_PORT), USTACK_TCP_SYN_RECEIVED);

	snapshot();
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_RST, 5001, 0, 0, NULL, 0, NULL);
	expect_nothing("RST at RCV.NXT in SYN-RECEIVED");
	cr_assert_eq(conn_state(P.st, LISTEN_PORT, CLIENT_PORT), -1,
		     "the half-open child is gone; trace:\n%s", P.trace);
	cr_assert_eq(conn_state(P.st, LISTEN_PORT, 0), USTACK_TCP_LISTEN, "the listener remains");
	cr_assert_eq(ustack_sock_state(P.st, lfd), USTACK_TCP_LISTEN);
	cr_assert_eq(ustack_accept(P.st, lfd, NULL, NULL), -EAGAIN, "nothing to accept");
	expect_delta(USTACK_STAT_TCP_ATTEMPT_FAILS, 0, "a passive open reset");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0, "a passive open reset");

	/* The listener takes the next connection, from the same port even. */
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_SYN, 9000, 0, 65535, NULL, 0, NULL);
	sa = tpeer_next(&P);
	cr_assert_not_null(sa, "a new SYN is answered; trace:\n%s", P.trace);
	cr_assert_eq(sa->h.flags, F_SYN | F_ACK);
	cr_assert_eq(sa->h.ack, 9001u);
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_ACK, 9001, sa->h.seq + 1, 512, NULL, 0, NULL);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	int fd = ustack_accept(P.st, lfd, (struct sockaddr *)&from, &flen);
	cr_assert_geq(fd, 0, "the later connection is accepted; trace:\n%s", P.trace);
	cr_assert_eq(ntohs(from.sin_port), CLIENT_PORT);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
	expect_nothing("the handshake's last ACK");
}

Test(reset, rst_in_established)
{
	struct conn c = establish();
	snapshot();
	/* RST,ACK, as Linux sends it, at exactly RCV.NXT. */
	peer(&c, F_RST | F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_nothing("RST at RCV.NXT in ESTABLISHED");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in ESTABLISHED");
	cr_assert_eq(conn_state(P.st, c.lport, PEER_PORT), -1, "the connection leaves the table");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 1, "RST in ESTABLISHED");
	expect_delta(USTACK_STAT_TCP_OUT, 0, "RST in ESTABLISHED");
	int m = ustack_sock_poll(P.st, c.fd);
	cr_assert_eq(m & (POLLERR | POLLHUP), POLLERR | POLLHUP, "poll %#x, want POLLERR|POLLHUP set", m);
	/* Linux: the error once, then end of file; writing is a broken pipe. */
	char buf[8];
	cr_assert_eq(ustack_recv(P.st, c.fd, buf, sizeof(buf), 0), -ECONNRESET, "recv reports the reset");
	cr_assert_eq(ustack_recv(P.st, c.fd, buf, sizeof(buf), 0), 0, "then end of file");
	cr_assert_eq(ustack_send(P.st, c.fd, "x", 1, 0), -EPIPE, "send after a reset");
	cr_assert_eq(so_error(P.st, c.fd), 0, "the error was reported once");
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_nothing("close of a reset socket");
	/* The four-tuple is free: the peer's next segment finds no one. */
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_seg(tpeer_next(&P), F_RST, c.snd_nxt, 0, "a segment after the reset");
}

Test(reset, rst_in_fin_wait_1)
{
	struct conn c = establish();
	shut_wr(&c, USTACK_TCP_FIN_WAIT_1);
	exact_rst(&c, "FIN_WAIT_1");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in FIN_WAIT_1");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0,
		     "RST in FIN_WAIT_1 (Linux counts only ESTABLISHED, CLOSE_WAIT)");
	cr_assert_eq(so_error(P.st, c.fd), ECONNRESET, "Linux: ECONNRESET in FIN_WAIT_1");
}

Test(reset, rst_in_fin_wait_2)
{
	struct conn c = establish();
	shut_wr(&c, USTACK_TCP_FIN_WAIT_1);
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_nothing("the peer's ACK of our FIN");
	expect_state(&c, USTACK_TCP_FIN_WAIT_2, "after the ACK of our FIN");
	exact_rst(&c, "FIN_WAIT_2");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in FIN_WAIT_2");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0, "RST in FIN_WAIT_2");
	cr_assert_eq(so_error(P.st, c.fd), ECONNRESET, "Linux: ECONNRESET in FIN_WAIT_2");
}

Test(reset, rst_in_close_wait)
{
	struct conn c = establish();
	peer_fin(&c, c.snd_nxt, USTACK_TCP_CLOSE_WAIT);
	exact_rst(&c, "CLOSE_WAIT");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in CLOSE_WAIT");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 1, "RST in CLOSE_WAIT (Linux counts it)");
}

/* Linux's tcp_reset gives EPIPE, not ECONNRESET, in CLOSE_WAIT, and as the
 * peer's FIN came first, recv keeps reporting end of file (SOCK_DONE is
 * tested before sk_err). Checked on Linux 6.18: recv 0, SO_ERROR EPIPE. */
Test(reset, rst_in_close_wait_errors_as_linux)
{
	struct conn c = establish();
	peer_fin(&c, c.snd_nxt, USTACK_TCP_CLOSE_WAIT);
	exact_rst(&c, "CLOSE_WAIT");
	cr_assert(ustack_sock_poll(P.st, c.fd) & POLLERR, "the error is pending");
	char b;
	cr_assert_eq(ustack_recv(P.st, c.fd, &b, 1, 0), 0,
		     "Linux: recv after the peer's FIN is end of file, even after a RST");
	cr_assert_eq(so_error(P.st, c.fd), EPIPE, "Linux: a RST in CLOSE_WAIT is EPIPE");
	cr_assert_eq(ustack_send(P.st, c.fd, "x", 1, 0), -EPIPE, "send after that");
}

/* Simultaneous close (RFC 9293 3.6, figure 13): both FINs cross. */
Test(reset, rst_in_closing)
{
	struct conn c = establish();
	shut_wr(&c, USTACK_TCP_FIN_WAIT_1);
	/* The peer's FIN does not acknowledge ours: it was sent before ours
	 * arrived. */
	peer_fin(&c, c.snd_nxt - 1, USTACK_TCP_CLOSING);
	exact_rst(&c, "CLOSING");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in CLOSING");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0, "RST in CLOSING");
}

Test(reset, rst_in_last_ack)
{
	struct conn c = establish();
	peer_fin(&c, c.snd_nxt, USTACK_TCP_CLOSE_WAIT);
	shut_wr(&c, USTACK_TCP_LAST_ACK);
	exact_rst(&c, "LAST_ACK");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in LAST_ACK");
	expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0, "RST in LAST_ACK");
}

/* LAST_ACK of a socket the user has closed: the orphan just goes. */
Test(reset, rst_in_last_ack_orphan)
{
	struct conn c = establish();
	peer_fin(&c, c.snd_nxt, USTACK_TCP_CLOSE_WAIT);
	char b;
	cr_assert_eq(ustack_recv(P.st, c.fd, &b, 1, 0), 0);
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_seg(tpeer_next(&P), F_FIN | F_ACK, c.snd_nxt, c.rcv_nxt, "FIN on close");
	c.snd_nxt++;
	cr_assert_eq(conn_state(P.st, c.lport, PEER_PORT), USTACK_TCP_LAST_ACK);
	exact_rst(&c, "LAST_ACK (orphan)");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left on the port");
}

/* TIME_WAIT of a socket still open: the control block is whole. */
Test(reset, rst_in_time_wait_open_socket)
{
	struct conn c = establish();
	shut_wr(&c, USTACK_TCP_FIN_WAIT_1);
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_nothing("the ACK of our FIN");
	expect_state(&c, USTACK_TCP_FIN_WAIT_2, "after the ACK of our FIN");
	peer_fin(&c, c.snd_nxt, USTACK_TCP_TIME_WAIT);
	exact_rst(&c, "TIME_WAIT (open socket)");
	expect_state(&c, USTACK_TCP_CLOSED, "RST in TIME_WAIT");
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_nothing("close after that");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left on the port");
}

/* TIME_WAIT as a record (the socket is closed): Linux, with
 * net.ipv4.tcp_rfc1337 = 0, lets an exact RST end it early. */
Test(reset, rst_in_time_wait_record)
{
	struct conn c = establish();
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_seg(tpeer_next(&P), F_FIN | F_ACK, c.snd_nxt, c.rcv_nxt, "FIN on close");
	c.snd_nxt++;
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_nothing("the ACK of our FIN");
	cr_assert_eq(conn_state(P.st, c.lport, PEER_PORT), USTACK_TCP_FIN_WAIT_2);
	peer(&c, F_FIN | F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	c.rcv_nxt++;
	expect_seg(next_ack(), F_ACK, c.snd_nxt, c.rcv_nxt, "ACK of the peer's FIN");
	struct find f = { .lport = c.lport, .rport = PEER_PORT };
	ustack_tcp_foreach(P.st, find_cb, &f);
	cr_assert_eq(f.n, 1, "one TIME_WAIT entry; trace:\n%s", P.trace);
	cr_assert_eq(f.state, USTACK_TCP_TIME_WAIT);
	cr_assert_eq(f.fd, -1, "a record no descriptor owns");

	/* An inexact RST is ignored (no challenge ACK in TIME_WAIT, as Linux). */
	snapshot();
	peer(&c, F_RST, c.rcv_nxt + 10, 0, NULL, 0);
	expect_nothing("inexact RST in TIME_WAIT");
	expect_delta(USTACK_STAT_DROP_TCP_TIMEWAIT, 1, "inexact RST in TIME_WAIT");
	cr_assert_eq(conn_state(P.st, c.lport, PEER_PORT), USTACK_TCP_TIME_WAIT, "the record stays");

	exact_rst(&c, "TIME_WAIT (record)");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left on the port");
	cr_assert_eq(ustack_next_deadline(P.st), USTACK_TIME_NEVER, "no 2MSL timer left behind");
}

/* ---- RFC 5961 3.2 and 4.2: blind reset and SYN attacks ---- */

/* The window the stack advertised in its last segment, in bytes. */
static uint32_t advertised_window(void)
{
	const struct tseg *syn = &P.out[0], *last = &P.out[P.nout - 1];
	cr_assert(syn->h.flags & F_SYN);
	return (uint32_t)last->h.window << syn->h.opt.wscale;
}

Test(reset, rst_in_window_gets_challenge_ack)
{
	struct conn c = establish();
	uint32_t wnd = advertised_window();
	cr_assert_gt(wnd, 1000u);
	const uint32_t offs[] = { 1, 100, wnd - 1 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "RST at RCV.NXT+%u (window %u)", offs[i], wnd);
		tpeer_advance(&P, USTACK_MSEC(500)); /* past the challenge-ACK rate limit */
		snapshot();
		peer(&c, F_RST, c.rcv_nxt + offs[i], 0, NULL, 0);
		/* <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> */
		expect_seg(tpeer_next(&P), F_ACK, c.snd_nxt, c.rcv_nxt, what);
		expect_nothing(what);
		expect_delta(USTACK_STAT_DROP_TCP_RST_INEXACT, 1, what);
		expect_delta(USTACK_STAT_TCP_CHALLENGE_ACKS, 1, what);
		expect_delta(USTACK_STAT_TCP_ESTAB_RESETS, 0, what);
		expect_state(&c, USTACK_TCP_ESTABLISHED, what);
	}
	/* The connection still carries data. */
	peer(&c, F_ACK | F_PSH, c.rcv_nxt, c.snd_nxt, "hello", 5);
	expect_seg(next_ack(), F_ACK, c.snd_nxt, c.rcv_nxt + 5, "data after the challenges");
	char buf[8];
	cr_assert_eq(ustack_recv(P.st, c.fd, buf, sizeof(buf), 0), 5);
	cr_assert_arr_eq(buf, "hello", 5);
}

Test(reset, rst_out_of_window_ignored)
{
	struct conn c = establish();
	uint32_t wnd = advertised_window();
	const uint32_t seqs[] = { c.rcv_nxt + wnd, c.rcv_nxt + wnd + 1000, c.rcv_nxt - 1, c.rcv_nxt - 100000,
				  c.rcv_nxt + 0x80000000u };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "RST at RCV.NXT%+d (window %u)", (int)(seqs[i] - c.rcv_nxt),
			 wnd);
		snapshot();
		peer(&c, F_RST | F_ACK, seqs[i], c.snd_nxt, NULL, 0);
		expect_nothing(what);
		expect_delta(USTACK_STAT_DROP_TCP_RST_OUT_OF_WINDOW, 1, what);
		expect_delta(USTACK_STAT_TCP_CHALLENGE_ACKS, 0, what);
		expect_state(&c, USTACK_TCP_ESTABLISHED, what);
	}
}

Test(reset, syn_on_established_gets_challenge_ack)
{
	struct conn c = establish();
	const uint32_t seqs[] = { c.rcv_nxt, c.rcv_nxt + 500, PEER_ISS + 77777 };
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "SYN at RCV.NXT%+d in ESTABLISHED", (int)(seqs[i] - c.rcv_nxt));
		tpeer_advance(&P, USTACK_MSEC(500)); /* past the challenge-ACK rate limit */
		snapshot();
		tpeer_send(&P, PEER_PORT, c.lport, F_SYN, seqs[i], 0, 65535, NULL, 0, NULL);
		expect_seg(tpeer_next(&P), F_ACK, c.snd_nxt, c.rcv_nxt, what);
		expect_nothing(what);
		expect_delta(USTACK_STAT_DROP_TCP_SYN_IN_WINDOW, 1, what);
		expect_delta(USTACK_STAT_TCP_CHALLENGE_ACKS, 1, what);
		expect_delta(USTACK_STAT_TCP_OUT_RST, 0, what);
		expect_state(&c, USTACK_TCP_ESTABLISHED, what);
	}
	/* Out of the window the SYN is not acceptable, and is answered by the
	 * same <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> ("irrespective of the
	 * sequence number", RFC 5961 4.2). */
	const uint32_t old[] = { PEER_ISS, c.rcv_nxt - 5000, c.rcv_nxt + 0x40000000u };
	for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		char what[96];
		snprintf(what, sizeof(what), "SYN at RCV.NXT%+d in ESTABLISHED", (int)(old[i] - c.rcv_nxt));
		tpeer_advance(&P, USTACK_MSEC(500)); /* past the challenge-ACK rate limit */
		snapshot();
		tpeer_send(&P, PEER_PORT, c.lport, F_SYN, old[i], 0, 65535, NULL, 0, NULL);
		expect_seg(tpeer_next(&P), F_ACK, c.snd_nxt, c.rcv_nxt, what);
		expect_nothing(what);
		expect_delta(USTACK_STAT_TCP_OUT_RST, 0, what);
		expect_state(&c, USTACK_TCP_ESTABLISHED, what);
	}
	peer(&c, F_ACK | F_PSH, c.rcv_nxt, c.snd_nxt, "ok", 2);
	expect_seg(next_ack(), F_ACK, c.snd_nxt, c.rcv_nxt + 2, "data after the SYNs");
}

/* ---- aborts (RFC 9293 3.10.4, RFC 2525 2.17) ---- */

Test(reset, close_with_unread_data_resets)
{
	struct conn c = establish();
	peer(&c, F_ACK | F_PSH, c.rcv_nxt, c.snd_nxt, "hello", 5);
	c.rcv_nxt += 5;
	expect_seg(next_ack(), F_ACK, c.snd_nxt, c.rcv_nxt, "ACK of the data");
	snapshot();
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_seg(tpeer_next(&P), F_RST | F_ACK, c.snd_nxt, c.rcv_nxt, "close with 5 unread bytes");
	expect_nothing("after the RST");
	expect_delta(USTACK_STAT_TCP_OUT_RST, 1, "close with unread data");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left behind; trace:\n%s", P.trace);
	cr_assert_eq(ustack_sock_state(P.st, c.fd), -EBADF);
	cr_assert_eq(ustack_next_deadline(P.st), USTACK_TIME_NEVER, "no timer left behind");
}

Test(reset, linger_zero_close_resets)
{
	struct conn c = establish();
	/* Unacknowledged data in flight: the RST must carry SND.NXT, past it. */
	cr_assert_eq(ustack_send(P.st, c.fd, "abc", 3, 0), 3);
	const struct tseg *d = tpeer_next(&P);
	cr_assert_not_null(d);
	cr_assert_eq(d->h.len, 3u);
	c.snd_nxt += 3;
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	cr_assert_eq(ustack_setsockopt(P.st, c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	snapshot();
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_seg(tpeer_next(&P), F_RST | F_ACK, c.snd_nxt, c.rcv_nxt, "close with SO_LINGER {1, 0}");
	expect_nothing("after the RST");
	expect_delta(USTACK_STAT_TCP_OUT_RST, 1, "SO_LINGER abort");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left behind; trace:\n%s", P.trace);
	/* A late ACK finds no connection. */
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_seg(tpeer_next(&P), F_RST, c.snd_nxt, 0, "a segment after the abort");
}

Test(reset, listener_close_resets_queued_connection)
{
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, LISTEN_PORT);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	/* One connection completes and waits for accept()... */
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_SYN, 5000, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = tpeer_next(&P);
	cr_assert_not_null(sa);
	uint32_t iss = sa->h.seq;
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_ACK, 5001, iss + 1, 512, NULL, 0, NULL);
	expect_nothing("the handshake's last ACK");
	cr_assert_eq(conn_state(P.st, LISTEN_PORT, CLIENT_PORT), USTACK_TCP_ESTABLISHED);

	snapshot();
	cr_assert_eq(ustack_close(P.st, lfd), 0);
	/* Linux (inet_csk_listen_stop): what nobody accepted is reset. */
	expect_seg(tpeer_next(&P), F_RST | F_ACK, iss + 1, 5001,
		   "the queued connection when its listener closes");
	expect_nothing("after the RST");
	expect_delta(USTACK_STAT_TCP_OUT_RST, 1, "listener close");
	cr_assert_eq(port_entries(P.st, LISTEN_PORT), 0, "nothing left on the port; trace:\n%s", P.trace);
	/* The peer's data now finds no one. */
	tpeer_send(&P, CLIENT_PORT, LISTEN_PORT, F_ACK | F_PSH, 5001, iss + 1, 512, "x", 1, NULL);
	expect_seg(tpeer_next(&P), F_RST, iss + 1, 0, "data for the reset connection");
}

/* A connection the user closed (an orphan in FIN_WAIT_2) cannot deliver new
 * data: Linux answers with a reset (tcp_rcv_state_process, TCPAbortOnData). */
Test(reset, data_for_closed_socket_resets)
{
	struct conn c = establish();
	cr_assert_eq(ustack_close(P.st, c.fd), 0);
	expect_seg(tpeer_next(&P), F_FIN | F_ACK, c.snd_nxt, c.rcv_nxt, "FIN on close");
	c.snd_nxt++;
	peer(&c, F_ACK, c.rcv_nxt, c.snd_nxt, NULL, 0);
	expect_nothing("the ACK of our FIN");
	cr_assert_eq(conn_state(P.st, c.lport, PEER_PORT), USTACK_TCP_FIN_WAIT_2);
	snapshot();
	peer(&c, F_ACK | F_PSH, c.rcv_nxt, c.snd_nxt, "late", 4);
	const struct tseg *r = tpeer_next(&P);
	cr_assert_not_null(r, "data for a closed socket must be answered with a RST; trace:\n%s", P.trace);
	cr_assert(r->h.flags & F_RST, "a RST, got flags %#x", r->h.flags);
	/* <SEQ=SEG.ACK>, which is SND.NXT here; Linux sends a bare RST, RST,ACK
	 * must acknowledge no more than RCV.NXT (the data was not taken). */
	cr_assert_eq(r->h.seq, c.snd_nxt, "RST seq %u, want %u", r->h.seq, c.snd_nxt);
	if (r->h.flags & F_ACK)
		cr_assert_eq(r->h.ack, c.rcv_nxt, "RST,ACK ack %u, want %u", r->h.ack, c.rcv_nxt);
	expect_nothing("after the RST");
	expect_delta(USTACK_STAT_DROP_TCP_RCV_CLOSED, 1, "data after close");
	cr_assert_eq(port_entries(P.st, c.lport), 0, "nothing left behind; trace:\n%s", P.trace);
}

/* ---- a refused connect, both ends ustack ---- */

static struct tnet N;

static void net_setup(void)
{
	struct ustack_link_params link = { .delay = USTACK_MSEC(10) };
	tnet_init(&N, 11, &link);
}

static void net_teardown(void)
{
	tnet_fini(&N);
}

TestSuite(refused, .init = net_setup, .fini = net_teardown);

static int net_so_error(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	cr_assert_eq(ustack_getsockopt(N.a, fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	cr_assert_eq(len, sizeof(int));
	return e;
}

/* A connects to a port of B where nobody listens; B answers the SYN with
 * <SEQ=0><ACK=x+1><CTL=RST,ACK> and A's attempt fails. */
static int refused_connect(void)
{
	int fd = ustack_socket(N.a, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(T_ADDR_B, 4444);
	cr_assert_eq(ustack_connect(N.a, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	tnet_run(&N, USTACK_SEC(1));
	cr_assert_eq(N.n, 2, "SYN and RST on the wire, got %zu segments; trace:\n%s", N.n, N.trace);
	const struct tseg *syn = &N.wire[0], *rst = &N.wire[1];
	cr_assert_eq(syn->h.saddr, T_ADDR_A);
	cr_assert_eq(syn->h.flags, F_SYN);
	cr_assert_eq(rst->h.saddr, T_ADDR_B, "the reset comes from B; trace:\n%s", N.trace);
	cr_assert_eq(rst->h.flags, F_RST | F_ACK, "RST,ACK, got %#x", rst->h.flags);
	cr_assert_eq(rst->h.seq, 0u, "SEQ=0 (the SYN carried no ACK)");
	cr_assert_eq(rst->h.ack, syn->h.seq + 1, "ACK=SEG.SEQ+SEG.LEN");
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_DROP_TCP_NO_SOCKET), 1);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_TCP_ATTEMPT_FAILS), 1, "trace:\n%s", N.trace);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_TCP_ACTIVE_OPENS), 1);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_TCP_OUT_RST), 0, "A answers nothing");
	cr_assert_eq(ustack_sock_state(N.a, fd), USTACK_TCP_CLOSED);
	int m = ustack_sock_poll(N.a, fd);
	cr_assert_eq(m & (POLLERR | POLLHUP), POLLERR | POLLHUP, "poll %#x, want POLLERR|POLLHUP set", m);
	return fd;
}

/* The error read by a second connect(), as a non-blocking client does. */
Test(refused, connect_reports_econnrefused)
{
	int fd = refused_connect();
	struct sockaddr_in sin = t_sin(T_ADDR_B, 4444);
	cr_assert_eq(ustack_connect(N.a, fd, T_SA(sin), sizeof(sin)), -ECONNREFUSED);
	cr_assert_eq(net_so_error(fd), 0, "connect() consumed the error");
	cr_assert_eq(ustack_sock_poll(N.a, fd) & POLLERR, 0, "no error pending any more");
	/* Linux: the socket is unconnected again; the next connect() tries anew. */
	cr_assert_eq(ustack_connect(N.a, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	tnet_run(&N, USTACK_SEC(1));
	cr_assert_eq(N.n, 4, "a second SYN and RST; trace:\n%s", N.trace);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_TCP_ATTEMPT_FAILS), 2);
	cr_assert_eq(net_so_error(fd), ECONNREFUSED);
}

/* The error read through SO_ERROR, as an event loop does. Linux then
 * answers the next connect() with ECONNABORTED (__inet_stream_connect:
 * "sock_error(sk) ? : -ECONNABORTED", the failed attempt never having been
 * reported by connect()), and only the one after that starts a new attempt.
 * Checked on Linux 6.18. */
Test(refused, so_error_reports_econnrefused)
{
	int fd = refused_connect();
	cr_assert_eq(net_so_error(fd), ECONNREFUSED, "SO_ERROR gives the refusal");
	cr_assert_eq(net_so_error(fd), 0, "SO_ERROR clears it");
	int m = ustack_sock_poll(N.a, fd);
	cr_assert_eq(m & (POLLERR | POLLHUP), POLLHUP, "poll %#x: POLLHUP stays, POLLERR goes", m);
	size_t before = N.n;
	struct sockaddr_in sin = t_sin(T_ADDR_B, 4444);
	int r = ustack_connect(N.a, fd, T_SA(sin), sizeof(sin));
	tnet_run(&N, USTACK_SEC(1));
	cr_assert_eq(r, -ECONNABORTED,
		     "connect() after SO_ERROR was read: %d (%s), want -ECONNABORTED as Linux", r,
		     strerror(-r));
	cr_assert_eq(N.n, before, "that connect() sends nothing; trace:\n%s", N.trace);
	cr_assert_eq(ustack_connect(N.a, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS,
		     "the next one tries anew");
}

/* RFC 5961 7, with Linux's default: at most one challenge ACK per 500 ms on
 * a connection; a blind attacker's flood of in-window RSTs draws one. */
Test(reset, challenge_acks_rate_limited)
{
	struct conn c = establish();
	tpeer_advance(&P, USTACK_MSEC(500));
	snapshot();
	for (int i = 0; i < 10; i++)
		peer(&c, F_RST, c.rcv_nxt + 100 + (uint32_t)i, 0, NULL, 0);
	expect_seg(tpeer_next(&P), F_ACK, c.snd_nxt, c.rcv_nxt, "the first RST");
	expect_nothing("RSTs 2 to 10 within 500 ms");
	expect_delta(USTACK_STAT_TCP_CHALLENGE_ACKS, 1, "ten RSTs at once");
	expect_delta(USTACK_STAT_TCP_ACK_SKIPPED, 9, "ten RSTs at once");
	expect_delta(USTACK_STAT_DROP_TCP_RST_INEXACT, 10, "ten RSTs at once");
	tpeer_advance(&P, USTACK_MSEC(500));
	peer(&c, F_RST, c.rcv_nxt + 100, 0, NULL, 0);
	expect_seg(tpeer_next(&P), F_ACK, c.snd_nxt, c.rcv_nxt, "500 ms later");
	expect_state(&c, USTACK_TCP_ESTABLISHED, "after the flood");
}
