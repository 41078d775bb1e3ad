/*
 * Writes the generated seed corpora of the fuzz targets (make fuzz-seeds):
 *
 *   fuzz_stack  connections recorded on the simulator: two stacks run a
 *               scenario (data both ways, loss, reordering with SACK, a
 *               zero window, resets, both closes, timeouts); every frame
 *               the stack under test received, every call its application
 *               made and the time between them become fuzz_stack's trace
 *               records (see fuzz_stack.c), so a seed replays the whole
 *               connection and the fuzzer mutates real traces from deep
 *               states. The stack under test is the server (c[2] there)
 *               or the client (c[3]).
 *   fuzz_pcap, fuzz_jsonl  the same scenarios' packets as captures, in
 *               every link type, magic and byte order the reader takes,
 *               and their events as JSON lines;
 *   fuzz_udp, fuzz_icmp, fuzz_frag  short programs in each target's
 *               record format that reach each path once.
 *
 * Usage: mkseeds OUTDIR (the corpus root: OUTDIR/fuzz_stack/...). Files
 * are named after what they hold and written whole each time, so the
 * output is the same on every run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ustack/sim.h>
#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/ustack.h>

#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "wire/udp.h"

#define PEER 0xC6120001u /* 198.18.0.1, the other stack */
#define ME 0xC6120002u   /* 198.18.0.2, the stack under test, as in the fuzzers */

static const char *outdir;

/* ---- output buffers ---- */

struct out {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2 + 256;
		o->p = realloc(o->p, o->cap);
		if (!o->p)
			abort();
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

static void put8(struct out *o, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(o, &b, 1);
}

static void put16(struct out *o, unsigned v)
{
	put8(o, v >> 8);
	put8(o, v);
}

static void put32(struct out *o, uint32_t v)
{
	put16(o, v >> 16);
	put16(o, v & 0xffff);
}

static void save(const char *target, const char *name, const struct out *o)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(path, 0777);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(o->p, 1, o->n, f) != o->n || fclose(f)) {
		fprintf(stderr, "mkseeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- fuzz_stack: scenarios on the simulator ---- */

/* fuzz_stack's trace opcodes: bits 4-6 set, bit 7 picks c[3]. */
#define T_SEG 0
#define T_CONNECT 1
#define T_WRITE 2
#define T_READ 3
#define T_CLOSE 4
#define T_TIME 5
#define T_ACCEPT 6
#define T_NEWSYN 7

struct rec {
	struct ustack_sim *sim;
	struct ustack *s, *a; /* the stack under test, the other */
	bool active;          /* s opens the connection (fuzz_stack's c[3]) */
	struct out prog;      /* fuzz_stack records */
	ustack_time_t last;   /* time of the last record */
	bool has_peer_isn, has_iss;
	uint32_t peer_isn, iss;
	uint32_t ts_base; /* the TSval of the stack's SYN: echo replies are relative to it */
	/* every packet, and every event of both stacks, for the readers */
	struct out pkts; /* [t:8][len:4][bytes] */
	struct out jsonl;
	int sfd, afd, lfd;
};

static void op(struct rec *r, int sub)
{
	ustack_time_t now = ustack_sim_now(r->sim);
	if (now != r->last) {
		uint64_t us = (now - r->last) / 1000;
		while (us) { /* steps of at most 2^32-1 us */
			uint32_t step = us > 0xffffffffu ? 0xffffffffu : (uint32_t)us;
			put8(&r->prog, 0x70 | T_TIME);
			put32(&r->prog, step);
			us -= step;
		}
		r->last = now;
	}
	put8(&r->prog, 0x70 | sub | (r->active ? 0x80 : 0));
}

static void tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	struct rec *r = ctx;
	uint64_t t64 = t;
	uint32_t l32 = (uint32_t)len;
	put(&r->pkts, &t64, 8);
	put(&r->pkts, &l32, 4);
	put(&r->pkts, pkt, len);
	struct us_ipv4 ip;
	struct us_tcp tcp;
	if (us_ipv4_parse(pkt, len, false, &ip) || ip.proto != US_IP_PROTO_TCP ||
	    us_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, false, &tcp))
		return;
	const struct ustack_tcp_segment *h = &tcp.h;
	if (ip.dst != ME) {
		/* The stack under test sent it: its ISS from its SYN, anew
		 * for a connection reopened on the same ports, as
		 * fuzz_stack does. The peer's stays that of its first SYN,
		 * so a second one keeps its place in sequence space. */
		if (h->flags & USTACK_TCP_SYN) {
			r->has_iss = true;
			r->iss = h->seq;
			if (h->opt.present & USTACK_OPT_TS)
				r->ts_base = h->opt.ts_val;
		}
		return;
	}
	if ((h->flags & USTACK_TCP_SYN) && !r->has_peer_isn) {
		r->has_peer_isn = true;
		r->peer_isn = h->seq;
	}
	op(r, T_SEG);
	put8(&r->prog, h->flags);
	put32(&r->prog, h->seq - r->peer_isn);
	put32(&r->prog, r->has_iss ? h->ack - r->iss : 0);
	put16(&r->prog, h->window);
	size_t optlen = tcp.hdr_len - 20;
	uint8_t opts[40];
	memcpy(opts, (const uint8_t *)ip.payload + 20, optlen);
	/* fuzz_stack's stack has its own TS offset: the echo reply goes
	 * relative, plus one (0, nothing echoed, stays 0). */
	for (size_t i = 0; i + 1 < optlen && opts[i] != 0;) {
		if (opts[i] == 1) {
			i++;
			continue;
		}
		if (opts[i] == 8 && opts[i + 1] == 10 && i + 10 <= optlen) {
			uint8_t *e = opts + i + 6;
			uint32_t ecr = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
			if (ecr) {
				ecr = ecr - r->ts_base + 1;
				e[0] = (uint8_t)(ecr >> 24), e[1] = (uint8_t)(ecr >> 16);
				e[2] = (uint8_t)(ecr >> 8), e[3] = (uint8_t)ecr;
			}
		}
		if (opts[i + 1] < 2)
			break;
		i += opts[i + 1];
	}
	put8(&r->prog, (unsigned)optlen);
	put(&r->prog, opts, optlen);
	put16(&r->prog, h->len);
}

