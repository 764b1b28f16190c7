/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stuck and leaked goroutines, found over the goroutine snapshots gotrack
 * keeps of each Go process (no pause, no code change in the target). Three
 * rules, each a kind of group:
 *  - leaked: goroutines that can never wake by construction: a receive or
 *    send on a nil channel, `select {}` (except the main goroutine parking
 *    for good, the usual end of a server's main), and the runtime's own
 *    "leaked" status (go1.26 leak profile);
 *  - stuck: goroutines parked on a channel, a select or a sync object for at
 *    least stuck_after (a second, for waits already there when tangle
 *    first looked), in the same place all along, whose object the evidence
 *    callback says no live goroutine can reach any more (so nothing can ever
 *    wake them), or, for a lock, has not moved while it looked; without such
 *    a verdict nothing is reported;
 *  - growing: goroutines created at one site and parked at one site whose
 *    number keeps growing over growth_window (a leak in progress, as Uber's
 *    LeakProf reports it in production), whatever the evidence says.
 * Not considered at all: the runtime's own goroutines, IO wait, sleep,
 * timers, syscalls, running and runnable goroutines.
 *
 * Members are grouped per process by (rule, wait reason, blocking site),
 * like pprof's debug=1 view, so 10,000 identical leaked goroutines are one
 * group with a count. A group keeps its id while it lasts and is reported
 * when it appears, when its members change, and when it dissolves. Plain C
 * without I/O.
 */
#ifndef TANGLE_GODETECT_H
#define TANGLE_GODETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gotrack.h"

enum go_group_kind {
	GO_GROUP_LEAKED,
	GO_GROUP_STUCK,
	GO_GROUP_GROWING,
};

/* What the evidence says of the object a goroutine waits on. */
enum go_reach {
	GO_REACH_UNKNOWN, /* not examined, or the budget ran out */
	GO_REACH_REACHABLE, /* a live goroutine or a global can still get to it */
	GO_REACH_UNREACHABLE, /* only the goroutines blocked on it hold it */
	/*
	 * A sync.Mutex or RWMutex reachable (a global, say) but locked and
	 * untouched, its waiters parked, for as long as the evidence looked:
	 * the holder never lets go (an AB-BA deadlock, or a lock taken again).
	 */
	GO_REACH_NO_PROGRESS,
};

/* The evidence on one goroutine: the object it waits on, and the verdict. */
struct go_evidence {
	enum go_reach reach;
	const char *object; /* "chan", "sync.Mutex"...: a static string, or NULL */
	uint64_t addr; /* the object's address in the process, 0 if unknown */
	uint64_t still_ns; /* NO_PROGRESS: untouched for this long */
};

struct go_member {
	uint64_t goid;
	size_t index; /* in the process's latest snapshot */
	uint64_t blocked_ns; /* in this state, as of the detection */
	bool at_least; /* already so when tangle first looked */
	struct go_evidence evidence; /* stuck members: why */
};

struct go_group {
	uint64_t id;
	enum go_group_kind kind;
	uint32_t pid;
	uint64_t key; /* (pid, kind, wait reason, site): the same while the group lasts */
	char reason[48]; /* the wait reason of its members */
	uint64_t site_pc; /* a pc at the blocking site (the first member's) */
	uint64_t detected_ns;
	uint64_t resolved_ns; /* 0 while it lasts */
	unsigned int revision; /* bumped when the member set changes */
	size_t count; /* members */
	struct go_member *members; /* at most GODETECT_MAX_MEMBERS, longest blocked first */
	/* growing: how the count went over the window */
	size_t grown_from;
	uint64_t grown_over_ns;
};

#define GO_STUCK_AFTER_NS 5000000000ull /* the default stuck_after */
#define GODETECT_MAX_MEMBERS 1000 /* listed per group; count says how many in all */

struct godetect_opts {
	uint64_t stuck_after_ns; /* a wait must be at least this old (GO_STUCK_AFTER_NS) */
	uint64_t growth_window_ns; /* growing: over at least this long (default 30 s) */
	size_t growth_min; /* growing: by at least this many (default 10) */
	/*
	 * The evidence on goroutine g of gp (ev zeroed by the caller); NULL:
	 * none, so no stuck groups. Asked only of candidates old enough.
	 */
	enum go_reach (*reach)(const struct go_process *gp, const struct goroutine *g,
			       struct go_evidence *ev, void *ctx);
	/*
	 * Which blocking site g is parked at, as a key (a pc, with the inline
	 * depth folded in); 0 if it has no stack. NULL: the innermost pc.
	 */
	uint64_t (*site)(const struct go_process *gp, const struct goroutine *g, void *ctx);
	/* a new group id (shared with the thread detector's); NULL: 1, 2, 3, ... */
	uint64_t (*new_id)(void *ctx);
	void *ctx;
};

/* Called for every new, changed or resolved group (g->resolved_ns != 0). */
typedef void (*godetect_fn)(const struct go_group *g, const struct go_process *gp, void *ctx);

struct godetect;

struct godetect *godetect__new(const struct godetect_opts *o, godetect_fn fn, void *ctx);
void godetect__free(struct godetect *d);
/* gp has a new snapshot (taken at gp->snap.ts_ns): judge it. 0 or -ENOMEM. */
int godetect__process(struct godetect *d, const struct go_process *gp);
/* gp is gone (exited, exec'd): its groups are resolved. */
void godetect__forget(struct godetect *d, uint32_t pid, uint64_t now_ns);
size_t godetect__nr_groups(const struct godetect *d);
const struct go_group *godetect__group(const struct godetect *d, size_t i);
/* Groups ever reported. */
size_t godetect__nr_reported(const struct godetect *d);

const char *go_group_kind_name(enum go_group_kind k);
/* "unknown", "reachable", "unreachable", "no_progress" */
const char *go_reach_name(enum go_reach r);

#endif
