# tangle: BPF objects -> skeleton -> ./tangle
#
#   make            build ./tangle (quiet; V=1 shows commands)
#   make SAN=1      ASan+UBSan build in .output-san/, linked as ./tangle-san
#   make test       unit + runtime tests (runtime tests need root)
#   make deps       install the Debian packages the build and tests need
#   make vmlinux    regenerate vmlinux/vmlinux.h from the running kernel's BTF
#   make demo       build and show tangle catching a real stuck thread
#   make format     clang-format every C file in place; make check-format checks

ifeq ($(SAN),1)
OUTPUT := .output-san
APP := tangle-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
OUTPUT := .output
APP := tangle
SANFLAGS :=
endif

CLANG ?= $(shell command -v clang-19 || command -v clang)
BPFTOOL ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
CLANG_FORMAT ?= $(shell command -v clang-format-19 || command -v clang-format)
OBJCOPY ?= objcopy
PYTHON ?= python3
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
# Older Go toolchains (from the Go module proxy via GOTOOLCHAIN), one per
# runtime layout change; the installed go is the newest. scripts/deps.sh
# fetches them so that tests do not wait on the network.
GO_TOOLCHAINS := go1.22.12 go1.23.12 go1.24.13 go1.25.12
ARCH := $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')

VERSION := 0.1.0
CFLAGS ?= -g -O2
ALL_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing \
	-D_GNU_SOURCE -DTANGLE_VERSION='"$(VERSION)"' \
	-Iinclude -Isrc -I$(OUTPUT) $(SANFLAGS) -MMD -MP
# libdw: DWARF unwinding and line info; libstdc++: __cxa_demangle for C++/Rust names
# libmicrohttpd: tangle serve's /metrics
LDLIBS := -lbpf -ldw -lelf -lz -lncursesw -ltinfo -lstdc++ -lmicrohttpd
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Iinclude -Ivmlinux -I$(OUTPUT)

# Sources of the plain-C layers (no libbpf, no curses): unit tests link these.
CORE_SRCS := src/json.c src/hmap.c src/model.c src/decode.c src/procfs.c src/log.c \
	src/view_json.c src/futex.c src/escape.c src/lockinfo.c src/detect.c src/report.c src/owner.c \
	src/symbols.c src/record.c src/view_trace.c
CORE_SRCS += src/tui/snapshot.c src/tui/snapshot_go.c src/tui/table.c src/unwind.c src/ksyms.c \
	src/folded.c src/outq.c
# Go programs: binaries (gobin), runtime layouts, goroutines read from memory, their views
CORE_SRCS += src/gobin.c src/golayout.c src/goproc.c src/vmread.c src/view_go.c src/x86insn.c \
	src/gotrack.c src/godetect.c src/gosite.c src/radix.c
# What blocked goroutines wait on, and whether any live goroutine can still reach it
CORE_SRCS += src/golayout_obj.c src/goobj.c src/goreach_funcs.c src/goreach_heap.c \
	src/goreach_stacks.c src/goreach.c src/goevidence.c
# tangle lockorder: where its uprobes go, the lock-order graph, its reports
CORE_SRCS += src/lockplace.c src/lockgraph.c src/view_lockorder.c
# tangle serve's Prometheus text
CORE_SRCS += src/metrics.c
# Only src/tui/top.c includes curses.
APP_SRCS := $(CORE_SRCS) src/consumer.c src/loop.c src/opts.c src/session.c src/cmd_stream.c \
	src/cmd_check.c src/cmd_run.c src/cmd_goroutines.c src/stacks.c src/tui/top.c src/main.c \
	src/sessrec.c src/sessrec_go.c src/cmd_record.c src/lockprobe.c src/cmd_lockorder.c \
	src/cmd_serve.c
