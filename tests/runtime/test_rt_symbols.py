"""The unwinder (src/unwind.c) on live blocked threads (root).

Test programs from tests/symbols/ are built here at -O0 and -O2, PIE and
not, stripped with a separate debug file, and in C++. One of their threads
blocks for good in a mutex lock; the driver (tests/symbols/unwind_driver.c)
takes its registers with a short ptrace stop, as tangle takes them from a
BPF task iterator, and unwinds its stack live from memory. The stack must
show the program's own frames with the right names, lines and inlined calls,
and agree with gdb and with addr2line.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from symbols_helpers import (
    C_VARIANTS,
    DriverSession,
    FUTEX_NR,
    GDB_FRAME,
    SYMBOLS,
    Blocked,
    addr2line,
    build_c,
    build_cxx,
    build_driver,
    describe,
    driver_symbolize,
    driver_unwind,
    driver_unwind_many,
    elf_load_info,
    gdb_frames,
    in_file,
    line_markers,
    normalize,
    physical_groups,
    run,
    syscall_of,
)

# What the mutex lock is called from libc: with libc's debug info, without, old and new glibc.
LOCK_FUNCS = {"pthread_mutex_lock", "__pthread_mutex_lock", "___pthread_mutex_lock",
              "__lll_lock_wait", "__GI___lll_lock_wait"}
# Generous, for loaded CI machines; the figures measured are printed with -s.
WARM_UNWIND_MAX_US = 5000


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    for tool in ("gcc", "g++", "gdb", "addr2line", "objcopy", "strip"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not found: the symbol tests build and check programs with it")
    return tmp_path_factory.mktemp("symbols")


@pytest.fixture(scope="module")
def driver(build_dir):
    return build_driver(build_dir)


def index_of(frames, name, start=0):
    for i in range(start, len(frames)):
        if frames[i]["function"] == name:
            return i
    return -1


def check_same_as_gdb(frames, prog, source):
    """Every frame gdb shows in the program's own source, with our function and line."""
    ours = in_file(frames, source)
    theirs = in_file(gdb_frames(prog.pid, prog.tid), source)
    assert ours == theirs, (f"unwinder and gdb disagree on {Path(source).name}:\n"
                            f"  ours: {ours}\n  gdb:  {theirs}\n{describe(frames)}")


def check_same_as_addr2line(frames, prog, cxx=False):
    """Each physical frame in the binary expands to the inline chain addr2line reports."""
    start = prog.module_start()
    e_type, vaddr = elf_load_info(prog.binary)
    real = os.path.realpath(prog.binary)
    groups = [g for g in physical_groups(frames) if g[0]["module"] == real]
    assert groups, describe(frames)
    # The first frame of the stack is the pc; all others are return addresses.
    looks = [g[0]["addr"] - (0 if g[0] is frames[0] else 1) for g in groups]
    rels = [a if e_type == 2 else a - start + vaddr for a in looks]
    for group, chain in zip(groups, addr2line(prog.binary, rels)):
        ours = [(normalize(f["function"]), Path(f["file"]).name, f["line"]) for f in group]
        theirs = [(normalize(f["function"]), Path(f["file"]).name, f["line"]) for f in chain]
        if cxx and len(theirs) > 1:
            # binutils names the innermost level of a C++ inline chain after the symbol
            # (the physical function); accept that name there.
            if theirs[0][0] == ours[-1][0]:
                theirs[0] = (ours[0][0],) + theirs[0][1:]
        assert ours == theirs, (f"unwinder and addr2line disagree:\n  ours: {ours}\n"
                                f"  addr2line: {theirs}\n{describe(frames)}")


def check_blocker_stack(frames, binary):
    """lock function, worker_a at the lock call, helper_a inlined, outer_a, thread_a."""
    marks = line_markers(SYMBOLS / "blocker.c")
    text = describe(frames)
    lock = next((i for i, f in enumerate(frames) if f["function"] in LOCK_FUNCS), -1)
    worker = index_of(frames, "worker_a")
    assert lock >= 0, f"no mutex lock frame:\n{text}"
    assert worker > lock, f"worker_a not below the lock:\n{text}"
    assert worker + 3 < len(frames), text
    w, h, o, t = frames[worker:worker + 4]
    assert (w["line"], w["inlined"]) == (marks["lock"], False), text
    assert Path(w["file"]).name == "blocker.c", text
    assert w["module"] == os.path.realpath(binary), text
    assert (h["function"], h["line"], h["inlined"]) == ("helper_a", marks["helper_call"], True), \
        text
    assert (o["function"], o["line"], o["inlined"]) == ("outer_a", marks["outer_call"], False), \
        text
    assert h["addr"] == o["addr"], "an inlined frame shares its physical frame's address"
    assert (t["function"], t["line"]) == ("thread_a", marks["thread_call"]), text
    assert w["offset"] > 0 and o["offset"] > 0, text
    assert not any(f["fp_walked"] for f in frames), text


