/*
 * The TUN driver and its event loop (include/ustack/tun.h).
 *
 * The kernel side is configured with the classic interface ioctls on an
 * AF_INET datagram socket (address, netmask, MTU, flags): enough for IPv4,
 * and with no dependency beyond libc. The device is read until it reports
 * EAGAIN, so a burst costs one wakeup; each frame written is one write(2),
 * since TUN has no batched write. That is why, by default, frames carry a
 * virtio-net header (IFF_VNET_HDR) and are as large as the kernel's
 * segmentation offload allows: gso.c joins the stack's segments.
 *
 * With faults configured, packets in both directions pass through the link
 * model of impair.c and wait in a small time-ordered heap until their
 * delivery time, exactly as packets do on a simulator link.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <ustack/tun.h>

#include "link/gso.h"
#include "link/impair.h"

#define TUN_BATCH 64
#define TUN_MAX_PACKET 65536
#define VNET_HDR_LEN sizeof(struct virtio_net_hdr)

struct delayed {
	ustack_time_t at;
	uint64_t seq;
	uint8_t *pkt;
	size_t len;
	bool inbound; /* toward the stack, or toward the kernel */
};

struct ustack_tun {
	int fd;
	char name[IFNAMSIZ];
	uint32_t kernel_addr;
	struct ustack_tun_stats stats;
	bool impaired;
	bool vnet; /* every frame starts with a struct virtio_net_hdr */
	struct us_gso_batch *batch; /* with vnet: segments waiting to be joined */
	uint8_t *scratch; /* with vnet: a frame that goes out alone, copied to finish its header */
	uint8_t *rxbuf;   /* a frame read: its virtio-net header, if any, then the packet */
	struct us_rng rng;
	struct us_link_model out, in;
	struct delayed *heap;
	size_t nheap, cap_heap;
	uint64_t seq;
	ustack_time_t now; /* the loop's latest reading, for output's fault model */
	ustack_time_t wake; /* the application's own deadline for this sleep */
	struct ustack *st; /* where inbound packets go, while running */
	void (*tap)(void *ctx, ustack_time_t t, bool inbound, const struct iovec *iov, int iovcnt);
	void *tap_ctx;
};

static void flush_batch(struct ustack_tun *tun);

ustack_time_t ustack_clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ustack_time_t)ts.tv_sec * 1000000000u + (ustack_time_t)ts.tv_nsec;
}

static int ifreq_ioctl(int sock, unsigned long req, struct ifreq *ifr)
{
	return ioctl(sock, req, ifr) < 0 ? -errno : 0;
}

static void set_sin(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr) };
	memcpy(sa, &sin, sizeof(sin));
}

static int configure(const struct ustack_tun *tun, uint8_t prefix, uint16_t mtu)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	struct ifreq ifr;
	int err;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tun->name, IFNAMSIZ);
	set_sin(&ifr.ifr_addr, tun->kernel_addr);
	if ((err = ifreq_ioctl(sock, SIOCSIFADDR, &ifr)))
		goto out;
	set_sin(&ifr.ifr_netmask, prefix ? ~0u << (32 - prefix) : 0);
	if ((err = ifreq_ioctl(sock, SIOCSIFNETMASK, &ifr)))
		goto out;
	ifr.ifr_mtu = mtu;
	if ((err = ifreq_ioctl(sock, SIOCSIFMTU, &ifr)))
		goto out;
	if ((err = ifreq_ioctl(sock, SIOCGIFFLAGS, &ifr)))
		goto out;
	/* The stack speaks IPv4 only: keep the kernel from sending IPv6
	 * (router solicitations and the like) into it. Best effort. */
	char path[96];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", tun->name);
	int pf = open(path, O_WRONLY | O_CLOEXEC);
	if (pf >= 0) {
		if (write(pf, "1", 1) < 0) {
			/* not fatal: IPv6 packets are counted and dropped */
		}
		close(pf);
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	err = ifreq_ioctl(sock, SIOCSIFFLAGS, &ifr);
out:
	close(sock);
	return err;
}

