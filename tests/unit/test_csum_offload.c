/*
 * ustack_config.csum_offload: the TCP checksum left to the link, as a NIC
 * offers it (include/ustack/ustack.h). Off by default; RX trusts what the
 * link delivers; TX leaves the pseudo-header's sum in the field for the
 * link to finish, as Linux does with CHECKSUM_PARTIAL.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "testnet.h"
#include "wire/checksum.h"
#include "wire/ipv4.h"
#include "wire/tcp.h"

#define PORT 80

static struct traw R;

static void start(uint8_t offload)
{
	struct ustack_config c = { .csum_offload = offload };
	traw_init(&R, &c);
	int fd = ustack_socket(R.st, AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = t_sin(0, PORT);
	cr_assert_eq(ustack_bind(R.st, fd, T_SA(sin), sizeof(sin)), 0);
	cr_assert_eq(ustack_listen(R.st, fd, 8), 0);
}

/* A SYN from the peer to the listener; `bad` flips a bit of its checksum. */
static void send_syn(bool bad)
{
	uint8_t pkt[128];
	size_t n = t_build_packet(pkt, R.peer_addr, R.addr, 4000, PORT, USTACK_TCP_SYN, 5000, 0, 65535, NULL, 0,
				  NULL);
	if (bad)
		pkt[US_IPV4_HDR_MIN + 16] ^= 0x40;
	traw_input(&R, pkt, n);
}

/* Whether the TCP checksum of an IPv4 packet with a 20-byte header holds. */
static bool tcp_csum_ok(const uint8_t *pkt, size_t len)
{
	uint64_t acc = us_csum_pseudo(R.addr, R.peer_addr, US_IP_PROTO_TCP, (uint16_t)(len - US_IPV4_HDR_MIN));
	return us_csum_fold(us_csum_add(acc, pkt + US_IPV4_HDR_MIN, len - US_IPV4_HDR_MIN)) == 0;
}

Test(csum_offload, off_by_default)
{
	start(0);
	send_syn(true);
	cr_assert_null(traw_next(&R), "a SYN with a bad checksum was answered");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_TCP_CHECKSUM), 1);
	send_syn(false);
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p);
	cr_assert(tcp_csum_ok(p->b, p->len));
	traw_fini(&R);
}

Test(csum_offload, rx_trusts_the_link)
{
	start(USTACK_CSUM_RX);
	send_syn(true);
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p, "the link vouched for the SYN");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_TCP_CHECKSUM), 0);
	cr_assert(tcp_csum_ok(p->b, p->len), "TX is not offloaded: the SYN,ACK is summed");
	traw_fini(&R);
}

Test(csum_offload, tx_leaves_the_pseudo_header_sum)
{
	start(USTACK_CSUM_TX);
	send_syn(false);
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p);
	uint8_t seg[128];
	size_t tl = p->len - US_IPV4_HDR_MIN;
	cr_assert_leq(tl, sizeof(seg));
	memcpy(seg, p->b + US_IPV4_HDR_MIN, tl);
	uint16_t field;
	memcpy(&field, seg + 16, 2);
	uint16_t pseudo = (uint16_t)~us_csum_fold(us_csum_pseudo(R.addr, R.peer_addr, US_IP_PROTO_TCP,
								  (uint16_t)tl));
	cr_assert_eq(field, pseudo, "the field holds the pseudo-header's sum");
	/* What the link does: sum the segment from the TCP header on, field
	 * included, and store the complement. */
	uint16_t c = us_csum_fold(us_csum_add(0, seg, tl));
	memcpy(seg + 16, &c, 2);
	uint64_t acc = us_csum_pseudo(R.addr, R.peer_addr, US_IP_PROTO_TCP, (uint16_t)tl);
	cr_assert_eq(us_csum_fold(us_csum_add(acc, seg, tl)), 0, "the finished checksum holds");
	traw_fini(&R);
}

