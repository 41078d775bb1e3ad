/*
 * Sequence diagrams of one TCP connection, as SVG and as text.
 *
 * Events go into a struct diagram_trace from any source: a stack's trace
 * hook (diagram_trace_add_ustack), a JSON-lines trace (diagram_trace_read_jsonl)
 * or a pcap capture (diagram_trace_read_pcap). A trace may hold many
 * connections; diagram_build picks one and turns it into a struct diagram:
 * the two endpoints, each segment with its send and arrival times and its
 * marks (lost, retransmission, duplicate), and each side's state changes.
 * A side whose stack did not report its states (every side of a capture)
 * gets them inferred from the segments per RFC 9293, marked as inferred.
 *
 *	struct diagram_trace tr;
 *	diagram_trace_init(&tr);
 *	... diagram_trace_add_ustack(&tr, "client", ev) from the trace hook ...
 *	struct diagram d;
 *	if (diagram_build(&d, &tr, NULL, err, sizeof(err)) == 0) {
 *		diagram_write_text(&d, NULL, stdout);
 *		diagram_free(&d);
 *	}
 *	diagram_trace_free(&tr);
 *
 * The output depends only on the events: the same trace gives the same
 * bytes, so a diagram can be compared with a golden file.
 */
#ifndef USTACK_TOOLS_DIAGRAM_H
#define USTACK_TOOLS_DIAGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ustack/trace.h>
#include <ustack/ustack.h>

#define DIAGRAM_NAME_MAX 32
#define DIAGRAM_CAUSE_MAX 32
#define DIAGRAM_REASON_MAX 48

enum diagram_ev_kind {
	DIAGRAM_EV_SEG_OUT,  /* host sent seg */
	DIAGRAM_EV_SEG_IN,   /* host received seg */
	DIAGRAM_EV_SEG_WIRE, /* seg seen on the wire (a capture): one time for both ends */
	DIAGRAM_EV_STATE,
	DIAGRAM_EV_DROP, /* host threw seg away after receiving it */
};

/* One event of a trace, for any connection. */
struct diagram_event {
	enum diagram_ev_kind kind;
	ustack_time_t t;             /* nanoseconds */
	char host[DIAGRAM_NAME_MAX]; /* the reporting stack's name; empty for the wire */
	bool has_seg;
	struct ustack_tcp_segment seg;
	bool has_iss, has_irs; /* the reporting side's initial sequence numbers */
	uint32_t iss, irs;
	/* STATE: the connection from the host's side; rport 0 for a listener. */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	enum ustack_tcp_state from, to;
	char cause[DIAGRAM_CAUSE_MAX];
	char reason[DIAGRAM_REASON_MAX]; /* DROP */
};

struct diagram_trace {
	struct diagram_event *ev;
	size_t n, cap;
	bool nomem; /* an event was lost for want of memory */
};

void diagram_trace_init(struct diagram_trace *tr);
void diagram_trace_free(struct diagram_trace *tr);
/* Appends a copy of ev. 0 or -ENOMEM. */
int diagram_trace_add(struct diagram_trace *tr, const struct diagram_event *ev);
/* Appends a stack's trace event as the hook delivers it; host names the
 * stack ("client"). Events of no TCP connection are skipped. */
int diagram_trace_add_ustack(struct diagram_trace *tr, const char *host, const struct ustack_event *ev);

/*
 * Appends the TCP segments of a classic libpcap capture in buf[0..len):
 * microsecond (0xa1b2c3d4) or nanosecond (0xa1b23c4d) magic, either byte
 * order; link types RAW (101), IPV4 (228), ETHERNET (1) and LINUX_SLL (113).
 * Packets that are not IPv4 TCP are skipped. Returns 0, or -EINVAL with a
 * reason in err for a file that is not such a capture.
 */
int diagram_trace_read_pcap(struct diagram_trace *tr, const void *buf, size_t len, char *err,
			    size_t errsize);

/*
 * Appends the events of a JSON-lines trace (docs/TRACE-FORMAT.md) read
 * from f; name is for messages. Returns 0, or a negative errno with
 * "NAME:LINE:COLUMN: why" in err.
 */
int diagram_trace_read_jsonl(struct diagram_trace *tr, FILE *f, const char *name, char *err, size_t errsize);

