/*
 * The Internet checksum (RFC 1071).
 *
 * The one's complement sum does not care how wide the words are that it adds,
 * as long as the carries wrap around (RFC 1071 2(C)): a sum of 64-bit words
 * with end-around carry, folded to 16 bits at the end, equals the sum of the
 * 16-bit words. So the main loop reads eight bytes at a time (through memcpy,
 * which keeps it safe for any alignment and for strict aliasing, and compiles
 * to plain loads) and adds them with end-around carry, which can never
 * overflow however long the buffer or however large the incoming accumulator.
 *
 * Words are read in memory order, never byte-swapped: by RFC 1071 2(B) the
 * sum of byte-swapped words is the byte-swapped sum, so the folded result is
 * the checksum already in memory order on either byte order.
 */
#include "wire/checksum.h"

#include <string.h>

/* One's complement addition of 64-bit words: the carry out wraps around. */
static inline uint64_t add_carry(uint64_t acc, uint64_t v)
{
	acc += v;
	return acc + (acc < v);
}

/* Folds to 16 bits without complementing. */
static uint16_t fold16(uint64_t acc)
{
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	while (acc >> 16)
		acc = (acc & 0xffffu) + (acc >> 16);
	return (uint16_t)acc;
}

uint64_t us_csum_add(uint64_t acc, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t w0, w1, w2, w3;
	uint32_t w32;
	uint16_t w16;

	/* Four independent loads per iteration keep the loads ahead of the
	 * carry chain. */
	while (len >= 32) {
		memcpy(&w0, b, 8);
		memcpy(&w1, b + 8, 8);
		memcpy(&w2, b + 16, 8);
		memcpy(&w3, b + 24, 8);
		acc = add_carry(acc, w0);
		acc = add_carry(acc, w1);
		acc = add_carry(acc, w2);
		acc = add_carry(acc, w3);
		b += 32;
		len -= 32;
	}
	while (len >= 8) {
		memcpy(&w0, b, 8);
		acc = add_carry(acc, w0);
		b += 8;
		len -= 8;
	}
	/* Each narrower load still starts at an even offset, so its 16-bit
	 * words land whole in 16-bit lanes of the accumulator. */
	if (len >= 4) {
		memcpy(&w32, b, 4);
		acc = add_carry(acc, w32);
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&w16, b, 2);
		acc = add_carry(acc, w16);
		b += 2;
		len -= 2;
	}
	if (len) {
		/* RFC 1071 2: an odd last byte is padded with a zero byte after
		 * it; building the pair in memory keeps that byte-order neutral. */
		unsigned char pad[2] = {b[0], 0};

		memcpy(&w16, pad, 2);
		acc = add_carry(acc, w16);
	}
	return acc;
}

uint64_t us_csum_add_at(uint64_t acc, const void *p, size_t len, size_t off)
{
	uint16_t s;

	if (!(off & 1))
		return us_csum_add(acc, p, len);
	/* RFC 1071 2(B): a piece at an odd offset has its bytes in the other
	 * halves of the 16-bit words, so its sum, summed as if even, is added
	 * byte-swapped. */
	s = fold16(us_csum_add(0, p, len));
	return add_carry(acc, (uint16_t)((s >> 8) | (s << 8)));
}

uint16_t us_csum_fold(uint64_t acc)
{
	return (uint16_t)~fold16(acc);
}

uint64_t us_csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	/* RFC 9293 3.1: source, destination, zero, protocol, TCP length, laid
	 * out as on the wire so the sum is in the same memory order as the
	 * segment's. */
	unsigned char ph[12] = {
		(unsigned char)(src >> 24), (unsigned char)(src >> 16),
		(unsigned char)(src >> 8),  (unsigned char)src,
		(unsigned char)(dst >> 24), (unsigned char)(dst >> 16),
		(unsigned char)(dst >> 8),  (unsigned char)dst,
		0,                          proto,
		(unsigned char)(len >> 8),  (unsigned char)len,
	};

	return us_csum_add(0, ph, sizeof(ph));
}
