/*
 * Send-buffer autotuning as Linux does it (tcp_init_sock,
 * tcp_init_buffer_space, tcp_sndbuf_expand): a socket's send buffer
 * starts at tcp_wmem[1], is sized for ten segments when the connection
 * comes up, grows with the congestion window while the writer finds it
 * full, never shrinks and never passes tcp_wmem[2]; SO_SNDBUF fixes it.
 *
 * Two stacks on a simulated 1 Gbit/s path with 50 ms RTT, whose
 * bandwidth-delay product (6.25 MB) is more than tcp_wmem[2] (4 MiB).
 * Each segment of MSS 1460 is counted as Linux 6.18 counts it, 2304
 * bytes (src/tcp/tcp_usrreq.c), and the factor is CUBIC's 2.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

#define PER_MSS 2304u
#define WMEM2 4194304u

struct pair {
	struct tnet n;
	int lfd, cfd, sfd;
};

static int get_sndbuf(struct ustack *st, int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_getsockopt(st, fd, SOL_SOCKET, SO_SNDBUF, &v, &len), 0);
	return v;
}

/* Creates the client socket (a) and the listener (b); the caller may set
 * options on p->cfd before calling connect_pair. */
static void open_pair(struct pair *p)
{
	struct ustack_link_params link = {
		.delay = USTACK_MSEC(25),
		.rate_bps = 1000000000ull,
		.queue_limit = 4000,
	};
	tnet_init(&p->n, 7, &link);
	ustack_sim_set_tap(p->n.sim, NULL, NULL); /* no per-packet log: a long transfer */
	p->lfd = ustack_socket(p->n.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 5001);
	cr_assert_eq(ustack_bind(p->n.b, p->lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(p->n.b, p->lfd, 4), 0);
	p->cfd = ustack_socket(p->n.a, AF_INET, SOCK_STREAM, 0);
	p->sfd = -1;
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
	cr_assert_eq(ustack_sock_state(p->n.a, p->cfd), USTACK_TCP_ESTABLISHED);
}

/* A bulk transfer for `dur` of virtual time: every millisecond the
 * writer fills the buffer until EAGAIN and the reader empties its own.
 * Checks at each step that the buffer never shrinks, that the queue
 * stays within it, and, if autotuned, that every size below tcp_wmem[2]
 * is Linux's for a window no larger than cwnd has been. Returns how
 * many sizes strictly between the first one and wmem2 were seen. */
static int bulk(struct pair *p, ustack_time_t dur, bool autotuned, uint32_t wmem2)
{
	static char chunk[1 << 16], sink[1 << 16];
	ustack_time_t end = ustack_sim_now(p->n.sim) + dur;
	uint32_t last = (uint32_t)get_sndbuf(p->n.a, p->cfd), first = last, max_segs = 0;
	int between = 0;
	while (ustack_sim_now(p->n.sim) < end) {
		ssize_t r;
		while ((r = ustack_send(p->n.a, p->cfd, chunk, sizeof(chunk), 0)) > 0)
			;
		cr_assert_eq(r, -EAGAIN);
		cr_assert_eq(ustack_sock_poll(p->n.a, p->cfd) & POLLOUT, 0, "writable with a full buffer");
		tnet_run_for(&p->n, USTACK_MSEC(1));
		while (ustack_recv(p->n.b, p->sfd, sink, sizeof(sink), 0) > 0)
			;
		struct ustack_tcp_info ti = t_tcp_info(p->n.a, p->cfd);
		uint32_t segs = ti.cwnd / ti.snd_mss;
		if (segs > max_segs)
			max_segs = segs;
		uint32_t now = (uint32_t)get_sndbuf(p->n.a, p->cfd);
		cr_assert_geq(now, last, "the send buffer shrank from %u to %u", last, now);
		cr_assert_leq(ti.sendq, now, "%u bytes queued in a buffer of %u", ti.sendq, now);
		if (autotuned && now != last && now < wmem2) {
			/* tcp_sndbuf_expand: 2 x segments x per-segment memory,
			 * for at most the largest window so far. */
			cr_assert_eq(now % (2 * PER_MSS), 0, "size %u is not Linux's rule", now);
			cr_assert_leq(now / (2 * PER_MSS), max_segs,
				      "size %u for a window of at most %u segments", now, max_segs);
		}
		if (now != last && now > first && now < wmem2)
			between++;
		last = now;
	}
	return between;
}

static void close_pair(struct pair *p)
{
	tnet_fini(&p->n);
}

/* (a) tcp_wmem[1] on a fresh socket, then ten segments' worth
 * (2 x 10 x 2304) once connected: what one large write takes at once. */
Test(sndbuf, starts_from_tcp_wmem1)
{
	struct pair p;
	open_pair(&p);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 16384, "a fresh socket has tcp_wmem[1]");
	connect_pair(&p);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 2 * 10 * PER_MSS, "sized for the initial window");
	static char big[1 << 20];
	cr_assert_eq(ustack_send(p.n.a, p.cfd, big, sizeof(big), 0), 2 * 10 * PER_MSS);
	cr_assert_eq(ustack_send(p.n.a, p.cfd, big, sizeof(big), 0), -EAGAIN);
	cr_assert_eq(ustack_sock_poll(p.n.a, p.cfd) & POLLOUT, 0);
	close_pair(&p);

	/* A larger tcp_wmem[1] is the start and is kept: the buffer never
	 * shrinks to the rule's size. */
	open_pair(&p);
	cr_assert_eq(ustack_sysctl_set(p.n.a, "net.ipv4.tcp_wmem", "4096 65536 4194304"), 0);
	ustack_close(p.n.a, p.cfd);
	p.cfd = ustack_socket(p.n.a, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 65536);
	connect_pair(&p);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 65536);
	close_pair(&p);

	/* Never above tcp_wmem[2], the configured bound, even at the start. */
	open_pair(&p);
	cr_assert_eq(ustack_sysctl_set(p.n.a, "net.ipv4.tcp_wmem", "4096 16384 8192"), 0);
	ustack_close(p.n.a, p.cfd);
	p.cfd = ustack_socket(p.n.a, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 8192);
	connect_pair(&p);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 8192);
	close_pair(&p);
}