static bool params_zero(const struct ustack_link_params *p)
{
	return !p->delay && !p->jitter && p->loss <= 0 && p->duplicate <= 0 && p->reorder <= 0 && p->corrupt <= 0 &&
	       !p->rate_bps;
}

static void free_buffers(struct ustack_tun *tun)
{
	free(tun->batch);
	free(tun->scratch);
	free(tun->rxbuf);
	free(tun);
}

int ustack_tun_open(const struct ustack_tun_config *cfg, struct ustack_tun **out)
{
	if (!cfg || !out || !cfg->addr || cfg->prefix > 30)
		return -EINVAL;
	struct ustack_tun *tun = calloc(1, sizeof(*tun));
	if (!tun)
		return -ENOMEM;
	tun->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tun->fd < 0) {
		int err = -errno;
		free(tun);
		return err;
	}
	struct ifreq ifr;
	tun->impaired = !params_zero(&cfg->impair);
	tun->vnet = !cfg->no_offload && !tun->impaired;
	tun->rxbuf = malloc(VNET_HDR_LEN + TUN_MAX_PACKET);
	if (tun->vnet) {
		tun->batch = malloc(sizeof(*tun->batch));
		tun->scratch = malloc(US_GSO_MAX);
	}
	if (!tun->rxbuf || (tun->vnet && (!tun->batch || !tun->scratch))) {
		close(tun->fd);
		free_buffers(tun);
		return -ENOMEM;
	}
	if (tun->batch)
		tun->batch->len = 0;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (tun->vnet ? IFF_VNET_HDR : 0);
	if (cfg->name) {
		size_t n = strlen(cfg->name);
		if (n >= IFNAMSIZ) {
			close(tun->fd);
			free_buffers(tun);
			return -ENAMETOOLONG;
		}
		memcpy(ifr.ifr_name, cfg->name, n);
	}
	int err = ifreq_ioctl(tun->fd, TUNSETIFF, &ifr);
	if (err)
		goto fail;
	memcpy(tun->name, ifr.ifr_name, IFNAMSIZ);
	if (tun->vnet) {
		int hdrsz = (int)VNET_HDR_LEN;
		if (ioctl(tun->fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
			err = -errno;
			goto fail;
		}
		/* What the kernel may send us: TCP over IPv4 in frames of up
		 * to 64 KiB, checksums unfinished. Refused (an old kernel),
		 * it sends plain packets; what we write is unaffected. */
		if (ioctl(tun->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) < 0) {
			/* not fatal */
		}
	}
	uint32_t mask = ~0u << (32 - cfg->prefix);
	tun->kernel_addr = cfg->kernel_addr;
	if (!tun->kernel_addr) {
		/* The subnet's first host, or its second if that is ours. */
		tun->kernel_addr = (cfg->addr & mask) + 1;
		if (tun->kernel_addr == cfg->addr)
			tun->kernel_addr++;
	}
	if (!cfg->no_configure && (err = configure(tun, cfg->prefix, cfg->mtu ? cfg->mtu : 1500)))
		goto fail;
	tun->out.p = cfg->impair;
	tun->in.p = cfg->impair;
	us_rng_seed(&tun->rng, cfg->seed);
	*out = tun;
	return 0;
fail:
	close(tun->fd);
	free_buffers(tun);
	return err;
}

void ustack_tun_close(struct ustack_tun *tun)
{
	if (!tun)
		return;
	for (size_t i = 0; i < tun->nheap; i++)
		free(tun->heap[i].pkt);
	free(tun->heap);
	us_link_model_fini(&tun->out);
	us_link_model_fini(&tun->in);
	flush_batch(tun);
	close(tun->fd);
	free_buffers(tun);
}

bool ustack_tun_offloads(const struct ustack_tun *tun)
{
	return tun->vnet;
}

unsigned ustack_tun_csum_offload(const struct ustack_tun *tun)
{
	return tun->vnet ? USTACK_CSUM_TX : 0;
}

int ustack_tun_fd(const struct ustack_tun *tun)
{
	return tun->fd;
}

const char *ustack_tun_name(const struct ustack_tun *tun)
{
	return tun->name;
}

