/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The evidence behind stuck-goroutine reports: godetect.h's reach callback,
 * answered from the target's memory (read only, no stop). For each Go
 * process with goroutines old enough to be candidates, once per snapshot:
 *  - what each blocked goroutine waits on (goobj.h);
 *  - whether any live goroutine or global can still reach it (goreach.h).
 *    "unreachable" is believed only when two runs at least a snapshot apart
 *    say so of the same wait, since one run can miss a reference that moved
 *    while it read;
 *  - for a sync.Mutex or RWMutex, whether the lock moved: its state word
 *    and semaphores, and whether any of its waiters left. One that stays
 *    locked and untouched with the same goroutines parked on it for
 *    stuck_after is "no progress": what reachability cannot show when the
 *    locks are globals (an AB-BA deadlock over two package-level mutexes).
 * The mark phase is the costly part (a few ms on a small program, ~60 ms at
 * 10,000 goroutines): it runs only when godetect asks about a candidate, and
 * at most 1/20 of the time (after a 60 ms run, not again for 1.2 s).
 */
#ifndef TANGLE_GOEVIDENCE_H
#define TANGLE_GOEVIDENCE_H

#include <stdint.h>
#include "godetect.h"
#include "gotrack.h"

struct goevidence;

/* proc_root: "/proc" normally; stuck_after_ns: how long a lock must stay still. */
struct goevidence *goevidence__new(const char *proc_root, uint64_t stuck_after_ns);
void goevidence__free(struct goevidence *e);
/* pid exited or exec'd. */
void goevidence__forget(struct goevidence *e, uint32_t pid);

/* godetect's reach callback: the evidence on goroutine g of gp's latest snapshot. */
enum go_reach goevidence__judge(struct goevidence *e, const struct go_process *gp,
				const struct goroutine *g, struct go_evidence *ev);

struct goevidence_stats {
	uint64_t runs; /* mark phases */
	uint64_t cpu_ns; /* spent in them and in reading waits */
	uint64_t failed; /* processes whose objects could not be read (see log) */
};
void goevidence__stats(const struct goevidence *e, struct goevidence_stats *st);

#endif