/*
 * ustack_input_flags(USTACK_RX_CSUM_OK): the same promise made for one
 * packet, as a virtio-net header makes it (NEEDS_CSUM, DATA_VALID). It
 * holds for that call only, covers UDP as well, and never a datagram
 * reassembled from fragments.
 */
static void input_flagged(const uint8_t *pkt, size_t len, unsigned flags)
{
	cr_assert_eq(ustack_input_flags(R.st, R.now, pkt, len, flags), 0);
}

Test(csum_offload, per_packet_flag_covers_that_packet_only)
{
	start(0);
	uint8_t pkt[128];
	size_t n = t_build_packet(pkt, R.peer_addr, R.addr, 4000, PORT, USTACK_TCP_SYN, 5000, 0, 65535, NULL, 0,
				  NULL);
	pkt[US_IPV4_HDR_MIN + 16] ^= 0x40;
	cr_assert_eq(ustack_input_flags(R.st, R.now, pkt, n, 0x80), -EINVAL, "an unknown flag is refused");
	input_flagged(pkt, n, USTACK_RX_CSUM_OK);
	const struct tpkt *p = traw_next(&R);
	cr_assert_not_null(p, "the link vouched for the SYN");
	cr_assert(tcp_csum_ok(p->b, p->len), "what the stack sends is still summed");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_TCP_CHECKSUM), 0);
	/* The next packet, from another port, comes without the promise. */
	n = t_build_packet(pkt, R.peer_addr, R.addr, 4001, PORT, USTACK_TCP_SYN, 6000, 0, 65535, NULL, 0, NULL);
	pkt[US_IPV4_HDR_MIN + 16] ^= 0x40;
	input_flagged(pkt, n, 0);
	cr_assert_null(traw_next(&R));
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_TCP_CHECKSUM), 1);
	traw_fini(&R);
}

Test(csum_offload, per_packet_flag_covers_udp)
{
	start(0);
	int fd = ustack_socket(R.st, AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = t_sin(0, 53);
	cr_assert_eq(ustack_bind(R.st, fd, T_SA(sin), sizeof(sin)), 0);
	uint8_t pkt[128];
	size_t n = t_build_udp(pkt, R.peer_addr, R.addr, 4000, 53, "hello", 5);
	pkt[US_IPV4_HDR_MIN + 6] ^= 0x01;
	input_flagged(pkt, n, 0);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_UDP_CHECKSUM), 1);
	input_flagged(pkt, n, USTACK_RX_CSUM_OK);
	char buf[16];
	cr_assert_eq(ustack_recvfrom(R.st, fd, buf, sizeof(buf), 0, NULL, NULL), 5);
	cr_assert_eq(memcmp(buf, "hello", 5), 0);
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_UDP_CHECKSUM), 1);
	traw_fini(&R);
}

Test(csum_offload, per_packet_flag_never_covers_fragments)
{
	start(0);
	uint8_t syn[128];
	size_t n = t_build_packet(syn, R.peer_addr, R.addr, 4000, PORT, USTACK_TCP_SYN, 5000, 0, 65535, NULL, 0,
				  NULL);
	syn[US_IPV4_HDR_MIN + 16] ^= 0x40;
	const uint8_t *tcp = syn + US_IPV4_HDR_MIN;
	size_t tl = n - US_IPV4_HDR_MIN;
	uint8_t f1[64], f2[64];
	size_t n1 = t_build_ip(f1, R.peer_addr, R.addr, US_IP_PROTO_TCP, 77, 0x2000 /* MF */, tcp, 8);
	size_t n2 = t_build_ip(f2, R.peer_addr, R.addr, US_IP_PROTO_TCP, 77, 1 /* 8 bytes */, tcp + 8, tl - 8);
	input_flagged(f1, n1, USTACK_RX_CSUM_OK);
	input_flagged(f2, n2, USTACK_RX_CSUM_OK);
	cr_assert_null(traw_next(&R), "a reassembled SYN with a bad checksum was answered");
	cr_assert_eq(ustack_stat(R.st, USTACK_STAT_DROP_TCP_CHECKSUM), 1);
	traw_fini(&R);
}
