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
		case "$t" in *.o | *.d) continue ;; esac
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
		[ "$f" -eq 0 ] || cat "$log"
		record "$name" "$p" "$f"
		# Measurements a suite reports (e.g. goodput) are worth seeing.
		sed -n 's/^goodput:/     goodput:/p' "$log"
	done
	demo="$dir/bin/ustack-demo"
	if "$demo" >"$log" 2>&1 && grep -q 'EADDRINUSE' "$log" && grep -q 'TIME_WAIT -> CLOSED (2MSL timeout)' "$log"; then
		record "$variant/demo" 1 0
	else
		cat "$log"
		record "$variant/demo" 0 1
	fi
done
# Interoperability with the Linux kernel over TUN, each script in a network
# namespace of its own; run once, with the last build given (the sanitized
# one), so the sanitizers watch the tools on real traffic too.
for dir in "$@"; do last=$dir; done
here=$(dirname "$0")
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
	run_interop transfer
	run_interop transfer:bad-link IMPAIR=1
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
