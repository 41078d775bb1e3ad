/*
 * UDP sockets (RFC 768, RFC 1122 4.1), with Linux's choices where the RFCs
 * leave them open.
 *
 * Message boundaries are kept exactly: a send is one datagram, and a
 * receive takes one whole datagram from the queue, however much of it fits
 * in the caller's buffer. The queue is bounded by SO_RCVBUF, charged as
 * Linux charges it: each datagram's payload plus a fixed overhead, and a
 * datagram is refused (counted) once what waits already exceeds the
 * buffer, so one datagram always fits in an empty queue.
 *
 * Ports: bind follows Linux's UDP rule (a port is shared only if every
 * socket on it set SO_REUSEADDR); an unbound socket gets an ephemeral port
 * on its first send or connect. A datagram goes to the socket that matches
 * it best (a connected socket whose peer sent it, then one bound to the
 * address, then a wildcard), the most recently bound on a tie, as Linux's
 * UDP lookup scores them; a broadcast goes to every socket that matches.
 */
#include <errno.h>
#include <string.h>

#include <ustack/socket.h>

#include "core/stack.h"
#include "ip/ip.h"
#include "udp/udp.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/udp.h"

/* Linux's net.core.rmem_default and wmem_default. */
#define UDP_RMEM_DEFAULT 212992u
#define UDP_WMEM_DEFAULT 212992u
/* What Linux adds to a datagram's size when it charges it to the receive
 * buffer (skb->truesize): the sk_buff and its shared info, 256 + 320
 * bytes on x86-64 (SKB_TRUESIZE). */
#define UDP_DGRAM_OVERHEAD 576u

#define PORTS_MIN 64

int us_udp_init(struct ustack *st)
{
	struct us_udp_layer *u = &st->udp;
	u->ports = us_alloc(st, PORTS_MIN * sizeof(*u->ports));
	if (!u->ports)
		return -ENOMEM;
	u->ports_mask = PORTS_MIN - 1;
	return 0;
}

void us_udp_fini(struct ustack *st)
{
	struct us_udp_layer *u = &st->udp;
	/* Every socket was closed with its descriptor (us_socktab_fini). */
	us_free(st, u->ports, (u->ports_mask + 1) * sizeof(*u->ports));
	u->ports = NULL;
}

/* ---- the port table ---- */

static struct us_udp_sock **port_slot(struct ustack *st, uint16_t port)
{
	return &st->udp.ports[port & st->udp.ports_mask];
}

static void ports_grow(struct ustack *st)
{
	struct us_udp_layer *u = &st->udp;
	uint32_t osize = u->ports_mask + 1, nsize = osize * 2;
	struct us_udp_sock **nv = us_alloc(st, nsize * sizeof(*nv));
	if (!nv)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < osize; i++) {
		for (struct us_udp_sock *s = u->ports[i], *next; s; s = next) {
			next = s->pnext;
			struct us_udp_sock **pp = &nv[s->n.t.lport & (nsize - 1)];
			s->pnext = *pp;
			*pp = s;
		}
	}
	us_free(st, u->ports, osize * sizeof(*u->ports));
	u->ports = nv;
	u->ports_mask = nsize - 1;
}

static void port_insert(struct ustack *st, struct us_udp_sock *s, uint16_t port)
{
	struct us_udp_layer *u = &st->udp;
	if (u->nbound >= u->ports_mask + 1)
		ports_grow(st);
	s->n.t.lport = port;
	s->bind_seq = ++u->bind_seq;
	struct us_udp_sock **pp = port_slot(st, port);
	s->pnext = *pp;
	*pp = s;
	s->bound = true;
	u->nbound++;
}

static void port_remove(struct ustack *st, struct us_udp_sock *s)
{
	if (!s->bound)
		return;
	struct us_udp_sock **pp = port_slot(st, s->n.t.lport);
	while (*pp != s)
		pp = &(*pp)->pnext;
	*pp = s->pnext;
	s->pnext = NULL;
	s->bound = false;
	s->port_locked = false;
	s->n.t.lport = 0;
	st->udp.nbound--;
}

static bool port_used(struct ustack *st, uint16_t port)
{
	for (struct us_udp_sock *o = *port_slot(st, port); o; o = o->pnext)
		if (o->n.t.lport == port)
			return true;
	return false;
}

