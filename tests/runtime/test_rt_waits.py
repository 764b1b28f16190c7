"""Futex waits seen live and found at attach time (preblocked)."""

import signal
import time

from tangle_helpers import addr_of, select

MS = 1_000_000
# glibc's mutex slow path: futex(FUTEX_WAIT|FUTEX_PRIVATE_FLAG, 2)
FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_PRIVATE_FLAG, FUTEX_CMD_MASK = 0, 9, 128, 0x7F
# wait_end.blocked_ns vs. end.ts_ns - begin.ts_ns
TS_SLACK_NS = 2 * MS


def mutex_wait_ok(b, mutex):
    return (b["kind"] == "futex" and b["syscall"] == "futex" and addr_of(b) == mutex
            and b["op"] == "wait" and b["op_raw"] & FUTEX_CMD_MASK == FUTEX_WAIT
            and b["op_raw"] & FUTEX_PRIVATE_FLAG and b["private"] is True
            and b["has_timeout"] is False)


def test_contended_mutex(fixture_proc, run_stream):
    nwait, hold_ms = 3, 300
    fx = fixture_proc("contended_mutex", nwait, "--gate", "--hold-ms", hold_ms)
    gate = fx.read_json()
    assert gate["gate"] == "waiting" and gate["pid"] == fx.pid
    ts = run_stream(["-p", fx.pid])
    ts.wait_known(fx.pid, *gate["waiter_tids"])
    fx.open_gate()
    ready = fx.read_json()
    released = fx.read_json()["released_ns"]
    fx.wait()

    pid, mutex, waiters = fx.pid, int(ready["mutex"], 16), ready["waiter_tids"]
    assert waiters == gate["waiter_tids"] and len(waiters) == nwait
    # all waits over, and the process gone, before tangle is stopped
    ts.wait_until(lambda recs: all(select(recs, "wait_end", tid=t, addr=mutex) for t in waiters)
                  and select(recs, "thread_exit", tid=pid),
                  what="wait_end of every waiter and the exit of the fixture")
    recs = ts.stop_ok()

    for tid in waiters:
        begins = select(recs, "wait_begin", pid=pid, tid=tid, addr=mutex)
        ends = select(recs, "wait_end", pid=pid, tid=tid, addr=mutex)
        assert begins, f"no wait_begin for waiter {tid} on {ready['mutex']}"
        b = begins[0]
        assert mutex_wait_ok(b, mutex), f"unexpected wait_begin {b}"
        assert b["expected"] == 2, f"glibc waits for the value 2 (locked, waiters): {b}"
        assert b["preblocked"] is False, b
        assert b["ts_ns"] < released, f"wait began after the release: {b}"
        woken = [e for e in ends if e["result"] == "woken"]
        assert woken, f"no woken wait_end for waiter {tid}: {ends}"
        e = woken[-1]
        assert e["ts_ns"] >= released, f"wait ended before the release at {released}: {e}"
        assert e["blocked_ns"] >= hold_ms * MS, f"blocked less than the hold time: {e}"
        assert e["preblocked"] is False and e["errno"] is None, e
        assert (e["op"], e["syscall"], e["kind"]) == ("wait", "futex", "futex"), e
        # the first wait lasted from before the hold until after the release
        first_end = [x for x in ends if x["ts_ns"] >= b["ts_ns"]][0]
        assert abs(first_end["blocked_ns"] - (first_end["ts_ns"] - b["ts_ns"])) <= TS_SLACK_NS, \
            f"blocked_ns disagrees with the timestamps: {b} -> {first_end}"
        assert all(r["comm"] == "contended_mutex" for r in begins + ends)

    # the threads were there before tangle: found in /proc, then they exited
    for tid in [pid] + waiters:
        new = select(recs, "thread_new", tid=tid)
        assert len(new) == 1 and new[0]["origin"] == "proc" and new[0]["pid"] == pid, new
        assert new[0]["is_thread"] is (tid != pid), new
        assert new[0]["state"] == "sleeping", f"thread {tid} sleeps in read(): {new}"
        ex = select(recs, "thread_exit", tid=tid)
        assert len(ex) == 1 and ex[0]["pid"] == pid, ex
        assert ex[0]["group_dead"] is (tid == pid), ex
        assert ex[0]["exit_code"] == 0 and ex[0]["signal"] == 0, ex


