/*
 * TCP's internal interface: the control block, the tables that find it, and
 * the entry points the IP and socket layers call.
 *
 * The files of this folder split TCP by role, as FreeBSD's netinet does:
 *   tcp_conn.c    control blocks, the four-tuple hash, the port table,
 *                 initial sequence numbers (RFC 6528), ephemeral ports (RFC 6056)
 *   tcp_input.c   segment arrival (RFC 9293 3.10.7)
 *   tcp_icmp.c    ICMP errors about segments sent (RFC 1122 4.2.3.9, RFC 5927)
 *   tcp_output.c  building and sending segments, resets
 *   tcp_reass.c   data into the receive ring, out-of-order ranges
 *   tcp_recovery.c  loss recovery and the congestion window around it:
 *                 SACK with PRR (RFC 6675, 6937), NewReno (RFC 6582),
 *                 F-RTO (RFC 5682)
 *   tcp_sack.c    SACK (RFC 2018) and DSACK (RFC 2883): the blocks we
 *                 report, the sender's scoreboard (RFC 6675)
 *   tcp_rack.c    RACK-TLP (RFC 8985): loss by time, tail loss probes
 *   tcp_timer.c   the deadline heap and what runs when a timer fires
 *   tcp_timewait.c  the compact TIME_WAIT record and its 2MSL queue
 *   tcp_syncookie.c SYN cookies (RFC 4987 3.6) for a listener whose SYN
 *                 queue is full
 *   tcp_usrreq.c  what the user's calls do to a connection (RFC 9293 3.10.1-6)
 */
#ifndef US_TCP_TCP_H
#define US_TCP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include <ustack/trace.h>
#include <ustack/ustack.h>

#include "core/ring.h"

struct ustack;
struct us_tcp;
struct us_cc_ops;

/* Sequence-number comparison modulo 2^32 (RFC 9293 3.4). */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

struct us_tuple {
	uint32_t laddr, raddr;
	uint16_t lport, rport;
};

/* What the four-tuple hash chains: a full control block or a TIME_WAIT
 * record. Listeners are in the same table with raddr = rport = 0. A UDP
 * socket (udp/udp.h) begins with a node too, of kind US_NODE_UDP, so that
 * it shares the descriptor table; it is never in this hash. */
enum us_node_kind { US_NODE_TCB, US_NODE_TW, US_NODE_UDP };

struct us_node {
	struct us_node *hnext;
	struct us_tuple t;
	uint8_t kind;
	uint8_t in_hash;
};

/*
 * The owners of one local port, counted by kind. Linux's rule (checked on
 * Linux 6.1, see tcp_conn.c) follows from the counts alone, because a stack
 * has a single address: a bind conflicts unless both sides set SO_REUSEADDR
 * and the existing one is not listening.
 */
struct us_bind_bucket {
	struct us_bind_bucket *next;
	uint16_t port;
	uint32_t owners;   /* everything holding the port */
	uint32_t noreuse;  /* ... without SO_REUSEADDR */
	uint32_t listen;   /* ... listening */
	uint32_t explicit_; /* ... bound by bind(), not chosen by connect() */
};

/* How a control block or TIME_WAIT record holds its port. */
struct us_port_ref {
	struct us_bind_bucket *bb;
	uint8_t reuse, explicit_, listen;
};

enum us_timer {
	US_TM_RTO,       /* retransmission (RFC 6298) */
	US_TM_PERSIST,   /* zero-window probe (RFC 9293 3.8.6.1) */
	US_TM_DELACK,    /* delayed ACK (RFC 1122 4.2.3.2) */
	US_TM_KEEPALIVE, /* RFC 1122 4.2.3.6 */
	US_TM_FIN_WAIT,  /* orphaned FIN_WAIT_2, or TIME_WAIT of a socket still open */
	US_TM_RECLAIM,   /* give drained buffers back once the connection rests */
	US_TM_RACK,      /* RACK's reordering timer (RFC 8985 6.2) */
	US_TM_TLP,       /* tail loss probe (RFC 8985 7) */
	US_TM__COUNT
};

/* Where loss recovery stands (Linux's ca_state, reduced to what NewReno
 * needs). */
