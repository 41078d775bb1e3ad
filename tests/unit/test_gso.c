/*
 * The TUN driver's segmentation offload (src/link/gso.c): which segments
 * may share a frame, and that the kernel, cutting the frame as Linux's
 * tcp_gso_segment does, gets back exactly the segments the stack sent.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "link/gso.h"
#include "testnet.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"

#define SRC T_ADDR_A
#define DST T_ADDR_B
#define MSS 1448
#define MAXSEG 64

static struct us_gso_batch B;
static uint8_t segs[MAXSEG][2048];
static size_t seglen[MAXSEG];
static uint8_t data[MAXSEG * MSS];

/* A segment of the stack's, with timestamps, as tcp_output builds it. */
static size_t mkseg(int i, uint32_t seq, uint8_t flags, size_t len, uint32_t tsval)
{
	struct ustack_tcp_options o = { .present = USTACK_OPT_TS, .ts_val = tsval, .ts_ecr = 99 };
	for (size_t k = 0; k < len; k++)
		data[(seq - 1000 + k) % sizeof(data)] = (uint8_t)(seq + k * 7);
	seglen[i] = t_build_packet(segs[i], SRC, DST, 4000, 80, flags, seq, 5000, 512,
				   data + (seq - 1000) % sizeof(data), len, &o);
	return seglen[i];
}

/* Offers segment i split in three pieces at odd places, as a gather list
 * from the stack's header buffer and a wrapped ring would come. */
static bool offer(int i)
{
	size_t n = seglen[i], a = n > 30 ? 23 : n / 2, b = n > 100 ? n - 77 : n;
	struct iovec iov[3] = { { segs[i], a }, { segs[i] + a, b - a }, { segs[i] + b, n - b } };
	return us_gso_add(&B, iov, 3, n);
}

/* Whether the TCP checksum of a packet with a 20-byte IPv4 header holds. */
static bool tcp_sum_ok(const uint8_t *p, size_t n)
{
	uint64_t acc = us_csum_pseudo(us_get32(p + 12), us_get32(p + 16), 6, (uint16_t)(n - 20));
	return us_csum_fold(us_csum_add(acc, p + 20, n - 20)) == 0;
}

/*
 * The kernel's side: cut a frame as tcp_gso_segment does (headers copied,
 * sequence advanced, PSH and FIN kept for the last segment, lengths and
 * checksums per segment) and compare each piece with what the stack sent.
 */
