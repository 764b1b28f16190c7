"""`tangle top` on the real kernel, driven through tmux like a user would: views,
sorting, filtering, search, the PID limit, the detail pane, hostile thread
names, resizing, help, quitting, and refusing to run without a terminal.

Fixtures: stuck_abba (an AB-BA deadlock that prints its member tids and lock
addresses) and tui_names (threads whose names are terminal escape sequences,
invalid or wide UTF-8, two of them deadlocked). tui_helpers.py runs the dashboard in a private tmux
server and parses the captured screen with the column tables of table.c.
"""

import os
import signal
import subprocess
import time

import pytest

from stuck_helpers import read_phase
from tangle_helpers import require_tangle
from tui_helpers import DETAIL_TITLE, display_width, is_red, terminal_left_in, tmux

FIXTURE_TIMEOUT = 120  # fixtures exit by themselves after this
STUCK_SHOWN_S = 2.0  # from the first drawn dashboard to the group in view 4


def start_abba(fixture_proc):
    """stuck_abba, once its deadlock has formed; returns (fixture, its "stuck" line)."""
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    stuck = read_phase(fx.read_json, "stuck")
    assert stuck["pid"] == fx.pid and len(stuck["members"]) == 2, stuck
    return fx, stuck


def start_names(fixture_proc):
    fx = fixture_proc("tui_names", "--timeout", FIXTURE_TIMEOUT)
    ready = read_phase(fx.read_json, "ready")
    assert ready["pid"] == fx.pid, ready
    return fx, ready


def by_tid(rows):
    return {int(r["TID"]): r for r in rows if r["TID"].isdigit()}


def row_has(row, text):
    return any(text.lower() in v.lower() for k, v in row.items() if not k.startswith("_"))


def abba_rows_ready(stuck):
    """Predicate: the Threads view lists every thread of stuck_abba, members marked G."""
    tids = set(stuck["members"]) | set(stuck["others"])

    def pred(scr):
        rows = by_tid(scr.rows("threads"))
        if not tids <= set(rows):
            return None
        if not all(rows[t]["STUCK"].startswith("G") for t in stuck["members"]):
            return None
        return scr
    return pred


def selected_row(scr, view):
    """The one highlighted table row (dict), failing when there is not exactly one."""
    sel = scr.selected_lines()
    assert len(sel) == 1, f"expected one highlighted row, found lines {sel}\n{scr}"
    rows = [r for r in scr.rows(view) if r["_line"] == sel[0]]
    assert rows, f"highlighted line {sel[0] + 1} is not a table row\n{scr}"
    return rows[0]


# --------------------------------------------------------------------------
# the stuck group, in views 4 and 2


