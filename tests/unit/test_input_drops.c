/*
 * Every reason the IPv4 and TCP parsers reject a packet, seen through a
 * whole stack with a live connection: RFC 791 3.1 and RFC 1122 3.2.1.1-3
 * (version, header length, total length, checksum, source addresses a host
 * must discard, destination, fragments that can never be reassembled,
 * protocol), RFC 9293 3.1 (TCP
 * header length, data offset, checksum with the pseudo-header, the option
 * rules MUST-6 and MUST-7) and RFC 7323 / RFC 2018 option sizes.
 *
 * Each case starts from a valid data segment for the connection, which the
 * stack would take and acknowledge, and breaks one thing (with the IP and
 * TCP checksums fixed up unless the checksum is the point). It must then be
 * counted under exactly its own drop reason, nothing else may move except
 * the arrival counters, nothing may be sent, and the connection must still
 * take the next valid segment.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testnet.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define PEER_PORT 80
#define PEER_ISS 1000u
#define T_ADDR_OTHER 0xC6120003u /* 198.18.0.3: not the stack's */

static struct tpeer P;

static void setup(void)
{
	tpeer_init(&P, NULL);
}

static void teardown(void)
{
	tpeer_fini(&P);
}

TestSuite(input_drops, .init = setup, .fini = teardown);

/* The connection the packets are aimed at, from the test's side. */
struct conn {
	int fd;
	uint16_t lport;   /* the stack's port */
	uint32_t seq, ack; /* the next valid segment's numbers: RCV.NXT, SND.NXT */
};

static struct conn establish(void)
{
	struct conn c;
	uint32_t iss;
	c.fd = tpeer_establish_active(&P, PEER_PORT, PEER_ISS, &iss, &c.lport);
	cr_assert_geq(c.fd, 0, "handshake failed; trace:\n%s", P.trace);
	c.seq = PEER_ISS + 1;
	c.ack = iss + 1;
	cr_assert_null(tpeer_next(&P));
	return c;
}

/* ---- packet surgery ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Recomputes the IPv4 header checksum over the 20-byte header. */
static void ip_fix(uint8_t *pkt)
{
	put16(pkt + 10, 0);
	uint16_t c = us_csum_fold(us_csum_add(0, pkt, US_IPV4_HDR_MIN));
	memcpy(pkt + 10, &c, 2);
}

/* Recomputes the TCP checksum of a packet with a 20-byte IP header, over
 * tcp_len bytes. */
static void tcp_fix(uint8_t *pkt, size_t tcp_len)
{
	uint8_t *th = pkt + US_IPV4_HDR_MIN;
	uint32_t src = (uint32_t)get16(pkt + 12) << 16 | get16(pkt + 14);
	uint32_t dst = (uint32_t)get16(pkt + 16) << 16 | get16(pkt + 18);
	put16(th + 16, 0);
	uint64_t acc = us_csum_pseudo(src, dst, US_IP_PROTO_TCP, (uint16_t)tcp_len);
	uint16_t c = us_csum_fold(us_csum_add(acc, th, tcp_len));
	memcpy(th + 16, &c, 2);
}

static const char BAD_DATA[] = "bad";
#define BAD_LEN 3

/* The valid segment every case starts from: 3 bytes of data at RCV.NXT. */
static size_t base_from(uint8_t *pkt, const struct conn *c, uint32_t src, uint32_t dst, uint16_t sport,
			uint16_t dport)
{
	return t_build_packet(pkt, src, dst, sport, dport, USTACK_TCP_ACK | USTACK_TCP_PSH, c->seq, c->ack,
			      512, BAD_DATA, BAD_LEN, NULL);
}

static size_t base(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, T_ADDR_B, T_ADDR_A, PEER_PORT, c->lport);
}

