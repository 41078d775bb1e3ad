/*
 * ICMP errors about TCP segments this stack sent (RFC 1122 4.2.3.9,
 * RFC 5927), as Linux's tcp_v4_err handles them.
 *
 * An error must name a connection (the quoted four-tuple) and a segment it
 * has in flight: the quoted sequence number must lie in SND.UNA..SND.MAX
 * (RFC 5927 4.1; Linux checks the same range), so a blind attacker has to
 * guess a window, as for a RST (RFC 5961). Then:
 *
 *  - while the connection is being set up by connect() (SYN_SENT, or
 *    SYN_RECEIVED of a simultaneous open), a hard error (protocol or port
 *    unreachable, the administrative codes, parameter problem) ends it with
 *    its errno: connect() fails with ECONNREFUSED, as on Linux;
 *  - every other error is soft (RFC 1122 4.2.3.9: net and host unreachable
 *    MUST NOT abort a connection): it is recorded, and reported only if the
 *    connection then times out, instead of ETIMEDOUT (Linux's sk_err_soft).
 *    Linux makes net and host unreachable fatal in SYN_SENT too; this stack
 *    follows the RFC there and lets the SYN's retries decide;
 *  - a child of a listener still in SYN_RECEIVED is what Linux keeps as a
 *    request sock (tcp_req_err): the quote must carry exactly its ISS, and
 *    net or host unreachable, time exceeded or parameter problem removes
 *    it silently; nothing is reported to anyone, as POSIX wants no network
 *    errors from accept().
 *
 * TIME_WAIT has nothing to tell. RFC 6069's RTO revert on net or host
 * unreachable is not done.
 *
 * "Fragmentation needed" (RFC 1191) passes the same checks, then lowers
 * the path MTU of the connection and of its destination (ip/pmtu.c), as
 * Linux's tcp_v4_mtu_reduced: only a message that makes it smaller than
 * the connection's does anything, the MSS follows (Linux's tcp_sync_mss),
 * and the segments in flight that are now too large are taken for lost
 * and sent again at once, cut to the new MSS, without reducing the
 * congestion window (Linux's tcp_simple_retransmit: less data is not in
 * flight, only smaller units). A forger must still guess a sequence number
 * in flight, and can at worst bring the MSS down to what
 * net.ipv4.route.min_pmtu (552) allows, with DF then clear (RFC 5927 7.2).
 */
#include "core/stack.h"
#include "ip/ip.h"
#include "wire/icmp.h"

uint16_t us_tcp_mss_for(const struct ustack *st, const struct us_tcb *tcb, uint32_t pmtu)
{
	/* Linux's tcp_mtu_to_mss: the IP and TCP headers off, no more than
	 * the peer announced, no less than tcp_min_snd_mss (here never above
	 * what the path takes), then the options every segment carries. */
	uint32_t ours = pmtu - 40u, mss = tcb->mss_clamp < ours ? tcb->mss_clamp : ours;
	if (mss < st->sys.tcp_min_snd_mss)
		mss = st->sys.tcp_min_snd_mss < ours ? st->sys.tcp_min_snd_mss : ours;
	if (tcb->ts_ok) /* RFC 7323: 12 bytes on every segment (Linux: 1448 for 1460) */
		mss -= US_TCPOLEN_TS_ALIGNED;
	return (uint16_t)mss;
}

/* Reads the destination's entry into the connection. */
static uint32_t pmtu_read(struct ustack *st, struct us_tcb *tcb)
{
	bool locked;
	uint32_t mtu = us_pmtu_get(st, tcb->n.t.raddr, &locked, &tcb->pmtu_expires);
	tcb->pmtu_locked = locked;
	tcb->pmtu_gen = st->pmtu.gen;
	return mtu;
}

void us_tcp_pmtu_init(struct ustack *st, struct us_tcb *tcb)
{
	/* Linux's inet_create: IP_PMTUDISC_DONT under ip_no_pmtu_disc. */
	tcb->pmtu_no_df = st->sys.ip_no_pmtu_disc != 0;
	tcb->pmtu = (uint16_t)pmtu_read(st, tcb);
	/* Linux announces the route's advmss, which follows a learned path
	 * MTU (ipv4_default_advmss). */
	tcb->rcv_mss = (uint16_t)(tcb->pmtu - 40u);
}

/* The MSS follows a new path MTU. cwnd and ssthresh keep their size in
 * segments, as Linux counts them; without mark_lost, records that no
 * longer fit are only cut. Returns whether the MSS fell. */
static bool sync_mss(struct ustack *st, struct us_tcb *tcb, uint32_t mtu, bool mark_lost)
{
	tcb->pmtu = (uint16_t)mtu;
	if (!tcb->mss_clamp)
		return false; /* before the peer's SYN: its options will use it */
	uint32_t old = tcb->snd_mss, mss = us_tcp_mss_for(st, tcb, mtu);
	if (mss == old)
		return false;
	tcb->snd_mss = (uint16_t)mss;
	uint32_t segs = tcb->cwnd / old;
	tcb->cwnd = (segs ? segs : 1) * mss;
	if (tcb->ssthresh != UINT32_MAX)
		tcb->ssthresh = (uint32_t)((uint64_t)tcb->ssthresh * mss / old);
	if (mss < old)
		us_sack_resize(st, tcb, mss, mark_lost);
	return mss < old;
}

