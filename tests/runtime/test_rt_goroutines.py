"""`tangle goroutines PID` against the Go runtime's own view of the same process.

The fixture tests/go/goroutines (built by `make gofixtures` for every toolchain in
the matrix, in four variants: plain, stripped, cgo, cgo-stripped) parks
goroutines in every common way, then writes the runtime's own dumps
(pprof.Lookup("goroutine").WriteTo(w, 2) and w, 1) and a truth.json (goid ->
role, labels, parent, expected reason) and prints "ready". A SIGQUIT at the end
of a test gives the runtime's GOTRACEBACK=system dump (runtime frames, system
goroutines, pc of every frame). See tests/go/README.md.

Each test runs per variant (test id GOVERSION-VARIANT). Goroutines whose state
keeps changing (the dump writer, which exits, and a busy spinner) are listed in
truth.json "unstable" and compared only loosely.

The first tests (test_fixture_*) need no tangle: they prove that the fixtures
and the parser in go_helpers.py agree with the runtime, for every toolchain.
"""

import os
import random
import re
import subprocess
import time

import pytest

from go_helpers import (VARIANTS, CreatedBy, Frame, GoFixture, Goroutine, expected_reason,
                        go_print_name, go_toolchains, goroutine_diff, frames_diff,
                        is_runtime_hidden, parse_traceback, require_go_fixture, source_markers,
                        version_tuple, GO_SRC)
from tangle_helpers import parse_line, require_tangle

FIXTURE = "goroutines"
IDLE = 50                 # extra identical goroutines (-n) in the shared fixture
TANGLE_TIMEOUT = 60
TOOLCHAINS = go_toolchains()
MATRIX = [(tc, v) for tc in TOOLCHAINS for v in VARIANTS]
IDS = [f"{tc}-{v}" for tc, v in MATRIX]
SRC_DIR = GO_SRC / FIXTURE
MARKERS = source_markers(SRC_DIR)
PREAMBLE_RE = re.compile(r"^# tangle goroutines: pid (\d+) \((.*)\), (go\S+), (\d+) goroutines$")
NOT_WAITING = ("syscall", "running", "runnable")


def start_zoo(tc, variant, *args, **kw):
    fx = GoFixture(require_go_fixture(FIXTURE, tc, variant), *args, **kw)
    fx.toolchain, fx.variant = tc, variant
    try:
        fx.ready()
    except BaseException:
        fx.cleanup()
        raise
    return fx


@pytest.fixture(scope="module", params=MATRIX, ids=IDS)
def zoo(request):
    """One running fixture per variant, shared by the read-only tests."""
    tc, variant = request.param
    fx = start_zoo(tc, variant, "-n", IDLE)
    yield fx
    fx.cleanup()


@pytest.fixture
def own_zoo():
    """Factory of fixtures a test may kill (SIGQUIT); each is reaped at teardown."""
    started = []

    def start(tc, variant, *args, **kw):
        fx = start_zoo(tc, variant, *args, **kw)
        started.append(fx)
        return fx

    yield start
    for fx in started:
        fx.cleanup()


# --------------------------------------------------------------------------
# Running tangle