def test_preblocked_mutex(fixture_proc, run_stream):
    fx = fixture_proc("preblocked")
    info = fx.read_json()
    pid, tid, mutex = fx.pid, info["waiter_tid"], int(info["mutex"], 16)
    ts = run_stream(["-p", pid], duration=60)

    b = ts.wait_for(lambda r: r["type"] == "wait_begin" and r["tid"] == tid,
                    what=f"preblocked wait_begin of {tid}")
    seen_b_ns = time.monotonic_ns()
    assert b["preblocked"] is True, b
    assert b["pid"] == pid and mutex_wait_ok(b, mutex), b
    assert ts.start_ns <= b["ts_ns"] <= seen_b_ns, b
    assert not select(ts.records, "wait_end", tid=tid), "wait ended before the release"
    new = select(ts.records, "thread_new", tid=tid)
    assert new and new[0]["origin"] == "proc" and new[0]["state"] == "sleeping", new

    # a known lower bound for blocked_ns: the wait lasts at least this much longer
    time.sleep(0.2)
    t_release = time.monotonic_ns()
    fx.signal(signal.SIGUSR1)
    rel = fx.read_json()
    assert rel["released"] is True and rel["by"] == "sigusr1", rel
    fx.wait()

    e = ts.wait_for(lambda r: r["type"] == "wait_end" and r["tid"] == tid,
                    what=f"wait_end of {tid} after SIGUSR1")
    assert e["preblocked"] is True and e["result"] == "woken", e
    assert addr_of(e) == mutex and e["op"] == "wait" and e["errno"] is None, e
    assert e["ts_ns"] >= rel["released_ns"] >= t_release, e
    # a lower bound measured from tangle's start: at least from when we saw the
    # wait_begin, at most since the fixture started
    assert e["ts_ns"] - seen_b_ns <= e["blocked_ns"] <= e["ts_ns"] - fx.start_ns, e
    assert e["blocked_ns"] >= 200 * MS, e
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == pid, what="fixture exit")
    recs = ts.stop_ok()
    assert len(select(recs, "wait_begin", tid=tid, preblocked=True)) == 1


def idle_checks(recs, info, t_release, preblocked):
    pid = info["pid"]
    cond, cond_end = int(info["cond"], 16), int(info["cond"], 16) + info["cond_size"]
    ctid = info["cond_tid"]
    begins = select(recs, "wait_begin", tid=ctid)
    assert begins, f"no wait_begin for the cond-wait thread {ctid}"
    b = begins[0]
    assert cond <= addr_of(b) < cond_end, f"cond wait not inside the pthread_cond_t {info}: {b}"
    assert b["op"] == "wait_bitset" and b["op_raw"] & FUTEX_CMD_MASK == FUTEX_WAIT_BITSET, b
    assert b["private"] is True and b["has_timeout"] is False, b
    assert b["preblocked"] is preblocked, b
    ends = select(recs, "wait_end", tid=ctid, addr=addr_of(b))
    assert ends and ends[0]["ts_ns"] >= t_release, ends
    assert ends[0]["result"] in ("woken", "value_changed"), ends
    for tid in (info["read_tid"], info["sleep_tid"]):
        bad = [r for r in select(recs, "wait_begin", tid=tid) if r["ts_ns"] < t_release]
        assert not bad, f"thread {tid} blocks in read/nanosleep, not a futex: {bad}"
    for tid in (info["read_tid"], info["sleep_tid"], ctid):
        assert select(recs, "thread_exit", pid=pid, tid=tid), f"no thread_exit for {tid}"


