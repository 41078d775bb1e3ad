/*
 * The model of an imperfect link, one direction: bandwidth with a bounded
 * queue, then loss, duplication, corruption, reordering, delay and jitter,
 * each at its own rate. It decides what happens to a packet; whoever holds
 * the packets (the simulator's event queue, the fault-injecting wrapper
 * around a real TUN link) carries the decision out. One model serves both,
 * so a run on the simulator and a run against the kernel are impaired by
 * exactly the same rules.
 *
 * Random draws happen in a fixed order and only for the impairments that are
 * switched on, so a perfect link consumes no randomness and the same seed
 * gives the same fates.
 */
#ifndef US_LINK_IMPAIR_H
#define US_LINK_IMPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/sim.h>

/* xoshiro256**, seeded through splitmix64. */
struct us_rng {
	uint64_t s[4];
};

void us_rng_seed(struct us_rng *r, uint64_t seed);
uint64_t us_rng_next(struct us_rng *r);
uint64_t us_rng_below(struct us_rng *r, uint64_t n); /* uniform in [0, n), n > 0 */
bool us_rng_chance(struct us_rng *r, double p);

#define US_LINK_DEFAULT_QUEUE 1000

struct us_link_model {
	struct ustack_link_params p;
	struct ustack_link_stats stats;
	ustack_time_t busy_until; /* when the last accepted packet finishes transmission */
	/* Ring of the transmission start times of packets still waiting for the
	 * link, oldest first; their count is what queue_limit bounds. */
	ustack_time_t *wait;
	size_t wait_head, wait_len, wait_cap;
};

/* What becomes of one packet: up to two copies, each arriving at its time,
 * each with one bit flipped (flip >= 0) or not (-1). */
struct us_link_fate {
	int copies;
	ustack_time_t at[2];
	int64_t flip[2];
};

/* Decides the fate of a packet of len bytes sent at now. Returns 0, or
 * -ENOMEM if the queue could not be remembered (the packet is then lost). */
int us_link_fate(struct us_link_model *m, struct us_rng *rng, ustack_time_t now, size_t len,
		 struct us_link_fate *out);

void us_link_model_fini(struct us_link_model *m);

/* Times saturate one below NEVER, so a packet delayed absurdly far is still
 * pending rather than mistaken for "nothing to do". */
ustack_time_t us_time_add(ustack_time_t a, ustack_time_t b);

#endif
