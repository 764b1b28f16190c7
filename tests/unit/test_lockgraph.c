// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The lock-order graph: which cycles count as inversions, and the limits. */
#include <errno.h>
#include "lockgraph.h"
#include "lockorder_abi.h"
#include "test.h"

#define W LO_MODE_WRITE
#define R LO_MODE_READ

static const struct lg_lock A = { .addr = 0x1000 }, B = { .addr = 0x2000 }, C = { .addr = 0x3000 },
			    D = { .addr = 0x4000 };

/* Add from -> to in modes fm/tm by tid; returns what lockgraph__add returned. */
static int add(struct lockgraph *g, const struct lg_lock *f, const struct lg_lock *t, uint8_t fm,
	       uint8_t tm, uint32_t tid, struct lg_cycle *cy)
{
	struct lg_edge e = { .from_mode = fm, .to_mode = tm, .tid = tid };
	struct lg_cycle none[4];
	uint32_t idx;

	return lockgraph__add(g, f, t, &e, &idx, cy ? cy : none, 4);
}

TEST(abba_is_one_cycle)
{
	struct lockgraph *g = lockgraph__new(64);
	struct lg_cycle cy[4];

	if (!ASSERT_TRUE(g, "new"))
		return;
	ASSERT_EQ(add(g, &A, &B, W, W, 10, NULL), 0, "a->b alone");
	ASSERT_EQ(add(g, &B, &A, W, W, 11, cy), 1, "b->a closes one cycle");
	ASSERT_EQ(cy[0].nr, 2, "two edges");
	ASSERT_EQ(cy[0].edges[0], 0, "oldest edge first");
	ASSERT_EQ(cy[0].edges[1], 1, "then the closing one");
	ASSERT_EQ(lockgraph__edge(g, cy[0].edges[0])->tid, 10, "tid of a->b");
	ASSERT_EQ(lockgraph__nr_locks(g), 2, "two locks");
	ASSERT_EQ(add(g, &B, &A, W, W, 12, cy), -EEXIST, "known edge");
	lockgraph__free(g);
}

TEST(consistent_order_has_no_cycle)
{
	struct lockgraph *g = lockgraph__new(64);

	ASSERT_EQ(add(g, &A, &B, W, W, 1, NULL), 0, "a->b");
	ASSERT_EQ(add(g, &B, &C, W, W, 1, NULL), 0, "b->c");
	ASSERT_EQ(add(g, &A, &C, W, W, 2, NULL), 0, "a->c");
	ASSERT_EQ(add(g, &C, &D, W, W, 2, NULL), 0, "c->d");
	lockgraph__free(g);
}

TEST(three_lock_cycle_in_order)
{
	struct lockgraph *g = lockgraph__new(64);
	struct lg_cycle cy[4];

	ASSERT_EQ(add(g, &B, &C, W, W, 2, NULL), 0, "b->c");
	ASSERT_EQ(add(g, &A, &B, W, W, 1, NULL), 0, "a->b");
	ASSERT_EQ(add(g, &C, &A, W, W, 3, cy), 1, "c->a closes a->b->c");
	ASSERT_EQ(cy[0].nr, 3, "three edges");
	ASSERT_EQ(cy[0].edges[0], 0, "starts at the oldest (b->c)");
	for (size_t i = 0; i < cy[0].nr; i++)
		ASSERT_EQ(lockgraph__edge(g, cy[0].edges[i])->to,
			  lockgraph__edge(g, cy[0].edges[(i + 1) % cy[0].nr])->from, "chained");
	lockgraph__free(g);
}

TEST(two_cycles_closed_by_one_edge)
{
	struct lockgraph *g = lockgraph__new(64);
	struct lg_cycle cy[4];

	ASSERT_EQ(add(g, &A, &B, W, W, 1, NULL), 0, "a->b");
	ASSERT_EQ(add(g, &A, &C, W, W, 1, NULL), 0, "a->c");
	ASSERT_EQ(add(g, &C, &B, W, W, 1, NULL), 0, "c->b");
	/* b->a: b->a->b and b->a->c->b */
	ASSERT_EQ(add(g, &B, &A, W, W, 2, cy), 2, "both cycles");
	lockgraph__free(g);
}

TEST(read_locks_do_not_block_each_other)
{
	struct lockgraph *g = lockgraph__new(64);

	/* rdlock a, rdlock b; rdlock b, rdlock a: readers share both */
	ASSERT_EQ(add(g, &A, &B, R, R, 1, NULL), 0, "a(r)->b(r)");
	ASSERT_EQ(add(g, &B, &A, R, R, 2, NULL), 0, "b(r)->a(r): no inversion");
	lockgraph__free(g);
}

