/*
 * The Internet checksum (RFC 1071), the one routine every layer uses.
 *
 * Sums are kept as 64-bit accumulators of 16-bit words read in memory order,
 * so the result is correct on either byte order (RFC 1071 section 2(B)) and
 * can be written to the header without a byte swap. A buffer split in pieces
 * sums piece by piece; a piece that starts at an odd offset of the whole is
 * combined with us_csum_add_at.
 */
#ifndef US_WIRE_CHECKSUM_H
#define US_WIRE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Adds len bytes at p to acc, as if p started at an even offset. */
uint64_t us_csum_add(uint64_t acc, const void *p, size_t len);

/* Adds len bytes at p that sit at byte offset `off` of the checksummed whole. */
uint64_t us_csum_add_at(uint64_t acc, const void *p, size_t len, size_t off);

/* Folds an accumulator to 16 bits and complements it: the value to store in
 * a header (in memory order), or 0 when verifying a correct packet. */
uint16_t us_csum_fold(uint64_t acc);

/* The checksum of an IPv4 header (len a multiple of 4, at most 60): the
 * same as us_csum_fold(us_csum_add(0, p, len)), inline, its 32-bit words
 * summed without carries (they cannot overflow 64 bits). Every packet in
 * and out sums one. */
static inline uint16_t us_csum_hdr(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t acc = 0;
	uint32_t w;

	for (size_t i = 0; i < len; i += 4) {
		memcpy(&w, b + i, 4);
		acc += w;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffu) + (acc >> 16);
	acc = (acc & 0xffffu) + (acc >> 16);
	acc = (acc & 0xffffu) + (acc >> 16);
	return (uint16_t)~acc;
}

/* The pseudo-header of TCP and UDP over IPv4 (RFC 9293 3.1): addresses in
 * host byte order, length of the transport header plus payload. */
uint64_t us_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

#endif
