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
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from symbols_helpers import (
    C_VARIANTS,
    DriverSession,
    FUTEX_NR,
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
