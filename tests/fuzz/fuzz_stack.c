/*
 * libFuzzer target: the whole input path, with state. A stack is set up with
 * a listener and two established connections (one it opened, one it
 * accepted); the fuzz input is then read as a program of records: raw
 * frames, TCP segments built from fuzzed fields on top of the live sequence
 * numbers (valid checksums, so that they reach the state machine rather than
 * die at the checksum), clock steps, and the application's calls. After every
 * record the stack's invariants are checked (core/check.c).
 *
 * Record: one opcode byte, then the opcode's fields, all taken from the input
 * as far as it goes.
 *
 * Opcodes with bits 4-6 all set are trace records, for two more connections
 * that the input itself opens: c[2], which the peer opens to the listener,
 * and c[3], which the stack opens. Their segments carry flags, window and
 * options verbatim and sequence numbers relative to the two sides' initial
 * ones (a timestamp option's echo reply too: relative to the stack's first
 * TSval, plus one, 0 kept as 0), so a connection recorded on the simulator
 * replays here exactly:
 * tests/fuzz/seed/mkseeds.c writes the seed corpus that way, from scenarios
 * (data, loss, reordering with SACK, timeouts, both closes) run between two
 * stacks, and the fuzzer starts from deep states and mutates real traces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/socket.h>
#include <ustack/trace.h>

#include "core/stack.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ME 0xC6120002u   /* 198.18.0.2, the stack */
#define PEER 0xC6120001u /* 198.18.0.1, the fuzzer */

struct conn {
	uint16_t sport, dport; /* from the peer's side */
	uint32_t peer_nxt;     /* next sequence number the peer sends */
	uint32_t stack_nxt;    /* highest the stack has sent, +1 */
	int fd;
	bool has_iss; /* the stack's SYN was seen: iss is its initial sequence number */
	uint32_t iss;
	uint32_t ts_base; /* the TSval of the stack's SYN */
};

#define NCONN 4
/* The peer's initial sequence number on the trace connections. */
#define TRACE_PEER_ISN 0x10000000u

struct world {
	struct ustack *st;
	ustack_time_t now;
	struct conn c[NCONN];
	int lfd;
	const uint8_t *in;
	size_t left;
};

static struct world *W;

static void output(void *ctx, const struct iovec *iov, int iovcnt)
{
	uint8_t pkt[65536];
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (n + iov[i].iov_len > sizeof(pkt))
			abort();
		memcpy(pkt + n, iov[i].iov_base, iov[i].iov_len);
		n += iov[i].iov_len;
	}
	/* Every packet the stack emits must itself be valid. */
	struct us_ipv4 ip;
	struct us_tcp t;
	if (us_ipv4_parse(pkt, n, true, &ip))
		abort();
	if (ip.proto != US_IP_PROTO_TCP)
		return;
	if (us_tcp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, true, &t))
		abort();
	for (int i = 0; i < NCONN; i++) {
		struct conn *c = &W->c[i];
		if (t.h.dport == c->sport && t.h.sport == c->dport) {
			/* Every SYN: a connection reopened on the same ports
			 * (from TIME_WAIT) has a new ISS. */
			if (t.h.flags & USTACK_TCP_SYN) {
				c->has_iss = true;
				c->iss = t.h.seq;
				if (t.h.opt.present & USTACK_OPT_TS)
					c->ts_base = t.h.opt.ts_val;
			}
			uint32_t end = t.h.seq + t.h.len + !!(t.h.flags & USTACK_TCP_SYN) + !!(t.h.flags & USTACK_TCP_FIN);
			if (SEQ_GT(end, c->stack_nxt))
				c->stack_nxt = end;
		}
	}
}

static uint8_t take8(struct world *w)
{
	if (!w->left)
		return 0;
	w->left--;
	return *w->in++;
}

static uint16_t take16(struct world *w)
{
	return (uint16_t)(take8(w) << 8 | take8(w));
}

static void inject(struct world *w, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
		   uint16_t win, const uint8_t *opts, size_t optlen, size_t plen)
{
	static uint8_t pkt[20 + 60 + 65536];
	if (plen > sizeof(pkt) - 20 - 60)
		plen = sizeof(pkt) - 20 - 60;
	size_t len = fz_build_tcp(pkt + 20, PEER, ME, sport, dport, flags, seq, ack, win, opts, optlen, plen);
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_TCP, .src = PEER, .dst = ME };
	us_ipv4_build(pkt, &ip, len);
	ustack_input(w->st, w->now, pkt, 20 + len);
}

#ifdef FUZZ_STACK_DEBUG
/* Built with -DFUZZ_STACK_DEBUG, the target prints the stack's trace:
 * how far a seed takes each connection. */
