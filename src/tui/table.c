// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The dashboard's tables: one column list per view, and the cell text and
 * sort order of every column come from here, so drawing, sorting and
 * searching always agree. No curses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "lockinfo.h"
#include "tui/snapshot.h"

static const struct column proc_cols[] = {
	{ "PID", 8, true },   { "COMM", 16, false }, { "THR", 5, true },  { "RUN", 4, true },
	{ "RDY", 4, true },   { "BLK", 4, true },    { "BLK%", 6, true }, { "LONGEST", 9, true },
	{ "STUCK", 6, true }, { "GOR", 7, true },
};

static const struct column thread_cols[] = {
	{ "TID", 8, true },    { "PID", 8, true },     { "COMM", 16, false },
	{ "STATE", 6, false }, { "WAITING", 9, true }, { "KIND", 7, false },
	{ "OWNER", 8, true },  { "STUCK", 6, false },  { "WAITS ON", 0, false },
};

static const struct column lock_cols[] = {
	{ "PID", 8, true },	{ "KIND", 7, false },  { "OWNER", 8, true },
	{ "WAITERS", 8, true }, { "CONT/S", 8, true }, { "WAITS", 8, true },
	{ "TOTAL", 9, true },	{ "MAX", 9, true },    { "LOCK", 0, false },
};

static const struct column group_cols[] = {
	{ "GROUP", 6, true }, { "KIND", 10, false },	      { "AGE", 9, true },
	{ "N", 4, true },     { "WAIT-FOR CHAIN", 0, false },
};

