/*
 * SYN-ACKs compared with Linux's (tests/interop/synack.sh runs it as root,
 * in two network namespaces of its own).
 *
 * Each row of the table is a SYN (which of MSS, SACK-permitted, timestamps
 * and window scale it offers, and the MSS value), the MTU and the sysctls
 * both sides use (tcp_rmem, net.core.rmem_max, tcp_timestamps, tcp_sack,
 * tcp_window_scaling). The two SYN-ACKs must agree field by field (flags,
 * ACK, window, option bytes and layout), except the ISN and the TS value,
 * which are each side's own.
 *
 *   synack kernel         the SYNs go through a TUN device (tun0) to a
 *                         listening socket of the kernel; one line per
 *                         row on stdout: the SYN-ACK, normalised
 *   synack ustack BIN K   for each row, BIN/ustack-echo serves on its own
 *                         TUN device (ustack0) with the row's --mtu and
 *                         --sysctl settings, the SYN goes to it through a
 *                         raw socket, and its SYN-ACK is read back on
 *                         ustack0 and compared with line K of the kernel's
 *                         answers; "N passed, M failed" ends the output
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <unistd.h>

#include <ustack/socket.h>
#include <ustack/ustack.h>

#include "wire/ipv4.h"
#include "wire/tcp.h"

/* The kernel's test: the listener at 198.18.0.1 on tun0, SYNs from
 * 198.19.0.1. ustack's: ustack-echo at 198.18.0.2 on ustack0, SYNs from the
 * kernel's side of it, 198.18.0.1 (tests/interop/lib.sh's addresses). */
#define KADDR 0xc6120001u
#define PADDR 0xc6130001u
#define UADDR 0xc6120002u

struct row {
	char name[96];
	int mss;             /* offered MSS, 0 = no option */
	bool sack, ts;
	int ws;              /* offered shift, -1 = no option */
	unsigned rmem[3];
	int mtu;
	int sys_ts, sys_sack, sys_ws;
};

static uint32_t rmem_max;

static int write_proc(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	int r = fputs(val, f) < 0 ? -1 : 0;
	return fclose(f) ? -1 : r;
}

static int set_sysctl(const char *name, unsigned v)
{
	char path[128], val[32];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	snprintf(val, sizeof(val), "%u", v);
	return write_proc(path, val);
}

/* The SYN of a row, as an IPv4 packet; returns its length. */
static size_t build_syn(const struct row *r, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
			uint8_t *buf)
{
	struct ustack_tcp_segment seg = {
		.saddr = src,
		.daddr = dst,
		.sport = sport,
		.dport = dport,
		.seq = 1000000,
		.flags = USTACK_TCP_SYN,
		.window = 65535,
	};
	struct ustack_tcp_options *o = &seg.opt;
	if (r->mss) {
		o->present |= USTACK_OPT_MSS;
		o->mss = (uint16_t)r->mss;
	}
	if (r->sack)
		o->present |= USTACK_OPT_SACK_PERM;
	if (r->ts) {
		o->present |= USTACK_OPT_TS;
		o->ts_val = 12345;
	}
	if (r->ws >= 0) {
		o->present |= USTACK_OPT_WSCALE;
		o->wscale = (uint8_t)r->ws;
	}
	uint8_t *th = buf + US_IPV4_HDR_MIN;
	size_t hl = us_tcp_build(th, &seg);
	/* The checksum over the pseudo-header (RFC 9293 3.1). */
	uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + (uint32_t)hl;
	for (size_t i = 0; i < hl; i += 2)
		sum += (uint32_t)th[i] << 8 | th[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	th[16] = (uint8_t)(~sum >> 8);
	th[17] = (uint8_t)~sum;
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_TCP, .src = src, .dst = dst };
	return us_ipv4_build(buf, &ip, hl) + hl;
}

/* What is compared: the TCP header from byte 8 on (the ACK, offset, flags,
 * window, urgent pointer) and the options with any TS value zeroed. The
 * checksum differs with the ISN and is left out. */
struct answer {
	bool ok;
	uint32_t ack;
	uint8_t flags;
	uint16_t win;
	uint8_t opt[40];
	size_t optlen;
	char text[256];
};

