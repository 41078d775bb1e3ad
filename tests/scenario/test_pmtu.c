/*
 * Path MTU discovery (RFC 1191) as Linux does it, and its defences against
 * forged messages (RFC 5927): a "fragmentation needed" quoting a segment in
 * flight lowers the connection's MSS and sends what no longer fits again at
 * once, cut smaller, with the congestion window kept in segments (Linux's
 * tcp_v4_mtu_reduced and tcp_simple_retransmit); anything else is counted
 * and changes nothing; an MTU below net.ipv4.route.min_pmtu is taken as
 * 552 with DF clear; the learned MTU serves new connections to the same
 * destination until net.ipv4.route.mtu_expires, in a table of bounded size.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "core/stack.h"
#include "testnet.h"
#include "wire/bytes.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"

#define PEER_PORT 80
#define PISS 1000u
#define ROUTER 0xC61200FEu /* 198.18.0.254 */

static struct tpeer P;

static void setup(void)
{
	tpeer_init(&P, NULL);
}

static void teardown(void)
{
	tpeer_fini(&P);
}

TestSuite(pmtu, .init = setup, .fini = teardown);

/* A "fragmentation needed" from a router on the way, naming next-hop MTU
 * mtu and quoting the header of a segment the stack sent from `from` on
 * lport to dst:rport with sequence number seq (RFC 792's 8 bytes). */
static void frag_needed_to(struct ustack *st, ustack_time_t now, uint32_t from, uint32_t dst, uint16_t lport,
			   uint16_t rport, uint32_t seq, uint16_t mtu)
{
	uint8_t q[64], m[64], pkt[128];
	t_build_packet(q, T_ADDR_A, dst, lport, rport, USTACK_TCP_ACK, seq, 0, 64240, NULL, 0, NULL);
	struct iovec iov = { q, 28 };
	us_icmp_build(m, US_ICMP_DEST_UNREACH, US_ICMP_FRAG_NEEDED, mtu, &iov, 1);
	memcpy(m + 8, q, 28);
	size_t n = t_build_ip(pkt, from, T_ADDR_A, US_IP_PROTO_ICMP, 1, 0, m, 36);
	cr_assert_eq(ustack_input(st, now, pkt, n), 0);
}

static void frag_needed(uint16_t lport, uint16_t rport, uint32_t seq, uint16_t mtu)
{
	frag_needed_to(P.st, P.now, ROUTER, P.peer_addr, lport, rport, seq, mtu);
}

static struct ustack_tcp_info info(int fd)
{
	return t_tcp_info(P.st, fd);
}

static void expect_data(const struct tseg *s, uint32_t seq, uint32_t len, const char *what)
{
	cr_assert(s, "%s: nothing sent\n%s", what, P.trace);
	cr_assert_eq(s->h.seq, seq, "%s: seq %u, want %u\n%s", what, s->h.seq, seq, P.trace);
	cr_assert_eq(s->h.len, len, "%s: len %u, want %u\n%s", what, s->h.len, len, P.trace);
}

/* Connects to the peer, which offers MSS 1460 and, if sack, SACK. */
static int open_conn(bool sack, uint32_t *iss, uint16_t *lport)
{
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert(syn && syn->h.flags == USTACK_TCP_SYN);
	*iss = syn->h.seq;
	*lport = syn->h.sport;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | (sack ? USTACK_OPT_SACK_PERM : 0), .mss = 1460 };
	tpeer_send(&P, PEER_PORT, *lport, USTACK_TCP_SYN | USTACK_TCP_ACK, PISS, *iss + 1, 65535, NULL, 0, &o);
	const struct tseg *ack = tpeer_next(&P);
	cr_assert(ack && ack->h.flags == USTACK_TCP_ACK);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
	return fd;
}

static void send_bytes(int fd, size_t n)
{
	static char buf[65536];
	cr_assert_eq(ustack_send(P.st, fd, buf, n, 0), (ssize_t)n);
}

/* The test of the packetdrill script pmtu/frag-needed-sack.pkt, checked
 * against Linux 6.18: three segments of 1460 in flight, a router says
 * 1200; each is sent again at once as 1160 + 300, the window still ten
 * segments, and TCP_INFO says so. */
