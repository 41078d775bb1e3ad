#!/bin/sh
# Drawing the kernel's TCP: tcpdump captures a connection between two of
# the kernel's own sockets on the namespace's loopback (a Python server that
# accepts, reads, echoes and closes first; a client that sends, reads to the
# end and closes), and ustack-diagram draws it from the capture. The drawing
# is held against tshark's reading of the same file (a reader that is not
# ours): one arrow per segment, in order, with its time, direction, flags
# and relative seq, ack and length; and each side's states, inferred per
# RFC 9293, in order and at the segment that moved it.
. "$(dirname "$0")/lib.sh"
setup diagram

PCAP=$TMP/kernel.pcap
PORT=9999

cat >"$TMP/peer.py" <<'EOF'
import socket, sys
ADDR = ("127.0.0.1", 9999)
if sys.argv[1] == "server":
    s = socket.socket()
    s.settimeout(10)
    s.bind(ADDR)
    s.listen(1)
    print("listening", flush=True)
    c, _ = s.accept()
    c.settimeout(10)
    c.sendall(c.recv(100))
    c.close()  # the server closes first
    s.close()
else:
    c = socket.create_connection(ADDR, timeout=10)
    c.sendall(b"Hello, world")
    got = b""
    while True:  # to the server's FIN, so that the client closes second
        b = c.recv(100)
        if not b:
            break
        got += b
    c.close()
    print("Received", got)
EOF

# Waits until file holds the text, at most 5 s.
wait_text() { # file text
	for _ in $(seq 100); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "  no '$2' in $1:"
	sed 's/^/    /' "$1"
	return 1
}

# 1. The capture: tcpdump on lo while the kernel talks to itself.
test_capture() {
	if ! command -v tcpdump >/dev/null 2>&1 || ! command -v tshark >/dev/null 2>&1; then
		echo "  tcpdump or tshark is not installed (tests/deps.sh installs them)"
		return 1
	fi
	# --immediate-mode: each packet as it comes, not a buffer's worth a
	# second, which an interrupted tcpdump would throw away.
	ip netns exec "$NS" tcpdump -i lo --immediate-mode -w "$PCAP" -U "tcp port $PORT" >"$TMP/tcpdump" 2>&1 &
	tcpdump_pid=$!
	wait_text "$TMP/tcpdump" "listening on" || return 1
	ip netns exec "$NS" python3 "$TMP/peer.py" server >"$TMP/server" 2>&1 &
	server_pid=$!
	wait_text "$TMP/server" "listening" || return 1
	out=$(timeout 10 ip netns exec "$NS" python3 "$TMP/peer.py" client 2>&1)
	wait_for "$server_pid" 10
	rc=$?
	sleep 0.5 # the last ACK, sent as the client exits
	kill -INT "$tcpdump_pid"
	wait "$tcpdump_pid"
	sed 's/^/  tcpdump: /' "$TMP/tcpdump"
	[ "$rc" -eq 0 ] || { sed 's/^/  server: /' "$TMP/server"; return 1; }
	[ "$out" = "Received b'Hello, world'" ] || { echo "  client: $out"; return 1; }
	tshark -n -r "$PCAP" -o tcp.relative_sequence_numbers:TRUE -T fields -E separator=/t \
		-e frame.time_epoch -e tcp.srcport -e tcp.dstport -e tcp.flags -e tcp.seq -e tcp.ack \
		-e tcp.len >"$TMP/fields" 2>"$TMP/tshark.err" || { sed 's/^/  tshark: /' "$TMP/tshark.err"; return 1; }
	n=$(tcpdump -n -r "$PCAP" 2>/dev/null | wc -l)
	echo "  $n segments captured:"
	tcpdump -n -r "$PCAP" 2>/dev/null | sed 's/^/    /'
	[ "$n" -ge 9 ] && [ "$(wc -l <"$TMP/fields")" -eq "$n" ]
}
check "tcpdump captures the kernel's handshake, echo and teardown on lo" test_capture

# Holds the diagram against the capture as tshark reads it: mode is
# "arrows", "handshake", "states" or "svg".
diagram_check() { # mode
	python3 - "$1" "$TMP/fields" "$TMP/diagram.txt" "$TMP/diagram.svg" "$PORT" 2>&1 <<'EOF'
import re, sys
import xml.etree.ElementTree as ET

mode, fields, txt, svg, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
NAMES = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]

def ns(s):
    sec, _, frac = s.partition(".")
    return int(sec) * 10**9 + int((frac + "000000000")[:9])

