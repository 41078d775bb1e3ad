/*
 * Linux's TCP sysctls, held per stack (sysctl.h): their stock defaults, and
 * the table that names them.
 *
 * A name is written as sysctl(8) writes it, with dots or with slashes
 * (`net.ipv4.tcp_sack`, `net/ipv4/tcp_sack`, `/proc/sys/net/ipv4/tcp_sack`).
 * A bare `tcp_sack` is not a name: Linux's sysctl does not take one either,
 * and a name should mean the same thing in a script on both.
 *
 * Values are parsed as Linux's proc_dointvec family parses a write: blanks
 * (spaces, tabs, newlines) around and between numbers, an optional minus,
 * base 0 (`0x70403` and `010` are what C says they are), each number
 * followed by a blank or the end. A vector (tcp_rmem) takes up to its
 * length of numbers and sets the leading elements given, as Linux does
 * (`echo 4096 > tcp_rmem` changes only tcp_rmem[0]); every number must be
 * in its range or nothing changes. Reading prints vectors tab-separated, as
 * /proc/sys does.
 *
 * Each entry points at a field: in struct us_sysctl, or in the
 * configuration for the settings that were config fields first. A few
 * convert units (tcp_fin_timeout is seconds, cfg.fin_timeout_ms is ms).
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/stack.h"
#include "core/sysctl.h"
#include "tcp/tcp_cc.h"

void us_sysctl_init(struct ustack *st)
{
	struct us_sysctl *s = &st->sys;
	s->tcp_timestamps = 1;
	s->tcp_sack = 1;
	s->tcp_dsack = 1;
	s->tcp_window_scaling = 1;
	s->tcp_recovery = 1;
	s->tcp_early_retrans = 3;
	s->tcp_frto = 2;
	s->tcp_slow_start_after_idle = 1;
	s->tcp_syncookies = 1;
	s->tcp_moderate_rcvbuf = 1;
	s->tcp_adv_win_scale = 1;
	s->tcp_reordering = 3;
	s->tcp_max_reordering = 300;
	s->tcp_max_syn_backlog = 4096;
	/* Linux sizes tcp_mem from the host's memory (tcp_init_mem: an eighth
	 * of the free pages, times 3/4, 1 and 3/2); a stack is not a host, so
	 * these are that rule for 8 GiB. */
	s->tcp_mem[0] = 196608;
	s->tcp_mem[1] = 262144;
	s->tcp_mem[2] = 393216;
	s->tcp_rmem[0] = 4096;
	s->tcp_rmem[1] = 131072;
	s->tcp_rmem[2] = st->cfg.tcp_rmem;
	s->tcp_wmem[0] = 4096;
	s->tcp_wmem[1] = 16384;
	s->tcp_wmem[2] = st->cfg.tcp_wmem;
	s->tcp_keepalive_time = 7200;
	s->tcp_keepalive_intvl = 75;
	s->tcp_keepalive_probes = 9;
	s->tcp_min_snd_mss = 48;
	s->tcp_base_mss = 1024;
	s->tcp_invalid_ratelimit = 500;
	s->tcp_challenge_ack_limit = 2147483647;
	s->tcp_min_rtt_wlen = 300;
	s->tcp_comp_sack_nr = 44;
	strcpy(s->tcp_congestion_control, "cubic");
	s->core_rmem_max = 212992;
	s->route_min_pmtu = 552;
	s->route_mtu_expires = 600;
}

/* ---- The table ---- */

enum sc_kind {
	SC_NUM,   /* `n` integers of `width` bytes at `off` */
	SC_CC,    /* tcp_congestion_control: a name in the registry */
	SC_CC_AVAIL, /* tcp_available_congestion_control: read-only */
};

enum sc_base { IN_SYS, IN_CFG };

/* Checks after parsing, before anything is written: a rule across the
 * elements, or a side effect after. */
enum sc_hook {
	HOOK_NONE,
	HOOK_RMEM,   /* tcp_rmem[2] is cfg.tcp_rmem */
	HOOK_WMEM,   /* tcp_wmem[2] is cfg.tcp_wmem */
	HOOK_PORTS,  /* ip_local_port_range: low <= high */
};

