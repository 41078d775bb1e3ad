/*
 * The link model: see impair.h.
 */
#include "link/impair.h"

#include <errno.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void us_rng_seed(struct us_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t us_rng_next(struct us_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Rejecting the low values that would wrap leaves a range that is a
 * multiple of n: no modulo bias. */
uint64_t us_rng_below(struct us_rng *r, uint64_t n)
{
	uint64_t floor = -n % n;
	uint64_t v;

	do
		v = us_rng_next(r);
	while (v < floor);
	return v % n;
}

static uint64_t rng_upto(struct us_rng *r, uint64_t max)
{
	return max == UINT64_MAX ? us_rng_next(r) : us_rng_below(r, max + 1);
}

/* True with probability p, from 53 random bits (a double's mantissa). */
bool us_rng_chance(struct us_rng *r, double p)
{
	return (double)(us_rng_next(r) >> 11) * 0x1.0p-53 < p;
}

ustack_time_t us_time_add(ustack_time_t a, ustack_time_t b)
{
	if (a >= USTACK_TIME_NEVER - 1 || b >= USTACK_TIME_NEVER - 1 - a)
		return USTACK_TIME_NEVER - 1;
	return a + b;
}

static void wait_expire(struct us_link_model *m, ustack_time_t now)
{
	while (m->wait_len && m->wait[m->wait_head] <= now) {
		m->wait_head = (m->wait_head + 1) % m->wait_cap;
		m->wait_len--;
	}
}

static int wait_push(struct us_link_model *m, ustack_time_t start)
{
	if (m->wait_len == m->wait_cap) {
		size_t ncap = m->wait_cap ? m->wait_cap * 2 : 16;
		ustack_time_t *n = malloc(ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < m->wait_len; i++)
			n[i] = m->wait[(m->wait_head + i) % m->wait_cap];
		free(m->wait);
		m->wait = n;
		m->wait_head = 0;
		m->wait_cap = ncap;
	}
	m->wait[(m->wait_head + m->wait_len) % m->wait_cap] = start;
	m->wait_len++;
	return 0;
}

/* Nanoseconds to put len bytes on a link of rate bps, rounded up so that
 * back-to-back packets never exceed the rate. */
static ustack_time_t tx_time(size_t len, uint64_t rate)
{
	uint64_t bits_ns = (uint64_t)len * 8u * 1000000000u;

	return bits_ns / rate + (bits_ns % rate != 0);
}

int us_link_fate(struct us_link_model *m, struct us_rng *rng, ustack_time_t now, size_t len,
		 struct us_link_fate *out)
{
	const struct ustack_link_params *p = &m->p;
	ustack_time_t tx_end = now;

	out->copies = 0;
	m->stats.sent++;
	/* Bandwidth comes first: a packet lost on the wire was still sent, and
	 * took its time on the link. */
	if (p->rate_bps) {
		ustack_time_t start = m->busy_until > now ? m->busy_until : now;
		uint32_t limit = p->queue_limit ? p->queue_limit : US_LINK_DEFAULT_QUEUE;

		wait_expire(m, now);
		if (start > now) {
			if (m->wait_len >= limit) {
				m->stats.queue_drops++;
				return 0;
			}
			if (wait_push(m, start))
				return -ENOMEM;
		}
		tx_end = us_time_add(start, tx_time(len, p->rate_bps));
		m->busy_until = tx_end;
	}
	if (p->loss > 0 && us_rng_chance(rng, p->loss)) {
		m->stats.lost++;
		return 0;
	}
	out->copies = 1;
	if (p->duplicate > 0 && us_rng_chance(rng, p->duplicate)) {
		m->stats.duplicated++;
		out->copies = 2;
	}
	/* Each copy is corrupted, reordered and delayed on its own, as two
	 * copies of a packet take their own paths through a network. */
	for (int c = 0; c < out->copies; c++) {
		ustack_time_t t = us_time_add(tx_end, p->delay);

		out->flip[c] = -1;
		if (p->corrupt > 0 && us_rng_chance(rng, p->corrupt) && len) {
			out->flip[c] = (int64_t)us_rng_below(rng, (uint64_t)len * 8);
			m->stats.corrupted++;
		}
		if (p->reorder > 0 && us_rng_chance(rng, p->reorder)) {
			t = us_time_add(t, p->reorder_delay);
			m->stats.reordered++;
		}
		if (p->jitter)
			t = us_time_add(t, rng_upto(rng, p->jitter));
		out->at[c] = t;
	}
	return 0;
}

void us_link_model_fini(struct us_link_model *m)
{
	free(m->wait);
	m->wait = NULL;
	m->wait_len = m->wait_cap = m->wait_head = 0;
}
