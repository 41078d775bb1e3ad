#!/bin/sh
# Runs every test suite of each build folder given (release, then asan) and
# ends with one line: "N passed, N failed". Exits non-zero on any failure.
#
# A suite is a Criterion binary; its own summary line gives the counts. A
# suite that dies without one counts as one failure. The demo runs as a
# smoke test in every build, so ASan and UBSan watch it too.
set -u
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

record() { # name passed failed
	passed=$((passed + $2))
	failed=$((failed + $3))
	if [ "$3" -eq 0 ]; then status=ok; else status=FAIL; fi
	printf '%-4s %-48s %4d passed, %d failed\n' "$status" "$1" "$2" "$3"
}

for dir in "$@"; do
	variant=$(basename "$dir")
	for t in "$dir"/tests/*/*; do
		[ -x "$t" ] && [ -f "$t" ] || continue
		# Programs under interop/ are not Criterion suites: their
		# scripts run them inside a namespace of their own, below.
		case "$t" in *.o | *.d | */tests/interop/*) continue ;; esac
		name="$variant/${t#"$dir"/tests/}"
		"$t" --jobs 2 >"$log" 2>&1
		rc=$?
		line=$(grep -a 'Synthesis: Tested:' "$log" | tail -n 1)
		if [ -z "$line" ]; then
			cat "$log"
			record "$name" 0 1
			continue
		fi
		p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
		f=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
		c=$(echo "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
		f=$((f + c))
		if [ "$f" -eq 0 ] && [ "$rc" -ne 0 ]; then f=1; fi
		# Criterion counts a test whose worker leaked, or failed in its
		# teardown, as passed; the sanitizers' reports say otherwise.
		if grep -q -a -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$log"; then
			f=$((f + 1))
		fi
		[ "$f" -eq 0 ] || cat "$log"
		record "$name" "$p" "$f"
		# Measurements a suite reports (e.g. goodput) are worth seeing.
		sed -n 's/^goodput:/     goodput:/p' "$log"
	done
	demo="$dir/bin/ustack-demo"
	out=$(mktemp -d)
	if "$demo" --out "$out" >"$log" 2>&1 && grep -q 'EADDRINUSE' "$log" &&
		grep -q 'TIME_WAIT -> CLOSED (2MSL timeout)' "$log" && [ -s "$out/demo.pcap" ] &&
		[ -s "$out/trace.jsonl" ] && [ -s "$out/handshake.svg" ] && [ -s "$out/handshake.txt" ]; then
		record "$variant/demo" 1 0
	else
		cat "$log"
		ls -l "$out"
		record "$variant/demo" 0 1
	fi
	rm -rf "$out"
done
# Scripted conformance tests: packetdrill scripts (tests/scripts/<group>/)
# run by ustack-drill in every build, its "N passed, N failed, N skipped"
# line added to the totals (scripts in known-failures/ show where ustack
# and Linux part, and stay out). Each script in tests/scripts-fail/ must
# fail, naming the line marked "MUST FAIL HERE"; each in tests/scripts-skip/
# must be skipped for the reason its "MUST SKIP: " line gives.
sdir=$(dirname "$0")
for dir in "$@"; do
	variant=$(basename "$dir")
	scripts=$(ls "$sdir"/scripts/*/*.pkt | grep -v '/known-failures/')
	# shellcheck disable=SC2086 # one path per word
	"$dir/bin/ustack-drill" $scripts >"$log" 2>&1
	line=$(tail -n 1 "$log")
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\2/p')
	k=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\3/p')
	if [ -z "$p" ]; then
		p=0
		f=1
	fi
	[ "$f" -eq 0 ] || grep -v '^ok ' "$log"
	record "$variant/scripts" "$p" "$f"
	[ "${k:-0}" -eq 0 ] || grep '^skip ' "$log" | sed 's/^/     /'
	for s in "$sdir"/scripts-fail/*.pkt; do
		[ -f "$s" ] || continue
		want=$(grep -n 'MUST FAIL HERE' "$s" | head -n 1 | cut -d: -f1)
		if ! "$dir/bin/ustack-drill" "$s" >"$log" 2>&1 && [ -n "$want" ] && grep -q "^$s:$want: " "$log"; then
			record "$variant/scripts-fail/$(basename "$s")" 1 0
		else
			cat "$log"
			record "$variant/scripts-fail/$(basename "$s")" 0 1
		fi
	done
	for s in "$sdir"/scripts-skip/*.pkt; do
		[ -f "$s" ] || continue
		want=$(sed -n 's|^// MUST SKIP: ||p' "$s" | head -n 1)
		"$dir/bin/ustack-drill" "$s" >"$log" 2>&1
		if [ -n "$want" ] && grep "^skip $s: skipped: " "$log" | grep -qF "$want"; then
			record "$variant/scripts-skip/$(basename "$s")" 1 0
		else
			cat "$log"
			record "$variant/scripts-skip/$(basename "$s")" 0 1
		fi
	done
done
# Fuzz targets (libFuzzer, built by check-build; every tests/fuzz/fuzz_*.c):
# every seed and every saved crash input replayed, then a few seconds of
# fuzzing each (USTACK_FUZZ_SECONDS, 3 by default: with ten targets that
# keeps the whole under half a minute), so a regression in a parser or in
# the input path shows here and not only under make fuzz.
here=$(dirname "$0")
fuzz_dir=$(dirname "$1")/fuzz
for f in "$fuzz_dir"/fuzz_*; do
	[ -x "$f" ] || continue
	n=$(basename "$f")
	scratch=$(mktemp -d)
	# shellcheck disable=SC2046 # the seed folders that exist, one per word
	if "$f" -max_total_time="${USTACK_FUZZ_SECONDS:-3}" -artifact_prefix="$scratch/" "$scratch" \
		$(ls -d "$here/fuzz/corpus/$n" "$here/fuzz/regress/$n" 2>/dev/null) >"$log" 2>&1; then
		record "fuzz/$n" 1 0
	else
		tail -n 40 "$log"
		record "fuzz/$n" 0 1
	fi
	rm -rf "$scratch"
done

# Interoperability with the Linux kernel over TUN, each script in a network
# namespace of its own; run once, with the last build given (the sanitized
# one), so the sanitizers watch the tools on real traffic too.
for dir in "$@"; do last=$dir; done
run_interop() { # name env...
	name=$1
	shift
	env "$@" USTACK_BIN="$last/bin" sh "$here/interop/${name%%:*}.sh" >"$log" 2>&1
	line=$(tail -n 1 "$log")
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	if [ -z "$p" ]; then
		p=0
		f=1
	fi
	[ "$f" -eq 0 ] || cat "$log"
	record "interop/$name" "$p" "$f"
}
if [ -d "$here/interop" ] && [ "${USTACK_NO_INTEROP:-0}" != 1 ]; then
	run_interop article
	run_interop timewait
	run_interop synack
	run_interop icmp
	run_interop capture
	run_interop diagram
	run_interop transfer
	run_interop transfer:bad-link IMPAIR=1
	run_interop sack
	# Floods of crafted packets (scapy) with a transfer alongside: one
	# line per attack class (docs/SECURITY.md).
	run_interop hostile/battery
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
