/*
 * Shared tool plumbing: see tool.h.
 */
#include "tool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "show.h"

/*
 * SIGUSR1 sets a flag and writes a byte to a pipe the loop watches (the
 * self-pipe trick): the flag says what to do, the byte wakes the loop even
 * if the signal came just before it went to sleep, when epoll_wait would
 * not be interrupted. The printing happens in the loop, never in the
 * handler. One per process, as signals are.
 */
static volatile sig_atomic_t report_asked;
static int wake_pipe[2] = { -1, -1 };

void tool_opts_defaults(struct tool_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->tun_name = "ustack0";
	o->addr = 0xC6120002u; /* 198.18.0.2 */
	o->prefix = 24;
	o->mtu = 1500;
	o->seed = 1;
	o->host = "ustack";
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
	} else if (!strcmp(a, "--pcap-usec")) {
		o->pcap_usec = true;
		takes_value = false;
	} else if (!strcmp(a, "--no-offload")) {
		o->no_offload = true;
		takes_value = false;
	} else if (strcmp(a, "--tun") && strcmp(a, "--addr") && strcmp(a, "--peer") && strcmp(a, "--mtu") &&
		   strcmp(a, "--loss") && strcmp(a, "--dup") && strcmp(a, "--reorder") && strcmp(a, "--corrupt") &&
		   strcmp(a, "--delay") && strcmp(a, "--seed") && strcmp(a, "--pcap") &&
		   strcmp(a, "--trace-json") && strcmp(a, "--sysctl") && strcmp(a, "--stats-file")) {
		return 0;
	}
	if (!takes_value)
		return 1;
	if (!v) {
		fprintf(stderr, "%s needs a value\n", a);
		return -1;
	}
	(*i)++;
	if (!strcmp(a, "--sysctl")) {
		/* Checked against the stack's table once it exists. */
		if (!strchr(v, '=')) {
			fprintf(stderr, "--sysctl takes NAME=VALUE, not '%s'\n", v);
			return -1;
		}
		if (o->nsysctl == TOOL_MAX_SYSCTL) {
			fprintf(stderr, "--sysctl: at most %d of them\n", TOOL_MAX_SYSCTL);
			return -1;
		}
		o->sysctl[o->nsysctl++] = v;
	} else if (!strcmp(a, "--tun")) {
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
	} else if (!strcmp(a, "--pcap")) {
		o->pcap = v;
	} else if (!strcmp(a, "--trace-json")) {
		o->trace_json = v;
	} else if (!strcmp(a, "--stats-file")) {
		o->stats_file = v;
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
		   "  --no-offload      one plain packet per read and write on the device; by\n"
		   "                    default frames carry a virtio-net header, the kernel's\n"
		   "                    TCP data arrives in frames of up to 64 KiB and the\n"
		   "                    stack's segments leave joined (off with fault injection)\n"
		   "  --trace           print every segment and state change\n"
		   "  --absolute        absolute sequence numbers in the trace\n"
		   "  --stats           print the connection table and the counters at exit\n"
		   "                    (kill -USR1 prints them while running)\n"
		   "  --stats-file FILE on kill -USR1 (instead of printing) and at exit, write\n"
		   "                    every counter to FILE as 'name value' lines\n"
		   "  --pcap FILE       record every packet the stack sends and receives, for\n"
		   "                    tcpdump -r, tshark or Wireshark (time: the stack's clock)\n"
		   "  --pcap-usec       microsecond time stamps in the capture (default nanoseconds)\n"
		   "  --trace-json FILE every segment, state change and drop as JSON lines\n"
		   "                    (docs/TRACE-FORMAT.md)\n"
		   "fault injection on the stack's side of the link, each direction:\n"
		   "  --loss P --dup P --reorder P --corrupt P   probabilities from 0 to 1\n"
		   "  --delay MS        extra one-way delay\n"
		   "  --seed N          seed for the faults, ISNs and ports\n"
		   "  --sysctl NAME=VALUE  one of Linux's settings, as sysctl -w takes it (repeatable;\n"
		   "                    e.g. net.ipv4.tcp_congestion_control=reno; docs/SYSCTL.md)\n");
}

