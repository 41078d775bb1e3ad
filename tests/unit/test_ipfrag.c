/*
 * IPv4 reassembly (RFC 791 3.2, RFC 815, RFC 1122 3.3.2) with the test
 * cutting datagrams by hand: fragments in order, out of order, duplicated;
 * overlaps (the whole datagram dropped, as Linux since FragmentSmack and
 * RFC 5722); pieces reaching past 65535 bytes (the Ping of Death); lengths
 * RFC 791 forbids; the 30-second timeout, with every byte returned to the
 * allocator; the limits on datagrams and bytes under a flood of datagrams
 * that never complete, after which real traffic still passes; and a TCP
 * segment that arrives in fragments.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testnet.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define US T_ADDR_A
#define PEER T_ADDR_B
#define PORT 7000

static struct traw R;
/* What the stack holds, so a test can see every byte come back. */
static struct t_memcount C;
static int FD;

static void start(uint32_t max, uint32_t mem)
{
	memset(&C, 0, sizeof(C));
	struct ustack_config cfg = { .alloc = t_counting_alloc, .alloc_ctx = &C, .ipfrag_max = max,
				     .ipfrag_mem = mem };
	traw_init(&R, &cfg);
	FD = ustack_socket(R.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = t_sin(0, PORT);
	cr_assert_eq(ustack_bind(R.st, FD, T_SA(sin), sizeof(sin)), 0);
	int big = 1 << 20;
	cr_assert_eq(ustack_setsockopt(R.st, FD, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big)), 0);
}

static void setup(void)
{
	start(0, 0);
}

static void teardown(void)
{
	traw_fini(&R);
}

TestSuite(ipfrag, .init = setup, .fini = teardown);

/* A whole UDP datagram to PORT: its IP payload (UDP header and data). */
static uint8_t whole[65600];
static size_t whole_len; /* IP payload bytes */

static void make_datagram(size_t dlen, unsigned seed)
{
	static uint8_t data[65536];
	for (size_t i = 0; i < dlen; i++)
		data[i] = (uint8_t)(i * 17 + seed + (i >> 9));
	static uint8_t pkt[65600];
	size_t n = t_build_udp(pkt, PEER, US, 5000, PORT, data, dlen);
	whole_len = n - 20;
	memcpy(whole, pkt + 20, whole_len);
}

/* Sends bytes [off, off + len) of the datagram's IP payload as a fragment
 * with identification id; MF unless it reaches the end. */
static void frag_mf(uint16_t id, size_t off, size_t len, bool more)
{
	static uint8_t pkt[70000];
	uint16_t f = (uint16_t)(off / 8) | (more ? US_IPV4_MF : 0);
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, id, f, whole + off, len));
}

static void frag(uint16_t id, size_t off, size_t len)
{
	frag_mf(id, off, len, off + len < whole_len);
}

/* Expects the datagram (data after the UDP header) at the socket, once. */
static void expect_datagram(const char *what)
{
	static uint8_t buf[70000];
	ssize_t r = ustack_recv(R.st, FD, buf, sizeof(buf), 0);
	cr_assert_eq(r, (ssize_t)(whole_len - 8), "%s: recv %zd, want %zu; trace:\n%s", what, r, whole_len - 8,
		     R.trace);
	cr_assert_arr_eq(buf, whole + 8, whole_len - 8, "%s: the data intact", what);
	cr_assert_eq(ustack_recv(R.st, FD, buf, sizeof(buf), 0), -EAGAIN, "%s: once", what);
}

static void expect_nothing(const char *what)
{
	uint8_t buf[16];
	cr_assert_eq(ustack_recv(R.st, FD, buf, sizeof(buf), 0), -EAGAIN, "%s: nothing delivered", what);
}

static uint64_t stat(enum ustack_stat s)
{
	return ustack_stat(R.st, s);
}

static uint64_t drops(void)
{
	uint64_t n = 0;
	for (int i = USTACK_STAT__FIRST_DROP; i < USTACK_STAT__COUNT; i++)
		n += stat((enum ustack_stat)i);
	return n;
}

