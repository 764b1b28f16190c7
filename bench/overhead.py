#!/usr/bin/env python3
"""Overhead of tangle on a contended-mutex workload, measured side by side.

Runs bench/workloads/mutex_bench (THREADS threads hammering one mutex, so
glibc calls futex() constantly) in interleaved rounds: alone, under
`tangle stream` system-wide, and under `tangle stream -c mutex_bench`
(filtered in BPF). Prints a Markdown table of median ops/s, spread and the
ratio to the baseline, plus the events tangle saw and dropped, and the cost of
taking one stack lazily (from `tangle check -v` on a five-thread deadlock).

    sudo python3 bench/overhead.py [--rounds 5] [--seconds 2] [--threads 4]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANGLE = os.environ.get("TANGLE", os.path.join(ROOT, "tangle"))
FIXTURES = os.environ.get("TANGLE_FIXTURES", os.path.join(ROOT, ".output", "fixtures"))


def build_workload(tmp):
    exe = os.path.join(tmp, "mutex_bench")
    subprocess.run(["gcc", "-O2", "-pthread", os.path.join(ROOT, "bench/workloads/mutex_bench.c"),
                    "-o", exe], check=True)
    return exe


def run_workload(exe, threads, seconds):
    out = subprocess.run([exe, str(threads), str(seconds)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["ops_per_s"]


def start_tangle(args, out_path):
    p = subprocess.Popen([TANGLE, "stream", "-o", out_path] + args, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:  # attached once meta is written
        if os.path.exists(out_path) and os.path.getsize(out_path) > 0:
            return p
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("tangle did not start")


def stop_tangle(p, out_path):
    p.send_signal(2)
    p.wait(timeout=30)
    events = lost = 0
    with open(out_path, "rb") as f:
        for line in f:
            r = json.loads(line)
            if r["type"] == "summary":
                events, lost = r["events"], r["lost"]
    return events, lost


def stack_cost():
    """Microseconds per lazily taken stack, from tangle's own -v log."""
    fx = subprocess.Popen([os.path.join(FIXTURES, "stuck_philosophers"), "--timeout", "20"],
                          stdout=subprocess.PIPE, text=True)
    try:
        for line in fx.stdout:
            if '"phase":"stuck"' in line:
                break
        err = subprocess.run([TANGLE, "check", "-v", "-p", str(fx.pid)], capture_output=True,
                             text=True).stderr
        return [int(m.group(2)) for m in
                re.finditer(r"stack of tid \d+: (\d+) user .* in (\d+) us", err)]
    finally:
        fx.kill()
        fx.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("overhead: run as root (tangle loads BPF programs)")
    modes = {"baseline": None, "stream (system-wide)": [], "stream -c mutex_bench": ["-c", "mutex_bench"]}
    res = {m: [] for m in modes}
    seen = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_workload(tmp)
        for r in range(a.rounds):
            for m, args in modes.items():  # interleaved: drift hits every mode alike
                if args is None:
                    res[m].append(run_workload(exe, a.threads, a.seconds))
                    continue
                out = os.path.join(tmp, f"s{r}.ndjson")
                p = start_tangle(args, out)
                res[m].append(run_workload(exe, a.threads, a.seconds))
                seen[m].append(stop_tangle(p, out))
                os.unlink(out)
    base = statistics.median(res["baseline"])
    print(f"# tangle overhead: mutex_bench, {a.threads} threads, {a.seconds} s, {a.rounds} rounds\n")
    print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs\n")
    print("| mode | median ops/s | min..max | ratio to baseline | events seen | events dropped |")
    print("|---|---:|---:|---:|---:|---:|")
    for m in modes:
        med = statistics.median(res[m])
        ev = " / ".join(str(e) for e, _ in seen[m]) if seen[m] else "-"
        lo = " / ".join(str(l) for _, l in seen[m]) if seen[m] else "-"
        print(f"| {m} | {med:,.0f} | {min(res[m]):,.0f}..{max(res[m]):,.0f} | {med / base:.2f} | {ev} | {lo} |")
    costs = stack_cost()
    if costs:
        print(f"\nlazy stack capture (task iterator + DWARF unwind), {len(costs)} stacks: "
              f"median {statistics.median(costs)} us, max {max(costs)} us")
    else:
        print("\nlazy stack capture: no figures (tangle check -v printed none)")


if __name__ == "__main__":
    main()