enum us_ca_state { US_CA_OPEN, US_CA_RECOVERY, US_CA_LOSS };

/* Private state of the congestion-control algorithms (tcp_cc_*.c). */
struct us_cubic {
	double w_max;      /* window before the last reduction, in segments */
	double k;          /* seconds from the epoch to reach w_max again */
	double origin;     /* the plateau: w_max, or cwnd if that is larger */
	double w_est;      /* the Reno-friendly estimate (RFC 9438 4.3) */
	double prior;      /* cwnd when the last reduction began, in segments */
	double acc;        /* fractional bytes of growth not yet added */
	ustack_time_t epoch; /* start of the current growth period; 0 = none */
};

/* Out-of-order data waiting in the receive ring (tcp_reass.c). */
#define US_REASS_MAX 32
struct us_reass {
	uint8_t n;
	bool fin;         /* a FIN arrived out of order, at fin_seq */
	uint32_t fin_seq;
	struct {
		uint32_t start, end;
	} blk[US_REASS_MAX];
	/* RFC 2018 4: the ranges to report, most recently changed first, each
	 * named by a sequence number inside it (ranges merge; the number stays
	 * inside the merged one). Four, as Linux keeps. */
	uint8_t nrecent;
	uint32_t recent[4];
};

/*
 * The sender's record of one segment sent and not yet cumulatively
 * acknowledged (tcp_sack.c): the SACK scoreboard (RFC 6675) and RACK's
 * transmit times (RFC 8985) in one place. Records are kept only on
 * connections that use SACK, in a ring ordered by sequence number that
 * covers exactly [SND.UNA, SND.MAX); a small segment joins the one before
 * it while they fit in one MSS, so there are at most about two records
 * per MSS of data in flight, bounded by the send buffer.
 */
#define US_TX_SACKED 0x01  /* the peer holds it (a SACK block covered it) */
#define US_TX_LOST 0x02    /* taken for lost: to be sent again */
#define US_TX_RETRANS 0x04 /* a retransmission of it is in flight */
#define US_TX_EVER 0x08    /* sent more than once: RTT samples are ambiguous */
struct us_txseg {
	uint32_t seq, end;
	ustack_time_t xmit; /* when it was last sent */
	uint32_t tprev, tnext; /* the time-ordered list, by record id */
	uint8_t flags;
};

/* Records have ids, base + their index, that never change while they
 * live: a record's slot is its id modulo cap. Those not SACKed are also
 * linked by id in the order they were last sent (Linux's tsorted list),
 * which RACK walks from the oldest and leaves at the first one sent after
 * its reference: the walk costs what it marks plus what waits lost. */
struct us_txq {
	struct us_txseg *a;
	uint32_t cap, base, n; /* a ring; cap is a power of two */
	uint32_t thead, ttail, tn; /* the time-ordered list: oldest, newest, length */
	/* Records so marked, counted as segments (Linux's sacked_out,
	 * lost_out, retrans_out) and as bytes. */
	uint32_t sacked, lost, retrans;
	uint32_t sacked_b, lost_b, retrans_b;
	uint32_t lost_hint; /* no record below it is lost and not yet resent */
	uint32_t sack_high; /* the highest sequence number SACKed */
	bool broken;        /* a record could not be kept: recover as NewReno
			     * until everything in flight is acknowledged */
};

struct us_listen {
	uint32_t backlog;
	uint32_t nsyn, nacc; /* SYN_RECEIVED children, children ready to accept */
	ustack_time_t last_cookie; /* when a SYN cookie was last sent; 0 = never */
	struct us_tcb *syn_head;            /* children still in the handshake */
	struct us_tcb *acc_head, *acc_tail; /* FIFO of established children */
};

