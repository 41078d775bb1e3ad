/*
 * Congestion control on a long fat path: a simulated 1 Gbit/s link with
 * 10 ms RTT and 0.1% random loss. Prints the goodput of NewReno (RFC 6582)
 * and CUBIC (RFC 9438) next to the Mathis et al. estimate for Reno,
 * MSS/RTT * sqrt(3/2) / sqrt(p), and checks that NewReno reaches 80% of
 * it and CUBIC does better than NewReno, as it is designed to on such paths.
 *
 * Then loss recovery at 1% loss: SACK with RACK (RFC 6675, RFC 8985, PRR)
 * against NewReno's recovery alone (SACK off on both ends), same algorithm
 * (CUBIC), same seeds. SACK must move more data, and retransmit close to
 * once per segment the link lost.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

#define RATE 1000000000ull
#define ONE_WAY_MS 5
#define LOSS 0.001
#define WARMUP_S 2
#define MEASURE_S 20

struct run {
	double mbps;
	uint64_t lost;       /* data segments the link dropped, A to B */
	uint32_t retrans;    /* segments A sent again */
};

static struct run run_goodput(const char *cc, uint64_t seed, double loss, bool sack)
{
	struct tnet n;
	struct ustack_link_params link = {
		.delay = USTACK_MSEC(ONE_WAY_MS),
		.loss = loss,
		.rate_bps = RATE,
		.queue_limit = 1000,
	};
	tnet_init(&n, seed, &link);
	n.a->sys.tcp_sack = n.b->sys.tcp_sack = sack;
	ustack_sim_set_tap(n.sim, NULL, NULL); /* no per-packet log for this one */
	int lfd = ustack_socket(n.b, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 5001), srv = t_sin(T_ADDR_B, 5001);
	cr_assert_eq(ustack_bind(n.b, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(n.b, lfd, 4), 0);
	int cfd = ustack_socket(n.a, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_setsockopt(n.a, cfd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)), 0);
	cr_assert_eq(ustack_connect(n.a, cfd, T_SA(srv), sizeof(srv)), -EINPROGRESS);
	static char chunk[1 << 16], sink[1 << 16];
	int sfd = -1;
	uint64_t got = 0, at_warmup = 0;
	ustack_time_t t0 = ustack_sim_now(n.sim), t_warm = t0 + USTACK_SEC(WARMUP_S);
	ustack_time_t t_end = t_warm + USTACK_SEC(MEASURE_S);
	bool warmed = false;
	while (ustack_sim_now(n.sim) < t_end) {
		tnet_run_for(&n, USTACK_MSEC(1));
		if (sfd < 0)
			sfd = ustack_accept(n.b, lfd, NULL, NULL);
		while (ustack_send(n.a, cfd, chunk, sizeof(chunk), 0) > 0)
			;
		if (sfd >= 0) {
			ssize_t r;
			while ((r = ustack_recv(n.b, sfd, sink, sizeof(sink), 0)) > 0)
				got += (uint64_t)r;
		}
		if (!warmed && ustack_sim_now(n.sim) >= t_warm) {
			warmed = true;
			at_warmup = got;
		}
	}
	struct ustack_tcp_info ti;
	socklen_t len = sizeof(ti);
	cr_assert_eq(ustack_getsockopt(n.a, cfd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	cr_assert_str_eq(ti.congestion, cc);
	struct ustack_link_stats ls;
	cr_assert_eq(ustack_sim_link_stats(n.sim, T_ADDR_A, T_ADDR_B, &ls), 0);
	struct run r = { (double)(got - at_warmup) * 8 / MEASURE_S / 1e6, ls.lost + ls.queue_drops,
			 ti.total_retrans };
	printf("goodput: %-6s %s loss %.1f%% %7.1f Mbit/s  (lost %llu, retransmitted %u segments, cwnd %u, "
	       "srtt %.1f ms)\n",
	       cc, sack ? "SACK   " : "NewReno", loss * 100, r.mbps, (unsigned long long)r.lost, r.retrans, ti.cwnd,
	       ti.srtt_us / 1000.0);
	tnet_fini(&n);
	return r;
}

static double goodput_mbps(const char *cc, uint64_t seed)
{
	return run_goodput(cc, seed, LOSS, true).mbps;
}

Test(goodput, sack_rack_beats_newreno_at_one_percent_loss)
{
	double sack = 0, newreno = 0;
	uint64_t lost = 0, retrans = 0;
	for (uint64_t seed = 1; seed <= 2; seed++) {
		struct run s = run_goodput("cubic", seed, 0.01, true);
		struct run r = run_goodput("cubic", seed, 0.01, false);
		sack += s.mbps / 2;
		newreno += r.mbps / 2;
		lost += s.lost;
		retrans += s.retrans;
	}
	double per_loss = lost ? (double)retrans / (double)lost : 0;
	printf("goodput: at 1%% loss SACK+RACK %.1f Mbit/s, NewReno %.1f Mbit/s; SACK retransmitted %.3f "
	       "segments per segment lost\n",
	       sack, newreno, per_loss);
	cr_assert_gt(sack, newreno, "SACK+RACK %.1f Mbit/s is not above NewReno's %.1f", sack, newreno);
	/* A segment lost in the last round trip may not have been resent when
	 * the run stops, so the ratio can end a little under 1. */
	cr_assert(lost > 0 && per_loss >= 0.95 && per_loss < 1.2,
		  "SACK retransmitted %.3f segments per segment lost", per_loss);
}

Test(goodput, newreno_and_cubic_on_a_lossy_long_path)
{
	double mss = 1460, rtt = 2 * ONE_WAY_MS / 1000.0;
	double mathis = mss * 8 / rtt * sqrt(1.5) / sqrt(LOSS) / 1e6;
	double reno = 0, cubic = 0;
	/* Two seeds each: one run's loss pattern is noisy. */
	for (uint64_t seed = 1; seed <= 2; seed++) {
		reno += goodput_mbps("reno", seed) / 2;
		cubic += goodput_mbps("cubic", seed) / 2;
	}
	printf("goodput: mathis %7.1f Mbit/s for Reno at p=%.3f, RTT %.0f ms; NewReno %.0f%%, CUBIC %.0f%% of it\n",
	       mathis, LOSS, rtt * 1000, 100 * reno / mathis, 100 * cubic / mathis);
	cr_assert_geq(reno, 0.8 * mathis, "NewReno %.1f Mbit/s is under 80%% of Mathis's %.1f", reno, mathis);
	cr_assert_gt(cubic, reno, "CUBIC %.1f Mbit/s is not above NewReno's %.1f", cubic, reno);
}
