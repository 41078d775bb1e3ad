/*
 * Linux's settings by name (ustack_sysctl_*, docs/SYSCTL.md): every name
 * reads back what was written, values are parsed as Linux's /proc/sys
 * parses them and refused as it refuses them, and the settings ustack acts
 * on change what goes on the wire.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testnet.h"

#define PEER_PORT 80
#define PISS 5000u

static struct tpeer P;

static void setup(void)
{
	tpeer_init(&P, NULL);
}

static void teardown(void)
{
	tpeer_fini(&P);
}

static const char *get(const char *name)
{
	static char buf[128];
	int n = ustack_sysctl_get(P.st, name, buf, sizeof(buf));
	cr_assert_geq(n, 0, "get %s: %d", name, n);
	cr_assert_lt(n, (int)sizeof(buf));
	return buf;
}

static void set_ok(const char *name, const char *v)
{
	int err = ustack_sysctl_set(P.st, name, v);
	cr_assert_eq(err, 0, "set %s=\"%s\": %d", name, v, err);
}

static void set_err(const char *name, const char *v, int want)
{
	char before[128];
	snprintf(before, sizeof(before), "%s", get(name));
	int err = ustack_sysctl_set(P.st, name, v);
	cr_assert_eq(err, want, "set %s=\"%s\": %d, want %d", name, v, err, want);
	cr_assert_str_eq(get(name), before, "a refused write to %s changed it", name);
}

TestSuite(sysctl, .init = setup, .fini = teardown);

/* Linux's stock values, as /proc/sys shows them on a fresh 6.x kernel
 * (tcp_max_syn_backlog and tcp_rmem/wmem[2] vary with memory there). */
