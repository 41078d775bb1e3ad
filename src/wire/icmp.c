/*
 * ICMP message parse and build (RFC 792), and the quoted datagram of an
 * error message.
 *
 * The checksum covers the whole message with no pseudo-header (RFC 792).
 * The body of a message the stack sends is gathered from pieces that stay
 * where they are (the datagram being answered, or an echo's data), so the
 * checksum is summed piece by piece, each at its offset in the message.
 */
#include "wire/icmp.h"

#include "wire/checksum.h"
#include "wire/bytes.h"

#include <string.h>

int us_icmp_parse(const uint8_t *buf, size_t len, bool verify_csum, struct us_icmp *out)
{
	if (len < US_ICMP_HDR_LEN)
		return USTACK_STAT_DROP_ICMP_TRUNCATED;
	/* RFC 792: the checksum is of the ICMP message starting with the
	 * type; RFC 1122 3.2.2: a message that fails it is discarded. */
	if (verify_csum && us_csum_fold(us_csum_add(0, buf, len)) != 0)
		return USTACK_STAT_DROP_ICMP_CHECKSUM;
	out->type = buf[0];
	out->code = buf[1];
	out->rest = us_get32(buf + 4);
	out->data = buf + US_ICMP_HDR_LEN;
	out->data_len = len - US_ICMP_HDR_LEN;
	return 0;
}

size_t us_icmp_build(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const struct iovec *data,
		     int ndata)
{
	uint16_t csum;
	size_t off = US_ICMP_HDR_LEN;

	buf[0] = type;
	buf[1] = code;
	buf[2] = buf[3] = 0;
	us_put32(buf + 4, rest);
	uint64_t acc = us_csum_add(0, buf, US_ICMP_HDR_LEN);
	for (int i = 0; i < ndata; i++) {
		acc = us_csum_add_at(acc, data[i].iov_base, data[i].iov_len, off);
		off += data[i].iov_len;
	}
	csum = us_csum_fold(acc);
	memcpy(buf + 2, &csum, sizeof(csum));
	return US_ICMP_HDR_LEN;
}

bool us_icmp_type_is_error(uint8_t type)
{
	switch (type) {
	case US_ICMP_ECHO_REPLY:
	case US_ICMP_ECHO:
	case 9:  /* router advertisement (RFC 1256) */
	case 10: /* router solicitation */
	case 13: /* timestamp */
	case 14: /* timestamp reply */
	case 15: /* information request */
	case 16: /* information reply */
	case 17: /* address mask request (RFC 950) */
	case 18: /* address mask reply */
		return false;
	default:
		/* 3, 4, 5, 11, 12 report errors; anything above 18 is unknown,
		 * and Linux (icmp_send) treats it as one. */
		return true;
	}
}

int us_icmp_quote_parse(const uint8_t *data, size_t len, struct us_icmp_quote *q)
{
	if (len < US_IPV4_HDR_MIN || data[0] >> 4 != 4)
		return USTACK_STAT_DROP_ICMP_BAD_QUOTE;
	size_t hlen = (size_t)(data[0] & 0x0f) * 4;
	/* RFC 792: the internet header plus the first 64 bits of the
	 * original datagram's data. */
	if (hlen < US_IPV4_HDR_MIN || hlen + 8 > len)
		return USTACK_STAT_DROP_ICMP_BAD_QUOTE;
	if (us_get16(data + 6) & US_IPV4_OFFMASK)
		return USTACK_STAT_DROP_ICMP_BAD_QUOTE;
	const uint8_t *th = data + hlen;
	q->hdr_len = (uint8_t)hlen;
	q->proto = data[9];
	q->src = us_get32(data + 12);
	q->dst = us_get32(data + 16);
	q->sport = us_get16(th);
	q->dport = us_get16(th + 2);
	q->seq = us_get32(th + 4);
	return 0;
}
