/*
 * Control blocks and the tables that find them.
 *
 * Connections are found by a keyed hash of the four-tuple (DESIGN-NOTES 3);
 * listeners sit in the same table with a zero remote half, so the common
 * case, a segment for an existing connection, costs one hash and one short
 * chain, and only a miss looks further. The key comes from the stack's seed,
 * so an attacker cannot aim packets at one chain. In front of the hash sits
 * a one-entry cache of the last connection found, as 4.4BSD's
 * tcp_last_inpcb: a bulk transfer's segments all belong to one connection,
 * and comparing a tuple costs far less than SipHash (bench/RESULTS.md
 * item 5).
 *
 * Local ports are counted per port in buckets (struct us_bind_bucket). The
 * bind rule is Linux's, as measured on the kernel this project runs on: a
 * bind to a port someone holds, TIME_WAIT included, succeeds only if the new
 * socket and every holder set SO_REUSEADDR and no holder listens; the
 * TIME_WAIT record keeps the flag of the socket it came from, and an accepted
 * connection inherits its listener's.
 */
#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"

#define HASH_MIN 64

static uint32_t tuple_hash(const struct ustack *st, const struct us_tuple *t)
{
	uint32_t k[3] = { t->laddr, t->raddr, ((uint32_t)t->lport << 16) | t->rport };
	return (uint32_t)us_siphash(&st->key_hash, k, sizeof(k));
}

static bool tuple_eq(const struct us_tuple *a, const struct us_tuple *b)
{
	return a->laddr == b->laddr && a->raddr == b->raddr && a->lport == b->lport && a->rport == b->rport;
}

int us_tcp_init(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	tl->hash = us_alloc(st, HASH_MIN * sizeof(*tl->hash));
	tl->ports = us_alloc(st, HASH_MIN * sizeof(*tl->ports));
	if (!tl->hash || !tl->ports) {
		us_free(st, tl->hash, HASH_MIN * sizeof(*tl->hash));
		us_free(st, tl->ports, HASH_MIN * sizeof(*tl->ports));
		return -ENOMEM;
	}
	tl->hash_mask = HASH_MIN - 1;
	tl->ports_mask = HASH_MIN - 1;
	for (size_t i = 0; i < sizeof(tl->port_perturb) / sizeof(tl->port_perturb[0]); i++)
		tl->port_perturb[i] = (uint32_t)us_random(st);
	return 0;
}

/* A listener's queues, emptied before anything is freed: hashed children
 * are freed with the hash, the rest (reset while waiting) only live here. */
static void detach_children(struct ustack *st, struct us_listen *lq)
{
	struct us_tcb *heads[2] = { lq->acc_head, lq->syn_head };
	for (int q = 0; q < 2; q++) {
		struct us_tcb *c = heads[q];
		while (c) {
			struct us_tcb *next = c->qnext;
			c->parent = NULL;
			c->in_accq = false;
			c->qprev = c->qnext = NULL;
			if (!c->n.in_hash)
				us_tcb_free(st, c);
			c = next;
		}
	}
	lq->acc_head = lq->acc_tail = lq->syn_head = NULL;
	lq->nacc = lq->nsyn = 0;
}

void us_tcp_fini(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	tl->last = NULL; /* the blocks go without us_tcp_hash_remove */
	/* Two passes: children are reachable both from the hash and from their
	 * listener, so the queues are taken apart before any block goes. */
	for (uint32_t i = 0; i <= tl->hash_mask; i++)
		for (struct us_node *n = tl->hash[i]; n; n = n->hnext)
			if (n->kind == US_NODE_TCB && ((struct us_tcb *)n)->lq)
				detach_children(st, ((struct us_tcb *)n)->lq);
	for (uint32_t i = 0; i <= tl->hash_mask; i++) {
		struct us_node *n = tl->hash[i];
		while (n) {
			struct us_node *next = n->hnext;
			n->in_hash = 0;
			if (n->kind == US_NODE_TW) {
				us_tw_free(st, (struct us_tw *)n);
			} else {
				struct us_tcb *tcb = (struct us_tcb *)n;
				tcb->fd = -1;
				us_tcb_free(st, tcb);
			}
			n = next;
		}
	}
	us_free(st, tl->hash, (tl->hash_mask + 1) * sizeof(*tl->hash));
	for (uint32_t i = 0; i <= tl->ports_mask; i++) {
		struct us_bind_bucket *b = tl->ports[i];
		while (b) {
			struct us_bind_bucket *next = b->next;
			us_free(st, b, sizeof(*b));
			b = next;
		}
	}
	us_free(st, tl->ports, (tl->ports_mask + 1) * sizeof(*tl->ports));
	us_free(st, tl->heap, tl->heap_cap * sizeof(*tl->heap));
}