# The capture, as tshark reads it.
segs = []
for line in open(fields):
    t, sport, dport, flags, seq, ack, ln = line.rstrip("\n").split("\t")
    fl = int(flags, 16)
    segs.append({"t": ns(t), "from": 0 if int(dport) == port else 1, "fl": fl,
                 "flags": ",".join(n for i, n in enumerate(NAMES) if fl >> i & 1),
                 "seq": int(seq), "ack": int(ack) if fl & 16 else None, "len": int(ln)})

def fail(why):
    sys.exit("  " + why)

if not segs:
    fail("nothing captured")
t0 = min(s["t"] for s in segs)

# The text diagram: arrows and states, each with the number of arrows drawn
# before its line (a state on an arrow's line comes before that arrow).
lines = open(txt).read().split("\n")
RIGHT = re.compile(r"^ *(\d+\.\d{3})? +(?:([A-Z_0-9]+)(\*?) +)?\|---- (.*?) -+>\|")
LEFT = re.compile(r"\|<--- (.*?) -+\|.*? (\d+\.\d{3})$")
LSTATE = re.compile(r"^ *(?:\d+\.\d{3})? +([A-Z_0-9]+)(\*?) +[|~]")
RSTATE = re.compile(r"[|~] +([A-Z_0-9]+)(\*?)(?: +\d+\.\d{3})?$")
arrows, states = [], []
for no, l in enumerate(lines[2:], 3):
    m, side = RIGHT.search(l), 0
    if not m:
        m, side = LEFT.search(l), 1
    if m:
        if side == 0:
            t, label = m.group(1), m.group(4)
        else:
            t, label = m.group(2), m.group(1)
        arrows.append({"from": side, "t": t, "label": label, "line": no})
    for s, rx in ((0, LSTATE), (1, RSTATE)):
        sm = rx.search(l)
        if sm:
            states.append({"side": s, "name": sm.group(1), "inferred": sm.group(2) == "*",
                           "slot": len(arrows) - (1 if m else 0),
                           "line": no})

def label_of(s):
    out = f"{s['flags']} seq={s['seq']}"
    if s["ack"] is not None:
        out += f" ack={s['ack']}"
    return out

def parse_label(label):
    m = re.match(r"^([A-Z,]+) seq=(\d+)(?: ack=(\d+))?(?: win=\d+)?(?: len=(\d+))?(?: <.*>)?$", label)
    if not m:
        fail(f"an arrow label that does not read: {label!r}")
    return m.group(1), int(m.group(2)), None if m.group(3) is None else int(m.group(3)), int(m.group(4) or 0)

