# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""The deployment files in deploy/, checked without root, network, docker or kubectl.

The systemd unit goes through `systemd-analyze verify` (a copy whose ExecStart names a binary
that exists) and its sandbox is read back; the DaemonSet is held against a hand-written subset
of the Kubernetes schema; the Vector and Fluent Bit examples are parsed; the Dockerfile's stages
are read instruction by instruction. Each checker returns a list of problems, and each is also
run on a broken copy of its file, so a checker that stopped seeing problems fails too.
A tool that is missing (systemd-analyze, PyYAML) skips its test, or fails it under CI.
"""

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "tangle.service"
DAEMONSET = DEPLOY / "daemonset.yaml"
VECTOR = DEPLOY / "vector.toml"
FLUENT_BIT = DEPLOY / "fluent-bit.conf"
DOCKERFILE = DEPLOY / "Dockerfile"

BINARY = "/usr/local/bin/tangle"
LOG_FILE = "/var/log/tangle/events.ndjson"
# README.md, "Running without root": the capabilities tangle needs, no more
CAPS = {"CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}
K8S_CAPS = {c.removeprefix("CAP_") for c in CAPS}
SERVE_ARGS = ["serve", "--listen", "127.0.0.1:9750", "--socket", "/run/tangle/events.sock",
              "-o", LOG_FILE]
CONTAINER_ARGS = ["--listen", "0.0.0.0:9750", "-o", LOG_FILE]
# every field of core/v1 Container; anything else is a typo kubectl would reject or drop
CONTAINER_FIELDS = {
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
}
TRUE = {"yes", "true", "on", "1"}


def need(ok, reason):
    """Skips the test when a tool is missing, except under CI, where that is a failure."""
    if ok:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: not skipping)", pytrace=False)
    pytest.skip(reason)


def module(name, reason):
    """The module, or a skip (a failure under CI) when it is not installed."""
    try:
        return __import__(name)
    except ImportError:
        need(False, reason)


def problems_text(problems):
    return "\n  ".join([""] + problems)


# ---- systemd unit ---------------------------------------------------------------------------


def parse_unit(text):
    """{section: [(key, value, line number)]}, as systemd reads it: comments, continuations."""
    sections, section, pending, start = {}, None, "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            start = start or number
            pending += line[:-1] + " "
            continue
        line, pending, number, start = pending + line, "", start or number, 0
        if line.startswith("[") and line.endswith("]"):
            section = sections.setdefault(line[1:-1], [])
            continue
        assert section is not None, f"{UNIT.name}:{number}: assignment outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{UNIT.name}:{number}: not KEY=VALUE: {line!r}"
        section.append((key.strip(), value.strip(), number))
    return sections


def values(unit, section, key):
    return [v for k, v, _ in unit.get(section, []) if k == key]


def last(unit, section, key):
    found = values(unit, section, key)
    return found[-1] if found else None


def capability_set(unit, key):
    """A capability list as systemd merges it: lines add up, an empty one resets; no ~."""
    caps = set()
    for value in values(unit, "Service", key):
        assert not value.startswith("~"), f"{key}=~ is a deny list, expected the exact set"
        caps = set() if not value else caps | set(value.split())
    return caps


def check_unit(text):
    unit = parse_unit(text)
    problems = []
    execs = values(unit, "Service", "ExecStart")
    if len(execs) != 1:
        problems.append(f"expected one ExecStart=, found {len(execs)}")
    elif shlex.split(execs[0]) != [BINARY, *SERVE_ARGS]:
        problems.append(f"ExecStart={execs[0]!r}, expected {shlex.join([BINARY, *SERVE_ARGS])!r}")
    if (last(unit, "Service", "NoNewPrivileges") or "").lower() not in TRUE:
        problems.append("NoNewPrivileges=yes missing")
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        got = capability_set(unit, key)
        if got != CAPS:
            problems.append(f"{key}: {sorted(got)}, expected exactly {sorted(CAPS)}"
                            f" (extra {sorted(got - CAPS)}, missing {sorted(CAPS - got)})")
    if last(unit, "Service", "ProtectSystem") != "strict":
        problems.append(f"ProtectSystem={last(unit, 'Service', 'ProtectSystem')}, expected strict")
    if last(unit, "Service", "User") in ("root", "0"):
        problems.append("runs as root: the capabilities are given to a system user")
    # hidepid= or subset=pid would hide the very processes tangle watches
    for key in ("ProtectProc", "ProcSubset"):
        if last(unit, "Service", key) not in (None, "default", "all"):
            problems.append(f"{key}={last(unit, 'Service', key)} hides /proc/PID from tangle")
    if (last(unit, "Service", "PrivateUsers") or "no").lower() in TRUE:
        problems.append("PrivateUsers=yes: the capabilities would not count on the host")
    return problems


def test_unit_hardening():
    problems = check_unit(UNIT.read_text())
    assert not problems, f"{UNIT}:" + problems_text(problems)


def test_unit_checker_sees_problems():
    text = UNIT.read_text()
    broken = text.replace("NoNewPrivileges=yes", "NoNewPrivileges=no")
    broken = re.sub(r"^(CapabilityBoundingSet=.*)$", r"\1 CAP_SYS_ADMIN", broken, flags=re.M)
    broken = broken.replace("ProtectSystem=strict", "ProtectSystem=full")
    assert broken != text
    problems = "\n".join(check_unit(broken))
    for expected in ("NoNewPrivileges", "CapabilityBoundingSet", "CAP_SYS_ADMIN", "ProtectSystem"):
        assert expected in problems, f"check_unit missed {expected} in:\n{problems}"


def verify_unit(tmp_path, text):
    """(exit status, lines of systemd-analyze verify's output naming the unit, all output)."""
    binary = REPO / "tangle"
    binary = str(binary) if os.access(binary, os.X_OK) else shutil.which("true")
    assert re.search(rf"^ExecStart={re.escape(BINARY)} ", text, re.M), \
        f"ExecStart= does not start with {BINARY}"
    copy_path = tmp_path / "tangle.service"
    copy_path.write_text(re.sub(rf"^ExecStart={re.escape(BINARY)} ",
                                lambda _: f"ExecStart={binary} ", text, flags=re.M))
    env = dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="", SYSTEMD_LOG_LEVEL="notice")
    res = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy_path)],
                         capture_output=True, text=True, errors="replace", timeout=120,
                         cwd=tmp_path, env=env)
    output = res.stdout + res.stderr
    named = [line for line in output.splitlines() if copy_path.name in line]
    return res.returncode, named, output


