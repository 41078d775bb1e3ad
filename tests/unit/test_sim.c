/*
 * The simulator, driven through real stacks: stack A connects to closed
 * ports on B, B answers each SYN with a RST, and the tap sees every packet
 * the links deliver. The link model is checked against those deliveries and
 * the link statistics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <ustack/sim.h>
#include <ustack/socket.h>

#define ADDR_A 0xC6120001u /* 198.18.0.1 */
#define ADDR_B 0xC6120002u /* 198.18.0.2 */
#define ADDR_X 0xC6120063u /* 198.18.0.99: no stack has it */
#define CLOSED_PORT 9

#define REC_BYTES 128

struct rec {
	ustack_time_t t;
	uint32_t src, dst;
	size_t len;
	uint8_t bytes[REC_BYTES];
};

struct tap_log {
	uint64_t hash;
	size_t count;
	struct rec *recs;
	size_t cap;
};

struct net {
	struct ustack_sim *sim;
	struct ustack *a, *b;
	struct tap_log log;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	struct tap_log *log = ctx;
	struct rec *r;
	uint64_t l = len;

	log->hash = fnv(log->hash, &t, sizeof(t));
	log->hash = fnv(log->hash, &l, sizeof(l));
	log->hash = fnv(log->hash, pkt, len);
	if (log->count == log->cap) {
		log->cap = log->cap ? log->cap * 2 : 64;
		log->recs = realloc(log->recs, log->cap * sizeof(*log->recs));
		cr_assert_not_null(log->recs);
	}
	r = &log->recs[log->count++];
	r->t = t;
	r->len = len;
	cr_assert_geq(len, 20);
	r->src = be32((const uint8_t *)pkt + 12);
	r->dst = be32((const uint8_t *)pkt + 16);
	memcpy(r->bytes, pkt, len < REC_BYTES ? len : REC_BYTES);
}

static struct ustack *add(struct ustack_sim *sim, uint32_t addr, uint64_t seed)
{
	struct ustack_config cfg = { .addr = addr, .seed = seed };
	struct ustack *st = NULL;

	cr_assert_eq(ustack_sim_add_stack(sim, &cfg, &st), 0);
	cr_assert_not_null(st);
	cr_assert_eq(ustack_addr(st), addr);
	return st;
}

static void net_init(struct net *n, uint64_t seed)
{
	memset(n, 0, sizeof(*n));
	n->log.hash = 0xcbf29ce484222325ull;
	cr_assert_eq(ustack_sim_create(seed, &n->sim), 0);
	n->a = add(n->sim, ADDR_A, 0);
	n->b = add(n->sim, ADDR_B, 0);
	ustack_sim_set_tap(n->sim, tap, &n->log);
}

static void net_fini(struct net *n)
{
	ustack_sim_destroy(n->sim);
	free(n->log.recs);
}

/* A SYN from st to a closed port of dst; the socket stays open so that a
 * lost SYN is retransmitted. */
static int syn_to(struct ustack *st, uint32_t dst)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons(CLOSED_PORT),
		.sin_addr.s_addr = htonl(dst),
	};
	int fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0, "socket: %d", fd);
	cr_assert_eq(ustack_connect(st, fd, (const struct sockaddr *)&sa, sizeof(sa)), -EINPROGRESS);
	return fd;
}

static size_t count_to(const struct tap_log *log, uint32_t dst)
{
	size_t n = 0;

	for (size_t i = 0; i < log->count; i++)
		n += log->recs[i].dst == dst;
	return n;
}

static struct ustack_link_stats stats(struct ustack_sim *sim, uint32_t from, uint32_t to)
{
	struct ustack_link_stats s;

	cr_assert_eq(ustack_sim_link_stats(sim, from, to, &s), 0);
	return s;
}

/* Within k standard deviations of a binomial count. */
static void assert_binomial(uint64_t got, uint64_t n, double p, double k)
{
	double mean = (double)n * p, var = mean * (1 - p), sd = 0;

	while ((sd + 1) * (sd + 1) <= var) /* a whole-number sqrt is close enough, and needs no libm */
		sd++;
	cr_assert((double)got >= mean - k * sd - 1 && (double)got <= mean + k * sd + 1,
		  "count %llu, expected %.0f +- %.0f", (unsigned long long)got, mean, k * sd);
}

