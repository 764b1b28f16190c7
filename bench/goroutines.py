#!/usr/bin/env python3
"""What a goroutine dump costs: tangle's snapshot versus the Go runtime's own.

Run as root from the repository root after `make`:

    sudo python3 bench/goroutines.py [--counts 1000,10000,100000] [--rounds 3]

For each goroutine count, bench/workloads/gomany parks that many goroutines at
four sites (channel receive, sync.Mutex, select, a 9-deep recursion). Then,
side by side on the same process:

  tangle table   `tangle goroutines PID --json --no-stacks`: states, wait
                 reasons, labels, objects waited on (snapshot_ns, and the CPU
                 time of the whole command)
  tangle full    the same with every stack walked and symbolized
  pprof debug=2  the program's own pprof.Lookup("goroutine").WriteTo(w, 2),
                 timed inside the program: the world is stopped all along, so
                 this is also how long every goroutine of the target is paused

Prints a Markdown table and a ratio line per count. tangle pauses nothing:
it only reads memory with process_vm_readv. Figures, not pass/fail.
Env: TANGLE (binary, default ./tangle), GO (default go).
"""

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TANGLE = os.environ.get("TANGLE", str(REPO / "tangle"))
GO = os.environ.get("GO", "go")


def build(workdir):
    out = Path(workdir) / "gomany"
    subprocess.run([GO, "build", "-o", str(out), "."], cwd=REPO / "bench/workloads/gomany",
                   check=True)
    return out


def cpu_of(cmd):
    """Run cmd; return (stdout, CPU seconds of the child, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, cpu, wall


def tangle_run(pid, stacks):
    cmd = [TANGLE, "goroutines", str(pid), "--json"] + ([] if stacks else ["--no-stacks"])
    out, cpu, wall = cpu_of(cmd)
    meta = json.loads(out.split("\n", 1)[0])
    return meta["snapshot_ns"] / 1e6, cpu * 1e3, meta["goroutines"]


def pprof_run(proc):
    proc.send_signal(signal.SIGUSR1)
    line = proc.stdout.readline()
    if not line.startswith("pprof_ns "):
        raise RuntimeError(f"unexpected line from gomany: {line!r}")
    return int(line.split()[1]) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1000,10000,100000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(tmp)
        print("| goroutines | tangle table snapshot ms | tangle table CPU ms "
              "| tangle full snapshot ms | tangle full CPU ms | pprof debug=2 ms (world stopped) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in counts:
            proc = subprocess.Popen([str(binary), "-n", str(n)], stdout=subprocess.PIPE, text=True)
            try:
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("gomany did not start")
                table, table_cpu, full, full_cpu, pprof = [], [], [], [], []
                seen = 0
                for _ in range(args.rounds):
                    ms, cpu, seen = tangle_run(proc.pid, False)
                    table.append(ms)
                    table_cpu.append(cpu)
                    ms, cpu, seen = tangle_run(proc.pid, True)
                    full.append(ms)
                    full_cpu.append(cpu)
                    pprof.append(pprof_run(proc))
                med = statistics.median
                print(f"| {seen} | {med(table):.1f} | {med(table_cpu):.1f} | {med(full):.1f} "
                      f"| {med(full_cpu):.1f} | {med(pprof):.1f} |")
                print(f"goroutines {seen}: tangle full snapshot {med(full):.1f} ms with no pause, "
                      f"pprof {med(pprof):.1f} ms with the world stopped "
                      f"(ratio pprof/tangle {med(pprof) / med(full):.1f}x)", file=sys.stderr)
            finally:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
