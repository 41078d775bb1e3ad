/*
 * Unit tests of the wire-format layer: the Internet checksum, IPv4 and TCP
 * parse and build.
 *
 * Known answers come from the RFCs and from Linux's option layouts. Bad
 * packets are made by building a good one and damaging exactly one thing,
 * fixing the checksum unless the checksum is what is under test, so each
 * rejection test shows that one check, and only it, fires. Parsers read from
 * heap copies of exactly the packet's length so that ASan catches any read
 * past the end. Random inputs come from a seeded generator in this file, so
 * every failure reproduces.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define SRC 0x0a000001u /* 10.0.0.1 */
#define DST 0x0a000002u /* 10.0.0.2 */

/* xorshift64*: small, seedable, good enough to pick lengths and bytes. */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)((rng_next(r) >> 32) % n);
}

static void rng_fill(struct rng *r, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_next(r) >> 56);
}

/* A checksum as stored in memory, read as the big-endian number the RFCs
 * write it as. */
static uint16_t wire16(uint16_t mem)
{
	uint8_t b[2];

	memcpy(b, &mem, 2);
	return (uint16_t)(b[0] << 8 | b[1]);
}

/* RFC 1071 taken literally: big-endian byte pairs, 32-bit sum, fold. */
static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t csum(const void *p, size_t len)
{
	return us_csum_fold(us_csum_add(0, p, len));
}

/* ---- checksum ---------------------------------------------------------- */

Test(checksum, rfc1071_example)
{
	/* RFC 1071 3: these eight bytes sum to ddf2 (after the end-around
	 * carries), so the checksum is its complement, 220d. */
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};

	cr_assert_eq(wire16((uint16_t)~csum(b, sizeof(b))), 0xddf2);
	cr_assert_eq(wire16(csum(b, sizeof(b))), 0x220d);
}

static const uint8_t classic_ip[20] = {
	0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
};

Test(checksum, known_ipv4_header)
{
	uint8_t h[20];

	memcpy(h, classic_ip, sizeof(h));
	cr_assert_eq(csum(h, sizeof(h)), 0, "a correct header sums to zero");
	h[10] = h[11] = 0;
	cr_assert_eq(wire16(csum(h, sizeof(h))), 0xb861);
}

Test(checksum, odd_lengths)
{
	static const uint8_t one[] = {0xab};
	static const uint8_t three[] = {0x01, 0x02, 0x03};
	uint8_t ff[63];

	/* RFC 1071 2: the odd byte is padded with a zero after it. */
	cr_assert_eq(wire16(csum(one, 1)), (uint16_t)~0xab00);
	cr_assert_eq(wire16(csum(three, 3)), (uint16_t)~0x0402);
	memset(ff, 0xff, sizeof(ff));
	cr_assert_eq(wire16(csum(ff, sizeof(ff))), ref_csum(ff, sizeof(ff)));
	cr_assert_eq(wire16(csum(ff, 0)), 0xffff, "nothing sums to zero");
}

Test(checksum, carries_wrap_around)
{
	uint8_t ff[4096];

	/* Every word 0xffff: each 64-bit add carries out. */
	memset(ff, 0xff, sizeof(ff));
	for (size_t n = 2; n <= sizeof(ff); n += 2)
		cr_assert_eq(csum(ff, n), 0, "len %zu", n);
	/* All ones is the other zero of one's complement: starting from it
	 * must give the same checksum as starting from 0. */
	cr_assert_eq(us_csum_fold(us_csum_add(UINT64_MAX, classic_ip, 10)), csum(classic_ip, 10));
}

Test(checksum, wide_loop_matches_byte_pairs)
{
	struct rng r = {0x9e3779b97f4a7c15ull};
	uint8_t buf[300 + 8];

	for (size_t len = 0; len <= 300; len++) {
		for (size_t align = 0; align < 8; align++) {
			rng_fill(&r, buf, sizeof(buf));
			cr_assert_eq(wire16(csum(buf + align, len)), ref_csum(buf + align, len),
				     "len %zu align %zu", len, align);
		}
	}
}

/* Long buffers take the carry-free lane loop (checksum.c); all-ones data
 * fills every lane with its largest words. */
Test(checksum, lane_loop_matches_byte_pairs)
{
	struct rng r = {0x5eedull};
	static uint8_t buf[70000 + 8];

	for (int iter = 0; iter < 400; iter++) {
		size_t len = 256 + rng_below(&r, 70000 - 256 + 1), align = rng_below(&r, 8);

		if (iter % 4 == 0)
			memset(buf, 0xff, sizeof(buf));
		else
			rng_fill(&r, buf, sizeof(buf));
		cr_assert_eq(wire16(csum(buf + align, len)), ref_csum(buf + align, len),
			     "len %zu align %zu", len, align);
	}
}