uint32_t ustack_tun_kernel_addr(const struct ustack_tun *tun)
{
	return tun->kernel_addr;
}

void ustack_tun_get_stats(const struct ustack_tun *tun, struct ustack_tun_stats *out)
{
	*out = tun->stats;
	out->impair_out = tun->out.stats;
	out->impair_in = tun->in.stats;
}

/* ---- the delay heap, ordered by (time, arrival order) ---- */

static bool before(const struct delayed *a, const struct delayed *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void heap_push(struct ustack_tun *tun, struct delayed d)
{
	if (tun->nheap == tun->cap_heap) {
		size_t ncap = tun->cap_heap ? tun->cap_heap * 2 : 64;
		struct delayed *n = realloc(tun->heap, ncap * sizeof(*n));
		if (!n) {
			free(d.pkt);
			return;
		}
		tun->heap = n;
		tun->cap_heap = ncap;
	}
	d.seq = tun->seq++;
	size_t i = tun->nheap++;
	while (i > 0 && before(&d, &tun->heap[(i - 1) / 2])) {
		tun->heap[i] = tun->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	tun->heap[i] = d;
}

static struct delayed heap_pop(struct ustack_tun *tun)
{
	struct delayed top = tun->heap[0], last = tun->heap[--tun->nheap];
	size_t n = tun->nheap, i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && before(&tun->heap[c + 1], &tun->heap[c]))
			c++;
		if (!before(&tun->heap[c], &last))
			break;
		tun->heap[i] = tun->heap[c];
		i = c;
	}
	if (n)
		tun->heap[i] = last;
	return top;
}

/* Applies the link model to a packet; the copies wait in the heap. */
static void impair(struct ustack_tun *tun, struct us_link_model *m, const uint8_t *pkt, size_t len, bool inbound)
{
	struct us_link_fate fate;
	if (us_link_fate(m, &tun->rng, tun->now, len, &fate))
		return;
	for (int c = 0; c < fate.copies; c++) {
		uint8_t *copy = malloc(len);
		if (!copy)
			return;
		memcpy(copy, pkt, len);
		if (fate.flip[c] >= 0)
			copy[fate.flip[c] / 8] ^= (uint8_t)(1u << (fate.flip[c] % 8));
		heap_push(tun, (struct delayed){ .at = fate.at[c], .pkt = copy, .len = len, .inbound = inbound });
	}
}

static bool write_packet(struct ustack_tun *tun, const struct iovec *iov, int iovcnt, size_t len)
{
	if (writev(tun->fd, iov, iovcnt) < 0) {
		tun->stats.tx_errors++;
		return false;
	}
	tun->stats.tx_packets++;
	tun->stats.tx_bytes += len;
	return true;
}

/* Writes out the segments waiting to be joined, as one frame. */
static void flush_batch(struct ustack_tun *tun)
{
	if (!tun->batch || !tun->batch->len)
		return;
	uint16_t nsegs = tun->batch->nsegs;
	struct virtio_net_hdr vh;
	size_t len = us_gso_finish(tun->batch, &vh);
	struct iovec iov[2] = { { &vh, sizeof(vh) }, { tun->batch->buf, len } };
	if (write_packet(tun, iov, 2, len) && nsegs > 1) {
		tun->stats.tx_gso_frames++;
		tun->stats.tx_gso_segs += nsegs;
	}
}

/* With the virtio-net header: a segment joins the batch while the loop
 * runs (its pass ends with a flush); anything else goes out alone, after
 * what waits, so that the kernel sees the stack's order. */
static void output_vnet(struct ustack_tun *tun, const struct iovec *iov, int iovcnt, size_t len)
{
	if (tun->st && us_gso_add(tun->batch, iov, iovcnt, len))
		return;
	flush_batch(tun);
	if (tun->st && us_gso_add(tun->batch, iov, iovcnt, len))
		return;
	if (len > US_GSO_MAX)
		return;
	us_iov_gather(tun->scratch, len, iov, iovcnt);
	struct virtio_net_hdr vh;
	us_gso_single(tun->scratch, len, &vh);
	struct iovec v[2] = { { &vh, sizeof(vh) }, { tun->scratch, len } };
	write_packet(tun, v, 2, len);
}

