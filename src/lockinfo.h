/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a futex wait is waiting for, and who holds it, decided from the wait
 * itself (op, expected value, address) and a snapshot of the memory around
 * the futex word. Plain C, no I/O: owner.c reads the memory and checks that
 * a candidate owner is alive.
 *
 * glibc facts used here (x86-64, checked against 2.36; see DESIGN.md):
 *  - pthread_mutex_t: __lock at +0, __count +4, __owner +8, __nusers +12,
 *    __kind +16. Contended waiters sleep on __lock with the value 2; robust
 *    ones with owner-tid | FUTEX_WAITERS; PI ones use FUTEX_LOCK_PI and the
 *    kernel keeps the owner tid in the word itself.
 *  - pthread_rwlock_t: __readers +0, __wrphase_futex +8, __writers_futex
 *    +12, __cur_writer +24. Both futexes are waited on with the value 3
 *    (1 | PTHREAD_RWLOCK_FUTEX_USED); the lock is 8-byte aligned, so the
 *    address says which futex it is.
 *  - pthread_join waits on the target's struct pthread tid word, whose
 *    value is the target's tid until the kernel clears it at exit.
 */
#ifndef TANGLE_LOCKINFO_H
#define TANGLE_LOCKINFO_H

#include <stdbool.h>
#include <stdint.h>
#include "model.h"

/* Memory snapshot around a futex word: LOCKINFO_BEFORE bytes before it, LOCKINFO_AFTER from it. */
#define LOCKINFO_BEFORE 16
#define LOCKINFO_AFTER 40
#define LOCKINFO_SNAP (LOCKINFO_BEFORE + LOCKINFO_AFTER)

struct lock_guess {
	enum lock_kind kind;
	uint64_t lock_addr; /* start of the lock object (rwlock: before the futex word) */
	uint32_t owner_tid; /* candidate, 0 if none can be read */
	bool pshared; /* may be held by another process */
	bool robust;
	bool pi;
	bool owner_died; /* robust: FUTEX_OWNER_DIED already set */
	bool readers; /* rwlock held by readers: owner unknowable */
};

/*
 * Classify a wait. snap holds LOCKINFO_SNAP bytes starting at
 * w->addr - LOCKINFO_BEFORE, or is NULL when memory could not be read (then
 * only what the kernel vouches for, PI owners, is used... and even that needs
 * the word, so the result is LOCK_UNKNOWN).
 */
void lockinfo__classify(const struct wait *w, const uint8_t *snap, struct lock_guess *out);
/* Does classifying this wait need a memory snapshot at all? */
bool lockinfo__wants_memory(const struct wait *w);
const char *lock_kind_name(enum lock_kind k);

#endif