/* The base segment with raw option bytes (a multiple of 4) inserted. */
static size_t with_options(uint8_t *pkt, const struct conn *c, const uint8_t *opt, size_t olen)
{
	uint8_t tmp[256];
	size_t n = base(tmp, c);
	size_t hl = US_IPV4_HDR_MIN + US_TCP_HDR_MIN;
	memcpy(pkt, tmp, hl);
	memcpy(pkt + hl, opt, olen);
	memcpy(pkt + hl + olen, tmp + hl, n - hl);
	pkt[US_IPV4_HDR_MIN + 12] = (uint8_t)((US_TCP_HDR_MIN + olen) / 4 << 4);
	put16(pkt + 2, (uint16_t)(n + olen));
	ip_fix(pkt);
	tcp_fix(pkt, n + olen - US_IPV4_HDR_MIN);
	return n + olen;
}

#define OPTS(...)                                                                                          \
	do {                                                                                               \
		static const uint8_t o_[] = { __VA_ARGS__ };                                               \
		_Static_assert(sizeof(o_) % 4 == 0, "options pad to 32 bits");                             \
		return with_options(pkt, c, o_, sizeof(o_));                                               \
	} while (0)

static size_t m_ip_truncated(uint8_t *pkt, const struct conn *c)
{
	base(pkt, c);
	return US_IPV4_HDR_MIN - 1;
}

static size_t m_ip_version(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[0] = 6 << 4 | 5;
	ip_fix(pkt);
	return n;
}

static size_t m_ip_ihl_small(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[0] = 4 << 4 | 4;
	ip_fix(pkt);
	return n;
}

static size_t m_ip_ihl_past_end(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c); /* 43 bytes */
	pkt[0] = 4 << 4 | 15;    /* 60 */
	ip_fix(pkt);
	return n;
}

static size_t m_ip_total_small(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	put16(pkt + 2, US_IPV4_HDR_MIN - 1);
	ip_fix(pkt);
	return n;
}

static size_t m_ip_total_past_end(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	put16(pkt + 2, (uint16_t)(n + 1));
	ip_fix(pkt);
	return n;
}

static size_t m_ip_checksum(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[10] ^= 0x01;
	return n;
}

static size_t m_src_broadcast(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, 0xffffffffu, T_ADDR_A, PEER_PORT, c->lport);
}

static size_t m_src_subnet_bcast(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, 0xC61200ffu, T_ADDR_A, PEER_PORT, c->lport); /* 198.18.0.255, /24 */
}

static size_t m_src_multicast(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, 0xE0000001u, T_ADDR_A, PEER_PORT, c->lport); /* 224.0.0.1 */
}

static size_t m_src_class_e(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, 0xF0000001u, T_ADDR_A, PEER_PORT, c->lport); /* 240.0.0.1 */
}

static size_t m_src_loopback(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, 0x7F000001u, T_ADDR_A, PEER_PORT, c->lport); /* 127.0.0.1 */
}

/* The land attack: the stack's own address and port on both sides. */
static size_t m_src_land(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, T_ADDR_A, T_ADDR_A, c->lport, c->lport);
}

static size_t m_not_for_us(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, T_ADDR_B, T_ADDR_OTHER, PEER_PORT, c->lport);
}

/* RFC 791 3.2: a fragment with MF set carries a multiple of 8 bytes; this
 * one carries 23. */
static size_t m_frag_mf(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	put16(pkt + 6, US_IPV4_MF);
	ip_fix(pkt);
	return n;
}

/* The last fragment at offset 65528: it would end past 65535 bytes. */
static size_t m_frag_offset(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	put16(pkt + 6, US_IPV4_OFFMASK);
	ip_fix(pkt);
	return n;
}

/* A protocol nobody speaks, in a fragment other than the first: dropped,
 * and (RFC 1122 3.2.2) no ICMP error about it. A whole datagram would get
 * a protocol unreachable (tests/unit/test_icmp.c). */
static size_t m_proto_gre(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[9] = 47;
	put16(pkt + 6, 1);
	ip_fix(pkt);
	return n;
}

