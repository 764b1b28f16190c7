"""Helpers of tangle's runtime tests: locate binaries, drive fixture programs,
run `tangle stream --json`, and validate every NDJSON line it prints.

Used by conftest.py (pytest fixtures) and by the test modules. Nothing here
sleeps-and-hopes: every wait polls for a line or a record with a deadline.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# x86-64 epoll_wait, epoll_pwait, epoll_pwait2: tangle idles in its event loop
EPOLL_WAIT_SYSCALLS = ("232", "281", "441")
SCHEMA_VERSION = 1

# Generous: loading and attaching the BPF programs can take a second or more
# on a busy machine.
META_TIMEOUT = 30.0
LINE_TIMEOUT = 15.0
EXIT_TIMEOUT = 15.0


def tangle_path():
    return Path(os.environ.get("TANGLE") or REPO / "tangle")


def fixtures_dir():
    return Path(os.environ.get("TANGLE_FIXTURES") or REPO / ".output" / "fixtures")


def require_tangle():
    path = tangle_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"tangle binary not found at {path}: build it with `make` "
                    f"(or point env TANGLE at it)")
    return path


def require_fixture(name):
    path = fixtures_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"fixture {name} not found at {path}: build the fixtures with `make` "
                    f"(tests/fixtures/{name}.c -> .output/fixtures/{name}; "
                    f"or point env TANGLE_FIXTURES at them)")
    return path


# --------------------------------------------------------------------------
# Reading a pipe line by line in the background


class LineReader:
    """Collects the lines of a binary pipe on a thread; waiters poll with deadlines."""

    def __init__(self, pipe, name):
        self.name = name
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self._pipe = pipe
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for line in iter(self._pipe.readline, b""):
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_count(self, count, timeout):
        """Wait until at least `count` lines arrived (True) or EOF/timeout (False)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.lines) < count and not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
            return len(self.lines) >= count

    def wait_changed(self, seen, timeout):
        """Wait until more than `seen` lines exist, or EOF, or timeout."""
        with self.cond:
            if len(self.lines) <= seen and not self.eof:
                self.cond.wait(timeout)
            return len(self.lines)

    def join(self, timeout=5.0):
        self._thread.join(timeout)

    def text(self, limit=4000):
        with self.cond:
            data = b"".join(self.lines)
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...\n" + text[-limit:]


# --------------------------------------------------------------------------
# Fixture processes


class FixtureProc:
    """A fixture program from tests/fixtures; stdout carries JSON lines."""

    def __init__(self, name, *args):
        self.name = name
        path = require_fixture(name)
        self.argv = [str(path), *map(str, args)]
        self.start_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.proc.stdout, f"{name}-stdout")
        self.err = LineReader(self.proc.stderr, f"{name}-stderr")
        self._next = 0

    @property
    def pid(self):
        return self.proc.pid

    def describe(self):
        return (f"fixture {' '.join(self.argv)} (pid {self.pid}, rc {self.proc.poll()})\n"
                f"stdout:\n{self.out.text()}\nstderr:\n{self.err.text()}")

    def read_json(self, timeout=LINE_TIMEOUT):
        """The next JSON line the fixture prints."""
        if not self.out.wait_count(self._next + 1, timeout):
            pytest.fail(f"no JSON line #{self._next + 1} within {timeout}s from "
                        f"{self.describe()}")
        line = self.out.lines[self._next]
        self._next += 1
        try:
            return json.loads(line)
        except ValueError as e:
            pytest.fail(f"fixture printed invalid JSON {line!r}: {e}\n{self.describe()}")

    def send_line(self, text=""):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def open_gate(self):
        self.send_line()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=EXIT_TIMEOUT, expect=0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"fixture did not exit within {timeout}s: {self.describe()}")
        self.out.join()
        if expect is not None and rc != expect:
            pytest.fail(f"fixture exited with {rc}, expected {expect}: {self.describe()}")
        return rc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


# --------------------------------------------------------------------------
# NDJSON validation (docs/SCHEMA.md)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_uint(v):
    return is_int(v) and v >= 0


def is_str(v):
    return isinstance(v, str)


