// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The lock-order graph and its cycles (see lockgraph.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hmap.h"
#include "lockgraph.h"
#include "lockorder_abi.h"

struct lg_node {
	struct lg_lock lock;
	uint32_t *out; /* edge indices */
	uint32_t nr_out, cap_out;
};

struct lockgraph {
	size_t max_edges;
	struct lg_node *nodes;
	size_t nr_nodes, cap_nodes;
	struct lg_edge *edges;
	size_t nr_edges;
	struct hmap *node_index; /* lock key -> node index + 1 */
	struct hmap *edge_index; /* edge key -> edge index + 1 */
	uint64_t truncated, not_written;
};

bool lockgraph__conflict(uint8_t held, uint8_t want)
{
	return !(held == LO_MODE_READ && want == LO_MODE_READ);
}

/* User addresses fit in 47 bits: the generation goes above them (it wraps after 2^17). */
static uint64_t lock_key(const struct lg_lock *l)
{
	return (l->addr & ((1ull << 47) - 1)) | ((uint64_t)l->gen << 47);
}

static uint64_t edge_key(uint32_t from, uint32_t to, uint8_t fm, uint8_t tm)
{
	return (uint64_t)from << 34 | (uint64_t)to << 2 | (uint64_t)(fm & 1) << 1 | (tm & 1);
}

struct lockgraph *lockgraph__new(size_t max_edges)
{
	struct lockgraph *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->max_edges = max_edges;
	g->node_index = hmap__new();
	g->edge_index = hmap__new();
	g->edges = calloc(max_edges ? max_edges : 1, sizeof(*g->edges));
	if (!g->node_index || !g->edge_index || !g->edges) {
		lockgraph__free(g);
		return NULL;
	}
	return g;
}

void lockgraph__free(struct lockgraph *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nr_nodes; i++)
		free(g->nodes[i].out);
	free(g->nodes);
	free(g->edges);
	hmap__free(g->node_index);
	hmap__free(g->edge_index);
	free(g);
}

static int64_t node_of(const struct lockgraph *g, const struct lg_lock *l)
{
	uintptr_t v = (uintptr_t)hmap__get(g->node_index, lock_key(l));

	if (!v)
		return -1;
	if (g->nodes[v - 1].lock.addr != l->addr || g->nodes[v - 1].lock.gen != l->gen)
		return -1; /* a generation that wrapped onto another: treated as unknown */
	return (int64_t)v - 1;
}

