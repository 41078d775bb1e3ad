/*
 * The pcap writer (include/ustack/pcap.h): a driver, like src/sim and
 * src/link/tun.c, so it may do file I/O; nothing in the core calls it.
 *
 * Records are assembled in a buffer and written with write(2) only as whole
 * records, so a capture cut short by a kill still parses to its last
 * flushed packet instead of ending in half a header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/pcap.h>

#define PCAP_BUF (256 * 1024)
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16

struct ustack_pcap {
	int fd;
	bool usec;
	int err; /* the first failure, sticky */
	unsigned long long count;
	size_t len;
	uint8_t buf[PCAP_BUF];
};

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int ustack_pcap_flush(struct ustack_pcap *w)
{
	if (w->err)
		return w->err;
	if (w->len) {
		w->err = write_all(w->fd, w->buf, w->len);
		w->len = 0;
	}
	return w->err;
}

int ustack_pcap_open(const char *path, unsigned flags, struct ustack_pcap **out)
{
	if (!path || !out || (flags & ~USTACK_PCAP_USEC))
		return -EINVAL;
	struct ustack_pcap *w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int err = -errno;
		free(w);
		return err;
	}
	w->usec = flags & USTACK_PCAP_USEC;
	w->err = 0;
	w->count = 0;
	/* The file header: magic, version 2.4, no zone offset or accuracy,
	 * snapshot length, link type. */
	uint8_t *p = w->buf;
	p = put32(p, w->usec ? USTACK_PCAP_MAGIC_USEC : USTACK_PCAP_MAGIC_NSEC);
	p = put16(p, 2);
	p = put16(p, 4);
	p = put32(p, 0);
	p = put32(p, 0);
	p = put32(p, USTACK_PCAP_SNAPLEN);
	p = put32(p, USTACK_PCAP_LINKTYPE_RAW);
	w->len = (size_t)(p - w->buf);
	/* Written at once, so that an empty capture is still a valid file. */
	int err = ustack_pcap_flush(w);
	if (err) {
		close(w->fd);
		free(w);
		return err;
	}
	*out = w;
	return 0;
}

int ustack_pcap_write_iov(struct ustack_pcap *w, ustack_time_t t, const struct iovec *iov, int iovcnt)
{
	if (w->err)
		return w->err;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	size_t cap = len < USTACK_PCAP_SNAPLEN ? len : USTACK_PCAP_SNAPLEN;
	if (w->len + PCAP_REC_HDR + cap > sizeof(w->buf) && ustack_pcap_flush(w))
		return w->err;
	uint32_t sec = (uint32_t)(t / 1000000000u);
	uint32_t frac = (uint32_t)(t % 1000000000u);
	if (w->usec)
		frac /= 1000u;
	uint8_t *p = w->buf + w->len;
	p = put32(p, sec);
	p = put32(p, frac);
	p = put32(p, (uint32_t)cap);
	p = put32(p, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	size_t left = cap;
	for (int i = 0; i < iovcnt && left; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
		memcpy(p, iov[i].iov_base, n);
		p += n;
		left -= n;
	}
	w->len = (size_t)(p - w->buf);
	w->count++;
	return 0;
}

int ustack_pcap_write(struct ustack_pcap *w, ustack_time_t t, const void *pkt, size_t len)
{
	struct iovec iov = { (void *)(uintptr_t)pkt, len };
	return ustack_pcap_write_iov(w, t, &iov, 1);
}

unsigned long long ustack_pcap_count(const struct ustack_pcap *w)
{
	return w->count;
}

int ustack_pcap_close(struct ustack_pcap *w)
{
	if (!w)
		return 0;
	int err = ustack_pcap_flush(w);
	if (close(w->fd) < 0 && !err)
		err = -errno;
	free(w);
	return err;
}

void ustack_pcap_sim_tap(void *ctx, ustack_time_t t, const void *pkt, size_t len)
{
	ustack_pcap_write(ctx, t, pkt, len);
}

void ustack_pcap_tun_tap(void *ctx, ustack_time_t t, bool inbound, const struct iovec *iov, int iovcnt)
{
	(void)inbound;
	ustack_pcap_write_iov(ctx, t, iov, iovcnt);
}