Test(ipfrag, in_order)
{
	make_datagram(3000, 1);
	frag(1, 0, 1480);
	frag(1, 1480, 1480);
	expect_nothing("two of three");
	frag(1, 2960, whole_len - 2960);
	expect_datagram("in order");
	cr_assert_eq(stat(USTACK_STAT_IP_FRAG_IN), 3);
	cr_assert_eq(stat(USTACK_STAT_IP_FRAG_REASSEMBLED), 1);
	cr_assert_eq(drops(), 0);
	cr_assert_eq(ustack_next_deadline(R.st), USTACK_TIME_NEVER, "nothing left waiting");
	cr_assert_null(traw_next(&R), "nothing sent");
}

Test(ipfrag, out_of_order)
{
	make_datagram(3000, 2);
	frag(2, 2960, whole_len - 2960);
	frag(2, 1480, 1480);
	frag(2, 0, 1480);
	expect_datagram("backwards");

	/* 8-byte pieces of a smaller datagram, in a scrambled order: the
	 * first fragment neither first nor last. */
	make_datagram(200, 3);
	size_t pieces = (whole_len + 7) / 8;
	for (size_t k = 0; k < pieces; k++) {
		size_t i = (k * 7 + 3) % pieces; /* 7 is prime to 26: a permutation */
		size_t off = i * 8, len = whole_len - off < 8 ? whole_len - off : 8;
		frag(3, off, len);
		if (k + 1 < pieces)
			expect_nothing("not yet whole");
	}
	expect_datagram("scrambled");
	cr_assert_eq(drops(), 0);
}

Test(ipfrag, duplicates_dropped_alone)
{
	make_datagram(3000, 4);
	frag(4, 0, 1480);
	frag(4, 0, 1480);
	frag(4, 2960, whole_len - 2960);
	frag(4, 2960, whole_len - 2960);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_DUPLICATE), 2);
	frag(4, 1480, 1480);
	expect_datagram("with duplicates");
	cr_assert_eq(drops(), 2);
}

Test(ipfrag, overlap_drops_the_datagram)
{
	make_datagram(3000, 5);
	frag(5, 0, 1480);
	frag(5, 2960, whole_len - 2960);
	frag(5, 1472, 1488); /* reaches 8 bytes back into the first */
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_OVERLAP), 1);
	cr_assert_eq(ustack_next_deadline(R.st), USTACK_TIME_NEVER, "the whole datagram went");
	/* What comes after belongs to a datagram that can no longer be
	 * whole: the pieces wait, then time out. */
	frag(5, 1480, 1480);
	frag(5, 2960, whole_len - 2960);
	expect_nothing("after an overlap");

	/* A piece inside another is an overlap too; so is one that covers
	 * two. */
	make_datagram(3000, 6);
	frag(6, 0, 1480);
	frag(6, 8, 16);
	frag(7, 1480, 16);
	frag(7, 1504, 16);
	frag(7, 1480, 48);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_OVERLAP), 3);
	frag(6, 1480, 1480);
	frag(6, 2960, whole_len - 2960);
	expect_nothing("the overlapped datagram");
}

/* The Ping of Death: the last fragment at offset 65528 with more than 7
 * bytes would make a datagram longer than IPv4 allows. */
Test(ipfrag, past_65535_dropped)
{
	make_datagram(3000, 8);
	frag(8, 0, 1480);
	static uint8_t pkt[200], body[100];
	size_t n = t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, 8, 8191, body, 16);
	traw_input(&R, pkt, n);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TOO_BIG), 1);
	cr_assert_eq(ustack_next_deadline(R.st), USTACK_TIME_NEVER, "the datagram it claimed to end went too");
	frag(8, 1480, 1480);
	frag(8, 2960, whole_len - 2960);
	expect_nothing("the rest alone");
	/* Exactly 65535 is fine: a 20-byte header and 65512 + 3 bytes; one
	 * more byte is not. */
	n = t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, 9, 8189, body, 3);
	traw_input(&R, pkt, n);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TOO_BIG), 1);
	n = t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, 10, 8189, body, 4);
	traw_input(&R, pkt, n);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TOO_BIG), 2);
	cr_assert_eq(stat(USTACK_STAT_IP_FRAG_IN), 6);
}

