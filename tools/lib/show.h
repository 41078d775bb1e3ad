/*
 * What a stack is doing, printed for people: the connection table as
 * `ss -tan` (and `ss -ti`) lays it out, and the counters as `netstat -s`
 * groups them. Tools print both on SIGUSR1 and, with --stats, at exit.
 */
#ifndef USTACK_TOOLS_SHOW_H
#define USTACK_TOOLS_SHOW_H

#include <stdbool.h>
#include <stdio.h>

#include <ustack/ustack.h>

/*
 * One row per TCP endpoint (listeners, connections, TIME_WAIT): State,
 * Recv-Q, Send-Q, Local and Peer Address:Port, and the pending timer. For a
 * listener Recv-Q is the accept queue and Send-Q the backlog, as in ss.
 * With details, each connection gets a second line as ss -ti prints:
 * rtt (smoothed, ms), rto (ms), cwnd (bytes), retrans (total). Returns the
 * number of rows.
 */
int show_conns(FILE *f, struct ustack *st, bool details);

/*
 * The counters that are not zero, in groups: ip, tcp, udp, icmp, then the
 * drops by reason (the "drop." counters, their prefix removed), then any
 * counter a later version adds under another name. Returns how many were
 * printed.
 */
int show_counters(FILE *f, const struct ustack *st);

#endif
