/*
 * libFuzzer target: the IPv4 header parser. Whatever the bytes, the parser
 * must not read outside them, and what it accepts must be self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>

#include "wire/ipv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct us_ipv4 ip;
	if (us_ipv4_parse(data, size, true, &ip) == 0) {
		if (ip.hdr_len < 20 || ip.hdr_len > ip.total_len || ip.total_len > size)
			abort();
		if (ip.payload != data + ip.hdr_len || ip.payload_len != (size_t)(ip.total_len - ip.hdr_len))
			abort();
	}
	return 0;
}
