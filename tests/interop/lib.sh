# Shared by the interoperability tests: each runs ustack on a TUN device in
# a network namespace of its own, which it creates and deletes, with the
# kernel's side at 198.18.0.1 and ustack at 198.18.0.2. Nothing leaves it.
#
# Usage: . lib.sh; setup NAME; check "what" cmd...; ...; finish
set -u
BIN=${USTACK_BIN:?set USTACK_BIN to the folder with ustack-echo and friends}
HERE=$(cd "$(dirname "$0")" && pwd)
KADDR=198.18.0.1
UADDR=198.18.0.2
PASS=0
FAIL=0
TMP=$(mktemp -d)
NS=""

if [ "$(id -u)" -ne 0 ]; then
	echo "FAIL $0: the interoperability tests need root (network namespaces and TUN devices)"
	echo "0 passed, 1 failed"
	exit 1
fi

cleanup() {
	[ -n "$NS" ] && ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null
	[ -n "$NS" ] && ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

setup() {
	NS="ustk-$1-$$"
	ip netns add "$NS"
	ip -n "$NS" link set lo up
}

# Runs a command inside the namespace.
inns() { ip netns exec "$NS" "$@"; }

# Starts a ustack tool in the background; waits until its TUN device is up.
# LAST_PID is the tool's own process (ip netns exec execs it; a shell
# function run with & would leave a subshell's pid), so it can be signalled.
start() { # log cmd...
	log=$1
	shift
	ip netns exec "$NS" "$@" >"$log" 2>&1 &
	LAST_PID=$!
	for _ in $(seq 100); do
		if inns ip -4 addr show dev ustack0 2>/dev/null | grep -q "$KADDR"; then
			sleep 0.1
			return 0
		fi
		# A tool that already finished (a quick client) had its link
		# up and down in between: what it did is in its log.
		kill -0 "$LAST_PID" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "  the tool did not bring its TUN device up; its output:"
	sed 's/^/    /' "$log"
	return 1
}

# Waits for a background tool to end, at most $2 seconds.
wait_for() { # pid seconds
	for _ in $(seq $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }
		sleep 0.05
	done
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	echo "  timed out after $2 s"
	return 124
}

ok() {
	PASS=$((PASS + 1))
	echo "ok   $*"
}

bad() {
	FAIL=$((FAIL + 1))
	echo "FAIL $*"
}

# check "description" command...: passes if the command succeeds.
check() {
	what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}
