/*
 * TCP header and options (RFC 9293 3.1, RFC 7323, RFC 2018).
 *
 * Parsing is a single pass that checks each length against the bytes that
 * were received before reading what it covers: the fixed header, then the
 * data offset, then the checksum over the whole segment, and last the
 * options, walked by kind and length inside the header only. The fixed
 * fields are decoded before the options, so that a caller tracing an option
 * drop still sees whose segment it was.
 *
 * Building writes options in exactly the layouts Linux sends (see
 * tcp_options_write in Linux), so that traces of this stack and of the kernel
 * can be compared byte for byte. Every layout it produces is already a
 * multiple of four bytes.
 */
#include "wire/tcp.h"

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/bytes.h"

#include <string.h>

/* RFC 2018 3: a SACK option is 2 bytes plus 8 per block. */
#define SACK_BASE 2
#define SACK_BLOCK 8
#define SACK_MAX_BLOCKS 4

/* RFC 7323 2.3: the largest shift that keeps the window below 2^30. */
#define WSCALE_MAX 14

/* Decodes one option of a known kind whose length byte is olen and which
 * fits inside the header. */
static int parse_option(const uint8_t *o, size_t olen, struct ustack_tcp_options *opt)
{
	size_t i, n;

	switch (o[0]) {
	case US_TCPOPT_MSS:
		/* RFC 9293 3.2: kind 2, length 4, a 16-bit MSS. */
		if (olen != 4)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		opt->present |= USTACK_OPT_MSS;
		opt->mss = us_get16(o + 2);
		break;
	case US_TCPOPT_WSCALE:
		/* RFC 7323 2.2: kind 3, length 3, the shift count. */
		if (olen != 3)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		opt->present |= USTACK_OPT_WSCALE;
		/* RFC 7323 2.3: a shift above 14 is used as 14 (and may be
		 * logged), not refused. */
		opt->wscale = o[2] > WSCALE_MAX ? WSCALE_MAX : o[2];
		break;
	case US_TCPOPT_SACK_PERM:
		/* RFC 2018 2: kind 4, length 2. */
		if (olen != 2)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		opt->present |= USTACK_OPT_SACK_PERM;
		break;
	case US_TCPOPT_TS:
		/* RFC 7323 3.2: kind 8, length 10, TSval and TSecr. */
		if (olen != 10)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		opt->present |= USTACK_OPT_TS;
		opt->ts_val = us_get32(o + 2);
		opt->ts_ecr = us_get32(o + 6);
		break;
	case US_TCPOPT_SACK:
		/* RFC 2018 3: kind 5, length 2 + 8n, at least one block and at
		 * most four, which is all 40 bytes of option space can hold. */
		if (olen < SACK_BASE + SACK_BLOCK || (olen - SACK_BASE) % SACK_BLOCK)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		n = (olen - SACK_BASE) / SACK_BLOCK;
		if (n > SACK_MAX_BLOCKS)
			return USTACK_STAT_DROP_TCP_OPT_SIZE;
		opt->present |= USTACK_OPT_SACK;
		opt->nsack = (uint8_t)n;
		for (i = 0; i < n; i++) {
			opt->sack[i].left = us_get32(o + SACK_BASE + i * SACK_BLOCK);
			opt->sack[i].right = us_get32(o + SACK_BASE + i * SACK_BLOCK + 4);
		}
		break;
	default:
		/* RFC 9293 3.1 (MUST-6): an option this stack does not implement
		 * is skipped by its length. */
		break;
	}
	return 0;
}

static int parse_options(const uint8_t *buf, size_t hlen, struct ustack_tcp_options *opt)
{
	size_t i = US_TCP_HDR_MIN, olen;
	int err;

	while (i < hlen) {
		/* RFC 9293 3.1: End of Option List ends the list; whatever
		 * follows it up to the data offset is padding. */
		if (buf[i] == US_TCPOPT_EOL)
			break;
		/* RFC 9293 3.1: No-Operation is a single byte with no length. */
		if (buf[i] == US_TCPOPT_NOP) {
			i++;
			continue;
		}
		/* Every other kind has a length byte (RFC 9293 3.1); a kind in
		 * the last byte of the header runs past it. */
		if (hlen - i < 2)
			return USTACK_STAT_DROP_TCP_OPT_OVERRUN;
		olen = buf[i + 1];
		/* RFC 9293 3.1 (MUST-7): the length counts kind and length
		 * bytes, so below 2 it is illegal, and walking on by it would
		 * loop or desynchronise. */
		if (olen < 2)
			return USTACK_STAT_DROP_TCP_OPT_LEN;
		if (olen > hlen - i)
			return USTACK_STAT_DROP_TCP_OPT_OVERRUN;
		err = parse_option(buf + i, olen, opt);
		if (err)
			return err;
		i += olen;
	}
	return 0;
}

int us_tcp_parse(const uint8_t *buf, size_t len, uint32_t saddr, uint32_t daddr, bool verify_csum,
		 struct us_tcp *out)
{
	struct ustack_tcp_segment *h = &out->h;
	size_t hlen;

	if (len < US_TCP_HDR_MIN)
		return USTACK_STAT_DROP_TCP_TRUNCATED;

