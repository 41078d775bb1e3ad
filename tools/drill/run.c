/*
 * Runs one script against a fresh stack on a virtual clock, with
 * packetdrill's semantics (run.c, run_packet.c there):
 *
 * - Time. Script time 0 is when the stack is created. Before an inbound
 *   packet or a system call at time T, the clock jumps from one stack
 *   deadline to the next up to T, so timers fire exactly when due and a
 *   60-second wait costs nothing. A relative time counts from when the
 *   previous event completed, except that consecutive inbound packets
 *   anchor on each other's script times.
 *
 * - Packets the stack sends wait in a queue, stamped with the time they
 *   left. An outbound event takes the first one that belongs to the socket
 *   under test (others are ignored, as packetdrill ignores other
 *   connections' traffic), moving the clock forward while none has come,
 *   up to two seconds past the expected time. Packets nobody expects are
 *   not an error until an outbound event meets them first.
 *
 * - The socket under test and its sequence numbers: an inbound SYN to a
 *   listener makes a new connection the one under test; the script's SYN
 *   sequence numbers are taken literally and every other sequence number
 *   (and ACK, and SACK block) is relative to its side's ISN, learned from
 *   the first SYN each way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/trace.h>

#include "run.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

#define INF_TIME INT64_MAX
/* How long an outbound event waits past its expected time
 * (packetdrill's sniff timeout). */
#define SNIFF_SLACK_USECS 2000000
/* A `*` event waits this long at most: beyond it the stack has gone quiet
 * for good (keepalive probes aside). */
#define ANY_TIME_LIMIT_USECS (3600LL * 1000000)
/* packetdrill's await_idle_thread: how long a new system call waits for a
 * blocking one still in progress. */
#define AWAIT_IDLE_USECS 1000000

void run_fail(struct run *r, const char *fmt, ...)
{
	if (r->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	r->failed = true;
}

static ustack_time_t stack_time(const struct run *r, int64_t usecs)
{
	return r->base + (ustack_time_t)usecs * 1000u;
}

/* The earliest moment something can happen: a stack deadline (rounded up
 * to a microsecond) or a pending poll()'s timeout. */
static int64_t next_wake(const struct run *r)
{
	ustack_time_t d = ustack_next_deadline(r->st);
	int64_t w = INF_TIME;
	if (d != USTACK_TIME_NEVER)
		w = d <= r->base ? 0 : (int64_t)((d - r->base + 999) / 1000);
	if (r->pend.active && r->pend.deadline >= 0 && r->pend.deadline < w)
		w = r->pend.deadline;
	return w;
}

static void poll_stack(struct run *r)
{
	ustack_poll(r->st, stack_time(r, r->now));
	run_retry_pending(r);
}

bool run_step(struct run *r, int64_t limit)
{
	int64_t w = next_wake(r);
	if (w < r->now)
		w = r->now;
	if (w > limit)
		w = limit;
	if (w == r->now && r->now == limit && next_wake(r) > limit)
		return false;
	/* The stack promises a deadline moves on once its timers ran; one
	 * that does not would spin here forever. */
	if (w == r->now) {
		if (++r->spins > 10000) {
			run_fail(r, "%s: stack deadline stuck at %.6f s", r->s->path, (double)w / 1e6);
			return false;
		}
	} else {
		r->spins = 0;
	}
	r->now = w;
	poll_stack(r);
	return true;
}

void run_advance(struct run *r, int64_t t)
{
	/* A deadline that does not move after its timers ran would spin
	 * forever: the stack promises it never happens, so it is an error. */
	int64_t same = -1;
	int spins = 0;
	while (!r->failed) {
		int64_t w = next_wake(r);
		if (w > t)
			break;
		if (w < r->now)
			w = r->now;
		if (w == same) {
			if (++spins > 1000) {
				run_fail(r, "%s: stack deadline stuck at %.6f s", r->s->path,
					 (double)w / 1e6);
				return;
			}
		} else {
			same = w;
			spins = 0;
		}
		r->now = w;
		poll_stack(r);
	}
	if (t > r->now)
		r->now = t;
	poll_stack(r);
}

/* ---- The stack's side ---- */

static void on_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct run *r = ctx;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (r->qlen == RUN_MAX_QUEUE) {
		/* Nobody reads them: keep the newest, remember that packets
		 * were lost, since a later event may be looking for one. */
		struct live *old = &r->q[r->qhead];
		free(old->buf);
		r->qhead = (r->qhead + 1) % RUN_MAX_QUEUE;
		r->qlen--;
		r->qoverflow = true;
	}
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf) {
		r->qoverflow = true;
		return;
	}
	size_t off = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(buf + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	struct live *p = &r->q[(r->qhead + r->qlen) % RUN_MAX_QUEUE];
	memset(p, 0, sizeof(*p));
	p->buf = buf;
	p->len = len;
	p->usecs = r->now;
	live_decode(p);
	r->qlen++;
}

