/*
 * UDP sockets (RFC 768, RFC 1122 4.1) between two stacks on the simulator,
 * with Linux's semantics: message boundaries, truncation and MSG_TRUNC,
 * MSG_PEEK, the source address from recvfrom, connected sockets filtering
 * what they take and learning ECONNREFUSED from a port unreachable, the
 * receive buffer bound, the size limit, EDESTADDRREQ, the bind rules with
 * SO_REUSEADDR, ephemeral ports, and a datagram larger than the MTU crossing
 * in fragments.
 *
 * Every packet on the simulated wire is captured raw, so tests can check
 * what crossed (fragments, ICMP errors) and not only what arrived.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testnet.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define A T_ADDR_A
#define B T_ADDR_B

static struct tnet N;

/* Every packet delivered on the wire, raw. */
#define MAX_WIRE 4096
static struct {
	size_t n;
	uint32_t src[MAX_WIRE];
	size_t len[MAX_WIRE];
	uint8_t *b[MAX_WIRE];
} W;

static void raw_tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	if (W.n == MAX_WIRE)
		abort();
	W.b[W.n] = malloc(len);
	memcpy(W.b[W.n], pkt, len);
	W.len[W.n] = len;
	W.src[W.n] = (uint32_t)((const uint8_t *)pkt)[12] << 24 | (uint32_t)((const uint8_t *)pkt)[13] << 16 |
		     (uint32_t)((const uint8_t *)pkt)[14] << 8 | ((const uint8_t *)pkt)[15];
	W.n++;
}

static void setup(void)
{
	struct ustack_link_params link = { .delay = USTACK_MSEC(1) };
	tnet_init(&N, 7, &link);
	memset(&W, 0, sizeof(W));
	ustack_sim_set_tap(N.sim, raw_tap, NULL);
}

static void teardown(void)
{
	tnet_fini(&N);
	for (size_t i = 0; i < W.n; i++)
		free(W.b[i]);
}

TestSuite(udp, .init = setup, .fini = teardown);

static void run(void)
{
	tnet_run(&N, USTACK_SEC(5));
}

/* A UDP socket on st, bound to port unless it is 0. */
static int usock(struct ustack *st, uint16_t port)
{
	int fd = ustack_socket(st, AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(fd, 3, "socket: %d", fd);
	if (port) {
		struct sockaddr_in sin = t_sin(0, port);
		int r = ustack_bind(st, fd, T_SA(sin), sizeof(sin));
		cr_assert_eq(r, 0, "bind %u: %d", port, r);
	}
	return fd;
}

static ssize_t send_to(struct ustack *st, int fd, uint32_t addr, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sin = t_sin(addr, port);
	return ustack_sendto(st, fd, buf, len, 0, T_SA(sin), sizeof(sin));
}

static uint16_t local_port(struct ustack *st, int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	cr_assert_eq(ustack_getsockname(st, fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static int so_error(struct ustack *st, int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	cr_assert_eq(ustack_getsockopt(st, fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	return e;
}

#define EXPECT_ERR(call, err)                                                                              \
	do {                                                                                               \
		long r_ = (long)(call);                                                                    \
		cr_assert_eq(r_, -(long)(err), "%s = %ld (%s), want -%s", #call, r_,                       \
			     r_ < 0 ? strerror((int)-r_) : "no error", #err);                              \
	} while (0)

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

/* ---- boundaries ---- */

Test(udp, three_sends_three_datagrams)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	static const size_t sizes[] = { 1, 500, 1200 };
	uint8_t data[3][1200];
	for (int i = 0; i < 3; i++) {
		fill(data[i], sizes[i], (unsigned)i);
		cr_assert_eq(send_to(N.a, tx, B, 7000, data[i], sizes[i]), (ssize_t)sizes[i]);
	}
	cr_assert_eq(ustack_sock_poll(N.b, rx), POLLOUT, "nothing has arrived yet");
	run();
	cr_assert_eq(ustack_sock_poll(N.b, rx), POLLIN | POLLOUT);
	for (int i = 0; i < 3; i++) {
		uint8_t buf[4096];
		ssize_t r = ustack_recv(N.b, rx, buf, sizeof(buf), 0);
		cr_assert_eq(r, (ssize_t)sizes[i], "recv %d: %zd bytes, want %zu", i, r, sizes[i]);
		cr_assert_arr_eq(buf, data[i], sizes[i]);
	}
	uint8_t buf[16];
	EXPECT_ERR(ustack_recv(N.b, rx, buf, sizeof(buf), 0), EAGAIN);
	cr_assert_eq(ustack_sock_poll(N.b, rx), POLLOUT);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_UDP_OUT), 3);
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_UDP_IN), 3);
}

Test(udp, empty_datagram_is_a_datagram)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	cr_assert_eq(send_to(N.a, tx, B, 7000, NULL, 0), 0);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "x", 1), 1);
	run();
	char buf[8];
	cr_assert_eq(ustack_sock_poll(N.b, rx) & POLLIN, POLLIN);
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 0, "the empty datagram");
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 1, "then the next one");
	EXPECT_ERR(ustack_recv(N.b, rx, buf, sizeof(buf), 0), EAGAIN);
}

