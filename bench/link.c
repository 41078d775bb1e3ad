/* bench/link.c: the in-memory link of link.h. */
#include "link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLINK_BYTES (32u << 20)
#define BLINK_PKTS (1u << 16)

static void q_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct blink_q *q = ctx;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (q->n == q->max || q->used + total > q->cap) {
		q->drops++;
		return;
	}
	uint8_t *p = q->buf + q->used;
	q->off[q->n] = (uint32_t)q->used;
	q->len[q->n] = (uint32_t)total;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	/* Keep every packet 8-byte aligned, as a NIC's buffers would be. */
	q->used += (total + 7) & ~(size_t)7;
	q->n++;
}

static int q_init(struct blink_q *q)
{
	memset(q, 0, sizeof(*q));
	q->cap = BLINK_BYTES;
	q->max = BLINK_PKTS;
	q->buf = malloc(q->cap);
	q->off = malloc(q->max * sizeof(uint32_t));
	q->len = malloc(q->max * sizeof(uint32_t));
	return q->buf && q->off && q->len ? 0 : -ENOMEM;
}

static void q_fini(struct blink_q *q)
{
	free(q->buf);
	free(q->off);
	free(q->len);
}

int blink_init(struct blink *l, const struct ustack_config *cfg_a, const struct ustack_config *cfg_b)
{
	memset(l, 0, sizeof(*l));
	l->now = USTACK_SEC(1);
	if (q_init(&l->ab) || q_init(&l->ba))
		return -ENOMEM;
	struct ustack_config a = { 0 }, b = { 0 };
	if (cfg_a)
		a = *cfg_a;
	if (cfg_b)
		b = *cfg_b;
	/* Memory to memory, like Linux's loopback, which never sums a
	 * segment: the link offloads TCP checksums both ways unless the
	 * benchmark asks otherwise (BENCH_CSUM=1: the stacks sum everything). */
	if (!bench_env("BENCH_CSUM", 0))
		a.csum_offload = b.csum_offload = USTACK_CSUM_RX | USTACK_CSUM_TX;
	a.addr = BLINK_ADDR_A;
	a.output = q_output;
	a.output_ctx = &l->ab;
	b.addr = BLINK_ADDR_B;
	b.output = q_output;
	b.output_ctx = &l->ba;
	if (!a.seed)
		a.seed = 1;
	if (!b.seed)
		b.seed = 2;
	int err = ustack_create(&a, &l->a);
	if (err)
		return err;
	err = ustack_create(&b, &l->b);
	if (err)
		return err;
	ustack_poll(l->a, l->now);
	ustack_poll(l->b, l->now);
	return 0;
}

void blink_fini(struct blink *l)
{
	if (l->a)
		ustack_destroy(l->a);
	if (l->b)
		ustack_destroy(l->b);
	q_fini(&l->ab);
	q_fini(&l->ba);
}

static uint64_t q_deliver(struct blink_q *q, struct ustack *dst, ustack_time_t now)
{
	size_t n = q->n;
	for (size_t i = 0; i < n; i++)
		ustack_input(dst, now, q->buf + q->off[i], q->len[i]);
	q->n = 0;
	q->used = 0;
	q->pkts += n;
	return n;
}

uint64_t blink_pump(struct blink *l)
{
	uint64_t n = 0;
	while (l->ab.n || l->ba.n) {
		n += q_deliver(&l->ab, l->b, l->now);
		n += q_deliver(&l->ba, l->a, l->now);
	}
	return n;
}

void blink_advance(struct blink *l, ustack_time_t dt)
{
	l->now += dt;
	if (ustack_next_deadline(l->a) <= l->now)
		ustack_poll(l->a, l->now);
	if (ustack_next_deadline(l->b) <= l->now)
		ustack_poll(l->b, l->now);
}

int blink_jump(struct blink *l)
{
	ustack_time_t da = ustack_next_deadline(l->a), db = ustack_next_deadline(l->b);
	ustack_time_t d = da < db ? da : db;
	if (d == USTACK_TIME_NEVER)
		return -1;
	if (d > l->now)
		l->now = d;
	ustack_poll(l->a, l->now);
	ustack_poll(l->b, l->now);
	return 0;
}

int blink_listen(struct blink *l, uint16_t port)
{
	int fd = ustack_socket(l->b, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int err = ustack_bind(l->b, fd, (struct sockaddr *)&sa, sizeof(sa));
	if (!err)
		err = ustack_listen(l->b, fd, 4096);
	return err ? err : fd;
}

int blink_connect(struct blink *l, int lfd, uint16_t port, int *afd, int *bfd)
{
	int fd = ustack_socket(l->a, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return fd;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(BLINK_ADDR_B) };
	int err = ustack_connect(l->a, fd, (struct sockaddr *)&sa, sizeof(sa));
	if (err && err != -EINPROGRESS)
		return err;
	blink_pump(l);
	int s = ustack_accept(l->b, lfd, NULL, NULL);
	if (s < 0)
		return s;
	*afd = fd;
	*bfd = s;
	return 0;
}

uint64_t bench_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_env(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	return strtoull(s, NULL, 0);
}