void ustack_tun_set_tap(struct ustack_tun *tun,
			void (*tap)(void *ctx, ustack_time_t t, bool inbound, const struct iovec *iov,
				    int iovcnt),
			void *ctx)
{
	tun->tap = tap;
	tun->tap_ctx = ctx;
}

/*
 * The tap's stamp: a fresh reading of the clock for every packet, not the
 * loop's reading that the stack is given. One pass of the loop can write a
 * whole send buffer, thousands of segments and tens of milliseconds of
 * writev; stamped with the pass's one reading, a capture showed each burst
 * at one instant and invented 20-45 ms pauses before the next ACK
 * (bench/RESULTS.md item 11). The stack's clock is untouched: the core is
 * handed time, and only the capture sees this one. Every packet rather
 * than every Nth: clock_gettime is a vDSO call, 58-77 ns on the paravirtual
 * machine of bench/RESULTS.md (kvm-clock; a loop of 10^7 calls), where the writev
 * it stamps costs 3-5 us even to /dev/null, so under 2% and only while a
 * tap is set; reading every Nth packet would leave steps in the stamps for
 * nothing worth saving.
 */
static ustack_time_t tap_stamp(void)
{
	return ustack_clock_now();
}

/* Hands the stack one packet, showing it to the tap first. */
static void deliver(struct ustack_tun *tun, struct ustack *st, ustack_time_t now, const uint8_t *pkt,
		    size_t len, unsigned flags)
{
	if (tun->tap) {
		struct iovec iov = { (void *)(uintptr_t)pkt, len };
		tun->tap(tun->tap_ctx, tap_stamp(), true, &iov, 1);
	}
	ustack_input_flags(st, now, pkt, len, flags);
}

void ustack_tun_output(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct ustack_tun *tun = ctx;
	/* Outside the loop (a connect before ustack_tun_run) nobody reads the
	 * clock for us; the fault model needs the time. */
	if (!tun->st)
		tun->now = ustack_clock_now();
	if (tun->tap)
		tun->tap(tun->tap_ctx, tap_stamp(), false, iov, iovcnt);
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (tun->vnet) {
		output_vnet(tun, iov, iovcnt, len);
		return;
	}
	if (!tun->impaired) {
		write_packet(tun, iov, iovcnt, len);
		return;
	}
	uint8_t buf[TUN_MAX_PACKET];
	if (len > sizeof(buf))
		return;
	us_iov_gather(buf, len, iov, iovcnt);
	impair(tun, &tun->out, buf, len, false);
}

/* Sends on what the fault model has held back and is now due. */
static void flush_due(struct ustack_tun *tun, ustack_time_t now)
{
	while (tun->nheap && tun->heap[0].at <= now) {
		struct delayed d = heap_pop(tun);
		if (d.inbound) {
			deliver(tun, tun->st, now, d.pkt, d.len, 0);
		} else {
			struct iovec iov = { d.pkt, d.len };
			write_packet(tun, &iov, 1, d.len);
		}
		free(d.pkt);
	}
}

/* Reads everything the kernel has queued, a batch at a time. */
static int read_all(struct ustack_tun *tun, struct ustack *st)
{
	size_t skip = tun->vnet ? VNET_HDR_LEN : 0;
	for (;;) {
		int n = 0;
		for (; n < TUN_BATCH; n++) {
			ssize_t r = read(tun->fd, tun->rxbuf, VNET_HDR_LEN + TUN_MAX_PACKET);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if ((size_t)r < skip)
				continue;
			const uint8_t *pkt = tun->rxbuf + skip;
			size_t len = (size_t)r - skip;
			unsigned flags = 0;
			if (skip) {
				struct virtio_net_hdr vh;
				memcpy(&vh, tun->rxbuf, sizeof(vh));
				/* NEEDS_CSUM: a packet of the kernel's own that
				 * never left memory (CHECKSUM_PARTIAL);
				 * DATA_VALID: one it checked already. */
				if (vh.flags & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) {
					flags = USTACK_RX_CSUM_OK;
					tun->stats.rx_csum_ok++;
				}
				if (vh.gso_type != VIRTIO_NET_HDR_GSO_NONE)
					tun->stats.rx_gso_frames++;
			}
			tun->stats.rx_packets++;
			tun->stats.rx_bytes += len;
			tun->now = ustack_clock_now();
			if (tun->impaired)
				impair(tun, &tun->in, pkt, len, true);
			else
				deliver(tun, st, tun->now, pkt, len, flags);
		}
		(void)n;
	}
}