static size_t m_tcp_truncated(uint8_t *pkt, const struct conn *c)
{
	base(pkt, c);
	size_t n = US_IPV4_HDR_MIN + US_TCP_HDR_MIN - 1;
	put16(pkt + 2, (uint16_t)n);
	ip_fix(pkt);
	return n;
}

static size_t m_doff_small(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[US_IPV4_HDR_MIN + 12] = 4 << 4;
	tcp_fix(pkt, n - US_IPV4_HDR_MIN);
	return n;
}

static size_t m_doff_past_end(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);                 /* 23 bytes of TCP */
	pkt[US_IPV4_HDR_MIN + 12] = 6 << 4;      /* 24 */
	tcp_fix(pkt, n - US_IPV4_HDR_MIN);
	return n;
}

static size_t m_tcp_checksum(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	pkt[US_IPV4_HDR_MIN + 16] ^= 0x80;
	return n;
}

/* The checksum of a segment sent to another address, delivered to us: the
 * pseudo-header must catch it. */
static size_t m_tcp_checksum_pseudo(uint8_t *pkt, const struct conn *c)
{
	size_t n = base_from(pkt, c, T_ADDR_B, T_ADDR_OTHER, PEER_PORT, c->lport);
	pkt[16] = (uint8_t)(T_ADDR_A >> 24);
	pkt[17] = (uint8_t)(T_ADDR_A >> 16);
	pkt[18] = (uint8_t)(T_ADDR_A >> 8);
	pkt[19] = (uint8_t)T_ADDR_A;
	ip_fix(pkt);
	return n;
}

static size_t m_opt_len0(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_TS, 0, US_TCPOPT_NOP, US_TCPOPT_NOP);
}

static size_t m_opt_len1(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_MSS, 1, US_TCPOPT_NOP);
}

static size_t m_opt_len0_unknown(uint8_t *pkt, const struct conn *c)
{
	OPTS(30, 0, US_TCPOPT_NOP, US_TCPOPT_NOP);
}

static size_t m_opt_overrun(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_NOP, US_TCPOPT_TS, 10); /* 10 bytes claimed, 2 left */
}

static size_t m_opt_overrun_last(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_NOP, US_TCPOPT_NOP, US_TCPOPT_MSS); /* no room for its length */
}

static size_t m_opt_overrun_unkn(uint8_t *pkt, const struct conn *c)
{
	OPTS(99, 5, 0, 0);
}

static size_t m_opt_mss_len3(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_MSS, 3, 5, US_TCPOPT_NOP);
}

static size_t m_opt_wscale_len4(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_WSCALE, 4, 7, 0);
}

static size_t m_opt_ts_len8(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_TS, 8, 0, 0, 0, 1, 0, 0);
}

static size_t m_opt_sack_len9(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_NOP, US_TCPOPT_SACK, 9, 0, 0, 0, 1, 0, 0, 0, 2);
}

static size_t m_opt_sack_perm_len3(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_SACK_PERM, 3, 0, US_TCPOPT_NOP);
}

static size_t m_sport0(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, T_ADDR_B, T_ADDR_A, 0, c->lport);
}

static size_t m_dport0(uint8_t *pkt, const struct conn *c)
{
	return base_from(pkt, c, T_ADDR_B, T_ADDR_A, PEER_PORT, 0);
}

struct drop_case {
	const char *name;
	size_t (*make)(uint8_t *pkt, const struct conn *c);
	enum ustack_stat reason;
	bool tcp; /* reaches TCP: tcp.in counts it */
};

/* A fragment refused by reassembly has arrived there: ip.frag.in counts it. */
static bool reaches_reassembly(enum ustack_stat reason)
{
	return reason == USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH || reason == USTACK_STAT_DROP_IP_FRAG_TOO_BIG;
}