def test_stuck_group(top, fixture_proc):
    fx, stuck = start_abba(fixture_proc)
    a, b = stuck["members"]
    waits = {w["tid"]: w for w in stuck["waits"]}
    t = top("-p", fx.pid)
    t.wait_started()
    t.keys("4")

    def group_row(scr):
        if scr.view != "stuck":
            return None
        rows = [r for r in scr.rows("stuck") if r["KIND"] == "deadlock"]
        return (scr, rows[0]) if rows else None

    # the deadlock formed before tangle started: it must be on screen soon after the first draw
    left = max(0.1, STUCK_SHOWN_S - (time.monotonic() - t.started_at))
    scr, row = t.wait(group_row, timeout=left,
                      what=f"a deadlock group in the Stuck view within {STUCK_SHOWN_S}s")
    gid = row["GROUP"]
    assert gid.startswith("G") and gid[1:].isdigit(), f"GROUP cell {gid!r}\n{scr}"
    assert row["N"] == "2", f"N cell {row['N']!r}\n{scr}"
    chain = row["WAIT-FOR CHAIN"]
    assert str(a) in chain and str(b) in chain, f"chain {chain!r} lacks {a} or {b}\n{scr}"
    assert "(lock_a in stuck_abba)" in chain or "(lock_b in stuck_abba)" in chain, \
        f"chain {chain!r} names no lock\n{scr}"
    assert "Stuck 1 group, 2 threads" in scr.summary, scr

    # the whole chain, one hop per line, in the detail pane
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and len(s.detail()) >= 4 else None,
                 what="the group's detail pane")
    detail = scr.detail()
    assert detail[0].startswith(f"group {gid}: deadlock, 2 threads:"), scr
    assert {int(x) for x in detail[0].rsplit(":", 1)[1].split(",")} == {a, b}, scr
    hops = detail[1:4]
    for hop in hops[:2]:
        tid = int(hop.split()[0])
        w = waits.get(tid)
        assert w, f"hop {hop!r} starts with a non-member\n{scr}"
        assert f"--mutex {w['addr']}({w['lock']} in stuck_abba)-->" in hop, \
            f"hop {hop!r}: expected --mutex {w['addr']}({w['lock']} in stuck_abba)--> " \
            f"({w})\n{scr}"
    assert int(hops[1].split()[0]) == waits[int(hops[0].split()[0])]["owner_tid"], scr
    assert hops[2].split()[0] == hops[0].split()[0] and "-->" not in hops[2], \
        f"the chain must close on its first thread\n{scr}"
    t.keys("Enter")
    t.wait(lambda s: s if s.detail() is None else None, what="the detail pane to close")

    # view 2: both members, each owned by the other, marked with the same group
    t.keys("2")
    scr = t.wait(abba_rows_ready(stuck), what="stuck_abba's threads in the Threads view")
    rows = by_tid(scr.rows("threads"))
    for tid, w in waits.items():
        r = rows[tid]
        assert r["OWNER"] == str(w["owner_tid"]), f"OWNER of {tid}: {r}\n{scr}"
        assert r["STUCK"] == gid, f"STUCK of {tid}: {r} (group {gid})\n{scr}"
        assert r["KIND"] == "mutex", f"KIND of {tid}: {r}\n{scr}"
        assert r["WAITS ON"] == f"{w['addr']} {w['lock']} in stuck_abba", \
            f"WAITS ON of {tid}: {r}\n{scr}"
        assert r["PID"] == str(fx.pid), r
    for tid in stuck["others"]:
        assert rows[tid]["STUCK"] == "" and rows[tid]["OWNER"] == "-", \
            f"{tid} is not stuck: {rows[tid]}\n{scr}"
    assert set(rows) == set(stuck["members"]) | set(stuck["others"]), \
        f"-p {fx.pid} shows other threads\n{scr}"


# --------------------------------------------------------------------------
# sorting


