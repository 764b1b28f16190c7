#!/usr/bin/env python3
"""What a goroutine dump costs: tangle's snapshot versus the Go runtime's own.

Run as root from the repository root after `make`:

    sudo python3 bench/goroutines.py [--counts 1000,10000,100000] [--rounds 3] [--repeat 5]
                                     [--csv PATH]

For each goroutine count, bench/workloads/gomany parks that many goroutines at
four sites (channel receive, sync.Mutex, select, a 9-deep recursion) and runs
two GC cycles, as any program that has run a while has. Then, side by side on
the same process:

  table   `tangle goroutines PID --no-stacks`: states, wait reasons, labels,
          objects waited on
  full    the same with every stack walked
  mark    the evidence behind stuck-goroutine reports (src/goevidence.c):
          what the blocked goroutines wait on, then one mark of the process's
          memory from its live roots (tests/goreach/goreach_driver, the same
          goobj and goreach code tangle runs), CPU of the mark; tangle runs it
          only while some goroutine is old enough to be a stuck candidate
  pprof   the program's own pprof.Lookup("goroutine").WriteTo(w, 2), timed
          inside the program: the world is stopped all along, so this is also
          how long every goroutine of the target is paused

tangle takes --repeat snapshots through one goproc, as the dashboard takes one
a second, and prints the CPU time of each (its thread's user + system time,
process_vm_readv included): "cold" is the first, in a new tangle process (it
pays for its buffers and reads every stack); "warm" the median of the later
ones (goroutines that have not run since are not read again). Symbolization
and printing are not part of a snapshot and are not counted. Peak RSS is the
tangle process's after its snapshots, before it prints.

Prints a Markdown table and one line per count on stderr. With --csv PATH,
also appends every measurement to PATH in bench/benchlib.py's format (section
"snapshot", workload "goroutines_N"): mode "tangle_goroutines" with
table_cold_ms, table_warm_ms, full_cold_ms, full_warm_ms (one row per
snapshot), rss_mib and mark_ms (one per round); mode "pprof_debug2" with
stw_ms (one per round). bench/report.py takes the medians. tangle pauses
nothing: it only reads memory with process_vm_readv. Figures, not pass/fail.
Env: TANGLE (binary, default ./tangle), GO (default go), GOREACH_DRIVER (default
.output/goreach/goreach_driver: `make goreach`).
"""

import argparse
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib

REPO = Path(__file__).resolve().parents[1]
TANGLE = os.environ.get("TANGLE", str(REPO / "tangle"))
GO = os.environ.get("GO", "go")
DRIVER = os.environ.get("GOREACH_DRIVER", str(REPO / ".output/goreach/goreach_driver"))
MARK_RE = re.compile(r"^cost\trun=\d+ .*objects_scanned=(\d+) .*cpu_us=(\d+) ", re.M)
SNAP_RE = re.compile(r"snapshot=(\d+) wall_ns=(\d+) cpu_ns=(\d+) goroutines=(\d+) .*"
                     r"stacks_reused=(\d+)")
RSS_RE = re.compile(r"maxrss_kb=(\d+)")


def build(workdir):
    out = Path(workdir) / "gomany"
    env = dict(os.environ, GOFLAGS="-buildvcs=false", GOPROXY="off", GOWORK="off")
    subprocess.run([GO, "build", "-o", str(out), "."], cwd=REPO / "bench/workloads/gomany",
                   check=True, env=env)
    return out


def tangle_cmd(pid, stacks, repeat):
    cmd = [TANGLE, "goroutines", str(pid), "--repeat", str(repeat), "-o", os.devnull]
    return cmd if stacks else cmd + ["--no-stacks"]


def tangle_run(pid, stacks, repeat):
    """One tangle process taking `repeat` snapshots: (cold ms, [warm ms], goroutines,
    stacks reused in the last one, peak RSS in MiB)."""
    cmd = tangle_cmd(pid, stacks, repeat)
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    snaps = [tuple(int(x) for x in m.groups()) for m in SNAP_RE.finditer(res.stderr)]
    rss = RSS_RE.search(res.stderr)
    if len(snaps) != repeat or not rss:
        raise RuntimeError(f"unexpected stderr from tangle: {res.stderr!r}")
    cpu_ms = [s[2] / 1e6 for s in snaps]
    return cpu_ms[0], cpu_ms[1:], snaps[-1][3], snaps[-1][4], int(rss.group(1)) / 1024


def mark_run(pid):
    """One mark phase: (CPU ms, heap objects scanned)."""
    res = subprocess.run([DRIVER, str(pid)], check=True, capture_output=True, text=True,
                         timeout=300)
    m = MARK_RE.search(res.stdout)
    if not m:
        raise RuntimeError(f"unexpected output from {DRIVER}: {res.stdout[:500]!r}")
    return int(m.group(2)) / 1e3, int(m.group(1))