Test(pmtu, valid_message_resends_smaller_at_once_sack)
{
	uint32_t iss;
	uint16_t lport;
	int fd = open_conn(true, &iss, &lport);
	send_bytes(fd, 4380);
	for (uint32_t i = 0; i < 3; i++)
		expect_data(tpeer_next(&P), iss + 1 + i * 1460, 1460, "first flight");
	cr_assert_null(tpeer_next(&P));
	struct ustack_tcp_info before = info(fd);
	cr_assert_eq(before.pmtu, 1500);
	cr_assert_eq(before.snd_mss, 1460);

	frag_needed(lport, PEER_PORT, iss + 1, 1200);
	static const uint32_t seq[] = { 0, 1160, 1460, 2620, 2920, 4080 };
	static const uint32_t len[] = { 1160, 300, 1160, 300, 1160, 300 };
	for (int i = 0; i < 6; i++)
		expect_data(tpeer_next(&P), iss + 1 + seq[i], len[i], "sent again, cut");
	cr_assert_null(tpeer_next(&P), "nothing more\n%s", P.trace);

	struct ustack_tcp_info ti = info(fd);
	cr_assert_eq(ti.pmtu, 1200);
	cr_assert_eq(ti.snd_mss, 1160);
	cr_assert_eq(ti.cwnd / ti.snd_mss, before.cwnd / before.snd_mss, "cwnd %u: not reduced (%u segments)",
		     ti.cwnd, before.cwnd / before.snd_mss);
	cr_assert_eq(ti.ssthresh, before.ssthresh, "ssthresh kept");
	cr_assert_eq(ti.ca_state, 2, "Linux's CA_Loss");
	cr_assert_eq(ti.lost, 6);
	cr_assert_eq(ti.total_retrans, 6);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_PMTU_UPDATES), 1);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_LEARNED), 1);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_TIMEOUTS), 0);

	/* The same message again (every segment of the old flight draws
	 * one): nothing more to do. */
	frag_needed(lport, PEER_PORT, iss + 1461, 1200);
	cr_assert_null(tpeer_next(&P));
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_PMTU_NOT_SMALLER), 1);

	/* All of it arrives; new data goes out in 1160-byte segments. */
	tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS + 1, iss + 4381, 65535, NULL, 0, NULL);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_ESTABLISHED);
	cr_assert_eq(info(fd).ca_state, 0, "the episode is over");
	send_bytes(fd, 2000);
	expect_data(tpeer_next(&P), iss + 4381, 1160, "new data");
	expect_data(tpeer_next(&P), iss + 4381 + 1160, 840, "new data");
}

/* Without SACK there is no record of the segments' sizes: everything in
 * flight is sent again in segments of the new MSS, still without touching
 * the window. */
Test(pmtu, valid_message_resends_smaller_at_once_no_sack)
{
	uint32_t iss;
	uint16_t lport;
	int fd = open_conn(false, &iss, &lport);
	send_bytes(fd, 4380);
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(tpeer_next(&P));
	uint32_t cwnd_segs = info(fd).cwnd / 1460;
	frag_needed(lport, PEER_PORT, iss + 2921, 1200);
	expect_data(tpeer_next(&P), iss + 1, 1160, "again");
	expect_data(tpeer_next(&P), iss + 1161, 1160, "again");
	expect_data(tpeer_next(&P), iss + 2321, 1160, "again");
	expect_data(tpeer_next(&P), iss + 3481, 900, "again");
	cr_assert_null(tpeer_next(&P));
	cr_assert_eq(info(fd).cwnd / 1160, cwnd_segs, "cwnd kept in segments");
	tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS + 1, iss + 4381, 65535, NULL, 0, NULL);
	cr_assert_null(tpeer_next(&P));
	cr_assert_eq(info(fd).unacked, 0);
}

/* RFC 5927: what a blind attacker can send is counted and changes
 * nothing. */
