"""Where a lock lives, on the real kernel: `waits_on.symbol`, `.module` and `.region` of
`tangle check --json`, and the same place in the text report.

Fixtures (tests/fixtures/stuck_{heap,stack,shm}.c) deadlock on locks that are no
global: in malloc'd memory (the main heap and a thread's arena), in private
anonymous memory, on the main stack and on threads' stacks, in a /dev/shm file, a
memfd and a System V segment. After their "stuck" line they print a "regions"
line with the region tangle must report for each lock address. Fixtures whose
locks are globals (stuck_abba), in shared anonymous memory (stuck_pshared), or
a pthread_join (stuck_cycle_plus: the joined thread's descriptor is on its
stack) check the other forms.
"""

import os
import shutil
import subprocess

import pytest

from stuck_helpers import describe, group_errors, hexint, read_phase, tangle_pid_args
from tangle_helpers import fixtures_dir, parse_output, run_tangle

FIXTURE_TIMEOUT = 30
CHECK_DURATION = 5
REGION_FIXTURES = ("stuck_heap", "stuck_stack", "stuck_shm")


def start(fixture_proc, name):
    """Start a stuck fixture; returns it, its pids, its stuck line and its regions line."""
    fx = fixture_proc(name, "--timeout", FIXTURE_TIMEOUT)
    assert read_phase(fx.read_json, "started")["pid"] == fx.pid
    pids = [fx.pid]
    if name in ("stuck_shm", "stuck_pshared"):
        pids.append(read_phase(fx.read_json, "forked")["child_pid"])
    stuck = read_phase(fx.read_json, "stuck")
    assert sorted(stuck["pids"]) == sorted(pids), stuck
    regions = None
    if name in REGION_FIXTURES:
        regions = {hexint(a): r for a, r in read_phase(fx.read_json, "regions")["regions"].items()}
    return fx, pids, stuck, regions


@pytest.fixture
def shm_cleanup():
    """Names of /dev/shm files to remove at teardown (a killed fixture leaves its own)."""
    names = []
    yield names
    for n in names:
        try:
            os.unlink(f"/dev/shm/{n}")
        except FileNotFoundError:
            pass


def the_group(pids, stuck):
    rc, out, err = run_tangle(["check", "--json", *tangle_pid_args(pids), "-d", CHECK_DURATION])
    recs = parse_output(out)  # validates every line, waits_on included
    groups = [r for r in recs if r["type"] == "stuck_group"]
    assert rc == 2 and len(groups) == 1, \
        f"rc {rc}, {len(groups)} groups\n" + "\n".join(describe(r) for r in recs) + f"\n{err}"
    errs = group_errors(groups[0], stuck)
    assert not errs, "\n".join(errs) + "\n" + describe(groups[0])
    return groups[0]


def text_report(pids):
    rc, out, err = run_tangle(["check", *tangle_pid_args(pids), "-d", CHECK_DURATION])
    text = out.decode("utf-8", "replace")
    assert rc == 2, f"tangle check exited {rc}\n{text}\n{err}"
    return text


@pytest.mark.parametrize("name", REGION_FIXTURES)
def test_region(name, fixture_proc, shm_cleanup):
    """Each lock's region in the JSON (no symbol, no module) and in the text report."""
    fx, pids, stuck, regions = start(fixture_proc, name)
    if name == "stuck_shm":
        shm_cleanup.append(f"tangle-shm-{fx.pid}")
    g = the_group(pids, stuck)
    for m in g["members"]:
        on = m["waits_on"]
        want = regions.get(hexint(on["addr"]))
        assert want, f"member {m['tid']} waits on {on['addr']}, not a lock of the fixture"
        assert (on["symbol"], on["module"], on["region"]) == (None, None, want), \
            f"member {m['tid']}: {on}\nexpected region {want!r}"
    text = text_report(pids)
    for addr, region in regions.items():
        assert f"{addr:#x} ({region})" in text, f"{addr:#x} ({region}) missing:\n{text}"


def test_sysv_segment_id0(fixture_proc, shm_cleanup, monkeypatch):
    """The cycle through a System V segment of id 0 (the first of an IPC namespace):
    its file has inode 0, and the two processes attaching it still share the lock."""
    monkeypatch.setenv("TANGLE_FX_SYSV_ID0", "1")
    fx, pids, stuck, regions = start(fixture_proc, "stuck_shm")
    shm_cleanup.append(f"tangle-shm-{fx.pid}")
    assert any(r.startswith("sysv shm") and " id 0+" in r for r in regions.values()), regions
    g = the_group(pids, stuck)
    assert len(g["members"]) == 3 and all(m["in_cycle"] for m in g["members"]), describe(g)


