/*
 * Flow and congestion control, segment by segment: fast retransmit and
 * NewReno recovery (RFC 5681, RFC 6582), the retransmission timer's backoff
 * (RFC 6298), zero-window probes (RFC 9293 3.8.6.1), Nagle (RFC 896),
 * delayed ACKs (RFC 1122 4.2.3.2), keepalive (RFC 1122 4.2.3.6), window
 * scaling (RFC 7323) and the TCP_INFO / TCP_CONGESTION options. The test is
 * the remote host: it sends exact segments and checks exactly what comes
 * back.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "testnet.h"

#define PEER_PORT 80
#define PISS 5000u /* the peer's ISN */

struct conn {
	int fd;
	uint32_t iss;     /* the stack's ISN */
	uint16_t lport;   /* the stack's port */
	uint16_t ack_win; /* window field of the stack's ACK that ends the handshake */
};

/*
 * An active open the test controls: the socket is made, given congestion
 * control `cc` (if not NULL), connects; `delay` passes between the SYN and
 * the peer's SYN,ACK, which carries the options `o` and window field 65535.
 */
static void open_conn(struct tpeer *p, const char *cc, const struct ustack_tcp_options *o,
		      ustack_time_t delay, struct conn *c)
{
	c->fd = ustack_socket(p->st, AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(c->fd, 0);
	if (cc) {
		socklen_t n = (socklen_t)strlen(cc);
		cr_assert_eq(ustack_setsockopt(p->st, c->fd, IPPROTO_TCP, TCP_CONGESTION, cc, n), 0);
	}
	struct sockaddr_in sin = t_sin(p->peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(p->st, c->fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(p);
	cr_assert(syn && syn->h.flags == USTACK_TCP_SYN, "no SYN");
	c->iss = syn->h.seq;
	c->lport = syn->h.sport;
	if (delay)
		tpeer_advance(p, delay);
	tpeer_send(p, PEER_PORT, c->lport, USTACK_TCP_SYN | USTACK_TCP_ACK, PISS, c->iss + 1, 65535, NULL, 0,
		   o);
	const struct tseg *ack = tpeer_next(p);
	cr_assert(ack, "no ACK of the SYN,ACK");
	cr_assert_eq(ack->h.flags, USTACK_TCP_ACK);
	cr_assert_eq(ack->h.seq, c->iss + 1);
	cr_assert_eq(ack->h.ack, PISS + 1);
	c->ack_win = ack->h.window;
	cr_assert_null(tpeer_next(p));
	cr_assert_eq(ustack_sock_state(p->st, c->fd), USTACK_TCP_ESTABLISHED);
}

/* Reno, MSS 1000 and window scale 7 from the peer: the setup of the recovery tests. */
/* Connects to the peer, which offers MSS 1460 and window scale 7. */
static struct conn open_plain(struct tpeer *p)
{
	struct conn c = { 0 };
	c.fd = tpeer_establish_active(p, PEER_PORT, PISS, &c.iss, &c.lport);
	cr_assert_geq(c.fd, 0);
	return c;
}

static void open_reno_1000(struct tpeer *p, struct conn *c)
{
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1000,
					.wscale = 7 };
	open_conn(p, "reno", &o, 0, c);
}

static struct ustack_tcp_info tcp_info(struct tpeer *p, int fd)
{
	struct ustack_tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	cr_assert_eq(ustack_getsockopt(p->st, fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	cr_assert_eq(len, sizeof(ti));
	return ti;
}

/* The peer ACKs: seq RCV.NXT of the peer (no data from it), window field `win`. */
static void peer_ack(struct tpeer *p, const struct conn *c, uint32_t ack, uint16_t win)
{
	tpeer_send(p, PEER_PORT, c->lport, USTACK_TCP_ACK, PISS + 1, ack, win, NULL, 0, NULL);
}

static void expect_data(const struct tseg *s, uint32_t seq, uint32_t len, const char *what)
{
	cr_assert(s, "%s: nothing sent", what);
	cr_assert(s->h.flags & USTACK_TCP_ACK, "%s: no ACK flag", what);
	cr_assert_eq(s->h.seq, seq, "%s: seq %u, want %u", what, s->h.seq, seq);
	cr_assert_eq(s->h.len, len, "%s: len %u, want %u", what, s->h.len, len);
}

/* Writes n bytes of a counting pattern (all must be taken). */
static void write_all(struct tpeer *p, int fd, size_t n)
{
	static uint8_t buf[16384];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		cr_assert_eq(ustack_send(p->st, fd, buf, k, 0), (ssize_t)k);
		n -= k;
	}
}

/* 10000 bytes out as the initial window allows (RFC 6928: min(10 MSS,
 * max(2 MSS, 14600)) = 10 segments of 1000), then the peer ACKs the
 * first segment with window field 1024 (131072 bytes). */
static void ten_out_first_acked(struct tpeer *p, const struct conn *c)
{
	write_all(p, c->fd, 10000);
	for (uint32_t i = 0; i < 10; i++)
		expect_data(tpeer_next(p), c->iss + 1 + 1000 * i, 1000, "initial window");
	cr_assert_null(tpeer_next(p), "more than the initial window");
	peer_ack(p, c, c->iss + 1001, 1024);
	cr_assert_null(tpeer_next(p), "nothing new to send");
}

/* RFC 5681 3.2: the third duplicate ACK retransmits the missing segment,
 * ssthresh = max(FlightSize / 2, 2 SMSS). During recovery cwnd is PRR's
 * (RFC 6937, counted in segments as Linux does, each duplicate standing
 * for a segment delivered): pipe + sndcnt, with pipe 9 - 3 duplicates and
 * sndcnt = ceil(4 * 1 / 10) = 1 on the third, 9 - 4 and ceil(4 * 2 / 10)
 * - 1 = 0 on the fourth. The ACK of everything ends recovery with
 * cwnd = ssthresh (RFC 6582 3.2 step 3's second option, Linux's). */
Test(flow, fast_retransmit)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c;
	open_reno_1000(&p, &c);
	struct ustack_tcp_info ti = tcp_info(&p, c.fd);
	cr_assert_str_eq(ti.congestion, "reno");
	cr_assert_eq(ti.snd_mss, 1000u);
	cr_assert_eq(ti.cwnd, 10000u);
	ten_out_first_acked(&p, &c);
	for (int i = 0; i < 2; i++) {
		peer_ack(&p, &c, c.iss + 1001, 1024);
		cr_assert_null(tpeer_next(&p), "sent something on duplicate ACK %d", i + 1);
	}
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_FAST_RETRANS), 0);
	peer_ack(&p, &c, c.iss + 1001, 1024);
	expect_data(tpeer_next(&p), c.iss + 1001, 1000, "fast retransmission");
	cr_assert_null(tpeer_next(&p), "exactly one segment on the third duplicate");
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_FAST_RETRANS), 1);
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.ca_state, 1);
	cr_assert_eq(ti.ssthresh, 4500u, "ssthresh %u: half of 9000 in flight", ti.ssthresh);
	cr_assert_eq(ti.cwnd, 6000u, "cwnd %u after the 3rd duplicate", ti.cwnd);
	peer_ack(&p, &c, c.iss + 1001, 1024);
	cr_assert_null(tpeer_next(&p));
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.cwnd, 5000u, "cwnd %u after the 4th duplicate", ti.cwnd);
	peer_ack(&p, &c, c.iss + 10001, 1024);
	cr_assert_null(tpeer_next(&p));
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.ca_state, 0);
	cr_assert_eq(ti.unacked, 0u);
	/* FlightSize is 0 now: min(4500, max(0, 1000) + 1000). */
	cr_assert_eq(ti.cwnd, 4500u, "cwnd %u after the full ACK", ti.cwnd);
	cr_assert_eq(ti.ssthresh, 4500u);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_PARTIAL_ACKS), 0);
	tpeer_fini(&p);
}