def test_sort(top, fixture_proc):
    fx1, s1 = start_abba(fixture_proc)
    fx2, s2 = start_abba(fixture_proc)
    t = top("-p", fx1.pid, "-p", fx2.pid)
    t.wait_started()
    scr = t.view("threads")
    assert scr.sorted_column() == ("WAITING", "v"), \
        f"the Threads view starts sorted by WAITING, longest first\n{scr}"
    everyone = set(s1["members"] + s1["others"] + s2["members"] + s2["others"])
    t.wait(lambda s: s if set(by_tid(s.rows("threads"))) == everyone else None,
           what=f"all 8 threads {sorted(everyone)}")

    def sorted_by(title, mark, check):
        def pred(scr):
            if scr.sorted_column() != (title, mark):
                return None
            rows = scr.rows("threads")
            return scr if len(rows) == len(everyone) and check(rows) else None
        return pred

    def tids(rows):
        return [int(r["TID"]) for r in rows]

    # WAITING -> KIND -> ... -> TID: four steps left, still longest-first direction
    t.keys("<", "<", "<", "<")
    t.wait(sorted_by("TID", "v", lambda r: tids(r) == sorted(tids(r), reverse=True)),
           what="TIDv with tids decreasing")
    t.keys("I")
    t.wait(sorted_by("TID", "^", lambda r: tids(r) == sorted(tids(r))),
           what="TID^ with tids increasing")
    t.keys(">")

    def pid_then_tid(rows, rev=False):
        keys = [(int(r["PID"]), int(r["TID"])) for r in rows]
        return keys == sorted(keys, reverse=rev)

    t.wait(sorted_by("PID", "^", pid_then_tid), what="PID^ (ties by TID)")
    t.keys("I")
    t.wait(sorted_by("PID", "v", lambda r: pid_then_tid(r, True)), what="PIDv")
    t.keys(">")

    def comm_order(rows, rev=False):
        keys = [(r["COMM"].encode(), int(r["TID"])) for r in rows]
        return keys == sorted(keys, reverse=rev)

    t.wait(sorted_by("COMM", "v", lambda r: comm_order(r, True)), what="COMMv")
    t.keys("I")
    t.wait(sorted_by("COMM", "^", comm_order), what="COMM^")
    # OWNER: members (owned) after the rest ascending; the flexible last column wraps around
    t.keys(">", ">", ">", ">")

    def owner_order(rows):
        keys = [int(r["OWNER"]) if r["OWNER"].isdigit() else 0 for r in rows]
        return keys == sorted(keys)

    t.wait(sorted_by("OWNER", "^", owner_order), what="OWNER^")
    t.keys(">", ">", ">")
    t.wait(lambda s: s if s.sorted_column() == ("TID", "^") else None,
           what="> past the last column wraps to TID")
    t.keys("<")
    t.wait(lambda s: s if s.sorted_column() == ("WAITS ON", "^") else None,
           what="< before the first column wraps to WAITS ON")


# --------------------------------------------------------------------------
# filtering and the PID limit


def test_filter(top, fixture_proc):
    fx, stuck = start_abba(fixture_proc)
    a = stuck["members"][0]
    t = top("-p", fx.pid)
    t.wait_started()
    t.view("threads")
    scr = t.wait(abba_rows_ready(stuck), what="stuck_abba's threads")
    everyone = set(by_tid(scr.rows("threads")))
    expect = {tid for tid, r in by_tid(scr.rows("threads")).items() if row_has(r, str(a))}
    assert a in expect and len(expect) < len(everyone), f"filter {a} must narrow\n{scr}"

    # live as you type: rows narrow before Enter
    t.prompt("\\", str(a), submit=False)
    scr = t.wait(lambda s: s if set(by_tid(s.rows("threads"))) == expect else None,
                 what=f"rows containing {a} while typing ({sorted(expect)})")
    t.keys("Enter")
    scr = t.wait(lambda s: s if f"filter: {a}" in s.tabs and "Quit" in s.footer else None,
                 what="the applied filter in the tabs line")
    rows = by_tid(scr.rows("threads"))
    assert set(rows) == expect, f"filter {a}: rows {sorted(rows)} != {sorted(expect)}\n{scr}"
    assert all(row_has(r, str(a)) for r in rows.values()), scr
    # a string no row contains: nothing
    t.prompt("\\", "zz")
    t.wait(lambda s: s if "Nothing to show." in s.text and not s.rows("threads") else None,
           what="no rows for a filter nothing matches")
    # empty the filter (the prompt holds it: Backspace it away): all rows again
    t.prompt("\\", "")
    scr = t.wait(lambda s: s if "filter:" not in s.tabs and "Quit" in s.footer
                 and set(by_tid(s.rows("threads"))) == everyone else None,
                 what="all rows after clearing the filter")