/* An endpoint, host byte order. */
struct diagram_endpoint {
	uint32_t addr;
	uint16_t port;
};

struct diagram_conn {
	struct diagram_endpoint a, b; /* in order of first appearance */
	size_t nevents;
};

/* The connections of a trace in order of first appearance: fills up to
 * max of out, returns how many there are. */
size_t diagram_trace_conns(const struct diagram_trace *tr, struct diagram_conn *out, size_t max);

/* ---- one connection ---- */

#define DIAGRAM_LOST 0x01    /* sent, never received */
#define DIAGRAM_RETRANS 0x02 /* sequence space its sender had sent before */
#define DIAGRAM_DUP 0x04     /* a second arrival of one sending */
#define DIAGRAM_DROPPED 0x08 /* received, then thrown away (see reason) */

#define DIAGRAM_KNOW_SENT 0x01 /* t_sent was reported */
#define DIAGRAM_KNOW_RECV 0x02 /* t_recv was reported */

struct diagram_seg {
	int from;      /* the sender: 0 (left) or 1 (right) */
	unsigned know; /* DIAGRAM_KNOW_*: a capture knows neither, only t */
	ustack_time_t t_sent, t_recv;
	/* Positions in the trace of the sending and the arrival, which order
	 * events at the same time. */
	size_t order, order_recv;
	struct ustack_tcp_segment h;
	unsigned marks; /* DIAGRAM_LOST ... */
	char reason[DIAGRAM_REASON_MAX];
};

struct diagram_state {
	int side;
	ustack_time_t t;
	size_t order;
	/* Where an inferred state sits among events at the same time: 0 when
	 * its side sent something, 2 when it received something, 1 as reported. */
	int phase;
	enum ustack_tcp_state from, to;
	bool inferred;
	char cause[DIAGRAM_CAUSE_MAX];
};

struct diagram_side {
	struct diagram_endpoint ep;
	char name[DIAGRAM_NAME_MAX]; /* "client", the host's name, ... */
	bool traced;                 /* its stack reported its own events */
	bool has_isn;
	uint32_t isn; /* origin of its relative sequence numbers */
	enum ustack_tcp_state initial;
	bool initial_inferred;
};

struct diagram {
	struct diagram_side side[2]; /* 0 is drawn on the left: the side that opened */
	struct diagram_seg *seg;
	size_t nseg;
	struct diagram_state *state;
	size_t nstate;
	bool capture;     /* built from a capture: one time per segment */
	ustack_time_t t0; /* the earliest time, shown as 0 */
};

/* Which connection diagram_build draws: the index-th of diagram_trace_conns
 * (from 0), or the first with an endpoint on port when port is non-zero. */
struct diagram_select {
	size_t index;
	uint16_t port;
};

/* Builds the diagram of one connection (sel NULL: the first). 0, or -ENOENT
 * (no such connection) or -ENOMEM, with a message in err. */
int diagram_build(struct diagram *d, const struct diagram_trace *tr, const struct diagram_select *sel,
		  char *err, size_t errsize);
void diagram_free(struct diagram *d);

struct diagram_opts {
	bool absolute; /* sequence numbers as on the wire, not relative to each side's ISN */
	bool utf8;     /* text: box-drawing characters instead of ASCII */
};

/* The label of an arrow: "PSH,ACK seq=1 ack=1 len=12". i is the index of
 * the segment in d. Returns what snprintf returns. */
int diagram_seg_label(const struct diagram *d, size_t i, const struct diagram_opts *o, char *buf,
		      size_t size);

/* A plain-text diagram, one line per segment or state change. 0 or -EIO. */
int diagram_write_text(const struct diagram *d, const struct diagram_opts *o, FILE *f);
/* A self-contained SVG document. Each segment is one element of class
 * "arrow" (plus "lost", "retrans", "dup"), each state change one of class
 * "state" ("state inferred" when inferred). 0 or -EIO. */
int diagram_write_svg(const struct diagram *d, const struct diagram_opts *o, FILE *f);

/*
 * Builds the diagram of the first connection of tr and writes it to path,
 * as SVG if the name ends in ".svg", text otherwise. For programs that
 * traced a run and want its picture: one call. 0 or a negative errno, with
 * a message in err.
 */
int diagram_save(const struct diagram_trace *tr, const char *path, const struct diagram_opts *o, char *err,
		 size_t errsize);

#endif
