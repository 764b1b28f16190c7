// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Classification of futex waits from memory snapshots laid out exactly as
 * glibc lays out its locks (values taken from real waits on this machine).
 */
#include <linux/futex.h>
#include <string.h>
#include "lockinfo.h"
#include "test.h"

struct snap {
	uint8_t b[LOCKINFO_SNAP];
};

/* Put a u32 at offset off from the futex word. */
static void put(struct snap *s, int off, uint32_t v)
{
	memcpy(s->b + LOCKINFO_BEFORE + off, &v, sizeof(v));
}

static struct wait futex_wait(uint64_t addr, uint32_t op, uint32_t expected)
{
	return (struct wait){ .kind = WAIT_FUTEX,
			      .sys = TANGLE_SYS_FUTEX,
			      .addr = addr,
			      .op = op,
			      .expected = expected };
}

TEST(plain_mutex)
{
	struct wait w = futex_wait(0x5000, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2);
	struct snap s = {};
	struct lock_guess g;

	put(&s, 0, 2); /* __lock: contended */
	put(&s, 8, 4242); /* __owner */
	put(&s, 12, 1); /* __nusers */
	put(&s, 16, 0); /* __kind: normal */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_MUTEX, "kind");
	ASSERT_EQ(g.owner_tid, 4242, "owner");
	ASSERT_EQ(g.lock_addr, 0x5000, "addr");
	ASSERT_FALSE(g.pshared, "private");

	put(&s, 16, 1 | 0x80); /* recursive, process-shared */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_MUTEX, "recursive pshared kind");
	ASSERT_TRUE(g.pshared, "pshared");
}

TEST(mutex_rules_reject_lookalikes)
{
	struct wait w = futex_wait(0x5000, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2);
	struct snap s = {};
	struct lock_guess g;

	put(&s, 0, 2);
	put(&s, 8, 4242);
	put(&s, 12, 0); /* no users: not a held mutex */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "nusers 0");
	ASSERT_EQ(g.owner_tid, 0, "no owner");

	put(&s, 12, 1);
	put(&s, 16, 0x1234); /* nonsense kind */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "bad kind");

	put(&s, 16, 0);
	put(&s, 0, 1); /* word no longer contended: the wait is ending */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "word changed");

	put(&s, 0, 2);
	put(&s, 8, 0); /* no owner */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.owner_tid, 0, "owner 0");

	lockinfo__classify(&w, NULL, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "unreadable memory");
}

TEST(robust_mutex)
{
	uint32_t owner = 7430;
	struct wait w = futex_wait(0x6000, FUTEX_WAIT, owner | FUTEX_WAITERS);
	struct snap s = {};
	struct lock_guess g;

	put(&s, 0, owner | FUTEX_WAITERS);
	put(&s, 8, owner);
	put(&s, 12, 1);
	put(&s, 16, 0x10); /* PTHREAD_MUTEX_ROBUST_NORMAL_NP */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_MUTEX, "kind");
	ASSERT_TRUE(g.robust, "robust");
	ASSERT_EQ(g.owner_tid, owner, "owner");
	ASSERT_FALSE(g.owner_died, "alive");

	put(&s, 8, owner + 1); /* __owner disagrees with the word */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "inconsistent owner");
}

TEST(pi_mutex_owner_from_word)
{
	struct wait w = futex_wait(0x7000, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG, 0);
	struct snap s = {};
	struct lock_guess g;

	put(&s, 0, 5555 | FUTEX_WAITERS);
	put(&s, 16, 0x20);
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_MUTEX, "kind");
	ASSERT_TRUE(g.pi, "pi");
	ASSERT_EQ(g.owner_tid, 5555, "owner from the futex word");

	w.op = FUTEX_LOCK_PI; /* shared */
	put(&s, 0, 5555 | FUTEX_OWNER_DIED);
	lockinfo__classify(&w, s.b, &g);
	ASSERT_TRUE(g.pshared, "shared PI");
	ASSERT_TRUE(g.owner_died, "owner died bit");
}

TEST(rwlock_reader_and_writer)
{
	/* rwlock at 0x8000: readers +0, wrphase +8, writers +12, cur_writer +24 */
	struct wait reader = futex_wait(0x8008, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 3);
	struct wait writer = futex_wait(0x800c, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 3);
	struct snap s = {};
	struct lock_guess g;

	/* reader's view: futex word at +8 */
	put(&s, 0, 3);
	put(&s, -8, 0x1 | 0x2); /* WRPHASE | WRLOCKED */
	put(&s, 16, 777); /* cur_writer at base+24 = word+16 */
	lockinfo__classify(&reader, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_RWLOCK, "reader kind");
	ASSERT_EQ(g.lock_addr, 0x8000, "reader lock addr");
	ASSERT_EQ(g.owner_tid, 777, "reader owner");

	/* writer's view: futex word at +12 */
	memset(&s, 0, sizeof(s));
	put(&s, 0, 3);
	put(&s, -12, 0x1 | 0x2);
	put(&s, 12, 888); /* base+24 = word+12 */
	lockinfo__classify(&writer, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_RWLOCK, "writer kind");
	ASSERT_EQ(g.lock_addr, 0x8000, "writer lock addr");
	ASSERT_EQ(g.owner_tid, 888, "writer owner");

	/* held by readers: an rwlock, but nobody to blame */
	memset(&s, 0, sizeof(s));
	put(&s, 0, 3);
	put(&s, -12, 3 << 3); /* three readers */
	lockinfo__classify(&writer, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_RWLOCK, "read-held kind");
	ASSERT_TRUE(g.readers, "readers");
	ASSERT_EQ(g.owner_tid, 0, "no single owner");
}

TEST(join)
{
	struct wait w = futex_wait(0x7f0000000990, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 7431);
	struct snap s = {};
	struct lock_guess g;

	put(&s, 0, 7431);
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_JOIN, "kind");
	ASSERT_EQ(g.owner_tid, 7431, "target");

	put(&s, 0, 0); /* the kernel cleared it: the thread exited */
	lockinfo__classify(&w, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "exited target");
}

TEST(ownerless_waits)
{
	struct snap s = {};
	struct lock_guess g;
	struct wait cond = futex_wait(0x9028, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0);
	struct wait waitv = {
		.kind = WAIT_FUTEX, .sys = TANGLE_SYS_FUTEX_WAITV, .addr = 0x10, .expected = 2
	};

	ASSERT_FALSE(lockinfo__wants_memory(&cond), "condvar/semaphore: value 0");
	lockinfo__classify(&cond, s.b, &g);
	ASSERT_EQ(g.kind, LOCK_UNKNOWN, "cond");
	ASSERT_FALSE(lockinfo__wants_memory(&waitv), "futex_waitv: other runtimes");
	ASSERT_STREQ(lock_kind_name(LOCK_UNKNOWN), "futex", "name");
	ASSERT_STREQ(lock_kind_name(LOCK_JOIN), "join", "name");
}

TEST_MAIN()
