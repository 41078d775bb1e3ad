/*
 * Reliable delivery, randomised (RFC 9293 3.4 and 3.8): over many seeds,
 * two stacks exchange random amounts in both directions through links with
 * random loss (up to 20%), duplication, reordering, delay, jitter and
 * corruption. Every byte must arrive once, in order, unchanged; both ends
 * must close cleanly; and once TIME_WAIT is over, every byte the stacks
 * allocated for the connection must have been given back.
 *
 * USTACK_SEEDS=N runs N seeds (default 1000); USTACK_SEED=S runs seed S
 * alone, which is what a failure prints; USTACK_TRACE=1 prints its trace.
 *
 * The slices run Linux's defaults: SACK with RACK-TLP, PRR and F-RTO.
 * Two more tests run a third as many seeds with SACK's DupThresh loss
 * marking instead of RACK (net.ipv4.tcp_recovery = 0, no TLP, no F-RTO),
 * and with SACK off (NewReno), so that every recovery path meets the
 * faults and the invariant checker (which checks the SACK scoreboard).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

struct counting {
	long blocks;
	size_t bytes;
};

static void *counting_alloc(void *ctx, void *ptr, size_t osize, size_t nsize)
{
	struct counting *c = ctx;
	if (ptr) {
		c->blocks--;
		c->bytes -= osize;
	}
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p) {
		c->blocks++;
		c->bytes += nsize;
	} else if (ptr) {
		c->blocks++;
		c->bytes += osize;
	}
	return p;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

struct side {
	struct ustack *st;
	int fd;
	uint8_t *out, *in;
	size_t nout, sent, nin, got, want;
	bool shut, eof, closed;
};

struct world {
	struct ustack_sim *sim;
	struct side a, b;
	int lfd;
};

static void pump(struct side *s)
{
	if (s->fd < 0 || s->closed)
		return;
	while (s->sent < s->nout) {
		ssize_t r = ustack_send(s->st, s->fd, s->out + s->sent, s->nout - s->sent, 0);
		if (r <= 0)
			break;
		s->sent += (size_t)r;
	}
	/* shutdown() before the handshake completes would abort the
	 * connection, as on Linux: wait until the socket is writable. */
	if (s->sent == s->nout && !s->shut && (ustack_sock_poll(s->st, s->fd) & POLLOUT)) {
		ustack_shutdown(s->st, s->fd, SHUT_WR);
		s->shut = true;
	}
	for (;;) {
		uint8_t buf[16384];
		ssize_t r = ustack_recv(s->st, s->fd, buf, sizeof(buf), 0);
		if (r > 0) {
			if (s->got + (size_t)r <= s->want)
				memcpy(s->in + s->got, buf, (size_t)r);
			s->got += (size_t)r;
			continue;
		}
		if (r == 0)
			s->eof = true;
		break;
	}
	if (s->eof && s->shut && !s->closed) {
		ustack_close(s->st, s->fd);
		s->closed = true;
	}
}

static bool both_closed(void *ctx)
{
	struct world *w = ctx;
	return w->a.closed && w->b.closed;
}

static int count_conns(void *ctx, const struct ustack_conn_info *ci)
{
	(*(int *)ctx)++;
	return 0;
}

static void print_event(void *ctx, const struct ustack_event *ev)
{
	char line[512];
	ustack_event_format(ev, 0, line, sizeof(line));
	fprintf(stderr, "%s %s\n", (const char *)ctx, line);
}

enum variant { V_DEFAULT, V_DUPTHRESH, V_NEWRENO };

static void set_variant(struct ustack *st, enum variant v)
{
	if (v == V_DUPTHRESH) {
		st->sys.tcp_recovery = 0;
		st->sys.tcp_early_retrans = 0;
		st->sys.tcp_frto = 0;
	} else if (v == V_NEWRENO) {
		st->sys.tcp_sack = 0;
	}
}

