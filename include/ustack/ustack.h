/*
 * ustack: a TCP/IP stack in user space.
 *
 * The core never touches the operating system. The caller hands it IPv4
 * packets (ustack_input), tells it the time (every call that can make
 * progress takes `now`), and receives the packets it emits through the
 * output callback in its configuration. ustack_poll runs the timers that are
 * due and returns the next deadline, so an event loop sleeps exactly until
 * then, and a simulator can jump its virtual clock straight to it.
 *
 * Threading contract: a stack instance, and every socket in it, must be used
 * by one thread at a time; distinct instances share nothing and may run on
 * distinct threads at once.
 */
#ifndef USTACK_USTACK_H
#define USTACK_USTACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define USTACK_API __attribute__((visibility("default")))
#else
#define USTACK_API
#endif

/* Nanoseconds on the caller's monotonic clock. The origin is the caller's. */
typedef uint64_t ustack_time_t;
#define USTACK_TIME_NEVER UINT64_MAX
#define USTACK_USEC(x) ((ustack_time_t)(x) * 1000u)
#define USTACK_MSEC(x) ((ustack_time_t)(x) * 1000000u)
#define USTACK_SEC(x) ((ustack_time_t)(x) * 1000000000u)

struct ustack;
struct ustack_event;

/*
 * Everything a stack is made from. Zero in a numeric field means "the
 * default", and the defaults are Linux's, so that a zero-initialised config
 * plus an address and an output callback gives a stack that behaves like the
 * kernel on the other end of the wire.
 */
/* Bits of ustack_config.csum_offload. */
#define USTACK_CSUM_RX 0x1u
#define USTACK_CSUM_TX 0x2u

struct ustack_config {
	uint32_t addr;    /* IPv4 address, host byte order; required */
	uint32_t netmask; /* host byte order; default 255.255.255.0 */
	uint16_t mtu;     /* default 1500; at least 576 */

	/*
	 * TCP checksum offload, as a NIC offers it: USTACK_CSUM_RX means the
	 * link has verified every TCP checksum it delivers (or, like Linux's
	 * loopback, the packets never left memory), so the stack does not;
	 * USTACK_CSUM_TX means the link computes the checksum of every TCP
	 * segment it is given, so the stack only stores the pseudo-header's
	 * sum in the field (Linux's CHECKSUM_PARTIAL) and a capture taken at
	 * the stack's edge shows that partial sum, not a valid checksum.
	 * Default 0: the stack computes and verifies everything. Only a link
	 * that keeps the promise may set them: bench/link.c (memory to memory,
	 * both bits on both stacks). IPv4 header checksums are always done.
	 */
	uint8_t csum_offload;

	/*
	 * Receives every IPv4 packet the stack sends, as a gather list: the
	 * headers first, then the payload read in place from a socket buffer.
	 * The memory is valid only during the call. The callback must not call
	 * back into the stack.
	 */
	void (*output)(void *ctx, const struct iovec *iov, int iovcnt);
	void *output_ctx;

	/* Seeds the keys behind ISNs, ephemeral ports and hash tables. The same
	 * seed, inputs and clock give the same packets, byte for byte. */
	uint64_t seed;

	/* Optional allocator, with Lua's contract: nsize 0 frees, otherwise it
	 * behaves as realloc and may return NULL. osize is the old size (0 for a
	 * new block). Default: the C library's. */
	void *(*alloc)(void *ctx, void *ptr, size_t osize, size_t nsize);
	void *alloc_ctx;

	/* Optional trace hook (see trace.h): every segment in and out, every
	 * state change and every drop. One predictable branch when NULL. */
	void (*trace)(void *ctx, const struct ustack_event *ev);
	void *trace_ctx;

