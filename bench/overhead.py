#!/usr/bin/env python3
"""Overhead of tangle on futex-heavy workloads, and what stacks of waits cost.

Three workloads, each run in interleaved rounds alone and under several ways
of running `tangle stream`:
- pingpong, paced: ping sleeps 200 us before each hand-off, ~6000 waits a
  second: nothing saturates, so the figures are what one wait costs;
- pingpong: two threads hand a token over through a condition variable;
  every hand-off is one blocking futex wait and one wake, so the ratio is
  what tangle adds to a blocking futex call (~50000 waits a second here);
- mutex_bench: THREADS threads hammer one mutex. Its ops/s can *rise* under
  tracing: a slower futex slow path means fewer lock hand-offs between CPUs
  (the convoy effect), so read it for dropped events, not for cost.

Modes: no tangle; `stream` system-wide; `stream -c NAME` (filtered in BPF);
the same with `--stacks` (stacks captured as waits begin, sampled down to
about 1000 unwinds a second); with `--stacks --stack-rate 0` (every wait's
stack captured and unwound: the worst case); and `--folded --stack-rate 0`
(the same capture and unwinding, without writing JSON).

Besides throughput, events and drops, each tangle run reports its own cost,
measured rather than inferred from throughput: the CPU time of the tangle
process, and the run time of its BPF programs (the kernel's BPF run-time
statistics, switched on for the run through BPF_ENABLE_STATS, not the
sysctl) per futex call and per context switch. From these the tables derive
what one captured stack costs in BPF and in tangle. Last, the cost of taking
one stack lazily (`tangle check -v` on a five-thread deadlock).

    sudo python3 bench/overhead.py [--rounds 5] [--seconds 2] [--threads 4] [--only TEXT]
"""
import argparse
import ctypes
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANGLE = os.environ.get("TANGLE", os.path.join(ROOT, "tangle"))
FIXTURES = os.environ.get("TANGLE_FIXTURES", os.path.join(ROOT, ".output", "fixtures"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def enable_bpf_stats():
    """bpf(BPF_ENABLE_STATS, BPF_STATS_RUN_TIME): on while the returned fd is open."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(128)  # union bpf_attr; enable_stats.type = 0
    fd = libc.syscall(321, 32, attr, ctypes.sizeof(attr))  # SYS_bpf, BPF_ENABLE_STATS
    return fd if fd >= 0 else None


def build_workload(tmp, name):
    exe = os.path.join(tmp, name)
    subprocess.run(["gcc", "-O2", "-pthread", os.path.join(ROOT, f"bench/workloads/{name}.c"),
                    "-o", exe], check=True)
    return exe


def run_workload(argv, key):
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)[key]


class Tangle:
    """One `tangle stream` run: its output reduced to the last record by tail(1)."""

    def __init__(self, args, tmp):
        self.summary = os.path.join(tmp, "summary.json")
        self.errlog = os.path.join(tmp, "stderr.txt")
        out, err = open(self.summary, "wb"), open(self.errlog, "wb")
        self.tail = subprocess.Popen(["tail", "-n", "1"], stdin=subprocess.PIPE, stdout=out)
        self.p = subprocess.Popen([TANGLE, "stream", "-v"] + args, stdout=self.tail.stdin,
                                  stderr=err)
        self.tail.stdin.close()
        out.close()
        err.close()
        deadline = time.time() + 20
        while time.time() < deadline:  # -v says "attached" once BPF is in place
            with open(self.errlog, errors="replace") as f:
                if "tangle: attached" in f.read():
                    return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.p.kill()
        raise RuntimeError("tangle did not start: " + open(self.errlog).read()[-2000:])

    def bpf_stats(self):
        """{program name: (run_time_ns, run_cnt)} of the programs this tangle holds."""
        stats = {}
        for fdinfo in glob.glob(f"/proc/{self.p.pid}/fdinfo/*"):
            try:
                text = open(fdinfo).read()
            except OSError:
                continue
            m = re.search(r"^prog_id:\s+(\d+)", text, re.M)
            if not m or "run_time_ns" not in text:
                continue
            name = json.loads(subprocess.run(["bpftool", "prog", "show", "id", m.group(1), "-j"],
                                             capture_output=True, text=True).stdout)["name"]
            rt = int(re.search(r"^run_time_ns:\s+(\d+)", text, re.M).group(1))
            cnt = int(re.search(r"^run_cnt:\s+(\d+)", text, re.M).group(1))
            stats[name] = (rt, cnt)
        return stats

    def cpu_s(self):
        f = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK_TCK  # utime, stime

    def stop(self):
        """Figures of the run: read before SIGINT (the programs go with the process)."""
        r = {"bpf": self.bpf_stats(), "cpu_s": self.cpu_s()}
        self.p.send_signal(2)
        self.p.wait(timeout=60)
        self.tail.wait(timeout=60)
        r["events"] = r["lost"] = None
        with open(self.summary, "rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # --folded writes no records
                    continue
                if rec["type"] == "summary":
                    r["events"], r["lost"] = rec["events"], rec["lost"]
        err = open(self.errlog, errors="replace").read()
        m = re.search(r"stacks captured at wait start: (\d+) \(of about \d+ waits: one in "
                      r"([\d.]+)\), unwound (\d+) \(mean (\d+) us\), (\d+) cut short.*?"
                      r"(\d+) skipped in BPF", err)
        r["captured"], r["every"], r["unwound"], r["unwind_us"], r["cut"], r["skipped"] = (
            tuple(float(x) for x in m.groups()) if m else (0,) * 6)
        if r["lost"] is None:  # --folded warns instead
            r["lost"] = sum(int(n) for n in re.findall(r"the kernel dropped (\d+) events", err))
        return r


def per_call(bpf, names):
    rt = sum(bpf.get(n, (0, 0))[0] for n in names)
    cnt = bpf.get(names[0], (0, 0))[1]
    return rt, cnt


def stack_cost():
    """Microseconds per lazily taken stack, from tangle's own -v log."""
    fx = subprocess.Popen([os.path.join(FIXTURES, "stuck_philosophers"), "--timeout", "20"],
                          stdout=subprocess.PIPE, text=True)
    try:
        for line in fx.stdout:
            if '"phase":"stuck"' in line:
                break
        err = subprocess.run([TANGLE, "check", "-v", "-p", str(fx.pid)], capture_output=True,
                             text=True).stderr
        return [int(m.group(2)) for m in
                re.finditer(r"stack of tid \d+: (\d+) user .* in (\d+) us", err)]
    finally:
        fx.kill()
        fx.wait()


def report(name, unit, modes, res, runs, seconds):
    base = statistics.median(res["baseline"])
    print(f"## {name}\n")
    print(f"| mode | median {unit} | min..max | ratio | events/s | dropped | tangle CPU "
          f"| BPF ns/futex call | BPF ns/switch | stacks/s (mean 1 in N) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cost = {}
    for m in modes:
        med = statistics.median(res[m])
        row = f"| {m} | {med:,.0f} | {min(res[m]):,.0f}..{max(res[m]):,.0f} | {med / base:.2f} |"
        if not runs[m]:
            print(row + " - | - | - | - | - | - |")
            continue
        ev = statistics.median((r["events"] or 0) / seconds for r in runs[m])
        lost = "/".join(str(r["lost"]) for r in runs[m])
        cpu = statistics.median(r["cpu_s"] / seconds for r in runs[m])
        fut = [per_call(r["bpf"], ["tg_futex_enter", "tg_futex_exit"]) for r in runs[m]]
        sw = [per_call(r["bpf"], ["tg_sched_switch"]) for r in runs[m]]
        ns_fut = statistics.median(rt / max(c, 1) for rt, c in fut)
        ns_sw = statistics.median(rt / max(c, 1) for rt, c in sw)
        caps = statistics.median(r["captured"] / seconds for r in runs[m])
        every = statistics.median(r["every"] for r in runs[m])
        stk = f"{caps:,.0f} (1 in {every:.1f})" if caps else "-"
        print(row + f" {ev:,.0f} | {lost} | {cpu * 100:.0f}% | {ns_fut:,.0f} | {ns_sw:,.0f} "
              f"| {stk} |")
        cost[m] = {"runs": runs[m], "fut": fut, "sw": sw}
    print()
    return cost


def capture_cost(cost, plain, stacked, seconds):
    """What one captured stack costs: BPF time and tangle CPU beyond the plain mode, per stack."""
    if plain not in cost or stacked not in cost:
        return None
    p, s = cost[plain], cost[stacked]
    caps = int(sum(r["captured"] for r in s["runs"]))
    if not caps:
        return None
    # the plain mode's ns per call, applied to the calls of the stacked runs
    ns_fut = sum(rt for rt, _ in p["fut"]) / max(sum(c for _, c in p["fut"]), 1)
    ns_sw = sum(rt for rt, _ in p["sw"]) / max(sum(c for _, c in p["sw"]), 1)
    extra_bpf = sum(rt - ns_fut * c for rt, c in s["fut"]) + \
        sum(rt - ns_sw * c for rt, c in s["sw"])
    cpu_p = statistics.median(r["cpu_s"] / seconds for r in p["runs"])
    extra_cpu = sum(r["cpu_s"] - cpu_p * seconds for r in s["runs"])
    unwind = statistics.median(r["unwind_us"] for r in s["runs"])
    skipped = int(sum(r["skipped"] for r in s["runs"]))
    return extra_bpf / caps / 1000, extra_cpu / caps * 1e6, unwind, caps, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--only", default="", help="run the workloads whose title has this text")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("overhead: run as root (tangle loads BPF programs)")
    stats_fd = enable_bpf_stats()
    if stats_fd is None:
        print("(BPF run-time statistics unavailable: BPF columns are 0)\n")
    with tempfile.TemporaryDirectory() as tmp:
        pingpong = build_workload(tmp, "pingpong")
        workloads = [
            # paced: few enough waits that nothing saturates, for the cost of one wait
            ("pingpong", "pingpong, paced (200 us pause per round trip)",
             [pingpong, str(a.seconds), "200"], "round_trips_per_s", "round trips/s"),
            ("pingpong", "pingpong", [pingpong, str(a.seconds)], "round_trips_per_s",
             "round trips/s"),
            ("mutex_bench", "mutex_bench",
             [build_workload(tmp, "mutex_bench"), str(a.threads), str(a.seconds)],
             "ops_per_s", "ops/s"),
        ]
        print(f"# tangle overhead, {a.rounds} interleaved rounds of {a.seconds} s\n")
        print(f"kernel {os.uname().release}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} before\n")
        for name, title, argv, key, unit in workloads:
            if a.only not in title:
                continue
            c = ["-c", name]
            modes = {"baseline": None, "stream (system-wide)": [],
                     f"stream -c {name}": c,
                     f"stream -c {name} --stacks": c + ["--stacks"],
                     f"stream -c {name} --stacks --stack-rate 0": c + ["--stacks",
                                                                      "--stack-rate", "0"],
                     f"stream -c {name} --folded --stack-rate 0": c + ["--folded",
                                                                      "--stack-rate", "0"]}
            res = {m: [] for m in modes}
            runs = {m: [] for m in modes}
            for _ in range(a.rounds):
                for m, args in modes.items():  # interleaved: drift hits every mode alike
                    if args is None:
                        res[m].append(run_workload(argv, key))
                        continue
                    t = Tangle(args, tmp)
                    res[m].append(run_workload(argv, key))
                    runs[m].append(t.stop())
            cost = report(title, unit, modes, res, runs, a.seconds)
            for stacked in (f"stream -c {name} --stacks",
                            f"stream -c {name} --stacks --stack-rate 0",
                            f"stream -c {name} --folded --stack-rate 0"):
                cc = capture_cost(cost, f"stream -c {name}", stacked, a.seconds)
                if cc:
                    print(f"- `{stacked[len('stream -c ' + name) + 1:]}`: {cc[3]:,} stacks "
                          f"captured ({cc[4]:,} skipped, ring buffer busy); per captured "
                          f"stack {cc[0]:.2f} us of BPF time and {cc[1]:.0f} us of tangle "
                          f"CPU (unwinding alone: {cc[2]:.0f} us)")
            print(f"\n(load average after: {os.getloadavg()[0]:.1f}; more than the workload's "
                  f"threads means something else ran too)\n")
    if stats_fd is not None:
        os.close(stats_fd)
    print("Columns: events/s and dropped (per run) from tangle's summary; tangle CPU is the\n"
          "collector's user+system time over the run's length; BPF ns are the kernel's\n"
          "run-time statistics of tangle's programs (futex enter+exit per futex call, and\n"
          "sched_switch per context switch of any task; run time includes preemption, so it\n"
          "grows with the load). A ratio above 1 means the workload ran faster with tangle\n"
          "attached: on small VMs a busy collector keeps CPUs out of deep idle, so wake-ups\n"
          "get cheaper, and a slower futex slow path changes lock hand-offs. Compare modes\n"
          "within one run, and read `dropped` as the hard limit. The cost per captured stack\n"
          "is the difference to `stream -c` spread over the captured stacks: sound when most\n"
          "waits are captured (--stack-rate 0, the paced workload); when few are, the noise of\n"
          "the difference dominates it. Skipped captures: BPF left them out while the ring\n"
          "buffer was over a quarter full (the collector lagging), which keeps events from\n"
          "being dropped.\n")
    costs = stack_cost() if not a.only else None
    if costs:
        print(f"lazy stack capture (task iterator + DWARF unwind), {len(costs)} stacks: "
              f"median {statistics.median(costs)} us, max {max(costs)} us")
    else:
        print("lazy stack capture: no figures (tangle check -v printed none)")


if __name__ == "__main__":
    main()
