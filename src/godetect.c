// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "godetect.h"
#include "golayout.h"
#include "hmap.h"

#define LEAK_CONFIRM_NS 1000000000ull /* leaked by construction: seen so for a second */
#define GROWTH_SAMPLES 128 /* per series: with one snapshot a second, two minutes */
#define MAX_SERIES 4096 /* per process; past it, new sites are not followed */

/* The number of goroutines of one (creation site, blocking site, reason), over time. */
struct series {
	uint64_t key;
	size_t n, head; /* ring of the last samples */
	uint64_t ts[GROWTH_SAMPLES];
	uint32_t count[GROWTH_SAMPLES];
};

struct proc_state {
	uint32_t pid;
	struct hmap *series; /* key -> struct series */
};

struct godetect {
	struct godetect_opts o;
	godetect_fn fn;
	void *ctx;
	struct go_group *groups; /* active */
	size_t nr_groups, cap_groups;
	size_t nr_reported;
	uint64_t next_id;
	struct hmap *procs; /* pid -> struct proc_state */
};

/* A group being built from one snapshot. */
struct draft {
	uint64_t key;
	enum go_group_kind kind;
	uint8_t reason_raw;
	const char *reason;
	uint64_t site_pc;
	size_t count;
	struct go_member *members;
	size_t nr_members, cap_members;
	uint64_t hash; /* of the goids, order-free */
	size_t grown_from;
	uint64_t grown_over_ns;
};

const char *go_group_kind_name(enum go_group_kind k)
{
	switch (k) {
	case GO_GROUP_LEAKED:
		return "leaked";
	case GO_GROUP_STUCK:
		return "stuck";
	default:
		return "growing";
	}
}

