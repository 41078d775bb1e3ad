/*
 * What the user's calls do to a connection (RFC 9293 3.10.1 to 3.10.6), and
 * the transitions they share with segment arrival: set_state (which every
 * transition goes through, so the trace sees each one with its cause),
 * established, drop (an error ends the connection) and closed.
 *
 * Ownership: a control block is held by its descriptor, or by its
 * listener's queues until accept() takes it. One that nobody holds any more
 * (an orphan) lives on only to finish its closing handshake, and is freed
 * when it reaches CLOSED or shrinks to a TIME_WAIT record.
 */
#include <errno.h>
#include <ustack/socket.h>

#include "core/stack.h"

void us_tcp_set_state(struct ustack *st, struct us_tcb *tcb, int state, const char *cause)
{
	int old = tcb->state;
	if (old == state)
		return;
	tcb->state = (uint8_t)state;
	if (US_TRACING(st)) {
		struct ustack_event ev = {
			.type = USTACK_EV_STATE,
			.old_state = (enum ustack_tcp_state)old,
			.new_state = (enum ustack_tcp_state)state,
			.cause = cause,
		};
		us_event_conn(&ev, tcb);
		us_trace(st, &ev);
	}
}

static bool orphan(const struct us_tcb *tcb)
{
	return tcb->fd < 0 && !tcb->in_accq;
}

static void unlink_child(struct us_tcb *c)
{
	struct us_listen *lq = c->parent->lq;
	if (c->qprev)
		c->qprev->qnext = c->qnext;
	else if (c->in_accq)
		lq->acc_head = c->qnext;
	else
		lq->syn_head = c->qnext;
	if (c->qnext)
		c->qnext->qprev = c->qprev;
	else if (c->in_accq)
		lq->acc_tail = c->qprev;
	if (c->in_accq)
		lq->nacc--;
	else
		lq->nsyn--;
	c->qprev = c->qnext = NULL;
	c->parent = NULL;
	c->in_accq = false;
}

void us_tcp_queue_child(struct ustack *st, struct us_tcb *c)
{
	struct us_tcb *lst = c->parent;
	struct us_listen *lq = lst->lq;
	unlink_child(c);
	c->parent = lst;
	c->in_accq = true;
	c->qprev = lq->acc_tail;
	if (lq->acc_tail)
		lq->acc_tail->qnext = c;
	else
		lq->acc_head = c;
	lq->acc_tail = c;
	lq->nacc++;
}

void us_tcp_maybe_free(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->state != USTACK_TCP_CLOSED || !orphan(tcb))
		return;
	if (tcb->parent)
		unlink_child(tcb);
	us_tcb_free(st, tcb);
}

/* Leaves the tables; the port goes too unless bind() chose it, as in Linux
 * (SOCK_BINDPORT_LOCK), so a reset socket still holds its bound port. */
static void unhash(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->n.in_hash)
		us_tcp_hash_remove(st, &tcb->n);
	us_tcb_timer_forget(st, tcb);
	if (!tcb->port.explicit_ || tcb->passive)
		us_port_release(st, &tcb->port);
}

void us_tcp_closed(struct ustack *st, struct us_tcb *tcb, const char *cause)
{
	us_tcp_set_state(st, tcb, USTACK_TCP_CLOSED, cause);
	unhash(st, tcb);
	us_tcp_maybe_free(st, tcb);
}

void us_tcp_drop(struct ustack *st, struct us_tcb *tcb, int err, const char *cause)
{
	/* Linux's tcp_write_err: a connection that times out reports the soft
	 * ICMP error it last recorded (tcp_icmp.c) instead of ETIMEDOUT, if
	 * nothing was acknowledged after it came. Every timeout ends here. */
	if (err == ETIMEDOUT && tcb->soft_err && tcb->snd_una == tcb->soft_err_una)
		err = tcb->soft_err;
	tcb->soft_err = 0;
	tcb->so_error = err;
	if (tcb->state == USTACK_TCP_SYN_SENT || (tcb->state == USTACK_TCP_SYN_RECEIVED && !tcb->passive))
		tcb->connect_failed = true;
	us_tcp_closed(st, tcb, cause);
}

