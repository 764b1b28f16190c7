#!/usr/bin/env python3
"""Live detection latency of stuck and leaked goroutines.

Run as root from the repository root after `make` and `make gofixtures`:

    sudo python3 bench/latency_go.py [--rounds N] [--fixtures a,b] [--stuck-after S]
                                     [--csv PATH] [-v]

Each round runs every fixture once (tests/go/stuck/*, built by the installed
go; default: abba, wg_missing_done, early_return, range_unclosed, nil_chan,
select_forever): `tangle stream --json --stuck-after S` starts first,
system-wide, and once it has attached and settled the fixture starts, parks
its goroutines (the bug forms), checks them against the runtime's own dump
and prints "ready". Its truth.json says which goroutines are stuck and
ready_mono_ns, the CLOCK_MONOTONIC time of "ready": the bug had formed by
then (a little earlier, so the figures below slightly understate the
latency). Per run, once every stuck goroutine of truth is a member of a
`stuck_group` of the fixture's pid:

  detect: the latest detected_ts_ns of those groups - ready_mono_ns
  wall:   when the line completing the set was read - ready_mono_ns
  detect_minus_stuck_after: detect - S (the stuck rule waits S on purpose;
          the leaked rule does not wait it, so this is negative for nil_chan
          and select_forever)

A run that reports a goroutine truth does not list as stuck, or misses one
for 30 s, is a failure and not counted. Prints a Markdown table per fixture
and a final `latency_go:` line. With --csv PATH, appends every run to PATH
(bench/benchlib.py): section "latency_go", workload the fixture, mode
"tangle_stream_stuck_after_S", metrics detect_ms, wall_ms,
detect_minus_stuck_after_ms. Exit status 1 if nothing was measured.
Env: TANGLE, TANGLE_GO_FIXTURES (default .output/go).
"""

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "runtime"))
from go_helpers import STUCK_ARGS, GoFixture, go_local_version, require_go_fixture  # noqa: E402
from tangle_helpers import TangleStream  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
import benchlib  # noqa: E402

DEFAULT_FIXTURES = ("abba", "wg_missing_done", "early_return", "range_unclosed", "nil_chan",
                    "select_forever")
DEADLINE_S = 30
MS = 1e6


def found_groups(stream, pid, truth):
    """The goroutine groups of pid found so far, or raises if one has a goroutine
    truth does not call stuck."""
    groups = [r for r in stream.records
              if r.get("type") == "stuck_group" and r.get("of") == "goroutines"
              and r.get("pids") == [pid]]
    for g in groups:
        extra = {m["goid"] for m in g["members"]} - truth
        if extra:
            raise RuntimeError(f"reported goroutines that are not stuck: {sorted(extra)}")
    return groups


def one_run(path, args, stuck_after):
    """(detect_ms, wall_ms) of one run, or raises RuntimeError."""
    stream = TangleStream(["--stuck-after", stuck_after])
    fx = None
    try:
        stream.wait_meta()
        stream.wait_settled()
        fx = GoFixture(path, *args).ready(timeout=60)
        truth = set(fx.truth["stuck_goids"])
        ready_ns = fx.truth["ready_mono_ns"]
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            n = len(stream.out.lines)
            groups = found_groups(stream, fx.pid, truth)
            have = {m["goid"] for g in groups for m in g["members"]}
            if have >= truth:
                read_ns = time.monotonic_ns()
                detected = max(g["detected_ts_ns"] for g in groups
                               if {m["goid"] for m in g["members"]} & truth)
                return (detected - ready_ns) / MS, (read_ns - ready_ns) / MS
            if stream.proc.poll() is not None:
                raise RuntimeError(f"tangle exited: {stream.describe()[-1500:]}")
            stream.out.wait_changed(n, 0.05)
        raise RuntimeError(f"not all of {sorted(truth)} reported in {DEADLINE_S} s (have "
                           f"{sorted(have)})")
    except AssertionError as e:  # the helpers' way of saying a fixture or tangle failed
        raise RuntimeError(str(e)[:2000]) from None
    finally:
        if fx:
            fx.proc.kill()
            fx.proc.wait()
            shutil.rmtree(fx.tmp, ignore_errors=True)
        stream.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds (each runs every fixture)")
    ap.add_argument("--fixtures", default=",".join(DEFAULT_FIXTURES),
                    help="comma-separated fixture names (tests/go/stuck/NAME)")
    ap.add_argument("--stuck-after", type=float, default=1, help="tangle's --stuck-after")
    ap.add_argument("--csv", help="also append every run to this CSV (bench/benchlib.py)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every run")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("latency_go.py: needs root (BPF)")
    names = [n for n in a.fixtures.split(",") if n]
    toolchain = go_local_version()
    try:
        paths = {n: require_go_fixture(f"stuck/{n}", toolchain, "plain") for n in names}
    except AssertionError as e:
        sys.exit(f"latency_go.py: {e}")
    mode = f"tangle_stream_stuck_after_{a.stuck_after:g}"
    out = benchlib.Csv(a.csv) if a.csv else None
    detect = {n: [] for n in names}
    wall = {n: [] for n in names}
    failures = []
    for rnd in range(a.rounds):
        for n in names:
            try:
                d, w = one_run(paths[n], STUCK_ARGS.get(n, ()), f"{a.stuck_after:g}")
            except RuntimeError as e:
                failures.append(f"round {rnd + 1} {n}: {e}")
                print(f"latency_go.py: round {rnd + 1} {n}: {e}", file=sys.stderr)
                continue
            detect[n].append(d)
            wall[n].append(w)
            if a.verbose:
                print(f"  {n}: detect {d:.0f} ms, wall {w:.0f} ms", file=sys.stderr)
            if out:
                cmd = (f"tangle stream --json --stuck-after {a.stuck_after:g} & "
                       f"{n} ({toolchain})")
                for metric, v in (("detect_ms", d), ("wall_ms", w),
                                  ("detect_minus_stuck_after_ms", d - a.stuck_after * 1000)):
                    out.row("latency_go", n, mode, rnd, metric, "ms", round(v, 3), cmd)
    if out:
        out.close()

    print(f"stuck goroutines, --stuck-after {a.stuck_after:g} s, {toolchain}\n")
    print("| fixture | runs | detect median ms | detect max ms | wall median ms | wall max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in names:
        d, w = detect[n], wall[n]
        if not d:
            print(f"| {n} | 0 | - | - | - | - |")
            continue
        print(f"| {n} | {len(d)} | {statistics.median(d):.0f} | {max(d):.0f} | "
              f"{statistics.median(w):.0f} | {max(w):.0f} |")
    if failures:
        print(f"\n{len(failures)} run(s) failed:")
        for f in failures:
            print(f"- {f}")
    all_d = [x for n in names for x in detect[n]]
    if not all_d:
        print("latency_go: no result")
        return 1
    print(f"\nlatency_go: median {statistics.median(all_d):.0f} ms, max {max(all_d):.0f} ms "
          f"with --stuck-after {a.stuck_after:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
