"""Go goroutine dumps: a parser of Go's traceback text, and the Go fixture programs.

The parser reads every text form of a goroutine dump the tests meet:
  - pprof.Lookup("goroutine").WriteTo(w, 2), i.e. runtime.Stack(buf, true);
  - a crash or SIGQUIT dump (GOTRACEBACK=system: "gp= m=" in headers, runtime
    frames, "fp= sp= pc=" after each physical frame, register dumps between
    blocks);
  - `tangle goroutines PID` text output (a "# tangle goroutines:" line first,
    "(...)" as every frame's arguments; with --group, "N goroutines [...]: goids
    A B C" headers);
and pprof debug=1 (grouped stacks with "# labels:") separately.

A goroutine block is a header line, frames (a function line, then a tab and
file:line [+0xOFF]), maybe "created by F [in goroutine P]" with its file:line,
and ends at a blank line. An inlined frame is one without "+0x" offset (Go
prints offsets only for physical frames).

Go fixture programs live in tests/go (see tests/go/README.md); the Makefile
builds them into $TANGLE_GO_FIXTURES/NAME/GOVERSION-VARIANT. GoFixture starts
one, waits for its "ready" line and loads what it wrote (dumps, truth.json).

Nothing here imports pytest: benchmarks use it too. Failures raise
AssertionError/RuntimeError with the details.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tangle_helpers import REPO, LineReader

GO_SRC = (REPO / "tests" / "go").resolve()
VARIANTS = ("plain", "stripped", "cgo", "cgo-stripped")
READY_TIMEOUT = 60.0
# what a stuck pattern needs on its command line besides -out (a test binary: which test)
STUCK_ARGS = {"testfatal": ("-test.run", "^TestTwoResults$", "-test.timeout", "0")}

# --------------------------------------------------------------------------
# Go's name printing and quoting


def go_print_name(name):
    """The name as Go's traceback prints it: a generic instantiation's type
    arguments become "[...]" (runtime.funcNamePiecesForPrint)."""
    if name is None:
        return None
    i = name.find("[")
    j = name.rfind("]")
    if i < 0 or j <= i:
        return name
    return name[:i] + "[...]" + name[j + 1:]


_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


def go_unquote_at(s, i):
    """Decode the Go-quoted string (strconv.Quote or the runtime's printquoted)
    starting at s[i] == '"'. Returns (value, index after the closing quote)."""
    if i >= len(s) or s[i] != '"':
        raise ValueError(f"expected '\"' at {i} in {s!r}")
    out = []
    i += 1
    while True:
        if i >= len(s):
            raise ValueError(f"unterminated string in {s!r}")
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = s[i + 1] if i + 1 < len(s) else ""
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
            i += 2
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            out.append(chr(int(s[i + 2:i + 2 + n], 16)))
            i += 2 + n
        elif e in "01234567":
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"bad escape \\{e} in {s!r}")


def parse_label_map(s):
    """{"k":"v", "k2": "v2"} as pprof debug=1 or the 1.26 traceback header print it."""
    s = s.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise ValueError(f"not a label map: {s!r}")
    out = {}
    i = 1
    while True:
        while i < len(s) and s[i] in " ,":
            i += 1
        if s[i] == "}":
            if i != len(s) - 1:
                raise ValueError(f"junk after label map: {s!r}")
            return out
        k, i = go_unquote_at(s, i)
        if s[i] != ":":
            raise ValueError(f"expected ':' at {i} in {s!r}")
        i += 1
        while s[i] == " ":
            i += 1
        v, i = go_unquote_at(s, i)
        if k in out:
            raise ValueError(f"duplicate label {k!r} in {s!r}")
        out[k] = v


# --------------------------------------------------------------------------
# Tracebacks


@dataclass
class Frame:
    function: str          # as printed ("main.(*box[...]).take")
    args: str              # between the parentheses ("..." for inlined / tangle)
    file: str
    line: int
    offset: int = None     # +0x.. (None: inlined, or at the entry)
    pc: int = None         # fp/sp/pc: only at GOTRACEBACK=system and above
    sp: int = None
    fp: int = None

    @property
    def inlined(self):
        return self.offset is None

    def key(self, offsets=True):
        return (self.function, self.file, self.line, self.offset if offsets else None)

    def __str__(self):
        off = "" if self.offset is None else f" +{self.offset:#x}"
        return f"{self.function} {self.file}:{self.line}{off}"


@dataclass
class CreatedBy:
    function: str
    parent_goid: int       # None: not printed (goroutine of Go < 1.21, or ancestors)
    file: str
    line: int
    offset: int = None

    def __str__(self):
        p = "" if self.parent_goid is None else f" in goroutine {self.parent_goid}"
        off = "" if self.offset is None else f" +{self.offset:#x}"
        return f"{self.function}{p} {self.file}:{self.line}{off}"


@dataclass
class Goroutine:
    goid: int
    reason: str            # the wait reason of a waiting goroutine, else the status
    header: str = ""
    minutes: int = None
    locked: bool = False
    leaked: bool = False
    scan: bool = False
    bubble: int = None
    labels: dict = None    # only with GODEBUG=tracebacklabels=1 (Go 1.26+)
    gp: int = None         # GOTRACEBACK=system and above
    m: int = None
    frames: list = field(default_factory=list)
    created_by: CreatedBy = None
    unavailable: bool = False   # "goroutine running on other thread; stack unavailable"
    elided: bool = False        # "...N frames elided..."
    cgo_frames: int = 0         # "non-Go function at pc=" lines
    broken: list = None         # crash dumps: runtime diagnostics inside the block
    # --group mode of tangle
    count: int = None
    goids: list = None
    goids_truncated: bool = False

    def user_frames(self):
        return [f for f in self.frames if not is_runtime_hidden(f.function)]

    def __str__(self):
        return self.header + "".join(f"\n  {f}" for f in self.frames) + \
            (f"\n  created by {self.created_by}" if self.created_by else "")


@dataclass
class Dump:
    goroutines: list
    preamble: list          # lines before the first goroutine ("# tangle goroutines: ...")
    junk: list              # lines outside goroutine blocks (crash dumps: registers, PC=)

    @property
    def by_goid(self):
        return {g.goid: g for g in self.goroutines}


def is_runtime_hidden(function):
    """Go's default traceback hides unexported runtime.* functions
    (runtime.showfuncinfo: a '.' in the name and not "runtime." + lowercase)."""
    if function is None or "." not in function:
        return True
    if function.startswith("runtime."):
        rest = function[len("runtime."):]
        return not (rest[:1].isupper())
    return False


HEADER_RE = re.compile(
    r"^goroutine (\d+)(?: gp=(0x[0-9a-f]+) m=(nil|\d+)(?: mp=0x[0-9a-f]+)?)? \[(.*)\]:$")
GROUP_RE = re.compile(r"^(\d+) goroutines? \[(.*)\]: goids((?: \d+)+)( \.\.\.)?$")
FILE_RE = re.compile(r"^\t(.+):(\d+)(?: \+0x([0-9a-f]+))?"
                     r"(?: fp=0x([0-9a-f]+) sp=0x([0-9a-f]+) pc=0x([0-9a-f]+))?$")
CREATED_RE = re.compile(r"^created by (.+?)(?: in goroutine (\d+))?$")
UNAVAILABLE = "goroutine running on other thread; stack unavailable"
ELIDED_RE = re.compile(r"^\.\.\.(?:\d+ |additional )frames elided\.\.\.$")
NONGO_RE = re.compile(r"^non-Go function at pc=0x[0-9a-f]+$")
MINUTES_RE = re.compile(r"^(\d+) minutes$")
BUBBLE_RE = re.compile(r"^synctest (?:bubble|group) (\d+)$")


def split_call(line):
    """'main.(*T).f(0x1, {0x2, 0x3})' -> ('main.(*T).f', '0x1, {0x2, 0x3}')."""
    if not line.endswith(")"):
        raise ValueError(f"frame line does not end with ')': {line!r}")
    depth = 0
    for i in range(len(line) - 1, -1, -1):
        c = line[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                name = line[:i]
                if not name:
                    break
                return name, line[i + 1:-1]
    raise ValueError(f"unbalanced parentheses in frame line {line!r}")


def parse_header_body(g, body):
    """Fill g from the text between '[' and ']:' of a goroutine header."""
    if " labels:{" in body:
        body, _, lab = body.partition(" labels:")
        g.labels = parse_label_map(lab)
    parts = body.split(", ")
    status = parts[0]
    for suffix, attr in ((" (scan)", "scan"), (" (leaked)", "leaked")):  # printed leaked, scan
        if status.endswith(suffix):
            status = status[:-len(suffix)]
            setattr(g, attr, True)
    if not status:
        raise ValueError(f"empty status in header {g.header!r}")
    g.reason = status
    for p in parts[1:]:
        if p == "locked to thread":
            g.locked = True
        elif MINUTES_RE.match(p):
            g.minutes = int(MINUTES_RE.match(p).group(1))
        elif BUBBLE_RE.match(p):
            g.bubble = int(BUBBLE_RE.match(p).group(1))
        else:
            raise ValueError(f"unknown header item {p!r} in {g.header!r}")


def parse_traceback(text, allow_junk=False):
    """Parse a goroutine dump. Raises ValueError on any line it does not
    understand inside a goroutine block; lines between blocks are errors unless
    allow_junk (crash dumps), except '# ' lines before the first goroutine.

    With allow_junk, a block the runtime interrupted with diagnostics (e.g.
    "runtime: g 0 gp=...: unknown pc" and a stack hex dump, when SIGQUIT lands
    on a thread in C code) keeps what was parsed so far, and its remaining
    lines go to the goroutine's `broken` list."""
    lines = text.split("\n")
    gs, preamble, junk = [], [], []
    g = None
    pending = None          # a function line waiting for its file line
    pending_created = None  # a "created by" line waiting for its file line
    for n, line in enumerate(lines, 1):
        where = f"line {n}: {line!r}"
        if g is not None and g.broken is not None:
            if line == "":
                g = None
            else:
                g.broken.append(line)
            continue
        if g is None:
            if line == "":
                continue
            m = HEADER_RE.match(line)
            mg = GROUP_RE.match(line)
            if m:
                g = Goroutine(goid=int(m.group(1)), reason="", header=line)
                if m.group(2):
                    g.gp = int(m.group(2), 16)
                    g.m = None if m.group(3) == "nil" else int(m.group(3))
                parse_header_body(g, m.group(4))
                gs.append(g)
            elif mg:
                ids = [int(x) for x in mg.group(3).split()]
                g = Goroutine(goid=ids[0], reason="", header=line, count=int(mg.group(1)),
                              goids=ids, goids_truncated=bool(mg.group(4)))
                parse_header_body(g, mg.group(2))
                gs.append(g)
            elif line.startswith("# ") and not gs:
                preamble.append(line)
            elif allow_junk:
                junk.append(line)
            else:
                raise ValueError(f"{where}: expected a goroutine header")
            continue
        if allow_junk and line.startswith("runtime: "):
            g.broken = [line]
            pending = pending_created = None
            continue
        if pending is not None or pending_created is not None:
            m = FILE_RE.match(line)
            if not m:
                raise ValueError(f"{where}: expected '\\tFILE:LINE [+0xOFF]'")
            off = int(m.group(3), 16) if m.group(3) else None
            if pending is not None:
                name, args = pending
                f = Frame(name, args, m.group(1), int(m.group(2)), off)
                if m.group(6):
                    f.fp, f.sp, f.pc = (int(m.group(i), 16) for i in (4, 5, 6))
                g.frames.append(f)
                pending = None
            else:
                name, parent = pending_created
                g.created_by = CreatedBy(name, parent, m.group(1), int(m.group(2)), off)
                pending_created = None
            continue
        if line == "":
            g = None
            continue
        stripped = line.strip()
        if g.created_by is not None:
            raise ValueError(f"{where}: text after 'created by'")
        if stripped == UNAVAILABLE:
            g.unavailable = True
        elif ELIDED_RE.match(stripped):
            g.elided = True
        elif NONGO_RE.match(stripped):
            g.cgo_frames += 1
        elif line.startswith("created by "):
            m = CREATED_RE.match(line)
            pending_created = (m.group(1), int(m.group(2)) if m.group(2) else None)
        elif line.startswith("[originating from goroutine "):
            raise ValueError(f"{where}: ancestor tracebacks are not supported")
        elif line.startswith("\t"):
            raise ValueError(f"{where}: a file line without a function line")
        else:
            try:
                pending = split_call(line)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
    if pending is not None or pending_created is not None:
        raise ValueError("dump ends inside a frame (function line without file line)")
    return Dump(gs, preamble, junk)


@dataclass
class Debug1Group:
    count: int
    pcs: list
    labels: dict
    frames: list   # (pc, function, offset, file, line)


DEBUG1_FRAME_RE = re.compile(r"^#\t+(0x[0-9a-f]+)\t+(.+)\+(0x[0-9a-f]+)\t+(.+):(\d+)$")


def parse_debug1(text):
    """pprof goroutine debug=1: 'goroutine profile: total N', then groups."""
    lines = text.split("\n")
    m = re.match(r"^goroutine profile: total (\d+)$", lines[0])
    if not m:
        raise ValueError(f"not a debug=1 goroutine profile: {lines[0]!r}")
    total = int(m.group(1))
    groups, g = [], None
    for line in lines[1:]:
        if line == "":
            g = None
            continue
        m = re.match(r"^(\d+) @((?: 0x[0-9a-f]+)+)$", line)
        if m:
            g = Debug1Group(int(m.group(1)), [int(x, 16) for x in m.group(2).split()], {}, [])
            groups.append(g)
        elif line.startswith("# labels: "):
            g.labels = parse_label_map(line[len("# labels: "):])
        elif DEBUG1_FRAME_RE.match(line):
            m = DEBUG1_FRAME_RE.match(line)
            g.frames.append((int(m.group(1), 16), m.group(2), int(m.group(3), 16), m.group(4),
                             int(m.group(5))))
        elif re.match(r"^#\t+0x[0-9a-f]+$", line):
            g.frames.append((int(line.split()[1], 16), None, None, None, None))
        else:
            raise ValueError(f"unexpected debug=1 line {line!r}")
    if sum(x.count for x in groups) != total:
        raise ValueError(f"debug=1 counts sum to {sum(x.count for x in groups)}, total {total}")
    return total, groups


# --------------------------------------------------------------------------
# Comparing a goroutine with Go's own view of it


def frames_diff(want, got, offsets=True):
    """Differences between two frame lists (function, file, line, offset/inlined)."""
    w = [f.key(offsets) for f in want]
    g = [f.key(offsets) for f in got]
    if w == g:
        return []
    lines = [f"frames differ (want {len(w)}, got {len(g)}):"]
    for i in range(max(len(w), len(g))):
        a = str(want[i]) if i < len(want) else "-"
        b = str(got[i]) if i < len(got) else "-"
        mark = "  " if i < len(w) and i < len(g) and w[i] == g[i] else "!="
        lines.append(f"    {mark} {a}   |   {b}")
    return ["\n".join(lines)]


def goroutine_diff(want, got, offsets=True, frames=True):
    """Every way `got` (tangle's) differs from `want` (Go's) for one goroutine."""
    errs = []
    if got.reason != want.reason:
        errs.append(f"status/reason {got.reason!r} != {want.reason!r}")
    if got.locked != want.locked:
        errs.append(f"locked to thread {got.locked} != {want.locked}")
    if frames:
        if got.unavailable:
            errs.append("stack unavailable, but Go printed it")
        errs += frames_diff(want.frames, got.frames, offsets)
    wc, gc = want.created_by, got.created_by
    if (wc is None) != (gc is None):
        errs.append(f"created by {gc} != {wc}")
    elif wc is not None:
        if (gc.function, gc.parent_goid, gc.file, gc.line) != \
                (wc.function, wc.parent_goid, wc.file, wc.line) or \
                (offsets and gc.offset != wc.offset):
            errs.append(f"created by {gc} != {wc}")
    return errs


# --------------------------------------------------------------------------
# Source markers: "at:ROLE" (where ROLE blocks), "spawn:ROLE" (its go statement)

MARK_RE = re.compile(r"\b(at|spawn):([a-z0-9_]+)")


def source_markers(*dirs):
    """{("at"|"spawn", role): (absolute file, line)} from the .go files of dirs."""
    out = {}
    for d in dirs:
        for path in sorted(Path(d).glob("*.go")):
            for n, text in enumerate(path.read_text().splitlines(), 1):
                _, sep, comment = text.partition("//")
                if not sep:
                    continue
                for kind, role in MARK_RE.findall(comment):
                    if (kind, role) in out:
                        raise ValueError(f"marker {kind}:{role} twice ({path}:{n})")
                    out[(kind, role)] = (str(path), n)
    return out


# --------------------------------------------------------------------------
# Where the fixtures are


def go_binary():
    return os.environ.get("GO") or shutil.which("go") or "/usr/local/go/bin/go"


def go_fixtures_dir():
    return Path(os.environ.get("TANGLE_GO_FIXTURES") or REPO / ".output" / "go")


def go_toolchains():
    """The Go versions the fixtures are built with: env TANGLE_GO_TOOLCHAINS (the
    Makefile sets it), else the installed go's version and the Makefile's
    GO_TOOLCHAINS."""
    env = os.environ.get("TANGLE_GO_TOOLCHAINS", "").split()
    if env:
        return env
    try:
        local = subprocess.run([go_binary(), "env", "GOVERSION"], capture_output=True,
                               text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        local = ""
    m = re.search(r"^GO_TOOLCHAINS\s*:?=\s*(.*)$", (REPO / "Makefile").read_text(), re.M)
    listed = m.group(1).split() if m else []
    return [local or "go-local-unknown"] + listed


def go_local_version():
    return go_toolchains()[0]


def fixture_path(name, toolchain, variant):
    return go_fixtures_dir() / name / f"{toolchain}-{variant}"


def require_go_fixture(name, toolchain, variant):
    p = fixture_path(name, toolchain, variant)
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise AssertionError(
            f"Go fixture {p} not built: `make gofixtures` builds tests/go/{name} for "
            f"{' '.join(go_toolchains())} x {' '.join(VARIANTS)} (or point "
            f"TANGLE_GO_FIXTURES at the directory)")
    return p


def version_tuple(v):
    """'go1.24.13' -> (1, 24, 13)."""
    m = re.match(r"^go(\d+)\.(\d+)(?:\.(\d+))?", v)
    if not m:
        raise ValueError(f"not a Go version: {v!r}")
    return tuple(int(x or 0) for x in m.groups())


# --------------------------------------------------------------------------
# Running a fixture


class GoFixture:
    """A Go fixture started with -out DIR; ready() waits for its "ready" line
    and loads truth.json and the dumps it wrote."""

    def __init__(self, path, *args, env=None, out_dir=True):
        self.path = Path(path)
        self.tmp = tempfile.mkdtemp(prefix="tangle-gofx-")
        self.argv = [str(self.path)]
        if out_dir:
            self.argv += ["-out", self.tmp]
        self.argv += [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.pop("GOTRACEBACK", None)
        full_env.pop("GODEBUG", None)
        full_env.update(env or {})
        self.start_time = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=full_env)
        self.out = LineReader(self.proc.stdout, f"{self.path.name}-stdout")
        self.err = LineReader(self.proc.stderr, f"{self.path.name}-stderr")
        self.truth = None
        self.ready_seconds = None

    @property
    def pid(self):
        return self.proc.pid

    def describe(self):
        return (f"Go fixture {' '.join(self.argv)} (pid {self.pid}, rc {self.proc.poll()})\n"
                f"stdout:\n{self.out.text()}\nstderr:\n{self.err.text()}")

    def ready(self, timeout=READY_TIMEOUT):
        """Wait for "ready"; load truth.json. Returns self."""
        deadline = time.monotonic() + timeout
        while True:
            with self.out.cond:
                lines = [ln.decode("utf-8", "replace").strip() for ln in self.out.lines]
            if "ready" in lines:
                break
            if self.out.eof or time.monotonic() > deadline:
                raise AssertionError(f"no 'ready' within {timeout}s: {self.describe()}")
            self.out.wait_changed(len(lines), 0.2)
        self.ready_seconds = time.monotonic() - self.start_time
        truth = Path(self.tmp) / "truth.json"
        if truth.exists():
            self.truth = json.loads(truth.read_text())
            if self.truth["pid"] != self.pid:
                raise AssertionError(f"truth.json pid {self.truth['pid']} != {self.pid}")
        return self

    def file_text(self, name):
        return (Path(self.tmp) / name).read_text()

    def dump(self):
        """The runtime's own debug=2 dump (parsed), taken when every goroutine was parked."""
        return parse_traceback(self.file_text("dump.txt"))

    def debug1(self):
        return parse_debug1(self.file_text("dump-debug1.txt"))

    def unstable(self):
        return set(self.truth["unstable"])

    def roles(self):
        """{role: truth entry}."""
        return {g["role"]: g for g in self.truth["goroutines"]}

    def sigquit_dump(self, timeout=30):
        """Kill the fixture with SIGQUIT and parse the crash dump it prints on
        stderr (GOTRACEBACK=system, set by the fixture once ready): every
        goroutine including system ones, runtime frames, fp/sp/pc per frame."""
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit within {timeout}s of SIGQUIT: {self.describe()}")
        self.err.join()
        with self.err.cond:
            text = b"".join(self.err.lines).decode("utf-8", "replace")
        if not text.startswith("SIGQUIT: quit"):
            raise AssertionError(f"no SIGQUIT dump on stderr: {text[:2000]!r}")
        d = parse_traceback(text, allow_junk=True)
        d.goroutines = [g for g in d.goroutines if g.goid != 0]  # g0 of the signalled M
        return d

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------
# What Go prints for each role of tests/go/goroutines (independent of the
# fixture's own truth.json, which the fixture computes for itself)

ROLE_REASONS = {
    "main": "select (no cases)",
    "chan_recv": "chan receive", "chan_send": "chan send", "select": "select",
    "select_nocases": "select (no cases)",
    "nil_recv": "chan receive (nil chan)", "nil_send": "chan send (nil chan)",
    "mutex_wait": "sync.Mutex.Lock", "rw_rlock_wait": "sync.RWMutex.RLock",
    "rw_lock_wait": "sync.RWMutex.Lock", "cond_wait": "sync.Cond.Wait", "sleep": "sleep",
    "accept": "IO wait", "conn_read": "IO wait", "raw_syscall": "syscall", "cgo_call": "syscall",
}


def expected_reason(role, go_version):
    """The traceback header text Go prints for a goroutine of this role."""
    if role == "wg_wait":
        # waitReasonSyncWaitGroupWait exists since go1.24; before, a semaphore
        return "sync.WaitGroup.Wait" if version_tuple(go_version) >= (1, 24) else "semacquire"
    if role == "spinner":
        return None  # running or runnable
    return ROLE_REASONS.get(role, "chan receive")