/* A TCP control block (RFC 9293 3.3.1). */
struct us_tcb {
	struct us_node n; /* must be first */
	uint8_t state;
	uint8_t rcv_wscale, snd_wscale;
	bool ws_ok : 1;        /* both sides sent window scale */
	bool reuseaddr : 1;
	bool nodelay : 1;
	bool linger : 1;
	bool fin_queued : 1;   /* the user shut down the write side */
	bool fin_rcvd : 1;     /* the peer's FIN has been taken in */
	bool rd_shut : 1;
	bool passive : 1;      /* created by a listener */
	bool connect_done : 1; /* a completed connect() not yet reported */
	bool in_accq : 1;      /* waiting in its listener's accept queue */
	bool ack_now : 1;      /* an ACK is owed; any segment sent pays it */
	bool ack_delayed : 1;  /* an ACK is owed within the delayed-ACK time */
	bool keepalive : 1;
	bool connect_failed : 1; /* an asynchronous connect failed, not yet reported by connect() */
	bool ts_ok : 1;        /* both sides sent timestamps (RFC 7323 3): TSopt on every segment */
	bool sack_ok : 1;      /* both sides sent SACK-permitted (RFC 2018 2) */
	bool dsack_due : 1;    /* the next segment reports dsack_lo..hi (RFC 2883) */
	bool sndbuf_lock : 1;  /* SO_SNDBUF set: no autotuning (Linux's SOCK_SNDBUF_LOCK) */
	bool rcvbuf_lock : 1;  /* SO_RCVBUF set: no autotuning (Linux's SOCK_RCVBUF_LOCK) */
	bool snd_nospace : 1;  /* the writer found the send buffer full (Linux's SOCK_NOSPACE) */
	bool pmtu_locked : 1;  /* the path MTU is min_pmtu, clamped: DF clear (tcp_icmp.c) */
	bool pmtu_no_df : 1;   /* made under ip_no_pmtu_disc != 0 (Linux's IP_PMTUDISC_DONT) */
	int fd;                /* -1 when no descriptor refers to it */
	int so_error;
	/* The last soft ICMP error (tcp_icmp.c), Linux's sk_err_soft: reported
	 * instead of ETIMEDOUT if the connection times out while SND.UNA is
	 * still soft_err_una (an ACK since then shows the path works). */
	int soft_err;
	uint32_t soft_err_una;
	uint16_t linger_sec;
	uint16_t snd_mss;      /* largest payload we send */
	uint16_t rcv_mss;      /* what we announced */
	uint16_t mss_clamp;    /* what the peer announced (Linux's rx_opt.mss_clamp) */
	/* The path MTU snd_mss comes from (Linux's icsk_pmtu_cookie), with
	 * the expiry of the entry it was learned from (ip/pmtu.c) and the
	 * table's generation when it was read (tcp_icmp.c). */
	uint16_t pmtu;
	uint32_t pmtu_gen;
	ustack_time_t pmtu_expires;
	/* Limits of the rings in bytes, in the units Linux's SO_RCVBUF and
	 * SO_SNDBUF report. sndbuf starts at tcp_wmem[1] and grows with cwnd
	 * (us_tcp_sndbuf_expand) unless sndbuf_lock; rcvbuf starts at
	 * tcp_rmem[1] and grows with the rate the application reads
	 * (us_tcp_rcv_space_adjust) unless rcvbuf_lock. The window offered
	 * is at most us_tcp_rcv_full(), a part of rcvbuf. */
	uint32_t rcvbuf, sndbuf;
	struct us_port_ref port;

	/* Send sequence space (RFC 9293 3.3.1, figure 4). */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_snd_wnd;
	uint32_t sndq_seq; /* sequence number of sndq's first byte */
	struct us_ring sndq;

	/* Receive sequence space. */
	uint32_t irs, rcv_nxt;
	uint32_t rcv_adv; /* right edge of the window we last advertised */
	uint16_t syn_wnd; /* the window our SYN or SYN,ACK offered */
	uint32_t rcv_ssthresh; /* most we advertise now; grows with data (us_tcp_rcv_grow) */
	struct us_ring rcvq;
	struct us_reass *rq; /* allocated while data waits out of order */
	uint32_t dsack_lo, dsack_hi; /* a duplicate to report once (dsack_due) */
	/* Receive-buffer autotuning (us_tcp_rcv_space_adjust), Linux's
	 * rcvq_space and rcv_rtt_est: bytes the application took in the last
	 * measured round trip, and from where and when the next count runs;
	 * the receiver's RTT estimate (in us, times 8), from timestamps or
	 * from a window of data, with the sequence number that ends the
	 * window being timed. */
	uint32_t rcvq_space, rcvq_seq;
	ustack_time_t rcvq_time;
	uint32_t rcv_rtt_us, rcv_rtt_seq, rcv_rtt_tsecr;
	ustack_time_t rcv_rtt_time;
	uint16_t rcv_mss_est; /* the peer's segment size, as far as seen (Linux's icsk_ack.rcv_mss) */