static void debug_trace(void *ctx, const struct ustack_event *ev)
{
	char line[256];
	ustack_event_format(ev, 0, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
}
#define DEBUG_TRACE .trace = debug_trace,
#else
#define DEBUG_TRACE
#endif

static void setup(struct world *w)
{
	struct ustack_config cfg = { .addr = ME, .output = output, .seed = 1, .max_conns = 64, .tcp_rmem = 65536,
				     .tcp_wmem = 65536, DEBUG_TRACE };
	if (ustack_create(&cfg, &w->st))
		abort();
	w->now = USTACK_SEC(1);
	ustack_poll(w->st, w->now);
	w->lfd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	ustack_bind(w->st, w->lfd, (struct sockaddr *)&sin, sizeof(sin));
	ustack_listen(w->st, w->lfd, 4);
	uint8_t syn_opts[] = { 2, 4, 5, 0xb4, 1, 3, 3, 7 };
	/* c[0]: the peer connects to the listener. */
	struct conn *a = &w->c[0];
	*a = (struct conn){ .sport = 40000, .dport = 80, .peer_nxt = 1000 };
	inject(w, a->sport, a->dport, USTACK_TCP_SYN, a->peer_nxt++, 0, 65535, syn_opts, sizeof(syn_opts), 0);
	inject(w, a->sport, a->dport, USTACK_TCP_ACK, a->peer_nxt, a->stack_nxt, 512, NULL, 0, 0);
	a->fd = ustack_accept(w->st, w->lfd, NULL, NULL);
	/* c[1]: the stack connects out. */
	struct conn *b = &w->c[1];
	*b = (struct conn){ .sport = 5000, .peer_nxt = 7777777 };
	b->fd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5000), .sin_addr.s_addr = htonl(PEER) };
	ustack_connect(w->st, b->fd, (struct sockaddr *)&to, sizeof(to));
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	ustack_getsockname(w->st, b->fd, (struct sockaddr *)&me, &len);
	b->dport = ntohs(me.sin_port);
	inject(w, b->sport, b->dport, USTACK_TCP_SYN | USTACK_TCP_ACK, b->peer_nxt++, b->stack_nxt, 65535, syn_opts,
	       sizeof(syn_opts), 0);
	w->c[2] = (struct conn){ .sport = 40002, .dport = 80, .fd = -1 };
	w->c[3] = (struct conn){ .sport = 5002, .fd = -1 };
}

/* A timestamp option's echo reply, relative in a trace record, made
 * absolute: the stack's TS clock has its own random offset. */
static void rebase_tsecr(const struct conn *c, uint8_t *o, size_t len)
{
	for (size_t i = 0; i < len && o[i] != 0;) {
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len)
			return;
		if (o[i] == 8 && o[i + 1] == 10) {
			uint8_t *e = o + i + 6;
			uint32_t ecr = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 | (uint32_t)e[2] << 8 | e[3];
			if (ecr) {
				ecr = c->ts_base + ecr - 1;
				e[0] = (uint8_t)(ecr >> 24), e[1] = (uint8_t)(ecr >> 16);
				e[2] = (uint8_t)(ecr >> 8), e[3] = (uint8_t)ecr;
			}
		}
		i += o[i + 1];
	}
}

/* A trace record (see the top); c is c[2] or c[3]. */
static void trace_record(struct world *w, int sub, struct conn *c, char *buf, size_t bufsize)
{
	switch (sub) {
	case 0: { /* a segment: flags, seq and ack relative, window, options, payload length */
		uint8_t flags = take8(w);
		uint32_t seq = (uint32_t)take16(w) << 16 | take16(w);
		uint32_t ack = (uint32_t)take16(w) << 16 | take16(w);
		uint16_t win = take16(w);
		uint8_t optlen = take8(w) % 41;
		uint8_t opts[40];
		for (int i = 0; i < optlen; i++)
			opts[i] = take8(w);
		size_t plen = take16(w) % 9001;
		rebase_tsecr(c, opts, optlen);
		inject(w, c->sport, c->dport, flags, TRACE_PEER_ISN + seq, c->iss + ack, win, opts, optlen, plen);
		break;
	}
	case 1: { /* the stack opens c[3] to the peer's port 5002 */
		if (c->fd >= 0)
			ustack_close(w->st, c->fd);
		*c = (struct conn){ .sport = 5002 };
		c->fd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(take16(w)) };
		ustack_bind(w->st, c->fd, (struct sockaddr *)&me, sizeof(me));
		socklen_t len = sizeof(me);
		ustack_getsockname(w->st, c->fd, (struct sockaddr *)&me, &len);
		c->dport = ntohs(me.sin_port);
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(c->sport),
					  .sin_addr.s_addr = htonl(PEER) };
		ustack_connect(w->st, c->fd, (struct sockaddr *)&to, sizeof(to));
		break;
	}
	case 2: { /* the application writes */
		size_t n = take16(w) % (bufsize + 1);
		memset(buf, 'z', n);
		ustack_send(w->st, c->fd, buf, n, 0);
		break;
	}
	case 3: /* the application reads */
		ustack_recv(w->st, c->fd, buf, take16(w) % (bufsize + 1), 0);
		break;
	case 4: { /* shutdown or close */
		uint8_t how = take8(w) % 4;
		if (how == 3) {
			ustack_close(w->st, c->fd);
			c->fd = -1;
		} else {
			ustack_shutdown(w->st, c->fd, how);
		}
		break;
	}
	case 5: /* time passes, in microseconds */
		w->now += USTACK_USEC((uint64_t)take16(w) << 16 | take16(w));
		ustack_poll(w->st, w->now);
		break;
	case 6: /* the application accepts c[2] */
		if (c->fd < 0)
			c->fd = ustack_accept(w->st, w->lfd, NULL, NULL);
		break;
	case 7: /* the peer's port for c[2]'s next SYN: a new connection */
		*c = (struct conn){ .sport = take16(w), .dport = 80, .fd = -1 };
		break;
	}
}