void us_tcp_established(struct ustack *st, struct us_tcb *tcb, const char *cause)
{
	if (!tcb->passive)
		tcb->connect_done = true;
	us_tcp_cc_init(st, tcb);
	/* Linux's tcp_init_buffer_space: the send buffer is sized for the
	 * initial window as soon as the MSS is known. */
	if (!tcb->sndbuf_lock)
		us_tcp_sndbuf_expand(st, tcb);
	us_tcp_rcvbuf_init(st, tcb);
	tcb->quickacks = US_QUICKACKS;
	tcb->last_rcv = st->now;
	if (tcb->keepalive)
		us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, st->now + USTACK_SEC(tcb->ka_idle));
	us_tcp_set_state(st, tcb, USTACK_TCP_ESTABLISHED, cause);
}

int us_tcp_connect(struct ustack *st, struct us_tcb *tcb, uint32_t raddr, uint16_t rport)
{
	switch (tcb->state) {
	case USTACK_TCP_CLOSED:
		break;
	case USTACK_TCP_LISTEN:
		return -EISCONN;
	case USTACK_TCP_SYN_SENT:
	case USTACK_TCP_SYN_RECEIVED:
		return -EALREADY;
	default:
		/* Linux: the first connect() after an asynchronous one
		 * completed reports success; later ones, -EISCONN. */
		if (tcb->connect_done) {
			tcb->connect_done = false;
			return 0;
		}
		return -EISCONN;
	}
	if (tcb->so_error) {
		int err = tcb->so_error;
		tcb->so_error = 0;
		tcb->connect_failed = false;
		return -err;
	}
	if (tcb->connect_failed) {
		/* Linux: the failure was read through SO_ERROR, and connect()
		 * still owes a report of it (ECONNABORTED); the next call starts
		 * over. */
		tcb->connect_failed = false;
		return -ECONNABORTED;
	}
	if (rport == 0)
		return -ECONNREFUSED;
	if (raddr == 0 || raddr == 0xffffffffu || raddr >= 0xe0000000u)
		return -ENETUNREACH;
	tcb->n.t.raddr = raddr;
	tcb->n.t.rport = rport;
	int err = us_port_connect(st, tcb);
	if (err) {
		tcb->n.t.raddr = 0;
		tcb->n.t.rport = 0;
		return err;
	}
	tcb->passive = false;
	tcb->fin_queued = tcb->fin_rcvd = false;
	us_tcp_pmtu_init(st, tcb);
	tcb->snd_mss = 536;
	tcb->iss = us_tcp_isn(st, &tcb->n.t);
	tcb->snd_una = tcb->snd_nxt = tcb->snd_max = tcb->iss;
	tcb->sndq_seq = tcb->iss + 1;
	us_tcp_rto_init(st, tcb);
	us_count(st, USTACK_STAT_TCP_ACTIVE_OPENS);
	us_tcp_set_state(st, tcb, USTACK_TCP_SYN_SENT, "connect");
	us_tcp_send_syn(st, tcb);
	return -EINPROGRESS;
}

int us_tcp_listen(struct ustack *st, struct us_tcb *tcb, int backlog)
{
	/* Linux: a backlog above somaxconn, or negative, is somaxconn. */
	uint32_t bl = (backlog < 0 || (uint32_t)backlog > st->cfg.somaxconn) ? st->cfg.somaxconn : (uint32_t)backlog;
	if (tcb->state == USTACK_TCP_LISTEN) {
		tcb->lq->backlog = bl;
		return 0;
	}
	if (tcb->state != USTACK_TCP_CLOSED || tcb->n.t.rport)
		return -EINVAL;
	if (!tcb->port.bb) {
		int err = us_port_bind(st, &tcb->port, 0, tcb->reuseaddr);
		if (err)
			return err;
		tcb->n.t.lport = tcb->port.bb->port;
	}
	int err = us_port_listen(st, &tcb->port);
	if (err)
		return err;
	tcb->lq = us_alloc(st, sizeof(*tcb->lq));
	if (!tcb->lq)
		return -ENOMEM;
	tcb->lq->backlog = bl;
	tcb->n.t.raddr = 0;
	tcb->n.t.rport = 0;
	err = us_tcp_hash_insert(st, &tcb->n);
	if (err) {
		us_free(st, tcb->lq, sizeof(*tcb->lq));
		tcb->lq = NULL;
		return err;
	}
	us_tcp_set_state(st, tcb, USTACK_TCP_LISTEN, "listen");
	return 0;
}

