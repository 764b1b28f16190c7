// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "goevidence.h"
#include "goobj.h"
#include "goreach.h"
#include "hmap.h"
#include "log.h"

#define COST_FACTOR 20 /* the mark phase takes at most 1/20 of the time */
#define MAX_LOCKS 4096 /* locks watched per process */

/* One goroutine's wait across batches. */
struct hist {
	uint64_t obj; /* what it waited on last time */
	const char *name; /* what obj is, as object_name() puts it */
	uint64_t pc, sp; /* where it parked */
	int64_t waitsince; /* the runtime's, 0 until a GC sets it (and again once it wakes) */
	uint64_t seen_ts; /* the batch that last saw it waiting */
	unsigned int streak; /* runs in a row that found obj unreachable */
	bool reachable; /* the last run found obj reachable, and this is still that wait */
};

/*
 * Whether g is still in the wait h recorded: the same object, parked at the
 * same place, and no wake-up in between (a goroutine that wakes has its
 * waitsince cleared; the next GC sets a new one).
 */
static bool same_wait(const struct hist *h, const struct goroutine *g, uint64_t obj)
{
	return h->obj == obj && h->pc == g->sched_pc && h->sp == g->sched_sp &&
	       (!h->waitsince || h->waitsince == g->waitsince);
}

/* One lock's readings: unchanged since since_ns. */
struct lock_obs {
	struct go_obj_state first;
	uint64_t since_ns;
	uint64_t seen_ts;
};

struct ev_proc {
	uint32_t pid;
	struct goobj *o;
	struct goreach *r;
	bool failed; /* goobj or goreach could not be opened: always unknown */
	uint64_t batch_ts; /* the snapshot waits/res are of */
	struct go_wait *waits;
	struct goreach_result *res;
	size_t n;
	bool ran; /* goreach ran on this batch */
	uint64_t next_run_ns; /* the next mark, COST_FACTOR times its cost later */
	uint64_t next_batch_ns; /* the same for reading the waits */
	struct hmap *now; /* goid -> index + 1 in waits */
	struct hmap *hist; /* goid -> struct hist */
	struct hmap *locks; /* address -> struct lock_obs */
};

struct goevidence {
	char proc_root[64];
	uint64_t stuck_after_ns;
	struct hmap *procs; /* pid -> struct ev_proc */
	struct goevidence_stats st;
};

static uint64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void free_values(struct hmap *m)
{
	uint64_t key;
	void *val;

	for (size_t it = 0; m && hmap__next(m, &it, &key, &val);)
		free(val);
	hmap__free(m);
}

static void free_batch(struct ev_proc *p)
{
	free(p->waits);
	free(p->res);
	p->waits = NULL;
	p->res = NULL;
	p->n = 0;
	hmap__free(p->now);
	p->now = NULL;
}

static void free_proc(struct ev_proc *p)
{
	if (!p)
		return;
	free_batch(p);
	free_values(p->hist);
	free_values(p->locks);
	goreach__free(p->r);
	goobj__free(p->o);
	free(p);
}

struct goevidence *goevidence__new(const char *proc_root, uint64_t stuck_after_ns)
{
	struct goevidence *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	snprintf(e->proc_root, sizeof(e->proc_root), "%s", proc_root);
	e->stuck_after_ns = stuck_after_ns;
	e->procs = hmap__new();
	if (!e->procs) {
		free(e);
		return NULL;
	}
	return e;
}

void goevidence__free(struct goevidence *e)
{
	uint64_t key;
	void *val;

	if (!e)
		return;
	for (size_t it = 0; hmap__next(e->procs, &it, &key, &val);)
		free_proc(val);
	hmap__free(e->procs);
	free(e);
}

void goevidence__forget(struct goevidence *e, uint32_t pid)
{
	free_proc(hmap__del(e->procs, pid));
}

void goevidence__stats(const struct goevidence *e, struct goevidence_stats *st)
{
	*st = e->st;
}

static struct ev_proc *proc_of(struct goevidence *e, uint32_t pid)
{
	struct ev_proc *p = hmap__get(e->procs, pid);
	char why[160];

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->hist = hmap__new();
	p->locks = hmap__new();
	if (!p->hist || !p->locks || hmap__set(e->procs, pid, p)) {
		free_values(p->hist);
		free_values(p->locks);
		free(p);
		return NULL;
	}
	p->o = goobj__open(e->proc_root, pid, why, sizeof(why));
	if (p->o)
		p->r = goreach__new(p->o, NULL, why, sizeof(why));
	if (!p->o || !p->r) {
		p->failed = true;
		e->st.failed++;
		log_debug("pid %u: no evidence on stuck goroutines: %s", pid, why);
	}
	return p;
}

