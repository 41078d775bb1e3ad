/*
 * The congestion-control interface: what an algorithm decides, separated
 * from when TCP asks (tcp_recovery.c). An algorithm grows the window while
 * ACKs arrive outside recovery and chooses the threshold after a loss; loss
 * detection, fast retransmit and recovery stay in TCP proper, so that every
 * algorithm gets them. Adding one means a file with a struct us_cc_ops and a
 * line in us_cc_find.
 */
#ifndef US_TCP_CC_H
#define US_TCP_CC_H

#include <stdint.h>

struct ustack;
struct us_tcb;

enum us_cc_event {
	US_CC_EV_RTO,           /* a retransmission timeout: the window is one segment again */
	US_CC_EV_RECOVERY_EXIT, /* fast recovery ended */
};

struct us_cc_ops {
	const char *name; /* as Linux names it, for TCP_CONGESTION */
	void (*init)(struct ustack *st, struct us_tcb *tcb);
	/* `acked` bytes were newly acknowledged outside recovery, while the
	 * window was the limit: grow cwnd (slow start or avoidance). */
	void (*cong_avoid)(struct ustack *st, struct us_tcb *tcb, uint32_t acked);
	/* A loss was detected: return the new ssthresh, in bytes. */
	uint32_t (*ssthresh)(struct ustack *st, struct us_tcb *tcb);
	void (*event)(struct ustack *st, struct us_tcb *tcb, enum us_cc_event ev);
};

extern const struct us_cc_ops us_cc_reno, us_cc_cubic;

/* NULL if no algorithm has that name. */
const struct us_cc_ops *us_cc_find(const char *name);

/* Slow start shared by the algorithms (RFC 5681 3.1): grow by the bytes
 * acknowledged, up to ssthresh. Returns the bytes left over for avoidance. */
uint32_t us_cc_slow_start(struct us_tcb *tcb, uint32_t acked);

#endif
