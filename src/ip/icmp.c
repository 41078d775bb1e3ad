/*
 * ICMP (RFC 792, RFC 1122 3.2.2): echo answered, errors received and passed
 * to the transport they concern, errors sent about datagrams nobody takes.
 *
 * Errors sent obey RFC 1122 3.2.2's list of what must never cause one (an
 * ICMP error, a datagram to a broadcast or multicast address, a fragment
 * other than the first, a source that is not one host) and a token bucket
 * held in the stack, Linux's icmp_global: icmp_msgs_per_sec tokens a
 * second, at most icmp_msgs_burst saved up. Linux draws a random cost for
 * each message since SADDNS (CVE-2020-25705) used the exact count as a side
 * channel to find open UDP ports; this bucket is exact, so that tests and
 * simulations can count on it. Linux also limits errors per destination
 * (icmp_ratelimit); that is not done here.
 *
 * Received errors are validated (the quote must be of a datagram this
 * stack sent) and mapped to an errno and a hard/soft verdict with Linux's
 * table (icmp_err_convert), then handed to UDP or TCP, which decide what
 * it does to a socket.
 */
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "ip/ip.h"
#include "udp/udp.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/bytes.h"

/* RFC 1812 4.3.2.3 and Linux: the error with its quote fits in 576 bytes,
 * the size every host must accept (RFC 791 3.1). */
#define ICMP_ERR_MAX 576

static uint64_t token_cost(const struct ustack *st)
{
	return 1000000000ull / st->cfg.icmp_msgs_per_sec;
}

void us_icmp_init(struct ustack *st)
{
	st->icmp.credit_ns = token_cost(st) * st->cfg.icmp_msgs_burst;
	st->icmp.last = st->now;
}

static bool rate_allow(struct ustack *st)
{
	struct us_icmp_state *s = &st->icmp;
	uint64_t cost = token_cost(st), cap = cost * st->cfg.icmp_msgs_burst;
	uint64_t elapsed = st->now - s->last;
	s->last = st->now;
	s->credit_ns = cap - s->credit_ns < elapsed ? cap : s->credit_ns + elapsed;
	if (s->credit_ns < cost)
		return false;
	s->credit_ns -= cost;
	return true;
}

void us_icmp_send_error(struct ustack *st, const uint8_t *pkt, size_t len, uint8_t type, uint8_t code)
{
	if (len < US_IPV4_HDR_MIN)
		return;
	size_t hl = (size_t)(pkt[0] & 0x0f) * 4;
	uint32_t src = us_get32(pkt + 12), dst = us_get32(pkt + 16);
	/* RFC 1122 3.2.2: never about a datagram to a broadcast or multicast
	 * address (anything not the stack's own), from a source that is not
	 * one host, or a fragment other than the first. */
	if (dst != st->cfg.addr || us_ip_bad_source(st, src) || (us_get16(pkt + 6) & US_IPV4_OFFMASK))
		return;
	/* ... nor about an ICMP error (nor one whose type cannot be read). */
	if (pkt[9] == US_IP_PROTO_ICMP && (len <= hl || us_icmp_type_is_error(pkt[hl])))
		return;
	if (!rate_allow(st)) {
		us_count(st, USTACK_STAT_ICMP_OUT_RATE_LIMITED);
		return;
	}
	/* RFC 792 asks for the header and 8 bytes; Linux quotes as much of
	 * the datagram as fits in 576 bytes, which tells the source more. */
	size_t qlen = ICMP_ERR_MAX - US_IPV4_HDR_MIN - US_ICMP_HDR_LEN;
	if (qlen > len)
		qlen = len;
	struct iovec q = { .iov_base = (void *)pkt, .iov_len = qlen };
	us_icmp_build(st->hdr + US_IPV4_HDR_MIN, type, code, 0, &q, 1);
	us_count(st, USTACK_STAT_ICMP_OUT);
	us_count(st, type == US_ICMP_DEST_UNREACH ? USTACK_STAT_ICMP_OUT_DEST_UNREACH
						  : USTACK_STAT_ICMP_OUT_TIME_EXCEEDED);
	us_ip_output_frag(st, src, US_IP_PROTO_ICMP, US_ICMP_HDR_LEN, &q, 1, qlen);
}

/* RFC 792, RFC 1122 3.2.2.6: the same identifier, sequence number and data
 * back to the sender. Requests to a broadcast address never get here
 * (ipv4.c), as Linux's icmp_echo_ignore_broadcasts. */
static void echo_reply(struct ustack *st, const struct us_ipv4 *ip, const struct us_icmp *m)
{
	struct iovec d = { .iov_base = (void *)m->data, .iov_len = m->data_len };
	us_icmp_build(st->hdr + US_IPV4_HDR_MIN, US_ICMP_ECHO_REPLY, 0, m->rest, &d, 1);
	us_count(st, USTACK_STAT_ICMP_OUT);
	us_count(st, USTACK_STAT_ICMP_OUT_ECHO_REPLY);
	us_ip_output_frag(st, ip->src, US_IP_PROTO_ICMP, US_ICMP_HDR_LEN, &d, 1, m->data_len);
}

