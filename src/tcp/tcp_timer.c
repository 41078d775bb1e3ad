/*
 * Timers (DESIGN-NOTES 4). Each control block keeps one deadline per timer
 * and sits at most once in a binary min-heap, keyed by the earliest deadline
 * it had when last placed there (heap_at). Moving a deadline later, which is
 * what nearly every ACK does to the retransmission timer, touches nothing:
 * the block wakes at its old time, finds nothing due and is placed again.
 * Only an earlier deadline sifts the heap. The stack's next deadline is the
 * heap's top, or the oldest TIME_WAIT record's, both read in constant time.
 */
#include <errno.h>

#include "core/stack.h"

static ustack_time_t earliest(const struct us_tcb *tcb)
{
	ustack_time_t m = USTACK_TIME_NEVER;
	for (int i = 0; i < US_TM__COUNT; i++)
		if (tcb->tm[i] < m)
			m = tcb->tm[i];
	return m;
}

static void heap_place(struct us_tcb **h, uint32_t i, struct us_tcb *tcb)
{
	h[i] = tcb;
	tcb->heap_idx = i;
}

static void sift_up(struct us_tcp_layer *tl, uint32_t i)
{
	struct us_tcb *tcb = tl->heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (tl->heap[p]->heap_at <= tcb->heap_at)
			break;
		heap_place(tl->heap, i, tl->heap[p]);
		i = p;
	}
	heap_place(tl->heap, i, tcb);
}

static void sift_down(struct us_tcp_layer *tl, uint32_t i)
{
	struct us_tcb *tcb = tl->heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= tl->heap_len)
			break;
		if (c + 1 < tl->heap_len && tl->heap[c + 1]->heap_at < tl->heap[c]->heap_at)
			c++;
		if (tcb->heap_at <= tl->heap[c]->heap_at)
			break;
		heap_place(tl->heap, i, tl->heap[c]);
		i = c;
	}
	heap_place(tl->heap, i, tcb);
}

static void heap_remove(struct us_tcp_layer *tl, struct us_tcb *tcb)
{
	uint32_t i = tcb->heap_idx;
	tcb->heap_idx = US_HEAP_NONE;
	struct us_tcb *last = tl->heap[--tl->heap_len];
	if (last == tcb)
		return;
	heap_place(tl->heap, i, last);
	sift_down(tl, i);
	sift_up(tl, last->heap_idx);
}

/* Every control block may need one slot, so the slots are reserved when the
 * block is made (us_tcb_new) and placing a timer never fails. */
int us_tcp_timer_reserve(struct ustack *st, uint32_t nblocks)
{
	struct us_tcp_layer *tl = &st->tcp;
	if (nblocks <= tl->heap_cap)
		return 0;
	uint32_t ncap = tl->heap_cap ? tl->heap_cap * 2 : 64;
	struct us_tcb **nh = us_realloc(st, tl->heap, tl->heap_cap * sizeof(*nh), ncap * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	tl->heap = nh;
	tl->heap_cap = ncap;
	return 0;
}

static void heap_insert(struct us_tcp_layer *tl, struct us_tcb *tcb, ustack_time_t at)
{
	tcb->heap_at = at;
	heap_place(tl->heap, tl->heap_len++, tcb);
	sift_up(tl, tcb->heap_idx);
}

void us_tcb_timer_set(struct ustack *st, struct us_tcb *tcb, enum us_timer which, ustack_time_t at)
{
	tcb->tm[which] = at;
	if (tcb->heap_idx == US_HEAP_NONE) {
		heap_insert(&st->tcp, tcb, at);
	} else if (at < tcb->heap_at) {
		tcb->heap_at = at;
		sift_up(&st->tcp, tcb->heap_idx);
	}
}

void us_tcb_timer_stop(struct us_tcb *tcb, enum us_timer which)
{
	tcb->tm[which] = USTACK_TIME_NEVER;
}

void us_tcb_timer_forget(struct ustack *st, struct us_tcb *tcb)
{
	for (int i = 0; i < US_TM__COUNT; i++)
		tcb->tm[i] = USTACK_TIME_NEVER;
	if (tcb->heap_idx != US_HEAP_NONE)
		heap_remove(&st->tcp, tcb);
}

/* FIN_WAIT_2 of an orphan: the peer never closed (Linux's tcp_fin_timeout).
 * TIME_WAIT of a socket the user still holds: 2MSL is over. */
static void fin_wait_timeout(struct ustack *st, struct us_tcb *tcb)
{
	us_tcp_closed(st, tcb, tcb->state == USTACK_TCP_TIME_WAIT ? "2MSL timeout" : "FIN_WAIT_2 timeout");
}

void us_tcp_timers_run(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	while (tl->heap_len && tl->heap[0]->heap_at <= st->now) {
		struct us_tcb *tcb = tl->heap[0];
		heap_remove(tl, tcb);
		if (tcb->tm[US_TM_FIN_WAIT] <= st->now) {
			tcb->tm[US_TM_FIN_WAIT] = USTACK_TIME_NEVER;
			fin_wait_timeout(st, tcb);
			continue; /* the block may be gone */
		}
		if (tcb->tm[US_TM_RTO] <= st->now)
			tcb->tm[US_TM_RTO] = USTACK_TIME_NEVER; /* retransmission arrives with issue 3 */
		ustack_time_t next = earliest(tcb);
		if (next != USTACK_TIME_NEVER)
			heap_insert(tl, tcb, next);
	}
	us_tw_expire(st);
}

ustack_time_t us_tcp_next_deadline(const struct ustack *st)
{
	const struct us_tcp_layer *tl = &st->tcp;
	ustack_time_t d = USTACK_TIME_NEVER;
	if (tl->heap_len)
		d = tl->heap[0]->heap_at;
	if (tl->tw_head && tl->tw_head->deadline < d)
		d = tl->tw_head->deadline;
	return d;
}