def test_idle_preblocked(fixture_proc, run_stream):
    fx = fixture_proc("idle")
    info = fx.read_json()
    ts = run_stream(["-p", fx.pid])
    ts.wait_for(lambda r: r["type"] == "wait_begin" and r["tid"] == info["cond_tid"],
                what="preblocked cond wait")
    # thread_new (origin proc) of every thread, with /proc state
    for tid in (info["read_tid"], info["sleep_tid"], info["cond_tid"]):
        new = ts.wait_for(lambda r, tid=tid: r["type"] == "thread_new" and r["tid"] == tid,
                          what=f"thread_new of {tid}")
        assert new["origin"] == "proc" and new["state"] == "sleeping", new
    t_release = time.monotonic_ns()
    fx.signal(signal.SIGUSR1)
    assert fx.read_json()["released"] is True
    fx.wait()
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == fx.pid, what="fixture exit")
    idle_checks(ts.stop_ok(), info, t_release, preblocked=True)


def test_idle_live(fixture_proc, run_stream):
    fx = fixture_proc("idle", "--gate")
    fx.read_json()
    ts = run_stream(["-p", fx.pid])
    ts.wait_known(fx.pid)
    fx.open_gate()
    info = fx.read_json()
    t_release = time.monotonic_ns()
    fx.send_line()
    assert fx.read_json()["released"] is True
    fx.wait()
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == fx.pid, what="fixture exit")
    recs = ts.stop_ok()
    idle_checks(recs, info, t_release, preblocked=False)
    for tid in (info["read_tid"], info["sleep_tid"], info["cond_tid"]):
        new = select(recs, "thread_new", tid=tid)
        assert len(new) == 1 and new[0]["origin"] == "fork", new
        assert new[0]["parent_pid"] == fx.pid and new[0]["parent_tid"] == fx.pid, new


def check_futex_stats(recs, pid, mutex, nwait, hold_ms):
    stats = select(recs, "futex_stats", pid=pid, addr=mutex)
    assert len(stats) == 1, f"expected one futex_stats for pid {pid} addr {mutex:#x}: " \
        f"{select(recs, 'futex_stats')}"
    st = stats[0]
    assert st["waits"] >= nwait, st
    assert st["max_wait_ns"] >= hold_ms * MS, st
    assert st["total_wait_ns"] >= st["max_wait_ns"] + (nwait - 1) * hold_ms * MS, st
    assert st["ts_ns"] >= max(r["ts_ns"] for r in select(recs, "wait_end", pid=pid))
    return st


def run_contended_for_stats(fixture_proc, run_stream, *extra):
    nwait, hold_ms = 3, 100
    fx = fixture_proc("contended_mutex", nwait, "--gate", "--hold-ms", hold_ms, *extra)
    gate = fx.read_json()
    ts = run_stream(["-p", fx.pid])
    ts.wait_known(fx.pid)
    fx.open_gate()
    ready = fx.read_json()
    fx.read_json()  # released
    mutex = int(ready["mutex"], 16)
    ts.wait_until(lambda recs: all(select(recs, "wait_end", tid=t, addr=mutex)
                                   for t in gate["waiter_tids"]),
                  what="wait_end of every waiter")
    return fx, ts, mutex, nwait, hold_ms


def test_futex_stats_live_process(fixture_proc, run_stream):
    """futex_stats at the end for a process that is still alive when tangle stops."""
    fx, ts, mutex, nwait, hold_ms = run_contended_for_stats(fixture_proc, run_stream, "--linger")
    recs = ts.stop_ok()
    fx.send_line()
    fx.wait()
    check_futex_stats(recs, fx.pid, mutex, nwait, hold_ms)


def test_futex_stats_exited_process(fixture_proc, run_stream):
    """futex_stats at the end also for a process that exited during the stream."""
    fx, ts, mutex, nwait, hold_ms = run_contended_for_stats(fixture_proc, run_stream)
    fx.wait()
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == fx.pid, what="fixture exit")
    recs = ts.stop_ok()
    check_futex_stats(recs, fx.pid, mutex, nwait, hold_ms)
