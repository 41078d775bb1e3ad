/*
 * The deterministic network simulator (see include/ustack/sim.h).
 *
 * Everything that could make two runs differ is owned here: one virtual
 * clock, one xoshiro256** generator seeded from the caller's seed, and one
 * event queue. The queue is a binary min-heap of in-flight packets ordered by
 * (delivery time, insertion number), so packets due at the same instant are
 * delivered in the order they were sent, whatever the heap's shape.
 *
 * The clock starts at 1 s rather than 0, so that no stack ever sees time 0
 * and "never told the time" cannot be confused with "told 0".
 *
 * A stack's output callback only enqueues: it may be called from inside
 * ustack_input, ustack_poll or any socket call, when delivering right away
 * would re-enter the stack. Each packet is gathered into one buffer, routed
 * by its IPv4 destination, and put through the directed link from its IPv4
 * source to that destination. Links are found by a linear search: a
 * simulation has a handful of them, and an entry is made the first time a
 * pair talks, so that perfect links have statistics too.
 *
 * Random draws are taken in a fixed order per packet (loss, duplicate, then
 * for each copy: corrupt and its bit, reorder, jitter), and a draw is only
 * taken when its probability or range is non-zero. Setting a perfect link
 * therefore consumes nothing, and does not shift the stream other links see.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/sim.h>

#include "link/impair.h"

#define SIM_START USTACK_SEC(1)
#define SIM_MAX_PACKET 65535 /* IPv4 total length is 16 bits */
#define SIM_NO_LINK SIZE_MAX

/* Deliveries per step: bounds a step even when two stacks answer each other
 * forever at zero delay, so the run loops get back control to notice. */
#define SIM_STEP_BURST 4096

/* Deliveries and polls without the clock advancing before the run loops give
 * up with -ELOOP. Real traffic at one instant over a zero-delay link can be
 * large (a bulk transfer is all one instant), so this is generous; a stack
 * whose deadline never moves past now reaches it in about a second. */
#define SIM_STALL_LIMIT 10000000u

struct sim_node {
	struct ustack_sim *sim;
	struct ustack *st;
	uint32_t addr;
};

struct sim_link {
	uint32_t from, to;
	struct us_link_model m; /* the rules, shared with the TUN fault injector */
};

struct sim_event {
	ustack_time_t time;
	uint64_t seq;
	uint8_t *pkt;
	size_t len;
	struct sim_node *dst;
	size_t link; /* index, not pointer: the link array may grow */
};

struct ustack_sim {
	ustack_time_t now;
	struct us_rng rng;

	/* Nodes are allocated one by one: stacks hold pointers to them. */
	struct sim_node **nodes;
	size_t nnodes, cap_nodes;

	struct sim_link *links;
	size_t nlinks, cap_links;

	struct sim_event *heap;
	size_t nheap, cap_heap;
	uint64_t seq;

	uint64_t unroutable; /* malformed, or for an address no stack has */
	uint64_t nomem;      /* dropped because the simulator ran out of memory */
	uint64_t stall;      /* deliveries and polls since the clock last moved */
	bool dying;          /* stacks being destroyed: ignore what they send */

	void (*tap)(void *ctx, ustack_time_t t, const void *pkt, size_t len);
	void *tap_ctx;
};

/* --- small helpers ------------------------------------------------------- */

static uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Grows *arr so it has room for one more element. */
static int grow(void **arr, size_t *cap, size_t len, size_t elem)
{
	size_t ncap;
	void *n;

	if (len < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	n = realloc(*arr, ncap * elem);
	if (!n)
		return -ENOMEM;
	*arr = n;
	*cap = ncap;
	return 0;
}

static void sim_set_clock(struct ustack_sim *sim, ustack_time_t t)
{
	if (t > sim->now) {
		sim->now = t;
		sim->stall = 0;
	}
}

static struct sim_node *sim_find_node(const struct ustack_sim *sim, uint32_t addr)
{
	for (size_t i = 0; i < sim->nnodes; i++)
		if (sim->nodes[i]->addr == addr)
			return sim->nodes[i];
	return NULL;
}

static size_t sim_find_link(const struct ustack_sim *sim, uint32_t from, uint32_t to)
{
	for (size_t i = 0; i < sim->nlinks; i++)
		if (sim->links[i].from == from && sim->links[i].to == to)
			return i;
	return SIM_NO_LINK;
}

/* The link from -> to, made perfect if it did not exist. */
static size_t sim_get_link(struct ustack_sim *sim, uint32_t from, uint32_t to)
{
	size_t i = sim_find_link(sim, from, to);

	if (i != SIM_NO_LINK)
		return i;
	if (grow((void **)&sim->links, &sim->cap_links, sim->nlinks, sizeof(*sim->links)))
		return SIM_NO_LINK;
	i = sim->nlinks++;
	memset(&sim->links[i], 0, sizeof(sim->links[i]));
	sim->links[i].from = from;
	sim->links[i].to = to;
	return i;
}

/* --- the event heap ------------------------------------------------------ */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
	return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static int heap_push(struct ustack_sim *sim, const struct sim_event *ev)
{
	struct sim_event *h;
	size_t i;

	if (grow((void **)&sim->heap, &sim->cap_heap, sim->nheap, sizeof(*sim->heap)))
		return -ENOMEM;
	h = sim->heap;
	i = sim->nheap++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!ev_before(ev, &h[parent]))
			break;
		h[i] = h[parent];
		i = parent;
	}
	h[i] = *ev;
	return 0;
}