struct us_tcb *us_tcp_accept(struct ustack *st, struct us_tcb *lst)
{
	struct us_tcb *c = lst->lq->acc_head;
	if (c)
		unlink_child(c);
	return c;
}

ssize_t us_tcp_send(struct ustack *st, struct us_tcb *tcb, const void *buf, size_t len)
{
	if (tcb->so_error) {
		int err = tcb->so_error;
		tcb->so_error = 0;
		return -err;
	}
	if (tcb->fin_queued)
		return -EPIPE;
	switch (tcb->state) {
	case USTACK_TCP_ESTABLISHED:
	case USTACK_TCP_CLOSE_WAIT:
		break;
	case USTACK_TCP_SYN_SENT:
	case USTACK_TCP_SYN_RECEIVED:
		return -EAGAIN; /* Linux waits for the handshake */
	default:
		return -EPIPE; /* Linux, for a socket never or no longer connected */
	}
	if (len == 0)
		return 0;
	struct us_ring *r = &tcb->sndq;
	uint32_t room = tcb->sndbuf > r->len ? tcb->sndbuf - r->len : 0;
	if (room < len)
		tcb->snd_nospace = true; /* what lets the buffer grow (us_tcp_check_space) */
	if (room == 0)
		return -EAGAIN;
	uint32_t n = len < room ? (uint32_t)len : room;
	if (us_ring_reserve(st, r, r->len + n, tcb->sndbuf, r->len))
		return -ENOBUFS;
	us_ring_write(r, buf, n);
	us_tcp_output(st, tcb);
	return n;
}

/*
 * Send-buffer autotuning, Linux's tcp_sndbuf_expand: room for twice the
 * larger of the congestion window, the initial window (10) and the
 * reordering degree plus one, so that fast recovery (RFC 5681 3.2) can
 * keep sending new data while the lost segments are sent again (CUBIC
 * needs 1.7 windows; Linux rounds to 2 for every algorithm but BBR's 3,
 * which ustack does not have).
 *
 * Linux counts each segment's memory as a non-GSO buffer would take it:
 * the larger of the peer's MSS and ours, the most headers it reserves
 * (MAX_TCP_HEADER) and skb_shared_info (320), rounded up to a power of
 * two, plus struct sk_buff (256). MAX_TCP_HEADER depends on the kernel's
 * configuration: 192 on the 6.18 kernel the scripts are checked on (2304
 * bytes per segment of MSS 1460, SO_SNDBUF 46080 once connected, see
 * tests/scripts/window/send-buffer-initial.pkt), 320 on distributions'
 * builds with tunnels (4352, 87040). ustack computes the same number, so
 * SO_SNDBUF reads as on Linux, and lets it bound payload bytes in the
 * send ring. That is close to what Linux holds in it: it charges GSO
 * buffers of up to 64 KB, whose overhead is a few percent, against the
 * same number. So the payload room is about 3 windows at MSS 1460 and 4
 * at 65495, rather than the 2 of the rule's intent; the memory is taken
 * only while the application keeps that much queued.
 */
#define US_SKB_OVERHEAD (192u + 320u)
#define US_SKB_STRUCT 256u
#define US_TCP_INIT_CWND 10u

void us_tcp_sndbuf_expand(const struct ustack *st, struct us_tcb *tcb)
{
	uint32_t mss = tcb->mss_clamp > tcb->snd_mss ? tcb->mss_clamp : tcb->snd_mss;
	uint64_t per_mss = 1;
	while (per_mss < mss + US_SKB_OVERHEAD)
		per_mss <<= 1;
	per_mss += US_SKB_STRUCT;
	uint32_t segs = tcb->snd_mss ? tcb->cwnd / tcb->snd_mss : 0;
	if (segs < US_TCP_INIT_CWND)
		segs = US_TCP_INIT_CWND;
	if (segs < tcb->reordering + 1)
		segs = tcb->reordering + 1;
	uint64_t sndmem = 2 * segs * per_mss;
	if (tcb->sndbuf < sndmem)
		tcb->sndbuf = (uint32_t)(sndmem < st->sys.tcp_wmem[2] ? sndmem : st->sys.tcp_wmem[2]);
}

