/*
 * ICMP (RFC 792, RFC 1122 3.2.2) through a whole stack, with the test as
 * the remote host or a router: echo answered exactly; port and protocol
 * unreachable sent with the quote Linux sends (as much of the datagram as
 * fits in 576 bytes); the errors RFC 1122 forbids never sent (about a
 * broadcast, an ICMP error, a fragment other than the first); the token
 * bucket (burst 50, 1000 a second); and errors received for TCP: a hard
 * error ends a connection in SYN_SENT only if the quoted sequence number is
 * one it sent (RFC 5927), soft errors are reported only when a connection
 * times out.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "testnet.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define US T_ADDR_A
#define PEER T_ADDR_B
#define ROUTER 0xC61200FEu /* 198.18.0.254 */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An ICMP message from src to the stack; returns the packet's length. */
static size_t icmp_from(uint8_t *pkt, uint32_t src, uint8_t type, uint8_t code, uint32_t rest,
			const void *body, size_t blen, uint16_t id, uint16_t frag)
{
	static uint8_t m[70000];
	memcpy(m + 8, body, blen);
	struct iovec iov = { m + 8, blen };
	us_icmp_build(m, type, code, rest, &iov, 1);
	return t_build_ip(pkt, src, US, US_IP_PROTO_ICMP, id, frag, m, 8 + blen);
}

/* An ICMP message the stack sent, decoded and checked: IP header valid,
 * from the stack to `to`, ICMP checksum right. */
static struct us_icmp expect_icmp(const struct tpkt *p, uint32_t to, const char *what)
{
	cr_assert_not_null(p, "%s: the stack sent nothing", what);
	struct us_ipv4 ip;
	cr_assert_eq(us_ipv4_parse(p->b, p->len, true, &ip), 0, "%s: a valid IPv4 header", what);
	cr_assert_eq(ip.proto, US_IP_PROTO_ICMP, "%s: protocol %u, want ICMP", what, ip.proto);
	cr_assert_eq(ip.src, US);
	cr_assert_eq(ip.dst, to, "%s: to %#x, want %#x", what, ip.dst, to);
	struct us_icmp m;
	cr_assert_eq(us_icmp_parse(ip.payload, ip.payload_len, true, &m), 0, "%s: ICMP checksum", what);
	return m;
}

/* ---- one stack, raw packets ---- */

static struct traw R;

static void raw_setup(void)
{
	traw_init(&R, NULL);
}

static void raw_teardown(void)
{
	traw_fini(&R);
}

TestSuite(icmp, .init = raw_setup, .fini = raw_teardown);

Test(icmp, echo_request_answered)
{
	uint8_t data[56], pkt[256];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	size_t n = icmp_from(pkt, PEER, US_ICMP_ECHO, 0, 0x4242000du, data, sizeof(data), 77, 0);
	traw_input(&R, pkt, n);
	struct us_icmp m = expect_icmp(traw_next(&R), PEER, "echo reply");
	cr_assert_eq(m.type, US_ICMP_ECHO_REPLY);
	cr_assert_eq(m.code, 0);
	cr_assert_eq(m.rest, 0x4242000du, "the same identifier and sequence number");
	cr_assert_eq(m.data_len, sizeof(data));
	cr_assert_arr_eq(m.data, data, sizeof(data), "the same data");
	cr_assert_null(traw_next(&R), "one reply");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_ICMP_IN_ECHO), 1);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_ICMP_OUT_ECHO_REPLY), 1);

	/* To a broadcast address: no answer (Linux's
	 * icmp_echo_ignore_broadcasts). */
	n = icmp_from(pkt, PEER, US_ICMP_ECHO, 0, 1, data, 8, 78, 0);
	pkt[19] = 0xff;
	put16(pkt + 10, 0);
	uint16_t c = us_csum_fold(us_csum_add(0, pkt, 20));
	memcpy(pkt + 10, &c, 2);
	traw_input(&R, pkt, n);
	cr_assert_null(traw_next(&R));
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_IP_NOT_FOR_US), 1);
}

/* A ping of 3000 bytes arrives in three fragments and is answered in
 * three, which put together carry the same data. */
