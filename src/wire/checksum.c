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
 *
 * Speed (bench/RESULTS.md): a chain of add-with-carry is one serial
 * dependency, about 4 bytes per cycle. Long buffers are instead summed as
 * 32-bit words into 64-bit lanes, which cannot carry out for 2^32 additions
 * and so need no carry at all; the lanes are independent and, with SSE2
 * (every x86-64), four 2x64-bit vector lanes take 64 bytes per iteration.
 * That is 2-2.5 times the carry chain's speed on 1460- and 65495-byte
 * payloads. The lanes are folded back into the carry-chained sum at the end.
 */
#include "wire/checksum.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* Bytes summed into the carry-free lanes before they are folded in: each
 * lane then holds at most 2^24 32-bit words, far from overflowing. */
#define LANE_BLOCK (1u << 26)

/* Sums len bytes (a multiple of 64) as 32-bit words in 64-bit lanes. */
static uint64_t sum_lanes(const unsigned char *b, size_t len)
{
#ifdef __SSE2__
	__m128i z = _mm_setzero_si128(), a0 = z, a1 = z, a2 = z, a3 = z;

	for (; len; b += 64, len -= 64) {
		__m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)b);
		__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(b + 16));
		__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(b + 32));
		__m128i v3 = _mm_loadu_si128((const __m128i *)(const void *)(b + 48));

		/* Interleaving with zero widens each 32-bit word to 64 bits. */
		a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(v0, z));
		a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(v0, z));
		a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(v1, z));
		a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(v1, z));
		a0 = _mm_add_epi64(a0, _mm_unpacklo_epi32(v2, z));
		a1 = _mm_add_epi64(a1, _mm_unpackhi_epi32(v2, z));
		a2 = _mm_add_epi64(a2, _mm_unpacklo_epi32(v3, z));
		a3 = _mm_add_epi64(a3, _mm_unpackhi_epi32(v3, z));
	}
	a0 = _mm_add_epi64(_mm_add_epi64(a0, a1), _mm_add_epi64(a2, a3));
	uint64_t s[2];
	_mm_storeu_si128((__m128i *)(void *)s, a0);
	return s[0] + s[1];
#else
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, w0, w1;

	for (; len; b += 16, len -= 16) {
		memcpy(&w0, b, 8);
		memcpy(&w1, b + 8, 8);
		s0 += (uint32_t)w0;
		s1 += w0 >> 32;
		s2 += (uint32_t)w1;
		s3 += w1 >> 32;
	}
	return (s0 + s1) + (s2 + s3);
#endif
}

uint64_t us_csum_add(uint64_t acc, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t w0, w1, w2, w3;
	uint32_t w32;
	uint16_t w16;

	while (len >= 256) {
		size_t n = len < LANE_BLOCK ? len & ~(size_t)63 : LANE_BLOCK;

		acc = add_carry(acc, sum_lanes(b, n));
		b += n;
		len -= n;
	}
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
	 * segment's; three 32-bit words cannot overflow a 64-bit sum. */
	unsigned char ph[12] = {
		(unsigned char)(src >> 24), (unsigned char)(src >> 16),
		(unsigned char)(src >> 8),  (unsigned char)src,
		(unsigned char)(dst >> 24), (unsigned char)(dst >> 16),
		(unsigned char)(dst >> 8),  (unsigned char)dst,
		0,                          proto,
		(unsigned char)(len >> 8),  (unsigned char)len,
	};
	uint32_t w0, w1, w2;

	memcpy(&w0, ph, 4);
	memcpy(&w1, ph + 4, 4);
	memcpy(&w2, ph + 8, 4);
	return (uint64_t)w0 + w1 + w2;
}
