/*
 * Reno's window (RFC 5681), which with the recovery of tcp_recovery.c makes
 * NewReno (RFC 6582). Linux calls it "reno". Congestion avoidance counts
 * acknowledged bytes (RFC 3465): one MSS more each time a whole window's
 * worth has been acknowledged, whatever the ACK pattern.
 */
#include "core/stack.h"
#include "tcp/tcp_cc.h"

uint32_t us_cc_slow_start(struct us_tcb *tcb, uint32_t acked)
{
	if (tcb->cwnd >= tcb->ssthresh)
		return acked;
	uint32_t room = tcb->ssthresh - tcb->cwnd;
	uint32_t inc = acked < room ? acked : room;
	tcb->cwnd += inc;
	return acked - inc;
}

static void reno_init(struct ustack *st, struct us_tcb *tcb)
{
	tcb->ca_acc = 0;
}

static void reno_cong_avoid(struct ustack *st, struct us_tcb *tcb, uint32_t acked)
{
	acked = us_cc_slow_start(tcb, acked);
	if (!acked)
		return;
	tcb->ca_acc += acked;
	while (tcb->ca_acc >= tcb->cwnd) {
		tcb->ca_acc -= tcb->cwnd;
		tcb->cwnd += tcb->snd_mss;
	}
}

/* RFC 5681 equation (4): half the data in flight, at least two segments. */
static uint32_t reno_ssthresh(struct ustack *st, struct us_tcb *tcb)
{
	uint32_t half = us_tcp_flight(tcb) / 2;
	uint32_t floor = 2u * tcb->snd_mss;
	return half > floor ? half : floor;
}

static void reno_event(struct ustack *st, struct us_tcb *tcb, enum us_cc_event ev)
{
	tcb->ca_acc = 0;
}

const struct us_cc_ops us_cc_reno = {
	.name = "reno",
	.init = reno_init,
	.cong_avoid = reno_cong_avoid,
	.ssthresh = reno_ssthresh,
	.event = reno_event,
};

const struct us_cc_ops *us_cc_find(const char *name)
{
	static const struct us_cc_ops *const all[] = { &us_cc_cubic, &us_cc_reno };
	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *a = all[i]->name, *b = name;
		while (*a && *a == *b)
			a++, b++;
		if (*a == 0 && *b == 0)
			return all[i];
	}
	return NULL;
}