def is_bool(v):
    return isinstance(v, bool)


HEX_RE = re.compile(r"^0x(0|[1-9a-f][0-9a-f]*)$")


def is_hex(v):
    return isinstance(v, str) and bool(HEX_RE.match(v))


def nullable(pred):
    def check(v):
        return v is None or pred(v)
    check.__name__ = f"null|{pred.__name__}"
    return check


def one_of(*values):
    def check(v):
        return v in values
    check.__name__ = f"one_of{values}"
    return check


def is_int_list(v):
    return isinstance(v, list) and all(is_int(x) for x in v)


def is_filter(v):
    return (isinstance(v, dict) and is_int_list(v.get("pids")) and is_int_list(v.get("tids"))
            and "comm" in v and (v["comm"] is None or is_str(v["comm"])))


def is_lost_cpus(v):
    """lost_events.cpus: the CPUs that dropped, ascending, each with a count > 0."""
    return (isinstance(v, list)
            and all(isinstance(c, dict) and is_uint(c.get("cpu")) and is_uint(c.get("count"))
                    and c["count"] > 0 for c in v)
            and [c["cpu"] for c in v] == sorted({c["cpu"] for c in v}))


THREAD_STATES = ("running", "runnable", "sleeping", "disk", "stopped", "zombie", "unknown")
WAIT_SYSCALLS = ("futex", "futex_wait", "futex_waitv")
WAIT_RESULTS = ("woken", "timeout", "value_changed", "interrupted", "error", "exited", "lost")
LOST_REASONS = ("ringbuf_full", "thread_map_full", "wait_map_full", "output_full")

# Required fields per record type (extra fields are allowed: additions do not bump v).
SCHEMA = {
    "meta": {"tool": one_of("tangle"), "version": is_str, "abi_version": is_int,
             "kernel": is_str, "hostname": is_str, "wall_offset_ns": is_int,
             "filter": is_filter},
    "thread_new": {"pid": is_uint, "tid": is_uint, "comm": is_str,
                   "origin": one_of("proc", "fork", "seen"), "is_thread": is_bool,
                   "parent_pid": nullable(is_uint), "parent_tid": nullable(is_uint),
                   "state": nullable(one_of(*THREAD_STATES))},
    "thread_exec": {"pid": is_uint, "tid": is_uint, "comm": is_str, "old_comm": is_str},
    "thread_rename": {"pid": is_uint, "tid": is_uint, "comm": is_str, "old_comm": is_str},
    "thread_exit": {"pid": is_uint, "tid": is_uint, "comm": is_str, "exit_code": is_int,
                    "signal": is_int, "group_dead": is_bool},
    "wait_begin": {"pid": is_uint, "tid": is_uint, "comm": is_str, "kind": one_of("futex"),
                   "syscall": one_of(*WAIT_SYSCALLS), "op": is_str, "op_raw": is_int,
                   "private": is_bool, "addr": is_hex, "expected": is_int,
                   "has_timeout": is_bool, "preblocked": is_bool},
    "wait_end": {"pid": is_uint, "tid": is_uint, "comm": is_str, "kind": one_of("futex"),
                 "syscall": one_of(*WAIT_SYSCALLS), "op": is_str, "addr": is_hex,
                 "preblocked": is_bool, "blocked_ns": is_uint,
                 "result": one_of(*WAIT_RESULTS), "errno": nullable(is_int)},
    "lost_events": {"count": is_uint, "reason": one_of(*LOST_REASONS), "total": is_uint,
                    "cpus": nullable(is_lost_cpus)},
    "error": {"message": is_str, "errno": nullable(is_int)},
    "futex_stats": {"pid": is_uint, "addr": is_hex, "waits": is_uint,
                    "total_wait_ns": is_uint, "max_wait_ns": is_uint},
    "summary": {"events": is_uint, "lost": is_uint, "duration_ns": is_uint},
}

# `tangle goroutines PID --json` (go_process, then goroutine or goroutine_group records).
GO_STATUSES = ("idle", "runnable", "running", "syscall", "waiting", "moribund", "dead",
               "enqueue", "copystack", "preempted", "leaked")
