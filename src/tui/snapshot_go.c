// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The goroutine part of a dashboard snapshot: groups of goroutines per Go
 * process, keyed like pprof's debug=1 view but coarser, by (state, wait
 * reason, blocking site), so that 10,000 goroutines parked at one line are
 * one row; the members of the groups the user expanded; and, on the Threads
 * and Processes rows, which goroutine each thread runs and how many a process
 * has. Reads the latest goroutine snapshots only: nothing here touches a
 * process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gobin.h"
#include "gosite.h"
#include "gotrack.h"
#include "hmap.h"
#include "view_go.h"
#include "tui/snapshot_go.h"

#define SITE_FRAMES 16 /* frames of one pc, inlined calls expanded */

/* A frame as a group's site shows it. */
struct site {
	char function[SNAP_PLACE_LEN];
	char where[SNAP_PLACE_LEN];
};

/* What the frames of one pc (inlined calls expanded) offer as a site; computed once per pc. */
struct pc_site {
	bool has_shown, has_own;
	struct site shown; /* the innermost frame Go's traceback shows */
	struct site own; /* the innermost outside the standard library */
};

struct group {
	uint64_t key;
	uint32_t count;
	uint64_t first_goid;
	size_t longest; /* index in the snapshot of its longest waiter */
	uint64_t wait_ns;
	bool at_least;
	bool mixed_labels; /* its members do not all have the same labels */
	const struct site *site; /* NULL: no stack (running) */
	size_t first_row;
};

struct go_fill {
	struct snapshot *s;
	const struct snap_go_source *src;
	const struct go_process *gp;
	uint64_t now;
	struct hmap *sites; /* pc -> struct pc_site, for this process */
	struct frame frames[SITE_FRAMES];
	char comm[SNAP_NAME_LEN];
	size_t cap_rows;
};

/* snprintf for texts that are cut to their cell on purpose. */
static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/* "main.go:42" from a frame's file (base name only, escaped). */
static void where_of(char *buf, size_t len, const struct frame *f)
{
	const char *base = strrchr(f->file, '/');
	char file[SNAP_PLACE_LEN];

	if (!f->file[0]) {
		buf[0] = '\0';
		return;
	}
	term_escape(file, sizeof(file), base ? base + 1 : f->file,
		    strlen(base ? base + 1 : f->file));
	fmt(buf, len, "%s:%d", file, f->line);
}

static void function_of(char *buf, size_t len, const char *function)
{
	char name[sizeof(((struct frame *)0)->function)];

	gobin__print_name(function, name, sizeof(name));
	term_escape(buf, len, name, strlen(name));
}

static void site_set(struct site *site, const struct frame *f)
{
	function_of(site->function, sizeof(site->function), f->function);
	where_of(site->where, sizeof(site->where), f);
}

static const struct pc_site *site_of_pc(struct go_fill *c, uint64_t pc)
{
	struct pc_site *ps = hmap__get(c->sites, pc);
	size_t n = 0, shown, own;

	if (ps)
		return ps;
	ps = calloc(1, sizeof(*ps));
	if (!ps || hmap__set(c->sites, pc, ps)) {
		free(ps);
		return NULL;
	}
	c->src->frames(c->gp, pc, true, c->frames, SITE_FRAMES, &n, c->src->ctx);
	gosite__pick(c->frames, n, &shown, &own);
	if ((ps->has_shown = shown != SIZE_MAX))
		site_set(&ps->shown, &c->frames[shown]);
	if ((ps->has_own = own != SIZE_MAX))
		site_set(&ps->own, &c->frames[own]);
	return ps;
}

/*
 * The blocking site: the innermost frame of the program's own code, below
 * the library calls it blocks in (sync.(*Mutex).Lock, net.(*conn).Read);
 * the innermost frame Go's traceback would show if all of it is library.
 * *key tells sites apart: the pc, and which of its inlined frames.
 */