static bool take_answer(const uint8_t *pkt, size_t len, uint16_t sport, struct answer *a)
{
	if (len < 40 || pkt[0] >> 4 != 4 || pkt[9] != US_IP_PROTO_TCP)
		return false;
	size_t ihl = (size_t)(pkt[0] & 15) * 4;
	const uint8_t *th = pkt + ihl;
	if (len < ihl + 20 || (th[2] << 8 | th[3]) != sport)
		return false;
	size_t hl = (size_t)(th[12] >> 4) * 4;
	if (hl < 20 || len < ihl + hl)
		return false;
	struct us_tcp seg;
	uint32_t src = (uint32_t)pkt[12] << 24 | (uint32_t)pkt[13] << 16 | (uint32_t)pkt[14] << 8 | pkt[15];
	if (us_tcp_parse(th, len - ihl, src, 0, false, &seg))
		return false;
	a->ok = true;
	a->ack = seg.h.ack;
	a->flags = seg.h.flags;
	a->win = seg.h.window;
	a->optlen = hl - 20;
	memcpy(a->opt, th + 20, a->optlen);
	int n = snprintf(a->text, sizeof(a->text), "flags 0x%02x ack +%u win %u <", a->flags,
			 a->ack - 1000000u, a->win);
	for (size_t i = 0; i < a->optlen && n < (int)sizeof(a->text) - 8;) {
		uint8_t k = a->opt[i];
		size_t l = k <= 1 ? 1 : a->opt[i + 1];
		if (k == 8 && l == 10) {
			n += snprintf(a->text + n, sizeof(a->text) - (size_t)n, "%sTS ecr %u", i ? "," : "",
				      (unsigned)(a->opt[i + 6] << 24 | a->opt[i + 7] << 16 | a->opt[i + 8] << 8 |
						 a->opt[i + 9]));
			memset(a->opt + i + 2, 0, 4); /* each side's own clock */
		} else {
			n += snprintf(a->text + n, sizeof(a->text) - (size_t)n, "%s%u", i ? "," : "", k);
			for (size_t j = 2; j < l; j++)
				n += snprintf(a->text + n, sizeof(a->text) - (size_t)n, ":%u", a->opt[i + j]);
		}
		if (l == 0)
			break;
		i += l;
	}
	snprintf(a->text + n, sizeof(a->text) - (size_t)n, ">");
	return true;
}

/* ---- The kernel, behind TUN ---- */

static int tun_fd = -1;

static int tun_open(void)
{
	tun_fd = open("/dev/net/tun", O_RDWR);
	if (tun_fd < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tun0");
	if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0)
		return -1;
	return system("ip addr add 198.18.0.1/15 dev tun0 && ip link set tun0 up") == 0 ? 0 : -1;
}

static int kernel_answer(const struct row *r, uint16_t port, struct answer *a)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "ip link set tun0 mtu %d", r->mtu);
	char rm[64];
	snprintf(rm, sizeof(rm), "%u %u %u", r->rmem[0], r->rmem[1], r->rmem[2]);
	if (system(cmd) || write_proc("/proc/sys/net/ipv4/tcp_rmem", rm) ||
	    set_sysctl("tcp_timestamps", (unsigned)r->sys_ts) || set_sysctl("tcp_sack", (unsigned)r->sys_sack) ||
	    set_sysctl("tcp_window_scaling", (unsigned)r->sys_ws))
		return -1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(KADDR) };
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 8))
		return -1;
	uint8_t syn[128], buf[65536];
	size_t n = build_syn(r, PADDR, KADDR, 40000, port, syn);
	if (write(tun_fd, syn, n) != (ssize_t)n) {
		close(s);
		return -1;
	}
	struct pollfd p = { .fd = tun_fd, .events = POLLIN };
	while (!a->ok && poll(&p, 1, 2000) == 1) {
		ssize_t got = read(tun_fd, buf, sizeof(buf));
		if (got > 0)
			take_answer(buf, (size_t)got, 40000, a);
	}
	close(s);
	return a->ok ? 0 : -1;
}

/* ---- ustack, behind its own TUN device ---- */

static pid_t server;

static void stop_server(void)
{
	if (server > 0) {
		kill(server, SIGTERM);
		waitpid(server, NULL, 0);
		server = 0;
	}
}

