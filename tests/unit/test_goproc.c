// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * When a goroutine's stack, sudogs and labels may be taken from the last
 * snapshot instead of read again (go_parked__same): only if it provably has
 * not run since, which the same saved context alone does not prove.
 */
#include "goproc.h"
#include "test.h"

static struct goroutine parked(void)
{
	return (struct goroutine){
		.g = 0xc000102000,
		.goid = 42,
		.status = GO_WAITING,
		.waitsince = 123456789,
		.sched_pc = 0x43a1b2,
		.sched_sp = 0xc000120f48,
		.sched_bp = 0xc000120f78,
		.stack_lo = 0xc000120000,
		.stack_hi = 0xc000121000,
		.waiting = 0xc000088000,
		.labels_ptr = 0xc0000a4010,
	};
}

static bool same(const struct goroutine *before, const struct goroutine *now)
{
	struct go_parked a, b;

	go_parked__of(before, &a);
	go_parked__of(now, &b);
	return go_parked__same(&a, &b);
}

TEST(parked_since_last_time)
{
	struct goroutine a = parked(), b = parked();

	ASSERT_TRUE(same(&a, &b), "unchanged, stamped by the GC");
	a.status = b.status = GO_RUNNABLE;
	ASSERT_TRUE(same(&a, &b), "readied but not run yet");
}

TEST(may_have_run)
{
	struct goroutine a = parked(), b;

	/* the GC has not seen it blocked: it may have run and parked at the same sp */
	a.waitsince = 0;
	b = a;
	ASSERT_FALSE(same(&a, &b), "no stamp");
	/* it ran (the scheduler zeroed the stamp) and a later GC stamped it again */
	a = parked();
	b = parked();
	b.waitsince += 1000;
	ASSERT_FALSE(same(&a, &b), "another stamp");
	b = parked();
	b.waitsince = 0;
	ASSERT_FALSE(same(&a, &b), "stamp cleared");
}

TEST(anything_else_changed)
{
	const struct goroutine a = parked();
	struct goroutine b;

#define CHANGED(field, value, what)               \
	do {                                      \
		b = a;                            \
		b.field = value;                  \
		ASSERT_FALSE(same(&a, &b), what); \
	} while (0)
	CHANGED(g, a.g + 0x1c0, "another g");
	CHANGED(goid, 43, "the g reused by another goroutine");
	CHANGED(status, GO_SYSCALL, "status");
	CHANGED(sched_sp, a.sched_sp - 0x40, "sp: parked elsewhere");
	CHANGED(sched_pc, a.sched_pc + 5, "pc");
	CHANGED(sched_bp, a.sched_bp + 0x20, "bp");
	CHANGED(stack_lo, 0xc000200000, "stack copied");
	CHANGED(stack_hi, 0xc000202000, "stack copied");
	CHANGED(waiting, 0, "sudogs");
	CHANGED(labels_ptr, 0xc0000a4050, "labels");
#undef CHANGED
}

TEST(running_never)
{
	struct goroutine a = parked(), b;

	a.status = GO_RUNNING;
	b = a;
	ASSERT_FALSE(same(&a, &b), "a running goroutine's stack moves under us");
}

TEST(syscall_context)
{
	struct goroutine a = parked(), b;

	a.status = GO_SYSCALL;
	a.syscall_pc = 0x47f000;
	a.syscall_sp = 0xc000120e00;
	a.syscall_bp = 0xc000120e30;
	b = a;
	ASSERT_TRUE(same(&a, &b), "same system call");
	b.syscall_sp -= 0x80;
	ASSERT_FALSE(same(&a, &b), "another system call");
	b = a;
	b.sched_sp -= 0x80; /* sched is stale in a system call: not compared */
	ASSERT_TRUE(same(&a, &b), "sched ignored in a system call");
}

TEST_MAIN()
