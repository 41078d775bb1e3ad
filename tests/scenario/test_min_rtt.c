/*
 * RACK's minimum RTT is windowed as Linux's (tcp_min_rtt_wlen, 300 s): a
 * path that got longer is believed once the short samples are older than
 * the window. A lifetime minimum would keep the old RTT for ever, and with
 * it a reordering window (min_RTT / 4) too small for the new path.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>

#include "testnet.h"

static struct tnet n;
static int cfd, sfd;

static void open_pair(uint32_t wlen)
{
	struct ustack_link_params link = { .delay = USTACK_MSEC(5) };
	tnet_init(&n, 3, &link);
	ustack_sim_set_tap(n.sim, NULL, NULL);
	if (wlen) {
		char v[64];
		snprintf(v, sizeof(v), "net.ipv4.tcp_min_rtt_wlen=%u", wlen);
		cr_assert_eq(ustack_sysctl_assign(n.a, v), 0);
	}
	int lfd = ustack_socket(n.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 5001), srv = t_sin(T_ADDR_B, 5001);
	cr_assert_eq(ustack_bind(n.b, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(n.b, lfd, 4), 0);
	cfd = ustack_socket(n.a, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_connect(n.a, cfd, T_SA(srv), sizeof(srv)), -EINPROGRESS);
	tnet_run_for(&n, USTACK_MSEC(50));
	sfd = ustack_accept(n.b, lfd, NULL, NULL);
	cr_assert_geq(sfd, 0);
}

/* One request from A and its answer, then the rest of `gap` idle. */
static void exchange(ustack_time_t gap)
{
	char b[64];
	cr_assert_eq(ustack_send(n.a, cfd, "ping", 4, 0), 4);
	tnet_run_for(&n, USTACK_MSEC(200));
	cr_assert_eq(ustack_recv(n.b, sfd, b, sizeof(b), 0), 4);
	cr_assert_eq(ustack_send(n.b, sfd, "pong", 4, 0), 4);
	tnet_run_for(&n, USTACK_MSEC(200));
	cr_assert_eq(ustack_recv(n.a, cfd, b, sizeof(b), 0), 4);
	tnet_run_for(&n, gap - USTACK_MSEC(400));
}

static uint32_t min_rtt_ms(void)
{
	return t_tcp_info(n.a, cfd).min_rtt_us / 1000;
}

static void lengthen_path(void)
{
	struct ustack_link_params longer = { .delay = USTACK_MSEC(25) };
	cr_assert_eq(ustack_sim_set_path(n.sim, T_ADDR_A, T_ADDR_B, &longer), 0);
}

Test(min_rtt, a_longer_path_is_believed_after_the_window)
{
	open_pair(0);
	exchange(USTACK_SEC(1));
	cr_assert_eq(min_rtt_ms(), 10, "10 ms path: %u", min_rtt_ms());
	lengthen_path();
	/* Within 300 s of the last 10 ms sample the minimum holds... */
	for (int i = 0; i < 28; i++)
		exchange(USTACK_SEC(10));
	cr_assert_eq(min_rtt_ms(), 10, "still within the window: %u", min_rtt_ms());
	/* ...and once it is older than the window, the 50 ms path shows. */
	for (int i = 0; i < 4; i++)
		exchange(USTACK_SEC(10));
	uint32_t m = min_rtt_ms();
	cr_assert(m >= 50 && m < 60, "after the window: %u ms, not the old 10", m);
	tnet_fini(&n);
}

Test(min_rtt, the_window_is_the_sysctl)
{
	open_pair(20);
	exchange(USTACK_SEC(1));
	lengthen_path();
	for (int i = 0; i < 3; i++)
		exchange(USTACK_SEC(10));
	uint32_t m = min_rtt_ms();
	cr_assert(m >= 50 && m < 60, "tcp_min_rtt_wlen=20: %u ms after 30 s", m);
	tnet_fini(&n);
}

Test(min_rtt, a_shorter_sample_wins_at_once)
{
	struct ustack_link_params link = { .delay = USTACK_MSEC(25) };
	open_pair(0);
	cr_assert_eq(ustack_sim_set_path(n.sim, T_ADDR_A, T_ADDR_B, &link), 0);
	exchange(USTACK_SEC(1));
	exchange(USTACK_SEC(1));
	link.delay = USTACK_MSEC(2);
	cr_assert_eq(ustack_sim_set_path(n.sim, T_ADDR_A, T_ADDR_B, &link), 0);
	exchange(USTACK_SEC(1));
	cr_assert_eq(min_rtt_ms(), 4, "%u", min_rtt_ms());
	tnet_fini(&n);
}