/* RFC 6582 3.2 step 4: an ACK that covers the retransmission but not all
 * that was outstanding when recovery began (recover) means the next hole
 * is lost too: resend it at once and stay in recovery; step 3: the ACK of
 * everything up to recover ends it. */
Test(flow, newreno_partial_ack)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c;
	open_reno_1000(&p, &c);
	/* Segments 2 and 5 are lost: 3, 4 and 6 each draw a duplicate. */
	ten_out_first_acked(&p, &c);
	for (int i = 0; i < 3; i++)
		peer_ack(&p, &c, c.iss + 1001, 1024);
	expect_data(tpeer_next(&p), c.iss + 1001, 1000, "fast retransmission of segment 2");
	cr_assert_null(tpeer_next(&p));
	/* The retransmitted 2 fills the first hole: the peer has up to 4. */
	peer_ack(&p, &c, c.iss + 4001, 1024);
	expect_data(tpeer_next(&p), c.iss + 4001, 1000, "segment 5 on the partial ACK");
	cr_assert_null(tpeer_next(&p), "exactly one segment on the partial ACK");
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_PARTIAL_ACKS), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_FAST_RETRANS), 1);
	struct ustack_tcp_info ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.ca_state, 1, "still in recovery after a partial ACK");
	cr_assert_eq(ti.ssthresh, 4500u);
	peer_ack(&p, &c, c.iss + 10001, 1024);
	cr_assert_null(tpeer_next(&p));
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.ca_state, 0, "recovery over once recover is ACKed");
	cr_assert_eq(ti.unacked, 0u);
	cr_assert_eq(ti.total_retrans, 2u);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_RETRANS_SEGS), 2);
	tpeer_fini(&p);
}

