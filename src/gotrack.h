/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The goroutines of every Go process tangle watches, kept up to date by
 * periodic snapshots (goproc.h) and remembered across them: when each
 * goroutine was first seen in its current state (tangle's own clock, exact
 * to one snapshot interval, where the runtime's waitsince is only set by the
 * GC), and which goroutine each thread runs.
 *
 * Processes are probed once each (is it Go? which version?), a few per tick
 * so that a host with thousands of processes costs nothing at start. A
 * process is snapshotted at most every interval, and less often when its
 * snapshot is expensive (at most ~5% of one CPU per process).
 */
#ifndef TANGLE_GOTRACK_H
#define TANGLE_GOTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "goproc.h"

struct gotrack;

struct go_seen {
	uint64_t since_ns; /* first snapshot that saw it in this state */
};

struct go_process {
	uint32_t pid;
	struct goproc *proc; /* NULL if it could not be opened (see error) */
	struct gosnap snap; /* the latest; n = 0 before the first */
	struct go_seen *seen; /* parallel to snap.g */
	uint64_t first_ns; /* when the first snapshot was taken, 0 before */
	uint64_t next_ns; /* when the next snapshot is due */
	char error[160]; /* why the last snapshot failed, "" if it did not */
};

/* Told of every new snapshot (gp), and of processes dropped (gp NULL). */
typedef void (*gotrack_fn)(uint32_t pid, const struct go_process *gp, void *ctx);

struct gotrack *gotrack__new(const char *proc_root, uint64_t interval_ns);
void gotrack__set_listener(struct gotrack *t, gotrack_fn fn, void *ctx);
void gotrack__free(struct gotrack *t);

/* A process tangle sees: probe it (once) on a later tick. */
void gotrack__note(struct gotrack *t, uint32_t pid);
/* It exited or exec'd: drop what is known (an exec is probed again). */
void gotrack__forget(struct gotrack *t, uint32_t pid);
/* Probe what was noted and take the snapshots that are due. */
void gotrack__tick(struct gotrack *t, uint64_t now_ns);

/* Go processes, for (size_t it = 0; (gp = gotrack__next(t, &it));). */
const struct go_process *gotrack__next(const struct gotrack *t, size_t *it);
const struct go_process *gotrack__process(const struct gotrack *t, uint32_t pid);
size_t gotrack__nr_processes(const struct gotrack *t);
/*
 * How long goroutine i of gp's latest snapshot has been in its state at now:
 * the longer of tangle's own first sighting and the runtime's waitsince.
 * *at_least is set when it was already so at the first snapshot and the
 * runtime did not say since when (the true figure is larger).
 */
uint64_t gotrack__in_state_ns(const struct go_process *gp, size_t i, uint64_t now_ns,
			      bool *at_least);

/*
 * Replay: the tracker holds what a recording says instead of what it
 * probes (nothing is noted or ticked). A process (proc, taken over, replaces
 * any of its pid), then its snapshots (s taken over), which the listener
 * hears of as of live ones; gotrack__forget drops one. 0 or -errno.
 */
int gotrack__replay_process(struct gotrack *t, struct goproc *proc);
int gotrack__replay_snapshot(struct gotrack *t, uint32_t pid, struct gosnap *s);

/* The goroutine thread tid of pid runs (as of the last snapshot), or NULL. */
const struct goroutine *gotrack__on_thread(const struct gotrack *t, uint32_t pid, uint32_t tid);

#endif
