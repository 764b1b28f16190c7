/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * An output queue: what the collector prints goes to a file descriptor from
 * a thread of its own, so that a slow reader (a terminal scrolling, a pipe
 * nobody drains for a while) never stops the collector from consuming
 * events. Past OUTQ_SOFT_LIMIT bytes waiting, records that may go are
 * dropped and counted; the others (stuck groups, errors, the summary) wait
 * up to OUTQ_HARD_LIMIT, then are dropped and counted too. Records are
 * written whole, in order.
 *
 * The queue is filled from one thread; its writer is the only other.
 */
#ifndef TANGLE_OUTQ_H
#define TANGLE_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTQ_SOFT_LIMIT (8u << 20)
#define OUTQ_HARD_LIMIT (64u << 20)

struct outq;

struct outq_stats {
	uint64_t dropped, dropped_kept; /* records dropped; of those, ones that were to be kept */
	uint64_t dropped_bytes, written_bytes;
	size_t waiting; /* bytes queued or being written */
};

/* Writes to fd (not closed by the queue). NULL and errno on failure. */
struct outq *outq__new(int fd);
/*
 * Queue one record. keep: not dropped before the hard limit. Returns 0 (also
 * when it was dropped: that is counted), or the writer's -errno once a
 * write failed (EPIPE: the reader went away); nothing is queued after that.
 */
int outq__push(struct outq *q, const void *buf, size_t len, bool keep);
/*
 * The end of a batch of records: have the writer write them. (A push wakes
 * it only past a few hundred KiB: one wakeup per record cost the collector
 * a third of its time at a million events per second.)
 */
void outq__kick(struct outq *q);
/* The writer's -errno, 0 while it writes. */
int outq__error(struct outq *q);
/* Wait until everything queued is written; the writer's -errno. */
int outq__drain(struct outq *q);
void outq__stats(struct outq *q, struct outq_stats *st);
/* Stops the writer (after outq__drain, or when a write failed); accepts NULL. */
void outq__free(struct outq *q);

#endif