struct sc_ent {
	const char *name;
	uint8_t kind, base, width, n; /* width 1, 2 or 4; n <= 3 */
	uint8_t hook;
	bool is_signed;
	size_t off;
	uint32_t mul, div; /* the field holds value * mul / div */
	int64_t min, max;
};

#define SYS(f) IN_SYS, sizeof(((struct us_sysctl *)0)->f), 1, HOOK_NONE, false, \
	       offsetof(struct us_sysctl, f)
#define CFG(f) IN_CFG, sizeof(((struct ustack_config *)0)->f), 1, HOOK_NONE, false, \
	       offsetof(struct ustack_config, f)
#define SC_INTMAX 2147483647LL
/* proc_dointvec_jiffies refuses seconds that overflow an int of jiffies;
 * at HZ 1000 that is INT_MAX / 1000. */
#define SC_SECMAX (SC_INTMAX / 1000)

static const struct sc_ent table[] = {
	/* Linux's order in /proc/sys is alphabetical; so is this. */
	/* Only the window-scale choice reads it (us_tcp_wscale), as Linux's
	 * tcp_select_initial_window does; Linux's floor is SOCK_MIN_RCVBUF. */
	{ "net.core.rmem_max", SC_NUM, SYS(core_rmem_max), 1, 1, 2304, SC_INTMAX },
	{ "net.core.somaxconn", SC_NUM, CFG(somaxconn), 1, 1, 0, SC_INTMAX },
	{ "net.ipv4.icmp_msgs_burst", SC_NUM, CFG(icmp_msgs_burst), 1, 1, 0, SC_INTMAX },
	/* Linux takes 0 (no errors at all); ustack's token bucket divides
	 * by it. */
	{ "net.ipv4.icmp_msgs_per_sec", SC_NUM, CFG(icmp_msgs_per_sec), 1, 1, 1, SC_INTMAX },
	{ "net.ipv4.ip_local_port_range", SC_NUM, IN_CFG, 2, 2, HOOK_PORTS, false,
	  offsetof(struct ustack_config, ephemeral_lo), 1, 1, 1, 65535 },
	/* Linux's modes 1 to 3 make new sockets IP_PMTUDISC_DONT (DF clear);
	 * here they all also ignore "fragmentation needed" (pmtu.c). */
	{ "net.ipv4.ip_no_pmtu_disc", SC_NUM, SYS(ip_no_pmtu_disc), 1, 1, 0, 3 },
	{ "net.ipv4.ipfrag_high_thresh", SC_NUM, CFG(ipfrag_mem), 1, 1, 0, SC_INTMAX },
	{ "net.ipv4.ipfrag_time", SC_NUM, CFG(ipfrag_time_ms), 1000, 1, 1, SC_SECMAX },
	/* Linux's floor is IPV4_MIN_MTU (68) and it has no ceiling; 65535
	 * is the largest IPv4 datagram. */
	{ "net.ipv4.route.min_pmtu", SC_NUM, SYS(route_min_pmtu), 1, 1, 68, 65535 },
	{ "net.ipv4.route.mtu_expires", SC_NUM, SYS(route_mtu_expires), 1, 1, 0, SC_SECMAX },
	{ "net.ipv4.tcp_abort_on_overflow", SC_NUM, SYS(tcp_abort_on_overflow), 1, 1, 0, 1 },
	{ "net.ipv4.tcp_adv_win_scale", SC_NUM, IN_SYS, 1, 1, HOOK_NONE, true,
	  offsetof(struct us_sysctl, tcp_adv_win_scale), 1, 1, -31, 31 },
	{ "net.ipv4.tcp_available_congestion_control", SC_CC_AVAIL, 0, 0, 0, 0, false, 0, 1, 1, 0, 0 },
	{ "net.ipv4.tcp_base_mss", SC_NUM, SYS(tcp_base_mss), 1, 1, 1, 65535 },
	{ "net.ipv4.tcp_challenge_ack_limit", SC_NUM, SYS(tcp_challenge_ack_limit), 1, 1, 0, SC_INTMAX },
	{ "net.ipv4.tcp_comp_sack_nr", SC_NUM, SYS(tcp_comp_sack_nr), 1, 1, 0, 255 },
	{ "net.ipv4.tcp_congestion_control", SC_CC, 0, 0, 0, 0, false, 0, 1, 1, 0, 0 },
	{ "net.ipv4.tcp_dsack", SC_NUM, SYS(tcp_dsack), 1, 1, 0, 1 },
	{ "net.ipv4.tcp_early_retrans", SC_NUM, SYS(tcp_early_retrans), 1, 1, 0, 4 },
	{ "net.ipv4.tcp_fin_timeout", SC_NUM, CFG(fin_timeout_ms), 1000, 1, 1, SC_SECMAX },
	{ "net.ipv4.tcp_frto", SC_NUM, SYS(tcp_frto), 1, 1, 0, 2 },
	{ "net.ipv4.tcp_invalid_ratelimit", SC_NUM, SYS(tcp_invalid_ratelimit), 1, 1, 0, SC_INTMAX },
	{ "net.ipv4.tcp_keepalive_intvl", SC_NUM, SYS(tcp_keepalive_intvl), 1, 1, 1, SC_SECMAX },
	{ "net.ipv4.tcp_keepalive_probes", SC_NUM, SYS(tcp_keepalive_probes), 1, 1, 0, 255 },
	{ "net.ipv4.tcp_keepalive_time", SC_NUM, SYS(tcp_keepalive_time), 1, 1, 1, SC_SECMAX },
	{ "net.ipv4.tcp_max_reordering", SC_NUM, SYS(tcp_max_reordering), 1, 1, 1, SC_INTMAX },
	{ "net.ipv4.tcp_max_syn_backlog", SC_NUM, SYS(tcp_max_syn_backlog), 1, 1, 1, SC_INTMAX },
	{ "net.ipv4.tcp_mem", SC_NUM, IN_SYS, 4, 3, HOOK_NONE, false, offsetof(struct us_sysctl, tcp_mem), 1, 1, 1,
	  SC_INTMAX / 4096 },
	{ "net.ipv4.tcp_min_rtt_wlen", SC_NUM, SYS(tcp_min_rtt_wlen), 1, 1, 0, 86400 },
	{ "net.ipv4.tcp_min_snd_mss", SC_NUM, SYS(tcp_min_snd_mss), 1, 1, 48, 65535 },
	{ "net.ipv4.tcp_moderate_rcvbuf", SC_NUM, SYS(tcp_moderate_rcvbuf), 1, 1, 0, 1 },
	/* Linux takes 0 to 2; without PLPMTUD (RFC 4821) only 0 is true. */
	{ "net.ipv4.tcp_mtu_probing", SC_NUM, SYS(tcp_mtu_probing), 1, 1, 0, 0 },
	{ "net.ipv4.tcp_recovery", SC_NUM, SYS(tcp_recovery), 1, 1, 0, 7 },
	{ "net.ipv4.tcp_reordering", SC_NUM, SYS(tcp_reordering), 1, 1, 1, SC_INTMAX },
	{ "net.ipv4.tcp_retries2", SC_NUM, CFG(retries2), 1, 1, 0, 255 },
	{ "net.ipv4.tcp_rmem", SC_NUM, IN_SYS, 4, 3, HOOK_RMEM, false, offsetof(struct us_sysctl, tcp_rmem), 1, 1, 1,
	  SC_INTMAX },
	{ "net.ipv4.tcp_rto_max_ms", SC_NUM, CFG(rto_max_ms), 1, 1, 1000, 120000 },
	/* Linux counts microseconds; ustack's field is milliseconds, so only
	 * whole ones are taken. */
	{ "net.ipv4.tcp_rto_min_us", SC_NUM, CFG(rto_min_ms), 1, 1000, 1000, SC_INTMAX },
	{ "net.ipv4.tcp_sack", SC_NUM, SYS(tcp_sack), 1, 1, 0, 1 },
	{ "net.ipv4.tcp_slow_start_after_idle", SC_NUM, SYS(tcp_slow_start_after_idle), 1, 1, 0, 1 },
	{ "net.ipv4.tcp_syn_retries", SC_NUM, CFG(syn_retries), 1, 1, 1, 127 },
	{ "net.ipv4.tcp_synack_retries", SC_NUM, CFG(synack_retries), 1, 1, 0, 255 },
	{ "net.ipv4.tcp_syncookies", SC_NUM, SYS(tcp_syncookies), 1, 1, 0, 2 },
	{ "net.ipv4.tcp_timestamps", SC_NUM, SYS(tcp_timestamps), 1, 1, 0, 2 },
	{ "net.ipv4.tcp_window_scaling", SC_NUM, SYS(tcp_window_scaling), 1, 1, 0, 1 },
	{ "net.ipv4.tcp_wmem", SC_NUM, IN_SYS, 4, 3, HOOK_WMEM, false, offsetof(struct us_sysctl, tcp_wmem), 1, 1, 1,
	  SC_INTMAX },
};