static int64_t node_add(struct lockgraph *g, const struct lg_lock *l)
{
	int64_t i = node_of(g, l);

	if (i >= 0)
		return i;
	if (g->nr_nodes == g->cap_nodes) {
		size_t cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
		struct lg_node *n = realloc(g->nodes, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->nodes = n;
		g->cap_nodes = cap;
	}
	if (hmap__set(g->node_index, lock_key(l), (void *)(uintptr_t)(g->nr_nodes + 1)))
		return -ENOMEM;
	memset(&g->nodes[g->nr_nodes], 0, sizeof(g->nodes[0]));
	g->nodes[g->nr_nodes].lock = *l;
	return (int64_t)g->nr_nodes++;
}

int64_t lockgraph__lock_index(const struct lockgraph *g, const struct lg_lock *l)
{
	return node_of(g, l);
}

int64_t lockgraph__find(const struct lockgraph *g, const struct lg_lock *fl,
			const struct lg_lock *tl, uint8_t from_mode, uint8_t to_mode)
{
	int64_t f = node_of(g, fl), t = node_of(g, tl);
	uintptr_t v;

	if (f < 0 || t < 0)
		return -1;
	v = (uintptr_t)hmap__get(g->edge_index,
				 edge_key((uint32_t)f, (uint32_t)t, from_mode, to_mode));
	return v ? (int64_t)v - 1 : -1;
}

struct search {
	struct lockgraph *g;
	uint32_t closing; /* the new edge: start.to ... start.from */
	uint32_t path[LG_MAX_CYCLE];
	size_t depth;
	uint64_t steps;
	struct lg_cycle *out;
	size_t max, found;
};

static bool on_path(const struct search *s, uint32_t node)
{
	const struct lg_edge *c = &s->g->edges[s->closing];

	if (node == c->to)
		return true;
	for (size_t i = 0; i < s->depth; i++)
		if (s->g->edges[s->path[i]].to == node)
			return true;
	return false;
}

/* Start a cycle at its oldest edge: the order first seen is told first. */
static void rotate_oldest_first(struct lg_cycle *c)
{
	uint32_t tmp[LG_MAX_CYCLE];
	size_t first = 0;

	for (size_t i = 1; i < c->nr; i++)
		if (c->edges[i] < c->edges[first])
			first = i;
	for (size_t i = 0; i < c->nr; i++)
		tmp[i] = c->edges[(first + i) % c->nr];
	memcpy(c->edges, tmp, c->nr * sizeof(tmp[0]));
}

/*
 * Paths from node (reached by asking for it in mode want) back to the new
 * edge's from lock, each lock once, each step a conflict.
 */
static void search_from(struct search *s, uint32_t node, uint8_t want)
{
	const struct lg_edge *c = &s->g->edges[s->closing];
	const struct lg_node *n = &s->g->nodes[node];

	for (uint32_t k = 0; k < n->nr_out; k++) {
		const struct lg_edge *e = &s->g->edges[n->out[k]];

		if (++s->steps > LG_SEARCH_STEPS)
			return;
		if (n->out[k] == s->closing || !lockgraph__conflict(e->from_mode, want))
			continue;
		if (e->to == c->from) {
			if (!lockgraph__conflict(c->from_mode, e->to_mode))
				continue;
			if (s->found < s->max) {
				struct lg_cycle *cy = &s->out[s->found];

				cy->nr = 0;
				cy->edges[cy->nr++] = s->closing;
				for (size_t i = 0; i < s->depth; i++)
					cy->edges[cy->nr++] = s->path[i];
				cy->edges[cy->nr++] = n->out[k];
				rotate_oldest_first(cy);
			} else {
				s->g->not_written++;
			}
			s->found++;
			continue;
		}
		/* the closing edge and this one count: a cycle of LG_MAX_CYCLE edges at most */
		if (s->depth + 2 >= LG_MAX_CYCLE || on_path(s, e->to))
			continue;
		s->path[s->depth++] = n->out[k];
		search_from(s, e->to, e->to_mode);
		s->depth--;
		if (s->steps > LG_SEARCH_STEPS)
			return;
	}
}

int lockgraph__add(struct lockgraph *g, const struct lg_lock *fl, const struct lg_lock *tl,
		   const struct lg_edge *e, uint32_t *idx, struct lg_cycle *cycles, size_t max)
{
	struct search s = { .g = g, .out = cycles, .max = max };
	int64_t f, t;
	uint64_t key;
	struct lg_node *from;
	struct lg_edge *ne;

	if (lockgraph__find(g, fl, tl, e->from_mode, e->to_mode) >= 0)
		return -EEXIST;
	if (g->nr_edges >= g->max_edges)
		return -ENOSPC;
	f = node_add(g, fl);
	if (f < 0)
		return (int)f;
	t = node_add(g, tl);
	if (t < 0)
		return (int)t;
	from = &g->nodes[f];
	if (from->nr_out == from->cap_out) {
		uint32_t cap = from->cap_out ? 2 * from->cap_out : 4;
		uint32_t *o = realloc(from->out, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		from->out = o;
		from->cap_out = cap;
	}
	key = edge_key((uint32_t)f, (uint32_t)t, e->from_mode, e->to_mode);
	if (hmap__set(g->edge_index, key, (void *)(uintptr_t)(g->nr_edges + 1)))
		return -ENOMEM;
	ne = &g->edges[g->nr_edges];
	*ne = *e;
	ne->from = (uint32_t)f;
	ne->to = (uint32_t)t;
	from->out[from->nr_out++] = (uint32_t)g->nr_edges;
	*idx = (uint32_t)g->nr_edges++;
	if (f == t)
		return 0; /* the BPF side never sends one; a self-loop is not an inversion */
	s.closing = *idx;
	/* a two-lock cycle and longer ones: paths from B back to A */
	search_from(&s, (uint32_t)t, ne->to_mode);
	if (s.steps > LG_SEARCH_STEPS)
		g->truncated++;
	return (int)(s.found > INT32_MAX ? INT32_MAX : s.found);
}

size_t lockgraph__nr_locks(const struct lockgraph *g)
{
	return g->nr_nodes;
}

size_t lockgraph__nr_edges(const struct lockgraph *g)
{
	return g->nr_edges;
}

const struct lg_lock *lockgraph__lock(const struct lockgraph *g, uint32_t i)
{
	return i < g->nr_nodes ? &g->nodes[i].lock : NULL;
}

const struct lg_edge *lockgraph__edge(const struct lockgraph *g, uint32_t i)
{
	return i < g->nr_edges ? &g->edges[i] : NULL;
}

struct lg_edge *lockgraph__edge_mut(struct lockgraph *g, uint32_t i)
{
	return i < g->nr_edges ? &g->edges[i] : NULL;
}

uint64_t lockgraph__truncated_searches(const struct lockgraph *g)
{
	return g->truncated;
}

uint64_t lockgraph__cycles_not_written(const struct lockgraph *g)
{
	return g->not_written;
}
