#!/usr/bin/env python3
"""Live detection latency of tangle's stuck-group detector.

Run as root from the repository root after `make` and `make fixtures`:

    sudo python3 bench/latency.py [--rounds N] [--fixtures a,b,c] [--verbose] [--csv PATH]

Each round runs every fixture once (default: stuck_abba, stuck_cycle3,
stuck_philosophers, interleaved): the fixture starts with --wait-signal,
`tangle stream --json -p PID` attaches, and once its meta record is out the
fixture gets SIGUSR1 and forms its deadlock. Two figures per run:

  detect: stuck_group.detected_ts_ns - formed_ns   (tangle's own timestamp)
  wall:   time the stuck_group line was read - formed_ns

formed_ns is the CLOCK_MONOTONIC time the fixture took just before its last
blocking lock call; Python's time.monotonic_ns() reads the same clock.

Prints a Markdown table per fixture and a final line
`latency: median X ms, max Y ms (target < 1000 ms)`. A run whose stuck_group
is wrong (member set, locks, edges) or missing is listed as failed and not
counted. Exit status 1 if no round produced a result; 0 otherwise.
With --csv PATH, also appends every run to PATH in bench/benchlib.py's
format: section "latency", workload the fixture, mode "tangle_stream",
metrics detect_ms and wall_ms.
Env: TANGLE (binary, default ./tangle), TANGLE_FIXTURES (default
.output/fixtures).
"""

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "runtime"))
from stuck_helpers import group_errors, member_tids  # noqa: E402
sys.path.insert(0, str(REPO / "bench"))
import benchlib  # noqa: E402

DEFAULT_FIXTURES = ("stuck_abba", "stuck_cycle3", "stuck_philosophers")
TARGET_MS = 1000.0
MS = 1e6


class Lines:
    """Reads a pipe on a thread; each line is queued with the monotonic time it was read."""

    def __init__(self, pipe):
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.t.start()

    def _run(self, pipe):
        for line in iter(pipe.readline, b""):
            self.q.put((time.monotonic_ns(), line))
        self.q.put((time.monotonic_ns(), None))

    def next(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        try:
            ts, line = self.q.get(timeout=left)
        except queue.Empty:
            raise TimeoutError("timed out") from None
        if line is None:
            raise EOFError("pipe closed")
        return ts, line

    def json_until(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            ts, line = self.next(deadline)
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if pred(rec):
                return ts, rec


def stop(proc, sig):
    if proc and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def one_run(tangle, fixture_path, verbose):
    """Returns (detect_ms, wall_ms) or raises RuntimeError describing what went wrong."""
    fx = tg = None
    try:
        # stdin stays an open pipe: EOF on stdin would release the fixture early
        fx = subprocess.Popen([str(fixture_path), "--wait-signal", "--timeout", "30"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
        fx_out = Lines(fx.stdout)
        _, started = fx_out.json_until(lambda r: r.get("phase") == "started", 10)
        pid = started["pid"]
        tg = subprocess.Popen([str(tangle), "stream", "--json", "-p", str(pid), "-d", "20"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        tg_out = Lines(tg.stdout)
        _, meta = tg_out.json_until(lambda r: True, 30)
        if meta.get("type") != "meta":
            raise RuntimeError(f"first record is not meta: {meta}")
        os.kill(pid, signal.SIGUSR1)
        _, stuck = fx_out.json_until(lambda r: r.get("phase") == "stuck", 10)
        read_ns, group = tg_out.json_until(lambda r: r.get("type") == "stuck_group", 10)
        errs = group_errors(group, stuck)
        if errs:
            raise RuntimeError("wrong stuck_group: " + "; ".join(errs)
                               + f"\n  members {member_tids(group)} expected {stuck['members']}")
        detect = (group["detected_ts_ns"] - stuck["formed_ns"]) / MS
        wall = (read_ns - stuck["formed_ns"]) / MS
        if verbose:
            print(f"  {fixture_path.name}: detect {detect:.1f} ms, wall {wall:.1f} ms",
                  file=sys.stderr)
        return detect, wall
    except (TimeoutError, EOFError) as e:
        raise RuntimeError(f"{type(e).__name__}: {e}") from None
    finally:
        stop(fx, signal.SIGKILL)
        stop(tg, signal.SIGINT)
        for p in (fx, tg):
            if p:
                for f in (p.stdin, p.stdout, p.stderr):
                    if f:
                        f.close()


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10, help="rounds (each runs every fixture)")
    ap.add_argument("--fixtures", default=",".join(DEFAULT_FIXTURES),
                    help="comma-separated fixture names")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    ap.add_argument("--csv", help="also append every run to this CSV (bench/benchlib.py)")
    args = ap.parse_args()

    tangle = Path(os.environ.get("TANGLE") or REPO / "tangle")
    fxdir = Path(os.environ.get("TANGLE_FIXTURES") or REPO / ".output" / "fixtures")
    names = [n for n in args.fixtures.split(",") if n]
    if os.geteuid() != 0:
        print("latency.py: needs root (BPF)", file=sys.stderr)
        return 1
    for path in [tangle] + [fxdir / n for n in names]:
        if not os.access(path, os.X_OK):
            print(f"latency.py: {path} missing: run `make` and `make fixtures`", file=sys.stderr)
            return 1

    detect = {n: [] for n in names}
    wall = {n: [] for n in names}
    failures = []
    out = benchlib.Csv(args.csv) if args.csv else None
    cmd = "tangle stream --json -p PID -d 20"
    for rnd in range(args.rounds):
        for n in names:
            try:
                d, w = one_run(tangle, fxdir / n, args.verbose)
                detect[n].append(d)
                wall[n].append(w)
                if out:
                    out.row("latency", n, "tangle_stream", rnd, "detect_ms", "ms", round(d, 3),
                            f"{n} --wait-signal & {cmd}")
                    out.row("latency", n, "tangle_stream", rnd, "wall_ms", "ms", round(w, 3),
                            f"{n} --wait-signal & {cmd}")
            except RuntimeError as e:
                failures.append(f"round {rnd + 1} {n}: {e}")
                print(f"latency.py: round {rnd + 1} {n}: {e}", file=sys.stderr)

    print("| fixture | rounds | median ms | p90 ms | max ms | wall median ms | wall p90 ms "
          "| wall max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in names:
        d, w = detect[n], wall[n]
        if not d:
            print(f"| {n} | 0 | - | - | - | - | - | - |")
            continue
        print(f"| {n} | {len(d)} | {statistics.median(d):.1f} | {pct(d, 90):.1f} | "
              f"{max(d):.1f} | {statistics.median(w):.1f} | {pct(w, 90):.1f} | {max(w):.1f} |")
    if out:
        out.close()
    all_d = [x for n in names for x in detect[n]]
    all_w = [x for n in names for x in wall[n]]
    if failures:
        print(f"\n{len(failures)} run(s) failed:")
        for f in failures:
            print(f"- {f}")
    if not all_d:
        print("latency: no result (target < 1000 ms)")
        return 1
    print(f"\nwall (line read): median {statistics.median(all_w):.1f} ms, max {max(all_w):.1f} ms")
    print(f"latency: median {statistics.median(all_d):.1f} ms, max {max(all_d):.1f} ms "
          f"(target < {TARGET_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
