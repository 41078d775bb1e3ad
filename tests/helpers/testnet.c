/*
 * Test fixtures: see testnet.h.
 */
#include "testnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

struct sockaddr_in t_sin(uint32_t addr, uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(addr) };
	return s;
}

static void decode(struct tseg *s, ustack_time_t t, const uint8_t *pkt, size_t len)
{
	struct us_ipv4 ip;
	struct us_tcp tcp;
	memset(s, 0, sizeof(*s));
	s->t = t;
	if (us_ipv4_parse(pkt, len, true, &ip) || ip.proto != US_IP_PROTO_TCP ||
	    us_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, true, &tcp)) {
		s->bad = true;
		return;
	}
	s->h = tcp.h;
	memcpy(s->data, tcp.payload, tcp.h.len < T_MAXDATA ? tcp.h.len : T_MAXDATA);
}

static size_t gather(uint8_t *buf, size_t cap, const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++) {
		size_t l = iov[i].iov_len;
		if (n + l > cap)
			abort();
		memcpy(buf + n, iov[i].iov_base, l);
		n += l;
	}
	return n;
}

static void append_trace(char *buf, size_t cap, size_t *len, const char *who, const struct ustack_event *ev)
{
	char line[512];
	ustack_event_format(ev, 0, line, sizeof(line));
	int n = snprintf(buf + *len, cap - *len, "%s%s\n", who, line);
	if (n > 0 && (size_t)n < cap - *len)
		*len += (size_t)n;
}

/* ---- tpeer ---- */

static void tpeer_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct tpeer *p = ctx;
	uint8_t pkt[65536];
	size_t len = gather(pkt, sizeof(pkt), iov, iovcnt);
	if (p->nout == T_MAXSEG)
		abort();
	decode(&p->out[p->nout++], p->now, pkt, len);
}

static void tpeer_trace(void *ctx, const struct ustack_event *ev)
{
	struct tpeer *p = ctx;
	append_trace(p->trace, sizeof(p->trace), &p->trace_len, "", ev);
}

/* The stack of a fixture where the test plays the peer: the caller's
 * config (or none) at T_ADDR_A, with the fixture's output and trace. */
static int fixture_stack(const struct ustack_config *cfg, void (*output)(void *, const struct iovec *, int),
			 void (*trace)(void *, const struct ustack_event *), void *ctx, struct ustack **st)
{
	struct ustack_config c = { 0 };
	if (cfg)
		c = *cfg;
	c.addr = T_ADDR_A;
	c.output = output;
	c.output_ctx = ctx;
	c.trace = trace;
	c.trace_ctx = ctx;
	if (!c.seed)
		c.seed = 42;
	return ustack_create(&c, st);
}

void tpeer_init(struct tpeer *p, const struct ustack_config *cfg)
{
	memset(p, 0, sizeof(*p));
	p->addr = T_ADDR_A;
	p->peer_addr = T_ADDR_B;
	p->out = calloc(T_MAXSEG, sizeof(*p->out));
	p->now = USTACK_SEC(1);
	if (!p->out || fixture_stack(cfg, tpeer_output, tpeer_trace, p, &p->st))
		abort();
	ustack_poll(p->st, p->now);
}

void tpeer_fini(struct tpeer *p)
{
	ustack_destroy(p->st);
	free(p->out);
}

size_t t_build_packet(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t flags,
		      uint32_t seq, uint32_t ack, uint16_t win, const void *data, size_t len,
		      const struct ustack_tcp_options *opt)
{
	struct ustack_tcp_segment seg = {
		.saddr = src, .daddr = dst, .sport = sport, .dport = dport, .seq = seq, .ack = ack,
		.window = win, .flags = flags, .len = (uint32_t)len,
	};
	if (opt)
		seg.opt = *opt;
	uint8_t *th = buf + US_IPV4_HDR_MIN;
	size_t hl = us_tcp_build(th, &seg);
	if (len)
		memcpy(th + hl, data, len);
	uint64_t acc = us_csum_pseudo(src, dst, US_IP_PROTO_TCP, (uint16_t)(hl + len));
	uint16_t c = us_csum_fold(us_csum_add(acc, th, hl + len));
	memcpy(th + 16, &c, 2);
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_TCP, .src = src, .dst = dst, .frag = US_IPV4_DF };
	us_ipv4_build(buf, &ip, hl + len);
	return US_IPV4_HDR_MIN + hl + len;
}

