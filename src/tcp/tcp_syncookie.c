/*
 * SYN cookies (RFC 4987 3.6): when a listener's SYN queue is full, the
 * SYN-ACK's sequence number carries what the connection needs, and nothing
 * is kept; an ACK that returns it proves the peer's address and lets the
 * connection be made then (tcp_input.c).
 *
 * The sequence number, in RFC 4987's layout:
 *   bits 31-27  a minute counter, modulo 32
 *   bits 26-24  an index into a table of MSS values (the largest entry
 *               not above the peer's MSS; Linux's four)
 *   bits 23-0   a keyed SipHash of the four-tuple, the peer's ISN, the
 *               full counter and the index
 * An ACK is believed for three minutes (Linux's MAX_SYNCOOKIE_AGE: the
 * current counter and the two before it).
 *
 * Window scale and SACK-permitted do not fit there. When timestamps are on,
 * they ride in the low 6 bits of our TSval, which the peer echoes in every
 * ACK, as Linux does: bits 0-3 the peer's shift (15: none), bit 4 SACK.
 * The TSval goes back up to 63 ms so as never to run ahead of the clock.
 * Without timestamps, a cookie connection has neither.
 */
#include "core/stack.h"

#define COOKIE_TICK USTACK_SEC(60)
#define COOKIE_MAX_AGE 2 /* ticks before the current one still believed */
#define COOKIE_HASH_MASK 0xffffffu

/* The MSS values a cookie can carry: Linux's msstab, so that a cookie
 * connection sends the segments Linux's would (1300 for a peer's 1400).
 * RFC 4987's three bits would hold eight. */
static const uint16_t mss_table[] = { 536, 1300, 1440, 1460 };
#define MSS_N (sizeof(mss_table) / sizeof(mss_table[0]))

#define TS_OPT_BITS 6
#define TS_OPT_WS_NONE 0xf
#define TS_OPT_SACK 0x10

static uint32_t counter(const struct ustack *st)
{
	return (uint32_t)(st->now / COOKIE_TICK);
}

static uint32_t cookie_hash(struct ustack *st, const struct us_tuple *t, uint32_t peer_isn, uint32_t count,
			    uint32_t idx)
{
	/* 24 bytes: never the same input as an ISN's or a TS offset's. */
	uint32_t k[6] = { t->laddr, t->raddr, (uint32_t)t->lport << 16 | t->rport, peer_isn, count, idx };
	return (uint32_t)us_siphash(&st->key_isn, k, sizeof(k)) & COOKIE_HASH_MASK;
}

uint32_t us_syncookie_isn(struct ustack *st, const struct us_tuple *t, uint32_t peer_isn, uint16_t peer_mss)
{
	uint32_t idx = 0;
	while (idx + 1 < MSS_N && mss_table[idx + 1] <= peer_mss)
		idx++;
	uint32_t c = counter(st);
	return (c & 31) << 27 | idx << 24 | cookie_hash(st, t, peer_isn, c, idx);
}

int us_syncookie_check(struct ustack *st, const struct us_tuple *t, uint32_t cookie, uint32_t peer_isn)
{
	uint32_t now = counter(st), idx = cookie >> 24 & 7;
	if (idx >= MSS_N)
		return -1;
	for (uint32_t age = 0; age <= COOKIE_MAX_AGE && age <= now; age++) {
		uint32_t c = now - age;
		if ((c & 31) == cookie >> 27)
			return cookie_hash(st, t, peer_isn, c, idx) == (cookie & COOKIE_HASH_MASK) ? mss_table[idx]
												    : -1;
	}
	return -1;
}

uint32_t us_syncookie_tsval(uint32_t clock, bool sack, bool ws, uint8_t wscale)
{
	uint32_t opts = (ws ? wscale : TS_OPT_WS_NONE) | (sack ? TS_OPT_SACK : 0);
	uint32_t ts = (clock & ~((1u << TS_OPT_BITS) - 1)) | opts;
	if ((int32_t)(ts - clock) > 0)
		ts -= 1u << TS_OPT_BITS;
	return ts;
}

bool us_syncookie_ts_decode(uint32_t ts, bool *sack, bool *ws, uint8_t *wscale)
{
	uint32_t w = ts & TS_OPT_WS_NONE;
	*sack = ts & TS_OPT_SACK;
	*ws = w != TS_OPT_WS_NONE;
	*wscale = (uint8_t)(*ws ? w : 0);
	/* RFC 7323 2.3 caps the shift at 14; 15 means none, so nothing else
	 * can be encoded, but a forged echo could try. */
	return !*ws || w <= 14;
}
