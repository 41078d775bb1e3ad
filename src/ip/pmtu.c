/*
 * What path MTU discovery (RFC 1191) has learned, per destination: Linux's
 * next-hop exceptions (fnhe), which keep a lowered MTU for
 * net.ipv4.route.mtu_expires seconds so that every connection to that
 * destination, current or new, sends segments that fit.
 *
 * The table is bounded: a fixed array of US_PMTU_BUCKETS buckets of
 * US_PMTU_WAYS entries, a destination's bucket chosen by a keyed hash.
 * A new destination in a full bucket takes the place of the entry that
 * expires first (Linux's fnhe_oldest, at most FNHE_RECLAIM_DEPTH per
 * chain), counted under ip.pmtu.evicted. Only an ICMP that tcp_icmp.c
 * has matched to a connection and a segment it has in flight writes here,
 * so a blind flood for many destinations cannot grow it, and a lost entry
 * costs one more "fragmentation needed" from the path.
 *
 * Entries are read at connection setup (us_tcp_pmtu_init) and whenever
 * the table's generation moved on or the connection's entry expired
 * (us_tcp_pmtu_check), so a change reaches every connection at its next
 * output.
 */
#include "core/siphash.h"
#include "core/stack.h"
#include "ip/ip.h"

static uint32_t bucket(const struct ustack *st, uint32_t dst)
{
	return (uint32_t)us_siphash(&st->key_hash, &dst, sizeof(dst)) & (US_PMTU_BUCKETS - 1);
}

static ustack_time_t lifetime(const struct ustack *st)
{
	return USTACK_SEC((ustack_time_t)st->sys.route_mtu_expires);
}

/* The live entry for dst, or NULL; an expired one found on the way is
 * freed (the route's MTU is the device's again). */
static struct us_pmtu_ent *find(struct ustack *st, uint32_t dst)
{
	struct us_pmtu_ent *b = &st->pmtu.e[bucket(st, dst) * US_PMTU_WAYS];
	for (int i = 0; i < US_PMTU_WAYS; i++) {
		if (!b[i].mtu || b[i].dst != dst)
			continue;
		if (st->now < b[i].expires)
			return &b[i];
		b[i].mtu = 0;
		st->pmtu.n--;
		st->pmtu.gen++;
		us_count(st, USTACK_STAT_IP_PMTU_EXPIRED);
		return NULL;
	}
	return NULL;
}

uint32_t us_pmtu_get(struct ustack *st, uint32_t dst, bool *locked, ustack_time_t *expires)
{
	struct us_pmtu_ent *e = find(st, dst);
	if (locked)
		*locked = e && e->locked;
	if (expires)
		*expires = e ? e->expires : USTACK_TIME_NEVER;
	return e ? e->mtu : st->cfg.mtu;
}

/*
 * Linux's __ip_rt_update_pmtu: an MTU is only ever lowered by a message;
 * one below net.ipv4.route.min_pmtu (an old router's 0 included, RFC 1191
 * 5's plateaus are not guessed) is taken as min_pmtu and locked, so that
 * segments of that size leave with DF clear and the path fragments them.
 * The same MTU again renews the entry once half its life has passed.
 */
uint32_t us_pmtu_update(struct ustack *st, uint32_t dst, uint32_t mtu)
{
	bool locked;
	ustack_time_t exp;
	uint32_t old = us_pmtu_get(st, dst, &locked, &exp);
	bool lock = false;
	if (old < mtu)
		return old;
	if (mtu < st->sys.route_min_pmtu) {
		lock = true;
		mtu = old < st->sys.route_min_pmtu ? old : st->sys.route_min_pmtu;
		us_count(st, USTACK_STAT_IP_PMTU_CLAMPED);
	}
	ustack_time_t until = st->now + lifetime(st);
	/* The link's own MTU needs no entry. */
	if (old == mtu && !lock && (exp == USTACK_TIME_NEVER || st->now < exp - lifetime(st) / 2))
		return old;
	if (!lifetime(st))
		return old; /* mtu_expires 0: nothing is learned at all */
	struct us_pmtu_ent *e = find(st, dst);
	if (!e) {
		struct us_pmtu_ent *b = &st->pmtu.e[bucket(st, dst) * US_PMTU_WAYS];
		for (int i = 0; i < US_PMTU_WAYS; i++) {
			if (!b[i].mtu || st->now >= b[i].expires) {
				e = &b[i];
				break;
			}
			if (!e || b[i].expires < e->expires)
				e = &b[i];
		}
		if (e->mtu && st->now < e->expires)
			us_count(st, USTACK_STAT_IP_PMTU_EVICTED);
		if (!e->mtu)
			st->pmtu.n++;
		e->dst = dst;
		e->mtu = 0; /* a new entry: it changes */
	}
	if (e->mtu != mtu || e->locked != lock) {
		e->mtu = (uint16_t)mtu;
		e->locked = lock;
		st->pmtu.gen++;
		us_count(st, USTACK_STAT_IP_PMTU_LEARNED);
	}
	/* A renewal alone: connections holding the old expiry look again
	 * then, and find this. */
	e->expires = until;
	return mtu;
}