static const struct site *site_of(struct go_fill *c, const struct goroutine *g, uint64_t *key)
{
	const struct site *first = NULL;

	*key = 0;
	for (uint32_t i = 0; i < g->nr_pcs; i++) {
		const struct pc_site *ps = site_of_pc(c, g->pcs[i]);

		if (!ps)
			continue;
		if (ps->has_own) {
			*key = gosite__pc_key(g->pcs[i], true);
			return &ps->own;
		}
		if (ps->has_shown && !first) {
			first = &ps->shown;
			*key = gosite__pc_key(g->pcs[i], false);
		}
	}
	return first;
}

/* "key=value" matches that label, "key" any value of it. */
static bool has_label(const struct goroutine *g, const char *want)
{
	const char *eq = strchr(want, '=');
	size_t klen = eq ? (size_t)(eq - want) : strlen(want);

	for (uint32_t i = 0; i < g->nr_labels; i++) {
		const struct go_label *l = &g->labels[i];

		if (strlen(l->key) == klen && !strncmp(l->key, want, klen) &&
		    (!eq || !strcmp(l->value, eq + 1)))
			return true;
	}
	return false;
}

static bool counted(const struct snap_go_source *src, const struct goroutine *g)
{
	if (g->system && !src->system)
		return false;
	return !src->label || !*src->label || has_label(g, src->label);
}

static bool is_expanded(const struct snap_go_source *src, uint64_t key)
{
	for (size_t i = 0; i < src->nr_expanded; i++)
		if (src->expanded[i] == key)
			return true;
	return false;
}

static void state_of(char *buf, size_t len, const struct goroutine *g)
{
	char state[48];

	term_escape(state, sizeof(state), view_go__state(g), strlen(view_go__state(g)));
	fmt(buf, len, "%s%s", state, g->status == GO_LEAKED ? " (leaked)" : "");
}

static void labels_of(char *buf, size_t len, const struct goroutine *g)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < g->nr_labels && used + 1 < len; i++) {
		char k[64], v[96];

		term_escape(k, sizeof(k), g->labels[i].key, strlen(g->labels[i].key));
		term_escape(v, sizeof(v), g->labels[i].value, strlen(g->labels[i].value));
		used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", i ? ", " : "{", k, v);
	}
	if (g->nr_labels && used + 1 < len)
		snprintf(buf + used, len - used, "}");
}

/* "main.main (main.go:30)": the function holding the go statement. */
static void created_of(struct go_fill *c, char *buf, size_t len, const struct goroutine *g)
{
	char fn[SNAP_PLACE_LEN], where[SNAP_PLACE_LEN];
	size_t n = 0;

	buf[0] = '\0';
	if (g->goid == 1 || !g->gopc)
		return;
	c->src->frames(c->gp, g->gopc, true, c->frames, SITE_FRAMES, &n, c->src->ctx);
	if (!n)
		return;
	function_of(fn, sizeof(fn), c->frames[n - 1].function);
	where_of(where, sizeof(where), &c->frames[0]);
	fmt(buf, len, "%s%s%s%s", fn, where[0] ? " (" : "", where, where[0] ? ")" : "");
}

static void stack_of(struct go_fill *c, struct gor_row *r, const struct goroutine *g)
{
	r->stack_unavailable = g->stack_unavailable;
	r->frames = calloc(SNAP_GO_FRAMES, sizeof(*r->frames));
	if (!r->frames)
		return;
	for (uint32_t i = 0; i < g->nr_pcs && r->nr_frames < SNAP_GO_FRAMES; i++) {
		size_t n = 0;

		c->src->frames(c->gp, g->pcs[i], true, c->frames, SITE_FRAMES, &n, c->src->ctx);
		for (size_t k = 0; k < n && r->nr_frames < SNAP_GO_FRAMES; k++) {
			struct gor_frame *f = &r->frames[r->nr_frames];

			if (!view_go__frame_shown(&c->frames[k]))
				continue;
			function_of(f->function, sizeof(f->function), c->frames[k].function);
			where_of(f->where, sizeof(f->where), &c->frames[k]);
			f->inlined = c->frames[k].inlined;
			r->nr_frames++;
		}
	}
}

static struct gor_row *new_row(struct go_fill *c)
{
	struct snapshot *s = c->s;
	struct gor_row *r;

