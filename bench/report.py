#!/usr/bin/env python3
"""docs/BENCHMARKS.md (and its plots) from the CSV `make bench` collects.

    python3 bench/report.py BENCH.csv --out docs/BENCHMARKS.md [--png-dir docs]

Every figure of the report is a median over the rounds of one run, with its
spread (min-max) and the number of runs; throughput is also given as a
ratio to the same workload alone, measured in the same rounds (interleaved,
see bench/benchlib.py). Each table lists the commands that produced it.
Targets come from the project's issue; a missed one is marked MISSED, not
hidden. Plots need matplotlib (Debian's python3-matplotlib); without it
the report says so and has the tables only.
"""

import argparse
import collections
import csv
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys

# (section, workload, mode, metric) -> (op, target, what); op ">=" or "<"
# "ratio" targets compare ops_per_s to the workload alone.
TARGETS = [
    ("native", "mutex_contended_2t", "tangle_stream", "ratio", ">=", 0.97),
    ("native", "mutex_contended_4t", "tangle_stream", "ratio", ">=", 0.97),
    ("native", "mutex_uncontended", "tangle_stream", "ratio", ">=", 0.99),
    ("native", "pipe_pingpong", "tangle_stream", "ratio", ">=", 0.95),
    ("go", "go_chan_pingpong", "tangle_stream", "ratio", ">=", 0.97),
    ("pipeline", "futex_storm_max", "tangle_stream", "events_per_s", ">=", 1e6),
    ("pipeline", "futex_storm_300k", "tangle_stream", "lost", "<=", 0),
    ("snapshot", "goroutines_100000", "tangle_goroutines", "full_warm_ms", "<", 50),
    ("scale", "threads_10000", "tangle_stream", "observer_rss_mib", "<", 64),
    ("scale", "goroutines_100000", "tangle_stream", "observer_rss_mib", "<", 64),
    ("latency", "*", "tangle_stream", "detect_ms", "<", 1000),
]

THROUGHPUT = ("ops_per_s", "calls_per_s")  # a workload's own rate: ratios to "alone"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECTIONS = [
    ("native", "Native workloads: throughput under each observer",
     "Operations per second of each workload alone, under `tangle stream` (system-wide, "
     "records to /dev/null), under `tangle top` drawing in a detached tmux, and under a "
     "bpftrace script with uprobes on `pthread_mutex_lock`/`unlock` (what bcc's `deadlock` "
     "does). The ratio is throughput observed / alone. A ratio above 1 is no speed-up by "
     "the observer: on this 2-CPU VM an observer that keeps a CPU busy (tangle consuming a "
     "million futex events a second) leaves the lock's two threads running one at a time "
     "more often, and a lock that stays on one CPU goes much faster than one bouncing "
     "between two; a busy CPU also wakes faster from idle. Read those rows with the "
     "observer's CPU (observer_cpu_s) and its events; see bench/native.py. The "
     "tangle_lockorder rows are the opt-in lock-order mode on the workload process alone "
     "(uprobes on every lock and unlock call, placed on instructions the kernel emulates), "
     "tangle_lockorder_entry the same mode with its probes on the functions' first "
     "instructions, which the kernel single-steps; added_ns_per_call is what each probed "
     "call cost (see the per-lock cost below)."),
    ("go", "Go workloads: throughput under each observer",
     "A channel ping-pong and a goroutine-heavy HTTP server, alone, under tangle's default Go "
     "mode (goroutine snapshots about once a second, stuck-goroutine detection) and under a "
     "bpftrace uprobe on `runtime.casgstatus` (what event-based goroutine tracers do)."),
    ("snapshot", "Goroutine snapshots",
     "What one snapshot of every goroutine costs tangle (CPU ms), cold (first) and warm "
     "(later, unchanged stacks not re-read), without stacks (table) and with; the mark phase "
     "behind stuck-goroutine evidence; and the Go runtime's own `pprof` debug=2 dump, during "
     "which the world is stopped."),
    ("pipeline", "Event pipeline at its limit",
     "Two threads call futex(FUTEX_WAIT) on a word that does not hold the value, at a paced "
     "rate or as fast as they can: each call returns at once and costs tangle two events. "
     "calls_per_s is what the workload achieved (alone: its own limit); events_per_s what "
     "tangle consumed, to /dev/null or to a file; lost what the ring buffer could not take."),
    ("scale", "Observing many threads and goroutines",
     "tangle's peak RSS and CPU while it watches 10,000 threads or 100,000 goroutines."),
    ("latency", "Stuck detection latency",
     "From the moment a deadlock formed to tangle's `stuck_group` record: its own timestamp "
     "(detect) and when the line was read (wall)."),
    ("latency_go", "Stuck goroutine detection latency",
     "From the Go fixture's goroutines parked (its \"ready\", after the bug formed) to "
     "the `stuck_group` records naming all of them, tangle started first. The stuck rule "
     "waits `--stuck-after` on purpose (5 s by default, 1 s here) and then wants two marks "
     "of the heap to agree (a snapshot a second); the leaked rule (nil channel, `select {}`) "
     "confirms for 1 s."),
]


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            try:
                r["value"] = float(r["value"])
            except ValueError:
                continue
            rows.append(r)
    return rows


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f} M"
    if a >= 1e4:
        return f"{v / 1e3:.0f} k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def machine():
    root = ROOT

    def run(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=root).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- kernel: {platform.release()}",
            f"- CPU: {cpu}, {os.cpu_count()} CPUs; memory {mem}",
            f"- tangle: {run('git', 'describe', '--always', '--dirty')}",
            f"- bpftrace: {run('bpftrace', '--version') or 'not installed'}; "
            f"Go: {run('go', 'env', 'GOVERSION')}"]


