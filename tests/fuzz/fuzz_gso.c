/*
 * libFuzzer target: the TUN driver's segmentation offload (src/link/gso.c),
 * with the kernel as the oracle. The input describes a run of TCP
 * segments (lengths, flags, sequence gaps, changed fields and options,
 * how the gather list is split); they are offered to a batch in order, as
 * the stack would send them. Whenever a frame is finished it is cut as
 * Linux's tcp_gso_segment cuts it, and every piece must be, byte for byte
 * outside the IPv4 identification and checksum, a segment that was
 * offered; together, all the segments that joined, in order. The raw
 * input is also handed to us_gso_single, which must stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link/gso.h"
#include "wire/bytes.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXSEGS 64
#define SRC 0xc6120002u
#define DST 0xc6120001u

static struct us_gso_batch B;
static uint8_t seg[MAXSEGS][1600];
static size_t seglen[MAXSEGS];
static int first, njoined; /* the segments in the batch: seg[first..first+njoined) */

static void check(int ok)
{
	if (!ok)
		abort();
}

/* One segment from 6 input bytes; returns its length. */
static size_t build(uint8_t *p, const uint8_t *d, uint32_t *seq)
{
	static const uint8_t flag_sets[8] = { 0x10, 0x18, 0x11, 0x19, 0x10, 0x12, 0x14, 0x30 };
	uint8_t fl = flag_sets[d[0] & 7];
	size_t len = ((size_t)d[1] << 8 | d[2]) % 1461;
	if (d[0] & 0x80)
		len = 1448; /* full segments most of the time */
	uint32_t s = *seq + ((d[3] & 0xf0) == 0xf0 ? d[3] & 0x0f : 0);
	struct ustack_tcp_segment h = {
		.saddr = SRC, .daddr = DST, .sport = 4000, .dport = 80, .seq = s, .ack = 5000, .window = 512,
		.flags = fl, .len = (uint32_t)len,
	};
	uint8_t tw = d[4];
	if (tw == 1)
		h.ack++;
	if (tw == 2)
		h.window++;
	if (tw == 3)
		h.sport++;
	if (tw == 4)
		h.urgent = 1;
	if (!(d[0] & 0x40)) {
		h.opt.present = USTACK_OPT_TS;
		h.opt.ts_val = tw == 5 ? 8 : 7;
		h.opt.ts_ecr = 99;
	}
	if (tw == 6) {
		h.opt.present |= USTACK_OPT_SACK;
		h.opt.nsack = 1;
		h.opt.sack[0].left = 1;
		h.opt.sack[0].right = 2;
	}
	uint8_t *th = p + US_IPV4_HDR_MIN;
	size_t hl = us_tcp_build(th, &h);
	for (size_t k = 0; k < len; k++)
		th[hl + k] = (uint8_t)(s + k);
	uint64_t acc = us_csum_pseudo(SRC, DST, US_IP_PROTO_TCP, (uint16_t)(hl + len));
	uint16_t c = us_csum_fold(us_csum_add(acc, th, hl + len));
	memcpy(th + 16, &c, 2);
	struct us_ipv4 ip = { .ttl = tw == 7 ? 63 : 64, .tos = tw == 8 ? 0x10 : 0, .proto = US_IP_PROTO_TCP,
			      .src = SRC, .dst = DST, .frag = tw == 9 ? US_IPV4_MF : US_IPV4_DF, .id = (uint16_t)s };
	us_ipv4_build(p, &ip, hl + len);
	*seq = s + (uint32_t)len;
	return US_IPV4_HDR_MIN + hl + len;
}

/* The kernel's side: cut the frame and compare the pieces with the
 * segments that joined. */
static void finish_and_check(void)
{
	if (!B.len) {
		check(njoined == 0);
		return;
	}
	int n = B.nsegs;
	check(n == njoined && n >= 1);
	struct virtio_net_hdr vh;
	size_t len = us_gso_finish(&B, &vh);
	const uint8_t *f = B.buf;
	size_t hl = vh.hdr_len;
	check(vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && vh.csum_start == 20 && vh.csum_offset == 16);
	check(len <= US_GSO_MAX && us_get16(f + 2) == len && us_csum_hdr(f, 20) == 0);
	check((vh.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) == (n > 1));
	size_t size = n > 1 ? vh.gso_size : len - hl;
	check(size > 0);
	int k = 0;
	for (size_t off = hl; off < len; off += size, k++) {
		check(k < n);
		size_t d = len - off < size ? len - off : size;
		uint8_t p[1600];
		check(hl + d <= sizeof(p));
		memcpy(p, f, hl);
		memcpy(p + hl, f + off, d);
		us_put16(p + 2, (uint16_t)(hl + d));
		us_put32(p + 24, us_get32(f + 24) + (uint32_t)(off - hl));
		if (off + d < len)
			p[33] &= (uint8_t)~0x09; /* PSH and FIN ride the last piece */
		memset(p + 36, 0, 2);
		uint64_t acc = us_csum_pseudo(SRC, DST, US_IP_PROTO_TCP, (uint16_t)(hl - 20 + d));
		uint16_t c = us_csum_fold(us_csum_add(acc, p + 20, hl - 20 + d));
		memcpy(p + 36, &c, 2);
		const uint8_t *o = seg[first + k];
		check(hl + d == seglen[first + k]);
		check(!memcmp(p, o, 4) && !memcmp(p + 6, o + 6, 4) && !memcmp(p + 12, o + 12, hl + d - 12));
	}
	check(k == n && B.len == 0);
	njoined = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t raw[US_GSO_MAX];
	size_t rl = size < sizeof(raw) ? size : sizeof(raw);
	memcpy(raw, data, rl);
	struct virtio_net_hdr vh;
	us_gso_single(raw, rl, &vh);

	B.len = 0;
	first = 0;
	njoined = 0;
	uint32_t seq = 1000;
	int i = 0;
	for (; i < MAXSEGS && size >= 6; i++, data += 6, size -= 6) {
		seglen[i] = build(seg[i], data, &seq);
		size_t n = seglen[i], a = data[5] % (n + 1), b = a + (n - a) / 2;
		struct iovec iov[3] = { { seg[i], a }, { seg[i] + a, b - a }, { seg[i] + b, n - b } };
		if (us_gso_add(&B, iov, 3, n)) {
			if (njoined == 0)
				first = i;
			njoined++;
			continue;
		}
		finish_and_check();
		if (us_gso_add(&B, iov, 3, n)) {
			first = i;
			njoined = 1;
		}
	}
	finish_and_check();
	return 0;
}