/* Linux's udp_lib_lport_inuse, for a stack of one address: every holder
 * and the newcomer must have set SO_REUSEADDR. */
static bool bind_conflict(struct ustack *st, const struct us_udp_sock *s, uint16_t port)
{
	for (struct us_udp_sock *o = *port_slot(st, port); o; o = o->pnext)
		if (o != s && o->n.t.lport == port && !(o->reuseaddr && s->reuseaddr))
			return true;
	return false;
}

/* RFC 6056 3.3.1 (algorithm 1): a random start in the range, then the
 * first free port. UDP's port is chosen before the peer is known (at bind
 * or first send), so the per-destination algorithms have nothing to hash. */
static int ephemeral_port(struct ustack *st)
{
	uint32_t lo = st->cfg.ephemeral_lo, n = st->cfg.ephemeral_hi - lo + 1;
	uint32_t start = (uint32_t)(us_random(st) % n);
	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(lo + (start + i) % n);
		if (!port_used(st, port))
			return port;
	}
	return -1;
}

/* ---- sockets ---- */

struct us_udp_sock *us_udp_new(struct ustack *st)
{
	struct us_udp_sock *s = us_alloc(st, sizeof(*s));
	if (!s)
		return NULL;
	s->n.kind = US_NODE_UDP;
	s->fd = -1;
	s->rcvbuf = UDP_RMEM_DEFAULT;
	s->sndbuf = UDP_WMEM_DEFAULT;
	return s;
}

static void dgram_free(struct ustack *st, struct us_udp_sock *s, struct us_udp_dgram *d)
{
	s->rmem -= UDP_DGRAM_OVERHEAD + d->len;
	us_free(st, d, sizeof(*d) + d->len);
}

void us_udp_free(struct ustack *st, struct us_udp_sock *s)
{
	for (struct us_udp_dgram *d = s->rq_head, *next; d; d = next) {
		next = d->next;
		dgram_free(st, s, d);
	}
	port_remove(st, s);
	us_free(st, s, sizeof(*s));
}

int us_udp_bind(struct ustack *st, struct us_udp_sock *s, uint32_t addr, uint16_t port)
{
	/* Linux's order (__inet_bind): the address, then whether the socket
	 * is bound already (by bind, connect or a send), then the port. */
	if (addr != 0 && addr != st->cfg.addr)
		return -EADDRNOTAVAIL;
	if (s->bound || s->connected)
		return -EINVAL;
	if (port == 0) {
		int p = ephemeral_port(st);
		if (p < 0)
			return -EADDRINUSE;
		port = (uint16_t)p;
	} else {
		if (bind_conflict(st, s, port))
			return -EADDRINUSE;
		s->port_locked = true;
	}
	s->n.t.laddr = addr;
	s->addr_locked = addr != 0;
	port_insert(st, s, port);
	return 0;
}

int us_udp_autobind(struct ustack *st, struct us_udp_sock *s)
{
	if (s->bound)
		return 0;
	int p = ephemeral_port(st);
	if (p < 0)
		return -EAGAIN; /* Linux's inet_autobind */
	port_insert(st, s, (uint16_t)p);
	return 0;
}

int us_udp_connect(struct ustack *st, struct us_udp_sock *s, uint32_t raddr, uint16_t rport)
{
	/* Linux (ip4_datagram_connect): a broadcast peer needs SO_BROADCAST. */
	if (us_ip_is_broadcast(st, raddr) && !s->broadcast)
		return -EACCES;
	int err = us_udp_autobind(st, s);
	if (err)
		return err;
	/* RFC 1122 4.1.3.4 lets an application fix the peer; from now on only
	 * that peer's datagrams are taken, and the local address is the one
	 * the route to it uses (there is one). */
	if (!s->addr_locked)
		s->n.t.laddr = st->cfg.addr;
	s->n.t.raddr = raddr;
	s->n.t.rport = rport;
	s->connected = true;
	return 0;
}

