#!/bin/sh
# The article's TIME_WAIT story across a real link: ustack-echo's server
# closes first, so its side of the connection waits in TIME_WAIT; a second
# round binds port 9999 again in the same stack while that record holds it.
# Without SO_REUSEADDR the bind fails with a clear message; with it (set on
# both sockets, as Linux requires) the second round serves a new client.
. "$(dirname "$0")/lib.sh"
setup timewait

client() {
	ARTICLE_HOST=$UADDR timeout 10 ip netns exec "$NS" python3 "$HERE/article/socket_client_test.py" 2>&1
}

test_without_reuseaddr() {
	start "$TMP/srv" "$BIN/ustack-echo" server --rounds 2 || return 1
	out=$(client)
	inns ss -tan >"$TMP/ss"
	wait_for "$LAST_PID" 15
	rc=$?
	sed 's/^/  ustack server: /' "$TMP/srv"
	sed 's/^/  kernel ss -tan: /' "$TMP/ss"
	[ "$out" = "Received b'Hello, world'" ] && [ "$rc" -ne 0 ] &&
		grep -q "bind to port 9999: Address already in use (the last connection is in TIME_WAIT" "$TMP/srv"
}
check "second bind without SO_REUSEADDR fails while TIME_WAIT holds the port" test_without_reuseaddr

test_with_reuseaddr() {
	start "$TMP/srv" "$BIN/ustack-echo" server --rounds 2 --reuseaddr --stats || return 1
	out1=$(client)
	sleep 0.2
	out2=$(client)
	wait_for "$LAST_PID" 15
	rc=$?
	sed 's/^/  ustack server: /' "$TMP/srv"
	[ "$out1" = "Received b'Hello, world'" ] && [ "$out2" = "Received b'Hello, world'" ] && [ "$rc" -eq 0 ] &&
		[ "$(grep -c '^Connected by' "$TMP/srv")" -eq 2 ]
}
check "with SO_REUSEADDR the second round binds and serves" test_with_reuseaddr
finish