#define NENT (sizeof(table) / sizeof(table[0]))

_Static_assert(offsetof(struct ustack_config, ephemeral_hi) ==
		       offsetof(struct ustack_config, ephemeral_lo) + 2,
	       "ip_local_port_range is read as two adjacent uint16_t");

const char *ustack_sysctl_name(unsigned i)
{
	return i < NENT ? table[i].name : NULL;
}

/* Dots or slashes, with or without /proc/sys/ in front: sysctl(8) takes
 * the separator it meets first, and so does this. */
static const struct sc_ent *lookup(const char *name)
{
	char norm[96];
	if (!name)
		return NULL;
	if (!strncmp(name, "/proc/sys/", 10))
		name += 10;
	size_t n = strlen(name);
	if (n == 0 || n >= sizeof(norm))
		return NULL;
	const char *dot = strchr(name, '.'), *slash = strchr(name, '/');
	char sep = slash && (!dot || slash < dot) ? '/' : '.';
	for (size_t i = 0; i <= n; i++)
		norm[i] = name[i] == sep ? '.' : name[i] == '.' && sep == '/' ? '\0' : name[i];
	if (strlen(norm) != n)
		return NULL; /* `net/ipv4/a.b`: no Linux name has a dot in a part */
	for (size_t i = 0; i < NENT; i++)
		if (!strcmp(norm, table[i].name))
			return &table[i];
	return NULL;
}

