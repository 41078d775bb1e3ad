/*
 * Reassembly of IPv4 fragments (RFC 791 3.2, RFC 815, RFC 1122 3.3.2).
 *
 * A datagram in reassembly is found by a keyed hash of RFC 791's four
 * identifying fields, and keeps its fragments' data in a list ordered by
 * offset. Fragments never overlap in the list: a fragment that would
 * overlap another ends the whole datagram, as Linux has done since
 * FragmentSmack (CVE-2018-5391), for RFC 5722's reason (overlaps serve only
 * to slip different data past whoever inspected the first copy); an exact
 * duplicate, which a network can make innocently, is just dropped. Without
 * overlaps the datagram is complete exactly when the last fragment has come
 * and the bytes held add up to its end, so completion costs nothing to
 * check, and RFC 815's hole list is not needed.
 *
 * Everything is bounded, with Linux's limits as defaults: the number of
 * datagrams in reassembly (ipfrag_max), the bytes they hold, counted as
 * each fragment's allocation (ipfrag_mem, Linux's ipfrag_high_thresh), and
 * their time (ipfrag_time_ms, Linux's ipfrag_time): when those run out,
 * new fragments are refused, as in Linux since 4.17, rather than evicting
 * datagrams that may be nearly whole. The time limit is what frees room
 * again under a flood. A datagram given up is counted once, under the
 * reason that ended it; its held fragments go with it.
 */
#include <string.h>

#include "core/stack.h"
#include "ip/ip.h"
#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "wire/bytes.h"

#define HASH_MIN 16
#define HASH_MAX 65536
#define IP_MAX_LEN 65535

static uint32_t key_hash(const struct ustack *st, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto)
{
	uint32_t k[3] = { src, dst, (uint32_t)id << 8 | proto };
	return (uint32_t)us_siphash(&st->key_hash, k, sizeof(k));
}

int us_frag_init(struct ustack *st)
{
	struct us_frag_table *t = &st->frag;
	uint32_t n = HASH_MIN;
	while (n < st->cfg.ipfrag_max && n < HASH_MAX)
		n *= 2;
	t->hash = us_alloc(st, n * sizeof(*t->hash));
	if (!t->hash)
		return -1;
	t->hash_mask = n - 1;
	return 0;
}

static struct us_fragq **slot(struct ustack *st, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto)
{
	return &st->frag.hash[key_hash(st, src, dst, id, proto) & st->frag.hash_mask];
}

static struct us_fragq *find(struct ustack *st, const struct us_ipv4 *ip)
{
	for (struct us_fragq *q = *slot(st, ip->src, ip->dst, ip->id, ip->proto); q; q = q->hnext)
		if (q->src == ip->src && q->dst == ip->dst && q->id == ip->id && q->proto == ip->proto)
			return q;
	return NULL;
}

static void fq_free(struct ustack *st, struct us_fragq *q)
{
	struct us_frag_table *t = &st->frag;
	struct us_fragq **pp = slot(st, q->src, q->dst, q->id, q->proto);
	while (*pp != q)
		pp = &(*pp)->hnext;
	*pp = q->hnext;
	if (q->prev)
		q->prev->next = q->next;
	else
		t->oldest = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		t->newest = q->prev;
	for (struct us_frag *f = q->frags, *fn; f; f = fn) {
		fn = f->next;
		us_free(st, f, sizeof(*f) + f->len);
	}
	t->mem -= q->mem;
	t->count--;
	us_free(st, q, sizeof(*q));
}

/* Gives the whole datagram up, counted once under `why`. */
static void fq_kill(struct ustack *st, struct us_fragq *q, enum ustack_stat why)
{
	fq_free(st, q);
	us_drop(st, why, NULL, NULL);
}

void us_frag_fini(struct ustack *st)
{
	struct us_frag_table *t = &st->frag;
	if (!t->hash)
		return;
	while (t->oldest)
		fq_free(st, t->oldest);
	us_free(st, t->hash, (t->hash_mask + 1) * sizeof(*t->hash));
	t->hash = NULL;
}

