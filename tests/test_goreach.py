# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""src/goobj.c and src/goreach.c on real Go programs (root needed).

The evidence behind stuck-goroutine reports: for each goroutine blocked on a
channel or a sync object, can a live goroutine (or a global) still reach that
object? tests/goreach/goreach_driver takes a snapshot of a running program,
finds what each blocked goroutine waits on and prints the verdict; these tests
hold it against programs that know the answer:

  - the stuck-goroutine fixtures (tests/go/stuck/PATTERN, built for every
    toolchain: $TANGLE_GO_FIXTURES/stuck/PATTERN/GOVERSION-plain), whose
    truth.json lists the goroutines stuck for good beside a healthy load (a
    busy worker pool, an HTTP server under keep-alive load, tickers), and
    idle_pool, whose idle workers wait on channels the program still holds;
  - tests/goreach/edge ($TANGLE_GOREACH_DIR/edge-GOVERSION-{plain,stripped}),
    which holds channels in every way the mark phase must see (globals,
    interfaces, maps, the tail of a large array, another channel's buffer,
    an address-taken local, a defer record, a goroutine in a system call, a
    running goroutine, a timer) and leaks a few, and prints what it expects;
  - tests/goreach/layout ($TANGLE_GOREACH_DIR/layout-GOVERSION): the layout
    table of src/golayout_obj.c against DWARF.

Reachability cannot see every bug: a deadlock over locks that live in globals
(abba, rwmutex_recursive) keeps its objects reachable, as Go's own
goroutine-leak profile does; those patterns are asserted reachable, from
data/bss, so that a change of behaviour shows.

