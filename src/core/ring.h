/*
 * A byte ring: the send and receive buffers of a connection. The storage is
 * allocated when the first byte needs it and released when the ring drains,
 * so an idle connection holds no buffer memory (DESIGN-NOTES 5). Segments
 * are sent straight out of the ring as one or two iovecs, never copied into
 * a staging buffer (DESIGN-NOTES 1).
 */
#ifndef US_CORE_RING_H
#define US_CORE_RING_H

#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

struct us_ring {
	uint8_t *buf;
	uint32_t cap;  /* bytes allocated; 0 while buf is NULL */
	uint32_t head; /* index of the first byte */
	uint32_t len;  /* bytes held */
};

/* Copies n bytes in at the tail; the caller has checked the room. */
static inline void us_ring_write(struct us_ring *r, const void *src, uint32_t n)
{
	uint32_t tail = (r->head + r->len) % r->cap;
	uint32_t first = r->cap - tail < n ? r->cap - tail : n;
	memcpy(r->buf + tail, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, n - first);
	r->len += n;
}

/* Copies n bytes starting `off` bytes past the head into dst. */
static inline void us_ring_peek(const struct us_ring *r, uint32_t off, void *dst, uint32_t n)
{
	uint32_t start = (r->head + off) % r->cap;
	uint32_t first = r->cap - start < n ? r->cap - start : n;
	memcpy(dst, r->buf + start, first);
	memcpy((uint8_t *)dst + first, r->buf, n - first);
}

/* Describes n bytes starting `off` past the head as at most two iovecs;
 * returns how many it used. */
static inline int us_ring_iov(const struct us_ring *r, uint32_t off, uint32_t n, struct iovec iov[2])
{
	if (n == 0)
		return 0;
	uint32_t start = (r->head + off) % r->cap;
	uint32_t first = r->cap - start < n ? r->cap - start : n;
	iov[0].iov_base = r->buf + start;
	iov[0].iov_len = first;
	if (first == n)
		return 1;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = n - first;
	return 2;
}

struct ustack;
/* Makes the ring hold at least cap bytes, keeping its contents. */
int us_ring_grow(struct ustack *st, struct us_ring *r, uint32_t cap);
/* Gives the storage back; the ring must be empty. */
void us_ring_release(struct ustack *st, struct us_ring *r);

static inline void us_ring_consume(struct us_ring *r, uint32_t n)
{
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}

#endif