struct us_tcb *us_tcb_new(struct ustack *st)
{
	if (st->tcp.nconns >= st->cfg.max_conns || us_tcp_timer_reserve(st, st->tcp.nconns + 1))
		return NULL;
	struct us_tcb *tcb = us_alloc(st, sizeof(*tcb));
	if (!tcb)
		return NULL;
	st->tcp.nconns++;
	tcb->n.kind = US_NODE_TCB;
	tcb->fd = -1;
	tcb->state = USTACK_TCP_CLOSED;
	/* Linux's tcp_init_sock: tcp_rmem[1] and tcp_wmem[1] until the
	 * connection is up and autotuning takes them toward [2]
	 * (us_tcp_rcv_space_adjust, us_tcp_sndbuf_expand). Linux would start
	 * above [2] if [1] were larger; here [2] is also the configured bound
	 * on a buffer's memory, so it is kept. */
	tcb->rcvbuf = st->sys.tcp_rmem[1] < st->sys.tcp_rmem[2] ? st->sys.tcp_rmem[1] : st->sys.tcp_rmem[2];
	tcb->sndbuf = st->sys.tcp_wmem[1] < st->sys.tcp_wmem[2] ? st->sys.tcp_wmem[1] : st->sys.tcp_wmem[2];
	tcb->heap_idx = US_HEAP_NONE;
	for (int i = 0; i < US_TM__COUNT; i++)
		tcb->tm[i] = USTACK_TIME_NEVER;
	us_tcp_rto_init(st, tcb);
	/* net.ipv4.tcp_congestion_control; TCP_CONGESTION may change it. */
	tcb->cc = us_cc_find(st->sys.tcp_congestion_control);
	if (!tcb->cc)
		tcb->cc = &us_cc_cubic;
	/* Linux reads the keepalive sysctls when the timer runs, for sockets
	 * without TCP_KEEPIDLE & co.; ustack takes them at creation. */
	tcb->ka_idle = st->sys.tcp_keepalive_time;
	tcb->ka_intvl = st->sys.tcp_keepalive_intvl;
	tcb->ka_cnt = (uint8_t)st->sys.tcp_keepalive_probes;
	return tcb;
}

void us_tcb_free(struct ustack *st, struct us_tcb *tcb)
{
	if (tcb->n.in_hash)
		us_tcp_hash_remove(st, &tcb->n);
	us_tcb_timer_forget(st, tcb);
	us_port_release(st, &tcb->port);
	/* Released, not just freed: the stack counts ring memory (tcp_mem). */
	us_ring_release(st, &tcb->sndq);
	us_ring_release(st, &tcb->rcvq);
	us_reass_free(st, tcb);
	us_sack_free(st, tcb);
	us_free(st, tcb->lq, sizeof(*tcb->lq));
	us_free(st, tcb, sizeof(*tcb));
	st->tcp.nconns--;
}

/* Doubling keeps chains short; the table never shrinks, as a busy server's
 * next burst would only grow it again. */
static void hash_grow(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	uint32_t osize = tl->hash_mask + 1, nsize = osize * 2;
	struct us_node **nh = us_alloc(st, nsize * sizeof(*nh));
	if (!nh)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < osize; i++) {
		struct us_node *n = tl->hash[i];
		while (n) {
			struct us_node *next = n->hnext;
			uint32_t h = tuple_hash(st, &n->t) & (nsize - 1);
			n->hnext = nh[h];
			nh[h] = n;
			n = next;
		}
	}
	us_free(st, tl->hash, osize * sizeof(*tl->hash));
	tl->hash = nh;
	tl->hash_mask = nsize - 1;
}

