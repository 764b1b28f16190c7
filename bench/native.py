#!/usr/bin/env python3
"""What observing native (C, glibc) programs costs them: workload throughput
alone and under each observer, and the observer's own cost.

Run as root from the repository root after `make`:

    sudo python3 bench/native.py --csv OUT.csv [--rounds 5] [--seconds 2] [--only TEXT]

Workloads (bench/workloads/*.c, built with `gcc -O2 -pthread`; each runs
SECONDS and prints {"ops", "ops_per_s"}):

  mutex_contended_2t   `mutex_ops shared 2 S`: 2 threads lock/unlock ONE
                       mutex around a tiny critical section;
  mutex_contended_4t   `mutex_ops shared 4 S`: the same with 4 threads.
                       Most calls take glibc's fast path, the rest go through
                       futex(), which is what tangle traces: on the 2-CPU
                       development VM about 1.2 million futex calls a second
                       (~450k FUTEX_WAIT, nearly all returning at once as the
                       lock word has changed, ~800k FUTEX_WAKE) but only a few
                       hundred actual sleeps ("vcsw" in the workload's output,
                       logged on stderr);
  mutex_uncontended    `mutex_ops private 2 S`: 2 threads, each on ITS OWN
                       mutex: no futex call at all. tangle adds nothing here;
                       a uprobe on pthread_mutex_lock pays its trap on every
                       call, which is what this workload shows;
  pipe_pingpong        `pipe_pingpong S`: two threads bounce a byte over two
                       pipes (ops = round trips): a context-switch storm
                       without futexes, the cost of sched tracepoints;
  thread_churn         `thread_churn S`: create and join one short-lived
                       thread after another (ops = threads created): clone
                       and exit tracepoints and tangle's thread model.

Modes, each run once per round, rounds interleaved (benchlib.interleaved):

  alone            the baseline of the throughput ratios;
  tangle_stream    `tangle stream -v -o /dev/null`, system-wide (benchlib.
                   TangleStream): records go nowhere; "events" and "lost"
                   are the counts it logs at exit (system-wide);
  tangle_top       `tangle top -i 1` drawing in a detached 200x50 tmux
                   (benchlib.TangleTop), as a user leaves it running;
  bpftrace_uprobe  a bpftrace script (BPFTRACE_SCRIPT) doing per call what
                   bcc's `deadlock` tool does: uprobes on pthread_mutex_lock
                   and pthread_mutex_unlock in libc, (tid, mutex) -> time
                   recorded in a hash map on lock and deleted on unlock, and,
                   as deadlock also takes a stack id per lock, a count per
                   user stack (ustack(5)) on lock. The stack costs little
                   next to the uprobe trap itself (measured with bpftrace
                   0.17 on the 2-CPU development VM: about 5% fewer ops on
                   mutex_uncontended with it than without), so it is kept;
                   the sum of its counts is the "events" row (lock calls the
                   probe saw, system-wide). It runs on every workload: on
                   pipe_pingpong, which takes no pthread mutex, it costs
                   nothing; thread_churn takes one (inside glibc) per thread
                   created, and pays for it.

glibc (>= 2.34) has pthread_mutex_lock/unlock in libc.so.6 and the
workloads call them through the PLT, so the uprobes fire on every call; a
short run counting them confirmed it (`mutex_ops private 2 1`: 90,186 ops,
90,189 lock and 90,189 unlock probe hits, the 3 extra from glibc's own
start-up; `mutex_ops shared 2 1`: 34,804 ops, 34,804 hits). The probe is on
the function's code, so calls from inside libc are seen too: thread_churn
showed one per thread created (7,003 for 7,003 threads).

Rows (section "native"): ops_per_s (ops/s) for every run, and the
observer's own cost from Observer.stop() for the same (workload, mode,
round): observer_cpu_s (user + system CPU seconds of the observer process,
start-up included) and observer_rss_kib (its peak RSS, VmHWM); "events" for
bpftrace (see above). The command column holds the observer's command line
and the workload's (its binary named as built, without the temporary
directory).

How to read it: mutex_contended ops/s can *rise* under tracing, doubling
on 2 CPUs: an observer that takes CPU time (tangle stream consuming a
million futex events a second) or slows the futex slow path leaves the
lock's threads running one at a time more often, and a lock that stays on
one CPU is much faster than one bouncing between two (the convoy effect).
On small VMs a busy observer also keeps CPUs out of deep idle, which makes
wake-ups cheaper. A ratio above 1 is not a speed-up by the observer; read
these rows with the observer's CPU. The spread between rounds is several
per cent (more on mutex_uncontended and pipe_pingpong): compare modes
within one run, with all the rounds.

  tangle_lockorder tangle's opt-in lock-order mode on the workload process
                   alone (`tangle lockorder -p PID -o /dev/null`): uprobes on
                   every pthread mutex/rwlock entry point of its libc, placed
                   on the first instruction the kernel emulates (a jcc in
                   pthread_mutex_lock, a jmp in _unlock), the held locks of
                   each thread in task storage, an edge map per order. The
                   workload (MUTEX_OPS_GATE=1) waits until the probes are in;
                   mutex workloads only. The observer's CPU and RSS are its
                   rusage (it exits with the workload);
  tangle_lockorder_entry  the same with --probe-at entry: every probe on the
                   function's first instruction, which the kernel single-steps
                   for pthread_mutex_lock and _unlock (both begin with a mov),
                   as bcc's deadlock and the bpftrace row do.

Derived rows (metric added_ns_per_call, per round, mutex workloads, uprobe
modes): the time each probed call (a lock or an unlock) added, from the
throughput of the same round alone: (1/ops_per_s - 1/ops_per_s alone) / 2 x
the threads that run in parallel (2 for mutex_uncontended, where each thread
has its own mutex; 1 for the contended ones, which are serialized by their
one lock). On mutex_uncontended this is the uprobe's per-call cost.

--only TEXT runs the workloads whose name has TEXT, or the modes whose name
has it ("--only bpftrace" keeps alone as the baseline). A failed run is
printed on stderr and left out; the exit status is 1 only if nothing was
measured. bpftrace is given BPFTRACE_EXIT_S after SIGINT to exit (once, in
a full run on the development VM, it did not within benchlib's 60 s): then
it is killed and the run keeps its figures but has no "events". A default run (5 rounds x 2 s x 5 workloads x 4 modes) takes about
4 1/2 minutes. Env: TANGLE.
"""

