/*
 * Receive-buffer autotuning as Linux does it (tcp_moderate_rcvbuf, Dynamic
 * Right-Sizing: tcp_rcv_space_adjust, tcp_rcvbuf_grow): a socket's receive
 * buffer starts at tcp_rmem[1], grows once per round trip with the rate
 * the application reads, never shrinks and never passes tcp_rmem[2];
 * SO_RCVBUF fixes it, and so does net.ipv4.tcp_moderate_rcvbuf=0 (at
 * tcp_rmem[1]).
 *
 * Two stacks on a simulated 1 Gbit/s path with 50 ms RTT, whose
 * bandwidth-delay product (6.25 MB) is more than tcp_rmem[2] (6 MiB).
 * B receives; the window it may offer is the share of its buffer Linux's
 * scaling_ratio gives for full-sized segments (162/256 at MSS 1460, so
 * 82944 of 131072, src/tcp/tcp_output.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

#define RMEM1 131072u
#define RMEM2 6291456u
#define FULL1 82944u /* 131072 * 162 / 256 */

struct pair {
	struct tnet n;
	int lfd, cfd, sfd;
	/* What the tap counted of B's segments to A. */
	uint32_t acks, quick, last_ack;
	uint32_t max_win; /* the largest window field, scaled by 2^7 */
	uint32_t steps;   /* times bulk() saw B's buffer change */
	bool have_ack;
};

static int get_rcvbuf(struct ustack *st, int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_getsockopt(st, fd, SOL_SOCKET, SO_RCVBUF, &v, &len), 0);
	return v;
}

