"""`tangle top` on a terminal that stops reading (a stalled ssh link, Ctrl-S,
a tmux pane on a slow connection): the dashboard's writes block, the
collector does not.

The dashboard runs on a pseudo-terminal this test owns and stops reading.
View switches fill the pty until tangle's writes block. Meanwhile a contended
workload makes events (enough to fill a 1 MiB ring buffer in a moment), and
an AB-BA deadlock forms. The collector must go on taking events: no drop is
counted, the recording it writes beside the dashboard grows, and replayed it
holds the deadlock. When the test reads again, the dashboard goes on (Ctrl-L
redraws it whole), shows the deadlocked threads as stuck, and quits on `q`. A second test sends SIGTERM
while the terminal is still stalled: tangle exits anyway and detaches. A
third: what tangle has to say meanwhile goes to the bottom line, then to
stderr once the terminal is restored.
"""

import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from stuck_helpers import read_phase
from tangle_helpers import bpf_ids_held_by, bpf_links, bpf_progs, require_tangle

FIXTURE_TIMEOUT = 90
ROWS, COLS = 60, 200
STALL_S = 4.0  # how long the deadlock and the load go on while nobody reads


def unread(fd):
    """Bytes waiting on the pty master."""
    buf = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
    return struct.unpack("i", buf)[0]


def drain(fd, seconds):
    """Everything the dashboard writes for that long."""
    out, end = bytearray(), time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return bytes(out)


class PtyTop:
    """tangle top on a pty: master kept here, read only when asked."""

    def __init__(self, *args, cols=COLS):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8")
        self.proc = subprocess.Popen([str(require_tangle()), "top", *map(str, args)],
                                     stdin=slave, stdout=slave, stderr=slave, env=env,
                                     start_new_session=True)
        os.close(slave)

    def wait_drawn(self, timeout=30):
        seen, end = b"", time.monotonic() + timeout
        while time.monotonic() < end and b"Threads" not in seen:
            seen += drain(self.master, 0.5)
        assert b"Threads" in seen, f"no dashboard drawn: {seen[-2000:]!r}"
        return seen

    def stall(self, timeout=30):
        """Stop reading and make the dashboard redraw until the pty takes no more."""
        last, still_since, end = -1, None, time.monotonic() + timeout
        keys = b"12341234"
        while time.monotonic() < end:
            os.write(self.master, keys[:1])
            keys = keys[1:] + keys[:1]
            time.sleep(0.1)
            n = unread(self.master)
            if n != last:
                last, still_since = n, time.monotonic()
            elif time.monotonic() - still_since > 1.5:
                return n
        pytest.fail(f"the pty never filled up ({last} bytes unread)")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def pty_top():
    started = []

    def start(*args, **kw):
        t = PtyTop(*args, **kw)
        started.append(t)
        return t

    yield start
    for t in started:
        t.close()


def header_drops(screen):
    """The drops figure of the header, in raw terminal output (after a full redraw)."""
    m = re.findall(rb"drops (?:\x1b\[[0-9;?]*[A-Za-z]|\x1b\([0-9A-Za-z])*(\d+)", screen)
    return int(m[-1]) if m else None


def test_stalled_terminal_does_not_stop_the_collector(fixture_proc, pty_top, tmp_path):
    """The load fills a 1 MiB ring buffer in well under STALL_S if nobody
    consumes it (test_rt_faults.py): no drop means the events were taken.
    The recording tangle writes beside the dashboard grows meanwhile."""
    fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT, "--wait-signal")
    read_phase(fx.read_json, "started")
    rec = tmp_path / "top.tgr"
    top = pty_top("-i", 0.2, "--stuck-after", 1, "--ringbuf-mb", 1, "--record", rec)
    top.wait_drawn()
    full = top.stall()
    size = rec.stat().st_size
    fx.signal(signal.SIGUSR1)
    stuck = read_phase(fx.read_json, "stuck")
    time.sleep(STALL_S)
    assert unread(top.master) == full, "the pty was read meanwhile: not a stall"
    grown = rec.stat().st_size - size
    assert grown > 0, "the recording did not grow while the terminal was stalled"

    # reading again: the dashboard goes on; a full redraw shows no drop, and the
    # Stuck view lists the deadlocked threads
    drain(top.master, 1.0)
    os.write(top.master, b"4\x0c")
    shown = drain(top.master, 3.0)
    assert header_drops(shown) == 0, f"drops after the stall: {shown[-3000:]!r}"
    members = [str(t).encode() for t in stuck["members"]]
    assert all(m in shown for m in members), \
        f"members {stuck['members']} not shown in the Stuck view: {shown[-3000:]!r}"
    os.write(top.master, b"q")
    drain(top.master, 0.5)
    assert top.proc.wait(timeout=10) == 0

    # and what was recorded meanwhile holds the deadlock
    res = subprocess.run([str(require_tangle()), "replay", str(rec), "check", "--json"],
                         capture_output=True, timeout=60)
    groups = [json.loads(line) for line in res.stdout.splitlines()
              if b'"stuck_group"' in line]
    assert any(set(stuck["members"]) <= {m["tid"] for m in g["members"]} for g in groups), \
        f"the recording's replay misses the deadlock: {res.stdout[-2000:]!r}"


def test_sigterm_with_a_stalled_terminal(fixture_proc, pty_top):
    fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    top = pty_top("-i", 0.2)
    top.wait_drawn()
    top.stall()
    progs, links = bpf_ids_held_by(top.proc.pid)
    assert progs and links, "tangle holds no BPF programs or links"
    start = time.monotonic()
    top.proc.send_signal(signal.SIGTERM)
    try:
        top.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("tangle top did not exit on SIGTERM while its terminal was stalled")
    took = time.monotonic() - start
    assert took < 10, took
    assert not (set(bpf_progs()) & progs), "programs left loaded"
    assert not (set(bpf_links()) & links), "links left attached"


@pytest.fixture
def small_fs(tmp_path):
    """A 256 KiB tmpfs: a recording into it fails for want of space once tangle runs."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_messages_while_drawing(fixture_proc, pty_top, small_fs):
    """What tangle has to say while the dashboard owns the terminal (here: the
    recording's file system is full) goes to the bottom line, not over the
    screen or into a terminal that may not read; once the dashboard is gone it
    is printed to stderr, after the terminal is restored."""
    fixture_proc("ok_contention", "--timeout", FIXTURE_TIMEOUT)
    top = pty_top("-i", 0.2, "--record", small_fs / "r.tgr", cols=400)  # room for it all
    shown = top.wait_drawn() + drain(top.master, 6.0)
    msg = b"recording stopped"
    assert msg in shown, f"no message in the bottom line: {shown[-3000:]!r}"
    # drawn by ncurses at a position on the last row, not written raw as a line of its own
    assert b"tangle: writing the recording" in shown
    assert b"No space left on device\n" not in shown, "written over the screen as a line"
    os.write(top.master, b"q")
    after = drain(top.master, 2.0)
    assert top.proc.wait(timeout=10) == 0
    tail = after.split(b"\x1b[?1049l")[-1]  # after the terminal left the alternate screen
    assert msg in tail, f"not printed once the dashboard was gone: {after[-2000:]!r}"
