/*
 * IPv4 input and output (RFC 791, RFC 1122 3.2.1).
 *
 * Input validates the header with the wire parser, refuses what RFC 1122
 * says a host must silently discard (a source that is a broadcast,
 * multicast, loopback or zero address from the wire), accepts packets
 * addressed to the stack (and, for UDP alone, to a broadcast address:
 * Linux takes broadcasts for UDP sockets and nothing else), sends fragments
 * to reassembly, and hands each whole datagram, trimmed to the header's
 * total length, to its protocol.
 *
 * Output writes a 20-byte header in front of the transport header already
 * in st->hdr. TCP's packets carry DF, as Linux's do (path MTU discovery,
 * RFC 1191), and TCP never sends more than the MTU. UDP and ICMP send with
 * DF clear, and what exceeds the MTU leaves in fragments.
 */
#include "ip/ip.h"

#include "core/stack.h"
#include "udp/udp.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

bool us_ip_bad_source(const struct ustack *st, uint32_t src)
{
	uint32_t bcast = st->cfg.addr | ~st->cfg.netmask;
	/* RFC 1122 3.2.1.3: never a broadcast, multicast (class D/E),
	 * limited-broadcast, loopback (127/8, (g)) or "this host" (0) source
	 * from the wire; Linux drops them as martians. So is the stack's own
	 * address (Linux with accept_local = 0): the land attack, a SYN from
	 * the listener's own address and port, would otherwise make a child
	 * that answers itself. Nothing the stack sends comes back to it. */
	return src == 0 || src == 0xffffffffu || src >= 0xe0000000u || (src >> 24) == 127 ||
	       (src == bcast && st->cfg.netmask != 0xffffffffu) || src == st->cfg.addr;
}

bool us_ip_is_broadcast(const struct ustack *st, uint32_t dst)
{
	/* RFC 1122 3.3.6: the limited broadcast and the directed broadcast of
	 * the stack's own network (none on a /32). */
	return dst == 0xffffffffu ||
	       (st->cfg.netmask != 0xffffffffu && dst == (st->cfg.addr | ~st->cfg.netmask));
}

static bool known_protocol(uint8_t proto)
{
	return proto == US_IP_PROTO_TCP || proto == US_IP_PROTO_UDP || proto == US_IP_PROTO_ICMP;
}

void us_ip_deliver(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip)
{
	switch (ip->proto) {
	case US_IP_PROTO_TCP:
		us_tcp_input(st, ip->src, ip->dst, ip->payload, ip->payload_len);
		break;
	case US_IP_PROTO_UDP:
		us_udp_input(st, pkt, ip);
		break;
	case US_IP_PROTO_ICMP:
		us_icmp_input(st, pkt, ip);
		break;
	default:
		/* RFC 1122 3.2.2.1: a host SHOULD report a protocol nothing
		 * here speaks. TCP's closed ports stay a RST (RFC 9293). */
		us_drop(st, USTACK_STAT_DROP_IP_PROTO, NULL, NULL);
		us_icmp_send_error(st, pkt, ip->total_len, US_ICMP_DEST_UNREACH, US_ICMP_PROTO_UNREACH);
		break;
	}
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
	if (us_ip_bad_source(st, ip.src)) {
		us_drop(st, USTACK_STAT_DROP_IP_BAD_SRC, NULL, NULL);
		return;
	}
	if (ip.dst != st->cfg.addr && !(ip.proto == US_IP_PROTO_UDP && us_ip_is_broadcast(st, ip.dst))) {
		us_drop(st, USTACK_STAT_DROP_IP_NOT_FOR_US, NULL, NULL);
		return;
	}
	if (ip.frag & (US_IPV4_MF | US_IPV4_OFFMASK)) {
		/* Nothing would take a protocol nobody speaks: refuse it now
		 * rather than hold its pieces. Only the first fragment is
		 * answered (RFC 1122 3.2.2, us_icmp_send_error checks). */
		if (!known_protocol(ip.proto)) {
			us_drop(st, USTACK_STAT_DROP_IP_PROTO, NULL, NULL);
			us_icmp_send_error(st, pkt, ip.total_len, US_ICMP_DEST_UNREACH, US_ICMP_PROTO_UNREACH);
			return;
		}
		/* A link's word covers the fragment, not the datagram that
		 * is reassembled from pieces of other packets. */
		st->rx_csum_ok = false;
		us_frag_input(st, pkt, &ip);
		return;
	}
	us_ip_deliver(st, pkt, &ip);
}

