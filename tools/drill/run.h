/*
 * Running one parsed script (run.c) and its system calls (syscall.c).
 */
#ifndef USTACK_DRILL_RUN_H
#define USTACK_DRILL_RUN_H

#include <ustack/socket.h>

#include "drill.h"

#define RUN_MAX_SOCKS 64
#define RUN_MAX_QUEUE 8192 /* packets the stack sent and no event has read yet */

/* packetdrill's view of a socket (socket.h there): where its handshake
 * stands, which tells how script sequence numbers map to live ones. */
enum sock_state {
	SS_NEW,
	SS_LISTENING,
	SS_ACTIVE_CONNECTING,
	SS_ACTIVE_SYN_SENT,
	SS_ACTIVE_SYN_ACKED,
	SS_PASSIVE_PACKET_RECEIVED,
	SS_PASSIVE_SYNACK_SENT,
	SS_PASSIVE_SYNACK_ACKED,
};

#define RUN_TS_MAP 64

struct dsock {
	bool closed;
	int script_fd, live_fd; /* -1: no descriptor (a child not yet accepted) */
	int proto; /* P_TCP or P_UDP */
	enum sock_state state;
	bool nonblock;
	uint32_t l_ip, r_ip; /* live four-tuple, host order */
	uint16_t l_port, r_port;
	uint32_t script_local_isn, live_local_isn, live_remote_isn;
	/* packetdrill's ts_val_map: each outbound TS val of the script and
	 * the live one it matched, so that an inbound TS ecr naming a script
	 * value echoes the live one. The oldest entries give way. */
	uint32_t ts_script[RUN_TS_MAP], ts_live[RUN_TS_MAP];
	int nts;
};

/* A system call in progress: a blocking call that has not completed yet. */
struct call {
	struct event *ev;
	bool active;
	size_t done; /* bytes moved so far by a blocking write or MSG_WAITALL read */
	int64_t deadline; /* poll's timeout as script time, or -1 */
	int64_t start; /* script time it started */
};

struct run {
	struct script *s;
	const struct drill_config *cfg;
	struct ustack *st;
	ustack_time_t base; /* stack time of script time 0 */
	int64_t now; /* virtual script time, microseconds */
	struct live q[RUN_MAX_QUEUE];
	int qhead, qlen;
	bool qoverflow;
	struct dsock socks[RUN_MAX_SOCKS];
	int nsocks;
	struct dsock *sut; /* the socket under test */
	uint16_t next_port; /* the remote's ports for inbound connections */
	struct event *last; /* the previous event */
	int64_t last_time; /* its time */
	struct call pend; /* the blocking call in progress, if any */
	int spins; /* steps in a row that did not move the clock */
	bool failed;
	char err[4096];
};

void run_fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Moves virtual time forward by one step: to the stack's next deadline (or
 * a pending call's), but not past `limit`. Returns false when it could not
 * move (nothing to wait for before limit and now == limit). */
bool run_step(struct run *r, int64_t limit);
/* Virtual time forward to t, running every timer on the way. */
void run_advance(struct run *r, int64_t t);
/* Retries the pending blocking call after the stack did something. */
void run_retry_pending(struct run *r);

/* syscall.c: one attempt at the call of event ev (c->ev). Returns 1 when it
 * completed (result checked, r->failed on mismatch), 0 when it would block,
 * -1 on a runtime error (r->failed). */
int syscall_attempt(struct run *r, struct call *c, bool first);
/* Checks a completed blocking call's end time. */
void syscall_check_end(struct run *r, struct call *c);
struct dsock *run_sock_by_script_fd(struct run *r, int fd);
/* Checks an event's time against when it happened (packetdrill's verify_time). */
bool run_verify_time(struct run *r, enum time_type tt, int64_t expected, int64_t expected_end,
		     int64_t actual, int64_t last_usecs, const char *what, char *err, size_t errlen);

#endif
