/*
 * The IPv4 layer of a stack: validation and demultiplexing of what arrives,
 * the header of what leaves. Fragment reassembly, ICMP and UDP join here
 * with the TUN work; until then their packets are counted drops.
 */
#ifndef US_IP_IP_H
#define US_IP_IP_H

#include <stddef.h>
#include <stdint.h>

struct ustack;

void us_ip_input(struct ustack *st, const uint8_t *pkt, size_t len);

#endif
