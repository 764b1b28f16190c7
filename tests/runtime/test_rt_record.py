# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""tangle record and replay on the real kernel: record a fixture, replay it.

- a deadlock recorded live is found again by `tangle replay FILE check`, the
  same threads, the same locks, with the stacks read while it was live;
- `tangle stream --record FILE` and `tangle replay FILE stream` print the same
  records for a busy workload (tens of thousands of waits);
- --max-size rotates: FILE and FILE.1 stay bounded and each replays alone;
- the goroutines of Go programs are recorded: a replay finds the same leaked
  and stuck goroutines, prints the same stream, and shows them in the dashboard;
- 10,000 parked goroutines are recorded in full once: later snapshots cost
  next to nothing, and replay as they ran live.
"""

import re
import time

import pytest

from go_helpers import go_local_version
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


def go_groups(recs):
    return [r for r in recs if r["type"] == "stuck_group" and r.get("of") == "goroutines"]


def same_groups(a, b):
    return sorted((g["kind"], g["wait_reason"], tuple(sorted(m["goid"] for m in g["members"])))
                  for g in a) == \
        sorted((g["kind"], g["wait_reason"], tuple(sorted(m["goid"] for m in g["members"])))
               for g in b)


@pytest.mark.parametrize("pattern,kind", [("nil_chan", "leaked"),
                                          ("wg_missing_done", "stuck"),
                                          ("abba", "stuck")])
def test_record_then_replay_go(go_fixture, tmp_path, pattern, kind):
    """A Go leak or deadlock recorded live is found again in the recording, as it was live."""
    fx = go_fixture(f"stuck/{pattern}", go_local_version(), "plain")
    truth = set(fx.truth["stuck_goids"])
    rec = tmp_path / "go.tgr"
    rc, live_out, err = run_tangle(["stream", "--record", rec, "-p", fx.pid, "-d", 6,
                                    "--stuck-after", 2], timeout=70)
    assert rc == 0, err
    live_recs = parse_output(live_out)
    live = go_groups(live_recs)
    assert {m["goid"] for g in live if g["kind"] == kind for m in g["members"]} == truth, live
    rc, out, err = replay(rec, "check", "--json")
    assert rc == 2, err
    replayed = go_groups(parse_output(out))
    assert same_groups(live, replayed), (live, replayed)
    # with their stacks and evidence, as live
    for g in replayed:
        for m in g["members"]:
            assert any(f["function"].startswith("main.") for f in m["stack"]), m["stack"]
            if g["kind"] == "stuck":
                assert m["evidence"]["reach"] in ("unreachable", "no_progress"), m
    rc, out, err = replay(rec, "stream")
    assert rc == 0, err
    a, b = comparable(live_recs), comparable(parse_output(out))
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    assert len(a) == len(b) and not diff, \
        f"{len(a)} vs {len(b)} records, {len(diff)} differ, first:\n {a[diff[0]]}\n {b[diff[0]]}" \
        if diff else (len(a), len(b))
    # the text report names the goroutines
    rc, out, err = replay(rec)
    assert rc == 2 and str(min(truth)) in out.decode(), out.decode() + err


def test_record_many_goroutines(go_fixture, tmp_path):
    """10,000 parked goroutines: recorded in full once, then for a few bytes a snapshot, and
    replayed as they ran live."""
    fx = go_fixture("goroutines", go_local_version(), "plain", "-n", 10000)
    sizes = {}
    for d in (3, 9):
        rec = tmp_path / f"many{d}.tgr"
        rc, live_out, err = run_tangle(["stream", "--record", rec, "-p", fx.pid, "-d", d,
                                        "--stuck-after", 1], timeout=80)
        assert rc == 0, err
        sizes[d] = rec.stat().st_size
    # the first snapshot alone is >1 MB (10,000 goroutines, ~140 bytes each)
    assert sizes[3] > 1_000_000, sizes
    # later ones add the process's own events (~10 KB/s) and next to nothing of goroutines:
    # 80 KB/s goid by goid, 500 KB/s if the evidence were written each time
    growth = (sizes[9] - sizes[3]) / 6
    assert 0 < growth < 40_000, f"{growth:.0f} bytes/s: {sizes}"
    rc, out, err = replay(rec, "stream")
    assert rc == 0, err
    a, b = comparable(parse_output(live_out)), comparable(parse_output(out))
    assert go_groups(a), "no goroutine found stuck or leaked in the zoo"
    diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    assert len(a) == len(b) and not diff, \
        f"{len(a)} vs {len(b)} records, {len(diff)} differ, first:\n {a[diff[0]]}\n {b[diff[0]]}" \
        if diff else (len(a), len(b))


def test_rotation_keeps_goroutines(go_fixture, tmp_path):
    """A rotated file describes its Go processes again: the newer file alone finds the leak."""
    fx = go_fixture("stuck/nil_chan", go_local_version(), "plain")
    rec = tmp_path / "rot.tgr"
    # the load writes ~250 KiB/s: files of ~1 MiB, ~4 s each, so FILE.1 is one a rotation began
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 12, "--max-size", "2M",
                             "--stuck-after", 1], timeout=80)
    assert rc == 0, err
    older = tmp_path / "rot.tgr.1"
    assert older.is_file(), "the recording did not rotate"
    rc, out, err = replay(older, "check", "--json", "-v")
    assert re.search(r"\bfile [1-9]", err), f"{older} is not a file a rotation began: {err}"
    assert rc == 2, err
    groups = go_groups(parse_output(out))
    assert {m["goid"] for g in groups if g["kind"] == "leaked" for m in g["members"]} == \
        set(fx.truth["stuck_goids"]), groups


def test_replay_dashboard_goroutines(top, go_fixture, tmp_path):
    """tangle replay FILE top: the recorded goroutines in the Goroutines and Stuck views."""
    fx = go_fixture("stuck/nil_chan", go_local_version(), "plain")
    goid = str(fx.truth["stuck_goids"][0])
    rec = tmp_path / "go.tgr"
    rc, _, err = run_tangle(["record", "-o", rec, "-p", fx.pid, "-d", 4, "--stuck-after", 1],
                            timeout=60)
    assert rc == 0, err
    t = top(command=f"{require_tangle()} replay {rec} top")
    t.wait_started()
    t.keys("}")  # to the end: every snapshot played
    t.wait(lambda s: s if "END" in s.header else None, what="END")
    t.keys("4")
    scr = t.wait(lambda s: s if s.view == "stuck" and any(
        r["KIND"] == "leaked" for r in s.rows("stuck")) else None, what="the leaked goroutine")
    chain = [r for r in scr.rows("stuck") if r["KIND"] == "leaked"][0]["WAIT-FOR CHAIN"]
    assert "chan receive (nil chan)" in chain and "main." in chain, chain
    t.keys("5")
    t.wait(lambda s: s if s.view == "goroutines" and any(
        r["GOID"] == goid and "nil cha" in r["STATE"] for r in s.rows("goroutines")) else None,
        what="the leaked goroutine in the Goroutines view")


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