	/* Limits. */
	uint32_t max_sockets;   /* open descriptors; default 65536 */
	uint32_t max_conns;     /* TCP control blocks incl. TIME_WAIT; default 262144 */
	uint32_t somaxconn;     /* cap on listen backlogs; default 4096 */
	/* Socket buffers' sizes: Linux's autotuning ceilings (tcp_rmem[2],
	 * tcp_wmem[2]), enough for 1 Gbit/s at 10 ms and more. The receive
	 * buffer has its ceiling from the start; the send buffer starts at
	 * tcp_wmem[1] and grows with the congestion window up to it, as
	 * Linux's does (SO_SNDBUF fixes it instead). Memory follows use: a
	 * ring grows as data waits in it and is released when it drains. */
	uint32_t tcp_rmem;      /* default 6291456 */
	uint32_t tcp_wmem;      /* default 4194304 */
	uint32_t msl_ms;        /* MSL; TIME_WAIT lasts 2*MSL; default 30000 */
	uint32_t fin_timeout_ms; /* orphaned FIN_WAIT_2 lifetime; default 60000 */
	uint32_t rto_initial_ms; /* RFC 6298 2.1; default 1000 */
	uint32_t rto_min_ms;     /* default 200, Linux's TCP_RTO_MIN */
	uint32_t rto_max_ms;     /* default 120000, Linux's TCP_RTO_MAX */
	uint8_t syn_retries;     /* SYN retransmissions before -ETIMEDOUT; default 6 */
	uint8_t synack_retries;  /* SYN,ACK retransmissions; default 5 */
	uint8_t retries2;        /* data retransmissions before -ETIMEDOUT; default 15 */
	uint16_t ephemeral_lo;  /* ephemeral port range; default 32768 */
	uint16_t ephemeral_hi;  /* default 60999 */

	/* IPv4 reassembly (RFC 791 3.2, RFC 815), with Linux's limits. A
	 * fragment that would exceed one is dropped and counted. */
	uint32_t ipfrag_max;     /* datagrams in reassembly at once; default 64 */
	uint32_t ipfrag_mem;     /* bytes all of them may hold; default 4194304, Linux's ipfrag_high_thresh */
	uint32_t ipfrag_time_ms; /* a datagram's time to complete; default 30000, Linux's ipfrag_time */
	/* ICMP errors sent (RFC 1122 3.2.2): a token bucket, Linux's
	 * net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst. */
	uint32_t icmp_msgs_per_sec; /* default 1000 */
	uint32_t icmp_msgs_burst;   /* default 50 */
};

/*
 * Statistics. Every counter has a stable dotted name; every counter whose
 * name starts with "drop." counts packets thrown away for that reason, so
 * that no packet ever disappears without a name.
 */