Test(checksum, header_sum_matches_the_general_one)
{
	struct rng r = {0xabcdefull};
	uint8_t h[60];

	cr_assert_eq(us_csum_hdr(classic_ip, sizeof(classic_ip)), 0);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 20 + 4 * rng_below(&r, 11);

		rng_fill(&r, h, sizeof(h));
		if (iter % 5 == 0)
			memset(h, iter % 10 ? 0xff : 0, len);
		cr_assert_eq(us_csum_hdr(h, len), csum(h, len), "iter %d len %zu", iter, len);
	}
}

Test(checksum, pieces_at_odd_offsets)
{
	struct rng r = {12345};
	uint8_t buf[300];

	for (int iter = 0; iter < 5000; iter++) {
		size_t len = rng_below(&r, sizeof(buf) + 1), off = 0;
		uint64_t acc = 0;

		rng_fill(&r, buf, len);
		while (off < len) {
			size_t piece = 1 + rng_below(&r, (uint32_t)(len - off));

			acc = us_csum_add_at(acc, buf + off, piece, off);
			off += piece;
		}
		cr_assert_eq(us_csum_fold(acc), csum(buf, len), "iter %d len %zu", iter, len);
	}
}

Test(checksum, pseudo_header)
{
	/* RFC 9293 3.1: src, dst, zero, protocol, TCP length. */
	static const uint8_t ph[12] = {192, 168, 0, 1, 192, 168, 0, 199, 0, 6, 0x05, 0xdc};
	uint64_t acc = us_csum_pseudo(0xc0a80001u, 0xc0a800c7u, US_IP_PROTO_TCP, 1500);

	cr_assert_eq(wire16(us_csum_fold(acc)), ref_csum(ph, sizeof(ph)));
}

/* ---- IPv4 -------------------------------------------------------------- */

static void ip_fix_csum(uint8_t *buf, size_t hlen)
{
	uint16_t c;

	buf[10] = buf[11] = 0;
	c = csum(buf, hlen);
	memcpy(buf + 10, &c, 2);
}

/* A good UDP datagram with plen bytes of patterned payload. */
static size_t ip_good(uint8_t *buf, size_t plen)
{
	struct us_ipv4 ip = {
		.tos = 0x10, .id = 0xbeef, .frag = US_IPV4_DF, .ttl = 64,
		.proto = US_IP_PROTO_UDP, .src = SRC, .dst = DST,
	};
	size_t h = us_ipv4_build(buf, &ip, plen);

	for (size_t i = 0; i < plen; i++)
		buf[h + i] = (uint8_t)i;
	return h + plen;
}

/* Parses from a heap copy of exactly len bytes. */
static int ip_parse_exact(const uint8_t *buf, size_t len, bool verify)
{
	uint8_t *copy = malloc(len ? len : 1);
	struct us_ipv4 ip;
	int rc;

	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	rc = us_ipv4_parse(copy, len, verify, &ip);
	free(copy);
	return rc;
}

Test(ipv4, build_known_header)
{
	struct us_ipv4 ip = {
		.frag = US_IPV4_DF, .ttl = 64, .proto = US_IP_PROTO_UDP,
		.src = 0xc0a80001u, .dst = 0xc0a800c7u,
	};
	uint8_t buf[20];

	cr_assert_eq(us_ipv4_build(buf, &ip, 0x73 - 20), 20);
	cr_assert_arr_eq(buf, classic_ip, 20);
}

Test(ipv4, round_trip)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 30);
	struct us_ipv4 ip;

	cr_assert_eq(us_ipv4_parse(buf, len, true, &ip), 0);
	cr_assert_eq(ip.hdr_len, 20);
	cr_assert_eq(ip.tos, 0x10);
	cr_assert_eq(ip.total_len, 50);
	cr_assert_eq(ip.id, 0xbeef);
	cr_assert_eq(ip.frag, US_IPV4_DF);
	cr_assert_eq(ip.ttl, 64);
	cr_assert_eq(ip.proto, US_IP_PROTO_UDP);
	cr_assert_eq(ip.src, SRC);
	cr_assert_eq(ip.dst, DST);
	cr_assert_eq(ip.payload, buf + 20);
	cr_assert_eq(ip.payload_len, 30);
	cr_assert_eq(ip.payload[29], 29);
}