/* Runs the stack's timers, deadline by deadline, until it sends something
 * (returned) or the clock would pass `limit` (NULL; the clock is then left
 * at limit). Deadlines may be early (stale timers), never late. */
static const struct tseg *run_until_output(struct tpeer *p, ustack_time_t limit)
{
	const struct tseg *s;
	for (int spins = 0; !(s = tpeer_next(p)); spins++) {
		ustack_time_t d = ustack_next_deadline(p->st);
		cr_assert(spins < 100000, "timers do not settle at %llu ns", (unsigned long long)p->now);
		if (d > limit) {
			if (limit > p->now)
				tpeer_advance(p, limit - p->now);
			return tpeer_next(p);
		}
		tpeer_advance(p, d > p->now ? d - p->now : 0);
	}
	return s;
}

/* RFC 6298 5.5: each timeout doubles the RTO, so with no ACK the segment
 * goes again RTO, 2 RTO and 4 RTO after the previous send; with retries2 =
 * 3 (Linux's tcp_retries2) the timeout after the third retransmission
 * gives up: ETIMEDOUT, CLOSED (RFC 9293 3.8.3's R2, RFC 1122 4.2.3.5). */
Test(flow, rto_backoff_and_timeout)
{
	struct tpeer p;
	struct ustack_config cfg = { .retries2 = 3 };
	tpeer_init(&p, &cfg);
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&p, PEER_PORT, PISS, &iss, &lport);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ustack_send(p.st, fd, "hello", 5, 0), 5);
	expect_data(tpeer_next(&p), iss + 1, 5, "first send");
	ustack_time_t t0 = p.now;
	ustack_time_t rto = USTACK_USEC(tcp_info(&p, fd).rto_us);
	cr_assert(rto >= USTACK_MSEC(200) && rto <= USTACK_MSEC(201), "RTO %llu ns",
		  (unsigned long long)rto);
	ustack_time_t at = t0;
	for (int i = 0; i < 3; i++) {
		at += rto << i;
		const struct tseg *s = run_until_output(&p, at - 1);
		cr_assert_null(s, "retransmission %d before %llu ns", i + 1, (unsigned long long)(at - t0));
		s = run_until_output(&p, at);
		cr_assert(s, "no retransmission %d at +%llu ns", i + 1, (unsigned long long)(at - t0));
		cr_assert_eq(s->t, at);
		expect_data(s, iss + 1, 5, "retransmission");
		cr_assert_arr_eq(s->data, "hello", 5);
		cr_assert_null(tpeer_next(&p));
		struct ustack_tcp_info ti = tcp_info(&p, fd);
		cr_assert_eq(ti.retransmits, i + 1);
		cr_assert_eq(ti.ca_state, 2);
		cr_assert_eq(USTACK_USEC(ti.rto_us), rto << (i + 1));
	}
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
	at += rto << 3;
	cr_assert_null(run_until_output(&p, at - 1));
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED, "given up early");
	cr_assert_null(run_until_output(&p, at), "a segment when giving up");
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_CLOSED);
	char buf[8];
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), -ETIMEDOUT);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEOUT_ABORTS), 1);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEOUTS), 3);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_RETRANS_SEGS), 3);
	cr_assert_eq(ustack_close(p.st, fd), 0);
	tpeer_fini(&p);
}

