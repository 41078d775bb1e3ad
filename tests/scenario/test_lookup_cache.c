/*
 * The one-entry lookup cache in front of the connection table (tcp_conn.c,
 * st->tcp.last). It may only ever answer what the table would: each test
 * gets a connection into the cache, then takes that block away in one of
 * the ways a block leaves the table (TIME_WAIT's record replacing it, a
 * reset, a close that frees it) and brings a new connection onto the same
 * four-tuple. A cache that kept the old block would hand the new
 * connection's segments to a closed or freed block; the invariant check
 * (check.c) would see it, and the new connection would not open or would
 * not get its data.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"

#define F_SYN USTACK_TCP_SYN
#define F_ACK USTACK_TCP_ACK
#define F_FIN USTACK_TCP_FIN
#define F_RST USTACK_TCP_RST
#define F_PSH USTACK_TCP_PSH

#define LPORT 9999
#define PPORT 40000

static struct tpeer p;

static void setup(void)
{
	tpeer_init(&p, NULL);
}

static void teardown(void)
{
	tpeer_fini(&p);
}

TestSuite(lookup_cache, .init = setup, .fini = teardown);

static void check(void)
{
	char why[256];
	cr_assert(!us_check_invariants(p.st, why, sizeof(why)), "%s; trace:\n%s", why, p.trace);
}

static const struct tseg *next_seg(void)
{
	const struct tseg *s = tpeer_next(&p);
	cr_assert(s, "expected a segment; trace:\n%s", p.trace);
	return s;
}

/* The cache holds the connection from the peer's port `pport`. */
static void expect_cached(uint16_t pport)
{
	const struct us_node *n = p.st->tcp.last;
	cr_assert(n, "nothing cached; trace:\n%s", p.trace);
	cr_assert_eq(n->kind, US_NODE_TCB);
	cr_assert_eq(n->t.rport, pport, "cached port %u, want %u", n->t.rport, pport);
	cr_assert_eq(n->t.lport, LPORT);
	check();
}

/* Peer's SYN from PPORT at piss, the stack's SYN-ACK, the peer's ACK,
 * accept: the new connection's fd; *iss the stack's ISN. */
static int open_from_peer(int lfd, uint32_t piss, uint32_t *iss)
{
	tpeer_send(&p, PPORT, LPORT, F_SYN, piss, 0, 65535, NULL, 0, NULL);
	const struct tseg *sa = next_seg();
	cr_assert_eq(sa->h.flags, F_SYN | F_ACK, "flags %#x; trace:\n%s", sa->h.flags, p.trace);
	cr_assert_eq(sa->h.ack, piss + 1);
	*iss = sa->h.seq;
	tpeer_send(&p, PPORT, LPORT, F_ACK, piss + 1, *iss + 1, 65535, NULL, 0, NULL);
	int fd = ustack_accept(p.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0, "accept: %d; trace:\n%s", fd, p.trace);
	check();
	return fd;
}

/* The peer sends `msg` at seq; the stack ACKs it, and fd reads it back. */
static void data_reaches(int fd, uint32_t seq, uint32_t iss, const char *msg)
{
	size_t len = strlen(msg);
	tpeer_send(&p, PPORT, LPORT, F_ACK | F_PSH, seq, iss + 1, 65535, msg, len, NULL);
	const struct tseg *a = next_seg();
	cr_assert_eq(a->h.flags, F_ACK, "flags %#x; trace:\n%s", a->h.flags, p.trace);
	cr_assert_eq(a->h.seq, iss + 1, "ACK from the wrong connection: seq %u, iss %u", a->h.seq, iss);
	cr_assert_eq(a->h.ack, seq + len);
	char buf[64] = { 0 };
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), (long)len, "trace:\n%s", p.trace);
	cr_assert_str_eq(buf, msg);
	expect_cached(PPORT);
}

/* The stack closes first; its block gives way to a TIME_WAIT record. A new
 * SYN above the old sequence space reopens the tuple (RFC 9293 3.10.7.4
 * note), and the new connection must get its own data. */