static void trace(void *ctx, const struct ustack_event *ev)
{
	struct rec *r = ctx;
	char line[USTACK_EVENT_JSON_MAX];
	int n = ustack_event_json(ev, ev->stack == r->s ? "server" : "client", line, sizeof(line));
	if (n > 0 && (size_t)n < sizeof(line)) {
		put(&r->jsonl, line, (size_t)n);
		put8(&r->jsonl, '\n');
	}
}

static void rec_init(struct rec *r, bool active, uint64_t seed)
{
	memset(r, 0, sizeof(*r));
	r->active = active;
	r->sfd = r->afd = r->lfd = -1;
	if (ustack_sim_create(seed, &r->sim))
		abort();
	/* The same configuration as fuzz_stack's stack. */
	struct ustack_config c = { .max_conns = 64, .tcp_rmem = 65536, .tcp_wmem = 65536, .trace = trace,
				   .trace_ctx = r };
	c.addr = ME;
	if (ustack_sim_add_stack(r->sim, &c, &r->s))
		abort();
	c.addr = PEER;
	if (ustack_sim_add_stack(r->sim, &c, &r->a))
		abort();
	struct ustack_link_params p = { .delay = USTACK_MSEC(10) };
	ustack_sim_set_path(r->sim, PEER, ME, &p);
	ustack_sim_set_tap(r->sim, tap, r);
	r->last = ustack_sim_now(r->sim);
}

static void run(struct rec *r, uint64_t ms)
{
	ustack_sim_run_for(r->sim, USTACK_MSEC(ms));
}

/* The connection: the peer connects to the stack's port 80, or the stack
 * to the peer's 5002, as in fuzz_stack. */
