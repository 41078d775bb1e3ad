/*
 * bench/bench_ustack.c: ustack benchmarks on the in-memory link (link.h).
 *
 *   bench_ustack bulk MTU     BENCH_BYTES (default 1 GiB) from A to B
 *   bench_ustack rate         connect, 1-byte request, 1-byte echo, close
 *   bench_ustack latency      1-byte ping-pong, TCP_NODELAY
 *   bench_ustack scale        memory per idle connection, time to open
 *                             BENCH_SCALE_MAX connections, per-packet cost
 *
 * Each prints lines "RESULT name value unit" for bench/run.py.
 */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                     \
	do {                                                                                         \
		if (!(x)) {                                                                          \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);        \
			exit(1);                                                                     \
		}                                                                                    \
	} while (0)

static void result(const char *name, double v, const char *unit)
{
	printf("RESULT %s %.6g %s\n", name, v, unit);
}

static void nodelay(struct ustack *st, int fd)
{
	int one = 1;
	CHECK(ustack_setsockopt(st, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
}

/* ---- 1. bulk ---- */

static int bench_bulk(unsigned mtu)
{
	uint64_t total = bench_env("BENCH_BYTES", 1ull << 30);
	struct ustack_config c = { .mtu = (uint16_t)mtu };
	struct blink l;
	CHECK(blink_init(&l, &c, &c) == 0);
	int lfd = blink_listen(&l, 5001), afd, bfd;
	CHECK(lfd >= 0);
	CHECK(blink_connect(&l, lfd, 5001, &afd, &bfd) == 0);

	size_t chunk = 256 * 1024;
	int fill = (int)bench_env("BENCH_BULK_FILL", 0);
	uint8_t *buf = malloc(chunk), *rbuf = malloc(chunk);
	CHECK(buf && rbuf);
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (uint8_t)(i * 7);
	uint64_t sent = 0, recvd = 0, stalls = 0;
	uint64_t t0 = bench_ns();
	while (recvd < total) {
		int progress = 0;
		/* One chunk per turn (BENCH_BULK_FILL=1: until the send buffer
		 * is full), as an event loop interleaves writing and reading. */
		for (int k = 0; sent < total && (fill || k < 1); k++) {
			size_t n = total - sent < chunk ? (size_t)(total - sent) : chunk;
			ssize_t r = ustack_send(l.a, afd, buf, n, 0);
			if (r == -EAGAIN)
				break;
			CHECK(r > 0);
			sent += (uint64_t)r;
			progress = 1;
		}
		progress |= blink_pump(&l) > 0;
		for (;;) {
			ssize_t r = ustack_recv(l.b, bfd, rbuf, chunk, 0);
			if (r == -EAGAIN)
				break;
			CHECK(r > 0);
			recvd += (uint64_t)r;
			progress = 1;
		}
		if (progress) {
			blink_advance(&l, USTACK_USEC(10));
		} else {
			stalls++;
			CHECK(blink_jump(&l) == 0);
		}
	}
	uint64_t dt = bench_ns() - t0;
	char name[64];
	snprintf(name, sizeof(name), "bulk_mtu%u", mtu);
	result(name, (double)total * 8 / (double)dt, "Gbit/s");
	fprintf(stderr, "bulk mtu %u: %llu bytes in %.3f s, %llu+%llu packets, %llu drops, %llu stalls, "
		"%llu retrans\n", mtu, (unsigned long long)total, dt / 1e9,
		(unsigned long long)l.ab.pkts, (unsigned long long)l.ba.pkts,
		(unsigned long long)(l.ab.drops + l.ba.drops), (unsigned long long)stalls,
		(unsigned long long)ustack_stat(l.a, USTACK_STAT_TCP_RETRANS_SEGS));
	free(buf);
	free(rbuf);
	blink_fini(&l);
	return 0;
}

/* ---- 2. connection rate ---- */

static int bench_rate(void)
{
	uint64_t n = bench_env("BENCH_CONNS", 200000);
	uint64_t step_us = bench_env("BENCH_CONN_STEP_US", 10);
	/* TIME_WAIT is 2*MSL; with 10 us of virtual time per cycle and an MSL
	 * of 10 ms, about 2000 TIME_WAIT records stay live on the client. */
	struct ustack_config c = { .msl_ms = (uint32_t)bench_env("BENCH_CONN_MSL_MS", 10) };
	struct blink l;
	CHECK(blink_init(&l, &c, &c) == 0);
	int lfd = blink_listen(&l, 5001);
	CHECK(lfd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5001),
				  .sin_addr.s_addr = htonl(BLINK_ADDR_B) };
	uint8_t x = 'x', y;
	uint64_t t0 = bench_ns();
	for (uint64_t i = 0; i < n; i++) {
		int fd = ustack_socket(l.a, AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		CHECK(ustack_connect(l.a, fd, (struct sockaddr *)&sa, sizeof(sa)) == -EINPROGRESS);
		blink_pump(&l);
		int s = ustack_accept(l.b, lfd, NULL, NULL);
		CHECK(s >= 0);
		CHECK(ustack_send(l.a, fd, &x, 1, 0) == 1);
		blink_pump(&l);
		CHECK(ustack_recv(l.b, s, &y, 1, 0) == 1);
		CHECK(ustack_send(l.b, s, &y, 1, 0) == 1);
		blink_pump(&l);
		CHECK(ustack_recv(l.a, fd, &y, 1, 0) == 1);
		CHECK(ustack_close(l.a, fd) == 0);
		blink_pump(&l);
		CHECK(ustack_recv(l.b, s, &y, 1, 0) == 0);
		CHECK(ustack_close(l.b, s) == 0);
		blink_pump(&l);
		blink_advance(&l, USTACK_USEC(step_us));
	}
	uint64_t dt = bench_ns() - t0;
	result("conn_rate", (double)n * 1e9 / (double)dt, "conn/s");
	fprintf(stderr, "rate: %llu cycles in %.3f s, %llu TIME_WAIT expired, msl %u ms, step %llu us\n",
		(unsigned long long)n, dt / 1e9,
		(unsigned long long)ustack_stat(l.a, USTACK_STAT_TCP_TIMEWAIT_EXPIRED), c.msl_ms,
		(unsigned long long)step_us);
	blink_fini(&l);
	return 0;
}

/* ---- 3. latency ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int bench_latency(void)
{
	uint64_t n = bench_env("BENCH_PINGS", 200000);
	struct blink l;
	CHECK(blink_init(&l, NULL, NULL) == 0);
	int lfd = blink_listen(&l, 5001), afd, bfd;
	CHECK(lfd >= 0);
	CHECK(blink_connect(&l, lfd, 5001, &afd, &bfd) == 0);
	nodelay(l.a, afd);
	nodelay(l.b, bfd);
	uint64_t *lat = malloc(n * sizeof(*lat));
	CHECK(lat);
	uint8_t x = 'x', y;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = bench_ns();
		CHECK(ustack_send(l.a, afd, &x, 1, 0) == 1);
		blink_pump(&l);
		CHECK(ustack_recv(l.b, bfd, &y, 1, 0) == 1);
		CHECK(ustack_send(l.b, bfd, &y, 1, 0) == 1);
		blink_pump(&l);
		CHECK(ustack_recv(l.a, afd, &y, 1, 0) == 1);
		blink_advance(&l, USTACK_USEC(1));
		lat[i] = bench_ns() - t0;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	result("latency_p50", lat[n / 2] / 1e3, "us");
	result("latency_p99", lat[n * 99 / 100] / 1e3, "us");
	free(lat);
	blink_fini(&l);
	return 0;
}

/* ---- 4. scale ---- */

struct counter {
	int64_t bytes, peak;
};

static void *count_alloc(void *ctx, void *ptr, size_t osize, size_t nsize)
{
	struct counter *c = ctx;
	if (nsize == 0) {
		free(ptr);
		c->bytes -= (int64_t)osize;
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p) {
		c->bytes += (int64_t)nsize - (int64_t)osize;
		if (c->bytes > c->peak)
			c->peak = c->bytes;
	}
	return p;
}

/* B listens on enough ports that A's 64512 ephemeral ports give every
 * connection its own four-tuple: 4 up to 100 000 connections, 17 for a
 * million. */
#define SCALE_PORTS_MAX 32
static uint32_t scale_ports(uint32_t n)
{
	uint32_t p = n / 60000 + 1;
	return p < 4 ? 4 : p;
}

/* Opens n connections (A's ephemeral ports 1024-65535, B listening on
 * scale_ports(n) ports); returns the seconds it took. */
static double open_conns(struct blink *l, const int *lfd, uint32_t n, int *afd, int *bfd)
{
	const uint32_t SCALE_PORTS = scale_ports(n);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(BLINK_ADDR_B) };
	uint64_t t0 = bench_ns();
	const uint32_t batch = 512;
	for (uint32_t i = 0; i < n; i += batch) {
		uint32_t m = n - i < batch ? n - i : batch;
		for (uint32_t k = 0; k < m; k++) {
			uint32_t j = i + k;
			int fd = ustack_socket(l->a, AF_INET, SOCK_STREAM, 0);
			CHECK(fd >= 0);
			sa.sin_port = htons((uint16_t)(5001 + j % SCALE_PORTS));
			CHECK(ustack_connect(l->a, fd, (struct sockaddr *)&sa, sizeof(sa)) == -EINPROGRESS);
			afd[j] = fd;
		}
		blink_pump(l);
		for (uint32_t k = 0; k < m; k++) {
			uint32_t j = i + k;
			int s = ustack_accept(l->b, lfd[j % SCALE_PORTS], NULL, NULL);
			CHECK(s >= 0);
			bfd[j] = s;
		}
		blink_advance(l, USTACK_USEC(1));
	}
	return (bench_ns() - t0) / 1e9;
}

/* pings ping-pongs spread round-robin over n connections (peers matched by
 * accept order per listener, so pair them by port). Returns ns per packet. */
static double ping_all(struct blink *l, uint32_t n, const int *afd, const int *bfd, uint64_t pings,
		       double *ns_per_ping)
{
	uint8_t x = 'x', y;
	uint64_t p0 = l->ab.pkts + l->ba.pkts;
	uint64_t t0 = bench_ns();
	for (uint64_t i = 0; i < pings; i++) {
		uint32_t j = (uint32_t)(i % n);
		CHECK(ustack_send(l->a, afd[j], &x, 1, 0) == 1);
		blink_pump(l);
		CHECK(ustack_recv(l->b, bfd[j], &y, 1, 0) == 1);
		CHECK(ustack_send(l->b, bfd[j], &y, 1, 0) == 1);
		blink_pump(l);
		CHECK(ustack_recv(l->a, afd[j], &y, 1, 0) == 1);
		blink_advance(l, USTACK_USEC(1));
	}
	uint64_t dt = bench_ns() - t0;
	uint64_t pk = l->ab.pkts + l->ba.pkts - p0;
	*ns_per_ping = (double)dt / (double)pings;
	return (double)dt / (double)pk;
}

static int bench_scale(void)
{
	uint32_t max = (uint32_t)bench_env("BENCH_SCALE_MAX", 100000);
	uint64_t pings = bench_env("BENCH_SCALE_PINGS", 200000);
	uint32_t sizes[] = { 1000, 10000, 100000 };
	int nsizes = 3;
	/* BENCH_SCALE_ONLY=N: that one size (make bench BENCH_LONG=1: 1M). */
	uint32_t only = (uint32_t)bench_env("BENCH_SCALE_ONLY", 0);
	if (only) {
		sizes[0] = max = only;
		nsizes = 1;
	}
	for (int si = 0; si < nsizes; si++) {
		uint32_t n = sizes[si] < max ? sizes[si] : max;
		const uint32_t SCALE_PORTS = scale_ports(n);
		struct counter ca = { 0 }, cb = { 0 };
		struct ustack_config c = { .max_sockets = 2 * n + 64, .max_conns = 2 * n + 64,
					   .ephemeral_lo = 1024, .ephemeral_hi = 65535,
					   .alloc = count_alloc };
		struct ustack_config a = c, b = c;
		a.alloc_ctx = &ca;
		b.alloc_ctx = &cb;
		struct blink l;
		CHECK(blink_init(&l, &a, &b) == 0);
		int lfd[SCALE_PORTS_MAX];
		CHECK(SCALE_PORTS <= SCALE_PORTS_MAX);
		for (uint32_t p = 0; p < SCALE_PORTS; p++)
			CHECK((lfd[p] = blink_listen(&l, (uint16_t)(5001 + p))) >= 0);
		int *afd = malloc(n * sizeof(int)), *bfd = malloc(n * sizeof(int));
		CHECK(afd && bfd);
		int64_t a0 = ca.bytes, b0 = cb.bytes;
		double secs = open_conns(&l, lfd, n, afd, bfd);
		double mem_a = (double)(ca.bytes - a0) / n, mem_b = (double)(cb.bytes - b0) / n;
		for (uint32_t j = 0; j < n; j++)
			nodelay(l.a, afd[j]), nodelay(l.b, bfd[j]);
		/* The first ping-pong on an idle connection allocates its four
		 * rings (4 KiB each, kept for a second after they drain:
		 * tcp_timer.c); measured apart, so that the steady per-packet
		 * cost below is comparable from 1k to 1M connections. */
		int64_t opened = ca.bytes + cb.bytes;
		/* Only the connections the measured pings will visit (round
		 * robin from the first): a million connections with their rings
		 * would need 16 GiB. */
		uint32_t warm = pings < n ? (uint32_t)pings : n;
		double first_ping, first_pkt = ping_all(&l, warm, afd, bfd, warm, &first_ping);
		double per_ping, per_pkt = ping_all(&l, n, afd, bfd, pings, &per_ping);
		double mem_a2 = (double)(ca.bytes - a0) / n, mem_b2 = (double)(cb.bytes - b0) / n;
		/* The same pings over the first 1000 connections only, the
		 * other n - 1000 idle: what the number of connections costs a
		 * packet through the lookup and the timers, apart from a
		 * working set that outgrows the caches when all are busy.
		 * Idle means nothing pending: the pings above left every
		 * connection a delayed-ACK wakeup, a retransmission timer and
		 * the rings' reclaim timer, which would otherwise fire during
		 * the measurement (that made it grow 1.45 times from 1k to
		 * 100k). Three seconds run them all; the busy thousand then
		 * get their rings back before the clock starts. */
		uint32_t busy = n < 1000 ? n : 1000;
		blink_advance(&l, USTACK_SEC(3));
		blink_pump(&l);
		double act_ping, act_pkt = ping_all(&l, busy, afd, bfd, busy, &act_ping);
		act_pkt = ping_all(&l, busy, afd, bfd, pings, &act_ping);
		char name[64];
		if (n == sizes[si] && n == 100000)
			result("open_100k_conns", secs, "s");
		if (n == sizes[si] && n == 1000000) {
			result("open_1m_conns", secs, "s");
			result("mem_1m_conns_total", (double)opened / (1 << 20), "MiB");
			result("mem_1m_peak_after_ping", (double)(ca.peak + cb.peak) / (1 << 20), "MiB");
		}
		snprintf(name, sizeof(name), "pkt_cost_%uk", n / 1000);
		result(name, per_pkt, "ns/pkt");
		snprintf(name, sizeof(name), "pkt_cost_first_%uk", n / 1000);
		result(name, first_pkt, "ns/pkt");
		snprintf(name, sizeof(name), "pkt_cost_1k_busy_of_%uk", n / 1000);
		result(name, act_pkt, "ns/pkt");
		if (si == nsizes - 1 || n == max) {
			result("mem_per_conn_client", mem_a, "B");
			result("mem_per_conn_server", mem_b, "B");
			result("mem_per_conn_after_ping", (mem_a2 + mem_b2) / 2, "B");
		}
		fprintf(stderr, "scale %u: open %.3f s (%.0f conn/s), %.1f ns/pkt, %.1f ns/ping-pong "
			"(first on each connection %.1f, %.1f; 1000 busy, the rest idle %.1f, %.1f), "
			"mem/conn idle client %.0f server %.0f, after ping-pong %.0f %.0f, drops %llu\n",
			n, secs, n / secs, per_pkt, per_ping, first_pkt, first_ping, act_pkt, act_ping, mem_a,
			mem_b, mem_a2, mem_b2,
			(unsigned long long)(l.ab.drops + l.ba.drops));
		free(afd);
		free(bfd);
		blink_fini(&l);
		if (n == max)
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "bulk"))
		return bench_bulk((unsigned)atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "rate"))
		return bench_rate();
	if (argc >= 2 && !strcmp(argv[1], "latency"))
		return bench_latency();
	if (argc >= 2 && !strcmp(argv[1], "scale"))
		return bench_scale();
	fprintf(stderr, "usage: bench_ustack bulk MTU | rate | latency | scale\n");
	return 2;
}