def test_pid_limit(top, fixture_proc):
    fx1, s1 = start_abba(fixture_proc)
    fx2, s2 = start_abba(fixture_proc)
    t = top()  # system-wide
    t.wait_started()
    t.view("threads")
    # both fixtures' threads on one screen: filter by their names
    t.prompt("\\", "abba")
    want1 = set(s1["members"] + s1["others"])
    want2 = set(s2["members"] + s2["others"])

    def both(scr):
        rows = by_tid(scr.rows("threads"))
        return scr if "filter: abba" in scr.tabs and (want1 | want2) <= set(rows) else None

    scr = t.wait(both, what="rows of both stuck_abba processes")
    pids = {int(r["PID"]) for r in scr.rows("threads")}
    assert {fx1.pid, fx2.pid} <= pids, scr

    # select a thread of the second one (search), then limit to its PID
    busy2 = s2["others"][1]
    t.prompt("/", str(busy2))
    t.wait(lambda s: s if selected_row(s, "threads")["TID"] == str(busy2)
           else None, what=f"the selection on {busy2}")
    t.keys("p")

    def limited(scr):
        rows = by_tid(scr.rows("threads"))
        if f"pid {fx2.pid}" not in scr.tabs or not rows:
            return None
        return scr if set(rows) == want2 else None

    scr = t.wait(limited, what=f"only pid {fx2.pid} after p")
    assert all(r["PID"] == str(fx2.pid) for r in scr.rows("threads")), scr
    # the limit holds in the other views too
    scr = t.view("processes")
    scr = t.wait(lambda s: s if s.view == "processes" and s.rows() else None,
                 what="the Processes view under the limit")
    assert [r["PID"] for r in scr.rows()] == [str(fx2.pid)], f"pid limit in view 1\n{scr}"
    # p again: the limit goes
    t.view("threads")
    t.keys("p")
    t.wait(lambda s: s if "pid " not in s.tabs and both(s) else None,
           what="both processes again after the second p")


# --------------------------------------------------------------------------
# search, selection and the detail pane


def test_search(top, fixture_proc):
    fx, stuck = start_abba(fixture_proc)
    a, b = stuck["members"]
    busy = stuck["others"][1]
    t = top("-p", fx.pid)
    t.wait_started()
    t.view("threads")
    t.wait(abba_rows_ready(stuck), what="stuck_abba's threads")

    # a tid that only its own row contains
    t.prompt("/", str(busy))
    scr = t.wait(lambda s: s if selected_row(s, "threads")["TID"] == str(busy) else None,
                 what=f"the highlighted row to be {busy}")
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() else None, what="the detail pane")
    assert scr.detail()[0].startswith(f'thread {busy} "abba-busy" of pid {fx.pid}'), scr
    assert "not in a futex wait" in scr.detail()[1], scr
    t.keys("Enter")

    # a member's tid is also in the other member's OWNER cell: Enter and n visit both
    t.prompt("/", str(a))
    first = t.wait(lambda s: s if s.detail() is None
                   and row_has(selected_row(s, "threads"), str(a)) else None,
                   what=f"the selection on a row containing {a}")
    tid1 = int(selected_row(first, "threads")["TID"])
    assert tid1 in (a, b), first
    t.keys("n")
    tid2 = ({a, b} - {tid1}).pop()
    t.wait(lambda s: s if int(selected_row(s, "threads")["TID"]) == tid2 else None,
           what="n to move to the other row containing the tid")
    t.keys("n")
    t.wait(lambda s: s if int(selected_row(s, "threads")["TID"]) == tid1 else None,
           what="n to wrap around to the first match")
    # no match: the selection stays
    t.prompt("/", "no-such-thing")
    t.wait(lambda s: s if int(selected_row(s, "threads")["TID"]) == tid1
           else None, what="a failed search to keep the selection")


