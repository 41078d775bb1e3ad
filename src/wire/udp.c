/*
 * UDP header parse and build (RFC 768, RFC 1122 4.1.3).
 *
 * The length field, not the IP payload length, says where the datagram
 * ends: bytes after it are padding (Linux trims to it too). A length past
 * the IP payload means a datagram cut short, and is refused before any byte
 * it claims is read.
 */
#include "wire/udp.h"

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/bytes.h"

#include <string.h>

int us_udp_parse(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr, bool verify_csum,
		 struct us_udp *out)
{
	size_t ulen;

	if (len < US_UDP_HDR_LEN)
		return USTACK_STAT_DROP_UDP_TRUNCATED;
	ulen = us_get16(buf + 4);
	if (ulen < US_UDP_HDR_LEN || ulen > len)
		return USTACK_STAT_DROP_UDP_LENGTH;
	memcpy(&out->csum, buf + 6, sizeof(out->csum));
	/* RFC 1122 4.1.3.4: a checksum that was sent MUST be verified; RFC 768:
	 * an all-zero field means the sender generated none. */
	if (verify_csum && out->csum != 0) {
		uint64_t acc = us_csum_pseudo(saddr, daddr, US_IP_PROTO_UDP, (uint16_t)ulen);
		if (us_csum_fold(us_csum_add(acc, buf, ulen)) != 0)
			return USTACK_STAT_DROP_UDP_CHECKSUM;
	}
	out->sport = us_get16(buf);
	out->dport = us_get16(buf + 2);
	out->len = (uint16_t)ulen;
	out->payload = buf + US_UDP_HDR_LEN;
	out->payload_len = ulen - US_UDP_HDR_LEN;
	return 0;
}

size_t us_udp_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
		    const void *payload, size_t plen)
{
	uint16_t ulen = (uint16_t)(US_UDP_HDR_LEN + plen);
	uint16_t csum;

	us_put16(buf, sport);
	us_put16(buf + 2, dport);
	us_put16(buf + 4, ulen);
	us_put16(buf + 6, 0);
	uint64_t acc = us_csum_pseudo(saddr, daddr, US_IP_PROTO_UDP, ulen);
	acc = us_csum_add(acc, buf, US_UDP_HDR_LEN);
	/* The header is 8 bytes, so the payload starts at an even offset. */
	acc = us_csum_add(acc, payload, plen);
	csum = us_csum_fold(acc);
	/* RFC 768: a computed zero is sent as all ones, its other
	 * one's-complement form, because zero on the wire means "no
	 * checksum". 0xffff reads the same in either byte order. */
	if (csum == 0)
		csum = 0xffff;
	memcpy(buf + 6, &csum, sizeof(csum));
	return US_UDP_HDR_LEN;
}