@pytest.mark.parametrize("variant", list(C_VARIANTS))
def test_c_blocked_thread(variant, build_dir, driver):
    binary = build_c(build_dir, variant)
    with Blocked(binary) as prog:
        frames, timing, regs = driver_unwind(driver, prog.pid, prog.tid, repeat=100)
        assert regs["syscall"] == FUTEX_NR
        assert frames[0]["addr"] == regs["ip"]
        check_blocker_stack(frames, binary)
        check_same_as_gdb(frames, prog, SYMBOLS / "blocker.c")
        check_same_as_addr2line(frames, prog)
        print(f"{variant}: {len(frames)} frames, first unwind {timing['cold_us']:.0f} us, "
              f"then {timing['warm_us_avg']:.1f} us on average (max {timing['warm_us_max']:.0f})")
        assert timing["warm_us_avg"] < WARM_UNWIND_MAX_US, timing


def test_cxx_blocked_thread(build_dir, driver):
    binary = build_cxx(build_dir)
    marks = line_markers(SYMBOLS / "blocker.cc")
    with Blocked(binary) as prog:
        frames, _, regs = driver_unwind(driver, prog.pid, prog.tid)
        assert regs["syscall"] == FUTEX_NR
        text = describe(frames)
        method = index_of(frames, "ns::Locker<int>::lock_and_wait(int)")
        assert method > 0, f"method not demangled:\n{text}"
        assert (frames[method]["line"], frames[method]["inlined"]) == (marks["cxx_lock"], False)
        lock = index_of(frames, "std::mutex::lock()")
        assert 0 <= lock < method and frames[lock]["inlined"], f"std::mutex::lock inlined:\n{text}"
        run_b = index_of(frames, "run_b()", method)
        assert run_b == method + 1 and frames[run_b]["line"] == marks["cxx_call"], text
        assert not any(f["function"].startswith("_Z") for f in frames), text
        check_same_as_gdb(frames, prog, SYMBOLS / "blocker.cc")
        check_same_as_addr2line(frames, prog, cxx=True)


def test_processes_share_files(build_dir, driver):
    """Two processes of one PIE binary (other load addresses) and one of another build,
    unwound by one unwinder: the sessions and cache shared by file give each its own
    right stack."""
    pie, nopie = build_c(build_dir, "O2-pie"), build_c(build_dir, "O2-nopie")
    with Blocked(pie) as a, Blocked(pie) as b, Blocked(nopie) as c:
        assert a.module_start() != b.module_start(), "ASLR is off?"
        results = driver_unwind_many(driver, [(a.pid, a.tid), (b.pid, b.tid), (c.pid, c.tid)])
        for prog, (frames, timing, _) in zip((a, b, c), results):
            check_blocker_stack(frames, prog.binary)
            check_same_as_addr2line(frames, prog)
        print("first unwinds of 3 processes: " +
              ", ".join(f"{t['cold_us']:.0f} us" for _, t, _ in results))


def test_file_rewritten_in_place(build_dir, driver, tmp_path):
    """A binary rewritten in place (same device and inode, new content) between two runs is
    not named from what the unwinder cached for the old one."""
    binary = tmp_path / "blocker-rewritten"
    shutil.copy(build_c(build_dir, "O2-pie"), binary)
    session = DriverSession(driver)
    try:
        with Blocked(binary) as prog:
            check_blocker_stack(session.unwind(prog.pid, prog.tid), binary)
        inode = binary.stat().st_ino
        with open(binary, "r+b") as f:
            f.write(build_c(build_dir, "O0-pie").read_bytes())
            f.truncate()
        assert binary.stat().st_ino == inode
        with Blocked(binary) as prog:
            frames = session.unwind(prog.pid, prog.tid)
            check_blocker_stack(frames, binary)
            check_same_as_addr2line(frames, prog)
    finally:
        session.close()


def test_stripped_binary_has_no_symbols_of_its_own(build_dir):
    """The stripped variant really needs its debug file: names come from the debuglink."""
    binary = build_c(build_dir, "O2-stripped")
    res = subprocess.run(["nm", str(binary)], capture_output=True, text=True, timeout=60)
    assert "worker_a" not in res.stdout
    assert Path(str(binary) + ".debug").exists()