Test(icmp, fragmented_echo_answered_in_fragments)
{
	static uint8_t msg[3008], pkt[2000], reply[4000];
	uint8_t *data = msg + 8;
	for (size_t i = 0; i < 3000; i++)
		data[i] = (uint8_t)(i * 13);
	struct iovec iov = { data, 3000 };
	us_icmp_build(msg, US_ICMP_ECHO, 0, 0x00010002u, &iov, 1);
	for (size_t off = 0; off < sizeof(msg); off += 1480) {
		size_t n = sizeof(msg) - off < 1480 ? sizeof(msg) - off : 1480;
		uint16_t frag = (uint16_t)(off / 8) | (off + n < sizeof(msg) ? US_IPV4_MF : 0);
		traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_ICMP, 999, frag, msg + off, n));
	}
	size_t got = 0, count = 0;
	for (const struct tpkt *p; (p = traw_next(&R)); count++) {
		struct us_ipv4 ip;
		cr_assert_eq(us_ipv4_parse(p->b, p->len, true, &ip), 0);
		cr_assert_leq(p->len, 1500);
		cr_assert_eq((size_t)(ip.frag & US_IPV4_OFFMASK) * 8, got);
		memcpy(reply + got, ip.payload, ip.payload_len);
		got += ip.payload_len;
	}
	cr_assert_eq(count, 3, "three fragments back");
	cr_assert_eq(got, sizeof(msg));
	struct us_icmp m;
	cr_assert_eq(us_icmp_parse(reply, got, true, &m), 0);
	cr_assert_eq(m.type, US_ICMP_ECHO_REPLY);
	cr_assert_eq(m.rest, 0x00010002u);
	cr_assert_arr_eq(m.data, data, 3000);
}

/* RFC 792's quote, at Linux's length: a 1000-byte datagram is quoted up
 * to 576 bytes of ICMP packet (548 of it), a short one whole. */
Test(icmp, port_unreachable_quotes_the_datagram)
{
	static uint8_t data[1000], pkt[1100];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 3 + 1);
	size_t n = t_build_udp(pkt, PEER, US, 5000, 9, data, sizeof(data));
	traw_input(&R, pkt, n);
	const struct tpkt *p = traw_next(&R);
	struct us_icmp m = expect_icmp(p, PEER, "port unreachable");
	cr_assert_eq(p->len, 576, "Linux's size for an error");
	cr_assert_eq(p->b[6] & 0x40, 0, "DF clear");
	cr_assert_eq(m.type, US_ICMP_DEST_UNREACH);
	cr_assert_eq(m.code, US_ICMP_PORT_UNREACH);
	cr_assert_eq(m.rest, 0, "unused, zero");
	cr_assert_eq(m.data_len, 548);
	cr_assert_arr_eq(m.data, pkt, 548, "the datagram as it arrived, header first");
	cr_assert_null(traw_next(&R));

	n = t_build_udp(pkt, PEER, US, 5000, 10, "tiny", 4);
	traw_input(&R, pkt, n);
	m = expect_icmp(traw_next(&R), PEER, "short datagram");
	cr_assert_eq(m.data_len, n, "quoted whole");
	cr_assert_arr_eq(m.data, pkt, n);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_UDP_NO_PORT), 2);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_ICMP_OUT_DEST_UNREACH), 2);

	/* A datagram with a bad checksum is dropped silently, port or not. */
	n = t_build_udp(pkt, PEER, US, 5000, 9, "tiny", 4);
	pkt[n - 1] ^= 1;
	traw_input(&R, pkt, n);
	cr_assert_null(traw_next(&R));
	/* A bound port takes it and sends nothing. */
	int fd = ustack_socket(R.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = t_sin(0, 9);
	cr_assert_eq(ustack_bind(R.st, fd, T_SA(sin), sizeof(sin)), 0);
	n = t_build_udp(pkt, PEER, US, 5000, 9, "tiny", 4);
	traw_input(&R, pkt, n);
	cr_assert_null(traw_next(&R));
	cr_assert_eq(ustack_recv(R.st, fd, data, sizeof(data), 0), 4);
}