static const struct drop_case drop_cases[] = {
	{ "IP truncated (19 bytes)", m_ip_truncated, USTACK_STAT_DROP_IP_TRUNCATED, false },
	{ "IP version 6", m_ip_version, USTACK_STAT_DROP_IP_VERSION, false },
	{ "IP header length 4 words", m_ip_ihl_small, USTACK_STAT_DROP_IP_HDR_LEN, false },
	{ "IP header length past the end", m_ip_ihl_past_end, USTACK_STAT_DROP_IP_HDR_LEN, false },
	{ "IP total length below the header", m_ip_total_small, USTACK_STAT_DROP_IP_TOTAL_LEN, false },
	{ "IP total length past the end", m_ip_total_past_end, USTACK_STAT_DROP_IP_TOTAL_LEN, false },
	{ "IP header checksum", m_ip_checksum, USTACK_STAT_DROP_IP_CHECKSUM, false },
	{ "IP source 255.255.255.255", m_src_broadcast, USTACK_STAT_DROP_IP_BAD_SRC, false },
	{ "IP source 198.18.0.255 (subnet bcast)", m_src_subnet_bcast, USTACK_STAT_DROP_IP_BAD_SRC, false },
	{ "IP source 224.0.0.1 (multicast)", m_src_multicast, USTACK_STAT_DROP_IP_BAD_SRC, false },
	{ "IP source 240.0.0.1 (class E)", m_src_class_e, USTACK_STAT_DROP_IP_BAD_SRC, false },
	{ "IP source 198.18.0.1, the stack's own (land)", m_src_land, USTACK_STAT_DROP_IP_BAD_SRC, false },
	{ "IP destination 198.18.0.3", m_not_for_us, USTACK_STAT_DROP_IP_NOT_FOR_US, false },
	{ "IP fragment, MF set, 23 bytes", m_frag_mf, USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH, false },
	{ "IP fragment past 65535 bytes", m_frag_offset, USTACK_STAT_DROP_IP_FRAG_TOO_BIG, false },
	{ "IP protocol 47, not the first fragment", m_proto_gre, USTACK_STAT_DROP_IP_PROTO, false },
	{ "TCP truncated (19 bytes)", m_tcp_truncated, USTACK_STAT_DROP_TCP_TRUNCATED, true },
	{ "TCP data offset 4", m_doff_small, USTACK_STAT_DROP_TCP_DOFF_SMALL, true },
	{ "TCP data offset past the end", m_doff_past_end, USTACK_STAT_DROP_TCP_DOFF_PAST_END, true },
	{ "TCP checksum", m_tcp_checksum, USTACK_STAT_DROP_TCP_CHECKSUM, true },
	{ "TCP checksum, other pseudo-header", m_tcp_checksum_pseudo, USTACK_STAT_DROP_TCP_CHECKSUM, true },
	{ "TCP option length 0", m_opt_len0, USTACK_STAT_DROP_TCP_OPT_LEN, true },
	{ "TCP option length 1", m_opt_len1, USTACK_STAT_DROP_TCP_OPT_LEN, true },
	{ "TCP unknown option length 0", m_opt_len0_unknown, USTACK_STAT_DROP_TCP_OPT_LEN, true },
	{ "TCP option past the header", m_opt_overrun, USTACK_STAT_DROP_TCP_OPT_OVERRUN, true },
	{ "TCP option kind in the last byte", m_opt_overrun_last, USTACK_STAT_DROP_TCP_OPT_OVERRUN, true },
	{ "TCP unknown option past the header", m_opt_overrun_unkn, USTACK_STAT_DROP_TCP_OPT_OVERRUN, true },
	{ "TCP MSS option length 3", m_opt_mss_len3, USTACK_STAT_DROP_TCP_OPT_SIZE, true },
	{ "TCP window scale length 4", m_opt_wscale_len4, USTACK_STAT_DROP_TCP_OPT_SIZE, true },
	{ "TCP timestamps length 8", m_opt_ts_len8, USTACK_STAT_DROP_TCP_OPT_SIZE, true },
	{ "TCP SACK length 9", m_opt_sack_len9, USTACK_STAT_DROP_TCP_OPT_SIZE, true },
	{ "TCP SACK-permitted length 3", m_opt_sack_perm_len3, USTACK_STAT_DROP_TCP_OPT_SIZE, true },
	{ "TCP source port 0", m_sport0, USTACK_STAT_DROP_TCP_BAD_PORT, true },
	{ "TCP destination port 0", m_dport0, USTACK_STAT_DROP_TCP_BAD_PORT, true },
};

