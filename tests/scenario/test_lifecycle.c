/*
 * The connection's life over the simulator, both ends ustack: the exact
 * segments of the handshake, the teardown from either side, simultaneous
 * open and close, half-close. Each test names the RFC 9293 figure it
 * follows.
 */
#include <criterion/criterion.h>
#include <errno.h>

#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_FIN USTACK_TCP_FIN
#define F_PSH USTACK_TCP_PSH

static struct tnet net;

static void setup(void)
{
	struct ustack_link_params link = { .delay = USTACK_MSEC(10) };
	tnet_init(&net, 7, &link);
}

static void teardown(void)
{
	tnet_fini(&net);
}

TestSuite(lifecycle, .init = setup, .fini = teardown);

static void expect_seg(size_t i, uint32_t saddr, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
	cr_assert_lt(i, net.n, "segment %zu missing; trace:\n%s", i, net.trace);
	const struct tseg *s = &net.wire[i];
	cr_assert(!s->bad, "segment %zu did not parse", i);
	cr_assert_eq(s->h.saddr, saddr, "segment %zu from the wrong side; trace:\n%s", i, net.trace);
	cr_assert_eq(s->h.flags, flags, "segment %zu flags %#x, want %#x; trace:\n%s", i, s->h.flags, flags,
		     net.trace);
	cr_assert_eq(s->h.seq, seq, "segment %zu seq %u, want %u; trace:\n%s", i, s->h.seq, seq, net.trace);
	if (flags & F_ACK)
		cr_assert_eq(s->h.ack, ack, "segment %zu ack %u, want %u; trace:\n%s", i, s->h.ack, ack, net.trace);
	cr_assert_eq(s->h.len, len, "segment %zu len %u, want %u", i, s->h.len, len);
}

static int listen_on(struct ustack *st, uint16_t port)
{
	int fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, port);
	cr_assert_eq(ustack_bind(st, fd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(st, fd, 16), 0);
	return fd;
}

