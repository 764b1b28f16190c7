"""Stuck groups on the real kernel: `tangle check`, `tangle stream` and `tangle run`
against fixtures that deadlock (tests/fixtures/stuck_*.c) or merely wait (ok_*.c).

Each stuck fixture prints the exact group tangle must report (see
stuck_helpers.py); the tests compare tangle's `stuck_group` with it field by
field. Two modes per fixture:
  after:  the hang forms first, then `tangle check` attaches (found from /proc);
  before: `tangle stream` is attached first, then SIGUSR1 makes the fixture
          form the hang (seen live; detection latency < 1 s).
"""

import json
import os
import signal
import subprocess
import tempfile
import time

import pytest

from stuck_helpers import (MS, STUCK_FIXTURES, describe, group_errors,
                           hexint, member_tids, read_phase, tangle_pid_args)
from tangle_helpers import parse_output, require_fixture, require_tangle, run_tangle

FIXTURE_TIMEOUT = 30       # every fixture exits by itself after this
CHECK_DURATION = 5         # tangle check -d for the stuck cases (stops early)
LATENCY_LIMIT_NS = 1000 * MS


def start_stuck_fixture(fixture_proc, name, *args):
    fx = fixture_proc(name, "--timeout", FIXTURE_TIMEOUT, *args)
    started = read_phase(fx.read_json, "started")
    assert started["pid"] == fx.pid, started
    return fx


def watched_pids(fx, name):
    """The pids tangle must watch: the fixture, and for stuck_pshared its child."""
    if name == "stuck_pshared":
        forked = read_phase(fx.read_json, "forked")
        return [fx.pid, forked["child_pid"]]
    return [fx.pid]


def check_json(pids, duration=CHECK_DURATION):
    rc, out, err = run_tangle(["check", "--json", *tangle_pid_args(pids), "-d", duration])
    recs = parse_output(out)
    return rc, recs, err


def fail_report(what, stuck, recs_or_text, err=""):
    if isinstance(recs_or_text, list):
        body = "\n".join(describe(r) for r in recs_or_text)
    else:
        body = recs_or_text
    return f"{what}\nfixture says: {describe(stuck)}\ntangle printed:\n{body}\nstderr:\n{err}"


# --------------------------------------------------------------------------
# attach after the hang: tangle check


@pytest.mark.parametrize("name", STUCK_FIXTURES)
def test_stuck_after(name, fixture_proc):
    fx = start_stuck_fixture(fixture_proc, name)
    pids = watched_pids(fx, name)
    stuck = read_phase(fx.read_json, "stuck")
    assert sorted(stuck["pids"]) == sorted(pids), stuck

    t0 = time.monotonic_ns()
    rc, recs, err = check_json(stuck["pids"])
    assert recs and recs[0]["type"] == "meta", fail_report("meta must come first", stuck, recs, err)
    assert rc == 2, fail_report(f"tangle check exited {rc}, expected 2", stuck, recs, err)
    groups = [r for r in recs if r["type"] == "stuck_group"]
    assert len(groups) == 1, fail_report(f"expected exactly one stuck_group, got {len(groups)}",
                                         stuck, recs, err)
    assert not [r for r in recs if r["type"] == "stuck_group_resolved"], \
        fail_report("a group resolved although the fixture stays stuck", stuck, recs, err)
    g = groups[0]
    errs = group_errors(g, stuck)
    assert not errs, fail_report("stuck_group differs:\n  " + "\n  ".join(errs), stuck, [g], err)
    assert g["detected_ts_ns"] >= t0, \
        f"detected before tangle started: {g['detected_ts_ns']} < {t0}"
    # the long-wait list never repeats a member of a stuck group
    lw = {r["tid"] for r in recs if r["type"] == "long_wait"}
    assert not lw & set(stuck["members"]), fail_report("a member is also a long_wait", stuck, recs)