GO_OFFSET_SOURCES = ("dwarf", "table")


def is_frame(v):
    """A stack frame as docs/SCHEMA.md "Frames" describes it."""
    return (isinstance(v, dict) and is_hex(v.get("addr")) and is_int(v.get("offset"))
            and all(k in v for k in ("function", "file", "line", "module"))
            and (v["function"] is None or is_str(v["function"]))
            and (v["file"] is None or is_str(v["file"]))
            and (v["line"] is None or is_int(v["line"]))
            and (v["module"] is None or is_str(v["module"]))
            and is_bool(v.get("inlined")))


def is_frame_list(v):
    return isinstance(v, list) and all(is_frame(f) for f in v)


def is_labels(v):
    return isinstance(v, dict) and all(is_str(k) and is_str(x) for k, x in v.items())


def is_waits_on(v):
    return v is None or (isinstance(v, dict) and is_str(v.get("kind")) and bool(v["kind"])
                         and "addr" in v and (v["addr"] is None or is_hex(v["addr"])))


def is_go_version(v):
    return is_str(v) and bool(re.match(r"^go\d+\.\d+", v))


def is_goid_list(v):
    return isinstance(v, list) and bool(v) and all(is_uint(x) for x in v)


_GOROUTINE_COMMON = {"pid": is_uint, "status": one_of(*GO_STATUSES),
                     "wait_reason": nullable(is_str), "stack": is_frame_list}
SCHEMA.update({
    "go_process": {"pid": is_uint, "comm": is_str, "exe": is_str, "go_version": is_go_version,
                   "offsets": one_of(*GO_OFFSET_SOURCES), "stripped": is_bool, "cgo": is_bool,
                   "goroutines": is_uint},
    "goroutine": {**_GOROUTINE_COMMON, "goid": is_uint, "waiting_ns": nullable(is_uint),
                  "parent_goid": nullable(is_uint), "tid": nullable(is_uint),
                  "locked_to_thread": is_bool, "system": is_bool, "labels": is_labels,
                  "created_by": nullable(is_frame), "start": nullable(is_frame),
                  "waits_on": is_waits_on},
    "goroutine_group": {**_GOROUTINE_COMMON, "count": is_uint, "goids": is_goid_list},
})


# `tangle lockorder -p PID --json`
LO_MODES = ("read", "write")


def is_lo_lock(v):
    return (isinstance(v, dict) and is_uint(v.get("id")) and is_hex(v.get("addr"))
            and v.get("kind") in ("mutex", "rwlock") and is_uint(v.get("generation"))
            and (v.get("name") is None or is_str(v["name"])))


def is_lo_edge(v):
    return (isinstance(v, dict) and is_uint(v.get("from")) and is_uint(v.get("to"))
            and is_hex(v.get("from_addr")) and is_hex(v.get("to_addr"))
            and v.get("from_mode") in LO_MODES and v.get("to_mode") in LO_MODES
            and is_bool(v.get("from_trylock")) and is_uint(v.get("tid"))
            and is_uint(v.get("count")) and v["count"] >= 1 and is_uint(v.get("locks_held"))
            and (v.get("held_at") is None or is_frame(v["held_at"]))
            and is_frame_list(v.get("held_stack"))
            and is_frame_list(v.get("stack")) and is_bool(v.get("stack_truncated")))


def is_lo_cycle(rec_edges):
    return isinstance(rec_edges, list) and len(rec_edges) >= 2 and all(map(is_lo_edge, rec_edges))


def is_lo_held(v):
    return (isinstance(v, list) and bool(v) and all(
        isinstance(x, dict) and is_hex(x.get("addr")) and x.get("kind") in ("mutex", "rwlock")
        and x.get("mode") in LO_MODES and (x.get("held_at") is None or is_frame(x["held_at"]))
        for x in v))


def is_lo_functions(v):
    return isinstance(v, list) and bool(v) and all(
        isinstance(f, dict) and is_str(f.get("function")) and is_hex(f.get("addr"))
        and is_uint(f.get("probe_offset")) and is_bool(f.get("emulated"))
        and is_bool(f.get("uretprobe")) for f in v)


