/*
 * libFuzzer target: ICMP. The first input byte chooses the mode:
 *
 *  even: the parsers alone on the rest of the input: the message (with and
 *        without its checksum verified) and, for an error, the datagram it
 *        quotes; what they accept must lie inside the input;
 *  odd:  the input path, with state. A stack has an established connection
 *        it accepted, one it opened, one half-open in SYN_RECEIVED, one
 *        still in SYN_SENT, and a connected UDP socket; the rest of the
 *        input is a program of records: ICMP errors (all types and codes)
 *        quoting one of those connections with a sequence number around the
 *        live ones, the quote's header fields fuzzed and cut short; errors
 *        quoting the last packet the stack really sent; raw ICMP messages
 *        with a valid checksum; echo requests; TCP segments and the
 *        application's writes, to keep data in flight; clock steps. The
 *        invariants are checked after every record.
 */
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/icmp.h"
#include "wire/ipv4.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NCONN 4

static void parse_only(const uint8_t *data, size_t size)
{
	struct us_icmp m;
	for (int verify = 0; verify < 2; verify++) {
		if (us_icmp_parse(data, size, verify, &m) != 0)
			continue;
		if (size < US_ICMP_HDR_LEN || m.data != data + US_ICMP_HDR_LEN ||
		    m.data_len != size - US_ICMP_HDR_LEN)
			abort();
		struct us_icmp_quote q;
		if (us_icmp_type_is_error(m.type) && us_icmp_quote_parse(m.data, m.data_len, &q) == 0) {
			if (q.hdr_len < 20 || (size_t)q.hdr_len + 8 > m.data_len || q.hdr_len % 4)
				abort();
		}
	}
}

/* Sends an ICMP message of this type, code and rest around body. */
static void icmp(struct fz_world *w, uint8_t type, uint8_t code, uint32_t rest, const uint8_t *body, size_t n)
{
	static uint8_t msg[8 + 1024];
	if (n > sizeof(msg) - 8)
		n = sizeof(msg) - 8;
	struct iovec d = { .iov_base = (void *)body, .iov_len = n };
	us_icmp_build(msg, type, code, rest, &d, 1);
	memcpy(msg + 8, body, n);
	fz_inject_ip(w, US_IP_PROTO_ICMP, 0, 0, msg, 8 + n);
}

static const uint8_t error_types[] = { US_ICMP_DEST_UNREACH, US_ICMP_TIME_EXCEEDED, US_ICMP_PARAMETER_PROB,
				       US_ICMP_SOURCE_QUENCH, US_ICMP_REDIRECT };

/* An error quoting the datagram a connection (or the UDP socket) sent. */
static void quote_error(struct fz_world *w, uint8_t proto, uint16_t sport, uint16_t dport, uint32_t seq)
{
	uint8_t how = fz_take8(w);
	uint8_t type = (how & 0x80) ? fz_take8(w) : error_types[how % sizeof(error_types)];
	uint8_t code = (how & 0x40) ? fz_take8(w) : (uint8_t)(fz_take8(w) % 16);
	uint32_t rest = (how & 0x20) ? fz_take32(w) : 576;
	uint8_t q[20 + 40 + 20];
	memset(q, 0, sizeof(q));
	struct us_ipv4 ip = { .ttl = 1, .proto = proto, .src = FZ_ME, .dst = FZ_PEER };
	us_ipv4_build(q, &ip, 20);
	if (how & 0x10) { /* the quoted header's first byte, protocol and source fuzzed */
		q[0] = fz_take8(w);
		q[9] = fz_take8(w);
		q[12] ^= fz_take8(w);
		q[6] = fz_take8(w) & 0x3f;
	}
	size_t hl = (q[0] & 0x0f) * 4u;
	if (hl < 20 || hl > 60)
		hl = 20;
	uint8_t *th = q + hl;
	th[0] = (uint8_t)(sport >> 8), th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8), th[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++)
		th[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
	size_t n = hl + 8;
	if (how & 0x08) /* cut short, or longer */
		n = fz_take8(w) % (hl + 20);
	icmp(w, type, code, rest, q, n);
}