/* Starts ustack-echo with the row's settings; waits until ustack0 is up. */
static int start_server(const char *bin, const struct row *r, uint16_t port)
{
	char path[512], sport[16], mtu[16], rm[80], rmax[48], ts[48], sack[48], ws[48];
	snprintf(path, sizeof(path), "%s/ustack-echo", bin);
	snprintf(sport, sizeof(sport), "%u", port);
	snprintf(mtu, sizeof(mtu), "%d", r->mtu);
	snprintf(rm, sizeof(rm), "net.ipv4.tcp_rmem=%u %u %u", r->rmem[0], r->rmem[1], r->rmem[2]);
	snprintf(rmax, sizeof(rmax), "net.core.rmem_max=%u", rmem_max);
	snprintf(ts, sizeof(ts), "net.ipv4.tcp_timestamps=%d", r->sys_ts);
	snprintf(sack, sizeof(sack), "net.ipv4.tcp_sack=%d", r->sys_sack);
	snprintf(ws, sizeof(ws), "net.ipv4.tcp_window_scaling=%d", r->sys_ws);
	server = fork();
	if (server < 0)
		return -1;
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execl(path, path, "server", "--port", sport, "--mtu", mtu, "--sysctl", rm, "--sysctl", rmax,
		      "--sysctl", ts, "--sysctl", sack, "--sysctl", ws, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (system("ip -4 addr show dev ustack0 2>/dev/null | grep -q 198.18.0.1") == 0) {
			usleep(50000);
			return 0;
		}
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = 0;
			return -1;
		}
		usleep(25000);
	}
	stop_server();
	return -1;
}

static int ustack_answer(const char *bin, const struct row *r, uint16_t port, struct answer *a)
{
	if (start_server(bin, r, port))
		return -1;
	int rc = -1;
	int raw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	int cap = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP),
				  .sll_ifindex = (int)if_nametoindex("ustack0") };
	if (raw >= 0 && cap >= 0 && ll.sll_ifindex > 0 && !bind(cap, (struct sockaddr *)&ll, sizeof(ll))) {
		uint8_t syn[128], buf[65536];
		size_t n = build_syn(r, KADDR, UADDR, 40000, port, syn);
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(UADDR) };
		if (sendto(raw, syn, n, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)n) {
			struct pollfd p = { .fd = cap, .events = POLLIN };
			while (!a->ok && poll(&p, 1, 2000) == 1) {
				ssize_t got = recv(cap, buf, sizeof(buf), 0);
				if (got > 0)
					take_answer(buf, (size_t)got, 40000, a);
			}
			rc = a->ok ? 0 : -1;
		}
	}
	if (raw >= 0)
		close(raw);
	if (cap >= 0)
		close(cap);
	stop_server();
	return rc;
}

/* ---- The table ---- */

#define MAX_ROWS 64
static struct row rows[MAX_ROWS];
static int nrows;

static struct row *add(const char *name)
{
	struct row *r = &rows[nrows++];
	*r = (struct row){ .mss = 1460, .sack = true, .ts = true, .ws = 7, .rmem = { 4096, 131072, 6291456 },
			   .mtu = 1500, .sys_ts = 1, .sys_sack = 1, .sys_ws = 1 };
	snprintf(r->name, sizeof(r->name), "%s", name);
	return r;
}

static void make_table(void)
{
	/* Every subset of the four options. */
	for (int m = 0; m < 16; m++) {
		char name[96];
		snprintf(name, sizeof(name), "options:%s%s%s%s", m & 1 ? " mss" : "", m & 2 ? " sackOK" : "",
			 m & 4 ? " TS" : "", m & 8 ? " wscale" : "");
		if (!m)
			snprintf(name, sizeof(name), "options: none");
		struct row *r = add(name);
		r->mss = m & 1 ? 1460 : 0;
		r->sack = m & 2;
		r->ts = m & 4;
		r->ws = m & 8 ? 7 : -1;
	}
	static const int mss[] = { 536, 1200, 1460, 8960 };
	for (size_t i = 0; i < sizeof(mss) / sizeof(mss[0]); i++)
		for (int ts = 0; ts < 2; ts++) {
			char name[96];
			snprintf(name, sizeof(name), "mss %d%s", mss[i], ts ? "" : ", no TS");
			struct row *r = add(name);
			r->mss = mss[i];
			r->ts = ts;
		}
	for (int ts = 0; ts < 2; ts++) {
		struct row *r = add(ts ? "mtu 9000, mss 8960" : "mtu 9000, mss 8960, no TS");
		r->mtu = 9000;
		r->mss = 8960;
		r->ts = ts;
		r = add(ts ? "mtu 9000, mss 1460" : "mtu 9000, mss 1460, no TS");
		r->mtu = 9000;
		r->ts = ts;
	}
	static const unsigned rmem[][3] = { { 4096, 65536, 6291456 },	{ 4096, 16384, 4194304 },
					     { 4096, 262144, 6291456 },	{ 4096, 87380, 33554432 },
					     { 4096, 131072, 1048576 }, { 4096, 8192, 131072 } };
	for (size_t i = 0; i < sizeof(rmem) / sizeof(rmem[0]); i++)
		for (int ts = 0; ts < 2; ts++) {
			char name[96];
			snprintf(name, sizeof(name), "tcp_rmem %u %u %u%s", rmem[i][0], rmem[i][1], rmem[i][2],
				 ts ? "" : ", no TS");
			struct row *r = add(name);
			memcpy(r->rmem, rmem[i], sizeof(r->rmem));
			r->ts = ts;
		}
	add("tcp_timestamps=0")->sys_ts = 0;
	add("tcp_sack=0")->sys_sack = 0;
	add("tcp_window_scaling=0")->sys_ws = 0;
	struct row *r = add("tcp_sack=0 tcp_timestamps=0");
	r->sys_sack = 0;
	r->sys_ts = 0;
	add("wscale 0 offered")->ws = 0;
	add("wscale 14 offered")->ws = 14;
}

