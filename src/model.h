/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The live model: every watched process and thread, what each waits on, and
 * per-address futex statistics. Plain C without I/O: the consumer (live), the
 * /proc bootstrap and replay feed it through the model__* inputs below, and
 * every change is reported once to a listener (the views).
 */
#ifndef TANGLE_MODEL_H
#define TANGLE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tangle_abi.h"

/* Bounds that keep memory finite whatever the watched processes do. */
#define MODEL_MAX_THREADS (1u << 20)
#define MODEL_MAX_FUTEXES_PER_PROCESS 4096

enum wait_kind {
	WAIT_NONE = 0,
	WAIT_FUTEX = 1,
};

enum wait_result {
	WAIT_WOKEN,
	WAIT_TIMEOUT,
	WAIT_VALUE_CHANGED,
	WAIT_INTERRUPTED,
	WAIT_ERROR,
	WAIT_EXITED,
	WAIT_LOST, /* its end was not seen (dropped events): found over when checked */
};

enum thread_origin {
	ORIGIN_PROC, /* found in /proc at start */
	ORIGIN_FORK, /* created while watched */
	ORIGIN_SEEN, /* first met in another event (raced the /proc scan) */
};

/* What a wait waits for, when tangle can tell (see lockinfo.h). */
enum lock_kind {
	LOCK_UNKNOWN = 0, /* a futex we cannot name: condvar, semaphore, other runtimes */
	LOCK_MUTEX,
	LOCK_RWLOCK,
	LOCK_JOIN,
};

enum owner_state {
	OWNER_NONE = 0, /* no owner known: never an edge */
	OWNER_LIVE, /* a live thread that can see the lock */
	OWNER_DEAD, /* the owner thread has exited: the lock is abandoned */
};

/* Who holds what a thread waits on, as last read from its memory. */
struct lock_owner {
	enum lock_kind kind;
	enum owner_state state;
	uint64_t lock_addr;
	uint32_t owner_tid;
	uint32_t owner_pid;
	bool pshared;
	bool readers; /* rwlock held by readers */
	uint64_t wait_since_ns; /* the wait this answer is for */
	uint64_t checked_ns; /* 0: never resolved */
};

struct wait {
	enum wait_kind kind;
	uint8_t sys; /* enum tangle_wait_sys */
	uint8_t nr_futexes;
	bool has_timeout;
	bool preblocked; /* began before tangle attached; since_ns is tangle's start */
	uint32_t op; /* raw futex op (futex2: flags) */
	uint32_t expected;
	uint64_t addr;
	uint64_t addr2;
	uint64_t since_ns;
	/* wait_end only: who woke it last (0: no one seen; a timeout's is meaningless) */
	uint32_t waker_pid;
	uint32_t waker_tid;
};

struct thread {
	uint32_t pid;
	uint32_t tid;
	char comm[TANGLE_COMM_LEN];
	enum thread_origin origin;
	uint8_t state; /* enum tangle_thread_state */
	uint64_t state_since_ns;
	uint64_t run_ns;
	uint64_t sched_blocked_ns; /* off-CPU in S or D, from the scheduler */
	uint64_t nr_switches;
	struct wait wait; /* kind WAIT_NONE when not in a wait */
	struct lock_owner owner; /* valid when owner.wait_since_ns == wait.since_ns */
	uint64_t nr_waits;
	uint64_t wait_ns; /* total time in finished futex waits */
	uint64_t first_seen_ns;
};

struct futex_stat {
	uint64_t addr;
	uint64_t waits; /* finished waits */
	uint64_t total_ns;
	uint64_t max_ns;
	uint32_t waiting; /* threads waiting on it now */
};

struct process {
	uint32_t pid;
	char comm[TANGLE_COMM_LEN];
	uint32_t nr_threads;
	uint64_t futexes_dropped; /* addresses not tracked: MODEL_MAX_FUTEXES_PER_PROCESS */
	struct hmap *futexes; /* addr -> struct futex_stat */
};

enum model_change {
	MC_THREAD_NEW,
	MC_THREAD_EXEC,
	MC_THREAD_RENAME,
	MC_THREAD_EXIT,
	MC_WAIT_BEGIN,
	MC_WAIT_END,
	MC_PROCESS_EXIT, /* its last thread is gone; told before the process is freed */
};

/* One change, as told to the listener. Pointers are valid during the call only. */
struct model_event {
	enum model_change kind;
	uint64_t ts_ns;
	const struct thread
		*thread; /* after the change; for EXIT, as it was; NULL for PROCESS_EXIT */
	const struct process *process; /* PROCESS_EXIT */
	const struct wait *wait; /* WAIT_BEGIN, WAIT_END */
	const struct lock_owner *owner; /* WAIT_END: who held what it waited on, if read; or NULL */
	uint64_t blocked_ns; /* WAIT_END */
	int64_t ret; /* WAIT_END: syscall return */
	enum wait_result result; /* WAIT_END */
	const char *old_comm; /* RENAME, EXEC */
	uint32_t parent_pid; /* NEW (fork) */
	uint32_t parent_tid;
	bool is_thread; /* NEW: a thread of an existing process */
	int32_t exit_code; /* EXIT */
	bool group_dead; /* EXIT */
};

typedef void (*model_listener_fn)(const struct model_event *ev, void *ctx);

struct model;

struct model *model__new(model_listener_fn fn, void *ctx);
void model__free(struct model *m);

/* Inputs. Each returns 0, or -errno when the model could not hold the change. */
int model__thread_new(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		      enum thread_origin origin, uint32_t parent_pid, uint32_t parent_tid,
		      uint8_t state);
int model__thread_exec(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, uint32_t old_tid,
		       const char *comm);
int model__thread_rename(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid,
			 const char *comm);
int model__thread_exit(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		       int32_t exit_code, bool group_dead);
int model__wait_begin(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		      const struct wait *w);
int model__wait_end(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		    const struct wait *w, uint64_t begin_ns, int64_t ret);
/* tid is no longer in the wait the model has for it (its end was lost): end it now. */
int model__wait_lost(struct model *m, uint64_t ts, uint32_t tid);
/* Record who holds what tid waits on; ignored if tid's wait changed meanwhile. */
void model__set_owner(struct model *m, uint32_t tid, const struct lock_owner *o);
/* The owner of t's current wait if it was resolved for this very wait, else NULL. */
const struct lock_owner *thread__owner(const struct thread *t);
/* Scheduler state as kept by the BPF thread map. */
void model__thread_sched(struct model *m, uint32_t tid, const struct tangle_thread_info *ti);

/* Queries. */
struct thread *model__thread(const struct model *m, uint32_t tid);
struct process *model__process(const struct model *m, uint32_t pid);
size_t model__nr_threads(const struct model *m);
size_t model__nr_processes(const struct model *m);
/* for (size_t it = 0; (t = model__next_thread(m, &it));) */
struct thread *model__next_thread(const struct model *m, size_t *it);
struct process *model__next_process(const struct model *m, size_t *it);
struct futex_stat *process__next_futex(const struct process *p, size_t *it);

enum wait_result wait_result_of(int64_t ret);
const char *wait_result_name(enum wait_result r);
const char *thread_state_name(uint8_t state);
/* Copy a kernel comm (16 bytes, maybe unterminated) into dst, NUL-terminated. */
void comm_copy(char dst[TANGLE_COMM_LEN], const char *src);

#endif