/* --- basics -------------------------------------------------------------- */

Test(sim, clock_starts_at_one_second)
{
	struct ustack_sim *sim;

	cr_assert_eq(ustack_sim_create(1, &sim), 0);
	cr_assert_eq(ustack_sim_now(sim), USTACK_SEC(1));
	cr_assert_eq(ustack_sim_step(sim), 0);
	ustack_sim_destroy(sim);
}

Test(sim, random_is_seeded)
{
	struct ustack_sim *a, *b, *c;
	int same = 0;

	cr_assert_eq(ustack_sim_create(7, &a), 0);
	cr_assert_eq(ustack_sim_create(7, &b), 0);
	cr_assert_eq(ustack_sim_create(8, &c), 0);
	for (int i = 0; i < 100; i++) {
		uint64_t x = ustack_sim_random(a);

		cr_assert_eq(x, ustack_sim_random(b));
		same += x == ustack_sim_random(c);
	}
	cr_assert_eq(same, 0);
	ustack_sim_destroy(a);
	ustack_sim_destroy(b);
	ustack_sim_destroy(c);
}

Test(sim, add_stack_rejects_duplicate_address)
{
	struct ustack_config cfg = { .addr = ADDR_A };
	struct ustack_sim *sim;
	struct ustack *st;

	cr_assert_eq(ustack_sim_create(1, &sim), 0);
	add(sim, ADDR_A, 0);
	cr_assert_eq(ustack_sim_add_stack(sim, &cfg, &st), -EADDRINUSE);
	ustack_sim_destroy(sim);
}

Test(sim, set_link_validates)
{
	struct ustack_link_params p = { .loss = 1.5 };
	struct ustack_sim *sim;

	cr_assert_eq(ustack_sim_create(1, &sim), 0);
	cr_assert_eq(ustack_sim_set_link(sim, ADDR_A, ADDR_B, &p), -EINVAL);
	p.loss = -0.1;
	cr_assert_eq(ustack_sim_set_path(sim, ADDR_A, ADDR_B, &p), -EINVAL);
	p.loss = 0.5;
	cr_assert_eq(ustack_sim_set_path(sim, ADDR_A, ADDR_B, &p), 0);
	cr_assert_eq(ustack_sim_set_link(sim, ADDR_A, ADDR_B, NULL), 0);
	ustack_sim_destroy(sim);
}

Test(sim, unused_link_has_zero_stats)
{
	struct net n;
	struct ustack_link_stats s;

	net_init(&n, 1);
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.sent + s.delivered + s.lost + s.duplicated, 0);
	cr_assert_eq(s.reordered + s.corrupted + s.queue_drops, 0);
	net_fini(&n);
}

/* --- the clock and the run loops ----------------------------------------- */

Test(sim, run_for_leaves_clock_exact)
{
	struct ustack_link_params p = { .delay = USTACK_MSEC(3) };
	struct net n;
	ustack_time_t t0;

	net_init(&n, 1);
	t0 = ustack_sim_now(n.sim);
	ustack_sim_run_for(n.sim, 1234567);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + 1234567);
	cr_assert_eq(ustack_now(n.a), t0 + 1234567, "stacks are told the time");

	cr_assert_eq(ustack_sim_set_path(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(1));
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(1));
	cr_assert_eq(n.log.count, 0, "the SYN is still in flight");
	ustack_sim_run_for(n.sim, USTACK_MSEC(2));
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(3));
	cr_assert_eq(n.log.count, 1, "a delivery at the end of the window runs");
	ustack_sim_run_for(n.sim, USTACK_MSEC(10));
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(13));
	cr_assert_eq(n.log.count, 2);
	net_fini(&n);
}

