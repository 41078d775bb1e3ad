/*
 * Segmentation offload for a link that takes virtio-net headers (TUN with
 * IFF_VNET_HDR): consecutive TCP segments of one connection, as the stack
 * sends them, are joined into one large frame that the kernel takes whole,
 * as if a NIC's TSO had made it or GRO had merged it on the way in. No I/O
 * here: the TUN driver feeds packets in and writes what comes out, and the
 * unit tests drive it directly.
 *
 * A batch holds one frame: the first segment's IPv4 and TCP headers, then
 * the payloads of every segment joined. A segment may join when the kernel
 * would cut the frame back into exactly the segments the stack sent
 * (Linux's tcp_gso_segment): same addresses, ports, ACK, window, options
 * and IPv4 fields; its sequence number follows on; every segment but the
 * last carries exactly gso_size bytes; only the last may carry PSH or FIN.
 */
#ifndef US_LINK_GSO_H
#define US_LINK_GSO_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The largest frame: an IPv4 packet's total length is 16 bits. */
#define US_GSO_MAX 65535u
/* IPv4 without options, TCP with at most 40 bytes of options. */
#define US_GSO_HDR_MAX (20u + 60u)

struct us_gso_batch {
	size_t len;        /* bytes in buf; 0: empty */
	uint16_t hlen;     /* IPv4 + TCP headers */
	uint16_t gso_size; /* payload of every segment but the last */
	uint16_t nsegs;
	uint8_t flags;     /* the last segment's TCP flags */
	bool closed;       /* a short segment, PSH or FIN: nothing may follow */
	uint32_t next_seq; /* where the next segment must start */
	uint8_t buf[US_GSO_MAX];
};

/* Copies up to n bytes from the start of a gather list into dst; returns
 * how many. The driver's copies of a packet go through it too. */
size_t us_iov_gather(uint8_t *dst, size_t n, const struct iovec *iov, int iovcnt);

/*
 * Offers one IPv4 packet (a gather list of len bytes) to the batch.
 * Returns true if it joined (or started) the batch; false if it cannot:
 * then the caller writes the batch out (us_gso_finish), empties it and
 * offers the packet again, and a packet refused by an empty batch (not a
 * TCP segment with data, say) goes out on its own.
 */
bool us_gso_add(struct us_gso_batch *b, const struct iovec *iov, int iovcnt, size_t len);

/*
 * Makes the batch a frame: sets the IPv4 total length and checksum, puts
 * the pseudo-header's sum in the TCP checksum field (the kernel finishes
 * it, per segment if it cuts the frame) and fills vh for it. Returns the
 * frame's length (b->buf); the batch is then empty.
 */
size_t us_gso_finish(struct us_gso_batch *b, struct virtio_net_hdr *vh);

/*
 * The virtio-net header for a packet that goes out alone, pkt being a
 * writable copy of it: a TCP segment (not a fragment) gets the
 * pseudo-header's sum in its checksum field and NEEDS_CSUM, so that the
 * kernel gets the same kind of frame whether the stack summed the segment
 * or left that to the link (USTACK_CSUM_TX). Anything else goes as it is,
 * its checksums complete, flags 0.
 */
void us_gso_single(uint8_t *pkt, size_t len, struct virtio_net_hdr *vh);

#endif