def test_stuck_after_text(fixture_proc):
    """The human report of stuck_abba names the deadlock, both threads and both locks."""
    fx = start_stuck_fixture(fixture_proc, "stuck_abba")
    stuck = read_phase(fx.read_json, "stuck")
    rc, out, err = run_tangle(["check", "-p", fx.pid, "-d", CHECK_DURATION])
    text = out.decode("utf-8", "replace")
    assert rc == 2, fail_report(f"tangle check exited {rc}, expected 2", stuck, text, err)
    assert "DEADLOCK" in text, fail_report("no DEADLOCK in the report", stuck, text, err)
    for tid in stuck["members"]:
        assert str(tid) in text, fail_report(f"member {tid} missing from the report", stuck,
                                             text, err)
    for lock in ("lock_a", "lock_b"):
        assert lock in text, fail_report(f"{lock} missing from the report", stuck, text, err)
    busy = [t for t in stuck["others"] if t != fx.pid]
    for tid in busy:
        assert f"thread {tid} " not in text, fail_report(f"busy thread {tid} reported", stuck,
                                                         text, err)


# --------------------------------------------------------------------------
# attached before the hang: tangle stream sees it form


@pytest.mark.parametrize("name", STUCK_FIXTURES)
def test_stuck_before(name, fixture_proc, run_stream):
    fx = start_stuck_fixture(fixture_proc, name, "--wait-signal")
    pids = watched_pids(fx, name)
    ts = run_stream(tangle_pid_args(pids), duration=25)
    fx.signal(signal.SIGUSR1)
    stuck = read_phase(fx.read_json, "stuck")
    assert sorted(stuck["pids"]) == sorted(pids), stuck
    g = ts.wait_for(lambda r: r["type"] == "stuck_group", timeout=10,
                    what=f"a stuck_group for {name}")
    errs = group_errors(g, stuck)
    assert not errs, fail_report("first stuck_group differs:\n  " + "\n  ".join(errs), stuck,
                                 [g])
    latency = g["detected_ts_ns"] - stuck["formed_ns"]
    assert 0 < latency < LATENCY_LIMIT_NS, \
        f"detection latency {latency / MS:.1f} ms (formed {stuck['formed_ns']}, detected " \
        f"{g['detected_ts_ns']}), limit {LATENCY_LIMIT_NS / MS:.0f} ms"
    assert g["detected_ts_ns"] > ts.meta["ts_ns"], (g, ts.meta)
    # no other group, no resolution, no change of members while it stays stuck:
    # watch a few more detector ticks (an observation window, not a wait for a result)
    time.sleep(0.5)
    recs = ts.records
    groups = [r for r in recs if r["type"] in ("stuck_group", "stuck_group_resolved")]
    assert {r["group_id"] for r in groups} == {g["group_id"]}, \
        fail_report("more than one group", stuck, groups)
    for r in groups:
        assert r["type"] == "stuck_group", fail_report("the group resolved while stuck", stuck,
                                                       groups)
        assert set(member_tids(r)) == set(stuck["members"]), \
            fail_report("a revision changed the member set", stuck, groups)


# --------------------------------------------------------------------------
# healthy programs: never stuck