void ustack_tun_wake_at(struct ustack_tun *tun, ustack_time_t at)
{
	if (at < tun->wake)
		tun->wake = at;
}

static uint32_t epoll_bits(short events)
{
	return ((events & POLLIN) ? EPOLLIN : 0) | ((events & POLLOUT) ? EPOLLOUT : 0);
}

int ustack_tun_run(struct ustack_tun *tun, struct ustack *st, int (*step)(void *ctx, ustack_time_t now), void *ctx,
		   struct pollfd *extra, int nextra)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	short *watched = calloc((size_t)(nextra > 0 ? nextra : 1), sizeof(*watched));
	/* Regular files cannot be watched (epoll says EPERM) and are always
	 * ready: the loop reports them so without sleeping. */
	bool *always = calloc((size_t)(nextra > 0 ? nextra : 1), sizeof(*always));
	int ret = 0;
	if (!watched || !always || epoll_ctl(ep, EPOLL_CTL_ADD, tun->fd, &ev) < 0) {
		ret = watched && always ? -errno : -ENOMEM;
		goto out;
	}
	for (int i = 0; i < nextra; i++) {
		struct epoll_event e = { .events = epoll_bits(extra[i].events), .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, extra[i].fd, &e) < 0) {
			if (errno != EPERM) {
				ret = -errno;
				goto out;
			}
			always[i] = true;
		}
		watched[i] = extra[i].events;
	}
	tun->st = st;
	for (;;) {
		ustack_time_t now = ustack_clock_now();
		tun->now = now;
		flush_due(tun, now);
		ustack_poll(st, now);
		tun->wake = USTACK_TIME_NEVER;
		if ((ret = step(ctx, now)))
			break;
		bool ready_now = false;
		for (int i = 0; i < nextra; i++) {
			extra[i].revents = 0;
			if (always[i]) {
				extra[i].revents = extra[i].events;
				ready_now |= extra[i].events != 0;
				continue;
			}
			/* The application says what it wants next: an fd it
			 * cannot serve now (its socket is full) is not watched,
			 * so it cannot spin the loop. */
			if (extra[i].events != watched[i]) {
				struct epoll_event e = { .events = epoll_bits(extra[i].events), .data.u32 = (uint32_t)i };
				epoll_ctl(ep, EPOLL_CTL_MOD, extra[i].fd, &e);
				watched[i] = extra[i].events;
			}
		}
		/* The pass is over: what waits to be joined goes now. */
		flush_batch(tun);
		/* What the application sent may have set new deadlines. */
		ustack_time_t next = ustack_next_deadline(st);
		if (tun->nheap && tun->heap[0].at < next)
			next = tun->heap[0].at;
		if (tun->wake < next)
			next = tun->wake;
		now = ustack_clock_now();
		int timeout = -1;
		if (next != USTACK_TIME_NEVER)
			timeout = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		if (ready_now)
			timeout = 0;
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == UINT32_MAX) {
				if ((ret = read_all(tun, st)) < 0)
					goto out;
				continue;
			}
			uint32_t e = evs[i].events;
			extra[evs[i].data.u32].revents = (short)(((e & EPOLLIN) ? POLLIN : 0) | ((e & EPOLLOUT) ? POLLOUT : 0) |
								 ((e & EPOLLHUP) ? POLLHUP : 0) |
								 ((e & EPOLLERR) ? POLLERR : 0));
		}
	}
out:
	flush_batch(tun);
	tun->st = NULL;
	free(watched);
	free(always);
	close(ep);
	return ret;
}
