/*
 * The UDP (RFC 768) and ICMP (RFC 792) wire formats: build and parse round
 * trips, checksums checked against RFC 1071 computed literally, and every
 * rejection, first of the parsers alone, then through a whole stack, where
 * each malformed packet must be counted under exactly its own drop reason,
 * with nothing else moving but the arrival counters and nothing sent.
 *
 * Parsers read heap copies of exactly the packet's length, so ASan catches
 * any read past the end.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testnet.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define SRC 0x0a000001u /* 10.0.0.1 */
#define DST 0x0a000002u /* 10.0.0.2 */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1071 taken literally: big-endian byte pairs, 32-bit sum, fold,
 * complement. Returned as the big-endian number on the wire. */
static uint16_t ref_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The UDP checksum of dgram (checksum field taken as zero), by RFC 768's
 * definition: pseudo-header, header, data, zero-padded. */
static uint16_t ref_udp_csum(uint32_t src, uint32_t dst, const uint8_t *dgram, size_t len)
{
	uint8_t ph[12] = { (uint8_t)(src >> 24), (uint8_t)(src >> 16), (uint8_t)(src >> 8), (uint8_t)src,
			   (uint8_t)(dst >> 24), (uint8_t)(dst >> 16), (uint8_t)(dst >> 8), (uint8_t)dst,
			   0,			 17,		       (uint8_t)(len >> 8), (uint8_t)len };
	uint8_t *copy = malloc(len);
	memcpy(copy, dgram, len);
	copy[6] = copy[7] = 0;
	uint16_t s = ref_sum(copy, len, ref_sum(ph, sizeof(ph), 0));
	free(copy);
	uint16_t c = (uint16_t)~s;
	return c == 0 ? 0xffff : c;
}

static int parse_udp_copy(const uint8_t *b, size_t len, uint32_t src, uint32_t dst, struct us_udp *u)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, b, len);
	int r = us_udp_parse(copy, len, src, dst, true, u);
	free(copy);
	return r;
}

static size_t build_udp(uint8_t *b, const uint8_t *data, size_t plen)
{
	memcpy(b + US_UDP_HDR_LEN, data, plen);
	return us_udp_build(b, SRC, DST, 5353, 53, b + US_UDP_HDR_LEN, plen) + plen;
}

/* ---- UDP ---- */

Test(udp_wire, round_trip)
{
	static const size_t lens[] = { 0, 1, 2, 7, 8, 99, 1472, 4000 };
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		uint8_t data[4000], b[4100];
		for (size_t i = 0; i < lens[k]; i++)
			data[i] = (uint8_t)(i * 7 + k);
		size_t n = build_udp(b, data, lens[k]);
		cr_assert_eq(n, 8 + lens[k]);
		cr_assert_eq(get16(b), 5353);
		cr_assert_eq(get16(b + 2), 53);
		cr_assert_eq(get16(b + 4), n, "length field covers header and data");
		cr_assert_eq(get16(b + 6), ref_udp_csum(SRC, DST, b, n), "len %zu: checksum per RFC 768", lens[k]);
		uint8_t *copy = malloc(n);
		memcpy(copy, b, n);
		struct us_udp u;
		cr_assert_eq(us_udp_parse(copy, n, SRC, DST, true, &u), 0, "len %zu", lens[k]);
		cr_assert_eq(u.sport, 5353);
		cr_assert_eq(u.dport, 53);
		cr_assert_eq(u.len, n);
		cr_assert_eq(u.payload_len, lens[k]);
		cr_assert_eq(u.payload, copy + 8);
		cr_assert_arr_eq(u.payload, data, lens[k]);
		free(copy);
	}
}

/* RFC 768: a computed checksum of zero is sent as all ones. The data are
 * chosen so that the sum comes out zero: with a word w whose checksum
 * would be c0 when w = 0, setting w = c0 makes the sum all ones. */