Test(sim, run_idle_returns_zero_when_idle)
{
	struct ustack_sim *sim;
	struct net n;
	ustack_time_t t0;

	cr_assert_eq(ustack_sim_create(1, &sim), 0);
	cr_assert_eq(ustack_sim_run_idle(sim, USTACK_SEC(1)), 0);
	cr_assert_eq(ustack_sim_now(sim), USTACK_SEC(1));
	ustack_sim_destroy(sim);

	net_init(&n, 1);
	t0 = ustack_sim_now(n.sim);
	cr_assert_eq(ustack_sim_run_idle(n.sim, USTACK_SEC(1)), 0);
	cr_assert_eq(ustack_sim_now(n.sim), t0, "nothing ran, no time passed");

	/* SYN and RST over perfect links: done at once, nothing left. */
	syn_to(n.a, ADDR_B);
	cr_assert_eq(ustack_sim_run_idle(n.sim, USTACK_SEC(10)), 0);
	cr_assert_eq(n.log.count, 2);
	net_fini(&n);
}

Test(sim, run_idle_times_out)
{
	struct net n;
	ustack_time_t t0;

	net_init(&n, 1);
	t0 = ustack_sim_now(n.sim);
	syn_to(n.a, ADDR_X); /* retransmitted for longer than the limit */
	cr_assert_eq(ustack_sim_run_idle(n.sim, USTACK_SEC(2)), -ETIMEDOUT);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_SEC(2));
	net_fini(&n);
}

static bool never(void *ctx)
{
	return false;
}

static bool always(void *ctx)
{
	return true;
}

static bool got_two(void *ctx)
{
	return ((struct tap_log *)ctx)->count >= 2;
}

Test(sim, run_until)
{
	struct ustack_link_params p = { .delay = USTACK_MSEC(5) };
	struct ustack_sim *sim;
	struct net n;
	ustack_time_t t0;

	/* Nothing at all to run. */
	cr_assert_eq(ustack_sim_create(1, &sim), 0);
	cr_assert_eq(ustack_sim_run_until(sim, never, NULL, USTACK_SEC(10)), -EDEADLK);
	cr_assert_eq(ustack_sim_now(sim), USTACK_SEC(1));
	ustack_sim_destroy(sim);

	net_init(&n, 1);
	t0 = ustack_sim_now(n.sim);
	cr_assert_eq(ustack_sim_run_until(n.sim, always, NULL, USTACK_SEC(10)), 0);
	cr_assert_eq(ustack_sim_now(n.sim), t0, "cond is checked before the first step");
	cr_assert_eq(ustack_sim_run_until(n.sim, never, NULL, USTACK_SEC(10)), -EDEADLK);

	/* A SYN into the void keeps a retransmission deadline pending. */
	syn_to(n.a, ADDR_X);
	cr_assert_eq(ustack_sim_run_until(n.sim, never, NULL, USTACK_SEC(10)), -ETIMEDOUT);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_SEC(10));

	/* Stops at the event that makes cond true, not later. */
	cr_assert_eq(ustack_sim_set_path(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	syn_to(n.a, ADDR_B);
	cr_assert_eq(ustack_sim_run_until(n.sim, got_two, &n.log, USTACK_SEC(1)), 0);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(10));
	net_fini(&n);
}

Test(sim, step_processes_one_instant)
{
	struct ustack_link_params p = { .delay = USTACK_MSEC(4) };
	struct net n;
	ustack_time_t t0;

	net_init(&n, 1);
	cr_assert_eq(ustack_sim_set_path(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	syn_to(n.a, ADDR_B);
	cr_assert_eq(ustack_sim_step(n.sim), 1);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(4));
	cr_assert_eq(n.log.count, 1);
	cr_assert_eq(ustack_sim_step(n.sim), 1);
	cr_assert_eq(ustack_sim_now(n.sim), t0 + USTACK_MSEC(8));
	cr_assert_eq(n.log.count, 2);
	cr_assert_eq(ustack_sim_step(n.sim), 0);
	net_fini(&n);
}

/* --- routing ------------------------------------------------------------- */

Test(sim, unknown_destination_is_dropped)
{
	struct ustack_link_stats s;
	struct net n;

	net_init(&n, 1);
	syn_to(n.a, ADDR_X);
	ustack_sim_run_for(n.sim, USTACK_SEC(5));
	cr_assert_eq(n.log.count, 0);
	s = stats(n.sim, ADDR_A, ADDR_X);
	cr_assert_eq(s.sent, 0, "an unroutable packet never enters a link");

	/* The network still works. */
	syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(1));
	cr_assert_eq(count_to(&n.log, ADDR_B), 1);
	cr_assert_eq(count_to(&n.log, ADDR_A), 1);
	net_fini(&n);
}