SCHEMA.update({
    "lockorder_probes": {"pid": is_uint, "comm": is_str, "binary": is_str,
                         "placement": one_of("emulated", "entry"), "functions": is_lo_functions},
    "lock_order_inversion": {"inversion_id": is_uint, "pid": is_uint, "comm": is_str,
                             "locks": lambda v: isinstance(v, list) and all(map(is_lo_lock, v)),
                             "edges": is_lo_cycle, "single_thread": is_bool},
    "lock_held_at_exit": {"pid": is_uint, "tid": is_uint, "comm": is_str, "locks": is_lo_held},
    "lockorder_summary": {k: is_uint for k in (
        "pid", "duration_ns", "inversions", "locks", "edges", "acquisitions", "releases",
        "unknown_releases", "trylocks_failed", "lock_lifetimes", "threads_exited_holding",
        "held_overflow", "edges_dropped", "events_lost", "searches_truncated")},
})

def _no_duplicate_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {k!r}")
        obj[k] = v
    return obj


def _reject_constant(name):
    raise ValueError(f"non-JSON constant {name}")


# Lock objects: waits_on of stuck_group (and stuck_group_resolved) members.
LOCK_KINDS = ("mutex", "rwlock", "join", "futex")
LOCK_FIELDS = {"kind": one_of(*LOCK_KINDS), "addr": is_hex, "futex_addr": is_hex,
               "owner_tid": nullable(is_uint), "owner_exited": is_bool, "pshared": is_bool,
               "symbol": nullable(is_str), "module": nullable(is_str),
               "region": nullable(is_str)}


def lock_errors(where, on):
    """Violations of one lock object (docs/SCHEMA.md, stuck_group waits_on)."""
    if not isinstance(on, dict):
        return [f"{where}: not an object: {on!r}"]
    errs = []
    for name, pred in LOCK_FIELDS.items():
        if name not in on:
            errs.append(f"{where}: field {name!r} missing")
        elif not pred(on[name]):
            errs.append(f"{where}: field {name!r}={on[name]!r} fails {pred.__name__}")
    if errs:
        return errs
    for name in ("symbol", "module", "region"):
        if on[name] == "":
            errs.append(f"{where}: empty {name} (null when there is none)")
    if on["symbol"] is not None and on["module"] is None:
        errs.append(f"{where}: a symbol without its module")
    if on["module"] is not None and on["region"] is None:
        errs.append(f"{where}: a module but no region")
    return errs


GO_OBJECTS = ("chan", "select", "sync.Mutex", "sync.RWMutex", "sync.WaitGroup", "sync.Cond",
              "semaphore")


def evidence_errors(where, kind, ev):
    """A stuck goroutine's evidence (docs/SCHEMA.md): only in stuck groups."""
    if kind != "stuck":
        return [] if ev is None else [f"{where}: in a {kind} group"]
    if not isinstance(ev, dict) or ev.get("reach") not in ("unreachable", "no_progress"):
        return [f"{where}: {ev!r}"]
    errs = []
    if ev.get("object") not in GO_OBJECTS or not is_hex(ev.get("addr")):
        errs.append(f"{where}: object and addr: {ev!r}")
    if (ev["reach"] == "no_progress") != is_uint(ev.get("still_ns")):
        errs.append(f"{where}: still_ns goes with no_progress: {ev!r}")
    return errs