Test(udp_wire, computed_zero_sent_as_ffff)
{
	uint8_t data[6] = { 1, 2, 3, 4, 0, 0 }, b[64];
	size_t n = build_udp(b, data, sizeof(data));
	uint16_t c0 = get16(b + 6);
	put16(data + 4, c0 == 0xffff ? 0xffff : c0);
	n = build_udp(b, data, sizeof(data));
	cr_assert_eq(get16(b + 6), 0xffff, "a zero checksum goes out as 0xffff, got %#x", get16(b + 6));
	struct us_udp u;
	cr_assert_eq(parse_udp_copy(b, n, SRC, DST, &u), 0, "0xffff verifies");
}

Test(udp_wire, zero_checksum_means_none)
{
	uint8_t data[5] = { 'h', 'e', 'l', 'l', 'o' }, b[64];
	size_t n = build_udp(b, data, sizeof(data));
	b[6] = b[7] = 0;
	b[9] ^= 0xff; /* the data no longer match any checksum */
	struct us_udp u;
	cr_assert_eq(parse_udp_copy(b, n, SRC, DST, &u), 0, "RFC 768: zero means the sender computed none");
	cr_assert_eq(u.payload_len, 5);
}

Test(udp_wire, bytes_after_length_ignored)
{
	uint8_t data[10] = "0123456789", b[64];
	size_t n = build_udp(b, data, sizeof(data));
	memset(b + n, 0xee, 6); /* link padding, not covered by the checksum */
	struct us_udp u;
	cr_assert_eq(parse_udp_copy(b, n + 6, SRC, DST, &u), 0);
	cr_assert_eq(u.payload_len, 10);
}

Test(udp_wire, rejections)
{
	uint8_t data[12] = "abcdefghijkl", b[64];
	size_t n = build_udp(b, data, sizeof(data));
	struct us_udp u;
	cr_assert_eq(parse_udp_copy(b, 7, SRC, DST, &u), USTACK_STAT_DROP_UDP_TRUNCATED, "7 bytes");
	cr_assert_eq(parse_udp_copy(b, 0, SRC, DST, &u), USTACK_STAT_DROP_UDP_TRUNCATED, "0 bytes");

	uint8_t bad[64];
	memcpy(bad, b, n);
	put16(bad + 4, 7);
	cr_assert_eq(parse_udp_copy(bad, n, SRC, DST, &u), USTACK_STAT_DROP_UDP_LENGTH, "length 7");
	put16(bad + 4, (uint16_t)(n + 1));
	cr_assert_eq(parse_udp_copy(bad, n, SRC, DST, &u), USTACK_STAT_DROP_UDP_LENGTH, "length past the end");

	memcpy(bad, b, n);
	bad[n - 1] ^= 0x01;
	cr_assert_eq(parse_udp_copy(bad, n, SRC, DST, &u), USTACK_STAT_DROP_UDP_CHECKSUM, "a data bit");
	cr_assert_eq(parse_udp_copy(b, n, SRC, DST + 1, &u), USTACK_STAT_DROP_UDP_CHECKSUM,
		     "the pseudo-header's destination");
	/* A shorter length field changes what the checksum covers. */
	memcpy(bad, b, n);
	put16(bad + 4, (uint16_t)(n - 2));
	cr_assert_eq(parse_udp_copy(bad, n, SRC, DST, &u), USTACK_STAT_DROP_UDP_CHECKSUM, "length cut short");
	cr_assert_eq(parse_udp_copy(b, n, SRC, DST, &u), 0, "the original still parses");
}

/* ---- ICMP ---- */

static int parse_icmp_copy(const uint8_t *b, size_t len, struct us_icmp *m)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, b, len);
	int r = us_icmp_parse(copy, len, true, m);
	free(copy);
	return r;
}