static void *field(struct ustack *st, const struct sc_ent *e)
{
	return (e->base == IN_SYS ? (char *)&st->sys : (char *)&st->cfg) + e->off;
}

static int64_t load(const void *p, const struct sc_ent *e, unsigned i)
{
	const char *q = (const char *)p + (size_t)i * e->width;
	switch (e->width) {
	case 1:
		return e->is_signed ? (int64_t) * (const int8_t *)q : (int64_t) * (const uint8_t *)q;
	case 2:
		return *(const uint16_t *)q;
	default:
		return *(const uint32_t *)q;
	}
}

static void store(void *p, const struct sc_ent *e, unsigned i, int64_t v)
{
	char *q = (char *)p + (size_t)i * e->width;
	switch (e->width) {
	case 1:
		if (e->is_signed)
			*(int8_t *)q = (int8_t)v;
		else
			*(uint8_t *)q = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)q = (uint16_t)v;
		break;
	default:
		*(uint32_t *)q = (uint32_t)v;
	}
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static int digit(char c, int base)
{
	int d = c >= '0' && c <= '9'   ? c - '0'
		: c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10
				       : 99;
	return d < base ? d : -1;
}

/* One number as proc_get_long reads it: base 0, then a blank or the end.
 * Our own loop rather than strtoll, which would also take a leading '+'
 * and blanks after the minus. */
static int parse_num(const char **sp, int64_t *out)
{
	const char *s = *sp;
	bool neg = *s == '-';
	if (neg)
		s++;
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digit(s[2], 16) >= 0) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	if (digit(*s, base) < 0)
		return -EINVAL;
	uint64_t v = 0;
	for (; digit(*s, base) >= 0; s++) {
		v = v * (unsigned)base + (unsigned)digit(*s, base);
		if (v > (uint64_t)1 << 40)
			return -EINVAL; /* out of every range here */
	}
	if (*s && !blank(*s))
		return -EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	*sp = s;
	return 0;
}

