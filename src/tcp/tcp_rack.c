/*
 * RACK-TLP (RFC 8985). RACK: a segment is taken for lost when one sent after it has
 * been delivered and more than an RTT plus a reordering window has passed
 * since it was sent. Time, not counting duplicate ACKs, decides, so a lost
 * retransmission or a lost tail is found as readily as a lost first send.
 *
 * The records of tcp_sack.c hold each segment's last transmit time, and
 * those not SACKed are linked in the order they were last sent, so the
 * walk stops at the first one sent after RACK's segment, as Linux's walk
 * of its time-sorted list does.
 */
#include "core/stack.h"
#include "tcp/tcp_cc.h"

/* Linux's tcp_skb_sent_after: later, or at the same time but ending
 * further (RFC 8985 6.2, RACK_sent_after). */
static bool sent_after(ustack_time_t t1, uint32_t end1, ustack_time_t t2, uint32_t end2)
{
	return t1 > t2 || (t1 == t2 && SEQ_GT(end1, end2));
}

/* RFC 8985 6.2 step 2, RACK_update, for a segment newly delivered (by the
 * cumulative ACK or a SACK block). */
void us_rack_delivered(struct ustack *st, struct us_tcb *tcb, const struct us_txseg *r)
{
	uint32_t rtt = (uint32_t)((st->now - r->xmit) / 1000u);
	if (r->flags & US_TX_EVER) {
		/* The ACK may be for the first send: a sample shorter than the
		 * minimum RTT cannot be for the retransmission (step 2). */
		if (rtt < tcb->min_rtt.v[0])
			return;
	} else {
		us_tcp_min_rtt_update(st, tcb, rtt);
	}
	tcb->rack_rtt_us = rtt;
	tcb->rack_advanced = true;
	if (sent_after(r->xmit, r->end, tcb->rack_xmit, tcb->rack_end)) {
		tcb->rack_xmit = r->xmit;
		tcb->rack_end = r->end;
	}
}

/* RFC 8985 6.2 step 4, as Linux's tcp_rack_reo_wnd: no window while no
 * reordering has been seen and recovery is under way or the duplicate
 * threshold is met; otherwise a quarter of the minimum RTT per DSACK
 * step, at most SRTT. */
static uint32_t reo_wnd_us(const struct us_tcb *tcb)
{
	if (!tcb->reord_seen) {
		if (tcb->ca_state != US_CA_OPEN)
			return 0;
		if (tcb->txq.sacked >= tcb->reordering)
			return 0;
	}
	uint64_t w = (uint64_t)(tcb->min_rtt.v[0] / 4) * (tcb->reo_mult ? tcb->reo_mult : 1);
	return w < tcb->srtt_us ? (uint32_t)w : tcb->srtt_us;
}

/* RFC 8985 6.2 step 5, RACK_detect_loss. Marks what has waited too long
 * and arms the reordering timer for what may still arrive. Returns true
 * if anything was newly taken for lost. */
static bool detect(struct ustack *st, struct us_tcb *tcb)
{
	uint32_t reo = reo_wnd_us(tcb);
	uint64_t wait = 0;
	bool lost = false;
	const struct us_txq *q = &tcb->txq;
	uint32_t id = q->thead;
	for (uint32_t k = 0; k < q->tn; k++, id = us_sack_by_id(q, id)->tnext) {
		struct us_txseg *r = us_sack_by_id(q, id);
		uint8_t f = r->flags;
		if ((f & US_TX_LOST) && !(f & US_TX_RETRANS))
			continue;
		if (!sent_after(tcb->rack_xmit, tcb->rack_end, r->xmit, r->end))
			break;
		uint64_t deadline = r->xmit + USTACK_USEC((uint64_t)tcb->rack_rtt_us + reo);
		if (deadline <= st->now) {
			us_sack_mark_lost(st, tcb, r);
			us_count(st, USTACK_STAT_TCP_RACK_MARKED_LOST);
			lost = true;
		} else if (deadline - st->now > wait) {
			wait = deadline - st->now;
		}
	}
	if (wait)
		us_tcb_timer_set(st, tcb, US_TM_RACK, st->now + wait);
	return lost;
}

/* RFC 8985 6.2, on each ACK: detection runs only when RACK's segment
 * moved on (Linux's rack.advanced). */
bool us_rack_detect(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->rack_advanced)
		return false;
	tcb->rack_advanced = false;
	return detect(st, tcb);
}

