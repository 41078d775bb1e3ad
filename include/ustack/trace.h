/*
 * Trace events: every segment in and out, every TCP state change and every
 * dropped packet, delivered to the hook in struct ustack_config as it
 * happens. The event and everything it points to live only during the call.
 */
#ifndef USTACK_TRACE_H
#define USTACK_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TCP header flags, with their bit positions in the header (RFC 9293 3.1). */
#define USTACK_TCP_FIN 0x01
#define USTACK_TCP_SYN 0x02
#define USTACK_TCP_RST 0x04
#define USTACK_TCP_PSH 0x08
#define USTACK_TCP_ACK 0x10
#define USTACK_TCP_URG 0x20
#define USTACK_TCP_ECE 0x40
#define USTACK_TCP_CWR 0x80

/* Which options a segment carried. */
#define USTACK_OPT_MSS 0x01
#define USTACK_OPT_WSCALE 0x02
#define USTACK_OPT_SACK_PERM 0x04
#define USTACK_OPT_SACK 0x08
#define USTACK_OPT_TS 0x10

struct ustack_tcp_options {
	uint8_t present; /* USTACK_OPT_* */
	uint8_t wscale;
	uint16_t mss;
	uint32_t ts_val, ts_ecr;
	uint8_t nsack;
	struct {
		uint32_t left, right;
	} sack[4];
};

/* A TCP segment as seen on the wire. */
struct ustack_tcp_segment {
	uint32_t saddr, daddr; /* host byte order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint16_t window; /* as carried, before scaling */
	uint8_t flags;   /* USTACK_TCP_* */
	uint16_t urgent;
	uint32_t len; /* payload bytes */
	struct ustack_tcp_options opt;
};

enum ustack_event_type {
	USTACK_EV_SEG_IN,  /* a valid TCP segment arrived */
	USTACK_EV_SEG_OUT, /* a TCP segment was sent */
	USTACK_EV_STATE,   /* a connection changed state */
	USTACK_EV_DROP,    /* a packet was dropped; see `drop` */
};

struct ustack_event {
	enum ustack_event_type type;
	ustack_time_t time;
	const struct ustack *stack;
	int fd; /* socket descriptor, -1 if none */

	/* The connection, from this stack's side; zero where none exists. */
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	/* Initial sequence numbers, for relative numbering. */
	uint32_t iss, irs;
	bool has_iss, has_irs;

	/* SEG_IN, SEG_OUT, and DROP when the packet parsed as TCP. */
	const struct ustack_tcp_segment *seg;

	/* STATE */
	enum ustack_tcp_state old_state, new_state;
	const char *cause; /* what made it change: "connect", "rcv SYN,ACK", ... */

	/* DROP */
	enum ustack_stat drop;
};

/* ustack_event_format flags */
#define USTACK_FMT_ABSOLUTE 0x01 /* absolute sequence numbers */
#define USTACK_FMT_NO_TIME 0x02  /* omit the time stamp */

/*
 * One line of text for an event, without a newline, as snprintf returns:
 * the length it wanted. Sequence numbers are relative to each side's ISN
 * unless USTACK_FMT_ABSOLUTE is given.
 */
USTACK_API int ustack_event_format(const struct ustack_event *ev, unsigned flags, char *buf, size_t size);

/* "SYN,ACK" style names for a flags byte, "." for none. */
USTACK_API int ustack_tcp_flags_format(uint8_t flags, char *buf, size_t size);

/*
 * One line of the JSON-lines trace format (docs/TRACE-FORMAT.md) for an
 * event, without a newline, as snprintf returns: the length it wanted
 * (USTACK_EVENT_JSON_MAX is always enough for a host name of up to 64
 * bytes). `host` names the stack ("client", "server"; NULL gives its
 * address); it and the cause are escaped as JSON strings. Sequence numbers
 * are absolute; iss and irs allow relative ones. The time is the stack's
 * clock in seconds, as the pcap writer stamps packets, so a trace and a
 * capture of the same run line up.
 */
USTACK_API int ustack_event_json(const struct ustack_event *ev, const char *host, char *buf, size_t size);
#define USTACK_EVENT_JSON_MAX 1024

#ifdef __cplusplus
}
#endif
#endif
