"""Helpers of the stuck-group tests (test_rt_stuck.py) and of bench/latency.py.

The stuck_* fixtures (tests/fixtures/stuck_*.c) print, once their hang has
truly formed, a line {"phase":"stuck", ...} that describes the exact stuck
group tangle must report: member tids, tids that must NOT be members
("others"), the pids involved, the expected group kind, and per member what it
waits on ("waits": kind, lock name and address, expected symbol, owner tid,
owner_exited, pshared, in_cycle). group_errors() compares a `stuck_group`
record with that line and lists every difference.

Nothing here imports pytest: the benchmark uses it too.
"""

import json
import time

MS = 1_000_000

# Every stuck fixture, in the order the tests run them.
STUCK_FIXTURES = (
    "stuck_abba",
    "stuck_cycle3",
    "stuck_philosophers",
    "stuck_selflock",
    "stuck_abandoned",
    "stuck_cycle_plus",
    "stuck_join_each_other",
    "stuck_rwlock",
    "stuck_pshared",
)

NEGATIVE_FIXTURES = ("ok_contention", "ok_condvar_pool", "ok_sleepers")

# Detection needs waits at least this old (tangle's default --stuck-after 0.1 s).
MIN_STUCK_AGE_NS = 100 * MS


def read_phase(read_json, phase, timeout=15.0, seen=None):
    """Read fixture lines with read_json(timeout) until one has "phase" == phase.

    read_json is e.g. FixtureProc.read_json (fails the test on timeout). Lines
    read on the way are appended to `seen` when given.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = max(0.1, deadline - time.monotonic())
        rec = read_json(left)
        if seen is not None:
            seen.append(rec)
        if rec.get("phase") == phase:
            return rec
        if time.monotonic() > deadline:
            raise TimeoutError(f"no phase {phase!r} line within {timeout}s")


def tangle_pid_args(pids):
    args = []
    for p in pids:
        args += ["-p", str(p)]
    return args


def member_tids(group):
    return [m.get("tid") for m in group.get("members", [])]


def hexint(v):
    try:
        return int(v, 16)
    except (TypeError, ValueError):
        return None


def is_stuck_group(rec):
    return isinstance(rec, dict) and rec.get("type") == "stuck_group"


def cycle_errors(group, expected_cycle):
    """The in_cycle members' edges must form one single cycle over exactly them."""
    errs = []
    cyc = {m["tid"] for m in group["members"] if m.get("in_cycle")}
    if cyc != set(expected_cycle):
        errs.append(f"in_cycle members {sorted(cyc)} != expected {sorted(expected_cycle)}")
        return errs
    nxt = {}
    for e in group.get("edges", []):
        if e.get("from_tid") in cyc:
            if e["from_tid"] in nxt:
                errs.append(f"cycle member {e['from_tid']} has more than one edge")
            nxt[e["from_tid"]] = e.get("to_tid")
    if set(nxt) != cyc:
        errs.append(f"cycle members without an edge: {sorted(cyc - set(nxt))}")
        return errs
    start = next(iter(cyc))
    cur, walked = start, []
    for _ in range(len(cyc)):
        walked.append(cur)
        cur = nxt.get(cur)
        if cur not in cyc:
            errs.append(f"edge from {walked[-1]} leaves the cycle (to {cur})")
            return errs
    if cur != start or len(set(walked)) != len(cyc):
        errs.append(f"edges do not form one cycle over {sorted(cyc)}: walked {walked} -> {cur}")
    return errs