	if (s->nr_gors == c->cap_rows) {
		size_t cap = c->cap_rows ? 2 * c->cap_rows : 64;
		struct gor_row *rows = realloc(s->gors, cap * sizeof(*rows));

		if (!rows)
			return NULL;
		s->gors = rows;
		c->cap_rows = cap;
	}
	r = &s->gors[s->nr_gors++];
	memset(r, 0, sizeof(*r));
	r->pid = c->gp->pid;
	snprintf(r->comm, sizeof(r->comm), "%s", c->comm);
	return r;
}

static void site_text(char *buf, size_t len, const struct site *site, const struct goroutine *g,
		      struct go_fill *c)
{
	if (site) {
		fmt(buf, len, "%s%s%s%s", site->function, site->where[0] ? " (" : "", site->where,
		    site->where[0] ? ")" : "");
		return;
	}
	/* no stack to show (running now): name what it runs */
	if (g->startpc) {
		size_t n = 0;
		char fn[SNAP_PLACE_LEN];

		c->src->frames(c->gp, g->startpc, false, c->frames, SITE_FRAMES, &n, c->src->ctx);
		if (n) {
			function_of(fn, sizeof(fn), c->frames[n - 1].function);
			fmt(buf, len, "in %s", fn);
			return;
		}
	}
	snprintf(buf, len, "%s", g->stack_unavailable ? "(on a thread now)" : "(no stack)");
}

static void member_row(struct go_fill *c, const struct group *gr, size_t i)
{
	const struct goroutine *g = &c->gp->snap.g[i];
	struct gor_row *r = new_row(c);

	if (!r)
		return;
	r->key = gr->key;
	r->member = true;
	r->count = 1;
	r->goid = g->goid;
	r->parent_goid = g->parent_goid;
	state_of(r->state, sizeof(r->state), g);
	r->wait_ns = gotrack__in_state_ns(c->gp, i, c->now, &r->at_least);
	site_text(r->site, sizeof(r->site), gr->site, g, c);
	created_of(c, r->created, sizeof(r->created), g);
	labels_of(r->labels, sizeof(r->labels), g);
	r->group_count = gr->count;
	r->group_wait_ns = gr->wait_ns;
	r->group_goid = gr->count == 1 ? gr->first_goid : 0;
	stack_of(c, r, g);
}

static struct gor_row *group_row(struct go_fill *c, const struct group *gr)
{
	const struct goroutine *g = &c->gp->snap.g[gr->longest];
	struct gor_row *r = new_row(c);

	if (!r)
		return NULL;
	r->key = gr->key;
	r->count = gr->count;
	if (gr->count == 1)
		r->goid = g->goid;
	state_of(r->state, sizeof(r->state), g);
	r->wait_ns = gr->wait_ns;
	r->at_least = gr->at_least;
	site_text(r->site, sizeof(r->site), gr->site, g, c);
	created_of(c, r->created, sizeof(r->created), g);
	if (gr->mixed_labels)
		snprintf(r->labels, sizeof(r->labels), "{labels differ}");
	else
		labels_of(r->labels, sizeof(r->labels), g);
	r->group_count = gr->count;
	r->group_wait_ns = gr->wait_ns;
	r->group_goid = gr->count == 1 ? gr->first_goid : 0;
	r->expanded = is_expanded(c->src, gr->key);
	stack_of(c, r, g);
	return r;
}

/* "12 13 14 ...": the goids of group k, in the order of the snapshot (by goid). */
static void list_goids(struct gor_row *r, const struct gosnap *snap, const size_t *of, size_t k)
{
	size_t used = 0;

	for (size_t i = 0; i < snap->n; i++) {
		if (of[i] != k)
			continue;
		if (used + 24 >= sizeof(r->goids)) {
			snprintf(r->goids + used, sizeof(r->goids) - used, " ...");
			return;
		}
		used += (size_t)snprintf(r->goids + used, sizeof(r->goids) - used, "%s%" PRIu64,
					 used ? " " : "", snap->g[i].goid);
	}
}

/* A process whose goroutines cannot be read: one row saying why. */
static void error_row(struct go_fill *c)
{
	struct gor_row *r = new_row(c);

	if (!r)
		return;
	r->error = true;
	r->key = mix(c->gp->pid, 0);
	snprintf(r->state, sizeof(r->state), "unreadable");
	term_escape(r->site, sizeof(r->site), c->gp->error, strlen(c->gp->error));
}