/* Linux's icmp_err_convert: the errno of each destination-unreachable code
 * and whether it is fatal. RFC 1122 4.2.3.9 makes net, host and source
 * route failures soft (the network may recover) and protocol and port
 * unreachable hard (the peer said no); RFC 1812's administrative codes are
 * hard. */
static const struct {
	int err;
	bool fatal;
} unreach[US_ICMP_UNREACH_MAX + 1] = {
	{ ENETUNREACH, false },  /* 0 net unreachable */
	{ EHOSTUNREACH, false }, /* 1 host unreachable */
	{ ENOPROTOOPT, true },   /* 2 protocol unreachable */
	{ ECONNREFUSED, true },  /* 3 port unreachable */
	{ EMSGSIZE, false },     /* 4 fragmentation needed (handled apart) */
	{ EOPNOTSUPP, false },   /* 5 source route failed */
	{ ENETUNREACH, true },   /* 6 network unknown */
	{ EHOSTDOWN, true },     /* 7 host unknown */
	{ ENONET, true },        /* 8 host isolated */
	{ ENETUNREACH, true },   /* 9 network administratively prohibited */
	{ EHOSTUNREACH, true },  /* 10 host administratively prohibited */
	{ ENETUNREACH, false },  /* 11 network unreachable for TOS */
	{ EHOSTUNREACH, false }, /* 12 host unreachable for TOS */
	{ EHOSTUNREACH, true },  /* 13 communication administratively prohibited */
	{ EHOSTUNREACH, true },  /* 14 host precedence violation */
	{ EHOSTUNREACH, true },  /* 15 precedence cutoff in effect */
};

/* RFC 1122 3.2.2: an error MUST be passed to the transport it concerns,
 * found by the quoted header. */
static void error_input(struct ustack *st, const struct us_icmp *m, const struct us_icmp_err *e)
{
	struct us_icmp_quote q;
	int why = us_icmp_quote_parse(m->data, m->data_len, &q);
	/* It must be about a datagram this stack sent: anything else is at
	 * best misdirected, at worst forged. */
	if (!why && q.src != st->cfg.addr)
		why = USTACK_STAT_DROP_ICMP_BAD_QUOTE;
	if (!why) {
		struct us_tuple t = { .laddr = q.src, .raddr = q.dst, .lport = q.sport, .rport = q.dport };
		switch (q.proto) {
		case US_IP_PROTO_TCP:
			why = us_tcp_icmp_error(st, &t, q.seq, e);
			break;
		case US_IP_PROTO_UDP:
			/* UDP leaves with DF clear (us_ip_output_frag): no
			 * router had to refuse to fragment it. */
			why = e->code == US_ICMP_FRAG_NEEDED && e->type == US_ICMP_DEST_UNREACH
				      ? USTACK_STAT_DROP_ICMP_FRAG_NEEDED
				      : us_udp_icmp_error(st, &t, e);
			break;
		default:
			why = USTACK_STAT_DROP_ICMP_NO_SOCKET; /* no sockets of other protocols */
			break;
		}
	}
	if (why)
		us_drop(st, (enum ustack_stat)why, NULL, NULL);
}

void us_icmp_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip)
{
	struct us_icmp m;
	int why = us_icmp_parse(ip->payload, ip->payload_len, true, &m);
	if (why) {
		us_drop(st, (enum ustack_stat)why, NULL, NULL);
		return;
	}
	us_count(st, USTACK_STAT_ICMP_IN);
	struct us_icmp_err e = { .type = m.type, .code = m.code };
	switch (m.type) {
	case US_ICMP_ECHO:
		us_count(st, USTACK_STAT_ICMP_IN_ECHO);
		echo_reply(st, ip, &m);
		return;
	case US_ICMP_DEST_UNREACH:
		us_count(st, USTACK_STAT_ICMP_IN_DEST_UNREACH);
		if (m.code == US_ICMP_FRAG_NEEDED && st->sys.ip_no_pmtu_disc) {
			/* Path MTU discovery is off: counted, nothing changes. */
			us_drop(st, USTACK_STAT_DROP_ICMP_FRAG_NEEDED, NULL, NULL);
			return;
		}
		if (m.code > US_ICMP_UNREACH_MAX) {
			us_drop(st, USTACK_STAT_DROP_ICMP_IGNORED_TYPE, NULL, NULL);
			return;
		}
		e.err = unreach[m.code].err;
		e.fatal = unreach[m.code].fatal;
		/* RFC 1191 4: the next hop's MTU in the low 16 bits of the
		 * unused word; an old router leaves 0 there. */
		e.mtu = (uint16_t)m.rest;
		break;
	case US_ICMP_TIME_EXCEEDED:
		/* RFC 1122 3.2.2.4: a soft error (a routing loop may clear). */
		e.err = EHOSTUNREACH;
		break;
	case US_ICMP_PARAMETER_PROB:
		/* RFC 1122 3.2.2.5; Linux makes it hard. */
		e.err = EPROTO;
		e.fatal = true;
		break;
	default:
		/* Echo replies (no ping sockets here), source quench (RFC 6633
		 * deprecates it), redirects (one route; RFC 1122 3.2.2.2 lets a
		 * host ignore them) and the obsolete rest. */
		us_drop(st, USTACK_STAT_DROP_ICMP_IGNORED_TYPE, NULL, NULL);
		return;
	}
	error_input(st, &m, &e);
}
