/*
 * IPv4 header parse and build (RFC 791 3.1).
 *
 * Fields are read and written a byte at a time with shifts, which is
 * alignment-safe and byte-order-neutral; the header is twenty bytes, so
 * there is nothing to gain from wider access. Parsing checks each length
 * against what was actually received before it reads any byte that length
 * covers, so no input, however malformed, is read past its end.
 */
#include "wire/ipv4.h"

#include "wire/checksum.h"
#include "wire/bytes.h"

#include <string.h>

int us_ipv4_parse(const uint8_t *buf, size_t len, bool verify_csum, struct us_ipv4 *out)
{
	size_t hlen, tlen;

	if (len < US_IPV4_HDR_MIN)
		return USTACK_STAT_DROP_IP_TRUNCATED;
	/* RFC 1122 3.2.1.1: a datagram whose version is not 4 is discarded. */
	if (buf[0] >> 4 != 4)
		return USTACK_STAT_DROP_IP_VERSION;
	/* RFC 791 3.1: IHL counts 32-bit words and is at least 5. */
	hlen = (size_t)(buf[0] & 0x0f) * 4;
	if (hlen < US_IPV4_HDR_MIN || hlen > len)
		return USTACK_STAT_DROP_IP_HDR_LEN;
	/* The link layer may pad a short frame; the total length says where the
	 * datagram really ends, and it cannot end inside its own header. */
	tlen = us_get16(buf + 2);
	if (tlen < hlen || tlen > len)
		return USTACK_STAT_DROP_IP_TOTAL_LEN;
	/* RFC 1122 3.2.1.2: a datagram with a bad header checksum is discarded
	 * silently. Options are covered too. */
	if (verify_csum && us_csum_hdr(buf, hlen) != 0)
		return USTACK_STAT_DROP_IP_CHECKSUM;

	out->hdr_len = (uint8_t)hlen;
	out->tos = buf[1];
	out->total_len = (uint16_t)tlen;
	out->id = us_get16(buf + 4);
	out->frag = us_get16(buf + 6);
	out->ttl = buf[8];
	out->proto = buf[9];
	out->src = us_get32(buf + 12);
	out->dst = us_get32(buf + 16);
	out->payload = buf + hlen;
	out->payload_len = tlen - hlen;
	return 0;
}

size_t us_ipv4_build(uint8_t *buf, const struct us_ipv4 *ip, size_t payload_len)
{
	uint16_t csum;

	buf[0] = 4 << 4 | US_IPV4_HDR_MIN / 4;
	buf[1] = ip->tos;
	us_put16(buf + 2, (uint16_t)(US_IPV4_HDR_MIN + payload_len));
	us_put16(buf + 4, ip->id);
	us_put16(buf + 6, ip->frag);
	buf[8] = ip->ttl;
	buf[9] = ip->proto;
	us_put16(buf + 10, 0);
	us_put32(buf + 12, ip->src);
	us_put32(buf + 16, ip->dst);
	/* us_csum_fold gives the checksum in memory order: store it as is. */
	csum = us_csum_hdr(buf, US_IPV4_HDR_MIN);
	memcpy(buf + 10, &csum, sizeof(csum));
	return US_IPV4_HDR_MIN;
}
