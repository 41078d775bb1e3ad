/*
 * ICMP for IPv4 (RFC 792): parse with full validation, build with the
 * checksum, and read the datagram an error message quotes. Nothing here
 * knows about stacks or sockets.
 */
#ifndef US_WIRE_ICMP_H
#define US_WIRE_ICMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ustack/ustack.h>

#include "wire/ipv4.h"

#define US_ICMP_HDR_LEN 8

/* Types (RFC 792; RFC 6918 retired most of the others). */
#define US_ICMP_ECHO_REPLY 0
#define US_ICMP_DEST_UNREACH 3
#define US_ICMP_SOURCE_QUENCH 4
#define US_ICMP_REDIRECT 5
#define US_ICMP_ECHO 8
#define US_ICMP_TIME_EXCEEDED 11
#define US_ICMP_PARAMETER_PROB 12

/* Destination unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1). */
#define US_ICMP_NET_UNREACH 0
#define US_ICMP_HOST_UNREACH 1
#define US_ICMP_PROTO_UNREACH 2
#define US_ICMP_PORT_UNREACH 3
#define US_ICMP_FRAG_NEEDED 4
#define US_ICMP_UNREACH_MAX 15

/* Time exceeded codes. */
#define US_ICMP_EXC_TTL 0
#define US_ICMP_EXC_FRAGTIME 1

struct us_icmp {
	uint8_t type, code;
	/* Bytes 4 to 7: identifier and sequence number (echo), pointer
	 * (parameter problem), next-hop MTU (RFC 1191), or unused. */
	uint32_t rest;
	const uint8_t *data; /* what follows the 8-byte header */
	size_t data_len;
};

/*
 * Validates and decodes the message in buf[0..len) (the IP payload).
 * Returns 0 or a USTACK_STAT_DROP_ICMP_* reason: truncated (len < 8),
 * checksum (over the whole message, when verify_csum).
 */
int us_icmp_parse(const uint8_t *buf, size_t len, bool verify_csum, struct us_icmp *out);

/*
 * Writes the 8-byte header of a message whose body is the ndata pieces at
 * data (laid end to end), with the checksum over header and body. The body
 * is not copied. Returns 8.
 */
size_t us_icmp_build(uint8_t *buf, uint8_t type, uint8_t code, uint32_t rest, const struct iovec *data,
		     int ndata);

/* Whether a message of this type reports an error (RFC 1122 3.2.2: no
 * error is ever sent about one). Unknown types count as errors, as in
 * Linux, so that nothing is sent about what cannot be understood. */
bool us_icmp_type_is_error(uint8_t type);

/* The datagram an error message quotes (RFC 792): its IP header and the
 * first 8 bytes of its transport header, which hold the ports of TCP and
 * UDP and TCP's sequence number. */
struct us_icmp_quote {
	uint32_t src, dst; /* host order */
	uint8_t proto;
	uint8_t hdr_len;
	uint16_t sport, dport;
	uint32_t seq; /* TCP's: bytes 4 to 7 of the transport header */
};

/*
 * Validates and decodes the quote in an error message's body. Returns 0 or
 * USTACK_STAT_DROP_ICMP_BAD_QUOTE: fewer than 20 bytes, version not 4, an
 * IHL below 5, less than the header and 8 more bytes quoted, or a quoted
 * fragment other than the first (its 8 bytes are not a transport header).
 * The quoted total length and checksum are not checked: routers quote
 * datagrams as they saw them, and the quote is cut short on purpose.
 */
int us_icmp_quote_parse(const uint8_t *data, size_t len, struct us_icmp_quote *q);

#endif