def group_errors(group, stuck, check_timing=True):
    """Every way a stuck_group record differs from the fixture's "stuck" line."""
    errs = []
    want_members = stuck["members"]
    got = member_tids(group)
    if len(got) != len(set(got)):
        errs.append(f"duplicate members: {got}")
    if set(got) != set(want_members):
        errs.append(f"member tids {sorted(got)} != expected {sorted(want_members)} "
                    f"(missing {sorted(set(want_members) - set(got))}, "
                    f"extra {sorted(set(got) - set(want_members))})")
    bad_others = set(got) & set(stuck.get("others", []))
    if bad_others:
        errs.append(f"threads that are not stuck reported as members: {sorted(bad_others)}")
    if group.get("kind") != stuck["group_kind"]:
        errs.append(f"kind {group.get('kind')!r} != expected {stuck['group_kind']!r}")
    if sorted(group.get("pids", [])) != sorted(stuck["pids"]):
        errs.append(f"pids {group.get('pids')} != expected {stuck['pids']}")
    if not isinstance(group.get("group_id"), int):
        errs.append(f"group_id missing: {group.get('group_id')!r}")
    if not isinstance(group.get("detected_ts_ns"), int):
        errs.append(f"detected_ts_ns missing: {group.get('detected_ts_ns')!r}")

    members = {m.get("tid"): m for m in group.get("members", [])}
    for w in stuck["waits"]:
        m = members.get(w["tid"])
        if m is None:
            continue  # already reported as missing
        where = f"member {w['tid']}"
        on = m.get("waits_on") or {}
        if m.get("pid") != w["pid"]:
            errs.append(f"{where}: pid {m.get('pid')} != {w['pid']}")
        if m.get("in_cycle") is not w["in_cycle"]:
            errs.append(f"{where}: in_cycle {m.get('in_cycle')!r} != {w['in_cycle']}")
        if on.get("kind") != w["kind"]:
            errs.append(f"{where}: waits_on.kind {on.get('kind')!r} != {w['kind']!r}")
        if on.get("owner_tid") != w["owner_tid"]:
            errs.append(f"{where}: waits_on.owner_tid {on.get('owner_tid')!r} != "
                        f"{w['owner_tid']}")
        if on.get("owner_exited") is not w["owner_exited"]:
            errs.append(f"{where}: waits_on.owner_exited {on.get('owner_exited')!r} != "
                        f"{w['owner_exited']}")
        if on.get("pshared") is not w["pshared"]:
            errs.append(f"{where}: waits_on.pshared {on.get('pshared')!r} != {w['pshared']}")
        if w.get("lock") is not None:
            if hexint(on.get("addr")) != hexint(w["addr"]):
                errs.append(f"{where}: waits_on.addr {on.get('addr')} != {w['lock']} "
                            f"{w['addr']}")
            if "symbol" in w and on.get("symbol") != w["symbol"]:
                errs.append(f"{where}: waits_on.symbol {on.get('symbol')!r} != "
                            f"{w['symbol']!r}")
        if hexint(on.get("futex_addr")) is None:
            errs.append(f"{where}: waits_on.futex_addr missing: {on.get('futex_addr')!r}")
        if check_timing and not (isinstance(m.get("blocked_ns"), int)
                                 and m["blocked_ns"] >= MIN_STUCK_AGE_NS - MS):
            errs.append(f"{where}: blocked_ns {m.get('blocked_ns')!r} < "
                        f"{MIN_STUCK_AGE_NS} (reported before --stuck-after)")
        if not isinstance(m.get("comm"), str) or not m["comm"]:
            errs.append(f"{where}: comm missing: {m.get('comm')!r}")
        if m.get("stack") is None or not isinstance(m.get("stack"), list):
            errs.append(f"{where}: stack is not a list: {m.get('stack')!r}")

    # one edge per member: member -> what it waits for, with that lock
    want_edges = {(w["tid"], w["owner_tid"]) for w in stuck["waits"]}
    got_edges = [(e.get("from_tid"), e.get("to_tid")) for e in group.get("edges", [])]
    if len(got_edges) != len(set(got_edges)) or set(got_edges) != want_edges:
        errs.append(f"edges {sorted(got_edges)} != expected {sorted(want_edges)}")
    for e in group.get("edges", []):
        m = members.get(e.get("from_tid"))
        if not m:
            continue
        on = m.get("waits_on") or {}
        if e.get("kind") != on.get("kind") or hexint(e.get("addr")) != hexint(on.get("addr")):
            errs.append(f"edge {e} disagrees with waits_on {on} of member {e.get('from_tid')}")

    if stuck["group_kind"] == "abandoned":
        if group.get("exited_owner_tid") != stuck["exited_owner_tid"]:
            errs.append(f"exited_owner_tid {group.get('exited_owner_tid')!r} != "
                        f"{stuck['exited_owner_tid']}")
    else:
        if "exited_owner_tid" in group:
            errs.append(f"a deadlock has exited_owner_tid: {group['exited_owner_tid']!r}")
        errs += cycle_errors(group, [w["tid"] for w in stuck["waits"] if w["in_cycle"]])
    return errs


def describe(group):
    return json.dumps(group, indent=None)[:3000]