#define USTACK_STATS(X)                                                        \
	X(IP_IN, "ip.in")                                                      \
	X(IP_OUT, "ip.out")                                                    \
	X(TCP_IN, "tcp.in")                                                    \
	X(TCP_OUT, "tcp.out")                                                  \
	X(TCP_OUT_RST, "tcp.out.rst")                                          \
	X(TCP_ACTIVE_OPENS, "tcp.active_opens")                                \
	X(TCP_PASSIVE_OPENS, "tcp.passive_opens")                              \
	X(TCP_ATTEMPT_FAILS, "tcp.attempt_fails")                              \
	X(TCP_ESTAB_RESETS, "tcp.estab_resets")                                \
	X(TCP_CHALLENGE_ACKS, "tcp.challenge_acks")                            \
	X(TCP_ACK_SKIPPED, "tcp.ack_skipped_ratelimit")                        \
	X(TCP_SYNCOOKIES_SENT, "tcp.syncookies_sent")                          \
	X(TCP_SYNCOOKIES_RECV, "tcp.syncookies_recv")                          \
	X(TCP_RETRANS_SEGS, "tcp.retrans_segs")                                \
	X(TCP_TIMEOUTS, "tcp.timeouts")                                        \
	X(TCP_TIMEOUT_ABORTS, "tcp.timeout_aborts")                            \
	X(TCP_FAST_RETRANS, "tcp.fast_retrans")                                \
	X(TCP_PARTIAL_ACKS, "tcp.partial_acks")                                \
	X(TCP_OFO_QUEUED, "tcp.ofo_queued")                                    \
	X(TCP_SACK_RECOVERY, "tcp.sack_recovery")                              \
	X(TCP_MARKED_LOST, "tcp.marked_lost")                                  \
	X(TCP_RACK_MARKED_LOST, "tcp.rack_marked_lost")                        \
	X(TCP_TLP_PROBES, "tcp.tlp_probes")                                    \
	X(TCP_SPURIOUS_RTO_UNDONE, "tcp.spurious_rto_undone")                  \
	X(TCP_UNDO_DSACK, "tcp.undo_dsack")                                    \
	X(TCP_UNDO_TS, "tcp.undo_ts")                                          \
	X(TCP_DSACK_RECV, "tcp.dsack_recv")                                    \
	X(TCP_SACK_RENEGING, "tcp.sack_reneging")                              \
	X(TCP_SACK_SCOREBOARD_LOST, "tcp.sack_scoreboard_given_up")            \
	X(TCP_DELAYED_ACKS, "tcp.delayed_acks")                                \
	X(TCP_PERSIST_PROBES, "tcp.persist_probes")                            \
	X(TCP_KEEPALIVE_PROBES, "tcp.keepalive_probes")                        \
	X(TCP_TIMEWAIT_EXPIRED, "tcp.timewait.expired")                        \
	X(TCP_TIMEWAIT_RECYCLED, "tcp.timewait.recycled")                      \
	X(TCP_PMTU_UPDATES, "tcp.pmtu_updates")                                \
	X(IP_PMTU_LEARNED, "ip.pmtu.learned")                                  \
	X(IP_PMTU_CLAMPED, "ip.pmtu.clamped")                                  \
	X(IP_PMTU_EXPIRED, "ip.pmtu.expired")                                  \
	X(IP_PMTU_EVICTED, "ip.pmtu.evicted")                                  \
	X(IP_FRAG_IN, "ip.frag.in")                                            \
	X(IP_FRAG_REASSEMBLED, "ip.frag.reassembled")                          \
	X(IP_FRAG_FRAGMENTED, "ip.frag.fragmented")                            \
	X(IP_FRAG_CREATED, "ip.frag.created")                                  \
	X(UDP_IN, "udp.in")                                                    \
	X(UDP_OUT, "udp.out")                                                  \
	X(ICMP_IN, "icmp.in")                                                  \
	X(ICMP_OUT, "icmp.out")                                                \
	X(ICMP_IN_ECHO, "icmp.in.echo")                                        \
	X(ICMP_OUT_ECHO_REPLY, "icmp.out.echo_reply")                          \
	X(ICMP_IN_DEST_UNREACH, "icmp.in.dest_unreach")                        \
	X(ICMP_IN_HARD_ERRORS, "icmp.in.hard_errors")                          \
	X(ICMP_IN_SOFT_ERRORS, "icmp.in.soft_errors")                          \
	X(ICMP_OUT_DEST_UNREACH, "icmp.out.dest_unreach")                      \
	X(ICMP_OUT_TIME_EXCEEDED, "icmp.out.time_exceeded")                    \
	X(ICMP_OUT_RATE_LIMITED, "icmp.out.rate_limited")                      \
	X(DROP_IP_TRUNCATED, "drop.ip.truncated")                              \
	X(DROP_IP_VERSION, "drop.ip.version")                                  \
	X(DROP_IP_HDR_LEN, "drop.ip.header_length")                            \
	X(DROP_IP_TOTAL_LEN, "drop.ip.total_length")                           \
	X(DROP_IP_CHECKSUM, "drop.ip.checksum")                                \
	X(DROP_IP_BAD_SRC, "drop.ip.bad_source")                               \
	X(DROP_IP_NOT_FOR_US, "drop.ip.not_for_us")                            \
	X(DROP_IP_PROTO, "drop.ip.unknown_protocol")                           \
	X(DROP_IP_FRAG_BAD_LENGTH, "drop.ip.frag_bad_length")                  \
	X(DROP_IP_FRAG_TOO_BIG, "drop.ip.frag_too_big")                        \
	X(DROP_IP_FRAG_OVERLAP, "drop.ip.frag_overlap")                        \
	X(DROP_IP_FRAG_DUPLICATE, "drop.ip.frag_duplicate")                    \
	X(DROP_IP_FRAG_INCONSISTENT, "drop.ip.frag_inconsistent")              \
	X(DROP_IP_FRAG_LIMIT, "drop.ip.frag_limit")                            \
	X(DROP_IP_FRAG_MEM, "drop.ip.frag_mem")                                \
	X(DROP_IP_FRAG_TIMEOUT, "drop.ip.frag_timeout")                        \
	X(DROP_IP_FRAG_NO_MEMORY, "drop.ip.frag_no_memory")                    \
	X(DROP_UDP_TRUNCATED, "drop.udp.truncated")                            \
	X(DROP_UDP_LENGTH, "drop.udp.length")                                  \
	X(DROP_UDP_CHECKSUM, "drop.udp.checksum")                              \
	X(DROP_UDP_NO_PORT, "drop.udp.no_port")                                \
	X(DROP_UDP_RCVBUF_FULL, "drop.udp.rcvbuf_full")                        \
	X(DROP_UDP_NO_MEMORY, "drop.udp.no_memory")                            \
	X(DROP_ICMP_TRUNCATED, "drop.icmp.truncated")                          \
	X(DROP_ICMP_CHECKSUM, "drop.icmp.checksum")                            \
	X(DROP_ICMP_IGNORED_TYPE, "drop.icmp.ignored_type")                    \
	X(DROP_ICMP_BAD_QUOTE, "drop.icmp.bad_quote")                          \
	X(DROP_ICMP_NO_SOCKET, "drop.icmp.no_socket")                          \
	X(DROP_ICMP_OUT_OF_WINDOW, "drop.icmp.out_of_window")                  \
	X(DROP_ICMP_UDP_SOFT, "drop.icmp.udp_soft_error")                      \
	X(DROP_ICMP_FRAG_NEEDED, "drop.icmp.frag_needed")                      \
	X(DROP_ICMP_PMTU_NOT_SMALLER, "drop.icmp.pmtu_not_smaller")            \
	X(DROP_TCP_TRUNCATED, "drop.tcp.truncated")                            \
	X(DROP_TCP_DOFF_SMALL, "drop.tcp.data_offset_small")                   \
	X(DROP_TCP_DOFF_PAST_END, "drop.tcp.data_offset_past_end")             \
	X(DROP_TCP_CHECKSUM, "drop.tcp.checksum")                              \
	X(DROP_TCP_OPT_LEN, "drop.tcp.option_length")                          \
	X(DROP_TCP_OPT_OVERRUN, "drop.tcp.option_overrun")                     \
	X(DROP_TCP_OPT_SIZE, "drop.tcp.option_size")                           \
	X(DROP_TCP_BAD_PORT, "drop.tcp.bad_port")                              \
	X(DROP_TCP_BAD_FLAGS, "drop.tcp.bad_flags")                            \
	X(DROP_TCP_NO_SOCKET, "drop.tcp.no_socket")                            \
	X(DROP_TCP_LISTEN_RST, "drop.tcp.listen_rst")                          \
	X(DROP_TCP_LISTEN_NO_SYN, "drop.tcp.listen_no_syn")                    \
	X(DROP_TCP_LISTEN_OVERFLOW, "drop.tcp.listen_overflow")                \
	X(DROP_TCP_SYN_SENT_BAD_ACK, "drop.tcp.syn_sent_bad_ack")              \
	X(DROP_TCP_SYN_SENT_NO_SYN, "drop.tcp.syn_sent_no_syn")                \
	X(DROP_TCP_NOT_ACCEPTABLE, "drop.tcp.not_acceptable")                  \
	X(DROP_TCP_RST_OUT_OF_WINDOW, "drop.tcp.rst_out_of_window")            \
	X(DROP_TCP_RST_INEXACT, "drop.tcp.rst_inexact")                        \
	X(DROP_TCP_SYN_IN_WINDOW, "drop.tcp.syn_synchronized")                 \
	X(DROP_TCP_NO_ACK, "drop.tcp.no_ack")                                  \
	X(DROP_TCP_ACK_UNSENT, "drop.tcp.ack_unsent")                          \
	X(DROP_TCP_ACK_TOO_OLD, "drop.tcp.ack_too_old")                        \
	X(DROP_TCP_SYNRECV_BAD_ACK, "drop.tcp.syn_recv_bad_ack")               \
	X(DROP_TCP_OFO_FULL, "drop.tcp.ofo_full")                      \
	X(DROP_TCP_PAST_FIN, "drop.tcp.past_fin")                      \
	X(DROP_TCP_RCV_CLOSED, "drop.tcp.receive_closed")                      \
	X(DROP_TCP_TIMEWAIT, "drop.tcp.timewait")                              \
	X(DROP_TCP_NO_MEMORY, "drop.tcp.no_memory")                            \
	X(DROP_TCP_MEM_LIMIT, "drop.tcp.mem_limit")                            \
	X(DROP_TCP_CONN_LIMIT, "drop.tcp.conn_limit")                          \
	X(DROP_TCP_PAWS, "drop.tcp.paws")                                      \
	X(DROP_TCP_PAWS_OLD_ACK, "drop.tcp.paws_old_ack")                      \
	X(DROP_TCP_SYNCOOKIE_BAD, "drop.tcp.syncookie_bad")

