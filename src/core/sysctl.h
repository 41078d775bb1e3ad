/*
 * The TCP settings that Linux exposes as net.ipv4.tcp_* sysctls, held per
 * stack under the same names and with Linux's stock defaults, so that a
 * script written against the kernel (packetdrill's `sysctl -q ...` lines,
 * an operator's habits) means the same thing here.
 *
 * Settings that were ustack_config fields before this table existed
 * (syn_retries, tcp_rmem[2], fin_timeout, ...) stay in the config; their
 * sysctl names read and write those fields (sysctl.c).
 *
 * A change applies to connections created after it, as in Linux, except
 * where a comment says otherwise.
 */
#ifndef US_CORE_SYSCTL_H
#define US_CORE_SYSCTL_H

#include <stdint.h>

struct ustack;

struct us_sysctl {
	uint8_t tcp_timestamps;      /* 1: RFC 7323 timestamps, with a random offset per connection */
	uint8_t tcp_sack;            /* 1: RFC 2018 */
	uint8_t tcp_dsack;           /* 1: RFC 2883 */
	uint8_t tcp_window_scaling;  /* 1: RFC 7323 2 */
	uint8_t tcp_recovery;        /* bit 0 (1): RACK loss detection (RFC 8985) */
	uint8_t tcp_early_retrans;   /* 3: tail loss probes (RFC 8985 7) */
	uint8_t tcp_frto;            /* 2: F-RTO (RFC 5682), SACK-enhanced where SACK is on */
	uint8_t tcp_slow_start_after_idle; /* 1: RFC 5681 4.1 */
	uint8_t tcp_syncookies;      /* 1: cookies when a listener's SYN queue overflows */
	uint8_t tcp_abort_on_overflow; /* 0 */
	uint8_t tcp_moderate_rcvbuf; /* 1 */
	int8_t tcp_adv_win_scale;    /* 1: half of the receive buffer is window */
	uint32_t tcp_reordering;     /* 3: initial reordering degree (dupthresh) */
	uint32_t tcp_max_reordering; /* 300 */
	uint32_t tcp_max_syn_backlog; /* 4096 (Linux sizes it from memory; 128..4096+) */
	/* Pages (4096 bytes) of send and receive buffers all of the stack's
	 * connections may hold: [2] is the hard limit (ring.c); past [0] no
	 * send buffer is autotuned larger, as in Linux. [1], Linux's
	 * threshold for memory pressure, is kept for the name. */
	uint32_t tcp_mem[3];         /* 196608 262144 393216 */
	uint32_t tcp_rmem[3];        /* 4096 131072 6291456; [2] mirrors ustack_config.tcp_rmem */
	uint32_t tcp_wmem[3];        /* 4096 16384 4194304; [2] mirrors ustack_config.tcp_wmem */
	uint32_t tcp_keepalive_time; /* 7200 s */
	uint32_t tcp_keepalive_intvl; /* 75 s */
	uint32_t tcp_keepalive_probes; /* 9 */
	uint32_t tcp_min_snd_mss;    /* 48 */
	uint32_t tcp_base_mss;       /* 1024 */
	uint32_t tcp_invalid_ratelimit; /* 500 ms: ACKs to out-of-window segments */
	uint32_t tcp_challenge_ack_limit; /* per second per stack; Linux 6.x: 2147483647 (per-socket limit only) */
	uint32_t tcp_min_rtt_wlen;   /* 300 s: windowed min-RTT filter (RACK) */
	uint32_t tcp_comp_sack_nr;   /* 44 */
	char tcp_congestion_control[16]; /* "cubic" */
	uint32_t core_rmem_max;      /* net.core.rmem_max, 212992: also bounds the window-scale choice */
	/* Path MTU discovery (RFC 1191; src/ip/pmtu.c). Read when a
	 * connection is made (ip_no_pmtu_disc) or when an ICMP arrives. */
	uint8_t ip_no_pmtu_disc;     /* 0: DF set on TCP, "fragmentation needed" heeded */
	uint8_t tcp_mtu_probing;     /* 0, and only 0: no PLPMTUD (RFC 4821) */
	uint32_t route_min_pmtu;     /* net.ipv4.route.min_pmtu, 552 */
	uint32_t route_mtu_expires;  /* net.ipv4.route.mtu_expires, 600 s */
};

/* Fills Linux's stock defaults, then the values the config already fixes. */
void us_sysctl_init(struct ustack *st);

#endif