static void open_conn(struct rec *r)
{
	int lfd = ustack_socket(r->active ? r->a : r->s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(r->active ? 5002 : 80) };
	ustack_bind(r->active ? r->a : r->s, lfd, (struct sockaddr *)&sin, sizeof(sin));
	ustack_listen(r->active ? r->a : r->s, lfd, 8);
	r->lfd = lfd;
	struct ustack *cst = r->active ? r->s : r->a;
	int cfd = ustack_socket(cst, AF_INET, SOCK_STREAM, 0);
	if (r->active) {
		op(r, T_CONNECT);
		put16(&r->prog, 0);
	} else {
		op(r, T_NEWSYN);
		put16(&r->prog, 40002);
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = sin.sin_port,
				  .sin_addr.s_addr = htonl(r->active ? PEER : ME) };
	ustack_connect(cst, cfd, (struct sockaddr *)&to, sizeof(to));
	run(r, 100);
	int afd = ustack_accept(r->active ? r->a : r->s, lfd, NULL, NULL);
	if (r->active) {
		r->sfd = cfd;
		r->afd = afd;
	} else {
		op(r, T_ACCEPT);
		r->sfd = afd;
		r->afd = cfd;
	}
}

static char big[65536];

static void s_send(struct rec *r, size_t n)
{
	op(r, T_WRITE);
	put16(&r->prog, (unsigned)n);
	ustack_send(r->s, r->sfd, big, n, 0);
}

static void s_recv(struct rec *r, size_t n)
{
	op(r, T_READ);
	put16(&r->prog, (unsigned)n);
	ustack_recv(r->s, r->sfd, big, n, 0);
}

static void s_close(struct rec *r, int how)
{
	op(r, T_CLOSE);
	put8(&r->prog, (unsigned)how);
	if (how == 3)
		ustack_close(r->s, r->sfd);
	else
		ustack_shutdown(r->s, r->sfd, how);
}

/* The other side's application: not recorded, only its segments are. */
static void a_send(struct rec *r, size_t n)
{
	ustack_send(r->a, r->afd, big, n, 0);
}

static void a_drain(struct rec *r)
{
	while (ustack_recv(r->a, r->afd, big, sizeof(big), 0) > 0)
		;
}

/* Both ways: a request and an answer, each read in full. */
static void exchange(struct rec *r, size_t req, size_t resp)
{
	a_send(r, req);
	run(r, 50);
	s_recv(r, 65535);
	s_send(r, resp);
	run(r, 50);
	a_drain(r);
}

static void loss(struct rec *r, uint32_t from, uint32_t to, double p, double reorder)
{
	struct ustack_link_params lp = { .delay = USTACK_MSEC(10), .loss = p, .reorder = reorder,
					 .reorder_delay = USTACK_MSEC(15) };
	ustack_sim_set_link(r->sim, from, to, &lp);
}

/* The stack under test sends n bytes while the other side reads. */
static void bulk_out(struct rec *r, size_t n)
{
	for (size_t sent = 0; sent < n; sent += 16384) {
		s_send(r, 16384);
		for (int i = 0; i < 10; i++) {
			run(r, 20);
			a_drain(r);
		}
	}
	run(r, 2000);
	a_drain(r);
}

/* The other side sends n bytes while the stack under test reads. */
static void bulk_in(struct rec *r, size_t n)
{
	for (size_t sent = 0; sent < n; sent += 16384) {
		a_send(r, 16384);
		for (int i = 0; i < 10; i++) {
			run(r, 20);
			s_recv(r, 65535);
		}
	}
	run(r, 2000);
	s_recv(r, 65535);
}

/* The other side closes; the stack reads the end and closes. */
static void peer_closes_first(struct rec *r)
{
	ustack_close(r->a, r->afd);
	run(r, 100);
	s_recv(r, 100);
	s_close(r, 3);
	run(r, 70000); /* past TIME_WAIT */
}

static void stack_closes_first(struct rec *r)
{
	s_close(r, 3);
	run(r, 100);
	a_drain(r);
	ustack_close(r->a, r->afd);
	run(r, 70000);
}