enum ustack_stat {
#define USTACK_STAT_ENUM_(id, name) USTACK_STAT_##id,
	USTACK_STATS(USTACK_STAT_ENUM_)
#undef USTACK_STAT_ENUM_
	USTACK_STAT__COUNT
};

/* The first drop counter; every counter from here on is a drop reason. */
#define USTACK_STAT__FIRST_DROP USTACK_STAT_DROP_IP_TRUNCATED

/* The TCP states of RFC 9293 section 3.3.2, numbered as Linux's are not:
 * these follow the RFC's order. */
enum ustack_tcp_state {
	USTACK_TCP_CLOSED,
	USTACK_TCP_LISTEN,
	USTACK_TCP_SYN_SENT,
	USTACK_TCP_SYN_RECEIVED,
	USTACK_TCP_ESTABLISHED,
	USTACK_TCP_FIN_WAIT_1,
	USTACK_TCP_FIN_WAIT_2,
	USTACK_TCP_CLOSE_WAIT,
	USTACK_TCP_CLOSING,
	USTACK_TCP_LAST_ACK,
	USTACK_TCP_TIME_WAIT,
	USTACK_TCP__STATE_COUNT
};

USTACK_API int ustack_create(const struct ustack_config *cfg, struct ustack **out);
USTACK_API void ustack_destroy(struct ustack *st);