/* Linux's tcp_should_expand_sndbuf: not if the user fixed the size, not
 * under memory pressure (tcp_mem[0] reached), and only if the buffer,
 * not the congestion window, limited what was sent. */
static bool should_expand_sndbuf(const struct ustack *st, const struct us_tcb *tcb)
{
	if (tcb->sndbuf_lock || st->tcp.mem >= (uint64_t)st->sys.tcp_mem[0] * 4096u)
		return false;
	uint32_t pipe = us_sack_active(tcb) ? us_sack_pipe(tcb) : us_tcp_newreno_pipe(tcb);
	return pipe < tcb->cwnd;
}

/*
 * After an ACK has been processed and what it allows sent, as Linux's
 * tcp_check_space: if the writer has found the buffer full since it last
 * had room, grow the buffer with the window, and note that there is room
 * again. Linux wakes the writer here; ustack's callers poll, and
 * us_tcp_poll reads the grown limit.
 */
void us_tcp_check_space(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->snd_nospace)
		return;
	if (should_expand_sndbuf(st, tcb))
		us_tcp_sndbuf_expand(st, tcb);
	if (tcb->sndq.len < tcb->sndbuf)
		tcb->snd_nospace = false;
}

/*
 * Receive-buffer autotuning, Linux's tcp_moderate_rcvbuf (Dynamic
 * Right-Sizing): the buffer starts at tcp_rmem[1] and grows, never
 * shrinking, toward tcp_rmem[2] as the application shows, once per round
 * trip, that it reads faster than before. The round trip is the
 * receiver's own estimate (us_tcp_rcv_rtt_measure). The rule is Linux
 * 6.18's tcp_rcvbuf_grow, checked against its trace event over veth:
 * twice what was read in the last round trip ("DRS is always one RTT
 * late"), plus twice that again scaled by how much the rate grew (a
 * sender in slow start doubles it each round trip), plus what waits out
 * of order, turned into buffer by the window's share of it.
 */

/* Where the application has read to: RCV.NXT less what waits unread
 * (and the peer's FIN, which takes a sequence number but no byte). */
uint32_t us_tcp_copied_seq(const struct us_tcb *tcb)
{
	return tcb->rcv_nxt - tcb->rcvq.len - (tcb->fin_rcvd ? 1u : 0u);
}

/* Linux's tcp_init_buffer_space, as the connection is established: the
 * first count starts now, against a round trip of at most the initial
 * window (min of rcv_ssthresh, the window offered and ten segments). */
void us_tcp_rcvbuf_init(const struct ustack *st, struct us_tcb *tcb)
{
	uint32_t space = 10 * us_tcp_rcv_seg(tcb);
	if (space > tcb->rcv_ssthresh)
		space = tcb->rcv_ssthresh;
	if (space > tcb->syn_wnd)
		space = tcb->syn_wnd;
	tcb->rcvq_space = space ? space : 1;
	tcb->rcvq_seq = us_tcp_copied_seq(tcb);
	tcb->rcvq_time = st->now;
	uint32_t est = 536; /* Linux's TCP_MIN_RCVMSS hint */
	tcb->rcv_mss_est = (uint16_t)(est < us_tcp_rcv_seg(tcb) ? est : us_tcp_rcv_seg(tcb));
}

/* Linux's tcp_rcv_rtt_update. A sample from timestamps is smoothed
 * (gain 1/8); one from a window of data (win_dep) only ever lowers the
 * estimate, since a sender with nothing to send stretches it. */
static void rcv_rtt_update(struct us_tcb *tcb, uint64_t us, bool win_dep)
{
	if (us > UINT32_MAX >> 4)
		us = UINT32_MAX >> 4;
	uint32_t m = (uint32_t)(us ? us : 1) << 3, old = tcb->rcv_rtt_us;
	if (old == 0 || m < old)
		tcb->rcv_rtt_us = m;
	else if (!win_dep)
		tcb->rcv_rtt_us = old - (old >> 3) + (m >> 3);
}

