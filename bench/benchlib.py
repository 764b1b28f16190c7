"""What every benchmark of `make bench` shares: paths, building workloads,
the observers a workload runs under (tangle stream, tangle top headless in
tmux, a bpftrace script), the cost of an observer process, interleaved
rounds, and one CSV format that bench/report.py turns into
docs/BENCHMARKS.md.

CSV columns (one row per measured figure):
  section   which benchmark ("native", "go", "snapshot", "pipeline", ...)
  workload  what ran ("mutex_contended_2t", "go_chan_pingpong", ...)
  mode      how it was observed ("alone", "tangle_stream", "tangle_top",
            "bpftrace_uprobe", ...); "alone" is the baseline of ratios
  round     0, 1, ... (modes interleaved within a round)
  metric    "ops_per_s", "observer_cpu_s", "observer_rss_kib", "events",
            "lost", "ms", ...
  unit      a display unit ("ops/s", "s", "KiB", "ms", "events/s", ...)
  value     a number
  command   the command line that produced the figure (for the report)
"""

import argparse
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANGLE = os.environ.get("TANGLE", os.path.join(ROOT, "tangle"))
FIXTURES = os.environ.get("TANGLE_FIXTURES", os.path.join(ROOT, ".output", "fixtures"))
GO = os.environ.get("GO", "go")
CLK_TCK = os.sysconf("SC_CLK_TCK")
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
FIELDS = ("section", "workload", "mode", "round", "metric", "unit", "value", "command")


def build_c(tmp, name, *extra):
    """bench/workloads/NAME.c -> TMP/NAME (gcc -O2 -pthread)."""
    exe = os.path.join(tmp, name)
    subprocess.run(["gcc", "-O2", "-pthread", os.path.join(ROOT, f"bench/workloads/{name}.c"),
                    "-o", exe, *extra], check=True)
    return exe


def build_go(tmp, name):
    """bench/workloads/NAME (a Go module without dependencies) -> TMP/NAME."""
    exe = os.path.join(tmp, name)
    env = dict(os.environ, GOFLAGS="-buildvcs=false", GOPROXY="off", GOWORK="off",
               CGO_ENABLED="0")
    subprocess.run([GO, "build", "-o", exe, "."], cwd=os.path.join(ROOT, "bench/workloads", name),
                   check=True, env=env)
    return exe


def proc_cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def proc_rss_kib(pid):
    """Peak resident set (VmHWM) of a process, KiB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Observer:
    """A process watching the workload. Subclasses start it in __init__ (ready
    when __init__ returns) and may add figures in stop()."""

    mode = "alone"
    argv = ()

    def __init__(self):
        self.p = None

    def command(self):
        return shlex.join(self.argv) if self.argv else ""

    def stop(self):
        """Stop it; {metric: value} of its own cost (empty for "alone")."""
        return {}

    def _cost(self, pid):
        return {"observer_cpu_s": proc_cpu_s(pid), "observer_rss_kib": proc_rss_kib(pid)}

    def _wait_ready(self, marker, timeout):
        """Until self.p has logged MARKER; if it exits or TIMEOUT s pass
        first, it is killed and RuntimeError raised with its last words."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.log.seek(0)
            if marker in self.log.read():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        self.p.kill()
        self.p.wait()
        self._close_log()
        raise RuntimeError(f"{self.command()} did not start: {self.log_text[-2000:]!r}")

    def _close_log(self):
        """Close (and so remove) the observer's log; its name stays readable
        as self.log_text."""
        log = getattr(self, "log", None)
        if log and not log.closed:
            log.seek(0)
            self.log_text = log.read()
            log.close()


def _log_file(prefix):
    """A temporary file for an observer's output, removed when closed."""
    return tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log", dir="/tmp")