Test(udp, truncation_and_msg_trunc)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	uint8_t data[100], buf[100];
	fill(data, sizeof(data), 3);
	cr_assert_eq(send_to(N.a, tx, B, 7000, data, 100), 100);
	cr_assert_eq(send_to(N.a, tx, B, 7000, data, 100), 100);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "next", 4), 4);
	run();
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(ustack_recv(N.b, rx, buf, 10, 0), 10, "the part that fits");
	cr_assert_arr_eq(buf, data, 10);
	cr_assert_eq(buf[10], 0, "nothing past the buffer");
	/* The rest of that datagram is gone: the next recv is the next one. */
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(ustack_recv(N.b, rx, buf, 10, MSG_TRUNC), 100, "MSG_TRUNC: the real length");
	cr_assert_arr_eq(buf, data, 10);
	cr_assert_eq(buf[10], 0, "MSG_TRUNC copies only what fits");
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 4);
	cr_assert_arr_eq(buf, "next", 4);
}

Test(udp, msg_peek)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "first", 5), 5);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "second", 6), 6);
	run();
	char buf[16];
	for (int i = 0; i < 2; i++) {
		memset(buf, 0, sizeof(buf));
		cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), MSG_PEEK), 5, "peek %d", i);
		cr_assert_str_eq(buf, "first");
	}
	cr_assert_eq(ustack_recv(N.b, rx, buf, 2, MSG_PEEK | MSG_TRUNC), 5, "peek with MSG_TRUNC");
	cr_assert_eq(ustack_recv(N.b, rx, buf, 2, MSG_PEEK), 2, "a short peek leaves the datagram whole");
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 5);
	cr_assert_str_eq(buf, "first");
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 6);
	cr_assert_str_eq(buf, "second");
}

Test(udp, recvfrom_gives_the_source)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 6000);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "hi", 2), 2);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "again", 5), 5);
	run();
	struct sockaddr_in from;
	memset(&from, 0xaa, sizeof(from));
	socklen_t len = sizeof(from);
	char buf[8];
	cr_assert_eq(ustack_recvfrom(N.b, rx, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len), 2);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(from.sin_family, AF_INET);
	cr_assert_eq(ntohl(from.sin_addr.s_addr), A);
	cr_assert_eq(ntohs(from.sin_port), 6000);
	/* A short address buffer gets what fits, and the full length. */
	uint8_t tiny[4] = { 0 };
	len = sizeof(tiny);
	cr_assert_eq(ustack_recvfrom(N.b, rx, buf, sizeof(buf), 0, (struct sockaddr *)tiny, &len), 5);
	cr_assert_eq(len, sizeof(struct sockaddr_in));
	cr_assert_eq(tiny[0] | tiny[1] << 8, AF_INET);
	cr_assert_eq(tiny[2] << 8 | tiny[3], 6000);
}

/* ---- connected sockets ---- */

