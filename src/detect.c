// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Each waiting thread has at most one outgoing edge (it waits on one lock,
 * which has at most one owner), so the wait-for graph is a functional graph:
 * following edges from any node ends at a node without an edge, at a node
 * already classified, or in a cycle. One walk per node, linear overall.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "hmap.h"

#define MAX_GROUPS 4096 /* candidate groups considered per run */

struct node {
	const struct thread *t;
	const struct lock_owner *o;
	int next; /* index of the owner's node, or -1 */
	int group; /* index into the run's candidates, or -1 */
	int color; /* 0 new, 1 on the current path, 2 done */
	bool in_cycle;
};

struct candidate {
	uint64_t key;
	enum group_kind kind;
	uint32_t dead_owner_tid;
	size_t n;
};

struct detector {
	struct detect_opts opts;
	detect_fn fn;
	void *ctx;
	uint64_t next_id;
	size_t nr_reported;
	struct stuck_group *groups; /* active */
	uint64_t *group_keys;
	size_t nr_groups;
	uint64_t *prev_keys; /* candidates of the previous run */
	size_t nr_prev;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

uint64_t detector__new_id(struct detector *d)
{
	return d->next_id++;
}

const char *group_kind_name(enum group_kind k)
{
	return k == GROUP_ABANDONED ? "abandoned" : "deadlock";
}

struct detector *detector__new(const struct detect_opts *o, detect_fn fn, void *ctx)
{
	struct detector *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->opts = *o;
	d->fn = fn;
	d->ctx = ctx;
	d->next_id = 1;
	return d;
}

static void group_release(struct stuck_group *g)
{
	free(g->members);
	free(g->edges);
	memset(g, 0, sizeof(*g));
}

void detector__free(struct detector *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nr_groups; i++)
		group_release(&d->groups[i]);
	free(d->groups);
	free(d->group_keys);
	free(d->prev_keys);
	free(d);
}

size_t detector__nr_groups(const struct detector *d)
{
	return d->nr_groups;
}

size_t detector__nr_reported(const struct detector *d)
{
	return d->nr_reported;
}

const struct stuck_group *detector__group(const struct detector *d, size_t i)
{
	return i < d->nr_groups ? &d->groups[i] : NULL;
}

/* Nodes: untimed waits, old enough, whose owner was resolved for this very wait. */
static size_t collect(const struct model *m, uint64_t now, uint64_t min_wait, struct node **out,
		      struct hmap *index)
{
	size_t n = 0, cap = 0, it = 0;
	struct node *nodes = NULL;
	struct thread *t;

	while ((t = model__next_thread(m, &it))) {
		const struct lock_owner *o = thread__owner(t);

		if (!o || o->state == OWNER_NONE || t->wait.has_timeout ||
		    now < t->wait.since_ns + min_wait)
			continue;
		if (n == cap) {
			struct node *grown = realloc(nodes, (cap ? cap * 2 : 64) * sizeof(*nodes));

			if (!grown)
				break;
			nodes = grown;
			cap = cap ? cap * 2 : 64;
		}
		nodes[n] = (struct node){ .t = t, .o = o, .next = -1, .group = -1 };
		if (hmap__set(index, t->tid, (void *)(uintptr_t)(n + 1)))
			break;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		uintptr_t j;

		if (nodes[i].o->state != OWNER_LIVE)
			continue;
		j = (uintptr_t)hmap__get(index, nodes[i].o->owner_tid);
		if (j)
			nodes[i].next = (int)(j - 1);
	}
	*out = nodes;
	return n;
}

static int add_candidate(struct candidate *c, size_t *nc, uint64_t key, enum group_kind kind,
			 uint32_t dead_owner)
{
	for (size_t i = 0; i < *nc; i++)
		if (c[i].key == key)
			return (int)i;
	if (*nc == MAX_GROUPS)
		return -1;
	c[*nc] = (struct candidate){ .key = key, .kind = kind, .dead_owner_tid = dead_owner };
	return (int)(*nc)++;
}

/* Walk every node to where its chain ends and give it that end's group. */
static size_t classify(struct node *nodes, size_t n, struct candidate *c, int *path)
{
	size_t nc = 0;

	for (size_t start = 0; start < n; start++) {
		size_t len = 0;
		int j = (int)start, group = -1;

		while (j >= 0 && nodes[j].color == 0) {
			nodes[j].color = 1;
			path[len++] = j;
			j = nodes[j].next;
		}
		if (j >= 0 && nodes[j].color == 1) {
			/* a new cycle: path from j to the end */
			uint64_t key = mix(0, GROUP_DEADLOCK);
			size_t k = 0;

			while (path[k] != j)
				k++;
			for (size_t i = k; i < len; i++) {
				/* order-independent: the same cycle from any entry point */
				key += mix(nodes[path[i]].t->tid, nodes[path[i]].t->wait.since_ns);
				nodes[path[i]].in_cycle = true;
			}
			group = add_candidate(c, &nc, key, GROUP_DEADLOCK, 0);
		} else if (j >= 0) {
			group = nodes[j].group; /* joins a chain already classified */
		} else {
			const struct node *end = &nodes[path[len - 1]];

			if (end->o->state == OWNER_DEAD) {
				uint64_t key = mix(mix(mix(0, GROUP_ABANDONED), end->o->owner_tid),
						   end->o->lock_addr);

				group = add_candidate(c, &nc, key, GROUP_ABANDONED,
						      end->o->owner_tid);
			}
		}
		for (size_t i = 0; i < len; i++) {
			nodes[path[i]].color = 2;
			nodes[path[i]].group = group;
		}
		if (group >= 0 && j < 0) {
			/* abandoned: every waiter on the dead owner's lock is at the root */
			for (size_t i = 0; i < len; i++)
				if (nodes[path[i]].o->state == OWNER_DEAD)
					nodes[path[i]].in_cycle = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (nodes[i].group >= 0)
			c[nodes[i].group].n++;
	return nc;
}

static bool key_in(const uint64_t *keys, size_t n, uint64_t key)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i] == key)
			return true;
	return false;
}