A missing binary is a failure, never a skip (make goreach gofixtures builds
them). Env: TANGLE_GOREACH_DIR (default <repo>/.output/goreach),
TANGLE_GO_FIXTURES, TANGLE_GO_TOOLCHAINS (as for the Go fixtures).
"""

import collections
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "runtime"))

from go_helpers import (GO_SRC, STUCK_ARGS, GoFixture, go_fixtures_dir,  # noqa: E402
                        go_toolchains, version_tuple)

GOREACH_DIR = Path(os.environ.get("TANGLE_GOREACH_DIR") or REPO / ".output" / "goreach")
DRIVER = GOREACH_DIR / "goreach_driver"
TOOLCHAINS = go_toolchains()
RUNS = 2  # an unreachable verdict must hold in every run
TIMEOUT = 120

# pattern -> the roles truth.json lists as stuck
PATTERNS = sorted(p.name for p in (GO_SRC / "stuck").iterdir() if p.is_dir())
# deadlocks over global locks: their objects stay reachable from data/bss
GLOBAL_LOCKS = {"abba", "rwmutex_recursive"}
# the load of every pattern (internal/load): never stuck
HEALTHY_ROLES = {"main", "load_worker", "load_producer", "load_client", "load_ticker",
                 "idle_global", "idle_local"}


@pytest.fixture(autouse=True)
def _require_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("test_goreach needs root; CI is set, so this is a failure")
        pytest.skip("test_goreach needs root (sudo make test)")


def require(path, what):
    assert path.is_file() and os.access(path, os.X_OK), \
        f"{path} is missing: {what} (`make goreach gofixtures`)"
    return path


def driver(pid, *args):
    res = subprocess.run([str(require(DRIVER, "the goreach driver")), *map(str, args), str(pid)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert res.returncode == 0, f"goreach_driver {pid} exited {res.returncode}:\n{res.stderr}"
    return parse(res.stdout)


Wait = collections.namedtuple("Wait", "goid reason kind objs how verdict root")


def kv(text):
    return dict(f.split("=", 1) for f in text.split())


def parse(out):
    """{"info": {..}, "costs": [{..}], "waits": {goid: Wait}, "states": [..]}."""
    r = {"info": {}, "costs": [], "waits": {}, "states": []}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "info":
            r["info"] = kv(f[1])
        elif f[0] == "cost":
            r["costs"].append(kv(f[1]))
        elif f[0] == "wait":
            w = Wait(int(f[1]), f[2], f[3], f[4], f[5], f[6], f[7])
            r["waits"][w.goid] = w
        elif f[0] == "state":
            r["states"].append(f[1:])
    return r


def stuck_versions():
    """Toolchains the stuck fixtures are built for: at least the oldest and the newest."""
    have = [t for t in TOOLCHAINS
            if (go_fixtures_dir() / "stuck" / "healthy" / f"{t}-plain").is_file()]
    return have


def test_fixtures_built_for_old_and_new_go():
    """The stuck fixtures exist for go1.22 and the installed go (1.26): both runtime
    layouts (sudogs of sync waits only from 1.26) are covered."""
    have = stuck_versions()
    assert any(version_tuple(t)[:2] == (1, 22) for t in have), \
        f"no go1.22 build of the stuck fixtures in {go_fixtures_dir()} (have {have})"
    assert TOOLCHAINS[0] in have, f"no {TOOLCHAINS[0]} build of the stuck fixtures"


@pytest.fixture
def run_fixture():
    started = []

    def start(pattern, version):
        path = go_fixtures_dir() / "stuck" / pattern / f"{version}-plain"
        require(path, f"stuck fixture {pattern} for {version}")
        fx = GoFixture(path, *STUCK_ARGS.get(pattern, ()))
        started.append(fx)
        fx.ready(timeout=60)
        return fx

    yield start
    for fx in started:
        fx.cleanup()


def _versions():
    have = stuck_versions()
    return have or [TOOLCHAINS[0]]


ATTEMPTS = 3  # driver runs a stuck goroutine gets to be found unreachable in


@pytest.mark.parametrize("version", _versions())
@pytest.mark.parametrize("pattern", PATTERNS)
def test_stuck_pattern(pattern, version, run_fixture):
    """Every run: nothing healthy judged unreachable, the parked healthy ones
    reachable. The stuck ones unreachable in one of ATTEMPTS driver runs: a
    goroutine running while the mark reads it has its whole stack scanned
    word by word, stale words below its frames included, and may keep a
    stuck channel "reachable" for that run (the live detector marks again at
    its next snapshot). Seen once in CI under ASan, from an HTTP goroutine of
    the fixture's load."""
    fx = run_fixture(pattern, version)
    for _ in range(ATTEMPTS):
        waits, safety, missed = judge_run(pattern, fx)
        assert not safety, "\n".join(safety) + "\n" + fx.describe()[:3000]
        if not missed:
            return
    missed.append(diagnose(fx, [w for w in waits.values() if w.goid in fx.truth["stuck_goids"]]))
    pytest.fail(f"in {ATTEMPTS} runs of the driver, the last:\n" + "\n".join(missed) + "\n"
                + fx.describe()[:3000])