/* Writes the pcap of all packets in one of the formats the reader takes. */
static void save_pcap(const struct rec *r, const char *name, uint32_t linktype, bool nsec, bool swap,
		      size_t snaplen)
{
	struct out o = { 0 };
#define P32(v)                                                                   \
	do {                                                                     \
		uint32_t v_ = (v);                                               \
		if (swap)                                                        \
			v_ = __builtin_bswap32(v_);                               \
		put(&o, &v_, 4);                                                 \
	} while (0)
#define P16(v)                                                                   \
	do {                                                                     \
		uint16_t v_ = (v);                                               \
		if (swap)                                                        \
			v_ = __builtin_bswap16(v_);                               \
		put(&o, &v_, 2);                                                 \
	} while (0)
	P32(nsec ? 0xa1b23c4du : 0xa1b2c3d4u);
	P16(2);
	P16(4);
	P32(0);
	P32(0);
	P32((uint32_t)snaplen);
	P32(linktype);
	size_t hl = linktype == 1 ? 14 : linktype == 113 ? 16 : 0;
	for (size_t off = 0; off < r->pkts.n;) {
		uint64_t t;
		uint32_t len;
		memcpy(&t, r->pkts.p + off, 8);
		memcpy(&len, r->pkts.p + off + 8, 4);
		const uint8_t *pkt = r->pkts.p + off + 12;
		off += 12 + len;
		size_t cap = len + hl < snaplen ? len + hl : snaplen;
		P32((uint32_t)(t / 1000000000u));
		P32((uint32_t)(nsec ? t % 1000000000u : t % 1000000000u / 1000));
		P32((uint32_t)cap);
		P32((uint32_t)(len + hl));
		uint8_t l2[16] = { 0 };
		if (linktype == 1)
			l2[12] = 0x08; /* EtherType IPv4 */
		if (linktype == 113)
			l2[14] = 0x08;
		put(&o, l2, hl);
		put(&o, pkt, cap - hl);
	}
#undef P32
#undef P16
	save("fuzz_pcap", name, &o);
	free(o.p);
}

static void rec_save(struct rec *r, const char *name)
{
	run(r, 1);
	op(r, T_READ); /* a last time step, then a harmless read */
	put16(&r->prog, 0);
	char file[128];
	snprintf(file, sizeof(file), "sim-%s", name);
	save("fuzz_stack", file, &r->prog);
	/* The bulk transfers' traces are long and add nothing new to parse. */
	if (r->jsonl.n <= 16384) {
		snprintf(file, sizeof(file), "sim-%s.jsonl", name);
		save("fuzz_jsonl", file, &r->jsonl);
	}
}

static void rec_free(struct rec *r)
{
	ustack_sim_destroy(r->sim);
	free(r->prog.p);
	free(r->pkts.p);
	free(r->jsonl.p);
}