static int set_num(struct ustack *st, const struct sc_ent *e, const char *value)
{
	void *p = field(st, e);
	int64_t v[3];
	for (unsigned i = 0; i < e->n; i++)
		v[i] = load(p, e, i) * e->div / e->mul;
	const char *s = value;
	unsigned got = 0;
	while (got < e->n) {
		while (blank(*s))
			s++;
		if (!*s)
			break;
		int err = parse_num(&s, &v[got]);
		if (err)
			return err;
		if (v[got] < e->min || v[got] > e->max || v[got] % e->div)
			return -EINVAL;
		got++;
	}
	if (got == 0)
		return -EINVAL;
	/* What follows the last element is not looked at, as in Linux. */
	switch (e->hook) {
	case HOOK_PORTS:
		if (v[0] > v[1])
			return -EINVAL;
		break;
	case HOOK_RMEM:
	case HOOK_WMEM:
		/* [2] is the size of every new receive buffer here (Linux
		 * starts at [1] and grows to [2]) and the most a send buffer
		 * grows to: keep it above Linux's floors for SO_RCVBUF and
		 * SO_SNDBUF. */
		if (v[2] < (e->hook == HOOK_RMEM ? 2304 : 4608))
			return -EINVAL;
		break;
	}
	for (unsigned i = 0; i < e->n; i++)
		store(p, e, i, v[i] * e->mul / e->div);
	if (e->hook == HOOK_RMEM)
		st->cfg.tcp_rmem = st->sys.tcp_rmem[2];
	else if (e->hook == HOOK_WMEM)
		st->cfg.tcp_wmem = st->sys.tcp_wmem[2];
	return 0;
}

static int set_cc(struct ustack *st, const char *value)
{
	while (blank(*value))
		value++;
	size_t n = strlen(value);
	while (n && blank(value[n - 1]))
		n--;
	char name[sizeof(st->sys.tcp_congestion_control)];
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(name))
		return -ENOENT;
	memcpy(name, value, n);
	name[n] = 0;
	/* Linux: an algorithm it does not have is ENOENT (it would try to
	 * load a module of that name first). */
	if (!us_cc_find(name))
		return -ENOENT;
	memcpy(st->sys.tcp_congestion_control, name, n + 1);
	return 0;
}

int ustack_sysctl_set(struct ustack *st, const char *name, const char *value)
{
	const struct sc_ent *e = lookup(name);
	if (!st || !e)
		return -ENOENT;
	if (!value)
		return -EINVAL;
	switch (e->kind) {
	case SC_NUM:
		return set_num(st, e, value);
	case SC_CC:
		return set_cc(st, value);
	default:
		return -EPERM; /* read-only, as its file in /proc/sys is */
	}
}

int ustack_sysctl_get(const struct ustack *st, const char *name, char *buf, size_t len)
{
	const struct sc_ent *e = lookup(name);
	if (!st || !e)
		return -ENOENT;
	if (e->kind == SC_CC)
		return snprintf(buf, len, "%s", st->sys.tcp_congestion_control);
	if (e->kind == SC_CC_AVAIL)
		return snprintf(buf, len, "%s %s", us_cc_reno.name, us_cc_cubic.name);
	const void *p = (e->base == IN_SYS ? (const char *)&st->sys : (const char *)&st->cfg) + e->off;
	char tmp[64];
	int n = 0;
	for (unsigned i = 0; i < e->n; i++)
		n += snprintf(tmp + n, sizeof(tmp) - (size_t)n, "%s%lld", i ? "\t" : "",
			      (long long)(load(p, e, i) * e->div / e->mul));
	return snprintf(buf, len, "%s", tmp);
}

int ustack_sysctl_assign(struct ustack *st, const char *assignment)
{
	const char *eq = assignment ? strchr(assignment, '=') : NULL;
	if (!eq)
		return -EINVAL;
	/* sysctl(8) takes blanks around the name: `a = b`. */
	const char *a = assignment, *b = eq;
	while (a < b && blank(*a))
		a++;
	while (b > a && blank(b[-1]))
		b--;
	char name[96];
	if ((size_t)(b - a) >= sizeof(name))
		return -ENOENT;
	memcpy(name, a, (size_t)(b - a));
	name[b - a] = 0;
	return ustack_sysctl_set(st, name, eq + 1);
}