int us_tcp_hash_insert(struct ustack *st, struct us_node *n)
{
	struct us_tcp_layer *tl = &st->tcp;
	if (us_tcp_lookup(st, &n->t))
		return -EADDRINUSE;
	if (tl->nodes >= tl->hash_mask + 1)
		hash_grow(st);
	uint32_t h = tuple_hash(st, &n->t) & tl->hash_mask;
	n->hnext = tl->hash[h];
	tl->hash[h] = n;
	n->in_hash = 1;
	tl->nodes++;
	return 0;
}

void us_tcp_hash_remove(struct ustack *st, struct us_node *n)
{
	struct us_tcp_layer *tl = &st->tcp;
	struct us_node **pp = &tl->hash[tuple_hash(st, &n->t) & tl->hash_mask];
	while (*pp && *pp != n)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = n->hnext;
		tl->nodes--;
	}
	/* Every way out of the table comes here (freeing, TIME_WAIT's record
	 * taking over, a listener closing), so the cache never holds a block
	 * that is gone, nor one that another could replace: tuples in the
	 * table are unique, and a tuple changes only while out of it. */
	if (tl->last == n)
		tl->last = NULL;
	n->in_hash = 0;
	n->hnext = NULL;
}

uint32_t us_tcp_bucket(const struct ustack *st, const struct us_tuple *t)
{
	return tuple_hash(st, t) & st->tcp.hash_mask;
}

/* The cache answers exactly what the table would, as long as it holds a
 * hashed node (check.c verifies it). Listeners and TIME_WAIT records stay
 * out of it: a SYN or a segment for an old connection should not evict the
 * busy one, and the fast path is for established connections. */
struct us_node *us_tcp_lookup(struct ustack *st, const struct us_tuple *t)
{
	struct us_tcp_layer *tl = &st->tcp;
	if (tl->last && tuple_eq(&tl->last->t, t))
		return tl->last;
	for (struct us_node *n = tl->hash[tuple_hash(st, t) & tl->hash_mask]; n; n = n->hnext) {
		if (tuple_eq(&n->t, t)) {
			if (n->kind == US_NODE_TCB && ((struct us_tcb *)n)->state != USTACK_TCP_LISTEN)
				tl->last = n;
			return n;
		}
	}
	return NULL;
}

struct us_tcb *us_tcp_lookup_listener(struct ustack *st, uint32_t laddr, uint16_t lport)
{
	/* A listener bound to the address wins over a wildcard one. */
	struct us_tuple t = { .laddr = laddr, .lport = lport };
	struct us_node *n = us_tcp_lookup(st, &t);
	if (!n) {
		t.laddr = 0;
		n = us_tcp_lookup(st, &t);
	}
	if (n && n->kind == US_NODE_TCB && ((struct us_tcb *)n)->state == USTACK_TCP_LISTEN)
		return (struct us_tcb *)n;
	return NULL;
}

/* ---- Local ports ---- */

static struct us_bind_bucket **bucket_slot(struct ustack *st, uint16_t port)
{
	struct us_tcp_layer *tl = &st->tcp;
	struct us_bind_bucket **pp = &tl->ports[port & tl->ports_mask];
	while (*pp && (*pp)->port != port)
		pp = &(*pp)->next;
	return pp;
}

/* The port table doubles as ports come into use, up to one slot per port,
 * so finding a port's bucket stays constant-time with 100000 connections
 * (it was a walk of chains 1500 long, the benchmarks showed). */
static void ports_grow(struct ustack *st)
{
	struct us_tcp_layer *tl = &st->tcp;
	uint32_t osize = tl->ports_mask + 1, nsize = osize * 2;
	struct us_bind_bucket **nt = us_alloc(st, nsize * sizeof(*nt));
	if (!nt)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < osize; i++) {
		struct us_bind_bucket *b = tl->ports[i];
		while (b) {
			struct us_bind_bucket *next = b->next;
			b->next = nt[b->port & (nsize - 1)];
			nt[b->port & (nsize - 1)] = b;
			b = next;
		}
	}
	us_free(st, tl->ports, osize * sizeof(*tl->ports));
	tl->ports = nt;
	tl->ports_mask = nsize - 1;
}

