/*
 * The allocating half of the byte ring; the copying half is inline in
 * ring.h because it sits on every data path.
 */
#include <errno.h>

#include "core/ring.h"
#include "core/stack.h"

int us_ring_grow(struct ustack *st, struct us_ring *r, uint32_t cap)
{
	if (cap <= r->cap)
		return 0;
	uint8_t *nb = us_realloc(st, NULL, 0, cap);
	if (!nb)
		return -ENOMEM;
	if (r->len)
		us_ring_peek(r, 0, nb, r->len);
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