static void stack_seeds(void)
{
	struct rec r;
	const struct ustack_link_params lost = { .loss = 1.0 };
	for (int active = 0; active < 2; active++) {
		const char *side = active ? "client" : "server";
		char name[64];

		/* A request and an answer, then each side closes first. */
		for (int first = 0; first < 2; first++) {
			rec_init(&r, active, 11 + (uint64_t)first);
			open_conn(&r);
			exchange(&r, 300, 1200);
			if (first)
				stack_closes_first(&r);
			else
				peer_closes_first(&r);
			snprintf(name, sizeof(name), "%s-hello-%s-closes", side, first ? "stack" : "peer");
			rec_save(&r, name);
			if (!active) {
				save_pcap(&r, first ? "hello-eth-usec.pcap" : "hello-raw-nsec.pcap", first ? 1 : 101,
					  !first, false, 65535);
				save_pcap(&r, first ? "hello-sll-swapped.pcap" : "hello-ipv4-cut.pcap",
					  first ? 113 : 228, false, first, first ? 65535 : 60);
			}
			rec_free(&r);
		}

		/* Bulk data into the stack over a lossy, reordering path: its
		 * out-of-order queue, SACK blocks and ACKs. */
		rec_init(&r, active, 21);
		open_conn(&r);
		loss(&r, PEER, ME, 0.05, 0.05);
		bulk_in(&r, 96 * 1024);
		loss(&r, PEER, ME, 0, 0);
		peer_closes_first(&r);
		snprintf(name, sizeof(name), "%s-bulk-in-loss", side);
		rec_save(&r, name);
		rec_free(&r);

		/* Bulk data out of the stack, with loss both ways: SACKed
		 * recovery, retransmission timeouts, congestion control. */
		rec_init(&r, active, 31);
		open_conn(&r);
		loss(&r, ME, PEER, 0.05, 0.03);
		loss(&r, PEER, ME, 0.02, 0.03);
		bulk_out(&r, 128 * 1024);
		loss(&r, ME, PEER, 0, 0);
		loss(&r, PEER, ME, 0, 0);
		stack_closes_first(&r);
		snprintf(name, sizeof(name), "%s-bulk-out-loss", side);
		rec_save(&r, name);
		if (!active)
			save_pcap(&r, "bulk-out-loss.pcap", 101, false, false, 96);
		rec_free(&r);

		/* The other side stops reading: a zero window, persist
		 * probes, then the window opens again. */
		rec_init(&r, active, 41);
		open_conn(&r);
		for (int i = 0; i < 8; i++) {
			s_send(&r, 16384);
			run(&r, 200);
		}
		run(&r, 5000);
		a_drain(&r);
		run(&r, 2000);
		a_drain(&r);
		stack_closes_first(&r);
		snprintf(name, sizeof(name), "%s-zero-window", side);
		rec_save(&r, name);
		rec_free(&r);

		/* The other side closes with unread data: a reset. */
		rec_init(&r, active, 51);
		open_conn(&r);
		s_send(&r, 3000);
		run(&r, 100);
		ustack_close(r.a, r.afd);
		run(&r, 100);
		s_recv(&r, 100);
		s_close(&r, 3);
		run(&r, 1000);
		snprintf(name, sizeof(name), "%s-peer-resets", side);
		rec_save(&r, name);
		rec_free(&r);

		/* Both close at once. */
		rec_init(&r, active, 61);
		open_conn(&r);
		exchange(&r, 10, 10);
		ustack_close(r.a, r.afd);
		s_close(&r, 3);
		run(&r, 70000);
		snprintf(name, sizeof(name), "%s-simultaneous-close", side);
		rec_save(&r, name);
		rec_free(&r);
	}

	/* TIME_WAIT: the stack closes first and its last ACK is lost, so
	 * the peer's FIN comes again; then the peer opens a new connection
	 * from the same port, which TIME_WAIT must let through. */
	rec_init(&r, false, 91);
	open_conn(&r);
	exchange(&r, 100, 100);
	struct sockaddr_in from;
	socklen_t flen = sizeof(from);
	ustack_getsockname(r.a, r.afd, (struct sockaddr *)&from, &flen);
	s_close(&r, 3);
	run(&r, 100);
	ustack_close(r.a, r.afd);
	run(&r, 5);
	ustack_sim_set_link(r.sim, ME, PEER, &lost);
	run(&r, 30);
	ustack_sim_set_link(r.sim, ME, PEER, NULL);
	run(&r, 3000);
	r.afd = ustack_socket(r.a, AF_INET, SOCK_STREAM, 0);
	int one = 1;
	ustack_setsockopt(r.a, r.afd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ustack_bind(r.a, r.afd, (struct sockaddr *)&from, sizeof(from));
	struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(ME) };
	ustack_connect(r.a, r.afd, (struct sockaddr *)&srv, sizeof(srv));
	run(&r, 100);
	r.sfd = ustack_accept(r.s, r.lfd, NULL, NULL);
	op(&r, T_ACCEPT);
	exchange(&r, 50, 50);
	peer_closes_first(&r);
	rec_save(&r, "server-time-wait-reopened");
	rec_free(&r);

	/* The stack's SYN goes unanswered a while, then the peer refuses. */
	rec_init(&r, true, 71);
	ustack_sim_set_link(r.sim, ME, PEER, &lost);
	op(&r, T_CONNECT);
	put16(&r.prog, 0);
	r.sfd = ustack_socket(r.s, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5002), .sin_addr.s_addr = htonl(PEER) };
	ustack_connect(r.s, r.sfd, (struct sockaddr *)&to, sizeof(to));
	run(&r, 4000);
	ustack_sim_set_link(r.sim, ME, PEER, NULL);
	run(&r, 10000);
	s_recv(&r, 10);
	rec_save(&r, "client-syn-retry-refused");
	rec_free(&r);

	/* The peer's first SYNs are lost, then the connection completes
	 * and the peer closes at once. */
	rec_init(&r, false, 81);
	ustack_sim_set_link(r.sim, PEER, ME, &lost);
	open_conn(&r);
	ustack_sim_set_link(r.sim, PEER, ME, NULL);
	run(&r, 5000);
	r.sfd = ustack_accept(r.s, r.lfd, NULL, NULL);
	op(&r, T_ACCEPT);
	peer_closes_first(&r);
	rec_save(&r, "server-syn-lost");
	rec_free(&r);
}

