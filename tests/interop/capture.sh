#!/bin/sh
# Watching ustack on a real link: ustack-echo's --pcap and --trace-json
# against the kernel's client, read back by tshark and by Python's json
# module (a reader that is not ours), and the connection table SIGUSR1 and
# --stats print.
. "$(dirname "$0")/lib.sh"
setup capture

client() {
	ARTICLE_HOST=$UADDR timeout 10 ip netns exec "$NS" python3 "$HERE/article/socket_client_test.py" 2>&1
}

# Holds the capture against the trace: every TCP packet in the capture is
# one seg_in or seg_out event, in order, with the same addresses, flags,
# seq, ack and length; tshark finds nothing malformed. The capture's stamp
# is read as the packet crosses (tun.h), the event's is the stack's clock,
# the loop's reading before: the stamp is never earlier than its event, by
# less than a pass of the loop, and stamps never go back.
agree() { # pcap jsonl
	if ! command -v tshark >/dev/null 2>&1; then
		echo "  tshark is not installed (tests/deps.sh installs it)"
		return 1
	fi
	tshark -n -r "$1" -Y tcp -T fields -E separator=/t -e frame.time_epoch -e ip.src -e tcp.srcport \
		-e ip.dst -e tcp.dstport -e tcp.flags -e tcp.seq_raw -e tcp.ack_raw -e tcp.len \
		>"$TMP/fields" 2>"$TMP/tshark.err" || { sed 's/^/  tshark: /' "$TMP/tshark.err"; return 1; }
	bad=$(tshark -n -r "$1" -Y _ws.malformed 2>/dev/null)
	if [ -n "$bad" ]; then
		echo "  malformed: $bad"
		return 1
	fi
	python3 - "$TMP/fields" "$2" <<'EOF'
import decimal, json, sys
names = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64, "CWR": 128}
def ns(s):
    sec, _, frac = s.partition(".")
    return int(sec) * 10**9 + int((frac + "000000000")[:9])
pkts = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
evs = []
for n, line in enumerate(open(sys.argv[2]), 1):
    # Every line must be JSON to a reader that is not ours; times read
    # exactly, as decimals, not as binary floats.
    e = json.loads(line, parse_float=decimal.Decimal)
    if e["type"] in ("seg_in", "seg_out"):
        evs.append(e)
if len(pkts) != len(evs) or not pkts:
    sys.exit(f"  {len(pkts)} TCP packets captured, {len(evs)} segments traced")
last = 0
for i, (p, e) in enumerate(zip(pkts, evs), 1):
    t, src, sport, dst, dport, flags, seq, ack, ln = p
    fl = 0 if e["flags"] == "." else sum(names[f] for f in e["flags"].split(","))
    got = (f"{src}:{sport}", f"{dst}:{dport}", int(flags, 16), int(seq), int(ln))
    want = (e["src"], e["dst"], fl, e["seq"], e["len"])
    if got != want or (fl & 16 and int(ack) != e["ack"]):
        sys.exit(f"  packet {i}: captured {got} ack {ack}, traced {want} ack {e['ack']}")
    stamp, at = ns(t), int(e["t"] * 10**9)
    if not at <= stamp < at + 10**9 or stamp < last:
        sys.exit(f"  packet {i}: stamped {stamp}, traced at {at}, the stamp before {last}")
    last = stamp
print(f"  {len(pkts)} packets agree with the trace")
EOF
}

# 1. --pcap and --trace-json, then SIGUSR1 while listening and in TIME_WAIT;
# the tool is killed at the end, and its files are whole up to then.
test_capture_and_sigusr1() {
	start "$TMP/srv" "$BIN/ustack-echo" server --hold --pcap "$TMP/a.pcap" --trace-json "$TMP/a.jsonl" ||
		return 1
	kill -USR1 "$LAST_PID"
	sleep 0.3
	out=$(client)
	sleep 0.3
	kill -USR1 "$LAST_PID"
	sleep 0.3
	kill "$LAST_PID"
	wait "$LAST_PID" 2>/dev/null
	sed 's/^/  ustack server: /' "$TMP/srv"
	[ "$out" = "Received b'Hello, world'" ] || return 1
	grep -q "^LISTEN  *0  *1  *0.0.0.0:9999  *\*:\*" "$TMP/srv" || { echo "  no LISTEN row"; return 1; }
	grep -q "^TIME_WAIT .*$UADDR:9999  *$KADDR:[0-9]* *timer:(timewait,[0-9.]*s)" "$TMP/srv" ||
		{ echo "  no TIME_WAIT row"; return 1; }
	grep -q "^    passive_opens  *1$" "$TMP/srv" || { echo "  no tcp counters"; return 1; }
	agree "$TMP/a.pcap" "$TMP/a.jsonl"
}
check "--pcap, --trace-json and SIGUSR1 on ustack-echo server" test_capture_and_sigusr1

