/*
 * Loss detection and recovery, and the congestion window around them:
 * slow start and avoidance (RFC 5681 3.1, through the connection's
 * algorithm), the collapse to one segment after a retransmission timeout,
 * and fast recovery in one of two ways:
 *
 * - with SACK (RFC 6675): losses are found by RACK (RFC 8985, tcp_rack.c)
 *   when net.ipv4.tcp_recovery has bit 0, as in Linux, or by DupThresh
 *   SACKed segments above a hole; recovery sends what the scoreboard
 *   (tcp_sack.c) takes for lost first, then new data, as PRR (RFC 6937)
 *   lets the window shrink toward ssthresh;
 * - without: fast retransmit on the third duplicate ACK and NewReno's
 *   partial ACKs (RFC 6582).
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
	tcb->reordering = st->sys.tcp_reordering ? st->sys.tcp_reordering : 3;
	tcb->cc->init(st, tcb);
}

uint32_t us_tcp_flight(const struct us_tcb *tcb)
{
	return tcb->snd_max - tcb->snd_una;
}

static void newreno_prr(struct us_tcb *tcb, uint32_t delivered, bool una_advanced, bool resend_head);

/* Linux's tcp_init_undo: remember the window a reduction starts from,
 * and count the episode's retransmissions from here (us_tcp_sent). */
static void undo_start(struct us_tcb *tcb)
{
	tcb->undo_cwnd = tcb->cwnd;
	tcb->undo_ssthresh = tcb->ssthresh;
	tcb->undo_on = true;
	tcb->undo_marker = tcb->snd_una;
	tcb->undo_retrans = 0;
	tcb->retrans_tsval = 0;
}

/* RFC 3522 (Eifel), as Linux's tcp_packet_delayed: the ACK echoes a
 * timestamp older than the first retransmission, so it answers the
 * original, which therefore arrived. */
static bool packet_delayed(const struct us_tcb *tcb)
{
	return tcb->ts_ok && tcb->retrans_tsval && tcb->rcv_tsecr && SEQ_LT(tcb->rcv_tsecr, tcb->retrans_tsval);
}

/* Linux's tcp_may_undo: every retransmission came back as a duplicate
 * (RFC 3708), or the original was delivered (RFC 3522). */
static bool may_undo(const struct us_tcb *tcb)
{
	return tcb->undo_on && (!tcb->undo_retrans || packet_delayed(tcb));
}

/* Which evidence made may_undo true: the echo, or the duplicates. */
static enum ustack_stat undo_reason(const struct us_tcb *tcb)
{
	return packet_delayed(tcb) ? USTACK_STAT_TCP_UNDO_TS : USTACK_STAT_TCP_UNDO_DSACK;
}

/* Linux's tcp_undo_cwnd_reduction: the window comes back as it was, the
 * episode is over. unmark: forget the lost marks too (after a timeout,
 * whose marks covered everything in flight). */
static void undo_reduction(struct ustack *st, struct us_tcb *tcb, enum ustack_stat why, bool unmark)
{
	us_count(st, why);
	if (tcb->cwnd < tcb->undo_cwnd)
		tcb->cwnd = tcb->undo_cwnd;
	if (tcb->ssthresh < tcb->undo_ssthresh)
		tcb->ssthresh = tcb->undo_ssthresh;
	if (unmark)
		us_sack_unmark_lost(tcb);
	tcb->undo_on = false;
	tcb->frto = false;
	tcb->ca_state = US_CA_OPEN;
	tcb->dupacks = 0;
	tcb->retries = 0;
}

static void enter_recovery(struct ustack *st, struct us_tcb *tcb)
{
	/* RFC 6582 3.2 step 2, RFC 5681 3.2 steps 2 and 3; the window
	 * during recovery is PRR's (RFC 6937), not RFC 5681's inflation. */
	us_count(st, USTACK_STAT_TCP_FAST_RETRANS);
	tcb->prior_cwnd = tcb->cwnd / tcb->snd_mss ? tcb->cwnd / tcb->snd_mss : 1;
	tcb->prr_delivered = tcb->prr_out = 0;
	tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->recover = tcb->snd_max;
	tcb->ca_state = US_CA_RECOVERY;
	newreno_prr(tcb, 1, false, true);
	us_tcp_retransmit_head(st, tcb);
}

/*
 * RFC 6937 PRR, in segments, exactly as Linux's tcp_cwnd_reduction:
 * while pipe is above ssthresh, send in proportion to what is delivered
 * (ssthresh / RecoverFS, with RecoverFS the window when recovery began);
 * below it, slow-start back up to ssthresh, one segment beyond what was
 * delivered when SND.UNA advanced and nothing new was lost (PRR-SSRB),
 * only what was delivered otherwise (PRR-CRB).
 */
