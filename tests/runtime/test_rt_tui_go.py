"""The dashboard's Goroutines view on real Go programs, driven through tmux.

The goroutine zoo (tests/go/goroutines) parks goroutines in every wait Go has
and writes truth.json plus the runtime's own debug=2 dump; the view must show
each of them in the right state at the right blocking site, whether it is a
group of one or a member of a bigger group listed with Right. Also: the label
filter, the runtime's own goroutines on S, the GOID column of the Threads
view and GOR of the Processes view, a growing leak counted as one growing
group, and a process whose goroutines cannot be read shown with the reason.
"""

import re
import time

import pytest

from go_helpers import expected_reason, go_local_version, go_toolchains, version_tuple

LOCAL = go_local_version()
# the installed Go, plain; the oldest toolchain, stripped (offsets from the table)
OLDEST = min(go_toolchains(), key=version_tuple)
CASES = [(LOCAL, "plain"), (OLDEST, "stripped")]
WIDTH, HEIGHT = 200, 70


def is_library(function):
    """Go's standard library: no dot in the first element of the import path (not main)."""
    path = function.split("(")[0]
    last_slash = path.rfind("/")
    pkg = path[:path.index(".", last_slash + 1)] if "." in path[last_slash + 1:] else path
    first = pkg.split("/")[0]
    return first != "main" and "." not in first


def expected_site(goroutine):
    """What WHERE shows for a goroutine of the runtime's own dump: its innermost
    frame outside the standard library (or the innermost shown), "function (file:line)"."""
    frames = goroutine.user_frames()
    if not frames:
        return None
    f = next((f for f in frames if not is_library(f.function)), frames[0])
    return f"{f.function} ({f.file.rsplit('/', 1)[-1]}:{f.line})"


def where_site(cell):
    """The site of a group row's WHERE cell: without the fold mark and labels."""
    text = cell[1:].strip() if cell[:1] in "+- " else cell
    return re.sub(r" \{.*$", "", text)


def summary_count(scr):
    m = re.search(r"Goroutines (\d+) in (\d+) Go process", scr.summary)
    return (int(m.group(1)), int(m.group(2))) if m else None


def go_rows(t, pid, pred=lambda rows: rows):
    """Wait for the Goroutines view to list rows of pid (and pred to accept them)."""
    def ready(scr):
        if scr.view != "goroutines":
            return None
        rows = [r for r in scr.rows("goroutines") if r["PID"] == str(pid)]
        return pred(rows) if rows else None
    return t.wait(ready, what=f"goroutine rows of pid {pid}")


def expand_all(t, pid):
    """Right on every folded group (COUNT > 1) of pid; returns the final rows."""
    for _ in range(40):
        scr = t.capture()
        rows = [r for r in scr.rows("goroutines") if r["PID"] == str(pid)]
        folded = [r for r in rows if r["WHERE"].startswith("+")]
        if not folded:
            return rows
        target = folded[0]["_line"]
        sel = scr.selected_lines()
        assert len(sel) == 1, f"one selected row expected\n{scr}"
        delta = target - sel[0]
        t.keys(*(["Down"] * delta if delta > 0 else ["Up"] * -delta), "Right")
        t.wait(lambda s: s.rows("goroutines") and any(
            r["_line"] == target and r["WHERE"].startswith("-") for r in s.rows("goroutines")),
            what=f"the group on line {target + 1} expanded")
    raise AssertionError("groups keep appearing folded")