/* RFC 791 3.2: the fragments but the last carry multiples of 8 bytes;
 * the end, once known, is fixed. */
Test(ipfrag, bad_lengths_and_inconsistent_ends)
{
	make_datagram(3000, 10);
	frag(10, 0, 1001); /* MF, not a multiple of 8 */
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH), 1);
	static uint8_t pkt[100];
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_UDP, 10, 5 | US_IPV4_MF, NULL, 0));
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH), 2, "an empty fragment");

	frag(11, 2960, whole_len - 2960); /* the end: 3008 */
	frag_mf(11, 1480, 1000, false);   /* a second last fragment, another end */
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_INCONSISTENT), 1);
	frag(12, 2960, whole_len - 2960);
	frag_mf(12, 2968, 64, true); /* MF, past the end */
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_INCONSISTENT), 2);
	frag(13, 1480, 1480);
	frag_mf(13, 8, 992, false); /* a last fragment ending before what came */
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_INCONSISTENT), 3);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH), 2);
	frag(14, 1480, 1480);
	cr_assert_neq(ustack_next_deadline(R.st), USTACK_TIME_NEVER, "datagram 14 waits");
	expect_nothing("no datagram");
}

/* RFC 1122 3.3.2, Linux's ipfrag_time: after 30 s the pieces go, and every
 * byte they held is returned. The stack's deadline says when. */
Test(ipfrag, timeout_returns_memory)
{
	make_datagram(3000, 14);
	size_t base = C.bytes;
	ustack_time_t t0 = R.now;
	frag(14, 1480, 1480);
	frag(14, 0, 1480);
	cr_assert_gt(C.bytes, base + 2960, "the pieces are held");
	cr_assert_eq(ustack_next_deadline(R.st), t0 + USTACK_SEC(30));
	traw_advance(&R, USTACK_SEC(10));
	frag(15, 0, 1480); /* a second datagram, 10 s younger */
	cr_assert_eq(ustack_next_deadline(R.st), t0 + USTACK_SEC(30), "the oldest first");
	traw_advance(&R, USTACK_SEC(20));
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TIMEOUT), 1);
	cr_assert_eq(ustack_next_deadline(R.st), t0 + USTACK_SEC(40));
	traw_advance(&R, USTACK_SEC(10));
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TIMEOUT), 2);
	cr_assert_eq(C.bytes, base, "every byte back: %zu outstanding, %zu before", C.bytes, base);
	cr_assert_eq(ustack_next_deadline(R.st), USTACK_TIME_NEVER);
	/* The last piece of the first datagram, late: it starts over alone. */
	frag(14, 2960, whole_len - 2960);
	expect_nothing("too late");
	/* Each had its first fragment, so each was reported (Time Exceeded). */
	cr_assert_eq(stat(USTACK_STAT_ICMP_OUT_TIME_EXCEEDED), 2);
}

/* A flood of datagrams that never complete: at most ipfrag_max of them
 * are held (64), the rest refused and counted; memory stays bounded;
 * whole datagrams pass all the while; once the flood's datagrams time
 * out, fragmented ones pass again. */
Test(ipfrag, flood_of_incomplete_datagrams_count_limit)
{
	make_datagram(3000, 16);
	size_t base = C.bytes;
	for (uint16_t id = 100; id < 1100; id++)
		frag(id, 0, 1480);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_LIMIT), 1000 - 64);
	cr_assert_lt(C.bytes - base, 64 * 2000, "64 datagrams' worth: %zu bytes", C.bytes - base);
	/* A whole datagram is not reassembly's business. */
	static uint8_t pkt[2000];
	traw_input(&R, pkt, t_build_udp(pkt, PEER, US, 5000, PORT, "whole", 5));
	uint8_t buf[16];
	cr_assert_eq(ustack_recv(R.st, FD, buf, sizeof(buf), 0), 5);
	/* A new fragmented one is refused while the flood holds the slots. */
	frag(2000, 0, 1480);
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_LIMIT), 1000 - 64 + 1);
	traw_advance(&R, USTACK_SEC(30));
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TIMEOUT), 64);
	cr_assert_eq(C.bytes, base, "all returned");
	while (traw_next(&R))
		; /* the Time Exceeded messages, rate-limited */
	frag(2001, 0, 1480);
	frag(2001, 1480, 1480);
	frag(2001, 2960, whole_len - 2960);
	expect_datagram("after the flood");
}

