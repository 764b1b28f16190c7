// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gotrack.h"
#include "hmap.h"

#define PROBES_PER_TICK 8
#define MAX_PENDING 65536
#define COST_FACTOR 20 /* a snapshot may take at most 1/20 of the time between two */

struct gotrack {
	char proc_root[128];
	uint64_t interval_ns;
	struct hmap *procs; /* pid -> struct go_process (Go, or a Go we cannot read) */
	struct hmap *not_go; /* pid -> (void *)1: probed, not Go */
	struct hmap *threads; /* pid << 32 | tid -> goroutine index + 1, latest snapshots */
	struct hmap *queued; /* pid -> (void *)1 while it waits in pending */
	uint32_t *pending;
	size_t nr_pending;
	gotrack_fn fn;
	void *ctx;
};

struct gotrack *gotrack__new(const char *proc_root, uint64_t interval_ns)
{
	struct gotrack *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	snprintf(t->proc_root, sizeof(t->proc_root), "%s", proc_root);
	t->interval_ns = interval_ns;
	t->procs = hmap__new();
	t->not_go = hmap__new();
	t->threads = hmap__new();
	t->queued = hmap__new();
	t->pending = calloc(MAX_PENDING, sizeof(*t->pending));
	if (!t->procs || !t->not_go || !t->threads || !t->queued || !t->pending) {
		gotrack__free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void gotrack__set_listener(struct gotrack *t, gotrack_fn fn, void *ctx)
{
	t->fn = fn;
	t->ctx = ctx;
}

static void drop_threads(struct gotrack *t, const struct go_process *gp)
{
	for (size_t i = 0; i < gp->snap.n; i++)
		if (gp->snap.g[i].tid)
			hmap__del(t->threads, (uint64_t)gp->pid << 32 | gp->snap.g[i].tid);
}

static void free_process(struct go_process *gp)
{
	if (!gp)
		return;
	gosnap__free(&gp->snap);
	free(gp->seen);
	goproc__free(gp->proc);
	free(gp);
}

void gotrack__free(struct gotrack *t)
{
	uint64_t key;
	void *val;

	if (!t)
		return;
	if (t->procs) {
		for (size_t it = 0; hmap__next(t->procs, &it, &key, &val);)
			free_process(val);
		hmap__free(t->procs);
	}
	hmap__free(t->not_go);
	hmap__free(t->threads);
	hmap__free(t->queued);
	free(t->pending);
	free(t);
}

void gotrack__note(struct gotrack *t, uint32_t pid)
{
	if (hmap__get(t->procs, pid) || hmap__get(t->not_go, pid) || hmap__get(t->queued, pid) ||
	    t->nr_pending == MAX_PENDING)
		return;
	if (hmap__set(t->queued, pid, (void *)1))
		return;
	t->pending[t->nr_pending++] = pid;
}

void gotrack__forget(struct gotrack *t, uint32_t pid)
{
	struct go_process *gp = hmap__del(t->procs, pid);

	if (gp) {
		drop_threads(t, gp);
		free_process(gp);
		if (t->fn)
			t->fn(pid, NULL, t->ctx);
	}
	hmap__del(t->not_go, pid);
	if (!hmap__del(t->queued, pid))
		return;
	for (size_t i = 0; i < t->nr_pending; i++)
		if (t->pending[i] == pid) {
			t->pending[i] = t->pending[--t->nr_pending];
			break;
		}
}

static void probe(struct gotrack *t, uint32_t pid, uint64_t now)
{
	struct go_process *gp;
	char why[160] = "";
	struct goproc *p = goproc__open(t->proc_root, pid, why, sizeof(why));

	/*
	 * Only a Go program that cannot be read (a version without a layout,
	 * tables that do not parse) is kept, to say why; one that is not Go,
	 * gone, or whose binary tangle may not even open (EACCES) is not shown.
	 */
	if (!p && errno != ENOTSUP && errno != EINVAL) {
		hmap__set(t->not_go, pid, (void *)1);
		return;
	}
	gp = calloc(1, sizeof(*gp));
	if (!gp || hmap__set(t->procs, pid, gp)) {
		free(gp);
		goproc__free(p);
		return;
	}
	gp->pid = pid;
	gp->proc = p;
	gp->next_ns = now;
	if (!p)
		snprintf(gp->error, sizeof(gp->error), "%s", why);
}

static int cmp_goid_key(const void *key, const void *elem)
{
	uint64_t goid = *(const uint64_t *)key;
	const struct goroutine *g = elem;

	return goid < g->goid ? -1 : goid > g->goid;
}

/* Same state as in the previous snapshot: same status, reason and parked pc. */
static bool same_state(const struct goroutine *a, const struct goroutine *b)
{
	return a->g == b->g && a->status == b->status && a->wait_reason_raw == b->wait_reason_raw &&
	       (a->status == GO_RUNNING || a->sched_pc == b->sched_pc);
}

/* s becomes gp's latest snapshot (taken over); the listener is told. */
static int install(struct gotrack *t, struct go_process *gp, struct gosnap s)
{
	struct go_seen *seen = calloc(s.n ? s.n : 1, sizeof(*seen));

	if (!seen) {
		gosnap__free(&s);
		return -ENOMEM;
	}
	/* carry first-seen times over; both snapshots are sorted by goid */
	for (size_t i = 0; i < s.n; i++) {
		const struct goroutine *prev =
			gp->snap.n ? bsearch(&s.g[i].goid, gp->snap.g, gp->snap.n,
					     sizeof(gp->snap.g[0]), cmp_goid_key) :
				     NULL;

		seen[i].since_ns = s.ts_ns;
		if (prev && same_state(prev, &s.g[i]))
			seen[i].since_ns = gp->seen[prev - gp->snap.g].since_ns;
	}
	drop_threads(t, gp);
	gosnap__free(&gp->snap);
	free(gp->seen);
	gp->snap = s;
	gp->seen = seen;
	if (!gp->first_ns)
		gp->first_ns = s.ts_ns;
	for (size_t i = 0; i < s.n; i++)
		if (s.g[i].tid)
			hmap__set(t->threads, (uint64_t)gp->pid << 32 | s.g[i].tid,
				  (void *)(uintptr_t)(i + 1));
	if (t->fn)
		t->fn(gp->pid, gp, t->ctx);
	return 0;
}

static void snapshot(struct gotrack *t, struct go_process *gp, uint64_t now)
{
	struct gosnap s;
	uint64_t gap;

	if (goproc__snapshot(gp->proc, GOSNAP_ALL, &s, gp->error, sizeof(gp->error))) {
		gp->next_ns = now + 4 * t->interval_ns;
		return;
	}
	gp->error[0] = '\0';
	if (install(t, gp, s))
		return;
	gap = s.cost_ns * COST_FACTOR;
	gp->next_ns = now + (gap > t->interval_ns ? gap : t->interval_ns);
}

void gotrack__tick(struct gotrack *t, uint64_t now)
{
	uint64_t key;
	void *val;

	for (int i = 0; i < PROBES_PER_TICK && t->nr_pending; i++) {
		uint32_t pid = t->pending[--t->nr_pending];

		hmap__del(t->queued, pid);
		probe(t, pid, now);
	}
	for (size_t it = 0; hmap__next(t->procs, &it, &key, &val);) {
		struct go_process *gp = val;

		if (gp->proc && now >= gp->next_ns)
			snapshot(t, gp, now);
	}
}

const struct go_process *gotrack__next(const struct gotrack *t, size_t *it)
{
	uint64_t key;
	void *val;

	return hmap__next(t->procs, it, &key, &val) ? val : NULL;
}

const struct go_process *gotrack__process(const struct gotrack *t, uint32_t pid)
{
	return hmap__get(t->procs, pid);
}

size_t gotrack__nr_processes(const struct gotrack *t)
{
	return hmap__len(t->procs);
}

uint64_t gotrack__in_state_ns(const struct go_process *gp, size_t i, uint64_t now, bool *at_least)
{
	const struct goroutine *g = &gp->snap.g[i];
	uint64_t since = gp->seen[i].since_ns;

	*at_least = since == gp->first_ns;
	/* waitsince is the runtime's nanotime: CLOCK_MONOTONIC, like now */
	if (g->waitsince > 0 && (uint64_t)g->waitsince < since) {
		since = (uint64_t)g->waitsince;
		*at_least = false;
	}
	return now > since ? now - since : 0;
}

const struct goroutine *gotrack__on_thread(const struct gotrack *t, uint32_t pid, uint32_t tid)
{
	uintptr_t idx = (uintptr_t)hmap__get(t->threads, (uint64_t)pid << 32 | tid);
	const struct go_process *gp;

	if (!idx || !(gp = hmap__get(t->procs, pid)) || idx > gp->snap.n)
		return NULL;
	return &gp->snap.g[idx - 1];
}

/* ---- replay ---- */

int gotrack__replay_process(struct gotrack *t, struct goproc *proc)
{
	uint32_t pid = goproc__pid(proc);
	struct go_process *gp;

	gotrack__forget(t, pid);
	gp = calloc(1, sizeof(*gp));
	if (!gp || hmap__set(t->procs, pid, gp)) {
		free(gp);
		goproc__free(proc);
		return -ENOMEM;
	}
	gp->pid = pid;
	gp->proc = proc;
	return 0;
}

int gotrack__replay_snapshot(struct gotrack *t, uint32_t pid, struct gosnap *s)
{
	struct go_process *gp = hmap__get(t->procs, pid);

	if (!gp) {
		gosnap__free(s);
		return -ENOENT;
	}
	return install(t, gp, *s);
}