	/* RFC 7323 timestamps (tcp_input.c), in Linux's 1 ms units. */
	uint32_t ts_off;       /* TSval = clock + ts_off, keyed per address pair */
	uint32_t ts_recent;    /* TS.Recent: the peer's TSval we echo */
	uint32_t ts_recent_stamp; /* when it was taken, in seconds (PAWS's 24 days) */
	uint32_t last_ack_sent; /* RFC 7323 4.3: Last.ACK.sent (Linux's rcv_wup) */
	uint32_t rcv_tsecr;    /* TSecr of the segment being processed, 0 if none */

	/* Retransmission timing (RFC 6298), in microseconds. */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;          /* the segment being timed ends after this */
	ustack_time_t rtt_start;   /* when it was sent */
	bool rtt_active;           /* a measurement is under way */
	uint8_t retries;           /* consecutive timeouts */

	/* Congestion control (RFC 5681, RFC 6582; tcp_recovery.c, tcp_cc_*.c). */
	const struct us_cc_ops *cc;
	uint32_t cwnd, ssthresh;
	uint32_t recover;       /* RFC 6582: one past the highest sequence sent when recovery began */
	uint32_t ca_acc;        /* bytes acknowledged toward the next cwnd increase */
	uint8_t ca_state;       /* enum us_ca_state */
	uint8_t dupacks;
	uint8_t probes;         /* zero-window or keepalive probes unanswered */
	uint8_t backoff;        /* zero-window probe interval: RTO << backoff */
	uint8_t quickacks;      /* ACKs still to send at once (Linux's quickack) */
	uint32_t rcv_unacked;   /* bytes received since the last ACK we sent */
	uint32_t snd_sml;       /* end of the last small segment sent (Nagle, Minshall) */
	ustack_time_t last_send, last_rcv;
	ustack_time_t last_oow_ack; /* last ACK to an unacceptable segment */
	ustack_time_t last_data_rcv; /* when data last arrived (quickack after idle) */
	union {
		struct us_cubic cubic;
	} ca;

	/* SACK-based recovery (tcp_sack.c, tcp_recovery.c): the scoreboard,
	 * PRR (RFC 6937) and RACK (RFC 8985, tcp_rack.c). */
	struct us_txq txq;
	uint32_t prior_cwnd;    /* cwnd when recovery began (PRR's RecoverFS, as Linux) */
	uint32_t prr_delivered; /* segments delivered since recovery began */
	uint32_t prr_out;       /* segments sent since recovery began */
	uint32_t reordering;    /* DupThresh, in segments; net.ipv4.tcp_reordering at first */
	uint32_t rack_end;      /* RACK.end_seq of the most recently sent segment delivered */
	ustack_time_t rack_xmit; /* ... and RACK.xmit_ts */
	uint32_t rack_rtt_us;   /* RACK.rtt */
	/* RACK.min_RTT (RFC 8985 6.2) over Linux's tcp_min_rtt_wlen: the
	 * best three samples of a windowed minimum (us_tcp_min_rtt_update);
	 * v[0] is the minimum, 0 until the first sample; t in ms. */
	struct us_win_min {
		uint32_t t[3], v[3];
	} min_rtt;
	uint8_t reo_mult;       /* RACK.reo_wnd_mult */
	bool reord_seen;        /* RACK.reordering_seen */
	bool rack_advanced;     /* RACK.xmit_ts moved on this ACK */
	bool dsack_rcvd;        /* the ACK being processed carried a DSACK */
	bool orig_delivered;    /* ... and delivered a segment sent only once */
	bool frto;              /* F-RTO (RFC 5682) watches this timeout */
	bool frto_new;          /* F-RTO step 2b: send new data, not what is lost */
	/* The window before a reduction (a timeout, or recovery with SACK),
	 * given back if the reduction proves spurious: every retransmission
	 * of the episode reported as a duplicate (RFC 3708, DSACK), or an ACK
	 * echoing a timestamp older than the first retransmission (RFC 3522,
	 * Eifel), as Linux's undo_marker, undo_retrans and retrans_stamp. */
	uint32_t undo_cwnd, undo_ssthresh;
	bool undo_on;           /* an episode that may still be undone */
	uint32_t undo_marker;   /* SND.UNA when it began */
	uint32_t undo_retrans;  /* its retransmissions not yet reported as duplicates */
	uint32_t retrans_tsval; /* the TSval of its first retransmission; 0: none yet */
	bool tlp_out;           /* a tail loss probe is unanswered (TLP.end_seq valid) */
	bool tlp_retrans;       /* ... and it was a retransmission */
	uint32_t tlp_high;      /* TLP.end_seq: SND.MAX after the probe */
	uint32_t sack_lost_total; /* segments marked lost (TCP_INFO) */