def judge_run(pattern, fx):
    """One driver run (RUNS marks) over fx: (waits, errors of what must hold
    every time, stuck goroutines not found)."""
    t = fx.truth
    r = driver(fx.pid, "-n", RUNS)
    waits = r["waits"]
    roles = {g["goid"]: g["role"] for g in t["goroutines"]}
    stuck = set(t["stuck_goids"])
    errs, missed = [], []
    for c in r["costs"]:
        if "run" in c and c["incomplete"] != "0":
            errs.append(f"run {c['run']} incomplete: {c}")

    # every goroutine truth knows to be stuck is blocked on an object no live goroutine reaches
    for goid in sorted(stuck):
        w = waits.get(goid)
        where = f"{roles.get(goid)} (goroutine {goid})"
        if w is None:
            errs.append(f"{where}: not among the blocked goroutines the driver judged")
        elif pattern in GLOBAL_LOCKS:
            if w.verdict != "reachable" or w.root != "data/bss":
                errs.append(f"{where}: a global lock, expected reachable from data/bss: {w}")
        elif w.verdict != "unreachable":
            missed.append(f"{where}: {w.verdict} ({w.root}), expected unreachable: {w}")

    # nothing healthy is unreachable: the load, main, idle pools, the HTTP server's goroutines
    for goid, w in waits.items():
        if goid in stuck or w.verdict != "unreachable":
            continue
        role = roles.get(goid)
        if pattern == "growing_leak" and role is None and w.reason == "chan send":
            continue  # leaked after truth.json was written: the same bug, more of it
        errs.append(f"goroutine {goid} ({role or 'not registered'}) judged unreachable: {w}")
    # the healthy goroutines that stay parked are positively reachable (busy ones may have
    # moved while read: "unknown" is fine for them, "unreachable" never). The ticker wakes
    # every 5 ms: seen woken between the snapshot and the read of its sudog (CI, ASan,
    # go1.23), which must then say so, not claim the object was not found
    for goid, role in roles.items():
        w = waits.get(goid)
        if w is None or w.verdict == "reachable" or \
                role not in ("main", "load_ticker", "idle_global", "idle_local"):
            continue
        if role == "load_ticker" and w.verdict == "unknown" and w.root == "moved while read":
            continue
        errs.append(f"{role} (goroutine {goid}): {w}, expected reachable")
    return waits, errs, missed


def diagnose(fx, waits):
    """For a failure message: how the first object judged reachable was reached
    (TANGLE_GOREACH_TRACE), and the runtime's own view of the goroutines named."""
    w = next((w for w in waits if w.verdict == "reachable" and w.objs != "-"), None)
    if w is None:
        return ""
    res = subprocess.run([str(DRIVER), str(fx.pid)], capture_output=True, text=True,
                         timeout=TIMEOUT,
                         env=dict(os.environ, TANGLE_GOREACH_TRACE=w.objs.split(",")[0]))
    text = res.stderr
    goids = {int(x) for x in re.findall(r"goroutine (\d+)", text + w.root)}
    try:
        dump = fx.sigquit_dump().by_goid
        text += "".join(f"\n{dump[g]}" for g in goids if g in dump)
    except AssertionError as e:
        text += f"\n(no SIGQUIT dump: {e})"
    return f"trace of {w.objs} (reachable from {w.root}):\n{text}"


@pytest.mark.parametrize("version", _versions())
def test_idle_pool_workers_are_reachable(version, run_fixture):
    """Workers idle on a channel the program still holds (in a map reached from a
    global, and on main's stack) are not leaked, however long they wait."""
    fx = run_fixture("idle_pool", version)
    r = driver(fx.pid, "-n", RUNS)
    idle = {g["goid"]: g["role"] for g in fx.truth["goroutines"] if g["role"].startswith("idle_")}
    assert len(idle) == 6, fx.truth["goroutines"]
    for goid, role in idle.items():
        w = r["waits"].get(goid)
        assert w is not None and w.verdict == "reachable", f"{role} {goid}: {w}"
        if role == "idle_global":
            assert w.root == "data/bss", w
        else:
            assert w.root.startswith("goroutine 1"), w  # main's stack


def edge_cases():
    return [(t, v) for t in TOOLCHAINS for v in ("plain", "stripped")]


@pytest.mark.parametrize("version,variant", edge_cases(),
                         ids=[f"{t}-{v}" for t, v in edge_cases()])
