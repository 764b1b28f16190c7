/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The goroutines of a running Go process, read from outside: the runtime's
 * allgs array and each g found there are copied with batched
 * process_vm_readv (no ptrace, no stop, nothing written), decoded with the
 * layout of the binary's Go version (golayout.h), and their stacks walked
 * along the frame pointers Go keeps on amd64, from the pc/bp the runtime
 * saved when the goroutine parked or entered a system call.
 *
 * The target keeps running while it is read, so a snapshot is not atomic:
 * a goroutine that changed state while its stack was walked is re-read, dead
 * goroutines are skipped, and every pointer followed is checked against the
 * goroutine's stack bounds or read with a size limit.
 */
#ifndef TANGLE_GOPROC_H
#define TANGLE_GOPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "golayout.h"
#include "unwind.h"

struct goproc;

#define GO_MAX_FRAMES 100 /* like the runtime's traceback, which elides the rest */

enum go_wait_obj {
	GO_OBJ_NONE,
	GO_OBJ_CHAN, /* a channel operation: addr is the hchan */
	GO_OBJ_SELECT, /* select: addr is the first channel, nr_objs how many */
	GO_OBJ_SEMA, /* a semaphore (sync.Mutex etc. in 1.26+): addr is its address */
};

struct go_label {
	const char *key, *value;
};

struct goroutine {
	uint64_t g; /* address of the runtime's g */
	uint64_t goid;
	uint64_t parent_goid; /* 0 if unknown (before go1.21) */
	uint32_t status; /* enum go_status, scan bit removed */
	bool scan; /* the GC was scanning its stack */
	bool system; /* a runtime goroutine (GC workers, finalizers, ...) */
	uint8_t wait_reason_raw;
	const char *wait_reason; /* NULL if none */
	int64_t waitsince; /* runtime nanotime (CLOCK_MONOTONIC) set by the GC, 0 if unset */
	uint32_t tid; /* the thread running it (running or in a syscall), 0 if none */
	uint32_t locked_tid; /* the thread it is locked to (LockOSThread), 0 if none */
	bool locked;
	uint64_t gopc, startpc;
	uint64_t sched_pc, sched_sp, sched_bp;
	uint64_t syscall_pc, syscall_sp, syscall_bp;
	uint64_t stack_lo, stack_hi;
	uint64_t waiting; /* the runtime's sudog list head */
	uint64_t m, lockedm; /* the runtime's m running it / it is locked to */
	uint64_t labels_ptr;
	/* decoded */
	enum go_wait_obj obj;
	uint64_t obj_addr;
	uint32_t nr_objs;
	const struct go_label *labels; /* shared among goroutines with the same label set */
	uint32_t nr_labels;
	const uint64_t *pcs; /* pcs[0] the innermost; all are return addresses */
	uint32_t nr_pcs;
	bool stack_unavailable; /* running on a thread right now */
};

struct gosnap {
	struct goroutine *g;
	size_t n;
	uint64_t ts_ns; /* CLOCK_MONOTONIC when the snapshot began */
	uint64_t cost_ns; /* how long it took */
	uint64_t cpu_ns; /* CPU time it took (the calling thread, user and system) */
	size_t nr_allgs; /* entries in allgs, dead ones included */
	size_t nr_retried; /* goroutines that moved while read and were read again */
	size_t nr_reused; /* stacks taken from the previous snapshot without reading them */
	size_t nr_bogus; /* entries of allgs that are not goroutines (skipped): see goproc.c */
	void *priv;
};

enum {
	GOSNAP_STACKS = 1u << 0,
	GOSNAP_LABELS = 1u << 1,
	GOSNAP_OBJECTS = 1u << 2,
	GOSNAP_ALL = GOSNAP_STACKS | GOSNAP_LABELS | GOSNAP_OBJECTS,
};

/*
 * Open pid (through proc_root, "/proc" normally). NULL and errno on failure,
 * with a one-line reason in why: ESRCH gone, ENOEXEC not a Go program,
 * ENOTSUP a Go version whose layout tangle does not know, EINVAL the memory
 * does not look like a Go runtime.
 */