/* ---- Time checks (packetdrill's verify_time) ---- */

bool run_verify_time(struct run *r, enum time_type tt, int64_t expected, int64_t expected_end,
		     int64_t actual, int64_t last_usecs, const char *what, char *err, size_t errlen)
{
	if (tt == TM_ANY)
		return true;
	int64_t tol = r->cfg->tolerance_usecs;
	if (last_usecs >= 0) {
		int64_t dyn = (int64_t)(r->cfg->tolerance_percent / 100.0 * (double)(expected - last_usecs));
		if (dyn > tol)
			tol = dyn;
	}
	if (tt == TM_ABS_RANGE || tt == TM_REL_RANGE) {
		if (actual < expected - tol || actual > expected_end + tol) {
			snprintf(err, errlen,
				 "timing error: expected %s in time range %.6f~%.6f sec "
				 "but happened at %.6f sec",
				 what, (double)expected / 1e6, (double)expected_end / 1e6,
				 (double)actual / 1e6);
			return false;
		}
		return true;
	}
	if (actual < expected - tol || actual > expected + tol) {
		snprintf(
			err, errlen,
			"timing error: expected %s at %.6f sec but happened at %.6f sec; tolerance %.6f sec",
			what, (double)expected / 1e6, (double)actual / 1e6, (double)tol / 1e6);
		return false;
	}
	return true;
}

/* ---- Sockets and sequence-number mapping (packetdrill's socket.h) ---- */

struct dsock *run_sock_by_script_fd(struct run *r, int fd)
{
	for (int i = 0; i < r->nsocks; i++)
		if (!r->socks[i].closed && r->socks[i].script_fd == fd)
			return &r->socks[i];
	return NULL;
}

static uint32_t local_script_to_live(const struct dsock *s, bool syn)
{
	return syn ? s->live_local_isn - s->script_local_isn : s->live_local_isn;
}

static uint32_t remote_script_to_live(const struct dsock *s, bool syn)
{
	return syn ? 0 : s->live_remote_isn;
}

static struct dsock *new_child(struct run *r)
{
	if (r->nsocks == RUN_MAX_SOCKS) {
		run_fail(r, "%s: more than %d sockets", r->s->path, RUN_MAX_SOCKS);
		return NULL;
	}
	struct dsock *c = &r->socks[r->nsocks++];
	memset(c, 0, sizeof(*c));
	c->script_fd = c->live_fd = -1;
	c->proto = P_TCP;
	return c;
}

/* packetdrill's find_or_create_socket_for_script_packet. */
static struct dsock *sock_for_script_packet(struct run *r, const struct spkt *k, const char **why)
{
	struct dsock *sut = r->sut;
	if (k->proto == P_TCP) {
		if (k->dir == DIR_IN && (!sut || sut->state == SS_LISTENING)) {
			/* A connection the remote side opens (or a packet for a
			 * port nobody listens on): a new socket under test. */
			struct dsock *c = new_child(r);
			if (!c)
				return NULL;
			c->state = SS_PASSIVE_PACKET_RECEIVED;
			c->r_ip = r->cfg->remote_ip;
			c->r_port = r->next_port++;
			if (r->next_port < 32768)
				r->next_port = 32768;
			c->l_ip = r->cfg->local_ip;
			c->l_port = sut && sut->l_port ? sut->l_port : r->cfg->bind_port;
			c->live_remote_isn = k->seq;
			r->sut = c;
			return c;
		}
		if (k->dir == DIR_OUT && (k->flags & USTACK_TCP_SYN) && !(k->flags & USTACK_TCP_ACK) &&
		    sut && sut->state == SS_ACTIVE_CONNECTING) {
			sut->state = SS_ACTIVE_SYN_SENT;
			sut->script_local_isn = k->seq;
			return sut;
		}
	}
	if (sut && (k->proto == P_ICMP || (k->proto == P_TCP) == (sut->proto == P_TCP)))
		return sut;
	if (sut && k->ports)
		return sut;
	*why = "no matching socket for script packet";
	return NULL;
}

/* The live tuple of a UDP socket, from the stack: its bound port, and its
 * peer when connected (else the script's remote end). */
static void udp_tuple(struct run *r, struct dsock *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	s->l_ip = r->cfg->local_ip;
	s->r_ip = r->cfg->remote_ip;
	s->r_port = r->cfg->connect_port;
	if (s->closed || s->live_fd < 0)
		return;
	if (ustack_getsockname(r->st, s->live_fd, (struct sockaddr *)&sin, &len) == 0 && sin.sin_port)
		s->l_port = ntohs(sin.sin_port);
	if (!s->l_port)
		s->l_port = r->cfg->bind_port;
	len = sizeof(sin);
	if (ustack_getpeername(r->st, s->live_fd, (struct sockaddr *)&sin, &len) == 0) {
		s->r_ip = ntohl(sin.sin_addr.s_addr);
		s->r_port = ntohs(sin.sin_port);
	}
}

