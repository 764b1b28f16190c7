#!/usr/bin/env python3
"""What observing Go programs costs them, and what watching very many threads
and goroutines costs tangle.

Run as root from the repository root after `make`:

    sudo python3 bench/go.py --csv OUT.csv [--rounds 5] [--seconds 3] [--only TEXT]

Part "go" (section go): two Go workloads (bench/workloads/gopingpong and
goserver, each prints {"ops", "ops_per_s"} after SECONDS), run in interleaved
rounds under three modes:

  alone                 the baseline of the throughput ratios;
  tangle_stream         `tangle stream -v -o /dev/null`, system-wide: tangle's
                        default, which also snapshots the goroutines of every
                        Go process about once a second (process_vm_readv,
                        nothing in the target stops) and runs stuck-goroutine
                        detection;
  bpftrace_casgstatus   a bpftrace uprobe on `runtime.casgstatus` in the
                        workload's binary, counting goroutine state changes
                        per new status: what event-based goroutine tracers do,
                        one probe hit per transition.

go_chan_pingpong bounces a value between two goroutines over unbuffered
channels (ops = round trips): every hop parks one goroutine and readies
another, the worst case for a per-transition probe. go_server is a net/http
server and 200 keep-alive client goroutines in one process, the handler
handing each request to a pool of 32 workers (ops = requests): a
goroutine-heavy program doing something real. Rows: ops_per_s per run, and
the observer's own CPU seconds and peak RSS (VmHWM); for bpftrace, "events"
is the number of casgstatus calls it counted (zero would mean the probe never
fired).

Go passes arguments in registers (rax, rbx, rcx, ...), bpftrace's argN reads
the SysV ones (rdi, rsi, rdx, ...): arg2 would be rdx, not casgstatus's new
status. The script reads reg("cx") instead.

Part "scale" (section scale, `--only scale` runs only this part): tangle's
cost while it watches (a) 100,000 parked goroutines (bench/workloads/gomany
-n 100000) and (b) 10,000 threads blocked on a condition variable
(bench/workloads/many_threads.c). The workload starts first; then `tangle
stream -v -o /dev/null` runs for SCALE_SECONDS (15). Rows: observer_rss_kib
(VmHWM), observer_cpu_s (all of it, attaching included) and
observer_cpu_per_s (CPU seconds per second from "attached" to the end: the
steady cost of watching). Before the threads, the limits that could refuse
10,000 of them are checked (kernel.threads-max, kernel.pid_max, RLIMIT_NPROC,
the pids cgroup, vm.max_map_count); if they do not permit it, that part is
skipped and the reason printed.

--only TEXT runs the parts whose "section workload" has TEXT ("pingpong",
"go_server", "scale", "threads"). Failed runs are printed on stderr and left
out; the exit status is 1 only if nothing was measured. Env: TANGLE, GO.
"""

import argparse
import json
import os
import re
import resource
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import benchlib

MODES = ("alone", "tangle_stream", "bpftrace_casgstatus")
GO_WORKLOADS = (("go_chan_pingpong", "gopingpong"), ("go_server", "goserver"))
SCALE_SECONDS = 15
SCALE_THREADS = 10000
SCALE_GOROUTINES = 100000
COUNT_RE = re.compile(rb"^@\[(\d+)\]: (\d+)$", re.M)


def log(msg):
    print(f"go.py: {msg}", file=sys.stderr, flush=True)


def casgstatus_script(exe):
    return f'uprobe:{exe}:runtime.casgstatus {{ @[reg("cx")] = count(); }}'


def start_observer(mode, exe):
    if mode == "tangle_stream":
        return benchlib.TangleStream()
    if mode == "bpftrace_casgstatus":
        return benchlib.Bpftrace(casgstatus_script(exe), mode=mode)
    return benchlib.Alone()


def stop_observer(obs):
    """obs.stop()'s figures; the observer is killed if stopping fails."""
    try:
        return obs.stop()
    finally:
        p = getattr(obs, "p", None)
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()


def bpftrace_counts(obs):
    """{new status: count} that the casgstatus script printed at exit."""
    return {int(k): int(v) for k, v in COUNT_RE.findall(obs.log_text)}


def run_workload(argv, seconds):
    """The workload's JSON line (its last line of output)."""
    res = subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 120)
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def one_go_run(mode, exe, seconds):
    """(workload result, observer figures, command line) of one run."""
    argv = [exe, "-seconds", f"{seconds:g}"]
    obs = start_observer(mode, exe)  # ready (or it raised, its process killed)
    try:
        res = run_workload(argv, seconds)
    finally:
        cost = stop_observer(obs)
    if mode == "bpftrace_casgstatus":
        res["casgstatus"] = bpftrace_counts(obs)
        cost["events"] = sum(res["casgstatus"].values())
    cmd = shlex.join(argv) if mode == "alone" else f"{obs.command()} & {shlex.join(argv)}"
    return res, cost, cmd


UNITS = {"observer_cpu_s": "s", "observer_rss_kib": "KiB", "events": "events", "lost": "events",
         "observer_cpu_per_s": "CPU s/s"}


def go_part(out, tmp, workloads, rounds, seconds):
    ok = failed = 0
    exes = {wl: benchlib.build_go(tmp, pkg) for wl, pkg in workloads}
    for wl, _ in workloads:
        for rnd, mode in benchlib.interleaved(MODES, rounds):
            try:
                res, cost, cmd = one_go_run(mode, exes[wl], seconds)
            except Exception as e:  # noqa: BLE001 - reported, the others still run
                log(f"{wl} {mode} round {rnd}: FAILED: {e}")
                failed += 1
                continue
            out.row("go", wl, mode, rnd, "ops_per_s", "ops/s", res["ops_per_s"], cmd)
            for metric, value in cost.items():
                out.row("go", wl, mode, rnd, metric, UNITS.get(metric, ""), value, cmd)
            extra = f", errors {res['errors']}" if res.get("errors") else ""
            if "casgstatus" in res:
                extra += f", casgstatus by new status {res['casgstatus']}"
                if not cost.get("events"):
                    log(f"{wl} {mode} round {rnd}: the uprobe never fired")
            log(f"{wl} {mode} round {rnd}: {res['ops_per_s']:.0f} ops/s"
                + "".join(f", {k} {v}" for k, v in cost.items()) + extra)
            ok += 1
    return ok, failed


