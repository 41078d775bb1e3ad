/*
 * Shared tool plumbing: see tool.h.
 */
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void tool_opts_defaults(struct tool_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tun_name = "ustack0";
	o->addr = 0xC6120002u; /* 198.18.0.2 */
	o->prefix = 24;
	o->mtu = 1500;
	o->seed = 1;
}

int tool_parse_addr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash) {
		*slash = 0;
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (*end || p < 1 || p > 30)
			return -1;
		if (prefix)
			*prefix = (uint8_t)p;
	}
	struct in_addr in;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -1;
	*addr = ntohl(in.s_addr);
	return 0;
}

const char *tool_ip(uint32_t addr, char buf[16])
{
	struct in_addr in = { htonl(addr) };
	inet_ntop(AF_INET, &in, buf, 16);
	return buf;
}

static int parse_prob(const char *opt, const char *v, double *out)
{
	char *end;
	double d = strtod(v, &end);
	if (*end || d < 0 || d > 1) {
		fprintf(stderr, "%s takes a probability from 0 to 1, not '%s'\n", opt, v);
		return -1;
	}
	*out = d;
	return 0;
}

int tool_parse_common(int *i, int argc, char **argv, struct tool_opts *o)
{
	const char *a = argv[*i];
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	bool takes_value = true;
	if (!strcmp(a, "--trace")) {
		o->trace = true;
		takes_value = false;
	} else if (!strcmp(a, "--absolute")) {
		o->absolute = true;
		takes_value = false;
	} else if (!strcmp(a, "--stats")) {
		o->stats = true;
		takes_value = false;
	} else if (strcmp(a, "--tun") && strcmp(a, "--addr") && strcmp(a, "--peer") && strcmp(a, "--mtu") &&
		   strcmp(a, "--loss") && strcmp(a, "--dup") && strcmp(a, "--reorder") && strcmp(a, "--corrupt") &&
		   strcmp(a, "--delay") && strcmp(a, "--seed")) {
		return 0;
	}
	if (!takes_value)
		return 1;
	if (!v) {
		fprintf(stderr, "%s needs a value\n", a);
		return -1;
	}
	(*i)++;
	if (!strcmp(a, "--tun")) {
		o->tun_name = v;
	} else if (!strcmp(a, "--addr")) {
		if (tool_parse_addr(v, &o->addr, &o->prefix)) {
			fprintf(stderr, "--addr takes A.B.C.D/PREFIX, not '%s'\n", v);
			return -1;
		}
	} else if (!strcmp(a, "--peer")) {
		if (tool_parse_addr(v, &o->peer, NULL)) {
			fprintf(stderr, "--peer takes an address, not '%s'\n", v);
			return -1;
		}
	} else if (!strcmp(a, "--mtu")) {
		long m = strtol(v, NULL, 10);
		if (m < 576 || m > 65535) {
			fprintf(stderr, "--mtu takes 576 to 65535\n");
			return -1;
		}
		o->mtu = (uint16_t)m;
	} else if (!strcmp(a, "--loss")) {
		return parse_prob(a, v, &o->impair.loss) ? -1 : 1;
	} else if (!strcmp(a, "--dup")) {
		return parse_prob(a, v, &o->impair.duplicate) ? -1 : 1;
	} else if (!strcmp(a, "--reorder")) {
		if (parse_prob(a, v, &o->impair.reorder))
			return -1;
		if (!o->impair.reorder_delay)
			o->impair.reorder_delay = USTACK_MSEC(5);
	} else if (!strcmp(a, "--corrupt")) {
		return parse_prob(a, v, &o->impair.corrupt) ? -1 : 1;
	} else if (!strcmp(a, "--delay")) {
		o->impair.delay = USTACK_USEC((uint64_t)(strtod(v, NULL) * 1000));
	} else if (!strcmp(a, "--seed")) {
		o->seed = strtoull(v, NULL, 0);
		o->seed_set = true;
	}
	return 1;
}

void tool_common_usage(FILE *f)
{
	fprintf(f, "network options (the stack runs on a TUN device; needs root or CAP_NET_ADMIN):\n"
		   "  --tun NAME        device name (default ustack0)\n"
		   "  --addr A/PREFIX   the stack's address (default 198.18.0.2/24); the kernel side\n"
		   "                    gets the subnet's first other host (198.18.0.1)\n"
		   "  --peer ADDR       the kernel side's address instead\n"
		   "  --mtu N           default 1500\n"
		   "  --trace           print every segment and state change\n"
		   "  --absolute        absolute sequence numbers in the trace\n"
		   "  --stats           print the stack's counters at exit\n"
		   "fault injection on the stack's side of the link, each direction:\n"
		   "  --loss P --dup P --reorder P --corrupt P   probabilities from 0 to 1\n"
		   "  --delay MS        extra one-way delay\n"
		   "  --seed N          seed for the faults, ISNs and ports\n");
}

static void print_event(void *ctx, const struct ustack_event *ev)
{
	struct tool_net *n = ctx;
	char line[512];
	ustack_event_format(ev, USTACK_FMT_NO_TIME | (n->o.absolute ? USTACK_FMT_ABSOLUTE : 0), line, sizeof(line));
	fprintf(stderr, "%10.3f ms  %s\n", (double)(ev->time - n->t0) / 1e6, line);
}

int tool_net_open(struct tool_net *n, const struct tool_opts *o)
{
	memset(n, 0, sizeof(*n));
	n->o = *o;
	n->t0 = ustack_clock_now();
	struct ustack_tun_config tc = {
		.name = o->tun_name,
		.addr = o->addr,
		.prefix = o->prefix,
		.kernel_addr = o->peer,
		.mtu = o->mtu,
		.impair = o->impair,
		.seed = o->seed,
	};
	int err = ustack_tun_open(&tc, &n->tun);
	if (err) {
		fprintf(stderr, "cannot open TUN device %s: %s%s\n", o->tun_name, strerror(-err),
			err == -EPERM || err == -EACCES ? " (run as root, or with CAP_NET_ADMIN)" : "");
		return err;
	}
	struct ustack_config cfg = {
		.addr = o->addr,
		.netmask = ~0u << (32 - o->prefix),
		.mtu = o->mtu,
		.output = ustack_tun_output,
		.output_ctx = n->tun,
		.seed = o->seed,
	};
	/* On a real network the ISN and port keys must be secret: draw them
	 * from the kernel unless a seed was asked for (to replay a run). */
	if (!o->seed_set && getrandom(&cfg.seed, sizeof(cfg.seed), 0) != sizeof(cfg.seed))
		cfg.seed = (uint64_t)n->t0;
	if (o->trace) {
		cfg.trace = print_event;
		cfg.trace_ctx = n;
	}
	err = ustack_create(&cfg, &n->st);
	if (err) {
		fprintf(stderr, "cannot create the stack: %s\n", strerror(-err));
		ustack_tun_close(n->tun);
		return err;
	}
	ustack_poll(n->st, n->t0); /* the stack's clock starts now, not at zero */
	return 0;
}

void tool_net_close(struct tool_net *n)
{
	if (n->o.stats) {
		fprintf(stderr, "counters:\n");
		for (int i = 0; i < USTACK_STAT__COUNT; i++)
			if (ustack_stat(n->st, (enum ustack_stat)i))
				fprintf(stderr, "  %-32s %llu\n", ustack_stat_name((enum ustack_stat)i),
					(unsigned long long)ustack_stat(n->st, (enum ustack_stat)i));
	}
	ustack_destroy(n->st);
	ustack_tun_close(n->tun);
}
