/*
 * bench/bench_linux.c: the Linux baselines over loopback, measured the way
 * bench_ustack measures ustack.
 *
 *   bench_linux bulk      BENCH_BYTES (default 1 GiB), one stream, cubic
 *   bench_linux rate      connect, 1-byte request, 1-byte echo, close
 *   bench_linux latency   1-byte ping-pong, TCP_NODELAY
 *
 * The server side runs in a second thread. Prints "RESULT name value unit".
 *
 * Over a veth pair instead (bench/run.py sets it up): BENCH_ADDR is the
 * server's address, BENCH_NS_SERVER and BENCH_NS_CLIENT the namespaces
 * (names under /var/run/netns) the two sides' sockets are made in. The
 * connection rate then uses one source address, so BENCH_CONNS must stay
 * below the client's ephemeral port range (its TIME_WAITs hold them).
 */
#define _GNU_SOURCE /* setns */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CHECK(x)                                                                                     \
	do {                                                                                         \
		if (!(x)) {                                                                          \
			fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #x,    \
				strerror(errno));                                                    \
			exit(1);                                                                     \
		}                                                                                    \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : def;
}

static void result(const char *name, double v, const char *unit)
{
	printf("RESULT %s %.6g %s\n", name, v, unit);
}

/* Moves the calling thread into the network namespace named by the
 * environment variable `var`, if it is set; threads it creates later
 * start there too. */
static void enter_ns(const char *var)
{
	const char *name = getenv(var);
	if (!name || !*name)
		return;
	char path[256];
	snprintf(path, sizeof(path), "/var/run/netns/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(setns(fd, CLONE_NEWNET) == 0);
	close(fd);
}

/* The server's address: BENCH_ADDR or loopback. */
static uint32_t server_addr(void)
{
	const char *a = getenv("BENCH_ADDR");
	struct in_addr in;
	if (a && *a && inet_pton(AF_INET, a, &in) == 1)
		return in.s_addr;
	return htonl(INADDR_LOOPBACK);
}

static int listener(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	int one = 1;
	CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = server_addr();
	CHECK(bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0);
	socklen_t len = sizeof(*sa);
	CHECK(getsockname(fd, (struct sockaddr *)sa, &len) == 0);
	CHECK(listen(fd, 4096) == 0);
	return fd;
}

static void nodelay(int fd)
{
	int one = 1;
	CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
}

static size_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* ---- bulk ---- */

struct bulk_arg {
	struct sockaddr_in sa;
	uint64_t total;
	char cc[16];
};

static void *bulk_sender(void *p)
{
	struct bulk_arg *a = p;
	enter_ns("BENCH_NS_CLIENT");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5) != 0)
		fprintf(stderr, "bench_linux: TCP_CONGESTION cubic refused (%s); using the default\n",
			strerror(errno));
	socklen_t cl = sizeof(a->cc);
	CHECK(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, a->cc, &cl) == 0);
	CHECK(connect(fd, (struct sockaddr *)&a->sa, sizeof(a->sa)) == 0);
	size_t chunk = 256 * 1024;
	char *buf = malloc(chunk);
	CHECK(buf);
	memset(buf, 'x', chunk);
	uint64_t sent = 0;
	while (sent < a->total) {
		size_t n = a->total - sent < chunk ? (size_t)(a->total - sent) : chunk;
		ssize_t r = write(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0);
		sent += (uint64_t)r;
	}
	close(fd);
	free(buf);
	return NULL;
}

static int bench_bulk(void)
{
	struct bulk_arg a = { .total = env_u64("BENCH_BYTES", 1ull << 30) };
	enter_ns("BENCH_NS_SERVER");
	int lfd = listener(&a.sa);
	setsockopt(lfd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);
	pthread_t th;
	uint64_t t0 = now_ns();
	CHECK(pthread_create(&th, NULL, bulk_sender, &a) == 0);
	int fd = accept(lfd, NULL, NULL);
	CHECK(fd >= 0);
	size_t chunk = 256 * 1024;
	char *buf = malloc(chunk);
	CHECK(buf);
	uint64_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf, chunk);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			break;
		got += (uint64_t)r;
	}
	uint64_t dt = now_ns() - t0;
	pthread_join(th, NULL);
	CHECK(got == a.total);
	result("bulk", (double)got * 8 / (double)dt, "Gbit/s");
	printf("INFO congestion %s\n", a.cc);
	fprintf(stderr, "linux bulk: %llu bytes in %.3f s, congestion control %s\n",
		(unsigned long long)got, dt / 1e9, a.cc);
	free(buf);
	close(fd);
	close(lfd);
	return 0;
}