/* packetdrill's find_socket_for_live_packet and find_connect_for_live_packet:
 * whether the stack's packet p belongs to the socket under test, for an
 * event expecting a packet of protocol `want`. An ICMP message belongs when
 * one is expected (packetdrill would need an ICMP socket for it). */
static bool live_belongs(struct dsock *s, struct live *p, int want)
{
	if (!p->ok)
		return false;
	if (p->proto == US_IP_PROTO_ICMP)
		return want == P_ICMP && p->saddr == s->l_ip && p->daddr == s->r_ip;
	if (s->proto == P_UDP)
		return p->proto == US_IP_PROTO_UDP && p->sport == s->l_port;
	if (p->proto != US_IP_PROTO_TCP)
		return false;
	if (p->saddr == s->l_ip && p->sport == s->l_port && p->daddr == s->r_ip && p->dport == s->r_port &&
	    s->l_port)
		return true;
	if ((p->flags & USTACK_TCP_SYN) && !(p->flags & USTACK_TCP_ACK) && s->state == SS_ACTIVE_SYN_SENT &&
	    p->daddr == s->r_ip && p->dport == s->r_port) {
		/* The SYN of the connect() under way: now its port and ISN
		 * are known. */
		s->l_ip = p->saddr;
		s->l_port = p->sport;
		s->live_local_isn = p->seq;
		return true;
	}
	return false;
}

/* ---- Inbound packets ---- */

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static size_t build_ip(const struct run *r, uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto,
		       size_t plen)
{
	(void)r;
	struct us_ipv4 ip = { .ttl = 64, .proto = proto, .src = src, .dst = dst };
	return us_ipv4_build(buf, &ip, plen);
}

/* Builds the live form of an inbound TCP packet; returns its length or 0. */
static size_t build_tcp(struct run *r, struct dsock *s, const struct spkt *k, uint8_t *buf, size_t size)
{
	bool syn = k->flags & USTACK_TCP_SYN;
	size_t hl = 20 + k->optlen, tl = hl + k->len;
	if (20 + tl > size) {
		run_fail(r, "TCP segment too large");
		return 0;
	}
	uint8_t *th = buf + 20;
	memset(th, 0, tl);
	uint32_t ack_off = local_script_to_live(s, syn);
	put16(th, k->ports ? k->sport : s->r_port);
	put16(th + 2, k->ports ? k->dport : s->l_port);
	put32(th + 4, k->seq + remote_script_to_live(s, syn));
	put32(th + 8, (k->flags & USTACK_TCP_ACK) ? k->ack + ack_off : k->ack);
	th[12] = (uint8_t)((hl / 4) << 4);
	th[13] = k->flags;
	put16(th + 14, (uint16_t)k->win);
	put16(th + 18, k->urg);
	memcpy(th + 20, k->opt, k->optlen);
	/* SACK blocks name our sequence numbers: map them as ACKs. A
	 * timestamp echo would have to name a TS value the stack sent. */
	for (size_t i = 0; i < k->optlen;) {
		uint8_t *o = th + 20 + i;
		if (o[0] <= 1) {
			i++;
			continue;
		}
		if (o[0] == 5)
			for (int b = 0; 2 + 8 * b + 8 <= o[1]; b++) {
				put32(o + 2 + 8 * b, get32(o + 2 + 8 * b) + ack_off);
				put32(o + 6 + 8 * b, get32(o + 6 + 8 * b) + ack_off);
			}
		if (o[0] == 8 && o[1] == 10 && (k->flags & USTACK_TCP_ACK)) {
			uint32_t ecr = get32(o + 6);
			int m = s->nts - 1;
			while (m >= 0 && s->ts_script[m % RUN_TS_MAP] != ecr)
				m--;
			if (m < 0 || m < s->nts - RUN_TS_MAP) {
				run_fail(r,
					 "unable to infer live TS ecr for script TS ecr %u;  "
					 "no matching or preceding "
					 "outbound TS val",
					 ecr);
				return 0;
			}
			put32(o + 6, s->ts_live[m % RUN_TS_MAP]);
		}
		i += o[1];
	}
	uint64_t acc = us_csum_pseudo(s->r_ip, s->l_ip, US_IP_PROTO_TCP, (uint16_t)tl);
	acc = us_csum_add(acc, th, tl);
	uint16_t csum = us_csum_fold(acc);
	memcpy(th + 16, &csum, 2);
	build_ip(r, buf, s->r_ip, s->l_ip, US_IP_PROTO_TCP, tl);
	return 20 + tl;
}

