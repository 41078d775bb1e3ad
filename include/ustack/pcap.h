/*
 * A driver: writes packets to a classic libpcap capture file, which
 * tcpdump -r, tshark and Wireshark read. This code does file I/O; the core
 * never calls it. Hook it where packets pass:
 *
 *	ustack_pcap_open("run.pcap", 0, &w);
 *	ustack_sim_set_tap(sim, ustack_pcap_sim_tap, w);    // the simulator: every packet delivered
 *	ustack_tun_set_tap(tun, ustack_pcap_tun_tap, w);    // a TUN link: every packet in and out
 *	...
 *	ustack_pcap_close(w);
 *
 * The file holds bare IPv4 packets (LINKTYPE_RAW, 101: no link header), a
 * snapshot length of 65535, and time stamps as the caller passes them: the
 * stack's virtual time in the simulator, CLOCK_MONOTONIC read as each
 * packet crosses on a TUN link (tun.h; so Wireshark's absolute dates are
 * meaningless; its relative times are right). Stamps have nanosecond
 * resolution (magic 0xa1b23c4d) unless USTACK_PCAP_USEC asks for the
 * original microsecond format (0xa1b2c3d4) that older readers require.
 * Numbers are written little-endian whatever the machine, so a seeded run
 * gives the same file byte for byte anywhere.
 *
 * Records are buffered and reach the file whole: a program killed between
 * flushes leaves a file that ends at a record boundary. One writer must be
 * used by one thread at a time.
 */
#ifndef USTACK_PCAP_H
#define USTACK_PCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USTACK_PCAP_MAGIC_NSEC 0xa1b23c4du
#define USTACK_PCAP_MAGIC_USEC 0xa1b2c3d4u
#define USTACK_PCAP_LINKTYPE_RAW 101u
#define USTACK_PCAP_SNAPLEN 65535u

/* ustack_pcap_open flags */
#define USTACK_PCAP_USEC 0x01 /* microsecond time stamps instead of nanoseconds */

struct ustack_pcap;

/* Creates (or truncates) the file and writes the file header. Returns 0 or
 * a negative errno (-EINVAL for unknown flags). */
USTACK_API int ustack_pcap_open(const char *path, unsigned flags, struct ustack_pcap **out);

/*
 * Appends one packet seen at time t (nanoseconds, on the caller's clock).
 * Bytes past the snapshot length are cut, the record keeping the original
 * length. Returns 0, or the negative errno of the first write that failed;
 * after a failure every later call fails the same way and writes nothing.
 */
USTACK_API int ustack_pcap_write(struct ustack_pcap *w, ustack_time_t t, const void *pkt, size_t len);
/* The same for a packet in pieces, as the stack's output callback gets it. */
USTACK_API int ustack_pcap_write_iov(struct ustack_pcap *w, ustack_time_t t, const struct iovec *iov,
				     int iovcnt);

/* Writes out what is buffered. 0 or a negative errno. */
USTACK_API int ustack_pcap_flush(struct ustack_pcap *w);

/* Packets written so far (cut or not). */
USTACK_API unsigned long long ustack_pcap_count(const struct ustack_pcap *w);

/* Flushes and closes; frees w. Returns 0, or the negative errno of the
 * first failure since the file was opened: a capture that lost packets
 * says so here. NULL is a no-op. */
USTACK_API int ustack_pcap_close(struct ustack_pcap *w);

/* Adapters with the signatures of the hooks, ctx being the writer. */
USTACK_API void ustack_pcap_sim_tap(void *ctx, ustack_time_t t, const void *pkt, size_t len);
USTACK_API void ustack_pcap_tun_tap(void *ctx, ustack_time_t t, bool inbound, const struct iovec *iov,
				    int iovcnt);

#ifdef __cplusplus
}
#endif
#endif
