"""Helpers of the unwinder's runtime tests (test_rt_symbols.py).

Builds the programs of tests/symbols/ and the unwind driver at test time,
runs a program until its thread sits in a futex wait, and reads that thread's
stack three ways: with the driver (src/unwind.c), with gdb, and with
addr2line. Every wait polls with a deadline.
"""

import json
import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = REPO / "tests" / "symbols"
FUTEX_NR = 202  # x86-64
READY_TIMEOUT = 15.0
BLOCK_TIMEOUT = 15.0
TOOL_TIMEOUT = 120.0

# Name -> extra compiler flags; "split" variants get their debug info moved out.
C_VARIANTS = {
    "O0-pie": ["-O0", "-fPIE", "-pie"],
    "O2-pie": ["-O2", "-fPIE", "-pie"],
    "O2-nopie": ["-O2", "-fno-pie", "-no-pie"],
    "O2-stripped": ["-O2", "-fPIE", "-pie"],
}
SPLIT_VARIANTS = {"O2-stripped"}


def run(cmd, cwd=None, timeout=TOOL_TIMEOUT):
    """Runs cmd; a failure fails the test with the command's output."""
    try:
        res = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                             errors="replace", timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{cmd[0]}: {exc}")
    if res.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {res.returncode}\n"
                    f"{res.stdout}{res.stderr}")
    return res


# --------------------------------------------------------------------------
# Building


def build_driver(out_dir):
    """tests/symbols/unwind_driver.c linked with the unwinder itself. Env
    TANGLE_DRIVER_CFLAGS adds flags (e.g. "-fsanitize=address,undefined")."""
    out = Path(out_dir) / "unwind_driver"
    extra = os.environ.get("TANGLE_DRIVER_CFLAGS", "").split()
    run(["gcc", "-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-parameter",
         "-D_GNU_SOURCE", *extra, "-I", REPO / "src", SYMBOLS / "unwind_driver.c",
         REPO / "src/unwind.c", REPO / "src/ksyms.c", REPO / "src/gobin.c",
         REPO / "src/x86insn.c", "-ldw", "-lelf", "-lstdc++", "-o", out])
    return out


def split_debug(binary):
    """Moves the debug info to BINARY.debug, strips everything, links them by .gnu_debuglink."""
    binary = Path(binary)
    debug = binary.with_name(binary.name + ".debug")
    run(["objcopy", "--only-keep-debug", binary.name, debug.name], cwd=binary.parent)
    run(["strip", "--strip-all", binary.name], cwd=binary.parent)
    run(["objcopy", f"--add-gnu-debuglink={debug.name}", binary.name], cwd=binary.parent)
    return debug


def build_c(out_dir, variant):
    """tests/symbols/blocker.c in one of C_VARIANTS (built once per out_dir)."""
    out = Path(out_dir) / f"blocker-{variant}"
    if out.exists():
        return out
    run(["gcc", "-g", "-pthread", *C_VARIANTS[variant], SYMBOLS / "blocker.c", "-o", out])
    if variant in SPLIT_VARIANTS:
        split_debug(out)
    return out


def build_cxx(out_dir):
    out = Path(out_dir) / "blocker-cxx"
    if out.exists():
        return out
    run(["g++", "-std=gnu++17", "-O2", "-g", "-pthread", SYMBOLS / "blocker.cc", "-o", out])
    return out


def line_markers(source):
    """{name: line} of the `LINE:name` comments of a source file."""
    marks = {}
    for no, text in enumerate(Path(source).read_text().splitlines(), 1):
        m = re.search(r"LINE:(\w+)", text)
        if m:
            marks[m.group(1)] = no
    return marks


# --------------------------------------------------------------------------
# The blocked program


def syscall_of(pid, tid):
    """The syscall number thread tid sits in, or None."""
    try:
        text = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
    except OSError:
        return None
    return int(text[0]) if text and text[0].lstrip("-").isdigit() else None