def _interrupt(p, timeout=60):
    """SIGINT, as Ctrl-C; SIGKILL if P has not exited TIMEOUT s later."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise


class Alone(Observer):
    pass


class TangleStream(Observer):
    """`tangle stream -v ARGS -o OUT`: ready once it logs "attached". stop()
    adds the events and lost counts it logs at exit (or, failing that, of the
    summary record in OUT)."""

    mode = "tangle_stream"

    def __init__(self, *args, out=os.devnull, mode=None):
        super().__init__()
        if mode:
            self.mode = mode
        self.out = out
        self.argv = [TANGLE, "stream", "-v", *map(str, args), "-o", out]
        self.err = self.log = _log_file("bench-tangle-")
        self.p = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=self.err)
        self._wait_ready(b"tangle: attached", 30)

    def stop(self):
        r = self._cost(self.p.pid)
        _interrupt(self.p)
        self._close_log()
        m = re.search(rb"tangle: (\d+) events, (\d+) lost", self.log_text)
        if m:  # -v's last line, also with -o /dev/null
            r["events"], r["lost"] = int(m[1]), int(m[2])
        elif self.out != os.devnull:
            with open(self.out, "rb") as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    if rec.get("type") == "summary":
                        r["events"], r["lost"] = rec["events"], rec["lost"]
        return r


class TangleTop(Observer):
    """`tangle top` drawing in a private, detached tmux server (200x50), as a
    user leaves it running; ready once the dashboard has drawn its header."""

    mode = "tangle_top"

    def __init__(self, *args, interval=1):
        super().__init__()
        self.sock = f"bench-top-{os.getpid()}"
        self.argv = [TANGLE, "top", "-i", str(interval), *map(str, args)]
        subprocess.run(["tmux", "-L", self.sock, "new-session", "-d", "-x", "200", "-y", "50",
                        shlex.join(self.argv)], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            screen = subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p"],
                                    capture_output=True, text=True).stdout
            if "Processes" in screen and "Threads" in screen:
                pid = subprocess.run(["tmux", "-L", self.sock, "list-panes", "-F",
                                      "#{pane_pid}"], capture_output=True, text=True).stdout
                self.pid = int(pid.split()[0])
                return
            time.sleep(0.1)
        subprocess.run(["tmux", "-L", self.sock, "kill-server"])
        raise RuntimeError(f"tangle top did not draw:\n{screen}")

    def stop(self):
        r = self._cost(self.pid)
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "q"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{self.pid}"):
            time.sleep(0.05)
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], stderr=subprocess.DEVNULL)
        return r


class Bpftrace(Observer):
    """`bpftrace -e SCRIPT`: ready once it prints "Attaching N probes"."""

    mode = "bpftrace"

    def __init__(self, script, mode=None):
        super().__init__()
        if mode:
            self.mode = mode
        self.argv = ["bpftrace", "-e", script]
        self.out = self.log = _log_file("bench-bpftrace-")
        self.p = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.STDOUT)
        self._wait_ready(b"Attaching", 60)
        time.sleep(0.2)  # the probes go in after the message

    def stop(self):
        r = self._cost(self.p.pid)
        _interrupt(self.p)
        self._close_log()
        return r


class Csv:
    """Rows appended to PATH (header written when the file is new)."""

    def __init__(self, path):
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.f = open(path, "a", newline="")
        self.w = csv.writer(self.f)
        if new:
            self.w.writerow(FIELDS)

    def row(self, section, workload, mode, rnd, metric, unit, value, command=""):
        self.w.writerow((section, workload, mode, rnd, metric, unit, value, command))
        self.f.flush()

    def close(self):
        self.f.close()


def arguments(doc, rounds, seconds, root_for):
    """The options every benchmark takes (--csv, --rounds, --seconds, --only);
    exits unless root, saying what for."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--csv", required=True, help="CSV to append rows to")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--seconds", type=float, default=seconds, help="per workload run")
    ap.add_argument("--only", default="", help="run the workloads (or modes) with this text")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit(f"{ap.prog}: run as root ({root_for})")
    return a


def select(only, workloads, modes, prog):
    """(workloads, modes) that --only ONLY keeps: the workloads whose name
    (first field) has it, or, if none does, every workload under the modes
    that have it, "alone" kept as the baseline."""
    chosen = [w for w in workloads if only in w[0]]
    if chosen:
        return chosen, list(modes)
    modes = [m for m in modes if m == "alone" or only in m]
    if len(modes) == 1:
        sys.exit(f"{prog}: no workload or mode has {only!r}")
    return list(workloads), modes


def finish(prog, runs, failures, start):
    """The closing lines on stderr; the exit status (1 if nothing was measured)."""
    print(f"{prog}: {runs} runs measured, {len(failures)} failed, "
          f"{time.monotonic() - start:.0f} s", file=sys.stderr)
    if failures:
        print(f"{prog}: FAILED: " + "; ".join(failures), file=sys.stderr)
    return 0 if runs else 1


def interleaved(modes, rounds):
    """(round, mode) pairs: every mode once per round, the order rotated each
    round so that no mode always runs first (drift and warm-up spread out)."""
    modes = list(modes)
    for r in range(rounds):
        k = r % len(modes)
        for m in modes[k:] + modes[:k]:
            yield r, m
