# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Runs the C unit-test binaries (.output/unit/test_*) as pytest cases.

Each binary built on tests/unit/test.h lists its tests with --list and runs
one with --run NAME; every (binary, test) pair becomes one pytest case, so a
failure names the exact C test and shows its output. Set TANGLE_UNIT_DIR to
look for the binaries somewhere other than <repository>/.output/unit.
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
UNIT_DIR = Path(os.environ.get("TANGLE_UNIT_DIR") or REPO_ROOT / ".output" / "unit")
TIMEOUT_S = 300


def _binaries():
    """Executable regular files named test_* with no suffix (not .o, .d)."""
    if not UNIT_DIR.is_dir():
        return []
    return sorted(
        p
        for p in UNIT_DIR.glob("test_*")
        if p.is_file() and not p.suffix and os.access(p, os.X_OK)
    )


def _list_tests(binary):
    """Returns (names, None), or ([], error text) if --list failed."""
    try:
        res = subprocess.run(
            [str(binary), "--list"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"{binary} --list: {exc}"
    if res.returncode != 0:
        return [], f"{binary} --list exited {res.returncode}\n{res.stdout}{res.stderr}"
    names = [line.strip() for line in res.stdout.splitlines() if line.strip()]
    if not names:
        return [], f"{binary} --list printed no tests"
    return names, None


def _cases():
    binaries = _binaries()
    if not binaries:
        msg = f"no unit-test binaries (test_*) in {UNIT_DIR}: run make first"
        return [pytest.param(None, None, msg, id="no-unit-binaries")]
    cases = []
    for binary in binaries:
        names, error = _list_tests(binary)
        if error:
            cases.append(pytest.param(binary, None, error, id=f"{binary.name}::--list"))
        for name in names:
            cases.append(pytest.param(binary, name, None, id=f"{binary.name}::{name}"))
    return cases


@pytest.mark.parametrize("binary,name,error", _cases())
def test_unit(binary, name, error):
    if error:
        pytest.fail(error, pytrace=False)
    try:
        res = subprocess.run(
            [str(binary), "--run", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.output or b""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        pytest.fail(f"{binary.name} --run {name}: timed out after {TIMEOUT_S} s\n{out}",
                    pytrace=False)
    if res.returncode != 0:
        pytest.fail(
            f"{binary.name} --run {name} exited {res.returncode}\n{res.stdout}", pytrace=False
        )
