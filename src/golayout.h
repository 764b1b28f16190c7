/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where the Go runtime keeps what tangle reads from a Go process: offsets of
 * the g, m and sudog members, the labels layout, and the strings of the
 * status and wait-reason enums, per Go version (linux/amd64).
 *
 * Offsets come from the binary's DWARF when it has some, and otherwise from
 * a table of the versions that were measured (DWARF of go1.20.14, 1.21.13,
 * 1.22.12, 1.23.12, 1.24.13, 1.25.12 and 1.26.8 builds). A version the table
 * does not cover is refused with a message rather than guessed at: struct
 * layouts have changed inside a minor release before.
 *
 * Plain C: no I/O of its own (DWARF is asked through gobin).
 */
#ifndef TANGLE_GOLAYOUT_H
#define TANGLE_GOLAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gobin;

/* g.atomicstatus values (runtime2.go); the scan bit is OR-ed in while the GC scans a stack. */
enum go_status {
	GO_IDLE = 0,
	GO_RUNNABLE = 1,
	GO_RUNNING = 2,
	GO_SYSCALL = 3,
	GO_WAITING = 4,
	GO_MORIBUND = 5,
	GO_DEAD = 6,
	GO_ENQUEUE = 7,
	GO_COPYSTACK = 8,
	GO_PREEMPTED = 9,
	GO_LEAKED = 10, /* 1.26+: found leaked by the goroutine-leak GC */
	GO_DEADEXTRA = 11, /* 1.26+: dead g of an extra M (cgo callbacks) */
	GO_SCAN = 0x1000,
};

/* How g.labels points at pprof labels. */
enum go_labels_layout {
	GO_LABELS_MAP, /* <= 1.23: *map[string]string (hmap, 8-slot buckets of 272 bytes) */
	GO_LABELS_SLICE, /* >= 1.24: *[]struct{key, value string}, sorted by key */
};

/* What a wait reason says about the waiting goroutine; used by views and detectors. */
enum go_wait_class {
	GO_WAIT_OTHER,
	GO_WAIT_CHAN, /* chan receive/send, select (the sudogs name the channels) */
	GO_WAIT_NIL_CHAN, /* receive or send on a nil channel: never wakes */
	GO_WAIT_SELECT_NONE, /* select {}: never wakes */
	GO_WAIT_SYNC, /* sync.Mutex/RWMutex/Cond/WaitGroup */
	GO_WAIT_SEMA, /* semacquire (WaitGroup before 1.24, other semaphores) */
	GO_WAIT_IO, /* IO wait (netpoller) */
	GO_WAIT_SLEEP, /* time.Sleep */
	GO_WAIT_RUNTIME, /* GC workers, finalizers, scavenger, trace, ...: the runtime's own */
};

struct go_layout {
	int minor; /* go1.<minor> */
	const char *source; /* "dwarf" or "table" */
	/* runtime.g */
	uint32_t g_size;
	uint32_t g_stack_lo, g_stack_hi, g_m;
	uint32_t g_sched_sp, g_sched_pc, g_sched_g, g_sched_bp;
	uint32_t g_syscallsp, g_syscallpc;
	int32_t g_syscallbp; /* -1 before 1.23 */
	uint32_t g_atomicstatus, g_goid, g_waitsince, g_waitreason, g_lockedm;
	int32_t g_parent_goid; /* -1 before 1.21 */
	uint32_t g_gopc, g_startpc, g_waiting, g_labels;
	/* runtime.m */
	uint32_t m_procid, m_curg;
	/* runtime.sudog */
	uint32_t sudog_elem, sudog_isselect, sudog_waitlink, sudog_c;
	/* 1.26: elem and c are {vp, vu} pairs whose vp the leak GC clears: read vu (+8) */
	uint32_t sudog_ptr_adjust;
	enum go_labels_layout labels;
	/* wait reason strings, indexed by g.waitreason */
	const char *const *wait_reasons;
	size_t nr_wait_reasons;
};

enum go_layout_source {
	GO_LAYOUT_AUTO, /* DWARF when the binary has it, else the table */
	GO_LAYOUT_TABLE, /* the table only (tests compare it with DWARF) */
	GO_LAYOUT_DWARF, /* DWARF only */
};

/*
 * The layout of b's Go version. Returns 0, or -ENOENT with a reason in why
 * (e.g. "go1.27.1 is not in tangle's table ... and the binary has no DWARF").
 */
int golayout__get(const struct gobin *b, enum go_layout_source src, struct go_layout *out,
		  char *why, size_t why_len);

/* The table's layout for go1.<minor>.<patch>, or -ENOENT. */
int golayout__table(int minor, int patch, struct go_layout *out);

/* Go's name of a status ("waiting", "runnable", ...), scan bit ignored; "???" if unknown. */
const char *golayout__status_name(uint32_t status);

/* The wait reason string of raw value r, or NULL if out of range (or zero). */
const char *golayout__wait_reason(const struct go_layout *l, uint8_t r);

/* Classify a wait reason string (as the runtime prints it). */
enum go_wait_class golayout__wait_class(const char *reason);

#endif