import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import benchlib

MODES = ("alone", "tangle_stream", "tangle_top", "bpftrace_uprobe", "tangle_lockorder",
         "tangle_lockorder_entry")
# tangle lockorder watches one process: only the workloads that take pthread mutexes
LOCKORDER_MODES = ("tangle_lockorder", "tangle_lockorder_entry")

# (workload, binary, arguments before SECONDS)
WORKLOADS = (
    ("mutex_contended_2t", "mutex_ops", ["shared", "2"]),
    ("mutex_contended_4t", "mutex_ops", ["shared", "4"]),
    ("mutex_uncontended", "mutex_ops", ["private", "2"]),
    ("pipe_pingpong", "pipe_pingpong", []),
    ("thread_churn", "thread_churn", []),
)

# bcc deadlock's per-call work, in bpftrace: held (tid, mutex) on lock, gone
# on unlock, a stack id per lock. END clears @held so that bpftrace does not
# print the locks other processes hold at exit.
BPFTRACE_SCRIPT = (
    f"uprobe:{benchlib.LIBC}:pthread_mutex_lock {{ @held[tid, arg0] = nsecs; "
    f"@stk[ustack(5)] = count(); }} "
    f"uprobe:{benchlib.LIBC}:pthread_mutex_unlock {{ delete(@held[tid, arg0]); }} "
    f"END {{ clear(@held); }}")
STACK_COUNT_RE = re.compile(rb"^\]: (\d+)$", re.M)  # the end of each @stk entry

