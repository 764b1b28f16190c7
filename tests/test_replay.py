# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Replay tests (tier 2, no root): committed recordings through the real binary.

tests/data/NAME.tgr was recorded with `tangle stream --record NAME.tgr -p PID`
next to a fixture, and NAME.ndjson is what that live stream printed
(scripts/record-goldens.py makes them again; goleak is a Go program). Replaying
the recording must print the same records: the model and the detectors run
identically on recorded input. The exports (--trace, --dot) are checked
against their formats, a damaged file must give a clear error and its intact
prefix, and the record reader is fuzzed for a bounded time.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
RECORDINGS = sorted(p.stem for p in DATA.glob("*.tgr"))
FUZZ_SECONDS = int(os.environ.get("TANGLE_FUZZ_SECONDS", "45"))


def tangle():
    path = Path(os.environ.get("TANGLE") or REPO / "tangle")
    if not path.is_file():
        pytest.fail(f"tangle not built at {path} (make)")
    return str(path)


def run(*args, stdin=None, timeout=60):
    return subprocess.run([tangle(), *map(str, args)], capture_output=True, timeout=timeout,
                          input=stdin)


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def comparable(recs):
    """futex_stats and summary are stamped when the stream ends: us apart live and replayed."""
    out = []
    for r in recs:
        r = dict(r)
        if r["type"] in ("summary", "futex_stats"):
            r.pop("ts_ns")
            r.pop("duration_ns", None)
        out.append(r)
    return out


def test_recordings_exist():
    assert {"abba", "abandoned", "contended", "goleak"} <= set(RECORDINGS), RECORDINGS


@pytest.mark.parametrize("name", RECORDINGS)
def test_replay_stream_equals_live(name):
    """Replay prints exactly what the live stream printed from the same events."""
    p = run("replay", DATA / f"{name}.tgr", "stream")
    assert p.returncode == 0, p.stderr.decode()
    live = comparable(records((DATA / f"{name}.ndjson").read_text()))
    replayed = comparable(records(p.stdout.decode()))
    assert len(replayed) == len(live), (len(replayed), len(live))
    for i, (a, b) in enumerate(zip(live, replayed)):
        assert a == b, f"record {i} differs:\n live   {a}\n replay {b}"


@pytest.mark.parametrize("name,kind,locks", [
    ("abba", "deadlock", ["lock_a", "lock_b"]),
    ("abandoned", "abandoned", []),
])
def test_replay_check_finds_the_recorded_group(name, kind, locks):
    live = [r for r in records((DATA / f"{name}.ndjson").read_text())
            if r["type"] == "stuck_group"]
    assert live, f"{name}.ndjson has no stuck group"
    p = run("replay", DATA / f"{name}.tgr", "check", "--json")
    assert p.returncode == 2, (p.returncode, p.stderr.decode())
    groups = [r for r in records(p.stdout.decode()) if r["type"] == "stuck_group"]
    assert [g["kind"] for g in groups] == [kind]
    assert {m["tid"] for m in groups[0]["members"]} == {m["tid"] for m in live[0]["members"]}
    text = run("replay", DATA / f"{name}.tgr")  # the default view: check, as text
    assert text.returncode == 2
    out = text.stdout.decode()
    assert kind.upper() in out, out
    for lock in locks:
        assert lock in out, out


def test_replay_check_finds_the_recorded_goroutines():
    """goleak.tgr: the goroutine zoo, whose leaked and stuck goroutines were reported live."""
    def groups(recs):
        return sorted((g["kind"], g["wait_reason"], tuple(m["goid"] for m in g["members"]))
                      for g in recs if g["type"] == "stuck_group" and g["of"] == "goroutines")

    live = groups(records((DATA / "goleak.ndjson").read_text()))
    assert {k for k, _, _ in live} == {"leaked", "stuck"}, live
    # check stops at the first tick that finds something, as it does live
    p = run("replay", DATA / "goleak.tgr", "check", "--json")
    assert p.returncode == 2, (p.returncode, p.stderr.decode())
    found = groups(records(p.stdout.decode()))
    assert found and set(found) <= set(live), (found, live)
    # all of them, stuck ones too, over the whole recording
    p = run("replay", DATA / "goleak.tgr", "stream")
    assert groups(records(p.stdout.decode())) == live
    text = run("replay", DATA / "goleak.tgr").stdout.decode()
    assert "chan receive (nil chan)" in text and "select (no cases)" in text, text