Test(sysctl, defaults)
{
	static const char *const want[][2] = {
		{ "net.core.rmem_max", "212992" },
		{ "net.core.somaxconn", "4096" },
		{ "net.ipv4.ip_local_port_range", "32768\t60999" },
		{ "net.ipv4.tcp_congestion_control", "cubic" },
		{ "net.ipv4.tcp_dsack", "1" },
		{ "net.ipv4.tcp_early_retrans", "3" },
		{ "net.ipv4.tcp_fin_timeout", "60" },
		{ "net.ipv4.tcp_frto", "2" },
		{ "net.ipv4.tcp_invalid_ratelimit", "500" },
		{ "net.ipv4.tcp_keepalive_intvl", "75" },
		{ "net.ipv4.tcp_keepalive_probes", "9" },
		{ "net.ipv4.tcp_keepalive_time", "7200" },
		{ "net.ipv4.tcp_min_snd_mss", "48" },
		{ "net.ipv4.tcp_recovery", "1" },
		{ "net.ipv4.tcp_reordering", "3" },
		{ "net.ipv4.tcp_retries2", "15" },
		{ "net.ipv4.tcp_rmem", "4096\t131072\t6291456" },
		{ "net.ipv4.tcp_rto_min_us", "200000" },
		{ "net.ipv4.tcp_rto_max_ms", "120000" },
		{ "net.ipv4.tcp_sack", "1" },
		{ "net.ipv4.tcp_slow_start_after_idle", "1" },
		{ "net.ipv4.tcp_syn_retries", "6" },
		{ "net.ipv4.tcp_synack_retries", "5" },
		{ "net.ipv4.tcp_syncookies", "1" },
		{ "net.ipv4.tcp_timestamps", "1" },
		{ "net.ipv4.tcp_window_scaling", "1" },
		{ "net.ipv4.tcp_wmem", "4096\t16384\t4194304" },
		{ "net.ipv4.tcp_adv_win_scale", "1" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_str_eq(get(want[i][0]), want[i][1], "%s", want[i][0]);
}

/* Every name: what is read can be written back, and a second valid value
 * reads back as written. */
Test(sysctl, every_name_round_trips)
{
	unsigned n = 0;
	const char *prev = "";
	for (const char *name; (name = ustack_sysctl_name(n)); n++) {
		cr_assert_gt(strcmp(name, prev), 0, "names not sorted or repeated: %s after %s", name, prev);
		prev = name;
		char v[128];
		snprintf(v, sizeof(v), "%s", get(name));
		if (!strcmp(name, "net.ipv4.tcp_available_congestion_control")) {
			set_err(name, v, -EPERM);
			continue;
		}
		set_ok(name, v);
		cr_assert_str_eq(get(name), v, "%s", name);
	}
	cr_assert_geq(n, 30u, "only %u names", n);
	cr_assert_null(ustack_sysctl_name(n + 1));
	static const char *const other[][2] = {
		{ "net.core.rmem_max", "4194304" },
		{ "net.core.somaxconn", "128" },
		{ "net.ipv4.icmp_msgs_burst", "7" },
		{ "net.ipv4.icmp_msgs_per_sec", "20" },
		{ "net.ipv4.ip_local_port_range", "1024\t2047" },
		{ "net.ipv4.ip_no_pmtu_disc", "1" },
		{ "net.ipv4.ipfrag_high_thresh", "262144" },
		{ "net.ipv4.ipfrag_time", "5" },
		{ "net.ipv4.route.min_pmtu", "1280" },
		{ "net.ipv4.route.mtu_expires", "60" },
		{ "net.ipv4.tcp_abort_on_overflow", "1" },
		{ "net.ipv4.tcp_adv_win_scale", "-2" },
		{ "net.ipv4.tcp_base_mss", "512" },
		{ "net.ipv4.tcp_challenge_ack_limit", "1000" },
		{ "net.ipv4.tcp_comp_sack_nr", "0" },
		{ "net.ipv4.tcp_congestion_control", "reno" },
		{ "net.ipv4.tcp_dsack", "0" },
		{ "net.ipv4.tcp_early_retrans", "4" },
		{ "net.ipv4.tcp_fin_timeout", "5" },
		{ "net.ipv4.tcp_frto", "0" },
		{ "net.ipv4.tcp_invalid_ratelimit", "0" },
		{ "net.ipv4.tcp_keepalive_intvl", "1" },
		{ "net.ipv4.tcp_keepalive_probes", "255" },
		{ "net.ipv4.tcp_keepalive_time", "32768" },
		{ "net.ipv4.tcp_max_reordering", "1000" },
		{ "net.ipv4.tcp_max_syn_backlog", "128" },
		{ "net.ipv4.tcp_mem", "1024\t2048\t4096" },
		{ "net.ipv4.tcp_min_rtt_wlen", "0" },
		{ "net.ipv4.tcp_min_snd_mss", "536" },
		{ "net.ipv4.tcp_moderate_rcvbuf", "0" },
		{ "net.ipv4.tcp_mtu_probing", "0" }, /* the one value taken: no probing */
		{ "net.ipv4.tcp_recovery", "0" },
		{ "net.ipv4.tcp_reordering", "10" },
		{ "net.ipv4.tcp_retries2", "3" },
		{ "net.ipv4.tcp_rmem", "4096\t87380\t16777216" },
		{ "net.ipv4.tcp_rto_max_ms", "60000" },
		{ "net.ipv4.tcp_rto_min_us", "5000" },
		{ "net.ipv4.tcp_sack", "0" },
		{ "net.ipv4.tcp_slow_start_after_idle", "0" },
		{ "net.ipv4.tcp_syn_retries", "127" },
		{ "net.ipv4.tcp_synack_retries", "0" },
		{ "net.ipv4.tcp_syncookies", "2" },
		{ "net.ipv4.tcp_timestamps", "2" },
		{ "net.ipv4.tcp_window_scaling", "0" },
		{ "net.ipv4.tcp_wmem", "8192\t65536\t1048576" },
	};
	size_t nother = sizeof(other) / sizeof(other[0]);
	cr_assert_eq(nother + 1, n, "a name without a second value here");
	for (size_t i = 0; i < nother; i++) {
		set_ok(other[i][0], other[i][1]);
		cr_expect_str_eq(get(other[i][0]), other[i][1], "%s", other[i][0]);
	}
}

/* sysctl(8)'s two spellings and /proc/sys's path; nothing else. */
Test(sysctl, name_forms)
{
	set_ok("net/ipv4/tcp_sack", "0");
	cr_assert_str_eq(get("net.ipv4.tcp_sack"), "0");
	set_ok("/proc/sys/net/ipv4/tcp_sack", "1");
	cr_assert_str_eq(get("net/ipv4/tcp_sack"), "1");
	set_ok("net/core/somaxconn", "64");
	cr_assert_str_eq(get("/proc/sys/net/core/somaxconn"), "64");
	char buf[16];
	cr_assert_eq(ustack_sysctl_set(P.st, "tcp_sack", "0"), -ENOENT, "a bare name is not one");
	cr_assert_eq(ustack_sysctl_set(P.st, "net.ipv4.tcp_ecn", "0"), -ENOENT);
	cr_assert_eq(ustack_sysctl_set(P.st, "net/ipv4.tcp_sack", "0"), -ENOENT);
	cr_assert_eq(ustack_sysctl_set(P.st, "net.ipv4.tcp_sack.", "0"), -ENOENT);
	cr_assert_eq(ustack_sysctl_set(P.st, "", "0"), -ENOENT);
	cr_assert_eq(ustack_sysctl_set(P.st, NULL, "0"), -ENOENT);
	cr_assert_eq(ustack_sysctl_get(P.st, "net.ipv4.tcp_fack", buf, sizeof(buf)), -ENOENT);
	cr_assert_str_eq(get("net.ipv4.tcp_sack"), "1");
	/* NAME=VALUE, as the tools take it, blanks allowed around the name. */
	cr_assert_eq(ustack_sysctl_assign(P.st, " net.ipv4.tcp_dsack = 0"), 0);
	cr_assert_str_eq(get("net.ipv4.tcp_dsack"), "0");
	cr_assert_eq(ustack_sysctl_assign(P.st, "net.ipv4.tcp_dsack"), -EINVAL);
	cr_assert_eq(ustack_sysctl_assign(P.st, "net.ipv4.nope=1"), -ENOENT);
}

/* As proc_dointvec reads a write: base 0, blanks around, a number ends at
 * a blank, range checked, nothing written on error. */
Test(sysctl, values_parse_like_linux)
{
	set_ok("net.ipv4.tcp_reordering", "0x10");
	cr_assert_str_eq(get("net.ipv4.tcp_reordering"), "16");
	set_ok("net.ipv4.tcp_reordering", "010");
	cr_assert_str_eq(get("net.ipv4.tcp_reordering"), "8");
	set_ok("net.ipv4.tcp_reordering", "  5\n");
	cr_assert_str_eq(get("net.ipv4.tcp_reordering"), "5");
	set_err("net.ipv4.tcp_reordering", "", -EINVAL);
	set_err("net.ipv4.tcp_reordering", " \n", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "abc", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "7x", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "+7", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "0x", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "09", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "0", -EINVAL);
	set_err("net.ipv4.tcp_reordering", "99999999999999999999", -EINVAL);
	/* No PLPMTUD (RFC 4821): asking for it is refused, not ignored. */
	set_err("net.ipv4.tcp_mtu_probing", "1", -EINVAL);
	/* RFC 791's smallest MTU is Linux's floor too. */
	set_err("net.ipv4.route.min_pmtu", "67", -EINVAL);
	set_err("net.ipv4.tcp_sack", "2", -EINVAL);
	set_err("net.ipv4.tcp_sack", "-1", -EINVAL);
	set_err("net.ipv4.tcp_early_retrans", "5", -EINVAL);
	set_err("net.ipv4.tcp_keepalive_probes", "256", -EINVAL);
	set_err("net.ipv4.tcp_syn_retries", "0", -EINVAL);
	set_err("net.ipv4.tcp_syn_retries", "128", -EINVAL);
	set_err("net.ipv4.tcp_min_snd_mss", "47", -EINVAL);
	set_err("net.ipv4.tcp_rto_max_ms", "999", -EINVAL);
	set_err("net.ipv4.tcp_rto_min_us", "1500", -EINVAL);
	set_err("net.ipv4.tcp_adv_win_scale", "32", -EINVAL);
	set_err("net.core.rmem_max", "2303", -EINVAL);
	set_ok("net.ipv4.tcp_adv_win_scale", "-31");
	cr_assert_eq(ustack_sysctl_set(P.st, "net.ipv4.tcp_sack", NULL), -EINVAL);
}

/* Vectors: blanks of any kind between, the leading elements given are
 * set (Linux's `echo 8192 > tcp_rmem`), what follows the last is not
 * read, every element checked before any is written. */
Test(sysctl, vectors)
{
	set_ok("net.ipv4.tcp_rmem", "4096\t540000  15728640\n");
	cr_assert_str_eq(get("net.ipv4.tcp_rmem"), "4096\t540000\t15728640");
	set_ok("net.ipv4.tcp_rmem", "8192");
	cr_assert_str_eq(get("net.ipv4.tcp_rmem"), "8192\t540000\t15728640");
	set_ok("net.ipv4.tcp_wmem", "4096 262144 4194304 99");
	cr_assert_str_eq(get("net.ipv4.tcp_wmem"), "4096\t262144\t4194304");
	set_err("net.ipv4.tcp_rmem", "4096 0 6291456", -EINVAL);
	set_err("net.ipv4.tcp_rmem", "4096 87380 x", -EINVAL);
	set_err("net.ipv4.tcp_rmem", "4096 87380 1000", -EINVAL);
	set_err("net.ipv4.ip_local_port_range", "40000 30000", -EINVAL);
	set_err("net.ipv4.ip_local_port_range", "0 30000", -EINVAL);
	set_err("net.ipv4.ip_local_port_range", "1024 65536", -EINVAL);
	set_ok("net.ipv4.ip_local_port_range", "40000 40000");
	set_err("net.ipv4.ip_local_port_range", "40001", -EINVAL);
	set_ok("net.ipv4.ip_local_port_range", "39999");
	cr_assert_str_eq(get("net.ipv4.ip_local_port_range"), "39999\t40000");
	/* A new connection's port comes from the range. */
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *syn = tpeer_next(&P);
	cr_assert(syn);
	cr_assert(syn->h.sport == 39999 || syn->h.sport == 40000, "port %u", syn->h.sport);
}

Test(sysctl, congestion_control)
{
	cr_assert_str_eq(get("net.ipv4.tcp_available_congestion_control"), "reno cubic");
	set_err("net.ipv4.tcp_congestion_control", "vegas", -ENOENT);
	set_err("net.ipv4.tcp_congestion_control", "cubicc", -ENOENT);
	set_err("net.ipv4.tcp_congestion_control", "a-name-longer-than-sixteen", -ENOENT);
	set_err("net.ipv4.tcp_congestion_control", "", -EINVAL);
	set_err("net.ipv4.tcp_available_congestion_control", "reno", -EPERM);
	set_ok("net.ipv4.tcp_congestion_control", "reno\n");
	cr_assert_str_eq(get("net.ipv4.tcp_congestion_control"), "reno");
	/* New sockets take it. */
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	char name[16] = "";
	socklen_t len = sizeof(name);
	cr_assert_eq(ustack_getsockopt(P.st, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
	cr_assert_str_eq(name, "reno");
	set_ok("net.ipv4.tcp_congestion_control", "cubic");
	fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	len = sizeof(name);
	cr_assert_eq(ustack_getsockopt(P.st, fd, IPPROTO_TCP, TCP_CONGESTION, name, &len), 0);
	cr_assert_str_eq(name, "cubic");
}

/* Runs timers until the stack sends something or `limit` passes. */
static const struct tseg *run_until_output(ustack_time_t limit)
{
	const struct tseg *s;
	while (!(s = tpeer_next(&P))) {
		ustack_time_t d = ustack_next_deadline(P.st);
		if (d > limit) {
			if (limit > P.now)
				tpeer_advance(&P, limit - P.now);
			return tpeer_next(&P);
		}
		tpeer_advance(&P, d > P.now ? d - P.now : 0);
	}
	return s;
}

/* tcp_keepalive_time, _intvl and _probes are a new socket's TCP_KEEPIDLE,
 * TCP_KEEPINTVL and TCP_KEEPCNT. */
Test(sysctl, keepalive)
{
	set_ok("net.ipv4.tcp_keepalive_time", "100");
	set_ok("net.ipv4.tcp_keepalive_intvl", "5");
	set_ok("net.ipv4.tcp_keepalive_probes", "2");
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, PEER_PORT, PISS, &iss, &lport);
	cr_assert_geq(fd, 0);
	int one = 1, v = 0;
	socklen_t len = sizeof(v);
	cr_assert_eq(ustack_setsockopt(P.st, fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)), 0);
	cr_assert_eq(ustack_getsockopt(P.st, fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
	cr_assert_eq(v, 100);
	ustack_time_t t0 = P.now;
	cr_assert_null(run_until_output(t0 + USTACK_SEC(100) - 1), "probe before 100 s");
	const struct tseg *s = run_until_output(t0 + USTACK_SEC(100));
	cr_assert(s, "no probe at 100 s");
	cr_assert_eq(s->h.seq, iss, "a probe is at SND.UNA - 1");
	s = run_until_output(t0 + USTACK_SEC(105));
	cr_assert(s, "no second probe 5 s later");
	cr_assert_eq(s->t, t0 + USTACK_SEC(105));
	/* The second unanswered probe was the last: 5 s later, RST. */
	s = run_until_output(t0 + USTACK_SEC(110));
	cr_assert(s && (s->h.flags & USTACK_TCP_RST), "no RST after two probes");
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
}

/* tcp_syn_retries: SYNs at 0, 1 and 3 s for 2 retries, giving up at 7 s. */
Test(sysctl, syn_retries)
{
	set_ok("net.ipv4.tcp_syn_retries", "2");
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	ustack_time_t t0 = P.now;
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	int syns = 0;
	for (const struct tseg *s; (s = run_until_output(t0 + USTACK_SEC(60)));)
		if (s->h.flags == USTACK_TCP_SYN)
			syns++;
	cr_assert_eq(syns, 3);
	cr_assert_eq(ustack_sock_state(P.st, fd), USTACK_TCP_CLOSED);
	char b;
	cr_assert_eq(ustack_recv(P.st, fd, &b, 1, 0), -ETIMEDOUT);
}

/* tcp_window_scaling=0: no window scale option in our SYN or SYN,ACK,
 * and the peer's is ignored. */
Test(sysctl, window_scaling_off)
{
	set_ok("net.ipv4.tcp_window_scaling", "0");
	int fd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(P.peer_addr, PEER_PORT);
	cr_assert_eq(ustack_connect(P.st, fd, T_SA(sin), sizeof(sin)), -EINPROGRESS);
	const struct tseg *s = tpeer_next(&P);
	cr_assert(s && s->h.flags == USTACK_TCP_SYN);
	cr_assert(s->h.opt.present & USTACK_OPT_MSS);
	cr_assert_not(s->h.opt.present & USTACK_OPT_WSCALE, "SYN offers window scaling");

	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 8080);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1460, .wscale = 7 };
	tpeer_send(&P, 40000, 8080, USTACK_TCP_SYN, PISS, 0, 65535, NULL, 0, &o);
	s = tpeer_next(&P);
	cr_assert(s && s->h.flags == (USTACK_TCP_SYN | USTACK_TCP_ACK));
	cr_assert_not(s->h.opt.present & USTACK_OPT_WSCALE, "SYN,ACK answers window scaling");
	uint32_t iss = s->h.seq;
	/* Unscaled from now on: the peer's 1000 means 1000 bytes. */
	tpeer_send(&P, 40000, 8080, USTACK_TCP_ACK, PISS + 1, iss + 1, 1000, NULL, 0, NULL);
	int afd = ustack_accept(P.st, lfd, NULL, NULL);
	cr_assert_geq(afd, 0);
	static char data[4000];
	cr_assert_eq(ustack_send(P.st, afd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	uint32_t sent = 0;
	while ((s = tpeer_next(&P)))
		sent += s->h.len;
	cr_assert_eq(sent, 1000u, "sent %u into a 1000-byte window", sent);
}

/* tcp_min_snd_mss: a peer's smaller MSS is raised to it. */
Test(sysctl, min_snd_mss)
{
	set_ok("net.ipv4.tcp_min_snd_mss", "1000");
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 8080);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS, .mss = 100 };
	tpeer_send(&P, 40000, 8080, USTACK_TCP_SYN, PISS, 0, 65535, NULL, 0, &o);
	const struct tseg *s = tpeer_next(&P);
	cr_assert(s);
	tpeer_send(&P, 40000, 8080, USTACK_TCP_ACK, PISS + 1, s->h.seq + 1, 65535, NULL, 0, NULL);
	int afd = ustack_accept(P.st, lfd, NULL, NULL);
	cr_assert_geq(afd, 0);
	static char data[3000];
	cr_assert_eq(ustack_send(P.st, afd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	s = tpeer_next(&P);
	cr_assert(s);
	cr_assert_eq(s->h.len, 1000u, "segment of %u bytes", s->h.len);
}

/* tcp_max_syn_backlog without cookies: Linux drops a SYN once less than a
 * quarter of it is left, whatever the listener's own backlog. */
Test(sysctl, max_syn_backlog)
{
	set_ok("net.ipv4.tcp_max_syn_backlog", "8");
	set_ok("net.ipv4.tcp_syncookies", "0");
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 8080);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 100), 0);
	int synacks = 0;
	for (uint16_t port = 40000; port < 40010; port++) {
		tpeer_send(&P, port, 8080, USTACK_TCP_SYN, PISS, 0, 65535, NULL, 0, NULL);
		while (tpeer_next(&P))
			synacks++;
	}
	cr_assert_eq(synacks, 7, "8 - 7 < 8/4: the eighth is dropped, got %d", synacks);
	cr_assert_eq(ustack_stat(P.st, USTACK_STAT_DROP_TCP_LISTEN_OVERFLOW), 3);
}

static int count_fin_wait_2(void *ctx, const struct ustack_conn_info *ci)
{
	if (ci->state == USTACK_TCP_FIN_WAIT_2)
		++*(int *)ctx;
	return 0;
}

/* tcp_fin_timeout: an orphan in FIN_WAIT_2 lasts that many seconds. */
Test(sysctl, fin_timeout)
{
	set_ok("net.ipv4.tcp_fin_timeout", "5");
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, PEER_PORT, PISS, &iss, &lport);
	cr_assert_eq(ustack_close(P.st, fd), 0);
	const struct tseg *s = tpeer_next(&P);
	cr_assert(s && (s->h.flags & USTACK_TCP_FIN));
	tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS + 1, iss + 2, 65535, NULL, 0, NULL);
	int n = 0;
	cr_assert_eq(ustack_tcp_foreach(P.st, count_fin_wait_2, &n), 0);
	cr_assert_eq(n, 1, "not in FIN_WAIT_2");
	tpeer_advance(&P, USTACK_SEC(5) - 1);
	n = 0;
	cr_assert_eq(ustack_tcp_foreach(P.st, count_fin_wait_2, &n), 0);
	cr_assert_eq(n, 1, "gone before 5 s");
	tpeer_advance(&P, 1);
	n = 0;
	cr_assert_eq(ustack_tcp_foreach(P.st, count_fin_wait_2, &n), 0);
	cr_assert_eq(n, 0, "still there after 5 s");
}

