// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The stuck-group detector on synthetic models: threads, waits and owners are
 * set by hand, exactly as the session would after reading memory.
 */
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "model.h"
#include "test.h"

#define MS 1000000ull
#define T0 (10000 * MS)

struct seen {
	int nr_new, nr_changed, nr_resolved;
	struct stuck_group last; /* shallow: members valid until the next run */
	uint32_t tids[64];
	size_t nr_tids;
	bool in_cycle[64];
	uint64_t last_id;
};

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct seen *s = ctx;

	if (g->resolved_ns)
		s->nr_resolved++;
	else if (g->revision)
		s->nr_changed++;
	else
		s->nr_new++;
	s->last = *g;
	s->last_id = g->id;
	s->nr_tids = g->nr_members < 64 ? g->nr_members : 64;
	for (size_t i = 0; i < s->nr_tids; i++) {
		s->tids[i] = g->members[i].tid;
		s->in_cycle[i] = g->members[i].in_cycle;
	}
}

struct fixture {
	struct model *m;
	struct detector *d;
	struct seen seen;
};

static void setup(struct fixture *f)
{
	struct detect_opts o = { .min_wait_ns = 100 * MS };

	memset(f, 0, sizeof(*f));
	f->m = model__new(NULL, NULL);
	f->d = detector__new(&o, on_group, &f->seen);
}

static void teardown(struct fixture *f)
{
	detector__free(f->d);
	model__free(f->m);
}

static void add_thread(struct fixture *f, uint32_t pid, uint32_t tid)
{
	model__thread_new(f->m, T0, pid, tid, "t", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
}

/* tid waits (untimed unless timed) on addr, whose owner is owner_tid in state st. */
static void wait_on(struct fixture *f, uint32_t pid, uint32_t tid, uint64_t addr,
		    enum lock_kind kind, uint32_t owner_tid, enum owner_state st, bool timed)
{
	struct wait w = { .kind = WAIT_FUTEX,
			  .addr = addr,
			  .expected = 2,
			  .since_ns = T0,
			  .has_timeout = timed };
	struct lock_owner o = { .kind = kind,
				.state = st,
				.lock_addr = addr,
				.owner_tid = owner_tid,
				.owner_pid = pid,
				.wait_since_ns = T0,
				.checked_ns = T0 + 200 * MS };

	model__wait_begin(f->m, T0, pid, tid, "t", &w);
	model__set_owner(f->m, tid, &o);
}

static bool has_tid(const struct seen *s, uint32_t tid)
{
	for (size_t i = 0; i < s->nr_tids; i++)
		if (s->tids[i] == tid)
			return true;
	return false;
}

/* Two runs a tick apart: the second confirms. */
static void run2(struct fixture *f, uint64_t at)
{
	detector__run(f->d, f->m, at);
	detector__run(f->d, f->m, at + 100 * MS);
}

TEST(abba_with_bystanders)
{
	struct fixture f;

	setup(&f);
	for (uint32_t t = 100; t <= 104; t++)
		add_thread(&f, 100, t);
	wait_on(&f, 100, 101, 0x1000, LOCK_MUTEX, 102, OWNER_LIVE, false);
	wait_on(&f, 100, 102, 0x2000, LOCK_MUTEX, 101, OWNER_LIVE, false);
	/* 103 waits on a lock held by a running thread (104): not stuck */
	wait_on(&f, 100, 103, 0x3000, LOCK_MUTEX, 104, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "one group");
	ASSERT_EQ(f.seen.last.kind, GROUP_DEADLOCK, "kind");
	ASSERT_EQ(f.seen.nr_tids, 2, "two members");
	ASSERT_TRUE(has_tid(&f.seen, 101) && has_tid(&f.seen, 102), "members are the cycle");
	ASSERT_FALSE(has_tid(&f.seen, 103), "waiter on a running owner is not a member");
	ASSERT_EQ(detector__nr_groups(f.d), 1, "active groups");
	teardown(&f);
}

TEST(first_sighting_is_not_reported)
{
	struct fixture f;

	setup(&f);
	add_thread(&f, 1, 11);
	add_thread(&f, 1, 12);
	wait_on(&f, 1, 11, 0x10, LOCK_MUTEX, 12, OWNER_LIVE, false);
	wait_on(&f, 1, 12, 0x20, LOCK_MUTEX, 11, OWNER_LIVE, false);
	detector__run(f.d, f.m, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 0, "needs confirmation");
	detector__run(f.d, f.m, T0 + 400 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "confirmed on the second run");
	detector__run(f.d, f.m, T0 + 500 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "reported once");
	ASSERT_EQ(f.seen.nr_changed, 0, "no change");
	teardown(&f);
}

TEST(young_waits_are_ignored)
{
	struct fixture f;

	setup(&f);
	add_thread(&f, 1, 11);
	add_thread(&f, 1, 12);
	wait_on(&f, 1, 11, 0x10, LOCK_MUTEX, 12, OWNER_LIVE, false);
	wait_on(&f, 1, 12, 0x20, LOCK_MUTEX, 11, OWNER_LIVE, false);
	run2(&f, T0 + 10 * MS); /* 10 and 110 ms: the first run is too early to count */
	ASSERT_EQ(f.seen.nr_new, 0, "not before min_wait on two runs");
	teardown(&f);
}

TEST(three_cycle_and_transitive_waiters)
{
	struct fixture f;

	setup(&f);
	for (uint32_t t = 1; t <= 6; t++)
		add_thread(&f, 1, t);
	wait_on(&f, 1, 1, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false);
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 3, OWNER_LIVE, false);
	wait_on(&f, 1, 3, 0x30, LOCK_MUTEX, 1, OWNER_LIVE, false);
	wait_on(&f, 1, 4, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false); /* on the cycle */
	wait_on(&f, 1, 5, 0x50, LOCK_JOIN, 4, OWNER_LIVE, false); /* joins 4 */
	wait_on(&f, 1, 6, 0x60, LOCK_MUTEX, 5, OWNER_LIVE, true); /* timed: can give up */
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "one group");
	ASSERT_EQ(f.seen.nr_tids, 5, "cycle of 3 + 2 waiters");
	ASSERT_FALSE(has_tid(&f.seen, 6), "a timed wait is not stuck");
	ASSERT_TRUE(f.seen.in_cycle[0] && f.seen.in_cycle[1] && f.seen.in_cycle[2], "cycle first");
	ASSERT_FALSE(f.seen.in_cycle[3] || f.seen.in_cycle[4], "then the rest");
	/* the cycle is listed in edge order */
	ASSERT_EQ(f.seen.last.members[0].owner.owner_tid, f.seen.last.members[1].tid, "order 0");
	ASSERT_EQ(f.seen.last.members[1].owner.owner_tid, f.seen.last.members[2].tid, "order 1");
	ASSERT_EQ(f.seen.last.members[2].owner.owner_tid, f.seen.last.members[0].tid, "order 2");
	teardown(&f);
}