const char *go_reach_name(enum go_reach r)
{
	switch (r) {
	case GO_REACH_REACHABLE:
		return "reachable";
	case GO_REACH_UNREACHABLE:
		return "unreachable";
	case GO_REACH_NO_PROGRESS:
		return "no_progress";
	default:
		return "unknown";
	}
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

struct godetect *godetect__new(const struct godetect_opts *o, godetect_fn fn, void *ctx)
{
	struct godetect *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->o = *o;
	if (!d->o.stuck_after_ns)
		d->o.stuck_after_ns = GO_STUCK_AFTER_NS;
	if (!d->o.growth_window_ns)
		d->o.growth_window_ns = 30000000000ull;
	if (!d->o.growth_min)
		d->o.growth_min = 10;
	d->fn = fn;
	d->ctx = ctx;
	d->next_id = 1;
	d->procs = hmap__new();
	if (!d->procs) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

static void free_proc(struct proc_state *ps)
{
	uint64_t key;
	void *val;

	if (!ps)
		return;
	for (size_t it = 0; hmap__next(ps->series, &it, &key, &val);)
		free(val);
	hmap__free(ps->series);
	free(ps);
}

void godetect__free(struct godetect *d)
{
	uint64_t key;
	void *val;

	if (!d)
		return;
	for (size_t i = 0; i < d->nr_groups; i++)
		free(d->groups[i].members);
	free(d->groups);
	for (size_t it = 0; hmap__next(d->procs, &it, &key, &val);)
		free_proc(val);
	hmap__free(d->procs);
	free(d);
}

size_t godetect__nr_groups(const struct godetect *d)
{
	return d->nr_groups;
}

const struct go_group *godetect__group(const struct godetect *d, size_t i)
{
	return i < d->nr_groups ? &d->groups[i] : NULL;
}

size_t godetect__nr_reported(const struct godetect *d)
{
	return d->nr_reported;
}

static uint64_t site_of(const struct godetect *d, const struct go_process *gp,
			const struct goroutine *g)
{
	if (d->o.site)
		return d->o.site(gp, g, d->o.ctx);
	return g->nr_pcs ? g->pcs[0] : 0;
}

/*
 * Which rule g falls under, if any. Leaked needs nothing but the wait
 * itself; stuck needs the evidence; growing is decided per site, later.
 */
static bool judge(const struct godetect *d, const struct go_process *gp, size_t i,
		  enum go_group_kind *kind, struct go_evidence *ev)
{
	enum go_reach r;

	const struct goroutine *g = &gp->snap.g[i];
	enum go_wait_class c;
	bool at_least;
	uint64_t blocked;

	if (g->system || (g->status != GO_WAITING && g->status != GO_LEAKED))
		return false;
	blocked = gotrack__in_state_ns(gp, i, gp->snap.ts_ns, &at_least);
	c = golayout__wait_class(g->wait_reason ? g->wait_reason : "");
	if (g->status == GO_LEAKED || c == GO_WAIT_NIL_CHAN ||
	    (c == GO_WAIT_SELECT_NONE && g->goid != 1)) {
		*kind = GO_GROUP_LEAKED;
		return blocked >= LEAK_CONFIRM_NS;
	}
	if (c != GO_WAIT_CHAN && c != GO_WAIT_SYNC && c != GO_WAIT_SEMA)
		return false;
	/*
	 * An object nobody live can reach stays so (nothing can hand it out
	 * again): the age only guards against reading a hand-over halfway. A
	 * wait that was there before tangle looked is old enough once seen so
	 * for a second.
	 */
	if (blocked < (at_least ? LEAK_CONFIRM_NS : d->o.stuck_after_ns) || !d->o.reach)
		return false;
	*kind = GO_GROUP_STUCK;
	r = d->o.reach(gp, g, ev, d->o.ctx);
	ev->reach = r;
	return r == GO_REACH_UNREACHABLE || r == GO_REACH_NO_PROGRESS;
}

static struct draft *draft_of(struct draft **drafts, size_t *n, size_t *cap, struct hmap *index,
			      uint64_t key)
{
	uintptr_t at = (uintptr_t)hmap__get(index, key);
	struct draft *dr;

	if (at)
		return &(*drafts)[at - 1];
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		struct draft *more = realloc(*drafts, c * sizeof(*more));

		if (!more)
			return NULL;
		*drafts = more;
		*cap = c;
	}
	if (hmap__set(index, key, (void *)(uintptr_t)(*n + 1)))
		return NULL;
	dr = &(*drafts)[(*n)++];
	memset(dr, 0, sizeof(*dr));
	dr->key = key;
	return dr;
}

static int draft_add(struct draft *dr, const struct go_process *gp, size_t i,
		     const struct go_evidence *ev)
{
	struct go_member *m;

	dr->count++;
	dr->hash += mix(0, gp->snap.g[i].goid); /* order-free */
	if (dr->nr_members == GODETECT_MAX_MEMBERS)
		return 0;
	if (dr->nr_members == dr->cap_members) {
		size_t c = dr->cap_members ? 2 * dr->cap_members : 8;
		struct go_member *more = realloc(dr->members, c * sizeof(*more));

		if (!more)
			return -ENOMEM;
		dr->members = more;
		dr->cap_members = c;
	}
	m = &dr->members[dr->nr_members++];
	m->goid = gp->snap.g[i].goid;
	m->index = i;
	m->blocked_ns = gotrack__in_state_ns(gp, i, gp->snap.ts_ns, &m->at_least);
	m->evidence = ev ? *ev : (struct go_evidence){ 0 };
	return 0;
}

static int cmp_member(const void *a, const void *b)
{
	const struct go_member *x = a, *y = b;

	if (x->blocked_ns != y->blocked_ns)
		return x->blocked_ns < y->blocked_ns ? 1 : -1;
	return x->goid < y->goid ? -1 : x->goid > y->goid;
}

static struct proc_state *proc_of(struct godetect *d, uint32_t pid)
{
	struct proc_state *ps = hmap__get(d->procs, pid);

	if (ps)
		return ps;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->pid = pid;
	ps->series = hmap__new();
	if (!ps->series || hmap__set(d->procs, pid, ps)) {
		hmap__free(ps->series);
		free(ps);
		return NULL;
	}
	return ps;
}

static void series_push(struct series *s, uint64_t ts, uint32_t count)
{
	size_t at = (s->head + s->n) % GROWTH_SAMPLES;

	if (s->n == GROWTH_SAMPLES) {
		at = s->head;
		s->head = (s->head + 1) % GROWTH_SAMPLES;
	} else {
		s->n++;
	}
	s->ts[at] = ts;
	s->count[at] = count;
}

/*
 * Has the series grown by at least min over at least window, never going
 * down on the way? *from is the count window ago.
 */
static bool series_growing(const struct series *s, uint64_t window, size_t min, size_t *from,
			   uint64_t *over)
{
	size_t last = (s->head + s->n - 1) % GROWTH_SAMPLES;
	uint64_t now = s->ts[last];

	for (size_t k = s->n; k-- > 0;) {
		size_t at = (s->head + k) % GROWTH_SAMPLES;
		size_t next = (at + 1) % GROWTH_SAMPLES;

		if (k + 1 < s->n && s->count[at] > s->count[next])
			return false; /* it went down since: not a steady leak */
		if (now - s->ts[at] >= window) {
			*from = s->count[at];
			*over = now - s->ts[at];
			return s->count[last] >= s->count[at] + min;
		}
	}
	return false;
}

/*
 * Growth: count the parked goroutines per (creation site, blocking site,
 * reason), keep the counts over time, and make a draft of the series that
 * grow steadily.
 */
static int growth(struct godetect *d, const struct go_process *gp, struct draft **drafts, size_t *n,
		  size_t *cap, struct hmap *index)
{
	struct proc_state *ps = proc_of(d, gp->pid);
	struct hmap *counts = hmap__new(), *grown = hmap__new();
	uint64_t *keys = calloc(gp->snap.n + 1, sizeof(*keys));
	uint64_t key;
	void *val;
	int err = -ENOMEM;

	if (!ps || !counts || !grown || !keys)
		goto out;
	for (size_t i = 0; i < gp->snap.n; i++) {
		const struct goroutine *g = &gp->snap.g[i];
		enum go_wait_class c = golayout__wait_class(g->wait_reason ? g->wait_reason : "");

		if (g->system || g->status != GO_WAITING || c == GO_WAIT_RUNTIME)
			continue;
		keys[i] =
			mix(mix(mix(gp->pid, g->gopc), site_of(d, gp, g)), g->wait_reason_raw) | 1;
		if (hmap__set(counts, keys[i], (void *)((uintptr_t)hmap__get(counts, keys[i]) + 1)))
			goto out;
	}
	/* series that vanished this time count zero: their goroutines woke */
	for (size_t it = 0; hmap__next(ps->series, &it, &key, &val);)
		if (!hmap__get(counts, key))
			series_push(val, gp->snap.ts_ns, 0);
	for (size_t it = 0; hmap__next(counts, &it, &key, &val);) {
		struct series *s = hmap__get(ps->series, key);
		size_t from;
		uint64_t over;

		if (!s) {
			if (hmap__len(ps->series) >= MAX_SERIES || !(s = calloc(1, sizeof(*s))))
				continue;
			s->key = key;
			if (hmap__set(ps->series, key, s)) {
				free(s);
				continue;
			}
		}
		series_push(s, gp->snap.ts_ns, (uint32_t)(uintptr_t)val);
		if (series_growing(s, d->o.growth_window_ns, d->o.growth_min, &from, &over)) {
			struct draft *dr =
				draft_of(drafts, n, cap, index, mix(key, GO_GROUP_GROWING));

			if (!dr || hmap__set(grown, key, (void *)(uintptr_t)(dr - *drafts + 1)))
				goto out;
			dr->kind = GO_GROUP_GROWING;
			dr->grown_from = from;
			dr->grown_over_ns = over;
		}
	}
	for (size_t i = 0; i < gp->snap.n; i++) {
		uintptr_t at = keys[i] ? (uintptr_t)hmap__get(grown, keys[i]) : 0;
		struct draft *dr = at ? &(*drafts)[at - 1] : NULL;

		if (!dr)
			continue;
		if (!dr->count) {
			dr->reason = gp->snap.g[i].wait_reason;
			dr->reason_raw = gp->snap.g[i].wait_reason_raw;
			dr->site_pc = site_of(d, gp, &gp->snap.g[i]);
		}
		if (draft_add(dr, gp, i, NULL))
			goto out;
	}
	err = 0;
out:
	hmap__free(counts);
	hmap__free(grown);
	free(keys);
	return err;
}

static void report(struct godetect *d, const struct go_group *g, const struct go_process *gp)
{
	d->nr_reported += !g->revision && !g->resolved_ns;
	if (d->fn)
		d->fn(g, gp, d->ctx);
}

static uint64_t members_hash(const struct go_group *g)
{
	uint64_t h = 0;

	for (size_t i = 0; i < g->count && i < GODETECT_MAX_MEMBERS; i++)
		h += mix(0, g->members[i].goid);
	return h;
}

/* A group of pid that is no longer there: report it resolved, drop it. */
static void resolve(struct godetect *d, size_t i, uint64_t now, const struct go_process *gp)
{
	struct go_group *g = &d->groups[i];

	g->resolved_ns = now;
	report(d, g, gp);
	free(g->members);
	d->groups[i] = d->groups[--d->nr_groups];
}

/* Bring pid's groups in line with the drafts: new ones, changed ones, gone ones. */
static int apply(struct godetect *d, const struct go_process *gp, struct draft *drafts, size_t n)
{
	uint64_t now = gp->snap.ts_ns;

	for (size_t i = 0; i < d->nr_groups;) {
		struct go_group *g = &d->groups[i];
		bool found = false;

		for (size_t k = 0; k < n && !found; k++)
			found = drafts[k].count && drafts[k].key == g->key;
		if (g->pid == gp->pid && !found)
			resolve(d, i, now, gp);
		else
			i++;
	}
	for (size_t k = 0; k < n; k++) {
		struct draft *dr = &drafts[k];
		struct go_group *g = NULL;
		bool changed;

		if (!dr->count)
			continue;
		if (dr->nr_members > 1)
			qsort(dr->members, dr->nr_members, sizeof(*dr->members), cmp_member);
		for (size_t i = 0; i < d->nr_groups && !g; i++)
			if (d->groups[i].key == dr->key && d->groups[i].pid == gp->pid)
				g = &d->groups[i];
		if (!g) {
			if (d->nr_groups == d->cap_groups) {
				size_t c = d->cap_groups ? 2 * d->cap_groups : 16;
				struct go_group *more = realloc(d->groups, c * sizeof(*more));

				if (!more)
					return -ENOMEM;
				d->groups = more;
				d->cap_groups = c;
			}
			g = &d->groups[d->nr_groups++];
			memset(g, 0, sizeof(*g));
			g->id = d->o.new_id ? d->o.new_id(d->o.ctx) : d->next_id++;
			g->kind = dr->kind;
			g->pid = gp->pid;
			g->key = dr->key;
			g->detected_ns = now;
			changed = true;
		} else {
			changed = g->count != dr->count || members_hash(g) != dr->hash;
			if (changed)
				g->revision++;
			free(g->members);
		}
		snprintf(g->reason, sizeof(g->reason), "%s", dr->reason ? dr->reason : "");
		g->site_pc = dr->site_pc;
		g->count = dr->count;
		g->members = dr->members;
		dr->members = NULL;
		g->grown_from = dr->grown_from;
		g->grown_over_ns = dr->grown_over_ns;
		if (changed)
			report(d, g, gp);
	}
	return 0;
}

int godetect__process(struct godetect *d, const struct go_process *gp)
{
	struct hmap *index = hmap__new();
	struct draft *drafts = NULL;
	size_t n = 0, cap = 0;
	int err = -ENOMEM;

	if (!index)
		goto out;
	for (size_t i = 0; i < gp->snap.n; i++) {
		const struct goroutine *g = &gp->snap.g[i];
		struct go_evidence ev = { 0 };
		enum go_group_kind kind;
		struct draft *dr;
		uint64_t site;

		if (!judge(d, gp, i, &kind, &ev))
			continue;
		site = site_of(d, gp, g);
		dr = draft_of(&drafts, &n, &cap, index,
			      mix(mix(mix(gp->pid, kind), g->wait_reason_raw), site));
		if (!dr)
			goto out;
		if (!dr->count) {
			dr->kind = kind;
			dr->reason = g->wait_reason;
			dr->reason_raw = g->wait_reason_raw;
			dr->site_pc = site;
		}
		if (draft_add(dr, gp, i, &ev))
			goto out;
	}
	err = growth(d, gp, &drafts, &n, &cap, index);
	if (!err)
		err = apply(d, gp, drafts, n);
out:
	for (size_t k = 0; k < n; k++)
		free(drafts[k].members);
	free(drafts);
	hmap__free(index);
	return err;
}

void godetect__forget(struct godetect *d, uint32_t pid, uint64_t now)
{
	for (size_t i = 0; i < d->nr_groups;) {
		if (d->groups[i].pid == pid)
			resolve(d, i, now, NULL);
		else
			i++;
	}
	free_proc(hmap__del(d->procs, pid));
}
