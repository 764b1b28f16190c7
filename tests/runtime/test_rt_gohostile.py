"""Go processes that lie to tangle: a forged build-info section, and a goroutine
table (runtime.allglen, allgptr and the array of g pointers) rewritten while
tangle reads it.

tangle must answer each with an error or a warning that says what it found,
in bounded time, and never crash, hang, or let a byte of the forgery reach
the terminal. Under `make test SAN=1` the same runs go through ASan/UBSan.

- forged build info, in copies of the goroutine-zoo fixture (with DWARF, and
  stripped, where the version picks the struct layout): a version from the
  future, an older version than the runtime really is, a length that runs
  past the section;
- the table rewritten: a thread of this test writes, through
  /proc/PID/mem, a huge allglen, an allgptr into unmapped memory, and array
  entries that are duplicates, NULL, or point into the runtime's data
  instead of at g's, restoring the true values in between, for as long as
  tangle reads. The fixture runs with GOGC=off, so its own collector does
  not walk the array while it is wrong.
"""

import json
import os
import random
import struct
import subprocess
import threading
import time

import pytest

from go_helpers import GoFixture, go_local_version, require_go_fixture
from tangle_helpers import parse_output, require_tangle

TIMEOUT = 60  # one tangle run, at most
VERSION_AT = 33  # in .go.buildinfo: the version's length varint at 32, its bytes after


def buildinfo_at(data):
    i = data.find(b"\xff Go buildinf:")
    assert i >= 0 and data[i + 15] & 2, "no Go 1.18+ build info in the fixture"
    return i


def forge(src, dst, how):
    """A copy of the Go binary src with its build info rewritten (how)."""
    data = bytearray(src.read_bytes())
    i = buildinfo_at(data)
    n = data[i + 32]
    version = bytes(data[i + VERSION_AT:i + VERSION_AT + n])
    assert version.startswith(b"go"), version
    if how == "future":
        new = b"go9.99.9".ljust(n, b"9")[:n]
        data[i + VERSION_AT:i + VERSION_AT + n] = new
    elif how == "older":
        new = b"go1.22.9".ljust(n, b"9")[:n]
        data[i + VERSION_AT:i + VERSION_AT + n] = new
    elif how == "hugelen":
        # a varint of 2^63-ish where the length was: it runs far past the section
        data[i + 32:i + 32 + 10] = b"\xff" * 9 + b"\x01"
    else:
        raise ValueError(how)
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)
    return dst


