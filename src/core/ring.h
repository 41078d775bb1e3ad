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

/* The index `off` bytes past the head. Every caller stays within the ring
 * (off <= cap, and head < cap), so one subtraction replaces the `%`: a
 * division, a few dozen cycles, several times per packet. */
static inline uint32_t us_ring_pos(const struct us_ring *r, uint32_t off)
{
	uint64_t p = (uint64_t)r->head + off;
	return (uint32_t)(p >= r->cap ? p - r->cap : p);
}

/* Copies n bytes to `off` bytes past the head without counting them in:
 * how out-of-order data waits in place for the gap before it to fill. */
static inline void us_ring_write_at(struct us_ring *r, uint32_t off, const void *src, uint32_t n)
{
	uint32_t pos = us_ring_pos(r, off);
	uint32_t first = r->cap - pos < n ? r->cap - pos : n;
	memcpy(r->buf + pos, src, first);
	memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

/* Copies n bytes in at the tail; the caller has made the room. */
static inline void us_ring_write(struct us_ring *r, const void *src, uint32_t n)
{
	us_ring_write_at(r, r->len, src, n);
	r->len += n;
}

/* Copies n bytes starting `off` bytes past the head into dst. */
static inline void us_ring_peek(const struct us_ring *r, uint32_t off, void *dst, uint32_t n)
{
	uint32_t start = us_ring_pos(r, off);
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
	uint32_t start = us_ring_pos(r, off);
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
/* Makes room for `need` bytes from the head, growing by doubling from 4 KiB
 * but never past `max`, and keeps the first `keep` bytes (which may reach
 * past len, for data waiting out of order). */
int us_ring_reserve(struct ustack *st, struct us_ring *r, uint32_t need, uint32_t max, uint32_t keep);
/* Gives the storage back; the ring must be empty. */
void us_ring_release(struct ustack *st, struct us_ring *r);

static inline void us_ring_consume(struct us_ring *r, uint32_t n)
{
	r->head = us_ring_pos(r, n);
	r->len -= n;
}

#endif