Test(icmp_wire, echo_round_trip)
{
	uint8_t data[57], b[128];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x30 + i);
	memcpy(b + 8, data, sizeof(data));
	struct iovec iov = { .iov_base = b + 8, .iov_len = sizeof(data) };
	cr_assert_eq(us_icmp_build(b, US_ICMP_ECHO, 0, 0x12340007u, &iov, 1), 8);
	size_t n = 8 + sizeof(data);
	cr_assert_eq(b[0], 8);
	cr_assert_eq(b[1], 0);
	cr_assert_eq(get16(b + 2), (uint16_t)~ref_sum(b, 2, ref_sum(b + 4, n - 4, 0)), "RFC 792 checksum");
	cr_assert_eq(get16(b + 4), 0x1234, "identifier");
	cr_assert_eq(get16(b + 6), 7, "sequence number");
	uint8_t *copy = malloc(n);
	memcpy(copy, b, n);
	struct us_icmp m;
	cr_assert_eq(us_icmp_parse(copy, n, true, &m), 0);
	cr_assert_eq(m.type, US_ICMP_ECHO);
	cr_assert_eq(m.code, 0);
	cr_assert_eq(m.rest, 0x12340007u);
	cr_assert_eq(m.data, copy + 8);
	cr_assert_eq(m.data_len, sizeof(data));
	free(copy);
}

/* The body is summed in pieces where they lie, some at odd offsets; the
 * result must be that of the contiguous message. */
Test(icmp_wire, checksum_over_pieces)
{
	uint8_t body[23], b[64];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(0xf1 - 13 * i);
	struct iovec pieces[3] = { { body, 3 }, { body + 3, 5 }, { body + 8, 15 } };
	us_icmp_build(b, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, pieces, 3);
	memcpy(b + 8, body, sizeof(body));
	struct us_icmp m;
	cr_assert_eq(parse_icmp_copy(b, 8 + sizeof(body), &m), 0, "the piecewise checksum verifies");
	uint8_t flat[64];
	struct iovec one = { b + 8, sizeof(body) };
	us_icmp_build(flat, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, &one, 1);
	cr_assert_eq(get16(flat + 2), get16(b + 2));
}

Test(icmp_wire, rejections)
{
	uint8_t b[64];
	struct iovec iov = { b + 8, 4 };
	memcpy(b + 8, "ping", 4);
	us_icmp_build(b, US_ICMP_ECHO, 0, 1, &iov, 1);
	struct us_icmp m;
	cr_assert_eq(parse_icmp_copy(b, 7, &m), USTACK_STAT_DROP_ICMP_TRUNCATED);
	cr_assert_eq(parse_icmp_copy(b, 0, &m), USTACK_STAT_DROP_ICMP_TRUNCATED);
	b[11] ^= 0x40;
	cr_assert_eq(parse_icmp_copy(b, 12, &m), USTACK_STAT_DROP_ICMP_CHECKSUM);
	b[11] ^= 0x40;
	cr_assert_eq(parse_icmp_copy(b, 12, &m), 0);
	cr_assert_eq(parse_icmp_copy(b, 11, &m), USTACK_STAT_DROP_ICMP_CHECKSUM, "a byte short");
}

Test(icmp_wire, error_types)
{
	static const uint8_t errors[] = { 3, 4, 5, 11, 12, 19, 40, 255 };
	static const uint8_t others[] = { 0, 8, 9, 10, 13, 14, 15, 16, 17, 18 };
	for (size_t i = 0; i < sizeof(errors); i++)
		cr_assert(us_icmp_type_is_error(errors[i]), "type %u is an error (or unknown)", errors[i]);
	for (size_t i = 0; i < sizeof(others); i++)
		cr_assert(!us_icmp_type_is_error(others[i]), "type %u is a query", others[i]);
}

/* An IPv4 header plus 8 bytes of TCP, as a router quotes it. */
static size_t quote(uint8_t *q, uint8_t ihl_words, uint16_t frag)
{
	size_t hl = (size_t)ihl_words * 4;
	memset(q, 0, hl + 8);
	q[0] = (uint8_t)(4 << 4 | ihl_words);
	put16(q + 2, 1500); /* the original's length: more than is quoted */
	put16(q + 6, frag);
	q[8] = 1;
	q[9] = US_IP_PROTO_TCP;
	memcpy(q + 12, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	put16(q + hl, 40000);
	put16(q + hl + 2, 80);
	memcpy(q + hl + 4, (uint8_t[]){ 0xde, 0xad, 0xbe, 0xef }, 4);
	return hl + 8;
}

static int parse_quote_copy(const uint8_t *q, size_t len, struct us_icmp_quote *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, q, len);
	int r = us_icmp_quote_parse(copy, len, out);
	free(copy);
	return r;
}

