/*
 * A fixture for the observability tests: the echo story on the simulator
 * (a client connects, sends `up` bytes, the server answers `down` bytes and
 * closes first, the client closes, TIME_WAIT runs out) with every delivered
 * packet written to a pcap file by the simulator's tap and every event of
 * both stacks written to a JSON-lines file by the trace hook, and kept in
 * memory too, so that a test can hold the files against what happened.
 */
#ifndef USTACK_TESTS_TCAPTURE_H
#define USTACK_TESTS_TCAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ustack/pcap.h>
#include <ustack/sim.h>
#include <ustack/trace.h>

#define TCAP_CLIENT 0xC6120001u /* 198.18.0.1 */
#define TCAP_SERVER 0xC6120002u /* 198.18.0.2 */
#define TCAP_PORT 8080

/* One event as the hook saw it, with what it pointed to copied. */
struct tcap_event {
	struct ustack_event ev; /* ev.seg and ev.cause point into this record */
	struct ustack_tcp_segment seg;
	char cause[64];
	const char *host; /* "client" or "server" */
};

struct tcap {
	struct ustack_sim *sim;
	struct ustack *client, *server;
	struct ustack_pcap *pcap;
	FILE *json;
	char pcap_path[64], json_path[64];
	struct tcap_event *ev;
	size_t nev, cap;
	unsigned long delivered; /* packets the tap saw */
	bool failed;             /* a file write failed */
	/* Optional: every packet from the server to the client is lost from
	 * `blackout_at` (after the story starts) for `blackout_for`, so that
	 * the client resends data the server already has. */
	ustack_time_t blackout_at, blackout_for;
	struct ustack_link_params link;
};

/* Creates the simulator, both stacks and the two files (in /tmp, removed by
 * tcap_fini). pcap_flags as for ustack_pcap_open. */
void tcap_init(struct tcap *c, uint64_t seed, const struct ustack_link_params *link, unsigned pcap_flags);
/* Runs the story; returns 0 when every byte arrived both ways and both
 * sides closed, or -1 with why (and the clock ran to `limit` at most). */
int tcap_story(struct tcap *c, size_t up, size_t down, ustack_time_t limit, char *why, size_t whysize);
/* Closes the files so they can be read; 0 or the first write error. */
int tcap_finish(struct tcap *c);
void tcap_fini(struct tcap *c);

#endif