def test_detail_pane(top, fixture_proc):
    fx, stuck = start_abba(fixture_proc)
    waits = {w["tid"]: w for w in stuck["waits"]}
    a, b = stuck["members"]
    t = top("-p", fx.pid)
    t.wait_started()
    t.view("threads")
    t.wait(abba_rows_ready(stuck), what="stuck_abba's threads")
    t.prompt("/", str(a))
    t.keys("Enter")  # open the detail pane

    def member_detail(scr):
        d = scr.detail()
        if not d or not d[0].startswith("thread "):
            return None
        tid = int(d[0].split()[1])
        return (scr, tid) if tid in waits and len(d) >= 5 else None

    scr, tid = t.wait(member_detail, what="the detail pane of a member")
    w = waits[tid]
    d = scr.detail()
    assert "Detail (Enter closes)" in scr.text
    assert d[0].startswith(f'thread {tid} "abba-'), scr
    assert d[0].endswith(f"of pid {fx.pid}, sleeping"), scr
    assert "in futex wait" in d[1] and "no timeout" in d[1], scr
    assert f"lock: mutex {w['addr']} <{w['lock']} in stuck_abba>" in d[2], scr
    assert d[3] == f"held by thread {w['owner_tid']} (pid {fx.pid})", scr
    assert d[4].startswith("member of stuck group G"), scr
    comm = selected_row(scr, "threads")["COMM"]
    assert d[0] == f'thread {tid} "{comm}" of pid {fx.pid}, sleeping', scr
    # the pane follows the selection
    other = ({a, b} - {tid}).pop()
    t.keys("n")
    scr = t.wait(lambda s: s if s.detail() and s.detail()[0].startswith(f"thread {other} ")
                 else None, what=f"the detail of {other} after n")
    assert f"held by thread {tid} (pid {fx.pid})" in scr.detail(), scr
    t.keys("Enter")
    t.wait(lambda s: s if s.detail() is None and DETAIL_TITLE not in s.text else None,
           what="Enter to close the detail pane")


# --------------------------------------------------------------------------
# hostile thread names