/* RFC 8985 6.3: the reordering window has passed for a segment still not
 * delivered. */
bool us_rack_timer_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (!us_sack_active(tcb) || !(st->sys.tcp_recovery & 1) || tcb->snd_una == tcb->snd_max)
		return true;
	if (detect(st, tcb)) {
		if (tcb->ca_state == US_CA_OPEN) {
			us_tcp_enter_recovery(st, tcb);
			us_tcp_prr(st, tcb, 1, false, true);
		}
		us_tcp_output(st, tcb);
	}
	return true;
}

/* RFC 8985 6.2 step 4: a DSACK says the window was too small; widen it
 * (Linux: one step per round trip, up to SRTT, reset after 16 recoveries;
 * here one step per DSACK, up to 4 steps). */
void us_rack_dsack(struct ustack *st, struct us_tcb *tcb)
{
	(void)st;
	tcb->reord_seen = true;
	if (tcb->reo_mult < 4)
		tcb->reo_mult++;
}

/* RFC 8985 7.2, as Linux's tcp_schedule_loss_probe: only in the open
 * state with SACK, 2 SRTT (plus the worst-case delayed ACK, 200 ms, when
 * one segment is out, so that its delayed ACK is not mistaken for loss),
 * never later than the retransmission timeout. */
void us_tlp_schedule(struct ustack *st, struct us_tcb *tcb, bool on_ack)
{
	uint8_t er = st->sys.tcp_early_retrans;
	if ((er != 3 && er != 4) || !us_sack_active(tcb) || tcb->ca_state != US_CA_OPEN ||
	    tcb->snd_una == tcb->snd_max || !SEQ_GT(tcb->snd_una, tcb->iss) || tcb->txq.sacked ||
	    tcb->txq.retrans || tcb->txq.lost) {
		us_tcb_timer_stop(tcb, US_TM_TLP);
		return;
	}
	uint64_t pto;
	if (tcb->srtt_us) {
		pto = 2ull * tcb->srtt_us + (tcb->txq.n == 1 ? 200000u : 2000u);
	} else {
		pto = 1000000u;
	}
	uint64_t rto = tcb->rto_us;
	if (!on_ack && tcb->tm[US_TM_RTO] != USTACK_TIME_NEVER)
		rto = tcb->tm[US_TM_RTO] > st->now ? (tcb->tm[US_TM_RTO] - st->now) / 1000u : 0;
	if (rto && pto > rto)
		pto = rto;
	us_tcb_timer_set(st, tcb, US_TM_TLP, st->now + USTACK_USEC(pto));
}

/* RFC 8985 7.3: the probe timeout. */
bool us_tlp_expired(struct ustack *st, struct us_tcb *tcb)
{
	if (!us_sack_active(tcb) || tcb->ca_state != US_CA_OPEN || tcb->snd_una == tcb->snd_max ||
	    tcb->txq.n == 0)
		return true;
	if (tcb->tlp_out)
		return true; /* one probe at a time; the RTO follows */
	us_count(st, USTACK_STAT_TCP_TLP_PROBES);
	uint32_t before = tcb->snd_max;
	tcb->tlp_retrans = !us_tcp_send_new_ignoring_cwnd(st, tcb);
	if (tcb->tlp_retrans)
		us_tcp_retransmit_rec(st, tcb, us_sack_at(tcb, tcb->txq.n - 1));
	(void)before;
	tcb->tlp_out = true;
	tcb->tlp_high = tcb->snd_max;
	us_tcb_timer_set(st, tcb, US_TM_RTO, st->now + USTACK_USEC(tcb->rto_us));
	return true;
}

/* RFC 8985 7.4: was the probe's episode a loss? If the ACK covers the probe
 * and no DSACK says the probe was a needless copy, something was lost and
 * repaired by the probe alone: the window is reduced once (Linux enters
 * CWR and ends it at once). */
void us_tlp_ack(struct ustack *st, struct us_tcb *tcb, bool dsack)
{
	if (!tcb->tlp_out || SEQ_LT(tcb->snd_una, tcb->tlp_high))
		return;
	tcb->tlp_out = false;
	if (!tcb->tlp_retrans || dsack || tcb->ca_state != US_CA_OPEN)
		return;
	tcb->ssthresh = tcb->cc->ssthresh(st, tcb);
	tcb->cwnd = tcb->ssthresh;
	tcb->cc->event(st, tcb, US_CC_EV_RECOVERY_EXIT);
}