/*
 * For each in-order segment of `len` bytes, the receiver's RTT, as Linux
 * estimates it without sending anything: with timestamps, from the echo
 * of our TSval in a full-sized segment not yet sampled
 * (tcp_rcv_rtt_measure_ts); always, from the time it takes RCV.NXT to
 * cross the right edge of the window offered when the timing began
 * (tcp_rcv_rtt_measure, after Dynamic Right-Sizing: a sender that keeps
 * the window full sends it once per round trip).
 */
void us_tcp_rcv_rtt_measure(struct ustack *st, struct us_tcb *tcb, uint32_t len)
{
	uint32_t seg = us_tcp_rcv_seg(tcb);
	if (len >= tcb->rcv_mss_est)
		tcb->rcv_mss_est = (uint16_t)(len < seg ? len : seg);
	if (tcb->ts_ok && tcb->rcv_tsecr && tcb->rcv_tsecr != tcb->rcv_rtt_tsecr) {
		tcb->rcv_rtt_tsecr = tcb->rcv_tsecr;
		int32_t ms = (int32_t)(us_tcp_ts_clock(st) + tcb->ts_off - tcb->rcv_tsecr);
		if (len >= tcb->rcv_mss_est && ms > 0)
			rcv_rtt_update(tcb, (uint64_t)ms * 1000u, false);
	}
	if (tcb->rcv_rtt_time) {
		if (SEQ_LT(tcb->rcv_nxt, tcb->rcv_rtt_seq))
			return;
		rcv_rtt_update(tcb, (st->now - tcb->rcv_rtt_time) / USTACK_USEC(1), true);
	}
	/* Linux's rcv_wnd: the window our last ACK offered. */
	tcb->rcv_rtt_seq = tcb->rcv_nxt + (tcb->rcv_adv - tcb->last_ack_sent);
	tcb->rcv_rtt_time = st->now ? st->now : 1;
}

/* Linux's tcp_rcvbuf_grow: `newval` bytes were read in the last round
 * trip (or, for data out of order, as many as before). */
void us_tcp_rcvbuf_grow(const struct ustack *st, struct us_tcb *tcb, uint32_t newval)
{
	uint32_t oldval = tcb->rcvq_space;
	tcb->rcvq_space = newval;
	if (!st->sys.tcp_moderate_rcvbuf || tcb->rcvbuf_lock)
		return;
	uint64_t rcvwin = (uint64_t)newval << 1;
	if (newval > oldval && oldval)
		rcvwin += (rcvwin * (newval - oldval) / oldval) << 1;
	rcvwin += us_reass_span(tcb);
	uint32_t rcvbuf = us_tcp_space_from_win(tcb, rcvwin);
	if (rcvbuf > st->sys.tcp_rmem[2])
		rcvbuf = st->sys.tcp_rmem[2];
	if (rcvbuf > tcb->rcvbuf)
		tcb->rcvbuf = rcvbuf;
}

/* Linux's tcp_rcv_space_adjust, after each read: once a round trip has
 * passed since the count began, what the application took in it, less
 * what still waits, is the rate to size the buffer for, if it grew. */
void us_tcp_rcv_space_adjust(struct ustack *st, struct us_tcb *tcb)
{
	if (!tcb->rcv_rtt_us)
		return;
	if (st->now - tcb->rcvq_time < USTACK_USEC(tcb->rcv_rtt_us >> 3))
		return;
	uint32_t copied_seq = us_tcp_copied_seq(tcb);
	int32_t copied = (int32_t)(copied_seq - tcb->rcvq_seq - tcb->rcvq.len);
	if (copied > (int32_t)tcb->rcvq_space)
		us_tcp_rcvbuf_grow(st, tcb, (uint32_t)copied);
	tcb->rcvq_seq = copied_seq;
	tcb->rcvq_time = st->now;
}