/* Fill g's members and edges from the nodes of candidate gi: cycle members first. */
static int build_members(struct stuck_group *g, const struct node *nodes, size_t n, int gi,
			 size_t count, uint64_t now)
{
	size_t k = 0;

	g->members = calloc(count, sizeof(*g->members));
	g->edges = calloc(count, sizeof(*g->edges));
	if (!g->members || !g->edges)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct node *nd = &nodes[i];
			struct stuck_member *mb;

			if (nd->group != gi || nd->in_cycle != (pass == 0))
				continue;
			mb = &g->members[k];
			mb->pid = nd->t->pid;
			mb->tid = nd->t->tid;
			memcpy(mb->comm, nd->t->comm, sizeof(mb->comm));
			mb->blocked_ns = now - nd->t->wait.since_ns;
			mb->wait = nd->t->wait;
			mb->owner = *nd->o;
			mb->in_cycle = nd->in_cycle;
			g->edges[k] = (struct stuck_edge){ .from_tid = mb->tid,
							   .to_tid = nd->o->owner_tid,
							   .kind = nd->o->kind,
							   .addr = nd->o->lock_addr };
			k++;
		}
	}
	/* put the cycle in edge order: each member's owner is the next member */
	for (size_t i = 0; i + 1 < k && g->members[i].in_cycle; i++) {
		for (size_t j = i + 1; j < k && g->members[j].in_cycle; j++) {
			if (g->members[j].tid == g->members[i].owner.owner_tid) {
				struct stuck_member tm = g->members[i + 1];
				struct stuck_edge te = g->edges[i + 1];

				g->members[i + 1] = g->members[j];
				g->edges[i + 1] = g->edges[j];
				g->members[j] = tm;
				g->edges[j] = te;
				break;
			}
		}
	}
	g->nr_members = k;
	g->nr_edges = k;
	return 0;
}

static bool same_members(const struct stuck_group *a, const struct stuck_group *b)
{
	if (a->nr_members != b->nr_members)
		return false;
	for (size_t i = 0; i < a->nr_members; i++) {
		bool found = false;

		for (size_t j = 0; j < b->nr_members && !found; j++)
			found = a->members[i].tid == b->members[j].tid;
		if (!found)
			return false;
	}
	return true;
}

static int report_groups(struct detector *d, const struct node *nodes, size_t n,
			 const struct candidate *c, size_t nc, uint64_t now)
{
	struct stuck_group *groups = calloc(nc ? nc : 1, sizeof(*groups));
	uint64_t *keys = calloc(nc ? nc : 1, sizeof(*keys));
	size_t ng = 0;

	if (!groups || !keys) {
		free(groups);
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nc; i++) {
		struct stuck_group *old = NULL, *g = &groups[ng];

		for (size_t j = 0; j < d->nr_groups; j++)
			if (d->group_keys[j] == c[i].key)
				old = &d->groups[j];
		if (!old && !key_in(d->prev_keys, d->nr_prev, c[i].key))
			continue; /* seen once: confirm on the next run */
		g->kind = c[i].kind;
		g->dead_owner_tid = c[i].dead_owner_tid;
		if (build_members(g, nodes, n, (int)i, c[i].n, now)) {
			group_release(g);
			continue;
		}
		keys[ng++] = c[i].key;
		if (old) {
			g->id = old->id;
			g->detected_ns = old->detected_ns;
			g->revision = old->revision;
			if (same_members(old, g))
				continue;
			g->revision++;
		} else {
			g->id = d->next_id++;
			g->detected_ns = now;
			d->nr_reported++;
		}
		d->fn(g, d->ctx);
	}
	/* groups that are no longer there have dissolved */
	for (size_t j = 0; j < d->nr_groups; j++) {
		if (!key_in(keys, ng, d->group_keys[j])) {
			d->groups[j].resolved_ns = now;
			d->fn(&d->groups[j], d->ctx);
		}
		group_release(&d->groups[j]);
	}
	free(d->groups);
	free(d->group_keys);
	d->groups = groups;
	d->group_keys = keys;
	d->nr_groups = ng;
	return 0;
}

int detector__run(struct detector *d, const struct model *m, uint64_t now)
{
	struct hmap *index = hmap__new();
	struct candidate *c = NULL;
	struct node *nodes = NULL;
	uint64_t *keys = NULL;
	int *path = NULL;
	size_t n, nc = 0;
	int err = -ENOMEM;

	if (!index)
		return -ENOMEM;
	n = collect(m, now, d->opts.min_wait_ns, &nodes, index);
	c = calloc(MAX_GROUPS, sizeof(*c));
	path = calloc(n ? n : 1, sizeof(*path));
	if (!c || !path)
		goto out;
	nc = classify(nodes, n, c, path);
	err = report_groups(d, nodes, n, c, nc, now);
	if (err)
		goto out;
	keys = calloc(nc ? nc : 1, sizeof(*keys));
	if (!keys) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nc; i++)
		keys[i] = c[i].key;
	free(d->prev_keys);
	d->prev_keys = keys;
	d->nr_prev = nc;
out:
	free(path);
	free(c);
	free(nodes);
	hmap__free(index);
	return err;
}