/* RFC 9293 3.8.6.1 and RFC 1122 4.2.2.17: with the peer's window closed and
 * data waiting, the sender probes, backing off exponentially, and keeps the
 * connection open for as long as the peer answers. Linux's probe is an ACK
 * at SND.UNA - 1 with no data, which the peer must answer with its window. */
Test(flow, zero_window_persist)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c = open_plain(&p);
	int fd = c.fd;
	uint32_t iss = c.iss;
	write_all(&p, fd, 1000);
	expect_data(tpeer_next(&p), iss + 1, 1000, "first write");
	uint32_t una = iss + 1001;
	peer_ack(&p, &c, una, 0);
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(tcp_info(&p, fd).snd_wnd, 0u);
	write_all(&p, fd, 100);
	cr_assert_null(tpeer_next(&p), "sent into a closed window");
	/* The first probe one RTO after the write (the persist timer starts
	 * from the RTO, as Linux's tcp_probe0_base), then doubling. */
	ustack_time_t rto = USTACK_USEC(tcp_info(&p, fd).rto_us);
	ustack_time_t last = p.now, gap = rto / 2;
	for (int i = 0; i < 10; i++) {
		const struct tseg *s = run_until_output(&p, p.now + USTACK_SEC(600));
		cr_assert(s, "no probe %d", i + 1);
		cr_assert_eq(s->h.flags, USTACK_TCP_ACK, "probe %d flags %#x", i + 1, s->h.flags);
		cr_assert_eq(s->h.seq, una - 1, "probe %d seq", i + 1);
		cr_assert_eq(s->h.len, 0u, "probe %d carries data", i + 1);
		cr_assert_eq(s->h.ack, PISS + 1);
		cr_assert_null(tpeer_next(&p));
		cr_assert_eq(s->t - last, 2 * gap, "gap before probe %d: %llu ns after %llu", i + 1,
			     (unsigned long long)(s->t - last), (unsigned long long)gap);
		gap = s->t - last;
		last = s->t;
		/* The peer answers: its window is still closed. */
		peer_ack(&p, &c, una, 0);
		cr_assert_null(tpeer_next(&p), "answer to probe %d drew a segment", i + 1);
		cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
	}
	cr_assert_geq(ustack_stat(p.st, USTACK_STAT_TCP_PERSIST_PROBES), 10);
	/* The window opens: the data goes at once. */
	peer_ack(&p, &c, una, 1024);
	const struct tseg *s = tpeer_next(&p);
	expect_data(s, una, 100, "data after the window update");
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
	tpeer_fini(&p);
}

/* RFC 896 as Linux applies it (Minshall's variant, RFC 1122 4.2.3.4): a
 * small segment waits while an earlier small one is unacknowledged, and
 * the held bytes go as one segment when the ACK comes. TCP_NODELAY turns
 * that off. */
