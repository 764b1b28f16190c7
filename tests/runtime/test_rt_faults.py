"""Faults that lose events: nothing is lost silently, and what matters is found anyway.

- the ring buffer overflows (tangle stopped with SIGSTOP under load, a small
  --ringbuf-mb) while a deadlock forms: the drops are reported and add up, and
  the deadlock, whose waits began while events were being dropped, is still
  found (the lost waits are found again in /proc);
- the BPF thread map is full (--max-threads 64 under thread churn): counted,
  per CPU, and a recording of it replays the same reports.

Each kernel report names the CPUs the drops happened on, and their counts add
up to the report's.
"""

import os
import signal
import subprocess
import time

from stuck_helpers import group_errors, read_phase
from tangle_helpers import parse_output, require_fixture, require_tangle

FIXTURE_TIMEOUT = 40


def stream(tmp_path, *args):
    """tangle stream ARGS with stdout to a file: (process, path of its output)."""
    out = tmp_path / "stream.ndjson"
    f = open(out, "wb")
    proc = subprocess.Popen([str(require_tangle()), "stream", *map(str, args)], stdout=f,
                            stderr=subprocess.PIPE)
    f.close()
    return proc, out


def finish(proc, out):
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err.decode("utf-8", "replace")
    assert proc.returncode == 0, err
    recs = parse_output(out.read_bytes())
    assert recs[0]["type"] == "meta" and recs[-1]["type"] == "summary", (recs[:1], recs[-1:])
    return recs, err


def lost_totals(recs):
    """reason -> total, as the last lost_events of each reason says; and the counts add up,
    over the reports and, in each report of the kernel's, over the CPUs it names."""
    totals, sums = {}, {}
    for r in recs:
        if r["type"] == "lost_events":
            sums[r["reason"]] = sums.get(r["reason"], 0) + r["count"]
            totals[r["reason"]] = r["total"]
            if r["reason"] != "output_full":
                assert sum(c["count"] for c in r["cpus"]) == r["count"], r
                assert all(c["cpu"] < os.cpu_count() for c in r["cpus"]), r
    assert sums == totals, (sums, totals)
    return totals


def test_ringbuf_overflow_deadlock_still_found(fixture_proc, tmp_path):
    busy = fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    read_phase(busy.read_json, "ready")
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT, "--wait-signal")
    read_phase(fx.read_json, "started")
    proc, out = stream(tmp_path, "--ringbuf-mb", 1, "-d", 9, "--stuck-after", 1, "-v")
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        time.sleep(2)  # 1 MiB fills in milliseconds under this load: from here on, drops
        fx.signal(signal.SIGUSR1)
        stuck = read_phase(fx.read_json, "stuck")
        time.sleep(1)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    recs, err = finish(proc, out)
    totals = lost_totals(recs)
    assert totals.get("ringbuf_full", 0) > 0, f"no drop reported: {totals}\n{err}"
    assert sum(totals.values()) == recs[-1]["lost"], (totals, recs[-1])
    groups = [r for r in recs if r["type"] == "stuck_group"]
    assert groups, f"the deadlock formed during the drops was not found\n{err}"
    errs = group_errors(groups[0], stuck)
    assert not errs, errs
    assert groups[0]["detected_ts_ns"] > stuck["formed_ns"]


def test_thread_map_full_is_counted(tmp_path):
    proc, out = stream(tmp_path, "--max-threads", 64, "-d", 4)
    time.sleep(1)
    subprocess.run([str(require_fixture("churn")), "2000", "--batch", "32"],
                   stdout=subprocess.DEVNULL, check=True, timeout=60)
    recs, err = finish(proc, out)
    totals = lost_totals(recs)
    assert totals.get("thread_map_full", 0) > 0, f"no drop reported: {totals}\n{err}"
    assert sum(totals.values()) == recs[-1]["lost"], (totals, recs[-1])


def test_drops_recorded_per_cpu(tmp_path):
    """A recording keeps the per-CPU breakdown: its replay reports what the
    recording's run logged, CPU by CPU."""
    rec = tmp_path / "drops.rec"
    proc = subprocess.Popen([str(require_tangle()), "record", "-o", str(rec), "--max-threads", "64",
                             "-d", "4"], stderr=subprocess.PIPE)
    time.sleep(1)
    subprocess.run([str(require_fixture("churn")), "2000", "--batch", "32"],
                   stdout=subprocess.DEVNULL, check=True, timeout=60)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    res = subprocess.run([str(require_tangle()), "replay", str(rec), "stream"], capture_output=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    recs = parse_output(res.stdout)
    totals = lost_totals(recs)
    assert totals.get("thread_map_full", 0) > 0, totals
    reports = [r for r in recs if r["type"] == "lost_events"]
    assert all(r["cpus"] for r in reports), reports
    assert sum(totals.values()) == recs[-1]["lost"], (totals, recs[-1])