Test(lookup_cache, timewait_record_replaces_the_cached_block)
{
	int lfd = t_listen(p.st, 0, LPORT, 4);
	cr_assert_geq(lfd, 0);
	uint32_t piss = 1000, iss;
	int fd = open_from_peer(lfd, piss, &iss);
	data_reaches(fd, piss + 1, iss, "old");
	cr_assert_eq(ustack_close(p.st, fd), 0);
	const struct tseg *f = next_seg();
	cr_assert_eq(f->h.flags, F_FIN | F_ACK);
	tpeer_send(&p, PPORT, LPORT, F_ACK, piss + 4, iss + 2, 65535, NULL, 0, NULL);
	tpeer_send(&p, PPORT, LPORT, F_FIN | F_ACK, piss + 4, iss + 2, 65535, NULL, 0, NULL);
	const struct tseg *a = next_seg();
	cr_assert_eq(a->h.flags, F_ACK);
	cr_assert_null(p.st->tcp.last, "the block is gone, the cache still holds it");
	check();

	uint32_t piss2 = piss + 100000, iss2;
	int fd2 = open_from_peer(lfd, piss2, &iss2);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEWAIT_RECYCLED), 1);
	data_reaches(fd2, piss2 + 1, iss2, "new");
}

/* A reset takes the block out of the table while its socket stays open:
 * a stale cache would hand the next SYN on the tuple to a closed block,
 * which drops it. */
Test(lookup_cache, reset_block_leaves_the_cache)
{
	int lfd = t_listen(p.st, 0, LPORT, 4);
	uint32_t piss = 1000, iss;
	int fd = open_from_peer(lfd, piss, &iss);
	data_reaches(fd, piss + 1, iss, "old");
	tpeer_send(&p, PPORT, LPORT, F_RST, piss + 4, 0, 0, NULL, 0, NULL);
	cr_assert_null(p.st->tcp.last, "a reset block stays cached");
	check();

	uint32_t piss2 = 777777, iss2;
	int fd2 = open_from_peer(lfd, piss2, &iss2);
	data_reaches(fd2, piss2 + 1, iss2, "new");
	char buf[8];
	cr_assert_lt(ustack_recv(p.st, fd, buf, sizeof(buf), 0), 0, "the old socket got data");
	cr_assert_eq(ustack_close(p.st, fd), 0);
	check();
	data_reaches(fd2, piss2 + 4, iss2, "more");
}

/* Closing with unread data resets and frees the block at once (RFC 2525
 * 2.17, as Linux does): the cache must not keep the freed memory. */
Test(lookup_cache, block_freed_while_cached)
{
	int lfd = t_listen(p.st, 0, LPORT, 4);
	uint32_t piss = 1000, iss;
	int fd = open_from_peer(lfd, piss, &iss);
	tpeer_send(&p, PPORT, LPORT, F_ACK | F_PSH, piss + 1, iss + 1, 65535, "unread", 6, NULL);
	cr_assert_eq(next_seg()->h.flags, F_ACK);
	expect_cached(PPORT);
	cr_assert_eq(ustack_close(p.st, fd), 0);
	const struct tseg *r = next_seg();
	cr_assert(r->h.flags & F_RST, "flags %#x; trace:\n%s", r->h.flags, p.trace);
	cr_assert_null(p.st->tcp.last, "a freed block stays cached");
	check();

	/* A segment of the old connection now finds nothing but the
	 * listener, and is answered with a reset. */
	tpeer_send(&p, PPORT, LPORT, F_ACK, piss + 7, iss + 1, 65535, NULL, 0, NULL);
	r = next_seg();
	cr_assert(r->h.flags & F_RST, "flags %#x; trace:\n%s", r->h.flags, p.trace);
	check();

	uint32_t piss2 = 5555, iss2;
	int fd2 = open_from_peer(lfd, piss2, &iss2);
	data_reaches(fd2, piss2 + 1, iss2, "new");
}

/* Listeners stay out of the cache: a SYN from elsewhere does not evict a
 * busy connection, and the cache never answers for the listener's tuple. */
Test(lookup_cache, listener_lookups_keep_the_connection)
{
	int lfd = t_listen(p.st, 0, LPORT, 4);
	uint32_t piss = 1000, iss;
	int fd = open_from_peer(lfd, piss, &iss);
	data_reaches(fd, piss + 1, iss, "one");
	tpeer_send(&p, PPORT + 1, LPORT, F_SYN, 42, 0, 65535, NULL, 0, NULL);
	cr_assert_eq(next_seg()->h.flags, F_SYN | F_ACK);
	expect_cached(PPORT);
	data_reaches(fd, piss + 4, iss, "two");
}