Test(ipv4, link_padding_ignored)
{
	uint8_t buf[64] = {0};
	struct us_ipv4 ip;

	ip_good(buf, 6);
	/* An Ethernet frame pads a 26-byte datagram to 46. */
	cr_assert_eq(us_ipv4_parse(buf, 46, true, &ip), 0);
	cr_assert_eq(ip.payload_len, 6);
}

Test(ipv4, header_options)
{
	uint8_t buf[64];
	struct us_ipv4 ip;

	/* Move the payload back four bytes and claim them as options (NOPs). */
	ip_good(buf, 10);
	memmove(buf + 24, buf + 20, 10);
	memset(buf + 20, 1, 4);
	buf[0] = 0x46;
	buf[3] = 34;
	ip_fix_csum(buf, 24);
	cr_assert_eq(us_ipv4_parse(buf, 34, true, &ip), 0);
	cr_assert_eq(ip.hdr_len, 24);
	cr_assert_eq(ip.payload, buf + 24);
	cr_assert_eq(ip.payload_len, 10);
}

Test(ipv4, reject_truncated)
{
	uint8_t buf[64];

	ip_good(buf, 0);
	cr_assert_eq(ip_parse_exact(buf, 19, true), USTACK_STAT_DROP_IP_TRUNCATED);
	cr_assert_eq(ip_parse_exact(buf, 0, true), USTACK_STAT_DROP_IP_TRUNCATED);
	cr_assert_eq(ip_parse_exact(buf, 20, true), 0);
}

Test(ipv4, reject_version_6)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	buf[0] = 0x65;
	ip_fix_csum(buf, 20);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_VERSION);
}

Test(ipv4, reject_ihl_4)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	buf[0] = 0x44;
	ip_fix_csum(buf, 20);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_HDR_LEN);
}

Test(ipv4, reject_ihl_past_end)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	/* 60 bytes of header claimed in a 28-byte packet. */
	buf[0] = 0x4f;
	ip_fix_csum(buf, 20);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_HDR_LEN);
}

Test(ipv4, reject_total_below_ihl)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	buf[2] = 0;
	buf[3] = 19;
	ip_fix_csum(buf, 20);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_TOTAL_LEN);
}

Test(ipv4, reject_total_past_end)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	buf[3] = (uint8_t)(len + 1);
	ip_fix_csum(buf, 20);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_TOTAL_LEN);
}

Test(ipv4, reject_checksum)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	buf[15] ^= 0x01;
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_CHECKSUM);
	cr_assert_eq(ip_parse_exact(buf, len, false), 0, "not checked when not asked");
	/* The payload is not the IP checksum's business. */
	buf[15] ^= 0x01;
	buf[len - 1] ^= 0xff;
	cr_assert_eq(ip_parse_exact(buf, len, true), 0);
}

Test(ipv4, checks_in_order)
{
	uint8_t buf[64];
	size_t len = ip_good(buf, 8);

	/* Each case breaks two things; the earlier check must win. */
	buf[0] = 0x64;
	cr_assert_eq(ip_parse_exact(buf, 19, true), USTACK_STAT_DROP_IP_TRUNCATED);
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_VERSION);
	buf[0] = 0x44;
	buf[3] = 0xff;
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_HDR_LEN);
	buf[0] = 0x45;
	cr_assert_eq(ip_parse_exact(buf, len, true), USTACK_STAT_DROP_IP_TOTAL_LEN);
}

/* ---- TCP parse ----------------------------------------------------------- */

static void tcp_fix_csum(uint8_t *seg, size_t len)
{
	uint16_t c;

	seg[16] = seg[17] = 0;
	c = us_csum_fold(us_csum_add(us_csum_pseudo(SRC, DST, US_IP_PROTO_TCP, (uint16_t)len), seg, len));
	memcpy(seg + 16, &c, 2);
}

/* A good ACK segment carrying the given raw option bytes and payload. */
static size_t tcp_raw(uint8_t *buf, const uint8_t *opts, size_t optlen, const uint8_t *pl, size_t plen)
{
	struct ustack_tcp_segment s = {
		.sport = 40000, .dport = 80, .seq = 1000, .ack = 2000,
		.window = 512, .flags = USTACK_TCP_ACK,
	};
	size_t h = us_tcp_build(buf, &s);

	cr_assert_eq(h, 20);
	if (optlen)
		memcpy(buf + h, opts, optlen);
	buf[12] = (uint8_t)((h + optlen) / 4 << 4);
	if (plen)
		memcpy(buf + h + optlen, pl, plen);
	tcp_fix_csum(buf, h + optlen + plen);
	return h + optlen + plen;
}

