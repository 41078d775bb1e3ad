/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash that an attacker
 * who does not know the key cannot steer. It keys everything an off-path
 * attacker must not predict or collide: the connection hash table, initial
 * sequence numbers (RFC 6528) and ephemeral ports (RFC 6056).
 */
#ifndef US_CORE_SIPHASH_H
#define US_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct us_sipkey {
	uint64_t k0, k1;
};

uint64_t us_siphash(const struct us_sipkey *key, const void *data, size_t len);

#endif