BPFTRACE_EXIT_S = 15  # see stop_bpftrace()

UNITS = {"ops_per_s": "ops/s", "observer_cpu_s": "s", "observer_rss_kib": "KiB",
         "events": "events", "lost": "events"}


def log(msg):
    print(f"native.py: {msg}", file=sys.stderr, flush=True)


class TangleLockorder(benchlib.Observer):
    """`tangle lockorder -p PID -o /dev/null [--probe-at entry]` on the gated
    workload PID; ready once it logs "watching pid". It stops by itself when
    the workload exits; stop() reaps it and gives its rusage."""

    def __init__(self, pid, mode):
        super().__init__()
        self.mode = mode
        self.argv = [benchlib.TANGLE, "lockorder", "-p", str(pid), "-o", os.devnull]
        if mode == "tangle_lockorder_entry":
            self.argv += ["--probe-at", "entry"]
        self.log = benchlib._log_file("bench-lockorder-")
        self.p = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self.log)
        self._wait_ready(b"watching pid", 30)

    def command(self):
        return shlex.join([*self.argv[:3], "PID", *self.argv[4:]])

    def stop(self):
        try:
            _, status, ru = os.wait4(self.p.pid, 0)
        except ChildProcessError:
            return {}
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self._close_log()
        if self.p.returncode not in (0, 2):
            raise RuntimeError(f"tangle lockorder failed: {self.log_text[-500:]!r}")
        return {"observer_cpu_s": ru.ru_utime + ru.ru_stime, "observer_rss_kib": ru.ru_maxrss}


def lockorder_run(mode, argv, seconds):
    """A gated workload under tangle lockorder: (result, cost, observer)."""
    env = dict(os.environ, MUTEX_OPS_GATE="1")
    wl = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    obs = None
    try:
        gate = json.loads(wl.stdout.readline())
        obs = TangleLockorder(gate["pid"], mode)
        wl.stdin.write(b"\n")
        wl.stdin.flush()
        out, _ = wl.communicate(timeout=seconds + 60)
        if wl.returncode:
            raise RuntimeError(f"workload exited with {wl.returncode}")
        res = json.loads(out.decode().strip().splitlines()[-1])
        cost = obs.stop()
        return res, cost, obs
    finally:
        if wl.poll() is None:
            wl.kill()
            wl.wait()
        if obs and obs.p.poll() is None:
            obs.p.kill()
            obs.p.wait()


def start_observer(mode):
    """The observer of MODE, ready (or it raised, having cleaned up after itself)."""
    if mode == "tangle_stream":
        return benchlib.TangleStream()
    if mode == "tangle_top":
        return benchlib.TangleTop()
    if mode == "bpftrace_uprobe":
        return benchlib.Bpftrace(BPFTRACE_SCRIPT, mode=mode)
    return benchlib.Alone()


def observer_command(obs):
    """The observer's command line as a user would type it."""
    if isinstance(obs, benchlib.TangleTop):  # the tmux socket name has our pid: left out
        return f"tmux new-session -d -x 200 -y 50 {shlex.quote(obs.command())}"
    return obs.command()


def observer_alive(obs):
    """Whether the observer is still running (Alone always is)."""
    if isinstance(obs, benchlib.TangleTop):
        return os.path.exists(f"/proc/{obs.pid}")
    p = getattr(obs, "p", None)
    return p is None or p.poll() is None


def observer_log(obs):
    """The tail of what the observer printed, if benchlib keeps it."""
    log = getattr(obs, "log", None)
    if log is None:
        return ""
    if log.closed:
        return obs.log_text[-1000:].decode(errors="replace")
    log.seek(0)
    return log.read()[-1000:].decode(errors="replace")


