# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tangle record and replay on the real kernel: record a fixture, replay it.

- a deadlock recorded live is found again by `tangle replay FILE check`, the
  same threads, the same locks, with the stacks read while it was live;
- `tangle stream --record FILE` and `tangle replay FILE stream` print the same
  records for a busy workload (tens of thousands of waits);
- --max-size rotates: FILE and FILE.1 stay bounded and each replays alone.
"""

import re
import time

from stuck_helpers import member_tids, read_phase
from tangle_helpers import parse_output, require_tangle, run_tangle

FIXTURE_TIMEOUT = 60


def replay(path, *args):
    rc, out, err = run_tangle(["replay", path, *args], timeout=120)
    return rc, out, err


def test_record_then_replay_abba(fixture_proc, tmp_path):
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "started")
    stuck = read_phase(fx.read_json, "stuck")
    rec = tmp_path / "abba.tgr"
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 2])
    assert rc == 0, err
    assert "recording to" in err and "recorded" in err, err
    rc, out, err = replay(rec, "check", "--json")
    assert rc == 2, err
    groups = [r for r in parse_output(out) if r["type"] == "stuck_group"]
    assert len(groups) == 1 and groups[0]["kind"] == "deadlock", groups
    g = groups[0]
    assert set(member_tids(g)) == set(stuck["members"]), (g, stuck)
    symbols = {m["waits_on"]["symbol"] for m in g["members"]}
    assert symbols == {"lock_a", "lock_b"}, g
    for m in g["members"]:
        funcs = [f["function"] for f in m["stack"]]
        assert any("pthread_mutex_lock" in f or "lll_lock_wait" in f for f in funcs), funcs
        assert m["kernel_stack"], m
    # the text report, as `tangle check` prints it live
    rc, out, err = replay(rec)
    text = out.decode()
    assert rc == 2 and "DEADLOCK" in text and "lock_a" in text, text + err


def test_record_then_replay_abandoned(fixture_proc, tmp_path):
    fx = fixture_proc("stuck_abandoned", "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "started")
    stuck = read_phase(fx.read_json, "stuck")
    rec = tmp_path / "ab.tgr"
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 2])
    assert rc == 0, err
    rc, out, err = replay(rec, "check", "--json")
    assert rc == 2, err
    groups = [r for r in parse_output(out) if r["type"] == "stuck_group"]
    assert [g["kind"] for g in groups] == ["abandoned"], groups
    assert set(member_tids(groups[0])) == set(stuck["members"])


def comparable(recs):
    """futex_stats and summary are stamped when the stream ends: us apart live and replayed."""
    out = []
    for r in recs:
        if r["type"] in ("summary", "futex_stats"):
            r = {k: v for k, v in r.items() if k not in ("ts_ns", "duration_ns")}
        out.append(r)
    return out


def test_live_stream_equals_replay(fixture_proc, tmp_path):
    """The same events make the same records, live and replayed, under load."""
    fx = fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "ready")
    rec = tmp_path / "busy.tgr"
    rc, live_out, err = run_tangle(["stream", "--record", rec, "-p", fx.pid, "-d", 2])
    assert rc == 0, err
    live = comparable(parse_output(live_out))
    ends = [r for r in live if r["type"] == "wait_end"]
    assert len(ends) > 1000, f"only {len(ends)} waits: the workload did not run"
    assert any(r.get("waker_tid") in fx_threads(live) for r in ends), "no waker named"
    rc, out, err = replay(rec, "stream")
    assert rc == 0, err
    replayed = comparable(parse_output(out))
    assert len(replayed) == len(live)
    diff = [i for i, (a, b) in enumerate(zip(live, replayed)) if a != b]
    assert not diff, f"{len(diff)} records differ, first:\n {live[diff[0]]}\n {replayed[diff[0]]}"


def fx_threads(recs):
    return {r["tid"] for r in recs if r["type"] == "thread_new"}


def test_rotation_bounds_and_replays(fixture_proc, tmp_path):
    fx = fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "ready")
    rec = tmp_path / "rot.tgr"
    max_size = 256 << 10
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 3, "--max-size", "256K"])
    assert rc == 0, err
    old = tmp_path / "rot.tgr.1"
    assert rec.is_file() and old.is_file(), list(tmp_path.iterdir())
    # each file holds half the budget, give or take the last block (128 KiB at most)
    for f in (rec, old):
        assert f.stat().st_size < max_size // 2 + (160 << 10), (f, f.stat().st_size)
    for f in (old, rec):
        rc, out, err = replay(f, "stream")
        assert rc == 0, err
        recs = parse_output(out)
        threads = {r["tid"] for r in recs if r["type"] == "thread_new"}
        assert len(threads) >= 9, f"{f.name}: the checkpoint names every thread: {threads}"
        assert any(r["type"] == "wait_end" for r in recs), f.name


def test_record_usage(tmp_path):
    rc, _, err = run_tangle(["record", "-d", 1])
    assert rc == 1 and "-o FILE" in err
    rc, _, err = run_tangle(["record", "-o", tmp_path / "no" / "such" / "dir.tgr", "-d", 1])
    assert rc == 1 and "cannot create the recording" in err, err
    rc, _, err = run_tangle(["record", "-o", tmp_path / "x", "--max-size", "12"])
    assert rc == 1 and "size" in err, err


def replay_position(scr):
    """Seconds into the recording, from the header ("at +12.3s"), or None."""
    m = re.search(r"at \+([0-9.]+)(ms|s)", scr.header)
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def test_replay_dashboard(top, fixture_proc, tmp_path):
    """tangle replay FILE top: the recorded deadlock, played back with pause, speed, seek."""
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    read_phase(fx.read_json, "started")
    stuck = read_phase(fx.read_json, "stuck")
    rec = tmp_path / "abba.tgr"
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 6])
    assert rc == 0, err
    t = top(command=f"{require_tangle()} replay {rec} top")
    t.wait_started()
    scr = t.wait(lambda s: s if "replay of" in s.header and "speed x1" in s.header else None,
                 what="the replay header")
    t.keys("4")
    scr = t.wait(lambda s: s if s.view == "stuck" and any(
        r["KIND"] == "deadlock" for r in s.rows("stuck")) else None, what="the recorded group")
    chain = [r for r in scr.rows("stuck") if r["KIND"] == "deadlock"][0]["WAIT-FOR CHAIN"]
    assert all(str(tid) in chain for tid in stuck["members"]), scr
    # pause: the position stays
    t.keys(" ")
    scr = t.wait(lambda s: s if "PAUSED" in s.header else None, what="PAUSED")
    at = replay_position(scr)
    time.sleep(1.0)
    assert replay_position(t.capture()) == at, t.capture()
    # faster, then resume: the position moves at x4
    t.keys("]", "]")
    t.wait(lambda s: s if "speed x4" in s.header else None, what="speed x4")
    t.keys(" ")
    # seek forward past the end: END
    t.keys("}")
    scr = t.wait(lambda s: s if "END" in s.header else None, what="END after seeking forward")
    end = replay_position(scr)
    assert 5.5 <= end <= 7.0, scr.header
    # seek back 10 s: at the start again, the group found again
    t.keys("[", "[", "{")
    scr = t.wait(lambda s: s if (replay_position(s) or 99) < end - 4 and "END" not in s.header
                 else None, what="back near the start")
    t.wait(lambda s: s if s.view == "stuck" and any(
        r["KIND"] == "deadlock" for r in s.rows("stuck")) else None,
        what="the group again after seeking back")