Test(icmp, protocol_unreachable)
{
	uint8_t pkt[128];
	size_t n = t_build_ip(pkt, PEER, US, 47, 3, 0, "GRE? nobody here speaks it", 26);
	traw_input(&R, pkt, n);
	struct us_icmp m = expect_icmp(traw_next(&R), PEER, "protocol unreachable");
	cr_assert_eq(m.type, US_ICMP_DEST_UNREACH);
	cr_assert_eq(m.code, US_ICMP_PROTO_UNREACH);
	cr_assert_eq(m.data_len, n);
	cr_assert_arr_eq(m.data, pkt, n);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_IP_PROTO), 1);

	/* TCP's closed port stays a RST (RFC 9293 3.10.7.1), not an ICMP. */
	n = t_build_packet(pkt, PEER, US, 4000, 81, USTACK_TCP_SYN, 100, 0, 1000, NULL, 0, NULL);
	traw_input(&R, pkt, n);
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p);
	cr_assert_eq(p->b[9], US_IP_PROTO_TCP);
	cr_assert_eq(p->b[33] & USTACK_TCP_RST, USTACK_TCP_RST);
	cr_assert_null(traw_next(&R));
}

/* 60 errors at one instant: the bucket holds 50; the rest are counted.
 * It refills at 1000 a second, and never beyond 50. */
Test(icmp, errors_rate_limited)
{
	uint8_t pkt[128];
	for (int i = 0; i < 60; i++)
		traw_input(&R, pkt, t_build_udp(pkt, PEER, US, 5000, (uint16_t)(100 + i), "x", 1));
	size_t sent = 0;
	while (traw_next(&R))
		sent++;
	cr_assert_eq(sent, 50);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_ICMP_OUT_RATE_LIMITED), 10);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_UDP_NO_PORT), 60, "each datagram still counted");

	/* 5 ms later: 5 tokens. */
	traw_advance(&R, USTACK_MSEC(5));
	for (int i = 0; i < 10; i++)
		traw_input(&R, pkt, t_build_udp(pkt, PEER, US, 5000, 200, "x", 1));
	for (sent = 0; traw_next(&R); sent++)
		;
	cr_assert_eq(sent, 5);
	/* A minute later: a full bucket, not more. */
	traw_advance(&R, USTACK_SEC(60));
	for (int i = 0; i < 60; i++)
		traw_input(&R, pkt, t_build_udp(pkt, PEER, US, 5000, 200, "x", 1));
	for (sent = 0; traw_next(&R); sent++)
		;
	cr_assert_eq(sent, 50);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_ICMP_OUT_RATE_LIMITED), 10 + 5 + 10);

	/* Echo replies are not errors: not limited. */
	for (int i = 0; i < 60; i++)
		traw_input(&R, pkt, icmp_from(pkt, PEER, US_ICMP_ECHO, 0, (uint32_t)i, "ping", 4, 1, 0));
	for (sent = 0; traw_next(&R); sent++)
		;
	cr_assert_eq(sent, 60);
}

static size_t udp_to(uint8_t *pkt, uint32_t dst, uint16_t dport)
{
	return t_build_udp(pkt, PEER, dst, 5000, dport, "anyone?", 7);
}

/* RFC 1122 3.2.2: no error about a datagram to a broadcast address. */
Test(icmp, no_error_about_a_broadcast)
{
	uint8_t pkt[128];
	traw_input(&R, pkt, udp_to(pkt, 0xffffffffu, 9));
	traw_input(&R, pkt, udp_to(pkt, 0xC61200FFu, 9)); /* 198.18.0.255: the /24's */
	cr_assert_null(traw_next(&R), "no port unreachable for a broadcast");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_UDP_NO_PORT), 2, "each counted");
	/* And a wildcard socket does receive broadcasts, as on Linux. */
	int fd = ustack_socket(R.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = t_sin(0, 9);
	cr_assert_eq(ustack_bind(R.st, fd, T_SA(sin), sizeof(sin)), 0);
	traw_input(&R, pkt, udp_to(pkt, 0xffffffffu, 9));
	char buf[16];
	cr_assert_eq(ustack_recv(R.st, fd, buf, sizeof(buf), 0), 7);
	/* The same datagram unicast does get an error once nobody holds it. */
	ustack_close(R.st, fd);
	traw_input(&R, pkt, udp_to(pkt, US, 9));
	struct us_icmp m = expect_icmp(traw_next(&R), PEER, "unicast");
	cr_assert_eq(m.code, US_ICMP_PORT_UNREACH);
}

