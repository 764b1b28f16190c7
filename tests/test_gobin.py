# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""src/gobin.c against the Go toolchain (no root needed).

The Makefile (`make gobin`) builds tests/gobin/prog with the installed go and
every toolchain of GO_TOOLCHAINS, plain, stripped (-s -w), PIE and cgo, into
$TANGLE_GOBIN_DIR/prog-GOVERSION-VARIANT, and the C driver
$TANGLE_GOBIN_DIR/gobin_driver that prints what src/gobin.c reads from them.
Every answer is compared with the toolchain's own: `go version -m`,
`go tool nm`, `go tool objdump`, `go tool addr2line`, and the program's own
runtime.CallersFrames; struct offsets with the table of
/work/shared/research/go-runtime.md. A missing binary or toolchain is a
failure, never a skip.

Env: TANGLE_GOBIN_DIR (default <repo>/.output/gobin), TANGLE_GO_TOOLCHAINS
(default: the installed go's version and the Makefile's GO_TOOLCHAINS),
TANGLE_GO (default: go from PATH, else /usr/local/go/bin/go).
"""

import errno
import functools
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOBIN_DIR = Path(os.environ.get("TANGLE_GOBIN_DIR") or REPO / ".output" / "gobin")
DRIVER = GOBIN_DIR / "gobin_driver"
GO = os.environ.get("TANGLE_GO") or shutil.which("go") or "/usr/local/go/bin/go"
VARIANTS = ("plain", "stripped", "pie", "cgo")
TIMEOUT = 300


def _toolchains():
    env = os.environ.get("TANGLE_GO_TOOLCHAINS")
    if env:
        return env.split()
    local = subprocess.run([GO, "env", "GOVERSION"], capture_output=True, text=True,
                           check=True).stdout.strip()
    m = re.search(r"^GO_TOOLCHAINS\s*:?=\s*(.*)$", (REPO / "Makefile").read_text(), re.M)
    return [local] + (m.group(1).split() if m else [])


TOOLCHAINS = _toolchains()
CASES = [(t, v) for t in TOOLCHAINS for v in VARIANTS]
IDS = [f"{t}-{v}" for t, v in CASES]


def prog(toolchain, variant):
    path = GOBIN_DIR / f"prog-{toolchain}-{variant}"
    assert path.is_file(), (f"{path} is missing: build it with `make gobin` (is Go toolchain "
                            f"{toolchain} in the module cache? scripts/deps.sh fetches it)")
    return path


def twin(toolchain, variant):
    """The binary with symbols whose text has the same layout."""
    return prog(toolchain, "plain" if variant == "stripped" else variant)


def run(args, stdin=None, check=True):
    res = subprocess.run([str(a) for a in args], input=stdin, capture_output=True, text=True,
                         errors="replace", timeout=TIMEOUT)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {res.returncode}:\n"
                             f"{res.stdout[-2000:]}{res.stderr[-2000:]}")
    return res


def driver(binary, queries):
    assert DRIVER.is_file(), f"{DRIVER} is missing: build it with `make gobin`"
    return run([DRIVER, binary], stdin="".join(q + "\n" for q in queries)).stdout.splitlines()


def go_tool(*args):
    return run([GO, "tool", *args]).stdout


def go_print_name(name):
    """runtime.funcNameForPrint: a generic instantiation's type arguments become [...]."""
    i, j = name.find("["), name.rfind("]")
    return name if i < 0 or j <= i else name[:i] + "[...]" + name[j + 1:]


def strip_abi(name):
    """.symtab names assembly functions NAME.abi0; .gopclntab calls them NAME."""
    return name[:-5] if name.endswith(".abi0") else name


@functools.lru_cache(maxsize=None)
def nm(binary):
    """{name: (addr, size, type)} from `go tool nm -size`."""
    out = {}
    for line in go_tool("nm", "-size", binary).splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and re.fullmatch(r"[0-9a-f]+", parts[0]):
            out.setdefault(parts[3], (int(parts[0], 16), int(parts[1]), parts[2]))
    return out