/* Parses from a heap copy of exactly len bytes; out->payload is cleared as
 * it would dangle. */
static int tcp_parse_exact(const uint8_t *buf, size_t len, bool verify, struct us_tcp *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	memset(out, 0, sizeof(*out));
	rc = us_tcp_parse(copy, len, SRC, DST, verify, out);
	out->payload = NULL;
	free(copy);
	return rc;
}

/* Parses a segment whose options are exactly `opts` (a multiple of 4). */
static int parse_opts(const uint8_t *opts, size_t optlen, struct us_tcp *out)
{
	uint8_t buf[128];
	size_t len = tcp_raw(buf, opts, optlen, NULL, 0);

	return tcp_parse_exact(buf, len, true, out);
}

static int opts_rc(const uint8_t *opts, size_t optlen)
{
	struct us_tcp t;

	cr_assert_eq(optlen % 4, 0, "options must fill whole words");
	return parse_opts(opts, optlen, &t);
}

/* The parse result for a segment with these option bytes. */
#define OPTS_RC(...) opts_rc((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void assert_seg_eq(const struct ustack_tcp_segment *a, const struct ustack_tcp_segment *b)
{
	cr_assert_eq(a->saddr, b->saddr);
	cr_assert_eq(a->daddr, b->daddr);
	cr_assert_eq(a->sport, b->sport);
	cr_assert_eq(a->dport, b->dport);
	cr_assert_eq(a->seq, b->seq);
	cr_assert_eq(a->ack, b->ack);
	cr_assert_eq(a->window, b->window);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->urgent, b->urgent);
	cr_assert_eq(a->len, b->len);
	cr_assert_eq(a->opt.present, b->opt.present);
	cr_assert_eq(a->opt.mss, b->opt.mss);
	cr_assert_eq(a->opt.wscale, b->opt.wscale);
	cr_assert_eq(a->opt.ts_val, b->opt.ts_val);
	cr_assert_eq(a->opt.ts_ecr, b->opt.ts_ecr);
	cr_assert_eq(a->opt.nsack, b->opt.nsack);
	for (int i = 0; i < a->opt.nsack; i++) {
		cr_assert_eq(a->opt.sack[i].left, b->opt.sack[i].left);
		cr_assert_eq(a->opt.sack[i].right, b->opt.sack[i].right);
	}
}

/* Builds seg with plen bytes of payload, checksums it, parses it back. */
static void round_trip(const struct ustack_tcp_segment *seg, size_t plen, size_t want_hlen)
{
	uint8_t buf[US_TCP_HDR_MAX + 128];
	struct ustack_tcp_segment want = *seg;
	struct us_tcp t;
	size_t h = us_tcp_build(buf, seg);

	cr_assert_eq(h, want_hlen);
	for (size_t i = 0; i < plen; i++)
		buf[h + i] = (uint8_t)(0xa0 + i);
	tcp_fix_csum(buf, h + plen);
	cr_assert_eq(us_tcp_parse(buf, h + plen, SRC, DST, true, &t), 0);
	cr_assert_eq(t.hdr_len, h);
	cr_assert_eq(t.payload, buf + h);
	want.saddr = SRC;
	want.daddr = DST;
	want.len = (uint32_t)plen;
	assert_seg_eq(&t.h, &want);
	if (plen)
		cr_assert_eq(t.payload[plen - 1], (uint8_t)(0xa0 + plen - 1));
}

Test(tcp, round_trip_syn_every_option_every_flag)
{
	struct ustack_tcp_segment s = {
		.sport = 40000, .dport = 443, .seq = 0xdeadbeef, .ack = 0x01020304,
		.window = 0xfaf0, .flags = 0xff, .urgent = 0x1234,
		.opt = {
			.present = USTACK_OPT_MSS | USTACK_OPT_WSCALE | USTACK_OPT_SACK_PERM | USTACK_OPT_TS,
			.mss = 1460, .wscale = 7, .ts_val = 0x11223344, .ts_ecr = 0x55667788,
		},
	};

	round_trip(&s, 7, 40);
}

Test(tcp, round_trip_ack_ts_and_sack)
{
	struct ustack_tcp_segment s = {
		.sport = 80, .dport = 40000, .seq = 1, .ack = 0xffffffff,
		.window = 1, .flags = USTACK_TCP_ACK | USTACK_TCP_PSH,
		.opt = {
			.present = USTACK_OPT_TS | USTACK_OPT_SACK,
			.ts_val = 0xfffffffe, .ts_ecr = 1, .nsack = 3,
			.sack = {{100, 200}, {300, 400}, {0xfffffff0, 0x10}},
		},
	};

	round_trip(&s, 100, 60);
}