CORE_OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(CORE_SRCS))
APP_OBJS := $(patsubst src/%.c,$(OUTPUT)/src/%.o,$(APP_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/unit/%,$(wildcard tests/unit/test_*.c))
FIXTURES := $(patsubst tests/fixtures/%.c,$(OUTPUT)/fixtures/%,$(wildcard tests/fixtures/*.c))
SKEL := $(OUTPUT)/tangle.skel.h
LO_SKEL := $(OUTPUT)/lockorder.skel.h

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all bench bench-run bench-stacks test test-run demo-run test-unit test-runtime fixtures unit deps vmlinux demo format check-format \
	clean valgrind
all: $(APP)

$(APP): $(APP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SANFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT) $(OUTPUT)/src $(OUTPUT)/src/tui $(OUTPUT)/unit $(OUTPUT)/fixtures:
	$(Q)mkdir -p $@

$(OUTPUT)/tangle.bpf.o: bpf/tangle.bpf.c include/tangle_abi.h vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $(OUTPUT)/tangle.tmp.bpf.o
	$(Q)$(BPFTOOL) gen object $@ $(OUTPUT)/tangle.tmp.bpf.o

$(SKEL): $(OUTPUT)/tangle.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name tangle_bpf > $@.tmp && mv $@.tmp $@

# Only the consumer includes the skeleton.
$(OUTPUT)/src/consumer.o: $(SKEL)

# tangle lockorder's uprobes: a BPF object of their own, loaded only by that command
$(OUTPUT)/lockorder.bpf.o: bpf/lockorder.bpf.c include/lockorder_abi.h vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $(OUTPUT)/lockorder.tmp.bpf.o
	$(Q)$(BPFTOOL) gen object $@ $(OUTPUT)/lockorder.tmp.bpf.o

$(LO_SKEL): $(OUTPUT)/lockorder.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name lockorder_bpf > $@.tmp && mv $@.tmp $@

$(OUTPUT)/src/lockprobe.o: $(LO_SKEL)

$(OUTPUT)/src/%.o: src/%.c | $(OUTPUT)/src $(OUTPUT)/src/tui
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUTPUT)/unit/%.o: tests/unit/%.c | $(OUTPUT)/unit
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -c $< -o $@

$(OUTPUT)/unit/%: $(OUTPUT)/unit/%.o $(CORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SANFLAGS) $^ -ldw -lelf -lz -lstdc++ -o $@

$(OUTPUT)/fixtures/%: tests/fixtures/%.c tests/fixtures/fixture.h tests/fixtures/stuck_fixture.h | $(OUTPUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -pthread $< -o $@

# lockorder also static: its lock functions in the executable, not in a libc it maps
$(OUTPUT)/fixtures/lockorder-static: tests/fixtures/lockorder.c tests/fixtures/fixture.h | $(OUTPUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -pthread -static $< -o $@

unit: $(UNIT_BINS)
fixtures: $(FIXTURES) $(OUTPUT)/fixtures/lockorder-static

# ---- Go fixtures (tests/go; owner: Go fixtures) ---------------------------
# tests/go/NAME/ (package main) -> $(OUTPUT)/go/NAME/GOVERSION-VARIANT, for the
# installed go (named by `go env GOVERSION`) and every toolchain in
# GO_TOOLCHAINS, in four variants:
#   plain         CGO_ENABLED=0: pure Go, internally linked (net uses its Go resolver)
#   stripped      plain with -ldflags='-s -w': no .symtab, no DWARF
#   cgo           CGO_ENABLED=1 -tags tanglecgo: externally linked, PT_TLS, a C call
#   cgo-stripped  cgo with -ldflags='-s -w'
# The stuck-goroutine fixtures (tests/go/stuck/PATTERN) are built plain by
# the same toolchains: $(OUTPUT)/go/stuck/PATTERN/GOVERSION-plain; a
# pattern without main.go is a test package, built with `go test -c -vet=off`
# (testfatal calls t.Fatalf from a goroutine on purpose: vet would refuse it).
# No -trimpath: the binaries keep real source paths, so tests compare file:line
# with the sources (the "at:"/"spawn:" markers). Offline: GOPROXY=off (the
# module has no dependencies; older toolchains are already in the module
# cache), no VCS stamping, no workspace. Go's own build cache makes re-runs fast.
GO_LOCAL_VERSION := $(shell $(GO) env GOVERSION 2>/dev/null)
GO_FIXTURE_DIR := $(OUTPUT)/go
GO_FIXTURE_NAMES := goroutines
GO_VARIANTS := plain stripped cgo cgo-stripped
GO_STUCK_NAMES := $(patsubst tests/go/stuck/%/,%,$(wildcard tests/go/stuck/*/))
GO_SRCS := tests/go/go.mod $(shell find tests/go -name '*.go' 2>/dev/null)
GO_BUILD_ENV = cd tests/go && GOFLAGS=-buildvcs=false GOPROXY=off GOWORK=off \
	GOTOOLCHAIN=$(if $(filter $(GO_LOCAL_VERSION),$(1)),local,$(1))
GO_VARIANT_ENV_plain := CGO_ENABLED=0
GO_VARIANT_ENV_stripped := CGO_ENABLED=0
GO_VARIANT_ENV_cgo := CGO_ENABLED=1
GO_VARIANT_ENV_cgo-stripped := CGO_ENABLED=1
GO_VARIANT_FLAGS_plain :=
GO_VARIANT_FLAGS_stripped := -ldflags='-s -w'
GO_VARIANT_FLAGS_cgo := -tags tanglecgo
GO_VARIANT_FLAGS_cgo-stripped := -tags tanglecgo -ldflags='-s -w'

# $(1) fixture, $(2) toolchain version, $(3) variant
define go_fixture_rule
$(GO_FIXTURE_DIR)/$(1)/$(2)-$(3): $(GO_SRCS)
	$$(call msg,GO,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(call GO_BUILD_ENV,$(2)) $(GO_VARIANT_ENV_$(3)) $(GO) build $(GO_VARIANT_FLAGS_$(3)) \
		-o $(CURDIR)/$$@ ./$(1)
endef
# $(1) stuck pattern, $(2) toolchain version
define go_stuck_rule
$(GO_FIXTURE_DIR)/stuck/$(1)/$(2)-plain: $(GO_SRCS)
	$$(call msg,GO,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)$(call GO_BUILD_ENV,$(2)) CGO_ENABLED=0 $(GO) \
		$(if $(wildcard tests/go/stuck/$(1)/main.go),build,test -c -vet=off) -o $(CURDIR)/$$@ \
		./stuck/$(1)
endef
GO_FIXTURE_BINS := $(foreach n,$(GO_FIXTURE_NAMES),$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(foreach v,$(GO_VARIANTS),$(GO_FIXTURE_DIR)/$(n)/$(t)-$(v))))
GO_STUCK_BINS := $(foreach p,$(GO_STUCK_NAMES),$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(GO_FIXTURE_DIR)/stuck/$(p)/$(t)-plain))
$(foreach n,$(GO_FIXTURE_NAMES),$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(foreach v,$(GO_VARIANTS),$(eval $(call go_fixture_rule,$(n),$(t),$(v))))))
$(foreach p,$(GO_STUCK_NAMES),$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(eval $(call go_stuck_rule,$(p),$(t)))))

