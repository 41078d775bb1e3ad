/*
 * Building and sending segments.
 *
 * Every segment leaves through us_tcp_emit: headers are written into the
 * stack's header scratch, the payload stays where it is (in the send ring)
 * and is checksummed and handed to the link in place, so each byte is copied
 * once on its way out, by the link if at all (DESIGN-NOTES 1).
 *
 * us_tcp_output decides what a connection may send now: data within the
 * peer's window, cut to the MSS, with PSH on the segment that empties the
 * buffer and FIN on the segment after the last byte once the user has shut
 * down the write side.
 */
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

void us_tcp_emit(struct ustack *st, const struct us_tuple *t, const struct us_tcp_out *o,
		 const struct iovec *payload, int npayload, const struct us_tcb *tcb)
{
	uint8_t *th = st->hdr + US_IPV4_HDR_MIN;
	size_t plen = 0;
	for (int i = 0; i < npayload; i++)
		plen += payload[i].iov_len;
	struct ustack_tcp_segment seg = {
		.saddr = t->laddr,
		.daddr = t->raddr,
		.sport = t->lport,
		.dport = t->rport,
		.seq = o->seq,
		.ack = o->ack,
		.window = o->win,
		.flags = o->flags,
		.len = (uint32_t)plen,
		.opt = o->opt,
	};
	size_t hl = us_tcp_build(th, &seg);
	uint64_t acc = us_csum_pseudo(t->laddr, t->raddr, US_IP_PROTO_TCP, (uint16_t)(hl + plen));
	uint16_t csum;
	if (st->cfg.csum_offload & USTACK_CSUM_TX) {
		/* The link sums the segment: leave it the pseudo-header's sum,
		 * not complemented, as Linux does for CHECKSUM_PARTIAL. */
		csum = (uint16_t)~us_csum_fold(acc);
	} else {
		acc = us_csum_add(acc, th, hl);
		size_t off = hl;
		for (int i = 0; i < npayload; i++) {
			acc = us_csum_add_at(acc, payload[i].iov_base, payload[i].iov_len, off);
			off += payload[i].iov_len;
		}
		csum = us_csum_fold(acc);
	}
	memcpy(th + 16, &csum, sizeof(csum));

	us_count(st, USTACK_STAT_TCP_OUT);
	if (o->flags & USTACK_TCP_RST)
		us_count(st, USTACK_STAT_TCP_OUT_RST);
	if (US_TRACING(st)) {
		struct ustack_event ev = { .type = USTACK_EV_SEG_OUT, .seg = &seg };
		us_event_conn(&ev, tcb);
		ev.laddr = t->laddr;
		ev.raddr = t->raddr;
		ev.lport = t->lport;
		ev.rport = t->rport;
		us_trace(st, &ev);
	}
	/* RFC 1191 3: DF on, unless the path MTU is locked at min_pmtu or
	 * discovery was off when the connection was made. Segments without a
	 * connection (resets) keep DF, as Linux's control socket does. */
	bool df = !tcb || !(tcb->pmtu_locked || tcb->pmtu_no_df);
	us_ip_output(st, t->raddr, US_IP_PROTO_TCP, hl, payload, npayload, plen, df);
}

/* Linux's tcp_clock_ms: timestamps tick once a millisecond (RFC 7323 5.4
 * asks for 1 ms to 1 s). */
uint32_t us_tcp_ts_clock(const struct ustack *st)
{
	return (uint32_t)(st->now / USTACK_MSEC(1));
}

/*
 * RFC 7323 7.1 and Linux's secure_tcp_ts_off: each address pair sees its
 * own random offset, so that TSvals reveal neither the uptime nor which
 * connections share a host. A keyed hash (not us_random) because SYN
 * cookies must find the same offset again from the ACK alone.
 * net.ipv4.tcp_timestamps = 2 turns the offset off, as in Linux.
 */
