/*
 * bench/bench_csum.c: the Internet checksum's speed (src/wire/checksum.c)
 * against the single add-with-carry chain it replaced, on payload sizes a
 * stack sums: 40 (headers), 1460 and 65495 bytes.
 *
 *   bench_csum     prints "RESULT csum_<len>_{chain,lanes} GB/s"
 *
 * The only benchmark that reaches inside the library (checksum.h): the
 * loop is too small to see from the public API.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "wire/checksum.h"

/* The loop before: one carry chain, four loads per iteration. */
static uint64_t add_carry(uint64_t acc, uint64_t v)
{
	acc += v;
	return acc + (acc < v);
}

__attribute__((noinline)) static uint64_t chain(uint64_t acc, const void *p, size_t len)
{
	const unsigned char *b = p;
	uint64_t w0, w1, w2, w3;
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
	return us_csum_add(acc, b, len); /* the tail: at most 31 bytes */
}

int main(void)
{
	static const size_t sizes[] = { 40, 1460, 65495 };
	uint8_t *buf = malloc(65536 + 8);
	if (!buf)
		return 1;
	for (size_t i = 0; i < 65536 + 8; i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		uint64_t iters = (2ull << 30) / n;
		if (us_csum_fold(chain(0, buf, n)) != us_csum_fold(us_csum_add(0, buf, n))) {
			fprintf(stderr, "bench_csum: the two sums differ at %zu bytes\n", n);
			return 1;
		}
		for (int k = 0; k < 2; k++) {
			uint64_t x = 0, t0 = bench_ns();
			for (uint64_t i = 0; i < iters; i++) {
				x += k ? us_csum_add(i, buf, n) : chain(i, buf, n);
				__asm__ volatile("" : "+r"(x) : : "memory");
			}
			double dt = (double)(bench_ns() - t0);
			printf("RESULT csum_%zu_%s %.4g GB/s\n", n, k ? "lanes" : "chain", (double)iters * n / dt);
		}
	}
	free(buf);
	return 0;
}
