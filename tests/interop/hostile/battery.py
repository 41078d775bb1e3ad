#!/usr/bin/env python3
"""The hostile-peer battery: crafted packets against a running ustack.

battery.sh starts ustack-http on a TUN device in a network namespace of its
own; this program, run inside that namespace, writes packets made with scapy
straight onto the device (an AF_PACKET socket: the kernel's own stack never
looks at them, so nothing is "fixed" on the way), and reads what ustack
sends back from the same device.

Every case is a flood of one kind of bad packet (HOSTILE_N of them, 2000 by
default). After it, a barrier (an echo request sent behind the flood, whose
reply proves that ustack has taken everything before it: the device is a
FIFO) and ustack's counters, read through --stats-file and SIGUSR1. A case
passes when

  - the ustack process is alive,
  - each counter it names rose by exactly the amount given (or passes the
    check given, where a rate limit makes the split timing-dependent), no
    drop counter it does not name moved at all, and no connection was
    reset or timed out,
  - the transfer running alongside (the kernel's TCP fetching a file from
    the same ustack-http, slowly, so that it spans the whole battery) still
    gets new data from ustack.

At the end the transfer runs to completion at full speed and its SHA-256
must equal the file's. Output: one "ok   name" or "FAIL name: why" line per case.

The spoofed peers (198.18.0.64 and up) are not the kernel's addresses: the
kernel, which does not forward, drops what ustack answers them, and the
answers are read off the device. Nothing leaves the namespace.
"""
import argparse
import hashlib
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
from scapy.layers.inet import ICMP, IP, TCP, UDP  # noqa: E402
from scapy.packet import Raw  # noqa: E402

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
SOL_PACKET = 263  # linux/socket.h
PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h, since 4.20
BARRIER_ID = 0xB0B0
MSS_OPT = [("MSS", 1460)]
KADDR = "198.18.0.1"

p = argparse.ArgumentParser()
p.add_argument("--pid", type=int, required=True, help="the ustack tool's process")
p.add_argument("--stats", required=True, help="its --stats-file")
p.add_argument("--file", required=True, help="what the transfer fetches (under --root)")
p.add_argument("--dev", default="ustack0")
p.add_argument("--uaddr", default="198.18.0.2")
p.add_argument("--port", type=int, default=80)
p.add_argument("-n", type=int, default=int(os.environ.get("HOSTILE_N", "2000")))
p.add_argument("--rate", type=int, default=128 * 1024, help="transfer bytes/s during the battery")
p.add_argument("--only", default="", help="run only the cases whose name contains this")
args = p.parse_args()

N = args.n
UADDR = args.uaddr
PORT = args.port
rng = random.Random(5961)


def spoof(k):
    """The k-th spoofed peer: 198.18.0.64 + k."""
    return "198.18.0.%d" % (64 + k)


# ---- bytes ----