def schema_errors(rec):
    """List of schema violations of one parsed record (empty when valid)."""
    errs = []
    t = rec.get("type")
    if not is_str(t):
        return [f"'type' missing or not a string: {t!r}"]
    if not (is_int(rec.get("v")) and rec["v"] == SCHEMA_VERSION):
        errs.append(f"'v' must be the integer {SCHEMA_VERSION}, got {rec.get('v')!r}")
    if not is_uint(rec.get("ts_ns")):
        errs.append(f"'ts_ns' missing or not a non-negative integer: {rec.get('ts_ns')!r}")
    # stuck groups: only their lock objects are checked here; goroutine groups their members
    if t in ("stuck_group", "stuck_group_resolved"):
        members = rec.get("members")
        if not isinstance(members, list):
            errs.append(f"{t}: members is not a list: {members!r}")
        elif rec.get("of") == "goroutines":
            if rec.get("kind") not in ("leaked", "stuck", "growing"):
                errs.append(f"{t}: goroutine group kind {rec.get('kind')!r}")
            if not is_uint(rec.get("count")) or rec["count"] < len(members):
                errs.append(f"{t}: count {rec.get('count')!r} < {len(members)} members")
            for i, m in enumerate(members):
                if not (isinstance(m, dict) and is_uint(m.get("goid")) and is_uint(m.get("pid"))):
                    errs.append(f"{t}: members[{i}] without pid and goid: {m!r}")
                elif t == "stuck_group" and not (is_uint(m.get("blocked_ns"))
                                                 and isinstance(m.get("stack"), list)):
                    errs.append(f"{t}: members[{i}] without blocked_ns and stack: {m!r}")
                elif t == "stuck_group":
                    errs += evidence_errors(f"{t}: members[{i}].evidence", rec["kind"],
                                            m.get("evidence"))
        else:
            for i, m in enumerate(members):
                on = m.get("waits_on") if isinstance(m, dict) else None
                errs += lock_errors(f"{t}: members[{i}].waits_on", on)
    fields = SCHEMA.get(t)
    if fields is None:
        return errs  # unknown type: only the common fields are checked
    for name, pred in fields.items():
        if name not in rec:
            errs.append(f"{t}: field {name!r} missing")
        elif not pred(rec[name]):
            errs.append(f"{t}: field {name!r}={rec[name]!r} fails {pred.__name__}")
    if t == "thread_new" and not errs:
        if rec["origin"] == "proc":
            if rec["parent_tid"] is not None:
                errs.append("thread_new origin proc: parent_tid must be null")
            if rec["state"] is None:
                errs.append("thread_new origin proc: state must not be null")
        elif rec["origin"] == "fork":
            if rec["state"] is not None:
                errs.append("thread_new origin fork: state must be null")
            if rec["parent_pid"] is None or rec["parent_tid"] is None:
                errs.append("thread_new origin fork: parent_pid/parent_tid must be set")
        else:  # "seen": first met in another event, nothing known about its birth
            if rec["state"] is not None or rec["parent_tid"] is not None:
                errs.append("thread_new origin seen: state and parent_tid must be null")
    if t in ("goroutine", "goroutine_group") and not errs:
        if rec["wait_reason"] is not None and rec["status"] not in ("waiting", "leaked"):
            errs.append(f"{t}: wait_reason {rec['wait_reason']!r} with status {rec['status']!r}")
        if rec["wait_reason"] == "":
            errs.append(f"{t}: empty wait_reason (null when there is none)")
    if t == "goroutine_group" and not errs:
        if rec["count"] != len(rec["goids"]) or len(set(rec["goids"])) != len(rec["goids"]):
            errs.append(f"goroutine_group: count {rec['count']} != {len(set(rec['goids']))} "
                        f"distinct goids")
    if t == "wait_begin" and not errs:
        nr = rec.get("nr_futexes")
        if rec["syscall"] == "futex_waitv":
            if not is_uint(nr):
                errs.append(f"wait_begin futex_waitv: nr_futexes must be an int, got {nr!r}")
        elif nr is not None and not is_uint(nr):
            errs.append(f"wait_begin: nr_futexes must be an int or null, got {nr!r}")
    return errs


def parse_line(raw):
    """Validate one raw stdout line of `tangle stream --json` and return the record.

    Raises ValueError describing the first problem found.
    """
    if not raw.endswith(b"\n"):
        raise ValueError("line not terminated by a newline")
    body = raw[:-1]
    ctl = [b for b in body if b < 0x20 or b == 0x7F]
    if ctl:
        raise ValueError(f"raw control byte(s) {sorted(set(ctl))} in output line")
    try:
        text = body.decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid UTF-8: {e}") from None
    try:
        rec = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                         parse_constant=_reject_constant)
    except ValueError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(rec, dict):
        raise ValueError("record is not a JSON object")
    errs = schema_errors(rec)
    if errs:
        raise ValueError("; ".join(errs))
    return rec