	/* Keepalive settings (seconds), Linux's defaults 7200, 75, 9. */
	uint32_t ka_idle, ka_intvl;
	uint8_t ka_cnt;

	/* Statistics for TCP_INFO. */
	uint64_t bytes_sent, bytes_acked, bytes_received;
	uint32_t total_retrans;

	/* Timers: one deadline each; the heap holds the earliest (tcp_timer.c). */
	ustack_time_t tm[US_TM__COUNT];
	ustack_time_t heap_at;
	uint32_t heap_idx;

	/* Listening sockets and their children. */
	struct us_listen *lq;
	struct us_tcb *parent;       /* the listener, while in one of its queues */
	struct us_tcb *qprev, *qnext; /* links in that queue */
};

/* The compact record a connection shrinks to in TIME_WAIT (DESIGN-NOTES 5). */
struct us_tw {
	struct us_node n; /* must be first */
	struct us_port_ref port;
	uint32_t snd_nxt, rcv_nxt, iss, irs;
	uint16_t rcv_wnd; /* window field to send, already scaled */
	bool ts_ok;       /* as in the control block, with what the ACKs echo */
	uint32_t ts_off, ts_recent, ts_recent_stamp;
	ustack_time_t deadline;
	ustack_time_t last_oow_ack; /* as in the control block: ACK loops */
	struct us_tw *prev, *next; /* 2MSL queue, oldest first */
};

struct us_tcp_layer {
	struct us_node **hash;
	uint32_t hash_mask;
	uint32_t nodes; /* in the hash */
	struct us_bind_bucket **ports;
	uint32_t ports_mask;
	uint32_t nports; /* buckets in the port table */
	uint32_t nconns; /* control blocks and TIME_WAIT records alive */
	uint64_t mem;    /* bytes of send and receive rings allocated (net.ipv4.tcp_mem) */
	struct us_tcb **heap; /* timer heap, ordered by heap_at */
	uint32_t heap_len, heap_cap;
	struct us_tw *tw_head, *tw_tail;
	/* The last connection us_tcp_lookup found: a hashed control block
	 * other than a listener, or NULL; us_tcp_hash_remove clears it. */
	struct us_node *last;
	uint32_t port_perturb[256]; /* RFC 6056 algorithm 4's table */
};

#define US_HEAP_NONE UINT32_MAX

/* Linux's TCP_MAX_QUICKACKS: ACK the first segments at once (and again
 * after a long silence), so the sender's slow start is not slowed by
 * delayed ACKs. */
#define US_QUICKACKS 16