int us_udp_disconnect(struct ustack *st, struct us_udp_sock *s)
{
	/* Linux's __udp_disconnect: the peer goes, and so do an address and a
	 * port that bind() did not choose. */
	s->connected = false;
	s->n.t.raddr = 0;
	s->n.t.rport = 0;
	if (!s->addr_locked)
		s->n.t.laddr = 0;
	if (!s->port_locked)
		port_remove(st, s);
	return 0;
}

ssize_t us_udp_send(struct ustack *st, struct us_udp_sock *s, const void *buf, size_t len, bool to_addr,
		    uint32_t daddr, uint16_t dport)
{
	if (!to_addr) {
		if (!s->connected)
			return -EDESTADDRREQ;
		daddr = s->n.t.raddr;
		dport = s->n.t.rport;
	}
	if (us_ip_is_broadcast(st, daddr) && !s->broadcast)
		return -EACCES;
	/* A datagram must fit in one IPv4 datagram, fragments or not. */
	if (len > US_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	/* Linux (sock_alloc_send_pskb): a pending error is reported, and
	 * cleared, instead of sending; then a shut-down write side. */
	if (s->so_error) {
		int err = s->so_error;
		s->so_error = 0;
		return -err;
	}
	if (s->wr_shut)
		return -EPIPE;
	uint8_t *uh = st->hdr + US_IPV4_HDR_MIN;
	us_udp_build(uh, st->cfg.addr, daddr, s->n.t.lport, dport, buf, len);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	us_count(st, USTACK_STAT_UDP_OUT);
	/* DF clear: a datagram larger than the MTU leaves in fragments. */
	us_ip_output_frag(st, daddr, US_IP_PROTO_UDP, US_UDP_HDR_LEN, &iov, 1, len);
	return (ssize_t)len;
}

ssize_t us_udp_recv(struct ustack *st, struct us_udp_sock *s, void *buf, size_t len, int flags,
		    uint32_t *saddr, uint16_t *sport)
{
	/* Linux (__skb_recv_udp): a pending error comes first, even before
	 * datagrams that wait. */
	if (s->so_error) {
		int err = s->so_error;
		s->so_error = 0;
		return -err;
	}
	struct us_udp_dgram *d = s->rq_head;
	if (!d)
		return s->rd_shut ? 0 : -EAGAIN;
	size_t n = len < d->len ? len : d->len;
	if (n)
		memcpy(buf, d->data, n);
	*saddr = d->saddr;
	*sport = d->sport;
	size_t whole = d->len;
	if (!(flags & MSG_PEEK)) {
		s->rq_head = d->next;
		if (!s->rq_head)
			s->rq_tail = NULL;
		dgram_free(st, s, d);
	}
	/* What is left of a datagram that did not fit is discarded; MSG_TRUNC
	 * asks for its real length, as Linux returns it. */
	return (ssize_t)((flags & MSG_TRUNC) ? whole : n);
}

int us_udp_shutdown(struct ustack *st, struct us_udp_sock *s, int how)
{
	/* Linux's inet_shutdown: the directions are shut even on a socket
	 * with no peer, which still hears ENOTCONN. */
	if (how != SHUT_WR)
		s->rd_shut = true;
	if (how != SHUT_RD)
		s->wr_shut = true;
	return s->connected ? 0 : -ENOTCONN;
}

int us_udp_poll(struct ustack *st, struct us_udp_sock *s)
{
	/* Linux's datagram_poll. A datagram leaves at once, so there is
	 * always room to send. */
	int mask = POLLOUT;
	if (s->so_error)
		mask |= POLLERR;
	if (s->rq_head)
		mask |= POLLIN;
	if (s->rd_shut)
		mask |= POLLIN | POLLRDHUP;
	if (s->rd_shut && s->wr_shut)
		mask |= POLLHUP;
	return mask;
}

/* ---- arrival ---- */

static bool matches(const struct us_udp_sock *s, uint32_t laddr, uint16_t lport, uint32_t raddr,
		    uint16_t rport)
{
	return s->n.t.lport == lport && (s->n.t.laddr == 0 || s->n.t.laddr == laddr) &&
	       (!s->connected || (s->n.t.raddr == raddr && s->n.t.rport == rport));
}

/* Linux's compute_score, reduced to what differs here: a connected socket
 * beats a bound address, which beats a wildcard; then the newest. */
static struct us_udp_sock *lookup(struct ustack *st, uint32_t laddr, uint16_t lport, uint32_t raddr,
				  uint16_t rport)
{
	struct us_udp_sock *best = NULL;
	int best_score = -1;
	for (struct us_udp_sock *s = *port_slot(st, lport); s; s = s->pnext) {
		if (!matches(s, laddr, lport, raddr, rport))
			continue;
		int score = (s->connected ? 8 : 0) + (s->n.t.laddr ? 4 : 0);
		if (score > best_score || (score == best_score && s->bind_seq > best->bind_seq)) {
			best = s;
			best_score = score;
		}
	}
	return best;
}

static void enqueue(struct ustack *st, struct us_udp_sock *s, uint32_t saddr, uint16_t sport,
		    const uint8_t *data, size_t len)
{
	/* Linux (__udp_enqueue_schedule_skb) refuses once the charge already
	 * exceeds the buffer, so a queue holds at most SO_RCVBUF plus one
	 * datagram. */
	if (s->rmem > s->rcvbuf) {
		us_drop(st, USTACK_STAT_DROP_UDP_RCVBUF_FULL, NULL, NULL);
		return;
	}
	struct us_udp_dgram *d = us_realloc(st, NULL, 0, sizeof(*d) + len);
	if (!d) {
		us_drop(st, USTACK_STAT_DROP_UDP_NO_MEMORY, NULL, NULL);
		return;
	}
	d->next = NULL;
	d->saddr = saddr;
	d->sport = sport;
	d->len = (uint32_t)len;
	if (len)
		memcpy(d->data, data, len);
	if (s->rq_tail)
		s->rq_tail->next = d;
	else
		s->rq_head = d;
	s->rq_tail = d;
	s->rmem += UDP_DGRAM_OVERHEAD + (uint32_t)len;
	us_count(st, USTACK_STAT_UDP_IN);
}

void us_udp_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip)
{
	struct us_udp u;
	int why = us_udp_parse(ip->payload, ip->payload_len, ip->src, ip->dst, !st->rx_csum_ok, &u);
	if (why) {
		us_drop(st, (enum ustack_stat)why, NULL, NULL);
		return;
	}
	if (ip->dst != st->cfg.addr) {
		/* A broadcast: every socket that would take it gets a copy, as
		 * in Linux (__udp4_lib_mcast_deliver); nobody answers for a
		 * port nobody holds (RFC 1122 3.2.2). */
		bool taken = false;
		for (struct us_udp_sock *s = *port_slot(st, u.dport); s; s = s->pnext) {
			if (matches(s, ip->dst, u.dport, ip->src, u.sport)) {
				enqueue(st, s, ip->src, u.sport, u.payload, u.payload_len);
				taken = true;
			}
		}
		if (!taken)
			us_drop(st, USTACK_STAT_DROP_UDP_NO_PORT, NULL, NULL);
		return;
	}
	struct us_udp_sock *s = lookup(st, ip->dst, u.dport, ip->src, u.sport);
	if (!s) {
		/* RFC 1122 4.1.3.1: a datagram for a port nobody holds SHOULD
		 * get a port unreachable; its checksum was good (parse). */
		us_drop(st, USTACK_STAT_DROP_UDP_NO_PORT, NULL, NULL);
		us_icmp_send_error(st, pkt, ip->total_len, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH);
		return;
	}
	enqueue(st, s, ip->src, u.sport, u.payload, u.payload_len);
}

int us_udp_icmp_error(struct ustack *st, const struct us_tuple *t, const struct us_icmp_err *e)
{
	/* The socket that would take the peer's answer; Linux (__udp4_lib_err,
	 * without IP_RECVERR) tells it only if it is connected (the error is
	 * then surely about its own traffic) and the error is hard. */
	struct us_udp_sock *s = lookup(st, t->laddr, t->lport, t->raddr, t->rport);
	if (!s || !s->connected)
		return USTACK_STAT_DROP_ICMP_NO_SOCKET;
	if (!e->fatal)
		return USTACK_STAT_DROP_ICMP_UDP_SOFT;
	s->so_error = e->err;
	us_count(st, USTACK_STAT_ICMP_IN_HARD_ERRORS);
	return 0;
}