/* ---- the checks ---- */

static uint64_t snap[USTACK_STAT__COUNT];

static void snapshot(void)
{
	for (int i = 0; i < USTACK_STAT__COUNT; i++)
		snap[i] = ustack_stat(P.st, (enum ustack_stat)i);
}

/*
 * Every counter moved exactly as `want` says (want[i] is the expected
 * increase). Those that did not are listed in msg. Returns true when all
 * match.
 */
static bool counters_match(const uint64_t *want, char *msg, size_t size)
{
	size_t n = 0;
	msg[0] = 0;
	for (int i = 0; i < USTACK_STAT__COUNT; i++) {
		uint64_t d = ustack_stat(P.st, (enum ustack_stat)i) - snap[i];
		if (d != want[i] && n < size) {
			int w = snprintf(msg + n, size - n, "%s%s went up by %llu, want %llu", n ? "; " : "",
					 ustack_stat_name((enum ustack_stat)i), (unsigned long long)d,
					 (unsigned long long)want[i]);
			n += w > 0 ? (size_t)w : 0;
		}
	}
	return n == 0;
}

/* The ACK of data: at once, or after a delayed-ACK timer (RFC 9293 3.8.6.3
 * allows up to 500 ms; Linux waits at most 200 ms). */
static const struct tseg *next_ack(void)
{
	const struct tseg *s = tpeer_next(&P);
	for (int i = 0; !s && i < 50; i++) {
		tpeer_advance(&P, USTACK_MSEC(10));
		s = tpeer_next(&P);
	}
	return s;
}

/* Sends the valid segment c names and expects it taken and acknowledged. */
static void expect_works(struct conn *c, const char *after)
{
	static const char ok[] = "ok!";
	tpeer_send(&P, PEER_PORT, c->lport, USTACK_TCP_ACK | USTACK_TCP_PSH, c->seq, c->ack, 512, ok, 3,
		   NULL);
	const struct tseg *a = next_ack();
	cr_assert_not_null(a, "after %s: a valid segment was not acknowledged; trace:\n%s", after, P.trace);
	cr_assert_eq(a->h.flags, USTACK_TCP_ACK, "after %s: flags %#x, want ACK", after, a->h.flags);
	cr_assert_eq(a->h.seq, c->ack, "after %s: ACK seq %u, want %u", after, a->h.seq, c->ack);
	cr_assert_eq(a->h.ack, c->seq + 3, "after %s: ACK ack %u, want %u; trace:\n%s", after, a->h.ack,
		     c->seq + 3, P.trace);
	cr_assert_null(tpeer_next(&P), "after %s: one ACK only", after);
	char buf[16];
	ssize_t r = ustack_recv(P.st, c->fd, buf, sizeof(buf), 0);
	cr_assert_eq(r, 3, "after %s: recv %zd, want the 3 valid bytes only", after, r);
	cr_assert_arr_eq(buf, ok, 3, "after %s: the valid bytes", after);
	cr_assert_eq(ustack_sock_state(P.st, c->fd), USTACK_TCP_ESTABLISHED);
	c->seq += 3;
}

/* Feeds one bad packet and checks everything; returns false (having
 * reported with cr_expect) when something was wrong. */