/*
 * Hands the stack one IPv4 packet received at time `now`. Every packet is
 * consumed: a malformed or unwanted one is counted under its drop reason.
 * Returns 0, or -EINVAL for a NULL packet.
 */
USTACK_API int ustack_input(struct ustack *st, ustack_time_t now, const void *pkt, size_t len);

/* Bits of ustack_input_flags's flags: what the link says about one packet. */
/*
 * The link vouches for this packet's TCP or UDP checksum, as virtio-net's
 * VIRTIO_NET_HDR_F_NEEDS_CSUM and F_DATA_VALID do (Linux's
 * CHECKSUM_PARTIAL and CHECKSUM_UNNECESSARY): the packet never crossed a
 * wire, or the device checked it. The field may then hold only the
 * pseudo-header's sum, so the stack must not verify it. Never set by the
 * stack for IP fragments, whose reassembled datagram is always verified.
 */
#define USTACK_RX_CSUM_OK 0x1u

/* ustack_input, with per-packet facts from the link (USTACK_RX_*). An
 * unknown bit is -EINVAL. */
USTACK_API int ustack_input_flags(struct ustack *st, ustack_time_t now, const void *pkt, size_t len,
				  unsigned flags);

/* Runs every timer due at `now` and returns the next deadline
 * (USTACK_TIME_NEVER if none). Time never goes backwards: an earlier `now`
 * than one seen before is taken as the later one. A deadline may be early
 * (timers are re-armed lazily, so a stopped one can still wake the caller
 * once, to no effect) but never late. */
