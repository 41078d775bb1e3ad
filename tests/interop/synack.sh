#!/bin/sh
# SYN-ACKs of ustack and Linux compared field by field, over a table of
# SYNs (options present or not, MSS, MTU) and settings (tcp_rmem,
# tcp_timestamps, tcp_sack, tcp_window_scaling): synack.c, built by
# `make tests`, run in a network namespace of its own so that the sysctls
# it sets touch nothing else. Its last line is the totals.
. "$(dirname "$0")/lib.sh"
setup synack
PROG=$BIN/../tests/interop/synack
if [ ! -x "$PROG" ]; then
	bad "synack: $PROG is missing (make tests builds it)"
	finish
	exit 1
fi
inns "$PROG"