/* Drop the entries of m (structs with a seen_ts at seen_off) not seen in batch ts. */
static void prune(struct hmap *m, uint64_t ts, size_t seen_off)
{
	uint64_t key, dead[64];
	void *val;
	size_t n;

	do {
		n = 0;
		for (size_t it = 0; n < 64 && hmap__next(m, &it, &key, &val);)
			if (*(uint64_t *)((char *)val + seen_off) != ts)
				dead[n++] = key;
		for (size_t k = 0; k < n; k++)
			free(hmap__del(m, dead[k]));
	} while (n == 64);
}

static bool is_lock(enum go_obj_kind k)
{
	return k == GO_KIND_MUTEX || k == GO_KIND_RWMUTEX;
}

/* Read the locks of this batch; a lock that changed, or lost a waiter, starts over. */
static void watch_locks(struct ev_proc *p, uint64_t ts)
{
	struct go_obj_state *st = calloc(p->n + 1, sizeof(*st));
	uint64_t key;
	void *val;
	size_t m = 0;

	if (!st)
		return;
	for (size_t k = 0; k < p->n; k++)
		if (is_lock(p->waits[k].kind) && p->waits[k].nr_objs)
			st[m++] = (struct go_obj_state){ .kind = p->waits[k].kind,
							 .addr = p->waits[k].objs[0] };
	if (m && goobj__read(p->o, st, m) < 0)
		m = 0;
	for (size_t k = 0; k < m; k++) {
		struct lock_obs *l = hmap__get(p->locks, st[k].addr);

		if (!st[k].ok)
			continue;
		if (!l) {
			if (hmap__len(p->locks) >= MAX_LOCKS || !(l = calloc(1, sizeof(*l))))
				continue;
			if (hmap__set(p->locks, st[k].addr, l)) {
				free(l);
				continue;
			}
			l->first = st[k];
			l->since_ns = ts;
		} else if (go_obj_state__moved(&l->first, &st[k])) {
			l->first = st[k];
			l->since_ns = ts;
		}
		l->seen_ts = ts;
	}
	free(st);
	/* a goroutine that waited on a lock last time and does not now was woken */
	for (size_t it = 0; hmap__next(p->hist, &it, &key, &val);) {
		struct hist *h = val;
		struct lock_obs *l;

		if (!hmap__get(p->now, key) && (l = hmap__get(p->locks, h->obj)))
			l->since_ns = ts;
	}
}

static const char *object_name(const struct go_wait *w)
{
	switch (w->kind) {
	case GO_KIND_CHAN:
		return w->nr_objs > 1 ? "select" : "chan";
	case GO_KIND_MUTEX:
		return "sync.Mutex";
	case GO_KIND_RWMUTEX:
		return "sync.RWMutex";
	case GO_KIND_WAITGROUP:
		return "sync.WaitGroup";
	case GO_KIND_COND:
		return "sync.Cond";
	case GO_KIND_SEMA:
		return "semaphore";
	default:
		return NULL;
	}
}

/*
 * What the goroutines of gp's latest snapshot wait on, judged once per
 * snapshot, or less often where that costs more than 1/COST_FACTOR of the
 * time (100,000 parked goroutines): until the next batch, the goroutines are
 * judged by what the last one found, each still in the wait it saw.
 */
