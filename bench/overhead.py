#!/usr/bin/env python3
"""Overhead of tangle on a contended-mutex workload, measured side by side.

Two workloads, each run in interleaved rounds alone, under `tangle stream`
system-wide, and under `tangle stream -c NAME` (filtered in BPF):
- pingpong: two threads hand a token over through a condition variable;
  every hand-off is one blocking futex wait and one wake, so the ratio is
  what tangle adds to a blocking futex call;
- mutex_bench: THREADS threads hammer one mutex. Its ops/s can *rise* under
  tracing: a slower futex slow path means fewer lock hand-offs between CPUs
  (the convoy effect), so read it for dropped events, not for cost.
Prints Markdown tables (median, spread, ratio to baseline, events seen and
dropped) and the cost of taking one stack lazily (`tangle check -v` on a
five-thread deadlock).

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


def build_workload(tmp, name):
    exe = os.path.join(tmp, name)
    subprocess.run(["gcc", "-O2", "-pthread", os.path.join(ROOT, f"bench/workloads/{name}.c"),
                    "-o", exe], check=True)
    return exe


def run_workload(argv, key):
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)[key]


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
    with tempfile.TemporaryDirectory() as tmp:
        workloads = [
            ("pingpong", [build_workload(tmp, "pingpong"), str(a.seconds)],
             "round_trips_per_s", "round trips/s"),
            ("mutex_bench", [build_workload(tmp, "mutex_bench"), str(a.threads), str(a.seconds)],
             "ops_per_s", "ops/s"),
        ]
        print(f"# tangle overhead, {a.rounds} interleaved rounds of {a.seconds} s\n")
        print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs\n")
        for name, argv, key, unit in workloads:
            modes = {"baseline": None, "stream (system-wide)": [],
                     f"stream -c {name}": ["-c", name]}
            res = {m: [] for m in modes}
            seen = {m: [] for m in modes}
            for r in range(a.rounds):
                for m, args in modes.items():  # interleaved: drift hits every mode alike
                    if args is None:
                        res[m].append(run_workload(argv, key))
                        continue
                    out = os.path.join(tmp, f"s{r}.ndjson")
                    p = start_tangle(args, out)
                    res[m].append(run_workload(argv, key))
                    seen[m].append(stop_tangle(p, out))
                    os.unlink(out)
            base = statistics.median(res["baseline"])
            print(f"## {name}\n")
            print(f"| mode | median {unit} | min..max | ratio to baseline | events seen | dropped |")
            print("|---|---:|---:|---:|---:|---:|")
            for m in modes:
                med = statistics.median(res[m])
                ev = " / ".join(str(e) for e, _ in seen[m]) if seen[m] else "-"
                lo = " / ".join(str(l) for _, l in seen[m]) if seen[m] else "-"
                print(f"| {m} | {med:,.0f} | {min(res[m]):,.0f}..{max(res[m]):,.0f} "
                      f"| {med / base:.2f} | {ev} | {lo} |")
            print()
    print("A ratio above 1 means the workload ran faster with tangle attached. On small VMs a\n"
          "busy collector keeps CPUs out of deep idle, so wake-ups get cheaper, and a slower\n"
          "futex slow path changes lock hand-offs: these effects can outweigh the cost of the\n"
          "probes. Compare modes within one run, and read `dropped` as the hard limit.\n")
    costs = stack_cost()
    if costs:
        print(f"\nlazy stack capture (task iterator + DWARF unwind), {len(costs)} stacks: "
              f"median {statistics.median(costs)} us, max {max(costs)} us")
    else:
        print("\nlazy stack capture: no figures (tangle check -v printed none)")


if __name__ == "__main__":
    main()
