// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "hmap.h"
#include "lockinfo.h"
#include "symbols.h"
#include "tui/snapshot.h"
#include "tui/snapshot_go.h"

void snap_duration(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	if (ns < 1000000ull)
		snprintf(buf, len, "%" PRIu64 "us", ns / 1000);
	else if (ns < 1000000000ull)
		snprintf(buf, len, "%" PRIu64 "ms", ns / 1000000);
	else if (s < 60)
		snprintf(buf, len, "%.1fs", ns / 1e9);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
}

/* ---- taking a snapshot ---- */

static uint64_t key_of(uint32_t pid, uint64_t addr)
{
	uint64_t k = addr ^ ((uint64_t)pid << 47) ^ ((uint64_t)pid >> 17);

	return k * 0x9e3779b97f4a7c15ULL;
}

static bool is_blocked(uint8_t state)
{
	return state == TANGLE_TS_SLEEPING || state == TANGLE_TS_DISK;
}

/* Where addr lives, described and made safe for a terminal; false (and "") when unknown. */
static bool describe(char *buf, size_t len, snap_place_fn fn, void *ctx, uint32_t pid,
		     uint64_t addr)
{
	char text[SNAP_PLACE_LEN];
	bool symbol = symbols__describe(fn ? fn(pid, addr, ctx) : NULL, text, sizeof(text));

	term_escape(buf, len, text, sizeof(text));
	return symbol;
}

/* tid -> group id of every member of an active group */
static struct hmap *group_index(const struct detector *d)
{
	struct hmap *h = hmap__new();

	if (!h || !d)
		return h;
	for (size_t i = 0; i < detector__nr_groups(d); i++) {
		const struct stuck_group *g = detector__group(d, i);

		for (size_t j = 0; j < g->nr_members; j++)
			hmap__set(h, g->members[j].tid, (void *)(uintptr_t)g->id);
	}
	return h;
}

static void fill_thread(struct thread_row *r, const struct thread *t, uint64_t now,
			struct hmap *groups, snap_place_fn place, void *ctx)
{
	const struct lock_owner *o = thread__owner(t);

	memset(r, 0, sizeof(*r));
	r->pid = t->pid;
	r->tid = t->tid;
	term_escape(r->comm, sizeof(r->comm), t->comm, TANGLE_COMM_LEN);
	r->state = t->state;
	r->group_id = (uintptr_t)hmap__get(groups, t->tid);
	if (t->wait.kind == WAIT_NONE)
		return;
	r->waiting = true;
	r->wait = t->wait;
	r->addr = t->wait.addr;
	r->has_timeout = t->wait.has_timeout;
	r->preblocked = t->wait.preblocked;
	r->wait_ns = now > t->wait.since_ns ? now - t->wait.since_ns : 0;
	if (o) {
		r->owner = *o;
		r->kind = o->kind;
		r->addr = o->lock_addr;
		if (o->state != OWNER_NONE)
			r->owner_tid = o->owner_tid;
		r->owner_exited = o->state == OWNER_DEAD;
	}
	r->place_is_symbol = describe(r->place, sizeof(r->place), place, ctx, t->pid, r->addr);
}

static void fill_procs(struct snapshot *s, const struct model *m)
{
	struct process *p;
	size_t it = 0, n = 0;

	while ((p = model__next_process(m, &it)) && n < s->nr_procs) {
		struct proc_row *r = &s->procs[n++];

		memset(r, 0, sizeof(*r));
		r->pid = p->pid;
		r->goroutines = -1;
		term_escape(r->comm, sizeof(r->comm), p->comm, TANGLE_COMM_LEN);
	}
	s->nr_procs = n;
}

static struct proc_row *proc_row_of(struct snapshot *s, struct hmap *idx, uint32_t pid)
{
	uintptr_t i = (uintptr_t)hmap__get(idx, pid);

	return i ? &s->procs[i - 1] : NULL;
}