static struct us_bind_bucket *bucket_get(struct ustack *st, uint16_t port, bool create)
{
	struct us_bind_bucket **pp = bucket_slot(st, port);
	if (*pp || !create)
		return *pp;
	struct us_bind_bucket *b = us_alloc(st, sizeof(*b));
	if (!b)
		return NULL;
	b->port = port;
	*pp = b;
	if (++st->tcp.nports > st->tcp.ports_mask + 1 && st->tcp.ports_mask < 65535)
		ports_grow(st);
	return b;
}

static void ref_attach(struct us_port_ref *ref, struct us_bind_bucket *b, bool reuse, bool explicit_)
{
	ref->bb = b;
	ref->reuse = reuse;
	ref->explicit_ = explicit_;
	ref->listen = 0;
	b->owners++;
	b->noreuse += !reuse;
	b->explicit_ += explicit_;
}

void us_port_release(struct ustack *st, struct us_port_ref *ref)
{
	struct us_bind_bucket *b = ref->bb;
	if (!b)
		return;
	b->owners--;
	b->noreuse -= !ref->reuse;
	b->explicit_ -= ref->explicit_;
	b->listen -= ref->listen;
	ref->bb = NULL;
	if (b->owners == 0) {
		struct us_bind_bucket **pp = bucket_slot(st, b->port);
		*pp = b->next;
		us_free(st, b, sizeof(*b));
		st->tcp.nports--;
	}
}

/* Linux's inet_csk_bind_conflict, reduced to counts: others = the bucket
 * without the caller's own contribution. */
static bool conflicts(const struct us_bind_bucket *b, const struct us_port_ref *self, bool reuse)
{
	uint32_t owners = b->owners, noreuse = b->noreuse, listen = b->listen;
	if (self && self->bb == b) {
		owners--;
		noreuse -= !self->reuse;
		listen -= self->listen;
	}
	if (owners == 0)
		return false;
	return !reuse || noreuse > 0 || listen > 0;
}

static int ephemeral_port(struct ustack *st, uint32_t raddr, uint16_t rport, struct us_tcb *tcb);

int us_port_bind(struct ustack *st, struct us_port_ref *ref, uint16_t port, bool reuse)
{
	if (port == 0) {
		int p = ephemeral_port(st, 0, 0, NULL);
		if (p < 0)
			return -EADDRINUSE;
		port = (uint16_t)p;
	}
	struct us_bind_bucket *b = bucket_get(st, port, false);
	if (b && conflicts(b, NULL, reuse))
		return -EADDRINUSE;
	if (!b && !(b = bucket_get(st, port, true)))
		return -ENOMEM;
	ref_attach(ref, b, reuse, true);
	return 0;
}

int us_port_listen(struct ustack *st, struct us_port_ref *ref)
{
	/* Linux checks again at listen(): two SO_REUSEADDR sockets may share a
	 * port until one of them listens. */
	if (conflicts(ref->bb, ref, ref->reuse))
		return -EADDRINUSE;
	ref->listen = 1;
	ref->bb->listen++;
	return 0;
}

int us_port_share(struct ustack *st, struct us_port_ref *child, const struct us_port_ref *parent)
{
	ref_attach(child, parent->bb, parent->reuse, parent->explicit_);
	return 0;
}

/*
 * RFC 6056 section 3.3.4, algorithm 4 (double-hash), which Linux also uses:
 * the search starts at a keyed hash of the destination, plus a per-slot
 * counter that moves on after each use, so ports are unpredictable from off
 * path yet successive connections to one destination do not collide.
 * A port is usable if nothing holds it through bind() and, when connecting,
 * the four-tuple is free.
 */