Test(pmtu, forged_messages_change_nothing)
{
	uint32_t iss;
	uint16_t lport;
	int fd = open_conn(true, &iss, &lport);
	send_bytes(fd, 2920);
	cr_assert_not_null(tpeer_next(&P));
	cr_assert_not_null(tpeer_next(&P));
	/* Linux's check: SND.UNA <= seq <= SND.NXT. */
	frag_needed(lport, PEER_PORT, iss, 1200);
	frag_needed(lport, PEER_PORT, iss + 2922, 1200);
	frag_needed(lport, PEER_PORT, iss + 1 - (1u << 30), 1200);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_OUT_OF_WINDOW), 3);
	/* Another four-tuple. */
	frag_needed(lport, PEER_PORT + 1, iss + 1, 1200);
	frag_needed((uint16_t)(lport + 1), PEER_PORT, iss + 1, 1200);
	frag_needed_to(P.st, P.now, ROUTER, 0xC6120003u, lport, PEER_PORT, iss + 1, 1200);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_NO_SOCKET), 3);
	/* An MTU no smaller than the path's: only ever lowered. */
	frag_needed(lport, PEER_PORT, iss + 1, 1500);
	frag_needed(lport, PEER_PORT, iss + 1, 9000);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_PMTU_NOT_SMALLER), 2);
	cr_assert_null(tpeer_next(&P), "nothing sent");
	struct ustack_tcp_info ti = info(fd);
	cr_assert_eq(ti.snd_mss, 1460);
	cr_assert_eq(ti.pmtu, 1500);
	cr_assert_eq(ti.ca_state, 0);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_PMTU_UPDATES), 0);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_LEARNED), 0);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_ICMP_IN_SOFT_ERRORS), 0);
	/* Off: the sysctl's mode 1 ignores even a valid one. */
	cr_assert_eq(ustack_sysctl_set(P.st, "net.ipv4.ip_no_pmtu_disc", "1"), 0);
	frag_needed(lport, PEER_PORT, iss + 1, 1200);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_FRAG_NEEDED), 1);
	cr_assert_eq(info(fd).snd_mss, 1460);
}

/* Linux's __ip_rt_update_pmtu: below min_pmtu (552) the MTU is 552 and
 * locked, and an old router's 0 (RFC 1191 5) is no different: no plateau
 * is guessed. Checked against Linux 6.18 (pmtu/frag-needed-below-min.pkt). */
Test(pmtu, below_min_pmtu_clamped)
{
	static const uint16_t mtus[] = { 68, 0 };
	for (int k = 0; k < 2; k++) {
		tpeer_fini(&P);
		tpeer_init(&P, NULL);
		uint32_t iss;
		uint16_t lport;
		int fd = open_conn(true, &iss, &lport);
		send_bytes(fd, 1460);
		cr_assert_not_null(tpeer_next(&P));
		frag_needed(lport, PEER_PORT, iss + 1, mtus[k]);
		expect_data(tpeer_next(&P), iss + 1, 512, "552 less 40");
		expect_data(tpeer_next(&P), iss + 513, 512, "552 less 40");
		expect_data(tpeer_next(&P), iss + 1025, 436, "the rest");
		cr_assert_eq(info(fd).pmtu, 552);
		cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_CLAMPED), 1);
		cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_PMTU_UPDATES), 1);
		/* And no further: the floor holds, and the entry stays as it
		 * was. */
		frag_needed(lport, PEER_PORT, iss + 1, 68);
		cr_assert_eq(info(fd).pmtu, 552);
		cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_ICMP_PMTU_NOT_SMALLER), 1);
		cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_LEARNED), 1);
		cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_CLAMPED), 2);
	}
	/* The floor is the sysctl. */
	tpeer_fini(&P);
	tpeer_init(&P, NULL);
	cr_assert_eq(ustack_sysctl_set(P.st, "net.ipv4.route.min_pmtu", "1280"), 0);
	uint32_t iss;
	uint16_t lport;
	int fd = open_conn(false, &iss, &lport);
	send_bytes(fd, 100);
	cr_assert_not_null(tpeer_next(&P));
	frag_needed(lport, PEER_PORT, iss + 1, 1000);
	cr_assert_eq(info(fd).pmtu, 1280);
	cr_assert_eq(info(fd).snd_mss, 1240);
}

/* A connection with SACK whose first full segment draws a valid
 * "fragmentation needed" for mtu; what it sent is read. */
static int open_and_learn(uint16_t mtu, uint32_t *iss, uint16_t *lport)
{
	int fd = open_conn(true, iss, lport);
	send_bytes(fd, 1460);
	cr_assert_not_null(tpeer_next(&P));
	frag_needed(*lport, PEER_PORT, *iss + 1, mtu);
	while (tpeer_next(&P))
		;
	return fd;
}

/* A connection made later to the same destination starts from what was
 * learned: its SYN announces 1160 (Linux's advmss follows the route's
 * MTU), and it sends no more. Another destination is not concerned. */