Test(udp, connected_socket_takes_only_its_peer)
{
	int rx = usock(N.b, 7000), tx1 = usock(N.a, 6000), tx2 = usock(N.a, 6001);
	struct sockaddr_in peer = t_sin(A, 6000);
	cr_assert_eq(ustack_connect(N.b, rx, T_SA(peer), sizeof(peer)), 0);
	cr_assert_eq(ustack_sock_state(N.b, rx), USTACK_TCP_ESTABLISHED);
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	cr_assert_eq(ustack_getpeername(N.b, rx, (struct sockaddr *)&got, &len), 0);
	cr_assert_eq(ntohs(got.sin_port), 6000);
	cr_assert_eq(send_to(N.a, tx2, B, 7000, "stranger", 8), 8);
	cr_assert_eq(send_to(N.a, tx1, B, 7000, "peer", 4), 4);
	run();
	char buf[16];
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 4);
	cr_assert_arr_eq(buf, "peer", 4);
	EXPECT_ERR(ustack_recv(N.b, rx, buf, sizeof(buf), 0), EAGAIN);
	/* Nobody took the stranger's datagram: as on Linux, it got a port
	 * unreachable, which its unconnected socket does not hear. */
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_DROP_UDP_NO_PORT), 1);
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_ICMP_OUT_DEST_UNREACH), 1);
	cr_assert_eq(so_error(N.a, tx2), 0);

	/* send() goes to the peer without an address. */
	cr_assert_eq(ustack_send(N.b, rx, "reply", 5, 0), 5);
	run();
	cr_assert_eq(ustack_recv(N.a, tx1, buf, sizeof(buf), 0), 5);

	/* AF_UNSPEC dissolves the association: anyone may send again. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	cr_assert_eq(ustack_connect(N.b, rx, &unspec, sizeof(unspec)), 0);
	EXPECT_ERR(ustack_getpeername(N.b, rx, (struct sockaddr *)&got, &len), ENOTCONN);
	cr_assert_eq(ustack_sock_state(N.b, rx), USTACK_TCP_CLOSED);
	cr_assert_eq(local_port(N.b, rx), 7000, "a port bind() chose stays");
	EXPECT_ERR(ustack_send(N.b, rx, "x", 1, 0), EDESTADDRREQ);
	cr_assert_eq(send_to(N.a, tx2, B, 7000, "stranger", 8), 8);
	run();
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 8);
}

/* RFC 1122 4.1.3.3 and Linux: a connected socket learns of a port
 * unreachable as ECONNREFUSED, reported once, by whichever call comes
 * next: send, recv or SO_ERROR. */
Test(udp, port_unreachable_gives_econnrefused)
{
	struct sockaddr_in nobody = t_sin(B, 9);
	static const char *const how[] = { "send", "recv", "SO_ERROR" };
	for (int k = 0; k < 3; k++) {
		int fd = usock(N.a, 0);
		cr_assert_eq(ustack_connect(N.a, fd, T_SA(nobody), sizeof(nobody)), 0);
		cr_assert_eq(ustack_send(N.a, fd, "hello?", 6, 0), 6);
		run();
		cr_assert_eq(ustack_sock_poll(N.a, fd), POLLOUT | POLLERR, "%s: POLLERR", how[k]);
		char buf[8];
		switch (k) {
		case 0:
			EXPECT_ERR(ustack_send(N.a, fd, "again", 5, 0), ECONNREFUSED);
			break;
		case 1:
			EXPECT_ERR(ustack_recv(N.a, fd, buf, sizeof(buf), 0), ECONNREFUSED);
			break;
		default:
			cr_assert_eq(so_error(N.a, fd), ECONNREFUSED);
			break;
		}
		cr_assert_eq(so_error(N.a, fd), 0, "%s: reported once", how[k]);
		cr_assert_eq(ustack_sock_poll(N.a, fd), POLLOUT);
		EXPECT_ERR(ustack_recv(N.a, fd, buf, sizeof(buf), 0), EAGAIN);
		ustack_close(N.a, fd);
	}
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_ICMP_IN_HARD_ERRORS), 3);
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_ICMP_OUT_DEST_UNREACH), 3);
}