uint32_t us_tcp_ts_offset(struct ustack *st, const struct us_tuple *t)
{
	if (st->sys.tcp_timestamps != 1)
		return 0;
	/* 16 bytes: never the same input as an ISN's 12 (us_tcp_isn). */
	uint32_t k[4] = { t->laddr, t->raddr, 0x54537666u, 0 };
	return (uint32_t)us_siphash(&st->key_isn, k, sizeof(k));
}

/* The payload of a full-sized segment from the peer: what we announced,
 * less the timestamp option every segment then carries (Linux's mss_cache
 * of 1448 for 1460). */
uint32_t us_tcp_rcv_seg(const struct us_tcb *tcb)
{
	return tcb->rcv_mss - (tcb->ts_ok ? US_TCPOLEN_TS_ALIGNED : 0);
}

/*
 * RFC 7323 2.3: the shift, chosen as Linux's tcp_select_initial_window
 * does: from the largest buffer the connection could grow to (tcp_rmem[2],
 * net.core.rmem_max, or the socket's own), log2 of it less 15, at most 14.
 * A buffer fixed by SO_RCVBUF (locked) never grows: Linux then clamps the
 * window to its full space (tcp_connect_init, tcp_openreq_init_rwin), the
 * buffer's half at the initial scaling ratio, and scales only for that.
 */
uint8_t us_tcp_wscale(const struct ustack *st, uint32_t rcvbuf, bool locked)
{
	uint32_t space = st->sys.tcp_rmem[2];
	if (space < st->sys.core_rmem_max)
		space = st->sys.core_rmem_max;
	if (space < rcvbuf)
		space = rcvbuf;
	if (locked && space > rcvbuf / 2)
		space = rcvbuf / 2;
	int s = 31 - __builtin_clz(space | 1) - 15;
	return (uint8_t)(s < 0 ? 0 : s > 14 ? 14 : s);
}

/*
 * The window of a SYN or SYN,ACK, as Linux sizes it (checked on 6.18 by
 * tests/interop/synack.sh): half the initial buffer (tcp_rmem[1], or what
 * SO_RCVBUF set if smaller; Linux 6.x starts its scaling_ratio at one half
 * whatever tcp_adv_win_scale says), rounded down to whole segments of
 * `mss`, at most 65535 since a SYN's window is never scaled (RFC 7323 2.2).
 * 64240 = 44 * 1460; 65160 = 45 * 1448 when timestamps take 12 bytes.
 */
uint16_t us_tcp_syn_window(const struct ustack *st, uint32_t rcvbuf, uint32_t mss)
{
	uint32_t space = (rcvbuf < st->sys.tcp_rmem[1] ? rcvbuf : st->sys.tcp_rmem[1]) / 2;
	if (mss && space > mss)
		space -= space % mss;
	return (uint16_t)(space < 65535 ? space : 65535);
}

/*
 * The options of a SYN or SYN,ACK. The layout (wire/tcp.c) is Linux's:
 * <mss,sackOK,TS,nop,wscale>, <mss,nop,nop,sackOK,nop,wscale> without
 * timestamps, <mss,nop,nop,TS,nop,wscale> without SACK.
 */
void us_tcp_syn_options(struct ustack_tcp_options *opt, uint16_t mss, bool sack, bool ts, uint32_t tsval,
			uint32_t tsecr, bool ws, uint8_t wscale)
{
	opt->present = USTACK_OPT_MSS;
	opt->mss = mss;
	if (sack)
		opt->present |= USTACK_OPT_SACK_PERM;
	if (ts) {
		opt->present |= USTACK_OPT_TS;
		opt->ts_val = tsval;
		opt->ts_ecr = tsecr;
	}
	if (ws) {
		opt->present |= USTACK_OPT_WSCALE;
		opt->wscale = wscale;
	}
}