def pprof_run(proc):
    proc.send_signal(signal.SIGUSR1)
    line = proc.stdout.readline()
    if not line.startswith("pprof_ns "):
        raise RuntimeError(f"unexpected line from gomany: {line!r}")
    return int(line.split()[1]) / 1e6


class CsvRows:
    """The figures of one goroutine count as CSV rows (nothing without --csv)."""

    def __init__(self, path, n, repeat):
        self.out = benchlib.Csv(path) if path else None
        self.wl = f"goroutines_{n}"
        pid = "$(pidof gomany)"  # the commands as one would type them

        def shown(cmd):
            return " ".join(a if a == pid else shlex.quote(a) for a in cmd)
        self.cmds = {"table": shown(tangle_cmd(pid, False, repeat)),
                     "full": shown(tangle_cmd(pid, True, repeat)),
                     "mark": shown([DRIVER, pid]),
                     "pprof": f"kill -USR1 {pid}  # gomany times "
                              "pprof.Lookup(\"goroutine\").WriteTo(w, 2)"}

    def add(self, rnd, kind, metric, values, unit="ms", mode="tangle_goroutines"):
        if self.out:
            for v in values:
                self.out.row("snapshot", self.wl, mode, rnd, metric, unit, round(v, 3),
                             self.cmds[kind])

    def close(self):
        if self.out:
            self.out.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1000,10000,100000")
    ap.add_argument("--rounds", type=int, default=3, help="tangle processes per figure")
    ap.add_argument("--repeat", type=int, default=5, help="snapshots per tangle process")
    ap.add_argument("--csv", help="also append every measurement to this CSV (bench/benchlib.py)")
    args = ap.parse_args()
    if args.repeat < 2:
        ap.error("--repeat must be at least 2 (a cold and a warm snapshot)")
    counts = [int(c) for c in args.counts.split(",")]
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        binary = build(tmp)
        print("| goroutines | table cold CPU ms | table warm CPU ms | full cold CPU ms "
              "| full warm CPU ms | stacks not re-read (warm) | tangle peak RSS MiB "
              "| mark CPU ms (objects) | pprof debug=2 ms (world stopped) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in counts:
            proc = subprocess.Popen([str(binary), "-n", str(n)], stdout=subprocess.PIPE,
                                    text=True)
            rows = CsvRows(args.csv, n, args.repeat)
            try:
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError("gomany did not start")
                fig = {k: [] for k in ("tc", "tw", "fc", "fw", "reused", "rss", "mark",
                                       "objects", "pprof")}
                seen = 0
                for rnd in range(args.rounds):
                    cold, warm, seen, _, _ = tangle_run(proc.pid, False, args.repeat)
                    fig["tc"].append(cold)
                    fig["tw"].extend(warm)
                    rows.add(rnd, "table", "table_cold_ms", [cold])
                    rows.add(rnd, "table", "table_warm_ms", warm)
                    cold, warm, seen, reused, rss = tangle_run(proc.pid, True, args.repeat)
                    fig["fc"].append(cold)
                    fig["fw"].extend(warm)
                    fig["reused"].append(reused)
                    fig["rss"].append(rss)
                    rows.add(rnd, "full", "full_cold_ms", [cold])
                    rows.add(rnd, "full", "full_warm_ms", warm)
                    rows.add(rnd, "full", "rss_mib", [rss], unit="MiB")
                    mark, objects = mark_run(proc.pid)
                    fig["mark"].append(mark)
                    fig["objects"].append(objects)
                    rows.add(rnd, "mark", "mark_ms", [mark])
                    fig["pprof"].append(pprof_run(proc))
                    rows.add(rnd, "pprof", "stw_ms", fig["pprof"][-1:], mode="pprof_debug2")
                print(f"| {seen} | {med(fig['tc']):.1f} | {med(fig['tw']):.1f} "
                      f"| {med(fig['fc']):.1f} | {med(fig['fw']):.1f} "
                      f"| {min(fig['reused'])} | {max(fig['rss']):.0f} "
                      f"| {med(fig['mark']):.1f} ({max(fig['objects'])}) "
                      f"| {med(fig['pprof']):.1f} |", flush=True)
                print(f"goroutines {seen}: tangle snapshot with stacks {med(fig['fw']):.1f} ms "
                      f"CPU warm, {med(fig['fc']):.1f} ms cold, mark {med(fig['mark']):.1f} ms, "
                      f"with no pause; pprof "
                      f"{med(fig['pprof']):.1f} ms with the world stopped", file=sys.stderr)
            finally:
                rows.close()
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