Test(ipfrag, flood_of_incomplete_datagrams_byte_budget)
{
	traw_fini(&R);
	start(100000, 200000); /* many datagrams allowed, 200 kB for all */
	make_datagram(3000, 17);
	size_t base = C.bytes;
	for (uint16_t id = 100; id < 1100; id++)
		frag(id, 0, 1480);
	uint64_t held = 1000 - stat(USTACK_STAT_DROP_IP_FRAG_MEM);
	cr_assert(held > 100 && held < 200000 / 1480, "%llu datagrams held", (unsigned long long)held);
	cr_assert_leq(C.peak - base, 200000 + 70000, "the budget bounds memory: %zu", C.peak - base);
	traw_advance(&R, USTACK_SEC(30));
	cr_assert_eq(stat(USTACK_STAT_DROP_IP_FRAG_TIMEOUT), held);
	cr_assert_eq(C.bytes, base);
	frag(3000, 2960, whole_len - 2960);
	frag(3000, 0, 1480);
	frag(3000, 1480, 1480);
	expect_datagram("after the flood");
}

/* Datagrams with many fragments fill the byte budget from within: the
 * pieces that would exceed it are refused, whichever datagram they
 * belong to. */
Test(ipfrag, large_datagrams_against_the_byte_budget)
{
	traw_fini(&R);
	start(0, 100000);
	size_t base = C.bytes;
	make_datagram(65000, 18);
	for (size_t off = 0; off + 1480 < whole_len; off += 1480)
		frag(18, off, 1480); /* all but the last piece */
	uint64_t refused = stat(USTACK_STAT_DROP_IP_FRAG_MEM);
	cr_assert_eq(refused, 0, "one datagram of 65 kB fits");
	for (size_t off = 0; off + 1480 < whole_len; off += 1480)
		frag(19, off, 1480);
	refused = stat(USTACK_STAT_DROP_IP_FRAG_MEM);
	cr_assert_gt(refused, 15, "the second could not all fit: %llu refused", (unsigned long long)refused);
	cr_assert_leq(C.peak - base, 100000, "the budget bounds memory: %zu", C.peak - base);
	traw_advance(&R, USTACK_SEC(30));
	cr_assert_eq(C.bytes, base);
	for (size_t off = 0; off < whole_len; off += 1480)
		frag(20, off, whole_len - off < 1480 ? whole_len - off : 1480);
	expect_datagram("alone, it fits");
}

/* A TCP SYN in two fragments reaches TCP as if whole: it is answered. */
Test(ipfrag, tcp_segment_in_fragments)
{
	int l = ustack_socket(R.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, 80);
	cr_assert_eq(ustack_bind(R.st, l, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(R.st, l, 4), 0);
	static uint8_t seg[100], pkt[100];
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = 1460 };
	size_t n = t_build_packet(seg, PEER, US, 4444, 80, USTACK_TCP_SYN, 1, 0, 65535, NULL, 0, &o);
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_TCP, 77, US_IPV4_MF, seg + 20, 16));
	cr_assert_null(traw_next(&R));
	traw_input(&R, pkt, t_build_ip(pkt, PEER, US, US_IP_PROTO_TCP, 77, 2, seg + 36, n - 36));
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p, "trace:\n%s", R.trace);
	cr_assert_eq(p->b[9], US_IP_PROTO_TCP);
	cr_assert_eq(p->b[33], USTACK_TCP_SYN | USTACK_TCP_ACK);
	cr_assert_eq(stat(USTACK_STAT_IP_FRAG_REASSEMBLED), 1);
}
