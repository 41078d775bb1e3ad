/*
 * Reading a classic libpcap capture into a diagram trace: every IPv4 TCP
 * segment becomes a wire event, parsed by the stack's own validating
 * parsers (src/wire). A capture may come from any stack, the Linux kernel's
 * included, so what the parsers would reject for checksums is accepted
 * here: a sender's own capture sees its checksums before the network card
 * fills them in (checksum offload), and a capture cut at a snapshot length
 * still has whole headers.
 */
#include "diagram.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "wire/ipv4.h"
#include "wire/tcp.h"

#define PCAP_MAGIC_USEC 0xa1b2c3d4u
#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define LINKTYPE_ETHERNET 1u
#define LINKTYPE_RAW 101u
#define LINKTYPE_LINUX_SLL 113u
#define LINKTYPE_IPV4 228u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_VLAN 0x8100u
#define PAD_MAX 65535u /* the largest IPv4 packet */

struct reader {
	const uint8_t *p;
	size_t len;
	bool swap; /* the file's byte order is not ours */
};

static uint32_t rd32(const struct reader *r, size_t off)
{
	uint32_t v;
	memcpy(&v, r->p + off, 4);
	return r->swap ? __builtin_bswap32(v) : v;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt, ...)
{
	if (err && size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The IPv4 packet inside a frame of the given link type, or NULL. */
static const uint8_t *ip_of(uint32_t linktype, const uint8_t *frame, size_t len, size_t *iplen)
{
	size_t off;
	switch (linktype) {
	case LINKTYPE_RAW:
	case LINKTYPE_IPV4:
		off = 0;
		break;
	case LINKTYPE_ETHERNET:
		/* 14 bytes of destination, source and type; one 802.1Q tag
		 * adds four. */
		if (len < 14)
			return NULL;
		off = 12;
		if (be16(frame + off) == ETHERTYPE_VLAN) {
			if (len < 18)
				return NULL;
			off += 4;
		}
		if (be16(frame + off) != ETHERTYPE_IPV4)
			return NULL;
		off += 2;
		break;
	case LINKTYPE_LINUX_SLL:
		/* tcpdump -i any: 16 bytes, the protocol last. */
		if (len < 16 || be16(frame + 14) != ETHERTYPE_IPV4)
			return NULL;
		off = 16;
		break;
	default:
		return NULL;
	}
	if (len <= off || frame[off] >> 4 != 4)
		return NULL;
	*iplen = len - off;
	return frame + off;
}

/* Parses one IPv4 packet, cut at caplen of its origlen bytes, into a wire
 * event. Returns false for anything but an unfragmented TCP segment. */
static bool parse_packet(const uint8_t *ip, size_t caplen, size_t origlen, uint8_t *pad,
			 struct diagram_event *e)
{
	/* A packet cut by the snapshot length is padded back to its length,
	 * so the parsers see the lengths the headers claim; only the payload,
	 * which a diagram does not show, is missing. */
	const uint8_t *p = ip;
	size_t len = caplen;
	if (origlen > caplen && origlen <= PAD_MAX) {
		memcpy(pad, ip, caplen);
		memset(pad + caplen, 0, origlen - caplen);
		p = pad;
		len = origlen;
	}
	struct us_ipv4 h;
	if (us_ipv4_parse(p, len, false, &h) || h.proto != US_IP_PROTO_TCP ||
	    (h.frag & (US_IPV4_MF | US_IPV4_OFFMASK)))
		return false;
	struct us_tcp t;
	if (us_tcp_parse(h.payload, h.payload_len, h.src, h.dst, false, &t))
		return false;
	e->kind = DIAGRAM_EV_SEG_WIRE;
	e->has_seg = true;
	e->seg = t.h;
	return true;
}

int diagram_trace_read_pcap(struct diagram_trace *tr, const void *buf, size_t len, char *err, size_t errsize)
{
	struct reader rd = { buf, len, false };
	if (len < 24)
		return fail(err, errsize, "not a pcap file: %zu bytes, shorter than the file header", len);
	uint32_t magic;
	memcpy(&magic, rd.p, 4);
	bool nsec;
	if (magic == PCAP_MAGIC_USEC || magic == PCAP_MAGIC_NSEC) {
		nsec = magic == PCAP_MAGIC_NSEC;
	} else if (__builtin_bswap32(magic) == PCAP_MAGIC_USEC ||
		   __builtin_bswap32(magic) == PCAP_MAGIC_NSEC) {
		rd.swap = true;
		nsec = __builtin_bswap32(magic) == PCAP_MAGIC_NSEC;
	} else {
		return fail(err, errsize, "not a classic pcap file (magic 0x%08x; pcapng is not read)",
			    magic);
	}
	/* The link type's low 16 bits; the upper ones carry FCS flags. */
	uint32_t linktype = rd32(&rd, 20) & 0xffffu;
	if (linktype != LINKTYPE_RAW && linktype != LINKTYPE_IPV4 && linktype != LINKTYPE_ETHERNET &&
	    linktype != LINKTYPE_LINUX_SLL)
		return fail(err, errsize,
			    "link type %u is not read (RAW 101, IPV4 228, ETHERNET 1, LINUX_SLL 113 are)",
			    linktype);
	uint8_t *pad = malloc(PAD_MAX);
	if (!pad)
		return fail(err, errsize, "out of memory");
	size_t off = 24;
	unsigned long rec = 0;
	int r = 0;
	while (off < len && !r) {
		rec++;
		if (len - off < 16) {
			r = fail(err, errsize, "record %lu: truncated record header at byte %zu", rec, off);
			break;
		}
		uint64_t sec = rd32(&rd, off), frac = rd32(&rd, off + 4);
		uint32_t caplen = rd32(&rd, off + 8), origlen = rd32(&rd, off + 12);
		off += 16;
		if (caplen > len - off) {
			r = fail(err, errsize, "record %lu: %u bytes of packet, %zu left in the file", rec,
				 caplen, len - off);
			break;
		}
		struct diagram_event e = { .t = sec * 1000000000u + (nsec ? frac : frac * 1000u) };
		size_t iplen;
		const uint8_t *ip = ip_of(linktype, rd.p + off, caplen, &iplen);
		size_t hdr = ip ? (size_t)(ip - (rd.p + off)) : 0;
		if (ip && parse_packet(ip, iplen, origlen > hdr ? origlen - hdr : iplen, pad, &e) &&
		    diagram_trace_add(tr, &e)) {
			fail(err, errsize, "out of memory");
			r = -ENOMEM;
		}
		off += caplen;
	}
	free(pad);
	return r;
}