Test(flow, nagle)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c = open_plain(&p);
	int fd = c.fd;
	uint32_t iss = c.iss;
	cr_assert_eq(ustack_send(p.st, fd, "0123456789", 10, 0), 10);
	const struct tseg *s = tpeer_next(&p);
	expect_data(s, iss + 1, 10, "first small write");
	cr_assert_arr_eq(s->data, "0123456789", 10);
	cr_assert_eq(ustack_send(p.st, fd, "abcdefghij", 10, 0), 10);
	cr_assert_null(tpeer_next(&p), "second small write not held");
	cr_assert_eq(ustack_send(p.st, fd, "ABCDEFGHIJ", 10, 0), 10);
	cr_assert_null(tpeer_next(&p), "third small write not held");
	peer_ack(&p, &c, iss + 11, 1024);
	s = tpeer_next(&p);
	expect_data(s, iss + 11, 20, "held bytes on the ACK");
	cr_assert_arr_eq(s->data, "abcdefghijABCDEFGHIJ", 20);
	cr_assert(s->h.flags & USTACK_TCP_PSH);
	cr_assert_null(tpeer_next(&p));
	peer_ack(&p, &c, iss + 31, 1024);
	cr_assert_null(tpeer_next(&p));

	int one = 1, v = 0;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_setsockopt(p.st, fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	cr_assert_eq(ustack_getsockopt(p.st, fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	cr_assert_eq(v, 1);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(ustack_send(p.st, fd, "0123456789", 10, 0), 10);
		expect_data(tpeer_next(&p), iss + 31 + 10 * i, 10, "TCP_NODELAY write");
		cr_assert_null(tpeer_next(&p));
	}
	tpeer_fini(&p);
}

/* The peer sends full-sized segment number k (from 0) of its stream. */
static void peer_data(struct tpeer *p, const struct conn *c, uint32_t k, uint32_t ack)
{
	static uint8_t buf[1460];
	memset(buf, (int)('a' + k % 26), sizeof(buf));
	tpeer_send(p, PEER_PORT, c->lport, USTACK_TCP_ACK, PISS + 1 + 1460 * k, ack, 1024, buf, sizeof(buf),
		   NULL);
}

static void set_int(struct tpeer *p, int fd, int level, int name, int v, int want);

static void expect_ack(const struct tseg *s, uint32_t seq, uint32_t ack, const char *what)
{
	cr_assert(s, "%s: no ACK", what);
	cr_assert_eq(s->h.flags, USTACK_TCP_ACK, "%s: flags %#x", what, s->h.flags);
	cr_assert_eq(s->h.seq, seq, "%s: seq", what);
	cr_assert_eq(s->h.len, 0u, "%s: data", what);
	cr_assert_eq(s->h.ack, ack, "%s: ack %u, want %u", what, s->h.ack, ack);
}

/* RFC 1122 4.2.3.2 and RFC 5681 4.2, as Linux does them: the first 16
 * segments are ACKed at once (quickack, TCP_MAX_QUICKACKS), then an ACK
 * goes for every second full-sized segment or 40 ms (TCP_DELACK_MIN) after
 * a lone one; out-of-order data and data that fills a gap are ACKed at once
 * (RFC 5681 4.2), the first with a duplicate ACK for RCV.NXT. */
Test(flow, delayed_ack)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c = open_plain(&p);
	int fd = c.fd;
	uint32_t iss = c.iss;
	cr_assert_eq(tcp_info(&p, fd).rcv_mss, 1460u);
	/* A buffer (64 KB) the window has no room to grow into: a window
	 * that grows is announced at once (tcp_grow_window, see
	 * tests/scripts/delayed-ack/window-growth-quickack.pkt), as Linux's
	 * does only while its buffer has room. */
	set_int(&p, fd, SOL_SOCKET, SO_RCVBUF, 32768, 0);
	uint32_t k = 0;
	for (; k < 16; k++) {
		peer_data(&p, &c, k, iss + 1);
		expect_ack(tpeer_next(&p), iss + 1, PISS + 1 + 1460 * (k + 1), "quickack");
		cr_assert_null(tpeer_next(&p));
	}
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_DELAYED_ACKS), 0);
	/* The 17th, alone: the ACK waits 40 ms. */
	peer_data(&p, &c, k++, iss + 1);
	cr_assert_null(tpeer_next(&p), "17th segment ACKed at once");
	cr_assert_eq(ustack_next_deadline(p.st), p.now + USTACK_MSEC(40));
	tpeer_advance(&p, USTACK_MSEC(40) - 1);
	cr_assert_null(tpeer_next(&p), "delayed ACK early");
	tpeer_advance(&p, 1);
	expect_ack(tpeer_next(&p), iss + 1, PISS + 1 + 1460 * k, "delayed ACK");
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_DELAYED_ACKS), 1);
	/* Two back to back: one ACK, at once, after the second. */
	peer_data(&p, &c, k++, iss + 1);
	cr_assert_null(tpeer_next(&p), "first of two ACKed at once");
	peer_data(&p, &c, k++, iss + 1);
	expect_ack(tpeer_next(&p), iss + 1, PISS + 1 + 1460 * k, "ACK of two full segments");
	cr_assert_null(tpeer_next(&p));
	/* The stale delayed-ACK deadline, if any, sends nothing. */
	tpeer_advance(&p, USTACK_MSEC(40));
	cr_assert_null(tpeer_next(&p), "a second ACK for the same two segments");
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_DELAYED_ACKS), 1);
	/* A gap: segment k is lost, k + 1 comes: a duplicate ACK at once. */
	uint32_t rcv_nxt = PISS + 1 + 1460 * k;
	peer_data(&p, &c, k + 1, iss + 1);
	expect_ack(tpeer_next(&p), iss + 1, rcv_nxt, "duplicate ACK for out-of-order data");
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_OFO_QUEUED), 1);
	/* k fills the gap: the cumulative ACK at once. */
	peer_data(&p, &c, k, iss + 1);
	expect_ack(tpeer_next(&p), iss + 1, rcv_nxt + 2 * 1460, "ACK of the filled gap");
	cr_assert_null(tpeer_next(&p));
	k += 2;
	struct ustack_tcp_info ti = tcp_info(&p, fd);
	cr_assert_eq(ti.recvq, 1460u * k);
	cr_assert_eq(ti.bytes_received, 1460u * k);
	tpeer_advance(&p, USTACK_MSEC(100));
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_DELAYED_ACKS), 1);
	tpeer_fini(&p);
}