def test_global_symbol_and_module(fixture_proc):
    """A global: its symbol, the ELF file it is in, and that file's section."""
    fx, pids, stuck, _ = start(fixture_proc, "stuck_abba")
    binary = str(fixtures_dir() / "stuck_abba")
    g = the_group(pids, stuck)
    for m in g["members"]:
        on = m["waits_on"]
        assert on["symbol"] in ("lock_a", "lock_b"), on
        assert os.path.realpath(on["module"]) == os.path.realpath(binary), on
        # PTHREAD_MUTEX_INITIALIZER is all zeros: the compiler puts it in .bss
        assert on["region"] == f"{on['module']} .bss", on
    text = text_report(pids)
    for lock in ("lock_a", "lock_b"):
        assert f" <{lock} in stuck_abba>" in text, text


def test_redirected_path_is_not_followed(fixture_proc, tmp_path, monkeypatch):
    """What a path a process mapped leads to is the process's to change (a container's
    symlink can point at any of the host's files): here another ELF file is mounted over the
    running binary's path, which /proc/PID/maps still shows. tangle reads only the file that
    is mapped, and names the lock from it."""
    binary = tmp_path / "stuck_abba"
    shutil.copy2(fixtures_dir() / "stuck_abba", binary)
    monkeypatch.setenv("TANGLE_FIXTURES", str(tmp_path))
    fx, pids, stuck, _ = start(fixture_proc, "stuck_abba")
    subprocess.run(["mount", "--bind", shutil.which("true"), str(binary)], check=True)
    try:
        g = the_group(pids, stuck)
    finally:
        subprocess.run(["umount", str(binary)], check=True)
    for m in g["members"]:
        assert m["waits_on"]["symbol"] in ("lock_a", "lock_b"), m["waits_on"]


def test_shared_anonymous(fixture_proc):
    """Process-shared mutexes in a MAP_SHARED | MAP_ANONYMOUS mapping."""
    fx, pids, stuck, _ = start(fixture_proc, "stuck_pshared")
    g = the_group(pids, stuck)
    for m in g["members"]:
        on = m["waits_on"]
        assert (on["symbol"], on["module"], on["region"]) == \
            (None, None, "shared anonymous memory"), on
    assert "(shared anonymous memory)" in text_report(pids)


def test_join_is_on_the_joined_threads_stack(fixture_proc):
    """pthread_join waits on a word of the joined thread's descriptor, at the top of its
    stack mapping: the region names that thread (blocked itself, so its sp is known)."""
    fx, pids, stuck, _ = start(fixture_proc, "stuck_cycle_plus")
    g = the_group(pids, stuck)
    joins = [m for m in g["members"] if m["waits_on"]["kind"] == "join"]
    assert joins, describe(g)
    for m in joins:
        on = m["waits_on"]
        assert on["region"] == f"stack of thread {on['owner_tid']}", on
        assert on["symbol"] is None and on["module"] is None, on



def test_dashboard_shows_regions(fixture_proc, top):
    """The Threads view and the stuck chain show each lock's region in parentheses."""
    fx, pids, stuck, regions = start(fixture_proc, "stuck_stack")
    waits = {w["tid"]: hexint(w["addr"]) for w in stuck["waits"]}
    t = top("-p", fx.pid)
    t.keys("2")

    def rows_ready(scr):
        rows = {int(r["TID"]): r for r in scr.rows("threads") if r["TID"].isdigit()}
        if not set(waits) <= set(rows):
            return None
        cells = {tid: rows[tid]["WAITS ON"] for tid in waits}
        want = {tid: f"{a:#x} ({regions[a]})" for tid, a in waits.items()}
        return (scr, cells) if cells == want else None

    t.wait(rows_ready, what="every member's lock with its region in the Threads view")
    t.keys("4")
    scr = t.wait(lambda s: s if s.view == "stuck" and s.rows("stuck") else None,
                 what="the group in view 4")
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and len(s.detail()) >= 5 else None,
                 what="the group's detail pane")
    hops = "\n".join(scr.detail())
    for a, region in regions.items():
        assert f"--mutex {a:#x}({region})-->" in hops, f"{a:#x} ({region})\n{scr}"
