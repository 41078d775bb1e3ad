/*
 * SYN-ACKs compared with Linux's (tests/interop/synack.sh runs it as root in
 * a network namespace of its own).
 *
 * Each row of the table is a SYN (which of MSS, SACK-permitted, timestamps
 * and window scale it offers, and the MSS value), the MTU and the sysctls
 * both sides use (tcp_rmem, tcp_timestamps, tcp_sack, tcp_window_scaling).
 * The SYN goes through a TUN device to a listening socket of the kernel,
 * and into a fresh ustack instance with the same settings; the two SYN-ACKs
 * must agree field by field (flags, ACK, window, option bytes and layout),
 * except the ISN and the TS value, which are each side's own.
 *
 * ustack gets the packet by ustack_input, the entry point the TUN driver
 * calls, and its settings by ustack_sysctl_set under Linux's names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ustack/socket.h>
#include <ustack/ustack.h>

#include "wire/ipv4.h"
#include "wire/tcp.h"

#define KADDR 0xc6120001u /* 198.18.0.1: the listener, kernel or ustack */
#define PADDR 0xc6130001u /* 198.19.0.1: the peer sending SYNs */

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
static size_t build_syn(const struct row *r, uint16_t sport, uint16_t dport, uint8_t *buf)
{
	struct ustack_tcp_segment seg = {
		.saddr = PADDR,
		.daddr = KADDR,
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
	uint32_t sum = (PADDR >> 16) + (PADDR & 0xffff) + (KADDR >> 16) + (KADDR & 0xffff) + 6 + (uint32_t)hl;
	for (size_t i = 0; i < hl; i += 2)
		sum += (uint32_t)th[i] << 8 | th[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	th[16] = (uint8_t)(~sum >> 8);
	th[17] = (uint8_t)~sum;
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_TCP, .src = PADDR, .dst = KADDR };
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
	if (us_tcp_parse(th, len - ihl, src, PADDR, false, &seg))
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
	size_t n = build_syn(r, 40000, port, syn);
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

/* ---- ustack, in memory ---- */

static void on_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct answer *a = ctx;
	uint8_t buf[2048];
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (len + iov[i].iov_len > sizeof(buf))
			return;
		memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	if (!a->ok)
		take_answer(buf, len, 40000, a);
}

static int ustack_answer(const struct row *r, uint16_t port, struct answer *a)
{
	struct ustack_config cfg = {
		.addr = KADDR,
		.netmask = 0xfffe0000u,
		.mtu = (uint16_t)r->mtu,
		.output = on_output,
		.output_ctx = a,
		.seed = port,
	};
	struct ustack *st;
	if (ustack_create(&cfg, &st))
		return -1;
	char v[64];
	snprintf(v, sizeof(v), "%u %u %u", r->rmem[0], r->rmem[1], r->rmem[2]);
	int bad = ustack_sysctl_set(st, "net.ipv4.tcp_rmem", v);
	snprintf(v, sizeof(v), "%u", rmem_max);
	bad |= ustack_sysctl_set(st, "net.core.rmem_max", v);
	snprintf(v, sizeof(v), "%d", r->sys_ts);
	bad |= ustack_sysctl_set(st, "net.ipv4.tcp_timestamps", v);
	snprintf(v, sizeof(v), "%d", r->sys_sack);
	bad |= ustack_sysctl_set(st, "net.ipv4.tcp_sack", v);
	snprintf(v, sizeof(v), "%d", r->sys_ws);
	bad |= ustack_sysctl_set(st, "net.ipv4.tcp_window_scaling", v);
	if (bad) {
		ustack_destroy(st);
		return -1;
	}
	ustack_time_t now = USTACK_SEC(100);
	int fd = ustack_socket(st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(KADDR) };
	int rc = -1;
	if (fd >= 0 && !ustack_bind(st, fd, (struct sockaddr *)&sa, sizeof(sa)) && !ustack_listen(st, fd, 8)) {
		uint8_t syn[128];
		size_t n = build_syn(r, 40000, port, syn);
		ustack_input(st, now, syn, n);
		rc = a->ok ? 0 : -1;
	}
	ustack_destroy(st);
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

/* The sysctls this program sets are its namespace's: in the host's own
 * namespace they would change the machine's TCP. synack.sh starts it with
 * `ip netns exec`, so its parent, the script, is in another namespace
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

int main(void)
{
	if (!own_namespace()) {
		printf("FAIL synack: run it through synack.sh, in a network namespace of its own\n"
		       "0 passed, 1 failed\n");
		return 1;
	}
	FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");
	unsigned v = 212992;
	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 212992;
		fclose(f);
	}
	rmem_max = v;
	if (tun_open()) {
		printf("FAIL synack: cannot set up tun0: %s\n0 passed, 1 failed\n", strerror(errno));
		return 1;
	}
	make_table();
	int pass = 0, fail = 0;
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		uint16_t port = (uint16_t)(5000 + i);
		struct answer k = { 0 }, u = { 0 };
		int ek = kernel_answer(r, port, &k), eu = ustack_answer(r, port, &u);
		if (ek || eu) {
			printf("FAIL %s: no SYN-ACK from %s\n", r->name, ek ? "the kernel" : "ustack");
			fail++;
		} else if (k.ack != u.ack || k.flags != u.flags || k.win != u.win || k.optlen != u.optlen ||
			   memcmp(k.opt, u.opt, k.optlen)) {
			printf("FAIL %s\n  linux:  %s\n  ustack: %s\n", r->name, k.text, u.text);
			fail++;
		} else {
			printf("ok   %s: %s\n", r->name, k.text);
			pass++;
		}
	}
	printf("%d passed, %d failed\n", pass, fail);
	return fail != 0;
}