/* An unconnected socket sends to a port nobody holds: the unreachable
 * comes back (it is on the wire and counted), and the socket is not
 * touched, as on Linux without IP_RECVERR. */
Test(udp, unconnected_socket_not_affected)
{
	int fd = usock(N.a, 6000);
	cr_assert_eq(send_to(N.a, fd, B, 9, "hello?", 6), 6);
	run();
	size_t icmp = 0;
	for (size_t i = 0; i < W.n; i++) {
		const uint8_t *p = W.b[i];
		if (W.src[i] == B && p[9] == US_IP_PROTO_ICMP) {
			icmp++;
			cr_assert_eq(p[20], US_ICMP_DEST_UNREACH);
			cr_assert_eq(p[21], US_ICMP_PORT_UNREACH);
		}
	}
	cr_assert_eq(icmp, 1, "one port unreachable crossed");
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_ICMP_IN_DEST_UNREACH), 1);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_DROP_ICMP_NO_SOCKET), 1);
	cr_assert_eq(ustack_sock_poll(N.a, fd), POLLOUT);
	cr_assert_eq(so_error(N.a, fd), 0);
	cr_assert_eq(send_to(N.a, fd, B, 9, "hello?", 6), 6, "sending still works");
}

/* ---- limits ---- */

/* Linux charges each datagram its size plus the sk_buff's (576 bytes
 * here) and refuses one when the charge already exceeds SO_RCVBUF: with
 * the smallest buffer (2304), 1000-byte datagrams fit two at a time. */
Test(udp, rcvbuf_overflow_dropped_and_counted)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	int one = 1, got = 0;
	socklen_t len = sizeof(got);
	cr_assert_eq(ustack_setsockopt(N.b, rx, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
	cr_assert_eq(ustack_getsockopt(N.b, rx, SOL_SOCKET, SO_RCVBUF, &got, &len), 0);
	cr_assert_eq(got, 2304, "Linux's floor");
	uint8_t data[1000];
	for (int i = 0; i < 5; i++) {
		fill(data, sizeof(data), (unsigned)i);
		cr_assert_eq(send_to(N.a, tx, B, 7000, data, sizeof(data)), 1000);
	}
	run();
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_UDP_IN), 2);
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_DROP_UDP_RCVBUF_FULL), 3);
	uint8_t buf[1000];
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 1000);
		fill(data, sizeof(data), (unsigned)i);
		cr_assert_arr_eq(buf, data, 1000, "the first two, in order");
	}
	EXPECT_ERR(ustack_recv(N.b, rx, buf, sizeof(buf), 0), EAGAIN);
	/* Room again once read. */
	cr_assert_eq(send_to(N.a, tx, B, 7000, data, sizeof(data)), 1000);
	run();
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 1000);
	/* A datagram larger than the whole buffer still fits an empty queue. */
	static uint8_t big[5000];
	cr_assert_eq(send_to(N.a, tx, B, 7000, big, sizeof(big)), 5000);
	run();
	cr_assert_eq(ustack_recv(N.b, rx, big, sizeof(big), 0), 5000);
}

Test(udp, emsgsize)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	static uint8_t data[70000], buf[70000];
	fill(data, sizeof(data), 9);
	EXPECT_ERR(send_to(N.a, tx, B, 7000, data, 65508), EMSGSIZE);
	EXPECT_ERR(send_to(N.a, tx, B, 7000, data, 65536), EMSGSIZE);
	EXPECT_ERR(send_to(N.a, tx, B, 7000, data, sizeof(data)), EMSGSIZE);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_UDP_OUT), 0, "nothing sent");
	/* The largest datagram there is crosses, in 45 fragments. */
	cr_assert_eq(send_to(N.a, tx, B, 7000, data, 65507), 65507);
	run();
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 65507);
	cr_assert_arr_eq(buf, data, 65507);
	cr_assert_eq(ustack_stat(N.a, USTACK_STAT_IP_FRAG_CREATED), 45);
}