static void on_event(void *ctx, const struct ustack_event *ev)
{
	struct tool_net *n = ctx;
	if (n->o.trace) {
		char line[512];
		ustack_event_format(ev, USTACK_FMT_NO_TIME | (n->o.absolute ? USTACK_FMT_ABSOLUTE : 0), line,
				    sizeof(line));
		fprintf(stderr, "%10.3f ms  %s\n", (double)(ev->time - n->t0) / 1e6, line);
	}
	if (n->json && !n->json_err) {
		char line[USTACK_EVENT_JSON_MAX];
		int len = ustack_event_json(ev, n->o.host, line, sizeof(line));
		if (len < 0 || (size_t)len >= sizeof(line))
			n->json_err = EOVERFLOW;
		else if (fprintf(n->json, "%s\n", line) < 0)
			n->json_err = errno ? errno : EIO;
	}
}

static void on_sigusr1(int sig)
{
	(void)sig;
	int saved = errno;
	report_asked = 1;
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], "", 1) < 0) {
		/* full: the loop is awake already */
	}
	errno = saved;
}

/* The capture is stamped with the driver's fresh reading of the clock as
 * each packet crosses (tun.h), not with the stack's clock that the trace's
 * events carry: one pass of the loop may write thousands of segments, and
 * stamped with the stack's one reading they showed as one instant followed
 * by a pause that was not there. A packet's stamp is at or after its
 * event's time, in the same order. */
static void capture(void *ctx, ustack_time_t t, bool inbound, const struct iovec *iov, int iovcnt)
{
	struct tool_net *n = ctx;
	(void)inbound;
	if (n->pcap)
		ustack_pcap_write_iov(n->pcap, t, iov, iovcnt);
}

/* Opens the capture and the trace file; the stack is not made yet. */
static int open_files(struct tool_net *n)
{
	const struct tool_opts *o = &n->o;
	if (o->pcap) {
		int err = ustack_pcap_open(o->pcap, o->pcap_usec ? USTACK_PCAP_USEC : 0, &n->pcap);
		if (err) {
			fprintf(stderr, "--pcap %s: %s\n", o->pcap, strerror(-err));
			return err;
		}
	}
	if (o->trace_json) {
		n->json = fopen(o->trace_json, "w");
		if (!n->json) {
			int err = -errno;
			fprintf(stderr, "--trace-json %s: %s\n", o->trace_json, strerror(errno));
			ustack_pcap_close(n->pcap);
			n->pcap = NULL;
			return err;
		}
	}
	return 0;
}

