// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The pure logic of goobj/goreach: Go's pc-value encoding, the heap index
 * arithmetic, the layout table, and what counts as an object moving. What
 * needs a live process is in tests/test_goreach.py.
 */
#include <stdint.h>
#include "golayout_obj.h"
#include "goobj.h"
#include "goreach.h"
#include "goreach_funcs.h"
#include "test.h"

/* Zig-zag value deltas and pc deltas from (entry, -1), as the Go linker writes them. */
TEST(pcvalue_decodes)
{
	/* 0 on [e, e+10), 16 on [e+10, e+20), 8 on [e+20, e+35), then the end */
	static const uint8_t tab[] = { 0x02, 0x0a, 0x20, 0x0a, 0x0f, 0x0f, 0x00 };
	uint64_t e = 0x401000;
	int32_t v = 99;

	ASSERT_TRUE(go_pcvalue(tab, sizeof(tab), e, e, &v) && v == 0, "entry");
	ASSERT_TRUE(go_pcvalue(tab, sizeof(tab), e, e + 9, &v) && v == 0, "first run");
	ASSERT_TRUE(go_pcvalue(tab, sizeof(tab), e, e + 10, &v) && v == 16, "second run");
	ASSERT_TRUE(go_pcvalue(tab, sizeof(tab), e, e + 34, &v) && v == 8, "third run");
	ASSERT_FALSE(go_pcvalue(tab, sizeof(tab), e, e + 35, &v), "past the end");
}

TEST(pcvalue_multibyte_varints)
{
	/* +201 from -1 (zig-zag 402 = 0x92 0x03) over 300 bytes (0xac 0x02) */
	static const uint8_t tab[] = { 0x92, 0x03, 0xac, 0x02, 0x00 };
	int32_t v = 0;

	ASSERT_TRUE(go_pcvalue(tab, sizeof(tab), 0x1000, 0x1000 + 299, &v) && v == 200, "200");
	ASSERT_FALSE(go_pcvalue(tab, sizeof(tab), 0x1000, 0x1000 + 300, &v), "past it");
}

TEST(pcvalue_rejects_truncated)
{
	static const uint8_t tab[] = { 0x02, 0x8a }; /* a pc delta cut in the middle */
	int32_t v;

	ASSERT_FALSE(go_pcvalue(tab, sizeof(tab), 0x1000, 0x1000, &v), "truncated");
	ASSERT_FALSE(go_pcvalue(tab, 0, 0x1000, 0x1000, &v), "empty");
}

TEST(arena_index)
{
	/* arenaIndex(p) = (p - arenaBaseOffset) / 64 MiB, arenaBaseOffset = -1 << 47 */
	ASSERT_EQ(goreach_arena_index(0xc000000000ull), (0xc000000000ull + (1ull << 47)) >> 26,
		  "0xc000000000");
	ASSERT_EQ(goreach_arena_index(0), (1ull << 47) >> 26, "0");
	ASSERT_TRUE(goreach_arena_index(0x7fffffffffffull) < GO_ARENA_L2_ENTRIES, "top of user");
	/* the index covers [-2^47, 2^47): user addresses are its upper half */
	ASSERT_TRUE(goreach_arena_index(0xffffffff81000000ull) < (1ull << 21), "kernel half");
	ASSERT_TRUE(goreach_arena_index(0x10000) >= (1ull << 21), "user half");
	ASSERT_EQ(goreach_arena_page(0xc000000000ull), 0, "first page");
	ASSERT_EQ(goreach_arena_page(0xc000002000ull + 5), 1, "second page");
	ASSERT_EQ(goreach_arena_page(0xc003ffe000ull), 8191, "last page");
	ASSERT_EQ(goreach_arena_page(0xc004000000ull), 0, "next arena");
}

TEST(object_base)
{
	ASSERT_EQ(goreach_object_base(0x1000, 48, 0x1000), 0x1000, "first object");
	ASSERT_EQ(goreach_object_base(0x1000, 48, 0x1000 + 47), 0x1000, "its last byte");
	ASSERT_EQ(goreach_object_base(0x1000, 48, 0x1000 + 100), 0x1000 + 96, "interior");
	ASSERT_EQ(goreach_object_base(0x2000, 81920, 0x2000 + 70000), 0x2000, "large");
}