static uint32_t prr_sndcnt(struct us_tcb *tcb, uint32_t pipe, uint32_t delivered, bool una_advanced,
			   bool newly_lost)
{
	int64_t ssthresh = tcb->ssthresh / tcb->snd_mss;
	int64_t delta = ssthresh - (int64_t)pipe, sndcnt;
	tcb->prr_delivered += delivered;
	if (delta < 0) {
		uint64_t dividend = (uint64_t)ssthresh * tcb->prr_delivered + tcb->prior_cwnd - 1;
		sndcnt = (int64_t)(dividend / tcb->prior_cwnd) - tcb->prr_out;
	} else {
		sndcnt = (int64_t)tcb->prr_delivered - tcb->prr_out;
		if (sndcnt < (int64_t)delivered)
			sndcnt = delivered;
		if (una_advanced && !newly_lost)
			sndcnt++;
		if (sndcnt > delta)
			sndcnt = delta;
	}
	/* The first ACK of recovery always sends: the fast retransmit. */
	if (sndcnt < (tcb->prr_out ? 0 : 1))
		sndcnt = tcb->prr_out ? 0 : 1;
	return (uint32_t)sndcnt;
}

void us_tcp_prr(struct ustack *st, struct us_tcb *tcb, uint32_t delivered, bool una_advanced, bool newly_lost)
{
	(void)st;
	if (!delivered || !tcb->prior_cwnd)
		return;
	uint32_t pipe = us_sack_pipe_segs(tcb);
	tcb->cwnd = (pipe + prr_sndcnt(tcb, pipe, delivered, una_advanced, newly_lost)) * tcb->snd_mss;
	if (tcb->cwnd < tcb->snd_mss)
		tcb->cwnd = tcb->snd_mss;
}

/* Without SACK, as Linux counts it (tcp_add_reno_sack): during recovery
 * each duplicate ACK stands for a segment that left the network. Pipe in
 * bytes, with the head's retransmission in flight. */
uint32_t us_tcp_newreno_pipe(const struct us_tcb *tcb)
{
	uint32_t mss = tcb->snd_mss, outstanding = tcb->snd_nxt - tcb->snd_una;
	uint32_t out = (outstanding + mss - 1) / mss;
	uint32_t sacked = out && tcb->dupacks > out - 1 ? out - 1 : tcb->dupacks;
	return outstanding - sacked * mss;
}

/* PRR without SACK: resend_head says the head is lost and about to be
 * resent (on entering recovery, on a partial ACK). */
static void newreno_prr(struct us_tcb *tcb, uint32_t delivered, bool una_advanced, bool resend_head)
{
	uint32_t mss = tcb->snd_mss;
	uint32_t pipe = us_tcp_newreno_pipe(tcb) / mss;
	if (resend_head && pipe)
		pipe--; /* lost, not yet resent */
	uint32_t sndcnt = prr_sndcnt(tcb, pipe, delivered, una_advanced, resend_head);
	tcb->cwnd = (pipe + sndcnt) * mss;
	if (tcb->cwnd < mss)
		tcb->cwnd = mss;
}

/* RFC 6675 5 step (4): recovery begins (Linux's tcp_enter_recovery). */
void us_tcp_enter_recovery(struct ustack *st, struct us_tcb *tcb)
{
	us_count(st, USTACK_STAT_TCP_FAST_RETRANS);
	us_count(st, USTACK_STAT_TCP_SACK_RECOVERY);
	tcb->prior_cwnd = tcb->cwnd / tcb->snd_mss;
	if (tcb->prior_cwnd == 0)
		tcb->prior_cwnd = 1;
	undo_start(tcb);
	tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->recover = tcb->snd_max;
	tcb->ca_state = US_CA_RECOVERY;
	tcb->prr_delivered = tcb->prr_out = 0;
	tcb->tlp_out = false; /* Linux's tcp_init_cwnd_reduction: the probe's episode is this one */
}

static void grow(struct ustack *st, struct us_tcb *tcb, uint32_t acked, uint32_t flight_before)
{
	/* Grow only while the window was what limited sending, so an
	 * application that sends little does not inflate it (RFC 7661's
	 * concern; Linux's tcp_is_cwnd_limited). */
	uint32_t mss = tcb->snd_mss;
	bool limited = tcb->cwnd < tcb->ssthresh ? flight_before * 2 > tcb->cwnd : flight_before + mss >= tcb->cwnd;
	if (limited)
		tcb->cc->cong_avoid(st, tcb, acked);
}

/* RFC 5682 and Linux's tcp_try_undo_loss: the timeout was spurious; the
 * window comes back as it was before it. */