static int connect_to(struct ustack *st, uint32_t addr, uint16_t port)
{
	int fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(addr, port);
	cr_assert_eq(ustack_connect(st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	return fd;
}

/* Connects A to B:9999; returns the two fds and the ISNs seen on the wire. */
static void establish(int *cfd, int *sfd, int *lfd, uint32_t *x, uint32_t *y)
{
	*lfd = listen_on(net.b, 9999);
	*cfd = connect_to(net.a, T_ADDR_B, 9999);
	tnet_run(&net, USTACK_SEC(1));
	cr_assert_eq(net.n, 3, "handshake took %zu segments; trace:\n%s", net.n, net.trace);
	*x = net.wire[0].h.seq;
	*y = net.wire[1].h.seq;
	*sfd = ustack_accept(net.b, *lfd, NULL, NULL);
	cr_assert_geq(*sfd, 0);
}

/* The article's figure: SYN carries x; SYN,ACK carries y and acknowledges
 * x+1; the last ACK acknowledges y+1 (RFC 9293 3.5, figure 6). */
Test(lifecycle, three_way_handshake)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	expect_seg(0, T_ADDR_A, F_SYN, x, 0, 0);
	expect_seg(1, T_ADDR_B, F_SYN | F_ACK, y, x + 1, 0);
	expect_seg(2, T_ADDR_A, F_ACK, x + 1, y + 1, 0);
	cr_assert_eq(net.wire[0].h.opt.mss, 1460);
	cr_assert_eq(net.wire[1].h.opt.mss, 1460);
	cr_assert_eq(ustack_sock_state(net.a, cfd), USTACK_TCP_ESTABLISHED);
	cr_assert_eq(ustack_sock_state(net.b, sfd), USTACK_TCP_ESTABLISHED);
	cr_assert(ustack_sock_poll(net.a, cfd) & POLLOUT);
	struct sockaddr_in peer;
	socklen_t len = sizeof(peer);
	cr_assert_eq(ustack_getpeername(net.b, sfd, (struct sockaddr *)&peer, &len), 0);
	cr_assert_eq(ntohl(peer.sin_addr.s_addr), T_ADDR_A);
	cr_assert_eq(ntohs(peer.sin_port), net.wire[0].h.sport);
	/* The first connect() after an asynchronous one completed reports
	 * success, then -EISCONN, as on Linux. */
	struct sockaddr_in sin = t_sin(T_ADDR_B, 9999);
	cr_assert_eq(ustack_connect(net.a, cfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_connect(net.a, cfd, T_SA(sin), sizeof(sin)), -EISCONN);
}

struct tw_find {
	uint16_t port;
	int found;
	enum ustack_tcp_state state;
};

static int find_port(void *ctx, const struct ustack_conn_info *ci)
{
	struct tw_find *f = ctx;
	if (ci->lport == f->port && ci->rport) {
		f->found++;
		f->state = ci->state;
	}
	return 0;
}

static int state_of(struct ustack *st, uint16_t lport)
{
	struct tw_find f = { .port = lport };
	ustack_tcp_foreach(st, find_port, &f);
	return f.found ? (int)f.state : -1;
}

/* RFC 9293 3.6, figure 12: the client closes first. */
Test(lifecycle, teardown_by_client)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	uint16_t cport = net.wire[0].h.sport;
	cr_assert_eq(ustack_close(net.a, cfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	expect_seg(3, T_ADDR_A, F_FIN | F_ACK, x + 1, y + 1, 0);
	expect_seg(4, T_ADDR_B, F_ACK, y + 1, x + 2, 0);
	cr_assert_eq(net.n, 5);
	cr_assert_eq(ustack_sock_state(net.b, sfd), USTACK_TCP_CLOSE_WAIT);
	char c;
	cr_assert_eq(ustack_recv(net.b, sfd, &c, 1, 0), 0, "EOF after the FIN");
	cr_assert_eq(ustack_close(net.b, sfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	expect_seg(5, T_ADDR_B, F_FIN | F_ACK, y + 1, x + 2, 0);
	expect_seg(6, T_ADDR_A, F_ACK, x + 2, y + 2, 0);
	cr_assert_eq(net.n, 7);
	cr_assert_eq(state_of(net.a, cport), USTACK_TCP_TIME_WAIT);
	cr_assert_eq(state_of(net.b, 9999), -1, "the server's side is gone");
}

/* The article's order: the server closes first and waits in TIME_WAIT. */
Test(lifecycle, teardown_by_server)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	uint16_t cport = net.wire[0].h.sport;
	cr_assert_eq(ustack_close(net.b, sfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	expect_seg(3, T_ADDR_B, F_FIN | F_ACK, y + 1, x + 1, 0);
	expect_seg(4, T_ADDR_A, F_ACK, x + 1, y + 2, 0);
	cr_assert(ustack_sock_poll(net.a, cfd) & POLLRDHUP);
	cr_assert_eq(ustack_close(net.a, cfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	expect_seg(5, T_ADDR_A, F_FIN | F_ACK, x + 1, y + 2, 0);
	expect_seg(6, T_ADDR_B, F_ACK, y + 2, x + 2, 0);
	cr_assert_eq(net.n, 7);
	cr_assert_eq(state_of(net.b, 9999), USTACK_TCP_TIME_WAIT);
	cr_assert_eq(state_of(net.a, cport), -1);
}

/* RFC 9293 3.5, figure 7: both sides send SYN at once. */
Test(lifecycle, simultaneous_open)
{
	int fa = ustack_socket(net.a, AF_INET, SOCK_STREAM, 0);
	int fb = ustack_socket(net.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in la = t_sin(0, 5000), lb = t_sin(0, 6000);
	cr_assert_eq(ustack_bind(net.a, fa, T_SA(la), sizeof(la)), 0);
	cr_assert_eq(ustack_bind(net.b, fb, T_SA(lb), sizeof(lb)), 0);
	struct sockaddr_in ra = t_sin(T_ADDR_B, 6000), rb = t_sin(T_ADDR_A, 5000);
	cr_assert_eq(ustack_connect(net.a, fa, T_SA(ra), sizeof(ra)), -EINPROGRESS);
	cr_assert_eq(ustack_connect(net.b, fb, T_SA(rb), sizeof(rb)), -EINPROGRESS);
	tnet_run(&net, USTACK_SEC(1));
	cr_assert_eq(net.n, 4, "trace:\n%s", net.trace);
	uint32_t x = net.wire[0].h.seq, y = net.wire[1].h.seq;
	expect_seg(0, T_ADDR_A, F_SYN, x, 0, 0);
	expect_seg(1, T_ADDR_B, F_SYN, y, 0, 0);
	/* Each side, in SYN_RECEIVED, repeats its SYN and acknowledges the other's. */
	const struct tseg *s2 = &net.wire[2], *s3 = &net.wire[3];
	cr_assert_eq(s2->h.flags, F_SYN | F_ACK);
	cr_assert_eq(s3->h.flags, F_SYN | F_ACK);
	const struct tseg *from_a = s2->h.saddr == T_ADDR_A ? s2 : s3;
	const struct tseg *from_b = s2->h.saddr == T_ADDR_A ? s3 : s2;
	cr_assert_eq(from_a->h.seq, x);
	cr_assert_eq(from_a->h.ack, y + 1);
	cr_assert_eq(from_b->h.seq, y);
	cr_assert_eq(from_b->h.ack, x + 1);
	cr_assert_eq(ustack_sock_state(net.a, fa), USTACK_TCP_ESTABLISHED, "trace:\n%s", net.trace);
	cr_assert_eq(ustack_sock_state(net.b, fb), USTACK_TCP_ESTABLISHED);
	/* And data flows. */
	cr_assert_eq(ustack_send(net.a, fa, "ping", 4, 0), 4);
	tnet_run(&net, USTACK_SEC(1));
	char buf[8];
	cr_assert_eq(ustack_recv(net.b, fb, buf, sizeof(buf), 0), 4);
	cr_assert_arr_eq(buf, "ping", 4);
}

/* RFC 9293 3.6, figure 13: both close at once; both pass CLOSING. */
Test(lifecycle, simultaneous_close)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	uint16_t cport = net.wire[0].h.sport;
	cr_assert_eq(ustack_close(net.a, cfd), 0);
	cr_assert_eq(ustack_close(net.b, sfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	cr_assert_eq(net.n, 7, "trace:\n%s", net.trace);
	expect_seg(3, T_ADDR_A, F_FIN | F_ACK, x + 1, y + 1, 0);
	expect_seg(4, T_ADDR_B, F_FIN | F_ACK, y + 1, x + 1, 0);
	/* Each FIN crossed the other: each side ACKs the FIN it got. */
	const struct tseg *s5 = &net.wire[5], *s6 = &net.wire[6];
	const struct tseg *ack_a = s5->h.saddr == T_ADDR_A ? s5 : s6;
	const struct tseg *ack_b = s5->h.saddr == T_ADDR_A ? s6 : s5;
	cr_assert_eq(ack_a->h.flags, F_ACK);
	cr_assert_eq(ack_a->h.seq, x + 2);
	cr_assert_eq(ack_a->h.ack, y + 2);
	cr_assert_eq(ack_b->h.flags, F_ACK);
	cr_assert_eq(ack_b->h.seq, y + 2);
	cr_assert_eq(ack_b->h.ack, x + 2);
	cr_assert(strstr(net.trace, "FIN_WAIT_1 -> CLOSING"), "trace:\n%s", net.trace);
	cr_assert_eq(state_of(net.a, cport), USTACK_TCP_TIME_WAIT);
	cr_assert_eq(state_of(net.b, 9999), USTACK_TCP_TIME_WAIT);
}

/* RFC 9293 3.6: a half-closed connection still carries data the other way. */
Test(lifecycle, half_close)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	cr_assert_eq(ustack_shutdown(net.a, cfd, SHUT_WR), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	cr_assert_eq(ustack_sock_state(net.a, cfd), USTACK_TCP_FIN_WAIT_2);
	cr_assert_eq(ustack_sock_state(net.b, sfd), USTACK_TCP_CLOSE_WAIT);
	cr_assert_eq(ustack_send(net.a, cfd, "x", 1, 0), -EPIPE);
	char buf[4096];
	cr_assert_eq(ustack_recv(net.b, sfd, buf, sizeof(buf), 0), 0);
	/* The server keeps talking: 3000 bytes in three writes. */
	static char data[3000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(ustack_send(net.b, sfd, data + i * 1000, 1000, 0), 1000);
		tnet_run_for(&net, USTACK_MSEC(30));
	}
	size_t got = 0;
	ssize_t r;
	while ((r = ustack_recv(net.a, cfd, buf + got, sizeof(buf) - got, 0)) > 0)
		got += (size_t)r;
	cr_assert_eq(r, -EAGAIN);
	cr_assert_eq(got, sizeof(data));
	cr_assert_arr_eq(buf, data, sizeof(data));
	cr_assert_eq(ustack_close(net.b, sfd), 0);
	tnet_run_for(&net, USTACK_MSEC(100));
	cr_assert_eq(ustack_recv(net.a, cfd, buf, sizeof(buf), 0), 0);
	cr_assert_eq(ustack_sock_state(net.a, cfd), USTACK_TCP_TIME_WAIT);
}

/* Data larger than the MSS and the window goes out in MSS-sized segments,
 * PSH on the last of each write, and arrives intact. */
Test(lifecycle, bulk_transfer_segmentation)
{
	int cfd, sfd, lfd;
	uint32_t x, y;
	establish(&cfd, &sfd, &lfd, &x, &y);
	enum { TOTAL = 400000 };
	static char src[TOTAL], dst[TOTAL];
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = (char)(i * 31 + (i >> 8));
	size_t sent = 0, got = 0;
	while (got < TOTAL) {
		if (sent < TOTAL) {
			ssize_t r = ustack_send(net.a, cfd, src + sent, TOTAL - sent, 0);
			cr_assert(r > 0 || r == -EAGAIN, "send: %zd", r);
			if (r > 0)
				sent += (size_t)r;
		}
		tnet_run_for(&net, USTACK_MSEC(5));
		ssize_t r;
		while ((r = ustack_recv(net.b, sfd, dst + got, TOTAL - got, 0)) > 0)
			got += (size_t)r;
		cr_assert(ustack_sim_now(net.sim) < USTACK_SEC(60), "stalled at %zu/%zu", got, (size_t)TOTAL);
	}
	cr_assert_arr_eq(dst, src, TOTAL);
	for (size_t i = 3; i < net.n; i++)
		cr_assert_leq(net.wire[i].h.len, 1460u);
}