void tpeer_send(struct tpeer *p, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		uint16_t win, const void *data, size_t len, const struct ustack_tcp_options *opt)
{
	uint8_t pkt[65536];
	size_t n = t_build_packet(pkt, p->peer_addr, p->addr, sport, dport, flags, seq, ack, win, data, len, opt);
	tpeer_raw(p, pkt, n);
}

void tpeer_raw(struct tpeer *p, const void *pkt, size_t len)
{
	ustack_input(p->st, p->now, pkt, len);
}

const struct tseg *tpeer_next(struct tpeer *p)
{
	return p->rd < p->nout ? &p->out[p->rd++] : NULL;
}

void tpeer_advance(struct tpeer *p, ustack_time_t dt)
{
	p->now += dt;
	ustack_poll(p->st, p->now);
}

int tpeer_establish_active(struct tpeer *p, uint16_t peer_port, uint32_t peer_iss, uint32_t *iss,
			   uint16_t *lport)
{
	int fd = ustack_socket(p->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(p->peer_addr, peer_port);
	if (fd < 0 || ustack_connect(p->st, fd, T_SA(sin), sizeof(sin)) != -EINPROGRESS)
		return -1;
	const struct tseg *syn = tpeer_next(p);
	if (!syn || syn->h.flags != USTACK_TCP_SYN)
		return -1;
	*iss = syn->h.seq;
	*lport = syn->h.sport;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460, .wscale = 7 };
	tpeer_send(p, peer_port, *lport, USTACK_TCP_SYN | USTACK_TCP_ACK, peer_iss, *iss + 1, 65535, NULL, 0, &o);
	const struct tseg *ack = tpeer_next(p);
	if (!ack || ack->h.flags != USTACK_TCP_ACK || ack->h.ack != peer_iss + 1)
		return -1;
	return fd;
}

void *t_counting_alloc(void *ctx, void *ptr, size_t osize, size_t nsize)
{
	struct t_memcount *m = ctx;
	if (nsize == 0) {
		if (ptr) {
			m->bytes -= osize;
			m->blocks--;
		}
		free(ptr);
		return NULL;
	}
	void *q = realloc(ptr, nsize);
	if (!q)
		return NULL; /* the old block, if any, is still held */
	m->bytes += nsize - (ptr ? osize : 0);
	if (!ptr)
		m->blocks++;
	if (m->bytes > m->peak)
		m->peak = m->bytes;
	return q;
}

int t_listen(struct ustack *st, uint32_t addr, uint16_t port, int backlog)
{
	int fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	struct sockaddr_in sin = t_sin(addr, port);
	int err = ustack_bind(st, fd, T_SA(sin), sizeof(sin));
	if (!err)
		err = ustack_listen(st, fd, backlog);
	return err ? err : fd;
}

int tpeer_establish_passive(struct tpeer *p, uint16_t lport, uint16_t peer_port, uint32_t peer_iss, uint32_t *iss,
			    int *listen_fd)
{
	int lfd = t_listen(p->st, 0, lport, 8);
	if (lfd < 0)
		return -1;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460, .wscale = 7 };
	tpeer_send(p, peer_port, lport, USTACK_TCP_SYN, peer_iss, 0, 65535, NULL, 0, &o);
	const struct tseg *sa = tpeer_next(p);
	if (!sa || sa->h.flags != (USTACK_TCP_SYN | USTACK_TCP_ACK) || sa->h.ack != peer_iss + 1)
		return -1;
	*iss = sa->h.seq;
	tpeer_send(p, peer_port, lport, USTACK_TCP_ACK, peer_iss + 1, *iss + 1, 512, NULL, 0, NULL);
	int fd = ustack_accept(p->st, lfd, NULL, NULL);
	*listen_fd = lfd;
	return fd;
}

/* ---- tnet ---- */

static void tnet_tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	struct tnet *n = ctx;
	if (n->n == T_MAXSEG)
		abort();
	decode(&n->wire[n->n++], t, pkt, len);
}