static void free_sites(struct hmap *h)
{
	uint64_t key;
	void *val;

	for (size_t it = 0; hmap__next(h, &it, &key, &val);)
		free(val);
	hmap__free(h);
}

/* The rows of one process: its groups, each followed by its members if expanded. */
static int fill_process(struct go_fill *c)
{
	const struct gosnap *snap = &c->gp->snap;
	struct hmap *index = hmap__new();
	struct group *groups = calloc(snap->n + 1, sizeof(*groups));
	size_t *of = calloc(snap->n + 1, sizeof(*of)), nr_groups = 0;
	int err = -ENOMEM;

	c->sites = hmap__new();
	if (!index || !groups || !of || !c->sites)
		goto out;
	for (size_t i = 0; i < snap->n; i++) {
		const struct goroutine *g = &snap->g[i];
		const struct site *site;
		struct group *gr;
		uint64_t pc, key, wait;
		uintptr_t gi;
		bool at_least;

		of[i] = SIZE_MAX;
		if (!counted(c->src, g))
			continue;
		c->s->goroutines++;
		site = site_of(c, g, &pc);
		/* without a stack, goroutines running the same function go together */
		key = mix(mix(mix(c->gp->pid, g->status), g->wait_reason_raw),
			  site ? pc : ~g->startpc);
		gi = (uintptr_t)hmap__get(index, key);
		if (!gi) {
			gi = ++nr_groups;
			if (hmap__set(index, key, (void *)gi))
				goto out;
			groups[gi - 1].key = key;
			groups[gi - 1].site = site;
			groups[gi - 1].longest = i;
			groups[gi - 1].first_goid = g->goid;
		}
		gr = &groups[gi - 1];
		if (snap->g[gr->longest].labels_ptr != g->labels_ptr)
			gr->mixed_labels = true;
		of[i] = gi - 1;
		gr->count++;
		wait = gotrack__in_state_ns(c->gp, i, c->now, &at_least);
		if (wait > gr->wait_ns || gr->count == 1) {
			gr->wait_ns = wait;
			gr->at_least = at_least;
			gr->longest = i;
		}
	}
	for (size_t k = 0; k < nr_groups; k++) {
		struct gor_row *r = group_row(c, &groups[k]);
		size_t listed = 0;

		if (!r)
			goto out;
		list_goids(r, snap, of, k);
		if (!r->expanded)
			continue;
		for (size_t i = 0; i < snap->n && listed < SNAP_GO_MEMBERS; i++)
			if (of[i] == k) {
				member_row(c, &groups[k], i);
				listed++;
			}
	}
	err = 0;
out:
	free_sites(c->sites);
	c->sites = NULL;
	hmap__free(index);
	free(groups);
	free(of);
	return err;
}

/* Thread rows learn their goroutine, process rows their goroutine count. */
static void annotate(struct snapshot *s, const struct go_process *gp, struct hmap *threads,
		     struct hmap *procs, struct go_fill *c)
{
	uintptr_t pi = (uintptr_t)hmap__get(procs, gp->pid);
	int32_t n = 0;

	for (size_t i = 0; i < gp->snap.n; i++) {
		const struct goroutine *g = &gp->snap.g[i];
		uintptr_t ti;

		n += !g->system;
		if (!g->tid || !(ti = (uintptr_t)hmap__get(threads, g->tid)))
			continue;
		struct thread_row *tr = &s->threads[ti - 1];

		if (tr->pid != gp->pid)
			continue;
		tr->goid = g->goid;
		if (g->startpc) {
			size_t nf = 0;

			c->src->frames(gp, g->startpc, false, c->frames, SITE_FRAMES, &nf,
				       c->src->ctx);
			if (nf)
				function_of(tr->go_func, sizeof(tr->go_func),
					    c->frames[nf - 1].function);
		}
	}
	if (pi && (gp->snap.n || gp->first_ns))
		s->procs[pi - 1].goroutines = n;
}

