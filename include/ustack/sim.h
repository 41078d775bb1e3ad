/*
 * A deterministic network simulator: several stacks, one virtual clock, one
 * seeded PRNG. Packets travel over directed links that can delay (with
 * jitter), lose, duplicate, reorder and corrupt them and limit bandwidth,
 * each at its own rate. Running jumps the clock from one deadline to the
 * next, so a 60 s TIME_WAIT costs no real time, and the same seed replays the
 * same run byte for byte.
 *
 * A packet goes to the stack whose address is its destination; packets for
 * no stack are counted and dropped. It crosses the link from its IPv4 source
 * address to that destination.
 *
 * The clock starts at 1 s (USTACK_SEC(1)), never 0. Packets due at the same
 * instant are delivered in the order they were sent. Each packet draws from
 * the PRNG in a fixed order (loss, duplicate, then per copy: corrupt and its
 * bit, reorder, jitter), and only for a non-zero probability or jitter, so a
 * perfect link consumes no randomness and setting one does not change what
 * other links draw. When a run function or ustack_sim_step returns, every
 * stack has been told the simulator's time, so socket calls made then act
 * at ustack_sim_now.
 */
#ifndef USTACK_SIM_H
#define USTACK_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustack_sim;

struct ustack_link_params {
	ustack_time_t delay;  /* one-way propagation delay */
	ustack_time_t jitter; /* extra delay, uniform in [0, jitter] */
	double loss;          /* probability a packet is dropped */
	double duplicate;     /* probability a packet is delivered twice */
	double reorder;       /* probability a packet is held back by reorder_delay */
	ustack_time_t reorder_delay;
	double corrupt; /* probability one random bit of a packet is flipped */
	uint64_t rate_bps; /* bandwidth; 0 = unlimited */
	/* Packets waiting for the link while another is transmitted; one that
	 * would wait when queue_limit already do is dropped. 0 = 1000. */
	uint32_t queue_limit;
};

struct ustack_link_stats {
	uint64_t sent, delivered, lost, duplicated, reordered, corrupted, queue_drops;
};

USTACK_API int ustack_sim_create(uint64_t seed, struct ustack_sim **out);
/* Destroys the simulator and every stack in it. */
USTACK_API void ustack_sim_destroy(struct ustack_sim *sim);

/*
 * Adds a stack built from cfg. The simulator takes the output callback over
 * and derives the stack's seed from its own unless cfg->seed is set.
 * The stack belongs to the simulator. -EADDRINUSE if a stack already has
 * cfg->addr; otherwise what ustack_create returns.
 */
USTACK_API int ustack_sim_add_stack(struct ustack_sim *sim, const struct ustack_config *cfg, struct ustack **out);

/* Sets the parameters of the directed link from one address to another.
 * Links not set are perfect: no delay, no loss, unlimited rate; NULL params
 * makes a link perfect again. Statistics survive a change of parameters.
 * -EINVAL for a probability outside [0, 1]. */
USTACK_API int ustack_sim_set_link(struct ustack_sim *sim, uint32_t from, uint32_t to,
				   const struct ustack_link_params *params);
/* Both directions at once. */
USTACK_API int ustack_sim_set_path(struct ustack_sim *sim, uint32_t a, uint32_t b,
				   const struct ustack_link_params *params);
/* Counts since the link was set or first used; all zero for a link neither
 * set nor used. A packet counts as sent when it enters the link, before any
 * queue drop or loss; each copy delivered counts as delivered. */
USTACK_API int ustack_sim_link_stats(const struct ustack_sim *sim, uint32_t from, uint32_t to,
				     struct ustack_link_stats *out);

/* Called for every packet as it is delivered (after any corruption). */
USTACK_API void ustack_sim_set_tap(struct ustack_sim *sim,
				   void (*tap)(void *ctx, ustack_time_t t, const void *pkt, size_t len),
				   void *ctx);

USTACK_API ustack_time_t ustack_sim_now(const struct ustack_sim *sim);
/* A draw from the simulator's PRNG, the same stream links and seeds use. */
USTACK_API uint64_t ustack_sim_random(struct ustack_sim *sim);

/*
 * Advances to the next event (a delivery or a stack deadline) and processes
 * everything due then: the packets due (with those they cause at zero
 * delay, up to 4096 deliveries), then one ustack_poll of each stack whose
 * deadline has come. What is left due runs in the next step, at the same
 * time. Returns 1 if something ran, 0 if nothing is pending.
 */
USTACK_API int ustack_sim_step(struct ustack_sim *sim);

/* Steps until cond(ctx) holds (checked before each step), or the clock
 * would pass `now + limit`. Returns 0 when cond holds, -ETIMEDOUT at the
 * limit (the clock is then exactly now + limit), -EDEADLK when nothing is
 * left to run and cond is still false (the clock stays). -ELOOP when ten
 * million deliveries and polls ran without the clock advancing: stacks
 * that keep each other, or a deadline that never moves, busy forever. */
USTACK_API int ustack_sim_run_until(struct ustack_sim *sim, bool (*cond)(void *ctx), void *ctx,
				    ustack_time_t limit);

/* Runs everything due within the next `duration`, then sets the clock to
 * exactly now + duration. A run that would give -ELOOP (see above) stops
 * early, and the clock still moves to now + duration. */
USTACK_API void ustack_sim_run_for(struct ustack_sim *sim, ustack_time_t duration);

/* Runs until no packet is in flight and no stack has a deadline, or until
 * `limit` has passed. Returns 0 if idle, -ETIMEDOUT otherwise (the clock is
 * then exactly now + limit), or -ELOOP as ustack_sim_run_until does. */
USTACK_API int ustack_sim_run_idle(struct ustack_sim *sim, ustack_time_t limit);

#ifdef __cplusplus
}
#endif
#endif