/* Writes out what the capture and the trace hold; 0 or -EIO (said once). */
static int flush_files(struct tool_net *n)
{
	int ret = 0;
	if (n->pcap) {
		int err = ustack_pcap_flush(n->pcap);
		if (err) {
			fprintf(stderr, "--pcap %s: %s; the capture stops here\n", n->o.pcap,
				strerror(-err));
			ustack_pcap_close(n->pcap);
			n->pcap = NULL;
			ustack_tun_set_tap(n->tun, NULL, NULL);
			ret = -EIO;
		}
	}
	if (n->json && !n->json_err && fflush(n->json))
		n->json_err = errno ? errno : EIO;
	if (n->json && n->json_err) {
		fprintf(stderr, "--trace-json %s: %s; the trace stops here\n", n->o.trace_json,
			strerror(n->json_err));
		fclose(n->json);
		n->json = NULL;
		ret = -EIO;
	}
	return ret;
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
		.no_offload = o->no_offload,
	};
	int err = open_files(n);
	if (err)
		return err;
	err = ustack_tun_open(&tc, &n->tun);
	if (err) {
		fprintf(stderr, "cannot open TUN device %s: %s%s\n", o->tun_name, strerror(-err),
			err == -EPERM || err == -EACCES ? " (run as root, or with CAP_NET_ADMIN)" : "");
		ustack_pcap_close(n->pcap);
		if (n->json)
			fclose(n->json);
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
	if (o->trace || n->json) {
		cfg.trace = on_event;
		cfg.trace_ctx = n;
	}
	err = ustack_create(&cfg, &n->st);
	if (err) {
		fprintf(stderr, "cannot create the stack: %s\n", strerror(-err));
		ustack_tun_close(n->tun);
		ustack_pcap_close(n->pcap);
		if (n->json)
			fclose(n->json);
		return err;
	}
	for (int i = 0; i < o->nsysctl; i++) {
		err = ustack_sysctl_assign(n->st, o->sysctl[i]);
		if (err) {
			fprintf(stderr, "--sysctl %s: %s\n", o->sysctl[i],
				err == -ENOENT ? "no such setting (or algorithm)" : strerror(-err));
			ustack_destroy(n->st);
			ustack_tun_close(n->tun);
			ustack_pcap_close(n->pcap);
			if (n->json)
				fclose(n->json);
			return err;
		}
	}
	if (n->pcap)
		ustack_tun_set_tap(n->tun, capture, n);
	ustack_poll(n->st, n->t0); /* the stack's clock starts now, not at zero */
	if (wake_pipe[0] < 0 && pipe(wake_pipe) == 0) {
		for (int i = 0; i < 2; i++) {
			fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
			fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
		}
	}
	struct sigaction sa = { .sa_handler = on_sigusr1, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	return 0;
}

void tool_net_report(struct tool_net *n, FILE *f)
{
	char ip[16];
	fprintf(f, "ustack %s at %.3f s: connections\n", tool_ip(n->o.addr, ip),
		(double)(ustack_now(n->st) - n->t0) / 1e9);
	show_conns(f, n->st, true);
	fprintf(f, "counters\n");
	if (!show_counters(f, n->st))
		fprintf(f, "    (all zero)\n");
	struct ustack_tun_stats ts;
	ustack_tun_get_stats(n->tun, &ts);
	fprintf(f, "link:\n    rx_packets %21" PRIu64 "\n    tx_packets %21" PRIu64 "\n    tx_errors %22" PRIu64 "\n",
		ts.rx_packets, ts.tx_packets, ts.tx_errors);
	if (ustack_tun_offloads(n->tun))
		fprintf(f,
			"    rx_gso_frames %18" PRIu64 "\n    rx_csum_ok %21" PRIu64 "\n    tx_gso_frames %18" PRIu64
			"\n    tx_gso_segs %20" PRIu64 "\n",
			ts.rx_gso_frames, ts.rx_csum_ok, ts.tx_gso_frames, ts.tx_gso_segs);
	/* The fault injector's own counts, so that a test can tell how many
	 * packets it lost on purpose in each direction. */
	const struct ustack_link_stats *dir[2] = { &ts.impair_in, &ts.impair_out };
	const struct ustack_link_params *p = &n->o.impair;
	bool faulty = p->loss > 0 || p->duplicate > 0 || p->reorder > 0 || p->corrupt > 0;
	for (int i = 0; i < 2 && faulty; i++)
		fprintf(f, "    faults_%s lost %" PRIu64 " duplicated %" PRIu64 " reordered %" PRIu64
			   " corrupted %" PRIu64 "\n",
			i ? "out" : "in", dir[i]->lost, dir[i]->duplicated, dir[i]->reordered, dir[i]->corrupted);
	fflush(f);
}

/*
 * Every counter, zeros too, one "name value" line each, for scripts (the
 * hostile-peer battery reads it between attacks). Written beside the file
 * and renamed over it, so a reader never sees half of it.
 */
static void write_stats_file(struct tool_net *n)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", n->o.stats_file) >= (int)sizeof(tmp)) {
		fprintf(stderr, "--stats-file %s: name too long\n", n->o.stats_file);
		return;
	}
	FILE *f = fopen(tmp, "w");
	bool ok = f != NULL;
	for (int i = 0; ok && i < USTACK_STAT__COUNT; i++)
		ok = fprintf(f, "%s %llu\n", ustack_stat_name((enum ustack_stat)i),
			     (unsigned long long)ustack_stat(n->st, (enum ustack_stat)i)) > 0;
	if (f && fclose(f))
		ok = false;
	if (!ok || rename(tmp, n->o.stats_file)) {
		fprintf(stderr, "--stats-file %s: %s\n", n->o.stats_file, strerror(errno));
		unlink(tmp);
	}
}

