# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Fuzz tests (tier 2, no root): libFuzzer on two parsers of input from anyone.

fuzz_gobin reads an executable the way src/gobin.c does when tangle attaches
to a Go process (seeded with small Go executables rebuilt by
tests/fuzz/gobin_seeds.py, made by `make fuzz` in .output-fuzz/seed-gobin);
fuzz_json drives the JSON writer and the terminal escaper and checks every
record against a model of json.h. Each runs for TANGLE_FUZZ_SECONDS (30 s by
default), and every input in tests/fuzz/regress/TARGET (what once crashed it)
runs once. The targets are found in TANGLE_FUZZ_DIR (default .output-fuzz).
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FUZZ_DIR = Path(os.environ.get("TANGLE_FUZZ_DIR") or REPO / ".output-fuzz")
FUZZ_SECONDS = int(os.environ.get("TANGLE_FUZZ_SECONDS", "30"))
REGRESS = REPO / "tests" / "fuzz" / "regress"
GOBIN_DIR = Path(os.environ.get("TANGLE_GOBIN_DIR") or REPO / ".output" / "gobin")
GOBIN_DRIVER = GOBIN_DIR / "gobin_driver"
# the seed directories of each target, besides its regress directory
TARGETS = {"fuzz_gobin": [FUZZ_DIR / "seed-gobin"], "fuzz_json": []}
ARTIFACTS = ("crash-*", "leak-*", "timeout-*", "oom-*")


def target(name):
    path = FUZZ_DIR / name
    if not path.is_file():
        pytest.fail(f"fuzz target not built at {path} (make fuzz)")
    return str(path)


def artifacts(tmp_path):
    return [p.name for pattern in ARTIFACTS for p in tmp_path.glob(pattern)]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz(name, tmp_path):
    """A bounded run from the seeds and the regress inputs: no crash, leak, hang or OOM."""
    fuzz = target(name)
    for seeds in TARGETS[name]:
        if not seeds.is_dir() or not any(seeds.iterdir()):
            pytest.fail(f"no seeds in {seeds} (make fuzz)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    p = subprocess.run([fuzz, f"-max_total_time={FUZZ_SECONDS}", "-timeout=10",
                        "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", str(corpus),
                        *map(str, TARGETS[name]), str(REGRESS / name)],
                       capture_output=True, timeout=FUZZ_SECONDS + 120)
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log[-3000:]
    assert "Done" in log, log[-2000:]
    assert not artifacts(tmp_path), log[-3000:]


# fuzz_record (tangle replay) runs from tests/data in tests/test_replay.py; its regress here
@pytest.mark.parametrize("name", sorted(TARGETS) + ["fuzz_record"])
def test_regress(name, tmp_path):
    """Every input that once crashed the target runs through it once, cleanly."""
    fuzz = target(name)
    inputs = sorted(str(p) for p in (REGRESS / name).iterdir() if p.is_file())
    assert inputs, f"{REGRESS / name} is empty (its README at least should be there)"
    p = subprocess.run([fuzz, f"-artifact_prefix={tmp_path}/", *inputs], capture_output=True,
                       timeout=120)
    log = p.stderr.decode(errors="replace")
    assert p.returncode == 0, log[-3000:]
    for path in inputs:
        assert f"Executed {path}" in log, log[-2000:]
    assert not artifacts(tmp_path), log[-3000:]


def test_gobin_seeds_open():
    """The rebuilt seeds are Go executables to gobin: fuzzing starts past the parsers' gates."""
    if not GOBIN_DRIVER.is_file():
        pytest.fail(f"gobin driver not built at {GOBIN_DRIVER} (make gobin)")
    seeds = sorted(p for p in (FUZZ_DIR / "seed-gobin").glob("prog-*"))
    if not seeds:
        pytest.fail(f"no seeds in {FUZZ_DIR / 'seed-gobin'} (make fuzz)")
    for seed in seeds:
        p = subprocess.run([str(GOBIN_DRIVER), str(seed)], input=b"info\nfunc main.main\n",
                           capture_output=True, timeout=60)
        out = p.stdout.decode()
        assert p.returncode == 0, (seed.name, p.stderr.decode())
        assert "version=go1." in out and "module=tangle/gobinprog" in out, (seed.name, out)
        assert "func main.main 0x" in out, (seed.name, out)