def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def csum(b):
    if len(b) % 2:
        b += b"\0"
    return ~fold(sum(struct.unpack("!%dH" % (len(b) // 2), b))) & 0xFFFF


def set16(b, off, new, csum_off):
    """Writes a 16-bit field and updates the checksum covering it in place
    (RFC 1624 eqn. 3), so a checksum made wrong on purpose stays as wrong."""
    old = b[off] << 8 | b[off + 1]
    b[off : off + 2] = struct.pack("!H", new)
    hc = b[csum_off] << 8 | b[csum_off + 1]
    s = fold((~hc & 0xFFFF) + (~old & 0xFFFF) + new)
    b[csum_off : csum_off + 2] = struct.pack("!H", ~s & 0xFFFF)


def patched(raw, seq=None, ack=None, urg=None):
    """A TCP packet with other sequence, acknowledgment or urgent pointer
    fields, its checksum updated to match."""
    b = bytearray(raw)
    t = (b[0] & 15) * 4
    for off, v in ((4, seq), (8, ack)):
        if v is not None:
            v &= 0xFFFFFFFF
            set16(b, t + off, v >> 16, t + 16)
            set16(b, t + off + 2, v & 0xFFFF, t + 16)
    if urg is not None:
        set16(b, t + 18, urg, t + 16)
    return bytes(b)


def set_ip_len(raw, n):
    """The packet with its IPv4 total length set to n, header checksum fixed."""
    b = bytearray(raw)
    set16(b, 2, n, 10)
    return bytes(b)


def variants(pkt, n, sport=True):
    """n copies of a scapy packet, each with its own IP identification and,
    for TCP with a sane header, its own source port: a flood of distinct
    packets, made at Python speed from one scapy build."""
    raw = bytes(pkt)
    ihl = (raw[0] & 15) * 4
    tcp = sport and raw[9] == 6 and ihl >= 20 and len(raw) >= ihl + 20
    base_id = rng.randrange(65536)
    base_port = raw[ihl] << 8 | raw[ihl + 1] if tcp else 0
    out = []
    for i in range(n):
        b = bytearray(raw)
        set16(b, 4, (base_id + i) & 0xFFFF, 10)
        if tcp:
            set16(b, ihl, 1024 + (base_port - 1024 + i) % 64000, ihl + 16)
        out.append(bytes(b))
    return out


# ---- the device ----


class Wire:
    """Writes packets onto the device; reads what ustack sends."""

    def __init__(self, dev):
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.tx.bind((dev, ETH_P_IP))
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.rx.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.rx.bind((dev, ETH_P_ALL))
        self.dev = dev
        self.cv = threading.Condition()
        self.echoes = set()  # barrier replies seen
        self.segs = {}  # (spoofed addr, port) -> [(seq, ack, flags)] ustack sent it
        self.watch = None  # the transfer's port on the kernel's side
        self.last = None  # the last (seq, ack, win) ustack sent on it
        self.xfer_data = 0  # how many of its segments carried data
        self.xfer_end = None  # where the latest of those ended
        self.xfer_df = 0  # how many of them had DF set (reset by cases)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        while True:
            d = self.rx.recv(65536)
            if len(d) < 20 or d[0] >> 4 != 4:
                continue
            hl = (d[0] & 15) * 4
            proto, dst = d[9], socket.inet_ntoa(d[16:20])
            if proto == 1 and len(d) >= hl + 8 and d[hl] == 0:
                ident, seq = struct.unpack("!HH", d[hl + 4 : hl + 8])
                if ident == BARRIER_ID:
                    with self.cv:
                        self.echoes.add(seq)
                        self.cv.notify_all()
            elif proto == 6 and len(d) >= hl + 20:
                dport = d[hl + 2] << 8 | d[hl + 3]
                seq, ack = struct.unpack("!II", d[hl + 4 : hl + 12])
                flags, win = d[hl + 13], d[hl + 14] << 8 | d[hl + 15]
                with self.cv:
                    if dst == KADDR and dport == self.watch:
                        self.last = (seq, ack, win)
                        n = len(d) - hl - (d[hl + 12] >> 4) * 4
                        if n > 0:
                            self.xfer_data += 1
                            self.xfer_end = (seq + n) & 0xFFFFFFFF
                            self.xfer_df += 1 if d[6] & 0x40 else 0
                    else:
                        self.segs.setdefault((dst, dport), []).append((seq, ack, flags))
                    self.cv.notify_all()

    def send(self, pkts):
        for raw in pkts:
            while True:
                try:
                    self.tx.send(raw)
                    break
                except OSError:  # ENOBUFS: the queue is full for a moment
                    time.sleep(0.001)

    def wait(self, pred, timeout):
        with self.cv:
            return self.cv.wait_for(pred, timeout)

    def tun_dropped(self):
        with open("/sys/class/net/%s/statistics/tx_dropped" % self.dev) as f:
            return int(f.read())


wire = Wire(args.dev)
barrier_seq = 0


def barrier():
    """Returns once ustack has taken every packet written before: it has
    answered an echo request written after them."""
    global barrier_seq
    for _ in range(3):
        barrier_seq += 1
        seq = barrier_seq
        wire.send([bytes(IP(src=spoof(60), dst=UADDR) / ICMP(id=BARRIER_ID, seq=seq) / Raw(b"barrier"))])
        if wire.wait(lambda: seq in wire.echoes, 5):
            return True
    return False


def stats():
    """Every counter of the running stack."""
    try:
        os.unlink(args.stats)
    except FileNotFoundError:
        pass
    os.kill(args.pid, signal.SIGUSR1)
    for _ in range(500):
        try:
            with open(args.stats) as f:
                return {k: int(v) for k, v in (line.split() for line in f)}
        except FileNotFoundError:
            time.sleep(0.01)
    raise RuntimeError("no --stats-file after SIGUSR1")


def alive():
    try:
        os.kill(args.pid, 0)
        return True
    except ProcessLookupError:
        return False


# ---- the transfer alongside ----


class Transfer(threading.Thread):
    """The kernel's TCP fetching the file from ustack-http: slowly while the
    battery runs (its receive buffer kept small, so ustack's sender keeps
    meeting a full window), at full speed once `fast` is set."""

    def __init__(self):
        super().__init__(daemon=True)
        self.fast = threading.Event()
        self.hold = threading.Event()  # stop reading while set
        self.got = 0
        self.error = None
        self.digest = None
        self.s = socket.socket()
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.s.settimeout(30)
        self.s.connect((UADDR, PORT))
        self.port = self.s.getsockname()[1]
        wire.watch = self.port
        self.s.sendall(b"GET /%s HTTP/1.0\r\n\r\n" % os.path.basename(args.file).encode())

    def run(self):
        h = hashlib.sha256()
        head = b""
        t0 = time.monotonic()
        try:
            while True:
                d = self.s.recv(16384 if not self.fast.is_set() else 1 << 20)
                if not d:
                    break
                if head is not None:
                    head += d
                    if b"\r\n\r\n" not in head:
                        continue
                    status, d = head.split(b"\r\n\r\n", 1)
                    if not status.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError("response %r" % status[:40])
                    head = None
                h.update(d)
                self.got += len(d)
                while self.hold.is_set() and not self.fast.is_set():
                    time.sleep(0.01)
                if not self.fast.is_set():
                    ahead = self.got / args.rate - (time.monotonic() - t0)
                    if ahead > 0:
                        self.fast.wait(ahead)
            self.digest = h.hexdigest()
        except Exception as e:  # noqa: BLE001 - reported by the checks
            self.error = "%s: %s" % (type(e).__name__, e)

    def going(self):
        return self.error is None and self.digest is None and self.is_alive()


xfer = Transfer()
xfer.start()


def conn_numbers():
    """ustack's side of the transfer: (RCV.NXT, an ACK number near SND.UNA).
    ustack's segments carry its RCV.NXT as their ACK, and their sequence
    numbers lie between its SND.UNA and SND.MAX."""
    if not wire.wait(lambda: wire.last is not None, 5):
        raise RuntimeError("no segment of the transfer seen")
    seq, ack, _ = wire.last
    return ack, seq


def to_transfer(**kw):
    """A segment into the transfer's four-tuple, as a blind attacker who
    guessed the ports would send it."""
    return IP(src=KADDR, dst=UADDR) / TCP(sport=xfer.port, dport=PORT, **kw)


# ---- a connection of the test's own, from a spoofed address ----


class Peer:
    def __init__(self, k, sport):
        self.addr, self.sport = spoof(k), sport
        self.iss = rng.randrange(1 << 32)
        key = (self.addr, sport)
        wire.send([bytes(self.seg(seq=self.iss, flags="S", options=MSS_OPT))])
        if not wire.wait(lambda: any(f & 0x12 == 0x12 for _, _, f in wire.segs.get(key, [])), 5):
            raise RuntimeError("no SYN,ACK for %s:%d" % key)
        synack = next(s for s in wire.segs[key] if s[2] & 0x12 == 0x12)
        self.rcv_nxt = (synack[0] + 1) & 0xFFFFFFFF
        self.snd_nxt = (self.iss + 1) & 0xFFFFFFFF
        wire.send([bytes(self.seg(flags="A"))])
        barrier()

    def seg(self, **kw):
        kw.setdefault("seq", self.snd_nxt if hasattr(self, "snd_nxt") else self.iss)
        kw.setdefault("ack", getattr(self, "rcv_nxt", 0))
        kw.setdefault("window", 65535)
        return IP(src=self.addr, dst=UADDR) / TCP(sport=self.sport, dport=PORT, **kw)

    def acked(self, upto, timeout=2):
        """Whether ustack has acknowledged every byte before `upto`."""
        key = (self.addr, self.sport)

        def done():
            return any((a - upto) & 0x80000000 == 0 for _, a, f in wire.segs.get(key, []) if f & 0x10)

        return wire.wait(done, timeout)

    def reset(self):
        wire.send([bytes(self.seg(flags="R"))])


# ---- the cases ----

PASSED = 0
FAILED = 0


def report(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("ok   %s%s" % (name, (": " + why) if why else ""), flush=True)
    else:
        FAILED += 1
        print("FAIL %s: %s" % (name, why), flush=True)


def case(name, pkts, expect, check=None, cleanup=None, after=None):
    """Sends pkts; then ustack must be alive, every counter in `expect`
    (name -> exact rise, or a function of the rise returning an error or
    None) must match, no other drop counter may have moved, the transfer
    must still be going, and check() (if any) must return None."""
    if args.only and args.only not in name:
        return
    before = stats()
    tun0 = wire.tun_dropped()
    t0 = time.monotonic()
    wire.send(pkts)
    errs = []
    if not barrier():
        errs.append("no answer to the barrier echo")
    took = time.monotonic() - t0  # ustack took the flood within this
    if after:
        after()
    if not alive():
        report(name, False, "ustack died")
        finish(1)
    # The connection alongside is alive if ustack still sends it data
    # (the reader opens the window at least every 125 ms).
    sending = wire.xfer_data
    if not wire.wait(lambda: wire.xfer_data > sending, 3):
        errs.append("ustack sends the transfer alongside nothing more")
    after = stats()
    # Each barrier is answered: its echo counts are ours, not the case's.
    delta = {k: after[k] - before.get(k, 0) for k in after}
    # No case may end a connection: the transfer and any of the test's own
    # stay up (each URG peer is reset only after its case).
    for k, want in {"tcp.estab_resets": 0, "tcp.timeout_aborts": 0, **expect}.items():
        got = delta.get(k)
        if got is None:
            errs.append("no counter %s" % k)
        elif callable(want):
            e = want(got, delta, took)
            if e:
                errs.append("%s +%d: %s" % (k, got, e))
        elif got != want:
            errs.append("%s rose by %d, not %d" % (k, got, want))
    for k, d in sorted(delta.items()):
        if k.startswith("drop.") and k not in expect and d:
            errs.append("%s rose by %d" % (k, d))
    if check:
        e = check()
        if e:
            errs.append(e)
    if not xfer.going():
        errs.append("the transfer alongside stopped (%s)" % (xfer.error or "ended early"))
    lost = wire.tun_dropped() - tun0
    if lost:
        errs.append("the TUN queue dropped %d packets: counts cannot be exact" % lost)
    if cleanup:
        cleanup()
        barrier()  # so that the next case's counters start after it
    shown = ", ".join("%s +%d" % (k, delta[k]) for k in expect if k in delta)
    report(name, not errs, "; ".join(errs) if errs else "%d packets: %s" % (len(pkts), shown))


def finish(rc=None):
    print("%d passed, %d failed" % (PASSED, FAILED), flush=True)
    sys.exit(rc if rc is not None else (1 if FAILED else 0))


def rate_limited(got, delta, took):
    """RFC 5961 7 with Linux's per-socket limit: a challenge ACK at most
    every 500 ms; every other one is counted as skipped, none lost."""
    skipped = delta["tcp.ack_skipped_ratelimit"]
    if got + skipped != N:
        return "challenge ACKs %d + skipped %d is not %d" % (got, skipped, N)
    if got > 1 + took / 0.5:
        return "%d challenge ACKs in %.3f s: not rate-limited" % (got, took)
    return None


def syn_to_listener(k, **kw):
    kw.setdefault("flags", "S")
    return IP(src=spoof(k), dst=UADDR) / TCP(sport=20000, dport=PORT, seq=rng.randrange(1 << 32), **kw)


def with_raw_options(k, opts, **kw):
    """A SYN whose option bytes are given raw: the data offset covers them,
    and scapy's checksum covers them too, so only the options are wrong."""
    assert len(opts) % 4 == 0
    return syn_to_listener(k, dataofs=5 + len(opts) // 4, **kw) / Raw(opts)


def mixed(*groups):
    """Floods made of several variants, N in all, interleaved."""
    out = []
    per = [variants(g, N // len(groups) + (1 if i < N % len(groups) else 0)) for i, g in enumerate(groups)]
    for i in range(max(len(x) for x in per)):
        for x in per:
            if i < len(x):
                out.append(x[i])
    return out


NO_CHILD = {"tcp.passive_opens": 0}


def tcp_options():
    case("TCP option length 0 (MSS, timestamps, an unknown kind)",
         mixed(with_raw_options(1, b"\x02\x00\x00\x00"), with_raw_options(1, b"\x08\x00\x00\x00"),
               with_raw_options(1, b"\x1e\x00\x00\x00")),
         {"drop.tcp.option_length": N, **NO_CHILD})
    case("TCP option length 1",
         mixed(with_raw_options(2, b"\x02\x01\x00\x00"), with_raw_options(2, b"\x01\x01\x1e\x01")),
         {"drop.tcp.option_length": N, **NO_CHILD})
    case("TCP option past the header (length 10 in 4 bytes; a kind in the last byte)",
         mixed(with_raw_options(3, b"\x08\x0a\x00\x00"), with_raw_options(3, b"\x01\x01\x01\x02"),
               with_raw_options(3, b"\x02\x04\x05\xb4\x1e\x28\x00\x00")),
         {"drop.tcp.option_overrun": N, **NO_CHILD})
    case("MSS option of length 3 and 5",
         mixed(with_raw_options(4, b"\x02\x03\x05\x00"), with_raw_options(4, b"\x02\x05\x05\xb4\x00\x00\x00\x00")),
         {"drop.tcp.option_size": N, **NO_CHILD})
    case("TCP data offset below 5",
         mixed(*[syn_to_listener(5, dataofs=d) for d in range(5)]),
         {"drop.tcp.data_offset_small": N, **NO_CHILD})
    case("TCP data offset past the packet",
         mixed(syn_to_listener(6, dataofs=6), syn_to_listener(6, dataofs=15),
               syn_to_listener(6, dataofs=15, options=MSS_OPT) / Raw(b"x" * 16)),
         {"drop.tcp.data_offset_past_end": N, **NO_CHILD})


def urgent():
    # RFC 9293 3.8.5 / RFC 6093: ustack delivers urgent data inline and never
    # computes with the pointer: a pointer of 0, or one past the data, must
    # change nothing about what is taken and acknowledged.
    for k, (name, ptr) in enumerate((("0", lambda n: 0), ("past the data", lambda n: n + 1 + rng.randrange(60000)))):
        peer = Peer(10 + k, 30000 + k)
        shapes = [bytes(peer.seg(flags="PAU") / Raw(b"u" * n)) for n in (1, 2, 3)]
        pkts = []
        seq = peer.snd_nxt
        for i in range(N):
            n = 1 + i % 3
            pkts.append(patched(shapes[n - 1], seq=seq, urg=ptr(n)))
            seq = (seq + n) & 0xFFFFFFFF
        peer.snd_nxt = seq
        case("URG with the urgent pointer %s (data taken inline, all acknowledged)" % name, pkts,
             {"tcp.ofo_queued": 0},
             check=lambda: None if peer.acked(seq) else "ustack did not acknowledge all %d segments" % N,
             cleanup=peer.reset)


def segmentsmack():
    # Scattered one-byte segments, each leaving a gap: every one would need
    # a range of its own. ustack keeps US_REASS_MAX (32, src/tcp/tcp.h) of
    # them and drops the rest, so the work per segment stays bounded; then
    # the gaps are filled and everything held joins the stream.
    peer = Peer(12, 30002)
    base = peer.snd_nxt
    held = min(N, 32)
    scattered = bytes(peer.seg(flags="PA") / Raw(b"s"))
    pkts = [patched(scattered, seq=base + 1 + 2 * i) for i in range(N)]
    fill = [patched(scattered, seq=base + 2 * i) for i in range(held + 1)]
    case("out-of-order segments, each leaving a gap (SegmentSmack)", pkts,
         {"tcp.ofo_queued": held, "drop.tcp.ofo_full": N - held})
    case("the gaps filled: what was held joins the stream", fill,
         {"tcp.ofo_queued": 0, "drop.tcp.ofo_full": 0},
         check=lambda: None if peer.acked(base + 2 * held + 1) else "ustack did not acknowledge the held data",
         cleanup=lambda: wire.send([bytes(peer.seg(flags="R", seq=base + 2 * held + 1))]))


def echo(k, **ipkw):
    return IP(src=spoof(k), dst=UADDR, **ipkw) / ICMP(id=0x4000 + k, seq=1) / Raw(b"hostile" * 4)


def echoes_answered(n):
    # The barrier's own echo is answered too.
    return {"icmp.in.echo": n + 1, "icmp.out.echo_reply": n + 1}


def ipv4():
    syn = syn_to_listener(20, options=MSS_OPT)
    case("IPv4 header length below 5",
         mixed(*[IP(src=spoof(20), dst=UADDR, ihl=i) / TCP(dport=PORT, flags="S") for i in range(5)]),
         {"drop.ip.header_length": N, **NO_CHILD})
    raw = bytes(syn / Raw(b"x" * 8))
    above = [set_ip_len(r, len(r) + 1 + i % 64) for i, r in enumerate(variants(raw, N))]
    case("IPv4 total length above the bytes received", above, {"drop.ip.total_length": N, **NO_CHILD})
    below = [set_ip_len(r, i % 20) for i, r in enumerate(variants(raw, N))]
    case("IPv4 total length below its own header", below, {"drop.ip.total_length": N, **NO_CHILD})
    cut = [set_ip_len(r, len(r) - 1 - i % 8) for i, r in enumerate(variants(raw, N))]
    case("IPv4 total length below the bytes received, cutting the segment (its checksum fails)", cut,
         {"drop.tcp.checksum": N, **NO_CHILD})
    padded = [r + b"\xa5" * (1 + i % 40) for i, r in enumerate(variants(echo(21), N))]
    case("IPv4 total length below the bytes received, trailing bytes (ignored as link padding)", padded,
         echoes_answered(N))
    case("IPv4 bad header checksum",
         variants(IP(src=spoof(22), dst=UADDR, chksum=0x1234) / TCP(dport=PORT, flags="S"), N),
         {"drop.ip.checksum": N, **NO_CHILD})
    # RFC 1122 3.2.1.7: a host must not discard a datagram just because its
    # TTL is below 2; Linux answers an echo with TTL 0.
    case("TTL 0 (delivered, as RFC 1122 3.2.1.7 and Linux do)", variants(echo(23, ttl=0), N), echoes_answered(N))
    case("land attack: SYN from ustack's own address and port",
         variants(IP(src=UADDR, dst=UADDR) / TCP(sport=PORT, dport=PORT, flags="S", options=MSS_OPT), N, sport=False),
         {"drop.ip.bad_source": N, **NO_CHILD})


def frags(k, payload, pieces, proto=1):
    """Fragments of one datagram: pieces are (offset, length, more)."""
    return [bytes(IP(src=spoof(k), dst=UADDR, proto=proto, flags="MF" if more else 0, frag=off // 8)
                  / Raw(payload[off : off + n])) for off, n, more in pieces]


def datagrams(n, *shapes):
    """n datagrams, each with its own identification, cut as the fragment
    lists in shapes are, taken in turn."""
    base = rng.randrange(65536)
    out = []
    for d in range(n):
        for raw in shapes[d % len(shapes)]:
            b = bytearray(raw)
            set16(b, 4, (base + d) & 0xFFFF, 10)
            out.append(bytes(b))
    return out


def fragments():
    body = bytes(ICMP(id=0x4100, seq=1) / Raw(b"fragmented" * 4))  # 48 bytes
    case("overlapping fragments (the whole datagram dropped, FragmentSmack)",
         datagrams(N, frags(30, body, [(0, 32, True), (24, 24, False)]),
                   frags(30, body, [(24, 24, False), (0, 32, True)]),
                   frags(30, body, [(0, 16, True), (8, 40, False)])),
         {"drop.ip.frag_overlap": N, "ip.frag.reassembled": 0, "ip.frag.in": 2 * N})
    tiny = frags(31, body, [(o, 8, o + 8 < len(body)) for o in range(0, len(body), 8)])
    case("tiny fragments, 8 bytes each (reassembled and answered)", datagrams(N // 4, tiny),
         {"ip.frag.reassembled": N // 4, **echoes_answered(N // 4)})
    case("tiny fragments not a multiple of 8 bytes",
         datagrams(N, *[frags(32, body, [(0, n, True)]) for n in range(1, 8)]),
         {"drop.ip.frag_bad_length": N, "ip.frag.reassembled": 0})
    case("fragment reaching past 65535 bytes",
         datagrams(N, *[frags(33, bytes(65536), [(65512 - 8 * j, 24 + 8 * j, j % 2 == 1)]) for j in range(4)]),
         {"drop.ip.frag_too_big": N, "ip.frag.reassembled": 0})
    # The ping of death: 45 fragments of 1480 bytes, 66600 in all. The 44
    # first are held; the 45th ends the datagram, and its memory with it.
    ndg = max(N // 25, 2)
    big = bytes(ICMP(id=0x4200, seq=1) / Raw(b"D" * (66600 - 8)))
    case("ping of death: a datagram reassembling past 65535 bytes",
         datagrams(ndg, frags(34, big, [(o, 1480, o + 1480 < len(big)) for o in range(0, len(big), 1480)])),
         {"drop.ip.frag_too_big": ndg, "drop.ip.frag_limit": 0, "drop.ip.frag_mem": 0,
          "ip.frag.reassembled": 0, "ip.frag.in": 45 * ndg})


def flags():
    case("SYN+FIN to the listener", variants(syn_to_listener(40, flags="SF", options=MSS_OPT), N),
         {"drop.tcp.bad_flags": N, **NO_CHILD})
    case("SYN+RST to the listener", variants(syn_to_listener(41, flags="SR"), N),
         {"drop.tcp.listen_rst": N, **NO_CHILD})
    rcv_nxt, _ = conn_numbers()
    synrst = bytes(to_transfer(flags="SR"))
    pkts = [patched(synrst, seq=rcv_nxt + 1 + rng.randrange(20000)) for _ in range(N)]
    case("SYN+RST into the transfer, in the window but not at RCV.NXT", pkts,
         {"drop.tcp.rst_inexact": N, "tcp.challenge_acks": rate_limited, "tcp.estab_resets": 0})


def blind():
    rcv_nxt, una = conn_numbers()
    # Far from the window on either side, but never near enough to wrap
    # into it: ustack's window is below 2^29.
    far = [rcv_nxt + ((1 << 30) + rng.randrange(1 << 29)) * (1 - 2 * (i % 2)) for i in range(N)]
    near = [rcv_nxt + 1 + rng.randrange(20000) for _ in range(N)]
    rst, rstack = bytes(to_transfer(flags="R")), bytes(to_transfer(flags="RA", ack=una))
    syn = bytes(to_transfer(flags="S", options=MSS_OPT))
    data = bytes(to_transfer(flags="PA", ack=una) / Raw(b"injected"))
    ack = bytes(to_transfer(flags="A", seq=rcv_nxt))
    case("blind RSTs outside the window (dropped, no answer)", [patched(rst, seq=q) for q in far],
         {"drop.tcp.rst_out_of_window": N, "tcp.challenge_acks": 0, "tcp.ack_skipped_ratelimit": 0,
          "tcp.estab_resets": 0})
    case("blind RSTs in the window (RFC 5961 3.2: challenge ACKs, rate-limited)", [patched(rst, seq=q) for q in near],
         {"drop.tcp.rst_inexact": N, "tcp.challenge_acks": rate_limited, "tcp.estab_resets": 0})
    case("blind RST+ACKs in the window (RFC 5961 3.2)", [patched(rstack, seq=q) for q in near],
         {"drop.tcp.rst_inexact": N, "tcp.challenge_acks": rate_limited, "tcp.estab_resets": 0})
    case("blind SYNs on the established transfer (RFC 5961 4.2)",
         [patched(syn, seq=rng.randrange(1 << 32)) for _ in range(N)],
         {"drop.tcp.syn_synchronized": N, "tcp.challenge_acks": rate_limited})
    # Data outside the window is answered with an ACK each time (data
    # cannot be an ACK loop: Linux's tcp_oow_rate_limited spares it too).
    case("blind data with wrong sequence numbers (outside the window)", [patched(data, seq=q) for q in far],
         {"drop.tcp.not_acceptable": N, "tcp.ofo_queued": 0, "tcp.ack_skipped_ratelimit": 0})
    rcv_nxt, una = conn_numbers()
    ack = patched(ack, seq=rcv_nxt)
    case("ACKs of data never sent (beyond SND.MAX)",
         [patched(ack, ack=una + (1 << 30) + rng.randrange(1 << 20)) for _ in range(N)],
         {"drop.tcp.ack_unsent": N, "tcp.challenge_acks": rate_limited})
    case("ACKs too old (RFC 5961 5.2: below SND.UNA - MAX.SND.WND)",
         [patched(ack, ack=una - (1 << 30) - rng.randrange(1 << 20)) for _ in range(N)],
         {"drop.tcp.ack_too_old": N, "tcp.challenge_acks": rate_limited})
    # In the window, ahead of RCV.NXT: taken out of order, were the ACK
    # not checked first.
    case("data in the window with an ACK too old (RFC 5961 5: not taken)",
         [patched(data, seq=rcv_nxt + 100 + 8 * i, ack=una - (1 << 30)) for i in range(N)],
         {"drop.tcp.ack_too_old": N, "tcp.ofo_queued": 0, "tcp.challenge_acks": rate_limited})


def icmp_error(quote_src, quote_dst, sport, dport, seq=0, **icmp):
    """An ICMP error quoting the IPv4 header and first 8 bytes of a TCP
    segment from quote_src to quote_dst."""
    quote = bytes(IP(src=quote_src, dst=quote_dst) / TCP(sport=sport, dport=dport, seq=seq))[:28]
    return IP(src=spoof(50), dst=UADDR) / ICMP(**icmp) / Raw(quote)


def quoted_seq(raw, seq):
    """The ICMP error with another quoted sequence number."""
    b = bytearray(raw)
    seq &= 0xFFFFFFFF
    set16(b, 20 + 8 + 20 + 4, seq >> 16, 22)
    set16(b, 20 + 8 + 20 + 6, seq & 0xFFFF, 22)
    return bytes(b)


def icmp():
    # RFC 5927 4.1: an error about a connection must quote a sequence
    # number it has in flight, SND.UNA..SND.MAX; Linux checks the same.
    _, una = conn_numbers()
    kinds = [dict(type=3, code=c) for c in (0, 1, 2, 3, 10, 13)] + [dict(type=11, code=0), dict(type=12, code=0)]
    forged = [bytes(icmp_error(UADDR, KADDR, PORT, xfer.port, **k)) for k in kinds]
    # Path MTU discovery (RFC 1191) takes "fragmentation needed" only with
    # the same proof (RFC 5927 7.2), whatever MTU it names.
    frag = [bytes(icmp_error(UADDR, KADDR, PORT, xfer.port, type=3, code=4, nexthopmtu=m)) for m in (68, 0, 576, 1280)]
    out = forged + frag
    case("forged ICMP errors about the transfer (fragmentation needed too), quoting a sequence outside its flight",
         [quoted_seq(out[i % len(out)], una - (1 << 30) - i) for i in range(N)],
         {"drop.icmp.out_of_window": N, "icmp.in.hard_errors": 0, "icmp.in.soft_errors": 0,
          "tcp.pmtu_updates": 0, "ip.pmtu.learned": 0})

    # The reader pauses, so the kernel's window closes and ustack's flight
    # stands still: the end of its last segment is SND.UNA = SND.MAX (or
    # one below, if a window probe went out).
    xfer.hold.set()
    time.sleep(0.5)
    end = wire.xfer_end
    case("forged ICMP errors about the transfer, in its flight (soft: noted, the connection lives on)",
         [quoted_seq(forged[i % len(forged)], end) for i in range(N)],
         {"icmp.in.soft_errors": N, "icmp.in.hard_errors": 0}, after=xfer.hold.clear)

    # A "fragmentation needed" that does quote a sequence number in flight
    # is taken, as Linux takes it: the worst a forger who guessed one can
    # do is bring the path MTU down to net.ipv4.route.min_pmtu (552), once;
    # the MTU is clamped there and segments leave with DF clear, so the
    # transfer goes on in smaller segments. The flight stands still again,
    # so that every message quotes it: the reader may still take one more
    # read after the hold (its pacing sleep), so wait until nothing new
    # has been sent for half a second.
    xfer.hold.set()
    end = None
    for _ in range(40):
        time.sleep(0.5)
        if wire.xfer_end == end:
            break
        end = wire.xfer_end

    def resumed():
        with wire.cv:
            wire.xfer_df = 0
        xfer.hold.clear()

    def df_clear():
        # Their size cannot be read here (ustack-http hands the device
        # frames of many segments, which the kernel cuts at the MSS), but
        # the locked MTU shows in DF, clear on everything sent since.
        if wire.xfer_df:
            return "%d of the transfer's segments still have DF set" % wire.xfer_df
        return None

    case("ICMP fragmentation needed quoting the transfer's flight, next-hop MTU 68 (clamped to 552, taken once)",
         variants(icmp_error(UADDR, KADDR, PORT, xfer.port, seq=end, type=3, code=4, nexthopmtu=68), N, sport=False),
         {"tcp.pmtu_updates": 1, "ip.pmtu.learned": 1, "ip.pmtu.clamped": N, "drop.icmp.pmtu_not_smaller": N - 1},
         check=df_clear, after=resumed)
    case("ICMP errors about connections that do not exist",
         [quoted_seq(bytes(icmp_error(UADDR, spoof(51), PORT, 1024 + i, type=3, code=3)), i) for i in range(N)],
         {"drop.icmp.no_socket": N})
    case("ICMP errors quoting a datagram ustack did not send",
         variants(icmp_error(spoof(52), KADDR, PORT, xfer.port, seq=una, type=3, code=3), N, sport=False),
         {"drop.icmp.bad_quote": N})
    case("ICMP with a bad checksum",
         variants(IP(src=spoof(53), dst=UADDR) / ICMP(id=7, seq=7, chksum=0x4242) / Raw(b"x" * 8), N, sport=False),
         {"drop.icmp.checksum": N, "icmp.out.echo_reply": 1})

    def bucket(got, delta, took):
        # Linux's icmp_msgs_per_sec and icmp_msgs_burst: 1000/s, 50 at once.
        limited = delta["icmp.out.rate_limited"]
        if got + limited != N:
            return "sent %d + rate-limited %d is not %d" % (got, limited, N)
        if got > 50 + 1000 * took:
            return "%d errors in %.3f s: more than the token bucket allows" % (got, took)
        return None

    case("UDP to a closed port: the ICMP errors it draws are rate-limited",
         variants(IP(src=spoof(54), dst=UADDR) / UDP(sport=5353, dport=9) / Raw(b"anyone?"), N, sport=False),
         {"drop.udp.no_port": N, "icmp.out.dest_unreach": bucket})


def fragment_flood():
    # Last, since it leaves reassembly full for ipfrag_time (30 s): first
    # fragments of datagrams that never complete. The first ipfrag_max (64,
    # include/ustack/ustack.h) are held, every later one is refused.
    body = bytes(ICMP(id=0x4300, seq=1) / Raw(b"never whole" * 4))
    case("a flood of datagrams that never complete (reassembly bounded)",
         datagrams(N, frags(35, body, [(0, 16, True)])),
         {"drop.ip.frag_limit": N - 64, "drop.ip.frag_mem": 0, "ip.frag.in": N, "ip.frag.reassembled": 0})


def transfer_done():
    xfer.fast.set()
    xfer.join(120)
    with open(args.file, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    size = os.path.getsize(args.file)
    if xfer.error or xfer.digest != want:
        report("the transfer alongside ends byte-identical", False,
               "%s; %d of %d bytes, sha256 %s" % (xfer.error or "digest differs", xfer.got, size, xfer.digest))
    else:
        report("the transfer alongside ends byte-identical", True, "%d bytes, sha256 %s" % (xfer.got, want[:16]))


t_start = time.monotonic()
try:
    for part in (tcp_options, urgent, segmentsmack, ipv4, fragments, flags, blind, icmp, fragment_flood):
        part()
    transfer_done()
except Exception as e:  # noqa: BLE001 - a broken harness is a failure too
    report("the battery ran to its end", False, "%s: %s" % (type(e).__name__, e))
print("battery: %.1f s, %d packets per flood; %d bytes fetched alongside" % (time.monotonic() - t_start, N, xfer.got))
finish()