static void undo_rto(struct ustack *st, struct us_tcb *tcb)
{
	undo_reduction(st, tcb, USTACK_STAT_TCP_SPURIOUS_RTO_UNDONE, true);
}

/*
 * RFC 5682 3.1, SACK-enhanced, in the order of Linux's tcp_process_loss.
 * Returns true if the ACK is fully handled (the timeout was undone).
 */
static bool frto_ack(struct ustack *st, struct us_tcb *tcb, uint32_t acked, uint32_t delivered)
{
	if (!tcb->frto || tcb->ca_state != US_CA_LOSS)
		return false;
	/* Step 3b: data sent only once was delivered, so not everything
	 * in flight was lost: the timeout was spurious. */
	if (tcb->orig_delivered) {
		undo_rto(st, tcb);
		return true;
	}
	bool recovered = SEQ_GEQ(tcb->snd_una, tcb->recover);
	if (SEQ_GT(tcb->snd_max, tcb->recover)) {
		/* Step 3a: new data went out, and a SACK or a duplicate
		 * came back instead of its ACK: the loss was real. */
		if (delivered > acked / tcb->snd_mss || !acked)
			tcb->frto = false;
	} else if (acked && !recovered) {
		/* Step 2b: the retransmission was acknowledged; send new
		 * data to see whether the rest arrives without resending. */
		tcb->recover = tcb->snd_max;
		bool fin_pending;
		uint32_t unsent = tcb->sndq_seq + tcb->sndq.len - tcb->snd_nxt;
		fin_pending = tcb->fin_queued && SEQ_LEQ(tcb->snd_nxt, tcb->sndq_seq + tcb->sndq.len);
		if ((unsent || fin_pending) && SEQ_GT(tcb->snd_una + tcb->snd_wnd, tcb->snd_nxt))
			tcb->frto_new = true;
		else
			tcb->frto = false;
	}
	return false;
}

/* An ACK on a connection with a SACK scoreboard (RFC 6675 5). */
static void sack_ack_event(struct ustack *st, struct us_tcb *tcb, uint32_t acked, uint32_t flight_before,
			   uint32_t delivered)
{
	bool rack = st->sys.tcp_recovery & 1;
	uint32_t lost_before = tcb->txq.lost;
	/* Linux grows the window by what this ACK newly delivered (acked
	 * or SACKed, in segments), not by how far SND.UNA moved: data
	 * SACKed earlier counted then, or not at all (tcp_cong_control's
	 * acked_sacked). */
	uint32_t grow_by = delivered ? delivered * tcb->snd_mss : acked;
	us_tlp_ack(st, tcb, tcb->dsack_rcvd);
	if (frto_ack(st, tcb, acked, delivered)) {
		grow(st, tcb, grow_by, flight_before);
		us_tlp_schedule(st, tcb, true);
		return;
	}
	if (tcb->txq.n && (us_sack_at(tcb, 0)->flags & US_TX_SACKED)) {
		/* The peer acknowledges up to data it had SACKed: it threw
		 * that data away (reneged, RFC 2018 8). Linux waits a little
		 * for the ACK that moves past it, then times out, which
		 * forgets the SACK marks. */
		us_count(st, USTACK_STAT_TCP_SACK_RENEGING);
		uint32_t wait = tcb->srtt_us / 2 > 10000 ? tcb->srtt_us / 2 : 10000;
		if (tcb->tm[US_TM_RTO] > st->now + USTACK_USEC(wait))
			us_tcb_timer_set(st, tcb, US_TM_RTO, st->now + USTACK_USEC(wait));
		return; /* Linux: nothing is marked or sent on such an ACK */
	}
	/* RFC 3522 and RFC 3708, as Linux's tcp_process_loss and
	 * tcp_try_undo_loss: an ACK that moves SND.UNA after a timeout
	 * shows it spurious if the original arrived or every resend came
	 * back as a duplicate; the window is given back. */
	if (tcb->ca_state == US_CA_LOSS && acked && may_undo(tcb)) {
		undo_reduction(st, tcb, undo_reason(tcb), true);
		grow(st, tcb, grow_by, flight_before);
		us_tlp_schedule(st, tcb, true);
		return;
	}
	/* Linux's tcp_try_undo_dsack: in recovery, the last of its
	 * retransmissions reported as a duplicate; nothing was lost. */
	if (tcb->ca_state == US_CA_RECOVERY && tcb->dsack_rcvd && tcb->undo_on && !tcb->undo_retrans)
		undo_reduction(st, tcb, USTACK_STAT_TCP_UNDO_DSACK, false);
	if (rack)
		us_rack_detect(st, tcb);
	if (tcb->ca_state == US_CA_RECOVERY && SEQ_GEQ(tcb->snd_una, tcb->recover)) {
		if (may_undo(tcb)) {
			/* Linux's tcp_try_undo_recovery: the reduction was
			 * spurious after all. */
			undo_reduction(st, tcb, undo_reason(tcb), false);
		} else {
			/* RFC 6675 5 step (3) and RFC 6937: recovery is over;
			 * Linux ends the reduction at ssthresh. */
			tcb->cwnd = tcb->ssthresh;
			tcb->ca_state = US_CA_OPEN;
			tcb->dupacks = 0;
			tcb->undo_on = false;
			tcb->cc->event(st, tcb, US_CC_EV_RECOVERY_EXIT);
		}
	} else if (tcb->ca_state == US_CA_LOSS && SEQ_GEQ(tcb->snd_una, tcb->recover)) {
		tcb->ca_state = US_CA_OPEN;
		tcb->undo_on = false;
	}
	if (!rack && tcb->ca_state != US_CA_LOSS && tcb->txq.sacked >= tcb->reordering)
		us_sack_mark_head_lost(st, tcb, tcb->txq.sacked - tcb->reordering);
	/* RFC 6582's rule carries over (RFC 6675 5 step (2)): no new
	 * recovery for losses of what was sent before the last one began. */
	if (tcb->ca_state == US_CA_OPEN && tcb->txq.lost && SEQ_GEQ(tcb->snd_una, tcb->recover))
		us_tcp_enter_recovery(st, tcb);
	/* RFC 8985 7.2: an ACK that moves SND.UNA restarts the probe
	 * timeout; leaving the open state cancels it. */
	if (acked || tcb->ca_state != US_CA_OPEN || tcb->txq.sacked)
		us_tlp_schedule(st, tcb, true);
	if (tcb->ca_state == US_CA_RECOVERY) {
		us_tcp_prr(st, tcb, delivered, acked > 0, tcb->txq.lost > lost_before);
		return;
	}
	if (acked)
		grow(st, tcb, grow_by, flight_before);
}

