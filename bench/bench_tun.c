/*
 * bench/bench_tun.c: ustack on a TUN device against the Linux kernel.
 *
 * Run inside a network namespace of its own (bench/run.py creates and
 * deletes it: `ip netns exec NS bench_tun ...`). The stack is 198.18.0.2 on
 * the device ustack0, the kernel 198.18.0.1; the kernel's side is a second
 * thread of this process using ordinary sockets, so both ends share the
 * machine's two cores as Linux-to-Linux over a veth pair does.
 *
 *   bench_tun bulk-tx MTU   BENCH_TUN_BYTES (default 256 MiB), ustack -> Linux
 *   bench_tun bulk-rx MTU   the same, Linux -> ustack
 *   bench_tun rate          BENCH_TUN_CONNS cycles (default 20000): ustack
 *                           connects, 1-byte request, 1-byte echo, ustack
 *                           closes first
 *   bench_tun latency       BENCH_TUN_PINGS (default 50000) 1-byte
 *                           ping-pongs, TCP_NODELAY both sides
 *
 * The stack runs in ustack_tun_run (src/link/tun.c), the loop a real
 * application would use; the benchmark's work happens in its step
 * function. Linux's side uses cubic (TCP_CONGESTION). Prints
 * "RESULT name value unit" for bench/run.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/tun.h>
#include <ustack/ustack.h>

#include "link.h"

#define CHECK(x)                                                                                     \
	do {                                                                                         \
		if (!(x)) {                                                                          \
			fprintf(stderr, "%s:%d: check failed: %s (errno %s)\n", __FILE__, __LINE__, #x, \
				strerror(errno));                                                    \
			exit(1);                                                                     \
		}                                                                                    \
	} while (0)

#define K_ADDR 0xC6120001u /* 198.18.0.1: the kernel */
#define U_ADDR 0xC6120002u /* 198.18.0.2: ustack */
#define PORT 5001
#define CHUNK (256 * 1024)

static void result(const char *name, double v, const char *unit)
{
	printf("RESULT %s %.6g %s\n", name, v, unit);
}

/* ---- the kernel's side ---- */

static int k_listener(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	int one = 1;
	CHECK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
	setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(K_ADDR) };
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(fd, 4096) == 0);
	return fd;
}

struct kside {
	int lfd;
	uint64_t total;     /* bulk: bytes */
	uint64_t n;         /* rate: connections */
	bool nodelay;       /* latency */
	uint64_t got;       /* bytes the kernel read */
	char cc[16];
};

/* bulk-tx: reads one connection to its end. */
static void *k_sink(void *p)
{
	struct kside *k = p;
	int fd = accept(k->lfd, NULL, NULL);
	CHECK(fd >= 0);
	char *buf = malloc(CHUNK);
	CHECK(buf);
	for (;;) {
		ssize_t r = read(fd, buf, CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			break;
		__atomic_fetch_add(&k->got, (uint64_t)r, __ATOMIC_RELEASE);
	}
	socklen_t cl = sizeof(k->cc);
	getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, k->cc, &cl);
	free(buf);
	close(fd);
	return NULL;
}

/* bulk-rx: connects to ustack and writes total bytes. */
static void *k_source(void *p)
{
	struct kside *k = p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5) != 0)
		fprintf(stderr, "bench_tun: TCP_CONGESTION cubic refused (%s)\n", strerror(errno));
	socklen_t cl = sizeof(k->cc);
	getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, k->cc, &cl);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(U_ADDR) };
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	char *buf = malloc(CHUNK);
	CHECK(buf);
	memset(buf, 'k', CHUNK);
	uint64_t sent = 0;
	while (sent < k->total) {
		size_t n = k->total - sent < CHUNK ? (size_t)(k->total - sent) : CHUNK;
		ssize_t r = write(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r > 0);
		sent += (uint64_t)r;
	}
	free(buf);
	close(fd);
	return NULL;
}

/* rate and latency: echoes every byte until EOF, then closes; n times. */
static void *k_echo(void *p)
{
	struct kside *k = p;
	for (uint64_t i = 0; i < k->n; i++) {
		int fd = accept(k->lfd, NULL, NULL);
		CHECK(fd >= 0);
		if (k->nodelay) {
			int one = 1;
			CHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
		}
		char c;
		for (;;) {
			ssize_t r = read(fd, &c, 1);
			if (r < 0 && errno == EINTR)
				continue;
			CHECK(r >= 0);
			if (r == 0)
				break;
			CHECK(write(fd, &c, 1) == 1);
		}
		close(fd);
	}
	return NULL;
}

/* ---- ustack's side: state driven by the loop's step ---- */

enum mode { BULK_TX, BULK_RX, RATE, LATENCY };

