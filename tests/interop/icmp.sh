#!/bin/sh
# ICMP and UDP against the kernel: ping is answered; a UDP datagram to a
# closed port draws a port unreachable, which the kernel's connected UDP
# socket reports as ECONNREFUSED; a SYN to a closed port draws a RST, which
# the kernel's connect() reports as ECONNREFUSED; and datagrams cross both
# ways with their boundaries (ustack-nc -u).
. "$(dirname "$0")/lib.sh"
setup icmp

py() { timeout 10 ip netns exec "$NS" python3 -c "$1" 2>&1; }

test_ping() {
	start "$TMP/srv" "$BIN/ustack-echo" server --stats || return 1
	out=$(inns ping -c 3 -i 0.2 -W 2 "$UADDR" 2>&1)
	echo "$out" | sed 's/^/  ping: /' | tail -2
	kill "$LAST_PID" 2>/dev/null
	wait "$LAST_PID" 2>/dev/null
	echo "$out" | grep -q "3 packets transmitted, 3 received"
}
check "ping is answered" test_ping

test_refused() {
	start "$TMP/srv" "$BIN/ustack-echo" server || return 1
	udp=$(py "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(('$UADDR', 9))
s.send(b'anyone?')
time.sleep(0.3)
try:
    s.recv(100)
    print('no error')
except ConnectionRefusedError as e:
    print('udp', e.errno, e.strerror)
")
	tcp=$(py "
import socket
try:
    socket.create_connection(('$UADDR', 9), timeout=3)
    print('connected')
except ConnectionRefusedError as e:
    print('tcp', e.errno, e.strerror)
")
	kill "$LAST_PID" 2>/dev/null
	wait "$LAST_PID" 2>/dev/null
	echo "  kernel UDP socket: $udp"
	echo "  kernel TCP connect: $tcp"
	[ "$udp" = "udp 111 Connection refused" ] && [ "$tcp" = "tcp 111 Connection refused" ]
}
check "closed UDP port: ICMP unreachable, ECONNREFUSED; closed TCP port: RST, ECONNREFUSED" test_refused

test_udp_nc() {
	start "$TMP/unc" sh -c "printf 'pong' | '$BIN/ustack-nc' -u -l -w 1 7000" || return 1
	out=$(py "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b'first datagram', ('$UADDR', 7000))
s.sendto(b'second', ('$UADDR', 7000))
data, addr = s.recvfrom(100)
print(repr(data), addr[0])
")
	wait_for "$LAST_PID" 10
	echo "  kernel received: $out"
	echo "  ustack-nc wrote: $(cat "$TMP/unc")"
	[ "$out" = "b'pong' $UADDR" ] && [ "$(cat "$TMP/unc")" = "first datagramsecond" ]
}
check "UDP datagrams both ways through ustack-nc -u" test_udp_nc
finish