static void cut_and_compare(const uint8_t *f, size_t len, const struct virtio_net_hdr *vh, int first, int n)
{
	size_t hl = vh->hdr_len;
	size_t size = vh->gso_type == VIRTIO_NET_HDR_GSO_NONE ? len - hl : vh->gso_size;
	cr_assert_eq(vh->flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	cr_assert_eq(vh->csum_start, 20);
	cr_assert_eq(vh->csum_offset, 16);
	cr_assert_eq(us_get16(f + 2), len, "the IPv4 total length covers the frame");
	cr_assert_eq(us_csum_hdr(f, 20), 0, "the frame's IPv4 checksum holds");
	/* The field holds the pseudo-header's sum of the whole frame. */
	uint16_t want = (uint16_t)~us_csum_fold(us_csum_pseudo(SRC, DST, 6, (uint16_t)(len - 20)));
	cr_assert_eq(memcmp(f + 36, &want, 2), 0, "the checksum field is the pseudo-header's sum");
	int k = 0;
	for (size_t off = hl; off < len; off += size, k++) {
		cr_assert_lt(k, n, "the frame holds more segments than were joined");
		size_t d = len - off < size ? len - off : size;
		uint8_t p[2048];
		memcpy(p, f, hl);
		memcpy(p + hl, f + off, d);
		us_put16(p + 2, (uint16_t)(hl + d));
		us_put32(p + 24, us_get32(f + 24) + (uint32_t)(off - hl));
		if (off + d < len)
			p[33] &= (uint8_t)~(USTACK_TCP_PSH | USTACK_TCP_FIN);
		uint16_t z = 0;
		memcpy(p + 36, &z, 2);
		uint64_t acc = us_csum_pseudo(SRC, DST, 6, (uint16_t)(hl - 20 + d));
		uint16_t c = us_csum_fold(us_csum_add(acc, p + 20, hl - 20 + d));
		memcpy(p + 36, &c, 2);
		const uint8_t *o = segs[first + k];
		cr_assert_eq(hl + d, seglen[first + k], "segment %d: length", k);
		cr_assert(tcp_sum_ok(p, hl + d));
		cr_assert_eq(memcmp(p, o, 4), 0, "segment %d: IPv4 version, TOS, length", k);
		cr_assert_eq(memcmp(p + 6, o + 6, 4), 0, "segment %d: IPv4 flags, TTL, protocol", k);
		cr_assert_eq(memcmp(p + 12, o + 12, hl + d - 12), 0, "segment %d: addresses and TCP", k);
	}
	cr_assert_eq(k, n, "the kernel cuts %d segments, not %d", k, n);
}

static void finish_and_compare(int first, int n)
{
	struct virtio_net_hdr vh;
	size_t len = us_gso_finish(&B, &vh);
	cr_assert_eq(B.len, 0, "finishing empties the batch");
	cr_assert_eq(vh.gso_type, n > 1 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE);
	if (n > 1)
		cr_assert_eq(vh.gso_size, seglen[first] - 52);
	cr_assert_eq(vh.hdr_len, 52, "IPv4 + TCP with timestamps");
	cut_and_compare(B.buf, len, &vh, first, n);
}

Test(gso, full_segments_join_and_the_kernel_cuts_them_back)
{
	B.len = 0;
	uint32_t seq = 1000;
	for (int i = 0; i < 5; i++) {
		mkseg(i, seq, USTACK_TCP_ACK | (i == 4 ? USTACK_TCP_PSH : 0), i == 4 ? 700 : MSS, 77);
		cr_assert(offer(i), "segment %d joins", i);
		seq += i == 4 ? 700 : MSS;
	}
	cr_assert_eq(B.nsegs, 5);
	mkseg(5, seq, USTACK_TCP_ACK, MSS, 77);
	cr_assert_not(offer(5), "nothing follows a segment with PSH");
	finish_and_compare(0, 5);
}

Test(gso, a_short_segment_ends_the_frame_and_fin_rides_last)
{
	B.len = 0;
	mkseg(0, 1000, USTACK_TCP_ACK, MSS, 5);
	mkseg(1, 1000 + MSS, USTACK_TCP_ACK | USTACK_TCP_FIN, 100, 5);
	mkseg(2, 1000 + MSS + 101, USTACK_TCP_ACK, 10, 5);
	cr_assert(offer(0));
	cr_assert(offer(1));
	cr_assert_not(offer(2), "nothing follows a short segment");
	finish_and_compare(0, 2);
	mkseg(3, 5000, USTACK_TCP_ACK, 500, 5);
	mkseg(4, 5500, USTACK_TCP_ACK, 501, 5);
	cr_assert(offer(3));
	cr_assert_not(offer(4), "a segment longer than the first would be cut in two");
	finish_and_compare(3, 1);
}

Test(gso, a_frame_stops_below_64k)
{
	B.len = 0;
	uint32_t seq = 1000;
	int i = 0;
	while (i < MAXSEG) {
		mkseg(i, seq, USTACK_TCP_ACK, MSS, 1);
		if (!offer(i))
			break;
		seq += MSS;
		i++;
	}
	cr_assert_eq(i, (65535 - 52) / MSS, "%d segments of %d bytes fit", i, MSS);
	cr_assert_leq(B.len, 65535);
	finish_and_compare(0, i);
	cr_assert(offer(i), "the refused segment starts the next frame");
}

/* Each case: a first segment that joins, then one that must not. */
Test(gso, segments_the_kernel_would_not_rebuild_stay_apart)
{
	struct {
		const char *why;
		uint32_t seq;
		uint8_t flags;
		uint32_t tsval;
		int tweak; /* 1 other ACK, 2 other window, 3 other port, 4 TOS, 5 TTL */
	} c[] = {
		{ "a gap in sequence", 1000 + MSS + 1, USTACK_TCP_ACK, 1, 0 },
		{ "other timestamps", 1000 + MSS, USTACK_TCP_ACK, 2, 0 },
		{ "another ACK", 1000 + MSS, USTACK_TCP_ACK, 1, 1 },
		{ "another window", 1000 + MSS, USTACK_TCP_ACK, 1, 2 },
		{ "another connection", 1000 + MSS, USTACK_TCP_ACK, 1, 3 },
		{ "another TOS", 1000 + MSS, USTACK_TCP_ACK, 1, 4 },
		{ "another TTL", 1000 + MSS, USTACK_TCP_ACK, 1, 5 },
		{ "URG", 1000 + MSS, USTACK_TCP_ACK | USTACK_TCP_URG, 1, 0 },
		{ "RST", 1000 + MSS, USTACK_TCP_ACK | USTACK_TCP_RST, 1, 0 },
		{ "no ACK", 1000 + MSS, 0, 1, 0 },
	};
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		B.len = 0;
		mkseg(0, 1000, USTACK_TCP_ACK, MSS, 1);
		cr_assert(offer(0));
		mkseg(1, c[k].seq, c[k].flags, MSS, c[k].tsval);
		uint8_t *p = segs[1];
		if (c[k].tweak == 1)
			us_put32(p + 28, 5001);
		if (c[k].tweak == 2)
			us_put16(p + 34, 513);
		if (c[k].tweak == 3)
			us_put16(p + 20, 4001);
		if (c[k].tweak == 4)
			p[1] = 0x10;
		if (c[k].tweak == 5)
			p[8] = 63;
		cr_assert_not(offer(1), "%s joined", c[k].why);
		cr_assert_eq(B.nsegs, 1);
	}
}