static struct us_fragq *fq_new(struct ustack *st, const struct us_ipv4 *ip)
{
	struct us_frag_table *t = &st->frag;
	struct us_fragq *q = us_alloc(st, sizeof(*q));
	if (!q)
		return NULL;
	q->src = ip->src;
	q->dst = ip->dst;
	q->id = ip->id;
	q->proto = ip->proto;
	q->mem = sizeof(*q);
	/* Time only moves forward and every datagram gets the same time, so
	 * the newest always expires last: a FIFO is the deadline queue. */
	q->deadline = st->now + USTACK_MSEC(st->cfg.ipfrag_time_ms);
	struct us_fragq **pp = slot(st, ip->src, ip->dst, ip->id, ip->proto);
	q->hnext = *pp;
	*pp = q;
	q->prev = t->newest;
	if (t->newest)
		t->newest->next = q;
	else
		t->oldest = q;
	t->newest = q;
	t->count++;
	t->mem += q->mem;
	return q;
}

/* The last piece is in: the datagram is rebuilt as if it had arrived whole
 * (the first fragment's header, RFC 791 3.2) and delivered. */
static void reassemble(struct ustack *st, struct us_fragq *q)
{
	size_t hl = q->hdr_len, n = hl + q->total;
	if (n > IP_MAX_LEN) {
		/* Only possible when the first fragment's header is longer
		 * than the one that carried the end. */
		fq_kill(st, q, USTACK_STAT_DROP_IP_FRAG_TOO_BIG);
		return;
	}
	uint8_t *buf = us_realloc(st, NULL, 0, n);
	if (!buf) {
		fq_kill(st, q, USTACK_STAT_DROP_IP_FRAG_NO_MEMORY);
		return;
	}
	memcpy(buf, q->hdr, hl);
	for (const struct us_frag *f = q->frags; f; f = f->next)
		memcpy(buf + hl + f->off, f->data, f->len);
	us_put16(buf + 2, (uint16_t)n);
	us_put16(buf + 6, 0);
	us_put16(buf + 10, 0);
	uint16_t csum = us_csum_fold(us_csum_add(0, buf, hl));
	memcpy(buf + 10, &csum, sizeof(csum));
	fq_free(st, q);
	us_count(st, USTACK_STAT_IP_FRAG_REASSEMBLED);
	struct us_ipv4 ip;
	if (us_ipv4_parse(buf, n, false, &ip) == 0)
		us_ip_deliver(st, buf, &ip);
	us_free(st, buf, n);
}

