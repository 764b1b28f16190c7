// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go runtime layouts per version. Every number below was read from the DWARF
 * of a build of that version (`ptype/o` in gdb) and the wait reasons from its
 * runtime2.go; tests/test_golayout.py checks the table against the DWARF of
 * the toolchains the tests build with.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "gobin.h"
#include "golayout.h"

/*
 * waitReasonStrings in enum order, 1.23 (38 values). 1.20 and 1.21 have the
 * first 32, 1.22 the first 37: reasons were only appended until 1.24.
 */
static const char *const reasons_123[] = {
	"",
	"GC assist marking",
	"IO wait",
	"chan receive (nil chan)",
	"chan send (nil chan)",
	"dumping heap",
	"garbage collection",
	"garbage collection scan",
	"panicwait",
	"select",
	"select (no cases)",
	"GC assist wait",
	"GC sweep wait",
	"GC scavenge wait",
	"chan receive",
	"chan send",
	"finalizer wait",
	"force gc (idle)",
	"semacquire",
	"sleep",
	"sync.Cond.Wait",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"trace reader (blocked)",
	"wait for GC cycle",
	"GC worker (idle)",
	"GC worker (active)",
	"preempted",
	"debug call",
	"GC mark termination",
	"stopping the world",
	"flushing proc caches",
	"trace goroutine status",
	"trace proc status",
	"page trace flush",
	"coroutine",
	"GC weak to strong wait",
};

/* 1.24 inserts sync.WaitGroup.Wait at 24 and adds synctest reasons (44 values). */
static const char *const reasons_124[] = {
	"",
	"GC assist marking",
	"IO wait",
	"chan receive (nil chan)",
	"chan send (nil chan)",
	"dumping heap",
	"garbage collection",
	"garbage collection scan",
	"panicwait",
	"select",
	"select (no cases)",
	"GC assist wait",
	"GC sweep wait",
	"GC scavenge wait",
	"chan receive",
	"chan send",
	"finalizer wait",
	"force gc (idle)",
	"semacquire",
	"sleep",
	"sync.Cond.Wait",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"sync.WaitGroup.Wait",
	"trace reader (blocked)",
	"wait for GC cycle",
	"GC worker (idle)",
	"GC worker (active)",
	"preempted",
	"debug call",
	"GC mark termination",
	"stopping the world",
	"flushing proc caches",
	"trace goroutine status",
	"trace proc status",
	"page trace flush",
	"coroutine",
	"GC weak to strong wait",
	"synctest.Run",
	"synctest.Wait",
	"chan receive (synctest)",
	"chan send (synctest)",
	"select (synctest)",
};

/* 1.25 inserts the GOMAXPROCS updater at 18, renames synctest to durable (47 values). */
static const char *const reasons_125[] = {
	"",
	"GC assist marking",
	"IO wait",
	"chan receive (nil chan)",
	"chan send (nil chan)",
	"dumping heap",
	"garbage collection",
	"garbage collection scan",
	"panicwait",
	"select",
	"select (no cases)",
	"GC assist wait",
	"GC sweep wait",
	"GC scavenge wait",
	"chan receive",
	"chan send",
	"finalizer wait",
	"force gc (idle)",
	"GOMAXPROCS updater (idle)",
	"semacquire",
	"sleep",
	"sync.Cond.Wait",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"sync.WaitGroup.Wait",
	"trace reader (blocked)",
	"wait for GC cycle",
	"GC worker (idle)",
	"GC worker (active)",
	"preempted",
	"debug call",
	"GC mark termination",
	"stopping the world",
	"flushing proc caches",
	"trace goroutine status",
	"trace proc status",
	"page trace flush",
	"coroutine",
	"GC weak to strong wait",
	"synctest.Run",
	"synctest.Wait",
	"chan receive (durable)",
	"chan send (durable)",
	"select (durable)",
	"sync.WaitGroup.Wait (durable)",
	"cleanup wait",
};