static struct sim_event heap_pop(struct ustack_sim *sim)
{
	struct sim_event *h = sim->heap;
	struct sim_event top = h[0];
	struct sim_event last = h[--sim->nheap];
	size_t n = sim->nheap, i = 0;

	if (n == 0)
		return top;
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && ev_before(&h[c + 1], &h[c]))
			c++;
		if (!ev_before(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
	return top;
}

/* --- sending ------------------------------------------------------------- */

static void sim_enqueue(struct ustack_sim *sim, ustack_time_t t, uint8_t *pkt, size_t len,
			struct sim_node *dst, size_t link)
{
	struct sim_event ev = {
		.time = t, .seq = sim->seq++, .pkt = pkt, .len = len, .dst = dst, .link = link,
	};

	if (heap_push(sim, &ev)) {
		sim->nomem++;
		free(pkt);
	}
}

/* Puts a packet through link li; takes ownership of pkt. */
static void sim_transmit(struct ustack_sim *sim, size_t li, uint8_t *pkt, size_t len, struct sim_node *dst)
{
	struct us_link_fate fate;

	if (us_link_fate(&sim->links[li].m, &sim->rng, sim->now, len, &fate)) {
		sim->nomem++;
		free(pkt);
		return;
	}
	if (fate.copies == 0) {
		free(pkt);
		return;
	}
	/* The second copy is taken before anything touches the original. */
	uint8_t *copy = NULL;
	if (fate.copies == 2) {
		copy = malloc(len);
		if (copy)
			memcpy(copy, pkt, len);
		else
			sim->nomem++;
	}
	uint8_t *bufs[2] = { pkt, copy };
	for (int c = 0; c < fate.copies; c++) {
		if (!bufs[c])
			continue;
		if (fate.flip[c] >= 0)
			bufs[c][fate.flip[c] / 8] ^= (uint8_t)(1u << (fate.flip[c] % 8));
		sim_enqueue(sim, fate.at[c], bufs[c], len, dst, li);
	}
}

/* The output callback of every stack: gather, route, and hand to the link. */
static void sim_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct sim_node *from = ctx;
	struct ustack_sim *sim = from->sim;
	struct sim_node *dst;
	size_t len = 0, off = 0, li;
	uint8_t *pkt;

	if (sim->dying)
		return;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SIM_MAX_PACKET) {
			sim->unroutable++;
			return;
		}
		len += iov[i].iov_len;
	}
	if (len < 20 || len > SIM_MAX_PACKET) {
		sim->unroutable++;
		return;
	}
	pkt = malloc(len);
	if (!pkt) {
		sim->nomem++;
		return;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len)
			memcpy(pkt + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}

	/* Routing happens here, before the link can corrupt the destination:
	 * a corrupted packet still reaches the stack it was sent to, which is
	 * what makes its checksum the thing that catches it. */
	dst = (pkt[0] >> 4) == 4 ? sim_find_node(sim, load_be32(pkt + 16)) : NULL;
	if (!dst) {
		sim->unroutable++;
		free(pkt);
		return;
	}
	li = sim_get_link(sim, load_be32(pkt + 12), dst->addr);
	if (li == SIM_NO_LINK) {
		/* No room to remember the link: deliver as a perfect one would. */
		sim_enqueue(sim, sim->now, pkt, len, dst, SIM_NO_LINK);
		return;
	}
	sim_transmit(sim, li, pkt, len, dst);
}