def test_unit_verifies(tmp_path):
    need(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    status, named, output = verify_unit(tmp_path, UNIT.read_text())
    assert status == 0 and not named, (
        f"systemd-analyze verify {UNIT.name} exited {status}, lines about the unit:"
        + problems_text(named) + f"\nfull output:\n{output}")


def test_unit_verify_sees_unknown_directives(tmp_path):
    need(shutil.which("systemd-analyze"), "systemd-analyze not installed")
    text = UNIT.read_text().replace("[Service]\n", "[Service]\nProtectKernelTunable=yes\n", 1)
    status, named, output = verify_unit(tmp_path, text)
    assert any("ProtectKernelTunable" in line for line in named), (
        f"systemd-analyze verify did not report a misspelt directive (exit {status}):\n{output}")


# ---- Kubernetes DaemonSet -------------------------------------------------------------------


def check_daemonset(docs):
    problems = []
    if not docs or not all(isinstance(d, dict) for d in docs):
        return ["every YAML document must be a mapping"]
    if (docs[0].get("kind"), docs[0].get("metadata", {}).get("name")) != ("Namespace", "tangle"):
        problems.append("the first document must be the Namespace tangle")
    sets = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(sets) != 1:
        return problems + [f"expected one DaemonSet, found {len(sets)}"]
    ds = sets[0]
    if ds.get("apiVersion") != "apps/v1":
        problems.append(f"apiVersion {ds.get('apiVersion')!r}, expected apps/v1")
    meta = ds.get("metadata") or {}
    if not meta.get("name") or meta.get("namespace") != "tangle":
        problems.append(f"metadata name/namespace {meta.get('name')!r}/{meta.get('namespace')!r}")
    spec = ds.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append(f"selector.matchLabels {selector} is not a subset of the template's"
                        f" labels {labels}")
    if labels.get("app.kubernetes.io/name") != "tangle":
        problems.append("template label app.kubernetes.io/name: tangle missing")
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    if annotations.get("prometheus.io/scrape") != "true":
        problems.append('annotation prometheus.io/scrape must be the string "true"')
    pod = template.get("spec") or {}
    if pod.get("hostPID") is not True:
        problems.append(f"hostPID is {pod.get('hostPID')!r}, expected true")
    if {"operator": "Exists"} not in (pod.get("tolerations") or []):
        problems.append("no toleration {operator: Exists}: not every node would run tangle")
    grace = pod.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or isinstance(grace, bool) or grace <= 0:
        problems.append(f"terminationGracePeriodSeconds {grace!r}")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        return problems + [f"expected exactly one container, found {len(containers)}"]
    return problems + check_container(containers[0], pod.get("volumes") or [])


def check_container(c, volumes):
    problems = [f"unknown container field {k!r}" for k in sorted(set(c) - CONTAINER_FIELDS)]
    if not isinstance(c.get("image"), str) or not c["image"]:
        problems.append("container has no image")
    args = c.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        problems.append(f"args must be a list of strings, not {args!r}")
    elif args != CONTAINER_ARGS:
        problems.append(f"args {args}, expected {CONTAINER_ARGS}")
    sc = c.get("securityContext") or {}
    for key, want in (("privileged", False), ("allowPrivilegeEscalation", False),
                      ("readOnlyRootFilesystem", True)):
        if sc.get(key) is not want:
            problems.append(f"securityContext.{key} is {sc.get(key)!r}, expected {want!r}")
    if type(sc.get("runAsUser")) is not int or sc["runAsUser"] != 0:
        problems.append(f"securityContext.runAsUser is {sc.get('runAsUser')!r}, expected 0")
    caps = sc.get("capabilities") or {}
    if caps.get("drop") != ["ALL"]:
        problems.append(f"capabilities.drop {caps.get('drop')!r}, expected ['ALL']")
    add = caps.get("add") or []
    if set(add) != K8S_CAPS or len(add) != len(set(add)):
        problems.append(f"capabilities.add {add}, expected exactly {sorted(K8S_CAPS)}")
    if (sc.get("seccompProfile") or {}).get("type") != "Unconfined":
        problems.append("seccompProfile.type must be Unconfined (see the comment in the file)")
    by_name = {v.get("name"): v for v in volumes}
    mounts = c.get("volumeMounts") or []
    for m in mounts:
        volume = by_name.get(m.get("name"))
        if volume is None:
            problems.append(f"volumeMount {m.get('name')!r} names no volume")
        elif "hostPath" in volume and m.get("mountPath") != "/var/log/tangle" \
                and m.get("readOnly") is not True:
            problems.append(f"hostPath {volume['hostPath'].get('path')} is mounted writable"
                            f" at {m.get('mountPath')}")
    unused = set(by_name) - {m.get("name") for m in mounts}
    if unused:
        problems.append(f"volumes never mounted: {sorted(unused)}")
    host_paths = {v["hostPath"].get("path") for v in volumes if "hostPath" in v}
    for path in ("/sys/kernel/btf", "/sys/kernel/tracing"):
        if path not in host_paths:
            problems.append(f"no hostPath volume for {path}")
    if not any(m.get("mountPath") == "/var/log/tangle" for m in mounts):
        problems.append("nothing mounted at /var/log/tangle, where -o writes")
    ports = c.get("ports") or []
    if not any(p.get("containerPort") == 9750 and p.get("name") == "metrics" for p in ports):
        problems.append(f"no containerPort 9750 named metrics in {ports}")
    for probe in ("readinessProbe", "livenessProbe"):
        get = (c.get(probe) or {}).get("httpGet") or {}
        if get.get("path") != "/metrics" or get.get("port") not in ("metrics", 9750):
            problems.append(f"{probe} is not an httpGet of /metrics on the metrics port: {get}")
    if ((c.get("resources") or {}).get("limits") or {}).get("memory") != "512Mi":
        problems.append("resources.limits.memory must be 512Mi")
    return problems


def load_daemonset():
    yaml = module("yaml", "PyYAML not installed")
    docs = list(yaml.safe_load_all(DAEMONSET.read_text()))
    return [d for d in docs if d is not None]


def test_daemonset_schema():
    problems = check_daemonset(load_daemonset())
    assert not problems, f"{DAEMONSET}:" + problems_text(problems)


def test_daemonset_checker_sees_problems():
    docs = load_daemonset()
    breakages = {
        "unknown container field 'securityContxt'":
            lambda c, p: c.update(securityContxt={}),
        "capabilities.add": lambda c, p: c["securityContext"]["capabilities"]["add"]
            .append("SYS_ADMIN"),
        "capabilities.drop": lambda c, p: c["securityContext"]["capabilities"]
            .update(drop=["NET_RAW"]),
        "mounted writable": lambda c, p: next(m for m in c["volumeMounts"]
                                              if m["name"] == "btf").pop("readOnly"),
        "names no volume": lambda c, p: c["volumeMounts"].append(
            {"name": "nosuch", "mountPath": "/x"}),
        "hostPID": lambda c, p: p.update(hostPID="true"),
        "args must be a list of strings": lambda c, p: c.update(args="--listen 0.0.0.0:9750"),
        "readinessProbe": lambda c, p: c["readinessProbe"]["httpGet"].update(path="/"),
    }
    for expected, breakage in breakages.items():
        broken = copy.deepcopy(docs)
        broken_pod = next(d for d in broken if d["kind"] == "DaemonSet")["spec"]["template"]
        breakage(broken_pod["spec"]["containers"][0], broken_pod["spec"])
        problems = check_daemonset(broken)
        assert any(expected in p for p in problems), \
            f"check_daemonset missed {expected!r}; it said:" + problems_text(problems)


# ---- log shippers ---------------------------------------------------------------------------


def check_vector(config):
    problems = []
    sources, transforms = config.get("sources") or {}, config.get("transforms") or {}
    sinks = config.get("sinks") or {}
    files = [s for s in sources.values() if s.get("type") == "file"]
    if not any(any(p.startswith(LOG_FILE) for p in s.get("include", [])) for s in files):
        problems.append(f"no file source includes {LOG_FILE}")
    types = {s.get("type") for s in sinks.values()}
    for wanted in ("kafka", "loki"):
        if wanted not in types:
            problems.append(f"no {wanted} sink (sinks: {sorted(types)})")
    outputs = set(sources) | set(transforms)
    for name, t in transforms.items():
        if t.get("type") == "route":
            outputs |= {f"{name}.{r}" for r in t.get("route", {})} | {f"{name}._unmatched"}
    for kind, table in (("transform", transforms), ("sink", sinks)):
        for name, component in table.items():
            for inp in component.get("inputs") or [None]:
                if inp not in outputs:
                    problems.append(f"{kind} {name}: input {inp!r} is no source or transform")
    routes = [t for t in transforms.values() if t.get("type") == "route"]
    if not any("stuck_group" in str(t.get("route")) for t in routes):
        problems.append("no route transform selects stuck_group records")
    return problems


def test_vector_config():
    tomllib = module("tomllib", "tomllib needs Python 3.11")
    problems = check_vector(tomllib.loads(VECTOR.read_text()))
    assert not problems, f"{VECTOR}:" + problems_text(problems)


def test_vector_checker_sees_problems():
    tomllib = module("tomllib", "tomllib needs Python 3.11")
    config = tomllib.loads(VECTOR.read_text())
    config["sinks"] = {k: v for k, v in config["sinks"].items() if v["type"] != "loki"}
    next(iter(config["sinks"].values()))["inputs"] = ["nosuch"]
    problems = "\n".join(check_vector(config))
    assert "no loki sink" in problems and "'nosuch'" in problems, problems


def parse_fluent_bit(text):
    """Classic format: [(SECTION, {key in lower case: value})], comments and @ lines skipped."""
    sections = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("@"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), f"{FLUENT_BIT.name}:{number}: bad section {line!r}"
            sections.append((line[1:-1].upper(), {}))
            continue
        assert sections and raw[:1].isspace(), \
            f"{FLUENT_BIT.name}:{number}: entry outside a section or not indented: {raw!r}"
        key, _, value = line.partition(" ")
        assert value.strip(), f"{FLUENT_BIT.name}:{number}: {key} has no value"
        sections[-1][1][key.lower()] = value.strip()
    return sections


def test_fluent_bit_config():
    sections = parse_fluent_bit(FLUENT_BIT.read_text())
    tails = [e for s, e in sections if s == "INPUT" and e.get("name") == "tail"]
    assert len(tails) == 1, f"expected one [INPUT] Name tail, found {len(tails)}"
    assert tails[0].get("path") == LOG_FILE, f"tail Path {tails[0].get('path')!r}"
    assert tails[0].get("parser") == "json", f"tail Parser {tails[0].get('parser')!r}"
    outputs = [e for s, e in sections if s == "OUTPUT"]
    names = {e.get("name") for e in outputs}
    assert {"kafka", "es"} <= names, f"[OUTPUT] sections: {sorted(map(str, names))}"
    assert all(e.get("match") for e in outputs), "every [OUTPUT] needs a Match"


# ---- Dockerfile -----------------------------------------------------------------------------


def dockerfile_stages(text):
    """[[(INSTRUCTION, arguments)]] per stage, continuation lines joined, comments dropped."""
    stages, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        assert stages, f"{instruction} before the first FROM"
        stages[-1].append((instruction.upper(), args.strip()))
    return stages


def check_dockerfile(text):
    problems = []
    stages = dockerfile_stages(text)
    if len(stages) < 2:
        return [f"expected a build stage and a final stage, found {len(stages)} stage(s)"]
    if not stages[0][0][1].startswith("debian:bookworm "):
        problems.append(f"build stage FROM {stages[0][0][1]!r}, expected debian:bookworm")
    final = stages[-1]
    if final[0][1].split()[0] != "debian:bookworm-slim":
        problems.append(f"final stage FROM {final[0][1]!r}, expected debian:bookworm-slim")
    entry = [json.loads(a) for i, a in final if i == "ENTRYPOINT"]
    if entry != [[BINARY, "serve"]]:
        problems.append(f"final ENTRYPOINT {entry}, expected [{BINARY!r}, 'serve'] in JSON form")
    if [json.loads(a) for i, a in final if i == "CMD"] != [["--listen", "0.0.0.0:9750"]]:
        problems.append("final CMD must be [\"--listen\", \"0.0.0.0:9750\"]")
    if not any(i == "EXPOSE" and "9750" in a.split() for i, a in final):
        problems.append("final stage does not EXPOSE 9750")
    if not any(i == "COPY" and "--from=" in a and a.split()[-1] == BINARY for i, a in final):
        problems.append(f"final stage does not COPY the built binary to {BINARY}")
    for number, stage in enumerate(stages):
        for instruction, args in stage:
            if instruction != "RUN":
                continue
            for command in re.split(r"&&|\|\||;|\|", args):
                if re.search(r"\bapt-get\s+(\S+\s+)*install\b", command):
                    if "--no-install-recommends" not in command.split():
                        problems.append(f"stage {number}: apt-get install without"
                                        f" --no-install-recommends: {command.strip()!r}")
                    if number == len(stages) - 1 and re.search(r"\S+-dev\b", command):
                        problems.append(f"final stage installs -dev packages: {command.strip()!r}")
    return problems


def test_dockerfile():
    problems = check_dockerfile(DOCKERFILE.read_text())
    assert not problems, f"{DOCKERFILE}:" + problems_text(problems)


def test_dockerfile_checker_sees_problems():
    text = DOCKERFILE.read_text()
    broken = text.replace("-y --no-install-recommends", "-y", 1)
    broken = broken.replace('"serve"]', '"stream"]').replace("bookworm-slim", "bookworm")
    assert broken != text
    problems = "\n".join(check_dockerfile(broken))
    for expected in ("--no-install-recommends", "ENTRYPOINT", "bookworm-slim"):
        assert expected in problems, f"check_dockerfile missed {expected} in:\n{problems}"