class Blocked:
    """A test program whose thread TID is blocked in a futex wait for good.

    Used as a context manager: the process is killed and reaped on exit.
    """

    def __init__(self, binary, *args):
        self.binary = Path(binary)
        self.proc = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid
        self.tid = None

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
        deadline = time.monotonic() + READY_TIMEOUT
        while b"\n" not in buf:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.binary.name} exited {self.proc.returncode} before ready: "
                            f"{self.proc.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.binary.name}: no ready line in {READY_TIMEOUT} s")
            buf += self.proc.stdout.read() or b""
            time.sleep(0.01)
        words = buf.split(b"\n")[0].split()
        assert words[0] == b"ready" and int(words[1]) == self.pid, buf
        self.tid = int(words[2])
        deadline = time.monotonic() + BLOCK_TIMEOUT
        while syscall_of(self.pid, self.tid) != FUTEX_NR:
            if time.monotonic() > deadline:
                pytest.fail(f"thread {self.tid} never blocked in futex "
                            f"(syscall {syscall_of(self.pid, self.tid)})")
            time.sleep(0.01)

    def module_start(self):
        """Where the binary's offset-0 mapping starts."""
        real = os.path.realpath(self.binary)
        for line in Path(f"/proc/{self.pid}/maps").read_text().splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5] == real and int(parts[2], 16) == 0:
                return int(parts[0].split("-")[0], 16)
        pytest.fail(f"{real} not mapped in {self.pid}")

    def cleanup(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()


# --------------------------------------------------------------------------
# Three views of one stack


def driver_unwind_many(driver, targets, repeat=0, fp=False):
    """[(frames, timing, regs)] for [(pid, tid)], unwound by one driver run (one unwinder).
    frames are dicts as struct frame."""
    cmd = [driver, "--repeat", str(repeat)] + (["--fp"] if fp else [])
    for pid, tid in targets:
        cmd += [str(pid), str(tid)]
    res = run(cmd)
    out = [([], None, None) for _ in targets]
    for line in res.stdout.splitlines():
        rec = json.loads(line)
        t = rec.get("target", 0)
        if rec["type"] == "frame":
            out[t][0].append(rec)
        elif rec["type"] == "timing":
            out[t] = (out[t][0], rec, out[t][2])
        elif rec["type"] == "regs":
            out[t] = (out[t][0], out[t][1], rec)
    return out


def driver_unwind(driver, pid, tid, repeat=0, fp=False):
    """(frames, timing, regs) of one thread."""
    return driver_unwind_many(driver, [(pid, tid)], repeat, fp)[0]


class DriverSession:
    """`unwind_driver --stdin`: one unwinder kept across unwinds asked one at a time."""

    def __init__(self, driver):
        self.proc = subprocess.Popen([str(driver), "--stdin"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, errors="replace")

    def unwind(self, pid, tid):
        """The frames of thread tid, as driver_unwind()."""
        self.proc.stdin.write(f"{pid} {tid}\n")
        self.proc.stdin.flush()
        frames = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail(f"unwind driver exited {self.proc.wait()}")
            rec = json.loads(line)
            if rec["type"] == "frame":
                frames.append(rec)
            elif rec["type"] == "done":
                return frames

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def driver_symbolize(driver, pid, addrs, first_is_pc):
    cmd = [driver, "--symbolize"] + (["--pc"] if first_is_pc else []) + [str(pid)]
    res = run(cmd + [hex(a) for a in addrs])
    return [json.loads(line) for line in res.stdout.splitlines()]


GDB_FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.+?) \(.*?\)(?: at (.+):(\d+)| from .+)?$")


def gdb_frames(pid, tid):
    """Frames of thread tid as `gdb -batch -p PID -ex 'thread apply all bt'` prints them:
    dicts with function, file ('' if none) and line (0 if none)."""
    res = run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", "set debuginfod enabled off",
               "-ex", "set pagination off", "-ex", "set print frame-arguments none",
               "-ex", "thread apply all bt"])
    frames, inside = [], False
    for line in res.stdout.splitlines():
        if line.startswith("Thread "):
            inside = f"(LWP {tid})" in line
            continue
        if not inside:
            continue
        m = GDB_FRAME.match(line)
        if m:
            frames.append({"function": m.group(2), "file": m.group(3) or "",
                           "line": int(m.group(4) or 0)})
    if not frames:
        pytest.fail(f"gdb printed no frames for thread {tid}:\n{res.stdout}\n{res.stderr}")
    return frames


def elf_load_info(binary):
    """(e_type, vaddr of the first PT_LOAD rounded down to its alignment) of an ELF64 file."""
    data = Path(binary).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "ELF64 expected"
    e_type = struct.unpack_from("<H", data, 16)[0]
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        p_type, _, _, p_vaddr, _, _, _, p_align = struct.unpack_from(
            "<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1:
            return e_type, p_vaddr & ~(max(p_align, 1) - 1)
    pytest.fail(f"{binary}: no PT_LOAD")


def addr2line(binary, addrs):
    """For each file address, the inline chain addr2line -f -i -C reports, innermost
    first: lists of dicts with function, file, line."""
    res = run(["addr2line", "-a", "-f", "-i", "-C", "-e", binary] + [hex(a) for a in addrs])
    chains, lines = [], res.stdout.splitlines()
    i = 0
    while i < len(lines):
        if re.match(r"^0x[0-9a-f]+$", lines[i]):
            chains.append([])
            i += 1
            continue
        fn, loc = lines[i], lines[i + 1] if i + 1 < len(lines) else "??:0"
        loc = re.sub(r" \(discriminator \d+\)$", "", loc)
        file, _, line = loc.rpartition(":")
        chains[-1].append({"function": fn, "file": file,
                           "line": int(line) if line.isdigit() else 0})
        i += 2
    return chains


def physical_groups(frames):
    """Splits frames into physical frames: inlined ones, then the one holding them."""
    groups, cur = [], []
    for f in frames:
        cur.append(f)
        if not f["inlined"]:
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    return groups


def normalize(name):
    """A function name without parameter list, cv-qualifiers or clone suffix, for comparing
    names from the unwinder (demangled symbols) with gdb's (DWARF names)."""
    name = re.sub(r" \[clone [^\]]*\]$", "", name.strip())
    name = re.sub(r"( const| volatile|&&|&)+$", "", name)
    if name.endswith(")"):
        depth = 0
        for i in range(len(name) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0:
                if i > 0 and not name[:i].endswith("operator"):
                    name = name[:i]
                break
    return name


def in_file(frames, source):
    """(normalized function, line) of the frames whose file is source (by basename)."""
    base = Path(source).name
    return [(normalize(f["function"]), f["line"]) for f in frames
            if f["file"] and Path(f["file"]).name == base]


def describe(frames):
    return "\n".join(f"  {f['function'] or '??'} {f['file']}:{f['line']}"
                     f"{' (inlined)' if f.get('inlined') else ''} [{f.get('module', '')}]"
                     for f in frames)