static void set_int(struct tpeer *p, int fd, int level, int name, int v, int want)
{
	cr_assert_eq(ustack_setsockopt(p->st, fd, level, name, &v, sizeof(v)), want, "option %d = %d", name,
		     v);
}

static int get_int(struct tpeer *p, int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_getsockopt(p->st, fd, level, name, &v, &len), 0);
	cr_assert_eq(len, sizeof(v));
	return v;
}

/* RFC 1122 4.2.3.6 with Linux's knobs: after TCP_KEEPIDLE seconds of
 * silence a probe (an ACK at SND.UNA - 1, no data) every TCP_KEEPINTVL
 * seconds; an answer counts as traffic and restarts the idle time; after
 * TCP_KEEPCNT unanswered probes a RST and ETIMEDOUT. Linux re-arms the
 * timer when TCP_KEEPIDLE changes on a socket with SO_KEEPALIVE on
 * (tcp_sock_set_keepidle_locked), so the order of the calls does not
 * matter. */
Test(flow, keepalive)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c = open_plain(&p);
	int fd = c.fd;
	uint32_t iss = c.iss;
	set_int(&p, fd, SOL_SOCKET, SO_KEEPALIVE, 1, 0);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPIDLE, 10, 0);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPINTVL, 2, 0);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPCNT, 3, 0);
	cr_assert_eq(get_int(&p, fd, SOL_SOCKET, SO_KEEPALIVE), 1);
	cr_assert_eq(get_int(&p, fd, IPPROTO_TCP, TCP_KEEPIDLE), 10);
	cr_assert_eq(get_int(&p, fd, IPPROTO_TCP, TCP_KEEPINTVL), 2);
	cr_assert_eq(get_int(&p, fd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPIDLE, 0, -EINVAL);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPIDLE, 32768, -EINVAL);
	set_int(&p, fd, IPPROTO_TCP, TCP_KEEPCNT, 128, -EINVAL);
	cr_assert_eq(get_int(&p, fd, IPPROTO_TCP, TCP_KEEPIDLE), 10, "a refused value changed the option");
	cr_assert_eq(get_int(&p, fd, IPPROTO_TCP, TCP_KEEPCNT), 3);

	ustack_time_t t0 = p.now;
	const struct tseg *s = run_until_output(&p, t0 + USTACK_SEC(10) - 1);
	cr_assert_null(s, "keepalive probe before 10 s idle");
	s = run_until_output(&p, t0 + USTACK_SEC(7300));
	cr_assert(s, "no keepalive probe");
	cr_expect_eq(s->t, t0 + USTACK_SEC(10), "first probe at +%llu ms, want +10000 ms",
		     (unsigned long long)((s->t - t0) / 1000000));
	expect_ack(s, iss, PISS + 1, "first keepalive probe");
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_KEEPALIVE_PROBES), 1);
	/* The peer answers: the connection is idle again from now. */
	ustack_time_t t1 = p.now;
	peer_ack(&p, &c, iss + 1, 1024);
	cr_assert_null(tpeer_next(&p));
	s = run_until_output(&p, t1 + USTACK_SEC(10) - 1);
	cr_assert_null(s, "probe before another 10 s of idleness");
	s = run_until_output(&p, t1 + USTACK_SEC(10));
	cr_assert(s, "no probe after another 10 s of idleness");
	cr_assert_eq(s->t, t1 + USTACK_SEC(10));
	expect_ack(s, iss, PISS + 1, "second keepalive probe");
	cr_assert_null(tpeer_next(&p));
	/* No answers now: probes 2 s apart. */
	ustack_time_t t2 = p.now;
	for (int i = 1; i <= 2; i++) {
		cr_assert_null(run_until_output(&p, t2 + USTACK_SEC(2 * i) - 1), "probe early");
		s = run_until_output(&p, t2 + USTACK_SEC(2 * i));
		cr_assert(s, "no unanswered probe %d", i + 1);
		cr_assert_eq(s->t, t2 + USTACK_SEC(2 * i));
		expect_ack(s, iss, PISS + 1, "unanswered probe");
		cr_assert_null(tpeer_next(&p));
		cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_ESTABLISHED);
	}
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_KEEPALIVE_PROBES), 4);
	/* The third unanswered probe's interval ends: RST, ETIMEDOUT. */
	cr_assert_null(run_until_output(&p, t2 + USTACK_SEC(6) - 1), "gave up early");
	s = run_until_output(&p, t2 + USTACK_SEC(6));
	cr_assert(s, "no RST");
	cr_assert_eq(s->t, t2 + USTACK_SEC(6));
	cr_assert(s->h.flags & USTACK_TCP_RST, "flags %#x", s->h.flags);
	cr_assert_eq(s->h.seq, iss + 1);
	cr_assert_null(tpeer_next(&p));
	cr_assert_eq(ustack_sock_state(p.st, fd), USTACK_TCP_CLOSED);
	char buf[8];
	cr_assert_eq(ustack_recv(p.st, fd, buf, sizeof(buf), 0), -ETIMEDOUT);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_KEEPALIVE_PROBES), 4);
	cr_assert_eq(ustack_stat(p.st, USTACK_STAT_TCP_TIMEOUT_ABORTS), 1);
	tpeer_fini(&p);
}