static int ephemeral_port(struct ustack *st, uint32_t raddr, uint16_t rport, struct us_tcb *tcb)
{
	uint32_t lo = st->cfg.ephemeral_lo, n = st->cfg.ephemeral_hi - lo + 1;
	uint32_t k[3] = { st->cfg.addr, raddr, rport };
	uint64_t h = us_siphash(&st->key_port, k, sizeof(k));
	uint32_t offset = (uint32_t)h;
	uint32_t *perturb = &st->tcp.port_perturb[(h >> 32) & 255];
	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(lo + (offset + *perturb + i) % n);
		struct us_bind_bucket *b = bucket_get(st, port, false);
		if (tcb == NULL) {
			if (b)
				continue;
		} else {
			if (b && b->explicit_)
				continue;
			struct us_tuple t = { st->cfg.addr, raddr, port, rport };
			if (us_tcp_lookup(st, &t))
				continue;
		}
		*perturb += i + 1;
		return port;
	}
	return -EADDRNOTAVAIL;
}

int us_port_connect(struct ustack *st, struct us_tcb *tcb)
{
	struct us_tuple *t = &tcb->n.t;
	if (!tcb->port.bb) {
		int port = ephemeral_port(st, t->raddr, t->rport, tcb);
		if (port < 0)
			return port;
		struct us_bind_bucket *b = bucket_get(st, (uint16_t)port, true);
		if (!b)
			return -ENOMEM;
		ref_attach(&tcb->port, b, tcb->reuseaddr, false);
		t->lport = (uint16_t)port;
	}
	t->laddr = st->cfg.addr;
	int err = us_tcp_hash_insert(st, &tcb->n);
	return err == -EADDRINUSE ? -EADDRNOTAVAIL : err;
}

/*
 * RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a clock ticking every 4 microseconds. F is SipHash with a key drawn
 * from the stack's seed.
 */
uint32_t us_tcp_isn(struct ustack *st, const struct us_tuple *t)
{
	uint32_t k[3] = { t->laddr, t->raddr, ((uint32_t)t->lport << 16) | t->rport };
	uint32_t m = (uint32_t)(st->now / 4000);
	return m + (uint32_t)us_siphash(&st->key_isn, k, sizeof(k));
}

static void tcb_info(const struct us_tcb *tcb, struct ustack_conn_info *ci)
{
	ci->fd = tcb->fd;
	ci->state = tcb->state;
	ci->laddr = tcb->n.t.laddr;
	ci->raddr = tcb->n.t.raddr;
	ci->lport = tcb->n.t.lport;
	ci->rport = tcb->n.t.rport;
	ci->sendq = tcb->sndq.len;
	ci->recvq = tcb->rcvq.len;
	ci->timer = tcb->heap_idx == US_HEAP_NONE ? USTACK_TIME_NEVER : tcb->heap_at;
	ci->srtt_us = tcb->srtt_us;
	ci->rto_us = tcb->rto_us;
	ci->cwnd = tcb->cwnd;
	ci->total_retrans = tcb->total_retrans;
	if (tcb->state == USTACK_TCP_LISTEN && tcb->lq) {
		/* As ss(8) shows listeners: queued connections and the backlog. */
		ci->recvq = tcb->lq->nacc;
		ci->sendq = tcb->lq->backlog;
	}
}

int ustack_tcp_foreach(struct ustack *st, int (*fn)(void *ctx, const struct ustack_conn_info *ci), void *ctx)
{
	struct us_tcp_layer *tl = &st->tcp;
	struct ustack_conn_info ci;
	for (uint32_t i = 0; i <= tl->hash_mask; i++) {
		for (struct us_node *n = tl->hash[i]; n; n = n->hnext) {
			memset(&ci, 0, sizeof(ci));
			if (n->kind == US_NODE_TW) {
				const struct us_tw *tw = (const struct us_tw *)n;
				ci.fd = -1;
				ci.state = USTACK_TCP_TIME_WAIT;
				ci.laddr = n->t.laddr;
				ci.raddr = n->t.raddr;
				ci.lport = n->t.lport;
				ci.rport = n->t.rport;
				ci.timer = tw->deadline;
			} else {
				tcb_info((const struct us_tcb *)n, &ci);
			}
			int r = fn(ctx, &ci);
			if (r)
				return r;
		}
	}
	/* Sockets bound or created but not in the table (CLOSED) are not
	 * shown, as ss -tan does not show them either. */
	return 0;
}
