/*
 * The BSD socket calls on a stack: argument checking, the descriptor table
 * and socket options here; what a call does to a connection in
 * tcp/tcp_usrreq.c, to a UDP socket in udp/udp.c. A descriptor names either
 * (socket.h); each call dispatches on the kind. Every error is the one
 * Linux returns for the same call, as a negative errno.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <ustack/socket.h>

#include "core/stack.h"
#include "tcp/tcp_cc.h"

/* Linux's net.core.wmem_max (rmem_max is the sysctl st->sys.core_rmem_max),
 * and its floors (SOCK_MIN_RCVBUF, SOCK_MIN_SNDBUF). */
#define US_WMEM_MAX 212992u
#define US_MIN_RCVBUF 2304u
#define US_MIN_SNDBUF 4608u

int us_fd_alloc(struct ustack *st, struct us_node *n)
{
	struct us_socktab *t = &st->socks;
	if (t->used >= st->cfg.max_sockets)
		return -EMFILE;
	while (t->hint < t->cap && t->v[t->hint])
		t->hint++;
	if (t->hint == t->cap) {
		uint32_t ncap = t->cap ? t->cap * 2 : 16;
		struct us_node **nv = us_realloc(st, t->v, t->cap * sizeof(*nv), ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		memset(nv + t->cap, 0, (ncap - t->cap) * sizeof(*nv));
		t->v = nv;
		t->cap = ncap;
	}
	uint32_t i = t->hint++;
	t->v[i] = n;
	t->used++;
	int fd = (int)(i + US_FD_FIRST);
	if (n->kind == US_NODE_UDP)
		((struct us_udp_sock *)n)->fd = fd;
	else
		((struct us_tcb *)n)->fd = fd;
	return fd;
}

void us_fd_release(struct ustack *st, int fd)
{
	struct us_socktab *t = &st->socks;
	uint32_t i = (uint32_t)(fd - US_FD_FIRST);
	t->v[i] = NULL;
	t->used--;
	if (i < t->hint)
		t->hint = i;
}

void us_socktab_fini(struct ustack *st)
{
	struct us_socktab *t = &st->socks;
	/* Sockets in the TCP tables are freed with them; the rest here. */
	for (uint32_t i = 0; i < t->cap; i++) {
		struct us_node *n = t->v[i];
		if (!n)
			continue;
		if (n->kind == US_NODE_UDP) {
			us_udp_free(st, (struct us_udp_sock *)n);
			continue;
		}
		struct us_tcb *tcb = (struct us_tcb *)n;
		tcb->fd = -1;
		if (!tcb->n.in_hash)
			us_tcb_free(st, tcb);
	}
	us_free(st, t->v, t->cap * sizeof(*t->v));
	t->v = NULL;
	t->cap = 0;
}

static struct us_node *lookup(struct ustack *st, int fd)
{
	if (!st || fd < US_FD_FIRST)
		return NULL;
	uint32_t i = (uint32_t)(fd - US_FD_FIRST);
	return i < st->socks.cap ? st->socks.v[i] : NULL;
}

/* The socket named by fd as `node`, or -EBADF; on the TCP side of a
 * dispatch, `tcb`. */
#define GET_NODE(st, fd)                                                                                   \
	struct us_node *node = lookup(st, fd);                                                             \
	if (!node)                                                                                         \
		return -EBADF;

#define IS_UDP(n) ((n)->kind == US_NODE_UDP)
#define UDP_OF(n) ((struct us_udp_sock *)(n))

/* Every call below that uses `tcb` has dispatched UDP sockets first. */
#define GET_TCB(st, fd)                                                                                    \
	GET_NODE(st, fd)                                                                                   \
	struct us_tcb *tcb = IS_UDP(node) ? NULL : (struct us_tcb *)node;

int ustack_socket(struct ustack *st, int domain, int type, int protocol)
{
	if (!st)
		return -EINVAL;
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (base == SOCK_RAW)
		return -EPROTONOSUPPORT; /* Linux, for a raw socket of protocol 0 */
	if (base == SOCK_DGRAM) {
		if (protocol != 0 && protocol != IPPROTO_UDP)
			return -EPROTONOSUPPORT;
		struct us_udp_sock *s = us_udp_new(st);
		if (!s)
			return -ENOBUFS;
		int fd = us_fd_alloc(st, &s->n);
		if (fd < 0)
			us_udp_free(st, s);
		return fd;
	}
	if (base != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	if (protocol != 0 && protocol != IPPROTO_TCP)
		return -EPROTONOSUPPORT;
	struct us_tcb *tcb = us_tcb_new(st);
	if (!tcb)
		return -ENOBUFS;
	int fd = us_fd_alloc(st, &tcb->n);
	if (fd < 0)
		us_tcb_free(st, tcb);
	return fd;
}

static int sockaddr_in_get(const struct sockaddr *addr, socklen_t len, uint32_t *ip, uint16_t *port)
{
	if (!addr || len < (socklen_t)sizeof(struct sockaddr_in))
		return -EINVAL;
	struct sockaddr_in sin;
	memcpy(&sin, addr, sizeof(sin));
	/* Linux takes AF_UNSPEC with INADDR_ANY as AF_INET, for old programs. */
	if (sin.sin_family == AF_UNSPEC && sin.sin_addr.s_addr == htonl(INADDR_ANY))
		sin.sin_family = AF_INET;
	if (sin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	*ip = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

static int sockaddr_in_put(struct sockaddr *addr, socklen_t *len, uint32_t ip, uint16_t port)
{
	if (!addr || !len)
		return -EFAULT;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
	size_t n = *len < (socklen_t)sizeof(sin) ? (size_t)*len : sizeof(sin);
	memcpy(addr, &sin, n);
	*len = sizeof(sin);
	return 0;
}

int ustack_bind(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len)
{
	GET_NODE(st, fd);
	uint32_t ip;
	uint16_t port;
	int err = sockaddr_in_get(addr, len, &ip, &port);
	if (err)
		return err;
	if (IS_UDP(node))
		return us_udp_bind(st, UDP_OF(node), ip, port);
	struct us_tcb *tcb = (struct us_tcb *)node;
	if (tcb->state != USTACK_TCP_CLOSED || tcb->port.bb)
		return -EINVAL;
	if (ip != 0 && ip != st->cfg.addr)
		return -EADDRNOTAVAIL;
	err = us_port_bind(st, &tcb->port, port, tcb->reuseaddr);
	if (err)
		return err;
	tcb->n.t.laddr = ip;
	tcb->n.t.lport = tcb->port.bb->port;
	return 0;
}

int ustack_listen(struct ustack *st, int fd, int backlog)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return -EOPNOTSUPP;
	return us_tcp_listen(st, tcb, backlog);
}

int ustack_accept(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return -EOPNOTSUPP;
	if (tcb->state != USTACK_TCP_LISTEN)
		return -EINVAL;
	if (!tcb->lq->acc_head)
		return -EAGAIN;
	if (st->socks.used >= st->cfg.max_sockets)
		return -EMFILE;
	struct us_tcb *c = us_tcp_accept(st, tcb);
	int nfd = us_fd_alloc(st, &c->n);
	if (nfd < 0) {
		us_tcp_close(st, c);
		return nfd;
	}
	if (addr && len)
		sockaddr_in_put(addr, len, c->n.t.raddr, c->n.t.rport);
	return nfd;
}

/* connect() on UDP (Linux's inet_dgram_connect, ip4_datagram_connect):
 * AF_UNSPEC dissolves the association; any other address becomes the
 * peer, after the socket has a port. */
static int udp_connect(struct ustack *st, struct us_udp_sock *s, const struct sockaddr *addr, socklen_t len)
{
	if (!addr || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	sa_family_t family;
	memcpy(&family, (const char *)addr + offsetof(struct sockaddr, sa_family), sizeof(family));
	if (family == AF_UNSPEC)
		return us_udp_disconnect(st, s);
	if (us_udp_autobind(st, s))
		return -EAGAIN;
	if (len < (socklen_t)sizeof(struct sockaddr_in))
		return -EINVAL;
	if (family != AF_INET)
		return -EAFNOSUPPORT;
	struct sockaddr_in sin;
	memcpy(&sin, addr, sizeof(sin));
	return us_udp_connect(st, s, ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port));
}

int ustack_connect(struct ustack *st, int fd, const struct sockaddr *addr, socklen_t len)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return udp_connect(st, UDP_OF(node), addr, len);
	uint32_t ip;
	uint16_t port;
	int err = sockaddr_in_get(addr, len, &ip, &port);
	if (err)
		return err;
	return us_tcp_connect(st, tcb, ip, port);
}

/* sendto() on UDP, in the order of Linux's checks (inet_sendmsg,
 * udp_sendmsg): a port first, then the size and flags, then the address. */
static ssize_t udp_sendto(struct ustack *st, struct us_udp_sock *s, const void *buf, size_t len, int flags,
			  const struct sockaddr *addr, socklen_t alen)
{
	if (us_udp_autobind(st, s))
		return -EAGAIN;
	if (len > 0xffff)
		return -EMSGSIZE;
	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	/* Corking (MSG_MORE) would join sends into one datagram; it is not
	 * done, and refusing it is better than silently splitting. */
	if (flags & MSG_MORE)
		return -EOPNOTSUPP;
	if (!addr)
		return us_udp_send(st, s, buf, len, false, 0, 0);
	if (alen < (socklen_t)sizeof(struct sockaddr_in))
		return -EINVAL;
	struct sockaddr_in sin;
	memcpy(&sin, addr, sizeof(sin));
	/* Linux takes AF_UNSPEC here as AF_INET. */
	if (sin.sin_family != AF_INET && sin.sin_family != AF_UNSPEC)
		return -EAFNOSUPPORT;
	if (sin.sin_port == 0)
		return -EINVAL;
	return us_udp_send(st, s, buf, len, true, ntohl(sin.sin_addr.s_addr), ntohs(sin.sin_port));
}

ssize_t ustack_sendto(struct ustack *st, int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen)
{
	GET_TCB(st, fd);
	if (!buf && len)
		return -EFAULT;
	if (IS_UDP(node))
		return udp_sendto(st, UDP_OF(node), buf, len, flags, addr, alen);
	/* Linux's TCP ignores the address (and the flags, here). */
	return us_tcp_send(st, tcb, buf, len);
}

ssize_t ustack_send(struct ustack *st, int fd, const void *buf, size_t len, int flags)
{
	return ustack_sendto(st, fd, buf, len, flags, NULL, 0);
}

ssize_t ustack_recvfrom(struct ustack *st, int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen)
{
	GET_TCB(st, fd);
	if (!buf && len)
		return -EFAULT;
	if (IS_UDP(node)) {
		if (flags & ~(MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT | MSG_WAITALL))
			return -EOPNOTSUPP;
		uint32_t saddr;
		uint16_t sport;
		ssize_t r = us_udp_recv(st, UDP_OF(node), buf, len, flags, &saddr, &sport);
		if (r >= 0 && addr && alen)
			sockaddr_in_put(addr, alen, saddr, sport);
		return r;
	}
	if (flags & ~(MSG_PEEK | MSG_DONTWAIT))
		return -EOPNOTSUPP;
	ssize_t r = us_tcp_recv(st, tcb, buf, len, flags & MSG_PEEK);
	/* Linux gives a stream socket's peer no address here: length 0. */
	if (r >= 0 && addr && alen)
		*alen = 0;
	return r;
}

ssize_t ustack_recv(struct ustack *st, int fd, void *buf, size_t len, int flags)
{
	return ustack_recvfrom(st, fd, buf, len, flags, NULL, NULL);
}

int ustack_shutdown(struct ustack *st, int fd, int how)
{
	GET_TCB(st, fd);
	if (IS_UDP(node)) {
		if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
			return -EINVAL;
		return us_udp_shutdown(st, UDP_OF(node), how);
	}
	return us_tcp_shutdown(st, tcb, how);
}

int ustack_close(struct ustack *st, int fd)
{
	GET_TCB(st, fd);
	us_fd_release(st, fd);
	if (IS_UDP(node))
		us_udp_free(st, UDP_OF(node));
	else
		us_tcp_close(st, tcb);
	return 0;
}

int ustack_getsockname(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len)
{
	GET_NODE(st, fd);
	return sockaddr_in_put(addr, len, node->t.laddr, node->t.lport);
}

int ustack_getpeername(struct ustack *st, int fd, struct sockaddr *addr, socklen_t *len)
{
	GET_TCB(st, fd);
	if (IS_UDP(node)) {
		if (!UDP_OF(node)->connected)
			return -ENOTCONN;
		return sockaddr_in_put(addr, len, node->t.raddr, node->t.rport);
	}
	/* Linux: no peer until the handshake is under way from both sides. */
	if (tcb->state == USTACK_TCP_CLOSED || tcb->state == USTACK_TCP_LISTEN ||
	    tcb->state == USTACK_TCP_SYN_SENT)
		return -ENOTCONN;
	return sockaddr_in_put(addr, len, tcb->n.t.raddr, tcb->n.t.rport);
}

static int get_int(const void *val, socklen_t len, int *out)
{
	if (!val || len < (socklen_t)sizeof(int))
		return -EINVAL;
	memcpy(out, val, sizeof(int));
	return 0;
}

static void set_reuse(struct us_tcb *tcb, bool on)
{
	tcb->reuseaddr = on;
	/* Linux changes sk_reuse in place; a bound socket's count moves with it. */
	if (tcb->port.bb && tcb->port.reuse != on) {
		tcb->port.bb->noreuse += on ? -1u : 1u;
		tcb->port.reuse = on;
	}
}

/* SO_RCVBUF and SO_SNDBUF as Linux sets them: clamped to the max
 * (net.core.rmem_max for SO_RCVBUF), doubled for overhead, with a floor. */
static uint32_t sockbuf_size(const struct ustack *st, int v, bool rcv)
{
	uint32_t u = (uint32_t)v; /* Linux: negative is huge, so the max */
	uint32_t max = rcv ? st->sys.core_rmem_max : US_WMEM_MAX, min = rcv ? US_MIN_RCVBUF : US_MIN_SNDBUF;
	if (max > INT32_MAX / 2)
		max = INT32_MAX / 2; /* Linux: min_t(int, val, INT_MAX / 2) */
	if (u > max)
		u = max;
	u *= 2;
	return u < min ? min : u;
}

/* The options of a UDP socket: those of SOL_SOCKET that mean something
 * for it. Linux's IP-level options (IP_TTL, IP_RECVERR, ...) are not
 * here. */
static int udp_setsockopt(const struct ustack *st, struct us_udp_sock *s, int level, int name, const void *val, socklen_t len)
{
	int v = 0;
	if (level != SOL_SOCKET)
		return -ENOPROTOOPT;
	switch (name) {
	case SO_REUSEADDR:
	case SO_BROADCAST:
	case SO_RCVBUF:
	case SO_SNDBUF:
		if (get_int(val, len, &v))
			return -EINVAL;
		break;
	default:
		return -ENOPROTOOPT;
	}
	switch (name) {
	case SO_REUSEADDR:
		/* Linux changes sk_reuse in place: later binds see it. */
		s->reuseaddr = v != 0;
		break;
	case SO_BROADCAST:
		s->broadcast = v != 0;
		break;
	case SO_RCVBUF:
		s->rcvbuf = sockbuf_size(st, v, true);
		break;
	default:
		s->sndbuf = sockbuf_size(st, v, false);
		break;
	}
	return 0;
}

int ustack_setsockopt(struct ustack *st, int fd, int level, int name, const void *val, socklen_t len)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return udp_setsockopt(st, UDP_OF(node), level, name, val, len);
	int v = 0;
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			if (get_int(val, len, &v))
				return -EINVAL;
			set_reuse(tcb, v != 0);
			return 0;
		case SO_LINGER: {
			struct linger l;
			if (!val || len < (socklen_t)sizeof(l))
				return -EINVAL;
			memcpy(&l, val, sizeof(l));
			tcb->linger = l.l_onoff != 0;
			tcb->linger_sec = l.l_linger < 0 ? 0 : l.l_linger > 65535 ? 65535 : (uint16_t)l.l_linger;
			return 0;
		}
		case SO_KEEPALIVE:
			if (get_int(val, len, &v))
				return -EINVAL;
			tcb->keepalive = v != 0;
			if (tcb->keepalive && tcb->state == USTACK_TCP_ESTABLISHED)
				us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, st->now + USTACK_SEC(tcb->ka_idle));
			return 0;
		case SO_RCVBUF:
		case SO_SNDBUF:
			if (get_int(val, len, &v))
				return -EINVAL;
			if (name == SO_RCVBUF) {
				/* Linux: the size is the user's from now on
				 * (SOCK_RCVBUF_LOCK), no longer autotuned. */
				tcb->rcvbuf = sockbuf_size(st, v, true);
				tcb->rcvbuf_lock = true;
			} else {
				/* Linux: the size is the user's from now on
				 * (SOCK_SNDBUF_LOCK), no longer autotuned. */
				tcb->sndbuf = sockbuf_size(st, v, false);
				tcb->sndbuf_lock = true;
			}
			return 0;
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY:
			if (get_int(val, len, &v))
				return -EINVAL;
			tcb->nodelay = v != 0;
			if (tcb->nodelay)
				us_tcp_output(st, tcb);
			return 0;
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
			/* Linux: 1 to MAX_TCP_KEEPIDLE (32767) seconds. */
			if (get_int(val, len, &v) || v < 1 || v > 32767)
				return -EINVAL;
			if (name == TCP_KEEPIDLE) {
				tcb->ka_idle = (uint32_t)v;
				/* Linux restarts a running keepalive timer on the
				 * new idle time, counted from the last arrival. */
				if (tcb->keepalive && tcb->state != USTACK_TCP_CLOSED &&
				    tcb->state != USTACK_TCP_LISTEN) {
					ustack_time_t at = tcb->last_rcv + USTACK_SEC(tcb->ka_idle);
					us_tcb_timer_set(st, tcb, US_TM_KEEPALIVE, at > st->now ? at : st->now);
				}
			} else {
				tcb->ka_intvl = (uint32_t)v;
			}
			return 0;
		case TCP_KEEPCNT:
			if (get_int(val, len, &v) || v < 1 || v > 127)
				return -EINVAL;
			tcb->ka_cnt = (uint8_t)v;
			return 0;
		case TCP_CONGESTION: {
			char name_buf[16] = { 0 };
			if (!val || len < 1)
				return -EINVAL;
			memcpy(name_buf, val, len < (socklen_t)sizeof(name_buf) - 1 ? (size_t)len : sizeof(name_buf) - 1);
			const struct us_cc_ops *ops = us_cc_find(name_buf);
			if (!ops)
				return -ENOENT; /* as Linux, for an algorithm it does not have */
			if (ops != tcb->cc) {
				tcb->cc = ops;
				if (tcb->snd_mss)
					ops->init(st, tcb);
			}
			return 0;
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	return -ENOPROTOOPT;
}

static void tcp_info_fill(const struct us_tcb *tcb, struct ustack_tcp_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	ti->state = tcb->state;
	ti->ca_state = tcb->ca_state;
	ti->retransmits = tcb->retries;
	ti->probes = tcb->probes;
	ti->snd_wscale = tcb->snd_wscale;
	ti->rcv_wscale = tcb->rcv_wscale;
	ti->rto_us = tcb->rto_us;
	ti->srtt_us = tcb->srtt_us;
	ti->rttvar_us = tcb->rttvar_us;
	ti->snd_mss = tcb->snd_mss;
	ti->rcv_mss = tcb->rcv_mss;
	ti->pmtu = tcb->pmtu;
	ti->cwnd = tcb->cwnd;
	ti->ssthresh = tcb->ssthresh;
	ti->snd_wnd = tcb->snd_wnd;
	ti->rcv_wnd = SEQ_GT(tcb->rcv_adv, tcb->rcv_nxt) ? tcb->rcv_adv - tcb->rcv_nxt : 0;
	ti->unacked = tcb->snd_max - tcb->snd_una;
	ti->sendq = tcb->sndq.len;
	ti->recvq = tcb->rcvq.len;
	ti->total_retrans = tcb->total_retrans;
	ti->bytes_sent = tcb->bytes_sent;
	ti->bytes_acked = tcb->bytes_acked;
	ti->bytes_received = tcb->bytes_received;
	ti->sack_ok = tcb->sack_ok;
	ti->sacked = tcb->txq.sacked;
	ti->lost = tcb->txq.lost;
	ti->retrans_out = tcb->txq.retrans;
	ti->reordering = tcb->reordering;
	ti->min_rtt_us = tcb->min_rtt.v[0];
	ti->total_lost = tcb->sack_lost_total;
	const char *cc = tcb->cc ? tcb->cc->name : us_cc_cubic.name;
	strncpy(ti->congestion, cc, sizeof(ti->congestion) - 1);
}

/* Linux truncates to the caller's length rather than refusing it. */
static int put_bytes(void *val, socklen_t *len, const void *v, size_t size)
{
	if (!val || !len)
		return -EINVAL;
	size_t n = (size_t)*len < size ? (size_t)*len : size;
	memcpy(val, v, n);
	*len = (socklen_t)n;
	return 0;
}

static int put_int(void *val, socklen_t *len, int v)
{
	return put_bytes(val, len, &v, sizeof(v));
}

static int udp_getsockopt(struct us_udp_sock *s, int level, int name, void *val, socklen_t *len)
{
	if (level != SOL_SOCKET)
		return -ENOPROTOOPT;
	switch (name) {
	case SO_REUSEADDR:
		return put_int(val, len, s->reuseaddr);
	case SO_BROADCAST:
		return put_int(val, len, s->broadcast);
	case SO_ERROR: {
		int e = s->so_error;
		s->so_error = 0;
		return put_int(val, len, e);
	}
	case SO_TYPE:
		return put_int(val, len, SOCK_DGRAM);
	case SO_RCVBUF:
		return put_int(val, len, (int)s->rcvbuf);
	case SO_SNDBUF:
		return put_int(val, len, (int)s->sndbuf);
	case SO_ACCEPTCONN:
		return put_int(val, len, 0);
	default:
		return -ENOPROTOOPT;
	}
}

int ustack_getsockopt(struct ustack *st, int fd, int level, int name, void *val, socklen_t *len)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return udp_getsockopt(UDP_OF(node), level, name, val, len);
	if (level == SOL_SOCKET) {
		switch (name) {
		case SO_REUSEADDR:
			return put_int(val, len, tcb->reuseaddr);
		case SO_ERROR: {
			int e = tcb->so_error;
			tcb->so_error = 0;
			return put_int(val, len, e);
		}
		case SO_TYPE:
			return put_int(val, len, SOCK_STREAM);
		case SO_RCVBUF:
			return put_int(val, len, (int)tcb->rcvbuf);
		case SO_SNDBUF:
			return put_int(val, len, (int)tcb->sndbuf);
		case SO_KEEPALIVE:
			return put_int(val, len, tcb->keepalive);
		case SO_ACCEPTCONN:
			return put_int(val, len, tcb->state == USTACK_TCP_LISTEN);
		case SO_LINGER: {
			struct linger l = { .l_onoff = tcb->linger, .l_linger = tcb->linger_sec };
			return put_bytes(val, len, &l, sizeof(l));
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (level == IPPROTO_TCP) {
		switch (name) {
		case TCP_NODELAY:
			return put_int(val, len, tcb->nodelay);
		case TCP_MAXSEG:
			return put_int(val, len, tcb->snd_mss ? tcb->snd_mss : 536);
		case TCP_KEEPIDLE:
			return put_int(val, len, (int)tcb->ka_idle);
		case TCP_KEEPINTVL:
			return put_int(val, len, (int)tcb->ka_intvl);
		case TCP_KEEPCNT:
			return put_int(val, len, tcb->ka_cnt);
		case TCP_CONGESTION: {
			const char *cc = tcb->cc ? tcb->cc->name : us_cc_cubic.name;
			if (!val || !len)
				return -EINVAL;
			size_t n = strlen(cc) + 1;
			if ((size_t)*len < n)
				n = (size_t)*len;
			memcpy(val, cc, n);
			*len = (socklen_t)n;
			return 0;
		}
		case TCP_INFO: {
			struct ustack_tcp_info ti;
			tcp_info_fill(tcb, &ti);
			return put_bytes(val, len, &ti, sizeof(ti));
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	return -ENOPROTOOPT;
}

int ustack_sock_poll(struct ustack *st, int fd)
{
	GET_TCB(st, fd);
	if (IS_UDP(node))
		return us_udp_poll(st, UDP_OF(node));
	return us_tcp_poll(st, tcb);
}

int ustack_sock_state(struct ustack *st, int fd)
{
	GET_TCB(st, fd);
	/* A UDP socket reports what Linux keeps in sk_state for it (and ss
	 * shows): ESTABLISHED once connected, CLOSED otherwise. */
	if (IS_UDP(node))
		return UDP_OF(node)->connected ? USTACK_TCP_ESTABLISHED : USTACK_TCP_CLOSED;
	return tcb->state;
}
