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
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
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


def callgrind(binary, mode):
    vg = shutil.which("valgrind")
    if not vg:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cg.out")
        p = subprocess.run([vg, "--tool=callgrind", f"--callgrind-out-file={out}",
                            "--toggle-collect=bench_cg_measure*", binary, mode],
                           capture_output=True, text=True, timeout=600)
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

    # (label, ustack command, ustack result, linux command, linux result, higher is better)
    plan = [
        ("bulk MTU 1500", [us, "bulk", "1500"], "bulk_mtu1500", [lx, "bulk"], "bulk", True),
        ("bulk MTU 65535", [us, "bulk", "65535"], "bulk_mtu65535", [lx, "bulk"], "bulk", True),
        ("connection rate", [us, "rate"], "conn_rate", [lx, "rate"], "conn_rate", True),
        ("latency p50", [us, "latency"], "latency_p50", [lx, "latency"], "latency_p50", False),
        ("latency p99", [us, "latency"], "latency_p99", [lx, "latency"], "latency_p99", False),
        ("scale", [us, "scale"], None, None, None, True),
    ]
    cache = {}  # one run of a command serves every result it prints

    def measure(cmd, i):
        key = (tuple(cmd), i)
        if key not in cache:
            shown = " ".join([os.path.basename(cmd[0])] + cmd[1:])
            print(f"  run {i + 1}/{runs}: {shown}", flush=True)
            cache[key] = run(cmd)
        return cache[key]

    results, info = {}, {}
    for label, ucmd, ukey, lcmd, lkey, _ in plan:
        uvals, lvals, uunit = {}, [], {}
        for i in range(runs):
            r, _, _ = measure(ucmd, i)
            for k, (v, unit) in r.items():
                if ukey is None or k == ukey:
                    uvals.setdefault(k, []).append(v)
                    uunit[k] = unit
            if lcmd:
                r, inf, _ = measure(lcmd, i)
                info.update(inf)
                lvals.append(r[lkey][0])
        for k, vals in uvals.items():
            name = label if ukey else k
            e = {"unit": uunit[k], "higher_is_better": uunit[k] in ("Gbit/s", "conn/s"),
                 "ustack": stats(vals)}
            if lvals:
                e["linux"] = stats(lvals)
                e["ratio"] = e["ustack"]["median"] / e["linux"]["median"]
            results[name] = e

    c1, c100 = results.get("pkt_cost_1k"), results.get("pkt_cost_100k")
    if c1 and c100:
        v = c100["ustack"]["median"] / c1["ustack"]["median"]
        results["pkt_cost 100k / 1k"] = {"unit": "x", "higher_is_better": False,
                                         "ustack": {"median": v, "min": v, "max": v, "spread_pct": 0.0,
                                                    "runs": [v]}}

    print("  callgrind: instructions in ustack_input for one packet", flush=True)
    for mode, label in (("data", "instr: data segment in"), ("data_ack", "instr: data segment in, ACK out"),
                        ("ack", "instr: pure ACK in")):
        n = callgrind(cg, mode)
        if n is not None:
            results[label] = {"unit": "instr", "higher_is_better": False,
                              "ustack": {"median": n, "min": n, "max": n, "spread_pct": 0.0, "runs": [n]}}

    meta = {"runs": runs, "bulk_bytes": total, "kernel": platform.release(), "cpus": os.cpu_count(),
            "linux_congestion": info.get("congestion", "?"), "cubic": cubic,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "notes": ["ustack: two stacks, one thread, in-memory link;"
                      " Linux: loopback, server in a 2nd thread",
                      "bulk: one direction, A to B; Linux loopback MTU is 65536",
                      "connection rate: ustack msl_ms=10 (TIME_WAIT 20 ms), 10 us virtual time"
                      " per cycle; Linux rotates the client's source over 127.1.0.0/16",
                      "ratio = ustack / Linux (median); for latency lower is better"]}
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)

    print()
    print(f"{'benchmark':34} {'ustack':>14} {'spread':>7} {'Linux':>14} {'spread':>7} {'ratio':>7}  unit")
    for name, e in results.items():
        u = e["ustack"]
        lxs = e.get("linux")
        lcol = f"{lxs['median']:14.4g} {lxs['spread_pct']:6.1f}%" if lxs else f"{'-':>14} {'':>7}"
        ratio = f"{e['ratio']:7.3f}" if "ratio" in e else f"{'-':>7}"
        print(f"{name:34} {u['median']:14.4g} {u['spread_pct']:6.1f}% {lcol} {ratio}  {e['unit']}")
    print(f"\nLinux congestion control: {meta['linux_congestion']}; results in {a.out}")


if __name__ == "__main__":
    main()
