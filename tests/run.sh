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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