/*
 * The most of the buffer the window may offer, Linux's tcp_full_space:
 * rcvbuf counts memory as Linux's sk_rcvbuf does, a segment's payload and
 * what holding it costs (struct sk_buff, its shared info, the headers),
 * and tcp_win_from_space takes the payload's share of it, scaling_ratio
 * (len * 256 / truesize of the segments received). ustack's ring holds
 * payload only, so it takes Linux's ratio for full-sized segments as if
 * each cost its payload plus US_SKB_RCV_OVERHEAD: measured on Linux 6.18
 * over veth (the tcp_rcvbuf_grow trace event), segments of 1448 bytes
 * gave a ratio of 162, so a buffer of 131072 offers at most 82944.
 * Before the MSS is known, Linux's initial ratio of one half.
 */
#define US_SKB_RCV_OVERHEAD 840u

static uint32_t rcv_ratio(const struct us_tcb *tcb)
{
	uint32_t seg = tcb->rcv_mss ? us_tcp_rcv_seg(tcb) : 0;
	return seg ? (seg << 8) / (seg + US_SKB_RCV_OVERHEAD) : 128;
}

uint32_t us_tcp_rcv_full(const struct us_tcb *tcb)
{
	return (uint32_t)(((uint64_t)tcb->rcvbuf * rcv_ratio(tcb)) >> 8);
}

