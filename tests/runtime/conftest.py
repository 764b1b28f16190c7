"""pytest configuration of tangle's runtime tests (root, real kernel).

Run:   sudo python3 -m pytest -q tests/runtime        (or: sudo make test)
Env:   TANGLE           path of the tangle binary      (default <repo>/tangle)
       TANGLE_FIXTURES  directory of fixture binaries  (default <repo>/.output/fixtures)
       CI               when set, missing root is a failure instead of a skip
"""

import os

import pytest

from go_helpers import GoFixture, require_go_fixture
from tangle_helpers import FixtureProc, TangleStream
from tui_helpers import Top, kill_server, require_tmux

ROOT_REASON = "runtime tests need root (sudo make test)"


@pytest.fixture(autouse=True)
def _require_root():
    """Never pass silently: without root, skip (locally) or fail (CI)."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{ROOT_REASON}; CI is set, so this is a failure, not a skip")
        pytest.skip(ROOT_REASON)


@pytest.fixture
def fixture_proc():
    """Factory: fixture_proc(NAME, *args) starts .output/fixtures/NAME.

    Each process is killed and reaped at teardown, whatever the test did.
    """
    procs = []

    def start(name, *args):
        fx = FixtureProc(name, *args)
        procs.append(fx)
        return fx

    yield start
    for fx in procs:
        fx.cleanup()


@pytest.fixture
def go_fixture():
    """Factory: go_fixture(NAME, TOOLCHAIN, VARIANT, *args) starts the Go fixture
    tests/go/NAME built with that toolchain and variant, and waits for its "ready".

    Each one is killed at teardown.
    """
    started = []

    def start(name, toolchain, variant, *args):
        fx = GoFixture(require_go_fixture(name, toolchain, variant), *args)
        started.append(fx)
        return fx.ready(timeout=60)

    yield start
    for fx in started:
        fx.cleanup()


@pytest.fixture
def top():
    """Factory: top(*args, width=120, height=40, command=None, env=None) starts
    `tangle top ARGS` in tmux (tui_helpers.Top).

    At teardown every dashboard is quit (q) and the private tmux server killed.
    """
    require_tmux()
    tops = []

    def start(*args, width=120, height=40, command=None, env=None):
        t = Top(args, width, height, command, env)
        tops.append(t)
        return t

    yield start
    for t in tops:
        t.close()
    kill_server()


@pytest.fixture
def run_stream():
    """Factory: run_stream(args, duration=None) starts `tangle stream --json ARGS [-d D]`,
    waits until its meta line is out (BPF attached) and then, with settle=True
    (the default), until tangle idles in its event loop (its /proc bootstrap is
    over), and returns the TangleStream.

    wait_meta=False returns right after the start (for error cases). At teardown a
    still-running tangle gets SIGINT, then SIGKILL.
    """
    streams = []

    def start(args, duration=None, wait_meta=True, settle=True):
        ts = TangleStream(args, duration)
        streams.append(ts)
        if wait_meta:
            ts.wait_meta()
            if settle:
                ts.wait_settled()
        return ts

    yield start
    for ts in streams:
        ts.cleanup()