static void aggregate_procs(struct snapshot *s, const struct model *m, uint64_t now)
{
	struct hmap *idx = hmap__new();
	double *tracked, *blocked;

	tracked = calloc(s->nr_procs + 1, sizeof(*tracked));
	blocked = calloc(s->nr_procs + 1, sizeof(*blocked));
	if (!idx || !tracked || !blocked)
		goto out;
	for (size_t i = 0; i < s->nr_procs; i++)
		hmap__set(idx, s->procs[i].pid, (void *)(uintptr_t)(i + 1));
	for (size_t i = 0; i < s->nr_threads; i++) {
		const struct thread_row *tr = &s->threads[i];
		const struct thread *t = model__thread(m, tr->tid);
		struct proc_row *p = proc_row_of(s, idx, tr->pid);
		size_t pi;
		uint64_t b;

		if (!p || !t)
			continue;
		pi = (size_t)(p - s->procs);
		p->threads++;
		p->running += tr->state == TANGLE_TS_RUNNING;
		p->runnable += tr->state == TANGLE_TS_RUNNABLE;
		p->blocked += is_blocked(tr->state);
		p->stuck += tr->group_id != 0;
		if (tr->waiting && tr->wait_ns > p->longest_wait_ns)
			p->longest_wait_ns = tr->wait_ns;
		/* time blocked so far, including the current stretch */
		b = t->sched_blocked_ns;
		if (is_blocked(t->state) && now > t->state_since_ns && t->state_since_ns)
			b += now - t->state_since_ns;
		blocked[pi] += (double)b;
		tracked[pi] += now > t->first_seen_ns ? (double)(now - t->first_seen_ns) : 0;
	}
	for (size_t i = 0; i < s->nr_procs; i++) {
		double share = tracked[i] > 0 ? blocked[i] / tracked[i] : 0;

		s->procs[i].blocked_share = share > 1 ? 1 : share;
	}
out:
	free(tracked);
	free(blocked);
	hmap__free(idx);
}

static void fill_locks(struct snapshot *s, const struct model *m, const struct snapshot *prev,
		       snap_place_fn place, void *ctx)
{
	struct hmap *prev_idx = hmap__new(), *owners = hmap__new();
	double dt = prev && s->ts_ns > prev->ts_ns ? (s->ts_ns - prev->ts_ns) / 1e9 : 0;
	struct process *p;
	size_t it = 0, n = 0;

	if (!prev_idx || !owners)
		goto out;
	for (size_t i = 0; prev && i < prev->nr_locks; i++)
		hmap__set(prev_idx, key_of(prev->locks[i].pid, prev->locks[i].addr),
			  (void *)(uintptr_t)(i + 1));
	/* what the waiters know about each futex word: kind, lock object, owner */
	for (size_t i = 0; i < s->nr_threads; i++)
		if (s->threads[i].waiting && s->threads[i].owner.checked_ns)
			hmap__set(owners, key_of(s->threads[i].pid, s->threads[i].wait.addr),
				  &s->threads[i]);
	while ((p = model__next_process(m, &it))) {
		struct futex_stat *f;
		size_t fit = 0;

		while ((f = process__next_futex(p, &fit)) && n < s->nr_locks) {
			struct lock_row *r = &s->locks[n];
			const struct thread_row *w = hmap__get(owners, key_of(p->pid, f->addr));
			uintptr_t pi = (uintptr_t)hmap__get(prev_idx, key_of(p->pid, f->addr));
			uint64_t lock_addr = f->addr;

			if (!f->waits && !f->waiting)
				continue;
			memset(r, 0, sizeof(*r));
			r->pid = p->pid;
			r->addr = f->addr;
			r->waiters = f->waiting;
			r->waits = f->waits;
			r->total_ns = f->total_ns;
			r->max_ns = f->max_ns;
			if (w) {
				r->kind = w->kind;
				lock_addr = w->addr;
				r->owner_tid = w->owner_tid;
			}
			if (pi && dt > 0) {
				const struct lock_row *o = &prev->locks[pi - 1];

				if (o->pid == r->pid && r->waits >= o->waits)
					r->contentions_per_s = (r->waits - o->waits) / dt;
			}
			r->place_is_symbol =
				describe(r->place, sizeof(r->place), place, ctx, p->pid, lock_addr);
			n++;
		}
	}
out:
	s->nr_locks = n;
	hmap__free(prev_idx);
	hmap__free(owners);
}

