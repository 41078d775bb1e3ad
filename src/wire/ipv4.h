/*
 * IPv4 header (RFC 791 section 3.1): parse with full validation, and build.
 * Nothing here knows about stacks or connections.
 */
#ifndef US_WIRE_IPV4_H
#define US_WIRE_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/ustack.h>

#define US_IPV4_HDR_MIN 20
#define US_IP_PROTO_ICMP 1
#define US_IP_PROTO_TCP 6
#define US_IP_PROTO_UDP 17

#define US_IPV4_DF 0x4000
#define US_IPV4_MF 0x2000
#define US_IPV4_OFFMASK 0x1fff

struct us_ipv4 {
	uint8_t hdr_len; /* bytes, options included */
	uint8_t tos;
	uint16_t total_len;
	uint16_t id;
	uint16_t frag; /* flags and fragment offset, as in the header */
	uint8_t ttl;
	uint8_t proto;
	uint32_t src, dst; /* host byte order */
	const uint8_t *payload;
	size_t payload_len; /* total_len - hdr_len: padding after total_len is ignored */
};

/*
 * Validates and decodes the header of the packet in buf[0..len). Returns 0,
 * or the USTACK_STAT_DROP_IP_* reason: truncated (len < 20), version (not 4),
 * header length (IHL < 5 or past len), total length (below IHL or past len),
 * checksum (only when verify_csum).
 */
int us_ipv4_parse(const uint8_t *buf, size_t len, bool verify_csum, struct us_ipv4 *out);

/* Writes a 20-byte header (no options) for ip, with total length
 * 20 + payload_len and its checksum. Returns 20. */
size_t us_ipv4_build(uint8_t *buf, const struct us_ipv4 *ip, size_t payload_len);

#endif