/* The Stuck view's row of a goroutine group: where its members wait, and their goids. */
static int stuck_row(struct go_fill *c, const struct go_group *gg, uint64_t now)
{
	struct snapshot *s = c->s;
	struct group_row *rows = realloc(s->groups, (s->nr_groups + 1) * sizeof(*rows));
	const struct go_evidence *ev;
	const struct goroutine *g;
	struct group_row *r;
	char where[SNAP_PLACE_LEN];
	size_t used = 0;
	uint64_t key;

	if (!rows)
		return -ENOMEM;
	s->groups = rows;
	r = &rows[s->nr_groups++];
	memset(r, 0, sizeof(*r));
	r->id = gg->id;
	r->go = true;
	r->go_kind = gg->kind;
	r->age_ns = now > gg->detected_ns ? now - gg->detected_ns : 0;
	r->nr_members = gg->count;
	s->stuck_goroutines += gg->count;
	if (!gg->count || gg->members[0].index >= c->gp->snap.n)
		return 0;
	g = &c->gp->snap.g[gg->members[0].index];
	site_text(where, sizeof(where), site_of(c, g, &key), g, c);
	fmt(r->chain, sizeof(r->chain), "pid %u (%s): %zu goroutine%s [%s] at %s", c->gp->pid,
	    c->comm, gg->count, gg->count == 1 ? "" : "s", gg->reason, where);
	ev = &gg->members[0].evidence;
	if (gg->kind == GO_GROUP_STUCK && ev->object)
		fmt(r->evidence, sizeof(r->evidence), "waits on %s 0x%" PRIx64 ": %s", ev->object,
		    ev->addr,
		    ev->reach == GO_REACH_NO_PROGRESS ? "held and untouched, its waiters parked" :
							"no live goroutine or global can reach it");
	for (size_t i = 0; i < gg->count && i < GODETECT_MAX_MEMBERS; i++) {
		if (used + 24 >= sizeof(r->members)) {
			fmt(r->members + used, sizeof(r->members) - used, " ...");
			break;
		}
		used += (size_t)snprintf(r->members + used, sizeof(r->members) - used,
					 "%sg%" PRIu64, used ? "," : "", gg->members[i].goid);
	}
	return 0;
}

int snapshot__fill_go(struct snapshot *s, uint64_t now, const struct snap_go_source *src)
{
	struct go_fill c = { .s = s, .src = src, .now = now };
	struct hmap *threads = hmap__new(), *procs = hmap__new();
	const struct go_process *gp;
	int err = -ENOMEM;

	if (!threads || !procs)
		goto out;
	for (size_t i = 0; i < s->nr_threads; i++)
		if (hmap__set(threads, s->threads[i].tid, (void *)(uintptr_t)(i + 1)))
			goto out;
	for (size_t i = 0; i < s->nr_procs; i++)
		if (hmap__set(procs, s->procs[i].pid, (void *)(uintptr_t)(i + 1)))
			goto out;
	err = 0;
	for (size_t it = 0; (gp = src->next(src->ctx, &it));) {
		uintptr_t pi = (uintptr_t)hmap__get(procs, gp->pid);

		c.gp = gp;
		snprintf(c.comm, sizeof(c.comm), "%s", pi ? s->procs[pi - 1].comm : "?");
		if (!gp->proc || (!gp->snap.n && gp->error[0])) {
			if (gp->error[0])
				error_row(&c);
			continue;
		}
		if (!gp->first_ns)
			continue; /* not read yet */
		s->go_processes++;
		annotate(s, gp, threads, procs, &c);
		err = fill_process(&c);
		for (size_t i = 0; !err && src->stuck; i++) {
			const struct go_group *gg = src->stuck(src->ctx, i);

			if (!gg)
				break;
			if (gg->pid == gp->pid && !gg->resolved_ns) {
				c.sites = hmap__new();
				err = c.sites ? stuck_row(&c, gg, now) : -ENOMEM;
				free_sites(c.sites);
				c.sites = NULL;
			}
		}
		if (err)
			break;
	}
out:
	hmap__free(threads);
	hmap__free(procs);
	return err;
}

void snapshot__free_go(struct snapshot *s)
{
	for (size_t i = 0; i < s->nr_gors; i++)
		free(s->gors[i].frames);
	free(s->gors);
	s->gors = NULL;
	s->nr_gors = 0;
}
