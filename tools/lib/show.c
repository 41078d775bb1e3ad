/*
 * The connection table and the counters: see show.h.
 */
#include "show.h"

#include <string.h>

struct conns {
	FILE *f;
	bool details;
	ustack_time_t now;
	int rows;
};

static void endpoint(char *buf, size_t size, uint32_t a, uint16_t port)
{
	snprintf(buf, size, "%u.%u.%u.%u:%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, port);
}

/* A duration as ss prints its timers: "200ms", "59.9s". */
static void duration(char *buf, size_t size, ustack_time_t d)
{
	if (d < USTACK_SEC(1))
		snprintf(buf, size, "%llums", (unsigned long long)(d / 1000000u));
	else
		snprintf(buf, size, "%.1fs", (double)d / 1e9);
}

static int conn_row(void *ctx, const struct ustack_conn_info *ci)
{
	struct conns *c = ctx;
	char l[24], r[24], timer[48] = "";
	endpoint(l, sizeof(l), ci->laddr, ci->lport);
	if (ci->rport)
		endpoint(r, sizeof(r), ci->raddr, ci->rport);
	else
		snprintf(r, sizeof(r), "*:*");
	if (ci->timer != USTACK_TIME_NEVER) {
		char d[16];
		duration(d, sizeof(d), ci->timer > c->now ? ci->timer - c->now : 0);
		snprintf(timer, sizeof(timer), "timer:(%s,%s)",
			 ci->state == USTACK_TCP_TIME_WAIT ? "timewait" : "on", d);
	}
	fprintf(c->f, "%-12s %-6u %-6u %-21s %-21s %s\n", ustack_tcp_state_name(ci->state), ci->recvq,
		ci->sendq, l, r, timer);
	/* Listeners and TIME_WAIT records have no round trip to speak of. */
	if (c->details && ci->state != USTACK_TCP_LISTEN && ci->state != USTACK_TCP_TIME_WAIT)
		fprintf(c->f, "\t rtt:%.3f rto:%u cwnd:%uB retrans:%u\n", ci->srtt_us / 1000.0,
			ci->rto_us / 1000, ci->cwnd, ci->total_retrans);
	c->rows++;
	return 0;
}

int show_conns(FILE *f, struct ustack *st, bool details)
{
	struct conns c = { f, details, ustack_now(st), 0 };
	fprintf(f, "%-12s %-6s %-6s %-21s %-21s %s\n", "State", "Recv-Q", "Send-Q", "Local Address:Port",
		"Peer Address:Port", "Timer");
	ustack_tcp_foreach(st, conn_row, &c);
	return c.rows;
}

/* Prints the non-zero counters whose names start with prefix (NULL: those
 * no group takes), under a heading printed only if one is. */
static int group(FILE *f, const struct ustack *st, const char *title, const char *prefix, bool *taken)
{
	int n = 0;
	size_t plen = prefix ? strlen(prefix) : 0;
	for (int i = 0; i < USTACK_STAT__COUNT; i++) {
		const char *name = ustack_stat_name((enum ustack_stat)i);
		uint64_t v = ustack_stat(st, (enum ustack_stat)i);
		if (taken[i] || (prefix && strncmp(name, prefix, plen)))
			continue;
		taken[i] = true;
		if (!v)
			continue;
		if (!n++)
			fprintf(f, "%s:\n", title);
		fprintf(f, "    %-34s %12llu\n", name + plen, (unsigned long long)v);
	}
	return n;
}

int show_counters(FILE *f, const struct ustack *st)
{
	bool taken[USTACK_STAT__COUNT] = { false };
	int n = 0;
	/* Drops first in the walk so that "drop.ip.*" is not taken for ip,
	 * last in print order since they are the thing to look at. */
	static const struct {
		const char *title, *prefix;
	} groups[] = {
		{ "ip", "ip." },
		{ "tcp", "tcp." },
		{ "udp", "udp." },
		{ "icmp", "icmp." },
	};
	bool is_drop[USTACK_STAT__COUNT];
	for (int i = 0; i < USTACK_STAT__COUNT; i++) {
		is_drop[i] = !strncmp(ustack_stat_name((enum ustack_stat)i), "drop.", 5);
		taken[i] = is_drop[i];
	}
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		n += group(f, st, groups[g].title, groups[g].prefix, taken);
	bool others[USTACK_STAT__COUNT];
	memcpy(others, taken, sizeof(others));
	for (int i = 0; i < USTACK_STAT__COUNT; i++)
		taken[i] = !is_drop[i];
	n += group(f, st, "drops, by reason", "drop.", taken);
	n += group(f, st, "other", NULL, others);
	return n;
}