Test(tcp, round_trip_four_sack_blocks)
{
	struct ustack_tcp_segment s = {
		.sport = 1, .dport = 2, .flags = USTACK_TCP_ACK,
		.opt = {
			.present = USTACK_OPT_SACK, .nsack = 4,
			.sack = {{1, 2}, {3, 4}, {5, 6}, {7, 8}},
		},
	};

	round_trip(&s, 0, 56);
}

Test(tcp, build_header_bytes)
{
	static const uint8_t want[20] = {
		0x9c, 0x40, 0x00, 0x50, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02,
		0x03, 0x04, 0x50, 0x18, 0xfa, 0xf0, 0x00, 0x00, 0x00, 0x07,
	};
	struct ustack_tcp_segment s = {
		.sport = 40000, .dport = 80, .seq = 0xdeadbeef, .ack = 0x01020304,
		.window = 0xfaf0, .flags = USTACK_TCP_ACK | USTACK_TCP_PSH, .urgent = 7,
	};
	uint8_t buf[US_TCP_HDR_MAX];

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(us_tcp_build(buf, &s), 20);
	cr_assert_arr_eq(buf, want, 20);
}

Test(tcp, payload_empty_and_not)
{
	static const uint8_t pl[] = "hello";
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, NULL, 0, NULL, 0);

	cr_assert_eq(us_tcp_parse(buf, len, SRC, DST, true, &t), 0);
	cr_assert_eq(t.h.len, 0);
	cr_assert_eq(t.payload, buf + 20);
	cr_assert_eq(t.h.opt.present, 0);

	len = tcp_raw(buf, NULL, 0, pl, 5);
	cr_assert_eq(us_tcp_parse(buf, len, SRC, DST, true, &t), 0);
	cr_assert_eq(t.h.len, 5);
	cr_assert_eq(t.payload, buf + 20);
	cr_assert_arr_eq(t.payload, pl, 5);
}

Test(tcp, reserved_bits_ignored)
{
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, NULL, 0, NULL, 0);

	buf[12] |= 0x0f;
	tcp_fix_csum(buf, len);
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), 0);
	cr_assert_eq(t.h.flags, USTACK_TCP_ACK);
	cr_assert_eq(t.hdr_len, 20);
}

Test(tcp, reject_truncated)
{
	uint8_t buf[64];
	struct us_tcp t;

	tcp_raw(buf, NULL, 0, NULL, 0);
	cr_assert_eq(tcp_parse_exact(buf, 19, false, &t), USTACK_STAT_DROP_TCP_TRUNCATED);
	cr_assert_eq(tcp_parse_exact(buf, 0, false, &t), USTACK_STAT_DROP_TCP_TRUNCATED);
}

Test(tcp, reject_data_offset_4)
{
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, NULL, 0, NULL, 0);

	buf[12] = 4 << 4;
	tcp_fix_csum(buf, len);
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), USTACK_STAT_DROP_TCP_DOFF_SMALL);
	/* The fixed fields are still there for the drop trace. */
	cr_assert_eq(t.h.sport, 40000);
	cr_assert_eq(t.h.dport, 80);
}

Test(tcp, reject_data_offset_past_end)
{
	static const uint8_t pl[3] = {1, 2, 3};
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, NULL, 0, pl, 3);

	/* 24 bytes of header claimed in 23. */
	buf[12] = 6 << 4;
	tcp_fix_csum(buf, len);
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), USTACK_STAT_DROP_TCP_DOFF_PAST_END);
}

Test(tcp, reject_checksum)
{
	static const uint8_t pl[9] = "abcdefgh";
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, NULL, 0, pl, 9);

	buf[len - 1] ^= 0x40;
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), USTACK_STAT_DROP_TCP_CHECKSUM);
	cr_assert_eq(tcp_parse_exact(buf, len, false, &t), 0, "not checked when not asked");
	buf[len - 1] ^= 0x40;
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), 0);
	/* The pseudo-header is covered: the same bytes from another host fail. */
	cr_assert_eq(us_tcp_parse(buf, len, SRC + 1, DST, true, &t), USTACK_STAT_DROP_TCP_CHECKSUM);
}

