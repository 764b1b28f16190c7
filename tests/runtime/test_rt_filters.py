"""-p / -t / -c filters: records of exactly the selected threads, nothing else."""

import os

from tangle_helpers import select


def start_gated(fixture_proc, *extra):
    fx = fixture_proc("contended_mutex", 3, "--gate", "--hold-ms", 100, *extra)
    gate = fx.read_json()
    assert gate["gate"] == "waiting"
    return fx, gate


def run_both(ts, a, b, known):
    """Open both gates while tangle runs; wait until both fixtures are done."""
    ts.wait_known(*known)
    a.open_gate()
    b.open_gate()
    for fx in (a, b):
        fx.read_json()  # ready
        fx.read_json()  # released
        fx.wait()


def test_filter_pid(fixture_proc, run_stream):
    a, ga = start_gated(fixture_proc)
    b, _ = start_gated(fixture_proc)
    ts = run_stream(["-p", a.pid])
    assert ts.meta["filter"] == {"pids": [a.pid], "tids": [], "comm": None}, ts.meta
    run_both(ts, a, b, [a.pid])
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == a.pid, what="exit of A")
    recs = ts.stop_ok()
    for tid in ga["waiter_tids"]:
        assert select(recs, "wait_begin", tid=tid, addr=ga["mutex"]), f"no wait of {tid}"
    others = [r for r in recs if "pid" in r and r["pid"] != a.pid]
    assert not others, f"records of other processes with -p {a.pid}: {others[:5]}"
    assert not [r for r in recs if r.get("parent_pid") == b.pid]


def test_filter_pid_twice(fixture_proc, run_stream):
    a, ga = start_gated(fixture_proc)
    b, gb = start_gated(fixture_proc)
    ts = run_stream(["-p", a.pid, "-p", b.pid])
    assert sorted(ts.meta["filter"]["pids"]) == sorted([a.pid, b.pid]), ts.meta
    run_both(ts, a, b, [a.pid, b.pid])
    ts.wait_until(lambda recs: select(recs, "thread_exit", tid=a.pid)
                  and select(recs, "thread_exit", tid=b.pid), what="exit of A and B")
    recs = ts.stop_ok()
    for g in (ga, gb):
        for tid in g["waiter_tids"]:
            assert select(recs, "wait_end", tid=tid, addr=g["mutex"], result="woken"), tid
    assert {r["pid"] for r in recs if "pid" in r} == {a.pid, b.pid}


def test_filter_tid(fixture_proc, run_stream):
    fx, gate = start_gated(fixture_proc)
    tid = gate["waiter_tids"][1]
    ts = run_stream(["-t", tid])
    assert ts.meta["filter"] == {"pids": [], "tids": [tid], "comm": None}, ts.meta
    ts.wait_known(tid)
    fx.open_gate()
    fx.read_json()
    fx.read_json()
    fx.wait()
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == tid, what=f"exit of {tid}")
    recs = ts.stop_ok()
    assert select(recs, "wait_begin", tid=tid, addr=gate["mutex"]), "no wait of the chosen tid"
    assert select(recs, "wait_end", tid=tid, addr=gate["mutex"], result="woken")
    others = [r for r in recs if "tid" in r and r["tid"] != tid]
    assert not others, f"records of other threads with -t {tid}: {others[:5]}"
    foreign = [r for r in recs if "pid" in r and r["pid"] != fx.pid]
    assert not foreign, f"records of other processes with -t {tid}: {foreign[:5]}"


def test_filter_comm(fixture_proc, run_stream):
    tag = os.getpid() % 100000
    name_a, name_b = f"tgfa{tag}", f"tgfb{tag}"
    a, ga = start_gated(fixture_proc, "--comm", name_a)
    b, _ = start_gated(fixture_proc, "--comm", name_b)
    ts = run_stream(["-c", name_a])
    assert ts.meta["filter"] == {"pids": [], "tids": [], "comm": name_a}, ts.meta
    run_both(ts, a, b, [a.pid])
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == a.pid, what="exit of A")
    recs = ts.stop_ok()
    for tid in ga["waiter_tids"]:
        assert select(recs, "wait_begin", tid=tid, addr=ga["mutex"], comm=name_a), tid
    wrong = [r for r in recs if "comm" in r and r["comm"] != name_a]
    assert not wrong, f"records of other comms with -c {name_a}: {wrong[:5]}"
    foreign = [r for r in recs if "pid" in r and r["pid"] != a.pid]
    assert not foreign, f"records of other processes with -c {name_a}: {foreign[:5]}"
