#!/usr/bin/env bash
# Install everything tangle's build, tests and demo need on Debian/Ubuntu.
# Idempotent: installs only what is missing. Used by the README and .ci/run.
set -euo pipefail

PKGS=(
	make gcc g++ pkg-config       # userspace build; g++ for C++ symbolization tests
	clang-19 llvm-19              # BPF compiler (-target bpf, CO-RE)
	libbpf-dev bpftool            # BPF loader library, skeleton generator
	libelf-dev zlib1g-dev         # libbpf's own dependencies
	libncurses-dev libdw-dev      # dashboard, symbolization (later issues)
	clang-format-19               # make check-format
	python3 python3-pytest        # test runner
	valgrind jq tmux              # memory checks, ad-hoc JSON, TUI tests
	gdb binutils                  # reference stacks (gdb, addr2line, objcopy) in tests
	libclang-rt-19-dev            # libFuzzer: the record-file reader's fuzz target
	graphviz                      # dot: renders the wait-for graphs tangle exports, in tests
	libmicrohttpd-dev             # tangle serve: the HTTP server of /metrics
	prometheus python3-yaml       # tests: a real Prometheus scrapes tangle serve; manifests
)

# `scripts/deps.sh --bench`: also what `make bench` compares with and plots with
if [ "${1:-}" = "--bench" ]; then
	PKGS+=(bpftrace python3-matplotlib tmux)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	# Debian's prometheus starts a system-wide server on :9090 when systemd runs; the tests
	# start their own on a free loopback port: a server we just installed is not left running
	if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
		$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
else
	echo "deps: all Debian packages present"
fi

# The python3 that runs the tests may not be Debian's (pyenv, venv): make sure it has pytest.
PY=${PYTHON:-python3}
if ! "$PY" -c 'import pytest' 2>/dev/null; then
	echo "deps: installing pytest for $PY"
	"$PY" -m pip install -q pytest
fi

# Go: the installed toolchain builds the Go fixtures; older ones come from the
# Go module proxy (GOTOOLCHAIN=goX.Y.Z downloads them once into the module cache).
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
if [ ! -x "$GO" ]; then
	echo "deps: no Go toolchain (looked for go in PATH and /usr/local/go/bin); install Go 1.22 or newer" >&2
	exit 1
fi
# The older toolchains the Makefile builds fixtures with (it passes GO_TOOLCHAINS
# for the targets that build them: test, bench), fetched here, where a failure
# says what it is: the proxy sometimes answers "toolchain not available" to a
# first download and serves it a moment later, so each gets a few tries.
for v in ${GO_TOOLCHAINS:-}; do
	for try in 1 2 3 4 5; do
		GOTOOLCHAIN="$v" "$GO" version >/dev/null 2>&1 && break
		if [ "$try" -eq 5 ]; then
			echo "deps: cannot fetch Go toolchain $v through the Go proxy ($("$GO" env GOPROXY))" >&2
			exit 1
		fi
		sleep $((try * 3))
	done
done
echo "deps: Go $("$GO" env GOVERSION)${GO_TOOLCHAINS:+ and $GO_TOOLCHAINS}"