static int run_step(void *ctx, ustack_time_t now)
{
	struct tool_net *n = ctx;
	if (report_asked) {
		char drain[64];
		while (read(wake_pipe[0], drain, sizeof(drain)) > 0) {
		}
		report_asked = 0;
		if (n->o.stats_file)
			write_stats_file(n);
		else
			tool_net_report(n, stderr);
	}
	flush_files(n);
	/* The application sees its own descriptors only, as if it had called
	 * ustack_tun_run itself: revents in, its wishes for the next sleep out. */
	for (int i = 0; i < n->nextra; i++)
		n->extra[i].revents = n->all[i].revents;
	int r = n->step(n->step_ctx, now);
	for (int i = 0; i < n->nextra; i++)
		n->all[i].events = n->extra[i].events;
	return r;
}

int tool_net_run(struct tool_net *n, int (*step)(void *ctx, ustack_time_t now), void *ctx,
		 struct pollfd *extra, int nextra)
{
	n->step = step;
	n->step_ctx = ctx;
	n->extra = extra;
	n->nextra = nextra;
	n->all = calloc((size_t)nextra + 1, sizeof(*n->all));
	if (!n->all)
		return -ENOMEM;
	for (int i = 0; i < nextra; i++)
		n->all[i] = extra[i];
	int nall = nextra;
	if (wake_pipe[0] >= 0)
		n->all[nall++] = (struct pollfd){ .fd = wake_pipe[0], .events = POLLIN };
	int r = ustack_tun_run(n->tun, n->st, run_step, n, n->all, nall);
	free(n->all);
	n->all = NULL;
	return r;
}

int tool_net_close(struct tool_net *n)
{
	if (n->o.stats)
		tool_net_report(n, stderr);
	if (n->o.stats_file)
		write_stats_file(n);
	int ret = flush_files(n);
	ustack_tun_set_tap(n->tun, NULL, NULL);
	if (n->pcap && ustack_pcap_close(n->pcap)) {
		fprintf(stderr, "--pcap %s: could not be written in full\n", n->o.pcap);
		ret = -EIO;
	}
	if (n->json && fclose(n->json)) {
		fprintf(stderr, "--trace-json %s: %s\n", n->o.trace_json, strerror(errno));
		ret = -EIO;
	}
	n->pcap = NULL;
	n->json = NULL;
	signal(SIGUSR1, SIG_DFL);
	ustack_destroy(n->st);
	ustack_tun_close(n->tun);
	return ret;
}

static int count_closing(void *ctx, const struct ustack_conn_info *ci)
{
	if (ci->state != USTACK_TCP_TIME_WAIT && ci->state != USTACK_TCP_LISTEN)
		(*(int *)ctx)++;
	return 0;
}

bool tool_may_exit(struct tool_net *n, ustack_time_t since, ustack_time_t now)
{
	int closing = 0;
	ustack_tcp_foreach(n->st, count_closing, &closing);
	if (!closing || now - since > USTACK_SEC(10))
		return true;
	ustack_tun_wake_at(n->tun, since + USTACK_SEC(10));
	return false;
}
