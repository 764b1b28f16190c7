/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Exports for people who would rather look than read (stream --trace and
 * --dot, replay trace and dot):
 *  - a timeline in the Chrome trace-event format (JSON array form), which
 *    ui.perfetto.dev and chrome://tracing open: a track per thread, named
 *    after it, in a group per process; each futex wait a slice named by
 *    what it waits on; a flow arrow from the thread that woke a wait to the
 *    wait; stuck groups marked on their members' tracks, and the waits still
 *    going on at the end drawn up to it;
 *  - the wait-for graph as Graphviz dot: threads, the locks they wait on and
 *    who holds them, stuck groups in red.
 * Plain C: names come through struct names, writes go to a FILE.
 */
#ifndef TANGLE_VIEW_TRACE_H
#define TANGLE_VIEW_TRACE_H

#include <stdint.h>
#include <stdio.h>
#include "detect.h"
#include "model.h"
#include "names.h"

struct json_writer;
struct view_trace;

/* Starts the array on w's FILE. NULL and errno on failure. */
struct view_trace *view_trace__new(struct json_writer *w, FILE *out, const struct names *names);
/* A model listener (ctx: the view_trace). */
void view_trace__on_change(const struct model_event *ev, void *ctx);
void view_trace__on_group(struct view_trace *v, const struct stuck_group *g);
/* Draw the waits still going on up to now, close the array. 0 or -errno of the writes. */
int view_trace__finish(struct view_trace *v, const struct model *m, uint64_t now);
void view_trace__free(struct view_trace *v);

/*
 * The wait-for graph as it stands at now: every untimed wait at least
 * min_wait_ns old, the lock it is on and the lock's owner when known; the
 * members of the detector's groups in red. Returns what writing did (0 or -errno).
 */
int view_dot__write(FILE *out, const struct model *m, const struct detector *d, uint64_t now,
		    uint64_t min_wait_ns, const struct names *names);

#endif