/* --- the link model ------------------------------------------------------ */

Test(sim, delay_is_exact_without_jitter)
{
	struct ustack_link_params ab = { .delay = USTACK_MSEC(7) }, ba = { .delay = USTACK_MSEC(3) };
	struct ustack_link_stats s;
	struct net n;
	ustack_time_t t0;

	net_init(&n, 1);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &ab), 0);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_B, ADDR_A, &ba), 0);
	t0 = ustack_sim_now(n.sim);
	syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(100));
	cr_assert_eq(n.log.count, 2);
	cr_assert_eq(n.log.recs[0].src, ADDR_A);
	cr_assert_eq(n.log.recs[0].dst, ADDR_B);
	cr_assert_eq(n.log.recs[0].t, t0 + USTACK_MSEC(7));
	cr_assert_eq(n.log.recs[1].src, ADDR_B);
	cr_assert_eq(n.log.recs[1].dst, ADDR_A);
	cr_assert_eq(n.log.recs[1].t, t0 + USTACK_MSEC(10));
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.sent, 1);
	cr_assert_eq(s.delivered, 1);
	s = stats(n.sim, ADDR_B, ADDR_A);
	cr_assert_eq(s.sent, 1);
	cr_assert_eq(s.delivered, 1);
	net_fini(&n);
}

Test(sim, jitter_stays_in_range)
{
	struct ustack_link_params p = { .delay = USTACK_MSEC(1), .jitter = USTACK_MSEC(5) };
	struct net n;
	ustack_time_t t0, lo = USTACK_TIME_NEVER, hi = 0;

	net_init(&n, 3);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	for (int i = 0; i < 200; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(100));
	cr_assert_eq(count_to(&n.log, ADDR_B), 200);
	for (size_t i = 0; i < n.log.count; i++) {
		ustack_time_t d;

		if (n.log.recs[i].dst != ADDR_B)
			continue;
		d = n.log.recs[i].t - t0;
		cr_assert(d >= USTACK_MSEC(1) && d <= USTACK_MSEC(6), "delay %llu", (unsigned long long)d);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	cr_assert_lt(lo, USTACK_MSEC(2));
	cr_assert_gt(hi, USTACK_MSEC(5));
	net_fini(&n);
}

Test(sim, loss_rate)
{
	struct ustack_link_params p = { .loss = 0.3 };
	struct ustack_link_stats s;
	struct net n;
	const int N = 10000;

	net_init(&n, 11);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	for (int i = 0; i < N; i++)
		syn_to(n.a, ADDR_B);
	/* Well before the first retransmission. */
	ustack_sim_run_for(n.sim, USTACK_MSEC(500));
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.sent, (uint64_t)N);
	cr_assert_eq(s.lost + s.delivered, s.sent);
	cr_assert_eq(count_to(&n.log, ADDR_B), s.delivered);
	assert_binomial(s.lost, N, 0.3, 5);
	s = stats(n.sim, ADDR_B, ADDR_A);
	cr_assert_eq(s.lost, 0, "the other direction is perfect");
	net_fini(&n);
}

