#!/usr/bin/env python3
"""The event pipeline at its limit: how many events tangle consumes a second,
what it loses, and what that costs it.

Run as root from the repository root after `make`:

    sudo python3 bench/pipeline.py --csv OUT.csv [--rounds 3] [--seconds 3] [--only TEXT]

The workload is bench/workloads/futex_storm.c: two threads calling
futex(FUTEX_WAIT_PRIVATE) with a value their word does not hold, so each call
returns EAGAIN at once and costs tangle two events (a wait begins and ends)
without a context switch. Offered rates, in events a second (calls are half):

  futex_storm_300k   150,000 calls/s: the rate with no loss promised;
  futex_storm_1m     500,000 calls/s: the rate to keep up with;
  futex_storm_max    unpaced: as many as two threads make.

Modes, rounds interleaved (benchlib.interleaved):

  alone               the workload by itself: calls it achieved;
  tangle_stream       `tangle stream -v -o /dev/null`, system-wide: every
                      record built and formatted, then thrown away;
  tangle_stream_file  `tangle stream -v -o FILE`, FILE in a temporary
                      directory: the NDJSON written too, as a user recording
                      to a file would.

Rows (section "pipeline", workload as above): calls_per_s (what the workload
achieved, every mode); for tangle: events and lost (the counts tangle logs at
exit: everything it consumed or lost system-wide while it ran), events_per_s
(events / the workload's own measured seconds: background events of the rest
of the host, a few hundred a second, and those of tangle's start and stop are
counted in, so this slightly overstates the rate at low rates),
observer_cpu_s (user + system CPU seconds of tangle, start-up included) and
observer_rss_kib (its peak RSS). Figures, not pass/fail: bench/report.py
compares them to the targets (>= 1M events/s at the limit, nothing lost at
300k/s).

--only TEXT keeps the workloads (or modes) with TEXT in their name. A failed
run is printed on stderr and left out; the exit status is 1 only if nothing
was measured. A default run (3 rounds x 3 workloads x 3 modes x 3 s) takes
about 2 minutes. Env: TANGLE.
"""

import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib

MODES = ("alone", "tangle_stream", "tangle_stream_file")
WORKLOADS = (  # (name, calls a second; 0: unpaced)
    ("futex_storm_300k", 150_000),
    ("futex_storm_1m", 500_000),
    ("futex_storm_max", 0),
)
UNITS = {"calls_per_s": "calls/s", "events": "events", "lost": "events",
         "events_per_s": "events/s", "observer_cpu_s": "s", "observer_rss_kib": "KiB"}


def log(msg):
    print(f"pipeline.py: {msg}", file=sys.stderr, flush=True)


def one_run(mode, exe, rate, seconds, tmp):
    """({metric: value}, command line) of one run."""
    argv = [exe, str(rate), f"{seconds:g}"]
    obs = None
    if mode == "tangle_stream":
        obs = benchlib.TangleStream()
    elif mode == "tangle_stream_file":
        obs = benchlib.TangleStream(out=os.path.join(tmp, "stream.ndjson"), mode=mode)
    try:
        res = subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 60)
        w = json.loads(res.stdout.decode().strip().splitlines()[-1])
    finally:
        cost = stop(obs) if obs else {}
    got = {"calls_per_s": w["calls_per_s"], **cost}
    if "events" in cost:
        got["events_per_s"] = cost["events"] / w["seconds"]
    wcmd = shlex.join([os.path.basename(exe), *argv[1:]])
    if obs:
        ocmd = obs.command().replace(tmp, "$TMP")
        return got, f"{ocmd} & {wcmd}"
    return got, wcmd


def stop(obs):
    """obs.stop()'s figures; tangle is gone afterwards whatever happens."""
    try:
        return obs.stop()
    finally:
        if obs.p.poll() is None:
            obs.p.kill()
            obs.p.wait()
        if obs.out != os.devnull:
            try:
                os.unlink(obs.out)
            except FileNotFoundError:
                pass


def table(figures, workloads, modes, rounds, seconds):
    print(f"\nevent pipeline: median of {rounds} round(s) of {seconds:g} s; kernel "
          f"{os.uname().release}, {os.cpu_count()} CPUs\n")
    print(f"{'workload':<18} {'mode':<20} {'calls/s':>10} {'events/s':>10} {'lost':>8} "
          f"{'CPU s':>6} {'RSS MiB':>8}")
    for wl, _ in workloads:
        for mode in modes:
            f = figures.get((wl, mode))
            if not f:
                print(f"{wl:<18} {mode:<20} {'FAILED':>10}")
                continue

            def med(metric, fmt):
                v = f.get(metric)
                return format(statistics.median(v), fmt) if v else "-"
            rss = f.get("observer_rss_kib")
            print(f"{wl:<18} {mode:<20} {med('calls_per_s', ',.0f'):>10} "
                  f"{med('events_per_s', ',.0f'):>10} {med('lost', ',.0f'):>8} "
                  f"{med('observer_cpu_s', '.2f'):>6} "
                  f"{format(statistics.median(rss) / 1024, '.1f') if rss else '-':>8}")
    print()


def main():
    a = benchlib.arguments(__doc__, 3, 3, "tangle loads BPF programs")
    workloads, modes = benchlib.select(a.only, WORKLOADS, MODES, "pipeline.py")
    start = time.monotonic()
    out = benchlib.Csv(a.csv)
    figures, failures = {}, []
    try:
        with tempfile.TemporaryDirectory(prefix="tangle-bench-pipeline-") as tmp:
            exe = benchlib.build_c(tmp, "futex_storm")
            for wl, rate in workloads:
                for rnd, mode in benchlib.interleaved(modes, a.rounds):
                    try:
                        got, cmd = one_run(mode, exe, rate, a.seconds, tmp)
                    except Exception as e:  # noqa: BLE001 - reported, the others still run
                        log(f"{wl} {mode} round {rnd}: FAILED: {e}")
                        failures.append(f"{wl} {mode} round {rnd}")
                        continue
                    for metric, value in got.items():
                        out.row("pipeline", wl, mode, rnd, metric, UNITS.get(metric, ""), value,
                                cmd)
                        figures.setdefault((wl, mode), {}).setdefault(metric, []).append(value)
                    log(f"{wl} {mode} round {rnd}: "
                        + ", ".join(f"{k} {v:,.0f}" if v > 100 else f"{k} {v:.2f}"
                                    for k, v in got.items()))
    finally:
        out.close()
    table(figures, workloads, modes, a.rounds, a.seconds)
    runs = sum(len(f["calls_per_s"]) for f in figures.values())
    return benchlib.finish("pipeline.py", runs, failures, start)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sys.exit(main())