/* An answer as one line: the compared bytes in hex, then the text. */
static void put_answer(FILE *f, const struct answer *a)
{
	fprintf(f, "%08x.%02x.%04x.", a->ack - 1000000u, a->flags, a->win);
	for (size_t i = 0; i < a->optlen; i++)
		fprintf(f, "%02x", a->opt[i]);
	fprintf(f, " %s\n", a->text);
}

static void read_rmem_max(void)
{
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");
	unsigned v = 212992;
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 212992;
		fclose(f);
	}
	rmem_max = v;
}

static int run_kernel(void)
{
	if (tun_open()) {
		fprintf(stderr, "cannot set up tun0: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < nrows; i++) {
		struct answer k = { 0 };
		if (kernel_answer(&rows[i], (uint16_t)(5000 + i), &k))
			printf("none\n");
		else
			put_answer(stdout, &k);
	}
	return 0;
}

static int run_ustack(const char *bin, const char *kfile)
{
	FILE *kf = fopen(kfile, "r");
	if (!kf) {
		printf("FAIL synack: %s: %s\n0 passed, 1 failed\n", kfile, strerror(errno));
		return 1;
	}
	int pass = 0, fail = 0;
	char kline[512], uline[512];
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		struct answer u = { 0 };
		if (!fgets(kline, sizeof(kline), kf))
			snprintf(kline, sizeof(kline), "none\n");
		if (ustack_answer(bin, r, (uint16_t)(5000 + i), &u)) {
			snprintf(uline, sizeof(uline), "none\n");
		} else {
			FILE *m = fmemopen(uline, sizeof(uline), "w");
			put_answer(m, &u);
			fclose(m);
		}
		/* The hex before the first blank is what must agree. */
		size_t kn = strcspn(kline, " \n"), un = strcspn(uline, " \n");
		if (!strncmp(kline, "none", 4) || !strncmp(uline, "none", 4) || kn != un || strncmp(kline, uline, kn)) {
			printf("FAIL %s\n  linux:  %s  ustack: %s", r->name, kline + (kline[kn] ? kn + 1 : kn),
			       uline + (uline[un] ? un + 1 : un));
			fail++;
		} else {
			printf("ok   %s: %s", r->name, kline + kn + 1);
			pass++;
		}
	}
	fclose(kf);
	printf("%d passed, %d failed\n", pass, fail);
	return fail != 0;
}

/* The sysctls the kernel's side sets are its namespace's: in the host's
 * own namespace they would change the machine's TCP. synack.sh starts it
 * with `ip netns exec`, so its parent, the script, is in another namespace
 * (PID 1's may not be readable in a container). */
static bool own_namespace(void)
{
	char path[64];
	struct stat self, parent;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)getppid());
	if (stat("/proc/self/ns/net", &self) || stat(path, &parent))
		return false;
	return self.st_ino != parent.st_ino || self.st_dev != parent.st_dev;
}

int main(int argc, char **argv)
{
	read_rmem_max();
	make_table();
	if (argc == 2 && !strcmp(argv[1], "kernel")) {
		if (!own_namespace()) {
			fprintf(stderr, "synack: run it through synack.sh, in a network namespace of its own\n");
			return 1;
		}
		return run_kernel();
	}
	if (argc == 4 && !strcmp(argv[1], "ustack"))
		return run_ustack(argv[2], argv[3]);
	fprintf(stderr, "usage: synack kernel > answers; synack ustack BIN answers\n");
	return 2;
}
