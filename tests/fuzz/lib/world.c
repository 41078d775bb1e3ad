/* The fuzz targets' shared harness: see world.h. */
#include "world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

uint8_t fz_take8(struct fz_world *w)
{
	if (!w->left)
		return 0;
	w->left--;
	return *w->in++;
}

uint16_t fz_take16(struct fz_world *w)
{
	uint16_t hi = fz_take8(w);
	return (uint16_t)(hi << 8 | fz_take8(w));
}

uint32_t fz_take32(struct fz_world *w)
{
	uint32_t hi = fz_take16(w);
	return hi << 16 | fz_take16(w);
}

const uint8_t *fz_take(struct fz_world *w, size_t n, size_t *got)
{
	const uint8_t *p = w->in;
	if (n > w->left)
		n = w->left;
	w->in += n;
	w->left -= n;
	*got = n;
	return p;
}

static void output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct fz_world *w = ctx;
	static uint8_t pkt[65536];
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (n + iov[i].iov_len > sizeof(pkt))
			abort();
		memcpy(pkt + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	w->last_out_len = n < sizeof(w->last_out) ? n : sizeof(w->last_out);
	memcpy(w->last_out, pkt, w->last_out_len);
	/* Every packet the stack emits must itself be valid. */
	struct us_ipv4 ip;
	if (us_ipv4_parse(pkt, n, true, &ip))
		abort();
	if (ip.proto != US_IP_PROTO_TCP || (ip.frag & (US_IPV4_MF | US_IPV4_OFFMASK)))
		return;
	struct us_tcp t;
	if (us_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, true, &t))
		abort();
	for (int i = 0; i < w->nconns; i++) {
		struct fz_conn *c = &w->conns[i];
		if (t.h.dport == c->sport && t.h.sport == c->dport) {
			uint32_t end = t.h.seq + t.h.len + !!(t.h.flags & USTACK_TCP_SYN) +
				       !!(t.h.flags & USTACK_TCP_FIN);
			if (SEQ_GT(end, c->stack_nxt))
				c->stack_nxt = end;
		}
	}
}

void fz_create(struct fz_world *w, const uint8_t *data, size_t size)
{
	memset(w, 0, sizeof(*w));
	w->in = data;
	w->left = size;
	struct ustack_config cfg = { .addr = FZ_ME, .output = output, .output_ctx = w, .seed = 1, .max_conns = 64,
				     .tcp_rmem = 65536, .tcp_wmem = 65536, .ipfrag_max = 8,
				     .ipfrag_mem = 65536 * 3 };
	if (ustack_create(&cfg, &w->st))
		abort();
	w->now = USTACK_SEC(1);
	ustack_poll(w->st, w->now);
}

void fz_destroy(struct fz_world *w)
{
	ustack_destroy(w->st);
	w->st = NULL;
}

static void broken(const char *why)
{
	fprintf(stderr, "invariant broken: %s\n", why);
	abort();
}

/* IPv4 reassembly within its caps; each datagram's fragments sorted,
 * disjoint, inside 65535 bytes, and adding up to what it counts. */
static void check_frag(const struct ustack *st)
{
	const struct us_frag_table *t = &st->frag;
	if (t->count > st->cfg.ipfrag_max || t->mem > st->cfg.ipfrag_mem)
		broken("reassembly over its caps");
	size_t mem = 0;
	uint32_t count = 0;
	for (const struct us_fragq *q = t->oldest; q; q = q->next) {
		if (++count > t->count)
			broken("reassembly queue longer than its count");
		uint32_t have = 0, end = 0;
		for (const struct us_frag *f = q->frags; f; f = f->next) {
			if (f->off < end || f->len == 0 || (uint32_t)f->off + f->len > 65535)
				broken("fragments overlap or misplaced");
			end = (uint32_t)f->off + f->len;
			have += f->len;
			if (!f->next && f != q->tail)
				broken("fragment tail is not the last");
		}
		if (have != q->have || (q->last_in && end > q->total))
			broken("fragment bytes miscounted");
		mem += q->mem;
	}
	if (count != t->count)
		broken("reassembly count wrong");
	if (mem > t->mem)
		broken("reassembly memory miscounted");
}

void fz_check(struct fz_world *w)
{
	char why[256];
	if (us_check_invariants(w->st, why, sizeof(why)))
		broken(why);
	check_frag(w->st);
}

/* A UDP socket's queue holds at most its buffer plus one datagram (Linux's
 * __udp_enqueue_schedule_skb). */