def read_line(proc, timeout):
    """One line of the workload's stdout, or "" if none came in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline().decode().strip() if ready else ""


def threads_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[17])
    except (OSError, IndexError, ValueError):
        return 0  # gone meanwhile


def thread_limits(n):
    """Why N more threads could not be started here, or None."""
    def sysctl(name):
        with open(f"/proc/sys/{name}") as f:
            return int(f.read())
    tasks = sum(threads_of(p) for p in os.listdir("/proc") if p.isdigit())
    need = tasks + n + 100
    problems = []
    for name in ("kernel/threads-max", "kernel/pid_max"):
        if sysctl(name) < need:
            problems.append(f"{name.replace('/', '.')} = {sysctl(name)} < {need} "
                            f"({tasks} tasks running + {n})")
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if os.geteuid() != 0 and soft != resource.RLIM_INFINITY and soft < need:
        problems.append(f"ulimit -u = {soft} < {need}")
    if sysctl("vm/max_map_count") < 2 * n + 1000:
        problems.append(f"vm.max_map_count = {sysctl('vm/max_map_count')} < {2 * n + 1000} "
                        "(a stack and its guard page per thread)")
    cg = [line.split(":", 2)[2].strip() for line in open("/proc/self/cgroup")
          if line.split(":")[1] in ("pids", "")]
    for path in cg:
        for base in (f"/sys/fs/cgroup/pids{path}", f"/sys/fs/cgroup{path}"):
            try:
                limit = open(os.path.join(base, "pids.max")).read().strip()
            except OSError:
                continue
            if limit != "max" and int(limit) < n + 100:
                problems.append(f"{base}/pids.max = {limit} < {n + 100}")
    return "; ".join(problems) or None


def start_scale_workload(tmp, name):
    """(process, command) of a scale workload, once it has printed "ready"."""
    if name == "threads":
        argv = [benchlib.build_c(tmp, "many_threads"), str(SCALE_THREADS)]
    else:
        argv = [benchlib.build_go(tmp, "gomany"), "-n", str(SCALE_GOROUTINES)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = read_line(proc, 120)
    if line != "ready":
        stop_workload(proc)
        raise RuntimeError(f"{shlex.join(argv)} did not get ready (said {line!r})")
    return proc, shlex.join(argv)


def stop_workload(proc):
    """SIGTERM (many_threads would also end on its stdin closing), SIGKILL if need be."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stdin.close()
    proc.stdout.close()


def one_scale_run(tmp, name, seconds):
    """Observer figures of one `tangle stream` over a started workload."""
    proc, wcmd = start_scale_workload(tmp, name)
    try:
        obs = benchlib.TangleStream()
        try:
            t0, cpu0 = time.monotonic(), benchlib.proc_cpu_s(obs.p.pid)
            time.sleep(seconds)
            t1 = time.monotonic()
        finally:
            cost = stop_observer(obs)
        cost["observer_cpu_per_s"] = (cost["observer_cpu_s"] - cpu0) / (t1 - t0)
        return cost, f"{wcmd} & {obs.command()}  # for {seconds} s"
    finally:
        stop_workload(proc)


def scale_part(out, tmp, only):
    ok = failed = 0
    parts = [("threads", f"threads_{SCALE_THREADS}"),
             ("goroutines", f"goroutines_{SCALE_GOROUTINES}")]
    for name, wl in parts:
        if only not in f"scale {wl}":
            continue
        if name == "threads":
            why = thread_limits(SCALE_THREADS)
            if why:
                log(f"{wl}: SKIPPED, the limits do not permit {SCALE_THREADS} threads: {why}")
                failed += 1
                continue
        try:
            cost, cmd = one_scale_run(tmp, name, SCALE_SECONDS)
        except Exception as e:  # noqa: BLE001
            log(f"{wl}: FAILED: {e}")
            failed += 1
            continue
        for metric, value in cost.items():
            out.row("scale", wl, "tangle_stream", 0, metric, UNITS.get(metric, ""), value, cmd)
        log(f"{wl}: tangle stream peak RSS {cost['observer_rss_kib'] / 1024:.1f} MiB, "
            f"CPU {cost['observer_cpu_s']:.2f} s in {SCALE_SECONDS} s, "
            f"{cost['observer_cpu_per_s']:.3f} CPU s/s after attaching")
        ok += 1
    return ok, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", required=True, help="CSV to append rows to")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3, help="per Go workload run")
    ap.add_argument("--only", default="", help='run the parts whose "section workload" has this')
    a = ap.parse_args()
    start = time.monotonic()
    workloads = [w for w in GO_WORKLOADS if a.only in f"go {w[0]}"]
    out = benchlib.Csv(a.csv)
    ok = failed = 0
    try:
        with tempfile.TemporaryDirectory(prefix="tangle-bench-go-") as tmp:
            if workloads:
                ok, failed = go_part(out, tmp, workloads, a.rounds, a.seconds)
            k, f = scale_part(out, tmp, a.only)
            ok, failed = ok + k, failed + f
    finally:
        out.close()
    log(f"{ok} runs measured, {failed} failed or skipped, {time.monotonic() - start:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sys.exit(main())