def addr_of(rec):
    return int(rec["addr"], 16)


# --------------------------------------------------------------------------
# tangle stream


class TangleStream:
    """A running `tangle stream --json ARGS...`; records are validated as they are read."""

    def __init__(self, args, duration=None):
        self.argv = [str(require_tangle()), "stream", "--json", *map(str, args)]
        if duration is not None:
            self.argv += ["-d", str(duration)]
        self.start_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.proc.stdout, "tangle-stdout")
        self.err = LineReader(self.proc.stderr, "tangle-stderr")
        self.meta = None
        self.meta_seen_ns = None
        self._records = []
        self._bad = []
        self._parsed = 0

    @property
    def pid(self):
        return self.proc.pid

    def describe(self, tail=30):
        with self.out.cond:
            lines = list(self.out.lines)
        shown = b"".join(lines[-tail:]).decode("utf-8", "replace")
        return (f"`{' '.join(self.argv)}` (pid {self.pid}, rc {self.proc.poll()}, "
                f"{len(lines)} lines)\nlast stdout lines:\n{shown}\nstderr:\n{self.err.text()}")

    def _parse_new(self):
        with self.out.cond:
            new = self.out.lines[self._parsed:]
        for raw in new:
            self._parsed += 1
            try:
                self._records.append(parse_line(raw))
            except ValueError as e:
                self._bad.append((self._parsed, raw, str(e)))
        if self._bad:
            msgs = "\n".join(f"  line {n}: {err}: {raw[:300]!r}" for n, raw, err in self._bad[:10])
            pytest.fail(f"invalid NDJSON from tangle:\n{msgs}\n{self.describe()}")

    @property
    def records(self):
        self._parse_new()
        return list(self._records)

    @property
    def raw_lines(self):
        with self.out.cond:
            return list(self.out.lines)

    def wait_meta(self, timeout=META_TIMEOUT):
        """Wait for the first record, which must be `meta` (printed once BPF is attached)."""
        if not self.out.wait_count(1, timeout):
            pytest.fail(f"no meta line within {timeout}s: {self.describe()}")
        self.meta_seen_ns = time.monotonic_ns()
        recs = self.records
        first = recs[0]
        if first.get("type") != "meta":
            pytest.fail(f"first record is not meta: {first!r}\n{self.describe()}")
        self.meta = first
        return first

    def wait_until(self, check, timeout=LINE_TIMEOUT, what="condition"):
        """Poll until check(records) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            n = len(self.out.lines)
            if n != seen:
                seen = n
                value = check(self.records)
                if value:
                    return value
            if self.out.eof:
                value = check(self.records)
                if value:
                    return value
                self.proc.poll()
                pytest.fail(f"tangle ended before {what}: {self.describe()}")
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout}s waiting for {what}: {self.describe()}")
            self.out.wait_changed(n, min(left, 0.5))

    def wait_for(self, pred, timeout=LINE_TIMEOUT, what="record"):
        """Poll until a record satisfies pred; returns the first such record."""
        def check(recs):
            for r in recs:
                if pred(r):
                    return r
            return None
        return self.wait_until(check, timeout, what)

    def wait_settled(self, timeout=META_TIMEOUT):
        """Wait until tangle sleeps in its event loop (epoll_wait), i.e. its
        startup, including the /proc bootstrap that follows meta, is over.

        meta is written once BPF is attached; the /proc scan comes after it. A
        thread created or a wait begun while that scan runs can be reported
        as found in /proc (origin "proc", preblocked true) instead of as a live
        event. Tests about live events wait here before they start the action.
        """
        deadline = time.monotonic() + timeout
        path = f"/proc/{self.pid}/syscall"
        while True:
            try:
                with open(path) as f:
                    nr = f.read().split(" ", 1)[0]
            except OSError:
                nr = ""
            if nr in EPOLL_WAIT_SYSCALLS:
                return
            if self.proc.poll() is not None:
                pytest.fail(f"tangle exited during startup: {self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"tangle did not reach its event loop (epoll_wait) within "
                            f"{timeout}s (last syscall {nr!r}): {self.describe()}")
            time.sleep(0.005)

    def wait_known(self, *tids, timeout=LINE_TIMEOUT):
        """Wait for the thread_new records of these (already existing) threads.

        meta comes out once BPF is attached, but tangle's /proc bootstrap runs
        after it: a thread created before its process was scanned may be
        reported as found in /proc instead of forked. Tests that create
        threads after opening a gate wait here first.
        """
        want = set(tids)
        return self.wait_until(
            lambda recs: want <= {r["tid"] for r in recs if r["type"] == "thread_new"},
            timeout, f"thread_new of {sorted(want)} (the /proc bootstrap)")

    def wait_exit(self, timeout=EXIT_TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tangle did not exit within {timeout}s: {self.describe()}")
        self.out.join()
        self.err.join()
        self._parse_new()
        return rc

    def stop(self, sig=signal.SIGINT, timeout=EXIT_TIMEOUT):
        """Send sig (SIGINT: clean stop) and wait for the exit; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def stop_ok(self):
        """SIGINT, then require exit 0, meta first and summary last."""
        rc = self.stop()
        if rc != 0:
            pytest.fail(f"tangle exited with {rc} after SIGINT: {self.describe()}")
        self.check_framing()
        return self.records

    def check_framing(self):
        recs = self.records
        assert recs, f"no output: {self.describe()}"
        assert recs[0]["type"] == "meta", f"first record {recs[0]!r}"
        assert recs[-1]["type"] == "summary", f"last record is not summary: {recs[-1]!r}"
        assert sum(r["type"] == "meta" for r in recs) == 1, "more than one meta record"
        assert sum(r["type"] == "summary" for r in recs) == 1, "more than one summary record"
        lost = [r for r in recs if r["type"] == "lost_events"]
        assert not lost, f"tangle lost events in a small test: {lost}"

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def select(records, type=None, **fields):
    """Records of a type whose fields equal the given values (addr compared as numbers)."""
    out = []
    for r in records:
        if type is not None and r.get("type") != type:
            continue
        ok = True
        for k, v in fields.items():
            if k == "addr":
                if "addr" not in r or addr_of(r) != (int(v, 16) if isinstance(v, str) else v):
                    ok = False
                    break
            elif r.get(k) != v:
                ok = False
                break
        if ok:
            out.append(r)
    return out


