/*
 * Joining the stack's TCP segments into frames the kernel cuts back
 * (gso.h).
 */
#include <string.h>

#include "link/gso.h"
#include "wire/bytes.h"
#include "wire/checksum.h"

#define IPH 20u
#define TCP_FIN 0x01u
#define TCP_PSH 0x08u
#define TCP_ACK 0x10u

size_t us_iov_gather(uint8_t *dst, size_t n, const struct iovec *iov, int iovcnt)
{
	size_t got = 0;
	for (int i = 0; i < iovcnt && got < n; i++) {
		size_t k = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;
		memcpy(dst + got, iov[i].iov_base, k);
		got += k;
	}
	return got;
}

/* Copies bytes [from, len) of a gather list to dst. */
static void gather_from(uint8_t *dst, size_t from, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		size_t l = iov[i].iov_len;
		if (from >= l) {
			from -= l;
			continue;
		}
		memcpy(dst, (const uint8_t *)iov[i].iov_base + from, l - from);
		dst += l - from;
		from = 0;
	}
}

/*
 * Whether h (len bytes in all) is a TCP segment with data that a batch can
 * carry: IPv4 without options (the kernel copies the first header to every
 * segment it cuts), not a fragment, flags ACK with at most PSH or FIN (SYN,
 * RST and URG go alone; CWR and ECE would be rewritten per segment). Sets
 * *hlen to the two headers' length.
 */
static bool batchable(const uint8_t *h, size_t got, size_t len, uint16_t *hlen)
{
	if (got < IPH + 20 || h[0] != 0x45 || h[9] != 6 || (us_get16(h + 6) & 0x3fff) || us_get16(h + 2) != len)
		return false;
	size_t hl = IPH + (size_t)(h[32] >> 4) * 4;
	uint8_t fl = h[33];
	if (hl < IPH + 20 || hl > got || hl >= len || (fl & ~(TCP_ACK | TCP_PSH | TCP_FIN)) || !(fl & TCP_ACK))
		return false;
	*hlen = (uint16_t)hl;
	return true;
}

/* Whether a segment with headers h may follow the batch's last one: every
 * header byte the kernel copies from the first segment to the others must
 * already be what this segment carries. */
static bool follows(const struct us_gso_batch *b, const uint8_t *h, uint16_t hlen)
{
	const uint8_t *f = b->buf;
	return hlen == b->hlen && f[1] == h[1] && !memcmp(f + 6, h + 6, 4) && !memcmp(f + 12, h + 12, 8) &&
	       !memcmp(f + 20, h + 20, 4) && us_get32(h + 24) == b->next_seq && !memcmp(f + 28, h + 28, 5) &&
	       !memcmp(f + 34, h + 34, 2) && !memcmp(f + 38, h + 38, (size_t)hlen - 38);
}

bool us_gso_add(struct us_gso_batch *b, const struct iovec *iov, int iovcnt, size_t len)
{
	uint8_t h[US_GSO_HDR_MAX];
	uint16_t hlen;
	if (len > US_GSO_MAX)
		return false;
	size_t got = us_iov_gather(h, sizeof(h), iov, iovcnt);
	if (!batchable(h, got, len, &hlen))
		return false;
	size_t data = len - hlen;
	uint8_t fl = h[33];
	if (b->len == 0) {
		memcpy(b->buf, h, hlen);
		b->hlen = hlen;
		b->gso_size = (uint16_t)data;
		b->nsegs = 0;
		b->len = hlen;
	} else if (b->closed || data > b->gso_size || b->len + data > US_GSO_MAX || !follows(b, h, hlen)) {
		return false;
	}
	gather_from(b->buf + b->len, hlen, iov, iovcnt);
	b->len += data;
	b->nsegs++;
	b->flags = fl;
	b->next_seq = us_get32(h + 24) + (uint32_t)data;
	/* The kernel gives PSH and FIN to the last segment it cuts, and
	 * cuts every one but the last at gso_size. */
	b->closed = (fl & (TCP_PSH | TCP_FIN)) || data < b->gso_size;
	return true;
}

/* The pseudo-header's sum, not complemented, as Linux leaves it in a
 * CHECKSUM_PARTIAL segment for the device to finish. */
static void partial_csum(uint8_t *pkt, size_t ihl, size_t len)
{
	uint64_t acc = us_csum_pseudo(us_get32(pkt + 12), us_get32(pkt + 16), 6, (uint16_t)(len - ihl));
	uint16_t c = (uint16_t)~us_csum_fold(acc);
	memcpy(pkt + ihl + 16, &c, 2);
}

size_t us_gso_finish(struct us_gso_batch *b, struct virtio_net_hdr *vh)
{
	uint8_t *p = b->buf;
	size_t len = b->len;
	us_put16(p + 2, (uint16_t)len);
	us_put16(p + 10, 0);
	uint16_t c = us_csum_hdr(p, IPH);
	memcpy(p + 10, &c, 2);
	p[IPH + 13] = b->flags;
	partial_csum(p, IPH, len);
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->hdr_len = b->hlen;
	vh->csum_start = IPH;
	vh->csum_offset = 16;
	if (b->nsegs > 1) {
		vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		vh->gso_size = b->gso_size;
	}
	b->len = 0;
	return len;
}

void us_gso_single(uint8_t *pkt, size_t len, struct virtio_net_hdr *vh)
{
	memset(vh, 0, sizeof(*vh));
	if (len < IPH + 20 || (pkt[0] >> 4) != 4 || pkt[9] != 6 || (us_get16(pkt + 6) & 0x3fff))
		return;
	size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
	if (ihl < IPH || ihl + 20 > len)
		return;
	partial_csum(pkt, ihl, len);
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->hdr_len = (uint16_t)(ihl + (size_t)(pkt[ihl + 12] >> 4) * 4);
	vh->csum_start = (uint16_t)ihl;
	vh->csum_offset = 16;
}