Test(pmtu, new_connection_uses_learned_mtu)
{
	uint32_t iss;
	uint16_t lport;
	open_and_learn(1200, &iss, &lport);
	uint32_t iss2;
	uint16_t lport2;
	int fd2 = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd2, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert(syn && (syn->h.opt.present & USTACK_OPT_MSS));
	cr_assert_eq(syn->h.opt.mss, 1160, "the SYN announces %u", syn->h.opt.mss);
	iss2 = syn->h.seq;
	lport2 = syn->h.sport;
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = 1460 };
	tpeer_send(&P, PEER_PORT, lport2, USTACK_TCP_SYN | USTACK_TCP_ACK, 9000, iss2 + 1, 65535, NULL, 0, &o);
	cr_assert_not_null(tpeer_next(&P));
	cr_assert_eq(info(fd2).snd_mss, 1160);
	cr_assert_eq(info(fd2).pmtu, 1200);
	send_bytes(fd2, 1460);
	expect_data(tpeer_next(&P), iss2 + 1, 1160, "second connection");
	expect_data(tpeer_next(&P), iss2 + 1161, 300, "second connection");

	int fd3 = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	sin = t_sin(0xC6120003u, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd3, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	syn = tpeer_next(&P);
	cr_assert(syn);
	cr_assert_eq(syn->h.opt.mss, 1460, "another destination");
}

/* Another connection to the same destination, already open, takes the
 * smaller MTU at its next segment (Linux's tcp_current_mss re-reading the
 * route), without a message of its own. */
Test(pmtu, open_connection_follows_the_destination)
{
	uint32_t iss, iss2;
	uint16_t lport, lport2;
	int fd = open_conn(true, &iss, &lport);
	int fd2 = open_conn(true, &iss2, &lport2);
	send_bytes(fd, 100);
	cr_assert_not_null(tpeer_next(&P));
	frag_needed(lport, PEER_PORT, iss + 1, 1200);
	cr_assert_eq(info(fd).snd_mss, 1160);
	send_bytes(fd2, 2000);
	expect_data(tpeer_next(&P), iss2 + 1, 1160, "the other connection");
	expect_data(tpeer_next(&P), iss2 + 1161, 840, "the other connection");
	cr_assert_eq(info(fd2).pmtu, 1200);
}

/* net.ipv4.route.mtu_expires: after 600 s the destination's MTU is the
 * link's again, for the connection that learned it and for new ones. */
Test(pmtu, learned_mtu_expires)
{
	uint32_t iss;
	uint16_t lport;
	int fd = open_and_learn(1200, &iss, &lport);
	tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS + 1, iss + 1461, 65535, NULL, 0, NULL);
	tpeer_advance(&P, USTACK_SEC(599));
	send_bytes(fd, 1460);
	expect_data(tpeer_next(&P), iss + 1461, 1160, "still learned at 599 s");
	expect_data(tpeer_next(&P), iss + 2621, 300, "still learned at 599 s");
	tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS + 1, iss + 2921, 65535, NULL, 0, NULL);
	tpeer_advance(&P, USTACK_SEC(1));
	send_bytes(fd, 1460);
	expect_data(tpeer_next(&P), iss + 2921, 1460, "forgotten at 600 s");
	cr_assert_eq(info(fd).pmtu, 1500);
	cr_assert_eq(info(fd).snd_mss, 1460);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_EXPIRED), 1);
	int fd2 = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd2, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert(syn);
	cr_assert_eq(syn->h.opt.mss, 1460);
}

/* Valid messages for a thousand destinations (connections being opened
 * to each, so that every message passes): the table keeps at most its
 * 256 entries, pushing out the oldest, and counts what it pushed out. */
Test(pmtu, table_bounded_under_flood)
{
	enum { NDST = 1000 };
	static uint32_t isn[NDST];
	static uint16_t port[NDST];
	for (uint32_t i = 0; i < NDST; i++) {
		int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sin = t_sin(0x0A000000u + i + 1, PEER_PORT);
		cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
		const struct tseg *syn = tpeer_next(&P);
		cr_assert(syn);
		isn[i] = syn->h.seq;
		port[i] = syn->h.sport;
	}
	for (uint32_t i = 0; i < NDST; i++) {
		frag_needed_to(P.st, P.now, ROUTER, 0x0A000000u + i + 1, port[i], PEER_PORT, isn[i], 1000);
		P.now += USTACK_MSEC(1);
	}
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_TCP_PMTU_UPDATES), NDST);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_LEARNED), NDST);
	uint32_t live = 0;
	for (int i = 0; i < US_PMTU_BUCKETS * US_PMTU_WAYS; i++)
		live += P.st->pmtu.e[i].mtu != 0;
	cr_assert_eq(live, P.st->pmtu.n);
	cr_assert_leq(live, US_PMTU_BUCKETS * US_PMTU_WAYS);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_IP_PMTU_EVICTED), NDST - live, "every entry pushed out counted");
	/* The most recent destination is remembered; a new connection to it
	 * announces 960. */
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0x0A000000u + NDST, 81);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert(syn);
	cr_assert_eq(syn->h.opt.mss, 960);
	char why[256];
	cr_assert_eq(us_check_invariants(P.st, why, sizeof(why)), 0, "%s", why);
}