TEST(self_deadlock)
{
	struct fixture f;

	setup(&f);
	add_thread(&f, 7, 8);
	wait_on(&f, 7, 8, 0x80, LOCK_MUTEX, 8, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "a thread relocking its own mutex");
	ASSERT_EQ(f.seen.nr_tids, 1, "one member");
	ASSERT_TRUE(f.seen.in_cycle[0], "it is the cycle");
	teardown(&f);
}

TEST(abandoned_lock_two_waiters)
{
	struct fixture f;

	setup(&f);
	add_thread(&f, 1, 2);
	add_thread(&f, 1, 3);
	add_thread(&f, 1, 4);
	wait_on(&f, 1, 2, 0x10, LOCK_MUTEX, 99, OWNER_DEAD, false);
	wait_on(&f, 1, 3, 0x10, LOCK_MUTEX, 99, OWNER_DEAD, false);
	wait_on(&f, 1, 4, 0x40, LOCK_JOIN, 3, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "one group");
	ASSERT_EQ(f.seen.last.kind, GROUP_ABANDONED, "kind");
	ASSERT_EQ(f.seen.last.dead_owner_tid, 99, "exited owner");
	ASSERT_EQ(f.seen.nr_tids, 3, "two waiters and a joiner");
	teardown(&f);
}

TEST(two_independent_groups)
{
	struct fixture f;

	setup(&f);
	for (uint32_t t = 1; t <= 4; t++)
		add_thread(&f, t < 3 ? 1 : 2, t);
	wait_on(&f, 1, 1, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false);
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 1, OWNER_LIVE, false);
	wait_on(&f, 2, 3, 0x10, LOCK_MUTEX, 4, OWNER_LIVE, false);
	wait_on(&f, 2, 4, 0x20, LOCK_MUTEX, 3, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 2, "two groups");
	ASSERT_EQ(detector__nr_groups(f.d), 2, "both active");
	ASSERT_TRUE(detector__group(f.d, 0)->id != detector__group(f.d, 1)->id, "distinct ids");
	teardown(&f);
}