def test_edge_holders(version, variant):
    """Every way of holding a channel the mark phase must follow, and leaks it must not
    take for reachable, on every toolchain, with and without symbols."""
    path = require(GOREACH_DIR / f"edge-{version}-{variant}", "tests/goreach/edge")
    p = subprocess.Popen([str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        assert line, p.stderr.read().decode()
        t = json.loads(line)
        r = driver(t["pid"], "-n", RUNS)
    finally:
        p.kill()
        p.wait(10)
    info = r["info"]
    assert info["stripped"] == ("1" if variant == "stripped" else "0"), info
    assert info["heap_index"] == ("runtime.findObject" if variant == "stripped"
                                  else "runtime.mheap_"), info
    assert info["arenas_slot"] == info["decoded_slot"], info
    bad = []
    for goid, want in t["expect"].items():
        w = r["waits"].get(int(goid))
        if w is None or w.verdict != want:
            bad.append(f"goroutine {goid}: {w}, expected {want}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("version", TOOLCHAINS)
def test_layout_table_matches_dwarf(version):
    """src/golayout_obj.c's table is what DWARF says, member by member."""
    path = require(GOREACH_DIR / f"layout-{version}", "tests/goreach/layout")
    res = subprocess.run([str(DRIVER), "--layout", str(path)], capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("info") and "source=dwarf" in lines[0], lines[0]
    diff = [ln for ln in lines[1:] if ln.split()[2] != ln.split()[3]]
    assert len(lines) > 50 and not diff, "table != DWARF:\n" + "\n".join(diff)


def test_budget_gives_unknown_not_unreachable(run_fixture):
    """Out of budget, nothing is unreachable (but what cannot wake by construction)."""
    fx = run_fixture("early_return", TOOLCHAINS[0])
    r = driver(fx.pid, "-b", 64 << 10)
    assert r["costs"][-1]["budget"] == "1", r["costs"]
    judged = [w for w in r["waits"].values() if w.verdict == "unreachable"]
    assert not judged, judged
    stuck = set(fx.truth["stuck_goids"])
    assert all(r["waits"][g].verdict == "unknown" for g in stuck), r["waits"]


def test_object_states(run_fixture):
    """goobj reads the objects' states: range_unclosed's channel is empty and open,
    wg_missing_done's WaitGroup still counts one missing Done and one waiter."""
    fx = run_fixture("range_unclosed", TOOLCHAINS[0])
    r = driver(fx.pid)
    consumer = next(g for g in fx.truth["goroutines"] if g["role"] == "consumer")
    w = r["waits"][consumer["goid"]]
    assert w.objs == consumer["chan"], (w, consumer)
    st = next(s for s in r["states"] if s[1] == w.objs)
    f = kv(st[2])
    assert st[0] == "chan" and f["qcount"] == "0" and f["dataqsiz"] == "8" and \
        f["closed"] == "0" and f["recvq_empty"] == "0" and f["sendx"] == f["recvx"], st
    fx.cleanup()

    fx = run_fixture("wg_missing_done", TOOLCHAINS[0])
    r = driver(fx.pid)
    collector = next(g for g in fx.truth["goroutines"] if g["role"] == "collector")
    w = r["waits"][collector["goid"]]
    assert w.kind == "waitgroup", w
    f = kv(next(s for s in r["states"] if s[1] == w.objs)[2])
    assert f["counter"] == "1" and f["waiters"] == "1", f


@pytest.mark.parametrize("version", [TOOLCHAINS[0]])
def test_cost_with_10k_goroutines(version):
    """The goroutines fixture with 10,000 idle goroutines on one reachable channel:
    all judged reachable, at a cost printed for the record (bounded generously)."""
    path = go_fixtures_dir() / "goroutines" / f"{version}-plain"
    require(path, "the goroutines fixture")
    fx = GoFixture(path, "-n", 10000)
    try:
        fx.ready(timeout=120)
        t0 = time.monotonic()
        r = driver(fx.pid, "-n", 3)
        wall = time.monotonic() - t0
    finally:
        fx.cleanup()
    idle = fx.truth["idle_goids"]
    verdicts = collections.Counter(r["waits"][g].verdict for g in idle if g in r["waits"])
    assert verdicts == {"reachable": len(idle)}, verdicts
    for c in r["costs"]:
        print("cost", c)
    runs = [c for c in r["costs"] if "run" in c]
    assert all(c["incomplete"] == "0" for c in runs), runs
    assert max(int(c["cpu_us"]) for c in runs) < 2_000_000, runs
    assert wall < 60, wall
