/*
 * IPv4 input and output (RFC 791, RFC 1122 3.2.1).
 *
 * Input validates the header with the wire parser, refuses what RFC 1122
 * says a host must silently discard (a source that is a broadcast,
 * multicast, loopback or zero address from the wire), accepts only packets addressed to the
 * stack, and hands the payload, trimmed to the header's total length, to
 * the protocol. Output writes a 20-byte header in front of the transport
 * header already in st->hdr, with DF set, as Linux does for TCP (path MTU
 * discovery, RFC 1191).
 */
#include "ip/ip.h"

#include "core/stack.h"
#include "wire/ipv4.h"

static bool bad_source(const struct ustack *st, uint32_t src)
{
	uint32_t bcast = st->cfg.addr | ~st->cfg.netmask;
	/* RFC 1122 3.2.1.3: never a broadcast, multicast (class D/E),
	 * limited-broadcast, loopback (127/8, (g)) or "this host" (0) source
	 * from the wire; Linux drops them as martians. */
	return src == 0 || src == 0xffffffffu || src >= 0xe0000000u || (src >> 24) == 127 ||
	       (src == bcast && st->cfg.netmask != 0xffffffffu);
}

void us_ip_input(struct ustack *st, const uint8_t *pkt, size_t len)
{
	struct us_ipv4 ip;
	us_count(st, USTACK_STAT_IP_IN);
	int why = us_ipv4_parse(pkt, len, true, &ip);
	if (why) {
		us_drop(st, (enum ustack_stat)why, NULL, NULL);
		return;
	}
	if (bad_source(st, ip.src)) {
		us_drop(st, USTACK_STAT_DROP_IP_BAD_SRC, NULL, NULL);
		return;
	}
	if (ip.dst != st->cfg.addr) {
		us_drop(st, USTACK_STAT_DROP_IP_NOT_FOR_US, NULL, NULL);
		return;
	}
	if (ip.frag & (US_IPV4_MF | US_IPV4_OFFMASK)) {
		us_drop(st, USTACK_STAT_DROP_IP_FRAGMENT, NULL, NULL);
		return;
	}
	switch (ip.proto) {
	case US_IP_PROTO_TCP:
		us_tcp_input(st, ip.src, ip.dst, ip.payload, ip.payload_len);
		break;
	default:
		us_drop(st, USTACK_STAT_DROP_IP_PROTO, NULL, NULL);
		break;
	}
}

void us_ip_output(struct ustack *st, uint32_t dst, uint8_t proto, size_t l4_hdr_len, const struct iovec *payload,
		  int npayload, size_t payload_len)
{
	struct us_ipv4 ip = {
		.ttl = 64, /* Linux's net.ipv4.ip_default_ttl */
		.proto = proto,
		.id = st->ip_id++,
		.frag = US_IPV4_DF,
		.src = st->cfg.addr,
		.dst = dst,
	};
	us_ipv4_build(st->hdr, &ip, l4_hdr_len + payload_len);
	struct iovec iov[4];
	iov[0].iov_base = st->hdr;
	iov[0].iov_len = US_IPV4_HDR_MIN + l4_hdr_len;
	for (int i = 0; i < npayload; i++)
		iov[1 + i] = payload[i];
	us_count(st, USTACK_STAT_IP_OUT);
	st->cfg.output(st->cfg.output_ctx, iov, 1 + npayload);
}