# 2. --stats at exit: the table and the counters by group; a microsecond
# capture with --pcap-usec.
test_stats_at_exit() {
	start "$TMP/srv" "$BIN/ustack-echo" server --stats --pcap "$TMP/b.pcap" --pcap-usec \
		--trace-json "$TMP/b.jsonl" || return 1
	out=$(client)
	wait_for "$LAST_PID" 15 || return 1
	sed 's/^/  ustack server: /' "$TMP/srv"
	[ "$out" = "Received b'Hello, world'" ] || return 1
	grep -q "^State  *Recv-Q Send-Q Local Address:Port" "$TMP/srv" && grep -q "^tcp:$" "$TMP/srv" &&
		grep -q "^ip:$" "$TMP/srv" || { echo "  no table or counters"; return 1; }
	magic=$(od -An -tx4 -N4 "$TMP/b.pcap" | tr -d ' ')
	[ "$magic" = a1b2c3d4 ] || { echo "  not a microsecond pcap: $magic"; return 1; }
	first=$(tshark -n -r "$TMP/b.pcap" -T fields -e frame.time_epoch 2>/dev/null | head -1)
	echo "$first" | grep -q '\.[0-9]\{6\}000$' || { echo "  not in microseconds: $first"; return 1; }
	# Compared at the microsecond the capture keeps.
	[ "$(tshark -n -r "$TMP/b.pcap" -Y tcp 2>/dev/null | wc -l)" -eq \
		"$(grep -c '"type":"seg_\(in\|out\)"' "$TMP/b.jsonl")" ]
}
check "--stats prints the table and the counters; --pcap-usec" test_stats_at_exit

# 3. A file that cannot be written is refused before anything starts.
test_bad_path() {
	inns "$BIN/ustack-echo" server --pcap /nonexistent/x.pcap >"$TMP/bad" 2>&1
	rc=$?
	sed 's/^/  ustack-echo: /' "$TMP/bad"
	[ "$rc" -ne 0 ] && grep -q "^--pcap /nonexistent/x.pcap: No such file or directory$" "$TMP/bad"
}
check "--pcap to a missing folder fails with a message" test_bad_path

# 4. A bulk transfer out of ustack: one pass of the loop writes many
# segments, each stamped as it is written, so no two of ustack's packets
# share a stamp (stamped with the loop's one reading, whole bursts did).
test_burst_stamps() {
	head -c 1048576 /dev/urandom >"$TMP/burst.bin"
	inns sh -c "timeout 30 nc -l 5002 >'$TMP/burst.got'" &
	ncpid=$!
	for _ in $(seq 50); do inns ss -ltn | grep -q ':5002 ' && break; sleep 0.05; done
	start "$TMP/ncc" sh -c "'$BIN/ustack-nc' -N --peer $KADDR --pcap '$TMP/c.pcap' \
		--trace-json '$TMP/c.jsonl' $KADDR 5002 <'$TMP/burst.bin'" || return 1
	wait_for "$LAST_PID" 30
	wait "$ncpid"
	cmp -s "$TMP/burst.bin" "$TMP/burst.got" || { echo "  the bytes differ"; return 1; }
	agree "$TMP/c.pcap" "$TMP/c.jsonl" || return 1
	tshark -n -r "$TMP/c.pcap" -Y "ip.src == $UADDR" -T fields -e frame.time_epoch 2>/dev/null |
		awk 'NR > 1 && $1 == prev { same++ } { prev = $1; n++ }
			END { printf "  %d packets out, %d stamped as the one before\n", n, same; exit !(n > 100 && !same) }'
}
check "a burst's packets each get their own stamp in --pcap" test_burst_stamps
finish