@pytest.mark.parametrize("toolchain,variant", CASES, ids=[f"{v}-{k}" for v, k in CASES])
def test_every_goroutine_at_its_site(top, go_fixture, toolchain, variant):
    fx = go_fixture("goroutines", toolchain, variant)
    dump = fx.dump().by_goid
    truth = [g for g in fx.truth["goroutines"] if g["stable"]]
    t = top("-p", fx.pid, width=WIDTH, height=HEIGHT)
    t.wait_started()
    t.view("goroutines")
    go_rows(t, fx.pid)
    rows = expand_all(t, fx.pid)
    scr = t.capture()

    # every goroutine once: a group of one, or a member under its group
    seen, site_of = {}, {}
    group = None
    for r in rows:
        if r["COUNT"]:
            group = r
        if r["GOID"]:
            goid = int(r["GOID"])
            assert goid not in seen, f"goroutine {goid} listed twice\n{scr}"
            seen[goid] = r
            site_of[goid] = where_site(group["WHERE"])
    for g in truth:
        want = expected_reason(g["role"], toolchain)
        assert g["goid"] in seen, f"{g['role']} (goroutine {g['goid']}) not listed\n{scr}"
        r = seen[g["goid"]]
        if want:
            assert r["STATE"].startswith(want[:20]), \
                f"{g['role']}: state {r['STATE']!r}, want {want!r}\n{scr}"
        site = expected_site(dump[g["goid"]]) if g["goid"] in dump else None
        if site and g["status"] == "waiting":
            assert site_of[g["goid"]] == site[:len(site_of[g["goid"]])], \
                f"{g['role']}: site {site_of[g['goid']]!r}, Go's dump says {site!r}\n{scr}"

    # the header counts what the view lists (the runtime's own goroutines aside)
    count, procs = summary_count(scr)
    assert procs == 1 and count == sum(int(r["COUNT"]) for r in rows if r["COUNT"]), scr
    assert count >= len(truth), scr


def test_detail_labels_and_members(top, go_fixture):
    fx = go_fixture("goroutines", LOCAL, "plain")
    roles = fx.roles()
    zoo = {g["goid"] for g in fx.truth["goroutines"] if g["labels"].get("app") == "zoo"}
    assert len(zoo) >= 2, fx.truth
    t = top("-p", fx.pid, width=WIDTH, height=HEIGHT)
    t.wait_started()
    t.view("goroutines")
    go_rows(t, fx.pid)

    # label filter: only goroutines labelled app=zoo are counted and listed
    t.prompt("L", "app=zoo")
    scr = t.wait(lambda s: s if summary_count(s) and summary_count(s)[0] == len(zoo) else None,
                 what=f"{len(zoo)} goroutines with app=zoo")
    assert "label app=zoo" in scr.tabs, scr
    rows = expand_all(t, fx.pid)
    assert {int(r["GOID"]) for r in rows if r["GOID"]} == zoo, t.capture()

    # the detail pane of a goroutine: header, labels, stack with file:line, created by
    t.prompt("L", "")
    chan = roles["chan_recv"]
    t.prompt("\\", "main.recvForever")
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and any(
        x.startswith(f"goroutine {chan['goid']} [chan receive") for x in s.detail()) else None,
        what="the detail of the chan_recv goroutine")
    detail = scr.detail()
    assert any(re.search(r"main\.\S+\s+main\.go:\d+$", x) for x in detail), scr
    assert any(x.startswith("created by main.") for x in detail), scr

    # S: the runtime's own goroutines too (GC workers, finalizers, ...)
    before = summary_count(scr)[0]
    t.prompt("\\", "")
    t.keys("S")
    scr = t.wait(lambda s: s if summary_count(s) and summary_count(s)[0] > before else None,
                 what="more goroutines with the runtime's own")
    assert "+runtime" in scr.tabs, scr
    assert any(r["STATE"].startswith(("GC worker", "force gc", "finalizer wait"))
               for r in scr.rows("goroutines")), scr


