#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Re-record the replay goldens in tests/data (needs root and a built tree).

Each golden is a pair written by one live run next to a fixture:
    tangle stream --record NAME.tgr -p PID -d SECONDS > NAME.ndjson
tests/test_replay.py then checks that replaying NAME.tgr prints NAME.ndjson.
Run it after a change to the record format or to what the stream prints:
    sudo make && sudo scripts/record-goldens.py
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
TANGLE = os.environ.get("TANGLE", str(REPO / "tangle"))
FIXTURES = Path(os.environ.get("TANGLE_FIXTURES", REPO / ".output" / "fixtures"))
GO_FIXTURES = Path(os.environ.get("TANGLE_GO_FIXTURES", REPO / ".output" / "go"))


def fixture(name, *args):
    return subprocess.Popen([str(FIXTURES / name), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def line(proc, key, value=None):
    """The fixture's next JSON line that has KEY (equal to VALUE, if given)."""
    for text in proc.stdout:
        obj = json.loads(text)
        if key in obj and (value is None or obj[key] == value):
            return obj
    sys.exit(f"record-goldens: the fixture ended before printing {key}")


def stream(name, pid, seconds, *extra):
    out = open(DATA / f"{name}.ndjson", "w")
    return subprocess.Popen([TANGLE, "stream", "--record", str(DATA / f"{name}.tgr"),
                             "-p", str(pid), "-d", str(seconds), *extra], stdout=out)


def wait_for_meta(name, tangle):
    path = DATA / f"{name}.ndjson"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if tangle.poll() is not None:
            sys.exit(f"record-goldens: tangle exited {tangle.returncode}")
        if path.stat().st_size and '"thread_new"' in path.read_text():
            return
        time.sleep(0.05)
    sys.exit("record-goldens: tangle printed no meta")


def finish(name, tangle, fx):
    rc = tangle.wait(timeout=60)
    fx.kill()
    fx.wait()
    if rc:
        sys.exit(f"record-goldens: tangle exited {rc} on {name}")
    kinds = [json.loads(t)["type"] for t in (DATA / f"{name}.ndjson").read_text().splitlines()]
    print(f"  {name}: {len(kinds)} records, {kinds.count('stuck_group')} stuck groups")


def stuck(name, fixture_name):
    """Attach after the hang has formed: the waits are found already blocked."""
    fx = fixture(fixture_name, "--timeout", "60")
    line(fx, "phase", "started")
    line(fx, "phase", "stuck")
    finish(name, stream(name, fx.pid, 2), fx)


def contended():
    """Attach first, then let three workers contend for a mutex main holds."""
    fx = fixture("contended_mutex", "3", "--hold-ms", "300", "--gate", "--timeout", "60")
    gate = line(fx, "gate", "waiting")
    tangle = stream("contended", gate["pid"], 3)
    wait_for_meta("contended", tangle)
    time.sleep(0.3)
    fx.stdin.write("\n")
    fx.stdin.flush()
    line(fx, "released_ns")
    finish("contended", tangle, fx)


def go_leaks(name, fixture):
    """A Go fixture with leaked goroutines, attached once it says ready."""
    exe = sorted((GO_FIXTURES / fixture).glob("go*-plain"))[-1]
    with tempfile.TemporaryDirectory() as out:
        fx = subprocess.Popen([str(exe), "-out", out], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, text=True)
        for text in fx.stdout:
            if text.strip() == "ready":
                break
        else:
            sys.exit(f"record-goldens: {exe} ended before it was ready")
        finish(name, stream(name, fx.pid, 4, "--stuck-after", "1"), fx)


GOLDENS = {
    "abba": lambda: stuck("abba", "stuck_abba"),
    "abandoned": lambda: stuck("abandoned", "stuck_abandoned"),
    "contended": contended,
    # the goroutine zoo: quiet, so small; leaked goroutines, labels, every kind of wait
    "goleak": lambda: go_leaks("goleak", "goroutines"),
}


def main():
    """record-goldens.py [NAME...]: those goldens (all of them if none)."""
    if os.geteuid():
        sys.exit("record-goldens: run as root (tangle loads BPF programs)")
    names = sys.argv[1:] or list(GOLDENS)
    unknown = [n for n in names if n not in GOLDENS]
    if unknown:
        sys.exit(f"record-goldens: no golden {', '.join(unknown)} (there are {', '.join(GOLDENS)})")
    for name in names:
        GOLDENS[name]()


if __name__ == "__main__":
    main()