/* tcp_invalid_ratelimit: empty out-of-window segments are answered at most
 * once per interval; 0 answers every one. */
static int oow_answers(const char *limit)
{
	set_ok("net.ipv4.tcp_invalid_ratelimit", limit);
	uint32_t iss;
	uint16_t lport;
	int fd = tpeer_establish_active(&P, PEER_PORT, PISS, &iss, &lport);
	cr_assert_geq(fd, 0);
	int answers = 0;
	for (int i = 0; i < 3; i++) {
		tpeer_send(&P, PEER_PORT, lport, USTACK_TCP_ACK, PISS - 100000, iss + 1, 65535, NULL, 0, NULL);
		while (tpeer_next(&P))
			answers++;
		tpeer_advance(&P, USTACK_MSEC(100));
	}
	return answers;
}

Test(sysctl, invalid_ratelimit_default)
{
	cr_assert_eq(oow_answers("500"), 1);
}

Test(sysctl, invalid_ratelimit_off)
{
	cr_assert_eq(oow_answers("0"), 3);
}

Test(sysctl, invalid_ratelimit_short)
{
	cr_assert_eq(oow_answers("150"), 2, "answers at 0 and 200 ms");
}

/* Segments sent at once after an idle period, by a connection whose
 * window grew past the initial one first. */