static size_t build_udp(struct run *r, struct dsock *s, const struct spkt *k, uint8_t *buf, size_t size)
{
	if (28u + k->len > size) {
		run_fail(r, "UDP datagram too large");
		return 0;
	}
	if (s->proto == P_UDP)
		udp_tuple(r, s);
	uint16_t sport = k->ports ? k->sport : s->r_port, dport = k->ports ? k->dport : s->l_port;
	memset(buf + 28, 0, k->len);
	us_udp_build(buf + 20, s->r_ip, s->l_ip, sport, dport, buf + 28, k->len);
	build_ip(r, buf, s->r_ip, s->l_ip, US_IP_PROTO_UDP, 8u + k->len);
	return 28u + k->len;
}

/* ICMP errors quote the stack's own packet: an IP header from the local to
 * the remote address and the first 8 bytes of its transport header. */
static size_t build_icmp(struct run *r, struct dsock *s, const struct spkt *k, uint8_t *buf, size_t size)
{
	uint8_t quote[28];
	size_t qlen = 0;
	if (s->proto == P_UDP)
		udp_tuple(r, s);
	if (k->echoed >= 0) {
		bool tcp = k->echoed == P_TCP;
		size_t l4 = tcp ? 20 : 8;
		struct us_ipv4 ip = { .ttl = 64,
				      .proto = tcp ? US_IP_PROTO_TCP : US_IP_PROTO_UDP,
				      .src = s->l_ip,
				      .dst = s->r_ip };
		us_ipv4_build(quote, &ip, l4 + k->echoed_len);
		put16(quote + 20, k->ports ? k->dport : s->l_port);
		put16(quote + 22, k->ports ? k->sport : s->r_port);
		if (tcp)
			put32(quote + 24, k->echoed_seq + local_script_to_live(s, false));
		else {
			put16(quote + 24, (uint16_t)(8 + k->echoed_len));
			put16(quote + 26, 0);
		}
		qlen = 28;
	}
	if (28 + qlen > size)
		return 0;
	uint32_t rest = 0;
	if (k->mtu >= 0)
		rest = (uint32_t)k->mtu;
	if (k->echo_id)
		rest = (uint32_t)k->echo_id << 16;
	struct iovec iov = { quote, qlen };
	memcpy(buf + 28, quote, qlen);
	us_icmp_build(buf + 20, k->icmp_type, k->icmp_code, rest, &iov, qlen ? 1 : 0);
	build_ip(r, buf, s->r_ip, s->l_ip, US_IP_PROTO_ICMP, 8 + qlen);
	return 28 + qlen;
}

static void inbound(struct run *r, struct event *ev, struct dsock *s)
{
	struct spkt *k = &ev->pkt;
	if (k->proto == P_TCP) {
		if (s->state == SS_PASSIVE_SYNACK_SENT && (k->flags & USTACK_TCP_ACK))
			s->state = SS_PASSIVE_SYNACK_ACKED;
		else if (s->state == SS_ACTIVE_SYN_SENT && (k->flags & USTACK_TCP_SYN) &&
			 (k->flags & USTACK_TCP_ACK)) {
			s->state = SS_ACTIVE_SYN_ACKED;
			s->live_remote_isn = k->seq;
		}
	}
	static uint8_t buf[65536];
	size_t n = k->proto == P_TCP   ? build_tcp(r, s, k, buf, sizeof(buf))
		   : k->proto == P_UDP ? build_udp(r, s, k, buf, sizeof(buf))
				       : build_icmp(r, s, k, buf, sizeof(buf));
	if (r->failed || n == 0) {
		char m[DRILL_ERR];
		snprintf(m, sizeof(m), "%.400s", r->failed ? r->err : "packet too large");
		r->failed = false;
		run_fail(r, "%s:%d: error handling packet: %s", r->s->path, ev->line, m);
		return;
	}
	if (r->cfg->verbose) {
		char d[512];
		spkt_format(k, d, sizeof(d));
		printf("inbound injected packet: %9.6f %s\n", (double)r->now / 1e6, d);
	}
	ustack_input(r->st, stack_time(r, r->now), buf, n);
	run_retry_pending(r);
}

/* ---- Outbound packets ---- */

static bool check_field(const char *name, uint32_t expected, uint32_t actual, char *err, size_t errlen)
{
	if (expected == actual)
		return true;
	snprintf(err, errlen, "live packet field %s: expected: %u (0x%x) vs actual: %u (0x%x)", name,
		 expected, expected, actual, actual);
	return false;
}