def stop_bpftrace(obs):
    """benchlib.Bpftrace.stop(), except that a bpftrace which has not exited
    BPFTRACE_EXIT_S after SIGINT is killed without losing the run's figures
    (benchlib waits 60 s, then kills it and raises). {"hung": True} is added then."""
    r = obs._cost(obs.p.pid)
    obs.p.send_signal(signal.SIGINT)
    try:
        obs.p.wait(timeout=BPFTRACE_EXIT_S)
    except subprocess.TimeoutExpired:
        log(f"bpftrace did not exit {BPFTRACE_EXIT_S} s after SIGINT (threads waiting in: "
            f"{thread_wchans(obs.p.pid)}; its last output: {observer_log(obs)[-300:]!r}); "
            f"killed")
        obs.p.kill()
        obs.p.wait()
        r["hung"] = True
    obs._close_log()
    return r


def thread_wchans(pid):
    """Where each thread of PID sleeps in the kernel, for a hang report."""
    out = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                out.append(f"{tid}:{f.read() or '-'}")
        except OSError:
            pass
    return " ".join(out)


def stop_observer(obs):
    """obs.stop()'s figures. Whatever happens, the observer is gone afterwards:
    its process killed, its tmux server too."""
    try:
        if isinstance(obs, benchlib.Bpftrace):
            return stop_bpftrace(obs)
        return obs.stop()
    finally:
        p = getattr(obs, "p", None)
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        if isinstance(obs, benchlib.TangleTop):
            kill_tmux(obs.sock)