static const struct column gor_cols[] = {
	{ "PID", 8, true },	{ "COMM", 16, false },	{ "COUNT", 6, true },  { "GOID", 8, true },
	{ "STATE", 22, false }, { "WAITING", 9, true }, { "WHERE", 0, false },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

const struct column *view__columns(enum view_id v, size_t *n)
{
	switch (v) {
	case VIEW_PROCESSES:
		*n = ARRAY_SIZE(proc_cols);
		return proc_cols;
	case VIEW_THREADS:
		*n = ARRAY_SIZE(thread_cols);
		return thread_cols;
	case VIEW_LOCKS:
		*n = ARRAY_SIZE(lock_cols);
		return lock_cols;
	case VIEW_GOROUTINES:
		*n = ARRAY_SIZE(gor_cols);
		return gor_cols;
	default:
		*n = ARRAY_SIZE(group_cols);
		return group_cols;
	}
}

size_t view__nr_rows(const struct snapshot *s, enum view_id v)
{
	switch (v) {
	case VIEW_PROCESSES:
		return s->nr_procs;
	case VIEW_THREADS:
		return s->nr_threads;
	case VIEW_LOCKS:
		return s->nr_locks;
	case VIEW_GOROUTINES:
		return s->nr_gors;
	default:
		return s->nr_groups;
	}
}

static const char *state_word(uint8_t st)
{
	static const char *const w[] = { "?", "run", "ready", "sleep", "disk", "stop", "zomb" };

	return st < ARRAY_SIZE(w) ? w[st] : "?";
}

/* "0x55d0c0a010a0 lock_a in app", or with a region "0x7f12a000 (heap)". */
static void lock_text(char *buf, size_t len, uint64_t addr, const char *place, bool is_symbol)
{
	if (!place[0])
		snprintf(buf, len, "0x%" PRIx64, addr);
	else if (is_symbol)
		snprintf(buf, len, "0x%" PRIx64 " %s", addr, place);
	else
		snprintf(buf, len, "0x%" PRIx64 " (%s)", addr, place);
}

static void proc_cell(const struct proc_row *r, size_t col, char *buf, size_t len)
{
	switch (col) {
	case 0:
		snprintf(buf, len, "%u", r->pid);
		break;
	case 1:
		snprintf(buf, len, "%s", r->comm);
		break;
	case 2:
		snprintf(buf, len, "%u", r->threads);
		break;
	case 3:
		snprintf(buf, len, "%u", r->running);
		break;
	case 4:
		snprintf(buf, len, "%u", r->runnable);
		break;
	case 5:
		snprintf(buf, len, "%u", r->blocked);
		break;
	case 6:
		snprintf(buf, len, "%.0f%%", r->blocked_share * 100);
		break;
	case 7:
		if (r->longest_wait_ns)
			snap_duration(buf, len, r->longest_wait_ns);
		else
			snprintf(buf, len, "-");
		break;
	case 8:
		if (r->stuck)
			snprintf(buf, len, "%u", r->stuck);
		else
			snprintf(buf, len, "-");
		break;
	default:
		if (r->goroutines >= 0)
			snprintf(buf, len, "%d", r->goroutines);
		else
			snprintf(buf, len, "-");
	}
}

static void thread_cell(const struct thread_row *r, size_t col, char *buf, size_t len)
{
	switch (col) {
	case 0:
		snprintf(buf, len, "%u", r->tid);
		break;
	case 1:
		snprintf(buf, len, "%u", r->pid);
		break;
	case 2:
		snprintf(buf, len, "%s", r->comm);
		break;
	case 3:
		snprintf(buf, len, "%s", state_word(r->state));
		break;
	case 4:
		if (r->waiting)
			snap_duration(buf, len, r->wait_ns);
		else
			snprintf(buf, len, "-");
		break;
	case 5:
		snprintf(buf, len, "%s", r->waiting ? lock_kind_name(r->kind) : "-");
		break;
	case 6:
		if (r->owner_tid)
			snprintf(buf, len, "%s%u", r->owner_exited ? "x" : "", r->owner_tid);
		else
			snprintf(buf, len, "-");
		break;
	case 7:
		if (r->group_id)
			snprintf(buf, len, "G%" PRIu64, r->group_id);
		else
			snprintf(buf, len, "%s", "");
		break;
	default:
		/* a Go thread that waits on no futex runs (or is in a syscall for) a goroutine */
		if (!r->waiting && r->goid)
			snprintf(buf, len, "goroutine %" PRIu64 " (%s)", r->goid,
				 r->go_func[0] ? r->go_func : "?");
		else if (!r->waiting)
			snprintf(buf, len, "%s", "");
		else
			lock_text(buf, len, r->addr, r->place, r->place_is_symbol);
	}
}

static void dur_or_dash(char *buf, size_t len, uint64_t ns)
{
	if (ns)
		snap_duration(buf, len, ns);
	else
		snprintf(buf, len, "-");
}

static void lock_cell(const struct lock_row *r, size_t col, char *buf, size_t len)
{
	switch (col) {
	case 0:
		snprintf(buf, len, "%u", r->pid);
		break;
	case 1:
		snprintf(buf, len, "%s", lock_kind_name(r->kind));
		break;
	case 2:
		if (r->owner_tid)
			snprintf(buf, len, "%u", r->owner_tid);
		else
			snprintf(buf, len, "-");
		break;
	case 3:
		snprintf(buf, len, "%u", r->waiters);
		break;
	case 4:
		snprintf(buf, len, "%.1f", r->contentions_per_s);
		break;
	case 5:
		snprintf(buf, len, "%" PRIu64, r->waits);
		break;
	case 6:
		dur_or_dash(buf, len, r->total_ns);
		break;
	case 7:
		dur_or_dash(buf, len, r->max_ns);
		break;
	default:
		lock_text(buf, len, r->addr, r->place, r->place_is_symbol);
	}
}

static void group_cell(const struct group_row *r, size_t col, char *buf, size_t len)
{
	switch (col) {
	case 0:
		snprintf(buf, len, "G%" PRIu64, r->id);
		break;
	case 1:
		snprintf(buf, len, "%s",
			 r->go ? go_group_kind_name(r->go_kind) : group_kind_name(r->kind));
		break;
	case 2:
		snap_duration(buf, len, r->age_ns);
		break;
	case 3:
		snprintf(buf, len, "%zu", r->nr_members);
		break;
	default:
		snprintf(buf, len, "%s", r->chain[0] ? r->chain : r->members);
	}
}

static void gor_cell(const struct gor_row *r, size_t col, char *buf, size_t len)
{
	switch (col) {
	case 0:
		snprintf(buf, len, "%u", r->pid);
		break;
	case 1:
		snprintf(buf, len, "%s", r->comm);
		break;
	case 2:
		snprintf(buf, len, "%s", "");
		if (!r->member && !r->error)
			snprintf(buf, len, "%u", r->count);
		break;
	case 3:
		snprintf(buf, len, "%s", "");
		if (r->goid)
			snprintf(buf, len, "%" PRIu64, r->goid);
		break;
	case 4:
		snprintf(buf, len, "%s", r->state);
		break;
	case 5:
		if (r->error) {
			snprintf(buf, len, "-");
			break;
		}
		snap_duration(buf, len, r->wait_ns);
		if (r->at_least) { /* ">5.0s": it was already so when tangle first looked */
			char d[32];

			snprintf(d, sizeof(d), "%s", buf);
			snprintf(buf, len, ">%s", d);
		}
		break;
	default:
		if (r->member)
			snprintf(buf, len, "  `- %s%screated by %s", r->labels,
				 r->labels[0] ? " " : "", r->created[0] ? r->created : "?");
		else if (r->error)
			snprintf(buf, len, "cannot read goroutines: %s", r->site);
		else
			snprintf(buf, len, "%s %s%s%s",
				 r->count < 2 ? " " :
				 r->expanded  ? "-" :
						"+",
				 r->site, r->labels[0] ? " " : "", r->labels);
	}
}

void view__cell(const struct snapshot *s, enum view_id v, size_t row, size_t col, char *buf,
		size_t len)
{
	buf[0] = '\0';
	if (row >= view__nr_rows(s, v))
		return;
	switch (v) {
	case VIEW_PROCESSES:
		proc_cell(&s->procs[row], col, buf, len);
		break;
	case VIEW_THREADS:
		thread_cell(&s->threads[row], col, buf, len);
		break;
	case VIEW_LOCKS:
		lock_cell(&s->locks[row], col, buf, len);
		break;
	case VIEW_GOROUTINES:
		gor_cell(&s->gors[row], col, buf, len);
		break;
	default:
		group_cell(&s->groups[row], col, buf, len);
	}
}

/* ---- sorting: numbers as numbers, text as text ---- */

struct sort_ctx {
	enum view_id v;
	size_t col;
	int dir;
};

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_double(double a, double b)
{
	return a < b ? -1 : a > b;
}

static int proc_cmp(const struct proc_row *a, const struct proc_row *b, size_t col)
{
	switch (col) {
	case 0:
		return cmp_u64(a->pid, b->pid);
	case 1:
		return strcmp(a->comm, b->comm);
	case 2:
		return cmp_u64(a->threads, b->threads);
	case 3:
		return cmp_u64(a->running, b->running);
	case 4:
		return cmp_u64(a->runnable, b->runnable);
	case 5:
		return cmp_u64(a->blocked, b->blocked);
	case 6:
		return cmp_double(a->blocked_share, b->blocked_share);
	case 7:
		return cmp_u64(a->longest_wait_ns, b->longest_wait_ns);
	case 8:
		return cmp_u64(a->stuck, b->stuck);
	default:
		return cmp_u64((uint64_t)(a->goroutines + 1), (uint64_t)(b->goroutines + 1));
	}
}

static int thread_cmp(const struct thread_row *a, const struct thread_row *b, size_t col)
{
	switch (col) {
	case 0:
		return cmp_u64(a->tid, b->tid);
	case 1:
		return cmp_u64(a->pid, b->pid);
	case 2:
		return strcmp(a->comm, b->comm);
	case 3:
		return cmp_u64(a->state, b->state);
	case 4:
		return cmp_u64(a->waiting ? a->wait_ns + 1 : 0, b->waiting ? b->wait_ns + 1 : 0);
	case 5:
		return cmp_u64(a->waiting ? a->kind + 1 : 0, b->waiting ? b->kind + 1 : 0);
	case 6:
		return cmp_u64(a->owner_tid, b->owner_tid);
	case 7:
		return cmp_u64(a->group_id, b->group_id);
	default:
		return cmp_u64(a->waiting ? a->addr : 0, b->waiting ? b->addr : 0);
	}
}

static int lock_cmp(const struct lock_row *a, const struct lock_row *b, size_t col)
{
	switch (col) {
	case 0:
		return cmp_u64(a->pid, b->pid);
	case 1:
		return cmp_u64(a->kind, b->kind);
	case 2:
		return cmp_u64(a->owner_tid, b->owner_tid);
	case 3:
		return cmp_u64(a->waiters, b->waiters);
	case 4:
		return cmp_double(a->contentions_per_s, b->contentions_per_s);
	case 5:
		return cmp_u64(a->waits, b->waits);
	case 6:
		return cmp_u64(a->total_ns, b->total_ns);
	case 7:
		return cmp_u64(a->max_ns, b->max_ns);
	default:
		return cmp_u64(a->addr, b->addr);
	}
}

static int group_cmp(const struct group_row *a, const struct group_row *b, size_t col)
{
	switch (col) {
	case 1:
		return cmp_u64(a->go ? 16 + a->go_kind : a->kind,
			       b->go ? 16 + b->go_kind : b->kind);
	case 2:
		return cmp_u64(a->age_ns, b->age_ns);
	case 3:
		return cmp_u64(a->nr_members, b->nr_members);
	default:
		return cmp_u64(a->id, b->id);
	}
}

/* By the group's figures, so that members stay under their group. */
static int gor_group_cmp(const struct gor_row *a, const struct gor_row *b, size_t col)
{
	switch (col) {
	case 0:
		return cmp_u64(a->pid, b->pid);
	case 1:
		return strcmp(a->comm, b->comm);
	case 2:
		return cmp_u64(a->group_count, b->group_count);
	case 3:
		return cmp_u64(a->group_goid, b->group_goid);
	case 4:
		return strcmp(a->state, b->state);
	case 5:
		return cmp_u64(a->group_wait_ns, b->group_wait_ns);
	default:
		return strcmp(a->site, b->site);
	}
}

/* A group, then its members (longest wait first); the order asked for applies to groups. */
static int gor_cmp(const struct gor_row *a, const struct gor_row *b, size_t col, int dir)
{
	int r = gor_group_cmp(a, b, col);

	if (!r)
		r = cmp_u64(b->group_wait_ns, a->group_wait_ns);
	if (!r)
		r = cmp_u64(a->pid, b->pid);
	if (!r)
		r = cmp_u64(a->key, b->key);
	if (r)
		return r * dir;
	if (!r)
		r = cmp_u64(a->member, b->member);
	if (!r)
		r = cmp_u64(b->wait_ns, a->wait_ns);
	if (!r)
		r = cmp_u64(a->goid, b->goid);
	return r;
}

static int row_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *c = arg;
	int r;

	switch (c->v) {
	case VIEW_PROCESSES:
		r = proc_cmp(a, b, c->col);
		if (!r)
			r = proc_cmp(a, b, 0);
		break;
	case VIEW_THREADS:
		r = thread_cmp(a, b, c->col);
		if (!r)
			r = thread_cmp(a, b, 0);
		break;
	case VIEW_LOCKS:
		r = lock_cmp(a, b, c->col);
		if (!r)
			r = lock_cmp(a, b, 6);
		if (!r)
			r = lock_cmp(a, b, 8);
		if (!r) /* the same address in two processes */
			r = lock_cmp(a, b, 0);
		break;
	case VIEW_GOROUTINES:
		return gor_cmp(a, b, c->col, c->dir);
	default:
		r = group_cmp(a, b, c->col);
	}
	return r * c->dir;
}