Test(icmp_wire, quote)
{
	uint8_t q[128];
	struct us_icmp_quote out;
	size_t n = quote(q, 5, 0);
	cr_assert_eq(parse_quote_copy(q, n, &out), 0);
	cr_assert_eq(out.src, SRC);
	cr_assert_eq(out.dst, DST);
	cr_assert_eq(out.proto, US_IP_PROTO_TCP);
	cr_assert_eq(out.sport, 40000);
	cr_assert_eq(out.dport, 80);
	cr_assert_eq(out.seq, 0xdeadbeefu);
	n = quote(q, 7, US_IPV4_DF | US_IPV4_MF); /* options; a first fragment is fine */
	cr_assert_eq(parse_quote_copy(q, n, &out), 0);
	cr_assert_eq(out.hdr_len, 28);
	cr_assert_eq(out.sport, 40000);

	const int bad = USTACK_STAT_DROP_ICMP_BAD_QUOTE;
	n = quote(q, 5, 0);
	cr_assert_eq(parse_quote_copy(q, 19, &out), bad, "less than a header");
	cr_assert_eq(parse_quote_copy(q, n - 1, &out), bad, "7 bytes of transport header");
	q[0] = 6 << 4 | 5;
	cr_assert_eq(parse_quote_copy(q, n, &out), bad, "version 6");
	q[0] = 4 << 4 | 4;
	cr_assert_eq(parse_quote_copy(q, n, &out), bad, "IHL 4");
	q[0] = 4 << 4 | 6;
	cr_assert_eq(parse_quote_copy(q, n, &out), bad, "IHL 6 with 28 bytes quoted");
	n = quote(q, 5, 1);
	cr_assert_eq(parse_quote_copy(q, n, &out), bad, "a fragment at offset 8: no transport header");
}

/* ---- through a stack: each rejection counted once ---- */

static struct traw R;
static uint64_t snap[USTACK_STAT__COUNT];

static void snapshot(void)
{
	for (int i = 0; i < USTACK_STAT__COUNT; i++)
		snap[i] = ustack_stat(R.st, (enum ustack_stat)i);
}

struct drop_case {
	const char *name;
	size_t (*make)(uint8_t *pkt);
	enum ustack_stat reason;
	enum ustack_stat also[3]; /* arrival counters that move too (0 = none) */
};

#define PEER T_ADDR_B
#define US T_ADDR_A

static size_t udp_base(uint8_t *pkt)
{
	return t_build_udp(pkt, PEER, US, 5000, 7777, "datagram", 8);
}

static void ip_fix(uint8_t *pkt)
{
	put16(pkt + 10, 0);
	uint16_t c = us_csum_fold(us_csum_add(0, pkt, US_IPV4_HDR_MIN));
	memcpy(pkt + 10, &c, 2);
}

static size_t m_udp_truncated(uint8_t *pkt)
{
	udp_base(pkt);
	put16(pkt + 2, 20 + 7);
	ip_fix(pkt);
	return 27;
}

static size_t m_udp_len_small(uint8_t *pkt)
{
	size_t n = udp_base(pkt);
	put16(pkt + 24, 7);
	return n;
}

static size_t m_udp_len_past(uint8_t *pkt)
{
	size_t n = udp_base(pkt);
	put16(pkt + 24, (uint16_t)(n - 20 + 1));
	return n;
}

static size_t m_udp_checksum(uint8_t *pkt)
{
	size_t n = udp_base(pkt);
	pkt[n - 1] ^= 0x20;
	return n;
}

/* A datagram the stack sent, from US to PEER, for errors to quote. */
static size_t sent_udp(uint8_t *q)
{
	return t_build_udp(q, US, PEER, 40000, 53, "query", 5);
}

static size_t icmp_pkt(uint8_t *pkt, uint8_t type, uint8_t code, uint32_t rest, const void *body,
		       size_t blen)
{
	uint8_t m[600];
	memcpy(m + 8, body, blen);
	struct iovec iov = { m + 8, blen };
	us_icmp_build(m, type, code, rest, &iov, 1);
	return t_build_ip(pkt, PEER, US, US_IP_PROTO_ICMP, 9, 0, m, 8 + blen);
}