/* Linux's tcp_space_from_win: the buffer that offers a window of `win`. */
uint32_t us_tcp_space_from_win(const struct us_tcb *tcb, uint64_t win)
{
	uint64_t v = (win << 8) / rcv_ratio(tcb);
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* What the window may still offer: the buffer's share less what waits
 * unread (Linux's tcp_space). */
static uint32_t rcv_free(const struct us_tcb *tcb)
{
	uint32_t full = us_tcp_rcv_full(tcb);
	return full > tcb->rcvq.len ? full - tcb->rcvq.len : 0;
}

/*
 * Linux's tcp_grow_window, the rule by which the window we advertise
 * opens: it starts at what our SYN offered (rcv_ssthresh) and each
 * in-order segment of 128 bytes or more adds twice our MSS (twice the
 * segment, were it larger), as far as the free buffer and the largest
 * window the scale can say allow. Segments under 128 bytes leave it as
 * it is, so a peer sending tiny segments does not make us promise buffer
 * it would fill mostly with overhead. Linux first compares each
 * segment's memory cost with its length; ustack's buffer holds bytes
 * only, so every segment passes that test. Returns true if the window
 * grew: Linux then ACKs at once (icsk_ack.quick) to announce it.
 */
bool us_tcp_rcv_grow(struct us_tcb *tcb, uint32_t len)
{
	if (len < 128)
		return false;
	uint32_t space = rcv_free(tcb);
	uint32_t clamp = 65535u << tcb->rcv_wscale;
	if (space > clamp)
		space = clamp;
	if (space <= tcb->rcv_ssthresh)
		return false;
	uint32_t incr = 2 * us_tcp_rcv_seg(tcb);
	if (incr < 2 * len)
		incr = 2 * len;
	uint32_t room = space - tcb->rcv_ssthresh;
	tcb->rcv_ssthresh += incr < room ? incr : room;
	return true;
}

/*
 * The window we could offer now: the free buffer, but no more than
 * rcv_ssthresh (us_tcp_rcv_grow), which Linux (__tcp_select_window)
 * rounds up to the scale's unit where it rounds the free buffer down.
 */
uint32_t us_tcp_rcv_space(const struct us_tcb *tcb)
{
	uint32_t unit = (1u << tcb->rcv_wscale) - 1;
	uint32_t space = rcv_free(tcb);
	space &= ~unit;
	if (space > tcb->rcv_ssthresh)
		space = tcb->rcv_ssthresh > UINT32_MAX - unit ? tcb->rcv_ssthresh
							       : (tcb->rcv_ssthresh + unit) & ~unit;
	return space;
}

/*
 * The window to advertise, and the right edge it commits us to.
 * RFC 9293 3.8.6.2.2: never move the right edge back (shrink the window),
 * and advertise new space only in steps of min(half the buffer, one MSS),
 * so a reader taking a few bytes at a time does not invite tiny segments
 * (receiver-side silly window avoidance).
 */
uint16_t us_tcp_rcv_window(struct us_tcb *tcb, bool syn)
{
	if (syn) {
		/* The window our SYN offered (us_tcp_send_syn), from RCV.NXT;
		 * Linux's rcv_ssthresh starts there too. */
		tcb->rcv_adv = tcb->rcv_nxt + tcb->syn_wnd;
		tcb->rcv_ssthresh = tcb->syn_wnd;
		return tcb->syn_wnd;
	}
	uint8_t ws = tcb->rcv_wscale;
	uint32_t space = rcv_free(tcb);
	uint32_t cur = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
	uint32_t seg = us_tcp_rcv_seg(tcb);
	uint32_t full = us_tcp_rcv_full(tcb);
	uint32_t step = full / 2 < seg ? full / 2 : seg;
	uint32_t w = us_tcp_rcv_space(tcb);
	if (w < cur + step && w != cur)
		w = cur;
	if (w > (65535u << ws))
		w = 65535u << ws;
	uint32_t field = w >> ws;
	/* Scaling truncates. Linux rounds a held window up rather than let
	 * the edge seem to move back; but rounding up on every ACK while the
	 * reader sleeps moves the edge up to 2^ws - 1 bytes further each time,
	 * until the window promises more than the buffer and in-window data
	 * is dropped (RFC 7323 appendix F; bench/RESULTS.md, TUN). So round up
	 * only while the edge stays within 2^ws - 1 bytes of the buffer's
	 * end; past that the edge seems to move back by less than 2^ws, which
	 * RFC 7323 2.4 lets a sender see, and the edge committed to (rcv_adv,
	 * what input accepts) stays. */
	uint32_t up = (cur + (1u << ws) - 1) >> ws;
	if ((field << ws) < cur && (up << ws) < space + (1u << ws))
		field = up;
	if (field > 65535)
		field = 65535;
	uint32_t edge = tcb->rcv_nxt + (field << ws);
	if (SEQ_GT(edge, tcb->rcv_adv) || !SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt))
		tcb->rcv_adv = edge;
	return (uint16_t)field;
}

static void fill_out(struct ustack *st, struct us_tcb *tcb, struct us_tcp_out *o, uint32_t seq, uint8_t flags)
{
	memset(o, 0, sizeof(*o));
	o->seq = seq;
	o->flags = flags;
	o->ack = tcb->rcv_nxt;
	o->win = us_tcp_rcv_window(tcb, false);
	tcb->last_ack_sent = o->ack;
	if (tcb->ts_ok) {
		/* RFC 7323 3.2: once negotiated, on every segment, resets
		 * included (Linux's tcp_send_active_reset does). */
		o->opt.present = USTACK_OPT_TS;
		o->opt.ts_val = us_tcp_ts_clock(st) + tcb->ts_off;
		o->opt.ts_ecr = tcb->ts_recent;
	}
	us_sack_options(tcb, &o->opt);
	/* Every segment carries the ACK, so whatever ACK was owed is paid. */
	tcb->ack_now = false;
	tcb->ack_delayed = false;
	tcb->rcv_unacked = 0;
}

/*
 * Segments without data carry SND.MAX: after a timeout rewinds SND.NXT to
 * resend, a lower number could fall below what the peer already has, be
 * unacceptable there and draw an ACK that is unacceptable here, forever.
 * Linux's SND.NXT never moves back, so it sends the same.
 */
void us_tcp_send_ack(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	fill_out(st, tcb, &o, tcb->snd_max, USTACK_TCP_ACK);
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
}

void us_tcp_send_rst(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	/* Linux aborts with RST,ACK at SND.NXT so the peer can check it
	 * against its window (RFC 9293 3.10.7.4, RFC 5961 3.2). */
	fill_out(st, tcb, &o, tcb->snd_max, USTACK_TCP_RST | USTACK_TCP_ACK);
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
}

void us_tcp_send_syn(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	memset(&o, 0, sizeof(o));
	/* Once the peer's SYN is in, ours is a SYN,ACK: in SYN_RECEIVED, and
	 * in FIN_WAIT_1 if the user closed before the handshake completed. */
	bool synack = tcb->state != USTACK_TCP_SYN_SENT;
	o.seq = tcb->iss;
	o.flags = USTACK_TCP_SYN | (synack ? USTACK_TCP_ACK : 0);
	o.ack = synack ? tcb->rcv_nxt : 0;
	/* RFC 7323 2.2, 3.2 and RFC 2018 2: a SYN offers what the sysctls
	 * allow; a SYN,ACK answers with what the peer's SYN offered too
	 * (take_syn_options in tcp_input.c decided that). */
	bool ws = synack ? tcb->ws_ok : st->sys.tcp_window_scaling;
	bool ts = synack ? tcb->ts_ok : st->sys.tcp_timestamps;
	bool sack = synack ? tcb->sack_ok : st->sys.tcp_sack;
	tcb->ts_off = us_tcp_ts_offset(st, &tcb->n.t);
	if (ws)
		tcb->rcv_wscale = us_tcp_wscale(st, tcb->rcvbuf, tcb->rcvbuf_lock);
	us_tcp_syn_options(&o.opt, tcb->rcv_mss, sack, ts, us_tcp_ts_clock(st) + tcb->ts_off,
			   synack ? tcb->ts_recent : 0, ws, tcb->rcv_wscale);
	/* Linux rounds a SYN,ACK's window to segments less the timestamp
	 * option; a SYN's to full ones, the option being undecided. */
	tcb->syn_wnd = us_tcp_syn_window(st, tcb->rcvbuf,
					 tcb->rcv_mss - (synack && ts ? US_TCPOLEN_TS_ALIGNED : 0));
	o.win = us_tcp_rcv_window(tcb, true);
	if (synack)
		tcb->last_ack_sent = tcb->rcv_nxt;
	tcb->ack_now = false;
	bool again = SEQ_GT(tcb->snd_max, tcb->iss);
	tcb->snd_nxt = tcb->iss + 1;
	/* SND.MAX never moves back: a FIN sent from SYN_RECEIVED (RFC 9293
	 * 3.10.4 CLOSE) before the SYN was acknowledged stays sent. */
	if (!again || SEQ_LT(tcb->snd_max, tcb->iss + 1))
		tcb->snd_max = tcb->iss + 1;
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
	us_tcp_sent(st, tcb, tcb->iss, 1, again);
}

/* RFC 9293 3.10.7.1: the answer to a segment no connection wants. */
void us_tcp_reset_reply(struct ustack *st, const struct us_tcp *seg)
{
	const struct ustack_tcp_segment *h = &seg->h;
	if (h->flags & USTACK_TCP_RST)
		return;
	struct us_tuple t = { .laddr = h->daddr, .raddr = h->saddr, .lport = h->dport, .rport = h->sport };
	struct us_tcp_out o;
	memset(&o, 0, sizeof(o));
	if (h->flags & USTACK_TCP_ACK) {
		o.seq = h->ack;
		o.flags = USTACK_TCP_RST;
	} else {
		o.seq = 0;
		o.ack = h->seq + h->len + !!(h->flags & USTACK_TCP_SYN) + !!(h->flags & USTACK_TCP_FIN);
		o.flags = USTACK_TCP_RST | USTACK_TCP_ACK;
	}
	us_tcp_emit(st, &t, &o, NULL, 0, NULL);
}

static bool can_send_data(uint8_t state)
{
	switch (state) {
	case USTACK_TCP_ESTABLISHED:
	case USTACK_TCP_CLOSE_WAIT:
	case USTACK_TCP_FIN_WAIT_1:
	case USTACK_TCP_CLOSING:
	case USTACK_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/*
 * Sends n data bytes from sequence number seq (and the FIN after them if
 * fin), straight out of the send ring. seq is SND.NXT for new data, or
 * anything from SND.UNA on for a retransmission.
 */
static void send_data(struct ustack *st, struct us_tcb *tcb, uint32_t seq, uint32_t n, bool fin)
{
	uint32_t off = seq - tcb->sndq_seq;
	uint8_t flags = USTACK_TCP_ACK;
	if (n && off + n == tcb->sndq.len)
		flags |= USTACK_TCP_PSH; /* the last byte we have: the end of a write */
	if (fin)
		flags |= USTACK_TCP_FIN;
	struct us_tcp_out o;
	fill_out(st, tcb, &o, seq, flags);
	struct iovec iov[2];
	int niov = n ? us_ring_iov(&tcb->sndq, off, n, iov) : 0;
	us_tcp_emit(st, &tcb->n.t, &o, iov, niov, tcb);
	bool again = SEQ_LT(seq, tcb->snd_max);
	uint32_t end = seq + n + fin;
	if (seq == tcb->snd_nxt)
		tcb->snd_nxt = end;
	if (SEQ_GT(end, tcb->snd_max))
		tcb->snd_max = end;
	if (n < tcb->snd_mss)
		tcb->snd_sml = end;
	tcb->last_send = st->now;
	tcb->bytes_sent += n;
	if (again)
		tcb->total_retrans++;
	if (tcb->ca_state == US_CA_RECOVERY)
		tcb->prr_out++; /* RFC 6937: sent during recovery */
	us_sack_sent(st, tcb, seq, end, again);
	us_tcp_sent(st, tcb, seq, n + fin, again);
}

/* Data bytes not yet sent, and whether the FIN still has to go. */
static uint32_t unsent(const struct us_tcb *tcb, bool *fin_due)
{
	uint32_t sent = tcb->snd_nxt - tcb->sndq_seq;
	uint32_t fin_seq = tcb->sndq_seq + tcb->sndq.len;
	*fin_due = tcb->fin_queued && SEQ_LEQ(tcb->snd_nxt, fin_seq);
	return SEQ_LT(tcb->snd_nxt, fin_seq) ? tcb->sndq.len - sent : 0;
}

/*
 * Sends the next segment at SND.NXT if the rules allow: within the peer's
 * window and the congestion window, cut to the MSS, and not a small segment
 * that silly-window avoidance or Nagle would hold back. `force` sends one
 * segment whatever those rules say, into a closed window if need be (one
 * byte, RFC 9293 3.8.6.1): after a timeout, or when a probe may carry data.
 */
static bool output_next(struct ustack *st, struct us_tcb *tcb, bool force)
{
	if (!can_send_data(tcb->state) || SEQ_LT(tcb->snd_nxt, tcb->sndq_seq))
		return false; /* nothing may follow a SYN the peer has not acknowledged */
	bool fin_due;
	uint32_t left = unsent(tcb, &fin_due);
	if (!left && !fin_due)
		return false;
	uint32_t wnd_end = tcb->snd_una + tcb->snd_wnd;
	uint32_t rwnd = SEQ_GT(wnd_end, tcb->snd_nxt) ? wnd_end - tcb->snd_nxt : 0;
	/* With SACK, what the peer holds or has lost is not in flight
	 * (RFC 6675 pipe); without, each duplicate ACK stands for a segment
	 * that left (Linux's tcp_add_reno_sack). This is also what lets
	 * limited transmit (RFC 3042) send new data as SACKs or duplicates
	 * arrive. */
	uint32_t flight = us_sack_active(tcb)				 ? us_sack_pipe(tcb)
			  : tcb->dupacks && tcb->ca_state != US_CA_LOSS ? us_tcp_newreno_pipe(tcb)
									 : tcb->snd_nxt - tcb->snd_una;
	uint32_t cwnd = tcb->cwnd > flight ? tcb->cwnd - flight : 0;
	uint32_t usable = rwnd < cwnd ? rwnd : cwnd;
	if (force && usable == 0)
		usable = rwnd ? rwnd : 1;
	uint32_t n = left < usable ? left : usable;
	if (n > tcb->snd_mss)
		n = tcb->snd_mss;
	/* The FIN rides on the segment that carries the last byte, and like a
	 * byte it needs room in the window. */
	bool fin = fin_due && n == left && (n < usable || (force && n == 0));
	if (n == 0 && !fin)
		return false;
	if (!force && n < tcb->snd_mss && !fin) {
		/* RFC 9293 3.8.6.2.1: a segment cut short by the window goes out
		 * only if it is at least half the largest window seen. */
		if (n < left && n < tcb->max_snd_wnd / 2)
			return false;
		/* RFC 896 as Linux applies it (Minshall's variant): hold a
		 * small segment while an earlier small one is unacknowledged. */
		if (!tcb->nodelay && SEQ_GT(tcb->snd_sml, tcb->snd_una))
			return false;
	}
	if (st->sys.tcp_slow_start_after_idle && tcb->snd_nxt == tcb->snd_una && tcb->snd_una == tcb->snd_max &&
	    tcb->last_send &&
	    st->now - tcb->last_send > USTACK_USEC(tcb->rto_us)) {
		/* RFC 5681 4.1: after an idle period longer than the RTO, start
		 * again from the restart window. */
		uint32_t iw = 10u * tcb->snd_mss < 14600u ? 10u * tcb->snd_mss : 14600u;
		if (iw < 2u * tcb->snd_mss)
			iw = 2u * tcb->snd_mss;
		if (tcb->cwnd > iw) {
			tcb->cwnd = iw;
			if (n > iw)
				n = iw;
		}
	}
	send_data(st, tcb, tcb->snd_nxt, n, fin);
	return true;
}

static uint32_t persist_interval_us(struct ustack *st, const struct us_tcb *tcb)
{
	uint64_t base = tcb->rto_us < st->cfg.rto_min_ms * 1000u ? st->cfg.rto_min_ms * 1000u : tcb->rto_us;
	uint64_t t = base << (tcb->backoff < 20 ? tcb->backoff : 20);
	uint64_t max = (uint64_t)st->cfg.rto_max_ms * 1000u;
	return (uint32_t)(t < max ? t : max);
}

/* Sends the record r again (RFC 6675 NextSeg rule 1), its data cut to the
 * MSS, with the FIN if the record holds it. */
void us_tcp_retransmit_rec(struct ustack *st, struct us_tcb *tcb, const struct us_txseg *r)
{
	uint32_t fin_seq = tcb->sndq_seq + tcb->sndq.len;
	uint32_t data_end = SEQ_LT(r->end, fin_seq) ? r->end : fin_seq;
	uint32_t n = SEQ_GT(data_end, r->seq) ? data_end - r->seq : 0;
	if (n > tcb->snd_mss)
		n = tcb->snd_mss;
	bool fin = tcb->fin_queued && SEQ_GT(r->end, fin_seq) && r->seq + n == fin_seq;
	send_data(st, tcb, r->seq, n, fin);
}

/* RFC 6675 5 step (C): while pipe leaves room in cwnd, what is taken for
 * lost goes first (Linux's tcp_xmit_retransmit_queue), new data after. */
static void retransmit_lost(struct ustack *st, struct us_tcb *tcb)
{
	if (!us_sack_active(tcb) || !can_send_data(tcb->state))
		return;
	struct us_txseg *r;
	while (us_sack_pipe_segs(tcb) < tcb->cwnd / tcb->snd_mss && (r = us_sack_next_lost(tcb)))
		us_tcp_retransmit_rec(st, tcb, r);
}

void us_tcp_output(struct ustack *st, struct us_tcb *tcb)
{
	us_tcp_pmtu_check(st, tcb);
	if (tcb->frto_new) {
		/* RFC 5682 3.1 step 2b: new data, not retransmissions. */
		tcb->frto_new = false;
		while (output_next(st, tcb, false))
			;
		if (tcb->snd_max != tcb->recover)
			return;
		tcb->frto = false; /* nothing new could go: conventional recovery */
	}
	retransmit_lost(st, tcb);
	while (output_next(st, tcb, false))
		;
	bool fin_due;
	if (can_send_data(tcb->state) && tcb->snd_una == tcb->snd_max && (unsent(tcb, &fin_due) || fin_due) &&
	    tcb->tm[US_TM_PERSIST] == USTACK_TIME_NEVER) {
		/* Data waits, nothing is in flight, so no ACK will come to open
		 * the window: only a probe can (RFC 9293 3.8.6.1). */
		us_tcb_timer_set(st, tcb, US_TM_PERSIST, st->now + USTACK_USEC(persist_interval_us(st, tcb)));
	}
}

/* RFC 8985 7.3: a probe sends one new segment if the peer's window has
 * room for it, whatever the congestion window says (Linux's
 * tcp_send_loss_probe). */
bool us_tcp_send_new_ignoring_cwnd(struct ustack *st, struct us_tcb *tcb)
{
	uint32_t cwnd = tcb->cwnd;
	uint32_t flight = us_sack_active(tcb) ? us_sack_pipe(tcb) : tcb->snd_nxt - tcb->snd_una;
	tcb->cwnd = flight + tcb->snd_mss;
	bool sent = output_next(st, tcb, false);
	tcb->cwnd = cwnd;
	return sent;
}

bool us_tcp_output_one(struct ustack *st, struct us_tcb *tcb)
{
	return output_next(st, tcb, true);
}

/* Fast retransmit and NewReno's partial ACKs: the first unacknowledged
 * segment again, without disturbing SND.NXT. */
void us_tcp_retransmit_head(struct ustack *st, struct us_tcb *tcb)
{
	uint32_t seq = tcb->snd_una;
	if (SEQ_LT(seq, tcb->sndq_seq)) {
		us_tcp_send_syn(st, tcb); /* the head is the SYN */
		return;
	}
	uint32_t fin_seq = tcb->sndq_seq + tcb->sndq.len;
	uint32_t avail = SEQ_LT(seq, fin_seq) ? fin_seq - seq : 0;
	uint32_t outstanding = tcb->snd_max - seq;
	uint32_t n = avail < outstanding ? avail : outstanding;
	if (n > tcb->snd_mss)
		n = tcb->snd_mss;
	bool fin = tcb->fin_queued && seq + n == fin_seq && SEQ_GT(tcb->snd_max, fin_seq);
	if (n == 0 && !fin)
		return;
	send_data(st, tcb, seq, n, fin);
}

/*
 * A probe that carries nothing new: an ACK at SND.UNA - 1, which the peer
 * must find unacceptable and answer with an ACK that tells its window
 * (Linux's zero-window and keepalive probes).
 */
void us_tcp_send_probe(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	fill_out(st, tcb, &o, tcb->snd_una - 1, USTACK_TCP_ACK);
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
}

/* The persist timer fired (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17). Returns
 * false if the connection was given up. */
bool us_tcp_persist_expired(struct ustack *st, struct us_tcb *tcb)
{
	bool fin_due;
	if (!can_send_data(tcb->state) || tcb->snd_una != tcb->snd_max || (!unsent(tcb, &fin_due) && !fin_due))
		return true; /* the window opened, or there is nothing to send */
	if (tcb->probes >= st->cfg.retries2) {
		us_count(st, USTACK_STAT_TCP_TIMEOUT_ABORTS);
		us_tcp_drop(st, tcb, ETIMEDOUT, "zero-window probes unanswered");
		return false;
	}
	us_count(st, USTACK_STAT_TCP_PERSIST_PROBES);
	uint32_t wnd_end = tcb->snd_una + tcb->snd_wnd;
	if (SEQ_GT(wnd_end, tcb->snd_nxt))
		output_next(st, tcb, true); /* some window: send what fits */
	else
		us_tcp_send_probe(st, tcb);
	tcb->probes++;
	if (tcb->backoff < 255)
		tcb->backoff++;
	us_tcb_timer_set(st, tcb, US_TM_PERSIST, st->now + USTACK_USEC(persist_interval_us(st, tcb)));
	return true;
}
