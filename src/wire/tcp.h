/*
 * TCP header and options (RFC 9293 section 3.1, RFC 7323, RFC 2018): parse
 * with full validation, and build. Nothing here knows about connections.
 */
#ifndef US_WIRE_TCP_H
#define US_WIRE_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/trace.h>

#define US_TCP_HDR_MIN 20
#define US_TCP_HDR_MAX 60
#define US_TCP_OPT_SPACE 40

#define US_TCPOPT_EOL 0
#define US_TCPOPT_NOP 1
#define US_TCPOPT_MSS 2
#define US_TCPOPT_WSCALE 3
#define US_TCPOPT_SACK_PERM 4
#define US_TCPOPT_SACK 5
#define US_TCPOPT_TS 8

/* A decoded segment. The public struct ustack_tcp_segment carries the
 * header fields; payload points into the packet. */
struct us_tcp {
	struct ustack_tcp_segment h;
	uint8_t hdr_len; /* bytes, options included */
	const uint8_t *payload;
};

/*
 * Validates and decodes the segment in buf[0..len) (the IP payload).
 * saddr/daddr (host order) go into h and, when verify_csum, into the
 * pseudo-header checksum. Returns 0 or a USTACK_STAT_DROP_TCP_* reason:
 * truncated (len < 20), data offset small (< 5), data offset past end,
 * checksum, option length (an option length of 0 or 1), option overrun (an
 * option running past the header), option size (a known option with the
 * wrong length, e.g. MSS not 4, or SACK not 2+8n). Unknown options are
 * skipped by their length; EOL ends the list. Port 0 is left for the caller.
 * A window scale above 14 is clamped to 14 (RFC 7323 2.3). Once len >= 20,
 * out->h holds the fixed header fields even when a later check fails, so a
 * drop can be traced with its ports.
 */
int us_tcp_parse(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr, bool verify_csum,
		 struct us_tcp *out);

/*
 * Writes options in Linux's order and padding into buf (at most 40 bytes)
 * and returns their length, a multiple of 4. For a SYN Linux writes
 * MSS, SACK-permitted, timestamps, NOP, window scale (with NOP,NOP in place of
 * missing SACK-permitted; NOP,NOP,SACK-permitted in place of missing
 * timestamps); on other segments NOP,NOP,timestamps then NOP,NOP,SACK blocks.
 */
size_t us_tcp_options_build(uint8_t *buf, const struct ustack_tcp_options *opt, bool syn);

/*
 * Writes the header of seg (ports, seq, ack, flags, window, urgent) followed
 * by its options, leaving the checksum 0. Returns the header length.
 */
size_t us_tcp_build(uint8_t *buf, const struct ustack_tcp_segment *seg);

#endif
