/*
 * bench/link.h: two ustack instances joined by a direct in-memory link.
 *
 * Each stack's output callback copies the packet into a bounded FIFO (one
 * per direction); blink_pump hands every queued packet to the other stack's
 * ustack_input until both FIFOs are empty. The link has its own clock, a
 * counter the benchmark advances (no simulator, no wall clock in the core).
 */
#ifndef BENCH_LINK_H
#define BENCH_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <ustack/socket.h>
#include <ustack/ustack.h>

#define BLINK_ADDR_A 0xC6120001u /* 198.18.0.1 */
#define BLINK_ADDR_B 0xC6120002u /* 198.18.0.2 */

struct blink_q {
	uint8_t *buf;
	size_t cap, used;  /* bytes */
	uint32_t *off, *len;
	size_t n, max;     /* packets */
	uint64_t drops;    /* packets refused because the FIFO was full */
	uint64_t pkts;     /* packets delivered */
};

struct blink {
	struct ustack *a, *b;
	struct blink_q ab, ba; /* a -> b, b -> a */
	ustack_time_t now;
};

/* Fills in addr, output and output_ctx of copies of cfg_a and cfg_b (either
 * may be NULL) and creates both stacks. Returns 0 or a negative errno. */
int blink_init(struct blink *l, const struct ustack_config *cfg_a, const struct ustack_config *cfg_b);
void blink_fini(struct blink *l);
/* Delivers until both FIFOs are empty; returns the packets delivered. */
uint64_t blink_pump(struct blink *l);
/* Moves the clock on by dt and runs both stacks' due timers. */
void blink_advance(struct blink *l, ustack_time_t dt);
/* Jumps to the earlier deadline of the two stacks and runs it; returns -1 when
 * neither has one. */
int blink_jump(struct blink *l);

/* Connects a socket of A to B's listener on port and accepts it on B;
 * *afd and *bfd receive the descriptors. Returns 0 or a negative errno. */
int blink_connect(struct blink *l, int lfd, uint16_t port, int *afd, int *bfd);
/* A listening socket of B on port (backlog 4096). */
int blink_listen(struct blink *l, uint16_t port);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_ns(void);
/* getenv as an unsigned number, or def. */
uint64_t bench_env(const char *name, uint64_t def);

#endif