void us_tcp_pmtu_check(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->pmtu_gen == st->pmtu.gen && st->now < tcb->pmtu_expires)
		return;
	uint32_t mtu = pmtu_read(st, tcb);
	if (mtu != tcb->pmtu)
		sync_mss(st, tcb, mtu, false);
}

/* Linux's tcp_simple_retransmit, after sync_mss has marked what no longer
 * fits: a loss episode that does not touch the window. */
static void simple_retransmit(struct ustack *st, struct us_tcb *tcb)
{
	bool sack = us_sack_active(tcb);
	if (sack ? !tcb->txq.lost : tcb->snd_max - tcb->snd_una <= tcb->snd_mss)
		return;
	if (tcb->ca_state != US_CA_LOSS) {
		/* Linux's tcp_current_ssthresh: at least 3/4 of cwnd, and
		 * no undo (nothing to undo: cwnd stays). */
		uint32_t three_q = (tcb->cwnd / tcb->snd_mss / 2 + tcb->cwnd / tcb->snd_mss / 4) * tcb->snd_mss;
		if (tcb->ca_state == US_CA_OPEN && tcb->ssthresh < three_q)
			tcb->ssthresh = three_q;
		tcb->recover = tcb->snd_max;
		tcb->ca_state = US_CA_LOSS;
		tcb->frto = tcb->frto_new = false;
		tcb->undo_on = false; /* Linux: undo_marker = 0 */
	}
	if (!sack) {
		/* Without a scoreboard nothing says which segments were too
		 * large: everything in flight goes again (go-back-N). */
		tcb->snd_nxt = tcb->snd_una;
		tcb->dupacks = 0;
	}
	us_tcp_output(st, tcb);
}

/* RFC 1191 and Linux's tcp_v4_mtu_reduced, for a message that passed the
 * connection's checks. */
static int mtu_reduced(struct ustack *st, struct us_tcb *tcb, uint32_t mtu)
{
	uint32_t now_mtu = us_pmtu_update(st, tcb->n.t.raddr, mtu);
	if (now_mtu >= tcb->pmtu)
		return USTACK_STAT_DROP_ICMP_PMTU_NOT_SMALLER; /* stale, repeated, or larger */
	us_count(st, USTACK_STAT_TCP_PMTU_UPDATES);
	pmtu_read(st, tcb);
	bool opening = tcb->state == USTACK_TCP_SYN_SENT || tcb->state == USTACK_TCP_SYN_RECEIVED;
	if (sync_mss(st, tcb, now_mtu, true) && !opening)
		simple_retransmit(st, tcb);
	return 0;
}

static void record_soft(struct ustack *st, struct us_tcb *tcb, const struct us_icmp_err *e)
{
	tcb->soft_err = e->err;
	tcb->soft_err_una = tcb->snd_una;
	us_count(st, USTACK_STAT_ICMP_IN_SOFT_ERRORS);
}

int us_tcp_icmp_error(struct ustack *st, const struct us_tuple *t, uint32_t seq, const struct us_icmp_err *e)
{
	struct us_node *n = us_tcp_lookup(st, t);
	if (!n || n->kind != US_NODE_TCB)
		return USTACK_STAT_DROP_ICMP_NO_SOCKET;
	struct us_tcb *tcb = (struct us_tcb *)n;
	if (tcb->state == USTACK_TCP_LISTEN || tcb->state == USTACK_TCP_CLOSED)
		return USTACK_STAT_DROP_ICMP_NO_SOCKET;

	bool frag_needed = e->type == US_ICMP_DEST_UNREACH && e->code == US_ICMP_FRAG_NEEDED;
	if (tcb->state == USTACK_TCP_SYN_RECEIVED && tcb->passive) {
		if (seq != tcb->iss)
			return USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW;
		/* Linux's tcp_req_err: a SYN,ACK fits any path. */
		if (frag_needed)
			return USTACK_STAT_DROP_ICMP_FRAG_NEEDED;
		bool abort = e->type == US_ICMP_PARAMETER_PROB || e->type == US_ICMP_TIME_EXCEEDED ||
			     (e->type == US_ICMP_DEST_UNREACH &&
			      (e->code == US_ICMP_NET_UNREACH || e->code == US_ICMP_HOST_UNREACH));
		if (abort) {
			us_count(st, USTACK_STAT_ICMP_IN_HARD_ERRORS);
			us_tcp_closed(st, tcb, "icmp error");
		} else {
			us_count(st, USTACK_STAT_ICMP_IN_SOFT_ERRORS);
		}
		return 0;
	}
	if (SEQ_LT(seq, tcb->snd_una) || SEQ_GT(seq, tcb->snd_max))
		return USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW;
	if (frag_needed)
		return tcb->pmtu_no_df ? USTACK_STAT_DROP_ICMP_FRAG_NEEDED : mtu_reduced(st, tcb, e->mtu);

	bool opening = tcb->state == USTACK_TCP_SYN_SENT || tcb->state == USTACK_TCP_SYN_RECEIVED;
	if (opening && e->fatal) {
		us_count(st, USTACK_STAT_ICMP_IN_HARD_ERRORS);
		us_count(st, USTACK_STAT_TCP_ATTEMPT_FAILS);
		us_tcp_drop(st, tcb, e->err, "icmp unreachable");
		return 0;
	}
	record_soft(st, tcb, e);
	return 0;
}