Test(tcp, checksum_checked_before_options)
{
	static const uint8_t opts[4] = {8, 0, 1, 1};
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, opts, 4, NULL, 0);

	buf[4] ^= 1;
	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), USTACK_STAT_DROP_TCP_CHECKSUM);
	cr_assert_eq(tcp_parse_exact(buf, len, false, &t), USTACK_STAT_DROP_TCP_OPT_LEN);
}

Test(tcp, reject_option_length_0)
{
	cr_assert_eq(OPTS_RC(8, 0, 1, 1), USTACK_STAT_DROP_TCP_OPT_LEN);
	cr_assert_eq(OPTS_RC(0x99, 0, 1, 1), USTACK_STAT_DROP_TCP_OPT_LEN, "unknown kinds too");
}

Test(tcp, reject_option_length_1)
{
	cr_assert_eq(OPTS_RC(1, 3, 1, 1), USTACK_STAT_DROP_TCP_OPT_LEN);
}

Test(tcp, reject_option_past_header)
{
	/* A timestamp claiming 10 bytes in a 4-byte option area; the payload
	 * after the header must not be read as option bytes. */
	static const uint8_t opts[4] = {1, 1, 8, 10};
	static const uint8_t pl[16] = {0};
	uint8_t buf[64];
	struct us_tcp t;
	size_t len = tcp_raw(buf, opts, 4, pl, sizeof(pl));

	cr_assert_eq(tcp_parse_exact(buf, len, true, &t), USTACK_STAT_DROP_TCP_OPT_OVERRUN);
	cr_assert_eq(OPTS_RC(0x99, 5, 1, 1), USTACK_STAT_DROP_TCP_OPT_OVERRUN, "unknown kinds too");
}

Test(tcp, reject_kind_without_length)
{
	cr_assert_eq(OPTS_RC(1, 1, 1, 8), USTACK_STAT_DROP_TCP_OPT_OVERRUN);
	cr_assert_eq(OPTS_RC(1, 1, 1, 0x99), USTACK_STAT_DROP_TCP_OPT_OVERRUN);
}

