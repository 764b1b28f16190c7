"""Thread lifecycle records and attacker-controlled thread names."""

import json
import subprocess
import unicodedata

from stuck_helpers import read_phase
from tangle_helpers import parse_output, run_tangle, select


def test_churn(fixture_proc, run_stream):
    n = 200
    fx = fixture_proc("churn", n, "--gate")
    assert fx.read_json()["gate"] == "waiting"
    pid = fx.pid
    ts = run_stream(["-p", pid])
    ts.wait_known(pid)
    fx.open_gate()
    out = fx.read_json(timeout=30)
    fx.wait()
    tids = out["tids"]
    assert out["pid"] == pid and len(tids) == n and len(set(tids)) == n

    ts.wait_until(lambda recs: select(recs, "thread_exit", tid=pid)
                  and len({r["tid"] for r in select(recs, "thread_exit", pid=pid)}) >= n + 1,
                  timeout=30, what=f"thread_exit of all {n} threads and of the fixture")
    recs = ts.stop_ok()

    problems = []
    for i, tid in enumerate(tids):
        name = f"churn-{i}"
        new = select(recs, "thread_new", tid=tid)
        ren = select(recs, "thread_rename", tid=tid, comm=name)
        ex = select(recs, "thread_exit", tid=tid)
        if len(new) != 1:
            problems.append(f"{name} tid {tid}: {len(new)} thread_new records")
        else:
            r = new[0]
            want = {"pid": pid, "origin": "fork", "is_thread": True, "parent_pid": pid,
                    "parent_tid": pid, "state": None}
            diff = {k: r[k] for k in want if r[k] != want[k]}
            if diff:
                problems.append(f"{name} tid {tid}: thread_new differs in {diff} (want {want})")
        if len(ren) != 1:
            problems.append(f"{name} tid {tid}: {len(ren)} thread_rename to {name!r}")
        elif ren[0]["pid"] != pid or ren[0]["old_comm"] != "churn":
            problems.append(f"{name} tid {tid}: bad thread_rename {ren[0]}")
        if len(ex) != 1:
            problems.append(f"{name} tid {tid}: {len(ex)} thread_exit records")
        else:
            r = ex[0]
            if (r["pid"], r["comm"], r["group_dead"], r["signal"]) != (pid, name, False, 0):
                problems.append(f"{name} tid {tid}: bad thread_exit {r}")
        if len(new) == 1 and len(ren) == 1 and len(ex) == 1 and \
                not new[0]["ts_ns"] <= ren[0]["ts_ns"] <= ex[0]["ts_ns"]:
            problems.append(f"{name} tid {tid}: new/rename/exit out of time order")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])

    main_exit = select(recs, "thread_exit", tid=pid)
    assert len(main_exit) == 1 and main_exit[0]["group_dead"] is True, main_exit
    assert main_exit[0]["exit_code"] == 0, main_exit
    # no thread of the fixture besides main and the 200 was reported
    assert {r["tid"] for r in recs if "tid" in r} <= set(tids) | {pid}


def test_hostile_names(fixture_proc, run_stream):
    fx = fixture_proc("hostile_names", "--gate")
    info = fx.read_json()
    pid, tid, mutex = fx.pid, info["tid"], info["mutex"]
    raw_names = [bytes.fromhex(h) for h in info["names_hex"]]
    # what a JSON string must carry: invalid UTF-8 bytes become U+FFFD,
    # everything else is kept (control characters escaped, not dropped)
    names = [b.decode("utf-8", "replace") for b in raw_names]
    main_name = bytes.fromhex(info["main_comm_hex"]).decode("utf-8", "replace")
    ts = run_stream(["-p", pid])
    ts.wait_known(pid, tid)
    fx.open_gate()
    assert fx.read_json(timeout=30)["done"] is True
    fx.wait()
    ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == pid, what="fixture exit")
    recs = ts.stop_ok()  # validates every line: JSON, strict UTF-8, no raw control bytes

    raw = b"".join(ts.raw_lines)
    assert b"\x1b" not in raw and b"\x07" not in raw and b"\x7f" not in raw
    assert b"\\u001b" in raw.lower(), "ESC must appear escaped as \\u001b"

    # /proc/PID/stat parsing: the main thread's name contains ") R 1 2 3 ("
    for t in (pid, tid):
        new = select(recs, "thread_new", tid=t)
        assert len(new) == 1 and new[0]["origin"] == "proc", new
        assert new[0]["comm"] == main_name, f"comm {new[0]['comm']!r} != {main_name!r}"
        assert new[0]["state"] == "sleeping", f"state parsed from stat: {new}"

    old = main_name
    for i, name in enumerate(names):
        ren = select(recs, "thread_rename", tid=tid, comm=name)
        assert len(ren) == 1, f"rename #{i} to {raw_names[i]!r} -> expected comm {name!r}; " \
            f"renames seen: {[r['comm'] for r in select(recs, 'thread_rename', tid=tid)]}"
        assert ren[0]["old_comm"] == old, ren
        old = name
        waits = select(recs, "wait_begin", tid=tid, addr=mutex, comm=name)
        assert waits, f"no wait_begin under name #{i} {name!r}; wait comms: " \
            f"{[r['comm'] for r in select(recs, 'wait_begin', tid=tid)]}"
        ends = select(recs, "wait_end", tid=tid, addr=mutex, comm=name)
        assert ends and ends[0]["result"] == "woken", ends
    ex = select(recs, "thread_exit", tid=tid)
    assert len(ex) == 1 and ex[0]["comm"] == names[-1], ex


