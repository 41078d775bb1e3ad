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
#include <string.h>

#include "core/stack.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

/* Linux's net.ipv4.tcp_rmem[2]: the largest buffer autotuning may reach,
 * which is what Linux sizes its window-scale shift for. */
#define US_RMEM_MAX 6291456u

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
	acc = us_csum_add(acc, th, hl);
	size_t off = hl;
	for (int i = 0; i < npayload; i++) {
		acc = us_csum_add_at(acc, payload[i].iov_base, payload[i].iov_len, off);
		off += payload[i].iov_len;
	}
	uint16_t csum = us_csum_fold(acc);
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
	us_ip_output(st, t->raddr, US_IP_PROTO_TCP, hl, payload, npayload, plen);
}

static uint8_t wscale_for(uint32_t space)
{
	uint8_t s = 0;
	while (s < 14 && (65535u << s) < space)
		s++;
	return s;
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
	uint32_t space = tcb->rcvbuf > tcb->rcvq.len ? tcb->rcvbuf - tcb->rcvq.len : 0;
	if (syn) {
		/* RFC 7323 2.2: a SYN's window is never scaled. Linux rounds it
		 * down to whole segments: 64240 = 44 * 1460. */
		uint32_t w = space < 65535 ? space : 65535;
		if (w > tcb->rcv_mss)
			w -= w % tcb->rcv_mss;
		tcb->rcv_adv = tcb->rcv_nxt + w;
		return (uint16_t)w;
	}
	uint8_t ws = tcb->rcv_wscale;
	uint32_t cur = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
	uint32_t step = tcb->rcvbuf / 2 < tcb->rcv_mss ? tcb->rcvbuf / 2 : tcb->rcv_mss;
	uint32_t w = space;
	if (w < cur + step && w != cur)
		w = cur;
	if (w > (65535u << ws))
		w = 65535u << ws;
	uint32_t field = w >> ws;
	if ((field << ws) < cur)
		field = (cur + (1u << ws) - 1) >> ws; /* rounding must not shrink either */
	if (field > 65535)
		field = 65535;
	tcb->rcv_adv = tcb->rcv_nxt + (field << ws);
	return (uint16_t)field;
}

static void fill_out(struct us_tcb *tcb, struct us_tcp_out *o, uint32_t seq, uint8_t flags)
{
	memset(o, 0, sizeof(*o));
	o->seq = seq;
	o->flags = flags;
	o->ack = tcb->rcv_nxt;
	o->win = us_tcp_rcv_window(tcb, false);
	tcb->ack_now = false;
}

void us_tcp_send_ack(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	fill_out(tcb, &o, tcb->snd_nxt, USTACK_TCP_ACK);
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
}

void us_tcp_send_rst(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	/* Linux aborts with RST,ACK at SND.NXT so the peer can check it
	 * against its window (RFC 9293 3.10.7.4, RFC 5961 3.2). */
	fill_out(tcb, &o, tcb->snd_nxt, USTACK_TCP_RST | USTACK_TCP_ACK);
	us_tcp_emit(st, &tcb->n.t, &o, NULL, 0, tcb);
}

void us_tcp_send_syn(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tcp_out o;
	memset(&o, 0, sizeof(o));
	bool synack = tcb->state == USTACK_TCP_SYN_RECEIVED;
	o.seq = tcb->iss;
	o.flags = USTACK_TCP_SYN | (synack ? USTACK_TCP_ACK : 0);
	o.ack = synack ? tcb->rcv_nxt : 0;
	o.opt.present = USTACK_OPT_MSS;
	o.opt.mss = tcb->rcv_mss;
	/* RFC 7323 2.2: offer a shift on an active open; answer with one only
	 * if the peer offered. */
	if (!tcb->passive || tcb->ws_ok) {
		uint32_t bound = tcb->rcvbuf > US_RMEM_MAX ? tcb->rcvbuf : US_RMEM_MAX;
		tcb->rcv_wscale = wscale_for(bound);
		o.opt.present |= USTACK_OPT_WSCALE;
		o.opt.wscale = tcb->rcv_wscale;
	}
	o.win = us_tcp_rcv_window(tcb, true);
	tcb->ack_now = false;
	bool again = SEQ_GT(tcb->snd_max, tcb->iss);
	tcb->snd_nxt = tcb->iss + 1;
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
 * Sends the segment that starts at SND.NXT, if there is one to send: data
 * within the peer's window, cut to the MSS, with the FIN on the segment that
 * carries the last byte. `probe` lets a retransmission send one byte into a
 * closed window (RFC 9293 3.8.6.1). Returns whether a segment went out.
 */
static bool output_segment(struct ustack *st, struct us_tcb *tcb, bool probe)
{
	if (!can_send_data(tcb->state))
		return false;
	uint32_t sent = tcb->snd_nxt - tcb->sndq_seq; /* data bytes before SND.NXT */
	uint32_t fin_seq = tcb->sndq_seq + tcb->sndq.len;
	if (tcb->fin_queued && SEQ_GT(tcb->snd_nxt, fin_seq))
		return false; /* everything, FIN included, is out */
	uint32_t unsent = tcb->sndq.len - sent;
	uint32_t wnd_end = tcb->snd_una + tcb->snd_wnd;
	uint32_t usable = SEQ_GT(wnd_end, tcb->snd_nxt) ? wnd_end - tcb->snd_nxt : 0;
	if (probe && usable == 0)
		usable = 1;
	uint32_t n = unsent;
	if (n > usable)
		n = usable;
	if (n > tcb->snd_mss)
		n = tcb->snd_mss;
	/* The FIN rides on the segment that carries the last byte, and like a
	 * byte it needs room in the window. */
	bool fin = tcb->fin_queued && n == unsent && (n < usable || (probe && n == 0));
	if (n == 0 && !fin)
		return false;
	struct us_tcp_out o;
	uint8_t flags = USTACK_TCP_ACK;
	if (n && n == unsent)
		flags |= USTACK_TCP_PSH;
	if (fin)
		flags |= USTACK_TCP_FIN;
	uint32_t seq = tcb->snd_nxt;
	fill_out(tcb, &o, seq, flags);
	struct iovec iov[2];
	int niov = n ? us_ring_iov(&tcb->sndq, sent, n, iov) : 0;
	us_tcp_emit(st, &tcb->n.t, &o, iov, niov, tcb);
	bool again = SEQ_LT(seq, tcb->snd_max);
	tcb->snd_nxt += n + fin;
	if (SEQ_GT(tcb->snd_nxt, tcb->snd_max))
		tcb->snd_max = tcb->snd_nxt;
	us_tcp_sent(st, tcb, seq, n + fin, again);
	return true;
}

void us_tcp_output(struct ustack *st, struct us_tcb *tcb)
{
	while (output_segment(st, tcb, false))
		;
}

bool us_tcp_output_one(struct ustack *st, struct us_tcb *tcb)
{
	return output_segment(st, tcb, true);
}