Test(tcp, reject_mss_length_3)
{
	cr_assert_eq(OPTS_RC(2, 3, 5, 1), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_wscale_length_4)
{
	cr_assert_eq(OPTS_RC(3, 4, 7, 0), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_sack_perm_length_3)
{
	cr_assert_eq(OPTS_RC(4, 3, 0, 1), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_ts_length_9)
{
	cr_assert_eq(OPTS_RC(8, 9, 1, 2, 3, 4, 5, 6, 7, 1, 1, 1), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_sack_length_11)
{
	cr_assert_eq(OPTS_RC(5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_sack_no_blocks)
{
	cr_assert_eq(OPTS_RC(1, 1, 5, 2), USTACK_STAT_DROP_TCP_OPT_SIZE);
}

Test(tcp, reject_sack_five_blocks)
{
	/* 2 + 5 * 8 = 42 bytes cannot fit in 40 of option space, so the
	 * length runs past the header before its size can be judged. */
	uint8_t opts[40] = {5, 42};
	struct us_tcp t;

	cr_assert_eq(parse_opts(opts, sizeof(opts), &t), USTACK_STAT_DROP_TCP_OPT_OVERRUN);
}

Test(tcp, sack_block_counts)
{
	uint8_t opts[40];
	struct us_tcp t;

	for (unsigned n = 1; n <= 4; n++) {
		memset(opts, 0, sizeof(opts));
		opts[0] = opts[1] = US_TCPOPT_NOP;
		opts[2] = US_TCPOPT_SACK;
		opts[3] = (uint8_t)(2 + 8 * n);
		for (unsigned i = 0; i < 2 * n; i++)
			opts[4 + 4 * i + 3] = (uint8_t)(i + 1);
		cr_assert_eq(parse_opts(opts, 4 + 8 * n, &t), 0, "n %u", n);
		cr_assert_eq(t.h.opt.present, USTACK_OPT_SACK);
		cr_assert_eq(t.h.opt.nsack, n);
		cr_assert_eq(t.h.opt.sack[n - 1].left, 2 * n - 1);
		cr_assert_eq(t.h.opt.sack[n - 1].right, 2 * n);
	}
}

Test(tcp, unknown_option_skipped)
{
	static const uint8_t opts[12] = {0xfe, 6, 0xaa, 0xbb, 0xcc, 0xdd, 2, 4, 0x05, 0xb4, 1, 1};
	struct us_tcp t;

	cr_assert_eq(parse_opts(opts, sizeof(opts), &t), 0);
	cr_assert_eq(t.h.opt.present, USTACK_OPT_MSS);
	cr_assert_eq(t.h.opt.mss, 1460);
}

Test(tcp, eol_ends_list)
{
	/* After EOL comes a length-0 option that would be refused if read. */
	static const uint8_t opts[8] = {2, 4, 0x05, 0xb4, 0, 0xff, 0, 8};
	struct us_tcp t;

	cr_assert_eq(parse_opts(opts, sizeof(opts), &t), 0);
	cr_assert_eq(t.h.opt.present, USTACK_OPT_MSS);
	cr_assert_eq(t.h.opt.mss, 1460);
	cr_assert_eq(t.hdr_len, 28, "padding after EOL is still header");
}

Test(tcp, nop_padding)
{
	static const uint8_t opts[12] = {1, 1, 1, 1, 1, 1, 3, 3, 7, 1, 1, 1};
	struct us_tcp t;

	cr_assert_eq(parse_opts(opts, sizeof(opts), &t), 0);
	cr_assert_eq(t.h.opt.present, USTACK_OPT_WSCALE);
	cr_assert_eq(t.h.opt.wscale, 7);
}

Test(tcp, wscale_15_clamped_to_14)
{
	static const uint8_t opts[4] = {1, 3, 3, 15};
	static const uint8_t big[4] = {1, 3, 3, 255};
	struct us_tcp t;

	cr_assert_eq(parse_opts(opts, sizeof(opts), &t), 0);
	cr_assert_eq(t.h.opt.present, USTACK_OPT_WSCALE);
	cr_assert_eq(t.h.opt.wscale, 14);
	cr_assert_eq(parse_opts(big, sizeof(big), &t), 0);
	cr_assert_eq(t.h.opt.wscale, 14);
}

/* ---- TCP options build --------------------------------------------------- */

static void assert_opts(const struct ustack_tcp_options *opt, bool syn, const uint8_t *want, size_t n)
{
	uint8_t buf[US_TCP_OPT_SPACE + 8];

	memset(buf, 0xee, sizeof(buf));
	cr_assert_eq(us_tcp_options_build(buf, opt, syn), n);
	if (n)
		cr_assert_arr_eq(buf, want, n);
	cr_assert_eq(buf[n], 0xee, "wrote past the options");
}

Test(tcp_options_build, syn_mss_sackok_ts_wscale)
{
	static const uint8_t want[20] = {
		2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 1, 3, 3, 7,
	};
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_MSS | USTACK_OPT_SACK_PERM | USTACK_OPT_TS | USTACK_OPT_WSCALE,
		.mss = 1460, .wscale = 7, .ts_val = 0x01020304, .ts_ecr = 0x05060708,
	};

	assert_opts(&o, true, want, sizeof(want));
}

Test(tcp_options_build, syn_mss_wscale)
{
	static const uint8_t want[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460, .wscale = 7,
	};

	assert_opts(&o, true, want, sizeof(want));
}

Test(tcp_options_build, syn_mss_only)
{
	static const uint8_t want[4] = {2, 4, 0x02, 0x18};
	struct ustack_tcp_options o = {.present = USTACK_OPT_MSS, .mss = 536};

	assert_opts(&o, true, want, sizeof(want));
}

Test(tcp_options_build, syn_mss_ts_wscale)
{
	static const uint8_t want[20] = {
		2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 0,
	};
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_MSS | USTACK_OPT_TS | USTACK_OPT_WSCALE, .mss = 1460, .ts_val = 9,
	};

	assert_opts(&o, true, want, sizeof(want));
}

Test(tcp_options_build, syn_mss_sackok)
{
	static const uint8_t want[8] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};
	struct ustack_tcp_options o = {.present = USTACK_OPT_MSS | USTACK_OPT_SACK_PERM, .mss = 1460};

	assert_opts(&o, true, want, sizeof(want));
}

Test(tcp_options_build, syn_nothing)
{
	struct ustack_tcp_options o = {0};

	assert_opts(&o, true, NULL, 0);
}

Test(tcp_options_build, ack_ts)
{
	static const uint8_t want[12] = {1, 1, 8, 10, 0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44};
	/* MSS, window scale and SACK-permitted belong on SYNs only. */
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_TS | USTACK_OPT_MSS | USTACK_OPT_WSCALE | USTACK_OPT_SACK_PERM,
		.mss = 1460, .wscale = 7, .ts_val = 0xaabbccdd, .ts_ecr = 0x11223344,
	};

	assert_opts(&o, false, want, sizeof(want));
}

static const uint8_t ts_sack3[40] = {
	1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
	1, 1, 5, 26, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40, 0, 0, 0, 50, 0, 0, 0, 60,
};

Test(tcp_options_build, ack_ts_sack3)
{
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_TS | USTACK_OPT_SACK, .ts_val = 1, .ts_ecr = 2, .nsack = 3,
		.sack = {{10, 20}, {30, 40}, {50, 60}},
	};

	assert_opts(&o, false, ts_sack3, sizeof(ts_sack3));
}

Test(tcp_options_build, ack_ts_sack4_drops_oldest)
{
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_TS | USTACK_OPT_SACK, .ts_val = 1, .ts_ecr = 2, .nsack = 4,
		.sack = {{10, 20}, {30, 40}, {50, 60}, {70, 80}},
	};

	assert_opts(&o, false, ts_sack3, sizeof(ts_sack3));
}