@functools.lru_cache(maxsize=None)
def call_returns(binary):
    """Return addresses of every CALL in `go tool objdump` (address + length)."""
    rets = []
    pat = re.compile(r"^\s+\S+:\d+\s+0x([0-9a-f]+)\s+([0-9a-f]+)\s+CALL\b")
    for line in go_tool("objdump", binary).splitlines():
        m = pat.match(line)
        if m:
            rets.append(int(m.group(1), 16) + len(m.group(2)) // 2)
    return rets


def addr2line(binary, pcs):
    """[(function, file, line)] from `go tool addr2line`, one per pc."""
    out = run([GO, "tool", "addr2line", binary],
              stdin="".join(f"0x{pc:x}\n" for pc in pcs)).stdout.splitlines()
    assert len(out) == 2 * len(pcs), f"addr2line gave {len(out)} lines for {len(pcs)} pcs"
    res = []
    for i in range(len(pcs)):
        file, _, line = out[2 * i + 1].rpartition(":")
        res.append((out[2 * i], file, int(line)))
    return res


def symbolize(binary, pcs):
    """{pc: [(function, file, line, entry, inlined)]} from the driver."""
    lines = driver(binary, [f"sym 0x{pc:x}" for pc in pcs])
    res, i = {}, 0
    while i < len(lines):
        head = lines[i].split()
        assert head[0] == "sym", lines[i]
        n = int(head[2])
        frames = []
        for fl in lines[i + 1:i + 1 + n]:
            fn, file, line, entry, inl = fl[len("frame "):].split("\t")
            frames.append((fn, file, int(line), int(entry, 16), inl == "1"))
        res[int(head[1], 16)] = frames
        i += 1 + n
    assert len(res) == len(set(pcs)), "the driver answered fewer queries than asked"
    return res


def info(binary):
    line = driver(binary, ["info"])[0]
    assert line.startswith("info "), line
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def go_version_m(binary):
    """(version, main module) from `go version -m`."""
    out = run([GO, "version", "-m", binary]).stdout
    version = out.splitlines()[0].split(":", 1)[1].strip()
    mods = [ln.split("\t") for ln in out.splitlines() if ln.startswith("\tmod\t")]
    return version, mods[0][2] if mods else ""


def go_functions(binary):
    """{name: (entry, size)} of the Go functions in .symtab: text symbols that
    `go tool addr2line` (which reads .gopclntab) names the same at their
    address. A Go function and its ABI0 wrapper (NAME.abi0), or an assembly
    function and its ABIInternal wrapper, share one pclntab name: the wrapper
    is the one whose code addr2line places in <autogenerated>."""
    syms = [(n, v) for n, v in nm(binary).items() if v[2] in "Tt" and v[1] > 0]
    where = addr2line(binary, [v[0] for _, v in syms])
    out = {}
    for (n, v), (fn, file, _) in zip(syms, where):
        if fn != strip_abi(n):
            continue
        if file != "<autogenerated>" or strip_abi(n) not in out:
            out[strip_abi(n)] = v[:2]
    return out


# --------------------------------------------------------------------------


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_info(toolchain, variant):
    binary = prog(toolchain, variant)
    got = info(binary)
    version, module = go_version_m(binary)
    assert got["version"] == version == toolchain
    assert got["module"] == module == "tangle/gobinprog"
    m = re.match(r"go(\d+)\.(\d+)(?:\.(\d+))?", version)
    assert (got["major"], got["minor"], got["patch"]) == (m.group(1), m.group(2),
                                                          m.group(3) or "0")
    assert got["stripped"] == ("1" if variant == "stripped" else "0")
    assert got["pie"] == ("1" if variant == "pie" else "0")
    assert got["cgo"] == ("1" if variant == "cgo" else "0")
    # -8 in every layout here: settls for pure Go, and delve's formula for cgo
    assert got["tls"] == "-8"
    if variant == "cgo":
        tls = [ln.split() for ln in run(["readelf", "-lW", binary]).stdout.splitlines()
               if ln.split()[:1] == ["TLS"]]
        assert tls, "a cgo binary without PT_TLS"
        memsz, align = int(tls[0][5], 16), int(tls[0][7], 16)
        tlsg = nm(binary)["runtime.tlsg"][0]
        rounded = -(-memsz // align) * align
        assert tlsg - rounded == -8


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_func_entries(toolchain, variant):
    """gobin__func of every Go function == its .symtab address (of the
    unstripped twin for a stripped binary), and ends before the next one."""
    binary = prog(toolchain, variant)
    funcs = go_functions(twin(toolchain, variant))
    assert len(funcs) > 1000, f"only {len(funcs)} Go functions in go tool nm"
    names = sorted(funcs)
    lines = driver(binary, [f"func {n}" for n in names])
    entries = sorted(e for e, _ in funcs.values())
    bad = []
    for name, line in zip(names, lines):
        entry, size = funcs[name]
        assert line.startswith(f"func {name} "), line
        if line.endswith(" none"):
            bad.append(f"{name}: not found (nm: 0x{entry:x})")
            continue
        got, end = (int(x, 16) for x in line.rsplit(" ", 2)[1:])
        i = entries.index(entry)
        nxt = entries[i + 1] if i + 1 < len(entries) else None
        if got != entry or end < entry + size or (nxt and end > nxt):
            bad.append(f"{name}: 0x{got:x}-0x{end:x}, nm 0x{entry:x} size {size}")
    assert not bad, f"{len(bad)} of {len(names)} functions differ:\n" + "\n".join(bad[:20])
    for line in driver(binary, ["func main.nosuchfunction"]):
        assert line.endswith(" none")


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_symbolize_vs_addr2line(toolchain, variant):
    """At every function entry, mid-function and call site (return address - 1,
    from go tool objdump): the physical function and the innermost file:line
    equal go tool addr2line's (it names the physical function, not the inlined
    one). Also pcs outside any function."""
    binary = prog(toolchain, variant)
    sym_binary = twin(toolchain, variant)
    funcs = go_functions(sym_binary)
    pcs = set()
    for entry, size in funcs.values():
        pcs.update((entry, entry + size // 2, entry + size - 1))
    pcs.update(r - 1 for r in call_returns(sym_binary))
    pcs.update((0, 0x1000, 1 << 47))
    pcs = sorted(pcs)
    ref = addr2line(binary, pcs)
    ours = symbolize(binary, pcs)
    bad, inlined = [], 0
    for pc, (fn, file, line) in zip(pcs, ref):
        frames = ours[pc]
        if line == -1 and file == "":
            line = 0  # a marker symbol without line table, e.g. go:textfipsstart
        if fn == "?":
            if frames:
                bad.append(f"0x{pc:x}: addr2line knows nothing, we say {frames[-1][0]}")
            continue
        if not frames:
            bad.append(f"0x{pc:x}: no frames, addr2line {fn} {file}:{line}")
            continue
        inlined += len(frames) > 1
        got = (frames[-1][0], frames[0][1], frames[0][2])
        if got != (fn, file, line) or frames[-1][4] or not all(f[4] for f in frames[:-1]):
            bad.append(f"0x{pc:x}: {got} vs addr2line {(fn, file, line)}")
    assert not bad, f"{len(bad)} of {len(pcs)} pcs differ:\n" + "\n".join(bad[:20])
    assert len(pcs) > 5000 and inlined > 100, (len(pcs), inlined)
    print(f"{binary.name}: {len(pcs)} pcs equal to addr2line, {inlined} with inlined frames")


def callers_sites(binary):
    """{site: (pcs, frames)} printed by `prog callers` (runtime.Callers and
    runtime.CallersFrames: function, file, line, entry)."""
    out = run([binary, "callers"]).stdout.splitlines()
    sites, name = {}, None
    for line in out:
        if line.startswith("site "):
            name = line.split()[1]
            sites[name] = ([], [])
        elif line.startswith("pc "):
            sites[name][0].append(int(line.split()[1], 16))
        elif line.startswith("frame "):
            fn, file, ln, entry = line[len("frame "):].split("\t")
            sites[name][1].append((fn, file, int(ln), int(entry, 16)))
    return sites


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_inline_frames_vs_runtime(toolchain, variant):
    """gobin__symbolize(pc - 1) for each pc of runtime.Callers gives the frames
    runtime.CallersFrames makes of it: inlined ones first, same function,
    file and line. Callers also lists a virtual pc per inlined frame, which
    the expansion of the real pc accounts for."""
    binary = prog(toolchain, variant)
    sites = callers_sites(binary)
    assert {"inlined", "method", "generic_int", "closure", "goroutine", "cgo"} <= set(sites)
    # the load bias of a PIE: runtime entry minus link-time entry
    link_entry = int(driver(binary, ["func main.runCallers"])[0].split()[2], 16)
    rt_entry = [f[3] for f in sites["inlined"][1] if f[0] == "main.runCallers"][0]
    bias = rt_entry - link_entry
    if variant != "pie":
        assert bias == 0
    inlined_sites = 0
    for name, (pcs, frames) in sites.items():
        ours = symbolize(binary, [pc - bias - 1 for pc in pcs])
        i, got = 0, []
        while i < len(pcs):
            fr = ours[pcs[i] - bias - 1]
            assert fr, f"site {name}: no frames for pc 0x{pcs[i]:x}"
            got += [(go_print_name(f[0]), f[1], f[2], f[3] + bias) for f in fr]
            inlined_sites += len(fr) > 1
            i += len(fr)
        assert got == frames, f"site {name}:\nours    {got}\nruntime {frames}"
    assert inlined_sites >= 4


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_frame_sizes(toolchain, variant):
    """gobin__frame: 0 at every function entry (the return address is at sp),
    a frame at every call site of a function that has one, and the stop flag
    exactly on the functions where Go's own traceback stops."""
    binary = prog(toolchain, variant)
    sym_binary = twin(toolchain, variant)
    funcs = go_functions(sym_binary)
    entries = sorted(e for e, _ in funcs.values())
    lines = driver(binary, [f"frame 0x{e:x}" for e in entries])
    # (a marker such as go:textfipsstart has no pcsp table)
    odd = [ln for ln in lines if ln.split()[2] != "0"]
    assert len(odd) <= 4 and all(ln.endswith(" none") for ln in odd), odd
    calls = [r - 1 for r in call_returns(sym_binary)]
    lines = driver(binary, [f"frame 0x{pc:x}" for pc in calls])
    nonzero = sum(1 for ln in lines if ln.split()[2] not in ("0", "none"))
    # assembly without a frame (NOFRAME) calls with a frame size of 0
    assert nonzero > 0.8 * len(calls), (nonzero, len(calls))
    stops = {"runtime.mstart", "runtime.goexit", "runtime.mcall", "runtime.systemstack",
             "runtime.rt0_go", "runtime.morestack"}
    names = sorted(stops | {"main.main", "main.noinlineOuter", "runtime.main"})
    got = {}
    for name, line in zip(names, driver(binary, [f"func {n}" for n in names])):
        entry = int(line.rsplit(" ", 2)[1], 16)
        got[name] = driver(binary, [f"frame 0x{entry:x}"])[0].split()[3] == "1"
    assert {n for n, stop in got.items() if stop} == stops, got


def test_print_name():
    binary = prog(TOOLCHAINS[0], "plain")
    names = [n for n in go_functions(binary) if "[" in n] + ["main.main", "a[b", "x]y[", ""]
    lines = driver(binary, [f"printname {n}" for n in names])
    assert len([n for n in names if "[" in n]) >= 4  # main.sum twice, "a[b", "x]y["
    for name, line in zip(names, lines):
        assert line == f"printname {go_print_name(name)}", (name, line)


# Offsets from /work/shared/research/go-runtime.md (DWARF of go1.21 ... go1.26; 1.20 from
# its sources), by minor version. Go 1.20 and 1.21 are not in the Makefile's GO_TOOLCHAINS
# but run here when TANGLE_GO_TOOLCHAINS names them; the research has no value of a few
# fields there (p.runqhead, sudog.c and hchan in 1.20): those are not checked.
ABSENT = "none"
MEMBERS = {
    ("runtime.g", "goid"): {20: 152, 21: 152, 22: 152, 23: 160, 24: 160, 25: 152, 26: 152},
    ("runtime.g", "atomicstatus"): {20: 144, 21: 144, 22: 144, 23: 152, 24: 152, 25: 144, 26: 144},
    ("runtime.g", "m"): 48,
    ("runtime.g", "sched"): 56,
    ("runtime.g", "sched.sp"): 56,
    ("runtime.g", "sched.pc"): 64,
    ("runtime.g", "sched.bp"): {20: 104, 21: 104, 22: 104, 23: 104, 24: 104, 25: 96, 26: 96},
    ("runtime.g", "syscallpc"): {20: 120, 21: 120, 22: 120, 23: 120, 24: 120, 25: 112, 26: 112},
    ("runtime.g", "waitsince"): {20: 168, 21: 168, 22: 168, 23: 176, 24: 176, 25: 168, 26: 168},
    ("runtime.g", "waitreason"): {20: 176, 21: 176, 22: 176, 23: 184, 24: 184, 25: 176, 26: 176},
    ("runtime.g", "parentGoid"): {20: ABSENT, 21: 272, 22: 272, 23: 280, 24: 280, 25: 272, 26: 280},
    ("runtime.g", "gopc"): {20: 296, 21: 280, 22: 280, 23: 288, 24: 288, 25: 280, 26: 288},
    ("runtime.g", "startpc"): {20: 312, 21: 296, 22: 296, 23: 304, 24: 304, 25: 296, 26: 304},
    ("runtime.g", "waiting"): {20: 328, 21: 312, 22: 312, 23: 320, 24: 320, 25: 312, 26: 320},
    ("runtime.g", "labels"): {20: 360, 21: 344, 22: 344, 23: 352, 24: 352, 25: 344, 26: 352},
    ("runtime.m", "procid"): {20: 72, 21: 72, 22: 72, 23: 72, 24: 72, 25: 64, 26: 64},
    ("runtime.m", "tls"): {20: 136, 21: 136, 22: 136, 23: 136, 24: 136, 25: 128, 26: 128},
    ("runtime.m", "curg"): {20: 192, 21: 192, 22: 192, 23: 192, 24: 192, 25: 184, 26: 184},
    # research says 328 for 1.23 and 1.24, but 1.23 added m.allpSnapshot ([]*p,
    # 24 bytes) before alllink: readelf --debug-dump=info of go1.23.12 says 352
    ("runtime.m", "alllink"): {20: 336, 21: 336, 22: 328, 23: 352, 24: 352, 25: 344, 26: 352},
    ("runtime.p", "runqhead"): {21: 400, 22: 400, 23: 392, 24: 392, 25: 392, 26: 400},
    ("runtime.sudog", "elem"): 24,
    ("runtime.sudog", "c"): {21: 80, 22: 80, 23: 80, 24: 80, 25: 80, 26: 88},
    ("runtime.hchan", "recvq"): {21: 56, 22: 56, 23: 64, 24: 64, 25: 64, 26: 64},
    ("runtime.hchan", "recvq.first"): {21: 56, 22: 56, 23: 64, 24: 64, 25: 64, 26: 64},
    ("runtime.hchan", "sendq.last"): {21: 80, 22: 80, 23: 88, 24: 88, 25: 88, 26: 88},
}


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_member_offsets(toolchain, variant):
    binary = prog(toolchain, variant)
    minor = int(re.match(r"go1\.(\d+)", toolchain).group(1))
    keys = sorted(MEMBERS)
    lines = driver(binary, [f"member {t} {m}" for t, m in keys] +
                   ["member runtime.g nosuchfield", "member runtime.nosuchtype goid"])
    assert lines[-2].endswith(" none") and lines[-1].endswith(" none")
    for (t, m), line in zip(keys, lines):
        if variant == "stripped":
            assert line.endswith(" none"), f"no DWARF, yet: {line}"
            continue
        want = MEMBERS[(t, m)]
        want = want if isinstance(want, int) else want.get(minor)
        if want is None and minor < 21:
            continue
        assert want is not None, f"no research value of {t}.{m} for go1.{minor}"
        assert line == f"member {t} {m} {want}", f"{line} (research: {want})"


RUNTIME_VARS = ("runtime.allglen", "runtime.allgptr", "runtime.allm", "runtime.firstmoduledata")


def sections(binary):
    """[(name, addr, size)] from readelf."""
    out = []
    for line in run(["readelf", "-SW", binary]).stdout.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)",
                     line)
        if m and int(m.group(2), 16):
            out.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
    return out


def section_relative(binary, addr):
    for name, start, size in sections(binary):
        if start <= addr < start + size:
            return name, addr - start
    return None, addr


def var_lines(binary):
    return {ln.split()[1]: ln.split()[2] for ln in driver(binary, [f"var {v}" for v in
                                                                   RUNTIME_VARS])}


@pytest.mark.parametrize("toolchain,variant", CASES, ids=IDS)
def test_runtime_vars(toolchain, variant):
    """allglen, allgptr, allm, firstmoduledata. Unstripped: .symtab. -s -w:
    decoded from code; the data moves a little (the build settings in the
    module info are longer), so each address must be at the same offset in
    the same section as the symbol of the unstripped twin."""
    binary = prog(toolchain, variant)
    got = var_lines(binary)
    ref = twin(toolchain, variant)
    for v in RUNTIME_VARS:
        assert got[v] != "none", f"{v} not found in {binary.name}"
        want = nm(ref)[v][0]
        if variant == "stripped":
            assert section_relative(binary, int(got[v], 16)) == section_relative(ref, want), v
        else:
            assert int(got[v], 16) == want, v


@pytest.mark.parametrize("toolchain,variant", [c for c in CASES if c[1] != "stripped"],
                         ids=[i for i, c in zip(IDS, CASES) if c[1] != "stripped"])
def test_runtime_vars_decoded_exact(toolchain, variant, tmp_path):
    """objcopy --strip-all keeps the layout: the addresses decoded from
    forEachGRace / mcommoninit and found by the moduledata scan must equal
    the .symtab values exactly."""
    binary = prog(toolchain, variant)
    stripped = tmp_path / "stripped"
    run(["objcopy", "--strip-all", binary, stripped])
    assert info(stripped)["stripped"] == "1"
    got = var_lines(stripped)
    for v in RUNTIME_VARS:
        assert got[v] == f"0x{nm(binary)[v][0]:x}", v
    assert info(stripped)["tls"] == "-8"


def open_error(path):
    res = run([DRIVER, "--open", path], check=False)
    assert res.returncode in (0, 1), f"driver crashed ({res.returncode}): {res.stderr[-2000:]}"
    return res.stdout.strip()


def test_hostile_files(tmp_path):
    binary = prog(TOOLCHAINS[0], "plain")
    data = binary.read_bytes()
    assert open_error(binary) == "ok"
    assert open_error("/bin/true") == "error ENOEXEC"
    assert open_error(tmp_path / "nonexistent") == "error ENOENT"
    (tmp_path / "empty").write_bytes(b"")
    assert open_error(tmp_path / "empty") == "error ENOEXEC"
    rnd = random.Random(1)
    (tmp_path / "random").write_bytes(bytes(rnd.randrange(256) for _ in range(1 << 16)))
    assert open_error(tmp_path / "random") == "error ENOEXEC"
    (tmp_path / "elfish").write_bytes(data[:64] + bytes(rnd.randrange(256) for _ in range(4096)))
    assert open_error(tmp_path / "elfish") == "error ENOEXEC"
    # cut inside the loaded part: refused; past it (DWARF, .symtab): still readable
    loads = [ln.split() for ln in run(["readelf", "-lW", binary]).stdout.splitlines()
             if ln.split()[:1] == ["LOAD"]]
    loaded = max(int(f[1], 16) + int(f[4], 16) for f in loads)
    for frac in (0.01, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99):
        cut = tmp_path / f"cut{frac}"
        cut.write_bytes(data[:int(len(data) * frac)])
        want = ("ok",) if len(data) * frac >= loaded else ("error ENOEXEC", "error EINVAL")
        assert open_error(cut) in want, frac
    # Go 1.18/1.19 pclntab magic: refused, not misread
    i = data.find(b"\xf1\xff\xff\xff\x00\x00\x01\x08")
    old = tmp_path / "go118"
    old.write_bytes(data[:i] + b"\xf0" + data[i + 1:])
    assert open_error(old) == "error EINVAL"


@pytest.mark.parametrize("variant", VARIANTS)
def test_fuzz_no_crash(variant):
    """Truncated and corrupted copies (mostly in the pclntab), every API on
    each: the driver must not crash (built with SAN=1 this runs under ASan)."""
    binary = prog(TOOLCHAINS[0], variant)
    res = run([DRIVER, "--fuzz", binary, "1500", str(hash(variant) & 0xffff)])
    m = re.search(r"fuzz opened=(\d+) failed=(\d+)", res.stdout)
    assert m and int(m.group(1)) > 100 and int(m.group(2)) > 100, res.stdout


def test_bench(capsys):
    """Figures, not a pass/fail on time: open and symbolize costs."""
    out = []
    for t in (TOOLCHAINS[0], TOOLCHAINS[-1]):
        for v in ("plain", "stripped"):
            binary = prog(t, v)
            res = run([DRIVER, "--bench", binary])
            assert res.stdout.startswith("bench "), res.stdout
            out.append(f"{binary.name} ({binary.stat().st_size >> 10} KiB): {res.stdout.strip()}")
    with capsys.disabled():
        print("\n" + "\n".join(out))


def _sanitized(path):
    return b"__asan_init" in Path(path).read_bytes()


def test_driver_valgrind():
    """The driver is valgrind-clean on every query kind (an ASan build cannot
    run under valgrind: then this test says so)."""
    if _sanitized(DRIVER):
        pytest.skip("the driver is built with ASan (SAN=1): valgrind cannot run it")
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is missing (scripts/deps.sh installs it)")
    binary = prog(TOOLCHAINS[0], "plain")
    main_entry = nm(binary)["main.main"][0]
    queries = ["info", "var runtime.allm", "var runtime.allglen", "func main.main",
               f"sym 0x{main_entry + 20:x}", "member runtime.g sched.pc"]
    res = run(["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite", DRIVER, binary],
              stdin="".join(q + "\n" for q in queries), check=False)
    assert res.returncode == 0, res.stderr[-4000:]