def test_symbolize_matches_unwind(build_dir, driver):
    """unwinder__symbolize on the unwound addresses gives the same frames."""
    binary = build_c(build_dir, "O2-pie")
    with Blocked(binary) as prog:
        frames, _, _ = driver_unwind(driver, prog.pid, prog.tid)
        addrs = [g[0]["addr"] for g in physical_groups(frames)]
        again = driver_symbolize(driver, prog.pid, addrs, first_is_pc=True)
        key = [(f["addr"], f["function"], f["file"], f["line"], f["inlined"], f["offset"],
                f["module"]) for f in frames]
        assert key == [(f["addr"], f["function"], f["file"], f["line"], f["inlined"],
                        f["offset"], f["module"]) for f in again]


def test_deleted_binary(build_dir, driver, tmp_path):
    """A binary deleted after it started is read through /proc/PID/map_files."""
    binary = tmp_path / "blocker-deleted"
    shutil.copy(build_c(build_dir, "O2-pie"), binary)
    with Blocked(binary) as prog:
        binary.unlink()
        frames, _, _ = driver_unwind(driver, prog.pid, prog.tid)
        workers = [f for f in frames if f["function"] == "worker_a"]
        assert workers, describe(frames)
        worker = workers[0]
        assert worker["line"] == line_markers(SYMBOLS / "blocker.c")["lock"], describe(frames)
        assert worker["module"].endswith("(deleted)"), describe(frames)


def test_main_thread_exited(build_dir, driver):
    """The main thread exited: /proc/PID/maps is empty and the leader has no memory, but
    the blocked thread's own maps and memory still give its stack."""
    binary = build_c(build_dir, "O2-pie")
    with Blocked(binary, "--main-exits") as prog:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{prog.pid}/maps").read_text():
            assert time.monotonic() < deadline, "main thread did not exit"
            time.sleep(0.01)
        frames, _, _ = driver_unwind(driver, prog.pid, prog.tid)
        check_blocker_stack(frames, binary)


def test_frame_pointer_fallback(build_dir, driver, tmp_path):
    """Built with frame pointers, the rbp walk alone finds the program's frames."""
    binary = tmp_path / "blocker-fp"
    run(["gcc", "-g", "-O2", "-pthread", "-fno-omit-frame-pointer", SYMBOLS / "blocker.c",
         "-o", binary])
    with Blocked(binary) as prog:
        frames, _, _ = driver_unwind(driver, prog.pid, prog.tid, fp=True)
        text = describe(frames)
        assert all(f["fp_walked"] for f in frames), text
        # glibc has no frame pointers: its frame hides the caller of the lock (worker_a's
        # return address is not on the rbp chain), but outer_a and thread_a are.
        names = [f["function"] for f in frames]
        assert "outer_a" in names and "thread_a" in names, text
        assert names.index("outer_a") < names.index("thread_a"), text