void us_frag_input(struct ustack *st, const uint8_t *pkt, const struct us_ipv4 *ip)
{
	struct us_frag_table *t = &st->frag;
	uint32_t off = (uint32_t)(ip->frag & US_IPV4_OFFMASK) * 8;
	uint32_t len = (uint32_t)ip->payload_len;
	uint32_t end = off + len;
	bool more = (ip->frag & US_IPV4_MF) != 0;

	us_count(st, USTACK_STAT_IP_FRAG_IN);
	struct us_fragq *q = find(st, ip);
	/* The Ping of Death: pieces that add up to more than an IPv4
	 * datagram can hold. Nothing whole can come of them. */
	if (ip->hdr_len + end > IP_MAX_LEN) {
		if (q)
			fq_free(st, q);
		us_drop(st, USTACK_STAT_DROP_IP_FRAG_TOO_BIG, NULL, NULL);
		return;
	}
	/* RFC 791 3.2: every fragment but the last carries a multiple of 8
	 * bytes, and an empty fragment carries nothing to put anywhere. */
	if (len == 0 || (more && (len & 7))) {
		us_drop(st, USTACK_STAT_DROP_IP_FRAG_BAD_LENGTH, NULL, NULL);
		return;
	}
	bool created = false;
	if (!q) {
		if (t->count >= st->cfg.ipfrag_max) {
			us_drop(st, USTACK_STAT_DROP_IP_FRAG_LIMIT, NULL, NULL);
			return;
		}
		if (t->mem + sizeof(*q) + sizeof(struct us_frag) + len > st->cfg.ipfrag_mem) {
			us_drop(st, USTACK_STAT_DROP_IP_FRAG_MEM, NULL, NULL);
			return;
		}
		q = fq_new(st, ip);
		if (!q) {
			us_drop(st, USTACK_STAT_DROP_IP_FRAG_NO_MEMORY, NULL, NULL);
			return;
		}
		created = true;
	}
	/* The end, once known, is fixed: a second last fragment that
	 * disagrees, or any piece past it, means the pieces are not of one
	 * datagram (Linux's ip_frag_queue). */
	if ((!more && (end < q->max_end || (q->last_in && end != q->total))) ||
	    (more && q->last_in && end > q->total)) {
		fq_kill(st, q, USTACK_STAT_DROP_IP_FRAG_INCONSISTENT);
		return;
	}
	/* Where it goes: after prev, before cur. Arrival in order is the
	 * common case, so the tail is tried first. */
	struct us_frag *prev = NULL, *cur = q->frags;
	if (q->tail && q->tail->off + q->tail->len <= off) {
		prev = q->tail;
		cur = NULL;
	} else {
		while (cur && cur->off < off) {
			prev = cur;
			cur = cur->next;
		}
	}
	if (cur && cur->off == off && cur->len == len) {
		us_drop(st, USTACK_STAT_DROP_IP_FRAG_DUPLICATE, NULL, NULL);
		return;
	}
	if ((prev && prev->off + prev->len > off) || (cur && cur->off < end)) {
		fq_kill(st, q, USTACK_STAT_DROP_IP_FRAG_OVERLAP);
		return;
	}
	size_t charge = sizeof(struct us_frag) + len;
	struct us_frag *f = NULL;
	enum ustack_stat why = USTACK_STAT_DROP_IP_FRAG_MEM;
	if (t->mem + charge <= st->cfg.ipfrag_mem) {
		why = USTACK_STAT_DROP_IP_FRAG_NO_MEMORY;
		f = us_realloc(st, NULL, 0, charge);
	}
	if (!f) {
		if (created)
			fq_free(st, q); /* holds nothing: no datagram to give up */
		us_drop(st, why, NULL, NULL);
		return;
	}
	f->off = (uint16_t)off;
	f->len = (uint16_t)len;
	memcpy(f->data, ip->payload, len);
	f->next = cur;
	if (prev)
		prev->next = f;
	else
		q->frags = f;
	if (!cur)
		q->tail = f;
	q->have += len;
	q->mem += (uint32_t)charge;
	t->mem += charge;
	if (end > q->max_end)
		q->max_end = end;
	if (!more) {
		q->last_in = true;
		q->total = end;
	}
	if (off == 0) {
		q->hdr_len = ip->hdr_len;
		memcpy(q->hdr, pkt, ip->hdr_len);
	}
	if (q->last_in && q->have == q->total)
		reassemble(st, q);
}

void us_frag_expire(struct ustack *st)
{
	struct us_fragq *q;
	while ((q = st->frag.oldest) && q->deadline <= st->now) {
		/* RFC 1122 3.3.2: the source MUST hear of it, by Time
		 * Exceeded, if fragment zero arrived (only it says which
		 * datagram this was). The quote is that fragment's header and
		 * the start of its data, as us_icmp_send_error would cut it. */
		if (q->hdr_len) {
			uint8_t quote[576];
			size_t n = q->frags->len;
			if (n > sizeof(quote) - q->hdr_len)
				n = sizeof(quote) - q->hdr_len;
			memcpy(quote, q->hdr, q->hdr_len);
			memcpy(quote + q->hdr_len, q->frags->data, n);
			us_icmp_send_error(st, quote, q->hdr_len + n, US_ICMP_TIME_EXCEEDED, US_ICMP_EXC_FRAGTIME);
		}
		fq_kill(st, q, USTACK_STAT_DROP_IP_FRAG_TIMEOUT);
	}
}

ustack_time_t us_frag_next_deadline(const struct ustack *st)
{
	return st->frag.oldest ? st->frag.oldest->deadline : USTACK_TIME_NEVER;
}