static bool may_update_window(const struct us_tcb *tcb)
{
	return tcb->state == USTACK_TCP_ESTABLISHED || tcb->state == USTACK_TCP_FIN_WAIT_1 ||
	       tcb->state == USTACK_TCP_FIN_WAIT_2;
}

ssize_t us_tcp_recv(struct ustack *st, struct us_tcb *tcb, void *buf, size_t len, bool peek)
{
	struct us_ring *r = &tcb->rcvq;
	if (r->len && len) {
		uint32_t n = len < r->len ? (uint32_t)len : r->len;
		us_ring_peek(r, 0, buf, n);
		if (peek)
			return n;
		uint32_t before = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
		us_ring_consume(r, n);
		if (r->len == 0)
			us_tcp_rings_drained(st, tcb);
		us_tcp_rcv_space_adjust(st, tcb);
		/* RFC 9293 3.8.6.2.2: tell the sender of new room once it is
		 * worth a segment (or half the buffer), and, as Linux does
		 * (__tcp_cleanup_rbuf), only if the window at least doubles:
		 * a window still large needs no update of its own. */
		uint32_t full = us_tcp_rcv_full(tcb);
		uint32_t space = full > r->len ? full - r->len : 0;
		uint32_t step = full / 2 < tcb->rcv_mss ? full / 2 : tcb->rcv_mss;
		uint32_t clamp = 65535u << tcb->rcv_wscale;
		if (clamp > full)
			clamp = full;
		uint32_t now = us_tcp_rcv_space(tcb); /* Linux's __tcp_select_window */
		if (now > clamp)
			now = clamp;
		if (may_update_window(tcb) && space >= before + step && 2 * (uint64_t)before <= clamp &&
		    now >= 2 * (uint64_t)before)
			us_tcp_send_ack(st, tcb);
		return n;
	}
	/* Linux's order: end of stream once the peer's FIN is in, then a
	 * pending error, then a local SHUT_RD. */
	if (tcb->fin_rcvd)
		return 0;
	if (tcb->so_error) {
		int err = tcb->so_error;
		tcb->so_error = 0;
		return -err;
	}
	if (len == 0 && r->len)
		return 0;
	if (tcb->rd_shut)
		return 0;
	switch (tcb->state) {
	case USTACK_TCP_LISTEN:
		return -ENOTCONN;
	case USTACK_TCP_CLOSED:
		return tcb->n.t.rport ? 0 : -ENOTCONN;
	default:
		return -EAGAIN;
	}
}

static void stop_listening(struct ustack *st, struct us_tcb *lst);

int us_tcp_shutdown(struct ustack *st, struct us_tcb *tcb, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	switch (tcb->state) {
	case USTACK_TCP_CLOSED:
		return -ENOTCONN;
	case USTACK_TCP_LISTEN:
		/* Linux: SHUT_RD stops listening (accept() then fails with
		 * EINVAL); SHUT_WR does nothing; neither is an error. */
		if (how != SHUT_WR)
			stop_listening(st, tcb);
		return 0;
	case USTACK_TCP_SYN_SENT:
		/* Linux: shutting down a connection still being set up ends it. */
		us_tcp_closed(st, tcb, "shutdown");
		return 0;
	default:
		break;
	}
	if (how != SHUT_WR)
		tcb->rd_shut = true;
	if (how != SHUT_RD && !tcb->fin_queued) {
		tcb->fin_queued = true;
		if (tcb->state == USTACK_TCP_CLOSE_WAIT)
			us_tcp_set_state(st, tcb, USTACK_TCP_LAST_ACK, "shutdown");
		else if (tcb->state == USTACK_TCP_ESTABLISHED || tcb->state == USTACK_TCP_SYN_RECEIVED)
			us_tcp_set_state(st, tcb, USTACK_TCP_FIN_WAIT_1, "shutdown");
		us_tcp_output(st, tcb);
	}
	return 0;
}

/* Ends a listener's queues: half-open children go silently, established
 * ones are reset, as Linux does for connections nobody accepted. */