/* RFC 1122 3.2.2: no error about a fragment other than the first. A
 * protocol nobody speaks is refused fragment by fragment, and only the
 * first fragment is answered. */
Test(icmp, no_error_about_a_later_fragment)
{
	uint8_t pkt[128], body[32] = { 0 };
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, 47, 5, 4 | US_IPV4_MF, body, 32));
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, 47, 5, 8, body, 32));
	cr_assert_null(traw_next(&R), "nothing about fragments at offsets 32 and 64");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_IP_PROTO), 2);
	size_t n = t_build_ip(pkt, PEER, US, 47, 5, US_IPV4_MF, body, 32);
	traw_input(&R, pkt, n);
	struct us_icmp m = expect_icmp(traw_next(&R), PEER, "first fragment");
	cr_assert_eq(m.code, US_ICMP_PROTO_UNREACH);
	cr_assert_arr_eq(m.data, pkt, n);
}

/* RFC 1122 3.3.2: a datagram that times out in reassembly is reported
 * with Time Exceeded (code 1) if its first fragment came, quoting it;
 * but never when that datagram is itself an ICMP error (3.2.2), nor when
 * the first fragment never came. */
Test(icmp, reassembly_timeout_and_icmp_errors)
{
	uint8_t pkt[256], body[64];
	memset(body, 0, sizeof(body));
	/* 1: an echo request whose second half never comes. */
	struct iovec iov = { body + 8, 56 };
	us_icmp_build(body, US_ICMP_ECHO, 0, 1, &iov, 1);
	size_t n1 = t_build_ip(pkt, PEER, US, US_IP_PROTO_ICMP, 11, US_IPV4_MF, body, 64);
	uint8_t first[256];
	memcpy(first, pkt, n1);
	traw_input(&R, pkt, n1);
	/* 2: a destination unreachable in fragments, the end missing. */
	us_icmp_build(body, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, &iov, 1);
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_ICMP, 12, US_IPV4_MF, body, 64));
	/* 3: a UDP datagram of which only a later piece came. */
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, 13, 8 | US_IPV4_MF, body, 64));
	/* 4: the first piece of a UDP broadcast (3.2.2: nothing about it). */
	traw_input(&R, pkt, t_build_ip(pkt, PEER, 0xffffffffu, US_IP_PROTO_UDP, 14, US_IPV4_MF, body, 64));
	cr_assert_null(traw_next(&R));
	ustack_time_t deadline = ustack_next_deadline(R.st);
	cr_assert_eq(deadline, R.now + USTACK_SEC(30), "Linux's ipfrag_time");
	traw_advance(&R, USTACK_SEC(30) - 1);
	cr_assert_null(traw_next(&R), "not before 30 s");
	traw_advance(&R, 1);
	struct us_icmp m = expect_icmp(traw_next(&R), PEER, "time exceeded");
	cr_assert_eq(m.type, US_ICMP_TIME_EXCEEDED);
	cr_assert_eq(m.code, US_ICMP_EXC_FRAGTIME);
	cr_assert_eq(m.data_len, n1, "the first fragment, quoted whole");
	cr_assert_arr_eq(m.data, first, n1);
	cr_assert_null(traw_next(&R), "nothing about the ICMP error, the headless datagram, the broadcast");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_IP_FRAG_TIMEOUT), 4);
	cr_assert_eq(ustack_next_deadline(R.st), USTACK_TIME_NEVER);
}

/* ---- TCP ---- */

static struct tpeer P;

static void tcp_setup(void)
{
	struct ustack_config c = { .syn_retries = 1, .retries2 = 2 };
	tpeer_init(&P, &c);
}

static void tcp_teardown(void)
{
	tpeer_fini(&P);
}

TestSuite(icmp_tcp, .init = tcp_setup, .fini = tcp_teardown);

/* An unreachable from `from` quoting a TCP segment the stack sent on
 * lport -> PEER:rport with sequence number seq; only the header and 8
 * bytes quoted, RFC 792's minimum. */