/* 1.26 reorders so that channel and sync waits are ranges (47 values). */
static const char *const reasons_126[] = {
	"",
	"GC assist marking",
	"IO wait",
	"dumping heap",
	"garbage collection",
	"garbage collection scan",
	"panicwait",
	"GC assist wait",
	"GC sweep wait",
	"GC scavenge wait",
	"finalizer wait",
	"force gc (idle)",
	"GOMAXPROCS updater (idle)",
	"semacquire",
	"sleep",
	"chan receive (nil chan)",
	"chan send (nil chan)",
	"select (no cases)",
	"select",
	"chan receive",
	"chan send",
	"sync.Cond.Wait",
	"sync.Mutex.Lock",
	"sync.RWMutex.RLock",
	"sync.RWMutex.Lock",
	"sync.WaitGroup.Wait",
	"trace reader (blocked)",
	"wait for GC cycle",
	"GC worker (idle)",
	"GC worker (active)",
	"preempted",
	"debug call",
	"GC mark termination",
	"stopping the world",
	"flushing proc caches",
	"trace goroutine status",
	"trace proc status",
	"page trace flush",
	"coroutine",
	"GC weak to strong wait",
	"synctest.Run",
	"synctest.Wait",
	"chan receive (durable)",
	"chan send (durable)",
	"select (durable)",
	"sync.WaitGroup.Wait (durable)",
	"cleanup wait",
};

#define REASONS(a) .wait_reasons = (a), .nr_wait_reasons = sizeof(a) / sizeof((a)[0])

/*
 * One row per minor version, valid for patches 0..max_patch: the newest
 * patch release this table was checked against. A later patch is refused
 * without DWARF (offsets have moved inside a minor release before).
 */
static const struct layout_row {
	int max_patch;
	struct go_layout l;
} rows[] = {
	{ 14,
	  { .minor = 20,
	    .g_size = 392,
	    .g_m = 48,
	    .g_sched_bp = 104,
	    .g_syscallsp = 112,
	    .g_syscallpc = 120,
	    .g_syscallbp = -1,
	    .g_atomicstatus = 144,
	    .g_goid = 152,
	    .g_waitsince = 168,
	    .g_waitreason = 176,
	    .g_lockedm = 232,
	    .g_parent_goid = -1,
	    .g_gopc = 296,
	    .g_startpc = 312,
	    .g_waiting = 328,
	    .g_labels = 360,
	    .m_procid = 72,
	    .m_curg = 192,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_MAP,
	    .wait_reasons = reasons_123,
	    .nr_wait_reasons = 32 } },
	{ 13,
	  { .minor = 21,
	    .g_size = 408,
	    .g_m = 48,
	    .g_sched_bp = 104,
	    .g_syscallsp = 112,
	    .g_syscallpc = 120,
	    .g_syscallbp = -1,
	    .g_atomicstatus = 144,
	    .g_goid = 152,
	    .g_waitsince = 168,
	    .g_waitreason = 176,
	    .g_lockedm = 208,
	    .g_parent_goid = 272,
	    .g_gopc = 280,
	    .g_startpc = 296,
	    .g_waiting = 312,
	    .g_labels = 344,
	    .m_procid = 72,
	    .m_curg = 192,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_MAP,
	    .wait_reasons = reasons_123,
	    .nr_wait_reasons = 32 } },
	{ 12,
	  { .minor = 22,
	    .g_size = 424,
	    .g_m = 48,
	    .g_sched_bp = 104,
	    .g_syscallsp = 112,
	    .g_syscallpc = 120,
	    .g_syscallbp = -1,
	    .g_atomicstatus = 144,
	    .g_goid = 152,
	    .g_waitsince = 168,
	    .g_waitreason = 176,
	    .g_lockedm = 208,
	    .g_parent_goid = 272,
	    .g_gopc = 280,
	    .g_startpc = 296,
	    .g_waiting = 312,
	    .g_labels = 344,
	    .m_procid = 72,
	    .m_curg = 192,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_MAP,
	    .wait_reasons = reasons_123,
	    .nr_wait_reasons = 37 } },
	{ 12,
	  { .minor = 23,
	    .g_size = 432,
	    .g_m = 48,
	    .g_sched_bp = 104,
	    .g_syscallsp = 112,
	    .g_syscallpc = 120,
	    .g_syscallbp = 128,
	    .g_atomicstatus = 152,
	    .g_goid = 160,
	    .g_waitsince = 176,
	    .g_waitreason = 184,
	    .g_lockedm = 216,
	    .g_parent_goid = 280,
	    .g_gopc = 288,
	    .g_startpc = 304,
	    .g_waiting = 320,
	    .g_labels = 352,
	    .m_procid = 72,
	    .m_curg = 192,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_MAP,
	    REASONS(reasons_123) } },
	{ 13,
	  { .minor = 24,
	    .g_size = 440,
	    .g_m = 48,
	    .g_sched_bp = 104,
	    .g_syscallsp = 112,
	    .g_syscallpc = 120,
	    .g_syscallbp = 128,
	    .g_atomicstatus = 152,
	    .g_goid = 160,
	    .g_waitsince = 176,
	    .g_waitreason = 184,
	    .g_lockedm = 216,
	    .g_parent_goid = 280,
	    .g_gopc = 288,
	    .g_startpc = 304,
	    .g_waiting = 320,
	    .g_labels = 352,
	    .m_procid = 72,
	    .m_curg = 192,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_SLICE,
	    REASONS(reasons_124) } },
	{ 12,
	  { .minor = 25,
	    .g_size = 440,
	    .g_m = 48,
	    .g_sched_bp = 96,
	    .g_syscallsp = 104,
	    .g_syscallpc = 112,
	    .g_syscallbp = 120,
	    .g_atomicstatus = 144,
	    .g_goid = 152,
	    .g_waitsince = 168,
	    .g_waitreason = 176,
	    .g_lockedm = 208,
	    .g_parent_goid = 272,
	    .g_gopc = 280,
	    .g_startpc = 296,
	    .g_waiting = 312,
	    .g_labels = 344,
	    .m_procid = 64,
	    .m_curg = 184,
	    .sudog_elem = 24,
	    .sudog_isselect = 52,
	    .sudog_waitlink = 64,
	    .sudog_c = 80,
	    .labels = GO_LABELS_SLICE,
	    REASONS(reasons_125) } },
	{ 11,
	  { .minor = 26,
	    .g_size = 456,
	    .g_m = 48,
	    .g_sched_bp = 96,
	    .g_syscallsp = 104,
	    .g_syscallpc = 112,
	    .g_syscallbp = 120,
	    .g_atomicstatus = 144,
	    .g_goid = 152,
	    .g_waitsince = 168,
	    .g_waitreason = 176,
	    .g_lockedm = 208,
	    .g_parent_goid = 280,
	    .g_gopc = 288,
	    .g_startpc = 304,
	    .g_waiting = 320,
	    .g_labels = 352,
	    .m_procid = 64,
	    .m_curg = 184,
	    .sudog_elem = 24,
	    .sudog_isselect = 60,
	    .sudog_waitlink = 72,
	    .sudog_c = 88,
	    .sudog_ptr_adjust = 8,
	    .labels = GO_LABELS_SLICE,
	    REASONS(reasons_126) } },
};

