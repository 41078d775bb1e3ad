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
 */
#include "core/stack.h"
#include "ip/ip.h"
#include "wire/icmp.h"

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

	if (tcb->state == USTACK_TCP_SYN_RECEIVED && tcb->passive) {
		if (seq != tcb->iss)
			return USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW;
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
