/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The stuck-subset detector: over the model's wait-for graph (a thread waits
 * on a lock, the lock's owner is another thread), find the groups of threads
 * that can never proceed:
 *  - deadlock: a cycle of wait-for edges (a thread relocking its own mutex is
 *    a cycle of one), and every thread waiting, transitively, on it;
 *  - abandoned: waiting, transitively, on a lock whose owner has exited.
 * Only untimed waits with a validated owner are edges; a thread that is
 * running, or blocked on something without an owner, ends a chain, so it and
 * its waiters are not stuck. Plain C without I/O.
 *
 * A group is reported when it has been seen on two consecutive runs with the
 * same waits (so an owner read mid-handover cannot invent one), keeps its id
 * while it lasts, and is reported again, resolved, when it dissolves.
 */
#ifndef TANGLE_DETECT_H
#define TANGLE_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model.h"

enum group_kind {
	GROUP_DEADLOCK,
	GROUP_ABANDONED,
};

struct stuck_member {
	uint32_t pid;
	uint32_t tid;
	char comm[TANGLE_COMM_LEN];
	uint64_t blocked_ns;
	struct wait wait;
	struct lock_owner owner;
	bool in_cycle; /* on the cycle itself (deadlock), or waiting on the dead owner's lock */
};

struct stuck_edge {
	uint32_t from_tid;
	uint32_t to_tid; /* for abandoned: the exited owner */
	enum lock_kind kind;
	uint64_t addr; /* the lock object */
};

struct stuck_group {
	uint64_t id;
	enum group_kind kind;
	uint64_t detected_ns;
	uint64_t resolved_ns; /* 0 while stuck */
	unsigned int revision; /* bumped when the member set changes */
	size_t nr_members;
	struct stuck_member *members; /* cycle first, in cycle order; then the rest */
	size_t nr_edges;
	struct stuck_edge *edges;
	uint32_t dead_owner_tid; /* abandoned */
};

struct detect_opts {
	uint64_t min_wait_ns; /* waits younger than this are not considered */
};

/* Called for every new, changed or resolved group (g->resolved_ns != 0). */
typedef void (*detect_fn)(const struct stuck_group *g, void *ctx);

struct detector;

struct detector *detector__new(const struct detect_opts *o, detect_fn fn, void *ctx);
void detector__free(struct detector *d);
/* Analyse the model as of now; report changes. Returns 0 or -ENOMEM. */
int detector__run(struct detector *d, const struct model *m, uint64_t now);
/* Groups stuck as of the last run. */
size_t detector__nr_groups(const struct detector *d);
/* Groups ever reported (resolved or not). */
size_t detector__nr_reported(const struct detector *d);
const struct stuck_group *detector__group(const struct detector *d, size_t i);

/* A group id no group of this detector has or will have (for groups of other detectors). */
uint64_t detector__new_id(struct detector *d);

const char *group_kind_name(enum group_kind k);

#endif
