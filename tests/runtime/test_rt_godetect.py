"""Stuck and leaked goroutines, found from outside (`tangle check`, `tangle run`)
on the Go fixtures of tests/go/stuck, each beside a healthy load (a busy worker
pool, an HTTP server under keep-alive load, tickers) that must never be
reported. Each fixture writes the goids it knows are stuck (truth.json); the
goroutine groups tangle reports must hold exactly those.
"""

import pytest

from go_helpers import go_local_version
from tangle_helpers import parse_output, run_tangle

LOCAL = go_local_version()


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


def test_healthy_is_not_reported(go_fixture):
    fx = go_fixture("stuck/healthy", LOCAL, "plain")
    rc, groups, recs, err = go_groups(fx.pid, 8)
    assert not groups and rc == 0, f"exit {rc}\n{describe(groups)}\n{err}"


def test_no_goroutines_flag(go_fixture):
    fx = go_fixture("stuck/nil_chan", LOCAL, "plain")
    rc, groups, recs, err = go_groups(fx.pid, 3, "--no-goroutines")
    assert rc == 0 and not groups, describe(groups)


def test_growing_leak(go_fixture):
    """A server leaking a goroutine per request: one group, growing, over 30 s."""
    fx = go_fixture("stuck/growing_leak", LOCAL, "plain")
    leaked = set(fx.truth["stuck_goids"])
    rc, groups, recs, err = go_groups(fx.pid, 40)
    growing = [g for g in groups if g["kind"] == "growing"]
    assert rc == 2 and len(growing) == 1, f"exit {rc}\n{describe(groups)}\n{err}"
    g = growing[0]
    assert g["wait_reason"] == "chan send" and g["count"] >= g["grown_from"] + 10, g
    assert leaked <= {m["goid"] for m in g["members"]}, \
        f"the leaked goroutines the fixture knows of are not all members: {describe(growing)}"
    assert any(f["function"] == "main.work.func1" for f in g["members"][0]["stack"]), g


def test_stream_records(go_fixture):
    """stream writes the same goroutine groups, valid against the schema."""
    fx = go_fixture("stuck/nil_chan", LOCAL, "plain")
    rc, out, err = run_tangle(["stream", "--json", "-p", fx.pid, "-d", 4], timeout=64)
    recs = parse_output(out)
    groups = [r for r in recs if r["type"] == "stuck_group" and r.get("of") == "goroutines"]
    assert rc == 0 and member_goids(groups, ("leaked",)) == set(fx.truth["stuck_goids"]), \
        f"exit {rc}\n{describe(groups)}\n{err}"
    assert all(g["go_version"].startswith("go1.") and g["pids"] == [fx.pid] for g in groups)
