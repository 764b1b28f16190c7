/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * `tangle serve`'s /metrics: the model, the detectors and tangle's own
 * counters in Prometheus text exposition format (version 0.0.4). Plain C, no
 * I/O: the caller gathers what needs reading (its own CPU and RSS) and keeps
 * the counters that must never go down (waits seen, groups detected), since
 * the model forgets threads and processes that exit.
 *
 * Label cardinality is bounded whatever the host runs (README "Metrics"):
 * states, kinds and drop reasons are fixed sets; per-process and per-lock
 * series are the METRICS_TOP_PROCESSES / METRICS_TOP_LOCKS with the most
 * wait time; goroutine series the first METRICS_GO_PROCESSES Go processes,
 * with at most METRICS_GO_REASONS wait reasons each (the rest summed into
 * reason="other"); stuck groups METRICS_GROUPS, the oldest first.
 */
#ifndef TANGLE_METRICS_H
#define TANGLE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "consumer.h"
#include "detect.h"
#include "godetect.h"
#include "gotrack.h"
#include "model.h"

#define METRICS_TOP_PROCESSES 20
#define METRICS_TOP_LOCKS 20
#define METRICS_GO_PROCESSES 32
#define METRICS_GO_REASONS 32
#define METRICS_GROUPS 50

/* A growing text buffer; oom set (and the text cut) when memory ran out. */
struct mbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

void mbuf__printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mbuf__free(struct mbuf *b);

/* Monotonic counters the caller keeps from the session's events. */
struct metrics_counters {
	uint64_t waits; /* futex waits that ended */
	uint64_t wait_ns; /* their total duration */
	uint64_t groups[2]; /* stuck groups of threads detected, by enum group_kind */
	uint64_t go_groups[3]; /* of goroutines, by enum go_group_kind */
	uint64_t records; /* NDJSON records written */
	uint64_t records_dropped; /* records no reader or file could take */
	uint64_t hooks_run, hooks_failed; /* --on-stuck */
	uint64_t scrapes;
};

struct metrics_src {
	const struct model *model;
	const struct detector *detector;
	const struct gotrack *go; /* NULL without goroutines */
	const struct godetect *godetect; /* NULL without goroutines */
	const struct consumer_stats *stats;
	const struct metrics_counters *counters;
	uint64_t now_ns, start_ns;
	double cpu_s; /* tangle's own, user + system */
	uint64_t rss_bytes;
	double events_per_s; /* over the last few seconds */
};

/* Render every metric into out (appended). */
void metrics__render(struct mbuf *out, const struct metrics_src *s);

/* A Prometheus label value: dst (len bytes, NUL-terminated) from at most n bytes of src. */
void metrics__label(char *dst, size_t len, const char *src, size_t n);

#endif