static void set_rcvbuf(struct ustack *st, int fd, int v)
{
	cr_assert_eq(ustack_setsockopt(st, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Counts B's pure ACKs, and among them those that acknowledge less than
 * two full segments of new data: what the delayed-ACK rule would not have
 * sent, so quick ACKs (RFC 1122 4.2.3.2 lets a receiver ACK every second
 * full segment). */
static void tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	(void)t;
	struct pair *p = ctx;
	const uint8_t *b = pkt;
	if (len < 40 || be32(b + 12) != T_ADDR_B || b[9] != 6)
		return;
	size_t ihl = (size_t)(b[0] & 15) * 4, tot = (size_t)b[2] << 8 | b[3];
	const uint8_t *h = b + ihl;
	size_t doff = (size_t)(h[12] >> 4) * 4;
	if (tot != ihl + doff || (h[13] & 0x17) != 0x10)
		return; /* data, or SYN/FIN/RST */
	uint32_t ack = be32(h + 8);
	uint32_t win = ((uint32_t)h[14] << 8 | h[15]) << 7;
	if (p->have_ack && win > p->max_win)
		p->max_win = win;
	if (p->have_ack && ack != p->last_ack) {
		p->acks++;
		if (ack - p->last_ack < 2 * 1448u)
			p->quick++;
	}
	p->have_ack = true;
	p->last_ack = ack;
}

/* Creates the client (a) and the listener (b); the caller may set options
 * before calling connect_pair. */
static void open_pair_q(struct pair *p, uint64_t rate, uint32_t queue)
{
	memset(p, 0, sizeof(*p));
	struct ustack_link_params link = {
		.delay = USTACK_MSEC(25),
		.rate_bps = rate,
		.queue_limit = queue,
	};
	tnet_init(&p->n, 11, &link);
	ustack_sim_set_tap(p->n.sim, tap, p); /* no per-packet log: a long transfer */
	p->lfd = ustack_socket(p->n.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 5001);
	cr_assert_eq(ustack_bind(p->n.b, p->lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(p->n.b, p->lfd, 4), 0);
	p->cfd = ustack_socket(p->n.a, AF_INET, SOCK_STREAM, 0);
	p->sfd = -1;
}

static void open_pair(struct pair *p, uint64_t rate)
{
	open_pair_q(p, rate, 6000);
}

static void connect_pair(struct pair *p)
{
	struct sockaddr_in srv = t_sin(T_ADDR_B, 5001);
	cr_assert_eq(ustack_connect(p->n.a, p->cfd, T_SA(srv), sizeof(srv)), -EINPROGRESS);
	for (int i = 0; i < 1000 && p->sfd < 0; i++) {
		tnet_run_for(&p->n, USTACK_MSEC(1));
		p->sfd = ustack_accept(p->n.b, p->lfd, NULL, NULL);
	}
	cr_assert_geq(p->sfd, 0, "no connection");
}

/*
 * A bulk transfer from A to B for `dur` of virtual time: every millisecond
 * A fills its send buffer and, if `read`, B empties its receive buffer.
 * Checks at each step that B's buffer never shrinks, never passes rmem2,
 * that what waits in it and what it has allocated stay within it, and
 * that the window offered stays within the buffer's share (plus the
 * scale's rounding). Returns B's buffer at the end.
 */
static uint32_t bulk(struct pair *p, ustack_time_t dur, bool read, uint32_t rmem2)
{
	static char chunk[1 << 16], sink[1 << 16];
	ustack_time_t end = ustack_sim_now(p->n.sim) + dur;
	uint32_t last = (uint32_t)get_rcvbuf(p->n.b, p->sfd);
	while (ustack_sim_now(p->n.sim) < end) {
		while (ustack_send(p->n.a, p->cfd, chunk, sizeof(chunk), 0) > 0)
			;
		tnet_run_for(&p->n, USTACK_MSEC(1));
		while (read && ustack_recv(p->n.b, p->sfd, sink, sizeof(sink), 0) > 0)
			;
		uint32_t now = (uint32_t)get_rcvbuf(p->n.b, p->sfd);
		cr_assert_geq(now, last, "the receive buffer shrank from %u to %u", last, now);
		p->steps += now != last;
		cr_assert_leq(now, rmem2 > last ? rmem2 : last, "the buffer %u passed tcp_rmem[2]", now);
		struct ustack_tcp_info ti = t_tcp_info(p->n.b, p->sfd);
		cr_assert_leq(ti.recvq, now, "%u bytes wait in a buffer of %u", ti.recvq, now);
		cr_assert_leq(ti.recvq + ti.rcv_wnd, (uint64_t)now * 162 / 256 + (1u << ti.rcv_wscale),
			      "%u waiting + window %u is more than the share of a buffer of %u", ti.recvq,
			      ti.rcv_wnd, now);
		/* B's only ring with data is this receive ring. */
		cr_assert_leq(p->n.b->tcp.mem, now, "%llu bytes allocated for a buffer of %u",
			      (unsigned long long)p->n.b->tcp.mem, now);
		last = now;
	}
	return last;
}

/* (a) tcp_rmem[1] on a fresh socket and, as Linux 6.18 reports it
 * (tests/scripts/window/receive-buffer-initial.pkt), on the socket
 * accepted right after the handshake; the window stops growing at the
 * buffer's share while the buffer has not grown yet. */
Test(rcvbuf, starts_from_tcp_rmem1)
{
	struct pair p;
	open_pair(&p, 1000000000ull);
	cr_assert_eq(get_rcvbuf(p.n.a, p.cfd), (int)RMEM1, "a fresh socket has tcp_rmem[1]");
	cr_assert_eq(get_rcvbuf(p.n.b, p.lfd), (int)RMEM1, "a listener has tcp_rmem[1]");
	connect_pair(&p);
	cr_assert_eq(get_rcvbuf(p.n.b, p.sfd), (int)RMEM1);
	cr_assert_eq(get_rcvbuf(p.n.a, p.cfd), (int)RMEM1);
	/* Until a round trip of data has been read nothing is measured:
	 * the window grows from the SYN's, one segment at a time, but
	 * stops at the buffer's share (the first flight, ten segments,
	 * would take it to 64240 + 10 * 2896). Windows are counted on the
	 * wire, from B's pure ACKs after the handshake; they reach A 50 ms
	 * after the first flight was sent, before the second one reaches B. */
	bulk(&p, USTACK_MSEC(60), true, RMEM2);
	cr_assert_eq(get_rcvbuf(p.n.b, p.sfd), (int)RMEM1);
	cr_assert_leq(p.max_win, FULL1 + 127, "window %u", p.max_win);
	cr_assert_geq(p.max_win, 64240 + 2 * 2896, "window %u did not grow", p.max_win);
	tnet_fini(&p.n);

	/* Never above tcp_rmem[2], the configured bound, even at the start. */
	open_pair(&p, 1000000000ull);
	cr_assert_eq(ustack_sysctl_set(p.n.b, "net.ipv4.tcp_rmem", "4096 131072 100000"), 0);
	ustack_close(p.n.b, p.lfd);
	p.lfd = t_listen(p.n.b, 0, 5001, 4);
	cr_assert_eq(get_rcvbuf(p.n.b, p.lfd), 100000);
	tnet_fini(&p.n);
}

/* (b) On the long fat path the buffer grows, as the reader keeps up, in
 * steps of Linux's rule up to tcp_rmem[2]; with timestamps (the RTT from
 * their echo) and without (the RTT from a window of data). */
static void grows(bool ts)
{
	struct pair p;
	open_pair(&p, 1000000000ull);
	p.n.a->sys.tcp_timestamps = p.n.b->sys.tcp_timestamps = ts;
	connect_pair(&p);
	cr_assert_eq(t_tcp_info(p.n.a, p.cfd).snd_mss, ts ? 1448u : 1460u, "timestamps not as asked");
	cr_assert_eq(get_rcvbuf(p.n.b, p.sfd), (int)RMEM1);
	uint32_t after_1s = bulk(&p, USTACK_SEC(1), true, RMEM2);
	cr_assert_gt(after_1s, 4 * RMEM1, "the buffer is %u after 1 s", after_1s);
	cr_assert_geq(p.steps, 3u, "the buffer grew in %u steps", p.steps);
	cr_assert_eq(bulk(&p, USTACK_SEC(3), true, RMEM2), RMEM2, "did not reach tcp_rmem[2]");
	tnet_fini(&p.n);

	/* A smaller tcp_rmem[2] is the ceiling. */
	open_pair(&p, 1000000000ull);
	cr_assert_eq(ustack_sysctl_set(p.n.b, "net.ipv4.tcp_rmem", "4096 131072 1000000"), 0);
	p.n.a->sys.tcp_timestamps = p.n.b->sys.tcp_timestamps = ts;
	connect_pair(&p);
	cr_assert_eq(bulk(&p, USTACK_SEC(2), true, 1000000), 1000000);
	tnet_fini(&p.n);
}

Test(rcvbuf, grows_to_tcp_rmem2_with_timestamps)
{
	grows(true);
}

Test(rcvbuf, grows_to_tcp_rmem2_without_timestamps)
{
	grows(false);
}

/* (c) An application that does not read shows no rate: the buffer stays
 * at tcp_rmem[1], and so does what the connection holds. The same with
 * tcp_moderate_rcvbuf=0 for a reader that keeps up. */
Test(rcvbuf, no_growth_without_reading)
{
	struct pair p;
	open_pair(&p, 1000000000ull);
	connect_pair(&p);
	uint32_t rcvbuf = bulk(&p, USTACK_SEC(2), false, RMEM2);
	struct ustack_tcp_info ti = t_tcp_info(p.n.b, p.sfd);
	printf("rcvbuf: a reader that never reads: buffer %u, %u bytes waiting, %llu bytes of rings\n", rcvbuf,
	       ti.recvq, (unsigned long long)p.n.b->tcp.mem);
	cr_assert_eq(rcvbuf, RMEM1);
	cr_assert_gt(ti.recvq, FULL1 - 3000, "only %u bytes wait: the window did not fill", ti.recvq);
	cr_assert_leq(p.n.b->tcp.mem, RMEM1);
	tnet_fini(&p.n);

	open_pair(&p, 1000000000ull);
	cr_assert_eq(ustack_sysctl_set(p.n.b, "net.ipv4.tcp_moderate_rcvbuf", "0"), 0);
	connect_pair(&p);
	cr_assert_eq(bulk(&p, USTACK_SEC(2), true, RMEM2), RMEM1, "tcp_moderate_rcvbuf=0 autotuned");
	tnet_fini(&p.n);
}

/* (d) SO_RCVBUF is the user's size, doubled as Linux reports it, capped
 * by net.core.rmem_max, inherited by an accepted socket and no longer
 * autotuned, while a connection without it grows past it on the same
 * path. */
Test(rcvbuf, so_rcvbuf_locks)
{
	struct pair p;
	open_pair(&p, 1000000000ull);
	set_rcvbuf(p.n.b, p.lfd, 100000);
	connect_pair(&p);
	cr_assert_eq(get_rcvbuf(p.n.b, p.sfd), 200000);
	cr_assert_eq(bulk(&p, USTACK_SEC(2), true, RMEM2), 200000, "a locked buffer was autotuned");
	tnet_fini(&p.n);

	open_pair(&p, 1000000000ull);
	connect_pair(&p);
	cr_assert_eq(get_rcvbuf(p.n.b, p.sfd), (int)RMEM1);
	cr_assert_gt(bulk(&p, USTACK_SEC(2), true, RMEM2), 200000, "no growth to compare with");
	tnet_fini(&p.n);

	/* The cap is the sysctl net.core.rmem_max, not a constant. */
	open_pair(&p, 1000000000ull);
	set_rcvbuf(p.n.b, p.lfd, 1 << 20);
	cr_assert_eq(get_rcvbuf(p.n.b, p.lfd), 2 * 212992, "capped at the default rmem_max, doubled");
	cr_assert_eq(ustack_sysctl_set(p.n.b, "net.core.rmem_max", "300000"), 0);
	set_rcvbuf(p.n.b, p.lfd, 1 << 20);
	cr_assert_eq(get_rcvbuf(p.n.b, p.lfd), 600000, "capped at net.core.rmem_max, doubled");
	tnet_fini(&p.n);
}

/*
 * (e) Early in a bulk receive the window grows with each segment and each
 * growth is ACKed at once (tcp_grow_window, a quick ACK). With a buffer of
 * tcp_rmem[2] from the start that went on for about 2000 segments, until
 * the window reached 6 MB; with the buffer sized for the rate the reader
 * sees, the window stops at the buffer's share. On a 10 Mbit/s path
 * (BDP 62.5 KB) with a sender whose SO_SNDBUF keeps it from filling the
 * link's queue, the buffer stays small and so does the count. On the 1 Gbit/s path it grows to tcp_rmem[2] and the
 * window to its share, 3981312, so fewer quick ACKs than before but
 * still many: Linux does the same (its bound is the same share).
 */
Test(rcvbuf, quick_acks_end_sooner)
{
	struct pair p;
	open_pair_q(&p, 10000000ull, 6000);
	int sndbuf = 65536;
	cr_assert_eq(ustack_setsockopt(p.n.a, p.cfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	connect_pair(&p);
	uint32_t rcvbuf = bulk(&p, USTACK_SEC(5), true, RMEM2);
	printf("rcvbuf: 10 Mbit/s, 50 ms: buffer %u, window up to %u, %u pure ACKs, %u of them for less than "
	       "two segments\n",
	       rcvbuf, p.max_win, p.acks, p.quick);
	cr_assert_lt(rcvbuf, RMEM2 / 4);
	cr_assert_lt(p.quick, 300u, "%u quick ACKs", p.quick);
	tnet_fini(&p.n);

	open_pair(&p, 1000000000ull);
	connect_pair(&p);
	rcvbuf = bulk(&p, USTACK_SEC(3), true, RMEM2);
	printf("rcvbuf: 1 Gbit/s, 50 ms: buffer %u, window up to %u, %u pure ACKs, %u of them for less than "
	       "two segments\n",
	       rcvbuf, p.max_win, p.acks, p.quick);
	cr_assert_leq(p.max_win, RMEM2 * 162 / 256 + 127, "window %u", p.max_win);
	cr_assert_lt(p.quick, 1500u, "%u quick ACKs", p.quick);
	tnet_fini(&p.n);
}