def test_replay_check_healthy_recording():
    p = run("replay", DATA / "contended.tgr", "check")
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()
    assert "no stuck threads" in p.stdout.decode()


# ---- damaged files ----


def test_truncated_recording_replays_its_prefix(tmp_path):
    data = (DATA / "contended.tgr").read_bytes()
    whole = records(run("replay", DATA / "contended.tgr", "stream").stdout.decode())
    cut = tmp_path / "cut.tgr"
    cut.write_bytes(data[:len(data) - 100])
    p = run("replay", cut, "stream")
    err = p.stderr.decode()
    assert p.returncode == 1, err
    assert "truncated" in err and "cut.tgr" in err, err
    got = records(p.stdout.decode())
    assert got[0]["type"] == "meta"
    errors = [r for r in got if r["type"] == "error"]
    assert errors and "truncated" in errors[0]["message"], got[-3:]
    prefix = [r for r in got if r["type"] not in ("error", "summary", "futex_stats")]
    assert 1 < len(prefix) < len(whole)
    assert prefix == whole[:len(prefix)], "the intact part replays exactly as the whole file"


def test_corrupt_recording(tmp_path):
    data = bytearray((DATA / "abba.tgr").read_bytes())
    data[len(data) // 2] ^= 0xff
    bad = tmp_path / "bad.tgr"
    bad.write_bytes(bytes(data))
    p = run("replay", bad, "check")
    err = p.stderr.decode()
    assert p.returncode in (1, 2), err
    assert "checksum" in err or "damaged" in err, err
    assert "bad.tgr" in err and "byte" in err, err


@pytest.mark.parametrize("content,why", [
    (b"", "not a tangle recording"),
    (b'{"type":"meta"}\n', "not a tangle recording"),
    (b"TANGLREC\x63\x00\x00\x00" + bytes(400), "format version 99"),
])
def test_not_a_recording(tmp_path, content, why):
    f = tmp_path / "x.tgr"
    f.write_bytes(content)
    p = run("replay", f, "stream")
    assert p.returncode == 1
    assert why in p.stderr.decode(), p.stderr.decode()


def test_missing_recording(tmp_path):
    p = run("replay", tmp_path / "nope.tgr")
    assert p.returncode == 1
    assert "nope.tgr" in p.stderr.decode() and "No such file" in p.stderr.decode()


def test_replay_usage():
    p = run("replay", DATA / "abba.tgr", "bogus")
    assert p.returncode == 1 and "unknown view" in p.stderr.decode()
    p = run("replay", "--help")
    assert p.returncode == 0 and b"trace" in p.stdout


# ---- exports ----

PHASES = {"X", "M", "s", "f", "i", "B", "E", "C", "t"}


def trace_errors(events):
    """What in events breaks the Chrome trace-event format (JSON array form)."""
    errs = []
    named = set()
    flows = {}
    for i, e in enumerate(events):
        ph = e.get("ph")
        if ph not in PHASES:
            errs.append(f"{i}: phase {ph!r}")
            continue
        for key in ("name", "pid", "tid"):
            if key not in e:
                errs.append(f"{i}: {ph} without {key}")
        if not all(isinstance(e.get(k, 0), int) for k in ("pid", "tid")):
            errs.append(f"{i}: pid/tid not integers")
        if ph == "M":
            if e["name"] not in ("process_name", "thread_name") or \
                    not isinstance(e.get("args", {}).get("name"), str):
                errs.append(f"{i}: bad metadata {e}")
            if e["name"] == "thread_name":
                named.add(e["tid"])
            continue
        if not isinstance(e.get("ts"), (int, float)) or e["ts"] < 0:
            errs.append(f"{i}: ts {e.get('ts')!r}")
        if ph == "X" and (not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0):
            errs.append(f"{i}: X with dur {e.get('dur')!r}")
        if ph == "i" and e.get("s") not in ("g", "p", "t"):
            errs.append(f"{i}: instant scope {e.get('s')!r}")
        if ph in ("s", "f"):
            flows.setdefault(e.get("id"), []).append(e)
    for fid, ends in flows.items():
        if sorted(x["ph"] for x in ends) != ["f", "s"]:
            errs.append(f"flow {fid}: ends {[x['ph'] for x in ends]}")
        f = [x for x in ends if x["ph"] == "f"]
        if f and f[0].get("bp") != "e":
            errs.append(f"flow {fid}: f without bp=e")
    waiters = {e["tid"] for e in events if e.get("ph") == "X" and e.get("cat") != "wake"}
    if waiters - named:
        errs.append(f"threads without a name: {sorted(waiters - named)}")
    return errs


def slices_in(events, tid):
    return [e for e in events if e.get("ph") == "X" and e.get("tid") == tid]


def test_trace_export_contended(tmp_path):
    out = tmp_path / "t.json"
    p = run("replay", DATA / "contended.tgr", "trace", "-o", out)
    assert p.returncode == 0, p.stderr.decode()
    events = json.loads(out.read_text())
    assert not trace_errors(events), trace_errors(events)[:10]
    live = records((DATA / "contended.ndjson").read_text())
    ends = [r for r in live if r["type"] == "wait_end"]
    waits = [e for e in events if e["ph"] == "X" and e["cat"] == "wait"]
    assert len(waits) == len(ends)
    # each slice: the wait's thread, its time, named by the lock
    for r in ends:
        s = [e for e in waits if e["tid"] == r["tid"] and
             abs(e["ts"] + e["dur"] - r["ts_ns"] / 1000) < 0.01]
        assert len(s) == 1, r
        assert abs(s[0]["dur"] * 1000 - r["blocked_ns"]) < 10
        if r["blocked_ns"] > 200_000_000 and r["op"] == "wait":
            assert s[0]["name"].startswith("mutex <mtx in contended_mutex>"), s[0]
    # an arrow from each waker to each woken wait
    woken = [r for r in ends if r.get("waker_tid")]
    assert woken, "the recording has wakers"
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    finishes = [e for e in events if e["ph"] == "f"]
    assert len(finishes) == len(woken)
    for f in finishes:
        s = starts[f["id"]]
        r = [w for w in woken if w["tid"] == f["tid"] and
             abs(w["ts_ns"] / 1000 - f["ts"]) < 0.01]
        assert len(r) == 1 and r[0]["waker_tid"] == s["tid"], (f, s)


def test_trace_export_marks_stuck_group():
    p = run("replay", DATA / "abba.tgr", "trace")
    assert p.returncode == 0, p.stderr.decode()
    events = json.loads(p.stdout)
    assert not trace_errors(events), trace_errors(events)[:10]
    group = [r for r in records((DATA / "abba.ndjson").read_text())
             if r["type"] == "stuck_group"][0]
    for m in group["members"]:
        marks = [e for e in events if e["ph"] == "i" and e["tid"] == m["tid"]]
        assert marks and marks[0]["args"]["group_id"] == group["group_id"]
        stuck = [e for e in slices_in(events, m["tid"]) if e["cat"] == "stuck"]
        assert len(stuck) == 1, slices_in(events, m["tid"])
        assert stuck[0]["name"] in ("mutex <lock_a in stuck_abba>",
                                    "mutex <lock_b in stuck_abba>")


def test_dot_export_renders(tmp_path):
    if not shutil.which("dot"):
        pytest.fail("graphviz's dot is missing (scripts/deps.sh installs it)")
    p = run("replay", DATA / "abba.tgr", "dot")
    assert p.returncode == 0, p.stderr.decode()
    text = p.stdout.decode()
    group = [r for r in records((DATA / "abba.ndjson").read_text())
             if r["type"] == "stuck_group"][0]
    for m in group["members"]:
        assert f"t{m['tid']} " in text and f"tid {m['tid']}" in text
    assert "lock_a in stuck_abba" in text and "lock_b in stuck_abba" in text
    assert text.count("held by") == 2 and "color=red3" in text
    # the group is a cluster around its threads and locks
    assert f'label="G{group["group_id"]} deadlock, 2 threads"' in text, text
    png = tmp_path / "g.png"
    r = subprocess.run(["dot", "-Tpng", "-o", png], input=p.stdout, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- fuzzing ----


def test_fuzz_record_reader(tmp_path):
    """libFuzzer on `tangle replay` itself (reader, model, detectors, goroutines, views),
    seeded with the recordings."""
    fuzz = os.environ.get("TANGLE_FUZZ") or REPO / ".output-fuzz" / "fuzz_record"
    if not Path(fuzz).is_file():
        pytest.fail(f"fuzz target not built at {fuzz} (make fuzz)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    p = subprocess.run([str(fuzz), f"-max_total_time={FUZZ_SECONDS}", "-timeout=10",
                        "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", str(corpus),
                        str(DATA)], capture_output=True, timeout=FUZZ_SECONDS + 120)
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log[-3000:]
    assert "Done" in log, log[-2000:]
