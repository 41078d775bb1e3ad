/*
 * bench/bench_cg.c: a tiny driver for instruction counts under callgrind.
 *
 * On an established connection in steady state (after warm-up transfers),
 * A sends two full-sized in-order data segments; B takes the first (no ACK
 * owed yet), then the second (which makes B send an ACK, every second
 * segment), and A takes that pure ACK. bench_cg_measure wraps the one
 * ustack_input call chosen by the mode, so that
 *
 *   valgrind --tool=callgrind --toggle-collect='bench_cg_measure*' bench_cg MODE
 *
 * counts exactly that packet's instructions. Modes: data (the first
 * segment), data_ack (the second, ACK sent included), ack (the pure ACK).
 */
#include "link.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdbool.h>
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

int bench_cg_measure(struct ustack *st, ustack_time_t now, const void *pkt, size_t len);

__attribute__((noinline)) int bench_cg_measure(struct ustack *st, ustack_time_t now, const void *pkt,
						size_t len)
{
	return ustack_input(st, now, pkt, len);
}

static uint8_t pkt[70000];

/* Takes the FIFO's only packet out (the FIFO must hold exactly one). */
static size_t take_one(struct blink_q *q)
{
	CHECK(q->n == 1);
	memcpy(pkt, q->buf + q->off[0], q->len[0]);
	size_t len = q->len[0];
	q->n = 0;
	q->used = 0;
	return len;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "data";
	struct blink l;
	CHECK(blink_init(&l, NULL, NULL) == 0);
	int lfd = blink_listen(&l, 5001), afd, bfd;
	CHECK(lfd >= 0);
	CHECK(blink_connect(&l, lfd, 5001, &afd, &bfd) == 0);
	int one = 1;
	CHECK(ustack_setsockopt(l.a, afd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	enum { MSS = 1460 };
	static uint8_t buf[64 * MSS], rbuf[64 * MSS];
	memset(buf, 'd', sizeof(buf));
	/* Warm-up: leave slow start's first rounds and the quick-ACK phase. */
	for (int i = 0; i < 200; i++) {
		/* The send buffer starts small and grows with cwnd
		 * (tcp_sndbuf_expand): write what it takes. */
		size_t sent = 0, got = 0;
		while (got < sizeof(buf)) {
			ssize_t n = ustack_send(l.a, afd, buf + sent, sizeof(buf) - sent, 0);
			CHECK(n > 0 || n == -EAGAIN || sent == sizeof(buf));
			sent += n > 0 ? (size_t)n : 0;
			blink_pump(&l);
			ssize_t m = ustack_recv(l.b, bfd, rbuf, sizeof(rbuf), 0);
			CHECK(m > 0 || m == -EAGAIN);
			got += m > 0 ? (size_t)m : 0;
			blink_pump(&l);
		}
		blink_advance(&l, USTACK_USEC(50));
	}
	/* Leave nothing owed: let a delayed ACK go out (40 ms), but stay short
	 * of the idle time after which the receiver quick-ACKs again. */
	blink_advance(&l, USTACK_MSEC(41));
	blink_pump(&l);

	/* One full segment: the MSS less the options every segment carries
	 * (timestamps: 12 bytes), from TCP_INFO. */
	struct ustack_tcp_info ti;
	socklen_t tl = sizeof(ti);
	CHECK(ustack_getsockopt(l.a, afd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0);
	size_t seg = ti.snd_mss;
	CHECK(seg > 0 && seg <= MSS);
	/* Quick ACKs left from the warm-up (a tail loss probe's duplicate
	 * restarts them, as in Linux) are used up first: segments go
	 * unmeasured until one is not ACKed at once, then one more, whose ACK
	 * leaves nothing owed. */
	size_t len, primed = 0;
	for (int i = 0;; i++) {
		CHECK(i < 64);
		CHECK(ustack_send(l.a, afd, buf, seg, 0) == (ssize_t)seg);
		len = take_one(&l.ab);
		CHECK(ustack_input(l.b, l.now, pkt, len) == 0);
		primed += seg;
		bool acked = l.ba.n != 0;
		l.ba.n = 0;
		l.ba.used = 0;
		if (!acked)
			break;
	}
	CHECK(ustack_send(l.a, afd, buf, seg, 0) == (ssize_t)seg);
	len = take_one(&l.ab);
	CHECK(ustack_input(l.b, l.now, pkt, len) == 0);
	primed += seg;
	CHECK(l.ba.n == 1);
	len = take_one(&l.ba);
	CHECK(ustack_input(l.a, l.now, pkt, len) == 0);

	CHECK(ustack_send(l.a, afd, buf, seg, 0) == (ssize_t)seg);
	len = take_one(&l.ab);
	int r = !strcmp(mode, "data") ? bench_cg_measure(l.b, l.now, pkt, len) : ustack_input(l.b, l.now, pkt, len);
	CHECK(r == 0);
	if (l.ba.n) {
		fprintf(stderr, "bench_cg: the first segment was ACKed at once (%zu packets)\n", l.ba.n);
		l.ba.n = 0;
		l.ba.used = 0;
	}
	CHECK(ustack_send(l.a, afd, buf, seg, 0) == (ssize_t)seg);
	len = take_one(&l.ab);
	r = !strcmp(mode, "data_ack") ? bench_cg_measure(l.b, l.now, pkt, len) : ustack_input(l.b, l.now, pkt, len);
	CHECK(r == 0);
	len = take_one(&l.ba);
	CHECK(len == 40 || len == 52); /* a pure ACK: IPv4 and TCP headers, timestamps or not */
	r = !strcmp(mode, "ack") ? bench_cg_measure(l.a, l.now, pkt, len) : ustack_input(l.a, l.now, pkt, len);
	CHECK(r == 0);
	CHECK(ustack_recv(l.b, bfd, rbuf, sizeof(rbuf), 0) == (ssize_t)(primed + 2 * seg));
	fprintf(stderr, "bench_cg: %zu-byte segments, %zu-byte ACK\n", seg, len);
	printf("ok %s\n", mode);
	blink_fini(&l);
	return 0;
}
