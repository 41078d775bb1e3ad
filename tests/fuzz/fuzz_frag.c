/*
 * libFuzzer target: IPv4 reassembly (src/ip/frag.c), which fuzz_ipv4 (the
 * header parser) never reaches and fuzz_stack reaches only by chance: a
 * fragment needs a valid header checksum, a plausible offset and a length
 * that is a multiple of 8. Here every fragment is built with a valid
 * header around fuzzed identification, offset, MF flag and length, for a
 * stack with a UDP socket on port 53 (reassembled datagrams are read back)
 * and small reassembly caps (8 datagrams, 192 KiB), so that overlaps,
 * duplicates, holes, oversized (Ping of Death) and inconsistent ends, cap
 * hits and timeouts are all a few mutations away. Whole datagrams cut into
 * fragments sent in a fuzzed order make completion reachable too.
 *
 * Input: a program of records, one opcode byte then its fields. After each
 * record the invariants are checked, among them the reassembly table's
 * (caps, sorted disjoint fragments, byte counts: lib/world.c).
 */
#include <stdlib.h>
#include <string.h>

#include "wire/ipv4.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t protos[] = { US_IP_PROTO_UDP, US_IP_PROTO_ICMP, US_IP_PROTO_TCP, 99 };

/* The payload of a datagram of total bytes, as the first fragment would
 * start it: a UDP header to port 53 without a checksum (so a reassembled
 * datagram is delivered whatever its bytes), or an ICMP echo header. */
static void fill(uint8_t *buf, size_t off, size_t len, size_t total, uint8_t proto)
{
	memset(buf, 'f', len);
	if (off != 0 || len < 8)
		return;
	if (proto == US_IP_PROTO_UDP) {
		uint8_t h[8] = { 0x30, 0x39, 0, 53, (uint8_t)(total >> 8), (uint8_t)total, 0, 0 };
		memcpy(buf, h, 8);
	} else if (proto == US_IP_PROTO_ICMP) {
		uint8_t h[8] = { 8, 0, 0, 0, 0, 1, 0, 1 }; /* a bad checksum: dropped whole */
		memcpy(buf, h, 8);
	}
}

static void fragment(struct fz_world *w, uint8_t proto, uint16_t id, uint32_t off, bool more, size_t len,
		     size_t total)
{
	static uint8_t buf[65536];
	if (len > sizeof(buf) - 20)
		len = sizeof(buf) - 20;
	fill(buf, off, len, total, proto);
	uint16_t frag = (uint16_t)((off / 8) & US_IPV4_OFFMASK) | (more ? US_IPV4_MF : 0);
	fz_inject_ip(w, proto, id, frag, buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_world w;
	fz_create(&w, data, size);
	int fd = ustack_socket(w.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(53) };
	ustack_bind(w.st, fd, (struct sockaddr *)&any, sizeof(any));
	uint8_t buf[2048];
	uint32_t next_off[4] = { 0 };
	int steps = 0;
	while (w.left && steps++ < 256) {
		uint8_t op = fz_take8(&w);
		uint16_t id = (op & 0x40) ? fz_take16(&w) : (uint16_t)((op >> 4) & 3);
		uint8_t proto = protos[(op >> 2) & 1 ? (op >> 4) & 3 : 0];
		switch (op & 3) {
		case 0: { /* one fragment: offset, MF, length (8-byte units) */
			uint16_t f = fz_take16(&w);
			uint32_t off = (f & 0x8000) ? next_off[id & 3] : (uint32_t)(f & US_IPV4_OFFMASK) * 8;
			bool more = !(op & 0x80);
			size_t len = (size_t)fz_take8(&w) * 8 + ((op & 0x80) ? fz_take8(&w) % 8 : 0);
			fragment(&w, proto, id, off, more, len, off + len);
			next_off[id & 3] = off + (uint32_t)len;
			break;
		}
		case 1: { /* a whole datagram, cut in pieces sent in a fuzzed order */
			size_t total = 8 + (size_t)fz_take16(&w) % 4096;
			size_t piece = 8 * (1 + (size_t)fz_take8(&w) % 64);
			size_t n = (total + piece - 1) / piece;
			if (n > 64)
				n = 64;
			uint8_t order[64];
			for (size_t i = 0; i < n; i++)
				order[i] = (uint8_t)i;
			for (size_t i = 0; i < n; i++) { /* a permutation from the input */
				size_t j = i + fz_take8(&w) % (n - i);
				uint8_t t = order[i];
				order[i] = order[j];
				order[j] = t;
			}
			for (size_t i = 0; i < n; i++) {
				size_t off = order[i] * piece;
				size_t len = off + piece < total ? piece : total - off;
				if (off >= total)
					continue;
				fragment(&w, proto, id, (uint32_t)off, off + len < total, len, total);
				fz_check(&w);
			}
			break;
		}
		case 2: /* time passes: up to about 70 s (ipfrag_time is 30) */
			fz_advance(&w, USTACK_MSEC((uint64_t)fz_take16(&w)));
			break;
		case 3: /* the application reads, or an unfragmented datagram arrives */
			if (op & 0x80) {
				size_t n = 8 + (size_t)fz_take8(&w);
				fragment(&w, proto, id, 0, false, n, n);
			} else {
				ustack_recv(w.st, fd, buf, sizeof(buf), 0);
			}
			break;
		}
		fz_check(&w);
		fz_check_udp(&w, fd);
	}
	fz_destroy(&w);
	return 0;
}
