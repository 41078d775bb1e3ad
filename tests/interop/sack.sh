#!/bin/sh
# Bulk transfers both ways between the kernel's TCP and ustack across a
# lossy link, with SACK on both sides: what arrives must equal what was
# sent, the capture must show SACK blocks sent by each side, and the
# retransmissions per lost segment are printed (the goal is close to 1:
# SACK and RACK resend what was lost and little else).
#
# This kernel has no netem. ustack's segments to the kernel die in an
# nftables rule on the kernel's input, under a named counter. The kernel's
# segments to ustack cannot die the same way: a drop in the kernel's own
# output path is reported back to TCP, which sends the segment again at
# once, not a loss at all; so they die in ustack's fault injector on the
# far side of the TUN device (--loss), which counts what it dropped. Either
# way the number lost is known exactly. MIB sets the size (1024 for the
# issue's 1 GiB run), LOSS the percentage.
. "$(dirname "$0")/lib.sh"
setup "sack"

MIB=${MIB:-24}
LOSS=${LOSS:-1}

inns nft -f - <<NFT
table ip impair {
	counter lost_from_ustack { }
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "ustack0" tcp dport 5001 meta length > 100 numgen random mod 100 < $LOSS counter name lost_from_ustack drop
	}
}
NFT

head -c $((MIB * 1048576)) /dev/urandom >"$TMP/data.bin"
want=$(sha256sum <"$TMP/data.bin" | cut -d' ' -f1)

nft_count() { inns nft list counter ip impair "$1" | awk '/packets/ { print $2 }'; }
# The counters ustack-nc --stats prints at exit, grouped as netstat -s does.
stat_of() { awk -v n="$2" '$1 == n { print $2 }' "$1" | tail -1; }
ratio() { echo "scale=2; $1 / $2" | bc; }

# On "any", so that a capture can start before a client's TUN device exists.
capture() { # file filter
	inns tcpdump -i any -s 128 -U -w "$1" "$2" >/dev/null 2>&1 &
	CAP_PID=$!
	sleep 0.5
}
uncapture() {
	sleep 0.2
	kill "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
}

# sack_blocks FILE SRC: the number of segments from SRC carrying SACK blocks.
sack_blocks() {
	tshark -r "$1" -Y "ip.src == $2 && tcp.options.sack_le" -T fields -e frame.number 2>/dev/null | wc -l
}

test_to_ustack() {
	# The injector also loses some of ustack's ACKs, as a real path would.
	start "$TMP/ncl" sh -c "'$BIN/ustack-nc' --stats --loss $(echo "scale=4; $LOSS / 100" | bc) --seed 11 -l 5000 >'$TMP/recv.bin'" || return 1
	capture "$TMP/in.pcap" "tcp port 5000"
	inns nstat -n >/dev/null 2>&1
	t0=$(date +%s.%N)
	inns timeout 600 nc -N "$UADDR" 5000 <"$TMP/data.bin"
	wait_for "$LAST_PID" 60
	t1=$(date +%s.%N)
	uncapture
	kretrans=$(inns nstat -a TcpRetransSegs 2>/dev/null | awk '/TcpRetransSegs/ { print $2 }')
	lost=$(awk '$1 == "faults_in" { print $3 }' "$TMP/ncl")
	got=$(sha256sum <"$TMP/recv.bin" | cut -d' ' -f1)
	k_sack=$(sack_blocks "$TMP/in.pcap" "$UADDR")
	echo "  kernel -> ustack: $(stat -c %s "$TMP/recv.bin") bytes in $(echo "$t1 - $t0" | bc) s;" \
		"$lost lost, kernel retransmitted ${kretrans:-?} ($(ratio "${kretrans:-0}" "$lost") per loss);" \
		"ustack sent $k_sack segments with SACK blocks"
	[ "$got" = "$want" ] && [ "$lost" -gt 0 ] && [ "$k_sack" -gt 0 ]
}
check "kernel sends ${MIB} MiB to ustack at ${LOSS}% loss: sha256 equal, ustack SACKs" test_to_ustack

test_from_ustack() {
	inns sh -c "timeout 600 nc -l 5001 >'$TMP/recv2.bin'" &
	ncpid=$!
	for _ in $(seq 50); do inns ss -ltn | grep -q ':5001 ' && break; sleep 0.05; done
	capture "$TMP/out.pcap" "tcp port 5001"
	# One segment per frame: with the device's offloads (tun.h) the rule
	# would drop frames of up to 44 segments, not segments.
	start "$TMP/ncc" sh -c "'$BIN/ustack-nc' --stats --no-offload -N --peer $KADDR $KADDR 5001 <'$TMP/data.bin'" || return 1
	wait_for "$LAST_PID" 600
	wait "$ncpid"
	uncapture
	lost=$(nft_count lost_from_ustack)
	retrans=$(stat_of "$TMP/ncc" retrans_segs)
	got=$(sha256sum <"$TMP/recv2.bin" | cut -d' ' -f1)
	k_sack=$(sack_blocks "$TMP/out.pcap" "$KADDR")
	echo "  ustack -> kernel: $(stat -c %s "$TMP/recv2.bin") bytes; $lost lost, ustack retransmitted" \
		"${retrans:-?} ($(ratio "${retrans:-0}" "$lost") per loss); the kernel sent $k_sack segments with SACK blocks"
	[ "$got" = "$want" ] && [ "$lost" -gt 0 ] && [ "$k_sack" -gt 0 ] && [ -n "$retrans" ]
}
check "ustack sends ${MIB} MiB to the kernel at ${LOSS}% loss: sha256 equal, kernel SACKs" test_from_ustack
finish
