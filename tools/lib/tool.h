/*
 * What the command-line tools share: the options that put a stack on a TUN
 * device (address, device, MTU, fault injection, tracing) and the code that
 * sets it up and tears it down.
 */
#ifndef USTACK_TOOL_H
#define USTACK_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ustack/socket.h>
#include <ustack/trace.h>
#include <ustack/tun.h>

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
};

struct tool_net {
	struct tool_opts o;
	struct ustack_tun *tun;
	struct ustack *st;
	ustack_time_t t0;
};

void tool_opts_defaults(struct tool_opts *o);
/* Takes argv[*i] (and its value) if it is a common option: returns 1 if it
 * was, 0 if not, -1 (after a message) if its value is bad. */
int tool_parse_common(int *i, int argc, char **argv, struct tool_opts *o);
void tool_common_usage(FILE *f);
int tool_parse_addr(const char *s, uint32_t *addr, uint8_t *prefix);
const char *tool_ip(uint32_t addr, char buf[16]);

/* Opens the TUN device and a stack on it; prints why it could not. */
int tool_net_open(struct tool_net *n, const struct tool_opts *o);
void tool_net_close(struct tool_net *n);

#endif