def test_gone_process(build_dir, driver):
    binary = build_c(build_dir, "O2-pie")
    with Blocked(binary) as prog:
        pid = prog.pid
        frames, _, _ = driver_unwind(driver, prog.pid, prog.tid)
        addr = frames[0]["addr"]
    # Blocked.__exit__ killed and reaped it.
    res = subprocess.run([str(driver), "--symbolize", str(pid), hex(addr)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1 and "No such process" in res.stderr, res


# --------------------------------------------------------------------------
# Go executables (tests/gobin/prog, built by `make gobin` into $TANGLE_GOBIN_DIR)
#
# `prog idle` parks goroutines, keeps idle Ms asleep in runtime.futex and one
# goroutine's thread in read(2) (main.blockInRead), prints runtime.Stack of
# every goroutine, then "ready". Go code has no .eh_frame: the unwinder walks
# it with the pclntab's frame sizes and names it from the pclntab, stripped
# or not.

GOBIN_DIR = Path(os.environ.get("TANGLE_GOBIN_DIR") or
                 Path(__file__).resolve().parents[2] / ".output" / "gobin")
READ_NR = 0
GO_SOURCE = Path(__file__).resolve().parents[2] / "tests" / "gobin" / "prog" / "main.go"
# Where the runtime's own traceback stops (abi.FuncFlagTopFrame / SPWrite).
GO_TOP_FRAMES = {"runtime.mstart", "runtime.mcall", "runtime.goexit", "runtime.rt0_go",
                 "runtime.systemstack", "runtime.morestack", "runtime.asmcgocall"}


def _go_toolchains():
    names = os.environ.get("TANGLE_GO_TOOLCHAINS", "").split()
    if names:
        return names
    found = sorted({p.name.split("-")[1] for p in GOBIN_DIR.glob("prog-go*-plain")})
    return found or ["(none built)"]


GO_TOOLCHAINS_RT = _go_toolchains()
# The installed go in every variant, the oldest toolchain plain and stripped.
GO_CASES = [(GO_TOOLCHAINS_RT[0], v) for v in ("plain", "stripped", "pie", "cgo")]
GO_CASES += [(GO_TOOLCHAINS_RT[-1], v) for v in ("plain", "stripped")
             if GO_TOOLCHAINS_RT[-1] != GO_TOOLCHAINS_RT[0]]


def go_prog(toolchain, variant):
    path = GOBIN_DIR / f"prog-{toolchain}-{variant}"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the Go test programs with `make gobin`")
    return path


def parse_go_dump(text):
    """{goid: (status, [(function, file, line, inlined)])} of a runtime.Stack(all) dump."""
    out = {}
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        m = re.match(r"goroutine (\d+) \[([^\]]*)\]:", lines[0]) if lines else None
        if not m:
            continue
        frames = []
        for fn, loc in zip(lines[1::2], lines[2::2]):
            if fn.startswith("created by "):
                break
            lm = re.match(r"\t(.+):(\d+)( \+0x[0-9a-f]+)?$", loc)
            if lm:
                frames.append((re.sub(r"\(.*\)$", "", fn), lm.group(1), int(lm.group(2)),
                               lm.group(3) is None))
        out[int(m.group(1))] = (m.group(2), frames)
    return out


class GoIdle:
    """`prog idle` until its "ready" line; the dump it printed; killed on exit."""

    def __init__(self, binary):
        self.binary = Path(binary)
        self.proc = subprocess.Popen([str(binary), "idle"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid

    def __enter__(self):
        try:
            self._wait_ready()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def _wait_ready(self):
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b""
        deadline = time.monotonic() + 30
        while b"\nready\n" not in buf:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.binary.name} exited {self.proc.returncode}: "
                            f"{self.proc.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.binary.name}: no ready line")
            buf += self.proc.stdout.read() or b""
            time.sleep(0.01)
        text = buf.decode(errors="replace")
        assert text.startswith(f"pid {self.pid}\n"), text[:200]
        self.goroutines = parse_go_dump(text)
        deadline = time.monotonic() + 10
        while not self.threads(READ_NR):
            assert time.monotonic() < deadline, "no thread of the Go program sits in read(2)"
            time.sleep(0.01)

    def threads(self, nr):
        return [int(t.name) for t in Path(f"/proc/{self.pid}/task").iterdir()
                if syscall_of(self.pid, int(t.name)) == nr]

    def cleanup(self):
        if self.proc.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


def gdb_all_threads(pid):
    """{tid: [frame dicts]} of `thread apply all bt` (Go threads have names, so gdb
    prints `Thread 2 (LWP 123 "name"):`)."""
    res = run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "set debuginfod enabled off",
               "-ex", "set pagination off", "-ex", "set print frame-arguments none",
               "-ex", "thread apply all bt"])
    out, cur = {}, None
    for line in res.stdout.splitlines():
        m = re.match(r"Thread \d+ .*\(LWP (\d+)", line)
        if m:
            cur = out.setdefault(int(m.group(1)), [])
            continue
        m = GDB_FRAME.match(line)
        if m and cur is not None:
            cur.append({"function": m.group(2), "file": m.group(3) or "",
                        "line": int(m.group(4) or 0)})
    return out


def go_key(frames):
    return [(f["function"], f["file"], f["line"], f["inlined"]) for f in frames]


def check_go_stack(frames, binary, first):
    """Named from the binary's pclntab, file:line everywhere, walked to a top frame
    of the runtime (not along rbp), the first frame where the syscall is."""
    text = describe(frames)
    assert frames and frames[0]["function"].endswith(first), text
    assert all(f["module"] == os.path.realpath(binary) for f in frames), text
    assert all(f["function"] and f["file"] and f["line"] > 0 for f in frames), text
    assert not any(f["fp_walked"] for f in frames), text
    assert frames[-1]["function"] in GO_TOP_FRAMES, text


@pytest.mark.parametrize("toolchain,variant", GO_CASES,
                         ids=[f"{t}-{v}" for t, v in GO_CASES])
