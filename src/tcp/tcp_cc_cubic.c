/*
 * CUBIC (RFC 9438), Linux's default and ustack's. After a loss the window
 * follows W(t) = C (t - K)^3 + W_max: it climbs quickly back toward the
 * window where the loss happened, lingers near it, then probes beyond. The
 * Reno-friendly estimate keeps it at least as fast as Reno on short RTTs.
 * Windows here are in segments and times in seconds, as the RFC writes them;
 * the connection's cwnd stays in bytes.
 *
 * Not done (yet): HyStart, which Linux adds to slow start.
 */
#include "core/stack.h"
#include "tcp/tcp_cc.h"

#define CUBIC_C 0.4    /* RFC 9438 4.1 */
#define CUBIC_BETA 0.7 /* RFC 9438 4.6 */

/* cbrt without libm: Newton's method from a power-of-two guess. */
static double cube_root(double x)
{
	if (x <= 0)
		return 0;
	double r = 1;
	while (r * r * r < x)
		r *= 2;
	for (int i = 0; i < 60; i++) {
		double next = (2 * r + x / (r * r)) / 3;
		if (next >= r)
			break;
		r = next;
	}
	return r;
}

static void cubic_reset(struct us_cubic *c)
{
	c->epoch = 0;
	c->acc = 0;
}

static void cubic_init(struct ustack *st, struct us_tcb *tcb)
{
	struct us_cubic *c = &tcb->ca.cubic;
	c->w_max = 0;
	c->prior = 0;
	cubic_reset(c);
}

static void cubic_cong_avoid(struct ustack *st, struct us_tcb *tcb, uint32_t acked)
{
	struct us_cubic *c = &tcb->ca.cubic;
	acked = us_cc_slow_start(tcb, acked);
	if (!acked)
		return;
	double mss = tcb->snd_mss, cwnd = tcb->cwnd / mss;
	if (c->epoch == 0) {
		/* RFC 9438 4.2: a new growth period starts at the first ACK of
		 * congestion avoidance. */
		c->epoch = st->now ? st->now : 1;
		c->w_est = cwnd;
		if (c->w_max <= cwnd) {
			c->k = 0;
			c->origin = cwnd;
		} else {
			c->k = cube_root((c->w_max - cwnd) / CUBIC_C);
			c->origin = c->w_max;
		}
	}
	/* The target is where the curve will be one RTT from now. */
	double t = (double)(st->now - c->epoch) / 1e9 + tcb->srtt_us / 1e6;
	double target = c->origin + CUBIC_C * (t - c->k) * (t - c->k) * (t - c->k);
	if (target < cwnd)
		target = cwnd;
	else if (target > 1.5 * cwnd)
		target = 1.5 * cwnd; /* RFC 9438 4.4 */
	double segs = acked / mss;
	double grow = (target - cwnd) / cwnd * segs;
	/* RFC 9438 4.3: the Reno-friendly region, growing as AIMD with
	 * alpha = 3(1 - beta)/(1 + beta) until it passes the window of the
	 * last loss, then as fast as Reno (alpha = 1). */
	double alpha = c->w_est >= c->prior ? 1.0 : 3 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
	c->w_est += alpha * segs / cwnd;
	if (c->w_est > cwnd + grow)
		grow = c->w_est - cwnd;
	c->acc += grow * mss;
	if (c->acc >= 1) {
		uint32_t add = (uint32_t)c->acc;
		c->acc -= add;
		tcb->cwnd += add;
	}
}

static uint32_t cubic_ssthresh(struct ustack *st, struct us_tcb *tcb)
{
	struct us_cubic *c = &tcb->ca.cubic;
	double cwnd = (double)tcb->cwnd / tcb->snd_mss;
	c->prior = cwnd;
	/* RFC 9438 4.7: fast convergence releases bandwidth to newer flows. */
	if (cwnd < c->w_max)
		c->w_max = cwnd * (1 + CUBIC_BETA) / 2;
	else
		c->w_max = cwnd;
	cubic_reset(c);
	uint32_t th = (uint32_t)(tcb->cwnd * CUBIC_BETA);
	uint32_t floor = 2u * tcb->snd_mss;
	return th > floor ? th : floor;
}

static void cubic_event(struct ustack *st, struct us_tcb *tcb, enum us_cc_event ev)
{
	cubic_reset(&tcb->ca.cubic);
}

const struct us_cc_ops us_cc_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.cong_avoid = cubic_cong_avoid,
	.ssthresh = cubic_ssthresh,
	.event = cubic_event,
};