Test(gso, only_tcp_data_starts_a_frame)
{
	B.len = 0;
	mkseg(0, 1000, USTACK_TCP_ACK, 0, 1);
	cr_assert_not(offer(0), "a pure ACK");
	mkseg(1, 1000, USTACK_TCP_SYN, 0, 1);
	cr_assert_not(offer(1), "a SYN");
	mkseg(2, 1000, USTACK_TCP_SYN | USTACK_TCP_ACK, 10, 1);
	cr_assert_not(offer(2), "a SYN with data");
	uint8_t u[128];
	size_t n = t_build_udp(u, SRC, DST, 53, 53, "x", 1);
	struct iovec iov = { u, n };
	cr_assert_not(us_gso_add(&B, &iov, 1, n), "UDP");
	mkseg(3, 1000, USTACK_TCP_ACK, 100, 1);
	segs[3][6] = 0x20; /* MF */
	cr_assert_not(offer(3), "a fragment");
	mkseg(4, 1000, USTACK_TCP_ACK, 100, 1);
	iov = (struct iovec){ segs[4], seglen[4] };
	cr_assert_not(us_gso_add(&B, &iov, 1, seglen[4] + 1), "a length that is not the packet's");
	cr_assert_eq(B.len, 0);
}

Test(gso, a_segment_alone_gets_the_partial_sum)
{
	mkseg(0, 1000, USTACK_TCP_ACK, 0, 1);
	uint8_t p[128];
	memcpy(p, segs[0], seglen[0]);
	struct virtio_net_hdr vh;
	us_gso_single(p, seglen[0], &vh);
	cr_assert_eq(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	cr_assert_eq(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	cr_assert_eq(vh.csum_start, 20);
	cr_assert_eq(vh.csum_offset, 16);
	/* The device's part: sum from csum_start, field included. */
	uint16_t c = us_csum_fold(us_csum_add(0, p + 20, seglen[0] - 20));
	memcpy(p + 36, &c, 2);
	cr_assert_eq(memcmp(p, segs[0], seglen[0]), 0, "finished, it is the stack's segment");
	uint8_t u[128];
	size_t n = t_build_udp(u, SRC, DST, 53, 53, "x", 1);
	memcpy(p, u, n);
	us_gso_single(p, n, &vh);
	cr_assert_eq(vh.flags, 0, "UDP keeps its own checksum");
	cr_assert_eq(memcmp(p, u, n), 0);
}

Test(gso, nothing_follows_push_even_at_full_size)
{
	B.len = 0;
	mkseg(0, 1000, USTACK_TCP_ACK, MSS, 1);
	mkseg(1, 1000 + MSS, USTACK_TCP_ACK | USTACK_TCP_PSH, MSS, 1);
	mkseg(2, 1000 + 2 * MSS, USTACK_TCP_ACK, MSS, 1);
	cr_assert(offer(0));
	cr_assert(offer(1));
	cr_assert_not(offer(2), "the kernel would move PSH to the frame's last segment");
	finish_and_compare(0, 2);
}
