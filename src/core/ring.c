/*
 * The allocating half of the byte ring; the copying half is inline in
 * ring.h because it sits on every data path.
 */
#include <errno.h>

#include "core/ring.h"
#include "core/stack.h"

#define RING_MIN 4096u

int us_ring_reserve(struct ustack *st, struct us_ring *r, uint32_t need, uint32_t max, uint32_t keep)
{
	if (need <= r->cap)
		return 0;
	if (need > max)
		return -ENOBUFS;
	uint32_t cap = r->cap ? r->cap : RING_MIN;
	while (cap < need)
		cap = cap > max / 2 ? max : cap * 2;
	if (cap > max)
		cap = max;
	/* net.ipv4.tcp_mem[2]: the buffers of all connections together stay
	 * under the stack's limit, so a flood of out-of-order data or of
	 * connections that never read cannot take all memory. As Linux lets
	 * every socket have its tcp_rmem[0] whatever the pressure, a ring's
	 * first RING_MIN bytes are always granted: a connection that has
	 * drained its buffer can still make progress, slowly. */
	uint64_t limit = (uint64_t)st->sys.tcp_mem[2] * 4096u;
	if (cap > RING_MIN && st->tcp.mem + (cap - r->cap) > limit)
		return -ENOBUFS;
	uint8_t *nb = us_realloc(st, NULL, 0, cap);
	if (!nb)
		return -ENOMEM;
	st->tcp.mem += cap - r->cap;
	if (keep)
		us_ring_peek(r, 0, nb, keep);
	us_free(st, r->buf, r->cap);
	r->buf = nb;
	r->cap = cap;
	r->head = 0;
	return 0;
}

void us_ring_release(struct ustack *st, struct us_ring *r)
{
	st->tcp.mem -= r->cap;
	us_free(st, r->buf, r->cap);
	r->buf = NULL;
	r->cap = 0;
	r->head = 0;
	r->len = 0;
}