USTACK_API ustack_time_t ustack_poll(struct ustack *st, ustack_time_t now);

/* The deadline ustack_poll would return, without running anything. */
USTACK_API ustack_time_t ustack_next_deadline(const struct ustack *st);

/* The latest time the stack has been told. */
USTACK_API ustack_time_t ustack_now(const struct ustack *st);

USTACK_API uint32_t ustack_addr(const struct ustack *st);

USTACK_API uint64_t ustack_stat(const struct ustack *st, enum ustack_stat which);
USTACK_API const char *ustack_stat_name(enum ustack_stat which);
USTACK_API const char *ustack_tcp_state_name(enum ustack_tcp_state state);

/*
 * Linux's settings by their sysctl names (docs/SYSCTL.md lists them, with
 * their defaults and which ones ustack acts on). A name is written as
 * sysctl(8) writes it: `net.ipv4.tcp_sack`, `net/ipv4/tcp_sack`, or
 * `/proc/sys/net/ipv4/tcp_sack`; a bare `tcp_sack` is not one. A value is
 * what one would write to the /proc/sys file: numbers as Linux parses them
 * (base 0, blanks between the numbers of a vector such as tcp_rmem), or a
 * name (tcp_congestion_control). Most settings apply to connections
 * created after the change, as in Linux.
 *
 * ustack_sysctl_set returns 0, -ENOENT for a name it does not have (or an
 * algorithm it does not have, as Linux does), -EINVAL for a value that is
 * malformed or out of range (nothing changes then), -EPERM for a
 * read-only setting. ustack_sysctl_get writes the value as
 * /proc/sys shows it (vectors tab-separated, no newline) and returns what
 * snprintf returns, or -ENOENT. ustack_sysctl_assign takes "NAME=VALUE".
 * ustack_sysctl_name(i) names the i-th setting, in sorted order, and
 * returns NULL past the last.
 */
USTACK_API int ustack_sysctl_set(struct ustack *st, const char *name, const char *value);
USTACK_API int ustack_sysctl_get(const struct ustack *st, const char *name, char *buf, size_t len);
USTACK_API int ustack_sysctl_assign(struct ustack *st, const char *assignment);
USTACK_API const char *ustack_sysctl_name(unsigned i);

/* One row of the connection table (what `ss -tan` shows). */
struct ustack_conn_info {
	int fd; /* -1 for a connection no descriptor owns (orphaned, TIME_WAIT, queued for accept) */
	enum ustack_tcp_state state;
	uint32_t laddr, raddr; /* host byte order */
	uint16_t lport, rport;
	uint32_t sendq, recvq; /* bytes queued */
	ustack_time_t timer;   /* next deadline of this connection, or USTACK_TIME_NEVER */
	uint32_t srtt_us, rto_us, cwnd; /* 0 where not known */
	uint32_t total_retrans;
};

/* Calls fn for each TCP endpoint (listeners, connections, TIME_WAIT).
 * A non-zero return from fn stops the walk and is returned. */
USTACK_API int ustack_tcp_foreach(struct ustack *st, int (*fn)(void *ctx, const struct ustack_conn_info *ci),
				  void *ctx);

#ifdef __cplusplus
}
#endif
#endif
