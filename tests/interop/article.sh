#!/bin/sh
# The article's Python server and client, run by the kernel's Python,
# against ustack-echo in the other role, both ways; and the kernel's view of
# the connections with ss -tan.
. "$(dirname "$0")/lib.sh"
setup article

# 1. ustack-echo is the server; the article's client is the kernel.
test_ustack_server() {
	start "$TMP/srv" "$BIN/ustack-echo" server --port 9999 --stats --trace || return 1
	out=$(ARTICLE_HOST=$UADDR timeout 10 ip netns exec "$NS" python3 "$HERE/article/socket_client_test.py" 2>&1)
	wait_for "$LAST_PID" 15
	rc=$?
	echo "  kernel client: $out"
	sed 's/^/  ustack server: /' "$TMP/srv"
	[ $rc -eq 0 ] && [ "$out" = "Received b'Hello, world'" ] && grep -q "^Connected by ('$KADDR', [0-9]*)$" "$TMP/srv" &&
		grep -q "^data: b'Hello, world'$" "$TMP/srv"
}
check "article client (kernel) against ustack-echo server" test_ustack_server

# 2. The article's server is the kernel; ustack-echo is the client. The
# article's server closes as soon as data arrives, without echoing, so the
# client reads the end of the stream; the kernel's side is left in
# TIME_WAIT, which ss shows.
test_kernel_server() {
	# The server listens on all addresses, so it can be up before the TUN
	# link exists; the client starts once it is listening.
	ARTICLE_HOST=0.0.0.0 timeout 20 ip netns exec "$NS" python3 "$HERE/article/socket_server_test.py" >"$TMP/ksrv" 2>&1 &
	ksrv=$!
	for _ in $(seq 200); do inns ss -ltn | grep -q ':9999 ' && break; sleep 0.05; done
	start "$TMP/cli" "$BIN/ustack-echo" client "$KADDR" 9999 || return 1
	wait_for "$LAST_PID" 15 || return 1
	wait "$ksrv"
	sed 's/^/  kernel server: /' "$TMP/ksrv"
	sed 's/^/  ustack client: /' "$TMP/cli"
	inns ss -tan >"$TMP/ss"
	sed 's/^/  ss -tan: /' "$TMP/ss"
	grep -q "^Connected by ('$UADDR', [0-9]*)$" "$TMP/ksrv" && grep -q "^Received b''$" "$TMP/cli" &&
		grep -q "TIME-WAIT.*$KADDR:9999" "$TMP/ss"
}
check "article server (kernel) against ustack-echo client; kernel in TIME_WAIT" test_kernel_server
finish