static bool run_case(const struct drop_case *k, struct conn *c)
{
	uint8_t pkt[256];
	size_t len = k->make(pkt, c);
	uint64_t want[USTACK_STAT__COUNT] = { 0 };
	want[k->reason]++;
	want[USTACK_STAT_IP_IN]++;
	if (k->tcp)
		want[USTACK_STAT_TCP_IN]++;
	if (reaches_reassembly(k->reason))
		want[USTACK_STAT_IP_FRAG_IN]++;
	size_t trace_mark = P.trace_len;
	snapshot();
	int r = ustack_input(P.st, P.now, pkt, len);
	cr_expect_eq(r, 0, "%s: ustack_input returned %d, want 0 (every packet is consumed)", k->name, r);
	char msg[512];
	bool ok = counters_match(want, msg, sizeof(msg));
	cr_expect(ok, "%s: want %s +1 and nothing else; but %s; trace:\n%s", k->name,
		  ustack_stat_name(k->reason), msg, P.trace + trace_mark);
	const struct tseg *s = tpeer_next(&P);
	cr_expect_null(s, "%s: the stack should send nothing, it sent flags %#x seq %u ack %u; trace:\n%s",
		       k->name, s ? s->h.flags : 0, s ? s->h.seq : 0, s ? s->h.ack : 0,
		       P.trace + trace_mark);
	bool named = strstr(P.trace + trace_mark, ustack_stat_name(k->reason)) != NULL;
	cr_expect(named, "%s: the trace should name the drop %s; trace:\n%s", k->name,
		  ustack_stat_name(k->reason), P.trace + trace_mark);
	while (tpeer_next(&P))
		;
	return ok && !s && named && r == 0;
}

/* Each case on a fresh stack, so one case's failure cannot hide another's. */
Test(input_drops, each_rejection_counted_once)
{
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(drop_cases) / sizeof(drop_cases[0]); i++) {
		const struct drop_case *k = &drop_cases[i];
		tpeer_fini(&P);
		tpeer_init(&P, NULL);
		struct conn c = establish();
		if (!run_case(k, &c)) {
			failed++;
			continue;
		}
		expect_works(&c, k->name);
	}
	cr_assert_eq(failed, 0, "%zu of %zu cases failed (see above)", failed,
		     sizeof(drop_cases) / sizeof(drop_cases[0]));
}

/* All of them in a row on one connection: nothing accumulates. */
Test(input_drops, all_rejections_in_a_row)
{
	struct conn c = establish();
	size_t n = sizeof(drop_cases) / sizeof(drop_cases[0]);
	snapshot();
	uint64_t before[USTACK_STAT__COUNT];
	memcpy(before, snap, sizeof(before));
	for (size_t i = 0; i < n; i++) {
		uint8_t pkt[256];
		size_t len = drop_cases[i].make(pkt, &c);
		cr_assert_eq(ustack_input(P.st, P.now, pkt, len), 0);
	}
	cr_assert_null(tpeer_next(&P), "nothing sent for %zu bad packets; trace:\n%s", n, P.trace);
	uint64_t drops = 0;
	for (int i = USTACK_STAT__FIRST_DROP; i < USTACK_STAT__COUNT; i++)
		drops += ustack_stat(P.st, (enum ustack_stat)i) - before[i];
	cr_assert_eq(drops, n, "%llu drops counted for %zu bad packets", (unsigned long long)drops, n);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_IN) - before[USTACK_STAT_IP_IN], n);
	expect_works(&c, "all the bad packets");
}

/* RFC 1122 3.2.1.3 (g): 127.0.0.0/8 "MUST NOT appear outside a host", and
 * Linux drops it from the wire as a martian source; src/ip/ipv4.c says it
 * refuses a loopback source too. */
Test(input_drops, loopback_source)
{
	struct conn c = establish();
	const struct drop_case k = {"IP source 127.0.0.1 (loopback)", m_src_loopback,
				    USTACK_STAT_DROP_IP_BAD_SRC, false};
	cr_assert(run_case(&k, &c), "a loopback source must be dropped as a bad source");
	expect_works(&c, k.name);
}

static void expect_only(const uint64_t *want, const char *what)
{
	char msg[512];
	cr_assert(counters_match(want, msg, sizeof(msg)), "%s: %s; trace:\n%s", what, msg, P.trace);
}