.PHONY: gofixtures
gofixtures: $(GO_FIXTURE_BINS) $(GO_STUCK_BINS)
# ---- end of Go fixtures ----------------------------------------------------

# ---- Go executables for src/gobin.c (tests/gobin; owner: gobin) -----------
# tests/gobin/prog (module tangle/gobinprog, no dependencies) built by the
# installed go and by every toolchain in GO_TOOLCHAINS, four ways each:
#   plain      CGO_ENABLED=0, internally linked
#   stripped   plain with -ldflags='-s -w' (no .symtab, no DWARF)
#   pie        -buildmode=pie (ET_DYN, internally linked)
#   cgo        CGO_ENABLED=1 -tags gobincgo (an import "C" file): external linker
# -> $(OUTPUT)/gobin/prog-GOVERSION-VARIANT, plus the C driver that prints
# what src/gobin.c reads from them. Offline like the Go fixtures above:
# GOPROXY=off (the toolchains are in the module cache), -mod=mod, no VCS
# stamping, no workspace; Go's default build cache makes re-runs fast.
ifndef GO_LOCAL_VERSION
GO_LOCAL_VERSION := $(shell $(GO) env GOVERSION 2>/dev/null)
endif
GOBIN_DIR := $(OUTPUT)/gobin
GOBIN_VARIANTS := plain stripped pie cgo
GOBIN_SRCS := tests/gobin/prog/go.mod $(wildcard tests/gobin/prog/*.go)
GOBIN_ENV_plain := CGO_ENABLED=0
GOBIN_ENV_stripped := CGO_ENABLED=0
GOBIN_ENV_pie := CGO_ENABLED=0
GOBIN_ENV_cgo := CGO_ENABLED=1
GOBIN_FLAGS_plain :=
GOBIN_FLAGS_stripped := -ldflags='-s -w'
GOBIN_FLAGS_pie := -buildmode=pie
GOBIN_FLAGS_cgo := -tags gobincgo

# $(1) toolchain version, $(2) variant
define gobin_prog_rule
$(GOBIN_DIR)/prog-$(1)-$(2): $(GOBIN_SRCS)
	$$(call msg,GO,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)cd tests/gobin/prog && GOFLAGS='-mod=mod -buildvcs=false' GOPROXY=off GOWORK=off \
		GOTOOLCHAIN=$(if $(filter $(GO_LOCAL_VERSION),$(1)),local,$(1)) $(GOBIN_ENV_$(2)) \
		$(GO) build $(GOBIN_FLAGS_$(2)) -o $(abspath $$@) .
endef
GOBIN_PROGS := $(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(foreach v,$(GOBIN_VARIANTS),$(GOBIN_DIR)/prog-$(t)-$(v)))
$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(foreach v,$(GOBIN_VARIANTS),$(eval $(call gobin_prog_rule,$(t),$(v)))))

$(GOBIN_DIR)/gobin_driver.o: tests/gobin/gobin_driver.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(GOBIN_DIR)/gobin_driver: $(GOBIN_DIR)/gobin_driver.o $(OUTPUT)/src/gobin.o \
		$(OUTPUT)/src/x86insn.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SANFLAGS) $^ -ldw -lelf -o $@

.PHONY: gobin
gobin: $(GOBIN_PROGS) $(GOBIN_DIR)/gobin_driver
-include $(wildcard $(GOBIN_DIR)/*.d)
# ---- end of gobin ----------------------------------------------------------

# ---- goreach: reachability evidence (tests/goreach; tests/test_goreach.py) --
# tests/goreach/edge (channels held in every way the mark phase must see,
# plain and stripped) and tests/goreach/layout (golayout_obj's table against
# DWARF), per toolchain, plus the C driver that prints goobj's and goreach's
# verdicts. Offline like the fixtures above.
GOREACH_DIR := $(OUTPUT)/goreach
GOREACH_SRCS := $(wildcard tests/goreach/*/go.mod tests/goreach/*/*.go)
# $(1) program, $(2) toolchain version, $(3) suffix, $(4) ldflags
define goreach_prog_rule
$(GOREACH_DIR)/$(1)-$(2)$(3): $(GOREACH_SRCS)
	$$(call msg,GO,$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)cd tests/goreach/$(1) && GOFLAGS='-mod=mod -buildvcs=false' GOPROXY=off GOWORK=off \
		GOTOOLCHAIN=$(if $(filter $(GO_LOCAL_VERSION),$(2)),local,$(2)) CGO_ENABLED=0 \
		$(GO) build $(4) -o $(abspath $$@) .
endef
GOREACH_PROGS := $(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(GOREACH_DIR)/edge-$(t)-plain $(GOREACH_DIR)/edge-$(t)-stripped $(GOREACH_DIR)/layout-$(t))
$(foreach t,$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS),\
	$(eval $(call goreach_prog_rule,edge,$(t),-plain,))\
	$(eval $(call goreach_prog_rule,edge,$(t),-stripped,-ldflags='-s -w'))\
	$(eval $(call goreach_prog_rule,layout,$(t),,)))

$(GOREACH_DIR)/goreach_driver.o: tests/goreach/goreach_driver.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(GOREACH_DIR)/goreach_driver: $(GOREACH_DIR)/goreach_driver.o $(CORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SANFLAGS) $^ -ldw -lelf -lz -lstdc++ -o $@

.PHONY: goreach
goreach: $(GOREACH_PROGS) $(GOREACH_DIR)/goreach_driver
-include $(wildcard $(GOREACH_DIR)/*.d)
# ---- end of goreach --------------------------------------------------------

# ---- fuzzing replay (libFuzzer, clang) ------------------------------------
# What `tangle replay` does with a file from anyone: the whole program but
# main(), driven by tests/fuzz/fuzz_record.c (no BPF is loaded in a replay).
FUZZ_DIR := .output-fuzz
FUZZ_SRCS := tests/fuzz/fuzz_record.c $(filter-out src/main.c,$(APP_SRCS))
FUZZ_S ?= 60
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Iinclude -Isrc -I$(OUTPUT) -DTANGLE_VERSION='"fuzz"' \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -D_GNU_SOURCE
$(FUZZ_DIR)/fuzz_record: $(FUZZ_SRCS) $(wildcard src/*.h src/tui/*.h) include/tangle_abi.h $(SKEL) \
		$(LO_SKEL)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_SRCS) $(LDLIBS) -o $@
# Two parsers of input from anyone, each on its own (tests/test_fuzz.py): the
# Go binary readers of src/gobin.c, and the JSON writer of src/json.c with the
# terminal escaper of src/escape.c, checked against a model of json.h.
FUZZ_GOBIN_SRCS := tests/fuzz/fuzz_gobin.c src/gobin.c src/x86insn.c
$(FUZZ_DIR)/fuzz_gobin: $(FUZZ_GOBIN_SRCS) src/gobin.h src/x86insn.h
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_GOBIN_SRCS) -ldw -lelf -lz -o $@
FUZZ_JSON_SRCS := tests/fuzz/fuzz_json.c src/json.c src/escape.c
$(FUZZ_DIR)/fuzz_json: $(FUZZ_JSON_SRCS) src/json.h src/escape.h
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(FUZZ_DIR)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_JSON_SRCS) -o $@
# fuzz_gobin's seeds, made from gobin test programs and never committed (a Go
# binary is megabytes): each rebuilt as a few KiB that gobin still reads
# through (tests/fuzz/gobin_seeds.py), and the first 64 KiB and the
# .go.buildinfo of one as they are.
FUZZ_GOBIN_SEEDS := $(FUZZ_DIR)/seed-gobin
FUZZ_GOBIN_SEED_BINS := $(GOBIN_DIR)/prog-$(GO_LOCAL_VERSION)-plain \
	$(GOBIN_DIR)/prog-$(GO_LOCAL_VERSION)-cgo $(GOBIN_DIR)/prog-$(firstword $(GO_TOOLCHAINS))-plain
$(FUZZ_GOBIN_SEEDS).stamp: tests/fuzz/gobin_seeds.py $(FUZZ_GOBIN_SEED_BINS)
	$(call msg,SEEDS,$(FUZZ_GOBIN_SEEDS))
	$(Q)rm -rf $(FUZZ_GOBIN_SEEDS) && mkdir -p $(FUZZ_GOBIN_SEEDS)
	$(Q)$(PYTHON) tests/fuzz/gobin_seeds.py $(FUZZ_GOBIN_SEEDS) $(FUZZ_GOBIN_SEED_BINS)
	$(Q)head -c 65536 $(word 2,$^) > $(FUZZ_GOBIN_SEEDS)/prefix-64k
	$(Q)$(OBJCOPY) -O binary --only-section=.go.buildinfo $(word 2,$^) \
		$(FUZZ_GOBIN_SEEDS)/buildinfo
	$(Q)touch $@
.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_DIR)/fuzz_record $(FUZZ_DIR)/fuzz_gobin $(FUZZ_DIR)/fuzz_json $(FUZZ_GOBIN_SEEDS).stamp
# The recordings in tests/data seed it and are only read: new inputs go to a scratch directory.
fuzz-run: fuzz
	$(Q)mkdir -p $(FUZZ_DIR)/corpus
	$(Q)$(FUZZ_DIR)/fuzz_record -max_total_time=$(FUZZ_S) -timeout=10 -rss_limit_mb=2048 \
		$(FUZZ_DIR)/corpus tests/data

# `make test` and `make demo` first install what is missing, then run in a
# sub-make so that tool paths are looked up after the install.
test:
	$(Q)GO=$(GO) GO_TOOLCHAINS="$(GO_TOOLCHAINS)" scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory test-run

demo:
	$(Q)scripts/deps.sh
	$(Q)$(MAKE) --no-print-directory demo-run

# One runner for all three tiers, so one summary line says what ran.
test-run: $(APP) unit fixtures gofixtures gobin goreach fuzz
	$(Q)TANGLE=$(CURDIR)/$(APP) TANGLE_UNIT_DIR=$(CURDIR)/$(OUTPUT)/unit \
		TANGLE_FIXTURES=$(CURDIR)/$(OUTPUT)/fixtures \
		TANGLE_GO_FIXTURES=$(CURDIR)/$(GO_FIXTURE_DIR) \
		TANGLE_GO_TOOLCHAINS="$(GO_LOCAL_VERSION) $(GO_TOOLCHAINS)" \
		TANGLE_GOBIN_DIR=$(CURDIR)/$(GOBIN_DIR) \
		TANGLE_GOREACH_DIR=$(CURDIR)/$(GOREACH_DIR) \
		TANGLE_FUZZ=$(CURDIR)/$(FUZZ_DIR)/fuzz_record \
		$(PYTHON) -m pytest -ra tests $(PYTEST_ARGS)

test-unit: unit
	$(Q)TANGLE_UNIT_DIR=$(CURDIR)/$(OUTPUT)/unit $(PYTHON) -m pytest -ra tests/test_unit.py

# Unit tests and a short live stream under valgrind (userspace only).
valgrind: unit $(APP)
# test_symbols inspects this process's own heap and stack mappings, which valgrind
# replaces with its own; it runs natively and under ASan in the test targets.
	$(Q)set -e; for t in $(filter-out %/test_symbols,$(UNIT_BINS)); do \
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		--suppressions=tests/valgrind.supp \
			$$t > /dev/null; echo "  valgrind $$t: clean"; done
	$(Q)valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		--suppressions=tests/valgrind.supp \
		./$(APP) stream --json -d 2 > /dev/null && echo "  valgrind ./$(APP) stream -d 2: clean"

# Benchmarks print figures measured side by side; they do not pass or fail on
# timing. `make bench` runs every workload alone and under each observer
# (tangle, bpftrace...), rounds interleaved, into one CSV, and renders
# docs/BENCHMARKS.md, docs/benchmarks.csv and the plots from it. Debian's
# python3 runs them: the plots need its python3-matplotlib.
BENCH_PYTHON ?= /usr/bin/python3
BENCH_CSV := $(OUTPUT)/bench.csv
BENCH_ENV = TANGLE=$(CURDIR)/$(APP) TANGLE_FIXTURES=$(CURDIR)/$(OUTPUT)/fixtures GO=$(GO) \
	GOREACH_DRIVER=$(CURDIR)/$(GOREACH_DIR)/goreach_driver \
	TANGLE_GO_FIXTURES=$(CURDIR)/$(GO_FIXTURE_DIR)
bench:
	$(Q)GO=$(GO) GO_TOOLCHAINS="$(GO_TOOLCHAINS)" scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory bench-run

bench-run: $(APP) fixtures gofixtures goreach
	$(Q)rm -f $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/native.py --csv $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/go.py --csv $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/goroutines.py --csv $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/pipeline.py --csv $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/latency.py --csv $(BENCH_CSV)
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/latency_go.py --csv $(BENCH_CSV)
	$(Q)cp $(BENCH_CSV) docs/benchmarks.csv
	$(Q)$(BENCH_PYTHON) bench/report.py docs/benchmarks.csv --out docs/BENCHMARKS.md

# What stacks of waits cost (BPF time per capture, unwinding), in more detail.
bench-stacks: $(APP) fixtures
	$(Q)$(BENCH_ENV) $(BENCH_PYTHON) bench/overhead.py

deps:
	$(Q)scripts/deps.sh

vmlinux:
	$(call msg,GEN,vmlinux/vmlinux.h)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h.tmp
	$(Q)mv vmlinux/vmlinux.h.tmp vmlinux/vmlinux.h

demo-run: $(APP) fixtures
	$(Q)scripts/demo.sh $(CURDIR)/$(APP) $(CURDIR)/$(OUTPUT)/fixtures

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' | grep -v '^vmlinux/')
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_FILES)
check-format:
	$(Q)$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf .output .output-san .output-fuzz tangle tangle-san

.SECONDARY:

-include $(wildcard $(OUTPUT)/src/*.d $(OUTPUT)/src/tui/*.d $(OUTPUT)/unit/*.d)
