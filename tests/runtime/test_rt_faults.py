"""Faults that lose events: nothing is lost silently, and what matters is found anyway.

- the ring buffer overflows (tangle stopped with SIGSTOP under load, a small
  --ringbuf-mb) while a deadlock forms: the drops are reported and add up, and
  the deadlock, whose waits began while events were being dropped, is still
  found (the lost waits are found again in /proc);
- the BPF thread map is full (--max-threads 64 under thread churn): counted,
  per CPU, and a recording of it replays the same reports;
- a pid (and tids) reused: a deadlocked process killed, another deadlocking
  one started under its pid (through ns_last_pid); each group is reported
  with its own program's threads.

Each kernel report names the CPUs the drops happened on, and their counts add
up to the report's.
"""

import os
import signal
import subprocess
import time

import pytest

from stuck_helpers import group_errors, member_tids, read_phase
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


def spawn_at_pid(fixture_proc, pid, name, *args, tries=50):
    """fixture NAME started as process `pid` again (the kernel's next pid set through
    /proc/sys/kernel/ns_last_pid, as root may); another fork may take it first: retried."""
    for _ in range(tries):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        fx = fixture_proc(name, *args)
        if fx.pid == pid:
            return fx
        fx.cleanup()
    pytest.fail(f"could not start {name} as pid {pid} in {tries} tries")


def test_pid_and_tid_reuse(fixture_proc, tmp_path):
    """A deadlocked process is killed and another deadlocking program starts
    under its pid, its threads under the same tids. The first group is
    resolved; the second is found with the new program's names and locks,
    nothing of the first mixed in."""
    proc, out = stream(tmp_path, "-d", 12, "--stuck-after", 1)
    time.sleep(1)
    first = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    stuck1 = read_phase(first.read_json, "stuck")
    time.sleep(2)  # reported
    pid = first.pid
    first.proc.kill()
    first.proc.wait()
    time.sleep(0.5)
    second = spawn_at_pid(fixture_proc, pid, "stuck_cycle3", "--timeout", FIXTURE_TIMEOUT)
    stuck2 = read_phase(second.read_json, "stuck")
    reused = set(stuck1["members"]) & ({pid} | set(stuck2["members"]) | set(stuck2["others"]))
    recs, err = finish(proc, out)
    groups = [r for r in recs if r["type"] == "stuck_group" and pid in r["pids"]]
    assert len(groups) >= 2, f"both groups of pid {pid} expected: {groups}\n{err}"
    g1 = next(g for g in groups if g["kind"] == stuck1["group_kind"]
              and set(member_tids(g)) == set(stuck1["members"]))
    assert not group_errors(g1, stuck1)
    resolved = [r for r in recs if r["type"] == "stuck_group_resolved"
                and r["group_id"] == g1["group_id"]]
    assert resolved, f"the first group (killed) never resolved\n{err}"
    later = [g for g in groups if g["detected_ts_ns"] > resolved[0]["resolved_ts_ns"]]
    assert later, f"no group of the second program under pid {pid}: {groups}"
    errs = group_errors(later[0], stuck2)
    assert not errs, f"{errs}\n(reused tids {sorted(reused)})"
    print(f"pid {pid} reused, tids reused: {sorted(reused)}")
    names = {m["comm"] for g in later for m in g["members"]}
    assert not names & {"abba-a", "abba-b"}, names