if mode == "arrows":
    head = lines[0].split(), lines[1].split()
    if head[0] != ["client", "server"]:
        fail(f"the sides are {head[0]}, not client and server")
    cport = next(int(l.split("\t")[1]) for l in open(fields))
    if head[1] != [f"127.0.0.1:{cport}", f"127.0.0.1:{port}"]:
        fail(f"the endpoints are {head[1]}, not 127.0.0.1:{cport} and 127.0.0.1:{port}")
    if len(arrows) != len(segs):
        fail(f"{len(arrows)} arrows drawn, {len(segs)} segments captured")
    for i, (a, s) in enumerate(zip(arrows, segs), 1):
        want_t = "%d.%03d" % divmod((s["t"] - t0) // 1000, 1000)
        got = (a["from"], a["t"]) + parse_label(a["label"])
        want = (s["from"], want_t, s["flags"], s["seq"], s["ack"], s["len"])
        if got != want:
            fail(f"arrow {i} (line {a['line']}): drawn (from, ms, flags, seq, ack, len) {got}, captured {want}")
    print(f"  {len(arrows)} arrows, one per captured segment, as tshark reads them")

elif mode == "handshake":
    want = [(0, "SYN seq=0"), (1, "SYN,ACK seq=0 ack=1"), (0, "ACK seq=1 ack=1")]
    got = [(a["from"], re.sub(r" (win|len)=.*", "", a["label"])) for a in arrows[:3]]
    if got != want:
        fail(f"the handshake is drawn as {got}, not {want}")
    print("  " + ", ".join(l for _, l in got))

elif mode == "states":
    # Which segment moves each side, found in the capture: a state a side
    # enters as it sends a segment is drawn with that arrow (slot i); one
    # it enters on receiving segment i, after it (slot i + 1).
    def first(cond, after=-1):
        return next(i for i, s in enumerate(segs) if i > after and cond(s))
    syn = first(lambda s: s["from"] == 0 and s["flags"] == "SYN")
    synack = first(lambda s: s["from"] == 1 and s["fl"] & 0x12 == 0x12)
    ack3 = first(lambda s: s["from"] == 0 and s["fl"] & 0x10, synack)
    sfin = first(lambda s: s["from"] == 1 and s["fl"] & 1)
    sfin_end = segs[sfin]["seq"] + segs[sfin]["len"] + 1
    cfin = first(lambda s: s["from"] == 0 and s["fl"] & 1)
    cfin_end = segs[cfin]["seq"] + segs[cfin]["len"] + 1
    sfin_acked = first(lambda s: s["from"] == 0 and s["ack"] == sfin_end)
    cfin_acked = first(lambda s: s["from"] == 1 and s["ack"] == cfin_end)
    want = [
        (0, "CLOSED", 0), (0, "SYN_SENT", syn), (0, "ESTABLISHED", synack + 1),
        (0, "CLOSE_WAIT", sfin + 1), (0, "LAST_ACK", cfin), (0, "CLOSED", cfin_acked + 1),
        (1, "LISTEN", 0), (1, "SYN_RECEIVED", syn + 1), (1, "ESTABLISHED", ack3 + 1),
        (1, "FIN_WAIT_1", sfin), (1, "FIN_WAIT_2", sfin_acked + 1), (1, "TIME_WAIT", cfin + 1),
    ]
    got = [(s["side"], s["name"], s["slot"]) for side in (0, 1) for s in states if s["side"] == side]
    for side, who in ((0, "client"), (1, "server")):
        g = [(n, k) for sd, n, k in got if sd == side]
        w = [(n, k) for sd, n, k in want if sd == side]
        print(f"  {who}: " + ", ".join(n for n, _ in g))
        if g != w:
            fail(f"{who}'s states (state, arrows before it) are drawn as {g}, not {w}")
    if not all(s["inferred"] for s in states):
        fail("a state not marked inferred (*) in a capture")
    tw = [no for no, l in enumerate(lines, 1) if re.search(r"\| +: TIME_WAIT 2MSL", l)]
    tw_state = next(s["line"] for s in states if s["side"] == 1 and s["name"] == "TIME_WAIT")
    if len(tw) != 1 or tw[0] < tw_state:
        fail(f"the server's TIME_WAIT bracket is at lines {tw}, its TIME_WAIT at line {tw_state}")

elif mode == "svg":
    root = ET.parse(svg).getroot()
    ns_ = "{http://www.w3.org/2000/svg}"
    def text(e):
        return "".join(e.itertext()) if e.find(ns_ + "title") is None else (e.find(ns_ + "title").tail or "")
    garrows = [g for g in root.iter(ns_ + "g") if g.get("class", "").split()[:1] == ["arrow"]]
    if len(garrows) != len(segs):
        fail(f"{len(garrows)} arrows in the SVG, {len(segs)} segments captured")
    for i, (g, a) in enumerate(zip(garrows, arrows), 1):
        ln = g.find(ns_ + "line")
        right = float(ln.get("x2")) > float(ln.get("x1"))
        label = "".join(g.find(ns_ + "text").itertext())
        if g.get("class") != "arrow" or right != (a["from"] == 0) or label != a["label"]:
            fail(f"SVG arrow {i}: {g.get('class')} {'right' if right else 'left'} {label!r}, "
                 f"text diagram: from {a['from']} {a['label']!r}")
    sst = [text(e) for e in root.iter(ns_ + "text") if e.get("class") in ("initial inferred", "state inferred")]
    tst = [s["name"] + "*" for s in sorted(states, key=lambda s: (s["line"], s["side"]))]
    if sorted(sst) != sorted(tst):
        fail(f"the SVG's states {sst}, the text's {tst}")
    if sum(1 for g in root.iter(ns_ + "g") if g.get("class") == "twait-box") != 1:
        fail("no TIME_WAIT bracket in the SVG")
    print(f"  {len(garrows)} arrows and {len(sst)} states, as in the text")
EOF
}

# 2. The text diagram, printed here for whoever reads the log.
test_text() {
	"$BIN/ustack-diagram" --text "$PCAP" >"$TMP/diagram.txt" 2>"$TMP/diagram.err" ||
		{ sed 's/^/  ustack-diagram: /' "$TMP/diagram.err"; return 1; }
	sed 's/^/  | /' "$TMP/diagram.txt"
	diagram_check arrows
}
check "ustack-diagram --text: one arrow per captured segment, as tshark reads it" test_text
check "the handshake: SYN seq=0, SYN,ACK seq=0 ack=1, ACK seq=1 ack=1" diagram_check handshake
check "each side's inferred states, in order, at the segment that moves it" diagram_check states

# 3. The same diagram as SVG: well-formed, with the same arrows and states.
test_svg() {
	"$BIN/ustack-diagram" --svg "$PCAP" >"$TMP/diagram.svg" 2>"$TMP/diagram.err" ||
		{ sed 's/^/  ustack-diagram: /' "$TMP/diagram.err"; return 1; }
	xmllint --noout "$TMP/diagram.svg" || return 1
	diagram_check svg
}
check "ustack-diagram --svg: well-formed, the same arrows and states" test_svg
finish
