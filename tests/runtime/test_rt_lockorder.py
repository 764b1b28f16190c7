"""`tangle lockorder`: lock-order inversions of a real process, through real
uprobes on its real libc (tests/fixtures/lockorder.c, dynamic and static).

Every scenario of the fixture runs its threads one after the other, so none
ever deadlocks: what is reported is an order that could, not a hang.
"""

import json
import os
import subprocess
import time

import pytest

from tangle_helpers import (LINE_TIMEOUT, LineReader, parse_line, require_fixture,
                            require_tangle)

ATTACH_TIMEOUT = 30.0


class LockOrder:
    """`tangle lockorder -p PID [--json] ARGS`, started against a gated fixture."""

    def __init__(self, pid, *args, json_out=True, preexec=None):
        self.argv = [str(require_tangle()), "lockorder", "-p", str(pid), *map(str, args)]
        if json_out:
            self.argv.append("--json")
        self.json = json_out
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=preexec)
        self.out = LineReader(self.proc.stdout, "lockorder-stdout")
        self.err = LineReader(self.proc.stderr, "lockorder-stderr")

    def describe(self):
        return (f"`{' '.join(self.argv)}` (rc {self.proc.poll()})\nstdout:\n{self.out.text()}\n"
                f"stderr:\n{self.err.text()}")

    def wait_attached(self):
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while time.monotonic() < deadline:
            if b"watching pid" in b"".join(self.err.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail(f"tangle lockorder did not attach: {self.describe()}")

    def records(self):
        with self.out.cond:
            lines = list(self.out.lines)
        try:
            return [parse_line(raw) for raw in lines]
        except ValueError as e:
            pytest.fail(f"invalid NDJSON from tangle lockorder: {e}\n{self.describe()}")

    def wait_for(self, type_, timeout=LINE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.records() if r["type"] == type_]
            if found:
                return found
            time.sleep(0.02)
        pytest.fail(f"no {type_} record within {timeout}s: {self.describe()}")

    def wait_text(self, text, timeout=LINE_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text.encode() in b"".join(self.out.lines):
                return
            time.sleep(0.02)
        pytest.fail(f"no {text!r} within {timeout}s: {self.describe()}")

    def finish(self, timeout=LINE_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"tangle lockorder did not stop when its process exited: "
                        f"{self.describe()}")
        self.out.join()
        self.err.join()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def lockorder(fixture_proc):
    """Factory: lockorder(MODE, *fixture_args, tangle_args=(), json_out=True,
    fixture="lockorder", wait=None) runs the fixture's MODE under tangle lockorder.

    The fixture is attached to before its gate opens; it stays alive (for
    names and stacks) until `wait` records are seen, then it is let go and
    tangle must stop on its own when it exits. Returns (records or text,
    rc, fixture's done line, LockOrder).
    """
    started = []

    def run(mode, *fx_args, tangle_args=(), json_out=True, fixture="lockorder", wait=None):
        fx = fixture_proc(fixture, mode, *fx_args)
        assert fx.read_json()["phase"] == "started"
        lo = LockOrder(fx.pid, *tangle_args, json_out=json_out)
        started.append(lo)
        lo.wait_attached()
        fx.open_gate()
        done = fx.read_json(timeout=60)
        assert done["phase"] == "done", fx.describe()
        if wait and json_out:
            lo.wait_for(wait)
        elif wait:
            lo.wait_text(wait)
        fx.send_line()
        fx.wait()
        rc = lo.finish()
        out = lo.records() if json_out else b"".join(lo.out.lines).decode()
        return out, rc, done, lo

    yield run
    for lo in started:
        lo.kill()


def of_type(recs, t):
    return [r for r in recs if r["type"] == t]


def check_common(recs, pid):
    assert recs[0]["type"] == "meta"
    assert recs[0]["filter"]["pids"] == [pid]
    probes = of_type(recs, "lockorder_probes")
    assert len(probes) == 1 and probes[0]["pid"] == pid
    summary = of_type(recs, "lockorder_summary")
    assert len(summary) == 1 and recs[-1]["type"] == "lockorder_summary", recs[-3:]
    s = summary[0]
    assert s["events_lost"] == 0 and s["edges_dropped"] == 0 and s["held_overflow"] == 0, s
    return probes[0], s


def functions_of(edge):
    return [f["function"] for f in edge["stack"] if f["function"]]


@pytest.mark.parametrize("fixture", ["lockorder", "lockorder-static"])
def test_abba_reported_with_both_stacks(lockorder, fixture):
    recs, rc, done, _ = lockorder("abba", fixture=fixture, wait="lock_order_inversion")
    pid = done["pid"]
    probes, summary = check_common(recs, pid)
    assert rc == 2, "exit 2: an inversion was found"
    if fixture == "lockorder-static":
        assert probes["binary"].endswith("/lockorder-static"), probes["binary"]
    else:
        assert "libc" in probes["binary"], probes["binary"]
    inv = of_type(recs, "lock_order_inversion")
    assert len(inv) == 1, inv
    inv = inv[0]
    assert inv["pid"] == pid and inv["inversion_id"] == 1
    addrs = {lk["addr"] for lk in inv["locks"]}
    assert addrs == {done["locks"]["lock_a"], done["locks"]["lock_b"]}, inv["locks"]
    assert sorted(lk["name"] for lk in inv["locks"]) == ["lock_a", "lock_b"]
    assert all(lk["kind"] == "mutex" for lk in inv["locks"])
    ab, ba = inv["edges"]  # the order first seen comes first
    assert (ab["comm"], ab["tid"]) == ("order-ab", done["tids"]["order-ab"]), ab
    assert (ba["comm"], ba["tid"]) == ("order-ba", done["tids"]["order-ba"]), ba
    assert (ab["from_addr"], ab["to_addr"]) == (done["locks"]["lock_a"], done["locks"]["lock_b"])
    assert (ba["from_addr"], ba["to_addr"]) == (done["locks"]["lock_b"], done["locks"]["lock_a"])
    assert ab["to"] == ba["from"] and ba["to"] == ab["from"]
    assert not inv["single_thread"]
    for e, caller in ((ab, "ab"), (ba, "ba")):
        fns = functions_of(e)
        # the lock call, the helper that called it, and its caller, from a DWARF unwind
        assert "take2" in fns and caller in fns and "run_job" in fns, e["stack"]
        assert fns.index("take2") < fns.index(caller)
        assert any(f["file"] and f["file"].endswith("lockorder.c") for f in e["stack"])
        assert e["held_at"]["function"] == "take2", e["held_at"]
        # take2 took the first lock, then the second: its callers are the first one's too
        held = [f["function"] for f in e["held_stack"]]
        assert held[:3] == ["take2", caller, "run_job"], e["held_stack"]
        assert e["held_stack"][0] == e["held_at"]
        assert e["count"] == 1 and e["locks_held"] == 1
        assert e["from_mode"] == e["to_mode"] == "write" and not e["from_trylock"]
    assert summary["inversions"] == 1 and summary["locks"] == 2 and summary["edges"] == 2
    assert summary["acquisitions"] == summary["releases"] and summary["acquisitions"] >= 4


def test_cycle_of_three_locks(lockorder):
    recs, rc, done, _ = lockorder("cycle3", wait="lock_order_inversion")
    check_common(recs, done["pid"])
    assert rc == 2
    inv = of_type(recs, "lock_order_inversion")
    assert len(inv) == 1
    assert [e["comm"] for e in inv[0]["edges"]] == ["order-ab", "order-bc", "order-ca"]
    assert sorted(lk["name"] for lk in inv[0]["locks"]) == ["lock_a", "lock_b", "lock_c"]


def test_trylock_that_got_the_lock_orders_what_follows(lockorder):
    """trylock(a) then lock(b) is an a->b edge; with b->a elsewhere, an inversion."""
    recs, rc, done, _ = lockorder("trylock_held", wait="lock_order_inversion")
    check_common(recs, done["pid"])
    assert rc == 2
    (inv,) = of_type(recs, "lock_order_inversion")
    first = inv["edges"][0]
    assert first["comm"] == "try-ab" and first["from_trylock"], first
    assert first["from_addr"] == done["locks"]["lock_a"]


def test_rwlock_write_then_read_reported(lockorder):
    recs, rc, done, _ = lockorder("rw_write", wait="lock_order_inversion")
    check_common(recs, done["pid"])
    assert rc == 2
    (inv,) = of_type(recs, "lock_order_inversion")
    assert all(lk["kind"] == "rwlock" for lk in inv["locks"])
    assert [(e["from_mode"], e["to_mode"]) for e in inv["edges"]] == [("write", "read")] * 2


@pytest.mark.parametrize("mode", ["consistent", "trylock", "recursive", "nonlifo", "rw_read",
                                  "reuse"])
def test_no_false_inversion(lockorder, mode):
    recs, rc, done, _ = lockorder(mode)
    _, s = check_common(recs, done["pid"])
    assert of_type(recs, "lock_order_inversion") == [], recs
    assert rc == 0, "exit 0: nothing found"
    assert s["inversions"] == 0 and s["acquisitions"] >= 4, s
    assert s["unknown_releases"] == 0 and s["acquisitions"] == s["releases"], s
    if mode == "trylock":
        # the back-off really happened and was seen: the failed trylocks added nothing
        # (and with a->b taken first, a b->a edge would have been an inversion)
        assert done["try_failures"] >= 2 and s["trylocks_failed"] >= done["try_failures"], s
    if mode == "recursive":
        # r twice, b; then b, r twice: only b->r (r was free again when b was taken)
        assert s["edges"] == 1 and s["locks"] == 2, s
    if mode == "nonlifo":
        # a->b, c->a; a was let go before b, and not held when c was taken
        assert s["edges"] == 2, s
    if mode == "rw_read":
        assert s["edges"] == 2, s  # both orders seen, neither can block: readers share
    if mode == "reuse":
        # init, destroy, init, destroy of slot: two lifetimes, two locks, no cycle
        assert s["lock_lifetimes"] >= 4 and s["locks"] == 3 and s["edges"] == 2, s


def test_thread_exiting_with_a_lock(lockorder):
    recs, rc, done, _ = lockorder("exit_held", wait="lock_held_at_exit")
    _, s = check_common(recs, done["pid"])
    assert rc == 0
    (x,) = of_type(recs, "lock_held_at_exit")
    assert x["tid"] == done["tids"]["leaver"] and x["comm"] == "leaver"
    (lk,) = x["locks"]
    assert lk["addr"] == done["locks"]["lock_a"] and lk["name"] == "lock_a"
    assert lk["held_at"]["function"] == "leave_holding_a", lk
    assert s["threads_exited_holding"] == 1


def test_many_acquisitions_one_report_and_the_target_unharmed(lockorder):
    n = 20000
    recs, rc, done, _ = lockorder("loop", n, wait="lock_order_inversion")
    _, s = check_common(recs, done["pid"])
    assert rc == 2
    (inv,) = of_type(recs, "lock_order_inversion")
    ab, ba = inv["edges"]
    assert ab["comm"] == "loop-ab" and ab["count"] == n, ab  # counted in BPF, sent once
    # (plus the few that glibc itself makes, e.g. in pthread_create)
    assert 4 * n <= s["acquisitions"] < 4 * n + 100 and s["releases"] == s["acquisitions"], s
    assert s["edges"] == 2


def test_text_report(lockorder):
    text, rc, done, _ = lockorder("abba", json_out=False, wait="previously acquired")
    assert rc == 2
    assert "WARNING: lock-order inversion (potential deadlock)" in text, text
    assert f"pid {done['pid']}" in text
    assert "lock_a" in text and "lock_b" in text
    assert 'thread %d "order-ab"' % done["tids"]["order-ab"] in text
    assert "take2" in text and "lockorder.c:" in text
    assert "previously acquired by the same thread" in text
    assert "1 inversion in" in text


def test_hostile_thread_names(lockorder):
    """Names with a terminal escape and invalid UTF-8: valid JSON (parse_line checks every
    byte), and no raw escape in the text report."""
    recs, rc, done, _ = lockorder("hostile", wait="lock_order_inversion")
    assert rc == 2
    (inv,) = of_type(recs, "lock_order_inversion")
    comms = [e["comm"] for e in inv["edges"]]
    assert comms[0] == "\x1b]0;pwn\x07" and comms[1].startswith("\ufffd\ufffd"), comms
    text, rc, _, _ = lockorder("hostile", json_out=False, wait="previously acquired")
    assert rc == 2 and "\x1b" not in text and "\x07" not in text, repr(text[:400])
    assert "lock-order inversion" in text


def test_probe_placement(lockorder):
    recs, _, done, _ = lockorder("consistent")
    probes = {f["function"]: f for f in of_type(recs, "lockorder_probes")[0]["functions"]}
    for fn in ("pthread_mutex_lock", "pthread_mutex_unlock", "pthread_mutex_trylock",
               "pthread_rwlock_rdlock", "pthread_rwlock_wrlock", "pthread_rwlock_unlock",
               "pthread_mutex_destroy", "pthread_mutex_init"):
        assert fn in probes, sorted(probes)
    # Debian 12's glibc: lock and unlock reach a jcc and a jmp a few bytes in
    assert probes["pthread_mutex_lock"]["emulated"] and probes["pthread_mutex_lock"]["insn"]
    assert probes["pthread_mutex_unlock"]["emulated"]
    assert probes["pthread_mutex_trylock"]["uretprobe"]
    recs, _, _, _ = lockorder("consistent", tangle_args=("--probe-at", "entry"))
    p = of_type(recs, "lockorder_probes")[0]
    assert p["placement"] == "entry"
    assert all(f["probe_offset"] == 0 for f in p["functions"]), p
    assert of_type(recs, "lock_order_inversion") == []


def run_tangle(*args, **kw):
    return subprocess.run([str(require_tangle()), *map(str, args)], capture_output=True,
                          text=True, timeout=60, **kw)


def test_errors_are_clear():
    r = run_tangle("lockorder")
    assert r.returncode == 1 and "-p PID" in r.stderr, r
    r = run_tangle("lockorder", "-p", "0x12")
    assert r.returncode == 1 and "invalid PID" in r.stderr, r
    r = run_tangle("lockorder", "-p", "4194000")
    assert r.returncode == 1 and "no process 4194000" in r.stderr, r
    r = run_tangle("lockorder", "-p", "1", "--probe-at", "middle")
    assert r.returncode == 1 and "--probe-at" in r.stderr, r
    r = run_tangle("lockorder", "--help")
    assert r.returncode == 0 and "lock-order inversions" in r.stdout
    # nothing to probe in a process with no pthread functions (a pure Go binary,
    # or here a kernel thread's "process": kthreadd maps no file at all)
    r = run_tangle("lockorder", "-p", "2")
    assert r.returncode == 1 and "defines pthread_mutex_lock" in r.stderr, r


def test_not_root_is_named(fixture_proc):
    fx = fixture_proc("lockorder", "abba")
    fx.read_json()

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    r = run_tangle("lockorder", "-p", fx.pid, preexec_fn=drop)
    assert r.returncode == 1 and "CAP_SYS_ADMIN" in r.stderr, r


def test_json_errors_are_records(fixture_proc):
    r = run_tangle("lockorder", "-p", "4194000", "--json")
    assert r.returncode == 1
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert any(x["type"] == "error" and "no process" in x["message"] for x in recs), r
