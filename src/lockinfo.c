// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Every rule below must be specific enough that random memory does not pass
 * it: a wrong edge is a false deadlock report, which is worse than none.
 * When in doubt the answer is LOCK_UNKNOWN with no owner.
 */
#include <linux/futex.h>
#include <string.h>
#include "lockinfo.h"
#include "tangle_abi.h"

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

#define TID_MAX (1u << 22) /* PID_MAX_LIMIT on 64-bit */

/* glibc mutex __kind bits */
#define MUTEX_KIND_TYPE_MASK 0x3
#define MUTEX_KIND_ROBUST 0x10
#define MUTEX_KIND_PI 0x20
#define MUTEX_KIND_PP 0x40
#define MUTEX_KIND_PSHARED 0x80
#define MUTEX_KIND_ELISION 0x100 /* glibc's elision flags live above the type */
#define MUTEX_KIND_NO_ELISION 0x200

/* glibc rwlock __readers bits */
#define RWLOCK_WRLOCKED 0x2
#define RWLOCK_FUTEX_WAIT_VAL 3 /* 1 | PTHREAD_RWLOCK_FUTEX_USED */

static uint32_t u32_at(const uint8_t *snap, int off)
{
	uint32_t v;

	memcpy(&v, snap + LOCKINFO_BEFORE + off, sizeof(v));
	return v;
}

static bool plausible_tid(uint32_t tid)
{
	return tid > 0 && tid < TID_MAX;
}

bool lockinfo__wants_memory(const struct wait *w)
{
	uint32_t cmd = w->op & FUTEX_CMD_MASK;

	if (w->kind != WAIT_FUTEX || w->sys != TANGLE_SYS_FUTEX)
		return false;
	if (cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2)
		return true;
	if (cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET)
		return false;
	return w->expected == 2 || w->expected == RWLOCK_FUTEX_WAIT_VAL ||
	       (w->expected & FUTEX_WAITERS) || plausible_tid(w->expected);
}

static void classify_pi(const struct wait *w, const uint8_t *snap, struct lock_guess *g)
{
	uint32_t word = u32_at(snap, 0);
	uint32_t kind = u32_at(snap, 16);

	g->kind = LOCK_MUTEX;
	g->lock_addr = w->addr;
	g->pi = true;
	g->owner_tid = word & FUTEX_TID_MASK;
	g->owner_died = word & FUTEX_OWNER_DIED;
	g->pshared = !(w->op & FUTEX_PRIVATE_FLAG);
	g->robust = (kind & MUTEX_KIND_PI) && (kind & MUTEX_KIND_ROBUST);
}

/* A glibc mutex whose owner, user count and kind all look like one. */
static bool classify_mutex(const struct wait *w, const uint8_t *snap, struct lock_guess *g)
{
	uint32_t word = u32_at(snap, 0), owner = u32_at(snap, 8), nusers = u32_at(snap, 12);
	uint32_t kind = u32_at(snap, 16);
	uint32_t extra = kind & ~(MUTEX_KIND_TYPE_MASK | MUTEX_KIND_PSHARED | MUTEX_KIND_ELISION |
				  MUTEX_KIND_NO_ELISION);

	if (w->expected == 2) {
		/* plain (normal, recursive, error-checking, adaptive) mutex */
		if (word != 2 || extra || !plausible_tid(owner) || nusers == 0)
			return false;
	} else {
		/* robust, not PI: waiters sleep on owner | FUTEX_WAITERS */
		if (extra != MUTEX_KIND_ROBUST || (word & FUTEX_TID_MASK) != owner ||
		    (w->expected & FUTEX_TID_MASK) != owner || !plausible_tid(owner))
			return false;
		g->robust = true;
		g->owner_died = word & FUTEX_OWNER_DIED;
	}
	g->kind = LOCK_MUTEX;
	g->lock_addr = w->addr;
	g->owner_tid = owner;
	g->pshared = kind & MUTEX_KIND_PSHARED;
	return true;
}

static bool classify_rwlock(const struct wait *w, const uint8_t *snap, struct lock_guess *g)
{
	/* __wrphase_futex is 8-byte aligned, __writers_futex is not */
	int base = (w->addr & 7) == 0 ? -8 : -12;
	uint32_t readers, cur_writer;

	if ((w->addr & 3) || u32_at(snap, 0) != RWLOCK_FUTEX_WAIT_VAL)
		return false;
	readers = u32_at(snap, base);
	cur_writer = u32_at(snap, base + 24);
	g->kind = LOCK_RWLOCK;
	g->lock_addr = w->addr + base;
	g->pshared = !(w->op & FUTEX_PRIVATE_FLAG);
	if ((readers & RWLOCK_WRLOCKED) && plausible_tid(cur_writer)) {
		g->owner_tid = cur_writer;
	} else if (!(readers & RWLOCK_WRLOCKED) && cur_writer == 0) {
		g->readers = true; /* held for reading: no single owner */
	} else {
		memset(g, 0, sizeof(*g));
		return false;
	}
	return true;
}

void lockinfo__classify(const struct wait *w, const uint8_t *snap, struct lock_guess *g)
{
	uint32_t cmd = w->op & FUTEX_CMD_MASK;

	memset(g, 0, sizeof(*g));
	g->lock_addr = w->addr;
	if (!snap || !lockinfo__wants_memory(w))
		return;
	if (cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2) {
		classify_pi(w, snap, g);
		return;
	}
	if ((w->expected == 2 || (w->expected & FUTEX_WAITERS)) && classify_mutex(w, snap, g))
		return;
	if (w->expected == RWLOCK_FUTEX_WAIT_VAL && classify_rwlock(w, snap, g))
		return;
	if (plausible_tid(w->expected) && !(w->expected & FUTEX_WAITERS) &&
	    u32_at(snap, 0) == w->expected && w->expected > 3) {
		g->kind = LOCK_JOIN;
		g->owner_tid = w->expected;
		return;
	}
	memset(g, 0, sizeof(*g));
	g->lock_addr = w->addr;
}

const char *lock_kind_name(enum lock_kind k)
{
	switch (k) {
	case LOCK_MUTEX:
		return "mutex";
	case LOCK_RWLOCK:
		return "rwlock";
	case LOCK_JOIN:
		return "join";
	default:
		return "futex";
	}
}
