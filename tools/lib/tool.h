/*
 * What the command-line tools share: the options that put a stack on a TUN
 * device (address, device, MTU, fault injection, tracing, captures) and the
 * code that sets it up, runs it and tears it down.
 */
#ifndef USTACK_TOOL_H
#define USTACK_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ustack/pcap.h>
#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/tun.h>

#define TOOL_MAX_SYSCTL 64

struct tool_opts {
	const char *tun_name;
	uint32_t addr;
	uint8_t prefix;
	uint32_t peer; /* the kernel side; 0 = the default */
	uint16_t mtu;
	bool trace, absolute, stats;
	struct ustack_link_params impair;
	uint64_t seed;
	bool seed_set;
	const char *pcap;       /* --pcap FILE: every packet in and out */
	bool pcap_usec;         /* --pcap-usec: microsecond stamps for old readers */
	bool no_offload;        /* --no-offload: plain packets on the device, no virtio-net header */
	const char *trace_json; /* --trace-json FILE: docs/TRACE-FORMAT.md */
	const char *stats_file; /* --stats-file FILE: every counter, on SIGUSR1 and at exit */
	const char *host;       /* the stack's name in the JSON trace; default "ustack" */
	/* --sysctl NAME=VALUE, in order: Linux's settings (docs/SYSCTL.md). */
	const char *sysctl[TOOL_MAX_SYSCTL];
	int nsysctl;
};

struct tool_net {
	struct tool_opts o;
	struct ustack_tun *tun;
	struct ustack *st;
	ustack_time_t t0;
	struct ustack_pcap *pcap;
	FILE *json;
	int json_err; /* the first failed write to the JSON trace */
	/* tool_net_run's application step, called from its own, and the
	 * application's descriptors, watched with the SIGUSR1 wakeup pipe. */
	int (*step)(void *ctx, ustack_time_t now);
	void *step_ctx;
	struct pollfd *extra, *all;
	int nextra;
};

void tool_opts_defaults(struct tool_opts *o);
/* Takes argv[*i] (and its value) if it is a common option: returns 1 if it
 * was, 0 if not, -1 (after a message) if its value is bad. */
int tool_parse_common(int *i, int argc, char **argv, struct tool_opts *o);
void tool_common_usage(FILE *f);
int tool_parse_addr(const char *s, uint32_t *addr, uint8_t *prefix);
const char *tool_ip(uint32_t addr, char buf[16]);

/* Opens the TUN device and a stack on it, and the capture and trace files
 * asked for; prints why it could not. Installs the SIGUSR1 handler. */
int tool_net_open(struct tool_net *n, const struct tool_opts *o);
/*
 * ustack_tun_run, plus what every tool does each round: on SIGUSR1 prints
 * the connection table and the counters to stderr, or with --stats-file
 * rewrites that file (the handler only sets a flag; the work happens here,
 * outside signal context), and writes out the
 * buffered capture and trace, so that a tool killed mid-run leaves files
 * complete up to its last round.
 */
int tool_net_run(struct tool_net *n, int (*step)(void *ctx, ustack_time_t now), void *ctx,
		 struct pollfd *extra, int nextra);
/* Connection table and grouped counters, as SIGUSR1 prints them. */
void tool_net_report(struct tool_net *n, FILE *f);
/* With --stats, prints the report; with --stats-file, writes it a last
 * time; closes the files (saying if a write
 * failed), the stack and the device. Returns 0, or -EIO if a capture or
 * trace file could not be written in full. */
int tool_net_close(struct tool_net *n);

/* Whether a tool that is done may let its stack go: every connection has
 * finished its closing handshake (TIME_WAIT counts as finished), or 10 s
 * have passed since `since`. If not, asks the loop to wake at that limit. */
bool tool_may_exit(struct tool_net *n, ustack_time_t since, ustack_time_t now);

#endif