void fz_check_udp(struct fz_world *w, int fd)
{
	const struct us_socktab *tab = &w->st->socks;
	if (fd < US_FD_FIRST || (uint32_t)(fd - US_FD_FIRST) >= tab->cap)
		return;
	const struct us_node *n = tab->v[fd - US_FD_FIRST];
	if (!n || n->kind != US_NODE_UDP)
		return;
	const struct us_udp_sock *s = (const struct us_udp_sock *)n;
	uint32_t bytes = 0, biggest = 0;
	for (const struct us_udp_dgram *d = s->rq_head; d; d = d->next) {
		bytes += d->len;
		if (d->len > biggest)
			biggest = d->len;
		if (!d->next && d != s->rq_tail)
			broken("UDP queue tail is not the last");
	}
	if (bytes > s->rmem || s->rmem > s->rcvbuf + biggest + 4096)
		broken("UDP receive queue over its bound");
}

void fz_advance(struct fz_world *w, ustack_time_t dt)
{
	w->now += dt;
	ustack_poll(w->st, w->now);
}

void fz_inject_ip(struct fz_world *w, uint8_t proto, uint16_t id, uint16_t frag, const uint8_t *payload,
		  size_t len)
{
	static uint8_t pkt[65536];
	if (len > sizeof(pkt) - US_IPV4_HDR_MIN)
		len = sizeof(pkt) - US_IPV4_HDR_MIN;
	struct us_ipv4 ip = { .ttl = 64, .proto = proto, .id = id, .frag = frag, .src = FZ_PEER, .dst = FZ_ME };
	us_ipv4_build(pkt, &ip, len);
	memcpy(pkt + US_IPV4_HDR_MIN, payload, len);
	ustack_input(w->st, w->now, pkt, US_IPV4_HDR_MIN + len);
}

size_t fz_build_tcp(uint8_t *th, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
		    uint32_t seq, uint32_t ack, uint16_t win, const uint8_t *opts, size_t optlen, size_t plen)
{
	size_t doff = 20 + ((optlen + 3) & ~(size_t)3);
	memset(th, 0, doff);
	th[0] = (uint8_t)(sport >> 8), th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8), th[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		th[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		th[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	th[12] = (uint8_t)((doff / 4) << 4);
	th[13] = flags;
	th[14] = (uint8_t)(win >> 8), th[15] = (uint8_t)win;
	if (optlen)
		memcpy(th + 20, opts, optlen);
	memset(th + doff, 'x', plen);
	uint64_t acc = us_csum_pseudo(src, dst, US_IP_PROTO_TCP, (uint16_t)(doff + plen));
	uint16_t c = us_csum_fold(us_csum_add(acc, th, doff + plen));
	memcpy(th + 16, &c, 2);
	return doff + plen;
}

void fz_inject_tcp(struct fz_world *w, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t win, const uint8_t *opts, size_t optlen, size_t plen)
{
	static uint8_t th[60 + 65536];
	if (optlen > 40)
		optlen = 40;
	size_t doff = 20 + ((optlen + 3) & ~(size_t)3);
	if (plen > sizeof(th) - doff - US_IPV4_HDR_MIN)
		plen = sizeof(th) - doff - US_IPV4_HDR_MIN;
	size_t len = fz_build_tcp(th, FZ_PEER, FZ_ME, sport, dport, flags, seq, ack, win, opts, optlen, plen);
	fz_inject_ip(w, US_IP_PROTO_TCP, 0, 0, th, len);
}

static const uint8_t syn_opts[] = { 2, 4, 5, 0xb4, 1, 3, 3, 7 };

void fz_connect_in(struct fz_world *w, struct fz_conn *c, int lfd)
{
	fz_inject_tcp(w, c->sport, c->dport, USTACK_TCP_SYN, c->peer_nxt++, 0, 65535, syn_opts, sizeof(syn_opts), 0);
	fz_inject_tcp(w, c->sport, c->dport, USTACK_TCP_ACK, c->peer_nxt, c->stack_nxt, 512, NULL, 0, 0);
	c->fd = ustack_accept(w->st, lfd, NULL, NULL);
}

void fz_connect_out(struct fz_world *w, struct fz_conn *c)
{
	c->fd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(c->sport),
				  .sin_addr.s_addr = htonl(FZ_PEER) };
	ustack_connect(w->st, c->fd, (struct sockaddr *)&to, sizeof(to));
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	ustack_getsockname(w->st, c->fd, (struct sockaddr *)&me, &len);
	c->dport = ntohs(me.sin_port);
	fz_inject_tcp(w, c->sport, c->dport, USTACK_TCP_SYN | USTACK_TCP_ACK, c->peer_nxt++, c->stack_nxt, 65535,
		      syn_opts, sizeof(syn_opts), 0);
}