Test(udp, edestaddrreq_and_other_errors)
{
	int fd = usock(N.a, 0);
	EXPECT_ERR(ustack_send(N.a, fd, "x", 1, 0), EDESTADDRREQ);
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, NULL, 0), EDESTADDRREQ);
	struct sockaddr_in sin = t_sin(B, 7000);
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(sin), sizeof(sin) - 1), EINVAL);
	struct sockaddr_in zero_port = t_sin(B, 0);
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(zero_port), sizeof(zero_port)), EINVAL);
	struct sockaddr_in six = sin;
	six.sin_family = AF_INET6;
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(six), sizeof(six)), EAFNOSUPPORT);
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, MSG_OOB, T_SA(sin), sizeof(sin)), EOPNOTSUPP);
	/* A broadcast needs SO_BROADCAST, as on Linux. */
	struct sockaddr_in bcast = t_sin(0xffffffffu, 7000);
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(bcast), sizeof(bcast)), EACCES);
	EXPECT_ERR(ustack_connect(N.a, fd, T_SA(bcast), sizeof(bcast)), EACCES);
	int one = 1;
	cr_assert_eq(ustack_setsockopt(N.a, fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)), 0);
	cr_assert_eq(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(bcast), sizeof(bcast)), 1);
	/* What a datagram socket cannot do. */
	EXPECT_ERR(ustack_listen(N.a, fd, 5), EOPNOTSUPP);
	EXPECT_ERR(ustack_accept(N.a, fd, NULL, NULL), EOPNOTSUPP);
	struct sockaddr_in got;
	socklen_t len = sizeof(got);
	EXPECT_ERR(ustack_getpeername(N.a, fd, (struct sockaddr *)&got, &len), ENOTCONN);
	EXPECT_ERR(ustack_shutdown(N.a, fd, SHUT_WR), ENOTCONN);
	/* ... which still shuts the write side, as Linux's inet_shutdown. */
	EXPECT_ERR(ustack_sendto(N.a, fd, "x", 1, 0, T_SA(sin), sizeof(sin)), EPIPE);
	int type = 0;
	len = sizeof(type);
	cr_assert_eq(ustack_getsockopt(N.a, fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	cr_assert_eq(type, SOCK_DGRAM);
	EXPECT_ERR(ustack_setsockopt(N.a, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), ENOPROTOOPT);
	EXPECT_ERR(ustack_socket(N.a, AF_INET, SOCK_DGRAM, IPPROTO_TCP), EPROTONOSUPPORT);
	int u = ustack_socket(N.a, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	cr_assert_geq(u, 3);
	cr_assert_eq(ustack_close(N.a, u), 0);
	EXPECT_ERR(ustack_close(N.a, u), EBADF);
}

/* Linux's inet_shutdown and datagram_poll: a shut read side reads as end
 * of file once the queue is empty, and polls readable; both sides shut
 * is a hang-up. */
Test(udp, shutdown)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 6000);
	struct sockaddr_in peer = t_sin(A, 6000);
	cr_assert_eq(ustack_connect(N.b, rx, T_SA(peer), sizeof(peer)), 0);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "queued", 6), 6);
	run();
	EXPECT_ERR(ustack_shutdown(N.b, rx, 7), EINVAL);
	cr_assert_eq(ustack_shutdown(N.b, rx, SHUT_RD), 0);
	cr_assert_eq(ustack_sock_poll(N.b, rx), POLLIN | POLLOUT | POLLRDHUP);
	char buf[8];
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 6, "what waits is still read");
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 0, "then end of file");
	cr_assert_eq(ustack_send(N.b, rx, "out", 3, 0), 3, "the write side is open");
	cr_assert_eq(ustack_shutdown(N.b, rx, SHUT_WR), 0);
	EXPECT_ERR(ustack_send(N.b, rx, "out", 3, 0), EPIPE);
	cr_assert_eq(ustack_sock_poll(N.b, rx), POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
}

/* ---- ports ---- */