TEST(layout_table)
{
	struct go_obj_layout l;

	ASSERT_TRUE(golayout_obj__table(19, &l) != 0, "1.19 unknown");
	ASSERT_TRUE(golayout_obj__table(27, &l) != 0, "1.27 unknown");
	for (int m = 20; m <= 26; m++) {
		if (!ASSERT_OK(golayout_obj__table(m, &l), "row"))
			continue;
		ASSERT_EQ(l.minor, m, "minor");
		ASSERT_STREQ(l.source, "table", "source");
		ASSERT_TRUE(l.chan_sendq > l.chan_recvq && l.chan_size > l.chan_sendq,
			    "hchan order");
		ASSERT_TRUE(l.sudog_c > l.sudog_waitlink, "sudog order");
		ASSERT_EQ(l.heap_bits, m >= 22, "allocation headers from 1.22");
		ASSERT_EQ(l.wg_waiter_mask, m >= 25 ? 0x7fffffffu : 0xffffffffu, "wait count bits");
	}
	golayout_obj__table(22, &l);
	ASSERT_EQ(l.chan_sendq, 72, "1.22 hchan.sendq");
	ASSERT_EQ(l.sudog_c, 80, "1.22 sudog.c");
	ASSERT_EQ(l.mheap_arenas, 66008, "1.22 mheap.arenas");
	ASSERT_EQ(l.arena_spans, 0, "1.22 heapArena.spans");
	ASSERT_EQ(l.md_gcdatamask, 536, "1.22 moduledata.gcdatamask");
	ASSERT_EQ(l.defer_link, 32, "1.22 _defer.link");
	ASSERT_EQ(l.kind_gcprog, 0x40, "1.22 GC programs");
	golayout_obj__table(26, &l);
	ASSERT_EQ(l.chan_sendq, 80, "1.26 hchan.sendq");
	ASSERT_EQ(l.sudog_c, 88, "1.26 sudog.c");
	ASSERT_EQ(l.sudog_ptr_adjust, 8, "1.26 maybeTraceablePtr");
	ASSERT_EQ(l.md_gcdatamask, 544, "1.26 moduledata.gcdatamask");
	ASSERT_EQ(l.tflag_mask_on_demand, 0x10, "1.26 on-demand masks");
	golayout_obj__table(20, &l);
	ASSERT_EQ(l.mheap_arenas, 65904, "1.20 mheap.arenas");
	ASSERT_EQ(l.arena_spans, 1064960, "1.20 heapArena.spans");
	ASSERT_EQ(l.span_nelems_size, 8, "1.20 nelems is a uintptr");
	golayout_obj__table(21, &l);
	ASSERT_EQ(l.span_elemsize, 112, "1.21 mspan.elemsize");
	ASSERT_EQ(l.span_state, 107, "1.21 mspan.state");
}

static struct go_obj_state chan_state(uint64_t q, uint64_t sx, uint64_t rx, bool recvq_empty)
{
	struct go_obj_state s = { .kind = GO_KIND_CHAN, .addr = 0x1000, .ok = true };

	s.chan.qcount = q;
	s.chan.dataqsiz = 8;
	s.chan.sendx = sx;
	s.chan.recvx = rx;
	s.chan.recvq_empty = recvq_empty;
	return s;
}

TEST(moved_channel)
{
	struct go_obj_state a = chan_state(0, 2, 2, false), b = a;

	ASSERT_FALSE(go_obj_state__moved(&a, &b), "same");
	b.chan.recvq_empty = true; /* a waiter left or came: not progress by itself */
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "queue only");
	b = chan_state(1, 3, 2, false);
	ASSERT_TRUE(go_obj_state__moved(&a, &b), "a send");
	b = a;
	b.chan.closed = true;
	ASSERT_TRUE(go_obj_state__moved(&a, &b), "closed");
	b = a;
	b.ok = false;
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "unread");
	b = a;
	b.addr = 0x2000;
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "another object");
}

TEST(moved_sync)
{
	struct go_obj_state a = { .kind = GO_KIND_MUTEX, .addr = 0x1000, .ok = true }, b;

	a.mutex.state = 1 | (2 << 3); /* locked, two waiters */
	b = a;
	b.mutex.state = 1 | (3 << 3);
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "one more waiter");
	b.mutex.state = 0 | (3 << 3);
	ASSERT_TRUE(go_obj_state__moved(&a, &b), "unlocked");

	a = (struct go_obj_state){ .kind = GO_KIND_WAITGROUP, .addr = 0x1000, .ok = true };
	a.wg.counter = 2;
	a.wg.waiters = 1;
	b = a;
	b.wg.waiters = 2;
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "another waiter");
	b.wg.counter = 1;
	ASSERT_TRUE(go_obj_state__moved(&a, &b), "Done");

	a = (struct go_obj_state){ .kind = GO_KIND_COND, .addr = 0x1000, .ok = true };
	a.cond.wait = 5;
	a.cond.notify = 3;
	b = a;
	b.cond.wait = 6;
	ASSERT_FALSE(go_obj_state__moved(&a, &b), "another Wait");
	b.cond.notify = 4;
	ASSERT_TRUE(go_obj_state__moved(&a, &b), "Signal");
}

TEST(names)
{
	ASSERT_STREQ(goreach_verdict_name(GOREACH_UNREACHABLE), "unreachable", "unreachable");
	ASSERT_STREQ(goreach_verdict_name(GOREACH_REACHABLE), "reachable", "reachable");
	ASSERT_STREQ(goreach_verdict_name(GOREACH_UNKNOWN), "unknown", "unknown");
	ASSERT_STREQ(go_obj_kind_name(GO_KIND_WAITGROUP), "waitgroup", "waitgroup");
	ASSERT_STREQ(go_obj_kind_name((enum go_obj_kind)99), "?", "out of range");
}

TEST_MAIN()
