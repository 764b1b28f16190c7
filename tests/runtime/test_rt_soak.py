"""Soak: tangle watching the whole host through minutes of thread churn.

Thousands of threads a second are created, renamed and joined (tests/fixtures/churn
in a loop) while `tangle stream` watches system-wide, read as it goes. Its memory must stay
flat once the model holds the host's steady state (threads that exit are
forgotten), it must keep up or say what it dropped, and it must end cleanly.
"""

import os
import re
import subprocess
import threading
import time

from tangle_helpers import parse_output, require_fixture, require_tangle

SOAK_S = int(os.environ.get("TANGLE_SOAK_SECONDS", "180"))
WARMUP_S = 30
RSS_GROWTH_LIMIT_KIB = 8 * 1024


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def test_thread_churn_soak():
    """RSS flat after the warm-up, every drop reported, a clean exit."""
    churn = str(require_fixture("churn"))
    stop = threading.Event()
    made = [0]

    def load():
        while not stop.is_set():
            subprocess.run([churn, "5000", "--batch", "16"], stdout=subprocess.DEVNULL,
                           check=True, timeout=60)
            made[0] += 5000
            time.sleep(0.5)

    env = dict(os.environ)
    if require_tangle().name.endswith("-san"):
        # ASan holds freed memory back (256 MiB of quarantine) and would look like a leak;
        # without the quarantine its RSS is the program's (leaks are LeakSanitizer's job)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS"), "quarantine_size_mb=0", "thread_local_quarantine_size_kb=0"]))
    proc = subprocess.Popen([str(require_tangle()), "stream", "-v", "-d", str(SOAK_S)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    kept, counts = [], {"lines": 0}

    def read():
        # every line read (so nothing is dropped for a slow reader); the few that are not
        # thread or wait records kept, to be validated
        for line in proc.stdout:
            counts["lines"] += 1
            if not line.startswith((b'{"type":"thread_', b'{"type":"wait_')):
                kept.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    loader = threading.Thread(target=load, daemon=True)
    samples = []
    try:
        time.sleep(1)
        loader.start()
        start = time.monotonic()
        while proc.poll() is None and time.monotonic() - start < SOAK_S - 5:
            time.sleep(5)
            samples.append((time.monotonic() - start, rss_kib(proc.pid)))
        proc.wait(timeout=60)
        reader.join(timeout=60)
        err = proc.stderr.read()
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        loader.join(timeout=70)
    err = err.decode("utf-8", "replace")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{err[-3000:]}"
    rate = made[0] / SOAK_S
    assert rate > 2000, f"the load made only {rate:.0f} threads/s"
    # memory: flat once warm (what the model holds of exited threads is freed)
    warm = [kib for t, kib in samples if t >= WARMUP_S]
    assert len(warm) >= 3, samples
    growth = max(warm) - warm[0]
    assert growth < RSS_GROWTH_LIMIT_KIB, \
        f"RSS grew {growth} KiB after the warm-up ({rate:.0f} threads/s): {samples}"
    # drops: whatever the kernel dropped was said, record by record, and adds up
    recs = parse_output(b"".join(kept))
    assert recs[0]["type"] == "meta" and recs[-1]["type"] == "summary", (recs[:1], recs[-1:])
    lost = [r for r in recs if r["type"] == "lost_events"]
    by_reason = {}
    for r in lost:
        by_reason[r["reason"]] = r["total"]
    assert "output_full" not in by_reason, f"the reader kept up, yet: {by_reason}"
    assert sum(by_reason.values()) == recs[-1]["lost"], (lost, recs[-1])
    m = re.search(r"(\d+) events, (\d+) lost", err)
    assert m and int(m.group(2)) == recs[-1]["lost"], err[-2000:]
    assert not [r for r in recs if r["type"] == "stuck_group"], "a stuck group in a churn soak"
    print(f"soak: {rate:.0f} threads/s for {SOAK_S} s, {counts['lines']} lines, {m.group(0)}, RSS {samples[0][1]} -> "
          f"{samples[-1][1]} KiB (warm {warm[0]} -> max {max(warm)})")