/* ---- DF, read off the raw packets ---- */

static bool df_of(const struct tpkt *p)
{
	return (p->b[6] & 0x40) != 0;
}

/* A raw stack listening on port 80; returns the listener. */
static int raw_listen(struct traw *r)
{
	traw_init(r, NULL);
	int lfd = t_listen(r->st, T_ADDR_A, 80, 4);
	cr_assert_geq(lfd, 0);
	return lfd;
}

/* The SYN,ACK the stack answers a SYN from sport with. */
static const struct tpkt *raw_syn(struct traw *r, uint16_t sport)
{
	uint8_t pkt[256];
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = 1460 };
	traw_input(r, pkt,
		   t_build_packet(pkt, T_ADDR_B, T_ADDR_A, sport, 80, USTACK_TCP_SYN, 100, 0, 65535, NULL, 0, &o));
	const struct tpkt *sa = traw_next(r);
	cr_assert(sa, "no SYN,ACK");
	return sa;
}

/* RFC 1191 3: TCP sets DF, until the path MTU is locked at min_pmtu; then
 * the path is left to fragment (Linux's ip_dont_fragment on a locked
 * route). */
Test(pmtu, df_clear_once_locked)
{
	struct traw r;
	int lfd = raw_listen(&r);
	const struct tpkt *sa = raw_syn(&r, 5555);
	cr_assert(df_of(sa), "the SYN,ACK has DF");
	uint32_t iss = us_get32(sa->b + 24);
	uint8_t pkt[256];
	traw_input(&r, pkt, t_build_packet(pkt, T_ADDR_B, T_ADDR_A, 5555, 80, USTACK_TCP_ACK, 101, iss + 1, 65535,
					   NULL, 0, NULL));
	int fd = ustack_accept(r.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	static char buf[1460];
	cr_assert_eq(ustack_send(r.st, fd, buf, sizeof(buf), 0), 1460);
	const struct tpkt *d = traw_next(&r);
	cr_assert(d && d->len == 1500);
	cr_assert(df_of(d), "data has DF");
	frag_needed_to(r.st, r.now, ROUTER, T_ADDR_B, 80, 5555, iss + 1, 68);
	d = traw_next(&r);
	cr_assert(d);
	cr_assert_eq(d->len, 552);
	cr_assert_not(df_of(d), "locked at min_pmtu: DF clear");
	traw_fini(&r);
}

/* net.ipv4.ip_no_pmtu_disc: connections made afterwards send with DF
 * clear (Linux's IP_PMTUDISC_DONT), and a child still in SYN_RECEIVED
 * ignores the message, as Linux's tcp_req_err: a SYN,ACK fits any path. */
Test(pmtu, no_pmtu_disc_and_syn_received)
{
	struct traw r;
	raw_listen(&r);
	const struct tpkt *sa = raw_syn(&r, 5555);
	uint32_t iss = us_get32(sa->b + 24);
	frag_needed_to(r.st, r.now, ROUTER, T_ADDR_B, 80, 5555, iss, 576);
	cr_assert_eq(ustack_stat(r.st, USTACK_STAT_DROP_ICMP_FRAG_NEEDED), 1);
	cr_assert_eq(ustack_stat(r.st, USTACK_STAT_IP_PMTU_LEARNED), 0);
	cr_assert_null(traw_next(&r));

	cr_assert_eq(ustack_sysctl_set(r.st, "net.ipv4.ip_no_pmtu_disc", "1"), 0);
	sa = raw_syn(&r, 5556);
	cr_assert_not(df_of(sa), "made with discovery off: DF clear");
	traw_fini(&r);
}
