#!/bin/sh
# Bulk transfers between the kernel's TCP and ustack: curl fetching a file
# from ustack-http, nc sending to ustack-nc and ustack-nc sending to nc; the
# SHA-256 of what arrives must equal what was sent. With IMPAIR=1 the same
# runs cross a bad link: the kernel drops 2% of what ustack sends it (an
# nftables rule on its input in the namespace, since this kernel has no
# netem; a rule on its output would not do, as the kernel's TCP learns of
# such a drop and simply sends again), and the tools' own fault injector
# loses, duplicates, reorders and corrupts on ustack's side.
. "$(dirname "$0")/lib.sh"
setup "transfer${IMPAIR:-0}"

MIB=${MIB:-100}
HTTP_MIB=${HTTP_MIB:-10}
FAULTS=""
if [ "${IMPAIR:-0}" = 1 ]; then
	MIB=${MIB_BAD:-8}
	HTTP_MIB=${MIB_BAD:-8}
	FAULTS="--loss 0.01 --dup 0.01 --reorder 0.02 --corrupt 0.005 --seed 7"
	inns nft -f - <<NFT
table ip impair {
	chain in {
		type filter hook input priority 0; policy accept;
		iifname "ustack0" numgen random mod 100 < 2 drop
	}
}
NFT
fi

# Over a clean link the device carries virtio-net headers (tun.h): the
# kernel's data must arrive in large frames and ustack's leave joined.
# link_stat FILE NAME: a counter of the link section of --stats.
link_stat() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }
OFFLOAD_STATS=""
[ "${IMPAIR:-0}" = 1 ] || OFFLOAD_STATS="--stats"

head -c $((HTTP_MIB * 1048576)) /dev/urandom >"$TMP/www.bin"
head -c $((MIB * 1048576)) /dev/urandom >"$TMP/data.bin"
want_http=$(sha256sum <"$TMP/www.bin" | cut -d' ' -f1)
want=$(sha256sum <"$TMP/data.bin" | cut -d' ' -f1)

test_curl() {
	mkdir -p "$TMP/www" && mv "$TMP/www.bin" "$TMP/www/file.bin"
	# shellcheck disable=SC2086
	start "$TMP/http" "$BIN/ustack-http" --root "$TMP/www" --port 80 --requests 1 $FAULTS || return 1
	inns curl -sS --max-time 120 -o "$TMP/got.bin" "http://$UADDR/file.bin"
	wait_for "$LAST_PID" 30
	got=$(sha256sum <"$TMP/got.bin" | cut -d' ' -f1)
	echo "  curl: $(stat -c %s "$TMP/got.bin") bytes, sha256 $got"
	[ "$got" = "$want_http" ]
}
check "curl fetches ${HTTP_MIB} MiB from ustack-http, sha256 equal" test_curl

test_nc_to_ustack() {
	# shellcheck disable=SC2086
	start "$TMP/ncl" sh -c "'$BIN/ustack-nc' -l 5000 $FAULTS $OFFLOAD_STATS >'$TMP/recv.bin'" || return 1
	t0=$(date +%s.%N)
	inns timeout 300 nc -N "$UADDR" 5000 <"$TMP/data.bin"
	wait_for "$LAST_PID" 60
	t1=$(date +%s.%N)
	got=$(sha256sum <"$TMP/recv.bin" | cut -d' ' -f1)
	echo "  kernel nc -> ustack-nc: $(stat -c %s "$TMP/recv.bin") bytes in $(echo "$t1 - $t0" | bc) s"
	[ "$got" = "$want" ] || return 1
	if [ -n "$OFFLOAD_STATS" ]; then
		frames=$(link_stat "$TMP/ncl" rx_gso_frames)
		echo "  frames of many segments from the kernel: ${frames:-none}"
		[ "${frames:-0}" -gt 0 ] || return 1
	fi
}
check "nc sends ${MIB} MiB to ustack-nc, sha256 equal" test_nc_to_ustack

test_ustack_to_nc() {
	inns sh -c "timeout 300 nc -l 5001 >'$TMP/recv2.bin'" &
	ncpid=$!
	for _ in $(seq 50); do inns ss -ltn | grep -q ':5001 ' && break; sleep 0.05; done
	# shellcheck disable=SC2086
	start "$TMP/ncc" sh -c "'$BIN/ustack-nc' -N --peer $KADDR $KADDR 5001 $FAULTS $OFFLOAD_STATS <'$TMP/data.bin'" || return 1
	wait_for "$LAST_PID" 300
	wait "$ncpid"
	got=$(sha256sum <"$TMP/recv2.bin" | cut -d' ' -f1)
	echo "  ustack-nc -> kernel nc: $(stat -c %s "$TMP/recv2.bin") bytes"
	sed 's/^/  ustack-nc: /' "$TMP/ncc" | tail -3
	[ "$got" = "$want" ] || return 1
	if [ -n "$OFFLOAD_STATS" ]; then
		frames=$(link_stat "$TMP/ncc" tx_gso_frames)
		segs=$(link_stat "$TMP/ncc" tx_gso_segs)
		echo "  joined frames to the kernel: ${frames:-none}, carrying ${segs:-no} segments"
		[ "${frames:-0}" -gt 0 ] && [ "${segs:-0}" -gt "$frames" ] || return 1
	fi
}
check "ustack-nc sends ${MIB} MiB to nc, sha256 equal" test_ustack_to_nc

test_plain_packets() {
	head -c $((16 * 1048576)) "$TMP/data.bin" >"$TMP/part.bin"
	want_part=$(sha256sum <"$TMP/part.bin" | cut -d' ' -f1)
	start "$TMP/ncp" sh -c "'$BIN/ustack-nc' --no-offload --stats -l 5002 >'$TMP/recv3.bin'" || return 1
	inns timeout 120 nc -N "$UADDR" 5002 <"$TMP/part.bin"
	wait_for "$LAST_PID" 60
	got=$(sha256sum <"$TMP/recv3.bin" | cut -d' ' -f1)
	echo "  kernel nc -> ustack-nc --no-offload: $(stat -c %s "$TMP/recv3.bin") bytes," \
		"$(link_stat "$TMP/ncp" rx_packets) packets read"
	[ "$got" = "$want_part" ] && [ -z "$(link_stat "$TMP/ncp" rx_gso_frames)" ]
}
[ "${IMPAIR:-0}" = 1 ] || check "nc sends 16 MiB to ustack-nc --no-offload, one packet per read" test_plain_packets
finish
