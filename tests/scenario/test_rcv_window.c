/*
 * The receive window never promises much more than the buffer holds. With
 * window scaling the advertised value is truncated to 2^ws; rounding a held
 * window up on every ACK while the reader sleeps let the right edge creep
 * 2^ws - 1 bytes further each time (RFC 7323 appendix F), 3.5% of a 6 MB
 * buffer in a bulk transfer, after which in-window data had to be dropped
 * (found by bench_tun: Linux sent into that window and retransmitted).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/tcp.h>

#include "testnet.h"

Test(rcv_window, edge_stays_within_the_buffer_while_the_reader_sleeps)
{
	struct tnet n;
	struct ustack_link_params link = { .delay = USTACK_USEC(100) };
	tnet_init(&n, 7, &link);
	ustack_sim_set_tap(n.sim, NULL, NULL);
	int lfd = ustack_socket(n.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 5001), srv = t_sin(T_ADDR_B, 5001);
	cr_assert_eq(ustack_bind(n.b, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(n.b, lfd, 4), 0);
	int cfd = ustack_socket(n.a, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_connect(n.a, cfd, T_SA(srv), sizeof(srv)), -EINPROGRESS);
	tnet_run_for(&n, USTACK_MSEC(5));
	int sfd = ustack_accept(n.b, lfd, NULL, NULL);
	cr_assert_geq(sfd, 0);
	int rcvbuf = 0;
	socklen_t l = sizeof(rcvbuf);
	cr_assert_eq(ustack_getsockopt(n.b, sfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &l), 0);
	static char chunk[1 << 16];
	uint32_t worst = 0;
	/* The reader never reads: the buffer fills and the window closes. */
	for (int i = 0; i < 3000; i++) {
		while (ustack_send(n.a, cfd, chunk, sizeof(chunk), 0) > 0)
			;
		tnet_run_for(&n, USTACK_MSEC(1));
		struct ustack_tcp_info ti;
		l = sizeof(ti);
		cr_assert_eq(ustack_getsockopt(n.b, sfd, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
		uint32_t promised = ti.recvq + ti.rcv_wnd;
		if (promised > worst)
			worst = promised;
		cr_assert_lt(promised, (uint32_t)rcvbuf + (1u << ti.rcv_wscale),
			     "at %d ms: %u queued + %u window > buffer %d + 2^%u", i, ti.recvq, ti.rcv_wnd, rcvbuf,
			     ti.rcv_wscale);
		if (ti.recvq == (uint32_t)rcvbuf)
			break;
	}
	cr_assert_eq(ustack_stat(n.b, USTACK_STAT_DROP_TCP_OFO_FULL), 0);
	cr_assert_gt(worst, (uint32_t)rcvbuf / 2, "the buffer filled");
	tnet_fini(&n);
}