void view__sort(struct snapshot *s, enum view_id v, size_t col, bool descending)
{
	struct sort_ctx c = { .v = v, .col = col, .dir = descending ? -1 : 1 };

	if (view__nr_rows(s, v) < 2) /* and an empty view may have no array at all */
		return;
	switch (v) {
	case VIEW_PROCESSES:
		qsort_r(s->procs, s->nr_procs, sizeof(*s->procs), row_cmp, &c);
		break;
	case VIEW_THREADS:
		qsort_r(s->threads, s->nr_threads, sizeof(*s->threads), row_cmp, &c);
		break;
	case VIEW_LOCKS:
		qsort_r(s->locks, s->nr_locks, sizeof(*s->locks), row_cmp, &c);
		break;
	case VIEW_GOROUTINES:
		qsort_r(s->gors, s->nr_gors, sizeof(*s->gors), row_cmp, &c);
		break;
	default:
		qsort_r(s->groups, s->nr_groups, sizeof(*s->groups), row_cmp, &c);
	}
}

bool view__row_matches(const struct snapshot *s, enum view_id v, size_t row, const char *text)
{
	size_t ncols;
	char cell[1024];

	if (!text || !*text)
		return true;
	view__columns(v, &ncols);
	for (size_t c = 0; c < ncols; c++) {
		view__cell(s, v, row, c, cell, sizeof(cell));
		if (strcasestr(cell, text))
			return true;
	}
	return false;
}

uint32_t view__row_pid(const struct snapshot *s, enum view_id v, size_t row)
{
	if (row >= view__nr_rows(s, v))
		return 0;
	switch (v) {
	case VIEW_PROCESSES:
		return s->procs[row].pid;
	case VIEW_THREADS:
		return s->threads[row].pid;
	case VIEW_LOCKS:
		return s->locks[row].pid;
	case VIEW_GOROUTINES:
		return s->gors[row].pid;
	default:
		return 0;
	}
}