static size_t m_icmp_truncated(uint8_t *pkt)
{
	return t_build_ip(pkt, PEER, US, US_IP_PROTO_ICMP, 9, 0, "\x08\x00\xf7\xff\x00\x00\x00", 7);
}

static size_t m_icmp_checksum(uint8_t *pkt)
{
	size_t n = icmp_pkt(pkt, US_ICMP_ECHO, 0, 1, "abcd", 4);
	pkt[n - 1] ^= 1;
	return n;
}

static size_t m_icmp_echo_reply(uint8_t *pkt)
{
	return icmp_pkt(pkt, US_ICMP_ECHO_REPLY, 0, 1, "abcd", 4);
}

static size_t m_icmp_source_quench(uint8_t *pkt)
{
	uint8_t q[64];
	sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_SOURCE_QUENCH, 0, 0, q, 28);
}

static size_t m_icmp_redirect(uint8_t *pkt)
{
	uint8_t q[64];
	sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_REDIRECT, 1, 0xc6120063u, q, 28);
}

static size_t m_icmp_timestamp(uint8_t *pkt)
{
	return icmp_pkt(pkt, 13, 0, 1, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
}

static size_t m_unreach_short_quote(uint8_t *pkt)
{
	uint8_t q[64];
	sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, q, 27);
}

static size_t m_unreach_not_ours(uint8_t *pkt)
{
	uint8_t q[64];
	size_t n = t_build_udp(q, 0xC6120009u, PEER, 40000, 53, "query", 5);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, q, n);
}

static size_t m_unreach_no_socket(uint8_t *pkt)
{
	uint8_t q[64];
	size_t n = sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, q, n);
}

static size_t m_unreach_tcp_no_conn(uint8_t *pkt)
{
	uint8_t q[64];
	size_t n = t_build_packet(q, US, PEER, 40000, 80, USTACK_TCP_SYN, 1, 0, 100, NULL, 0, NULL);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, q, n);
}

static size_t m_unreach_frag_needed(uint8_t *pkt)
{
	uint8_t q[64];
	size_t n = sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, US_ICMP_FRAG_NEEDED, 1400, q, n);
}

static size_t m_unreach_code_16(uint8_t *pkt)
{
	uint8_t q[64];
	size_t n = sent_udp(q);
	return icmp_pkt(pkt, US_ICMP_DEST_UNREACH, 16, 0, q, n);
}