def kill_tmux(sock):
    """Kill the private tmux server SOCK (if still up) and remove its socket,
    which tmux leaves behind."""
    subprocess.run(["tmux", "-L", sock, "kill-server"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    path = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", sock)
    try:
        os.unlink(path)
    except OSError:
        pass


def bpftrace_events(obs):
    """Lock calls the bpftrace script counted: the sum of its @stk counts."""
    return sum(int(n) for n in STACK_COUNT_RE.findall(obs.log_text))


def run_workload(argv, seconds):
    """The workload's JSON line (its last line of output)."""
    res = subprocess.run(argv, check=True, capture_output=True, timeout=seconds + 60)
    return json.loads(res.stdout.decode().strip().splitlines()[-1])


def one_run(mode, argv, seconds):
    """(workload result, observer figures, command line) of one run."""
    if mode in LOCKORDER_MODES:
        res, cost, obs = lockorder_run(mode, argv, seconds)
        wcmd = shlex.join([os.path.basename(argv[0]), *argv[1:]])
        return res, cost, f"MUTEX_OPS_GATE=1 {wcmd} & {observer_command(obs)}"
    obs = start_observer(mode)
    try:
        res = run_workload(argv, seconds)
        if not observer_alive(obs):
            raise RuntimeError(f"{mode} exited during the run: {observer_log(obs)!r}")
    finally:
        cost = stop_observer(obs)
    if mode == "bpftrace_uprobe" and not cost.pop("hung", False):
        cost["events"] = bpftrace_events(obs)
    wcmd = shlex.join([os.path.basename(argv[0]), *argv[1:]])
    cmd = wcmd if mode == "alone" else f"{observer_command(obs)} & {wcmd}"
    return res, cost, cmd


def measure(out, exes, workloads, modes, rounds, seconds):
    """Run every (round, workload, mode); rows to OUT. Returns
    ({(workload, mode): {metric: [values]}}, failures)."""
    figures, failures = {}, []
    for wl, exe, args in workloads:
        argv = [exes[exe], *args, f"{seconds:g}"]
        per_round = {}
        for rnd, mode in benchlib.interleaved(modes, rounds):
            if mode in LOCKORDER_MODES and exe != "mutex_ops":
                continue
            try:
                res, cost, cmd = one_run(mode, argv, seconds)
            except Exception as e:  # noqa: BLE001 - reported, the others still run
                log(f"{wl} {mode} round {rnd}: FAILED: {e}")
                failures.append(f"{wl} {mode} round {rnd}")
                continue
            got = {"ops_per_s": res["ops_per_s"], **cost}
            per_round[(mode, rnd)] = (res["ops_per_s"], cmd)
            for metric, value in got.items():
                out.row("native", wl, mode, rnd, metric, UNITS.get(metric, ""), value, cmd)
                figures.setdefault((wl, mode), {}).setdefault(metric, []).append(value)
            log(f"{wl} {mode} round {rnd}: {res['ops_per_s']:,.0f} ops/s"
                + "".join(f", {k} {v}" for k, v in cost.items())
                + (f" (voluntary context switches {res['vcsw']})" if "vcsw" in res else ""))
            if mode == "bpftrace_uprobe" and wl.startswith("mutex") and cost.get("events") == 0:
                log(f"{wl} {mode} round {rnd}: the uprobes never fired")
        if exe == "mutex_ops":
            parallel = int(args[1]) if args[0] == "private" else 1
            for (mode, rnd), (ops, cmd) in per_round.items():
                base = per_round.get(("alone", rnd))
                if mode not in ("bpftrace_uprobe", *LOCKORDER_MODES) or not base:
                    continue
                ns = (1 / ops - 1 / base[0]) / 2 * parallel * 1e9
                out.row("native", wl, mode, rnd, "added_ns_per_call", "ns", ns, cmd)
                figures.setdefault((wl, mode), {}).setdefault("added_ns_per_call", []).append(ns)
    return figures, failures


def median(vals):
    return statistics.median(vals) if vals else None


def table(figures, workloads, modes, rounds, seconds):
    """The human summary on stdout: medians over the rounds."""
    print(f"\nnative workloads: median of {rounds} round(s) of {seconds:g} s; kernel "
          f"{os.uname().release}, {os.cpu_count()} CPUs\n")
    print(f"{'workload':<20} {'mode':<16} {'ops/s':>12} {'min..max':>23} {'ratio':>6} "
          f"{'obs CPU s':>9} {'obs RSS MiB':>11} {'events':>10} {'ns/call':>8}")
    for wl, _, _ in workloads:
        base = median(figures.get((wl, "alone"), {}).get("ops_per_s", []))
        for mode in modes:
            f = figures.get((wl, mode))
            if not f:
                print(f"{wl:<20} {mode:<16} {'FAILED':>12}")
                continue
            ops = f["ops_per_s"]
            ratio = f"{median(ops) / base:.3f}" if base else "-"
            cpu = median(f.get("observer_cpu_s", []))
            rss = median(f.get("observer_rss_kib", []))
            ev = median(f.get("events", []))
            per = median(f.get("added_ns_per_call", []))
            print(f"{wl:<20} {mode:<16} {median(ops):>12,.0f} "
                  f"{f'{min(ops):,.0f}..{max(ops):,.0f}':>23} {ratio:>6} "
                  f"{'-' if cpu is None else f'{cpu:.2f}':>9} "
                  f"{'-' if rss is None else f'{rss / 1024:.1f}':>11} "
                  f"{'-' if ev is None else f'{ev:,.0f}':>10} "
                  f"{'-' if per is None else f'{per:,.0f}':>8}")
    print()


def remove_leftovers():
    """tmux leaves its socket behind."""
    kill_tmux(f"bench-top-{os.getpid()}")


def main():
    a = benchlib.arguments(__doc__, 5, 2, "tangle and bpftrace load BPF programs")
    workloads, modes = benchlib.select(a.only, WORKLOADS, MODES, "native.py")
    start = time.monotonic()
    out = benchlib.Csv(a.csv)
    figures, failures = {}, []
    try:
        with tempfile.TemporaryDirectory(prefix="tangle-bench-native-") as tmp:
            exes = {exe: benchlib.build_c(tmp, exe) for exe in sorted({w[1] for w in workloads})}
            figures, failures = measure(out, exes, workloads, modes, a.rounds, a.seconds)
    finally:
        out.close()
        remove_leftovers()
    table(figures, workloads, modes, a.rounds, a.seconds)
    runs = sum(len(f["ops_per_s"]) for f in figures.values())
    return benchlib.finish("native.py", runs, failures, start)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sys.exit(main())