static bool verify_tcp(const struct spkt *k, const struct live *p, uint32_t seq, uint32_t ack, char *err,
		       size_t n)
{
	uint8_t a = p->flags, e = k->flags;
	uint32_t doff = 5u + (k->opt_nocheck ? p->optlen : k->optlen) / 4u;
	if (!check_field("tcp_data_offset", doff, p->doff, err, n) ||
	    !check_field("tcp_fin", !!(e & USTACK_TCP_FIN), !!(a & USTACK_TCP_FIN), err, n) ||
	    !check_field("tcp_syn", !!(e & USTACK_TCP_SYN), !!(a & USTACK_TCP_SYN), err, n) ||
	    !check_field("tcp_rst", !!(e & USTACK_TCP_RST), !!(a & USTACK_TCP_RST), err, n) ||
	    !check_field("tcp_psh", !!(e & USTACK_TCP_PSH), !!(a & USTACK_TCP_PSH), err, n) ||
	    !check_field("tcp_ack", !!(e & USTACK_TCP_ACK), !!(a & USTACK_TCP_ACK), err, n) ||
	    !check_field("tcp_urg", !!(e & USTACK_TCP_URG), !!(a & USTACK_TCP_URG), err, n) ||
	    !check_field("tcp_ece", !!(e & USTACK_TCP_ECE), !!(a & USTACK_TCP_ECE), err, n) ||
	    !check_field("tcp_cwr", !!(e & USTACK_TCP_CWR), !!(a & USTACK_TCP_CWR), err, n) ||
	    !check_field("tcp_reserved_bits", 0, p->res, err, n) ||
	    !check_field("tcp_seq", k->seq, seq, err, n) ||
	    !check_field("tcp_ack_seq", k->ack, ack, err, n) ||
	    (k->win >= 0 && !check_field("tcp_window", (uint32_t)k->win, p->win, err, n)) ||
	    !check_field("tcp_urg_ptr", k->urg, p->urg, err, n))
		return false;
	if (k->opt_nocheck)
		return true;
	/* Option by option, in order: kinds, lengths and values. A TS value
	 * is not compared (packetdrill does not by default), but its echo
	 * is, which packetdrill does not do: a script's TS ecr must be what
	 * Linux sends (packetdrill -v shows it). */
	size_t i = 0, j = 0;
	while (i < k->optlen || j < p->optlen) {
		bool bad = i >= k->optlen || j >= p->optlen || k->opt[i] != p->opt[j];
		size_t el = 1, al = 1;
		if (!bad && k->opt[i] > 1) {
			el = i + 1 < k->optlen ? k->opt[i + 1] : 0;
			al = j + 1 < p->optlen ? p->opt[j + 1] : 0;
			bad = el < 2 || al < 2 || el != al || i + el > k->optlen || j + al > p->optlen ||
			      (k->opt[i] != 8 && memcmp(k->opt + i, p->opt + j, el) != 0) ||
			      (k->opt[i] == 8 && el == 10 && memcmp(k->opt + i + 6, p->opt + j + 6, 4) != 0);
		}
		if (bad) {
			char eo[256], ao[256];
			opt_format(k->opt, k->optlen, eo, sizeof(eo));
			opt_format(p->opt, p->optlen, ao, sizeof(ao));
			snprintf(err, n, "bad outbound TCP options: expected: <%s> actual: <%s>", eo, ao);
			return false;
		}
		i += el;
		j += al;
	}
	return true;
}

/* The TS option's value field in an option list, or NULL. */
static const uint8_t *find_ts(const uint8_t *opt, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (opt[i] <= 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			return NULL;
		if (opt[i] == 8 && opt[i + 1] == 10)
			return opt + i + 2;
		i += opt[i + 1];
	}
	return NULL;
}

/* packetdrill's set_outbound_ts_val_mapping. */
static void ts_map(struct dsock *s, const struct spkt *k, const struct live *p)
{
	const uint8_t *sv = find_ts(k->opt, k->optlen), *lv = find_ts(p->opt, p->optlen);
	if (!sv || !lv)
		return;
	s->ts_script[s->nts % RUN_TS_MAP] = get32(sv);
	s->ts_live[s->nts % RUN_TS_MAP] = get32(lv);
	s->nts++;
}