def shown_command(cmd):
    """A command as a reader would type it: from the repository's root, the
    benchmarks' temporary build directories left out."""
    cmd = re.sub(r"/tmp/tangle-bench-[a-z]+-\w+/", "", cmd)
    return cmd.replace(ROOT + "/", "./")


def group(rows):
    """(section, workload, mode, metric) -> values, plus units and commands."""
    vals = collections.OrderedDict()
    units, cmds = {}, collections.OrderedDict()
    for r in rows:
        key = (r["section"], r["workload"], r["mode"], r["metric"])
        vals.setdefault(key, []).append(r["value"])
        units[key] = r["unit"]
        if r["command"]:
            cmds.setdefault((r["section"], r["mode"], shown_command(r["command"])), None)
        if r["metric"] == "observer_rss_kib":  # a MiB view for the targets
            k2 = key[:3] + ("observer_rss_mib",)
            vals.setdefault(k2, []).append(r["value"] / 1024)
            units[k2] = "MiB"
    return vals, units, cmds


def ratios(vals):
    """(section, workload, mode) -> median ops/s over median ops/s alone."""
    out = {}
    for (sec, wl, mode, metric), v in vals.items():
        if metric not in THROUGHPUT or mode == "alone":
            continue
        base = vals.get((sec, wl, "alone", metric))
        if base:
            out[(sec, wl, mode)] = statistics.median(v) / statistics.median(base)
    return out


def round_ratios(rows):
    """(section, workload, mode) -> [ops/s ratio to alone within each round]."""
    per = {}
    for r in rows:
        if r["metric"] in THROUGHPUT:
            per[(r["section"], r["workload"], r["mode"], r["round"])] = r["value"]
    out = collections.defaultdict(list)
    for (sec, wl, mode, rnd), v in per.items():
        base = per.get((sec, wl, "alone", rnd))
        if mode != "alone" and base:
            out[(sec, wl, mode)].append(v / base)
    return out


def check(vals, rat):
    """[(target text, measured, ok)] for every target with data."""
    res = []
    for sec, wl, mode, metric, op, target in TARGETS:
        keys = [k for k in vals if k[0] == sec and (wl == "*" or k[1] == wl) and k[2] == mode
                and k[3] == metric] if metric != "ratio" else \
            [k for k in rat if k == (sec, wl, mode)]
        for k in keys:
            m = rat[k] if metric == "ratio" else statistics.median(vals[k])
            ok = {">=": m >= target, "<": m < target, "<=": m <= target}[op]
            what = f"{k[1]}, {mode}: {'throughput ratio' if metric == 'ratio' else metric}"
            res.append((f"{what} {op} {fmt(target)}", m, ok))
    return res


