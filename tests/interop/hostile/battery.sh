#!/bin/sh
# The hostile-peer battery (docs/SECURITY.md): ustack-http on a TUN device
# in a network namespace of its own, a transfer from it running alongside,
# and floods of crafted packets written onto the device with scapy
# (battery.py says what each case sends and checks). Each case is a test
# line of its own; then ustack-http must exit cleanly, without a sanitizer
# report. HOSTILE_N sets the packets per flood (default 2000); HOSTILE_ONLY
# runs only the cases whose name contains it.
. "$(dirname "$0")/../lib.sh"

# Debian's python3-scapy lives in the system Python, which may not be the
# python3 first on PATH.
PY=""
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import scapy' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	bad "scapy is not installed (apt-get install python3-scapy; tests/deps.sh does)"
	finish
	exit 1
fi

setup hostile
# Nothing but what the battery sends should reach ustack: no IPv6 router
# solicitations (they would count as drop.ip.version).
for c in all default; do
	inns sh -c "echo 1 >/proc/sys/net/ipv6/conf/$c/disable_ipv6" 2>/dev/null
done

mkdir "$TMP/www"
head -c $((${HOSTILE_MIB:-12} * 1048576)) /dev/urandom >"$TMP/www/file.bin"

if start "$TMP/http" "$BIN/ustack-http" --root "$TMP/www" --port 80 --stats-file "$TMP/stats"; then
	pid=$LAST_PID
	# A flood must reach ustack whole for its counts to be exact: room
	# for it in the device's queue (the battery checks none was dropped).
	inns ip link set ustack0 txqueuelen 20000
	inns timeout 100 "$PY" "$HERE/battery.py" --pid "$pid" --stats "$TMP/stats" \
		--file "$TMP/www/file.bin" ${HOSTILE_ONLY:+--only "$HOSTILE_ONLY"} >"$TMP/battery" 2>&1
	rc=$?
	cat "$TMP/battery"
	n_ok=$(grep -c '^ok ' "$TMP/battery")
	n_bad=$(grep -c '^FAIL ' "$TMP/battery")
	PASS=$((PASS + n_ok))
	FAIL=$((FAIL + n_bad))
	if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then
		bad "battery.py ended with status $rc"
	fi
	test_fresh() {
		inns curl -sS --max-time 30 -o "$TMP/got.bin" "http://$UADDR/file.bin" || return 1
		[ "$(sha256sum <"$TMP/got.bin")" = "$(sha256sum <"$TMP/www/file.bin")" ]
	}
	check "after the battery, a new connection fetches the file whole" test_fresh
	test_exit() {
		kill -0 "$pid" 2>/dev/null || { echo "  ustack-http is gone"; return 1; }
		kill "$pid"
		wait_for "$pid" 10
		rc=$?
		if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$TMP/http"; then
			sed 's/^/  ustack-http: /' "$TMP/http" | head -40
			return 1
		fi
		# Killed by SIGTERM, as asked: no crash, no sanitizer exit code.
		[ "$rc" -eq 143 ] || [ "$rc" -eq 0 ] || { echo "  exit status $rc"; return 1; }
	}
	check "ustack-http survives the battery and exits cleanly (no sanitizer report)" test_exit
else
	bad "ustack-http did not start"
fi
finish