Test(sim, duplicate_delivers_twice)
{
	struct ustack_link_params p = { .duplicate = 1.0 };
	struct ustack_link_stats s;
	struct net n;

	net_init(&n, 1);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	for (int i = 0; i < 10; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(100));
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.sent, 10);
	cr_assert_eq(s.duplicated, 10);
	cr_assert_eq(s.delivered, 20);
	cr_assert_eq(count_to(&n.log, ADDR_B), 20);
	/* Each pair is sent together, so it arrives together, in order. */
	for (size_t i = 0, k = 0; i < n.log.count; i++) {
		const struct rec *r = &n.log.recs[i];

		if (r->dst != ADDR_B)
			continue;
		if (k++ % 2) {
			const struct rec *prev = r - 1;
			size_t cmp = r->len < REC_BYTES ? r->len : REC_BYTES;

			while (prev->dst != ADDR_B)
				prev--;
			cr_assert_eq(r->len, prev->len);
			cr_assert_eq(memcmp(r->bytes, prev->bytes, cmp), 0);
		}
	}
	net_fini(&n);
}

Test(sim, reorder_holds_packets_back)
{
	struct ustack_link_params p = { .reorder = 0.5, .reorder_delay = USTACK_MSEC(10) };
	struct ustack_link_stats s;
	struct net n;
	ustack_time_t t0;
	uint64_t late = 0;
	const int N = 2000;

	net_init(&n, 5);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	for (int i = 0; i < N; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(100));
	for (size_t i = 0; i < n.log.count; i++) {
		if (n.log.recs[i].dst != ADDR_B)
			continue;
		cr_assert(n.log.recs[i].t == t0 || n.log.recs[i].t == t0 + USTACK_MSEC(10));
		late += n.log.recs[i].t != t0;
	}
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.delivered, (uint64_t)N);
	cr_assert_eq(s.reordered, late);
	assert_binomial(late, N, 0.5, 5);
	net_fini(&n);
}

Test(sim, bandwidth)
{
	/* 8 Mbit/s: one byte per microsecond. */
	struct ustack_link_params p = { .rate_bps = 8000000, .delay = USTACK_MSEC(2), .queue_limit = 100 };
	struct net n;
	ustack_time_t t0;
	size_t len, k = 0;
	const int N = 50;

	net_init(&n, 1);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	t0 = ustack_sim_now(n.sim);
	for (int i = 0; i < N; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(500));
	cr_assert_eq(count_to(&n.log, ADDR_B), (size_t)N);
	len = n.log.recs[0].len;
	for (size_t i = 0; i < n.log.count; i++) {
		const struct rec *r = &n.log.recs[i];

		if (r->dst != ADDR_B)
			continue;
		cr_assert_eq(r->len, len, "every SYN has the same size");
		k++;
		/* The k-th packet finishes transmission after k packet times. */
		cr_assert_eq(r->t, t0 + USTACK_USEC(k * len) + USTACK_MSEC(2), "packet %zu", k);
	}
	net_fini(&n);
}

Test(sim, queue_limit_drops)
{
	struct ustack_link_params p = { .rate_bps = 8000000, .queue_limit = 10 };
	struct ustack_link_stats s;
	struct net n;

	net_init(&n, 1);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	for (int i = 0; i < 50; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(500));
	/* One on the wire, ten waiting, the rest dropped. */
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.sent, 50);
	cr_assert_eq(s.delivered, 11);
	cr_assert_eq(s.queue_drops, 39);
	cr_assert_eq(count_to(&n.log, ADDR_B), 11);

	/* Once the queue has drained, a burst gets the same room again. */
	for (int i = 0; i < 50; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(100));
	s = stats(n.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.delivered, 22);
	cr_assert_eq(s.queue_drops, 78);
	net_fini(&n);
}