Test(input_drops, empty_and_null_packets)
{
	struct conn c = establish();
	uint64_t want[USTACK_STAT__COUNT] = { 0 };
	want[USTACK_STAT_IP_IN] = 1;
	want[USTACK_STAT_DROP_IP_TRUNCATED] = 1;

	uint8_t pkt[64];
	base(pkt, &c);
	snapshot();
	cr_assert_eq(ustack_input(P.st, P.now, pkt, 0), 0, "a zero-length packet is consumed");
	expect_only(want, "a zero-length packet");

	snapshot();
	cr_assert_eq(ustack_input(P.st, P.now, NULL, 0), 0, "NULL with length 0 is an empty packet");
	expect_only(want, "NULL, 0");

	uint64_t none[USTACK_STAT__COUNT] = { 0 };
	snapshot();
	cr_assert_eq(ustack_input(P.st, P.now, NULL, 5), -EINVAL, "NULL with a length is a caller's error");
	expect_only(none, "NULL, 5 (not a packet: nothing counted)");
	cr_assert_eq(ustack_input(NULL, P.now, pkt, 20), -EINVAL, "no stack");

	cr_assert_null(tpeer_next(&P), "nothing sent; trace:\n%s", P.trace);
	expect_works(&c, "empty packets");
}

/* What looks odd but is valid must pass: link-layer padding after the
 * total length (RFC 791 3.1), options after End of Option List, an unknown
 * option skipped by its length (RFC 9293 3.1, MUST-6), a window scale above
 * 14 (used as 14, RFC 7323 2.3). */
static size_t v_padded(uint8_t *pkt, const struct conn *c)
{
	size_t n = base(pkt, c);
	memset(pkt + n, 0xa5, 6);
	return n + 6;
}

static size_t v_eol_then_junk(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_EOL, 0xff, 0x00);
}

static size_t v_unknown_option(uint8_t *pkt, const struct conn *c)
{
	OPTS(99, 6, 1, 2, 3, 4, US_TCPOPT_NOP, US_TCPOPT_NOP);
}

static size_t v_timestamps(uint8_t *pkt, const struct conn *c)
{
	OPTS(US_TCPOPT_NOP, US_TCPOPT_NOP, US_TCPOPT_TS, 10, 0, 0, 0, 1, 0, 0, 0, 0);
}

Test(input_drops, odd_but_valid_packets_accepted)
{
	static const struct {
		const char *name;
		size_t (*make)(uint8_t *pkt, const struct conn *c);
	} cases[] = {
		{ "6 bytes of padding after the datagram", v_padded },
		{ "junk after End of Option List", v_eol_then_junk },
		{ "an unknown option of 6 bytes", v_unknown_option },
		{ "a timestamps option", v_timestamps },
	};
	struct conn c = establish();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t pkt[256];
		size_t len = cases[i].make(pkt, &c);
		snapshot();
		cr_assert_eq(ustack_input(P.st, P.now, pkt, len), 0);
		for (int s = USTACK_STAT__FIRST_DROP; s < USTACK_STAT__COUNT; s++)
			cr_assert_eq(ustack_stat(P.st, (enum ustack_stat)s), snap[s],
				     "%s: counted as %s; trace:\n%s", cases[i].name,
				     ustack_stat_name((enum ustack_stat)s), P.trace);
		const struct tseg *a = next_ack();
		cr_assert_not_null(a, "%s: the data should be acknowledged; trace:\n%s", cases[i].name,
				   P.trace);
		cr_assert_eq(a->h.ack, c.seq + BAD_LEN, "%s: ack %u, want %u", cases[i].name, a->h.ack,
			     c.seq + BAD_LEN);
		cr_assert_null(tpeer_next(&P));
		char buf[8];
		cr_assert_eq(ustack_recv(P.st, c.fd, buf, sizeof(buf), 0), BAD_LEN, "%s: the data",
			     cases[i].name);
		cr_assert_arr_eq(buf, BAD_DATA, BAD_LEN);
		c.seq += BAD_LEN;
	}
}