def start_ok(fixture_proc, name):
    fx = fixture_proc(name, "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "started")
    ready = read_phase(fx.read_json, "ready")
    assert ready["pid"] == fx.pid and ready["threads"], ready
    return fx, ready


def assert_nothing_stuck(rc, recs, err, ready):
    groups = [r for r in recs if r["type"] in ("stuck_group", "stuck_group_resolved")]
    assert rc == 0 and not groups, \
        f"false stuck group (rc {rc}) for {ready}:\n" + "\n".join(describe(r) for r in recs) \
        + f"\nstderr:\n{err}"
    assert recs and recs[0]["type"] == "meta", recs[:1]


def test_ok_contention(fixture_proc):
    fx, ready = start_ok(fixture_proc, "ok_contention")
    before = read_phase(fx.read_json, "progress")["acquisitions"]
    rc, recs, err = check_json([fx.pid], duration=2)
    assert_nothing_stuck(rc, recs, err, ready)
    after = read_phase(fx.read_json, "progress")["acquisitions"]
    # it really was contending (and progressing) while tangle watched
    assert after > before + 1000, f"ok_contention made too little progress: {before} -> {after}"
    lw = [r for r in recs if r["type"] == "long_wait" and r["pid"] == fx.pid]
    assert not lw, f"short mutex waits listed as long waits: {lw}"


def test_ok_condvar_pool(fixture_proc):
    fx, ready = start_ok(fixture_proc, "ok_condvar_pool")
    rc, recs, err = check_json([fx.pid], duration=2)
    assert_nothing_stuck(rc, recs, err, ready)
    # the idle workers are listed as long, ownerless waits on the condition variable
    lw = {r["tid"]: r for r in recs if r["type"] == "long_wait"}
    cond = hexint(ready["cond"])
    for tid in ready["threads"]:
        r = lw.get(tid)
        assert r, f"no long_wait for idle worker {tid}: {[describe(x) for x in recs]}"
        assert r["pid"] == fx.pid and r["owner_tid"] is None, r
        assert r["blocked_ns"] >= 1000 * MS, r
        assert cond <= hexint(r["addr"]) < cond + 48, \
            f"long_wait addr {r['addr']} is not inside work_cond {ready['cond']}: {r}"
        assert r["has_timeout"] is False, r
    assert set(lw) <= set(ready["threads"]), f"unexpected long waits: {lw}"


def test_ok_sleepers(fixture_proc):
    fx, ready = start_ok(fixture_proc, "ok_sleepers")
    rc, recs, err = check_json([fx.pid], duration=2)
    assert_nothing_stuck(rc, recs, err, ready)
    lw = [r for r in recs if r["type"] == "long_wait"]
    assert not lw, f"read()/nanosleep() are not futex waits, yet listed: {lw}"
    # the text mode says so too
    rc, out, err = run_tangle(["check", "-p", fx.pid, "-d", 1])
    text = out.decode("utf-8", "replace")
    assert rc == 0 and "DEADLOCK" not in text and "ABANDONED" not in text, (rc, text, err)
    assert "no stuck threads" in text, text


# --------------------------------------------------------------------------
# tangle run


def run_cmd(args, timeout=60):
    argv = [str(require_tangle()), "run", *map(str, args)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(argv)}` did not finish within {timeout}s")
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def fixture_lines(stdout):
    out = []
    for line in stdout.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_run_abba():
    fixture = require_fixture("stuck_abba")
    rc, out, err = run_cmd(["--stuck-after", "0.5", "--", fixture, "--timeout", 3])
    stuck = [r for r in fixture_lines(out) if r.get("phase") == "stuck"]
    assert len(stuck) == 1, f"fixture output not passed through: {out!r}\nstderr: {err}"
    stuck = stuck[0]
    assert rc == 3, f"tangle run exited {rc}, expected the fixture's 3\nstderr: {err}"
    assert "DEADLOCK" in err, f"no report on stderr:\n{err}"
    for tid in stuck["members"]:
        assert str(tid) in err, f"member {tid} missing from the report:\n{err}"
    assert "lock_a" in err and "lock_b" in err, err
    assert "DEADLOCK" not in out, "the report must go to stderr, not stdout"


def test_run_abba_json():
    fixture = require_fixture("stuck_abba")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "run.ndjson")
        rc, out, err = run_cmd(["--stuck-after", "0.5", "--json", "-o", path, "--", fixture,
                                "--timeout", 3])
        stuck = [r for r in fixture_lines(out) if r.get("phase") == "stuck"]
        assert len(stuck) == 1, f"fixture output not passed through: {out!r}\nstderr: {err}"
        stuck = stuck[0]
        assert rc == 3, f"tangle run exited {rc}, expected 3\nstderr: {err}"
        with open(path, "rb") as f:
            recs = parse_output(f.read())
    groups = [r for r in recs if r["type"] == "stuck_group"]
    assert len(groups) == 1, fail_report("expected one stuck_group", stuck, recs, err)
    g = groups[0]
    errs = group_errors(g, stuck)
    assert not errs, fail_report("stuck_group differs:\n  " + "\n  ".join(errs), stuck, [g], err)
    for m in g["members"]:
        assert m["blocked_ns"] >= 500 * MS, f"reported before --stuck-after 0.5: {m}"


def test_run_true():
    rc, out, err = run_cmd(["--", "/bin/true"])
    assert rc == 0, (rc, err)
    assert "DEADLOCK" not in err and "ABANDONED" not in err and "stuck" not in err.lower(), err


def test_run_exit_status():
    rc, out, err = run_cmd(["--", "sh", "-c", "exit 7"])
    assert rc == 7, (rc, err)
    assert "DEADLOCK" not in err and "ABANDONED" not in err, err


# --------------------------------------------------------------------------
# a group dissolves when its process dies


def test_resolved(fixture_proc, run_stream):
    fx = start_stuck_fixture(fixture_proc, "stuck_abba")
    stuck = read_phase(fx.read_json, "stuck")
    ts = run_stream(["-p", fx.pid], duration=10)
    g = ts.wait_for(lambda r: r["type"] == "stuck_group", timeout=8, what="stuck_group")
    assert set(member_tids(g)) == set(stuck["members"]), fail_report("members", stuck, [g])
    killed_ns = time.monotonic_ns()
    fx.signal(signal.SIGKILL)
    fx.wait(expect=-signal.SIGKILL)
    res = ts.wait_for(lambda r: r["type"] == "stuck_group_resolved", timeout=8,
                      what="stuck_group_resolved after SIGKILL")
    assert res["group_id"] == g["group_id"], (g, res)
    assert res["kind"] == g["kind"] == "deadlock", res
    assert res["resolved_ts_ns"] >= killed_ns - 10 * MS, (res, killed_ns)
    assert res["resolved_ts_ns"] >= g["detected_ts_ns"], (g, res)
    # the stream ends by itself once the process is gone, well before -d 10
    rc = ts.wait_exit(timeout=8)
    assert rc == 0, ts.describe()
    recs = ts.records
    types = [r["type"] for r in recs]
    i_group = next(i for i, r in enumerate(recs) if r["type"] == "stuck_group")
    i_res = types.index("stuck_group_resolved")
    assert i_group < i_res, types
    assert types[-1] == "summary", types[-5:]
    assert types.count("stuck_group_resolved") == 1, types


# --------------------------------------------------------------------------
# a reader that does not read


def test_blocked_stdout_keeps_stuck_groups(fixture_proc):
    """stdout not read for 6 s while a busy workload runs and a deadlock forms: tangle keeps
    consuming (the group is detected on time, not when the reader comes back), drops wait
    records rather than stalling, says how many (lost_events "output_full"), and the stuck
    group, the drop report and the summary all arrive."""
    busy = fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    read_phase(busy.read_json, "ready")
    fx = start_stuck_fixture(fixture_proc, "stuck_abba", "--wait-signal")
    proc = subprocess.Popen([require_tangle(), "stream", "-d", "10", "--stuck-after", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)  # attached (BPF loads in well under a second here); nobody reads
        fx.signal(signal.SIGUSR1)
        stuck = read_phase(fx.read_json, "stuck")
        time.sleep(5)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    recs = parse_output(out)
    assert recs[0]["type"] == "meta" and recs[-1]["type"] == "summary", (recs[:1], recs[-1:])
    groups = [r for r in recs if r["type"] == "stuck_group"]
    assert groups, "the stuck group was lost:\n" + err.decode()
    errs = group_errors(groups[0], stuck)
    assert not errs, fail_report("stuck_group differs:\n  " + "\n  ".join(errs), stuck, groups)
    latency = groups[0]["detected_ts_ns"] - stuck["formed_ns"]
    # --stuck-after 1 s, then the next detector tick; the reader came back 5 s later
    assert 0 < latency < 2000 * MS, \
        f"detected {latency / MS:.0f} ms after it formed: the collector waited for its reader"
    drops = [r for r in recs if r["type"] == "lost_events" and r["reason"] == "output_full"]
    assert drops and drops[-1]["total"] == sum(r["count"] for r in drops) > 0, drops
    assert b"records dropped" in err, err.decode()
    # waits are what goes first, but those queued before the block and after it remain
    kinds = {r["type"] for r in recs}
    assert {"wait_begin", "wait_end"} <= kinds, kinds
