"""Stacks of waits in the stream: `--stacks` on wait records, `--folded` for flame graphs.

Stacks are captured as each wait begins (registers and a copy of the stack,
unwound later), so short waits have them too; waits that began before tangle
started get theirs lazily, from the live thread, while they last.
"""
import re
import signal
import subprocess
import time

from tangle_helpers import is_frame_list, select, tangle_path

STACK_FIELDS = {"addr", "function", "offset", "file", "line", "module", "inlined"}


def names_of(stack):
    return [f["function"] or "" for f in stack]


def check_worker_stack(stack, fixture_file, worker="worker_main"):
    """The fixture's worker, with file:line, called into pthread_mutex_lock, innermost first."""
    names = names_of(stack)
    assert worker in names, stack
    at = names.index(worker)
    assert any("pthread_mutex_lock" in n for n in names[:at]), names
    frame = stack[at]
    assert frame["file"] and frame["file"].endswith(fixture_file) and frame["line"] > 0, frame
    for f in stack:
        assert set(f) >= STACK_FIELDS, f


def test_stacks_on_wait_end(fixture_proc, run_stream):
    """A wait that began before tangle is unwound while it lasts; its wait_end carries the stack."""
    fx = fixture_proc("preblocked")
    info = fx.read_json()
    tid = info["waiter_tid"]
    ts = run_stream(["-p", fx.pid, "--stacks"], duration=60)
    ts.wait_for(lambda r: r["type"] == "wait_begin" and r["tid"] == tid,
                what=f"wait_begin of {tid}")
    time.sleep(0.4)  # past the 100 ms after which tangle takes stacks, and a tick or two
    fx.signal(signal.SIGUSR1)
    e = ts.wait_for(lambda r: r["type"] == "wait_end" and r["tid"] == tid,
                    what=f"wait_end of {tid}")
    assert e["preblocked"], e
    check_worker_stack(e["stack"], "preblocked.c")
    # taken from the live thread, not captured at a start tangle never saw
    assert e["stack_sample_every"] is None, e
    # the lazy path reads the kernel stack too: the thread sleeps in the futex code
    knames = names_of(e["kernel_stack"])
    assert is_frame_list(e["kernel_stack"]) and any("futex" in n for n in knames), knames
    assert all(f["module"] == "[kernel]" for f in e["kernel_stack"]), e["kernel_stack"]


def test_short_waits_have_stacks(fixture_proc, run_stream):
    """Waits of a few ms get the stack captured as they began, in wait_begin and wait_end."""
    fx = fixture_proc("contended_mutex", "3", "--hold-ms", "10", "--gate", "--linger")
    gate = fx.read_json()
    waiters = set(gate["waiter_tids"])
    ts = run_stream(["-p", fx.pid, "--stacks"], duration=60)
    fx.open_gate()
    fx.read_json()  # ready: all blocked
    fx.read_json()  # released: all got the lock
    ends = ts.wait_until(
        lambda recs: (lambda e: e if {r["tid"] for r in e} >= waiters else None)(
            [r for r in select(recs, "wait_end") if r["tid"] in waiters]),
        what=f"wait_end of every waiter {sorted(waiters)}")
    short = [e for e in ends if e["blocked_ns"] < 100_000_000]
    assert short, f"no wait under 100 ms: {[e['blocked_ns'] for e in ends]}"
    for e in short:
        check_worker_stack(e["stack"], "contended_mutex.c")
        assert e["stack_sample_every"] == 1, e  # a handful of waits: every one captured
        assert e["stack_truncated"] is False, e
        assert "kernel_stack" in e and is_frame_list(e["kernel_stack"]), e
        # its wait_begin had the same stack already
        begin = [b for b in select(ts.records, "wait_begin", tid=e["tid"])
                 if b["ts_ns"] == e["ts_ns"] - e["blocked_ns"]]
        assert begin, f"no wait_begin for {e}"
        assert names_of(begin[0]["stack"]) == names_of(e["stack"]), (begin[0], e)
        assert begin[0]["stack_sample_every"] == 1, begin[0]
    # a pthread_join in main() (if a worker was still running to wait for) unwinds through main
    time.sleep(0.3)
    for join in [r for r in select(ts.records, "wait_end", tid=fx.pid) if r["stack"]]:
        assert "main" in names_of(join["stack"]), join
    fx.send_line()
    fx.wait()