Test(tcp_options_build, ack_sack4_without_ts)
{
	static const uint8_t want[36] = {
		1, 1, 5, 34, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4,
		0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 7, 0, 0, 0, 8,
	};
	struct ustack_tcp_options o = {
		.present = USTACK_OPT_SACK, .nsack = 200, /* a bad count must not overrun sack[] */
		.sack = {{1, 2}, {3, 4}, {5, 6}, {7, 8}},
	};

	assert_opts(&o, false, want, sizeof(want));
}

Test(tcp_options_build, ack_nothing)
{
	struct ustack_tcp_options o = {.present = USTACK_OPT_SACK, .nsack = 0};

	assert_opts(&o, false, NULL, 0);
}

/* ---- robustness ---------------------------------------------------------- */

/* Random bytes, often shaped to get past the early checks so the later ones
 * and the option walk see random input too. */
Test(wire, random_input_never_crashes)
{
	struct rng r = {0x0123456789abcdefull};
	int ip_ok = 0, tcp_ok = 0;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rng_below(&r, 120);
		uint8_t *buf = malloc(len ? len : 1);
		struct us_ipv4 ip;
		struct us_tcp t;
		bool verify = rng_below(&r, 2);
		int rc;

		cr_assert_not_null(buf);
		rng_fill(&r, buf, len);
		if (len >= 20 && rng_below(&r, 2)) {
			/* Plausible as IPv4 and, from the start, as TCP too. */
			buf[0] = (uint8_t)(0x40 | (5 + rng_below(&r, 11)));
			buf[2] = 0;
			buf[3] = (uint8_t)(len - rng_below(&r, 8));
			buf[12] = (uint8_t)((5 + rng_below(&r, (uint32_t)(len / 4 - 4))) << 4);
			for (size_t i = 20; i < len; i++) {
				if (rng_below(&r, 3) == 0)
					buf[i] = (uint8_t)rng_below(&r, 12);
			}
			/* Give one of the two parsers that will verify a good
			 * checksum (they overlap, so not both). */
			if (rng_below(&r, 2)) {
				size_t ihl = (size_t)(buf[0] & 0xf) * 4;

				if (verify && ihl <= len)
					ip_fix_csum(buf, ihl);
				else if (!verify)
					tcp_fix_csum(buf, len);
			}
		}

		rc = us_ipv4_parse(buf, len, verify, &ip);
		cr_assert(rc == 0 || (rc >= USTACK_STAT_DROP_IP_TRUNCATED &&
				      rc <= USTACK_STAT_DROP_IP_CHECKSUM));
		if (rc == 0) {
			ip_ok++;
			cr_assert(ip.payload >= buf + 20 && ip.payload + ip.payload_len <= buf + len);
			rc = us_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, false, &t);
			if (rc == 0)
				cr_assert(t.payload + t.h.len == ip.payload + ip.payload_len);
		}

		verify = !verify;
		rc = us_tcp_parse(buf, len, SRC, DST, verify, &t);
		cr_assert(rc == 0 || (rc >= USTACK_STAT_DROP_TCP_TRUNCATED &&
				      rc <= USTACK_STAT_DROP_TCP_OPT_SIZE));
		if (rc == 0) {
			tcp_ok++;
			cr_assert(t.payload >= buf + 20 && t.payload == buf + t.hdr_len);
			cr_assert(t.payload + t.h.len == buf + len);
			cr_assert(t.h.opt.nsack <= 4 && t.h.opt.wscale <= 14);
		}
		free(buf);
	}
	/* Enough inputs got all the way through for the test to mean something. */
	cr_assert_gt(ip_ok, 500);
	cr_assert_gt(tcp_ok, 500);
}