/* tcp_conn.c */
int us_tcp_init(struct ustack *st);
void us_tcp_fini(struct ustack *st);
struct us_tcb *us_tcb_new(struct ustack *st);
void us_tcb_free(struct ustack *st, struct us_tcb *tcb);
struct us_node *us_tcp_lookup(struct ustack *st, const struct us_tuple *t);
uint32_t us_tcp_bucket(const struct ustack *st, const struct us_tuple *t); /* t's slot in the hash */
struct us_tcb *us_tcp_lookup_listener(struct ustack *st, uint32_t laddr, uint16_t lport);
int us_tcp_hash_insert(struct ustack *st, struct us_node *n);
void us_tcp_hash_remove(struct ustack *st, struct us_node *n);
int us_port_bind(struct ustack *st, struct us_port_ref *ref, uint16_t port, bool reuse);
void us_port_release(struct ustack *st, struct us_port_ref *ref);
int us_port_listen(struct ustack *st, struct us_port_ref *ref);
int us_port_share(struct ustack *st, struct us_port_ref *child, const struct us_port_ref *parent);
int us_port_connect(struct ustack *st, struct us_tcb *tcb); /* picks lport if unbound, hashes */
uint32_t us_tcp_isn(struct ustack *st, const struct us_tuple *t);

/* tcp_icmp.c: an ICMP error about a segment sent on t (RFC 1122 4.2.3.9,
 * RFC 5927). Returns 0, or the reason it was dropped. */
struct us_icmp_err;
int us_tcp_icmp_error(struct ustack *st, const struct us_tuple *t, uint32_t seq,
		      const struct us_icmp_err *e);
/* The largest payload on a path of this MTU to the connection's peer
 * (Linux's tcp_mtu_to_mss); the peer's MSS must be known. */
uint16_t us_tcp_mss_for(const struct ustack *st, const struct us_tcb *tcb, uint32_t pmtu);
/* A connection's path MTU from what the stack has learned about its
 * destination, and the MSS it announces from it (rcv_mss). */
void us_tcp_pmtu_init(struct ustack *st, struct us_tcb *tcb);
/* Before sending: takes up what changed in the table since (another
 * connection learned a smaller MTU, an entry expired). */
void us_tcp_pmtu_check(struct ustack *st, struct us_tcb *tcb);

/* tcp_input.c */
void us_tcp_input(struct ustack *st, uint32_t saddr, uint32_t daddr, const uint8_t *seg, size_t len);

/* tcp_recovery.c */
void us_tcp_cc_init(struct ustack *st, struct us_tcb *tcb);
void us_tcp_ack_event(struct ustack *st, struct us_tcb *tcb, uint32_t acked, bool dup, uint32_t flight_before,
		      uint32_t delivered);
void us_tcp_rto_event(struct ustack *st, struct us_tcb *tcb);
void us_tcp_enter_recovery(struct ustack *st, struct us_tcb *tcb);
void us_tcp_prr(struct ustack *st, struct us_tcb *tcb, uint32_t delivered, bool una_advanced,
		bool newly_lost);
uint32_t us_tcp_flight(const struct us_tcb *tcb);
uint32_t us_tcp_newreno_pipe(const struct us_tcb *tcb);

/* tcp_sack.c */
void us_sack_note_dup(struct ustack *st, struct us_tcb *tcb, uint32_t lo, uint32_t hi);
void us_sack_options(struct us_tcb *tcb, struct ustack_tcp_options *opt);
bool us_sack_active(const struct us_tcb *tcb);
void us_sack_sent(struct ustack *st, struct us_tcb *tcb, uint32_t seq, uint32_t end, bool again);
uint32_t us_sack_on_ack(struct ustack *st, struct us_tcb *tcb, const struct ustack_tcp_options *opt,
			uint32_t old_una);
void us_sack_mark_lost(struct ustack *st, struct us_tcb *tcb, struct us_txseg *r);
void us_sack_mark_head_lost(struct ustack *st, struct us_tcb *tcb, uint32_t sacked);
void us_sack_rto(struct us_tcb *tcb);
bool us_sack_resize(struct ustack *st, struct us_tcb *tcb, uint32_t mss, bool mark_lost);
void us_sack_unmark_lost(struct us_tcb *tcb);
uint32_t us_sack_pipe(const struct us_tcb *tcb);
uint32_t us_sack_pipe_segs(const struct us_tcb *tcb);
struct us_txseg *us_sack_next_lost(struct us_tcb *tcb);
struct us_txseg *us_sack_at(const struct us_tcb *tcb, uint32_t i);
struct us_txseg *us_sack_by_id(const struct us_txq *q, uint32_t id);
void us_sack_free(struct ustack *st, struct us_tcb *tcb);

