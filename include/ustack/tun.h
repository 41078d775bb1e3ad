/*
 * A driver: one stack on a Linux TUN device (IFF_TUN | IFF_NO_PI), talking
 * IPv4 with the kernel's own stack, and an event loop that runs it. This
 * code does I/O (the device, epoll, the monotonic clock); the core never
 * calls it.
 *
 * Typical use, as root:
 *
 *	struct ustack_tun_config tc = { .name = "ustack0", .addr = A, .prefix = 24 };
 *	struct ustack_tun *tun;
 *	ustack_tun_open(&tc, &tun);               // creates and configures the device
 *	struct ustack_config cfg = { .addr = A, .output = ustack_tun_output, .output_ctx = tun };
 *	ustack_create(&cfg, &st);
 *	ustack_tun_run(tun, st, step, app);        // until step() returns non-zero
 */
#ifndef USTACK_TUN_H
#define USTACK_TUN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <ustack/sim.h>
#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ustack_tun_config {
	const char *name;     /* device name; NULL or "" lets the kernel pick tunN */
	uint32_t addr;        /* the stack's address, host byte order */
	uint8_t prefix;       /* the subnet both sides share, e.g. 24 */
	uint32_t kernel_addr; /* the kernel's address; 0: the first other host in the subnet */
	uint16_t mtu;         /* default 1500 */
	bool no_configure;    /* leave address, MTU and link state to the caller */
	/*
	 * By default the device carries a virtio-net header (IFF_VNET_HDR)
	 * with checksum and TCP segmentation offload, as wireguard-go and
	 * gVisor use it: the kernel hands the stack TCP data in frames of up
	 * to 64 KiB with their checksums unfinished (GRO's work, left undone),
	 * and the driver joins consecutive segments the stack sends into such
	 * frames, which the kernel takes whole (gso.h). One system call then
	 * moves up to 44 segments of an MTU of 1500. The stack still sees and
	 * sends segments of the MTU; only the device's frames are larger.
	 * no_offload keeps one plain packet per read and write. Offloads are
	 * off, too, when faults are injected, which act on single packets.
	 */
	bool no_offload;
	/* Faults injected on the stack's side, in each direction, by the same
	 * link model the simulator uses. All zero: a perfect link. */
	struct ustack_link_params impair;
	uint64_t seed; /* for the fault injector's randomness */
};

struct ustack_tun_stats {
	/* Frames read and written: a frame that carries many segments
	 * (offloads) counts once here and its segments in *_gso_segs. */
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
	uint64_t tx_errors; /* writes the kernel refused (full queue): the packet is lost, as on a wire */
	uint64_t tx_gso_frames, tx_gso_segs; /* frames joined from several segments, and those segments */
	uint64_t rx_gso_frames;              /* frames from the kernel marked for segmentation */
	uint64_t rx_csum_ok;                 /* frames whose checksum the kernel vouched for */
	struct ustack_link_stats impair_out, impair_in;
};

struct ustack_tun;

/* Opens (creating if need be) the device, sets it non-blocking and, unless
 * no_configure, gives the kernel side its address and MTU and brings the
 * link up. Returns 0 or a negative errno (-EPERM without CAP_NET_ADMIN). */
USTACK_API int ustack_tun_open(const struct ustack_tun_config *cfg, struct ustack_tun **out);
USTACK_API void ustack_tun_close(struct ustack_tun *tun);
USTACK_API int ustack_tun_fd(const struct ustack_tun *tun);
USTACK_API const char *ustack_tun_name(const struct ustack_tun *tun);
USTACK_API uint32_t ustack_tun_kernel_addr(const struct ustack_tun *tun);
USTACK_API void ustack_tun_get_stats(const struct ustack_tun *tun, struct ustack_tun_stats *out);

/* The output callback for struct ustack_config, with output_ctx = the tun.
 * With offloads, segments sent during ustack_tun_run may wait to be joined
 * until the loop's pass ends; outside the loop each goes out at once. */
USTACK_API void ustack_tun_output(void *ctx, const struct iovec *iov, int iovcnt);

/* Whether the device runs with the virtio-net header's offloads. */
USTACK_API bool ustack_tun_offloads(const struct ustack_tun *tun);

/* The ustack_config.csum_offload bits a stack on this device may set:
 * USTACK_CSUM_TX with offloads (the kernel finishes every TCP checksum;
 * a capture at the stack's edge then shows partial sums), else 0. Never
 * USTACK_CSUM_RX: the driver vouches per packet (ustack_input_flags), and
 * packets that a raw socket routes into the device are still checked. */
USTACK_API unsigned ustack_tun_csum_offload(const struct ustack_tun *tun);

/* CLOCK_MONOTONIC in nanoseconds: the clock the loop hands the stack. */
USTACK_API ustack_time_t ustack_clock_now(void);

/*
 * Runs the stack over the device: reads packets in batches until the device
 * has no more, hands them to the stack, runs its timers, and sleeps in
 * epoll until the next packet, the next deadline, or activity on one of
 * `extra` (whose revents it fills in). After each round it calls
 * step(ctx, now), the application's turn to use its sockets; a non-zero
 * return ends the loop and is returned. Returns a negative errno on a
 * device error.
 */
USTACK_API int ustack_tun_run(struct ustack_tun *tun, struct ustack *st, int (*step)(void *ctx, ustack_time_t now),
			      void *ctx, struct pollfd *extra, int nextra);

/* From within step: wake the loop no later than `at` even if nothing
 * arrives (an application's own timer). Holds for the next sleep only. */
USTACK_API void ustack_tun_wake_at(struct ustack_tun *tun, ustack_time_t at);

/*
 * Calls tap for every packet the stack sends (inbound false) and every
 * packet it is handed (inbound true), at the stack's edge of the link: with
 * faults injected, a packet the fault model then loses was still sent, and
 * one it loses on the way in was never received. t is CLOCK_MONOTONIC read
 * afresh for each packet as it crosses (ustack_clock_now), not the reading
 * the loop gave the stack: a pass that writes a thousand segments shows
 * them spread over the time the writes took. So a packet's stamp is at or
 * after the time the stack had when it sent or got it, which is what its
 * trace events carry; stamps never go back. With offloads, a packet sent
 * is shown as the stack sent it, one segment, when the stack hands it over
 * (the frame that carries it may leave when the pass ends); a packet
 * handed in is shown as read, possibly a frame of up to 64 KiB whose TCP
 * checksum the kernel left unfinished, as tcpdump shows a host's traffic
 * after GRO. The packet lives only during
 * the call; the tap must not call into the stack. NULL removes the tap. A
 * capture to a file:
 * ustack_tun_set_tap(tun, ustack_pcap_tun_tap, writer) (pcap.h).
 */
USTACK_API void ustack_tun_set_tap(struct ustack_tun *tun,
				   void (*tap)(void *ctx, ustack_time_t t, bool inbound,
					       const struct iovec *iov, int iovcnt),
				   void *ctx);

#ifdef __cplusplus
}
#endif
#endif
