/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Goroutines as text, in the Go runtime's own traceback format (what
 * runtime.Stack and pprof's goroutine profile with debug=2 print, so tools
 * such as panicparse read it), and as NDJSON records (docs/SCHEMA.md).
 */
#ifndef TANGLE_VIEW_GO_H
#define TANGLE_VIEW_GO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "godetect.h"
#include "goproc.h"

struct json_writer;

struct go_view_opts {
	bool all_frames; /* show the runtime's unexported frames, as GOTRACEBACK=system does */
};

/* "chan receive" or "runnable": what the header shows in brackets, before the extras. */
const char *view_go__state(const struct goroutine *g);

/* Whole minutes g has waited by the runtime's own clock (waitsince), as Go prints them. */
int64_t view_go__wait_minutes(const struct goroutine *g, uint64_t now_ns);

/* "goroutine 7 [chan receive, 5 minutes]:" and the stack, then "created by". */
void view_go__traceback(FILE *out, struct goproc *p, const struct goroutine *g, uint64_t now_ns,
			const struct go_view_opts *o);

/*
 * A group of goroutines with the same state and stack: a header with the
 * count, the longest wait and the goids, then the stack of the first.
 */
void view_go__group(FILE *out, struct goproc *p, const struct goroutine *const *members, size_t n,
		    uint64_t now_ns, const struct go_view_opts *o);

/* The go_process record that opens a goroutine dump. */
int view_go__process_json(struct json_writer *w, struct goproc *p, const struct gosnap *s,
			  const char *comm, size_t shown);
/* One goroutine record. first_seen_ns: when tangle first saw it in this state (0: unknown). */
int view_go__goroutine_json(struct json_writer *w, struct goproc *p, const struct goroutine *g,
			    uint64_t ts_ns, uint64_t first_seen_ns);
/* A goroutine_group record. */
int view_go__group_json(struct json_writer *w, struct goproc *p,
			const struct goroutine *const *members, size_t n, uint64_t ts_ns);

/*
 * A group of stuck goroutines (godetect.h) as text: what rule, which
 * process, then the group in traceback form (stack of its longest waiter).
 */
void view_go__stuck_text(FILE *out, const struct go_group *g, const struct go_process *gp);
/*
 * As a stuck_group record (docs/SCHEMA.md), stuck_group_resolved when
 * g->resolved_ns is set (gp may then be NULL, and members carry only goids).
 */
int view_go__stuck_json(struct json_writer *w, const struct go_group *g,
			const struct go_process *gp);

/* Go's rule for the frames its traceback shows: not the runtime's unexported functions. */
bool view_go__shown(const char *function);

#endif