/*
 * Sends `total` bytes and plays a peer that ACKs every segment as it
 * arrives, with window field `win`, so slow start grows until the peer's
 * window stops it. Checks every data segment's window field against the
 * stack's first ACK; returns the most bytes ever in flight.
 */
static uint32_t pump(struct tpeer *p, const struct conn *c, uint32_t total, uint16_t win)
{
	static uint8_t buf[16384];
	uint32_t max_flight = 0, written = 0;
	const struct tseg *s;
	for (;;) {
		/* The send buffer starts at tcp_wmem[1]-derived size and grows
		 * with cwnd, as Linux's: write what it takes, as a
		 * non-blocking writer would. */
		while (written < total) {
			size_t k = total - written < sizeof(buf) ? total - written : sizeof(buf);
			ssize_t n = ustack_send(p->st, c->fd, buf, k, 0);
			if (n == -EAGAIN)
				break;
			cr_assert_gt(n, 0);
			written += (uint32_t)n;
		}
		if (!(s = tpeer_next(p)))
			break;
		cr_assert_gt(s->h.len, 0u, "a segment without data");
		cr_assert_eq(s->h.window, c->ack_win, "the stack's window field moved: %u", s->h.window);
		uint32_t flight = tcp_info(p, c->fd).unacked;
		if (flight > max_flight)
			max_flight = flight;
		peer_ack(p, c, s->h.seq + s->h.len, win);
	}
	struct ustack_tcp_info ti = tcp_info(p, c->fd);
	cr_assert_eq(ti.unacked, 0u, "stalled with %u bytes in flight", ti.unacked);
	cr_assert_eq(ti.sendq, 0u, "stalled with %u bytes queued", ti.sendq);
	cr_assert_eq(ti.bytes_acked, total);
	return max_flight;
}

/* RFC 7323 2.2 and 2.3: both sides offered a shift in their SYNs, so
 * window fields after the handshake are scaled: the stack's first window,
 * its SYN's 64240 bytes rounded up to the unit as Linux does, goes out as
 * 64256 >> 7 = 502, and the peer's field 1024 means 131072 bytes, more
 * than an unscaled window could say. Without the peer's option neither
 * side scales. */