def test_exec(run_stream):
    """thread_exec: a process replaces its image (sh -> sleep), same pid and tid."""
    sh = subprocess.Popen(["/bin/sh", "-c", "read x; exec /bin/sleep 0.3"],
                          stdin=subprocess.PIPE)
    try:
        ts = run_stream(["-p", sh.pid])
        ts.wait_known(sh.pid)
        sh.stdin.write(b"go\n")
        sh.stdin.flush()
        assert sh.wait(15) == 0
        ex = ts.wait_for(lambda r: r["type"] == "thread_exec" and r["tid"] == sh.pid,
                         what="thread_exec of the shell")
        assert (ex["pid"], ex["comm"], ex["old_comm"]) == (sh.pid, "sleep", "sh"), ex
        ts.wait_for(lambda r: r["type"] == "thread_exit" and r["tid"] == sh.pid, what="exit")
        recs = ts.stop_ok()
        # exec sets the name through __set_task_comm (which fires task_rename):
        # that is part of the exec, not a rename of its own
        ren = select(recs, "thread_rename", tid=sh.pid)
        assert not ren, f"exec reported as a rename too: {ren}"
        exit_rec = select(recs, "thread_exit", tid=sh.pid)[0]
        assert exit_rec["comm"] == "sleep" and exit_rec["group_dead"] is True, exit_rec
    finally:
        if sh.poll() is None:
            sh.kill()
        sh.wait()


def no_controls(data, what):
    """Strict UTF-8 with no control character but newlines (C0, DEL and C1 alike)."""
    text = data.decode("utf-8")  # raises on invalid UTF-8
    bad = sorted({c for c in text if c != "\n" and unicodedata.category(c) == "Cc"})
    assert not bad, f"{what}: control characters {bad!r} reached the output"
    return text


def test_hostile_names_check_and_exports(fixture_proc, tmp_path):
    """Deadlocked threads named with terminal escapes, C1 controls and invalid UTF-8, through
    `tangle check` (text and JSON), the DOT export (rendered by dot) and the trace export."""
    fx = fixture_proc("tui_names", "--timeout", 30)
    ready = read_phase(fx.read_json, "ready")
    raw = {k: bytes.fromhex(v) for k, v in ready["names_hex"].items()}
    pid = str(fx.pid)

    rc, out, err = run_tangle(["check", "-p", pid, "-d", 3])
    assert rc == 2, err
    text = no_controls(out, "check")
    # the terminal escape: valid UTF-8 as is, the rest and every control byte as \xNN
    assert '"\\xff\\xfe\\xc0\\x80ok"' in text and '"\\xc2\\x9b31mc1\\x9b0m"' in text, text

    rc, out, err = run_tangle(["check", "-p", pid, "-d", 3, "--json"])
    assert rc == 2, err
    groups = [r for r in parse_output(out) if r["type"] == "stuck_group"]
    assert groups, out
    # JSON: control characters escaped (the parser gives them back), invalid bytes U+FFFD
    comms = {m["tid"]: m["comm"] for m in groups[0]["members"]}
    assert comms == {ready["bad"]: raw["bad"].decode("utf-8", "replace"),
                     ready["c1"]: raw["c1"].decode("utf-8", "replace")}, comms

    rc, out, err = run_tangle(["stream", "-p", pid, "-d", 2, "--dot"])
    assert rc == 0, err
    dot_src = no_controls(out, "dot")
    assert r'label="\\xff\\xfe\\xc0\\x80ok\ntid' in dot_src, dot_src
    svg = subprocess.run(["dot", "-Tsvg"], input=out, capture_output=True, timeout=30)
    assert svg.returncode == 0 and not svg.stderr, svg.stderr.decode()
    no_controls(svg.stdout, "the rendered graph")
    assert b"\\xff\\xfe\\xc0\\x80ok" in svg.stdout

    trace = tmp_path / "names.json"
    rc, _, err = run_tangle(["stream", "-p", pid, "-d", 2, "--trace", "-o", trace])
    assert rc == 0, err
    events = json.loads(trace.read_text(encoding="utf-8"))
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {e["tid"]: e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    for k in ("main", "red", "bad", "c1", "wide"):
        assert names[ready[k]].startswith(raw[k].decode("utf-8", "replace")), (k, names)