static void outbound(struct run *r, struct event *ev, struct dsock *s)
{
	struct spkt *k = &ev->pkt;
	bool synack = k->proto == P_TCP && (k->flags & USTACK_TCP_SYN) && (k->flags & USTACK_TCP_ACK);
	if (s->state == SS_PASSIVE_PACKET_RECEIVED && synack)
		s->script_local_isn = k->seq;
	int64_t expect = ev->usecs;
	int64_t end = (ev->tt == TM_ABS_RANGE || ev->tt == TM_REL_RANGE) ? ev->usecs_end : expect;
	int64_t limit = ev->tt == TM_ANY ? r->now + ANY_TIME_LIMIT_USECS : end + SNIFF_SLACK_USECS;
	if (limit < r->now)
		limit = r->now;
	struct live p;
	for (;;) {
		bool found = false;
		while (r->qlen && !found) {
			p = r->q[r->qhead];
			r->qhead = (r->qhead + 1) % RUN_MAX_QUEUE;
			r->qlen--;
			if (s->proto == P_UDP)
				udp_tuple(r, s);
			if (live_belongs(s, &p, k->proto)) {
				found = true;
				break;
			}
			if (r->cfg->verbose) {
				char d[512];
				live_format(&p, p.seq, p.ack, d, sizeof(d));
				printf("ignored packet (not the socket under test): %9.6f %s\n",
				       (double)p.usecs / 1e6, d);
			}
			free(p.buf);
		}
		if (found)
			break;
		if (r->failed)
			return;
		if (!run_step(r, limit) || r->failed) {
			if (r->failed)
				return;
			char d[512];
			spkt_format(k, d, sizeof(d));
			run_fail(r,
				 "%s:%d: error handling packet: timed out waiting for packet%s\n"
				 "script packet: %9.6f %s",
				 r->s->path, ev->line, r->qoverflow ? " (output queue overflowed)" : "",
				 (double)expect / 1e6, d);
			return;
		}
	}
	if (s->state == SS_PASSIVE_PACKET_RECEIVED && synack && (p.flags & USTACK_TCP_SYN)) {
		s->state = SS_PASSIVE_SYNACK_SENT;
		s->live_local_isn = p.seq;
	}
	uint32_t seq = p.seq, ack = p.ack;
	if (p.proto == US_IP_PROTO_TCP) {
		bool syn = p.flags & USTACK_TCP_SYN;
		seq -= local_script_to_live(s, syn);
		if (p.flags & USTACK_TCP_ACK)
			ack -= remote_script_to_live(s, syn);
	}
	if (p.proto == US_IP_PROTO_TCP && k->proto == P_TCP && !k->opt_nocheck)
		ts_map(s, k, &p);
	char err[1024] = "";
	bool ok = true;
	static const uint8_t protos[] = {
		[P_TCP] = US_IP_PROTO_TCP, [P_UDP] = US_IP_PROTO_UDP, [P_ICMP] = US_IP_PROTO_ICMP
	};
	if (p.proto != protos[k->proto]) {
		snprintf(err, sizeof(err), "live packet field ip_protocol: expected: %u vs actual: %u",
			 protos[k->proto], p.proto);
		ok = false;
	} else if (k->proto != P_ICMP && p.plen != k->len) {
		snprintf(err, sizeof(err), "live packet payload: expected %u bytes vs actual %u bytes",
			 k->len, p.plen);
		ok = false;
	} else if (k->proto == P_TCP) {
		ok = verify_tcp(k, &p, seq, ack, err, sizeof(err));
	} else if (k->proto == P_ICMP) {
		ok = check_field("icmp_type", k->icmp_type, p.icmp_type, err, sizeof(err)) &&
		     check_field("icmp_code", k->icmp_code, p.icmp_code, err, sizeof(err));
	}
	if (ok && k->proto != P_ICMP) {
		for (uint32_t i = 0; i < p.plen && ok; i++) {
			if (p.payload[i] != 0) {
				snprintf(err, sizeof(err), "incorrect outbound data payload");
				ok = false;
			}
		}
	}
	if (ok)
		ok = run_verify_time(r, ev->tt, expect, end, p.usecs, r->last ? r->last_time : -1,
				     "outbound packet", err, sizeof(err));
	char sd[512], ad[512];
	spkt_format(k, sd, sizeof(sd));
	live_format(&p, seq, ack, ad, sizeof(ad));
	if (r->cfg->verbose)
		printf("outbound sniffed packet: %9.6f %s\n", (double)p.usecs / 1e6, ad);
	if (!ok)
		run_fail(
			r,
			"%s:%d: error handling packet: %s\nscript packet: %9.6f %s\nactual packet: %9.6f %s",
			r->s->path, ev->line, err, (double)expect / 1e6, sd, (double)p.usecs / 1e6, ad);
	free(p.buf);
}

static void packet_event(struct run *r, struct event *ev)
{
	const char *why = NULL;
	struct dsock *s = sock_for_script_packet(r, &ev->pkt, &why);
	if (r->failed)
		return;
	if (!s) {
		run_fail(r, "%s:%d: error handling packet: %s", r->s->path, ev->line, why);
		return;
	}
	if (ev->pkt.dir == DIR_OUT) {
		outbound(r, ev, s);
		return;
	}
	run_advance(r, ev->usecs);
	if (r->failed)
		return;
	inbound(r, ev, s);
}

/* ---- System calls ---- */

void run_retry_pending(struct run *r)
{
	struct call *c = &r->pend;
	if (!c->active || r->failed)
		return;
	/* Taken off first: the attempt may move the clock (it never does
	 * today) and must not recurse into itself. */
	c->active = false;
	int rc = syscall_attempt(r, c, false);
	if (rc == 0) {
		c->active = true;
		return;
	}
	if (rc > 0 && !r->failed)
		syscall_check_end(r, c);
}