Test(flow, window_scaling)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	struct conn c;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460,
					.wscale = 7 };
	open_conn(&p, NULL, &o, 0, &c);
	const struct tseg *syn = &p.out[0];
	cr_assert(syn->h.opt.present & USTACK_OPT_WSCALE, "no window scale offered");
	cr_assert_eq(syn->h.opt.wscale, 7);
	cr_assert_eq(c.ack_win, 502);
	struct ustack_tcp_info ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.snd_wscale, 7);
	cr_assert_eq(ti.rcv_wscale, 7);
	uint32_t max = pump(&p, &c, 600000, 1024);
	cr_assert_gt(max, 65535u, "never more than %u bytes in flight", max);
	cr_assert_leq(max, 131072u, "%u bytes in flight, past the peer's window", max);
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.snd_wnd, 131072u);
	tpeer_fini(&p);

	tpeer_init(&p, NULL);
	struct ustack_tcp_options o2 = { .present = USTACK_OPT_MSS, .mss = 1460 };
	open_conn(&p, NULL, &o2, 0, &c);
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.rcv_wscale, 0);
	cr_assert_eq(ti.snd_wscale, 0);
	cr_assert_eq(c.ack_win, 64240, "unscaled window field %u", c.ack_win);
	max = pump(&p, &c, 600000, 65535);
	cr_assert_gt(max, 0u);
	cr_assert_leq(max, 65535u, "%u bytes in flight, past the peer's unscaled window", max);
	ti = tcp_info(&p, c.fd);
	cr_assert_eq(ti.snd_wnd, 65535u);
	tpeer_fini(&p);
}

static void get_cc(struct tpeer *p, int fd, const char *want)
{
	char name[16];
	socklen_t len = sizeof(name);
	memset(name, 0, sizeof(name));
	cr_assert_eq(ustack_getsockopt(p->st, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
	cr_assert_str_eq(name, want);
}

/* TCP_CONGESTION as Linux has it (default "cubic", -ENOENT for an algorithm
 * it lacks), and TCP_INFO's RTT: the SYN,ACK 50 ms after the SYN is the
 * first sample, so SRTT = 50 ms, RTTVAR = 25 ms (RFC 6298 2.2) and RTO =
 * SRTT + max(4 RTTVAR, 200 ms) as Linux's tcp_set_rto = 250 ms. */
Test(flow, congestion_option_and_rtt)
{
	struct tpeer p;
	tpeer_init(&p, NULL);
	int fd = ustack_socket(p.st, AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	get_cc(&p, fd, "cubic");
	cr_assert_eq(ustack_setsockopt(p.st, fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
	get_cc(&p, fd, "reno");
	cr_assert_eq(ustack_setsockopt(p.st, fd, IPPROTO_TCP, TCP_CONGESTION, "bogus", 5), -ENOENT);
	get_cc(&p, fd, "reno");
	cr_assert_eq(ustack_setsockopt(p.st, fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), 0);
	get_cc(&p, fd, "cubic");
	cr_assert_eq(ustack_close(p.st, fd), 0);

	struct conn c;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460,
					.wscale = 7 };
	open_conn(&p, "reno", &o, USTACK_MSEC(50), &c);
	get_cc(&p, c.fd, "reno");
	struct ustack_tcp_info ti = tcp_info(&p, c.fd);
	cr_assert_str_eq(ti.congestion, "reno");
	cr_assert_eq(ti.state, USTACK_TCP_ESTABLISHED);
	cr_assert_eq(ti.srtt_us, 50000u);
	cr_assert_eq(ti.rttvar_us, 25000u);
	cr_assert_eq(ti.rto_us, 50000u + 200000u);
	cr_assert_eq(ti.snd_mss, 1460u);
	cr_assert_eq(ti.cwnd, 14600u);
	cr_assert_eq(ti.ssthresh, UINT32_MAX);
	cr_assert_eq(ti.ca_state, 0);
	cr_assert_eq(ti.unacked, 0u);
	cr_assert_eq(ti.total_retrans, 0u);
	/* Linux can switch an established connection's algorithm. */
	cr_assert_eq(ustack_setsockopt(p.st, c.fd, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5), 0);
	ti = tcp_info(&p, c.fd);
	cr_assert_str_eq(ti.congestion, "cubic");
	cr_assert_eq(ti.srtt_us, 50000u);
	tpeer_fini(&p);
}
