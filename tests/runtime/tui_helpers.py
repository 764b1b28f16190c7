"""Helpers of the dashboard tests (test_rt_tui.py): run `tangle top` inside a
private tmux server, type keys into it, and read its screen back as text and
as per-cell attributes.

tmux is the terminal: `capture-pane -p -e` returns what a user would see,
with attributes as SGR sequences that tmux itself generates. Anything a
watched program smuggles into a thread name is interpreted by tmux, so on
screen it can only show up as changed attributes, a changed pane title, a
bell, or a scrambled layout; `pipe-pane` also keeps every raw byte tangle
wrote, for checks on the stream itself (escape bytes, modes left set).

Nothing here sleeps-and-hopes: every wait polls the screen with a deadline
and fails with the last capture.
"""

import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unicodedata
from dataclasses import dataclass, replace

import pytest

from tangle_helpers import require_tangle

# One tmux server per pytest process; each Top is one session in it.
SOCKET = f"tangle-test-{os.getpid()}"
_session_ids = itertools.count(1)

START_TIMEOUT = 30.0  # BPF load and attach on a busy machine
SCREEN_TIMEOUT = 10.0  # anything the dashboard must show once it runs
EXIT_TIMEOUT = 10.0
POLL_S = 0.05

# The column tables of src/tui/table.c: (title, width, right-aligned); width 0
# takes the rest of the line. Screen.rows() checks the title row against them,
# so a layout change fails loudly instead of misreading cells.
COLUMNS = {
    "processes": (("PID", 8, True), ("COMM", 16, False), ("THR", 5, True), ("RUN", 4, True),
                  ("RDY", 4, True), ("BLK", 4, True), ("BLK%", 6, True), ("LONGEST", 9, True),
                  ("STUCK", 6, True), ("GOR", 7, True)),
    "threads": (("TID", 8, True), ("PID", 8, True), ("COMM", 16, False), ("STATE", 6, False),
                ("WAITING", 9, True), ("KIND", 7, False), ("OWNER", 8, True),
                ("STUCK", 6, False), ("WAITS ON", 0, False)),
    "locks": (("PID", 8, True), ("KIND", 7, False), ("OWNER", 8, True), ("WAITERS", 8, True),
              ("CONT/S", 8, True), ("WAITS", 8, True), ("TOTAL", 9, True), ("MAX", 9, True),
              ("LOCK", 0, False)),
    "stuck": (("GROUP", 6, True), ("KIND", 10, False), ("AGE", 9, True), ("N", 4, True),
              ("WAIT-FOR CHAIN", 0, False)),
    "goroutines": (("PID", 8, True), ("COMM", 16, False), ("COUNT", 6, True), ("GOID", 8, True),
                   ("STATE", 22, False), ("WAITING", 9, True), ("WHERE", 0, False)),
}
VIEW_KEYS = {"processes": "1", "threads": "2", "locks": "3", "stuck": "4", "goroutines": "5"}
EMPTY_TEXTS = ("Nothing to show.", "No stuck threads.", "No Go programs seen yet.",
               "Goroutines are not read (--no-goroutines).")
DETAIL_TITLE = "Detail (Enter closes)"


def require_tmux():
    path = shutil.which("tmux")
    if not path:
        pytest.fail("tmux not found: the dashboard tests drive tangle top in tmux "
                    "(apt-get install tmux)")
    return path


def _clean_env():
    """os.environ without LINES/COLUMNS.

    GNU readline (imported by pytest) exports LINES=24 COLUMNS=80 into the C
    environment, which subprocesses inherit; curses prefers those to the real
    window size, so the tmux server and the pane must not see them.
    """
    return {k: v for k, v in os.environ.items() if k not in ("LINES", "COLUMNS")}


def tmux(*args, check=True, timeout=10):
    """Run a tmux command against the private server; returns its stdout."""
    argv = ["tmux", "-L", SOCKET, "-f", "/dev/null", *map(str, args)]
    p = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout,
                       env=_clean_env())
    if check and p.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def kill_server():
    """Kill the private server and remove its socket (tmux leaves it behind)."""
    tmux("kill-server", check=False)
    path = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", SOCKET)
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------
# Display width: what a terminal column holds