static int burst_after_idle(const char *ssai)
{
	set_ok("net.ipv4.tcp_slow_start_after_idle", ssai);
	int lfd = ustack_socket(P.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in any = t_sin(0, 8080);
	cr_assert_eq(ustack_bind(P.st, lfd, T_SA(any), sizeof(any)), 0);
	cr_assert_eq(ustack_listen(P.st, lfd, 8), 0);
	struct ustack_tcp_options o = { .present = USTACK_OPT_MSS | USTACK_OPT_WSCALE, .mss = 1000, .wscale = 7 };
	tpeer_send(&P, 40000, 8080, USTACK_TCP_SYN, PISS, 0, 65535, NULL, 0, &o);
	const struct tseg *s = tpeer_next(&P);
	cr_assert(s);
	uint32_t una = s->h.seq + 1;
	tpeer_send(&P, 40000, 8080, USTACK_TCP_ACK, PISS + 1, una, 65535, NULL, 0, NULL);
	int fd = ustack_accept(P.st, lfd, NULL, NULL);
	cr_assert_geq(fd, 0);
	static char data[40000];
	cr_assert_eq(ustack_send(P.st, fd, data, 10000, 0), 10000);
	while ((s = tpeer_next(&P)))
		una = s->h.seq + s->h.len;
	tpeer_advance(&P, USTACK_MSEC(50));
	tpeer_send(&P, 40000, 8080, USTACK_TCP_ACK, PISS + 1, una, 65535, NULL, 0, NULL);
	cr_assert_null(tpeer_next(&P));
	tpeer_advance(&P, USTACK_SEC(5)); /* idle for more than an RTO */
	cr_assert_eq(ustack_send(P.st, fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	int n = 0;
	while ((s = tpeer_next(&P)))
		n++;
	return n;
}

/* tcp_slow_start_after_idle: RFC 5681 4.1's restart window (10 segments
 * here) after an idle RTO, or the grown window kept when 0. */
Test(sysctl, slow_start_after_idle_on)
{
	cr_assert_eq(burst_after_idle("1"), 10);
}

Test(sysctl, slow_start_after_idle_off)
{
	int n = burst_after_idle("0");
	cr_assert_gt(n, 10, "%d segments", n);
}
