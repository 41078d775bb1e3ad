#!/usr/bin/env python3
"""bench/report.py RESULTS.json: the results of `make bench` as a Markdown
table (median, spread, Linux's median and spread, ratio, target), for
bench/RESULTS.md."""
import json
import sys


def fmt(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main():
    d = json.load(open(sys.argv[1]))
    m = d["meta"]
    print(f"Date {m['date']}, kernel {m['kernel']}, {m['cpus']} CPUs, {m['runs']} runs,"
          f" Linux congestion control {m['linux_congestion']}.\n")
    print("| benchmark | ustack median | spread | Linux median | spread | Linux path | ratio | target |"
          " commands |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |")
    for name, e in d["results"].items():
        u, lx = e["ustack"], e.get("linux")
        unit = e["unit"]
        lcol = f"{fmt(lx['median'])} | {lx['spread_pct']:.0f}%" if lx else "- | -"
        ratio = f"{e['ratio']:.3f}" if "ratio" in e else "-"
        t = e.get("target")
        tcol = "-" if t is None else (f"{t:g}: met" if e["ratio"] >= t else f"{t:g}: **not met**")
        cmd = e.get("command", "-")
        if cmd.startswith("ip netns exec "):
            cmd = " ".join(cmd.split()[4:]) + " (in its namespace)"
        env = " ".join(f"{k}={v}" for k, v in e.get("env", {}).items())
        cmd = f"`{env + ' ' if env else ''}{cmd}`"
        if "linux_command" in e:
            cmd += f", `{e['linux_command']}`"
        print(f"| {name} ({unit}) | {fmt(u['median'])} | {u['spread_pct']:.0f}% | {lcol} |"
              f" {e.get('linux_path', '-')} | {ratio} | {tcol} | {cmd} |")


if __name__ == "__main__":
    main()