static void setup(struct fz_world *w, struct fz_conn c[NCONN], int *ufd)
{
	int lfd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	ustack_bind(w->st, lfd, (struct sockaddr *)&sin, sizeof(sin));
	ustack_listen(w->st, lfd, 8);
	w->conns = c;
	w->nconns = NCONN;
	c[0] = (struct fz_conn){ .sport = 40000, .dport = 80, .peer_nxt = 1000 };
	fz_connect_in(w, &c[0], lfd);
	c[1] = (struct fz_conn){ .sport = 5000, .peer_nxt = 7777777 };
	fz_connect_out(w, &c[1]);
	/* c[2]: the peer's SYN only: SYN_RECEIVED. */
	c[2] = (struct fz_conn){ .sport = 40001, .dport = 80, .peer_nxt = 50000, .fd = -1 };
	fz_inject_tcp(w, c[2].sport, c[2].dport, USTACK_TCP_SYN, c[2].peer_nxt++, 0, 65535, NULL, 0, 0);
	/* c[3]: the stack's SYN, unanswered: SYN_SENT. */
	c[3] = (struct fz_conn){ .sport = 5001 };
	c[3].fd = ustack_socket(w->st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(5001), .sin_addr.s_addr = htonl(FZ_PEER) };
	ustack_connect(w->st, c[3].fd, (struct sockaddr *)&to, sizeof(to));
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	ustack_getsockname(w->st, c[3].fd, (struct sockaddr *)&me, &len);
	c[3].dport = ntohs(me.sin_port);

	*ufd = ustack_socket(w->st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in u = { .sin_family = AF_INET, .sin_port = htons(54) };
	ustack_bind(w->st, *ufd, (struct sockaddr *)&u, sizeof(u));
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(999),
				    .sin_addr.s_addr = htonl(FZ_PEER) };
	ustack_connect(w->st, *ufd, (struct sockaddr *)&peer, sizeof(peer));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (!(data[0] & 1)) {
		parse_only(data + 1, size - 1);
		return 0;
	}
	struct fz_world w;
	fz_create(&w, data + 1, size - 1);
	struct fz_conn c[NCONN];
	int ufd;
	setup(&w, c, &ufd);
	fz_check(&w);
	char buf[4096];
	int steps = 0;
	while (w.left && steps++ < 256) {
		uint8_t op = fz_take8(&w);
		struct fz_conn *k = &c[(op >> 4) % NCONN];
		switch (op & 7) {
		case 0: { /* an error about a connection, seq around what it sent */
			int8_t d = (int8_t)fz_take8(&w);
			uint32_t seq = (op & 8) ? k->stack_nxt - 1 - (uint32_t)(uint8_t)d : k->stack_nxt + (uint32_t)d;
			quote_error(&w, US_IP_PROTO_TCP, k->dport, k->sport, seq);
			break;
		}
		case 1: /* an error about the UDP socket's datagrams */
			quote_error(&w, US_IP_PROTO_UDP, 54, (op & 8) ? 999 : fz_take16(&w), 0);
			break;
		case 2: { /* an error quoting the last packet the stack sent */
			uint8_t type = error_types[fz_take8(&w) % sizeof(error_types)];
			size_t n = w.last_out_len;
			if (op & 8)
				n = fz_take8(&w) % (n + 1);
			icmp(&w, type, fz_take8(&w) % 16, fz_take16(&w), w.last_out, n);
			break;
		}
		case 3: { /* a raw message: type, code, rest and body from the input */
			uint8_t type = fz_take8(&w), code = fz_take8(&w);
			uint32_t rest = fz_take32(&w);
			size_t n;
			const uint8_t *p = fz_take(&w, fz_take8(&w), &n);
			icmp(&w, type, code, rest, p, n);
			break;
		}
		case 4: { /* an echo request */
			size_t n;
			const uint8_t *p = fz_take(&w, fz_take8(&w), &n);
			icmp(&w, US_ICMP_ECHO, 0, fz_take32(&w), p, n);
			break;
		}
		case 5: { /* a segment from the peer: an ACK of what it got, maybe data */
			size_t plen = (op & 8) ? (size_t)fz_take8(&w) * 4 : 0;
			fz_inject_tcp(&w, k->sport, k->dport, USTACK_TCP_ACK, k->peer_nxt,
				      k->stack_nxt - (uint32_t)fz_take16(&w), 65535, NULL, 0, plen);
			k->peer_nxt += (uint32_t)plen;
			break;
		}
		case 6: /* the application writes */
			memset(buf, 'y', sizeof(buf));
			if (op & 8)
				ustack_send(w.st, ufd, buf, (size_t)fz_take8(&w) * 16, 0);
			else
				ustack_send(w.st, k->fd, buf, (size_t)fz_take8(&w) * 16, 0);
			break;
		case 7: /* time passes; sometimes a read, which reports a socket error */
			fz_advance(&w, USTACK_MSEC((uint64_t)fz_take16(&w) * 4));
			if (op & 8)
				ustack_recv(w.st, (op & 0x40) ? ufd : k->fd, buf, sizeof(buf), 0);
			break;
		}
		fz_check(&w);
	}
	fz_destroy(&w);
	return 0;
}
