/*
 * libFuzzer target: UDP. The first input byte chooses the mode:
 *
 *  even: the parser alone, on the rest of the input as the IP payload, with
 *        and without checksum verification; what it accepts must lie
 *        inside the input;
 *  odd:  the input path, with state. A stack holds a socket bound to port 53
 *        on any address, one bound to 54 on its own address and connected
 *        to the peer's port 999, and one with SO_RCVBUF made small; the rest
 *        of the input is a program of records (one opcode byte, then its
 *        fields): datagrams built around fuzzed fields (a valid IPv4 header;
 *        the UDP checksum right, absent or wrong; the length field exact or
 *        off), raw UDP bytes, broadcasts, the application's reads, writes,
 *        connects and closes, and clock steps. The invariants are checked
 *        after every record.
 */
#include <stdlib.h>
#include <string.h>

#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/udp.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSOCK 3

static void parse_only(const uint8_t *data, size_t size)
{
	struct us_udp u;
	for (int verify = 0; verify < 2; verify++) {
		if (us_udp_parse(data, size, FZ_PEER, FZ_ME, verify, &u) != 0)
			continue;
		if (u.len < US_UDP_HDR_LEN || u.len > size || u.payload != data + US_UDP_HDR_LEN ||
		    u.payload_len != (size_t)u.len - US_UDP_HDR_LEN)
			abort();
	}
}

static void setup(struct fz_world *w, int fd[NSOCK])
{
	for (int i = 0; i < NSOCK; i++)
		fd[i] = ustack_socket(w->st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(53) };
	ustack_bind(w->st, fd[0], (struct sockaddr *)&any, sizeof(any));
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(54), .sin_addr.s_addr = htonl(FZ_ME) };
	ustack_bind(w->st, fd[1], (struct sockaddr *)&me, sizeof(me));
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(999),
				    .sin_addr.s_addr = htonl(FZ_PEER) };
	ustack_connect(w->st, fd[1], (struct sockaddr *)&peer, sizeof(peer));
	int small = 2048;
	ustack_setsockopt(w->st, fd[2], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	struct sockaddr_in other = { .sin_family = AF_INET, .sin_port = htons(55) };
	ustack_bind(w->st, fd[2], (struct sockaddr *)&other, sizeof(other));
}

/* A datagram from the peer: csum 0 right, 1 none, 2 wrong; the length
 * field off by dlen. */
static void datagram(struct fz_world *w, uint16_t sport, uint16_t dport, const uint8_t *payload, size_t plen,
		     int csum, int8_t dlen, uint32_t dst)
{
	static uint8_t u[8 + 2048];
	if (plen > sizeof(u) - 8)
		plen = sizeof(u) - 8;
	memcpy(u + 8, payload, plen);
	us_udp_build(u, FZ_PEER, dst, sport, dport, u + 8, plen);
	if (csum == 1)
		u[6] = u[7] = 0;
	else if (csum == 2)
		u[7] ^= 0x5a;
	uint16_t len = (uint16_t)(8 + plen + (size_t)(int)dlen);
	u[4] = (uint8_t)(len >> 8), u[5] = (uint8_t)len;
	/* fz_inject_ip sends to FZ_ME; a broadcast needs its own header. */
	if (dst == FZ_ME) {
		fz_inject_ip(w, US_IP_PROTO_UDP, 0, 0, u, 8 + plen);
		return;
	}
	static uint8_t pkt[20 + sizeof(u)];
	struct us_ipv4 ip = { .ttl = 64, .proto = US_IP_PROTO_UDP, .src = FZ_PEER, .dst = dst };
	us_ipv4_build(pkt, &ip, 8 + plen);
	memcpy(pkt + 20, u, 8 + plen);
	ustack_input(w->st, w->now, pkt, 20 + 8 + plen);
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
	int fd[NSOCK];
	setup(&w, fd);
	static const uint16_t ports[] = { 53, 54, 55, 56 };
	static const uint32_t dsts[] = { FZ_ME, 0xC61200FFu, 0xFFFFFFFFu, FZ_ME };
	uint8_t buf[2048];
	int steps = 0;
	while (w.left && steps++ < 256) {
		uint8_t op = fz_take8(&w);
		int s = (op >> 4) % NSOCK;
		switch (op & 7) {
		case 0:
		case 1: { /* a datagram built around fuzzed fields */
			uint8_t how = fz_take8(&w);
			uint16_t sport = (how & 0x40) ? 999 : fz_take16(&w);
			uint16_t dport = (how & 0x80) ? fz_take16(&w) : ports[how & 3];
			int8_t dlen = (how & 0x20) ? (int8_t)fz_take8(&w) : 0;
			size_t plen;
			const uint8_t *p = fz_take(&w, fz_take8(&w) * (size_t)((op & 1) ? 8 : 1), &plen);
			datagram(&w, sport, dport, p, plen, (how >> 2) % 3, dlen, dsts[(how >> 4) & 1 ? (op >> 6) : 0]);
			break;
		}
		case 2: { /* raw UDP bytes in a valid IPv4 header */
			size_t n;
			const uint8_t *p = fz_take(&w, fz_take8(&w), &n);
			fz_inject_ip(&w, US_IP_PROTO_UDP, 0, 0, p, n);
			break;
		}
		case 3: /* the application reads */
			ustack_recv(w.st, fd[s], buf, (size_t)fz_take8(&w) * 8, (op & 8) ? MSG_PEEK : 0);
			break;
		case 4: { /* the application writes, to the peer or to its connected peer */
			size_t n = (size_t)fz_take8(&w) * 8;
			memset(buf, 'u', n);
			struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(fz_take16(&w)),
						  .sin_addr.s_addr = htonl(FZ_PEER) };
			if (op & 8)
				ustack_send(w.st, fd[s], buf, n, 0);
			else
				ustack_sendto(w.st, fd[s], buf, n, 0, (struct sockaddr *)&to, sizeof(to));
			break;
		}
		case 5: { /* connect, disconnect (AF_UNSPEC), or close and reopen */
			uint8_t how = fz_take8(&w) % 3;
			struct sockaddr_in to = { .sin_family = how ? AF_INET : AF_UNSPEC,
						  .sin_port = htons(fz_take16(&w)), .sin_addr.s_addr = htonl(FZ_PEER) };
			if (how == 2) {
				ustack_close(w.st, fd[s]);
				fd[s] = ustack_socket(w.st, AF_INET, SOCK_DGRAM, 0);
				struct sockaddr_in b = { .sin_family = AF_INET, .sin_port = htons(ports[s]) };
				ustack_bind(w.st, fd[s], (struct sockaddr *)&b, sizeof(b));
			} else {
				ustack_connect(w.st, fd[s], (struct sockaddr *)&to, sizeof(to));
			}
			break;
		}
		case 6: /* time passes */
			fz_advance(&w, USTACK_MSEC((uint64_t)fz_take16(&w)));
			break;
		case 7: /* shutdown */
			ustack_shutdown(w.st, fd[s], fz_take8(&w) % 3);
			break;
		}
		fz_check(&w);
		for (int i = 0; i < NSOCK; i++)
			fz_check_udp(&w, fd[i]);
	}
	fz_destroy(&w);
	return 0;
}