/* --- running ------------------------------------------------------------- */

/* The time of the next event, never earlier than now: a stack whose
 * deadline has passed is due now. */
static ustack_time_t sim_next_time(const struct ustack_sim *sim)
{
	ustack_time_t t = sim->nheap ? sim->heap[0].time : USTACK_TIME_NEVER;

	for (size_t i = 0; i < sim->nnodes; i++) {
		ustack_time_t d = ustack_next_deadline(sim->nodes[i]->st);

		if (d < t)
			t = d;
	}
	if (t != USTACK_TIME_NEVER && t < sim->now)
		t = sim->now;
	return t;
}

static void sim_deliver(struct ustack_sim *sim)
{
	struct sim_event ev = heap_pop(sim);

	sim->stall++;
	if (ev.link != SIM_NO_LINK)
		sim->links[ev.link].m.stats.delivered++;
	if (sim->tap)
		sim->tap(sim->tap_ctx, sim->now, ev.pkt, ev.len);
	ustack_input(ev.dst->st, sim->now, ev.pkt, ev.len);
	free(ev.pkt);
}

/*
 * One pass at time t: deliveries first (so that an answer arriving exactly
 * at a timeout wins over the timeout), including the zero-delay packets they
 * cause, then one poll of each stack that is due. What the polls send at
 * zero delay is left for the next step, at the same time.
 */
static void sim_step_at(struct ustack_sim *sim, ustack_time_t t)
{
	sim_set_clock(sim, t);
	for (int n = 0; n < SIM_STEP_BURST && sim->nheap && sim->heap[0].time <= sim->now; n++)
		sim_deliver(sim);
	for (size_t i = 0; i < sim->nnodes; i++) {
		struct ustack *st = sim->nodes[i]->st;

		if (ustack_next_deadline(st) <= sim->now) {
			sim->stall++;
			ustack_poll(st, sim->now);
		}
	}
}

/*
 * Tells every stack that has not heard the simulator's time what it is.
 * Socket calls act at the stack's own clock, so without this a stack that
 * sat out the last steps would stamp its next segment and arm its timers in
 * the past. Done whenever control goes back to the caller.
 */
static void sim_sync(struct ustack_sim *sim)
{
	for (size_t i = 0; i < sim->nnodes; i++) {
		struct ustack *st = sim->nodes[i]->st;

		if (ustack_now(st) < sim->now)
			ustack_poll(st, sim->now);
	}
}

/* --- public API ---------------------------------------------------------- */

int ustack_sim_create(uint64_t seed, struct ustack_sim **out)
{
	struct ustack_sim *sim;

	if (!out)
		return -EINVAL;
	sim = calloc(1, sizeof(*sim));
	if (!sim)
		return -ENOMEM;
	us_rng_seed(&sim->rng, seed);
	sim->now = SIM_START;
	*out = sim;
	return 0;
}

void ustack_sim_destroy(struct ustack_sim *sim)
{
	if (!sim)
		return;
	/* A stack may send while it is destroyed (resets, say); with every
	 * stack going away there is nowhere to deliver, so output drops. */
	sim->dying = true;
	for (size_t i = 0; i < sim->nnodes; i++)
		ustack_destroy(sim->nodes[i]->st);
	for (size_t i = 0; i < sim->nnodes; i++)
		free(sim->nodes[i]);
	for (size_t i = 0; i < sim->nheap; i++)
		free(sim->heap[i].pkt);
	for (size_t i = 0; i < sim->nlinks; i++)
		us_link_model_fini(&sim->links[i].m);
	free(sim->nodes);
	free(sim->heap);
	free(sim->links);
	free(sim);
}

int ustack_sim_add_stack(struct ustack_sim *sim, const struct ustack_config *cfg, struct ustack **out)
{
	struct ustack_config c;
	struct sim_node *node;
	int err;

	if (!sim || !cfg || !out)
		return -EINVAL;
	if (sim_find_node(sim, cfg->addr))
		return -EADDRINUSE;
	/* Room first, so that nothing can fail once the stack exists. */
	if (grow((void **)&sim->nodes, &sim->cap_nodes, sim->nnodes, sizeof(*sim->nodes)))
		return -ENOMEM;
	node = calloc(1, sizeof(*node));
	if (!node)
		return -ENOMEM;
	node->sim = sim;
	node->addr = cfg->addr;

	c = *cfg;
	c.output = sim_output;
	c.output_ctx = node;
	if (!c.seed) {
		/* Zero may mean "pick one" to a stack; never hand it out. */
		c.seed = us_rng_next(&sim->rng);
		if (!c.seed)
			c.seed = 1;
	}
	err = ustack_create(&c, &node->st);
	if (err) {
		free(node);
		return err;
	}
	sim->nodes[sim->nnodes++] = node;
	ustack_poll(node->st, sim->now);
	*out = node->st;
	return 0;
}