struct app {
	enum mode mode;
	struct ustack *st;
	int fd, lfd;
	uint64_t total, done, n, i;
	uint64_t t0, t1;
	bool connected, sent_req;
	uint8_t *buf;
	uint64_t *lat;
	uint64_t ping_t0;
};

static int u_connect(struct app *a)
{
	int fd = ustack_socket(a->st, AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (a->mode == LATENCY) {
		int one = 1;
		CHECK(ustack_setsockopt(a->st, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT),
				  .sin_addr.s_addr = htonl(K_ADDR) };
	int err = ustack_connect(a->st, fd, (struct sockaddr *)&sa, sizeof(sa));
	CHECK(err == 0 || err == -EINPROGRESS);
	return fd;
}

/* Whether the connection is writable (the handshake is done). */
static bool u_writable(struct app *a)
{
	int ev = ustack_sock_poll(a->st, a->fd);
	CHECK(ev >= 0 && !(ev & POLLERR));
	return ev & POLLOUT;
}

static int step_bulk_tx(struct app *a)
{
	if (!a->connected) {
		if (!u_writable(a))
			return 0;
		a->connected = true;
	}
	while (a->done < a->total) {
		uint64_t left = a->total - a->done;
		ssize_t r = ustack_send(a->st, a->fd, a->buf, left < CHUNK ? (size_t)left : CHUNK, 0);
		if (r == -EAGAIN)
			return 0;
		CHECK(r > 0);
		a->done += (uint64_t)r;
	}
	/* The end is when the kernel has read everything (main waits for it
	 * with the loop still running); the FIN follows the data. */
	CHECK(ustack_close(a->st, a->fd) == 0);
	return 1;
}

static int step_bulk_rx(struct app *a)
{
	if (a->fd < 0) {
		a->fd = ustack_accept(a->st, a->lfd, NULL, NULL);
		if (a->fd < 0)
			return 0;
	}
	for (;;) {
		ssize_t r = ustack_recv(a->st, a->fd, a->buf, CHUNK, 0);
		if (r == -EAGAIN)
			return 0;
		CHECK(r >= 0);
		if (r == 0) {
			a->t1 = bench_ns();
			ustack_close(a->st, a->fd);
			return 1;
		}
		a->done += (uint64_t)r;
	}
}

/* One cycle: connect, send a byte, read the echo, close, next. */
static int step_rate(struct app *a)
{
	for (;;) {
		if (a->fd < 0) {
			if (a->i == a->n)
				return 1;
			a->fd = u_connect(a);
			a->sent_req = false;
		}
		if (!a->sent_req) {
			if (!u_writable(a))
				return 0;
			uint8_t x = 'x';
			CHECK(ustack_send(a->st, a->fd, &x, 1, 0) == 1);
			a->sent_req = true;
			a->ping_t0 = bench_ns();
		}
		uint8_t y;
		ssize_t r = ustack_recv(a->st, a->fd, &y, 1, 0);
		if (r == -EAGAIN)
			return 0;
		CHECK(r == 1);
		if (a->mode == LATENCY) {
			a->lat[a->i++] = bench_ns() - a->ping_t0;
			if (a->i == a->n) {
				ustack_close(a->st, a->fd);
				return 1;
			}
			a->sent_req = false;
			continue;
		}
		CHECK(ustack_close(a->st, a->fd) == 0);
		a->fd = -1;
		a->i++;
	}
}

static int show_conn(void *ctx, const struct ustack_conn_info *ci)
{
	(void)ctx;
	fprintf(stderr, "  conn %s sendq %u recvq %u srtt %u us rto %u us cwnd %u\n",
		ustack_tcp_state_name(ci->state), ci->sendq, ci->recvq, ci->srtt_us, ci->rto_us, ci->cwnd);
	return 0;
}

static int step(void *ctx, ustack_time_t now)
{
	struct app *a = ctx;
	static ustack_time_t last;
	if (getenv("BENCH_TUN_DEBUG") && now - last > USTACK_MSEC(500)) {
		last = now;
		ustack_tcp_foreach(a->st, show_conn, NULL);
	}
	switch (a->mode) {
	case BULK_TX:
		return step_bulk_tx(a);
	case BULK_RX:
		return step_bulk_rx(a);
	default:
		return step_rate(a);
	}
}

/* After the work: runs the stack until `until` (its closes, the FIN
 * exchanges the kernel's threads wait for). */
struct lingering {
	struct ustack_tun *tun;
	ustack_time_t until;
};

static int step_linger(void *ctx, ustack_time_t now)
{
	struct lingering *l = ctx;
	if (now >= l->until)
		return 1;
	ustack_tun_wake_at(l->tun, l->until);
	return 0;
}

static void run_until(struct ustack_tun *tun, struct ustack *st, ustack_time_t until)
{
	struct lingering l = { tun, until };
	CHECK(ustack_tun_run(tun, st, step_linger, &l, NULL, 0) == 1);
}

/* BENCH_TUN_DEBUG: the first drops, and the segments just before them. */
static void debug_trace(void *ctx, const struct ustack_event *ev)
{
	static char ring[8][256];
	static unsigned n, shown;
	struct app *a = ctx;
	char line[256];
	ustack_event_format(ev, 0, line, sizeof(line));
	if (ev->type == USTACK_EV_DROP && shown < 6) {
		shown++;
		for (unsigned i = n > 8 ? n - 8 : 0; i < n; i++)
			fprintf(stderr, "    %s\n", ring[i % 8]);
		fprintf(stderr, "  DROP %s\n", line);
		struct ustack_tcp_info ti;
		socklen_t tl = sizeof(ti);
		if (a->fd >= 0 && ustack_getsockopt(a->st, a->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0)
			fprintf(stderr, "  rcv_wnd %u recvq %u rcv_wscale %u rcv_mss %u\n", ti.rcv_wnd, ti.recvq,
				ti.rcv_wscale, ti.rcv_mss);
	}
	snprintf(ring[n++ % 8], sizeof(ring[0]), "%s", line);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct app a = { .fd = -1, .lfd = -1 };
	unsigned mtu = 1500;
	if (argc >= 3 && !strcmp(argv[1], "bulk-tx"))
		a.mode = BULK_TX, mtu = (unsigned)atoi(argv[2]);
	else if (argc >= 3 && !strcmp(argv[1], "bulk-rx"))
		a.mode = BULK_RX, mtu = (unsigned)atoi(argv[2]);
	else if (argc >= 2 && !strcmp(argv[1], "rate"))
		a.mode = RATE;
	else if (argc >= 2 && !strcmp(argv[1], "latency"))
		a.mode = LATENCY;
	else {
		fprintf(stderr, "usage: bench_tun bulk-tx MTU | bulk-rx MTU | rate | latency\n");
		return 2;
	}

	/* BENCH_TUN_OFFLOAD=0: one plain packet per system call, no
	 * virtio-net header (the driver's default is the header). */
	struct ustack_tun_config tc = { .name = "ustack0", .addr = U_ADDR, .prefix = 24,
					.kernel_addr = K_ADDR, .mtu = (uint16_t)mtu,
					.no_offload = bench_env("BENCH_TUN_OFFLOAD", 1) == 0 };
	struct ustack_tun *tun;
	int err = ustack_tun_open(&tc, &tun);
	if (err) {
		fprintf(stderr, "bench_tun: cannot open the TUN device: %s\n", strerror(-err));
		return 1;
	}
	/* The kernel's queue toward the stack (the device's txqueuelen, 500
	 * by default) overflows when the loop is descheduled on a busy
	 * machine, and Linux then retransmits; veth has no such queue. A
	 * longer one is what `ip link set ustack0 txqueuelen N` gives any
	 * TUN application. BENCH_TUN_TXQLEN=0 keeps the default. */
	uint64_t qlen = bench_env("BENCH_TUN_TXQLEN", 4096);
	if (qlen) {
		int sock = socket(AF_INET, SOCK_DGRAM, 0);
		struct ifreq ifr = { 0 };
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ustack_tun_name(tun));
		ifr.ifr_qlen = (int)qlen;
		CHECK(sock >= 0 && ioctl(sock, SIOCSIFTXQLEN, &ifr) == 0);
		close(sock);
	}
	/* Over TUN, TIME_WAIT is real time: 2 x 10 ms keeps the client's
	 * ports free over tens of thousands of cycles, as in bench_ustack. */
	struct ustack_config cfg = { .addr = U_ADDR, .mtu = (uint16_t)mtu, .output = ustack_tun_output,
				     .output_ctx = tun, .seed = bench_ns(),
				     .msl_ms = a.mode == RATE ? 10 : 0,
				     /* The kernel finishes the checksums the driver
				      * leaves it, as Linux's own TCP does on veth
				      * with offloads; BENCH_CSUM=1 sums anyway. */
				     .csum_offload = bench_env("BENCH_CSUM", 0) ? 0
						     : (uint8_t)ustack_tun_csum_offload(tun) };
	if (getenv("BENCH_TUN_DEBUG"))
		cfg.trace = debug_trace, cfg.trace_ctx = &a;
	CHECK(ustack_create(&cfg, &a.st) == 0);
	ustack_poll(a.st, ustack_clock_now());

	struct kside k = { .lfd = -1 };
	pthread_t th;
	a.buf = malloc(CHUNK);
	CHECK(a.buf);
	memset(a.buf, 'u', CHUNK);
	switch (a.mode) {
	case BULK_TX:
		k.lfd = k_listener();
		a.total = bench_env("BENCH_TUN_BYTES", 256ull << 20);
		CHECK(pthread_create(&th, NULL, k_sink, &k) == 0);
		a.t0 = bench_ns();
		a.fd = u_connect(&a);
		break;
	case BULK_RX: {
		a.lfd = ustack_socket(a.st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(PORT) };
		CHECK(ustack_bind(a.st, a.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
		CHECK(ustack_listen(a.st, a.lfd, 16) == 0);
		k.total = bench_env("BENCH_TUN_BYTES", 256ull << 20);
		a.t0 = bench_ns();
		CHECK(pthread_create(&th, NULL, k_source, &k) == 0);
		break;
	}
	case RATE:
		k.lfd = k_listener();
		k.n = a.n = bench_env("BENCH_TUN_CONNS", 20000);
		CHECK(pthread_create(&th, NULL, k_echo, &k) == 0);
		a.t0 = bench_ns();
		break;
	case LATENCY:
		k.lfd = k_listener();
		k.n = 1;
		k.nodelay = true;
		a.n = bench_env("BENCH_TUN_PINGS", 50000);
		a.lat = malloc(a.n * sizeof(*a.lat));
		CHECK(a.lat);
		CHECK(pthread_create(&th, NULL, k_echo, &k) == 0);
		a.fd = u_connect(&a);
		break;
	}

	int r = ustack_tun_run(tun, a.st, step, &a, NULL, 0);
	CHECK(r == 1);
	if (a.mode == RATE)
		a.t1 = bench_ns();
	/* Finish the closes: the kernel's reader needs the FIN (bulk-tx), the
	 * echo server its last EOF. bulk-tx ends when the kernel has read
	 * every byte. */
	if (a.mode == BULK_TX) {
		ustack_time_t limit = ustack_clock_now() + USTACK_SEC(30);
		while (__atomic_load_n(&k.got, __ATOMIC_ACQUIRE) < a.total && ustack_clock_now() < limit)
			run_until(tun, a.st, ustack_clock_now() + USTACK_USEC(200));
		a.t1 = bench_ns();
	}
	run_until(tun, a.st, ustack_clock_now() + USTACK_MSEC(100));
	pthread_join(th, NULL);

	struct ustack_tun_stats ts;
	ustack_tun_get_stats(tun, &ts);
	double secs = (double)(a.t1 - a.t0) / 1e9;
	const char *dir = a.mode == BULK_TX ? "tx" : "rx";
	switch (a.mode) {
	case BULK_TX:
	case BULK_RX: {
		uint64_t bytes = a.mode == BULK_TX ? k.got : a.done;
		CHECK(bytes == (a.mode == BULK_TX ? a.total : k.total));
		char name[64];
		snprintf(name, sizeof(name), "tun_bulk_%s_mtu%u", dir, mtu);
		result(name, (double)bytes * 8 / (double)(a.t1 - a.t0), "Gbit/s");
		printf("INFO congestion %s\n", k.cc);
		fprintf(stderr, "tun bulk %s mtu %u: %llu bytes in %.3f s; device rx %llu tx %llu packets, "
			"%llu tx errors; ustack retrans %llu\n", dir, mtu, (unsigned long long)bytes, secs,
			(unsigned long long)ts.rx_packets, (unsigned long long)ts.tx_packets,
			(unsigned long long)ts.tx_errors,
			(unsigned long long)ustack_stat(a.st, USTACK_STAT_TCP_RETRANS_SEGS));
		fprintf(stderr, "  offloads %s: rx gso frames %llu, rx csum ok %llu, tx gso frames %llu "
			"carrying %llu segments\n", ustack_tun_offloads(tun) ? "on" : "off",
			(unsigned long long)ts.rx_gso_frames, (unsigned long long)ts.rx_csum_ok,
			(unsigned long long)ts.tx_gso_frames, (unsigned long long)ts.tx_gso_segs);
		break;
	}
	case RATE:
		result("tun_conn_rate", (double)a.n / secs, "conn/s");
		fprintf(stderr, "tun rate: %llu cycles in %.3f s\n", (unsigned long long)a.n, secs);
		break;
	case LATENCY:
		qsort(a.lat, a.n, sizeof(*a.lat), cmp_u64);
		result("tun_latency_p50", a.lat[a.n / 2] / 1e3, "us");
		result("tun_latency_p99", a.lat[a.n * 99 / 100] / 1e3, "us");
		break;
	}
	for (int i = 0; i < USTACK_STAT__COUNT; i++) {
		const char *nm = ustack_stat_name((enum ustack_stat)i);
		uint64_t v = ustack_stat(a.st, (enum ustack_stat)i);
		if (v && !strncmp(nm, "drop.", 5))
			fprintf(stderr, "  ustack %s %llu\n", nm, (unsigned long long)v);
	}
	free(a.lat);
	free(a.buf);
	ustack_destroy(a.st);
	ustack_tun_close(tun);
	if (k.lfd >= 0)
		close(k.lfd);
	return 0;
}