def test_hostile_names(top, fixture_proc):
    fx, ready = start_names(fixture_proc)
    red, bad, c1, main, wide = (ready[k] for k in ("red", "bad", "c1", "main", "wide"))
    t = top("-p", fx.pid)
    initial_title = t.initial_title
    t.wait_started()
    t.view("threads")

    def all_rows(scr):
        rows = by_tid(scr.rows("threads"))
        return scr if {red, bad, c1, main, wide} <= set(rows) and rows[bad]["STUCK"] else None

    scr = t.wait(all_rows, what="the five threads of tui_names")
    rows = by_tid(scr.rows("threads"))
    # the names, escaped (the COMM column is 16 wide: cut with an ellipsis, never unescaped)
    assert rows[red]["COMM"] == "\\x1b[31mred\\x1b\u2026", rows[red]
    assert rows[bad]["COMM"] == "\\xff\\xfe\\xc0\\x8\u2026", rows[bad]
    assert rows[c1]["COMM"] == "\\xc2\\x9b31mc1\\x\u2026", rows[c1]
    assert rows[main]["COMM"] == r"m\x1b[2J\x1b[Hx", rows[main]
    # valid UTF-8 is kept, and measured in columns: what follows the name stays aligned
    assert rows[wide]["COMM"] == bytes.fromhex(ready["names_hex"]["wide"]).decode(), rows[wide]
    assert rows[wide]["PID"] == str(fx.pid) and rows[wide]["STATE"] == "sleep", \
        f"columns after a wide name moved: {rows[wide]}\n{scr}"
    # nothing but tmux's own SGR in the capture, no control characters
    assert not scr.foreign, f"escape sequences or controls reached the screen: {scr.foreign!r}"
    # the red row: no red anywhere, and the name's cells look like the TID's
    n = rows[red]["_line"]
    cells = scr.row_cells(n)  # all ASCII: cell i is column i
    reds = [c for c, at in cells if is_red(at.fg) or is_red(at.bg)]
    assert not reds, f"red cells in the row of {red}: {''.join(reds)!r}\n{scr.raw}"
    tid_attr = cells[7][1]  # last digit of TID (columns 0-7)
    comm_attrs = {at for c, at in cells[18:34]}  # COMM: columns 18-33
    assert comm_attrs == {tid_attr}, f"COMM cells drawn with {comm_attrs}, TID with {tid_attr}"
    # the screen layout survived "\e[2J\e[H" in the process name
    assert scr.is_dashboard() and scr.header.startswith("tangle "), scr

    # full names in the detail pane
    t.prompt("/", str(red))
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and s.detail()[0].startswith(f"thread {red} ")
                 else None, what=f"the detail of thread {red}")
    assert scr.detail()[0] == \
        rf'thread {red} "\x1b[31mred\x1b]0;x\x07" of pid {fx.pid}, sleeping', scr
    assert not scr.foreign, scr.foreign
    t.keys("Enter")

    # the stuck chain names both deadlocked threads, escaped
    t.keys("4")
    scr = t.wait(lambda s: s if s.view == "stuck" and s.rows("stuck") else None,
                 what="the tui_names deadlock in view 4")
    chain = scr.rows("stuck")[0]["WAIT-FOR CHAIN"]
    assert rf"{bad} (\xff\xfe\xc0\x80ok)" in chain or rf"{c1} (\xc2\x9b31mc1\x9b0m)" in chain, \
        scr
    t.keys("Enter")
    scr = t.wait(lambda s: s if s.detail() and len(s.detail()) >= 4 else None,
                 what="the group's detail pane")
    hops = "\n".join(scr.detail())
    assert rf"{bad} (\xff\xfe\xc0\x80ok) --mutex {ready['lock_2']}(lock_2 in tui_names)-->" \
        in hops, scr
    assert rf"{c1} (\xc2\x9b31mc1\x9b0m) --mutex {ready['lock_1']}(lock_1 in tui_names)-->" \
        in hops, scr
    t.keys("Enter")
    # the process name in view 1
    scr = t.view("processes")
    scr = t.wait(lambda s: s if s.rows("processes") else None, what="the process row")
    assert scr.rows("processes")[0]["COMM"] == r"m\x1b[2J\x1b[Hx", scr
    assert not scr.foreign, scr.foreign

    # no OSC got through (title), no BEL (bell flag)
    title = t.display("#{pane_title}")
    assert title != "x" and title == initial_title, \
        f"pane title changed from {initial_title!r} to {title!r}: an OSC reached the terminal"
    assert t.display("#{window_bell_flag}") == "0", "a BEL reached the terminal"
    # and in the raw bytes tangle wrote: none of the names' own bytes
    raw = t.output()
    for needle in (b"\x1b]", b"\x07", b"\x1b[31mred", b"\xff\xfe", b"\xc0\x80", b"\xc2\x9b",
                   b"\x9b0m", b"m\x1b[2J\x1b[Hx"):
        at = raw.find(needle)
        assert at < 0, f"{needle!r} written to the terminal: ...{raw[max(0, at - 60):at + 60]!r}"


@pytest.mark.parametrize("follow", [[], ["-f"]], ids=["pid", "pid-follow"])
def test_exited_children_leave(top, follow):
    """Child processes of a -p process that have exited are not listed (nor counted).

    Whether -p follows children (-f) or not, a process that is gone must not
    stay on screen as a runnable thread.
    """
    t = top("-p", os.getpid(), *follow)
    t.wait_started()
    t.view("threads")
    kids = [subprocess.Popen(["sleep", "0.2"]) for _ in range(3)]
    for k in kids:
        k.wait()
    # let two refreshes (1 s each) pass after the exits
    up = t.capture().uptime()
    t.wait(lambda s: s if s.uptime() and s.uptime() >= up + 2.5 else None,
           what="two refreshes after the children exited")
    for k in kids:
        t.prompt("\\", str(k.pid))
        t.wait(lambda s, pid=str(k.pid): s if not any(
            pid in (r["TID"], r["PID"]) for r in s.rows("threads")) else None,
            timeout=3, what=f"no row of child {k.pid}, which exited")