def char_width(ch):
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text):
    return sum(char_width(c) for c in text)


def cut(text, start, width=None):
    """The characters of text in display columns [start, start + width)."""
    out, col = [], 0
    end = None if width is None else start + width
    for ch in text:
        w = char_width(ch)
        if col >= start and (end is None or col + w <= end):
            out.append(ch)
        col += w
        if end is not None and col >= end:
            break
    return "".join(out)


def parse_duration(text):
    """Seconds of a snap_duration() text: 12us, 340ms, 1.5s, 2m05s, 1h02m (None if not one)."""
    m = re.fullmatch(r"(\d+)us|(\d+)ms|(\d+\.\d)s|(\d+)m(\d\d)s|(\d+)h(\d\d)m", text)
    if not m:
        return None
    us, ms, s, mins, msecs, hours, hmins = m.groups()
    if us:
        return int(us) / 1e6
    if ms:
        return int(ms) / 1e3
    if s:
        return float(s)
    if mins:
        return int(mins) * 60 + int(msecs)
    return int(hours) * 3600 + int(hmins) * 60


# --------------------------------------------------------------------------
# SGR: the attributes tmux reports for every cell


@dataclass(frozen=True)
class Attr:
    fg: object = None  # None: default; int: palette index; tuple: RGB
    bg: object = None
    bold: bool = False
    dim: bool = False
    underline: bool = False
    reverse: bool = False


REDS = {1, 9, 52, 88, 124, 160, 196}


def is_red(colour):
    if isinstance(colour, tuple):
        r, g, b = colour
        return r >= 128 and g < 80 and b < 80
    return colour in REDS


def _colour(params, i):
    """Parse 38/48 extended colours at params[i]; returns (colour, next index)."""
    if i + 1 < len(params) and params[i + 1] == 5 and i + 2 < len(params):
        return params[i + 2], i + 3
    if i + 1 < len(params) and params[i + 1] == 2 and i + 4 < len(params):
        return tuple(params[i + 2:i + 5]), i + 5
    return None, len(params)


def _apply_sgr(attr, params):
    if not params:
        params = [0]
    i = 0
    while i < len(params):
        p = params[i]
        i += 1
        if p == 0:
            attr = Attr()
        elif p == 1:
            attr = replace(attr, bold=True)
        elif p == 2:
            attr = replace(attr, dim=True)
        elif p == 4:
            attr = replace(attr, underline=True)
        elif p == 7:
            attr = replace(attr, reverse=True)
        elif p == 22:
            attr = replace(attr, bold=False, dim=False)
        elif p == 24:
            attr = replace(attr, underline=False)
        elif p == 27:
            attr = replace(attr, reverse=False)
        elif 30 <= p <= 37:
            attr = replace(attr, fg=p - 30)
        elif 90 <= p <= 97:
            attr = replace(attr, fg=p - 90 + 8)
        elif p == 39:
            attr = replace(attr, fg=None)
        elif 40 <= p <= 47:
            attr = replace(attr, bg=p - 40)
        elif 100 <= p <= 107:
            attr = replace(attr, bg=p - 100 + 8)
        elif p == 49:
            attr = replace(attr, bg=None)
        elif p in (38, 48):
            colour, i = _colour(params, i - 1)
            attr = replace(attr, **{"fg" if p == 38 else "bg": colour})
    return attr


def parse_capture(raw):
    """Split `capture-pane -p -e` output into lines of (char, Attr) cells.

    Returns (lines, foreign): foreign lists every escape sequence that is not
    an SGR (tmux never emits one: its presence means something got through).
    """
    lines, cur, foreign = [], [], []
    attr = Attr()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\x1b":
            if i + 1 < len(raw) and raw[i + 1] == "[":
                j = i + 2
                while j < len(raw) and not ("\x40" <= raw[j] <= "\x7e"):
                    j += 1
                seq = raw[i:j + 1]
                if j < len(raw) and raw[j] == "m":
                    body = raw[i + 2:j].replace(":", ";")
                    try:
                        params = [int(x) if x else 0 for x in body.split(";")] if body else []
                    except ValueError:
                        foreign.append(seq)
                        params = None
                    if params is not None:
                        attr = _apply_sgr(attr, params)
                else:
                    foreign.append(seq)
                i = j + 1
                continue
            foreign.append(raw[i:i + 2])
            i += 2
            continue
        if ch == "\n":
            lines.append(cur)
            cur = []
        else:
            if ch < " " or ch == "\x7f" or "\x80" <= ch <= "\x9f":
                foreign.append(ch)
            cur.append((ch, attr))
        i += 1
    if cur:
        lines.append(cur)
    return lines, foreign