static void batch(struct goevidence *e, struct ev_proc *p, const struct go_process *gp)
{
	uint64_t ts = gp->snap.ts_ns, cpu = cpu_now(), mark;
	struct goreach_stats rs;

	free_batch(p);
	p->batch_ts = ts;
	p->ran = false;
	p->now = hmap__new();
	if (!p->now || goobj__waits(p->o, &gp->snap, &p->waits, &p->n))
		goto out;
	p->res = calloc(p->n + 1, sizeof(*p->res));
	if (!p->res)
		goto out;
	if (ts >= p->next_run_ns && !goreach__run(p->r, &gp->snap, p->waits, p->n, p->res, &rs)) {
		p->ran = true;
		e->st.runs++;
		p->next_run_ns = ts + COST_FACTOR * rs.cpu_ns;
	}
	for (size_t k = 0; k < p->n; k++) {
		const struct go_wait *w = &p->waits[k];
		const struct goroutine *g = &gp->snap.g[w->index];
		uint64_t goid = g->goid, obj = w->nr_objs ? w->objs[0] : 0;
		struct hist *h = hmap__get(p->hist, goid);

		if (hmap__set(p->now, goid, (void *)(uintptr_t)(k + 1)))
			goto out;
		if (!h) {
			h = calloc(1, sizeof(*h));
			if (!h || hmap__set(p->hist, goid, h)) {
				free(h);
				goto out;
			}
		}
		if (!obj && h->streak >= 2)
			continue; /* its object not found this time (moved while read?): what we knew stands */
		if (h->obj != obj) {
			struct lock_obs *l = hmap__get(p->locks, h->obj);

			if (l) /* it left that lock: the lock moved */
				l->since_ns = ts;
		}
		if (!same_wait(h, g, obj)) {
			h->streak = 0;
			h->reachable = false;
		}
		h->obj = obj;
		h->name = object_name(w);
		h->pc = g->sched_pc;
		h->sp = g->sched_sp;
		h->waitsince = g->waitsince;
		/*
		 * What nothing live reaches stays so: once two runs agree, a later
		 * "reachable" for the same wait is the mark's imprecision (a running
		 * goroutine's stack scanned whole, stale words included), not a way
		 * out; only the wait ending starts the count again. Before two
		 * runs agree, any other verdict does.
		 */
		if (p->ran)
			h->reachable = p->res[k].verdict == GOREACH_REACHABLE;
		if (p->ran && p->res[k].verdict == GOREACH_UNREACHABLE)
			h->streak++;
		else if (p->ran && h->streak < 2)
			h->streak = 0;
		/* seen_ts is set after watch_locks: it tells the goroutines that left */
	}
	watch_locks(p, ts);
	for (size_t k = 0; k < p->n; k++) {
		struct hist *h = hmap__get(p->hist, gp->snap.g[p->waits[k].index].goid);

		if (h)
			h->seen_ts = ts;
	}
	prune(p->hist, ts, offsetof(struct hist, seen_ts));
	prune(p->locks, ts, offsetof(struct lock_obs, seen_ts));
out:
	cpu = cpu_now() - cpu;
	e->st.cpu_ns += cpu;
	mark = p->ran ? rs.cpu_ns : 0; /* paced on its own, above */
	p->next_batch_ns = ts + COST_FACTOR * (cpu > mark ? cpu - mark : 0);
}

/* Locked, by a writer or by readers. */
static bool held(const struct go_obj_state *s)
{
	if (s->kind == GO_KIND_MUTEX)
		return s->mutex.state & 1;
	return (s->rw.w_state & 1) || s->rw.reader_count != 0;
}

enum go_reach goevidence__judge(struct goevidence *e, const struct go_process *gp,
				const struct goroutine *g, struct go_evidence *ev)
{
	struct ev_proc *p = proc_of(e, gp->pid);
	const struct go_wait *w;
	struct lock_obs *l;
	struct hist *h;
	uintptr_t k;

	if (!p || p->failed)
		return GO_REACH_UNKNOWN;
	if (p->batch_ts != gp->snap.ts_ns && gp->snap.ts_ns >= p->next_batch_ns)
		batch(e, p, gp);
	h = hmap__get(p->hist, g->goid);
	if (h && h->streak >= 2 && same_wait(h, g, h->obj)) {
		ev->object = h->name;
		ev->addr = h->obj;
		return GO_REACH_UNREACHABLE;
	}
	k = p->now ? (uintptr_t)hmap__get(p->now, g->goid) : 0;
	if (!k || !p->waits[k - 1].nr_objs)
		return GO_REACH_UNKNOWN;
	w = &p->waits[k - 1];
	ev->object = object_name(w);
	ev->addr = w->objs[0];
	l = is_lock(w->kind) ? hmap__get(p->locks, w->objs[0]) : NULL;
	if (l && held(&l->first) && gp->snap.ts_ns - l->since_ns >= e->stuck_after_ns) {
		ev->still_ns = gp->snap.ts_ns - l->since_ns;
		return GO_REACH_NO_PROGRESS;
	}
	/* from this batch's run, or the last one's if this batch had none (paced) */
	if (h && h->reachable && same_wait(h, g, w->objs[0]))
		return GO_REACH_REACHABLE;
	return GO_REACH_UNKNOWN;
}