static void stop_listening(struct ustack *st, struct us_tcb *lst)
{
	struct us_listen *lq = lst->lq;
	while (lq->syn_head) {
		struct us_tcb *c = lq->syn_head;
		unlink_child(c);
		us_tcp_closed(st, c, "listener closed");
	}
	while (lq->acc_head) {
		struct us_tcb *c = lq->acc_head;
		unlink_child(c);
		/* Linux resets connections nobody accepted. */
		us_tcp_send_rst(st, c);
		us_tcp_closed(st, c, "listener closed");
	}
	us_tcp_set_state(st, lst, USTACK_TCP_CLOSED, "close");
	if (lst->n.in_hash)
		us_tcp_hash_remove(st, &lst->n);
	if (lst->port.bb && lst->port.listen) {
		lst->port.bb->listen--;
		lst->port.listen = 0;
	}
	us_free(st, lst->lq, sizeof(*lst->lq));
	lst->lq = NULL;
}

static bool synchronized(int state)
{
	return state != USTACK_TCP_CLOSED && state != USTACK_TCP_LISTEN && state != USTACK_TCP_SYN_SENT;
}

void us_tcp_close(struct ustack *st, struct us_tcb *tcb)
{
	tcb->fd = -1;
	switch (tcb->state) {
	case USTACK_TCP_CLOSED:
		us_tcb_free(st, tcb);
		return;
	case USTACK_TCP_LISTEN:
		stop_listening(st, tcb);
		us_tcb_free(st, tcb);
		return;
	case USTACK_TCP_SYN_SENT:
		us_tcp_closed(st, tcb, "close");
		return;
	case USTACK_TCP_TIME_WAIT:
		us_tw_enter(st, tcb, tcb->tm[US_TM_FIN_WAIT]);
		return;
	default:
		break;
	}
	bool unread = tcb->rcvq.len > 0;
	if (unread || (tcb->linger && tcb->linger_sec == 0)) {
		/* RFC 9293 3.10.4 and RFC 2525 2.17: closing with unread data
		 * (or SO_LINGER 0) aborts, so the peer learns its data was
		 * lost. */
		if (synchronized(tcb->state))
			us_tcp_send_rst(st, tcb);
		us_tcp_closed(st, tcb, unread ? "close with unread data" : "abort (SO_LINGER 0)");
		return;
	}
	if (!tcb->fin_queued) {
		tcb->fin_queued = true;
		if (tcb->state == USTACK_TCP_CLOSE_WAIT)
			us_tcp_set_state(st, tcb, USTACK_TCP_LAST_ACK, "close");
		else if (tcb->state == USTACK_TCP_ESTABLISHED || tcb->state == USTACK_TCP_SYN_RECEIVED)
			us_tcp_set_state(st, tcb, USTACK_TCP_FIN_WAIT_1, "close");
		us_tcp_output(st, tcb);
	} else if (tcb->state == USTACK_TCP_FIN_WAIT_2) {
		us_tcb_timer_set(st, tcb, US_TM_FIN_WAIT, st->now + USTACK_MSEC(st->cfg.fin_timeout_ms));
	}
}

int us_tcp_poll(struct ustack *st, struct us_tcb *tcb)
{
	int mask = 0;
	if (tcb->state == USTACK_TCP_LISTEN)
		return tcb->lq->nacc ? POLLIN : 0;
	if (tcb->so_error)
		mask |= POLLERR;
	/* A connection that ended is shut down both ways, as in Linux; a
	 * socket never connected only hangs up. */
	bool ended = tcb->state == USTACK_TCP_CLOSED && tcb->n.t.rport;
	if (tcb->state == USTACK_TCP_CLOSED || (tcb->fin_queued && tcb->fin_rcvd))
		mask |= POLLHUP;
	if (tcb->fin_rcvd || tcb->rd_shut || ended)
		mask |= POLLIN | POLLRDHUP;
	if (tcb->rcvq.len)
		mask |= POLLIN;
	if (tcb->state != USTACK_TCP_SYN_SENT && tcb->state != USTACK_TCP_SYN_RECEIVED) {
		if (tcb->fin_queued || tcb->sndq.len < tcb->sndbuf)
			mask |= POLLOUT;
		else
			tcb->snd_nospace = true; /* Linux's tcp_poll sets SOCK_NOSPACE too */
	}
	return mask;
}