	memset(h, 0, sizeof(*h));
	h->saddr = saddr;
	h->daddr = daddr;
	h->sport = us_get16(buf);
	h->dport = us_get16(buf + 2);
	h->seq = us_get32(buf + 4);
	h->ack = us_get32(buf + 8);
	/* RFC 9293 3.1: the low nibble of byte 12 is reserved; byte 13 holds
	 * CWR down to FIN (RFC 3168 adds CWR and ECE). */
	h->flags = buf[13];
	h->window = us_get16(buf + 14);
	h->urgent = us_get16(buf + 18);

	/* RFC 9293 3.1: the data offset counts 32-bit words, at least 5. */
	hlen = (size_t)(buf[12] >> 4) * 4;
	if (hlen < US_TCP_HDR_MIN)
		return USTACK_STAT_DROP_TCP_DOFF_SMALL;
	if (hlen > len)
		return USTACK_STAT_DROP_TCP_DOFF_PAST_END;
	/* RFC 9293 3.1: the checksum covers the pseudo-header, the header and
	 * the payload. len comes from an IPv4 total length, so it fits the
	 * pseudo-header's 16 bits. */
	if (verify_csum) {
		uint64_t acc = us_csum_pseudo(saddr, daddr, US_IP_PROTO_TCP, (uint16_t)len);

		if (us_csum_fold(us_csum_add(acc, buf, len)) != 0)
			return USTACK_STAT_DROP_TCP_CHECKSUM;
	}

	out->hdr_len = (uint8_t)hlen;
	out->payload = buf + hlen;
	h->len = (uint32_t)(len - hlen);
	return parse_options(buf, hlen, &h->opt);
}

static size_t put_ts(uint8_t *p, const struct ustack_tcp_options *opt)
{
	p[0] = US_TCPOPT_TS;
	p[1] = 10;
	us_put32(p + 2, opt->ts_val);
	us_put32(p + 6, opt->ts_ecr);
	return 10;
}

size_t us_tcp_options_build(uint8_t *buf, const struct ustack_tcp_options *opt, bool syn)
{
	size_t n = 0, i, nsack;
	bool ts = opt->present & USTACK_OPT_TS;

	if (syn) {
		if (opt->present & USTACK_OPT_MSS) {
			buf[n++] = US_TCPOPT_MSS;
			buf[n++] = 4;
			us_put16(buf + n, opt->mss);
			n += 2;
		}
		/* Linux packs SACK-permitted into the two bytes that would
		 * otherwise be NOP,NOP aligning the timestamps. */
		if (opt->present & USTACK_OPT_SACK_PERM) {
			if (!ts) {
				buf[n++] = US_TCPOPT_NOP;
				buf[n++] = US_TCPOPT_NOP;
			}
			buf[n++] = US_TCPOPT_SACK_PERM;
			buf[n++] = 2;
		} else if (ts) {
			buf[n++] = US_TCPOPT_NOP;
			buf[n++] = US_TCPOPT_NOP;
		}
		if (ts)
			n += put_ts(buf + n, opt);
		if (opt->present & USTACK_OPT_WSCALE) {
			buf[n++] = US_TCPOPT_NOP;
			buf[n++] = US_TCPOPT_WSCALE;
			buf[n++] = 3;
			buf[n++] = opt->wscale;
		}
	} else {
		/* MSS, window scale and SACK-permitted mean something only on
		 * a SYN (RFC 9293 3.7.1, RFC 7323 2.2, RFC 2018 2). */
		if (ts) {
			buf[n++] = US_TCPOPT_NOP;
			buf[n++] = US_TCPOPT_NOP;
			n += put_ts(buf + n, opt);
		}
		/* Send as many blocks as fit (RFC 2018 3); RFC 2018 4 puts the
		 * most recent block first, so the ones cut are the oldest. */
		nsack = opt->nsack > SACK_MAX_BLOCKS ? SACK_MAX_BLOCKS : opt->nsack;
		if (nsack > (US_TCP_OPT_SPACE - n - 2 - SACK_BASE) / SACK_BLOCK)
			nsack = (US_TCP_OPT_SPACE - n - 2 - SACK_BASE) / SACK_BLOCK;
		if (nsack) {
			buf[n++] = US_TCPOPT_NOP;
			buf[n++] = US_TCPOPT_NOP;
			buf[n++] = US_TCPOPT_SACK;
			buf[n++] = (uint8_t)(SACK_BASE + nsack * SACK_BLOCK);
			for (i = 0; i < nsack; i++) {
				us_put32(buf + n, opt->sack[i].left);
				us_put32(buf + n + 4, opt->sack[i].right);
				n += SACK_BLOCK;
			}
		}
	}
	/* RFC 9293 3.1: the header ends on a 32-bit boundary; EOL pads. None
	 * of the layouts above needs it, but a future one might. */
	while (n % 4)
		buf[n++] = US_TCPOPT_EOL;
	return n;
}

size_t us_tcp_build(uint8_t *buf, const struct ustack_tcp_segment *seg)
{
	size_t hlen = US_TCP_HDR_MIN + us_tcp_options_build(buf + US_TCP_HDR_MIN, &seg->opt,
							     seg->flags & USTACK_TCP_SYN);

	us_put16(buf, seg->sport);
	us_put16(buf + 2, seg->dport);
	us_put32(buf + 4, seg->seq);
	us_put32(buf + 8, seg->ack);
	buf[12] = (uint8_t)(hlen / 4 << 4);
	buf[13] = seg->flags;
	us_put16(buf + 14, seg->window);
	us_put16(buf + 16, 0);
	us_put16(buf + 18, seg->urgent);
	return hlen;
}