def section_table(sec, vals, units, rat, rrat):
    keys = [k for k in vals if k[0] == sec and k[3] != "observer_rss_mib"]
    if not keys:
        return []
    lines = ["| workload | mode | metric | median | min - max | n "
             "| ratio to alone (per-round min - max) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for k in keys:
        v = vals[k]
        ratio, cell = rat.get(k[:3]) if k[3] in THROUGHPUT else None, ""
        if ratio is not None:
            rr = rrat.get(k[:3], [])
            cell = f"{ratio:.3f}" + (f" ({min(rr):.3f} - {max(rr):.3f})" if rr else "")
        lines.append(f"| {k[1]} | {k[2]} | {k[3]} ({units[k]}) | {fmt(statistics.median(v))} | "
                     f"{fmt(min(v))} - {fmt(max(v))} | {len(v)} | {cell} |")
    return lines


def per_call_cost(vals):
    """The per-lock cost of the uprobe modes, in words, from mutex_uncontended."""
    names = {"tangle_lockorder": "`tangle lockorder` (probes on emulated instructions)",
             "tangle_lockorder_entry": "`tangle lockorder --probe-at entry` (single-stepped)",
             "bpftrace_uprobe": "bpftrace uprobes on lock/unlock entry, bcc `deadlock` style"}
    lines = []
    for mode, what in names.items():
        v = vals.get(("native", "mutex_uncontended", mode, "added_ns_per_call"))
        if v:
            lines.append(f"- {what}: {statistics.median(v) / 1000:.2f} us per lock or unlock "
                         f"call (median of {len(v)}, {min(v) / 1000:.2f} - {max(v) / 1000:.2f})")
    if not lines:
        return []
    alone = vals.get(("native", "mutex_uncontended", "alone", "ops_per_s"))
    # two threads, each a lock and an unlock per op
    without = f"{1e9 / statistics.median(alone):.0f} ns" if alone else "a few ns"
    return ["", "Per-lock cost of the uprobe modes (mutex_uncontended: each thread on its own "
            f"mutex, so this is the probe alone; a call takes {without} without one):",
            ""] + lines


def plots(vals, png_dir):
    """Scaling curves; returns [(file name, caption)] or a reason string."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (apt install python3-matplotlib): no plots"
    made = []
    snap = collections.defaultdict(dict)
    for (sec, wl, mode, metric), v in vals.items():
        if sec == "snapshot" and wl.startswith("goroutines_"):
            snap[metric][int(wl.split("_")[1])] = statistics.median(v)
    if snap:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        names = {"table_cold_ms": "tangle, cold, no stacks", "table_warm_ms": "tangle, warm, no stacks",
                 "full_cold_ms": "tangle, cold, stacks", "full_warm_ms": "tangle, warm, stacks",
                 "mark_ms": "stuck evidence (mark)", "stw_ms": "pprof debug=2 (world stopped)"}
        for metric, label in names.items():
            pts = sorted(snap.get(metric, {}).items())
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("goroutines")
        ax.set_ylabel("ms (tangle: CPU; pprof: wall, target paused)")
        ax.axhline(50, color="grey", linestyle=":", linewidth=1)
        ax.set_title("Goroutine snapshot cost")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(png_dir, "bench-snapshot.png"), dpi=100)
        plt.close(fig)
        made.append(("bench-snapshot.png", "Goroutine snapshot cost against goroutine count "
                     "(log-log; the dotted line is the 50 ms target)"))
    pipe = [(k, statistics.median(v)) for k, v in vals.items()
            if k[0] == "pipeline" and k[3] in ("events_per_s",)]
    if pipe:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.barh([f"{k[1]}, {k[2]}" for k, _ in pipe], [m for _, m in pipe])
        ax.axvline(1e6, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("events consumed per second")
        ax.set_title("Event pipeline")
        fig.tight_layout()
        fig.savefig(os.path.join(png_dir, "bench-pipeline.png"), dpi=100)
        plt.close(fig)
        made.append(("bench-pipeline.png", "Events consumed per second (dotted: 1M target)"))
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--out", default="docs/BENCHMARKS.md")
    ap.add_argument("--png-dir", default=None)
    ap.add_argument("--command", default="sudo make bench", help="what produced the CSV")
    args = ap.parse_args()
    rows = load(args.csv)
    vals, units, cmds = group(rows)
    rat, rrat = ratios(vals), round_ratios(rows)
    png_dir = args.png_dir or os.path.dirname(os.path.abspath(args.out))
    out = ["# Benchmarks", "",
           f"Generated by `{args.command}` (bench/report.py from "
           f"`{os.path.basename(args.csv)}`, committed next to this file). Medians over the "
           "rounds of one run; modes interleaved within each round. Figures, not pass/fail: "
           "the tests time nothing.", "", "## Machine", ""] + machine()
    verdicts = check(vals, rat)
    out += ["", "## Targets", "", "| target | measured | |", "| --- | ---: | --- |"]
    for text, m, ok in verdicts:
        out.append(f"| {text} | {fmt(m)} | {'met' if ok else '**MISSED**'} |")
    made = plots(vals, png_dir)
    for sec, title, intro in SECTIONS:
        table = section_table(sec, vals, units, rat, rrat)
        if not table:
            continue
        out += ["", f"## {title}", "", intro, ""] + table
        these = [c for c in cmds if c[0] == sec]
        if these:
            out += ["", "Commands:", ""]
            out += [f"- {mode}: `{cmd}`" for _, mode, cmd in these]
        if sec == "native":
            out += per_call_cost(vals)
        for name, caption in made if isinstance(made, list) else []:
            if name == f"bench-{sec}.png":
                out += ["", f"![{caption}]({name})", "", f"*{caption}*"]
    if isinstance(made, str):
        out += ["", f"({made})"]
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    missed = [v for v in verdicts if not v[2]]
    print(f"report: {args.out}, {len(rows)} figures, {len(verdicts)} targets, "
          f"{len(missed)} missed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
