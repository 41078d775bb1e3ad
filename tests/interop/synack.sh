#!/bin/sh
# SYN-ACKs of ustack and Linux compared field by field, over a table of
# SYNs (options present or not, MSS, MTU) and settings (tcp_rmem,
# tcp_timestamps, tcp_sack, tcp_window_scaling): synack.c, built by
# `make tests`. The kernel answers in a namespace of its own, through
# tun0; ustack-echo answers in another, through its ustack0, started once
# per row with the row's --sysctl settings. Its last line is the totals.
. "$(dirname "$0")/lib.sh"
setup synack
KNS="ustk-synack-kernel-$$"
trap 'ip netns del "$KNS" 2>/dev/null; cleanup' EXIT
PROG=$BIN/../tests/interop/synack
if [ ! -x "$PROG" ]; then
	bad "synack: $PROG is missing (make tests builds it)"
	finish
	exit 1
fi
ip netns add "$KNS"
ip -n "$KNS" link set lo up
if ! ip netns exec "$KNS" "$PROG" kernel >"$TMP/kernel"; then
	bad "synack: the kernel's side could not run"
	finish
	exit 1
fi
inns "$PROG" ustack "$BIN" "$TMP/kernel"
