"""`tangle serve`: /metrics scraped by a real Prometheus (Debian's package),
the NDJSON stream on a Unix socket whose reader goes away and comes back,
to a rotated file, and --on-stuck, against real stuck fixtures."""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tangle_helpers import LineReader, parse_line, require_tangle

FIXTURE_TIMEOUT = 60
START_TIMEOUT = 30.0
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                       r'(-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Serve:
    """A running `tangle serve ARGS`."""

    def __init__(self, *args):
        self.port = free_port()
        self.argv = [str(require_tangle()), "serve", "--listen", f"127.0.0.1:{self.port}",
                     *map(str, args)]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.proc.stdout, "serve-stdout")
        self.err = LineReader(self.proc.stderr, "serve-stderr")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if b"serving http" in b"".join(self.err.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"tangle serve did not start: {self.describe()}")

    def describe(self):
        return (f"`{' '.join(self.argv)}` (rc {self.proc.poll()})\nstdout:\n{self.out.text()}\n"
                f"stderr:\n{self.err.text()}")

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def metrics(self):
        status, ctype, text = self.get("/metrics")
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
        return text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"tangle serve did not stop on SIGTERM: {self.describe()}")
        self.out.join()
        self.err.join()
        return rc


@pytest.fixture
def serve():
    started = []

    def start(*args):
        s = Serve(*args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def samples(text):
    """{(name, frozenset(labels)): value}; every line must be a comment or a valid sample."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        key = (m[1], labels)
        assert key not in out, f"duplicate series {line!r}"
        out[key] = float(m[3])
    return out


def value(s, name, **labels):
    want = {(k, str(v)) for k, v in labels.items()}
    found = [v for (n, ls), v in s.items() if n == name and want <= ls]
    return found


def test_metrics_page(serve):
    sv = serve()
    text = sv.metrics()
    s = samples(text)
    for fam, typ in (("tangle_threads", "gauge"), ("tangle_events_total", "counter"),
                     ("tangle_stuck_groups", "gauge"), ("tangle_futex_wait_seconds_total", "counter"),
                     ("tangle_events_lost_total", "counter"), ("tangle_cpu_seconds_total", "counter"),
                     ("tangle_resident_memory_bytes", "gauge"), ("tangle_contended_locks", "gauge")):
        assert f"# TYPE {fam} {typ}\n" in text, fam
    assert sum(value(s, "tangle_threads")) > 10, "the host's threads are counted"
    assert value(s, "tangle_threads", state="running")
    assert value(s, "tangle_stuck_groups", of="threads", kind="deadlock") == [0.0]
    assert value(s, "tangle_build_info")[0] == 1.0
    assert value(s, "tangle_resident_memory_bytes")[0] > 1 << 20
    before = value(s, "tangle_events_total")[0]
    time.sleep(1.2)
    s2 = samples(sv.metrics())
    assert value(s2, "tangle_events_total")[0] >= before
    assert value(s2, "tangle_scrapes_total")[0] == 2
    assert sv.get("/")[0] == 200
    assert sv.get("/nothing")[0] == 404
    assert sv.stop() == 0


def prometheus_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.fixture
def prometheus(tmp_path):
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail(f"prometheus not found at {PROMETHEUS}: scripts/deps.sh installs Debian's "
                    f"prometheus package")
    procs = []

    def start(target_port):
        port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                       "scrape_configs:\n  - job_name: tangle\n    static_configs:\n"
                       f"      - targets: ['127.0.0.1:{target_port}']\n")
        p = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                              f"--storage.tsdb.path={tmp_path / 'data'}",
                              f"--web.listen-address=127.0.0.1:{port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        err = LineReader(p.stderr, "prometheus-stderr")

        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                assert p.poll() is None, f"prometheus exited: {err.text()}"
                return False
        wait_until(ready, 60, "prometheus to be ready")
        return port

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def test_prometheus_sees_the_deadlock(serve, prometheus, fixture_proc):
    sv = serve()
    pport = prometheus(sv.port)
    wait_until(lambda: prometheus_query(pport, 'up{job="tangle"} == 1'), 30,
               "prometheus to scrape tangle")
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    stuck = fx.read_json()
    while stuck.get("phase") != "stuck":
        stuck = fx.read_json(timeout=30)
    q = 'tangle_stuck_groups{of="threads",kind="deadlock"}'
    res = wait_until(lambda: [r for r in prometheus_query(pport, q) if r["value"][1] == "1"], 30,
                     "prometheus to store tangle_stuck_groups == 1")
    assert res[0]["metric"]["job"] == "tangle"
    members = wait_until(lambda: prometheus_query(
        pport, f'tangle_stuck_group_members{{kind="deadlock",pid="{fx.pid}"}}'), 30,
        "the group's members series")
    assert members[0]["value"][1] == "2", members
    assert members[0]["metric"]["comm"] in ("abba-a", "abba-b"), members
    detected = prometheus_query(pport, 'tangle_stuck_groups_detected_total{kind="deadlock"}')
    assert detected and float(detected[0]["value"][1]) >= 1, detected
    fx.cleanup()  # the deadlock ends with its process
    wait_until(lambda: [r for r in prometheus_query(pport, q) if r["value"][1] == "0"], 30,
               "the gauge back to 0")
    assert sv.stop() == 0


class Reader:
    """A reader of the NDJSON socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(str(path))
        self.s.settimeout(0.2)
        self.buf = b""
        self.records = []

    def poll(self):
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
        except (socket.timeout, BlockingIOError):
            pass
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.records.append(parse_line(line + b"\n"))
        return self.records

    def wait_for(self, pred, what, timeout=30):
        return wait_until(lambda: [r for r in self.poll() if pred(r)], timeout, what)

    def close(self):
        self.s.close()


def test_socket_reader_comes_back_and_misses_nothing(serve, fixture_proc, tmp_path):
    path = tmp_path / "events.sock"
    sv = serve("--socket", path)
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    first = Reader(path)
    first.wait_for(lambda r: r["type"] == "meta", "meta for the first reader")
    first.close()  # the reader goes away (a log shipper restarting) ...
    # ... and while it is gone, a deadlock forms and is reported
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    rec = fx.read_json()
    while rec.get("phase") != "stuck":
        rec = fx.read_json(timeout=30)
    wait_until(lambda: value(samples(sv.metrics()), "tangle_stuck_groups", of="threads",
                             kind="deadlock") == [1.0], 30, "the group to be found")
    time.sleep(0.3)
    # the reader comes back: meta first, then the stuck group it missed
    second = Reader(path)
    groups = second.wait_for(lambda r: r["type"] == "stuck_group", "the missed stuck_group")
    recs = second.records
    assert recs[0]["type"] == "meta", recs[:2]
    assert groups[0]["pids"] == [fx.pid] and groups[0]["kind"] == "deadlock", groups[0]
    assert sorted(m["tid"] for m in groups[0]["members"]) == sorted(rec["members"])
    # and from now on it is live: the resolution when the process ends
    fx.cleanup()
    second.wait_for(lambda r: r["type"] == "stuck_group_resolved", "the resolution, live")
    # a second reader at the same time gets meta, not the backlog (already delivered)
    third = Reader(path)
    third.wait_for(lambda r: r["type"] == "meta", "meta for the third reader")
    time.sleep(0.3)
    assert [r["type"] for r in third.poll()] == ["meta"], third.records
    second.close()
    third.close()
    assert sv.stop() == 0
    assert not path.exists(), "the socket is removed at exit"


def test_file_rotates(serve, fixture_proc, tmp_path):
    out = tmp_path / "events.ndjson"
    sv = serve("-o", out, "--max-size", "64K", "--all-events")
    fixture_proc("churn", "3000", "--timeout", FIXTURE_TIMEOUT)
    wait_until(lambda: (tmp_path / "events.ndjson.1").exists(), 30, "a rotation")
    assert sv.stop() == 0
    for f in (out, tmp_path / "events.ndjson.1"):
        lines = f.read_bytes().splitlines(keepends=True)
        assert lines, f
        for raw in lines:
            parse_line(raw)
    assert (tmp_path / "events.ndjson.1").stat().st_size < 64 * 1024 + 65536
    assert parse_line(out.read_bytes().splitlines(keepends=True)[-1])["type"] == "summary"


def test_on_stuck_runs_with_the_group(serve, fixture_proc, tmp_path):
    cmd = (f'cat > {tmp_path}/group-$TANGLE_GROUP_ID.json; '
           f'echo "$TANGLE_GROUP_OF $TANGLE_GROUP_KIND" > {tmp_path}/kind-$TANGLE_GROUP_ID')
    sv = serve("--on-stuck", cmd)
    fx = fixture_proc("stuck_abba", "--timeout", FIXTURE_TIMEOUT)
    files = wait_until(lambda: list(tmp_path.glob("kind-*")), 30, "the hook to run")
    gid = files[0].name.split("-", 1)[1]
    assert files[0].read_text() == "threads deadlock\n"
    group = json.loads((tmp_path / f"group-{gid}.json").read_text())
    assert group["type"] == "stuck_group" and group["pids"] == [fx.pid]
    assert str(group["group_id"]) == gid
    s = samples(sv.metrics())
    wait_until(lambda: value(samples(sv.metrics()), "tangle_on_stuck_runs_total",
                             result="ok") == [1.0], 10, "the run counted")
    assert value(s, "tangle_on_stuck_runs_total", result="failed") == [0.0]
    assert sv.stop() == 0


def run_tangle(*args):
    return subprocess.run([str(require_tangle()), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_serve_errors(tmp_path):
    r = run_tangle("serve", "--listen", "nowhere")
    assert r.returncode == 1 and "--listen nowhere" in r.stderr, r
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = run_tangle("serve", "--listen", f"127.0.0.1:{busy.getsockname()[1]}")
        assert r.returncode == 1 and "cannot serve HTTP" in r.stderr, r
    regular = tmp_path / "file"
    regular.write_text("mine")
    r = run_tangle("serve", "--socket", regular)
    assert r.returncode == 1 and "not a socket" in r.stderr, r
    assert regular.read_text() == "mine", "a file at the socket path is left alone"
    r = run_tangle("stream", "--listen", "127.0.0.1:1")
    assert r.returncode == 1 and "option of tangle serve" in r.stderr, r
    r = run_tangle("serve", "--help")
    assert r.returncode == 0 and "/metrics" in r.stdout


def test_goroutine_metrics(serve, go_fixture):
    """A Go process whose goroutines leak on a nil channel: its goroutines by status and
    wait reason, and the leaked group, in /metrics."""
    from go_helpers import go_local_version
    sv = serve()
    fx = go_fixture("stuck/nil_chan", go_local_version(), "plain")
    leaked = len(fx.truth["stuck_goids"])

    def seen():
        s = samples(sv.metrics())
        waiting = value(s, "tangle_goroutines_waiting", pid=fx.pid,
                        reason="chan receive (nil chan)")
        groups = value(s, "tangle_stuck_groups", of="goroutines", kind="leaked")
        return (s, waiting) if waiting and waiting[0] >= leaked and groups == [1.0] else None
    s, waiting = wait_until(seen, 60, "the goroutines and the leaked group in /metrics")
    assert value(s, "tangle_goroutines", pid=fx.pid, status="waiting")[0] >= leaked
    assert value(s, "tangle_stuck_members", of="goroutines", kind="leaked")[0] >= leaked
    assert value(s, "tangle_go_processes")[0] >= 1
    assert sv.stop() == 0