/* ---- rate: the server echoes one byte, waits for EOF, closes ---- */

struct srv_arg {
	int lfd;
	uint64_t n;
	int pingpong; /* latency: one connection, echo until EOF */
};

static void *rate_server(void *p)
{
	struct srv_arg *a = p;
	for (uint64_t i = 0; i < a->n; i++) {
		int fd = accept(a->lfd, NULL, NULL);
		CHECK(fd >= 0);
		char c;
		if (a->pingpong)
			nodelay(fd);
		while (read_full(fd, &c, 1) == 1)
			CHECK(write(fd, &c, 1) == 1);
		close(fd);
	}
	return NULL;
}

static int bench_rate(void)
{
	struct srv_arg a = { .n = env_u64("BENCH_CONNS", 200000) };
	struct sockaddr_in sa;
	enter_ns("BENCH_NS_SERVER");
	a.lfd = listener(&sa);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, rate_server, &a) == 0);
	enter_ns("BENCH_NS_CLIENT");
	bool rotate = sa.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
	/* Each cycle leaves a TIME_WAIT on the client (60 s on Linux), so the
	 * source address rotates over 127.1.0.0/16 to keep ports free; with
	 * IP_BIND_ADDRESS_NO_PORT the port is chosen at connect, as ustack's. */
	static uint32_t run_salt;
	run_salt = (uint32_t)(now_ns() / 1000) * 2654435761u;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < a.n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		CHECK(fd >= 0);
		if (rotate) {
			int one = 1;
			CHECK(setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) == 0);
			uint32_t k = (uint32_t)(i + run_salt) % 65000u;
			struct sockaddr_in src = { .sin_family = AF_INET,
						   .sin_addr.s_addr = htonl(0x7F010000u | ((k / 250) << 8) |
									    (k % 250 + 1)) };
			CHECK(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
		}
		CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		char c = 'x';
		CHECK(write(fd, &c, 1) == 1);
		CHECK(read_full(fd, &c, 1) == 1);
		close(fd);
	}
	pthread_join(th, NULL);
	uint64_t dt = now_ns() - t0;
	result("conn_rate", (double)a.n * 1e9 / (double)dt, "conn/s");
	close(a.lfd);
	return 0;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int bench_latency(void)
{
	uint64_t n = env_u64("BENCH_PINGS", 200000);
	struct srv_arg a = { .n = 1, .pingpong = 1 };
	struct sockaddr_in sa;
	enter_ns("BENCH_NS_SERVER");
	a.lfd = listener(&sa);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, rate_server, &a) == 0);
	enter_ns("BENCH_NS_CLIENT");
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	nodelay(fd);
	uint64_t *lat = malloc(n * sizeof(*lat));
	CHECK(lat);
	char c = 'x';
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		CHECK(write(fd, &c, 1) == 1);
		CHECK(read_full(fd, &c, 1) == 1);
		lat[i] = now_ns() - t0;
	}
	close(fd);
	pthread_join(th, NULL);
	qsort(lat, n, sizeof(*lat), cmp_u64);
	result("latency_p50", lat[n / 2] / 1e3, "us");
	result("latency_p99", lat[n * 99 / 100] / 1e3, "us");
	free(lat);
	close(a.lfd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "bulk"))
		return bench_bulk();
	if (argc >= 2 && !strcmp(argv[1], "rate"))
		return bench_rate();
	if (argc >= 2 && !strcmp(argv[1], "latency"))
		return bench_latency();
	fprintf(stderr, "usage: bench_linux bulk | rate | latency\n");
	return 2;
}
