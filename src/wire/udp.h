/*
 * UDP header (RFC 768): parse with full validation, and build. Nothing here
 * knows about sockets.
 */
#ifndef US_WIRE_UDP_H
#define US_WIRE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/ustack.h>

#define US_UDP_HDR_LEN 8
/* The largest payload: what a 65535-byte IPv4 datagram with a 20-byte
 * header leaves after the UDP header. */
#define US_UDP_MAX_PAYLOAD (65535 - 20 - US_UDP_HDR_LEN)

struct us_udp {
	uint16_t sport, dport;
	uint16_t len;  /* the header's length field: header plus payload */
	uint16_t csum; /* as carried, in memory order; 0 means none was sent */
	const uint8_t *payload;
	size_t payload_len; /* len - 8: bytes after the UDP length are ignored */
};

/*
 * Validates and decodes the datagram in buf[0..len) (the IP payload).
 * saddr/daddr (host order) enter the pseudo-header when verify_csum. Returns
 * 0 or a USTACK_STAT_DROP_UDP_* reason: truncated (len < 8), length (the
 * length field below 8 or past len), checksum (a non-zero checksum that does
 * not verify; zero means the sender computed none, RFC 768).
 */
int us_udp_parse(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr, bool verify_csum,
		 struct us_udp *out);

/*
 * Writes the 8-byte header for a datagram of plen payload bytes at payload,
 * with its checksum over the pseudo-header, header and payload. A checksum
 * that computes to zero is sent as 0xffff (RFC 768), since zero on the wire
 * means "none". Returns 8.
 */
size_t us_udp_build(uint8_t *buf, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport,
		    const void *payload, size_t plen);

#endif