def run_goroutines(pid, *args, timeout=TANGLE_TIMEOUT):
    argv = [str(require_tangle()), "goroutines", str(pid), *map(str, args)]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(argv)}` did not finish within {timeout}s")
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), argv


def read_comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().rstrip("\n")


def tangle_text(fx, *args):
    """Run tangle in text mode; require exit 0 and Go's traceback layout; parse it."""
    rc, out, err, argv = run_goroutines(fx.pid, *args)
    text = out.decode("utf-8", "replace")
    assert rc == 0, f"`{' '.join(argv)}` exited {rc}\nstderr: {err}\nstdout:\n{text[:3000]}"
    try:
        dump = parse_traceback(text)
    except ValueError as e:
        pytest.fail(f"`{' '.join(argv)}` printed something that is not Go's traceback format: "
                    f"{e}\n{text[:3000]}")
    lines = text.split("\n")
    assert text.endswith("\n"), "output does not end with a newline"
    m = PREAMBLE_RE.match(lines[0])
    assert m, f"first line is not '# tangle goroutines: pid P (comm), goX.Y.Z, N goroutines': " \
              f"{lines[0]!r}"
    assert int(m.group(1)) == fx.pid and m.group(2) == read_comm(fx.pid), lines[0]
    assert m.group(3) == fx.toolchain, f"Go version {m.group(3)!r} != {fx.toolchain!r}"
    assert len(dump.preamble) == 1, f"more than one '# ' line: {dump.preamble}"
    headers = [i for i, ln in enumerate(lines) if ln.startswith("goroutine ") or
               re.match(r"^\d+ goroutines? \[", ln)]
    assert headers, f"no goroutine at all:\n{text[:3000]}"
    for i in headers[1:]:  # the first may follow the "# " line directly
        assert lines[i - 1] == "", f"no blank line before {lines[i]!r}"
    assert "\n\n\n" not in text, "two blank lines in a row"
    for g in dump.goroutines:
        for f in g.frames:
            assert f.args == "...", f"goroutine {g.goid}: frame {f.function}({f.args}): " \
                                    f"tangle cannot know arguments, it must print (...)"
    assert int(m.group(4)) >= len(dump.goroutines), lines[0]
    dump.count = int(m.group(4))
    return dump


def tangle_json(fx, *args, rtype="goroutine"):
    """Run tangle --json; validate every line; returns (go_process, [records of rtype])."""
    rc, out, err, argv = run_goroutines(fx.pid, "--json", *args)
    assert rc == 0, f"`{' '.join(argv)}` exited {rc}\nstderr: {err}\nstdout:\n{out[:3000]!r}"
    recs = []
    for n, raw in enumerate(out.splitlines(keepends=True), 1):
        try:
            recs.append(parse_line(raw))
        except ValueError as e:
            pytest.fail(f"`{' '.join(argv)}`: invalid NDJSON line {n}: {e}: {raw[:400]!r}")
    assert recs and recs[0]["type"] == "go_process", f"first record is not go_process: {recs[:1]}"
    proc = recs[0]
    body = recs[1:]
    other = {r["type"] for r in body} - {rtype}
    assert not other, f"unexpected record types {other} (expected only {rtype})"
    assert all(r["pid"] == fx.pid for r in recs), "a record with another pid"
    ids = [g for r in body for g in (r["goids"] if rtype == "goroutine_group" else [r["goid"]])]
    assert len(ids) == len(set(ids)), f"a goid reported twice: {sorted(ids)}"
    return proc, body


# --------------------------------------------------------------------------
# Go's view: what Go prints for a JSON record


def is_wrapper(function, file):
    """Compiler-generated wrappers Go's default traceback elides (funcID wrapper):
    go-statement closures, method values, and the autogenerated methods of
    embedded or pointer receivers (file "<autogenerated>")."""
    return file == "<autogenerated>" or \
        bool(re.search(r"\.(gowrap|deferwrap)\d+$|-fm$", function or ""))


def go_visible(function, file):
    """Whether Go's default traceback (GOTRACEBACK=single) shows this frame."""
    return not is_runtime_hidden(function) and not is_wrapper(function, file)


def json_frame(f):
    off = None if f["inlined"] or f["offset"] == 0 else f["offset"]
    return Frame(go_print_name(f["function"]), "...", f["file"], f["line"], off)


def json_goroutine(r, all_frames=False):
    """A JSON goroutine record as the Goroutine Go's traceback would print."""
    if r["status"] in ("waiting", "leaked") and r["wait_reason"]:
        reason = r["wait_reason"]
    else:
        reason = r["status"]
    g = Goroutine(goid=r["goid"], reason=reason, locked=r["locked_to_thread"],
                  header=f"goroutine {r['goid']} [{reason}] (JSON)")
    g.frames = [json_frame(f) for f in r["stack"]
                if all_frames or go_visible(f["function"], f["file"])]
    cb = r["created_by"]
    if cb is not None:
        off = None if cb["offset"] == 0 else cb["offset"]
        g.created_by = CreatedBy(go_print_name(cb["function"]), r["parent_goid"], cb["file"],
                                 cb["line"], off)
    return g


def status_of(reason):
    return reason if reason in NOT_WAITING else "waiting"


def role_name(fx, goid):
    if goid in set(fx.truth["idle_goids"]):
        return "idle"
    for g in fx.truth["goroutines"]:
        if g["goid"] == goid:
            return g["role"]
    return "unregistered"


def compare_sets(fx, want, got, what):
    unstable = fx.unstable()
    w, g = set(want) - unstable, set(got) - unstable
    assert g == w, f"{what}: goids differ: missing {sorted(w - g)}, extra {sorted(g - w)} " \
                   f"(roles of missing: {[role_name(fx, x) for x in sorted(w - g)]})"
    return sorted(w)


# --------------------------------------------------------------------------
# The fixtures agree with the runtime (no tangle needed)


def test_fixture_self_check(zoo):
    """The runtime's own dump of the fixture says what truth.json and the
    source markers say: every role in the expected state, at the marked line,
    created at the marked go statement by the right parent; labels as set."""
    t = zoo.truth
    assert t["go_version"] == zoo.toolchain, (t["go_version"], zoo.toolchain)
    assert t["cgo"] is zoo.variant.startswith("cgo"), t["cgo"]
    assert t["start_mono_ns"] < t["gc_mono_ns"] <= t["ready_mono_ns"], t
    dump = zoo.dump()
    by = dump.by_goid
    roles = zoo.roles()
    want_roles = {k[1] for k in MARKERS if k[0] == "at"} - {"idle"}
    if not zoo.variant.startswith("cgo"):
        want_roles.discard("cgo_call")
    assert set(roles) == want_roles, f"roles {sorted(set(roles) ^ want_roles)} differ"
    assert len(t["idle_goids"]) == IDLE
    errs = []
    for role, g in roles.items():
        h = by.get(g["goid"])
        if h is None:
            errs.append(f"{role}: goroutine {g['goid']} not in the dump")
            continue
        want = expected_reason(role, zoo.toolchain)
        if want is None:
            if h.reason not in ("running", "runnable"):
                errs.append(f"{role}: {h.reason!r}, expected running or runnable")
        elif (h.reason, g["reason"]) != (want, want):
            errs.append(f"{role}: dump {h.reason!r}, truth {g['reason']!r}, expected {want!r}")
        if h.locked != g["locked"] or h.locked != (role == "locked"):
            errs.append(f"{role}: locked {h.locked}")
        at_file, at_line = MARKERS[("at", role)]
        mine = [f for f in h.frames if f.file.startswith(str(SRC_DIR))]
        if not mine or (mine[0].file, mine[0].line) != (at_file, at_line):
            errs.append(f"{role}: innermost frame in {SRC_DIR} is "
                        f"{mine[0] if mine else None}, expected {at_file}:{at_line}")
        if role == "main":
            if h.created_by is not None:
                errs.append(f"main has a 'created by': {h.created_by}")
            continue
        cb = h.created_by
        sp_file, sp_line = MARKERS[("spawn", role)]
        if cb is None or (cb.file, cb.line, cb.parent_goid) != (sp_file, sp_line, g["parent_goid"]):
            errs.append(f"{role}: created by {cb}, expected {sp_file}:{sp_line} in goroutine "
                        f"{g['parent_goid']}")
        for f in h.frames:
            if (f.offset is None) != (f.args == "..."):
                errs.append(f"{role}: frame {f.function}({f.args}) offset {f.offset}: "
                            f"an inlined frame has no offset and (...) arguments")
    idle_file, idle_line = MARKERS[("at", "idle")]
    for goid in t["idle_goids"]:
        h = by.get(goid)
        if h is None or h.reason != "chan receive" or \
                (h.frames[-1].file, h.frames[-1].line) != (idle_file, idle_line):
            errs.append(f"idle goroutine {goid}: {h}")
            break
    assert not errs, "\n".join(errs)
    unstable = zoo.unstable()
    assert t["dumper_goid"] in unstable and roles["spinner"]["goid"] in unstable
    assert by[t["dumper_goid"]].reason == "running", "the dumper is the running goroutine"
    # nothing else in the dump but registered goroutines and the dumper
    known = {g["goid"] for g in t["goroutines"]} | set(t["idle_goids"]) | {t["dumper_goid"]}
    assert set(by) == known, f"unregistered goroutines in the dump: {sorted(set(by) - known)}"

    # labels: pprof debug=1 groups stacks with their label sets
    total, groups = zoo.debug1()
    assert total == len(dump.goroutines)
    want_counts, got_counts = {}, {}
    for g in t["goroutines"]:
        key = tuple(sorted(g["labels"].items()))
        want_counts[key] = want_counts.get(key, 0) + 1
    want_counts[()] = want_counts.get((), 0) + IDLE + 1  # idle goroutines, dumper
    for grp in groups:
        key = tuple(sorted(grp.labels.items()))
        got_counts[key] = got_counts.get(key, 0) + grp.count
    assert got_counts == want_counts, f"label sets in debug=1 {got_counts} != truth {want_counts}"


def test_fixture_system_dump(zoo, own_zoo):
    """The SIGQUIT dump (GOTRACEBACK=system) agrees with the default one once
    runtime frames and wrappers are hidden: the visibility rule the JSON tests
    use (go_visible) is Go's own, for this toolchain."""
    fx = own_zoo(zoo.toolchain, zoo.variant)
    default = fx.dump()
    sq = fx.sigquit_dump()
    unstable = fx.unstable()
    sqb = sq.by_goid
    errs = []
    for goid, g in default.by_goid.items():
        if goid in unstable:
            continue
        s = sqb.get(goid)
        if s is None:
            errs.append(f"goroutine {goid} missing from the SIGQUIT dump")
            continue
        assert s.gp is not None, f"no gp= in a GOTRACEBACK=system header: {s.header}"
        if s.broken:
            errs.append(f"goroutine {goid}: runtime diagnostics in its block: {s.broken[:3]}")
        vis = Goroutine(goid, s.reason, locked=s.locked, created_by=s.created_by,
                        frames=[f for f in s.frames if go_visible(f.function, f.file)])
        d = goroutine_diff(g, vis)
        if d:
            errs.append(f"goroutine {goid} ({role_name(fx, goid)}): " + "; ".join(d))
        if not s.frames or s.frames[-1].function != "runtime.goexit":
            errs.append(f"goroutine {goid}: the system dump does not end in runtime.goexit")
        for f in s.frames:
            if (f.pc is None) != (f.offset is None):
                errs.append(f"goroutine {goid}: {f}: pc= only and always on physical frames")
    system = [g for g in sq.goroutines if g.goid not in default.by_goid]
    assert system, "no system goroutine in the SIGQUIT dump"
    for g in system:
        start = [f for f in g.frames if f.function != "runtime.goexit"][-1].function
        if not start.startswith("runtime.") and g.goid != 1:
            errs.append(f"system goroutine {g.goid} starts in {start}")
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("tc", [tc for tc in TOOLCHAINS if version_tuple(tc) >= (1, 26)])
def test_fixture_labels_in_header(tc, own_zoo):
    """Go 1.26's GODEBUG=tracebacklabels=1 prints each goroutine's labels in its
    header: they are exactly the labels of truth.json (what tangle must report)."""
    fx = own_zoo(tc, "plain", env={"GODEBUG": "tracebacklabels=1"})
    by = fx.dump().by_goid
    errs = []
    for g in fx.truth["goroutines"]:
        got = by[g["goid"]].labels or {}
        if got != g["labels"]:
            errs.append(f"{g['role']}: header labels {got} != truth {g['labels']}")
    assert not errs, "\n".join(errs)
    assert any(g["labels"] for g in fx.truth["goroutines"])


def test_fixture_parser_rejects_garbage():
    """The parser is strict: it refuses what is not Go's traceback format."""
    good = ("goroutine 7 [chan receive, 3 minutes, locked to thread]:\n"
            "main.(*box[...]).take(...)\n\t/x/main.go:12 +0x1d\n"
            "sync.(*Mutex).Lock(...)\n\t/go/src/sync/mutex.go:46\n"
            "created by main.main in goroutine 1\n\t/x/main.go:30 +0x4f\n\n")
    g = parse_traceback(good).goroutines[0]
    assert (g.goid, g.reason, g.minutes, g.locked) == (7, "chan receive", 3, True)
    assert [(f.function, f.line, f.offset, f.inlined) for f in g.frames] == \
        [("main.(*box[...]).take", 12, 0x1d, False), ("sync.(*Mutex).Lock", 46, None, True)]
    assert (g.created_by.function, g.created_by.parent_goid, g.created_by.line) == \
        ("main.main", 1, 30)
    for bad in ("goroutine 7 [chan receive]:\nmain.f()\n",                 # no file line
                "goroutine 7 [chan receive]:\n\t/x.go:1\n",                # file without function
                "goroutine x [chan receive]:\n",                           # bad goid
                "goroutine 7 [chan receive, 3 hours]:\n",                  # unknown item
                "goroutine 7 [chan receive]:\nmain.f(\n\t/x.go:1 +0x1\n",  # unbalanced
                "hello\n"):
        with pytest.raises(ValueError):
            parse_traceback(bad)
    lab = parse_traceback('goroutine 3 [select labels:{"a": "b\\n\\u00e9", "k": ""}]:\n')
    assert lab.goroutines[0].labels == {"a": "b\né", "k": ""}


# --------------------------------------------------------------------------
# tangle against Go: text


def test_text_matches_go(zoo):
    """Text mode prints, for every goroutine Go's dump shows, the same header
    (reason, locked), the same frames (function, file, line, +offset, inlined)
    and the same "created by" line."""
    want = zoo.dump()
    got = tangle_text(zoo)
    goids = compare_sets(zoo, want.by_goid, got.by_goid, "text")
    errs = []
    for goid in goids:
        d = goroutine_diff(want.by_goid[goid], got.by_goid[goid])
        if d:
            errs.append(f"goroutine {goid} ({role_name(zoo, goid)}):\n  " + "\n  ".join(d))
    assert not errs, f"{len(errs)} of {len(goids)} goroutines differ from Go's dump:\n" + \
        "\n".join(errs[:15])
    # the busy goroutine: running or runnable, and if its stack was read, in main.spin
    spinner = zoo.roles()["spinner"]["goid"]
    s = got.by_goid.get(spinner)
    assert s is not None, "the running goroutine is missing"
    assert s.reason in ("running", "runnable"), s.header
    if not s.unavailable:
        f, line = MARKERS[("at", "spinner")]
        assert any((fr.function, fr.file, fr.line) == ("main.spin", f, line) for fr in s.frames), s
    assert s.created_by and s.created_by.function == "main.startZoo", s
    elapsed_min = (time.monotonic() - zoo.start_time) / 60
    for g in got.goroutines:
        assert g.minutes is None or g.minutes <= elapsed_min + 1, g.header
        assert not g.leaked, f"not built with GOEXPERIMENT=goroutineleakprofile: {g.header}"


# --------------------------------------------------------------------------
# tangle against Go: JSON


def test_json_matches_go(zoo):
    """--json: go_process describes the binary; one goroutine record per
    goroutine of Go's dump, with its status, reason, Go-visible frames,
    created_by, parent, labels (truth.json), channel and thread."""
    proc, recs = tangle_json(zoo)
    stripped = zoo.variant.endswith("stripped")
    exe = os.readlink(f"/proc/{zoo.pid}/exe")
    assert (proc["comm"], proc["exe"], proc["go_version"]) == \
        (read_comm(zoo.pid), exe, zoo.toolchain), proc
    assert (proc["stripped"], proc["cgo"]) == (stripped, zoo.variant.startswith("cgo")), proc
    assert proc["offsets"] == ("table" if stripped else "dwarf"), \
        f"offsets {proc['offsets']!r}: DWARF is {'absent' if stripped else 'present'}"
    assert proc["goroutines"] >= len(recs), proc

    want = zoo.dump()
    by = {r["goid"]: r for r in recs}
    goids = compare_sets(zoo, want.by_goid, by, "json")
    truth = {g["goid"]: g for g in zoo.truth["goroutines"]}
    idle = set(zoo.truth["idle_goids"])
    errs = []
    for goid in goids:
        r, w = by[goid], want.by_goid[goid]
        where = f"goroutine {goid} ({role_name(zoo, goid)})"
        d = goroutine_diff(w, json_goroutine(r))
        if d:
            errs.append(f"{where}: " + "; ".join(d))
        if r["status"] != status_of(w.reason):
            errs.append(f"{where}: status {r['status']!r}, Go says {w.reason!r}")
        if r["system"]:
            errs.append(f"{where}: system true for a goroutine Go shows by default")
        if r["start"] is None:
            errs.append(f"{where}: start is null")
        want_parent = w.created_by.parent_goid if w.created_by else None
        if r["parent_goid"] != want_parent:
            errs.append(f"{where}: parent_goid {r['parent_goid']} != {want_parent}")
        t = truth.get(goid)
        want_labels = t["labels"] if t else {}
        if r["labels"] != want_labels:
            errs.append(f"{where}: labels {r['labels']} != {want_labels}")
        chan = t.get("chan") if t else (zoo.truth["idle_chan"] if goid in idle else None)
        if chan:
            on = r["waits_on"] or {}
            if on.get("kind") != "chan" or int(on.get("addr") or "0", 16) != int(chan, 16):
                errs.append(f"{where}: waits_on {r['waits_on']}, expected chan {chan}")
        if r["status"] in ("waiting", "syscall"):
            # g.waitsince is set by the fixture's forced GCs, after every block
            since = None if r["waiting_ns"] is None else r["ts_ns"] - r["waiting_ns"]
            if since is None or not (zoo.truth["start_mono_ns"] <= since
                                     <= zoo.truth["gc_mono_ns"]):
                errs.append(f"{where}: waiting_ns {r['waiting_ns']} (since {since}) is not "
                            f"within the fixture's life up to its forced GCs "
                            f"[{zoo.truth['start_mono_ns']}, {zoo.truth['gc_mono_ns']}]")
        if t and t.get("fd"):
            tid = r["tid"]
            try:
                with open(f"/proc/{zoo.pid}/task/{tid}/syscall") as f:
                    sc = f.read().split()
            except (OSError, TypeError):
                sc = []
            if sc[:2] != ["0", hex(t["fd"])]:
                errs.append(f"{where}: tid {tid} is not the thread blocked in read({t['fd']}) "
                            f"(its /proc syscall: {sc[:2]})")
        if t and t.get("tid") and r["tid"] not in (None, t["tid"]):
            errs.append(f"{where}: tid {r['tid']}, the goroutine is locked to {t['tid']}")
    assert not errs, f"{len(errs)} problems:\n" + "\n".join(errs[:20])


def test_text_and_json_agree(zoo):
    """Both modes list the same goroutines in the same states."""
    text = tangle_text(zoo)
    _, recs = tangle_json(zoo)
    by = {r["goid"]: r for r in recs}
    goids = compare_sets(zoo, text.by_goid, by, "text vs json")
    for goid in goids:
        assert json_goroutine(by[goid]).reason == text.by_goid[goid].reason, goid


# --------------------------------------------------------------------------
# Filters and grouping


def json_goids(fx, *args):
    return {r["goid"] for r in tangle_json(fx, *args)[1]}


def label_goids(fx, pairs):
    return {g["goid"] for g in fx.truth["goroutines"]
            if all(g["labels"].get(k) == v for k, v in pairs)}


LABEL_CASES = [
    [("app", "zoo")],
    [("app", "zoo"), ("role", "inner")],
    [("role", "outer")],
    [("set", "yes")],
    [("utf8", "héllo wörld ✓")],
    [("quote", 'say "hi" \\ bye')],
    [("ctl", "tab\there\nnewline")],
    [("empty", "")],
    [("key11", "value-121"), ("key00", "value-0")],
    [("app", "nosuch")],
    [("nosuch", "zoo")],
]


def test_label_filter(zoo):
    """--label k=v (repeatable, all must match) returns exactly the goroutines
    whose labels (truth.json) have every pair; no match is not an error."""
    errs = []
    for pairs in LABEL_CASES:
        args = [a for k, v in pairs for a in ("--label", f"{k}={v}")]
        want = label_goids(zoo, pairs)
        got = json_goids(zoo, *args)
        if got != want:
            errs.append(f"{args}: goids {sorted(got)}, expected {sorted(want)}")
    assert not errs, "\n".join(errs)
    assert label_goids(zoo, LABEL_CASES[0]), "the fixture has no labelled goroutine"
    text = tangle_text(zoo, "--label", "app=zoo")
    assert set(text.by_goid) == label_goids(zoo, LABEL_CASES[0])


def test_state_and_reason_filters(zoo):
    """--state S and --reason R select exactly what Go's dump says."""
    dump = zoo.dump()
    unstable = zoo.unstable()
    stable = {g: x for g, x in dump.by_goid.items() if g not in unstable}
    errs = []
    for state in ("waiting", "syscall"):
        want = {g for g, x in stable.items() if status_of(x.reason) == state}
        got = json_goids(zoo, "--state", state) - unstable
        if got != want:
            errs.append(f"--state {state}: {sorted(got)}, expected {sorted(want)}")
    busy = json_goids(zoo, "--state", "running") | json_goids(zoo, "--state", "runnable")
    if busy - unstable:
        errs.append(f"blocked goroutines reported running/runnable: {sorted(busy - unstable)}")
    reasons = {x.reason for x in stable.values() if x.reason not in NOT_WAITING}
    assert {"chan receive", "sync.Mutex.Lock", "IO wait", "select (no cases)"} <= reasons
    for reason in sorted(reasons):
        want = {g for g, x in stable.items() if x.reason == reason}
        got = json_goids(zoo, "--reason", reason) - unstable
        if got != want:
            errs.append(f"--reason {reason!r}: {sorted(got)}, expected {sorted(want)}")
    if json_goids(zoo, "--reason", "no such reason"):
        errs.append("--reason 'no such reason' matched something")
    want = {g for g, x in stable.items() if x.reason == "chan receive"} & \
        label_goids(zoo, [("app", "zoo")])
    got = json_goids(zoo, "--state", "waiting", "--reason", "chan receive", "--label", "app=zoo")
    if got != want:
        errs.append(f"combined filters: {sorted(got)}, expected {sorted(want)}")
    text = tangle_text(zoo, "--reason", "sync.Mutex.Lock")
    if set(text.by_goid) != {zoo.roles()["mutex_wait"]["goid"]}:
        errs.append(f"text --reason sync.Mutex.Lock: {sorted(text.by_goid)}")
    assert not errs, "\n".join(errs)


def test_group(zoo):
    """--group: groups partition the goroutines; each group holds goroutines of
    identical status, reason and stack (same pcs); the fixture's IDLE
    identical goroutines form one group."""
    _, plain = tangle_json(zoo)
    _, groups = tangle_json(zoo, "--group", rtype="goroutine_group")
    unstable = zoo.unstable()
    by = {r["goid"]: r for r in plain}
    grouped = [g for grp in groups for g in grp["goids"]]
    assert set(grouped) - unstable == set(by) - unstable, \
        f"groups cover {sorted(set(grouped) ^ set(by))} differently"

    def key(r):
        return (r["status"], r["wait_reason"], tuple(f["addr"] for f in r["stack"]))

    errs = []
    for grp in groups:
        members = [by[g] for g in grp["goids"] if g in by and g not in unstable]
        keys = {key(r) for r in members}
        if len(keys) > 1:
            errs.append(f"group {grp['goids']} mixes {len(keys)} different goroutines")
        if members and (grp["status"], grp["wait_reason"]) != key(members[0])[:2]:
            errs.append(f"group {grp['goids']}: {grp['status']}/{grp['wait_reason']} != members'")
        if members and [f["addr"] for f in grp["stack"]] != list(key(members[0])[2]):
            errs.append(f"group {grp['goids']}: stack differs from its members'")
    idle = set(zoo.truth["idle_goids"])
    idle_groups = [grp for grp in groups if set(grp["goids"]) & idle]
    if len(idle_groups) != 1 or set(idle_groups[0]["goids"]) != idle or \
            idle_groups[0]["count"] != IDLE:
        errs.append(f"the {IDLE} idle goroutines are not one group: "
                    f"{[(g['count'], g['goids'][:5]) for g in idle_groups]}")
    assert not errs, "\n".join(errs)

    text = tangle_text(zoo, "--group")
    tg = [g for g in text.goroutines if g.count is not None]
    assert len(tg) == len(text.goroutines), "--group text: a header without a count"
    for g in tg:
        assert g.goids_truncated or g.count == len(g.goids), g.header
    idle_t = [g for g in tg if set(g.goids) & idle]
    assert len(idle_t) == 1 and idle_t[0].count == IDLE and idle_t[0].reason == "chan receive", \
        [g.header for g in idle_t]
    assert sum(g.count for g in tg) == sum(grp["count"] for grp in groups)


# --------------------------------------------------------------------------
# System goroutines and runtime frames, against the SIGQUIT dump


@pytest.mark.parametrize("tc,variant", MATRIX, ids=IDS)
def test_system_and_all_frames(tc, variant, own_zoo):
    """--system lists the runtime's own goroutines (system: true in JSON);
    --all-frames and the JSON stack hold every frame Go prints at
    GOTRACEBACK=system (runtime frames, wrappers), with each physical frame's
    pc; start is the goroutine's start function."""
    fx = own_zoo(tc, variant)
    default = fx.dump()
    text = tangle_text(fx, "--system", "--all-frames")
    _, recs = tangle_json(fx, "--system")
    sq = fx.sigquit_dump()   # the fixture is gone after this
    unstable = fx.unstable()
    by = {r["goid"]: r for r in recs}
    newest = max(by)
    later = {g for g in sq.by_goid if g > newest}  # started after tangle read
    compare_sets(fx, set(sq.by_goid) - later, by, "--system json vs SIGQUIT dump")
    compare_sets(fx, set(sq.by_goid) - later, text.by_goid, "--system text vs SIGQUIT dump")
    errs = []
    for goid, s in sq.by_goid.items():
        if goid in unstable or goid in later:
            continue
        r, t = by[goid], text.by_goid[goid]
        where = f"goroutine {goid} ({role_name(fx, goid)}, {s.reason})"
        if s.broken:
            errs.append(f"{where}: the SIGQUIT dump of it is broken: {s.broken[:3]}")
            continue
        is_system = goid not in default.by_goid
        if r["system"] is not is_system:
            errs.append(f"{where}: system {r['system']}, Go {'hides' if is_system else 'shows'} "
                        f"it by default")
        if is_system and s.reason != t.reason:
            continue  # a runtime goroutine that moved between the two reads
        sys_frames = s.frames
        if t.frames and t.frames[-1].function != "runtime.goexit" and \
                sys_frames and sys_frames[-1].function == "runtime.goexit":
            sys_frames = sys_frames[:-1]  # tangle may leave out goexit
        want = Goroutine(goid, s.reason, locked=s.locked, created_by=s.created_by,
                         frames=sys_frames)
        d = goroutine_diff(want, t)
        if d:
            errs.append(f"{where} --all-frames text: " + "; ".join(d))
        jg = json_goroutine(r, all_frames=True)
        jframes = jg.frames
        if jframes and jframes[-1].function != "runtime.goexit":
            sys_frames = [f for f in s.frames if f.function != "runtime.goexit"]
        else:
            sys_frames = s.frames
        d = frames_diff(sys_frames, jframes)
        if d:
            errs.append(f"{where} JSON stack: " + "; ".join(d))
        else:
            # addr: the pc of a physical frame; an inlined frame shares the next physical one's
            phys = None
            for f, jf in reversed(list(zip(sys_frames, r["stack"]))):
                if f.pc is not None:
                    phys = f.pc
                if int(jf["addr"], 16) != (f.pc if f.pc is not None else phys):
                    errs.append(f"{where}: frame {f} addr {jf['addr']} != pc "
                                f"{hex(f.pc or phys or 0)}")
                    break
        body = [f for f in s.frames if f.function != "runtime.goexit"]
        if body and (r["start"] or {}).get("function") is not None and \
                go_print_name(r["start"]["function"]) != body[-1].function:
            errs.append(f"{where}: start {r['start']['function']}, Go's outermost frame is "
                        f"{body[-1].function}")
        elif body and r["start"] is None:
            errs.append(f"{where}: start is null")
    assert any(by[g]["system"] for g in by), "no system goroutine with --system"
    assert not errs, f"{len(errs)} problems:\n" + "\n".join(errs[:20])


# --------------------------------------------------------------------------
# Errors


def assert_clean_error(rc, err, argv, pid):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 1, f"`{' '.join(argv)}` exited {rc}, expected 1; stderr: {err!r}"
    assert len(lines) == 1, f"expected one clear error line on stderr, got {lines!r}"
    assert str(pid) in lines[0], f"the error does not name pid {pid}: {lines[0]!r}"


def test_not_a_go_process():
    """A C program, a kernel thread: exit 1 with one line on stderr, no output."""
    sleeper = subprocess.Popen(["sleep", "100"])
    pids = [sleeper.pid]
    with open("/proc/2/comm") as f:
        if f.read().strip() == "kthreadd":  # a kernel thread: no executable at all
            pids.append(2)
    try:
        for pid in pids:
            rc, out, err, argv = run_goroutines(pid)
            assert_clean_error(rc, err, argv, pid)
            assert out == b"", f"output for a non-Go process: {out[:500]!r}"
            rc, out, err, argv = run_goroutines(pid, "--json")
            assert_clean_error(rc, err, argv, pid)
            for raw in out.splitlines(keepends=True):
                rec = parse_line(raw)
                assert rec["type"] == "error", f"only error records, got {rec}"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_no_such_pid():
    p = subprocess.Popen(["true"])
    p.wait()  # reaped: its pid is free now
    rc, out, err, argv = run_goroutines(p.pid)
    assert_clean_error(rc, err, argv, p.pid)
    rc, out, err, argv = run_goroutines(p.pid, "--json")
    assert_clean_error(rc, err, argv, p.pid)


# --------------------------------------------------------------------------
# The target exits while tangle reads it

EXIT_ROUNDS = 12
EXIT_GOROUTINES = 5000
EXIT_VARIANTS = [(TOOLCHAINS[0], "plain"), (TOOLCHAINS[0], "cgo-stripped"),
                 (TOOLCHAINS[-1] if len(TOOLCHAINS) > 1 else TOOLCHAINS[0], "stripped")]


@pytest.mark.parametrize("tc,variant", EXIT_VARIANTS, ids=[f"{t}-{v}" for t, v in EXIT_VARIANTS])
def test_target_exits_while_reading(tc, variant):
    """Kill a fixture with many goroutines at moments spread over tangle's own
    read time: tangle ends with 0 (a complete, valid dump) or 1 (one error
    line), never by a signal, and never hangs."""
    require_tangle()
    path = require_go_fixture(FIXTURE, tc, variant)
    rng = random.Random(1234)
    outcomes = []
    baseline = None
    for i in range(EXIT_ROUNDS):
        fx = GoFixture(path, "-n", EXIT_GOROUTINES, out_dir=False)
        try:
            fx.ready()
            args = ["--json"] if i % 2 else []
            if baseline is None:
                t0 = time.monotonic()
                rc, out, err, argv = run_goroutines(fx.pid, *args)
                baseline = time.monotonic() - t0
                assert rc == 0, f"a live fixture: {err}"
            argv = [str(require_tangle()), "goroutines", str(fx.pid), *args]
            tp = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
            delay = baseline * (i + rng.random()) / EXIT_ROUNDS
            time.sleep(delay)
            fx.proc.kill()
            if i % 3:
                fx.proc.wait(10)  # else it stays a zombie until tangle is done
            try:
                out, err = tp.communicate(timeout=TANGLE_TIMEOUT)
            except subprocess.TimeoutExpired:
                tp.kill()
                pytest.fail(f"round {i}: tangle hung after the target was killed")
            err = err.decode("utf-8", "replace")
            assert tp.returncode in (0, 1), \
                f"round {i} (kill after {delay * 1000:.1f} ms): tangle exited " \
                f"{tp.returncode} (negative: killed by a signal)\nstderr: {err[-2000:]}"
            if tp.returncode == 1:
                assert_clean_error(1, err, argv, fx.pid)
            elif args:
                for raw in out.splitlines(keepends=True):
                    parse_line(raw)
            else:
                parse_traceback(out.decode("utf-8", "replace"))
            outcomes.append(tp.returncode)
        finally:
            fx.cleanup()
    assert len(outcomes) == EXIT_ROUNDS
    # the early kills must have hit: otherwise this exercised nothing
    assert 1 in outcomes, f"no round ended with the target gone: {outcomes} " \
                          f"(tangle took {baseline * 1000:.1f} ms on the live target)"