def run_tangle(*args, timeout=TIMEOUT):
    try:
        return subprocess.run([str(require_tangle()), *map(str, args)], capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tangle {' '.join(map(str, args))} did not finish in {timeout}s")


def assert_sane(res, allowed=(0, 1)):
    """No crash, no escape byte out; JSON output parses if there is any."""
    what = f"rc {res.returncode}\nstderr: {res.stderr[-2000:]!r}"
    assert res.returncode in allowed, what
    assert b"\x1b" not in res.stdout and b"\x1b" not in res.stderr, what
    return what


@pytest.fixture
def started():
    fxs = []

    def start(path, env=None):
        fx = GoFixture(path, env=env)
        fxs.append(fx)
        return fx.ready(timeout=60)

    yield start
    for fx in fxs:
        if fx.proc.poll() is None:
            fx.proc.kill()
            fx.proc.wait()


@pytest.mark.parametrize("variant", ["plain", "stripped"])
@pytest.mark.parametrize("how", ["future", "older", "hugelen"])
def test_forged_buildinfo(how, variant, started, tmp_path):
    src = require_go_fixture("goroutines", go_local_version(), variant)
    fx = started(forge(src, tmp_path / f"zoo-{how}", how))
    text = run_tangle("goroutines", fx.pid)
    what = assert_sane(text)
    js = run_tangle("goroutines", fx.pid, "--json")
    assert_sane(js)
    err = text.stderr.decode()
    if how == "future":
        assert text.returncode == 1 and "go9.99.9" in err, what
    elif how == "hugelen":
        assert text.returncode == 1 and "cannot read the Go version" in err, what
    else:
        # a plausible lie: read with that version's rules, whatever comes of it
        assert text.returncode in (0, 1), what
    if js.returncode == 0:
        recs = parse_output(js.stdout)
        assert recs and recs[0]["type"] == "go_process", recs[:1]
    # the whole-host tools go on, the forged process among the others
    chk = run_tangle("check", "--json", "-d", 2)
    assert_sane(chk, allowed=(0, 2))
    parse_output(chk.stdout)
    assert fx.proc.poll() is None, "the fixture died: tangle must not touch it"


def symbols(path):
    out = subprocess.run(["nm", str(path)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3:
            syms[f[2]] = int(f[0], 16)
    return syms


class Rewriter(threading.Thread):
    """Rewrites the goroutine table of pid until stopped, restoring it between forgeries."""

    def __init__(self, pid, syms):
        super().__init__(daemon=True)
        self.pid = pid
        self.len_at = syms["runtime.allglen"]
        self.ptr_at = syms["runtime.allgptr"]
        self.data_at = syms["runtime.allglen"] & ~0xfff
        self.stop = threading.Event()
        self.rounds = 0
        self.error = None

    def run(self):
        rnd = random.Random(7)
        try:
            with open(f"/proc/{self.pid}/mem", "r+b", buffering=0) as mem:
                def rd(addr, n):
                    mem.seek(addr)
                    return mem.read(n)

                def wr(addr, b):
                    mem.seek(addr)
                    mem.write(b)

                n, = struct.unpack("<Q", rd(self.len_at, 8))
                ptr, = struct.unpack("<Q", rd(self.ptr_at, 8))
                array = rd(ptr, 8 * n)
                gs = struct.unpack(f"<{n}Q", array)
                while not self.stop.is_set():
                    kind = self.rounds % 5
                    if kind == 0:
                        wr(self.len_at, struct.pack("<Q", 1 << 40))
                    elif kind == 1:
                        wr(self.ptr_at, struct.pack("<Q", 0xdead0000))
                    elif kind == 2:  # every entry the same g
                        wr(ptr, struct.pack("<Q", gs[0]) * n)
                    elif kind == 3:  # NULLs and pointers into the runtime's data
                        wr(ptr, b"".join(struct.pack("<Q", rnd.choice(
                            (0, self.data_at + 8 * rnd.randrange(512), self.len_at, ptr)))
                            for _ in range(n)))
                    else:  # allglen past the array, into whatever follows it
                        wr(self.len_at, struct.pack("<Q", n + 4096))
                    time.sleep(rnd.uniform(0.0005, 0.004))
                    wr(ptr, array)
                    wr(self.ptr_at, struct.pack("<Q", ptr))
                    wr(self.len_at, struct.pack("<Q", n))
                    time.sleep(rnd.uniform(0.0005, 0.002))
                    self.rounds += 1
        except OSError as e:  # the fixture died of it: tangle must not mind either
            self.error = e


def test_allgs_rewritten_while_read(started):
    path = require_go_fixture("goroutines", go_local_version(), "plain")
    fx = started(path, env={"GOGC": "off"})
    rw = Rewriter(fx.pid, symbols(path))
    rw.start()
    seen, said = 0, set()  # runs that noticed the forgery; what they said
    try:
        deadline = time.monotonic() + 20
        runs = 0
        while time.monotonic() < deadline and runs < 12:
            res = run_tangle("goroutines", fx.pid, "--json")
            assert_sane(res)
            if res.returncode == 0:
                recs = parse_output(res.stdout)
                assert recs and recs[0]["type"] == "go_process", recs[:1]
                seen += recs[0]["not_goroutines"] > 0
            else:
                seen += 1
                assert res.stderr.strip(), "refused without saying why"
            said |= {ln.split(": ", 2)[-1] for ln in res.stderr.decode().splitlines()}
            runs += 1
        chk = run_tangle("check", "--json", "-d", 3, "-p", fx.pid)
        assert_sane(chk, allowed=(0, 2))
        parse_output(chk.stdout)
    finally:
        rw.stop.set()
        rw.join(timeout=10)
    assert rw.rounds > 100, f"only {rw.rounds} forgeries written ({rw.error})"
    assert seen, f"no run of {runs} noticed any of {rw.rounds} forgeries: {said}"
    print(f"{runs} reads, {seen} noticed, {rw.rounds} forgeries, fixture alive: "
          f"{fx.proc.poll() is None}; said: {sorted(said)}")