static bool valid_prob(double p)
{
	return p >= 0 && p <= 1; /* false for NaN too */
}

int ustack_sim_set_link(struct ustack_sim *sim, uint32_t from, uint32_t to,
			const struct ustack_link_params *params)
{
	static const struct ustack_link_params perfect;
	size_t li;

	if (!sim)
		return -EINVAL;
	if (!params)
		params = &perfect;
	if (!valid_prob(params->loss) || !valid_prob(params->duplicate) || !valid_prob(params->reorder) ||
	    !valid_prob(params->corrupt))
		return -EINVAL;
	li = sim_get_link(sim, from, to);
	if (li == SIM_NO_LINK)
		return -ENOMEM;
	sim->links[li].m.p = *params;
	return 0;
}

int ustack_sim_set_path(struct ustack_sim *sim, uint32_t a, uint32_t b,
			const struct ustack_link_params *params)
{
	int err = ustack_sim_set_link(sim, a, b, params);

	return err ? err : ustack_sim_set_link(sim, b, a, params);
}

int ustack_sim_link_stats(const struct ustack_sim *sim, uint32_t from, uint32_t to,
			  struct ustack_link_stats *out)
{
	size_t li;

	if (!sim || !out)
		return -EINVAL;
	li = sim_find_link(sim, from, to);
	if (li == SIM_NO_LINK)
		memset(out, 0, sizeof(*out));
	else
		*out = sim->links[li].m.stats;
	return 0;
}

void ustack_sim_set_tap(struct ustack_sim *sim,
			void (*tap)(void *ctx, ustack_time_t t, const void *pkt, size_t len), void *ctx)
{
	sim->tap = tap;
	sim->tap_ctx = ctx;
}

ustack_time_t ustack_sim_now(const struct ustack_sim *sim)
{
	return sim->now;
}

uint64_t ustack_sim_random(struct ustack_sim *sim)
{
	return us_rng_next(&sim->rng);
}

int ustack_sim_step(struct ustack_sim *sim)
{
	ustack_time_t t = sim_next_time(sim);

	if (t == USTACK_TIME_NEVER)
		return 0;
	sim_step_at(sim, t);
	sim_sync(sim);
	return 1;
}

int ustack_sim_run_until(struct ustack_sim *sim, bool (*cond)(void *ctx), void *ctx, ustack_time_t limit)
{
	ustack_time_t end = us_time_add(sim->now, limit);

	if (!cond)
		return -EINVAL;
	for (;;) {
		ustack_time_t t;

		sim_sync(sim);
		if (cond(ctx))
			return 0;
		if (sim->stall >= SIM_STALL_LIMIT)
			return -ELOOP;
		t = sim_next_time(sim);
		if (t == USTACK_TIME_NEVER)
			return -EDEADLK;
		if (t > end) {
			sim_set_clock(sim, end);
			sim_sync(sim);
			return -ETIMEDOUT;
		}
		sim_step_at(sim, t);
	}
}

void ustack_sim_run_for(struct ustack_sim *sim, ustack_time_t duration)
{
	ustack_time_t end = us_time_add(sim->now, duration);

	while (sim->stall < SIM_STALL_LIMIT) {
		ustack_time_t t = sim_next_time(sim);

		if (t > end)
			break;
		sim_step_at(sim, t);
	}
	sim_set_clock(sim, end);
	sim_sync(sim);
}

int ustack_sim_run_idle(struct ustack_sim *sim, ustack_time_t limit)
{
	ustack_time_t end = us_time_add(sim->now, limit);

	for (;;) {
		ustack_time_t t;

		sim_sync(sim);
		if (sim->stall >= SIM_STALL_LIMIT)
			return -ELOOP;
		t = sim_next_time(sim);
		if (t == USTACK_TIME_NEVER)
			return 0;
		if (t > end) {
			sim_set_clock(sim, end);
			sim_sync(sim);
			return -ETIMEDOUT;
		}
		sim_step_at(sim, t);
	}
}