/* ---- fuzz_udp, fuzz_icmp, fuzz_frag: programs in their formats ---- */

static void udp_seeds(void)
{
	struct out o = { 0 };
	/* Parser mode: a datagram with a right checksum, and one without. */
	uint8_t d[8 + 12];
	memcpy(d + 8, "hello, world", 12);
	us_udp_build(d, PEER, ME, 999, 53, d + 8, 12);
	put8(&o, 0);
	put(&o, d, sizeof(d));
	save("fuzz_udp", "parse-ok", &o);
	o.n = 0;
	/* Input path: to each socket, with each checksum kind, then reads;
	 * writes, connect and disconnect, close and rebind; time; shutdown. */
	put8(&o, 1);
	for (int port = 0; port < 4; port++) {
		for (int csum = 0; csum < 3; csum++) {
			put8(&o, 0x00);                                  /* datagram, payload bytes */
			put8(&o, (unsigned)(0x40 | csum << 2 | port)); /* sport 999 */
			put8(&o, 5);
			put(&o, "abcde", 5);
		}
	}
	for (int s = 0; s < 3; s++) {
		put8(&o, (unsigned)(3 | s << 4)); /* read */
		put8(&o, 64);
	}
	put8(&o, 0x01); /* a bigger datagram (8-byte units), sport from input, length off */
	put8(&o, 0x20 | 0x00);
	put16(&o, 1234);
	put8(&o, 0xfc);
	put8(&o, 4);
	put(&o, "0123456789abcdef0123456789abcdef", 32);
	for (int b = 1; b < 3; b++) { /* broadcasts: the subnet's, then everyone's */
		put8(&o, (unsigned)(b << 6));
		put8(&o, 0x40 | 0x10);
		put8(&o, 3);
		put(&o, "bca", 3);
	}
	put8(&o, 0x02); /* raw UDP bytes */
	put8(&o, 8);
	put(&o, "\x03\xe7\x00\x35\x00\x08\x00\x00", 8);
	put8(&o, 0x04); /* sendto */
	put8(&o, 4);
	put16(&o, 7);
	put8(&o, 0x1c); /* send on the connected socket */
	put8(&o, 4);
	put16(&o, 0);
	put8(&o, 0x05); /* connect socket 0 */
	put8(&o, 1);
	put16(&o, 999);
	put8(&o, 0x05); /* disconnect it */
	put8(&o, 0);
	put16(&o, 0);
	put8(&o, 0x25); /* close and rebind socket 2 */
	put8(&o, 2);
	put16(&o, 0);
	put8(&o, 0x06); /* time */
	put16(&o, 1000);
	put8(&o, 0x17); /* shutdown socket 1 */
	put8(&o, 2);
	save("fuzz_udp", "stack-tour", &o);
	free(o.p);
}

