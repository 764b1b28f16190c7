"""Command line behaviour: meta, errors, -d, signals, a reader that goes away, and
detaching the BPF programs."""

import os
import signal
import socket
import subprocess
import time

import pytest

from tangle_helpers import (bpf_ids_held_by, bpf_links, bpf_progs, parse_output, require_tangle,
                            run_tangle, select)

S = 1_000_000_000


def test_meta(fixture_proc, run_stream):
    fx = fixture_proc("idle")
    fx.read_json()
    ts = run_stream(["-p", fx.pid])
    m = ts.meta
    assert m["tool"] == "tangle" and m["v"] == 1
    assert m["version"] and isinstance(m["abi_version"], int) and m["abi_version"] >= 1
    assert m["kernel"] == os.uname().release, m
    assert m["hostname"] == socket.gethostname(), m
    assert m["filter"] == {"pids": [fx.pid], "tids": [], "comm": None}, m
    # ts_ns is CLOCK_MONOTONIC: between our start of tangle and our reading the line
    assert ts.start_ns <= m["ts_ns"] <= ts.meta_seen_ns, (ts.start_ns, m, ts.meta_seen_ns)
    wall = m["ts_ns"] + m["wall_offset_ns"]
    assert abs(wall - time.time_ns()) < 5 * S, f"wall clock from meta is off: {m}"
    ts.wait_known(fx.pid)
    ts.stop_ok()


def test_sigint_right_after_meta(run_stream):
    """SIGINT as soon as meta is out (the /proc bootstrap may still run): clean exit 0."""
    ts = run_stream([], settle=False)
    rc = ts.stop(signal.SIGINT)
    assert rc == 0, f"exit {rc} (negative: killed by the signal)\n{ts.describe()}"
    ts.check_framing()


def test_no_such_pid():
    rc, out, err = run_tangle(["stream", "--json", "-p", "999999999"])
    assert rc == 1, f"exit {rc}, stdout {out!r}, stderr {err!r}"
    recs = parse_output(out)
    errors = select(recs, "error")
    assert errors, f"no error record on stdout: {out!r}"
    assert errors[0]["message"].strip(), errors
    assert err.strip(), "no human-readable message on stderr"


def test_bad_flag():
    rc, out, err = run_tangle(["stream", "--json", "--no-such-flag"])
    assert rc in (1, 2), f"exit {rc}, stderr {err!r}"
    assert "usage" in err.lower(), f"no usage on stderr: {err!r}"
    parse_output(out)  # whatever is on stdout must still be valid NDJSON


def test_duration(fixture_proc, run_stream):
    d = 2
    fx = fixture_proc("idle")
    fx.read_json()
    ts = run_stream(["-p", fx.pid], duration=d)
    rc = ts.wait_exit(timeout=d + 3 + 2)
    elapsed = (time.monotonic_ns() - ts.meta_seen_ns) / S
    assert rc == 0, ts.describe()
    assert elapsed <= d + 3, f"tangle -d {d} ran {elapsed:.2f}s after its meta line"
    ts.check_framing()
    summary = ts.records[-1]
    assert 0.9 * d * S <= summary["duration_ns"] <= (d + 3) * S, summary
    assert summary["lost"] == 0, summary


TRACEFS = "/sys/kernel/tracing"