static void chain_append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void chain_append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void fill_group(struct group_row *r, const struct stuck_group *g, uint64_t now,
		       snap_place_fn place, void *ctx)
{
	char comm[SNAP_NAME_LEN], where[SNAP_PLACE_LEN];

	memset(r, 0, sizeof(*r));
	r->id = g->id;
	r->kind = g->kind;
	r->age_ns = now > g->detected_ns ? now - g->detected_ns : 0;
	r->nr_members = g->nr_members;
	for (size_t i = 0; i < g->nr_members; i++) {
		const struct stuck_member *mb = &g->members[i];

		term_escape(comm, sizeof(comm), mb->comm, TANGLE_COMM_LEN);
		chain_append(r->members, sizeof(r->members), "%s%u", i ? "," : "", mb->tid);
		if (!mb->in_cycle)
			continue;
		describe(where, sizeof(where), place, ctx, mb->pid, mb->owner.lock_addr);
		chain_append(r->chain, sizeof(r->chain), "%u (%s) --%s 0x%" PRIx64, mb->tid, comm,
			     lock_kind_name(mb->owner.kind), mb->owner.lock_addr);
		if (where[0])
			chain_append(r->chain, sizeof(r->chain), "(%s)", where);
		chain_append(r->chain, sizeof(r->chain), "--> ");
		if (g->kind == GROUP_ABANDONED)
			chain_append(r->chain, sizeof(r->chain), "exited %u; ",
				     mb->owner.owner_tid);
	}
	if (g->kind == GROUP_DEADLOCK && g->nr_members) {
		term_escape(comm, sizeof(comm), g->members[0].comm, TANGLE_COMM_LEN);
		chain_append(r->chain, sizeof(r->chain), "%u (%s)", g->members[0].tid, comm);
	}
}

struct snapshot *snapshot__take(const struct model *m, const struct detector *d,
				const struct snapshot *prev, uint64_t now, snap_place_fn place,
				void *place_ctx, const struct snap_go_source *go)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct hmap *groups = NULL;
	size_t nlocks = 0, it = 0;
	struct process *p;
	struct thread *t;

	if (!s)
		return NULL;
	s->ts_ns = now;
	while ((p = model__next_process(m, &it))) {
		struct futex_stat *f;
		size_t fit = 0;

		while ((f = process__next_futex(p, &fit)))
			nlocks++;
	}
	s->nr_procs = model__nr_processes(m);
	s->nr_threads = model__nr_threads(m);
	s->nr_locks = nlocks;
	s->nr_groups = d ? detector__nr_groups(d) : 0;
	s->procs = calloc(s->nr_procs + 1, sizeof(*s->procs));
	s->threads = calloc(s->nr_threads + 1, sizeof(*s->threads));
	s->locks = calloc(s->nr_locks + 1, sizeof(*s->locks));
	s->groups = calloc(s->nr_groups + 1, sizeof(*s->groups));
	groups = group_index(d);
	if (!s->procs || !s->threads || !s->locks || !s->groups || !groups) {
		hmap__free(groups);
		snapshot__free(s);
		errno = ENOMEM;
		return NULL;
	}
	it = 0;
	for (size_t n = 0; (t = model__next_thread(m, &it)) && n < s->nr_threads; n++) {
		fill_thread(&s->threads[n], t, now, groups, place, place_ctx);
		s->running += t->state == TANGLE_TS_RUNNING;
		s->runnable += t->state == TANGLE_TS_RUNNABLE;
		s->blocked += is_blocked(t->state);
	}
	fill_procs(s, m);
	aggregate_procs(s, m, now);
	fill_locks(s, m, prev, place, place_ctx);
	for (size_t i = 0; i < s->nr_groups; i++)
		fill_group(&s->groups[i], detector__group(d, i), now, place, place_ctx);
	hmap__free(groups);
	if (go && snapshot__fill_go(s, now, go)) {
		snapshot__free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void snapshot__free(struct snapshot *s)
{
	if (!s)
		return;
	free(s->procs);
	free(s->threads);
	free(s->locks);
	free(s->groups);
	snapshot__free_go(s);
	free(s);
}
