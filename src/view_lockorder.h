/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reports of `tangle lockorder`: a lock-order inversion in the manner of
 * ThreadSanitizer's "lock-order-inversion (potential deadlock)", as text or
 * as an NDJSON lock_order_inversion record (docs/SCHEMA.md); locks a thread
 * held when it exited; the closing summary. No I/O but the given FILE or
 * writer; every untrusted string is escaped.
 */
#ifndef TANGLE_VIEW_LOCKORDER_H
#define TANGLE_VIEW_LOCKORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "lockgraph.h"
#include "lockorder_abi.h"
#include "unwind.h"

struct json_writer;

/* What the command keeps about an edge (lg_edge.data). */
struct lo_edge_info {
	char comm[LO_COMM_LEN]; /* of the thread that took the locks in this order */
	struct frame *stack; /* where it took the second lock (malloc'd), nr_stack frames */
	size_t nr_stack;
	bool stack_truncated;
	struct frame held_at; /* the call that took the first lock (addr 0: unknown) */
	/*
	 * Where held_at's callers are in stack: when held_at's function is
	 * still on it (it took the first lock, then called on to the second),
	 * the frames past it are its callers too. 0: not there, held_at alone.
	 */
	size_t held_callers;
	uint64_t count; /* times taken in this order (read from BPF when reported) */
};

/* What the command knows of a lock (by graph index). */
struct lo_lock_info {
	char name[256]; /* "lock_a", "heap", "stack of thread 12"...: "" if nothing */
};

struct lo_view {
	const struct lockgraph *g;
	const struct lo_lock_info *locks; /* by lock index, lockgraph__nr_locks() of them */
	uint32_t pid;
	const char *comm; /* of the process */
};

void view_lockorder__text(FILE *out, const struct lo_view *v, const struct lg_cycle *c);
int view_lockorder__json(struct json_writer *w, uint64_t ts, const struct lo_view *v,
			 const struct lg_cycle *c, uint64_t id);

/* A thread that exited holding locks: held_at[i] names the call that took held[i]. */
struct lo_exit_info {
	uint32_t pid, tid;
	char comm[LO_COMM_LEN];
	size_t nr;
	const struct lo_lock_ref *held;
	const struct frame *held_at;
	const char *const *names; /* of the locks, "" if nothing */
};

void view_lockorder__exit_text(FILE *out, const struct lo_exit_info *x);
int view_lockorder__exit_json(struct json_writer *w, uint64_t ts, const struct lo_exit_info *x);

const char *lo_kind_name(uint8_t kind);
const char *lo_mode_name(uint8_t mode);

#endif
