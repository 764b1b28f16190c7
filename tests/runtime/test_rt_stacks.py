"""Stacks of waits in the stream: `--stacks` on wait_end, `--folded` for flame graphs."""
import re
import signal
import subprocess
import time

from tangle_helpers import select, tangle_path


def test_stacks_on_wait_end(fixture_proc, run_stream):
    """A wait that lasts is unwound while it lasts; its wait_end carries the stack."""
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
    names = [f["function"] for f in e["stack"]]
    assert "worker_main" in names, e["stack"]
    # innermost first: the lock call sits inside the fixture's worker
    assert any("pthread_mutex_lock" in (n or "") for n in names[:names.index("worker_main")]), names
    worker = e["stack"][names.index("worker_main")]
    assert worker["file"] and worker["file"].endswith("preblocked.c") and worker["line"] > 0, worker
    for f in e["stack"]:
        assert set(f) >= {"addr", "function", "offset", "file", "line", "module", "inlined"}, f
    # a wait too short to be unwound has an empty stack, not a missing key
    short = [r for r in select(ts.records, "wait_end") if r["blocked_ns"] < 50_000_000]
    assert all(r["stack"] == [] for r in short), short


def test_folded_deadlock(fixture_proc):
    """--folded: one line per stack, root first, microseconds last; no NDJSON."""
    fx = fixture_proc("stuck_cycle_plus")
    while fx.read_json().get("phase") != "stuck":
        pass
    out = subprocess.run([tangle_path(), "stream", "--folded", "-d", "1", "-p", str(fx.pid)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and not any(l.startswith("{") for l in lines), out.stdout
    parsed = {}
    for l in lines:
        m = re.fullmatch(r"(\S+) (\d+)", l)
        assert m, f"not a folded line: {l!r}"
        parsed[m.group(1)] = int(m.group(2))
    # each deadlocked worker waited the whole second under its own stack
    for fn in ("thread_a", "thread_b", "thread_c"):
        hits = [(s, us) for s, us in parsed.items() if f";{fn};" in s]
        assert hits, f"no stack through {fn}: {lines}"
        stack, us = hits[0]
        frames = stack.split(";")
        assert frames.index("start_thread") < frames.index(fn), stack  # root first
        assert us >= 500_000, (stack, us)
