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
	uint8_t *nb = us_realloc(st, NULL, 0, cap);
	if (!nb)
		return -ENOMEM;
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
	us_free(st, r->buf, r->cap);
	r->buf = NULL;
	r->cap = 0;
	r->head = 0;
	r->len = 0;
}
