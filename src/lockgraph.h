/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The lock-order graph of `tangle lockorder`, and its cycles: plain C, no
 * I/O, the same on live and test input.
 *
 * A node is one lifetime of one lock (address and generation, see
 * include/lockorder_abi.h); an edge A -> B says some thread took B while it
 * held A, with the modes it held A in and asked B in (a mutex is always
 * "write"). A cycle is a potential deadlock when every lock on it could block
 * the thread that asks for it: at each lock, the mode the next thread holds it
 * in and the mode the previous one asks for it in must conflict (two read
 * holds of a rwlock do not, so a cycle of read locks alone is not reported).
 *
 * Each cycle is found once, when its last edge appears: lockgraph__add()
 * returns the simple cycles that the new edge closes (up to LG_MAX_CYCLE
 * locks long; the search stops after LG_SEARCH_STEPS steps, counted in
 * lockgraph__truncated_searches()).
 */
#ifndef TANGLE_LOCKGRAPH_H
#define TANGLE_LOCKGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MAX_CYCLE 8
#define LG_SEARCH_STEPS 100000

struct lg_lock {
	uint64_t addr;
	uint32_t gen;
	uint8_t kind; /* enum lo_kind */
};

struct lg_edge {
	uint32_t from, to; /* lock indices */
	uint8_t from_mode, to_mode; /* enum lo_mode */
	bool from_try; /* the held lock was taken by a trylock or timed lock */
	uint32_t tid; /* the first thread seen taking them in this order */
	uint64_t ts_ns; /* when */
	uint64_t from_site; /* return address of the call that took the held lock */
	uint32_t nr_held; /* locks that thread held then, from included */
	void *data; /* the caller's (e.g. the unwound stack); the graph never looks at it */
};

struct lg_cycle {
	size_t nr; /* edges, as many as locks */
	/* edges[i].to == edges[i + 1].from, the last closes on the first; the oldest edge first */
	uint32_t edges[LG_MAX_CYCLE];
};

struct lockgraph;

/* At most max_edges edges and as many locks as they name; NULL on ENOMEM. */
struct lockgraph *lockgraph__new(size_t max_edges);
void lockgraph__free(struct lockgraph *g); /* not the edges' data */

/*
 * Add edge e (from and to ignored: the locks are named by fl and tl). Sets
 * *idx to the edge's index. Returns the number of cycles it closes, written
 * to cycles (up to max; the rest are counted but not written), 0 if none,
 * -EEXIST if the edge was known (same locks and modes: nothing changes),
 * -ENOSPC when the graph is full, -ENOMEM.
 */
int lockgraph__add(struct lockgraph *g, const struct lg_lock *fl, const struct lg_lock *tl,
		   const struct lg_edge *e, uint32_t *idx, struct lg_cycle *cycles, size_t max);

size_t lockgraph__nr_locks(const struct lockgraph *g);
size_t lockgraph__nr_edges(const struct lockgraph *g);
const struct lg_lock *lockgraph__lock(const struct lockgraph *g, uint32_t i);
const struct lg_edge *lockgraph__edge(const struct lockgraph *g, uint32_t i);
struct lg_edge *lockgraph__edge_mut(struct lockgraph *g, uint32_t i);
/* The index of lock l (address and generation), or -1 if the graph has no such lock. */
int64_t lockgraph__lock_index(const struct lockgraph *g, const struct lg_lock *l);
/* The edge from..to in those modes, or -1. */
int64_t lockgraph__find(const struct lockgraph *g, const struct lg_lock *fl,
			const struct lg_lock *tl, uint8_t from_mode, uint8_t to_mode);
/* Searches cut short by LG_SEARCH_STEPS, and cycles found past max. */
uint64_t lockgraph__truncated_searches(const struct lockgraph *g);
uint64_t lockgraph__cycles_not_written(const struct lockgraph *g);

/* Would a thread asking for a lock in mode want block on one holding it in mode held? */
bool lockgraph__conflict(uint8_t held, uint8_t want);

#endif