def test_threads_and_processes_columns(top, go_fixture):
    fx = go_fixture("goroutines", LOCAL, "plain")
    spinner = fx.roles().get("spinner")
    t = top("-p", fx.pid, width=WIDTH, height=HEIGHT)
    t.wait_started()
    t.view("goroutines")
    count = summary_count(go_rows(t, fx.pid, lambda rows: True) and t.capture())
    t.view("processes")
    scr = t.wait(lambda s: s if [r for r in s.rows("processes")
                                  if r["PID"] == str(fx.pid) and r["GOR"] != "-"] else None,
                 what="a GOR figure for the Go process")
    row = [r for r in scr.rows("processes") if r["PID"] == str(fx.pid)][0]
    assert int(row["GOR"]) >= len(fx.truth["goroutines"]), scr
    assert count and abs(int(row["GOR"]) - count[0]) <= 2, (count, scr)
    if spinner:
        t.view("threads")
        t.wait(lambda s: s if any(r["WAITS ON"].startswith(f"goroutine {spinner['goid']} (")
                                  for r in s.rows("threads")) else None,
               what=f"the thread running goroutine {spinner['goid']}", timeout=15)


def test_growing_leak_is_one_growing_group(top, go_fixture):
    fx = go_fixture("stuck/growing_leak", LOCAL, "plain")
    leaked = set(fx.truth["stuck_goids"])
    t = top("-p", fx.pid, width=WIDTH, height=HEIGHT)
    t.wait_started()
    t.view("goroutines")

    def leak_group(rows):
        send = [r for r in rows if r["COUNT"] and r["STATE"] == "chan send"]
        return send[0] if len(send) == 1 and int(send[0]["COUNT"]) >= len(leaked) else None

    first = go_rows(t, fx.pid, leak_group)
    assert "main.work.func1" in first["WHERE"], t.capture()
    n1 = int(first["COUNT"])
    time.sleep(2.5)  # the fixture leaks one every 20 ms; tangle re-reads every second or so
    n2 = int(go_rows(t, fx.pid, leak_group)["COUNT"])
    assert n2 > n1, f"the leak group did not grow: {n1} then {n2}\n{t.capture()}"


def test_unreadable_process_says_why(top, go_fixture):
    fx = go_fixture("goroutines", OLDEST, "stripped")
    t = top("-p", fx.pid, width=WIDTH, height=HEIGHT, env={"TANGLE_GO_OFFSETS": "dwarf"})
    t.wait_started()
    t.view("goroutines")
    row = go_rows(t, fx.pid, lambda rows: rows[0])
    assert row["STATE"] == "unreadable", t.capture()
    assert "cannot read goroutines: " in row["WHERE"] and "DWARF" in row["WHERE"], t.capture()


def test_stuck_goroutines_in_stuck_view(top, go_fixture):
    """The AB-BA fixture: its three goroutines in the Stuck view as stuck groups,
    the detail pane naming the lock and why it is stuck."""
    fx = go_fixture("stuck/abba", LOCAL, "plain")
    truth = set(fx.truth["stuck_goids"])
    t = top("-p", fx.pid, "--stuck-after", "2", width=WIDTH, height=HEIGHT)
    t.wait_started()
    t.keys("4")

    def stuck_rows(scr):
        if scr.view != "stuck":
            return None
        rows = [r for r in scr.rows("stuck") if r["KIND"] == "stuck"]
        return (scr, rows) if sum(int(r["N"]) for r in rows) == len(truth) else None

    scr, rows = t.wait(stuck_rows, timeout=30, what=f"stuck groups of goroutines {truth}")
    assert all(f"pid {fx.pid}" in r["WAIT-FOR CHAIN"] and "[sync.Mutex.Lock]" in
               r["WAIT-FOR CHAIN"] for r in rows), scr
    assert "main.transfer" in " ".join(r["WAIT-FOR CHAIN"] for r in rows), scr
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and any("waits on sync.Mutex 0x" in ln
                                                   for ln in s.detail()) else None,
                 what="the evidence in the detail pane")
    detail = "\n".join(scr.detail())
    assert "held and untouched, its waiters parked" in detail, scr
    goids = {int(x) for x in re.findall(r"\bg(\d+)\b", detail)}
    assert goids and goids <= truth, f"members {goids} not among {truth}\n{scr}"