static void run_seed(uint64_t seed, enum variant v)
{
	uint64_t r = seed * 0x2545F4914F6CDD1DULL + 1;
	struct ustack_link_params link = {
		.delay = USTACK_USEC(1000 + rng_next(&r) % 50000),
		.loss = rng_unit(&r) * 0.20,
		.duplicate = rng_unit(&r) * 0.05,
		.reorder = rng_unit(&r) * 0.10,
		.reorder_delay = USTACK_USEC(rng_next(&r) % 20000),
		.corrupt = rng_unit(&r) * 0.05,
		.rate_bps = (rng_next(&r) & 1) ? 1000000 + rng_next(&r) % 100000000 : 0,
	};
	link.jitter = link.delay / 2 * (rng_next(&r) & 1);
	struct world w = { 0 };
	struct counting mem_a = { 0 }, mem_b = { 0 };
	cr_assert_eq(ustack_sim_create(seed, &w.sim), 0);
	/* The test is about the bytes, not about giving up: allow more tries
	 * than Linux does, so a 20% loss rate cannot end a connection. */
	struct ustack_config c = { .addr = T_ADDR_A, .alloc = counting_alloc, .alloc_ctx = &mem_a,
				   .syn_retries = 30, .synack_retries = 30, .retries2 = 30 };
	if (getenv("USTACK_TRACE")) {
		c.trace = print_event;
		c.trace_ctx = "A";
	}
	cr_assert_eq(ustack_sim_add_stack(w.sim, &c, &w.a.st), 0);
	c.addr = T_ADDR_B;
	c.alloc_ctx = &mem_b;
	c.trace_ctx = "B";
	cr_assert_eq(ustack_sim_add_stack(w.sim, &c, &w.b.st), 0);
	cr_assert_eq(ustack_sim_set_path(w.sim, T_ADDR_A, T_ADDR_B, &link), 0);
	set_variant(w.a.st, v);
	set_variant(w.b.st, v);
	/* The descriptor table and the timer heap grow on first use and are
	 * kept; make them exist before the baseline. */
	ustack_close(w.a.st, ustack_socket(w.a.st, AF_INET, SOCK_STREAM, 0));
	ustack_close(w.b.st, ustack_socket(w.b.st, AF_INET, SOCK_STREAM, 0));
	long base_a = mem_a.blocks, base_b = mem_b.blocks;
	size_t base_bytes_a = mem_a.bytes, base_bytes_b = mem_b.bytes;

	w.a.nout = rng_next(&r) % 200001;
	w.b.nout = rng_next(&r) % 200001;
	w.a.want = w.b.nout;
	w.b.want = w.a.nout;
	w.a.out = malloc(w.a.nout + 1);
	w.b.out = malloc(w.b.nout + 1);
	w.a.in = malloc(w.a.want + 1);
	w.b.in = malloc(w.b.want + 1);
	for (size_t i = 0; i < w.a.nout; i++)
		w.a.out[i] = (uint8_t)rng_next(&r);
	for (size_t i = 0; i < w.b.nout; i++)
		w.b.out[i] = (uint8_t)rng_next(&r);

	w.lfd = ustack_socket(w.b.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 7000), srv = t_sin(T_ADDR_B, 7000);
	cr_assert_eq(ustack_bind(w.b.st, w.lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(w.b.st, w.lfd, 4), 0);
	w.a.fd = ustack_socket(w.a.st, AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(ustack_connect(w.a.st, w.a.fd, T_SA(srv), sizeof(srv)), -EINPROGRESS);
	w.b.fd = -1;

	ustack_time_t limit = ustack_sim_now(w.sim) + USTACK_SEC(4 * 3600);
	while (!both_closed(&w)) {
		if (ustack_sim_step(w.sim) == 0 || ustack_sim_now(w.sim) > limit)
			break;
		if (w.b.fd < 0) {
			w.b.fd = ustack_accept(w.b.st, w.lfd, NULL, NULL);
			if (w.b.fd >= 0) {
				ustack_close(w.b.st, w.lfd);
				w.lfd = -1;
			}
		}
		pump(&w.a);
		pump(&w.b);
		char why[256];
		cr_assert(!us_check_invariants(w.a.st, why, sizeof(why)) &&
				  !us_check_invariants(w.b.st, why, sizeof(why)),
			  "seed %llu: %s; replay: USTACK_SEED=%llu", (unsigned long long)seed, why,
			  (unsigned long long)seed);
	}
	cr_assert(both_closed(&w),
		  "seed %llu: not closed (a sent %zu/%zu got %zu/%zu, b sent %zu/%zu got %zu/%zu); replay: "
		  "USTACK_SEED=%llu %s",
		  (unsigned long long)seed, w.a.sent, w.a.nout, w.a.got, w.a.want, w.b.sent, w.b.nout, w.b.got,
		  w.b.want, (unsigned long long)seed, "build/cc-release/tests/scenario/test_random");
	cr_assert(w.a.got == w.a.want && memcmp(w.a.in, w.b.out, w.a.want) == 0,
		  "seed %llu: bytes B->A differ (%zu of %zu); replay: USTACK_SEED=%llu "
		  "build/cc-release/tests/scenario/test_random",
		  (unsigned long long)seed, w.a.got, w.a.want, (unsigned long long)seed);
	cr_assert(w.b.got == w.b.want && memcmp(w.b.in, w.a.out, w.b.want) == 0,
		  "seed %llu: bytes A->B differ (%zu of %zu); replay: USTACK_SEED=%llu "
		  "build/cc-release/tests/scenario/test_random",
		  (unsigned long long)seed, w.b.got, w.b.want, (unsigned long long)seed);
	/* Past TIME_WAIT and every retransmission, nothing is left. */
	ustack_sim_run_idle(w.sim, USTACK_SEC(3600));
	int na = 0, nb = 0;
	ustack_tcp_foreach(w.a.st, count_conns, &na);
	ustack_tcp_foreach(w.b.st, count_conns, &nb);
	cr_assert(na == 0 && nb == 0, "seed %llu: %d and %d connections left; replay: USTACK_SEED=%llu",
		  (unsigned long long)seed, na, nb, (unsigned long long)seed);
	/* The hash tables may have grown; everything else must be back. */
	cr_assert(mem_a.blocks == base_a && mem_b.blocks == base_b,
		  "seed %llu: memory not returned: %ld and %ld blocks (%zu, %zu bytes) over the start; "
		  "replay: USTACK_SEED=%llu",
		  (unsigned long long)seed, mem_a.blocks - base_a, mem_b.blocks - base_b,
		  mem_a.bytes - base_bytes_a, mem_b.bytes - base_bytes_b, (unsigned long long)seed);
	ustack_sim_destroy(w.sim);
	cr_assert_eq(mem_a.blocks, 0, "seed %llu: stack A leaked", (unsigned long long)seed);
	cr_assert_eq(mem_b.blocks, 0, "seed %llu: stack B leaked", (unsigned long long)seed);
	free(w.a.out);
	free(w.b.out);
	free(w.a.in);
	free(w.b.in);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* The seeds are split into slices so that Criterion can run them on
 * every core. */
#define SLICES 8

static void run_slice(unsigned slice, enum variant v, uint64_t div)
{
	const char *one = getenv("USTACK_SEED");
	if (one && *one) {
		if (slice == 0)
			run_seed(strtoull(one, NULL, 0), v);
		return;
	}
	uint64_t n = env_u64("USTACK_SEEDS", 1000) / div;
	for (uint64_t seed = 1 + slice; seed <= n; seed += SLICES)
		run_seed(seed, v);
}

Test(random, slice0) { run_slice(0, V_DEFAULT, 1); }
Test(random, slice1) { run_slice(1, V_DEFAULT, 1); }
Test(random, slice2) { run_slice(2, V_DEFAULT, 1); }
Test(random, slice3) { run_slice(3, V_DEFAULT, 1); }
Test(random, slice4) { run_slice(4, V_DEFAULT, 1); }
Test(random, slice5) { run_slice(5, V_DEFAULT, 1); }
Test(random, slice6) { run_slice(6, V_DEFAULT, 1); }
Test(random, slice7) { run_slice(7, V_DEFAULT, 1); }

/* Half of the slices of a variant, a third as many seeds. */
static void run_half(enum variant v, unsigned half)
{
	for (unsigned slice = half * SLICES / 2; slice < (half + 1) * SLICES / 2; slice++)
		run_slice(slice, v, 3);
}

Test(random, sack_dupthresh_a) { run_half(V_DUPTHRESH, 0); }
Test(random, sack_dupthresh_b) { run_half(V_DUPTHRESH, 1); }
Test(random, newreno_a) { run_half(V_NEWRENO, 0); }
Test(random, newreno_b) { run_half(V_NEWRENO, 1); }