TEST(a_writer_makes_it_an_inversion)
{
	struct lockgraph *g = lockgraph__new(64);

	/* wrlock a, rdlock b; wrlock b, rdlock a: each reader waits for the other's writer */
	ASSERT_EQ(add(g, &A, &B, W, R, 1, NULL), 0, "a(w)->b(r)");
	ASSERT_EQ(add(g, &B, &A, W, R, 2, NULL), 1, "b(w)->a(r)");
	lockgraph__free(g);
	g = lockgraph__new(64);
	/* held for reading, asked for writing: a writer waits for a reader too */
	ASSERT_EQ(add(g, &A, &B, R, W, 1, NULL), 0, "a(r)->b(w)");
	ASSERT_EQ(add(g, &B, &A, R, W, 2, NULL), 1, "b(r)->a(w)");
	lockgraph__free(g);
}

TEST(mixed_modes_need_a_conflict_at_every_lock)
{
	struct lockgraph *g = lockgraph__new(64);

	/* at b: asked for reading (a->b), held for reading (b->a): no block there */
	ASSERT_EQ(add(g, &A, &B, W, R, 1, NULL), 0, "a(w)->b(r)");
	ASSERT_EQ(add(g, &B, &A, R, W, 2, NULL), 0, "b(r)->a(w): b never blocks");
	/* the same locks, b held for writing: now it is one */
	ASSERT_EQ(add(g, &B, &A, W, W, 3, NULL), 1, "b(w)->a(w)");
	lockgraph__free(g);
}

TEST(generations_are_different_locks)
{
	struct lockgraph *g = lockgraph__new(64);
	struct lg_lock b2 = { .addr = B.addr, .gen = 1 };

	ASSERT_EQ(add(g, &A, &B, W, W, 1, NULL), 0, "a->b (first life of b)");
	ASSERT_EQ(add(g, &b2, &A, W, W, 2, NULL), 0, "b'->a: another lock");
	ASSERT_EQ(lockgraph__nr_locks(g), 3, "three nodes");
	ASSERT_EQ(lockgraph__lock_index(g, &b2), 2, "b' found by address and generation");
	ASSERT_EQ(lockgraph__lock_index(g, &B), 1, "b, its first life");
	ASSERT_EQ(lockgraph__lock_index(g, &C), -1, "no such lock");
	lockgraph__free(g);
}

TEST(self_loop_is_not_an_inversion)
{
	struct lockgraph *g = lockgraph__new(64);

	ASSERT_EQ(add(g, &A, &A, W, W, 1, NULL), 0, "a->a");
	lockgraph__free(g);
}

TEST(full_graph_refuses_edges)
{
	struct lockgraph *g = lockgraph__new(2);

	ASSERT_EQ(add(g, &A, &B, W, W, 1, NULL), 0, "1");
	ASSERT_EQ(add(g, &B, &C, W, W, 1, NULL), 0, "2");
	ASSERT_EQ(add(g, &C, &A, W, W, 1, NULL), -ENOSPC, "full");
	ASSERT_EQ(lockgraph__nr_edges(g), 2, "still two");
	lockgraph__free(g);
}

TEST(long_cycles_are_bounded)
{
	struct lockgraph *g = lockgraph__new(256);
	struct lg_lock l[LG_MAX_CYCLE + 2];

	for (size_t i = 0; i < LG_MAX_CYCLE + 2; i++)
		l[i] = (struct lg_lock){ .addr = 0x10000 + 0x40 * i };
	/* a chain of LG_MAX_CYCLE locks closes; one of LG_MAX_CYCLE + 1 is too long to report */
	for (size_t i = 0; i + 1 < LG_MAX_CYCLE; i++)
		ASSERT_EQ(add(g, &l[i], &l[i + 1], W, W, 1, NULL), 0, "chain");
	ASSERT_EQ(add(g, &l[LG_MAX_CYCLE - 1], &l[0], W, W, 2, NULL), 1, "closes at the limit");
	lockgraph__free(g);
	g = lockgraph__new(256);
	for (size_t i = 0; i < LG_MAX_CYCLE; i++)
		ASSERT_EQ(add(g, &l[i], &l[i + 1], W, W, 1, NULL), 0, "longer chain");
	ASSERT_EQ(add(g, &l[LG_MAX_CYCLE], &l[0], W, W, 2, NULL), 0, "past the limit");
	lockgraph__free(g);
}

TEST(dense_graph_search_stops)
{
	/* every order between 40 locks but one: the closing edge has millions of paths */
	enum { N = 40 };
	struct lockgraph *g = lockgraph__new(N * N);
	struct lg_lock l[N];
	struct lg_cycle cy[4];
	int r;

	for (size_t i = 0; i < N; i++)
		l[i] = (struct lg_lock){ .addr = 0x20000 + 0x40 * i };
	for (size_t i = 0; i < N; i++)
		for (size_t j = i + 1; j < N; j++)
			add(g, &l[i], &l[j], W, W, 1, NULL);
	r = add(g, &l[N - 1], &l[0], W, W, 2, cy);
	ASSERT_TRUE(r > 4, "many cycles found");
	ASSERT_EQ(lockgraph__truncated_searches(g), 1, "the search was cut short");
	ASSERT_TRUE(lockgraph__cycles_not_written(g) > 0, "the rest counted");
	lockgraph__free(g);
}

TEST_MAIN()
