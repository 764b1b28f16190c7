"""Stuck and leaked goroutines, found from outside (`tangle check`, `tangle run`)
on the Go fixtures of tests/go/stuck, each beside a healthy load (a busy worker
pool, an HTTP server under keep-alive load, tickers) that must never be
reported. Each fixture writes the goids it knows are stuck (truth.json); the
goroutine groups tangle reports must hold exactly those.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from go_helpers import (GO_SRC, STUCK_ARGS, GoFixture, go_binary, go_local_version,
                        require_go_fixture)
from tangle_helpers import LineReader, TangleStream, parse_output, require_tangle, run_tangle

LOCAL = go_local_version()
OLDEST = "go1.22.12"
# pattern -> (the rule its stuck goroutines fall under, the evidence, extra arguments)
PATTERNS = {
    "early_return": ("stuck", "unreachable", ()),
    "range_unclosed": ("stuck", "unreachable", ()),
    "wg_missing_done": ("stuck", "unreachable", ()),
    "cond_never_signalled": ("stuck", "unreachable", ()),
    "testfatal": ("stuck", "unreachable", STUCK_ARGS["testfatal"]),
    # global locks: reachable, but locked and untouched with their waiters parked
    "abba": ("stuck", "no_progress", ()),
    "rwmutex_recursive": ("stuck", "no_progress", ()),
    "nil_chan": ("leaked", None, ()),
    "select_forever": ("leaked", None, ()),
    # nothing stuck: the load alone; idle worker pools the program still holds
    "healthy": (None, None, ()),
    "idle_pool": (None, None, ()),
}
STUCK_AFTER = 2  # for the matrix; the default (5 s) is tested on its own
SETTLE = 4  # seconds watched after the expected set is there: nothing else may come


def go_groups(pid, duration, *extra):
    """`tangle check --json -p PID -d DURATION`: (exit status, goroutine groups, all records)."""
    rc, out, err = run_tangle(["check", "--json", "-p", pid, "-d", duration, *extra],
                              timeout=duration + 60)
    recs = parse_output(out)
    groups = [r for r in recs if r["type"] == "stuck_group" and r.get("of") == "goroutines"]
    return rc, groups, recs, err


def member_goids(groups, kinds):
    return {m["goid"] for g in groups if g["kind"] in kinds for m in g["members"]}


def describe(groups):
    return "\n".join(f"G{g['group_id']} {g['kind']} x{g['count']} [{g['wait_reason']}] "
                     f"goids {[m['goid'] for m in g['members']]} at "
                     f"{g['members'][0]['stack'][:2] if g['members'] else None}" for g in groups)


@pytest.mark.parametrize("pattern,reason", [("nil_chan", "chan receive (nil chan)"),
                                            ("select_forever", "select (no cases)")])
def test_leaked_by_construction(go_fixture, pattern, reason):
    fx = go_fixture(f"stuck/{pattern}", LOCAL, "plain")
    truth = set(fx.truth["stuck_goids"])
    rc, groups, recs, err = go_groups(fx.pid, 5)
    assert rc == 2, f"exit {rc}\n{describe(groups)}\n{err}"
    assert member_goids(groups, ("leaked",)) == truth, describe(groups)
    assert all(g["wait_reason"] == reason for g in groups if g["kind"] == "leaked"), \
        describe(groups)
    leaked = [g for g in groups if g["kind"] == "leaked"]
    for g in leaked:
        for m in g["members"]:
            assert m["blocked_ns"] >= 5e8 and m["stack"], m
            assert any(f["function"].startswith("main.") for f in m["stack"]), m["stack"]


def test_text_report(go_fixture):
    fx = go_fixture("stuck/nil_chan", LOCAL, "plain")
    goid = fx.truth["stuck_goids"][0]
    rc, out, err = run_tangle(["check", "-p", fx.pid, "-d", 5], timeout=65)
    text = out.decode()
    assert rc == 2, text + err
    assert "Stuck goroutines G" in text and "(leaked: they can never wake)" in text, text
    assert f"1 goroutine [chan receive (nil chan)]: goids {goid}\n" in text, text
    assert "created by main." in text and "/tests/go/stuck/nil_chan/main.go:" in text, text


class GroupLog:
    """The goroutine groups of one pid in a live record stream: current (by id,
    the latest revision) and every goid ever reported."""

    def __init__(self, pid):
        self.pid = pid
        self.current = {}
        self.ever = set()
        self.records = []

    def update(self, recs):
        for r in recs[len(self.records):]:
            self.records.append(r)
            if r.get("of") != "goroutines" or r.get("pids") != [self.pid]:
                continue
            if r["type"] == "stuck_group":
                self.current[r["group_id"]] = r
                self.ever |= {m["goid"] for m in r["members"]}
            elif r["type"] == "stuck_group_resolved":
                self.current.pop(r["group_id"], None)

    def goids(self):
        return {m["goid"] for g in self.current.values() for m in g["members"]}

    def describe(self):
        return describe(list(self.current.values())) + f"\never reported: {sorted(self.ever)}"


def watch(stream, log, truth, deadline):
    """Until the current groups hold exactly truth (or deadline), then SETTLE more
    seconds; returns when truth was first complete (None if never)."""
    found = None
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        log.update(stream.records)
        if found is None and log.goids() == truth and truth:
            found = time.monotonic()
            end = found + SETTLE
        if stream.proc.poll() is not None:
            break
        stream.out.wait_changed(len(stream.out.lines), 0.3)
    log.update(stream.records)
    return found


def check_groups(pattern, log, truth, found):
    rule, evidence, _ = PATTERNS[pattern]
    assert log.ever <= truth, f"reported goroutines that are not stuck:\n{log.describe()}"
    assert log.goids() == truth, f"expected goids {sorted(truth)}:\n{log.describe()}"
    if not truth:
        return
    assert found is not None
    for g in log.current.values():
        assert g["kind"] == rule, log.describe()
        for m in g["members"]:
            assert m["stack"] and m["blocked_ns"] > 0, m
            if rule == "stuck":
                # object, addr and still_ns are checked by the schema (TangleStream)
                assert m["evidence"]["reach"] == evidence, m["evidence"]
            else:
                assert "evidence" not in m, m


@pytest.mark.parametrize("toolchain", [LOCAL, OLDEST])
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_stuck_goids_started_after(go_fixture, pattern, toolchain):
    """tangle started once the fixture is stuck: exactly its stuck goroutines."""
    fx = go_fixture(f"stuck/{pattern}", toolchain, "plain", *PATTERNS[pattern][2])
    truth = set(fx.truth["stuck_goids"])
    stream = TangleStream(["-p", fx.pid, "--stuck-after", STUCK_AFTER])
    try:
        log = GroupLog(fx.pid)
        found = watch(stream, log, truth, 30 if truth else 12)
        check_groups(pattern, log, truth, found)
    finally:
        stream.stop()


@pytest.mark.parametrize("toolchain", [LOCAL, OLDEST])
@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_stuck_goids_started_before(pattern, toolchain):
    """tangle running before the fixture starts (and leaks): the same."""
    path = require_go_fixture(f"stuck/{pattern}", toolchain, "plain")
    stream = TangleStream(["--stuck-after", STUCK_AFTER])
    fx = None
    try:
        stream.wait_meta()
        stream.wait_settled()
        fx = GoFixture(path, *PATTERNS[pattern][2]).ready(timeout=60)
        truth = set(fx.truth["stuck_goids"])
        log = GroupLog(fx.pid)
        found = watch(stream, log, truth, 30 if truth else 12)
        check_groups(pattern, log, truth, found)
    finally:
        stream.stop()
        if fx:
            fx.cleanup()


def test_default_stuck_after(go_fixture):
    """Without --stuck-after: 5 s of no progress on a global lock before it is reported."""
    fx = go_fixture("stuck/abba", LOCAL, "plain")
    truth = set(fx.truth["stuck_goids"])
    rc, groups, recs, err = go_groups(fx.pid, 4)
    assert rc == 0 and not groups, f"reported before 5 s:\n{describe(groups)}"
    rc, groups, recs, err = go_groups(fx.pid, 12)
    assert rc == 2 and member_goids(groups, ("stuck",)) == truth, \
        f"exit {rc}\n{describe(groups)}\n{err}"
    for g in groups:
        for m in g["members"]:
            assert m["evidence"]["still_ns"] >= 5e9, m["evidence"]


def test_healthy_service_for_a_minute(go_fixture):
    """A healthy service (worker pool, HTTP server with keep-alive clients, tickers)
    watched for a minute: not one goroutine reported."""
    fx = go_fixture("stuck/healthy", LOCAL, "plain")
    rc, groups, recs, err = go_groups(fx.pid, 60)
    assert not groups and rc == 0, f"exit {rc}\n{describe(groups)}\n{err}"
    assert fx.proc.poll() is None, "the service died"


@pytest.mark.parametrize("toolchain", [LOCAL, "go1.22.12"])
def test_churning_goroutine_table(go_fixture, toolchain):
    """A goroutine table that never holds still (20,000 goroutines a second created and gone,
    stacks grown and copied, g structs reused under new goids, crowds of 5,000 parked for
    20 ms): every dump succeeds, the detector reports nothing, the program is left alone."""
    fx = go_fixture("stuck/churn", toolchain, "plain")
    counts = []
    for _ in range(10):
        rc, out, err = run_tangle(["goroutines", fx.pid], timeout=30)
        assert rc == 0, err
        text = out.decode()
        assert "\ngoroutine 1 [" in text and "main.main" in text, text[:2000]
        counts.append(text.count("\ngoroutine ") + 1)
        time.sleep(0.05)
    assert max(counts) > 20, f"the table did not churn: {counts}"
    rc, groups, recs, err = go_groups(fx.pid, 12)
    assert not groups and rc == 0, f"exit {rc}\n{describe(groups)}\n{err}"
    assert fx.proc.poll() is None, "the program died"


def test_run_go_test(tmp_path):
    """`tangle run -- go test` on a test that hangs (t.Fatalf in a worker before
    it sends on done): the stuck goroutines are on stderr within seconds, long
    before the test timeout, with the test's own file and line."""
    tangle = require_tangle()
    env = dict(os.environ, GOFLAGS="-buildvcs=false", GOPROXY="off", GOWORK="off",
               GOTOOLCHAIN="local")
    argv = [str(tangle), "run", "--", go_binary(), "test", "-vet=off", "-count=1",
            "-timeout=10m", "./stuck/testfatal", "-run", "^TestTwoResults$",
            "-args", "-out", str(tmp_path)]
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=GO_SRC, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = LineReader(proc.stderr, "tangle-run-stderr")
    out = LineReader(proc.stdout, "tangle-run-stdout")
    truth_file = tmp_path / "truth.json"
    goids, reported = None, set()
    try:
        deadline = start + 120  # the go build is part of it
        while time.monotonic() < deadline and proc.poll() is None:
            text = err.text(limit=100000)
            if goids is None and truth_file.exists():
                goids = set(json.loads(truth_file.read_text())["stuck_goids"])
            reported = {int(x) for line in text.splitlines() if ": goids " in line
                        for x in line.split(": goids ", 1)[1].split(", ")}
            # the report is whole once its stack reaches the test's own frames
            if goids and reported >= goids and "testing.(*T).Run" in text \
                    and "/tests/go/stuck/testfatal/fatal_test.go:" in text:
                break
            err.wait_changed(len(err.lines), 0.5)
        took = time.monotonic() - start
        text = err.text(limit=100000)
        assert goids, f"the test never got stuck:\n{text}\n{out.text()}"
        assert reported == goids, f"expected goids {sorted(goids)}, took {took:.0f}s:\n{text}"
        assert "/tests/go/stuck/testfatal/fatal_test.go:" in text, text
        assert "testing.(*T).Run" in text, text
        assert proc.poll() is None, "go test ended: it should hang until the 10 min timeout"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        test_pid = None
        try:
            test_pid = json.loads(truth_file.read_text())["pid"]
        except (OSError, ValueError, KeyError):
            pass
        if test_pid:
            try:
                os.kill(test_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_no_goroutines_flag(go_fixture):
    fx = go_fixture("stuck/nil_chan", LOCAL, "plain")
    rc, groups, recs, err = go_groups(fx.pid, 3, "--no-goroutines")
    assert rc == 0 and not groups, describe(groups)


def test_growing_leak(go_fixture):
    """A server leaking a goroutine per request: one group, growing, over 30 s
    (and the leaked goroutines stuck, their channels unreachable). `check` would
    stop at the first stuck group, so this one streams."""
    fx = go_fixture("stuck/growing_leak", LOCAL, "plain")
    leaked = set(fx.truth["stuck_goids"])
    stream = TangleStream(["-p", fx.pid])
    try:
        stream.wait_for(lambda r: r["type"] == "stuck_group" and r.get("kind") == "growing",
                        timeout=50, what="a growing group")
    finally:
        stream.stop()
    groups = [r for r in stream.records if r["type"] == "stuck_group"]
    growing = {g["group_id"] for g in groups if g["kind"] == "growing"}
    assert len(growing) == 1, describe(groups)
    g = [g for g in groups if g["kind"] == "growing"][-1]
    assert g["wait_reason"] == "chan send" and g["count"] >= g["grown_from"] + 10, g
    assert leaked <= {m["goid"] for m in g["members"]}, \
        f"the leaked goroutines the fixture knows of are not all members: {describe([g])}"
    assert any(f["function"] == "main.work.func1" for f in g["members"][0]["stack"]), g
    stuck = [g for g in groups if g["kind"] == "stuck"]
    assert stuck and leaked <= {m["goid"] for m in stuck[-1]["members"]}, describe(stuck)


def test_stream_records(go_fixture):
    """stream writes the same goroutine groups, valid against the schema."""
    fx = go_fixture("stuck/nil_chan", LOCAL, "plain")
    rc, out, err = run_tangle(["stream", "--json", "-p", fx.pid, "-d", 4], timeout=64)
    recs = parse_output(out)
    groups = [r for r in recs if r["type"] == "stuck_group" and r.get("of") == "goroutines"]
    assert rc == 0 and member_goids(groups, ("leaked",)) == set(fx.truth["stuck_goids"]), \
        f"exit {rc}\n{describe(groups)}\n{err}"
    assert all(g["go_version"].startswith("go1.") and g["pids"] == [fx.pid] for g in groups)