TEST(no_edge_without_owner)
{
	struct fixture f;

	setup(&f);
	add_thread(&f, 1, 1);
	add_thread(&f, 1, 2);
	wait_on(&f, 1, 1, 0x10, LOCK_UNKNOWN, 0, OWNER_NONE, false); /* condvar-like */
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 0, "an ownerless wait is never a deadlock");
	teardown(&f);
}

TEST(stale_owner_is_not_used)
{
	struct fixture f;
	struct lock_owner o = { .kind = LOCK_MUTEX,
				.state = OWNER_LIVE,
				.owner_tid = 2,
				.wait_since_ns = T0 - 1,
				.checked_ns = T0 };
	struct wait w = { .kind = WAIT_FUTEX, .addr = 0x10, .since_ns = T0 };

	setup(&f);
	add_thread(&f, 1, 1);
	add_thread(&f, 1, 2);
	model__wait_begin(f.m, T0, 1, 1, "t", &w);
	model__set_owner(f.m, 1, &o); /* for an older wait: ignored */
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 0, "an owner read for another wait is not an edge");
	teardown(&f);
}

TEST(resolved_when_a_member_exits)
{
	struct fixture f;
	uint64_t id;

	setup(&f);
	add_thread(&f, 1, 1);
	add_thread(&f, 1, 2);
	wait_on(&f, 1, 1, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false);
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	if (!ASSERT_EQ(f.seen.nr_new, 1, "formed"))
		goto out;
	id = f.seen.last_id;
	model__thread_exit(f.m, T0 + 500 * MS, 1, 2, "t", 9, false);
	detector__run(f.d, f.m, T0 + 600 * MS);
	ASSERT_EQ(f.seen.nr_resolved, 1, "resolved");
	ASSERT_EQ(f.seen.last_id, id, "same id");
	ASSERT_EQ(detector__nr_groups(f.d), 0, "none active");
	ASSERT_EQ(detector__nr_reported(f.d), 1, "one ever reported");
out:
	teardown(&f);
}

TEST(group_grows_keeps_id)
{
	struct fixture f;
	uint64_t id;

	setup(&f);
	for (uint32_t t = 1; t <= 3; t++)
		add_thread(&f, 1, t);
	wait_on(&f, 1, 1, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false);
	wait_on(&f, 1, 2, 0x20, LOCK_MUTEX, 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	id = f.seen.last_id;
	wait_on(&f, 1, 3, 0x10, LOCK_MUTEX, 2, OWNER_LIVE, false);
	detector__run(f.d, f.m, T0 + 500 * MS);
	ASSERT_EQ(f.seen.nr_changed, 1, "membership change reported");
	ASSERT_EQ(f.seen.last_id, id, "same id");
	ASSERT_EQ(f.seen.last.revision, 1, "revision bumped");
	ASSERT_EQ(f.seen.nr_tids, 3, "three members now");
	teardown(&f);
}

TEST(philosophers_ring)
{
	struct fixture f;

	setup(&f);
	for (uint32_t t = 1; t <= 5; t++)
		add_thread(&f, 1, t);
	for (uint32_t t = 1; t <= 5; t++)
		wait_on(&f, 1, t, 0x100 * t, LOCK_MUTEX, t % 5 + 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "one group");
	ASSERT_EQ(f.seen.nr_tids, 5, "five philosophers");
	teardown(&f);
}

TEST(large_chain_is_linear)
{
	struct fixture f;
	enum { N = 20000 };

	setup(&f);
	for (uint32_t t = 1; t <= N; t++)
		add_thread(&f, 1, t);
	/* a chain 1 -> 2 -> ... -> N -> 1: one big cycle */
	for (uint32_t t = 1; t <= N; t++)
		wait_on(&f, 1, t, 0x10 * t, LOCK_MUTEX, t % N + 1, OWNER_LIVE, false);
	run2(&f, T0 + 300 * MS);
	ASSERT_EQ(f.seen.nr_new, 1, "one group");
	ASSERT_EQ(f.seen.last.nr_members, N, "all members");
	teardown(&f);
}

TEST_MAIN()
