/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The NDJSON view: model changes and collector status as records of the
 * schema in docs/SCHEMA.md. Schema version: JSON_SCHEMA_VERSION, the "v" of
 * every record; bump it with any incompatible change.
 */
#ifndef TANGLE_VIEW_JSON_H
#define TANGLE_VIEW_JSON_H

#include <stdint.h>
#include "filter.h"
#include "detect.h"
#include "model.h"
#include "names.h"

#define JSON_SCHEMA_VERSION 1

struct json_writer;
struct frame;

struct stream_meta {
	uint64_t ts_ns;
	const char *kernel;
	const char *hostname;
	int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	int64_t boot_offset_ns; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC */
	const struct filter *filter;
};

/* A model listener; ctx is the struct json_writer. Write errors are kept by the writer's FILE. */
void view_json__on_change(const struct model_event *ev, void *ctx);
/*
 * The same, for --stacks: wait_begin and wait_end records carry "stack",
 * "stack_sample_every" and "stack_truncated"; wait_end also "kernel_stack".
 */
void view_json__change(struct json_writer *w, const struct model_event *ev, bool with_stacks,
		       const struct stack *st);

/* A record's start ({"type":TYPE,"v":...,"ts_ns":TS) and end (the line's end; 0 or -errno). */
void view_json__begin(struct json_writer *w, const char *type, uint64_t ts);
int view_json__end(struct json_writer *w);

int view_json__meta(struct json_writer *w, const struct stream_meta *meta);
/* key: an array of frame objects (docs/SCHEMA.md, Frames), innermost first. */
void view_json__frames(struct json_writer *w, const char *key, const struct frame *f, size_t n);
struct lost_report;
/* A lost_events record of what the kernel dropped (reason: l->reason's name), with the CPUs. */
int view_json__lost(struct json_writer *w, uint64_t ts, const char *reason,
		    const struct lost_report *l);
/* One of records of this stream its reader did not take in time ("output_full"). */
int view_json__lost_output(struct json_writer *w, uint64_t ts, uint64_t count, uint64_t total);
int view_json__error(struct json_writer *w, uint64_t ts, const char *msg, int err);
/* One futex_stats record per (process, address) with finished waits. */
int view_json__futex_stats(struct json_writer *w, uint64_t ts, const struct model *m);
/* stuck_group, or stuck_group_resolved when g->resolved_ns is set; names may be NULL. */
int view_json__stuck_group(struct json_writer *w, const struct stuck_group *g,
			   const struct names *names);
/* A wait of t that has lasted age_ns and is not in a stuck group (check --json). */
int view_json__long_wait(struct json_writer *w, uint64_t ts, const struct thread *t,
			 uint64_t age_ns);
int view_json__summary(struct json_writer *w, uint64_t ts, uint64_t events, uint64_t lost,
		       uint64_t duration_ns);

#endif
