#!/bin/sh
# Called by in-called-script.pkt.
tc qdisc add dev tun0 root pfifo
echo 1 > /proc/sys/net/ipv4/tcp_ecn