# --------------------------------------------------------------------------
# One captured screen of the dashboard


class Screen:
    """A capture of the pane: text lines, cell attributes, and the dashboard's parts."""

    def __init__(self, raw, height, width):
        self.raw = raw
        self.width = width
        cells, self.foreign = parse_capture(raw)
        cells += [[] for _ in range(height - len(cells))]
        self.cells = cells[:height]
        self.lines = ["".join(c for c, _ in line).rstrip() for line in self.cells]

    def __str__(self):
        return "\n".join(f"{n + 1:2d}|{line}" for n, line in enumerate(self.lines))

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def header(self):
        return self.lines[0]

    @property
    def summary(self):
        return self.lines[1]

    @property
    def tabs(self):
        return self.lines[2]

    @property
    def titles(self):
        return self.lines[3]

    @property
    def footer(self):
        return self.lines[-1]

    def uptime(self):
        """The header's "up" figure in seconds (None when there is no header)."""
        m = re.search(r" up (\S+)", self.header)
        return parse_duration(m.group(1)) if m else None

    def is_dashboard(self):
        return (self.header.startswith("tangle ") and self.summary.startswith("Threads ")
                and " 1 Processes" in self.tabs and "Quit" in self.footer)

    @property
    def view(self):
        """Which view the column titles belong to, or None."""
        for name, cols in COLUMNS.items():
            if self._title_errors(cols) == []:
                return name
        return None

    def _columns(self, cols):
        """(title, start, width or None) of every column, as table.c lays them out."""
        out, x = [], 0
        for title, width, _right in cols:
            out.append((title, x, width or None))
            x += width + 1
        return out

    def _title_errors(self, cols):
        errs = []
        for title, start, width in self._columns(cols):
            got = cut(self.titles, start, width).strip()
            if got == title or (got[:-1] == title and got[-1:] in ("^", "v")):
                continue
            # a column the screen's right edge cuts shows the start of its title, or nothing
            clipped = width is None or start + width > self.width
            got = got[:-1] if clipped and got.endswith("\u2026") else got
            if clipped and any(t.startswith(got) for t in (title, title + "^", title + "v")):
                continue
            errs.append(f"{title!r} expected at column {start}, found {got!r}")
        return errs

    def sorted_column(self):
        """(title, '^' or 'v') of the column the view is sorted by, or None."""
        view = self.view
        if not view:
            return None
        for title, start, width in self._columns(COLUMNS[view]):
            got = cut(self.titles, start, width).strip()
            if got != title and got[:-1] == title and got[-1] in "^v":
                return title, got[-1]
        return None

    def table_lines(self):
        """Indexes of the lines holding table rows (below the titles, above detail/footer)."""
        out = []
        for n in range(4, len(self.lines) - 1):
            line = self.lines[n]
            if line.strip() == DETAIL_TITLE:
                break
            if not line.strip() or line.strip() in EMPTY_TEXTS:
                continue
            out.append(n)
        return out

    def rows(self, view=None):
        """The table rows as dicts {column title: cell text}; checks the title row."""
        view = view or self.view
        if view is None:
            raise AssertionError(f"no known column title row on line 4:\n{self}")
        cols = COLUMNS[view]
        errs = self._title_errors(cols)
        if errs:
            raise AssertionError(f"column titles of the {view} view are not where "
                                 f"src/tui/table.c puts them: {errs}\n{self}")
        out = []
        for n in self.table_lines():
            row = {title: cut(self.lines[n], start, width).strip()
                   for title, start, width in self._columns(cols)}
            row["_line"] = n
            out.append(row)
        return out

    def row_cells(self, n):
        return self.cells[n]

    def selected_lines(self):
        """Table lines drawn highlighted: a background colour or reverse video at column 0."""
        out = []
        for n in self.table_lines():
            cells = self.cells[n]
            if cells and (cells[0][1].bg is not None or cells[0][1].reverse):
                out.append(n)
        return out

    def detail(self):
        """Lines of the detail pane (without its title), or None when it is closed."""
        for n, line in enumerate(self.lines):
            if line.strip() == DETAIL_TITLE:
                return [x.strip() for x in self.lines[n + 1:-1] if x.strip()]
        return None