struct goproc *goproc__open(const char *proc_root, uint32_t pid, char *why, size_t why_len);
void goproc__free(struct goproc *p);

uint32_t goproc__pid(const struct goproc *p);
const char *goproc__version(const struct goproc *p);
const char *goproc__exe(const struct goproc *p);
const struct go_layout *goproc__layout(const struct goproc *p);
bool goproc__stripped(const struct goproc *p);
bool goproc__cgo(const struct goproc *p);

/*
 * Take a snapshot (flags GOSNAP_*). 0, or -errno with a reason in why:
 * -ESRCH if the process went away, -EINVAL if what was read is not a
 * goroutine table. p keeps its buffers and what it learnt of each goroutine
 * for the next snapshot: the stacks, objects and labels of goroutines that
 * have not run since (go_parked__same) are not read again. A snapshot stays
 * valid until gosnap__free, whatever snapshots are taken after it; p and its
 * snapshots are used from one thread.
 */
int goproc__snapshot(struct goproc *p, unsigned flags, struct gosnap *out, char *why,
		     size_t why_len);
void gosnap__free(struct gosnap *s);

/*
 * What proves that a goroutine has not run between two reads of it. A
 * goroutine with the same saved context (pc, sp, bp) could still have run in
 * between and parked again at the same sp through another call path; but
 * the GC stamps g.waitsince with the start of its cycle when it finds a
 * goroutine blocked, and the scheduler zeroes it each time the goroutine
 * runs. The same non-zero stamp, the same goroutine and saved context: its
 * stack, the sudogs it waits on and its labels cannot have changed (a stack
 * copy moves sp and the stack bounds). A goroutine blocked since before the
 * last GC passes; one the GC has not seen blocked yet does not.
 */
struct go_parked {
	uint64_t g, goid, waitsince;
	uint64_t pc, sp, bp; /* sched, or syscallpc/sp/bp in a system call */
	uint64_t stack_lo, stack_hi, waiting, labels_ptr;
	uint32_t status;
};

void go_parked__of(const struct goroutine *g, struct go_parked *out);
/* Can what was read of before be taken for now without reading it again? */
bool go_parked__same(const struct go_parked *before, const struct go_parked *now);

/*
 * Frames for pc of the process (innermost first, inlined calls expanded),
 * as the runtime's traceback names them. A return address is looked up at
 * pc - 1. The names are cached per pc. Sets *n (0 if pc is in no function).
 */
void goproc__frames(struct goproc *p, uint64_t pc, bool is_return, struct frame *out, size_t max,
		    size_t *n);

/* The function of pc without inline expansion ("" if none), and its entry. */
const char *goproc__func_name(struct goproc *p, uint64_t pc, uint64_t *entry);

/*
 * Replay (tangle replay): a process known only from what was recorded of
 * it. Its frames are those added with goproc__add_frames (pcs not added
 * have none); it cannot be snapshotted, its snapshots are built from the
 * recording and handed over with gosnap__adopt.
 */
struct goproc_recorded {
	uint32_t pid;
	int minor; /* go1.<minor> */
	bool stripped, cgo;
	char version[32];
	char exe[4096];
};

/* What a recording keeps of p (live or replayed). */
void goproc__describe(const struct goproc *p, struct goproc_recorded *out);
/* nr_reasons wait reason strings, indexed by the raw wait reason. NULL and errno on failure. */
struct goproc *goproc__recorded(const struct goproc_recorded *r, const char *const *reasons,
				size_t nr_reasons);
/* The frames of pc (as goproc__frames gives them), for a recorded process. 0 or -errno. */
int goproc__add_frames(struct goproc *p, uint64_t pc, bool is_return, const struct frame *f,
		       size_t n);
/*
 * s (its g array malloc'ed, n and the counters set) becomes a snapshot that
 * gosnap__free frees, block with it (where its pcs and labels live).
 */
int gosnap__adopt(struct gosnap *s, void *block);

#endif