def test_comm_flag(top, fixture_proc):
    """-c NAME: only threads with exactly that name, from any process."""
    fx1, s1 = start_abba(fixture_proc)
    fx2, s2 = start_abba(fixture_proc)
    t = top("-c", "abba-a")
    t.wait_started()
    t.view("threads")
    want = {s1["members"][0], s2["members"][0]}
    scr = t.wait(lambda s: s if set(by_tid(s.rows("threads"))) >= want else None,
                 what=f"the two abba-a threads {sorted(want)}")
    rows = scr.rows("threads")
    assert all(r["COMM"] == "abba-a" for r in rows), f"-c abba-a shows other names\n{scr}"
    assert {int(r["PID"]) for r in rows} >= {fx1.pid, fx2.pid}, scr


def test_pause_and_interval(top):
    """-i sets the refresh shown in the footer; + and - step it; Space freezes the screen."""
    t = top("-p", os.getpid(), "-i", "0.5")
    t.wait_started()
    t.wait(lambda s: s if s.footer.endswith("every 0.5s") else None, what="every 0.5s")
    t.keys("+")
    t.wait(lambda s: s if s.footer.endswith("every 1s") else None, what="+ to 1s")
    t.keys("+")
    t.wait(lambda s: s if s.footer.endswith("every 2s") else None, what="+ to 2s")
    t.keys("-", "-", "-", "-", "-", "-", "-")
    t.wait(lambda s: s if s.footer.endswith("every 0.2s") else None,
           what="- down to the shortest step, 0.2s, and no further")
    t.keys("Space")
    scr = t.wait(lambda s: s if "PAUSED" in s.header else None, what="PAUSED in the header")
    frozen = scr.uptime()
    # paused at a 0.2 s refresh: the header's clock must not move for a second
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        now = t.capture()
        assert now.uptime() == frozen and "PAUSED" in now.header, \
            f"the screen changed while paused (up {frozen}s)\n{now}"
        time.sleep(0.1)
    t.keys("Space")
    t.wait(lambda s: s if "PAUSED" not in s.header and s.uptime() > frozen + 0.5 else None,
           what="updates again after the second Space")


# --------------------------------------------------------------------------
# quitting, resizing, help


@pytest.mark.parametrize("key", ["q", "F10"])
def test_quit(top, key):
    t = top("-p", os.getpid())
    t.wait_started()
    assert t.display("#{alternate_on}") == "1", "the dashboard draws on the alternate screen"
    t.keys(key)
    status = t.wait_dead()
    assert status == 0, f"tangle top exited with {status} after {key}\n{t.describe()}"
    check_restored(t, f"after {key}")


def check_restored(t, when):
    """The terminal is as tangle found it: main screen, cursor visible, normal keys."""
    scr = t.last
    assert t.display("#{alternate_on}") == "0", f"still on the alternate screen {when}\n{scr}"
    assert "tangle " not in scr.text and "Quit" not in scr.text, \
        f"the dashboard is still on the screen {when}\n{scr}"
    problems = terminal_left_in(t.output())
    assert not problems, f"terminal not restored {when}: {problems}\n" \
        f"last bytes written: {t.output()[-200:]!r}"


def test_resize(top, fixture_proc):
    fx, stuck = start_abba(fixture_proc)
    t = top("-p", fx.pid)
    t.wait_started()
    t.keys("4")
    t.wait(lambda s: s if s.view == "stuck" and s.rows("stuck") else None,
           what="the group in view 4 at 120x40")

    def layout_ok(width, height):
        def pred(scr):
            if len(scr.lines) != height or not scr.is_dashboard():
                return None
            if any(display_width(line) > width for line in scr.lines):
                return None
            if "Quit" not in scr.lines[height - 1] or scr.view != "stuck":
                return None
            rows = scr.rows("stuck")
            if not rows or rows[0]["KIND"] != "deadlock":
                return None
            # the chain is cut at the edge: it starts with one of the members
            chain = rows[0]["WAIT-FOR CHAIN"]
            return scr if chain.split()[0] in map(str, stuck["members"]) else None
        return pred

    tmux_resize(t, 80, 24)
    scr = t.wait(layout_ok(80, 24), what="an 80x24 layout with the group in view 4")
    assert scr.header.startswith("tangle ") and scr.summary.startswith("Threads "), scr
    assert "Stuck 1 group, 2 threads" in scr.summary, scr
    assert scr.tabs.startswith(" 1 Processes"), scr
    assert scr.titles.split()[:4] == ["GROUP^", "KIND", "AGE", "N"], scr
    assert "F10Quit" in scr.footer, scr
    # the other views fit as well
    for view in ("threads", "processes", "locks"):
        t.keys({"threads": "2", "processes": "1", "locks": "3"}[view])
        scr = t.wait(lambda s, v=view: s if s.is_dashboard() and s.view == v else None,
                     what=f"the {view} view at 80x24")
        long = [line for line in scr.lines if display_width(line) > 80]
        assert not long, f"lines wider than 80 columns: {long}\n{scr}"
    # and back
    t.keys("4")
    tmux_resize(t, 120, 40)
    t.wait(layout_ok(120, 40), what="the 120x40 layout again")