static void tcp_unreach(uint32_t from, uint8_t code, uint16_t lport, uint16_t rport, uint32_t seq)
{
	uint8_t q[64], pkt[128];
	t_build_packet(q, US, PEER, lport, rport, USTACK_TCP_SYN, seq, 0, 64240, NULL, 0, NULL);
	size_t n = icmp_from(pkt, from, US_ICMP_DEST_UNREACH, code, 0, q, 28, 1, 0);
	tpeer_raw(&P, pkt, n);
}

static int start_connect(uint16_t rport, uint32_t *iss, uint16_t *lport)
{
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(PEER, rport);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert_not_null(syn);
	cr_assert_eq(syn->h.flags, USTACK_TCP_SYN);
	*iss = syn->h.seq;
	*lport = syn->h.sport;
	return fd;
}

static int sock_err(int fd)
{
	int e = -1;
	socklen_t len = sizeof(e);
	cr_assert_eq(ustack_getsockopt(P.st, fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	return e;
}

Test(icmp_tcp, syn_sent_port_unreachable_refuses)
{
	uint32_t iss;
	uint16_t lport;
	int fd = start_connect(80, &iss, &lport);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, lport, 80, iss);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED, "trace:\n%s", P.trace);
	cr_assert_eq(ustack_sock_poll(P.st, fd) & POLLERR, POLLERR);
	struct sockaddr_in sin = t_sin(PEER, 80);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -ECONNREFUSED);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_ICMP_IN_HARD_ERRORS), 1);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_ATTEMPT_FAILS), 1);
	cr_assert_null(tpeer_next(&P), "nothing sent: no RST for an ICMP");
}

Test(icmp_tcp, protocol_unreachable_is_hard_too)
{
	uint32_t iss;
	uint16_t lport;
	int fd = start_connect(80, &iss, &lport);
	tcp_unreach(ROUTER, US_ICMP_PROTO_UNREACH, lport, 80, iss);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	cr_assert_eq(sock_err(fd), ENOPROTOOPT, "Linux's errno for it");
}

/* RFC 5927 4.1: the quoted sequence number must be one in flight. */
Test(icmp_tcp, syn_sent_unreachable_with_wrong_seq_ignored)
{
	uint32_t iss;
	uint16_t lport;
	int fd = start_connect(80, &iss, &lport);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, lport, 80, iss + 1000);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, lport, 80, iss - 1);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW), 2);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, lport, 81, iss);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, (uint16_t)(lport + 1), 80, iss);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_NO_SOCKET), 2, "other four-tuples");
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT);
	cr_assert_eq(sock_err(fd), 0);
	/* The handshake still completes. */
	tpeer_send(&P, 80, lport, USTACK_TCP_SYN | USTACK_TCP_ACK, 5000, iss + 1, 65535, NULL, 0, NULL);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
}

/* Host unreachable during the handshake is soft (RFC 1122 4.2.3.9): the
 * SYN is retried, and only when the retries run out does connect() fail,
 * with the ICMP's error instead of ETIMEDOUT. */
Test(icmp_tcp, syn_sent_host_unreachable_is_soft)
{
	uint32_t iss;
	uint16_t lport;
	int fd = start_connect(80, &iss, &lport);
	tcp_unreach(ROUTER, US_ICMP_HOST_UNREACH, lport, 80, iss);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_SYN_SENT);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_ICMP_IN_SOFT_ERRORS), 1);
	cr_assert_eq(ustack_sock_poll(P.st, fd) & POLLERR, 0, "nothing to report yet");
	for (int i = 0; i < 100 && ustack_sock_state(P.st, fd) == USTACK_TCP_SYN_SENT; i++)
		tpeer_advance(&P, USTACK_MSEC(100));
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	cr_assert_not_null(tpeer_next(&P), "the SYN was retried");
	struct sockaddr_in sin = t_sin(PEER, 80);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EHOSTUNREACH);
}