static void check(struct world *w)
{
	char why[256];
	if (us_check_invariants(w->st, why, sizeof(why))) {
		fprintf(stderr, "invariant broken: %s\n", why);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world w = { .in = data, .left = size };
	W = &w;
	setup(&w);
	check(&w);
	static char buf[65536];
	int steps = 0;
	while (w.left && steps++ < 1024) {
		uint8_t op = take8(&w);
		struct conn *c = &w.c[op >> 7];
		if ((op & 0x70) == 0x70) {
			int sub = op & 7;
			int k = sub == 1 ? 3 : sub >= 6 ? 2 : 2 + (op >> 7);
			trace_record(&w, sub, &w.c[k], buf, sizeof(buf));
			check(&w);
			continue;
		}
		switch (op & 7) {
		case 0: { /* a raw frame */
			size_t n = (size_t)take8(&w) * 4;
			if (n > w.left)
				n = w.left;
			ustack_input(w.st, w.now, w.in, n);
			w.in += n;
			w.left -= n;
			break;
		}
		case 1:
		case 2: { /* a segment on a live connection, fields fuzzed around its numbers */
			uint8_t flags = take8(&w);
			int16_t dseq = (int16_t)take16(&w), dack = (int16_t)take16(&w);
			uint16_t win = take16(&w);
			uint8_t optlen = take8(&w) % 41;
			uint8_t opts[40] = { 0 };
			for (int i = 0; i < optlen; i++)
				opts[i] = take8(&w);
			size_t plen = (size_t)take8(&w) * 6;
			if ((op & 7) == 2) /* mostly in order and well-formed */
				dseq = 0, dack = 0, flags = (uint8_t)(USTACK_TCP_ACK | (flags & USTACK_TCP_FIN)), optlen = 0;
			inject(&w, c->sport, c->dport, flags, c->peer_nxt + (uint32_t)dseq, c->stack_nxt + (uint32_t)dack,
			       win, opts, optlen, plen);
			if (dseq == 0 && !(flags & USTACK_TCP_RST))
				c->peer_nxt += (uint32_t)plen + !!(flags & USTACK_TCP_FIN) + !!(flags & USTACK_TCP_SYN);
			break;
		}
		case 3: /* time passes: up to about 4 minutes */
			w.now += USTACK_MSEC((uint64_t)take16(&w) * 4);
			ustack_poll(w.st, w.now);
			break;
		case 4: /* the application writes */
			memset(buf, 'y', 4096);
			ustack_send(w.st, c->fd, buf, (size_t)take8(&w) * 16, 0);
			break;
		case 5: /* the application reads */
			ustack_recv(w.st, c->fd, buf, (size_t)take8(&w) * 16 + 1, 0);
			break;
		case 6: { /* the application closes or shuts down */
			uint8_t how = take8(&w) % 4;
			if (how == 3) {
				ustack_close(w.st, c->fd);
				c->fd = -1;
			} else {
				ustack_shutdown(w.st, c->fd, how);
			}
			break;
		}
		case 7: { /* a segment for some other four-tuple: new SYNs, strays */
			uint16_t sport = take16(&w);
			uint8_t flags = take8(&w);
			uint32_t seq = (uint32_t)take16(&w) << 16 | take16(&w);
			inject(&w, sport, (op & 8) ? 80 : take16(&w), flags, seq, seq ^ 0x5555, 65535, NULL, 0,
			       take8(&w) % 64);
			break;
		}
		}
		check(&w);
	}
	ustack_destroy(w.st);
	W = NULL;
	return 0;
}
