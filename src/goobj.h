/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The objects goroutines wait on, read from a running Go process like
 * goproc reads its goroutines (process_vm_readv, no ptrace, no stop):
 * which channels, mutexes, wait groups or condition variables each blocked
 * goroutine of a snapshot waits on, with the runtime's own records of those
 * waits (sudogs), and the state of those objects (a channel's counters and
 * queues, a mutex's state word, a wait group's counter...) so that two
 * reads can tell whether anything moved in between.
 *
 * Where the object comes from:
 *  - channel operations and select: the sudogs hung on g.waiting name the
 *    channels (one per select case);
 *  - sync waits from go1.26: g.waiting's sudog names the semaphore (or the
 *    Cond's notify list);
 *  - sync waits before go1.26, whose g.waiting is empty: the runtime keeps
 *    the sudog live on the goroutine's stack while it sleeps (semacquire1
 *    and notifyListWait release it after waking), so the words of the few
 *    innermost frames are tried as sudogs whose g is this goroutine; its
 *    elem is the semaphore; a Cond is found among the same words as the
 *    one whose notify list holds that sudog.
 * The target keeps running: a wait that cannot be pinned down this way is
 * returned with no object (nr_objs 0) rather than a guess.
 */
#ifndef TANGLE_GOOBJ_H
#define TANGLE_GOOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "golayout.h"
#include "golayout_obj.h"
#include "goproc.h"

struct goobj;
struct gobin;

#define GO_WAIT_MAX_OBJS 16 /* channels of a select we follow; more: truncated */

enum go_obj_kind {
	GO_KIND_NONE,
	GO_KIND_CHAN, /* runtime.hchan */
	GO_KIND_MUTEX, /* sync.Mutex */
	GO_KIND_RWMUTEX, /* sync.RWMutex (RLock or Lock waits) */
	GO_KIND_WAITGROUP, /* sync.WaitGroup */
	GO_KIND_COND, /* sync.Cond */
	GO_KIND_SEMA, /* a semaphore of unknown type (semacquire) */
};

/* What one blocked goroutine waits on. */
struct go_wait {
	size_t index; /* of the goroutine in the snapshot */
	enum go_obj_kind kind;
	bool never; /* nil channel or select {}: nothing can ever wake it */
	bool truncated; /* a select with more than GO_WAIT_MAX_OBJS cases */
	bool released; /* a sudog of it was released or reused since the snapshot: it woke */
	uint32_t nr_objs; /* 0: not found (see goobj.h) */
	uint64_t objs[GO_WAIT_MAX_OBJS]; /* channels, or the sync object's start */
	uint64_t sema; /* sync waits: the word it sleeps on (sudog.elem) */
	uint32_t nr_sudogs;
	uint64_t sudogs[GO_WAIT_MAX_OBJS]; /* the runtime's records of this wait */
	const char *how; /* "sudog", "stack" or "" */
};

/* The state of one object, for comparing two reads of it. */
struct go_obj_state {
	enum go_obj_kind kind; /* in */
	uint64_t addr; /* in: the object's start (go_wait.objs) */
	bool ok; /* out: read */
	union {
		struct {
			uint64_t qcount, dataqsiz, sendx, recvx;
			bool closed, recvq_empty, sendq_empty;
		} chan;
		struct {
			int32_t state; /* sync.Mutex: bit 0 locked, 1 woken, 2 starving, >>3 waiters */
			uint32_t sema;
		} mutex;
		struct {
			int32_t w_state, reader_count, reader_wait;
			uint32_t writer_sem, reader_sem;
		} rw;
		struct {
			int32_t counter; /* Add - Done */
			uint32_t waiters;
			uint32_t sema;
		} wg;
		struct {
			uint32_t wait, notify; /* tickets handed out and notified */
			bool has_waiters;
		} cond;
		struct {
			uint32_t count;
		} sema;
	};
};

/*
 * Open pid (through proc_root, "/proc" normally): its binary, the layouts
 * of golayout_obj.h, the load bias. NULL and errno (ESRCH, ENOEXEC not Go,
 * ENOTSUP a version whose layouts are unknown) with a reason in why.
 */
struct goobj *goobj__open(const char *proc_root, uint32_t pid, char *why, size_t why_len);
void goobj__free(struct goobj *o);

uint32_t goobj__pid(const struct goobj *o);
const struct go_obj_layout *goobj__layout(const struct goobj *o);
const struct gobin *goobj__bin(const struct goobj *o);
/* The g/m/sudog layout of golayout.h for the same binary. */
const struct go_layout *goobj__glayout(const struct goobj *o);
/* Where the binary was loaded minus where it was linked (0 unless PIE). */
uint64_t goobj__bias(const struct goobj *o);
/* A runtime global's address in the process (bias added), 0 if unknown. */
uint64_t goobj__var(const struct goobj *o, const char *name);

/*
 * What the goroutines of s blocked on a channel, a select or a sync object
 * wait on: one entry per such goroutine (wait classes CHAN, NIL_CHAN,
 * SELECT_NONE, SYNC and SEMA of golayout.h), in snapshot order. A
 * "semacquire" wait is recognised as a WaitGroup (before go1.24) by its
 * frames, so take s with GOSNAP_STACKS. *out is malloc'd (free it). 0, or
 * -errno (-ENOMEM; -ESRCH the process is gone).
 */
int goobj__waits(struct goobj *o, const struct gosnap *s, struct go_wait **out, size_t *n);

/* Read n objects' states (kind and addr set by the caller). Returns how many were read or -errno. */
long goobj__read(struct goobj *o, struct go_obj_state *st, size_t n);

/*
 * Did the object move between two reads (a channel sent or received, a
 * lock changed hands, a counter changed, a Cond was signalled)? False if
 * either read failed.
 */
bool go_obj_state__moved(const struct go_obj_state *before, const struct go_obj_state *now);

const char *go_obj_kind_name(enum go_obj_kind k);

#endif
