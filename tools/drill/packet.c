/*
 * Script packets and the stack's packets: appending option bytes as the
 * script writes them, decoding what the stack sent, and printing both in
 * packetdrill's short form ("S. 0:0(0) ack 1 win 64240 <mss 1460,nop,wscale 7>")
 * so a failure shows expected and actual side by side.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ustack/trace.h>

#include "drill.h"
#include "wire/ipv4.h"

bool opt_append(struct spkt *p, const uint8_t *bytes, size_t n)
{
	if (p->optlen + n > sizeof(p->opt))
		return false;
	memcpy(p->opt + p->optlen, bytes, n);
	p->optlen = (uint8_t)(p->optlen + n);
	return true;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void live_decode(struct live *p)
{
	struct us_ipv4 ip;
	p->ok = false;
	if (us_ipv4_parse(p->buf, p->len, false, &ip) != 0 || (ip.frag & (US_IPV4_MF | US_IPV4_OFFMASK)))
		return;
	p->saddr = ip.src;
	p->daddr = ip.dst;
	p->proto = ip.proto;
	const uint8_t *l4 = ip.payload;
	size_t n = ip.payload_len;
	switch (ip.proto) {
	case US_IP_PROTO_TCP: {
		if (n < 20)
			return;
		size_t doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < 20 || doff > n)
			return;
		p->sport = get16(l4);
		p->dport = get16(l4 + 2);
		p->seq = get32(l4 + 4);
		p->ack = get32(l4 + 8);
		p->doff = (uint8_t)(doff / 4);
		p->res = l4[12] & 0x0f;
		p->flags = l4[13];
		p->win = get16(l4 + 14);
		p->urg = get16(l4 + 18);
		p->opt = l4 + 20;
		p->optlen = (uint8_t)(doff - 20);
		p->payload = l4 + doff;
		p->plen = (uint32_t)(n - doff);
		break;
	}
	case US_IP_PROTO_UDP:
		if (n < 8)
			return;
		p->sport = get16(l4);
		p->dport = get16(l4 + 2);
		p->payload = l4 + 8;
		p->plen = (uint32_t)(n - 8);
		break;
	case US_IP_PROTO_ICMP:
		if (n < 8)
			return;
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		p->payload = l4 + 8;
		p->plen = (uint32_t)(n - 8);
		break;
	default:
		return;
	}
	p->ok = true;
}

/* snprintf that appends and never overruns. */
static void add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 1 >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

void opt_format(const uint8_t *opt, size_t len, char *buf, size_t size)
{
	buf[0] = '\0';
	size_t i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (i)
			add(buf, size, ",");
		if (kind == 0 || kind == 1) {
			add(buf, size, kind ? "nop" : "eol");
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len) {
			add(buf, size, "<malformed kind %u>", kind);
			return;
		}
		uint8_t olen = opt[i + 1];
		const uint8_t *d = opt + i + 2;
		if (kind == 2 && olen == 4)
			add(buf, size, "mss %u", get16(d));
		else if (kind == 3 && olen == 3)
			add(buf, size, "wscale %u", d[0]);
		else if (kind == 4 && olen == 2)
			add(buf, size, "sackOK");
		else if (kind == 5 && (olen - 2) % 8 == 0) {
			add(buf, size, "sack");
			for (int b = 0; b < (olen - 2) / 8; b++)
				add(buf, size, " %u:%u", get32(d + 8 * b), get32(d + 8 * b + 4));
		} else if (kind == 8 && olen == 10)
			add(buf, size, "TS val %u ecr %u", get32(d), get32(d + 4));
		else
			add(buf, size, "kind %u len %u", kind, olen);
		i += olen;
	}
}

static void flags_format(uint8_t f, char *buf, size_t size)
{
	/* tcpdump 4.1.1's order, as packetdrill prints them. */
	add(buf, size, "%s%s%s%s%s%s%s%s", (f & USTACK_TCP_FIN) ? "F" : "", (f & USTACK_TCP_SYN) ? "S" : "",
	    (f & USTACK_TCP_RST) ? "R" : "", (f & USTACK_TCP_PSH) ? "P" : "",
	    (f & USTACK_TCP_ACK) ? "." : "", (f & USTACK_TCP_URG) ? "U" : "",
	    (f & USTACK_TCP_ECE) ? "E" : "", (f & USTACK_TCP_CWR) ? "W" : "");
}

static const char *icmp_type_name(uint8_t type)
{
	switch (type) {
	case 0:
		return "echo_reply";
	case 3:
		return "unreachable";
	case 4:
		return "source_quench";
	case 5:
		return "redirect";
	case 8:
		return "echo_request";
	case 11:
		return "time_exceeded";
	case 12:
		return "parameter_problem";
	default:
		return NULL;
	}
}

static void icmp_format(uint8_t type, uint8_t code, char *buf, size_t size)
{
	static const char *const codes[] = { "net_unreachable", "host_unreachable", "protocol_unreachable",
					     "port_unreachable", "frag_needed" };
	const char *t = icmp_type_name(type);
	if (t)
		add(buf, size, "icmp %s", t);
	else
		add(buf, size, "icmp type_%u", type);
	if (type == 3 && code < sizeof(codes) / sizeof(codes[0]))
		add(buf, size, " %s", codes[code]);
	else if (code)
		add(buf, size, " code_%u", code);
}

void spkt_format(const struct spkt *p, char *buf, size_t size)
{
	buf[0] = '\0';
	if (p->proto == P_UDP) {
		if (p->ports)
			add(buf, size, "udp %u>%u (%u)", p->sport, p->dport, p->len);
		else
			add(buf, size, "udp (%u)", p->len);
		return;
	}
	if (p->ports && p->proto == P_TCP)
		add(buf, size, "%u>%u ", p->sport, p->dport);
	if (p->proto == P_ICMP) {
		icmp_format(p->icmp_type, p->icmp_code, buf, size);
		return;
	}
	flags_format(p->flags, buf, size);
	add(buf, size, " %u:%u(%u) ", p->seq, p->seq + p->len, p->len);
	if (p->flags & USTACK_TCP_ACK)
		add(buf, size, "ack %u ", p->ack);
	if (p->win >= 0)
		add(buf, size, "win %d ", p->win);
	if (p->opt_nocheck) {
		add(buf, size, "<...>");
	} else if (p->optlen) {
		char o[256];
		opt_format(p->opt, p->optlen, o, sizeof(o));
		add(buf, size, "<%s>", o);
	}
	size_t n = strlen(buf);
	if (n && buf[n - 1] == ' ')
		buf[n - 1] = '\0';
}

void live_format(const struct live *p, uint32_t seq, uint32_t ack, char *buf, size_t size)
{
	buf[0] = '\0';
	if (!p->ok) {
		add(buf, size, "(%zu bytes this runner cannot decode)", p->len);
		return;
	}
	if (p->proto == US_IP_PROTO_UDP) {
		add(buf, size, "udp (%u)", p->plen);
		return;
	}
	if (p->proto == US_IP_PROTO_ICMP) {
		icmp_format(p->icmp_type, p->icmp_code, buf, size);
		return;
	}
	flags_format(p->flags, buf, size);
	add(buf, size, " %u:%u(%u) ", seq, seq + p->plen, p->plen);
	if (p->flags & USTACK_TCP_ACK)
		add(buf, size, "ack %u ", ack);
	add(buf, size, "win %u", p->win);
	if (p->optlen) {
		char o[256];
		opt_format(p->opt, p->optlen, o, sizeof(o));
		add(buf, size, " <%s>", o);
	}
}