/* Lets a blocking call still in progress finish, as packetdrill waits (a
 * second) for its system call thread before the next call. */
static void await_idle(struct run *r)
{
	int64_t limit = r->now + AWAIT_IDLE_USECS;
	while (r->pend.active && !r->failed && run_step(r, limit))
		;
}

static void syscall_event(struct run *r, struct event *ev)
{
	bool blocking = ev->sc.end_usecs != SYSCALL_NONBLOCKING;
	await_idle(r);
	if (r->failed)
		return;
	if (blocking && r->pend.active) {
		run_fail(r,
			 "%s:%d: runtime error in %s call: blocking system call while "
			 "another blocking system call "
			 "is already in progress",
			 r->s->path, ev->line, ev->sc.name);
		return;
	}
	run_advance(r, ev->usecs);
	if (r->failed)
		return;
	if (r->cfg->verbose)
		printf("%s syscall: %9.6f\n", ev->sc.name, (double)r->now / 1e6);
	struct call c = { .ev = ev, .deadline = -1, .start = r->now };
	int rc = syscall_attempt(r, &c, true);
	if (rc < 0 || r->failed)
		return;
	if (rc > 0) {
		if (blocking)
			syscall_check_end(r, &c);
		return;
	}
	if (blocking) {
		/* The script goes on while the call waits (packetdrill's
		 * system call thread). */
		c.active = true;
		r->pend = c;
		return;
	}
	/* A call the script did not mark blocking blocks the whole script,
	 * as in packetdrill: only timers can wake it. */
	for (;;) {
		int64_t w = next_wake(r);
		if (c.deadline >= 0 && c.deadline < w)
			w = c.deadline;
		if (w == INF_TIME) {
			run_fail(r,
				 "%s:%d: runtime error in %s call: the call blocks and nothing "
				 "can wake it (mark it "
				 "...END_TIME to let the script go on)",
				 r->s->path, ev->line, ev->sc.name);
			return;
		}
		run_advance(r, w > r->now ? w : r->now);
		if (r->failed)
			return;
		rc = syscall_attempt(r, &c, false);
		if (rc != 0)
			return;
		if (w <= r->now && next_wake(r) <= r->now && (c.deadline < 0 || c.deadline > r->now)) {
			run_fail(r, "%s:%d: stack deadline stuck while %s blocks", r->s->path, ev->line,
				 ev->sc.name);
			return;
		}
	}
}

/* ---- Shell commands ---- */

/* The sysctls of event `at`'s command (-1: the script's first command),
 * as shell.c found them; each was accepted by a scratch stack already. */
static void apply_settings(struct run *r, int at, int line)
{
	for (int i = 0; i < r->s->nsets; i++) {
		const struct dsetting *d = &r->s->sets[i];
		if (d->at != at)
			continue;
		int e = ustack_sysctl_set(r->st, d->name, d->value);
		if (r->cfg->verbose)
			printf("sysctl %s=%s: %s\n", d->name, d->value, e ? strerror(-e) : "ok");
		if (e) {
			run_fail(r, "%s:%d: runtime error: sysctl %s=%s: %s", r->s->path, line, d->name,
				 d->value, strerror(-e));
			return;
		}
	}
}

static void command_event(struct run *r, struct event *ev)
{
	await_idle(r);
	if (r->failed)
		return;
	run_advance(r, ev->usecs);
	if (!r->failed)
		apply_settings(r, (int)(ev - r->s->ev), ev->line);
}

/* ---- The script ---- */

/* packetdrill's adjust_relative_event_times. */
static void adjust_times(struct run *r, struct event *ev)
{
	if (ev->tt != TM_ANY && ev->tt != TM_REL && ev->tt != TM_REL_RANGE)
		return;
	bool in = ev->type == EV_PACKET && ev->pkt.dir == DIR_IN;
	bool last_in = r->last && r->last->type == EV_PACKET && r->last->pkt.dir == DIR_IN;
	int64_t off = (in && last_in) ? r->last->usecs : r->now;
	ev->offset = off;
	ev->usecs += off;
	if (ev->tt == TM_REL_RANGE)
		ev->usecs_end += off;
	if (ev->tt == TM_REL && ev->type == EV_SYSCALL && ev->sc.end_usecs != SYSCALL_NONBLOCKING)
		ev->sc.end_usecs += off;
}

static bool is_abs(const struct event *ev)
{
	return ev->tt == TM_ABS || ev->tt == TM_ABS_RANGE;
}