/* Sends one packet: a header built from ip for the pieces in iov[1..n),
 * whose lengths sum to plen, into iov[0]. */
static void send_packet(struct ustack *st, struct us_ipv4 *ip, uint8_t *hdr, struct iovec *iov, int n,
			size_t plen)
{
	us_ipv4_build(hdr, ip, plen);
	iov[0].iov_base = hdr;
	iov[0].iov_len = US_IPV4_HDR_MIN;
	us_count(st, USTACK_STAT_IP_OUT);
	st->cfg.output(st->cfg.output_ctx, iov, n);
}

void us_ip_output(struct ustack *st, uint32_t dst, uint8_t proto, size_t l4_hdr_len, const struct iovec *payload,
		  int npayload, size_t payload_len, bool df)
{
	struct us_ipv4 ip = {
		.ttl = 64, /* Linux's net.ipv4.ip_default_ttl */
		.proto = proto,
		.id = st->ip_id++,
		.frag = df ? US_IPV4_DF : 0,
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

#define MAX_PIECES 4 /* the transport header and up to three payload pieces */

void us_ip_output_frag(struct ustack *st, uint32_t dst, uint8_t proto, size_t l4_hdr_len,
		       const struct iovec *payload, int npayload, size_t payload_len)
{
	struct us_ipv4 ip = {
		.ttl = 64,
		.proto = proto,
		.id = st->ip_id++,
		.src = st->cfg.addr,
		.dst = dst,
	};
	/* The IP payload as pieces: the transport header where the caller
	 * wrote it, then the caller's payload, read in place. */
	struct iovec piece[MAX_PIECES];
	int np = 0;
	piece[np].iov_base = st->hdr + US_IPV4_HDR_MIN;
	piece[np++].iov_len = l4_hdr_len;
	for (int i = 0; i < npayload && np < MAX_PIECES; i++)
		piece[np++] = payload[i];
	size_t total = l4_hdr_len + payload_len;
	struct iovec iov[1 + MAX_PIECES];
	uint8_t hdr[US_IPV4_HDR_MIN];

	if (US_IPV4_HDR_MIN + total <= st->cfg.mtu) {
		for (int i = 0; i < np; i++)
			iov[1 + i] = piece[i];
		send_packet(st, &ip, hdr, iov, 1 + np, total);
		return;
	}
	/* RFC 791 3.2: every fragment but the last carries a multiple of 8
	 * bytes, as many as the MTU allows; each has the whole datagram's
	 * identification, its own offset in 8-byte units, and MF unless it is
	 * the last. */
	size_t chunk = (size_t)(st->cfg.mtu - US_IPV4_HDR_MIN) & ~(size_t)7;
	int pi = 0;        /* the piece the next fragment starts in */
	size_t poff = 0;   /* and where in it */
	us_count(st, USTACK_STAT_IP_FRAG_FRAGMENTED);
	for (size_t off = 0; off < total; off += chunk) {
		size_t n = total - off < chunk ? total - off : chunk;
		int k = 1;
		for (size_t need = n; need > 0;) {
			size_t avail = piece[pi].iov_len - poff;
			if (avail == 0) {
				pi++;
				poff = 0;
				continue;
			}
			size_t take = avail < need ? avail : need;
			iov[k].iov_base = (uint8_t *)piece[pi].iov_base + poff;
			iov[k++].iov_len = take;
			poff += take;
			need -= take;
		}
		ip.frag = (uint16_t)(off / 8) | (off + n < total ? US_IPV4_MF : 0);
		us_count(st, USTACK_STAT_IP_FRAG_CREATED);
		send_packet(st, &ip, hdr, iov, k, n);
	}
}