void us_tcp_ack_event(struct ustack *st, struct us_tcb *tcb, uint32_t acked, bool dup, uint32_t flight_before,
		      uint32_t delivered)
{
	uint32_t mss = tcb->snd_mss;
	if (us_sack_active(tcb)) {
		sack_ack_event(st, tcb, acked, flight_before, delivered);
		return;
	}
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
				/* Linux's tcp_remove_reno_sacks: one acknowledged
				 * segment filled the hole, the others had been
				 * counted by duplicate ACKs already. */
				uint32_t pkts = (acked + mss - 1) / mss;
				uint32_t delivered_nr = pkts > tcb->dupacks ? pkts - tcb->dupacks : 1;
				tcb->dupacks = (uint8_t)(tcb->dupacks > pkts - 1 ? tcb->dupacks - (pkts - 1) : 0);
				newreno_prr(tcb, delivered_nr, true, true);
				us_tcp_retransmit_head(st, tcb);
			}
			return;
		}
		tcb->dupacks = 0;
		if (tcb->ca_state == US_CA_LOSS && SEQ_GEQ(tcb->snd_una, tcb->recover))
			tcb->ca_state = US_CA_OPEN;
		grow(st, tcb, acked, flight_before);
		return;
	}
	if (!dup)
		return;
	if (tcb->dupacks < 255)
		tcb->dupacks++;
	if (tcb->ca_state == US_CA_RECOVERY) {
		/* RFC 5681 3.2 step 4: each further duplicate means a segment
		 * has left the network; PRR decides what may follow it. */
		newreno_prr(tcb, 1, false, false);
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
	if (us_sack_active(tcb)) {
		/* RFC 5682 3.1 step 1, as Linux: F-RTO watches a timeout
		 * that starts a loss episode, or one more timeout of the same
		 * segment (3.2); the window is kept for an undo. */
		bool fresh = tcb->ca_state != US_CA_LOSS && tcb->ca_state != US_CA_RECOVERY;
		tcb->frto = st->sys.tcp_frto && (fresh || tcb->retries > 1);
		tcb->frto_new = false;
		/* Linux's tcp_enter_loss: a new episode, or one whose undo
		 * was already ruled out, starts counting afresh. */
		if (fresh || !tcb->undo_on)
			undo_start(tcb);
	}
	/* RFC 5681 3.1 equation (4), taken once per loss episode: a second
	 * timeout for the same data must not halve the threshold again. */
	if (tcb->ca_state != US_CA_LOSS)
		tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->cwnd = tcb->snd_mss; /* the loss window */
	tcb->ca_state = US_CA_LOSS;
	tcb->recover = tcb->snd_max;
	tcb->dupacks = 0;
	tcb->cc->event(st, tcb, US_CC_EV_RTO);
	if (us_sack_active(tcb))
		us_sack_rto(tcb);
}