def tmux_resize(t, width, height):
    tmux("resize-window", "-t", t.name, "-x", width, "-y", height)


def test_help(top):
    t = top("-p", os.getpid())
    t.wait_started()
    for key in ("?", "h", "F1"):
        t.keys(key)
        scr = t.wait_text("q, F10")
        assert not scr.is_dashboard(), f"help drawn over the dashboard\n{scr}"
        assert scr.lines[0].startswith(" tangle top:"), scr
        t.keys("x")  # any key returns
        t.wait(lambda s: s if s.is_dashboard() and "q, F10" not in s.text else None,
               what=f"the dashboard after leaving the help ({key})")
    # a key that would quit only closes the help
    t.keys("?")
    t.wait_text("q, F10")
    t.keys("q")
    t.wait(lambda s: s if s.is_dashboard() else None, what="q in the help to return")
    assert not t.dead()


# --------------------------------------------------------------------------
# no terminal


@pytest.mark.parametrize("args", [["top"], []], ids=["top", "default"])
def test_not_a_terminal(args):
    """`tangle top </dev/null | cat`: refuse with a message, write nothing to the pipe."""
    argv = [str(require_tangle()), *args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1, f"`{' '.join(argv)} </dev/null | cat` exited {p.returncode}: {err}"
    assert "terminal" in err, f"no word about a terminal: {err!r}"
    assert p.stdout == b"", f"wrote to the pipe: {p.stdout[:200]!r}"


def test_stdout_not_a_terminal():
    """Keyboard on a terminal, output into a pipe: refused too, and the tty left alone."""
    master, slave = os.openpty()
    try:
        p = subprocess.run([str(require_tangle()), "top"], stdin=slave, capture_output=True,
                           timeout=30)
        os.set_blocking(master, False)
        try:
            on_tty = os.read(master, 4096)
        except BlockingIOError:
            on_tty = b""
    finally:
        os.close(slave)
        os.close(master)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 1, f"exited {p.returncode}: {err}"
    assert "terminal" in err and p.stdout == b"", (err, p.stdout[:200])
    assert on_tty == b"", f"wrote to the terminal on its stdin: {on_tty[:200]!r}"


def test_tangle_exits_on_sigterm(top):
    """A dashboard killed by SIGTERM still puts the terminal back."""
    t = top("-p", os.getpid())
    t.wait_started()
    os.kill(int(t.display("#{pane_pid}")), signal.SIGTERM)
    status = t.wait_dead()
    assert status == 0, f"exit status {status} after SIGTERM\n{t.describe()}"
    check_restored(t, "after SIGTERM")


def test_duration(top):
    """-d SECONDS: the dashboard ends by itself, with status 0 and the terminal restored."""
    t = top("-p", os.getpid(), "-d", "1")
    t.wait_started()
    status = t.wait_dead()
    assert status == 0, f"exit status {status} after -d 1\n{t.describe()}"
    check_restored(t, "after -d 1")
