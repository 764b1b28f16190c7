// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go runtime layout table: which versions it covers, the wait-reason
 * enums per version (counts and the values that moved, from runtime2.go of
 * each release), and the classification the detectors rely on.
 */
#include <errno.h>
#include "golayout.h"
#include "test.h"

TEST(versions_covered)
{
	struct go_layout l;

	for (int minor = 20; minor <= 26; minor++) {
		char name[32];

		snprintf(name, sizeof(name), "go1.%d.0", minor);
		ASSERT_OK(golayout__table(minor, 0, &l), name);
		ASSERT_STREQ(l.source, "table", "source");
	}
	ASSERT_EQ(golayout__table(19, 0, &l), -ENOENT, "go1.19 is older than the table");
	ASSERT_EQ(golayout__table(27, 0, &l), -ENOENT, "go1.27 is newer than the table");
	ASSERT_OK(golayout__table(26, 11, &l), "go1.26.11 was checked");
	ASSERT_EQ(golayout__table(26, 12, &l), -ENOENT, "a later patch is not guessed");
	ASSERT_OK(golayout__table(22, 12, &l), "go1.22.12");
}

TEST(wait_reason_counts)
{
	/* 32 values in 1.20/1.21, 37 in 1.22, 38 in 1.23, 44 in 1.24, 47 in 1.25 and 1.26 */
	static const struct {
		int minor;
		size_t n;
	} want[] = { { 20, 32 }, { 21, 32 }, { 22, 37 }, { 23, 38 },
		     { 24, 44 }, { 25, 47 }, { 26, 47 } };
	struct go_layout l;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!ASSERT_OK(golayout__table(want[i].minor, 0, &l), "table"))
			continue;
		ASSERT_EQ(l.nr_wait_reasons, want[i].n, "number of wait reasons");
	}
}

TEST(wait_reasons_that_moved)
{
	struct go_layout l;

	golayout__table(22, 0, &l);
	ASSERT_STREQ(golayout__wait_reason(&l, 14), "chan receive", "1.22: 14");
	ASSERT_STREQ(golayout__wait_reason(&l, 18), "semacquire", "1.22: 18");
	ASSERT_STREQ(golayout__wait_reason(&l, 36), "coroutine", "1.22: last");
	golayout__table(24, 0, &l);
	ASSERT_STREQ(golayout__wait_reason(&l, 24), "sync.WaitGroup.Wait", "1.24: 24");
	golayout__table(25, 0, &l);
	ASSERT_STREQ(golayout__wait_reason(&l, 18), "GOMAXPROCS updater (idle)", "1.25: 18");
	ASSERT_STREQ(golayout__wait_reason(&l, 22), "sync.Mutex.Lock", "1.25: 22");
	golayout__table(26, 0, &l);
	ASSERT_STREQ(golayout__wait_reason(&l, 19), "chan receive", "1.26: 19");
	ASSERT_STREQ(golayout__wait_reason(&l, 17), "select (no cases)", "1.26: 17");
	ASSERT_STREQ(golayout__wait_reason(&l, 15), "chan receive (nil chan)", "1.26: 15");
	ASSERT_TRUE(golayout__wait_reason(&l, 0) == NULL, "zero is no reason");
	ASSERT_TRUE(golayout__wait_reason(&l, 47) == NULL, "out of range");
	ASSERT_TRUE(golayout__wait_reason(&l, 255) == NULL, "hostile value");
}

TEST(layout_changes)
{
	struct go_layout l;

	golayout__table(22, 12, &l);
	ASSERT_EQ(l.g_goid, 152, "1.22 goid");
	ASSERT_EQ(l.g_syscallbp, -1, "no syscallbp before 1.23");
	ASSERT_EQ(l.labels, GO_LABELS_MAP, "1.22 labels are a map");
	golayout__table(23, 12, &l);
	ASSERT_EQ(l.g_goid, 160, "1.23 goid");
	ASSERT_EQ(l.g_syscallbp, 128, "1.23 syscallbp");
	golayout__table(24, 13, &l);
	ASSERT_EQ(l.labels, GO_LABELS_SLICE, "1.24 labels are a slice");
	golayout__table(25, 12, &l);
	ASSERT_EQ(l.g_sched_bp, 96, "1.25 gobuf lost ret");
	ASSERT_EQ(l.m_curg, 184, "1.25 m.curg");
	golayout__table(26, 8, &l);
	ASSERT_EQ(l.g_parent_goid, 280, "1.26 parentGoid");
	ASSERT_EQ(l.sudog_c, 88, "1.26 sudog.c");
	ASSERT_EQ(l.sudog_ptr_adjust, 8, "1.26 reads the vu word");
	ASSERT_EQ(l.g_sched_g, 72, "sched.g");
	golayout__table(20, 14, &l);
	ASSERT_EQ(l.g_parent_goid, -1, "no parentGoid in 1.20");
}

TEST(status_names)
{
	ASSERT_STREQ(golayout__status_name(GO_WAITING), "waiting", "waiting");
	ASSERT_STREQ(golayout__status_name(GO_WAITING | GO_SCAN), "waiting", "scan bit ignored");
	ASSERT_STREQ(golayout__status_name(GO_RUNNABLE), "runnable", "runnable");
	ASSERT_STREQ(golayout__status_name(GO_LEAKED), "leaked", "leaked");
	ASSERT_STREQ(golayout__status_name(99), "???", "unknown");
}

TEST(wait_classes)
{
	ASSERT_EQ(golayout__wait_class("chan receive (nil chan)"), GO_WAIT_NIL_CHAN, "nil recv");
	ASSERT_EQ(golayout__wait_class("chan send (nil chan)"), GO_WAIT_NIL_CHAN, "nil send");
	ASSERT_EQ(golayout__wait_class("select (no cases)"), GO_WAIT_SELECT_NONE, "select {}");
	ASSERT_EQ(golayout__wait_class("select"), GO_WAIT_CHAN, "select");
	ASSERT_EQ(golayout__wait_class("chan receive"), GO_WAIT_CHAN, "recv");
	ASSERT_EQ(golayout__wait_class("chan send (durable)"), GO_WAIT_CHAN, "durable send");
	ASSERT_EQ(golayout__wait_class("sync.Mutex.Lock"), GO_WAIT_SYNC, "mutex");
	ASSERT_EQ(golayout__wait_class("sync.WaitGroup.Wait"), GO_WAIT_SYNC, "waitgroup");
	ASSERT_EQ(golayout__wait_class("semacquire"), GO_WAIT_SEMA, "sema");
	ASSERT_EQ(golayout__wait_class("IO wait"), GO_WAIT_IO, "io");
	ASSERT_EQ(golayout__wait_class("sleep"), GO_WAIT_SLEEP, "sleep");
	ASSERT_EQ(golayout__wait_class("GC worker (idle)"), GO_WAIT_RUNTIME, "gc");
	ASSERT_EQ(golayout__wait_class(NULL), GO_WAIT_OTHER, "none");
}

TEST_MAIN()