static void icmp_seeds(void)
{
	struct out o = { 0 };
	/* Parser mode: a port unreachable quoting a TCP header. */
	uint8_t q[28] = { 0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
			  0x9c, 0x40, 0, 80, 0, 0, 3, 0xe8 };
	struct iovec iov = { q, sizeof(q) };
	uint8_t h[8];
	us_icmp_build(h, US_ICMP_DEST_UNREACH, US_ICMP_PORT_UNREACH, 0, &iov, 1);
	put8(&o, 0);
	put(&o, h, 8);
	put(&o, q, sizeof(q));
	save("fuzz_icmp", "parse-unreach", &o);
	o.n = 0;
	/* Input path: errors about every connection, of every kind; about
	 * the UDP socket; quoting the stack's own last packet; raw and echo
	 * messages; data in flight; time, reads that report the error. */
	put8(&o, 1);
	for (int c = 0; c < 4; c++) {
		put8(&o, (unsigned)(0x06 | c << 4)); /* data in flight */
		put8(&o, 20);
		for (int kind = 0; kind < 5; kind++) {
			put8(&o, (unsigned)(0x00 | c << 4)); /* at stack_nxt */
			put8(&o, 0);
			put8(&o, (unsigned)kind); /* type from the table */
			put8(&o, kind == 0 ? 3 : 0);
		}
		put8(&o, (unsigned)(0x08 | c << 4)); /* at the ISS-ish */
		put8(&o, 0);
		put8(&o, 0);
		put8(&o, 1); /* host unreachable */
		put8(&o, (unsigned)(0x0f | c << 4)); /* time passes and a read */
		put16(&o, 100);
	}
	put8(&o, 0x08); /* the quote cut short */
	put8(&o, 5);
	put8(&o, 0x08);
	put8(&o, 3);
	put8(&o, 20);
	put8(&o, 0x09); /* UDP, port unreachable */
	put8(&o, 0);
	put8(&o, 3);
	put8(&o, 0x02); /* quoting the last packet */
	put8(&o, 0);
	put8(&o, 2);
	put16(&o, 0);
	put8(&o, 0x03); /* raw: a redirect */
	put8(&o, 5);
	put8(&o, 1);
	put32(&o, PEER);
	put8(&o, 0);
	put8(&o, 0x04); /* echo */
	put8(&o, 4);
	put(&o, "ping", 4);
	put32(&o, 0x00010001);
	put8(&o, 0x15); /* an ACK on c[1] */
	put16(&o, 0);
	save("fuzz_icmp", "stack-tour", &o);
	free(o.p);
}

static void frag_seeds(void)
{
	struct out o = { 0 };
	/* Whole datagrams in order, reversed and shuffled, read back. */
	for (int i = 0; i < 3; i++) {
		put8(&o, (unsigned)(0x01 | i << 4));
		put16(&o, 3000);
		put8(&o, 63); /* 512-byte pieces */
		for (int k = 0; k < 6; k++)
			put8(&o, (unsigned)(i == 0 ? 0 : i == 1 ? 5 - k : k * 3));
		put8(&o, 0x03);
	}
	save("fuzz_frag", "whole", &o);
	o.n = 0;
	/* Single fragments: a first, a duplicate, an overlap, then a hole
	 * left to time out; the ping of death; an inconsistent end. */
	put8(&o, 0x00);
	put16(&o, 0);
	put8(&o, 8);
	put8(&o, 0x00);
	put16(&o, 0);
	put8(&o, 8);
	put8(&o, 0x00);
	put16(&o, 4);
	put8(&o, 8);
	put8(&o, 0x10);
	put16(&o, 0);
	put8(&o, 16);
	put8(&o, 0x10);
	put16(&o, 0x8000); /* next: right after */
	put8(&o, 16);
	put8(&o, 0x02);
	put16(&o, 40000); /* past ipfrag_time */
	put8(&o, 0x20);
	put16(&o, 8189); /* the last offset */
	put8(&o, 255);
	put8(&o, 0xa0); /* a last fragment, then one past its end */
	put16(&o, 2);
	put8(&o, 4);
	put8(&o, 3);
	put8(&o, 0x20);
	put16(&o, 10);
	put8(&o, 4);
	put8(&o, 0x83); /* an unfragmented datagram */
	put8(&o, 20);
	put8(&o, 0x03);
	save("fuzz_frag", "pieces", &o);
	o.n = 0;
	/* Many datagrams at once: the caps. */
	for (int i = 0; i < 12; i++) {
		put8(&o, 0x40);
		put16(&o, (unsigned)(100 + i));
		put16(&o, 0);
		put8(&o, 200);
	}
	save("fuzz_frag", "caps", &o);
	free(o.p);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS-DIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0777);
	memset(big, 'd', sizeof(big));
	stack_seeds();
	udp_seeds();
	icmp_seeds();
	frag_seeds();
	return 0;
}