static const struct drop_case drop_cases[] = {
	{ .name = "UDP, 7 bytes", .make = m_udp_truncated, .reason = USTACK_STAT_DROP_UDP_TRUNCATED },
	{ .name = "UDP length 7", .make = m_udp_len_small, .reason = USTACK_STAT_DROP_UDP_LENGTH },
	{ .name = "UDP length past the end", .make = m_udp_len_past, .reason = USTACK_STAT_DROP_UDP_LENGTH },
	{ .name = "UDP checksum", .make = m_udp_checksum, .reason = USTACK_STAT_DROP_UDP_CHECKSUM },
	{ .name = "ICMP, 7 bytes", .make = m_icmp_truncated, .reason = USTACK_STAT_DROP_ICMP_TRUNCATED },
	{ .name = "ICMP checksum", .make = m_icmp_checksum, .reason = USTACK_STAT_DROP_ICMP_CHECKSUM },
	{ .name = "ICMP echo reply (no ping sockets)",
	  .make = m_icmp_echo_reply,
	  .reason = USTACK_STAT_DROP_ICMP_IGNORED_TYPE,
	  .also = { USTACK_STAT_ICMP_IN } },
	{ .name = "ICMP source quench (RFC 6633)",
	  .make = m_icmp_source_quench,
	  .reason = USTACK_STAT_DROP_ICMP_IGNORED_TYPE,
	  .also = { USTACK_STAT_ICMP_IN } },
	{ .name = "ICMP redirect",
	  .make = m_icmp_redirect,
	  .reason = USTACK_STAT_DROP_ICMP_IGNORED_TYPE,
	  .also = { USTACK_STAT_ICMP_IN } },
	{ .name = "ICMP timestamp",
	  .make = m_icmp_timestamp,
	  .reason = USTACK_STAT_DROP_ICMP_IGNORED_TYPE,
	  .also = { USTACK_STAT_ICMP_IN } },
	{ .name = "unreachable, code 16",
	  .make = m_unreach_code_16,
	  .reason = USTACK_STAT_DROP_ICMP_IGNORED_TYPE,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
	{ .name = "unreachable quoting 7 transport bytes",
	  .make = m_unreach_short_quote,
	  .reason = USTACK_STAT_DROP_ICMP_BAD_QUOTE,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
	{ .name = "unreachable quoting another host's datagram",
	  .make = m_unreach_not_ours,
	  .reason = USTACK_STAT_DROP_ICMP_BAD_QUOTE,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
	{ .name = "unreachable for a UDP port nobody holds",
	  .make = m_unreach_no_socket,
	  .reason = USTACK_STAT_DROP_ICMP_NO_SOCKET,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
	{ .name = "unreachable for no TCP connection",
	  .make = m_unreach_tcp_no_conn,
	  .reason = USTACK_STAT_DROP_ICMP_NO_SOCKET,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
	{ .name = "fragmentation needed about UDP (sent with DF clear)",
	  .make = m_unreach_frag_needed,
	  .reason = USTACK_STAT_DROP_ICMP_FRAG_NEEDED,
	  .also = { USTACK_STAT_ICMP_IN, USTACK_STAT_ICMP_IN_DEST_UNREACH } },
};

static void setup(void)
{
	traw_init(&R, NULL);
}

static void teardown(void)
{
	traw_fini(&R);
}

Test(stack_drops, each_rejection_counted_once, .init = setup, .fini = teardown)
{
	/* A bound UDP socket, so that valid datagrams would be taken. */
	int fd = ustack_socket(R.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = t_sin(0, 7777);
	cr_assert_eq(ustack_bind(R.st, fd, T_SA(sin), sizeof(sin)), 0);
	size_t failed = 0;
	for (size_t i = 0; i < sizeof(drop_cases) / sizeof(drop_cases[0]); i++) {
		const struct drop_case *k = &drop_cases[i];
		uint8_t pkt[700];
		size_t len = k->make(pkt);
		uint64_t want[USTACK_STAT__COUNT] = { 0 };
		want[USTACK_STAT_IP_IN] = 1;
		want[k->reason]++;
		for (int j = 0; j < 3; j++)
			if (k->also[j])
				want[k->also[j]]++;
		size_t mark = R.trace_len;
		snapshot();
		traw_input(&R, pkt, len);
		char msg[512] = "";
		size_t m = 0;
		for (int s = 0; s < USTACK_STAT__COUNT; s++) {
			uint64_t d = ustack_stat(R.st, (enum ustack_stat)s) - snap[s];
			if (d != want[s] && m < sizeof(msg))
				m += (size_t)snprintf(msg + m, sizeof(msg) - m, " %s +%llu (want +%llu);",
						      ustack_stat_name((enum ustack_stat)s), (unsigned long long)d,
						      (unsigned long long)want[s]);
		}
		const struct tpkt *out = traw_next(&R);
		bool named = strstr(R.trace + mark, ustack_stat_name(k->reason)) != NULL;
		cr_expect(m == 0, "%s:%s", k->name, msg);
		cr_expect_null(out, "%s: nothing may be sent", k->name);
		cr_expect(named, "%s: the trace names %s", k->name, ustack_stat_name(k->reason));
		failed += m != 0 || out || !named;
		while (traw_next(&R))
			;
	}
	cr_assert_eq(failed, 0);
	/* The socket still takes a valid datagram, and nothing was queued. */
	uint8_t pkt[128];
	traw_input(&R, pkt, udp_base(pkt));
	char buf[16];
	cr_assert_eq(ustack_recv(R.st, fd, buf, sizeof(buf), 0), 8);
	cr_assert_arr_eq(buf, "datagram", 8);
	cr_assert_eq(ustack_recv(R.st, fd, buf, sizeof(buf), 0), -EAGAIN);
}