Test(udp, bind_conflicts_and_reuseaddr)
{
	int a = usock(N.b, 7000), b = usock(N.b, 0);
	struct sockaddr_in sin = t_sin(0, 7000);
	EXPECT_ERR(ustack_bind(N.b, b, T_SA(sin), sizeof(sin)), EADDRINUSE);
	struct sockaddr_in other = t_sin(0xC6120063u, 7001);
	EXPECT_ERR(ustack_bind(N.b, b, T_SA(other), sizeof(other)), EADDRNOTAVAIL);
	EXPECT_ERR(ustack_bind(N.b, a, T_SA(sin), sizeof(sin)), EINVAL);
	/* TCP's ports are another space. */
	int t = ustack_socket(N.b, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_bind(N.b, t, T_SA(sin), sizeof(sin)), 0, "TCP may have port 7000 too");
	/* Linux's UDP: sharing needs SO_REUSEADDR on both sides. */
	int one = 1;
	cr_assert_eq(ustack_setsockopt(N.b, b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	EXPECT_ERR(ustack_bind(N.b, b, T_SA(sin), sizeof(sin)), EADDRINUSE);
	cr_assert_eq(ustack_setsockopt(N.b, a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	cr_assert_eq(ustack_bind(N.b, b, T_SA(sin), sizeof(sin)), 0, "both set SO_REUSEADDR");
	/* A third without it may not join. */
	int c = usock(N.b, 0);
	EXPECT_ERR(ustack_bind(N.b, c, T_SA(sin), sizeof(sin)), EADDRINUSE);
	/* A unicast datagram goes to one of them: the last bound, as Linux,
	 * still after the port table has grown and been rehashed. */
	for (int i = 0; i < 100; i++)
		usock(N.b, (uint16_t)(20000 + i));
	int tx = usock(N.a, 0);
	cr_assert_eq(send_to(N.a, tx, B, 7000, "who", 3), 3);
	run();
	char buf[8];
	cr_assert_eq(ustack_recv(N.b, b, buf, sizeof(buf), 0), 3);
	EXPECT_ERR(ustack_recv(N.b, a, buf, sizeof(buf), 0), EAGAIN);
	/* Closing frees the port for anyone. */
	ustack_close(N.b, a);
	ustack_close(N.b, b);
	cr_assert_eq(ustack_bind(N.b, c, T_SA(sin), sizeof(sin)), 0);
}

Test(udp, ephemeral_port_on_first_send)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	cr_assert_eq(local_port(N.a, tx), 0, "unbound");
	cr_assert_eq(send_to(N.a, tx, B, 7000, "hi", 2), 2);
	uint16_t p = local_port(N.a, tx);
	cr_assert(p >= 32768 && p <= 60999, "port %u in Linux's ephemeral range", p);
	run();
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[4];
	cr_assert_eq(ustack_recvfrom(N.b, rx, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len), 2);
	cr_assert_eq(ntohs(from.sin_port), p, "the datagram came from it");
	cr_assert_eq(send_to(N.a, tx, B, 7000, "hi", 2), 2);
	cr_assert_eq(local_port(N.a, tx), p, "and keeps it");
	/* bind(0) and connect() choose one too, each a different port. */
	int b0 = usock(N.a, 0), c0 = usock(N.a, 0);
	struct sockaddr_in any = t_sin(0, 0), peer = t_sin(B, 7000);
	cr_assert_eq(ustack_bind(N.a, b0, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_connect(N.a, c0, T_SA(peer), sizeof(peer)), 0);
	uint16_t pb = local_port(N.a, b0), pc = local_port(N.a, c0);
	cr_assert(pb >= 32768 && pb <= 60999 && pc >= 32768 && pc <= 60999);
	cr_assert(pb != p && pc != p && pb != pc, "ports %u %u %u", p, pb, pc);
	/* A port connect() chose goes with the association (Linux). */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	cr_assert_eq(ustack_connect(N.a, c0, &unspec, sizeof(unspec)), 0);
	cr_assert_eq(local_port(N.a, c0), 0);
}

/* ---- fragments ---- */

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A 20000-byte datagram on a 1500-byte MTU: 14 fragments of 1480 bytes
 * (the last 1248), offsets in 8-byte units, MF on all but the last, one
 * identification, each header's checksum right; reassembled intact. */
Test(udp, large_datagram_fragmented_and_reassembled)
{
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	static uint8_t data[20000], buf[20001];
	fill(data, sizeof(data), 77);
	cr_assert_eq(send_to(N.a, tx, B, 7000, data, sizeof(data)), 20000);
	run();
	size_t frags = 0, bytes = 0;
	uint16_t id = 0;
	for (size_t i = 0; i < W.n; i++) {
		const uint8_t *p = W.b[i];
		if (W.src[i] != A)
			continue;
		cr_assert_leq(W.len[i], 1500, "fragment %zu: %zu bytes", frags, W.len[i]);
		struct us_ipv4 ip;
		cr_assert_eq(us_ipv4_parse(p, W.len[i], true, &ip), 0, "fragment %zu parses, checksum ok", frags);
		cr_assert_eq(ip.proto, US_IP_PROTO_UDP);
		cr_assert_eq(ip.frag & US_IPV4_DF, 0, "DF clear");
		if (frags == 0)
			id = ip.id;
		cr_assert_eq(ip.id, id, "one identification");
		cr_assert_eq((size_t)(ip.frag & US_IPV4_OFFMASK) * 8, bytes, "fragment %zu's offset", frags);
		bool last = frags == 13;
		cr_assert_eq((ip.frag & US_IPV4_MF) != 0, !last, "MF on all but the last");
		cr_assert_eq(ip.payload_len, last ? 20008 - 13 * 1480 : 1480);
		bytes += ip.payload_len;
		frags++;
	}
	cr_assert_eq(frags, 14);
	cr_assert_eq(bytes, 20008, "UDP header and data");
	cr_assert_eq(rd16(W.b[0] + 24), 20008, "the UDP length field");
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_IP_FRAG_REASSEMBLED), 1);
	cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 20000);
	cr_assert_arr_eq(buf, data, sizeof(data));
	cr_assert_eq(ustack_next_deadline(N.b), USTACK_TIME_NEVER, "nothing left in reassembly");
}

/* Over a link that reorders and duplicates, every datagram still comes
 * whole: duplicates of fragments are dropped (counted), and reordering
 * does not matter. */
Test(udp, fragments_over_a_reordering_link)
{
	struct ustack_link_params link = {
		.delay = USTACK_MSEC(5), .jitter = USTACK_MSEC(4), .reorder = 0.3,
		.reorder_delay = USTACK_MSEC(3), .duplicate = 0.1,
	};
	cr_assert_eq(ustack_sim_set_path(N.sim, A, B, &link), 0);
	int rx = usock(N.b, 7000), tx = usock(N.a, 0);
	int one = 1 << 20;
	cr_assert_eq(ustack_setsockopt(N.b, rx, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)), 0);
	static uint8_t data[8][9000], buf[9001];
	for (int i = 0; i < 8; i++) {
		fill(data[i], sizeof(data[i]), (unsigned)(100 + i));
		data[i][0] = (uint8_t)i;
		cr_assert_eq(send_to(N.a, tx, B, 7000, data[i], sizeof(data[i])), 9000);
	}
	run();
	bool seen[8] = { false };
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(ustack_recv(N.b, rx, buf, sizeof(buf), 0), 9000, "datagram %d", i);
		int k = buf[0];
		cr_assert(k < 8 && !seen[k]);
		seen[k] = true;
		cr_assert_arr_eq(buf, data[k], sizeof(data[k]));
	}
	cr_assert_eq(ustack_stat(N.b, USTACK_STAT_IP_FRAG_REASSEMBLED), 8);
	cr_assert_gt(ustack_stat(N.b, USTACK_STAT_DROP_IP_FRAG_DUPLICATE), 0, "the link duplicated some");
	EXPECT_ERR(ustack_recv(N.b, rx, buf, sizeof(buf), 0), EAGAIN);
}