def test_go_threads(toolchain, variant, driver):
    """Every thread of a Go program that sits in futex or read(2): a goroutine's
    thread in read(2) gives the frames Go's own runtime.Stack prints for that
    goroutine (inlined ones included); an idle M in runtime.futex gives
    runtime.futexsleep next (the caller of the frameless leaf), and every
    stack reaches a frame where the runtime's own traceback stops. With
    DWARF (.debug_frame), gdb shows the same frames."""
    binary = go_prog(toolchain, variant)
    with GoIdle(binary) as prog:
        reader = prog.threads(READ_NR)[0]
        futexes = prog.threads(FUTEX_NR)
        assert futexes, "no Go thread in futex"
        results = driver_unwind_many(driver, [(prog.pid, t) for t in [reader] + futexes])
        gdb = gdb_all_threads(prog.pid) if variant != "stripped" else {}

        frames = results[0][0]
        check_go_stack(frames, binary, "Syscall6")
        assert frames[-1]["function"] == "runtime.goexit", describe(frames)
        # runtime.Stack starts that goroutine at its syscall entry, in syscall.Syscall
        # (another line of it); from its caller on, the frames are the same.
        want = [g for _, g in prog.goroutines.values()
                if any(f[0] == "main.blockInRead" for f in g)]
        assert len(want) == 1, prog.goroutines
        want = want[0]
        assert want[0][0] == "syscall.Syscall", want
        ours = go_key(frames)
        names = [f[0] for f in ours]
        i = names.index("syscall.Syscall")
        assert ours[i + 1:i + len(want)] == want[1:], (f"\nours:    {ours}\n"
                                                       f"runtime: {want}")
        assert ("main.readOne", str(GO_SOURCE), ours[names.index("main.readOne")][2],
                True) in ours, ours

        for t, (frames, _, regs) in zip(futexes, results[1:]):
            check_go_stack(frames, binary, "runtime.futex")
            assert frames[1]["function"] == "runtime.futexsleep", describe(frames)

        for t, (frames, _, _) in zip([reader] + futexes, results):
            if variant == "stripped":
                continue
            assert gdb.get(t), f"gdb shows no frames of thread {t}"
            theirs = [(f["function"], Path(f["file"]).name, f["line"]) for f in gdb[t]]
            ours = [(f["function"], Path(f["file"]).name, f["line"]) for f in frames]
            # gdb goes on past the runtime's top frame (runtime.clone, C frames of cgo)
            assert theirs[:len(ours)] == ours, f"\nours: {ours}\ngdb:  {theirs}"


@pytest.mark.parametrize("toolchain", sorted({t for t, _ in GO_CASES}))
def test_go_stripped_same_as_unstripped(toolchain, driver):
    """The read(2) thread of the -s -w build and of the plain one: same frames."""
    stacks = []
    for variant in ("plain", "stripped"):
        with GoIdle(go_prog(toolchain, variant)) as prog:
            frames, _, _ = driver_unwind(driver, prog.pid, prog.threads(READ_NR)[0])
            stacks.append([(f["function"], f["file"], f["line"], f["inlined"], f["offset"])
                           for f in frames])
    assert stacks[0] == stacks[1], f"\nplain:    {stacks[0]}\nstripped: {stacks[1]}"


def test_go_frame_pointer_walk(driver):
    """The rbp chain of an idle M agrees with the pcsp walk, except where it
    cannot: a frameless leaf (runtime.futex) hides its caller, and nothing
    stops it at the runtime's top frame."""
    binary = go_prog(GO_TOOLCHAINS_RT[0], "stripped")
    with GoIdle(binary) as prog:
        for t in prog.threads(FUTEX_NR):
            walked, _, _ = driver_unwind(driver, prog.pid, t)
            fp, _, _ = driver_unwind(driver, prog.pid, t, fp=True)
            assert all(f["fp_walked"] for f in fp), describe(fp)
            assert walked[1]["function"] == "runtime.futexsleep", describe(walked)
            key_w = [(f["function"], f["line"]) for f in walked if f["function"] !=
                     "runtime.futexsleep"]
            key_f = [(f["function"], f["line"]) for f in fp]
            assert key_f[:len(key_w)] == key_w, f"\npcsp: {key_w}\nrbp:  {key_f}"


def test_go_symbolize_matches_unwind(driver):
    """unwinder__symbolize of the unwound addresses of a Go thread: the same frames."""
    binary = go_prog(GO_TOOLCHAINS_RT[0], "pie")
    with GoIdle(binary) as prog:
        frames, _, _ = driver_unwind(driver, prog.pid, prog.threads(READ_NR)[0])
        addrs = [g[0]["addr"] for g in physical_groups(frames)]
        again = driver_symbolize(driver, prog.pid, addrs, first_is_pc=True)
        key = [(f["addr"], f["function"], f["file"], f["line"], f["inlined"], f["offset"],
                f["module"]) for f in frames]
        assert key == [(f["addr"], f["function"], f["file"], f["line"], f["inlined"],
                        f["offset"], f["module"]) for f in again]
