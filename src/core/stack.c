/*
 * The stack instance: creation from a config (defaults are Linux's), the
 * entry points that take time from the caller, counters and their names.
 *
 * Time only moves forward: an entry point given an earlier `now` than one it
 * has seen keeps the later one, so a caller's clock that steps back never
 * makes a timer fire twice or a deadline move into the past.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/stack.h"
#include "ip/ip.h"

static void *default_alloc(void *ctx, void *ptr, size_t osize, size_t nsize)
{
	if (nsize == 0) {
		free(ptr);
		return NULL;
	}
	return realloc(ptr, nsize);
}

void *us_alloc(struct ustack *st, size_t size)
{
	void *p = st->cfg.alloc(st->cfg.alloc_ctx, NULL, 0, size);
	if (p)
		memset(p, 0, size);
	return p;
}

void *us_realloc(struct ustack *st, void *p, size_t osize, size_t nsize)
{
	return st->cfg.alloc(st->cfg.alloc_ctx, p, osize, nsize);
}

void us_free(struct ustack *st, void *p, size_t size)
{
	if (p)
		st->cfg.alloc(st->cfg.alloc_ctx, p, size, 0);
}

/* splitmix64: the seed fans out into every key and random choice the stack
 * makes, so one number reproduces a run. */
uint64_t us_random(struct ustack *st)
{
	uint64_t z = (st->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill_defaults(struct ustack_config *c)
{
#define DEF(field, value)                                                                                  \
	do {                                                                                               \
		if (!c->field)                                                                             \
			c->field = (value);                                                                \
	} while (0)
	DEF(netmask, 0xffffff00u);
	DEF(mtu, 1500);
	DEF(alloc, default_alloc);
	DEF(max_sockets, 65536);
	DEF(max_conns, 262144);
	DEF(somaxconn, 4096);
	DEF(tcp_rmem, 6291456);
	DEF(tcp_wmem, 4194304);
	DEF(msl_ms, 30000);
	DEF(fin_timeout_ms, 60000);
	DEF(rto_initial_ms, 1000);
	DEF(rto_min_ms, 200);
	DEF(rto_max_ms, 120000);
	DEF(syn_retries, 6);
	DEF(synack_retries, 5);
	DEF(retries2, 15);
	DEF(ephemeral_lo, 32768);
	DEF(ephemeral_hi, 60999);
	DEF(ipfrag_max, 64);
	DEF(ipfrag_mem, 4194304);
	DEF(ipfrag_time_ms, 30000);
	DEF(icmp_msgs_per_sec, 1000);
	DEF(icmp_msgs_burst, 50);
#undef DEF
}

int ustack_create(const struct ustack_config *cfg, struct ustack **out)
{
	if (!cfg || !out || !cfg->output || cfg->addr == 0)
		return -EINVAL;
	struct ustack_config c = *cfg;
	fill_defaults(&c);
	if (c.mtu < 576 || c.ephemeral_lo > c.ephemeral_hi || c.ephemeral_lo == 0)
		return -EINVAL;
	struct ustack *st = c.alloc(c.alloc_ctx, NULL, 0, sizeof(*st));
	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof(*st));
	st->cfg = c;
	st->rng = c.seed;
	st->key_hash = (struct us_sipkey){ us_random(st), us_random(st) };
	st->key_isn = (struct us_sipkey){ us_random(st), us_random(st) };
	st->key_port = (struct us_sipkey){ us_random(st), us_random(st) };
	st->ip_id = (uint16_t)us_random(st);
	us_sysctl_init(st);
	int err = us_tcp_init(st);
	if (err) {
		c.alloc(c.alloc_ctx, st, sizeof(*st), 0);
		return err;
	}
	if (us_udp_init(st) || us_frag_init(st)) {
		us_udp_fini(st);
		us_frag_fini(st);
		us_tcp_fini(st);
		c.alloc(c.alloc_ctx, st, sizeof(*st), 0);
		return -ENOMEM;
	}
	us_icmp_init(st);
	*out = st;
	return 0;
}

void ustack_destroy(struct ustack *st)
{
	if (!st)
		return;
	us_socktab_fini(st);
	us_udp_fini(st);
	us_frag_fini(st);
	us_tcp_fini(st);
	st->cfg.alloc(st->cfg.alloc_ctx, st, sizeof(*st), 0);
}

static void advance(struct ustack *st, ustack_time_t now)
{
	if (now > st->now)
		st->now = now;
}

/*
 * Built with -DUSTACK_ASSERT_INVARIANTS (the fuzz targets are), the entry
 * points that take packets or run timers check the whole stack when they
 * are done and abort at the first broken invariant (check.c), so that a
 * fuzzer finds logic errors the way it finds memory errors. The check
 * walks every connection, and its report goes to stderr: a debug build's
 * business only, never a release's.
 */
static void assert_invariants(struct ustack *st, const char *where)
{
#ifdef USTACK_ASSERT_INVARIANTS
	char why[256];
	if (us_check_invariants(st, why, sizeof(why))) {
		fprintf(stderr, "ustack: invariant broken after %s: %s\n", where, why);
		abort();
	}
#else
	(void)st;
	(void)where;
#endif
}

int ustack_input_flags(struct ustack *st, ustack_time_t now, const void *pkt, size_t len, unsigned flags)
{
	if (!st || (!pkt && len) || (flags & ~USTACK_RX_CSUM_OK))
		return -EINVAL;
	advance(st, now);
	st->rx_csum_ok = (flags & USTACK_RX_CSUM_OK) != 0;
	us_ip_input(st, pkt, len);
	st->rx_csum_ok = false;
	assert_invariants(st, "ustack_input");
	return 0;
}

int ustack_input(struct ustack *st, ustack_time_t now, const void *pkt, size_t len)
{
	return ustack_input_flags(st, now, pkt, len, 0);
}

ustack_time_t ustack_poll(struct ustack *st, ustack_time_t now)
{
	advance(st, now);
	us_tcp_timers_run(st);
	us_frag_expire(st);
	assert_invariants(st, "ustack_poll");
	return ustack_next_deadline(st);
}

ustack_time_t ustack_next_deadline(const struct ustack *st)
{
	ustack_time_t tcp = us_tcp_next_deadline(st), frag = us_frag_next_deadline(st);
	return frag < tcp ? frag : tcp;
}

ustack_time_t ustack_now(const struct ustack *st)
{
	return st->now;
}

uint32_t ustack_addr(const struct ustack *st)
{
	return st->cfg.addr;
}

uint64_t ustack_stat(const struct ustack *st, enum ustack_stat which)
{
	if ((unsigned)which >= USTACK_STAT__COUNT)
		return 0;
	return st->stats[which];
}

const char *ustack_stat_name(enum ustack_stat which)
{
	static const char *const names[] = {
#define NAME_(id, name) name,
		USTACK_STATS(NAME_)
#undef NAME_
	};
	if ((unsigned)which >= USTACK_STAT__COUNT)
		return "?";
	return names[which];
}

const char *ustack_tcp_state_name(enum ustack_tcp_state s)
{
	/* The names netstat and the article use. */
	static const char *const names[] = {
		"CLOSED",      "LISTEN",     "SYN_SENT",   "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
		"FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",    "LAST_ACK",     "TIME_WAIT",
	};
	if ((unsigned)s >= USTACK_TCP__STATE_COUNT)
		return "?";
	return names[s];
}

void us_event_conn(struct ustack_event *ev, const struct us_tcb *tcb)
{
	ev->fd = tcb ? tcb->fd : -1;
	if (!tcb)
		return;
	ev->laddr = tcb->n.t.laddr;
	ev->raddr = tcb->n.t.raddr;
	ev->lport = tcb->n.t.lport;
	ev->rport = tcb->n.t.rport;
	ev->iss = tcb->iss;
	ev->irs = tcb->irs;
	ev->has_iss = tcb->state != USTACK_TCP_CLOSED && tcb->state != USTACK_TCP_LISTEN;
	ev->has_irs = tcb->state != USTACK_TCP_CLOSED && tcb->state != USTACK_TCP_LISTEN &&
		      tcb->state != USTACK_TCP_SYN_SENT;
}

void us_drop(struct ustack *st, enum ustack_stat reason, const struct ustack_tcp_segment *seg,
	     const struct us_tcb *tcb)
{
	us_count(st, reason);
	if (US_TRACING(st)) {
		struct ustack_event ev = { .type = USTACK_EV_DROP, .drop = reason, .seg = seg };
		us_event_conn(&ev, tcb);
		if (!tcb && seg) {
			ev.laddr = seg->daddr;
			ev.raddr = seg->saddr;
			ev.lport = seg->dport;
			ev.rport = seg->sport;
		}
		us_trace(st, &ev);
	}
}