def tracefs_probes():
    """The kprobes and uprobes tracefs lists (tangle creates none; nor may it leave any)."""
    out = {}
    for name in ("kprobe_events", "uprobe_events"):
        try:
            with open(os.path.join(TRACEFS, name)) as f:
                out[name] = f.read()
        except OSError:
            out[name] = None
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_signal_detaches(fixture_proc, run_stream, sig):
    """A clean stop (INT, TERM, HUP) ends the stream with its summary; SIGKILL cannot, but
    either way the kernel keeps nothing of tangle: programs, links and probes go with it."""
    fx = fixture_proc("idle")
    fx.read_json()
    probes = tracefs_probes()
    ts = run_stream(["-p", fx.pid])
    # exactly the programs and links this tangle holds (other tangles may run)
    prog_ids, link_ids = bpf_ids_held_by(ts.pid)
    progs = bpf_progs("")
    mine = {i: progs[i] for i in prog_ids if i in progs}
    assert mine, f"tangle (pid {ts.pid}) holds no BPF program"
    names = sorted(p.get("name", "") for p in mine.values())
    assert all(n.startswith("tg_") for n in names), f"BPF programs not named tg_*: {names}"
    links = set(link_ids) | {i for i, lk in bpf_links().items() if lk.get("prog_id") in mine}
    assert links, "no BPF link refers to tangle's programs: nothing is attached"

    rc = ts.stop(sig)
    if sig == signal.SIGKILL:
        assert rc == -signal.SIGKILL, f"{sig.name}: exit {rc}\n{ts.describe()}"
        # the kernel lets go of the programs once the last fd is closed, in the background
        deadline = time.monotonic() + 5
        while set(mine) & set(bpf_progs("")) and time.monotonic() < deadline:
            time.sleep(0.1)
    else:
        assert rc == 0, f"{sig.name}: exit {rc}\n{ts.describe()}"
        ts.check_framing()
    assert tracefs_probes() == probes, "tracefs probe lists changed"

    left = set(mine) & set(bpf_progs(""))
    assert not left, f"BPF programs still loaded after exit: {[mine[i]['name'] for i in left]}"
    left_links = links & set(bpf_links())
    assert not left_links, f"BPF links still present after exit: {sorted(left_links)}"


def test_system_wide_smoke(fixture_proc, run_stream):
    """Whatever runs on the machine: every line valid, meta first, summary last."""
    fx = fixture_proc("hostile_names", "--gate", "--hold-ms", 5)
    fx.read_json()
    ts = run_stream([], duration=2)
    fx.open_gate()
    fx.read_json()
    fx.wait()
    assert ts.wait_exit(timeout=10) == 0, ts.describe()
    recs = ts.records
    assert recs[0]["type"] == "meta" and recs[-1]["type"] == "summary"
    assert recs[0]["filter"] == {"pids": [], "tids": [], "comm": None}, recs[0]
    assert select(recs, "wait_begin", pid=fx.pid), "system-wide stream missed the fixture"


def test_output_file(fixture_proc, tmp_path):
    fx = fixture_proc("idle")
    info = fx.read_json()
    path = tmp_path / "out.ndjson"
    rc, out, err = run_tangle(["stream", "--json", "-p", fx.pid, "-d", 1, "-o", path])
    assert rc == 0, f"exit {rc}: {err}"
    assert out == b"", f"with -o, stdout must stay empty: {out[:300]!r}"
    recs = parse_output(path.read_bytes())
    assert recs and recs[0]["type"] == "meta" and recs[-1]["type"] == "summary", recs[:1]
    assert select(recs, "thread_new", pid=fx.pid), "no thread of the watched process"
    assert select(recs, "wait_begin", tid=info["cond_tid"], preblocked=True), \
        "the cond-wait thread's preblocked wait is missing from the file"


def test_reader_goes_away(fixture_proc):
    """`tangle stream | head -n 2`: once the reader has closed the pipe (SIGPIPE
    ignored, EPIPE on the next write), tangle stops at once, exit 0 without a
    word, and lets go of its programs and links."""
    fixture_proc("ok_contention", "--timeout", 30)  # something to write about
    r, w = os.pipe()
    proc = subprocess.Popen([str(require_tangle()), "stream"], stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r, "rb") as reader:
        first = reader.readline()
        assert first.startswith(b'{"type":"meta"'), first
        progs, links = bpf_ids_held_by(proc.pid)
        assert progs, "tangle holds no BPF program"
    start = time.monotonic()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("tangle stream went on after its reader closed the pipe")
    assert proc.returncode == 0, (proc.returncode, err)
    assert not err.strip(), err
    assert time.monotonic() - start < 15
    assert not (set(bpf_progs("")) & progs), "programs left loaded"
    assert not (set(bpf_links()) & links), "links left attached"