# --------------------------------------------------------------------------
# tangle top in a tmux session


class Top:
    """`tangle top ARGS` in its own tmux session (width x height), kept after it exits;
    env: more environment variables for it ({name: value})."""

    def __init__(self, args, width=120, height=40, command=None, env=None):
        require_tmux()
        self.args = [str(a) for a in args]
        self.width, self.height = width, height
        self.name = f"top{next(_session_ids)}"
        if command is None:
            command = " ".join(shlex.quote(x) for x in
                               [str(require_tangle()), "top", *self.args])
        extra = "".join(f"{k}={shlex.quote(str(v))} " for k, v in (env or {}).items())
        self.command = (f"env -u LINES -u COLUMNS TERM=xterm-256color LC_ALL=C.UTF-8 "
                        f"{extra}{command}")
        self.started_at = None
        self.last = None
        fd, self.out_path = tempfile.mkstemp(prefix=f"{SOCKET}-{self.name}-", suffix=".out")
        os.close(fd)
        # The pane starts with a placeholder, so that everything is in place
        # before tangle writes its first byte: then tangle replaces it.
        tmux("new-session", "-d", "-s", self.name, "-x", width, "-y", height,
             "exec sleep 86400")
        # keep the pane (and its exit status) after tangle exits
        tmux("set-option", "-w", "-t", self.name, "remain-on-exit", "on")
        # every byte tangle writes to its terminal, for checks on the raw stream
        tmux("pipe-pane", "-t", self.name, "-o", f"cat > {shlex.quote(self.out_path)}")
        self.initial_title = self.display("#{pane_title}")
        self.server_pid = int(self.display("#{pid}"))
        tmux("respawn-pane", "-k", "-t", self.name, self.command)

    def describe(self):
        shown = str(self.last) if self.last is not None else "(no capture)"
        return (f"`{self.command}` in tmux session {self.name} "
                f"({self.width}x{self.height}, socket {SOCKET})\nlast screen:\n{shown}")

    def display(self, fmt):
        return tmux("display-message", "-p", "-t", self.name, fmt).rstrip("\n")

    def keys(self, *keys):
        """send-keys with tmux key names (Enter, BSpace, F10, ...)."""
        tmux("send-keys", "-t", self.name, *keys)

    def type(self, text):
        """Type text literally."""
        tmux("send-keys", "-t", self.name, "-l", text)

    def capture(self):
        width, height = map(int, self.display("#{pane_width} #{pane_height}").split())
        raw = tmux("capture-pane", "-p", "-e", "-t", self.name)
        self.last = Screen(raw, height, width)
        return self.last

    def dead(self):
        return self.display("#{pane_dead}") == "1"

    def wait(self, pred, timeout=SCREEN_TIMEOUT, what="the expected screen"):
        """Poll the screen until pred(screen) is truthy; returns that value.

        Fails with the last screen on timeout, or at once if tangle exited.
        """
        deadline = time.monotonic() + timeout
        while True:
            scr = self.capture()
            try:
                value = pred(scr)
            except (AssertionError, KeyError, IndexError, ValueError):
                value = None
            if value:
                return value
            if self.dead():
                pytest.fail(f"tangle top exited (status {self.display('#{pane_dead_status}')}) "
                            f"while waiting for {what}\n{self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.1f}s waiting for {what}\n"
                            f"{self.describe()}")
            time.sleep(POLL_S)

    def wait_text(self, text, timeout=SCREEN_TIMEOUT):
        return self.wait(lambda s: s if text in s.text else None, timeout, repr(text))

    def wait_started(self, timeout=START_TIMEOUT):
        """Wait for the first full dashboard (BPF attached, curses up)."""
        scr = self.wait(lambda s: s if s.is_dashboard() else None, timeout,
                        "the dashboard to appear")
        self.started_at = time.monotonic()
        return scr

    def view(self, name, timeout=SCREEN_TIMEOUT):
        """Switch to a view by its number key and wait for its column titles."""
        self.keys(VIEW_KEYS[name])
        return self.wait(lambda s: s if s.view == name else None, timeout,
                         f"the {name} view")

    def exit_status(self):
        """(status, signal) of the pane's process once tmux has reaped it, else None.

        pane_dead turns on at the pty's EOF, which can come before the reap.
        """
        status, sig = self.display("#{pane_dead_status}|#{pane_dead_signal}").split("|")
        if not status and not sig:
            return None
        return (int(status) if status else None, int(sig) if sig else None)

    def wait_dead(self, timeout=EXIT_TIMEOUT):
        """Wait for the pane's process to end; returns its exit status (-SIG if killed)."""
        deadline = time.monotonic() + timeout
        dead_since = None
        while True:
            if self.dead():
                if self.exit_status() is not None:
                    break
                dead_since = dead_since or time.monotonic()
                # tmux built with libutempter can miss the SIGCHLD of a pane whose pty
                # closed before its process was gone (tmux issue #311; tangle closes
                # its BPF links after the pty): nudge our own server to reap it
                if time.monotonic() - dead_since > 0.3:
                    os.kill(self.server_pid, signal.SIGCHLD)
            if time.monotonic() > deadline:
                self.capture()
                pytest.fail(f"tangle top still running {timeout}s after quitting\n"
                            f"{self.describe()}")
            time.sleep(POLL_S)
        self.capture()
        status, sig = self.exit_status()
        return status if sig is None else -sig

    def output(self):
        """The raw bytes tangle wrote to its terminal so far."""
        with open(self.out_path, "rb") as f:
            return f.read()

    def prompt(self, key, text, submit=True):
        """Open the search (/), filter (\\) or label (L) prompt, replace what it holds."""
        label = ("Search:" if key in ("/", "F3") else "Label:" if key == "L" else "Filter:")
        self.keys(key)
        scr = self.wait(lambda s: s if s.footer.startswith(label) else None,
                        what=f"the {label} prompt")
        held = scr.footer[len(label):].strip()
        held = held[:-1] if held.endswith("_") else held
        if held:
            self.keys(*["BSpace"] * len(held))
        if text:
            self.type(text)
        self.wait(lambda s: s if s.footer.startswith(label) and
                  s.footer[len(label):].strip() == f"{text}_" else None,
                  what=f"{label} {text!r} typed")
        if submit:
            self.keys("Enter")
            self.wait(lambda s: s if not s.footer.startswith(label) else None,
                      what=f"the {label} prompt to close")

    def close(self):
        """Quit tangle politely (so it detaches), then drop the session."""
        try:
            deadline = time.monotonic() + 5
            while not self.dead() and time.monotonic() < deadline:
                # Escape leaves help, search or filter input; the pause keeps
                # the q from being read as Alt-q
                self.keys("Escape")
                time.sleep(0.2)
                self.keys("q")
                end = min(deadline, time.monotonic() + 1)
                while not self.dead() and time.monotonic() < end:
                    time.sleep(POLL_S)
            tmux("kill-session", "-t", self.name, check=False)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        try:
            os.unlink(self.out_path)
        except OSError:
            pass


# --------------------------------------------------------------------------
# The raw output stream


def terminal_left_in(raw):
    """Terminal modes the output stream leaves changed: [] when tangle cleaned up.

    Looks at the last set/reset of each DEC private mode (CSI ? N h / l):
    the alternate screen and application keys must end reset, the cursor
    must end visible (?25h).
    """
    last = {}
    for m in re.finditer(rb"\x1b\[\?([0-9;]+)([hl])", raw):
        for mode in m.group(1).decode().split(";"):
            last[mode] = m.group(2).decode()
    problems = []
    if last.get("1049") == "h":
        problems.append("still on the alternate screen (?1049h never reset)")
    if last.get("25") == "l":
        problems.append("cursor left hidden (?25l never followed by ?25h)")
    if last.get("1") == "h":
        problems.append("application cursor keys left on (?1h)")
    if raw.rfind(b"\x1b=") > raw.rfind(b"\x1b>"):
        problems.append("application keypad left on (ESC = never followed by ESC >)")
    return problems
