/*
 * libFuzzer target: the TCP header and option parser. Accepted segments
 * must lie inside the input, and must survive a rebuild: building the header
 * from what was parsed and parsing it again gives the same fields (the
 * options as ustack writes them, so compared by value).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct us_tcp seg;
	/* The checksum is not verified here: the fuzzer would never get past
	 * it. Verification has its own unit tests. */
	if (us_tcp_parse(data, size, 0xC6120001u, 0xC6120002u, false, &seg) != 0)
		return 0;
	if (seg.hdr_len < 20 || seg.hdr_len > size || seg.payload != data + seg.hdr_len ||
	    seg.h.len != size - seg.hdr_len)
		abort();
	const struct ustack_tcp_options *o = &seg.h.opt;
	if (o->nsack > 4 || ((o->present & USTACK_OPT_WSCALE) && o->wscale > 14))
		abort();
	uint8_t buf[US_TCP_HDR_MAX];
	struct ustack_tcp_segment h = seg.h;
	h.len = 0;
	size_t hl = us_tcp_build(buf, &h);
	if (hl < 20 || hl > sizeof(buf) || hl % 4)
		abort();
	struct us_tcp again;
	if (us_tcp_parse(buf, hl, h.saddr, h.daddr, false, &again) != 0)
		abort();
	if (again.h.seq != h.seq || again.h.ack != h.ack || again.h.flags != h.flags || again.h.window != h.window ||
	    again.h.sport != h.sport || again.h.dport != h.dport)
		abort();
	return 0;
}