/* (b) On the fat long path the buffer grows in steps with cwnd as the
 * writer keeps it full, and stops at tcp_wmem[2]. */
Test(sndbuf, grows_with_cwnd_to_tcp_wmem2)
{
	struct pair p;
	open_pair(&p);
	connect_pair(&p);
	int between = bulk(&p, USTACK_SEC(3), true, WMEM2);
	cr_assert_geq(between, 5, "the buffer grew in %d steps only", between);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), (int)WMEM2, "did not reach tcp_wmem[2]");
	close_pair(&p);

	/* A smaller tcp_wmem[2] is the ceiling. */
	open_pair(&p);
	cr_assert_eq(ustack_sysctl_set(p.n.a, "net.ipv4.tcp_wmem", "4096 16384 300000"), 0);
	connect_pair(&p);
	bulk(&p, USTACK_SEC(1), true, 300000);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 300000);
	close_pair(&p);
}

/* (c) SO_SNDBUF is the user's size: doubled as Linux reports it, and no
 * longer autotuned, however far cwnd grows. */
Test(sndbuf, so_sndbuf_locks)
{
	struct pair p;
	open_pair(&p);
	int v = 100000;
	cr_assert_eq(ustack_setsockopt(p.n.a, p.cfd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	connect_pair(&p);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 200000);
	cr_assert_eq(bulk(&p, USTACK_SEC(1), false, WMEM2), 0);
	cr_assert_eq(get_sndbuf(p.n.a, p.cfd), 200000, "a locked buffer was autotuned");
	struct ustack_tcp_info ti = t_tcp_info(p.n.a, p.cfd);
	cr_assert_gt(2 * (ti.cwnd / ti.snd_mss) * PER_MSS, 200000u, "cwnd %u too small to tell", ti.cwnd);
	close_pair(&p);
}
