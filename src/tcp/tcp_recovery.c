/*
 * Loss detection and recovery, and the congestion window around them:
 * slow start and avoidance (RFC 5681 3.1, through the connection's
 * algorithm), fast retransmit on the third duplicate ACK and NewReno's fast
 * recovery with partial ACKs (RFC 6582), and the collapse to one segment
 * after a retransmission timeout. SACK-based recovery and RACK-TLP replace
 * the duplicate-ACK counting here when they arrive.
 */
#include "core/stack.h"
#include "tcp/tcp_cc.h"

/* RFC 6928: min(10 MSS, max(2 MSS, 14600 bytes)). */
static uint32_t initial_window(const struct us_tcb *tcb)
{
	uint32_t mss = tcb->snd_mss, w = 14600;
	if (w < 2 * mss)
		w = 2 * mss;
	if (w > 10 * mss)
		w = 10 * mss;
	return w;
}

void us_tcp_cc_init(struct ustack *st, struct us_tcb *tcb)
{
	tcb->cwnd = initial_window(tcb);
	tcb->ssthresh = UINT32_MAX; /* RFC 5681 3.1: arbitrarily high */
	tcb->ca_state = US_CA_OPEN;
	tcb->dupacks = 0;
	tcb->recover = tcb->iss;
	tcb->snd_sml = tcb->snd_una; /* no small segment outstanding */
	tcb->cc->init(st, tcb);
}

uint32_t us_tcp_flight(const struct us_tcb *tcb)
{
	return tcb->snd_max - tcb->snd_una;
}

static void enter_recovery(struct ustack *st, struct us_tcb *tcb)
{
	/* RFC 6582 3.2 step 2, RFC 5681 3.2 steps 2 to 4. */
	us_count(st, USTACK_STAT_TCP_FAST_RETRANS);
	tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->recover = tcb->snd_max;
	tcb->ca_state = US_CA_RECOVERY;
	us_tcp_retransmit_head(st, tcb);
	tcb->cwnd = tcb->ssthresh + 3u * tcb->snd_mss;
}

void us_tcp_ack_event(struct ustack *st, struct us_tcb *tcb, uint32_t acked, bool dup, uint32_t flight_before)
{
	uint32_t mss = tcb->snd_mss;
	if (acked) {
		if (tcb->ca_state == US_CA_RECOVERY) {
			if (SEQ_GEQ(tcb->snd_una, tcb->recover)) {
				/* RFC 6582 3.2 step 3, full ACK, second option:
				 * cwnd = ssthresh, as Linux does at the end of a
				 * reduction; the first option (FlightSize + SMSS)
				 * would restart an idle sender from two segments. */
				tcb->cwnd = tcb->ssthresh;
				tcb->ca_state = US_CA_OPEN;
				tcb->dupacks = 0;
				tcb->cc->event(st, tcb, US_CC_EV_RECOVERY_EXIT);
			} else {
				/* Step 4, partial ACK: the next hole is lost too;
				 * resend it and deflate by what was acknowledged,
				 * keeping one segment for the retransmission. */
				us_count(st, USTACK_STAT_TCP_PARTIAL_ACKS);
				us_tcp_retransmit_head(st, tcb);
				tcb->cwnd = tcb->cwnd > acked ? tcb->cwnd - acked : 0;
				if (acked >= mss)
					tcb->cwnd += mss;
				if (tcb->cwnd < mss)
					tcb->cwnd = mss;
			}
			return;
		}
		tcb->dupacks = 0;
		if (tcb->ca_state == US_CA_LOSS && SEQ_GEQ(tcb->snd_una, tcb->recover))
			tcb->ca_state = US_CA_OPEN;
		/* Grow only while the window was what limited sending, so an
		 * application that sends little does not inflate it (RFC 7661's
		 * concern; Linux's tcp_is_cwnd_limited). */
		bool limited = tcb->cwnd < tcb->ssthresh ? flight_before * 2 > tcb->cwnd
							  : flight_before + mss >= tcb->cwnd;
		if (limited)
			tcb->cc->cong_avoid(st, tcb, acked);
		return;
	}
	if (!dup)
		return;
	if (tcb->dupacks < 255)
		tcb->dupacks++;
	if (tcb->ca_state == US_CA_RECOVERY) {
		/* RFC 5681 3.2 step 4: each further duplicate means a segment
		 * has left the network. */
		tcb->cwnd += mss;
		return;
	}
	/* RFC 6582 3.2 step 1: a third duplicate ACK starts recovery only
	 * if it covers everything sent when the last recovery or timeout
	 * began (recover is one past that), so that duplicates of data sent
	 * before a timeout do not start a second one. */
	if (tcb->dupacks == 3 && SEQ_GEQ(tcb->snd_una, tcb->recover))
		enter_recovery(st, tcb);
}

void us_tcp_rto_event(struct ustack *st, struct us_tcb *tcb)
{
	/* RFC 5681 3.1 equation (4), taken once per loss episode: a second
	 * timeout for the same data must not halve the threshold again. */
	if (tcb->ca_state != US_CA_LOSS)
		tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->cwnd = tcb->snd_mss; /* the loss window */
	tcb->ca_state = US_CA_LOSS;
	tcb->recover = tcb->snd_max;
	tcb->dupacks = 0;
	tcb->cc->event(st, tcb, US_CC_EV_RTO);
}
