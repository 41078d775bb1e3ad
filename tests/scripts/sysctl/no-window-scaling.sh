#!/bin/sh
# Called by window-scaling-off.pkt, as packetdrill scripts call
# ../common/defaults.sh: settings for the stack, and lines that only
# concern the host (which ustack-drill ignores).
ip tcp_metrics flush all > /dev/null 2>&1

# RFC 7323 window scaling off.
sysctl -q net.ipv4.tcp_window_scaling=0