/* Members every version has at the same place: stack, sched.sp/pc/g. */
static void fixed_members(struct go_layout *l)
{
	l->g_stack_lo = 0;
	l->g_stack_hi = 8;
	l->g_sched_sp = 56;
	l->g_sched_pc = 64;
	l->g_sched_g = 72;
}

int golayout__table(int minor, int patch, struct go_layout *out)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (rows[i].l.minor != minor || patch > rows[i].max_patch)
			continue;
		*out = rows[i].l;
		fixed_members(out);
		out->source = "table";
		return 0;
	}
	return -ENOENT;
}

struct member {
	const char *type, *name;
	size_t field; /* offsetof in struct go_layout */
	bool is_signed, optional;
	uint32_t adjust; /* added to the DWARF offset (e.g. sched + gobuf.bp) */
};

#define M(t, n, f) { t, n, offsetof(struct go_layout, f), false, false, 0 }
#define OPT(t, n, f) { t, n, offsetof(struct go_layout, f), true, true, 0 }

static const struct member members[] = {
	M("runtime.g", "m", g_m),
	M("runtime.g", "sched.sp", g_sched_sp),
	M("runtime.g", "sched.pc", g_sched_pc),
	M("runtime.g", "sched.g", g_sched_g),
	M("runtime.g", "sched.bp", g_sched_bp),
	M("runtime.g", "syscallsp", g_syscallsp),
	M("runtime.g", "syscallpc", g_syscallpc),
	OPT("runtime.g", "syscallbp", g_syscallbp),
	M("runtime.g", "atomicstatus", g_atomicstatus),
	M("runtime.g", "goid", g_goid),
	M("runtime.g", "waitsince", g_waitsince),
	M("runtime.g", "waitreason", g_waitreason),
	M("runtime.g", "lockedm", g_lockedm),
	OPT("runtime.g", "parentGoid", g_parent_goid),
	M("runtime.g", "gopc", g_gopc),
	M("runtime.g", "startpc", g_startpc),
	M("runtime.g", "waiting", g_waiting),
	M("runtime.g", "labels", g_labels),
	M("runtime.m", "procid", m_procid),
	M("runtime.m", "curg", m_curg),
	M("runtime.sudog", "elem", sudog_elem),
	M("runtime.sudog", "isSelect", sudog_isselect),
	M("runtime.sudog", "waitlink", sudog_waitlink),
	M("runtime.sudog", "c", sudog_c),
};