def run_tangle(args, timeout=60):
    """Run tangle to completion (for error cases); returns (rc, stdout bytes, stderr text)."""
    argv = [str(require_tangle()), *map(str, args)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(argv)}` did not finish within {timeout}s")
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def parse_output(stdout):
    """Validate every line of a finished run's stdout; returns the records."""
    recs = []
    lines = stdout.splitlines(keepends=True)
    for n, raw in enumerate(lines, 1):
        try:
            recs.append(parse_line(raw))
        except ValueError as e:
            pytest.fail(f"invalid NDJSON line {n}: {e}: {raw[:300]!r}")
    return recs


# --------------------------------------------------------------------------
# bpftool


def bpftool_json(*args):
    try:
        p = subprocess.run(["bpftool", "-j", *args], capture_output=True, timeout=30)
    except FileNotFoundError:
        pytest.fail("bpftool not found (needed to check that tangle detaches its programs)")
    if p.returncode != 0:
        pytest.fail(f"bpftool {' '.join(args)} failed: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout or b"[]") or []


def bpf_progs(prefix="tg_"):
    """{prog id: prog dict} of loaded BPF programs whose name starts with prefix."""
    return {p["id"]: p for p in bpftool_json("prog", "show")
            if str(p.get("name", "")).startswith(prefix)}


def bpf_links():
    """{link id: link dict} of all BPF links."""
    return {lk["id"]: lk for lk in bpftool_json("link", "show")}


def bpf_ids_held_by(pid):
    """(prog ids, link ids) of the BPF objects process pid holds fds of (from fdinfo)."""
    progs, links = set(), set()
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    for entry in fdinfo.iterdir():
        try:
            text = entry.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key == "prog_id":
                progs.add(int(val))
            elif key == "link_id":
                links.add(int(val))
    return progs, links