def test_stacks_sampled_at_high_rates(fixture_proc, run_stream):
    """Past --stack-rate captures a second, one wait in N is captured and says its N."""
    fx = fixture_proc("ok_contention", "--timeout", "30")
    fx.read_json()  # started
    ready = fx.read_json()
    hammers = set(ready["threads"])
    ts = run_stream(["-p", fx.pid, "--stacks", "--stack-rate", "100"], duration=2)
    ts.wait_exit()
    ends = [r for r in select(ts.records, "wait_end") if r["tid"] in hammers]
    assert len(ends) > 1000, f"only {len(ends)} waits: the fixture should do thousands"
    with_stack = [e for e in ends if e["stack"]]
    without = [e for e in ends if not e["stack"]]
    assert with_stack and without, (len(with_stack), len(without))
    assert max(e["stack_sample_every"] for e in with_stack) > 1, "never sampled"
    assert all(e["stack_sample_every"] is None for e in without if e["blocked_ns"] < 50_000_000)
    for e in with_stack[:50]:
        check_worker_stack(e["stack"], "ok_contention.c", worker="hammer")
    # sampled down to about 100 a second (bursts and the start go over)
    assert len(with_stack) < len(ends) / 2, (len(with_stack), len(ends))


def run_folded(pid, seconds, *extra):
    out = subprocess.run([tangle_path(), "stream", "--folded", "-d", str(seconds), "-p", str(pid),
                          *extra], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and not any(l.startswith("{") for l in lines), out.stdout
    parsed = {}
    for l in lines:
        m = re.fullmatch(r"(\S+) (\d+)", l)
        assert m, f"not a folded line: {l!r}"
        parsed[m.group(1)] = int(m.group(2))
    return parsed


def test_folded_deadlock(fixture_proc):
    """--folded: one line per stack, root first, microseconds last; no NDJSON."""
    fx = fixture_proc("stuck_cycle_plus")
    while fx.read_json().get("phase") != "stuck":
        pass
    parsed = run_folded(fx.pid, 1)
    # each deadlocked worker waited the whole second under its own stack
    for fn in ("thread_a", "thread_b", "thread_c"):
        hits = [(s, us) for s, us in parsed.items() if f";{fn};" in s]
        assert hits, f"no stack through {fn}: {parsed}"
        stack, us = hits[0]
        frames = stack.split(";")
        assert frames.index("start_thread") < frames.index(fn), stack  # root first
        assert us >= 500_000, (stack, us)


def test_folded_short_waits(fixture_proc):
    """Thousands of sub-millisecond waits go under their real stacks, weighted when sampled."""
    fx = fixture_proc("ok_contention", "--timeout", "30")
    fx.read_json()  # started
    fx.read_json()  # ready
    seconds = 2
    parsed = run_folded(fx.pid, seconds)
    assert not any("[waits_under_100ms]" in s for s in parsed), parsed
    total = sum(parsed.values())
    hammer = {s: us for s, us in parsed.items() if ";hammer;" in s}
    assert hammer, f"no stack through hammer: {parsed}"
    # almost all wait time is the hammers' lock waits, under their stacks
    assert sum(hammer.values()) >= 0.8 * total, (hammer, total)
    for stack in hammer:
        frames = stack.split(";")
        assert frames[0].startswith("hammer-"), stack  # the thread's name first
        assert frames.index("start_thread") < frames.index("hammer"), stack  # root first
        assert any("pthread_mutex_lock" in f for f in frames[frames.index("hammer"):]), stack
    # 8 threads cannot wait more than 8 x the duration, sampled weights or not
    per_thread = {}
    for stack, us in hammer.items():
        per_thread[stack.split(";")[0]] = per_thread.get(stack.split(";")[0], 0) + us
    assert all(us <= 1.5 * seconds * 1e6 for us in per_thread.values()), per_thread