/* Fill out from DWARF; the table row (if any) supplies what DWARF cannot say. */
static int from_dwarf(const struct gobin *b, struct go_layout *out)
{
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const struct member *m = &members[i];
		char *field = (char *)out + m->field;
		uint64_t off;

		if (gobin__member_offset(b, m->type, m->name, &off)) {
			if (!m->optional)
				return -ENOENT;
			*(int32_t *)field = -1;
			continue;
		}
		if (m->is_signed)
			*(int32_t *)field = (int32_t)off;
		else
			*(uint32_t *)field = (uint32_t)off;
	}
	/* g's size: the offset of the last member plus its size is not asked; keep the table's */
	out->g_stack_lo = 0;
	out->g_stack_hi = 8;
	out->source = "dwarf";
	return 0;
}

int golayout__get(const struct gobin *b, enum go_layout_source src, struct go_layout *out,
		  char *why, size_t why_len)
{
	int major, minor, patch;
	bool known;

	if (!gobin__version_num(b, &major, &minor, &patch) || major != 1) {
		snprintf(why, why_len, "cannot read the Go version of this binary (\"%s\")",
			 gobin__version(b));
		return -ENOENT;
	}
	known = golayout__table(minor, patch, out) == 0;
	if (src == GO_LAYOUT_TABLE) {
		if (known)
			return 0;
		snprintf(why, why_len, "%s is not in tangle's table of Go runtime layouts",
			 gobin__version(b));
		return -ENOENT;
	}
	if (!known) {
		memset(out, 0, sizeof(*out));
		out->minor = minor;
		/* a minor the table lacks: guess its enums from the nearest known version */
		out->labels = minor < 24 ? GO_LABELS_MAP : GO_LABELS_SLICE;
		out->g_size = 512;
	}
	if (from_dwarf(b, out) == 0) {
		if (out->minor >= 26 && !out->sudog_ptr_adjust)
			out->sudog_ptr_adjust = 8;
		return 0;
	}
	if (known && src == GO_LAYOUT_AUTO) {
		/* restore what a partial DWARF read may have changed */
		golayout__table(minor, patch, out);
		return 0;
	}
	if (src == GO_LAYOUT_DWARF)
		snprintf(why, why_len, "the binary has no DWARF description of the Go runtime");
	else
		snprintf(why, why_len,
			 "%s is not in tangle's table of Go runtime layouts (go1.20 to go1.26.11) "
			 "and the binary has no DWARF to read them from",
			 gobin__version(b));
	return -ENOENT;
}

const char *golayout__status_name(uint32_t status)
{
	static const char *const names[] = {
		[GO_IDLE] = "idle",	      [GO_RUNNABLE] = "runnable",
		[GO_RUNNING] = "running",     [GO_SYSCALL] = "syscall",
		[GO_WAITING] = "waiting",     [GO_MORIBUND] = "moribund_unused",
		[GO_DEAD] = "dead",	      [GO_ENQUEUE] = "enqueue_unused",
		[GO_COPYSTACK] = "copystack", [GO_PREEMPTED] = "preempted",
		[GO_LEAKED] = "leaked",	      [GO_DEADEXTRA] = "waiting for cgo callback",
	};

	status &= ~(uint32_t)GO_SCAN;
	if (status >= sizeof(names) / sizeof(names[0]) || !names[status])
		return "???";
	return names[status];
}

const char *golayout__wait_reason(const struct go_layout *l, uint8_t r)
{
	if (!r || r >= l->nr_wait_reasons)
		return NULL;
	return l->wait_reasons[r];
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum go_wait_class golayout__wait_class(const char *reason)
{
	if (!reason)
		return GO_WAIT_OTHER;
	if (starts(reason, "chan receive (nil") || starts(reason, "chan send (nil"))
		return GO_WAIT_NIL_CHAN;
	if (!strcmp(reason, "select (no cases)"))
		return GO_WAIT_SELECT_NONE;
	if (starts(reason, "chan receive") || starts(reason, "chan send") ||
	    starts(reason, "select"))
		return GO_WAIT_CHAN;
	if (starts(reason, "sync."))
		return GO_WAIT_SYNC;
	if (!strcmp(reason, "semacquire"))
		return GO_WAIT_SEMA;
	if (!strcmp(reason, "IO wait"))
		return GO_WAIT_IO;
	if (!strcmp(reason, "sleep"))
		return GO_WAIT_SLEEP;
	return GO_WAIT_RUNTIME;
}