static void tnet_trace(void *ctx, const struct ustack_event *ev)
{
	struct tnet *n = ctx;
	append_trace(n->trace, sizeof(n->trace), &n->trace_len, ev->stack == n->a ? "A " : "B ", ev);
}

void tnet_init(struct tnet *n, uint64_t seed, const struct ustack_link_params *link)
{
	memset(n, 0, sizeof(*n));
	n->wire = calloc(T_MAXSEG, sizeof(*n->wire));
	if (!n->wire || ustack_sim_create(seed, &n->sim))
		abort();
	struct ustack_config c = { .addr = T_ADDR_A, .trace = tnet_trace, .trace_ctx = n };
	if (ustack_sim_add_stack(n->sim, &c, &n->a))
		abort();
	c.addr = T_ADDR_B;
	if (ustack_sim_add_stack(n->sim, &c, &n->b))
		abort();
	if (link && ustack_sim_set_path(n->sim, T_ADDR_A, T_ADDR_B, link))
		abort();
	ustack_sim_set_tap(n->sim, tnet_tap, n);
}

void tnet_fini(struct tnet *n)
{
	ustack_sim_destroy(n->sim);
	free(n->wire);
}

void tnet_run(struct tnet *n, ustack_time_t limit)
{
	ustack_sim_run_idle(n->sim, limit);
}

void tnet_run_for(struct tnet *n, ustack_time_t dt)
{
	ustack_sim_run_for(n->sim, dt);
}

/* ---- traw ---- */

static void traw_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct traw *r = ctx;
	static uint8_t pkt[65536];
	size_t len = gather(pkt, sizeof(pkt), iov, iovcnt);
	if (r->nout == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;
		struct tpkt *n = realloc(r->out, ncap * sizeof(*n));
		if (!n)
			abort();
		r->out = n;
		r->cap = ncap;
	}
	struct tpkt *p = &r->out[r->nout++];
	p->t = r->now;
	p->len = len;
	p->b = malloc(len ? len : 1);
	if (!p->b)
		abort();
	memcpy(p->b, pkt, len);
}

static void traw_trace(void *ctx, const struct ustack_event *ev)
{
	struct traw *r = ctx;
	append_trace(r->trace, sizeof(r->trace), &r->trace_len, "", ev);
}

void traw_init(struct traw *r, const struct ustack_config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->addr = T_ADDR_A;
	r->peer_addr = T_ADDR_B;
	r->now = USTACK_SEC(1);
	if (fixture_stack(cfg, traw_output, traw_trace, r, &r->st))
		abort();
	ustack_poll(r->st, r->now);
}

void traw_fini(struct traw *r)
{
	ustack_destroy(r->st);
	for (size_t i = 0; i < r->nout; i++)
		free(r->out[i].b);
	free(r->out);
}

void traw_input(struct traw *r, const void *pkt, size_t len)
{
	ustack_input(r->st, r->now, pkt, len);
}

const struct tpkt *traw_next(struct traw *r)
{
	return r->rd < r->nout ? &r->out[r->rd++] : NULL;
}

void traw_advance(struct traw *r, ustack_time_t dt)
{
	r->now += dt;
	ustack_poll(r->st, r->now);
}

size_t t_build_ip(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id, uint16_t frag,
		  const void *payload, size_t len)
{
	struct us_ipv4 ip = { .ttl = 64, .proto = proto, .id = id, .frag = frag, .src = src, .dst = dst };
	if (len)
		memmove(buf + US_IPV4_HDR_MIN, payload, len);
	us_ipv4_build(buf, &ip, len);
	return US_IPV4_HDR_MIN + len;
}

size_t t_build_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
		   const void *data, size_t len)
{
	uint8_t *uh = buf + US_IPV4_HDR_MIN;
	if (len)
		memmove(uh + US_UDP_HDR_LEN, data, len);
	us_udp_build(uh, src, dst, sport, dport, uh + US_UDP_HDR_LEN, len);
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_UDP, .src = src, .dst = dst };
	us_ipv4_build(buf, &ip, US_UDP_HDR_LEN + len);
	return US_IPV4_HDR_MIN + US_UDP_HDR_LEN + len;
}

struct ustack_tcp_info t_tcp_info(struct ustack *st, int fd)
{
	struct ustack_tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (ustack_getsockopt(st, fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		abort();
	return ti;
}
