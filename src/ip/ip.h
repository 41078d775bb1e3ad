/*
 * The IPv4 layer of a stack: validation and demultiplexing of what arrives
 * (ipv4.c), reassembly of fragments (frag.c), ICMP (icmp.c), and the
 * header of what leaves, cut into fragments when it must be.
 */
#ifndef US_IP_IP_H
#define US_IP_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <ustack/ustack.h>

struct ustack;
struct us_ipv4;

/* ---- reassembly (frag.c) ---- */

/* One fragment's data, in its datagram's list ordered by offset. */
struct us_frag {
	struct us_frag *next;
	uint16_t off, len; /* bytes into the datagram's payload */
	uint8_t data[];
};

/* One datagram being put together (RFC 791 3.2: identified by source,
 * destination, protocol and identification). */
struct us_fragq {
	struct us_fragq *hnext;       /* hash chain */
	struct us_fragq *prev, *next; /* expiry queue, oldest first */
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	bool last_in;      /* the fragment without MF has arrived: total is known */
	uint8_t hdr_len;   /* the first fragment's header, 0 until it arrives */
	uint8_t hdr[60];
	uint32_t total;    /* payload length, once last_in */
	uint32_t max_end;  /* the furthest byte any fragment reached */
	uint32_t have;     /* payload bytes held (fragments never overlap) */
	uint32_t mem;      /* bytes charged to the table's budget */
	ustack_time_t deadline;
	struct us_frag *frags, *tail;
};

struct us_frag_table {
	struct us_fragq **hash;
	uint32_t hash_mask;
	struct us_fragq *oldest, *newest; /* creation order is deadline order */
	uint32_t count;
	size_t mem;
};

int us_frag_init(struct ustack *st);
void us_frag_fini(struct ustack *st);
/* Takes a fragment (pkt is the whole IP packet, ip its parsed header). A
 * datagram it completes is delivered at once, through us_ip_deliver. */
void us_frag_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip);
/* Drops the datagrams whose time is up (RFC 1122 3.3.2). */
void us_frag_expire(struct ustack *st);
ustack_time_t us_frag_next_deadline(const struct ustack *st);

/* ---- ICMP (icmp.c) ---- */

/* The token bucket that limits the errors sent (Linux's icmp_global). */
struct us_icmp_state {
	uint64_t credit_ns; /* one message costs 1e9 / icmp_msgs_per_sec */
	ustack_time_t last;
};

/* An ICMP error as the transport layers see it (RFC 1122 3.2.2, 4.1.3.3,
 * 4.2.3.9). */
struct us_icmp_err {
	uint8_t type, code;
	int err;    /* the errno it maps to, as Linux's icmp_err_convert */
	bool fatal; /* a hard error: it ends what it concerns */
	uint16_t mtu; /* fragmentation needed: the next hop's MTU (RFC 1191 4) */
};

void us_icmp_init(struct ustack *st);
void us_icmp_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip);
/*
 * Sends an error of this type and code about the datagram pkt[0..len)
 * (header included), unless RFC 1122 3.2.2 forbids it (a datagram to a
 * broadcast or multicast address, from an address that is not one host's,
 * a fragment other than the first, an ICMP error) or the rate limit
 * suppresses it (counted).
 */
void us_icmp_send_error(struct ustack *st, const uint8_t *pkt, size_t len, uint8_t type, uint8_t code);

/* ---- path MTUs learned (pmtu.c) ---- */

#define US_PMTU_BUCKETS 64 /* a power of two */
#define US_PMTU_WAYS 4

struct us_pmtu_ent {
	uint32_t dst;
	uint16_t mtu;        /* 0: the slot is free */
	bool locked;         /* clamped to min_pmtu: sent with DF clear */
	ustack_time_t expires;
};

struct us_pmtu_table {
	struct us_pmtu_ent e[US_PMTU_BUCKETS * US_PMTU_WAYS];
	uint32_t n;   /* slots in use */
	uint32_t gen; /* moves on at every change, so connections look again */
};

/* The path MTU to dst: what was learned and has not expired, or the
 * link's MTU (then locked is false and expires USTACK_TIME_NEVER).
 * locked and expires may be NULL when only the MTU is wanted. */
uint32_t us_pmtu_get(struct ustack *st, uint32_t dst, bool *locked, ustack_time_t *expires);
/* A "fragmentation needed" validated by the transport says the path to
 * dst takes at most mtu: returns the path MTU in effect afterwards. */
uint32_t us_pmtu_update(struct ustack *st, uint32_t dst, uint32_t mtu);

/* ---- IPv4 (ipv4.c) ---- */

void us_ip_input(struct ustack *st, const uint8_t *pkt, size_t len);
/* Hands a whole datagram (arrived whole, or reassembled) to its protocol. */
void us_ip_deliver(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip);
/* RFC 1122 3.2.1.3: a source no single host may have. */
bool us_ip_bad_source(const struct ustack *st, uint32_t src);
/* Whether dst is a broadcast address of the stack's network. */
bool us_ip_is_broadcast(const struct ustack *st, uint32_t dst);
/*
 * As us_ip_output (core/stack.h), with DF clear: a datagram larger than the
 * MTU leaves in fragments (RFC 791 3.2). UDP and ICMP send this way.
 */
void us_ip_output_frag(struct ustack *st, uint32_t dst, uint8_t proto, size_t l4_hdr_len,
		       const struct iovec *payload, int npayload, size_t payload_len);

#endif