int drill_run(struct script *s, char *err, size_t errlen)
{
	struct run *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "%s: out of memory", s->path);
		return -1;
	}
	r->s = s;
	r->cfg = &s->cfg;
	/* Script time 0 is a while after the stack's time 0: the stack takes
	 * a zero time stamp to mean "never". */
	r->base = USTACK_SEC(1000);
	r->next_port = 40000;
	struct ustack_config cfg = {
		.addr = s->cfg.local_ip,
		.netmask = 0xffff0000u,
		.mtu = s->cfg.mtu,
		.output = on_output,
		.output_ctx = r,
		.seed = s->cfg.seed,
	};
	int e = ustack_create(&cfg, &r->st);
	if (e) {
		snprintf(err, errlen, "%s: ustack_create: %s", s->path, strerror(-e));
		free(r);
		return -1;
	}
	ustack_poll(r->st, r->base);
	apply_settings(r, -1, 1);
	for (int i = 0; i < s->nev && !r->failed; i++) {
		struct event *ev = &s->ev[i];
		if (i == 0 && !(is_abs(ev) && ev->usecs == 0)) {
			run_fail(r, "%s:%d: first event should be at time 0", s->path, ev->line);
			break;
		}
		if (r->last && is_abs(r->last) && is_abs(ev) && ev->usecs < r->last_time) {
			run_fail(r, "%s:%d: time goes backward in script from %lld usec to %lld usec",
				 s->path, ev->line, (long long)r->last_time, (long long)ev->usecs);
			break;
		}
		adjust_times(r, ev);
		if (ev->type == EV_PACKET)
			packet_event(r, ev);
		else if (ev->type == EV_COMMAND)
			command_event(r, ev);
		else
			syscall_event(r, ev);
		r->last = ev;
		r->last_time = ev->usecs;
	}
	if (!r->failed && r->pend.active) {
		await_idle(r);
		if (r->pend.active)
			run_fail(r,
				 "%s:%d: runtime error: exiting while a blocking system call is in progress",
				 s->path, r->pend.ev->line);
	}
	int rc = r->failed ? -1 : 0;
	if (r->failed)
		snprintf(err, errlen, "%s", r->err);
	ustack_destroy(r->st);
	for (int i = 0; i < r->qlen; i++)
		free(r->q[(r->qhead + i) % RUN_MAX_QUEUE].buf);
	free(r);
	return rc;
}

int drill_option(struct drill_config *c, const char *name, const char *value, char *err, size_t errlen)
{
	struct in_addr a;
	char *end;
	if (strcmp(name, "verbose") == 0 || strcmp(name, "v") == 0) {
		c->verbose = true;
		return 0;
	}
	if (strcmp(name, "ip_version") == 0) {
		if (value && strcmp(value, "ipv4") == 0)
			return 0;
		return 1;
	}
	if (!value) {
		snprintf(err, errlen, "option --%s needs a value", name);
		return strcmp(name, "local_ip") == 0 || strcmp(name, "remote_ip") == 0 ||
				       strcmp(name, "tolerance_usecs") == 0 ||
				       strcmp(name, "tolerance_percent") == 0 ||
				       strcmp(name, "bind_port") == 0 || strcmp(name, "connect_port") == 0 ||
				       strcmp(name, "mtu") == 0
			       ? -1
			       : 1;
	}
	if (strcmp(name, "local_ip") == 0 || strcmp(name, "remote_ip") == 0) {
		if (inet_pton(AF_INET, value, &a) != 1) {
			snprintf(err, errlen, "bad --%s: %s", name, value);
			return -1;
		}
		*(name[0] == 'l' ? &c->local_ip : &c->remote_ip) = ntohl(a.s_addr);
		return 0;
	}
	if (strcmp(name, "tolerance_usecs") == 0 || strcmp(name, "bind_port") == 0 ||
	    strcmp(name, "connect_port") == 0 || strcmp(name, "mtu") == 0) {
		errno = 0;
		long long v = strtoll(value, &end, 10);
		long long max = name[0] == 't' ? 3600LL * 1000000 : name[0] == 'm' ? 65535 : 65535;
		long long min = name[0] == 't' ? 0 : name[0] == 'm' ? 576 : 1;
		if (errno || *end || end == value || v < min || v > max) {
			snprintf(err, errlen, "bad --%s: %s", name, value);
			return -1;
		}
		if (name[0] == 't')
			c->tolerance_usecs = v;
		else if (name[0] == 'b')
			c->bind_port = (uint16_t)v;
		else if (name[0] == 'c')
			c->connect_port = (uint16_t)v;
		else
			c->mtu = (uint16_t)v;
		return 0;
	}
	if (strcmp(name, "tolerance_percent") == 0) {
		double v = strtod(value, &end);
		if (*end || end == value || !(v >= 0 && v <= 100)) {
			snprintf(err, errlen, "bad --%s: %s", name, value);
			return -1;
		}
		c->tolerance_percent = v;
		return 0;
	}
	snprintf(err, errlen, "unknown option --%s", name);
	return 1;
}