Test(sim, corrupt_flips_exactly_one_bit)
{
	struct ustack_link_params p = { .corrupt = 1.0 };
	struct ustack_link_stats s;
	struct net clean, bad;
	const int N = 200;

	/* Same seed, so the same stacks send the same SYNs; only the link
	 * differs, and corrupting draws nothing before the stacks are made. */
	net_init(&clean, 21);
	net_init(&bad, 21);
	cr_assert_eq(ustack_sim_set_link(bad.sim, ADDR_A, ADDR_B, &p), 0);
	for (int i = 0; i < N; i++) {
		syn_to(clean.a, ADDR_B);
		syn_to(bad.a, ADDR_B);
	}
	ustack_sim_run_for(clean.sim, USTACK_MSEC(1));
	ustack_sim_run_for(bad.sim, USTACK_MSEC(1));
	s = stats(bad.sim, ADDR_A, ADDR_B);
	cr_assert_eq(s.corrupted, (uint64_t)N);
	cr_assert_eq(s.delivered, (uint64_t)N);

	/* All the SYNs were sent at one instant over zero-delay links, so the
	 * first N deliveries are the SYNs in order, before any answer. Their
	 * addresses may be the corrupted bits, so they are matched by position. */
	cr_assert_geq(clean.log.count, (size_t)N);
	cr_assert_geq(bad.log.count, (size_t)N);
	for (size_t i = 0; i < (size_t)N; i++) {
		const struct rec *c = &clean.log.recs[i], *b = &bad.log.recs[i];
		int bits = 0;

		cr_assert_eq(c->dst, ADDR_B);
		cr_assert_eq(c->len, b->len);
		cr_assert_leq(c->len, REC_BYTES);
		for (size_t k = 0; k < c->len; k++)
			bits += __builtin_popcount(c->bytes[k] ^ b->bytes[k]);
		cr_assert_eq(bits, 1, "packet %zu differs in %d bits", i, bits);
	}
	net_fini(&clean);
	net_fini(&bad);
}

/* --- determinism --------------------------------------------------------- */

Test(sim, perfect_links_draw_nothing)
{
	struct ustack_link_params perfect = { 0 };
	struct ustack_sim *fresh;
	struct net n;

	net_init(&n, 99);
	cr_assert_eq(ustack_sim_create(99, &fresh), 0);
	add(fresh, ADDR_A, 0);
	add(fresh, ADDR_B, 0);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &perfect), 0);
	for (int i = 0; i < 20; i++)
		syn_to(n.a, ADDR_B);
	ustack_sim_run_for(n.sim, USTACK_MSEC(10));
	cr_assert_eq(count_to(&n.log, ADDR_B), 20);
	cr_assert_eq(ustack_sim_random(n.sim), ustack_sim_random(fresh),
		     "traffic over perfect links left the stream where it was");
	ustack_sim_destroy(fresh);
	net_fini(&n);
}

static void bad_network_run(uint64_t seed, bool extra_perfect_link, struct tap_log *out)
{
	struct ustack_link_params p = {
		.delay = USTACK_MSEC(5),
		.jitter = USTACK_MSEC(3),
		.loss = 0.2,
		.duplicate = 0.1,
		.reorder = 0.1,
		.reorder_delay = USTACK_MSEC(4),
		.corrupt = 0.05,
		.rate_bps = 10000000,
		.queue_limit = 8,
	};
	struct ustack_link_params perfect = { 0 };
	struct net n;

	net_init(&n, seed);
	cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_A, ADDR_B, &p), 0);
	if (extra_perfect_link)
		cr_assert_eq(ustack_sim_set_link(n.sim, ADDR_B, ADDR_A, &perfect), 0);
	for (int i = 0; i < 40; i++) {
		syn_to(n.a, ADDR_B);
		ustack_sim_run_for(n.sim, USTACK_USEC(300));
	}
	ustack_sim_run_for(n.sim, USTACK_SEC(300));
	out->hash = n.log.hash;
	out->count = n.log.count;
	net_fini(&n);
}

Test(sim, same_seed_same_run)
{
	struct tap_log a, b, c, d;

	bad_network_run(42, false, &a);
	bad_network_run(42, false, &b);
	bad_network_run(43, false, &c);
	bad_network_run(42, true, &d);
	cr_assert_gt(a.count, 40);
	cr_assert_eq(a.count, b.count);
	cr_assert_eq(a.hash, b.hash, "the same seed replays byte for byte");
	cr_assert_neq(a.hash, c.hash, "another seed gives another run");
	cr_assert_eq(a.count, d.count);
	cr_assert_eq(a.hash, d.hash, "a perfect link draws nothing");
}