/* tcp_rack.c */
void us_rack_delivered(struct ustack *st, struct us_tcb *tcb, const struct us_txseg *r);
bool us_rack_detect(struct ustack *st, struct us_tcb *tcb);
bool us_rack_timer_expired(struct ustack *st, struct us_tcb *tcb);
void us_rack_dsack(struct ustack *st, struct us_tcb *tcb);
void us_tlp_schedule(struct ustack *st, struct us_tcb *tcb, bool on_ack);
bool us_tlp_expired(struct ustack *st, struct us_tcb *tcb);
void us_tlp_ack(struct ustack *st, struct us_tcb *tcb, bool dsack);

/* tcp_reass.c */
int us_reass_take(struct ustack *st, struct us_tcb *tcb, uint32_t seq, const uint8_t *data, uint32_t plen);
bool us_reass_pending(const struct us_tcb *tcb);
uint32_t us_reass_span(const struct us_tcb *tcb);
void us_reass_free(struct ustack *st, struct us_tcb *tcb);

bool us_tcp_oow_rate_limited(struct ustack *st, ustack_time_t *last, uint32_t seglen);
bool us_tcp_paws_ok(const struct ustack *st, uint32_t ts_recent, uint32_t stamp, uint32_t tsval, int32_t win);
uint32_t us_tcp_secs(const struct ustack *st);

/* RFC 7323 3.2: a timestamp option with the two NOPs that align it. */
#define US_TCPOLEN_TS_ALIGNED 12

/* tcp_output.c */
struct us_tcp_out {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	struct ustack_tcp_options opt;
};
void us_tcp_emit(struct ustack *st, const struct us_tuple *t, const struct us_tcp_out *o,
		 const struct iovec *payload, int npayload, const struct us_tcb *tcb);
void us_tcp_output(struct ustack *st, struct us_tcb *tcb);
bool us_tcp_output_one(struct ustack *st, struct us_tcb *tcb);
void us_tcp_retransmit_head(struct ustack *st, struct us_tcb *tcb);
void us_tcp_retransmit_rec(struct ustack *st, struct us_tcb *tcb, const struct us_txseg *r);
bool us_tcp_send_new_ignoring_cwnd(struct ustack *st, struct us_tcb *tcb);
void us_tcp_send_probe(struct ustack *st, struct us_tcb *tcb);
bool us_tcp_persist_expired(struct ustack *st, struct us_tcb *tcb);
void us_tcp_send_ack(struct ustack *st, struct us_tcb *tcb);
void us_tcp_send_syn(struct ustack *st, struct us_tcb *tcb);
void us_tcp_send_rst(struct ustack *st, struct us_tcb *tcb);
void us_tcp_reset_reply(struct ustack *st, const struct us_tcp *seg);
uint16_t us_tcp_rcv_window(struct us_tcb *tcb, bool syn);
bool us_tcp_rcv_grow(struct us_tcb *tcb, uint32_t len);
uint32_t us_tcp_rcv_full(const struct us_tcb *tcb);
uint32_t us_tcp_space_from_win(const struct us_tcb *tcb, uint64_t win);
uint32_t us_tcp_rcv_space(const struct us_tcb *tcb);
uint32_t us_tcp_ts_clock(const struct ustack *st);
uint32_t us_tcp_ts_offset(struct ustack *st, const struct us_tuple *t);
uint32_t us_tcp_rcv_seg(const struct us_tcb *tcb);
uint8_t us_tcp_wscale(const struct ustack *st, uint32_t rcvbuf, bool locked);
uint16_t us_tcp_syn_window(const struct ustack *st, uint32_t rcvbuf, uint32_t mss);
void us_tcp_syn_options(struct ustack_tcp_options *opt, uint16_t mss, bool sack, bool ts, uint32_t tsval,
			uint32_t tsecr, bool ws, uint8_t wscale);