Test(icmp_tcp, syn_sent_timeout_without_icmp_is_etimedout)
{
	uint32_t iss;
	uint16_t lport;
	int fd = start_connect(80, &iss, &lport);
	for (int i = 0; i < 100 && ustack_sock_state(P.st, fd) == USTACK_TCP_SYN_SENT; i++)
		tpeer_advance(&P, USTACK_MSEC(100));
	cr_assert_eq(sock_err(fd), ETIMEDOUT);
}

/* In a synchronized state every error is soft: the connection carries on,
 * and the error is told only if it later times out, and only if nothing
 * was acknowledged since the error came (Linux forgets it on an ACK). */
Test(icmp_tcp, established_errors_are_soft)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_send(P.st, fd, "abc", 3, 0), 3);
	const struct tseg *d = tpeer_next(&P);
	cr_assert_not_null(d);
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, lport, 80, d->h.seq);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED, "even port unreachable is soft");
	cr_assert_eq(ustack_sock_poll(P.st, fd) & POLLERR, 0);
	cr_assert_eq(sock_err(fd), 0);
	/* The ACK of "abc" shows the path works; later data then times out. */
	tpeer_send(&P, 80, lport, USTACK_TCP_ACK, 1001, iss + 4, 65535, NULL, 0, NULL);
	cr_assert_eq(ustack_send(P.st, fd, "def", 3, 0), 3);
	for (int i = 0; i < 600 && ustack_sock_state(P.st, fd) == USTACK_TCP_ESTABLISHED; i++)
		tpeer_advance(&P, USTACK_MSEC(100));
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	cr_assert_eq(sock_err(fd), ETIMEDOUT, "an error before the last ACK is forgotten");
}

Test(icmp_tcp, soft_error_reported_at_timeout)
{
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, 80, 1000, &iss, &lport);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_send(P.st, fd, "abc", 3, 0), 3);
	const struct tseg *d = tpeer_next(&P);
	cr_assert_not_null(d);
	tcp_unreach(ROUTER, US_ICMP_HOST_UNREACH, lport, 80, d->h.seq);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_ICMP_IN_SOFT_ERRORS), 1);
	for (int i = 0; i < 600 && ustack_sock_state(P.st, fd) == USTACK_TCP_ESTABLISHED; i++)
		tpeer_advance(&P, USTACK_MSEC(100));
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	char buf[4];
	cr_assert_eq(ustack_recv(P.st, fd, buf, sizeof(buf), 0), -EHOSTUNREACH, "not ETIMEDOUT");
	cr_assert_eq(sock_err(fd), 0, "reported once");
}

struct find {
	uint16_t lport, rport;
	int n;
};

static int find_cb(void *ctx, const struct ustack_conn_info *ci)
{
	struct find *f = ctx;
	f->n += ci->lport == f->lport && ci->rport == f->rport;
	return 0;
}

static int entries(uint16_t lport, uint16_t rport)
{
	struct find f = { .lport = lport, .rport = rport };
	ustack_tcp_foreach(P.st, find_cb, &f);
	return f.n;
}

/* A listener's child in SYN_RECEIVED is Linux's request sock: an error
 * quoting exactly its ISS removes it if it is host or net unreachable (or
 * time exceeded, parameter problem); port unreachable leaves it. */
Test(icmp_tcp, syn_received_child)
{
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, 80);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	tpeer_send(&P, 5555, 80, USTACK_TCP_SYN, 7000, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = tpeer_next(&P);
	cr_assert_not_null(sa);
	uint32_t iss = sa->h.seq;
	cr_assert_eq(entries(80, 5555), 1);
	tcp_unreach(PEER, US_ICMP_HOST_UNREACH, 80, 5555, iss + 1);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW), 1, "exactly the ISS");
	tcp_unreach(PEER, US_ICMP_PORT_UNREACH, 80, 5555, iss);
	cr_assert_eq(entries(80, 5555), 1, "port unreachable leaves it");
	tcp_unreach(ROUTER, US_ICMP_HOST_UNREACH, 80, 5555, iss);
	cr_assert_eq(entries(80, 5555), 0, "host unreachable removes it");
	cr_assert_eq(entries(80, 0), 1, "the listener stays");
	cr_assert_eq(ustack_accept(P.st, lfd, NULL, NULL), -EAGAIN);
	cr_assert_null(tpeer_next(&P));
}
