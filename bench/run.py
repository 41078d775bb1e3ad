#!/usr/bin/env python3
"""bench/run.py: runs ustack's benchmarks and the Linux baselines (make bench).

Each benchmark runs BENCH_RUNS times (default 3), alternating ustack and
Linux; the summary gives the median, the spread ((max - min) / median) and
ustack / Linux. Instruction counts come from callgrind, once (they are
deterministic). Results go to --out as JSON.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(cmd, env=None, timeout=1800):
    t0 = time.monotonic()
    full = dict(os.environ, **env) if env else None
    p = subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=timeout)
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise SystemExit(f"bench: {' '.join(cmd)} failed ({p.returncode})")
    res, info = {}, {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == "RESULT":
            res[f[1]] = (float(f[2]), f[3])
        elif len(f) >= 3 and f[0] == "INFO":
            info[f[1]] = " ".join(f[2:])
    for line in p.stderr.splitlines():
        print(f"      {line}")
    return res, info, time.monotonic() - t0


def stats(vals):
    med = statistics.median(vals)
    lo, hi = min(vals), max(vals)
    return {"median": med, "min": lo, "max": hi, "spread_pct": (hi - lo) / med * 100 if med else 0.0,
            "runs": vals}


def ensure_cubic():
    path = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"
    try:
        allowed = open(path).read().split()
    except OSError:
        return "unknown"
    if "cubic" in allowed:
        return "cubic allowed"
    if os.geteuid() != 0:
        return "cubic not allowed and not root: the kernel's default is used"
    try:
        with open(path, "w") as f:
            f.write(" ".join(allowed + ["cubic"]))
        return "cubic added to net.ipv4.tcp_allowed_congestion_control"
    except OSError as e:
        return f"could not allow cubic: {e}"


def sh(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class Namespaces:
    """The network namespaces the TUN and veth benchmarks run in, created
    here and deleted on exit (198.18.0.0/15, RFC 2544's benchmark range):
    one for ustack on its TUN device (bench_tun makes the device), and per
    MTU two pairs joined by veth for the Linux-to-Linux baselines: one with
    every offload off (checksums, scatter-gather, TSO, GSO, GRO), so that
    Linux does per packet what ustack does over TUN without the virtio-net
    header, the issue's baseline; and one with veth's offloads as they come
    (Linux then moves 64 KiB frames, as ustack does with the header)."""

    def __init__(self):
        self.names = []
        self.tag = f"{os.getpid()}"
        self.offloads = "rx off tx off sg off tso off gso off gro off"

    def add(self, name):
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def tun(self):
        return self.add(f"ustk-bench-tun-{self.tag}")

    def veth(self, mtu, offloads=False):
        """Returns the environment that points bench_linux at the pair."""
        on = "o" if offloads else ""
        a = self.add(f"ustk-bench-v{mtu}{on}a-{self.tag}")
        b = self.add(f"ustk-bench-v{mtu}{on}b-{self.tag}")
        sh("ip", "-n", a, "link", "add", "vb0", "type", "veth", "peer", "name", "vb1", "netns", b)
        for ns, dev, addr in ((a, "vb0", "198.18.1.1/24"), (b, "vb1", "198.18.1.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "mtu", str(mtu), "up")
            if not offloads:
                sh("ip", "netns", "exec", ns, "ethtool", "-K", dev, *self.offloads.split())
        # Each connection-rate run leaves its connections in TIME_WAIT on
        # the client for 60 s, holding their ports: the whole range lets
        # three runs of 20 000 each find free ones without a search.
        sh("ip", "netns", "exec", a, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535")
        return {"BENCH_NS_CLIENT": a, "BENCH_NS_SERVER": b, "BENCH_ADDR": "198.18.1.2",
                "BENCH_VETH_OFFLOADS": "on" if offloads else "off"}

    def close(self):
        for n in reversed(self.names):
            subprocess.run(["ip", "netns", "pids", n], capture_output=True)
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        self.names = []


def can_use_namespaces():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "ethtool"):
        if not shutil.which(tool):
            return f"{tool} is missing (bench/deps.sh installs it)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    return None


def callgrind(binary, mode, env=None):
    vg = shutil.which("valgrind")
    if not vg:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        p = subprocess.run([vg, "--tool=callgrind", f"--callgrind-out-file={out}",
                            "--toggle-collect=bench_cg_measure*", binary, mode],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, **env) if env else None)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            return None
        for line in open(out):
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    total = int(os.environ.get("BENCH_BYTES", str(1 << 30)))
    us = os.path.join(a.bin, "bench_ustack")
    lx = os.path.join(a.bin, "bench_linux")
    cg = os.path.join(a.bin, "bench_cg")
    cubic = ensure_cubic()
    print(f"bench: {runs} runs, {total} bytes per bulk transfer; {cubic}")

    tun = os.path.join(a.bin, "bench_tun")
    big = int(os.environ.get("BENCH_TUN_MTU", "65535"))
    long_run = os.environ.get("BENCH_LONG", "") not in ("", "0")
    why_not = can_use_namespaces()
    ns = Namespaces()

    # (label, ustack command, ustack result, linux command, linux result,
    #  linux environment): linux None for a row without a baseline.
    plan = [
        ("bulk MTU 1500", [us, "bulk", "1500"], "bulk_mtu1500", [lx, "bulk"], "bulk", None),
        ("bulk MTU 65535", [us, "bulk", "65535"], "bulk_mtu65535", [lx, "bulk"], "bulk", None),
        ("bulk MTU 1500, stack checksums", [us, "bulk", "1500"], "bulk_mtu1500", [lx, "bulk"], "bulk",
         None),
        ("connection rate", [us, "rate"], "conn_rate", [lx, "rate"], "conn_rate", None),
        ("latency p50", [us, "latency"], "latency_p50", [lx, "latency"], "latency_p50", None),
        ("latency p99", [us, "latency"], "latency_p99", [lx, "latency"], "latency_p99", None),
        ("scale", [us, "scale"], None, None, None, None),
        ("checksum", [os.path.join(a.bin, "bench_csum")], None, None, None, None),
    ]
    # One row's ustack command runs with its own environment.
    uenv = {"bulk MTU 1500, stack checksums": {"BENCH_CSUM": "1"}}
    if long_run:
        plan.append(("scale 1M", [us, "scale"], None, None, None, None))
        uenv["scale 1M"] = {"BENCH_SCALE_MAX": "1000000", "BENCH_SCALE_ONLY": "1000000"}
    if why_not:
        print(f"bench: skipping TUN and veth benchmarks: {why_not}")
    else:
        tns = ns.tun()
        inns = ["ip", "netns", "exec", tns, tun]
        conns = os.environ.get("BENCH_TUN_CONNS", "20000")
        tbytes = os.environ.get("BENCH_TUN_BYTES", str(256 << 20))
        for mtu in (1500, big):
            venv = ns.veth(mtu)
            # The same number of bytes as over TUN.
            vbulk = dict(venv, BENCH_BYTES=tbytes)
            vbulk_on = dict(ns.veth(mtu, offloads=True), BENCH_BYTES=tbytes)
            for d, what in (("tx", "ustack to Linux"), ("rx", "Linux to ustack")):
                ucmd, ukey = inns + [f"bulk-{d}", str(mtu)], f"tun_bulk_{d}_mtu{mtu}"
                label = f"TUN bulk {what} MTU {mtu}"
                plan += [
                    (label, ucmd, ukey, [lx, "bulk"], "bulk", vbulk),
                    (f"{label}, both with offloads", ucmd, ukey, [lx, "bulk"], "bulk", vbulk_on),
                    (f"{label}, no offloads", ucmd, ukey, [lx, "bulk"], "bulk", vbulk),
                ]
                uenv[f"{label}, no offloads"] = {"BENCH_TUN_OFFLOAD": "0"}
            if mtu == 1500:
                vrate = dict(venv, BENCH_CONNS=conns)
                plan += [
                    ("TUN connection rate (veth)", inns + ["rate"], "tun_conn_rate", [lx, "rate"],
                     "conn_rate", vrate),
                    ("TUN latency p50 (veth)", inns + ["latency"], "tun_latency_p50", [lx, "latency"],
                     "latency_p50", venv),
                    ("TUN latency p99 (veth)", inns + ["latency"], "tun_latency_p99", [lx, "latency"],
                     "latency_p99", venv),
                ]
    cache = {}  # one run of a command serves every result it prints

    def measure(cmd, i, env=None):
        key = (tuple(cmd), tuple(sorted((env or {}).items())), i)
        if key not in cache:
            b = cmd.index(tun) if tun in cmd else 0
            shown = " ".join([os.path.basename(cmd[b])] + cmd[b + 1:])
            if env:
                shown = " ".join(f"{k}={v}" for k, v in sorted(env.items())) + " " + shown
            print(f"  run {i + 1}/{runs}: {shown}", flush=True)
            cache[key] = run(cmd, env)
        return cache[key]

    results, info = {}, {}
    try:
        for label, ucmd, ukey, lcmd, lkey, lenv in plan:
            uvals, lvals, uunit = {}, [], {}
            for i in range(runs if label != "scale 1M" else 1):
                r, _, _ = measure(ucmd, i, uenv.get(label))
                for k, (v, unit) in r.items():
                    if ukey is None or k == ukey:
                        uvals.setdefault(k, []).append(v)
                        uunit[k] = unit
                if lcmd:
                    r, inf, _ = measure(lcmd, i, lenv)
                    info.update(inf)
                    lvals.append(r[lkey][0])
            for k, vals in uvals.items():
                name = label if ukey else (f"{k} (1M run)" if label == "scale 1M" else k)
                e = {"unit": uunit[k], "higher_is_better": uunit[k] in ("Gbit/s", "conn/s", "GB/s"),
                     "ustack": stats(vals), "command": " ".join(os.path.basename(c) for c in ucmd)}
                if lcmd:
                    e["linux_command"] = " ".join(os.path.basename(c) for c in lcmd)
                if label in uenv:
                    e["env"] = uenv[label]
                if lvals:
                    e["linux"] = stats(lvals)
                    e["linux_path"] = (f"veth, offloads {lenv['BENCH_VETH_OFFLOADS']}" if lenv
                                       else "loopback")
                    e["ratio"] = e["ustack"]["median"] / e["linux"]["median"]
                results[name] = e
    finally:
        ns.close()

    # Issue 6's targets, as ratios ustack / Linux.
    targets = {"bulk MTU 65535": 1.0, "bulk MTU 1500": 0.5, "connection rate": 2.0,
               "TUN bulk ustack to Linux MTU 1500": 0.6, "TUN bulk Linux to ustack MTU 1500": 0.6}
    for name, t in targets.items():
        if name in results and "ratio" in results[name]:
            results[name]["target"] = t

    for lo, hi, name in (("pkt_cost_1k", "pkt_cost_100k", "pkt_cost 100k / 1k"),
                         ("pkt_cost_1k_busy_of_1k", "pkt_cost_1k_busy_of_100k",
                          "pkt_cost 1k busy: of 100k / of 1k")):
        c1, c100 = results.get(lo), results.get(hi)
        if c1 and c100:
            v = c100["ustack"]["median"] / c1["ustack"]["median"]
            results[name] = {"unit": "x", "higher_is_better": False,
                             "ustack": {"median": v, "min": v, "max": v, "spread_pct": 0.0, "runs": [v]}}

    print("  callgrind: instructions in ustack_input for one packet", flush=True)
    for csum in ("0", "1"):
        for mode, label in (("data", "instr: data segment in"),
                            ("data_ack", "instr: data segment in, ACK out"),
                            ("ack", "instr: pure ACK in")):
            n = callgrind(cg, mode, {"BENCH_CSUM": csum})
            if n is not None:
                name = label + (", stack checksums" if csum == "1" else "")
                results[name] = {"unit": "instr", "higher_is_better": False,
                                 "ustack": {"median": n, "min": n, "max": n, "spread_pct": 0.0,
                                            "runs": [n]},
                                 "command": f"BENCH_CSUM={csum} valgrind --tool=callgrind"
                                            f" --toggle-collect='bench_cg_measure*' bench_cg {mode}"}

    meta = {"runs": runs, "bulk_bytes": total, "kernel": platform.release(), "cpus": os.cpu_count(),
            "linux_congestion": info.get("congestion", "?"), "cubic": cubic,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "notes": ["ustack: two stacks, one thread, in-memory link with TCP checksum offload"
                      " (loopback never sums either); BENCH_CSUM=1 row: the stacks sum everything;"
                      " Linux: loopback, server in a 2nd thread",
                      "TUN rows: ustack on a TUN device in a namespace, the kernel's socket in a"
                      " 2nd thread, the device with its virtio-net header (checksum and TCP"
                      " segmentation offload, src/link/gso.c) unless the row says no offloads"
                      " (BENCH_TUN_OFFLOAD=0); baseline Linux to Linux over veth between two"
                      f" namespaces, same MTU, offloads off ({ns.offloads}), or as veth comes"
                      " (rows 'both with offloads'); the client's ip_local_port_range"
                      " 1024-65535",
                      "bulk: one direction, A to B; Linux loopback MTU is 65536",
                      "connection rate: ustack msl_ms=10 (TIME_WAIT 20 ms), 10 us virtual time"
                      " per cycle; Linux rotates the client's source over 127.1.0.0/16",
                      "ratio = ustack / Linux (median); for latency lower is better"]}
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)

    print()
    print(f"{'benchmark':40} {'ustack':>14} {'spread':>7} {'Linux':>14} {'spread':>7} {'ratio':>7}"
          f" {'target':>7}  unit")
    for name, e in results.items():
        u = e["ustack"]
        lxs = e.get("linux")
        lcol = f"{lxs['median']:14.4g} {lxs['spread_pct']:6.1f}%" if lxs else f"{'-':>14} {'':>7}"
        ratio = f"{e['ratio']:7.3f}" if "ratio" in e else f"{'-':>7}"
        tgt = e.get("target")
        tcol = f"{'-':>7}" if tgt is None else f"{tgt:6.2g}" + ("+" if e["ratio"] >= tgt else "!")
        print(f"{name:40} {u['median']:14.4g} {u['spread_pct']:6.1f}% {lcol} {ratio} {tcol}  {e['unit']}")
    print("target: the ratio issue 6 asks for; + met, ! not met in this run")
    print(f"\nLinux congestion control: {meta['linux_congestion']}; results in {a.out}")


if __name__ == "__main__":
    main()