/* tcp_timer.c */
int us_tcp_timer_reserve(struct ustack *st, uint32_t nblocks);
void us_tcb_timer_set(struct ustack *st, struct us_tcb *tcb, enum us_timer which, ustack_time_t at);
void us_tcb_timer_stop(struct us_tcb *tcb, enum us_timer which);
void us_tcb_timer_forget(struct ustack *st, struct us_tcb *tcb);
void us_tcp_timers_run(struct ustack *st);
void us_tcp_rings_drained(struct ustack *st, struct us_tcb *tcb);
ustack_time_t us_tcp_next_deadline(const struct ustack *st);
void us_tcp_rto_init(struct ustack *st, struct us_tcb *tcb);
/* A new RTT sample (us) for the windowed minimum, as Linux's
 * tcp_update_rtt_min. */
void us_tcp_min_rtt_update(struct ustack *st, struct us_tcb *tcb, uint32_t rtt_us);
void us_tcp_sent(struct ustack *st, struct us_tcb *tcb, uint32_t seq, uint32_t len, bool retransmit);
void us_tcp_acked(struct ustack *st, struct us_tcb *tcb, uint32_t ack);

/* tcp_syncookie.c: the cookie ISN for a SYN; the MSS a returned cookie
 * carries, or -1 if it is not ours or too old; our TSval with window
 * scale and SACK-permitted in its low bits, and those bits read back
 * (false if they cannot be ours). */
uint32_t us_syncookie_isn(struct ustack *st, const struct us_tuple *t, uint32_t peer_isn, uint16_t peer_mss);
int us_syncookie_check(struct ustack *st, const struct us_tuple *t, uint32_t cookie, uint32_t peer_isn);
uint32_t us_syncookie_tsval(uint32_t clock, bool sack, bool ws, uint8_t wscale);
bool us_syncookie_ts_decode(uint32_t ts, bool *sack, bool *ws, uint8_t *wscale);

/* tcp_timewait.c */
void us_tw_enter(struct ustack *st, struct us_tcb *tcb, ustack_time_t deadline);
int us_tw_input(struct ustack *st, struct us_tw *tw, const struct us_tcp *seg);
void us_tw_free(struct ustack *st, struct us_tw *tw);
void us_tw_expire(struct ustack *st);

/* tcp_usrreq.c */
void us_tcp_set_state(struct ustack *st, struct us_tcb *tcb, int state, const char *cause);
void us_tcp_drop(struct ustack *st, struct us_tcb *tcb, int err, const char *cause);
void us_tcp_closed(struct ustack *st, struct us_tcb *tcb, const char *cause);
void us_tcp_established(struct ustack *st, struct us_tcb *tcb, const char *cause);
void us_tcp_maybe_free(struct ustack *st, struct us_tcb *tcb);
int us_tcp_connect(struct ustack *st, struct us_tcb *tcb, uint32_t raddr, uint16_t rport);
int us_tcp_listen(struct ustack *st, struct us_tcb *tcb, int backlog);
struct us_tcb *us_tcp_accept(struct ustack *st, struct us_tcb *lst);
ssize_t us_tcp_send(struct ustack *st, struct us_tcb *tcb, const void *buf, size_t len);
void us_tcp_sndbuf_expand(const struct ustack *st, struct us_tcb *tcb);
void us_tcp_check_space(struct ustack *st, struct us_tcb *tcb);
uint32_t us_tcp_copied_seq(const struct us_tcb *tcb);
void us_tcp_rcvbuf_init(const struct ustack *st, struct us_tcb *tcb);
void us_tcp_rcv_rtt_measure(struct ustack *st, struct us_tcb *tcb, uint32_t len);
void us_tcp_rcvbuf_grow(const struct ustack *st, struct us_tcb *tcb, uint32_t newval);
void us_tcp_rcv_space_adjust(struct ustack *st, struct us_tcb *tcb);
ssize_t us_tcp_recv(struct ustack *st, struct us_tcb *tcb, void *buf, size_t len, bool peek);
int us_tcp_shutdown(struct ustack *st, struct us_tcb *tcb, int how);
void us_tcp_close(struct ustack *st, struct us_tcb *tcb);
int us_tcp_poll(struct ustack *st, struct us_tcb *tcb);
void us_tcp_queue_child(struct ustack *st, struct us_tcb *child);

#endif
