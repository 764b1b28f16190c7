// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The dashboard's data, without curses: snapshots of a synthetic model with a
 * confirmed AB-BA deadlock and bystanders, the per-view tables (cells, sort
 * orders, matching), and the two string helpers every drawn name and time
 * goes through (term_escape, snap_duration).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "gotrack.h"
#include "model.h"
#include "symbols.h"
#include "tui/snapshot.h"
#include "test.h"

#define MS 1000000ull
#define T0 (10000 * MS)
#define NOW (T0 + 500 * MS)

/*
 * pid 100 "app": 100 runs; 101 and 102 deadlock (101 holds lock_a, waits for
 *   lock_b; 102 the reverse); 103 waits on EVIL (a lock whose symbol name
 *   holds an escape sequence), held by 104, which runs.
 * pid 200 "x\e]0;t\a" (a hostile name): 200 sleeps; 201 and 202 wait on a
 *   condvar-like word 0x5000 with no owner; 203 waits on a word at 0x1000,
 *   the same address as lock_a in pid 100 (forked workers share addresses).
 */
#define LOCK_A 0x1000
#define LOCK_B 0x2000
#define EVIL 0x3000
#define CONDVAR 0x5000
#define HOSTILE_COMM "x\x1b]0;t\x07"

/* Doubles computed from exact figures: equal up to rounding (no libm: units link without it). */
static bool near(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

struct world {
	struct model *m;
	struct detector *d;
};

static void on_group(const struct stuck_group *g, void *ctx)
{
	(void)g;
	(void)ctx;
}

/* Lock places as the session would give them: symbols without a module, one region. */
static const struct addr_place *symbol_of(uint32_t pid, uint64_t addr, void *ctx)
{
	static const struct addr_place a = { .symbol = "lock_a" }, b = { .symbol = "lock_b" },
				       evil = { .symbol = "evil\x1b[31m" },
				       stack = { .region = "stack of thread 200" };

	(void)ctx;
	if (pid == 200)
		return addr == CONDVAR ? &stack : NULL;
	if (pid != 100)
		return NULL;
	switch (addr) {
	case LOCK_A:
		return &a;
	case LOCK_B:
		return &b;
	case EVIL:
		return &evil;
	default:
		return NULL;
	}
}

static void add(struct world *w, uint32_t pid, uint32_t tid, const char *comm, uint8_t state)
{
	model__thread_new(w->m, T0, pid, tid, comm, ORIGIN_PROC, 0, 0, state);
}

/* tid (named comm) waits, untimed, on addr; its owner is owner_tid in state st. */
static void wait_on(struct world *w, uint32_t pid, uint32_t tid, const char *comm, uint64_t addr,
		    enum lock_kind kind, uint32_t owner_tid, enum owner_state st)
{
	struct wait wt = { .kind = WAIT_FUTEX, .addr = addr, .expected = 2, .since_ns = T0 };
	struct lock_owner o = { .kind = kind,
				.state = st,
				.lock_addr = addr,
				.owner_tid = owner_tid,
				.owner_pid = pid,
				.wait_since_ns = T0,
				.checked_ns = T0 + 200 * MS };

	model__wait_begin(w->m, T0, pid, tid, comm, &wt);
	model__set_owner(w->m, tid, &o);
}

/* One finished wait of tid on addr, blocked for ns. */
static void finished_wait(struct world *w, uint32_t pid, uint32_t tid, const char *comm,
			  uint64_t addr, uint64_t at, uint64_t ns)
{
	struct wait wt = { .kind = WAIT_FUTEX, .addr = addr, .expected = 0, .since_ns = at - ns };

	model__wait_begin(w->m, at - ns, pid, tid, comm, &wt);
	model__wait_end(w->m, at, pid, tid, comm, &wt, at - ns, 0);
}

/* The world above; without the twin, pid 200 has no word at lock_a's address. */
static bool world_init_with(struct world *w, bool twin)
{
	struct detect_opts o = { .min_wait_ns = 100 * MS };

	w->m = model__new(NULL, NULL);
	w->d = detector__new(&o, on_group, NULL);
	if (!ASSERT_TRUE(w->m && w->d, "model and detector"))
		return false;
	add(w, 100, 100, "app", TANGLE_TS_RUNNING);
	add(w, 100, 101, "worker-a", TANGLE_TS_SLEEPING);
	add(w, 100, 102, "worker-b", TANGLE_TS_SLEEPING);
	add(w, 100, 103, "Waiter", TANGLE_TS_SLEEPING);
	add(w, 100, 104, "holder", TANGLE_TS_RUNNING);
	add(w, 200, 200, HOSTILE_COMM, TANGLE_TS_SLEEPING);
	add(w, 200, 201, "cv-1", TANGLE_TS_SLEEPING);
	add(w, 200, 202, "cv-2", TANGLE_TS_SLEEPING);
	if (twin)
		add(w, 200, 203, "twin", TANGLE_TS_SLEEPING);
	wait_on(w, 100, 101, "worker-a", LOCK_B, LOCK_MUTEX, 102, OWNER_LIVE);
	wait_on(w, 100, 102, "worker-b", LOCK_A, LOCK_MUTEX, 101, OWNER_LIVE);
	wait_on(w, 100, 103, "Waiter", EVIL, LOCK_MUTEX, 104, OWNER_LIVE);
	wait_on(w, 200, 201, "cv-1", CONDVAR, LOCK_UNKNOWN, 0, OWNER_NONE);
	wait_on(w, 200, 202, "cv-2", CONDVAR, LOCK_UNKNOWN, 0, OWNER_NONE);
	if (twin)
		wait_on(w, 200, 203, "twin", LOCK_A, LOCK_UNKNOWN, 0, OWNER_NONE);
	/* two runs a tick apart confirm the group */
	detector__run(w->d, w->m, T0 + 300 * MS);
	detector__run(w->d, w->m, T0 + 400 * MS);
	return ASSERT_EQ(detector__nr_groups(w->d), 1, "the AB-BA group is confirmed");
}

static bool world_init(struct world *w)
{
	return world_init_with(w, true);
}

static void world_free(struct world *w)
{
	detector__free(w->d);
	model__free(w->m);
}

static const struct thread_row *thread_row(const struct snapshot *s, uint32_t tid)
{
	for (size_t i = 0; i < s->nr_threads; i++)
		if (s->threads[i].tid == tid)
			return &s->threads[i];
	return NULL;
}

static const struct proc_row *proc_row(const struct snapshot *s, uint32_t pid)
{
	for (size_t i = 0; i < s->nr_procs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

static const struct lock_row *lock_row(const struct snapshot *s, uint32_t pid, uint64_t addr)
{
	for (size_t i = 0; i < s->nr_locks; i++)
		if (s->locks[i].pid == pid && s->locks[i].addr == addr)
			return &s->locks[i];
	return NULL;
}

static size_t thread_index(const struct snapshot *s, uint32_t tid)
{
	const struct thread_row *r = thread_row(s, tid);

	return r ? (size_t)(r - s->threads) : (size_t)-1;
}

/* ---- snapshot__take ---- */

TEST(thread_rows)
{
	struct world w;
	struct snapshot *s = NULL;
	const struct thread_row *r;
	uint64_t gid;

	if (!world_init(&w))
		goto cleanup;
	gid = detector__group(w.d, 0)->id;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	ASSERT_EQ(s->ts_ns, NOW, "timestamp");
	ASSERT_EQ(s->nr_threads, 9, "every thread");
	ASSERT_EQ(s->running, 2, "header: running");
	ASSERT_EQ(s->blocked, 7, "header: blocked");

	r = thread_row(s, 101);
	if (ASSERT_TRUE(r, "row of 101")) {
		ASSERT_EQ(r->pid, 100, "101: pid");
		ASSERT_STREQ(r->comm, "worker-a", "101: comm");
		ASSERT_TRUE(r->waiting, "101: waiting");
		ASSERT_EQ(r->group_id, gid, "101: in the group");
		ASSERT_EQ(r->owner_tid, 102, "101: owner");
		ASSERT_EQ(r->kind, LOCK_MUTEX, "101: kind");
		ASSERT_EQ(r->addr, LOCK_B, "101: lock");
		ASSERT_STREQ(r->place, "lock_b", "101: symbol");
		ASSERT_TRUE(r->place_is_symbol, "101: a symbol");
		ASSERT_EQ(r->wait_ns, 500 * MS, "101: waiting for 500 ms");
		ASSERT_FALSE(r->owner_exited, "101: owner alive");
	}
	r = thread_row(s, 102);
	if (ASSERT_TRUE(r, "row of 102")) {
		ASSERT_EQ(r->group_id, gid, "102: in the group");
		ASSERT_EQ(r->owner_tid, 101, "102: owner");
		ASSERT_STREQ(r->place, "lock_a", "102: symbol");
	}
	r = thread_row(s, 103);
	if (ASSERT_TRUE(r, "row of 103")) {
		ASSERT_EQ(r->group_id, 0, "103 waits on a running owner: not stuck");
		ASSERT_EQ(r->owner_tid, 104, "103: owner");
		ASSERT_EQ(r->kind, LOCK_MUTEX, "103: kind");
		ASSERT_STREQ(r->place, "evil\\x1b[31m", "103: the symbol is escaped");
	}
	r = thread_row(s, 104);
	if (ASSERT_TRUE(r, "row of 104")) {
		ASSERT_FALSE(r->waiting, "104 runs");
		ASSERT_EQ(r->owner_tid, 0, "104: no owner");
		ASSERT_EQ(r->group_id, 0, "104: not stuck");
		ASSERT_EQ(r->state, TANGLE_TS_RUNNING, "104: state");
	}
	r = thread_row(s, 201);
	if (ASSERT_TRUE(r, "row of 201")) {
		ASSERT_TRUE(r->waiting, "201 waits");
		ASSERT_EQ(r->kind, LOCK_UNKNOWN, "201: no lock kind");
		ASSERT_EQ(r->owner_tid, 0, "201: no owner");
		ASSERT_EQ(r->group_id, 0, "201: not stuck");
		ASSERT_STREQ(r->place, "stack of thread 200", "201: the region");
		ASSERT_FALSE(r->place_is_symbol, "201: a region, not a symbol");
	}
	r = thread_row(s, 200);
	if (ASSERT_TRUE(r, "row of 200"))
		ASSERT_STREQ(r->comm, "x\\x1b]0;t\\x07", "200: the name is escaped");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(process_rows)
{
	struct world w;
	struct snapshot *s = NULL;
	const struct proc_row *p;

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	ASSERT_EQ(s->nr_procs, 2, "two processes");
	p = proc_row(s, 100);
	if (ASSERT_TRUE(p, "row of 100")) {
		ASSERT_STREQ(p->comm, "app", "100: comm");
		ASSERT_EQ(p->threads, 5, "100: threads");
		ASSERT_EQ(p->running, 2, "100: running");
		ASSERT_EQ(p->runnable, 0, "100: runnable");
		ASSERT_EQ(p->blocked, 3, "100: blocked");
		ASSERT_EQ(p->stuck, 2, "100: stuck members");
		ASSERT_EQ(p->longest_wait_ns, 500 * MS, "100: longest wait");
		ASSERT_TRUE(near(p->blocked_share, 0.6), "100: 3 of 5 threads blocked");
	}
	p = proc_row(s, 200);
	if (ASSERT_TRUE(p, "row of 200")) {
		ASSERT_STREQ(p->comm, "x\\x1b]0;t\\x07", "200: comm escaped");
		ASSERT_EQ(p->threads, 4, "200: threads");
		ASSERT_EQ(p->blocked, 4, "200: blocked");
		ASSERT_EQ(p->stuck, 0, "200: nothing stuck");
		ASSERT_TRUE(near(p->blocked_share, 1.0), "200: always blocked");
	}
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(lock_rows)
{
	struct world w;
	struct snapshot *s = NULL;
	const struct lock_row *l;

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	ASSERT_EQ(s->nr_locks, 5, "five futex words with waiters");
	l = lock_row(s, 200, CONDVAR);
	if (ASSERT_TRUE(l, "the condvar word")) {
		ASSERT_EQ(l->waiters, 2, "condvar: two waiters");
		ASSERT_EQ(l->owner_tid, 0, "condvar: no owner");
		ASSERT_EQ(l->kind, LOCK_UNKNOWN, "condvar: kind");
	}
	l = lock_row(s, 100, LOCK_B);
	if (ASSERT_TRUE(l, "lock_b")) {
		ASSERT_EQ(l->waiters, 1, "lock_b: one waiter");
		ASSERT_EQ(l->owner_tid, 102, "lock_b: held by 102");
		ASSERT_EQ(l->kind, LOCK_MUTEX, "lock_b: kind");
		ASSERT_STREQ(l->place, "lock_b", "lock_b: symbol");
		ASSERT_TRUE(l->contentions_per_s == 0, "no rate without a previous snapshot");
	}
	l = lock_row(s, 200, LOCK_A);
	if (ASSERT_TRUE(l, "pid 200's word at lock_a's address")) {
		ASSERT_EQ(l->waiters, 1, "twin: one waiter");
		ASSERT_STREQ(l->place, "", "twin: pid 100's symbol is not pid 200's");
	}
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(group_rows)
{
	struct world w;
	struct snapshot *s = NULL;
	const struct stuck_group *g;
	const struct group_row *r;
	char first[64];
	size_t len, flen;

	if (!world_init(&w))
		goto cleanup;
	g = detector__group(w.d, 0);
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take") || !ASSERT_EQ(s->nr_groups, 1, "one group row"))
		goto cleanup;
	r = &s->groups[0];
	ASSERT_EQ(r->id, g->id, "id");
	ASSERT_EQ(r->kind, GROUP_DEADLOCK, "kind");
	ASSERT_EQ(r->nr_members, 2, "members");
	ASSERT_EQ(r->age_ns, NOW - g->detected_ns, "age");
	ASSERT_TRUE(strstr(r->chain, "101 (worker-a) --mutex 0x2000(lock_b)--> "),
		    "chain: 101 waits for lock_b");
	ASSERT_TRUE(strstr(r->chain, "102 (worker-b) --mutex 0x1000(lock_a)--> "),
		    "chain: 102 waits for lock_a");
	/* the cycle closes on the thread it started from */
	snprintf(first, sizeof(first), "%u (%s)", g->members[0].tid,
		 g->members[0].tid == 101 ? "worker-a" : "worker-b");
	len = strlen(r->chain);
	flen = strlen(first);
	ASSERT_TRUE(strncmp(r->chain, first, flen) == 0, "chain starts with the first member");
	ASSERT_TRUE(len > flen && strcmp(r->chain + len - flen, first) == 0,
		    "chain ends with the first member");
	ASSERT_TRUE(!strcmp(r->members, "101,102") || !strcmp(r->members, "102,101"),
		    "member list");
	if (test__failures)
		printf("  chain: \"%s\"\n", r->chain);
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(abandoned_group_row)
{
	struct detect_opts o = { .min_wait_ns = 100 * MS };
	struct world w = { model__new(NULL, NULL), detector__new(&o, on_group, NULL) };
	struct snapshot *s = NULL;

	if (!ASSERT_TRUE(w.m && w.d, "model and detector"))
		goto cleanup;
	add(&w, 1, 2, "orphan", TANGLE_TS_SLEEPING);
	wait_on(&w, 1, 2, "orphan", 0x40, LOCK_MUTEX, 99, OWNER_DEAD);
	detector__run(w.d, w.m, T0 + 300 * MS);
	detector__run(w.d, w.m, T0 + 400 * MS);
	s = snapshot__take(w.m, w.d, NULL, NOW, NULL, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take") || !ASSERT_EQ(s->nr_groups, 1, "one group"))
		goto cleanup;
	ASSERT_EQ(s->groups[0].kind, GROUP_ABANDONED, "kind");
	ASSERT_TRUE(strstr(s->groups[0].chain, "2 (orphan) --mutex 0x40--> exited 99"),
		    "chain names the exited owner");
	ASSERT_TRUE(s->threads[0].owner_exited && s->threads[0].owner_tid == 99, "row: x99");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(contention_rate)
{
	struct world w;
	struct snapshot *s1 = NULL, *s2 = NULL;
	const struct lock_row *l;

	if (!world_init(&w))
		goto cleanup;
	finished_wait(&w, 200, 200, HOSTILE_COMM, 0x6000, NOW - 10 * MS, MS);
	s1 = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s1, "first snapshot"))
		goto cleanup;
	/* four more contended waits within the next two seconds */
	for (int i = 1; i <= 4; i++)
		finished_wait(&w, 200, 200, HOSTILE_COMM, 0x6000, NOW + (uint64_t)i * 300 * MS,
			      2 * MS);
	s2 = snapshot__take(w.m, w.d, s1, NOW + 2000 * MS, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s2, "second snapshot"))
		goto cleanup;
	l = lock_row(s2, 200, 0x6000);
	if (ASSERT_TRUE(l, "the contended word")) {
		ASSERT_EQ(l->waits, 5, "finished waits");
		ASSERT_EQ(l->waiters, 0, "nobody waits now");
		ASSERT_EQ(l->max_ns, 2 * MS, "longest");
		ASSERT_EQ(l->total_ns, 9 * MS, "total");
		ASSERT_TRUE(near(l->contentions_per_s, 2.0), "4 waits in 2 s: 2/s");
	}
	l = lock_row(s2, 100, LOCK_A);
	if (ASSERT_TRUE(l, "lock_a"))
		ASSERT_TRUE(l->contentions_per_s == 0, "no new waits: 0/s");
	l = lock_row(s2, 200, LOCK_A);
	if (ASSERT_TRUE(l, "the twin word"))
		ASSERT_TRUE(l->contentions_per_s == 0, "no rate borrowed from pid 100's lock_a");
cleanup:
	snapshot__free(s1);
	snapshot__free(s2);
	world_free(&w);
}

TEST(empty_model)
{
	struct model *m = model__new(NULL, NULL);
	struct snapshot *s = m ? snapshot__take(m, NULL, NULL, NOW, NULL, NULL, NULL) : NULL;
	char cell[64] = "untouched";

	if (ASSERT_TRUE(s, "snapshot of nothing")) {
		for (int v = 0; v < VIEW_MAX; v++) {
			ASSERT_EQ(view__nr_rows(s, v), 0, "no rows");
			view__sort(s, v, 0, true);
			view__cell(s, v, 0, 0, cell, sizeof(cell));
			ASSERT_STREQ(cell, "", "a row past the end is empty");
			ASSERT_EQ(view__row_pid(s, v, 0), 0, "no pid past the end");
		}
	}
	snapshot__free(s);
	model__free(m);
}

/* ---- goroutines: a fake Go process 100 beside the threads, and one that cannot be read ---- */

enum {
	PC_GOPARK = 0x1000,
	PC_WORKER,
	PC_LEAK,
	PC_SEMA,
	PC_LOCK,
	PC_LOCKER,
	PC_SPIN,
	PC_GOMAIN,
	PC_FORCEGC,
	PC_EVIL
};

/* pc -> one frame, as goproc__frames names them */
static void fake_frames(const struct go_process *gp, uint64_t pc, bool is_return, struct frame *out,
			size_t max, size_t *n, void *ctx)
{
	static const struct {
		uint64_t pc;
		const char *fn, *file;
		int line;
	} tab[] = {
		{ PC_GOPARK, "runtime.gopark", "/go/src/runtime/proc.go", 460 },
		{ PC_WORKER, "main.worker", "/src/app/main.go", 12 },
		{ PC_LEAK, "main.leak.func1", "/src/app/leak.go", 20 },
		{ PC_SEMA, "sync.runtime_SemacquireMutex", "/go/src/runtime/sema.go", 95 },
		{ PC_LOCK, "sync.(*Mutex).Lock", "/go/src/sync/mutex.go", 46 },
		{ PC_LOCKER, "main.locker", "/src/app/locker.go", 30 },
		{ PC_SPIN, "main.spin", "/src/app/spin.go", 5 },
		{ PC_GOMAIN, "main.main", "/src/app/main.go", 40 },
		{ PC_FORCEGC, "runtime.forcegchelper", "/go/src/runtime/proc.go", 320 },
		{ PC_EVIL, "main.evil\x1b[31m", "/src/app/evil\x1b]0;x\x07.go", 7 },
	};

	(void)gp, (void)is_return, (void)ctx;
	*n = 0;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]) && max; i++)
		if (tab[i].pc == pc) {
			memset(out, 0, sizeof(*out));
			out->addr = pc;
			snprintf(out->function, sizeof(out->function), "%s", tab[i].fn);
			snprintf(out->file, sizeof(out->file), "%s", tab[i].file);
			out->line = tab[i].line;
			*n = 1;
		}
}

static const uint64_t park_worker[] = { PC_GOPARK, PC_WORKER };
static const uint64_t park_leak[] = { PC_GOPARK, PC_LEAK };
static const uint64_t park_lock[] = { PC_GOPARK, PC_SEMA, PC_LOCK, PC_LOCKER };
static const uint64_t park_gc[] = { PC_GOPARK, PC_FORCEGC };
static const uint64_t park_evil[] = { PC_GOPARK, PC_EVIL };
static const struct go_label leak_labels[] = { { "app", "x" } };

#define GO_WAIT(id, reason, stack)                      \
	{ .g = 0xc000000000 + (id) * 0x400,             \
	  .goid = (id),                                 \
	  .status = GO_WAITING,                         \
	  .wait_reason = (reason),                      \
	  .wait_reason_raw = (uint8_t)(id),             \
	  .pcs = (stack),                               \
	  .nr_pcs = sizeof(stack) / sizeof((stack)[0]), \
	  .gopc = PC_GOMAIN }

static struct goroutine fake_gs[] = {
	GO_WAIT(1, "chan receive", park_worker),
	GO_WAIT(2, "force gc (idle)", park_gc),
	GO_WAIT(7, "chan send", park_leak),
	GO_WAIT(8, "chan send", park_leak),
	GO_WAIT(9, "chan send", park_leak),
	GO_WAIT(10, "sync.Mutex.Lock", park_lock),
	{ .goid = 11,
	  .status = GO_RUNNING,
	  .tid = 101,
	  .startpc = PC_SPIN,
	  .stack_unavailable = true },
	GO_WAIT(12, "select", park_evil),
};

struct go_world {
	struct go_process procs[2];
	struct go_seen seen[sizeof(fake_gs) / sizeof(fake_gs[0])];
	uint64_t expanded[1];
	struct snap_go_source src;
};

static const struct go_process *fake_next(void *ctx, size_t *it)
{
	struct go_world *w = ctx;

	return *it < 2 ? &w->procs[(*it)++] : NULL;
}

/* the three chan-send goroutines form one group: same wait, site and labels */
static void go_world_init(struct go_world *w)
{
	size_t n = sizeof(fake_gs) / sizeof(fake_gs[0]);

	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < n; i++) {
		fake_gs[i].system = fake_gs[i].goid == 2;
		fake_gs[i].wait_reason_raw =
			fake_gs[i].goid >= 7 && fake_gs[i].goid <= 9 ? 7 : (uint8_t)i;
		if (fake_gs[i].goid >= 7 && fake_gs[i].goid <= 9) {
			fake_gs[i].labels = leak_labels;
			fake_gs[i].nr_labels = 1;
			fake_gs[i].labels_ptr = 0xc000100000;
		}
		/* goid 8 has waited longest: 3 s, the others 400 ms; 1 since before tangle */
		w->seen[i].since_ns = fake_gs[i].goid == 8 ? NOW - 3000 * MS : NOW - 400 * MS;
		if (fake_gs[i].goid == 1)
			w->seen[i].since_ns = T0;
	}
	w->procs[0] = (struct go_process){ .pid = 100,
					   .proc = (struct goproc *)w,
					   .seen = w->seen,
					   .first_ns = T0,
					   .snap = { .g = fake_gs, .n = n } };
	w->procs[1] = (struct go_process){ .pid = 200,
					   .error = "go1.99.1: no layout for this Go version" };
	w->src = (struct snap_go_source){ .next = fake_next, .frames = fake_frames, .ctx = w };
}

static const struct gor_row *gor_by_site(const struct snapshot *s, const char *site)
{
	for (size_t i = 0; i < s->nr_gors; i++)
		if (!s->gors[i].member && !strncmp(s->gors[i].site, site, strlen(site)))
			return &s->gors[i];
	return NULL;
}

TEST(goroutine_groups)
{
	struct world w;
	struct go_world gw;
	struct snapshot *s = NULL;
	const struct gor_row *r;
	char cell[512];

	go_world_init(&gw);
	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	/* worker, leak (3), locker, spin, evil; the runtime's goroutine 2 is left out; 200's error */
	ASSERT_EQ(s->nr_gors, 6, "rows");
	ASSERT_EQ(s->goroutines, 7, "goroutines counted");
	ASSERT_EQ(s->go_processes, 1, "Go processes read");
	r = gor_by_site(s, "main.leak.func1");
	if (ASSERT_TRUE(r, "the leak group")) {
		ASSERT_EQ(r->count, 3, "its count");
		ASSERT_STREQ(r->site, "main.leak.func1 (leak.go:20)", "its site");
		ASSERT_STREQ(r->state, "chan send", "its state");
		ASSERT_STREQ(r->goids, "7 8 9", "its goids");
		ASSERT_STREQ(r->labels, "{app=x}", "the labels all share");
		ASSERT_EQ(r->wait_ns, 3000 * MS, "the longest wait");
		ASSERT_FALSE(r->at_least, "seen start");
		ASSERT_EQ(r->nr_frames, 1, "runtime frames hidden");
		ASSERT_STREQ(r->created, "main.main (main.go:40)", "created by");
		view__cell(s, VIEW_GOROUTINES, (size_t)(r - s->gors), 6, cell, sizeof(cell));
		ASSERT_STREQ(cell, "+ main.leak.func1 (leak.go:20) {app=x}", "WHERE, folded");
	}
	/* a sync wait's site is the program's own frame, below the library */
	ASSERT_TRUE(gor_by_site(s, "main.locker (locker.go:30)"), "the locker's site");
	r = gor_by_site(s, "main.worker");
	if (ASSERT_TRUE(r, "the worker")) {
		ASSERT_TRUE(r->at_least, "already waiting when tangle first looked");
		ASSERT_EQ(r->goid, 1, "a group of one shows its goid");
		view__cell(s, VIEW_GOROUTINES, (size_t)(r - s->gors), 5, cell, sizeof(cell));
		ASSERT_STREQ(cell, ">500ms", "WAITING, at least");
	}
	ASSERT_TRUE(gor_by_site(s, "in main.spin"), "running: what it runs");
	r = gor_by_site(s, "main.evil");
	if (ASSERT_TRUE(r, "the hostile names")) {
		ASSERT_FALSE(strchr(r->site, '\x1b') || strchr(r->site, '\x07'), "escaped");
		ASSERT_TRUE(strstr(r->site, "\\x1b[31m"), "shown as text");
	}
	r = gor_by_site(s, "go1.99.1");
	if (ASSERT_TRUE(r, "the unreadable process")) {
		ASSERT_TRUE(r->error && r->pid == 200, "an error row of 200");
		view__cell(s, VIEW_GOROUTINES, (size_t)(r - s->gors), 6, cell, sizeof(cell));
		ASSERT_STREQ(cell,
			     "cannot read goroutines: go1.99.1: no layout for this Go version",
			     "says why");
	}
	/* thread 101 runs goroutine 11; process 100 has 7 goroutines, 200 none known */
	ASSERT_EQ(s->threads[thread_index(s, 101)].goid, 11, "thread 101's goroutine");
	ASSERT_STREQ(s->threads[thread_index(s, 101)].go_func, "main.spin", "its function");
	ASSERT_EQ(s->threads[thread_index(s, 102)].goid, 0, "102 runs none");
	view__cell(s, VIEW_THREADS, thread_index(s, 101), 8, cell, sizeof(cell));
	ASSERT_STREQ(cell, "0x2000 lock_b", "101 waits: its lock, not its goroutine");
	s->threads[thread_index(s, 101)].waiting = false;
	view__cell(s, VIEW_THREADS, thread_index(s, 101), 8, cell, sizeof(cell));
	ASSERT_STREQ(cell, "goroutine 11 (main.spin)", "a Go thread not in a wait: its goroutine");
	for (size_t i = 0; i < s->nr_procs; i++)
		ASSERT_EQ(s->procs[i].goroutines, s->procs[i].pid == 100 ? 7 : -1, "GOR");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(goroutine_label_filter_and_system)
{
	struct world w;
	struct go_world gw;
	struct snapshot *s = NULL;

	go_world_init(&gw);
	if (!world_init(&w))
		goto cleanup;
	gw.src.label = "app=x";
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (ASSERT_TRUE(s, "snapshot__take")) {
		ASSERT_EQ(s->goroutines, 3, "app=x: the three leaked");
		ASSERT_EQ(s->nr_gors, 2, "their group and 200's error");
	}
	snapshot__free(s);
	gw.src.label = "app";
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	ASSERT_TRUE(s && s->goroutines == 3, "a key alone matches any value");
	snapshot__free(s);
	gw.src.label = "app=y";
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	ASSERT_TRUE(s && s->goroutines == 0, "another value matches none");
	snapshot__free(s);
	gw.src.label = NULL;
	gw.src.system = true;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (ASSERT_TRUE(s, "snapshot__take")) {
		ASSERT_EQ(s->goroutines, 8, "the runtime's own too");
		ASSERT_TRUE(gor_by_site(s, "in ") || s->nr_gors == 7, "its row");
	}
cleanup:
	snapshot__free(s);
	world_free(&w);
}

/* An expanded group lists its members right after it, whichever way the view is sorted. */
TEST(goroutine_members_follow_their_group)
{
	struct world w;
	struct go_world gw;
	struct snapshot *s = NULL;
	const struct gor_row *g;

	go_world_init(&gw);
	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (!ASSERT_TRUE(s, "snapshot__take") || !(g = gor_by_site(s, "main.leak.func1")))
		goto cleanup;
	gw.expanded[0] = g->key;
	gw.src.expanded = gw.expanded;
	gw.src.nr_expanded = 1;
	snapshot__free(s);
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (!ASSERT_TRUE(s, "snapshot__take") || !ASSERT_EQ(s->nr_gors, 9, "6 rows and 3 members"))
		goto cleanup;
	for (size_t col = 0; col < 7; col++)
		for (int desc = 0; desc < 2; desc++) {
			size_t at = SIZE_MAX;

			view__sort(s, VIEW_GOROUTINES, col, desc);
			for (size_t i = 0; i < s->nr_gors; i++)
				if (!s->gors[i].member && s->gors[i].count == 3)
					at = i;
			if (!ASSERT_TRUE(at + 3 < s->nr_gors, "the group, then room for three"))
				goto cleanup;
			ASSERT_TRUE(s->gors[at].expanded, "marked expanded");
			/* longest first: 8, then 7 and 9 by goid */
			ASSERT_EQ(s->gors[at + 1].goid, 8, "first member");
			ASSERT_EQ(s->gors[at + 2].goid, 7, "second member");
			ASSERT_EQ(s->gors[at + 3].goid, 9, "third member");
			ASSERT_TRUE(s->gors[at + 3].member && s->gors[at + 1].nr_frames == 1,
				    "members with their stacks");
		}
cleanup:
	snapshot__free(s);
	world_free(&w);
}

/* ---- the tables: sorting, cells, matching ---- */

/* A row's identity, whatever its position. */
static uint64_t row_id(const struct snapshot *s, enum view_id v, size_t i)
{
	switch (v) {
	case VIEW_PROCESSES:
		return s->procs[i].pid;
	case VIEW_THREADS:
		return s->threads[i].tid;
	case VIEW_LOCKS:
		return s->locks[i].addr ^ (uint64_t)s->locks[i].pid << 48;
	case VIEW_GOROUTINES:
		return s->gors[i].key ^ s->gors[i].goid;
	default:
		return s->groups[i].id;
	}
}

/* Reverse the rows, then rotate them by one: an input order unlike the sorted one. */
static void scramble(struct snapshot *s, enum view_id v)
{
	size_t n = view__nr_rows(s, v), size;
	char *base, tmp[sizeof(struct group_row) + sizeof(struct gor_row)];

	switch (v) {
	case VIEW_PROCESSES:
		base = (char *)s->procs, size = sizeof(*s->procs);
		break;
	case VIEW_THREADS:
		base = (char *)s->threads, size = sizeof(*s->threads);
		break;
	case VIEW_LOCKS:
		base = (char *)s->locks, size = sizeof(*s->locks);
		break;
	case VIEW_GOROUTINES:
		base = (char *)s->gors, size = sizeof(*s->gors);
		break;
	default:
		base = (char *)s->groups, size = sizeof(*s->groups);
	}
	if (n < 2 || size > sizeof(tmp))
		return;
	for (size_t i = 0; i < n / 2; i++) {
		memcpy(tmp, base + i * size, size);
		memcpy(base + i * size, base + (n - 1 - i) * size, size);
		memcpy(base + (n - 1 - i) * size, tmp, size);
	}
	memcpy(tmp, base, size);
	memmove(base, base + size, (n - 1) * size);
	memcpy(base + (n - 1) * size, tmp, size);
}

/*
 * The number a cell shows, when it shows one: plain and decimal numbers,
 * "-" and "" (zero), G<id>, x<tid> (exited owner), percentages, 0x<hex>
 * followed by a name, and every snap_duration format.
 */
static bool cell_number(const char *s, double *v)
{
	char *end;
	double a, b;

	if (!*s || !strcmp(s, "-")) {
		*v = 0;
		return true;
	}
	if (s[0] == 'G' || s[0] == 'x')
		s++;
	if (s[0] == '0' && s[1] == 'x') {
		*v = (double)strtoull(s, &end, 16);
		return end != s + 2 && (!*end || *end == ' ');
	}
	if (s[0] < '0' || s[0] > '9')
		return false;
	a = strtod(s, &end);
	if (!*end || !strcmp(end, "%")) {
		*v = a;
		return true;
	}
	if (!strcmp(end, "us") || !strcmp(end, "ms") || !strcmp(end, "s")) {
		*v = a * (end[0] == 'u' ? 1e3 : end[0] == 'm' ? 1e6 : 1e9);
		return true;
	}
	if ((end[0] == 'm' || end[0] == 'h') && end[1] >= '0' && end[1] <= '9') {
		char unit = end[0];

		b = strtod(end + 1, &end);
		if (strcmp(end, unit == 'm' ? "s" : "m"))
			return false;
		*v = unit == 'm' ? (a * 60 + b) * 1e9 : (a * 3600 + b * 60) * 1e9;
		return true;
	}
	return false;
}

static void row_name(const struct snapshot *s, enum view_id v, size_t i, char *buf, size_t len)
{
	switch (v) {
	case VIEW_PROCESSES:
		snprintf(buf, len, "process %u", s->procs[i].pid);
		break;
	case VIEW_THREADS:
		snprintf(buf, len, "thread %u", s->threads[i].tid);
		break;
	case VIEW_LOCKS:
		snprintf(buf, len, "lock 0x%llx of pid %u", (unsigned long long)s->locks[i].addr,
			 s->locks[i].pid);
		break;
	case VIEW_GOROUTINES:
		snprintf(buf, len, "goroutine row %.40s of pid %u", s->gors[i].site,
			 s->gors[i].pid);
		break;
	default:
		snprintf(buf, len, "group %llu", (unsigned long long)s->groups[i].id);
	}
}

/* The row of s (sorted) now at position i was expected at position i: say which rows. */
static void explain_tie(const struct snapshot *s, enum view_id v, size_t col, size_t i,
			uint64_t want)
{
	char got[64], exp[64] = "?", cell_got[256], cell_exp[256] = "?";

	row_name(s, v, i, got, sizeof(got));
	view__cell(s, v, i, col, cell_got, sizeof(cell_got));
	for (size_t j = 0; j < view__nr_rows(s, v); j++)
		if (row_id(s, v, j) == want) {
			row_name(s, v, j, exp, sizeof(exp));
			view__cell(s, v, j, col, cell_exp, sizeof(cell_exp));
		}
	printf("    position %zu: %s (cell \"%s\") instead of %s (cell \"%s\"): the two rows "
	       "compare equal, so their order depends on the order they came in\n",
	       i, got, cell_got, exp, cell_exp);
}

/* Checks one sort of view v by column col; returns false on the first failure. */
static bool check_sorted(struct snapshot *s, enum view_id v, size_t col, bool desc,
			 const char *title)
{
	size_t n = view__nr_rows(s, v);
	uint64_t *ids = calloc(n + 1, sizeof(*ids));
	bool numeric = true, ok = true;
	char a[1024], b[1024], what[160];
	double x, y;

	if (!ASSERT_TRUE(ids, "calloc"))
		return false;
	snprintf(what, sizeof(what), "view %d column %zu (%s) %s: total order", v, col, title,
		 desc ? "descending" : "ascending");
	view__sort(s, v, col, desc);
	for (size_t i = 0; i < n; i++) {
		ids[i] = row_id(s, v, i);
		view__cell(s, v, i, col, a, sizeof(a));
		numeric &= cell_number(a, &x);
	}
	/* where the column shows numbers, the order follows them */
	for (size_t i = 0; numeric && i + 1 < n && ok; i++) {
		view__cell(s, v, i, col, a, sizeof(a));
		view__cell(s, v, i + 1, col, b, sizeof(b));
		cell_number(a, &x);
		cell_number(b, &y);
		ok = ASSERT_TRUE(desc ? x >= y : x <= y, what);
		if (!ok)
			printf("    rows %zu, %zu: \"%s\" then \"%s\"\n", i, i + 1, a, b);
	}
	/* names sort as bytes */
	if (!numeric && !strcmp(title, "COMM"))
		for (size_t i = 0; i + 1 < n && ok; i++) {
			view__cell(s, v, i, col, a, sizeof(a));
			view__cell(s, v, i + 1, col, b, sizeof(b));
			ok = ASSERT_TRUE(desc ? strcmp(a, b) >= 0 : strcmp(a, b) <= 0, what);
		}
	/* a total order: the result does not depend on the order rows came in */
	scramble(s, v);
	view__sort(s, v, col, desc);
	for (size_t i = 0; i < n && ok; i++) {
		ok = ASSERT_EQ(row_id(s, v, i), ids[i], what);
		if (!ok)
			explain_tie(s, v, col, i, ids[i]);
	}
	/* and the other direction is the exact reverse */
	if (ok) {
		view__sort(s, v, col, !desc);
		for (size_t i = 0; i < n && ok; i++) {
			ok = ASSERT_EQ(row_id(s, v, i), ids[n - 1 - i], what);
			if (!ok)
				explain_tie(s, v, col, i, ids[n - 1 - i]);
		}
	}
	free(ids);
	return ok;
}

static void sort_all(struct snapshot *s, enum view_id only)
{
	for (int v = 0; v < VIEW_MAX; v++) {
		size_t ncols;
		const struct column *cols = view__columns(v, &ncols);

		if (only != VIEW_MAX && v != (int)only)
			continue;
		ASSERT_TRUE(view__nr_rows(s, v) > 0, "every view has rows");
		for (size_t c = 0; c < ncols; c++) {
			check_sorted(s, v, c, false, cols[c].title);
			check_sorted(s, v, c, true, cols[c].title);
		}
	}
}

TEST(sort_every_column)
{
	struct world w;
	struct go_world gw;
	struct snapshot *s = NULL;

	go_world_init(&gw);
	if (!world_init_with(&w, false))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, &gw.src);
	if (ASSERT_TRUE(s, "snapshot__take"))
		sort_all(s, VIEW_MAX);
cleanup:
	snapshot__free(s);
	world_free(&w);
}

/*
 * Two processes with a futex word at the same address (forked workers share
 * their layout): rows that differ only by pid must still have one order, or
 * the Locks view reshuffles them from one refresh to the next.
 */
TEST(sort_locks_same_address_in_two_processes)
{
	struct world w;
	struct snapshot *s = NULL;

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (ASSERT_TRUE(s, "snapshot__take") &&
	    ASSERT_TRUE(lock_row(s, 100, LOCK_A) && lock_row(s, 200, LOCK_A), "the two words"))
		sort_all(s, VIEW_LOCKS);
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(sort_by_tid)
{
	struct world w;
	struct snapshot *s = NULL;
	char cell[64];

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	view__sort(s, VIEW_THREADS, 0, false);
	for (size_t i = 0; i + 1 < s->nr_threads; i++)
		ASSERT_TRUE(s->threads[i].tid < s->threads[i + 1].tid, "TID ascending");
	view__cell(s, VIEW_THREADS, 0, 0, cell, sizeof(cell));
	ASSERT_STREQ(cell, "100", "first TID cell");
	view__sort(s, VIEW_THREADS, 0, true);
	view__cell(s, VIEW_THREADS, 0, 0, cell, sizeof(cell));
	ASSERT_STREQ(cell, "203", "first TID cell, descending");
	/* the longest waits first, as the dashboard starts: ties by TID */
	view__sort(s, VIEW_THREADS, 4, true);
	ASSERT_TRUE(s->threads[0].waiting, "a waiting thread first");
	ASSERT_FALSE(s->threads[s->nr_threads - 1].waiting, "a running thread last");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(cells)
{
	struct world w;
	struct snapshot *s = NULL;
	size_t i, ncols;
	char cell[1024];

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	i = thread_index(s, 101);
	view__columns(VIEW_THREADS, &ncols);
	if (!ASSERT_EQ(ncols, 9, "thread columns"))
		goto cleanup;
	{
		static const char *const want[] = { "101",   "100",   "worker-a",
						    "sleep", "500ms", "mutex",
						    "102",   NULL,    "0x2000 lock_b" };
		char gid[32];

		snprintf(gid, sizeof(gid), "G%llu",
			 (unsigned long long)detector__group(w.d, 0)->id);
		for (size_t c = 0; c < ncols; c++) {
			view__cell(s, VIEW_THREADS, i, c, cell, sizeof(cell));
			ASSERT_STREQ(cell, want[c] ? want[c] : gid, "cell of thread 101");
		}
	}
	i = thread_index(s, 104);
	view__cell(s, VIEW_THREADS, i, 4, cell, sizeof(cell));
	ASSERT_STREQ(cell, "-", "104: WAITING");
	view__cell(s, VIEW_THREADS, i, 7, cell, sizeof(cell));
	ASSERT_STREQ(cell, "", "104: STUCK");
	view__cell(s, VIEW_THREADS, thread_index(s, 201), 8, cell, sizeof(cell));
	ASSERT_STREQ(cell, "0x5000 (stack of thread 200)", "a region is in parentheses");
	ASSERT_EQ(view__row_pid(s, VIEW_THREADS, i), 100, "row pid");
	ASSERT_EQ(view__row_pid(s, VIEW_STUCK, 0), 0, "a group spans processes: no pid");
	/* a small buffer is cut, and terminated */
	view__cell(s, VIEW_THREADS, thread_index(s, 101), 8, cell, 5);
	ASSERT_STREQ(cell, "0x20", "cut cell");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

TEST(row_matches)
{
	struct world w;
	struct snapshot *s = NULL;
	size_t n101, n104, n201;

	if (!world_init(&w))
		goto cleanup;
	s = snapshot__take(w.m, w.d, NULL, NOW, symbol_of, NULL, NULL);
	if (!ASSERT_TRUE(s, "snapshot__take"))
		goto cleanup;
	n101 = thread_index(s, 101);
	n104 = thread_index(s, 104);
	n201 = thread_index(s, 201);
	ASSERT_TRUE(view__row_matches(s, VIEW_THREADS, n101, "101"), "its tid");
	ASSERT_TRUE(view__row_matches(s, VIEW_THREADS, n101, "01"), "a substring of its tid");
	ASSERT_TRUE(view__row_matches(s, VIEW_THREADS, n101, "WORKER-A"), "any case");
	ASSERT_TRUE(view__row_matches(s, VIEW_THREADS, n101, "lock_b"), "its lock's name");
	ASSERT_TRUE(view__row_matches(s, VIEW_THREADS, n101, ""), "the empty text");
	ASSERT_FALSE(view__row_matches(s, VIEW_THREADS, n104, "103"), "104's row lacks 103");
	ASSERT_FALSE(view__row_matches(s, VIEW_THREADS, n101, "qzx-not-there"), "random text");
	ASSERT_FALSE(view__row_matches(s, VIEW_THREADS, n201, "mutex"), "201 waits on no mutex");
	ASSERT_TRUE(view__row_matches(s, VIEW_STUCK, 0, "102"), "the chain names 102");
	ASSERT_TRUE(view__row_matches(s, VIEW_PROCESSES, 0, "") &&
			    !view__row_matches(s, VIEW_PROCESSES, 0, "qzx-not-there"),
		    "processes");
cleanup:
	snapshot__free(s);
	world_free(&w);
}

/* ---- term_escape ---- */

static void check_escape(const char *in, size_t n, const char *want, const char *what)
{
	char out[256];

	memset(out, 'Z', sizeof(out));
	term_escape(out, sizeof(out), in, n);
	ASSERT_STREQ(out, want, what);
}

#define ESC(in, want, what) check_escape(in, sizeof(in) - 1, want, what)

TEST(escape_controls_and_bad_utf8)
{
	ESC("a\x1b[31mb", "a\\x1b[31mb", "ESC");
	ESC("t\x07", "t\\x07", "BEL");
	ESC("d\x7f", "d\\x7f", "DEL");
	ESC("\n\r\t\x01", "\\x0a\\x0d\\x09\\x01", "C0 controls");
	ESC("\xc2\x9b"
	    "31m",
	    "\\xc2\\x9b31m", "C1 CSI as UTF-8");
	ESC("\xc2\x85", "\\xc2\\x85", "C1 NEL");
	ESC("\x9b", "\\x9b", "a raw C1 byte");
	ESC("\xff\xfe", "\\xff\\xfe", "bytes never valid in UTF-8");
	ESC("\xc0\x80", "\\xc0\\x80", "overlong NUL");
	ESC("\xc1\xbf", "\\xc1\\xbf", "overlong 2-byte");
	ESC("\xe0\x80\xaf", "\\xe0\\x80\\xaf", "overlong 3-byte /");
	ESC("\xf0\x80\x80\xaf", "\\xf0\\x80\\x80\\xaf", "overlong 4-byte /");
	ESC("\xed\xa0\x80", "\\xed\\xa0\\x80", "a UTF-16 surrogate");
	ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80", "above U+10FFFF");
	ESC("ab\xe6\x97", "ab\\xe6\\x97", "a sequence cut short");
	ESC("\xe6x\x97", "\\xe6x\\x97", "a lead byte then ASCII");
	ESC("\x80", "\\x80", "a lone continuation byte");
	ESC("\xe2\x80\xa8", "\\xe2\\x80\\xa8", "U+2028 line separator");
	ESC("a\\b", "a\\x5cb", "a backslash, so escapes cannot be forged");
	check_escape("ab\0cd", 5, "ab", "stops at NUL");
	check_escape("abcdef", 3, "abc", "stops at n");
}

TEST(escape_keeps_valid_utf8)
{
	ESC("caf\xc3\xa9", "caf\xc3\xa9", "e-acute");
	ESC("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac", "CJK");
	ESC("\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!", "an emoji");
	ESC("\xe2\x98\x83 ok", "\xe2\x98\x83 ok", "a snowman and a space");
	ESC("\xc2\xa0", "\xc2\xa0", "U+00A0, just past C1");
	ESC("worker-1", "worker-1", "plain ASCII");
}

/* Decode \xNN back to bytes: the escaping must be lossless. */
static size_t unescape(const char *s, char *out)
{
	size_t o = 0;

	while (*s) {
		if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
			char hex[3] = { s[2], s[3], 0 };

			out[o++] = (char)strtol(hex, NULL, 16);
			s += 4;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
	return o;
}

/* Every byte of s is printable ASCII or part of a valid, printable UTF-8 sequence. */
static bool terminal_safe(const char *s)
{
	char again[1024];

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	/* escaping safe text changes nothing but backslashes */
	term_escape(again, sizeof(again), s, strlen(s));
	for (const char *a = s, *b = again; *a || *b;) {
		if (*a == '\\' && !strncmp(b, "\\x5c", 4)) {
			a++, b += 4;
			continue;
		}
		if (*a++ != *b++)
			return false;
	}
	return true;
}

TEST(escape_fuzz)
{
	static const unsigned char alphabet[] = { 'a',	'\\', 'x',  0x1b, 0x07, 0x7f, 0x80, 0x9b,
						  0xbf, 0xc2, 0xc3, 0xa9, 0xe2, 0x80, 0xa8, 0xed,
						  0xa0, 0xf0, 0x9f, 0x98, 0xf4, 0x90, 0xff, ' ' };
	uint32_t seed = 12345;
	char in[16], out[256], back[256];
	int bad = 0;

	for (int round = 0; round < 20000 && bad < 5; round++) {
		size_t n = 1 + round % 15;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = (char)alphabet[(seed >> 16) % sizeof(alphabet)];
		}
		in[n] = '\0';
		term_escape(out, sizeof(out), in, n);
		if (!terminal_safe(out) || unescape(out, back) != n || memcmp(back, in, n)) {
			bad++;
			ASSERT_TRUE(false, "escaped text is safe and decodes back to the input");
		}
	}
}

TEST(escape_bounded)
{
	static const char *const inputs[] = {
		"\x1b[31mred\x1b]0;x\x07",
		"\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80\xc3\xa9",
		"plain-ascii-name",
		"\xff\xfe\xc0\x80ok",
	};
	char full[256], buf[64 + 16];

	for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
		term_escape(full, sizeof(full), inputs[k], strlen(inputs[k]));
		for (size_t len = 1; len <= 64; len++) {
			size_t got;

			memset(buf, 'Z', sizeof(buf));
			term_escape(buf, len, inputs[k], strlen(inputs[k]));
			got = strnlen(buf, sizeof(buf));
			if (!ASSERT_TRUE(got < len, "output and NUL fit the buffer"))
				break;
			for (size_t j = len; j < sizeof(buf); j++)
				if (!ASSERT_TRUE(buf[j] == 'Z', "nothing written past the buffer"))
					break;
			/* cut between characters and escapes, never inside one */
			ASSERT_TRUE(strncmp(buf, full, got) == 0, "a prefix of the full escaping");
			ASSERT_TRUE(terminal_safe(buf), "a cut output is still safe");
		}
	}
}

TEST(escape_zero_length_buffer)
{
	char buf[4] = { 'Z', 'Z', 'Z', 'Z' };

	/* dstlen 0: there is no room even for the NUL */
	term_escape(buf + 1, 0, "abc", 3);
	ASSERT_TRUE(buf[1] == 'Z', "nothing written into a zero-length buffer");
}

/* ---- snap_duration ---- */

static void check_duration(uint64_t ns, const char *want)
{
	char buf[32];

	snap_duration(buf, sizeof(buf), ns);
	ASSERT_STREQ(buf, want, want);
}

TEST(durations)
{
	check_duration(0, "0us");
	check_duration(999, "0us");
	check_duration(1500, "1us");
	check_duration(999999, "999us");
	check_duration(MS, "1ms");
	check_duration(999 * MS + 999999, "999ms");
	check_duration(1000 * MS, "1.0s");
	check_duration(1260 * MS, "1.3s");
	check_duration(59900 * MS, "59.9s");
	check_duration(60000 * MS, "1m00s");
	check_duration(125000 * MS, "2m05s");
	check_duration(3599000 * MS, "59m59s");
	check_duration(3600000 * MS, "1h00m");
	check_duration(3725000 * MS, "1h02m");
	check_duration(360000000 * MS, "100h00m");
	{
		char small[4];

		snap_duration(small, sizeof(small), 3725000 * MS);
		ASSERT_STREQ(small, "1h0", "cut to the buffer");
	}
}

TEST_MAIN()
