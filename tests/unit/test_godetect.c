// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The goroutine detector on hand-made snapshots: each rule (leaked by
 * construction, stuck with an unreachable object, growing), each exclusion
 * (the main goroutine's select {}, the runtime's own goroutines, IO wait,
 * waits younger than stuck_after, objects still reachable or not examined),
 * and the life of a group (stable id, revisions, resolution); and the
 * tracker fed from a recording (tangle replay) instead of a live process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "godetect.h"
#include "golayout.h"
#include "goproc.h"
#include "gotrack.h"
#include "test.h"

#define S 1000000000ull
#define T0 (1000 * S)
#define MAXG 256

struct fake {
	struct go_process gp;
	struct goroutine g[MAXG];
	struct go_seen seen[MAXG];
	uint64_t pcs[MAXG][2];
	bool reachable[MAXG]; /* by index */
	bool unknown[MAXG];
	bool still[MAXG]; /* a lock that did not move */
};

struct log {
	size_t calls;
	const struct go_group *last;
	struct go_group copy;
	size_t resolved;
};

static void on_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct log *l = ctx;

	(void)gp;
	l->calls++;
	l->copy = *g;
	l->resolved += g->resolved_ns != 0;
}

static enum go_reach reach(const struct go_process *gp, const struct goroutine *g,
			   struct go_evidence *ev, void *ctx)
{
	struct fake *f = ctx;
	size_t i = (size_t)(g - gp->snap.g);

	ev->object = "chan";
	ev->addr = 0xc000100000 + i;
	if (f->unknown[i])
		return GO_REACH_UNKNOWN;
	if (f->still[i])
		return GO_REACH_NO_PROGRESS;
	return f->reachable[i] ? GO_REACH_REACHABLE : GO_REACH_UNREACHABLE;
}

/* The site is the second pc (the first is gopark's). */
static uint64_t site(const struct go_process *gp, const struct goroutine *g, void *ctx)
{
	(void)gp, (void)ctx;
	return g->nr_pcs > 1 ? g->pcs[1] : 0;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->gp.pid = 42;
	f->gp.proc = (struct goproc *)f;
	f->gp.snap.g = f->g;
	f->gp.seen = f->seen;
	f->gp.first_ns = T0;
}

/* Goroutine goid parked at site (with reason) since since_ns; returns its index. */
static size_t park(struct fake *f, uint64_t goid, const char *reason, uint64_t site_pc,
		   uint64_t since_ns)
{
	size_t i = f->gp.snap.n++;
	struct goroutine *g = &f->g[i];

	memset(g, 0, sizeof(*g));
	g->goid = goid;
	g->g = 0xc000000000 + goid * 0x400;
	g->status = GO_WAITING;
	g->wait_reason = reason;
	g->wait_reason_raw = (uint8_t)(strlen(reason) + (uint8_t)reason[0]);
	g->gopc = 0x4000 + site_pc;
	f->pcs[i][0] = 0x1000;
	f->pcs[i][1] = site_pc;
	g->pcs = f->pcs[i];
	g->nr_pcs = 2;
	f->seen[i].since_ns = since_ns;
	f->reachable[i] = false;
	f->unknown[i] = false;
	f->still[i] = false;
	return i;
}

static struct godetect *detector(struct fake *f, struct log *l, bool with_reach)
{
	struct godetect_opts o = {
		.stuck_after_ns = 5 * S,
		.growth_window_ns = 30 * S,
		.growth_min = 10,
		.reach = with_reach ? reach : NULL,
		.site = site,
		.ctx = f,
	};

	memset(l, 0, sizeof(*l));
	return godetect__new(&o, on_group, l);
}

static const struct go_group *group_of(const struct godetect *d, enum go_group_kind kind,
				       uint64_t goid)
{
	for (size_t i = 0; i < godetect__nr_groups(d); i++) {
		const struct go_group *g = godetect__group(d, i);

		for (size_t k = 0; g->kind == kind && k < g->count && k < GODETECT_MAX_MEMBERS; k++)
			if (g->members[k].goid == goid)
				return g;
	}
	return NULL;
}

TEST(leaked_by_construction)
{
	struct fake f;
	struct log l;
	struct godetect *d;
	const struct go_group *g;

	fake_init(&f);
	d = detector(&f, &l, false);
	if (!ASSERT_TRUE(d, "new"))
		return;
	f.gp.snap.ts_ns = T0 + 10 * S;
	park(&f, 1, "select (no cases)", 0x10, T0); /* main parks for good: a server's idiom */
	park(&f, 7, "select (no cases)", 0x20, T0);
	park(&f, 8, "chan receive (nil chan)", 0x30, T0 + 2 * S);
	park(&f, 9, "chan send (nil chan)", 0x30, T0 + 2 * S);
	park(&f, 10, "chan send (nil chan)", 0x40, T0 + 9500000000ull); /* half a second ago */
	f.g[park(&f, 11, "chan receive (nil chan)", 0x50, T0)].system = true;
	if (!ASSERT_OK(godetect__process(d, &f.gp), "process"))
		goto out;
	ASSERT_FALSE(group_of(d, GO_GROUP_LEAKED, 1), "main's select {} is not a leak");
	g = group_of(d, GO_GROUP_LEAKED, 7);
	ASSERT_TRUE(g && g->count == 1 && !strcmp(g->reason, "select (no cases)"), "select {}");
	g = group_of(d, GO_GROUP_LEAKED, 8);
	ASSERT_TRUE(g && g->count == 1, "a nil-channel receive: its own group");
	g = group_of(d, GO_GROUP_LEAKED, 9);
	ASSERT_TRUE(g && g->count == 1 && g->members[0].blocked_ns == 8 * S,
		    "a nil-channel send, blocked 8 s");
	ASSERT_FALSE(group_of(d, GO_GROUP_LEAKED, 10), "not confirmed yet (0.5 s)");
	ASSERT_FALSE(group_of(d, GO_GROUP_LEAKED, 11), "the runtime's own goroutine");
	ASSERT_EQ(godetect__nr_groups(d), 3, "three groups");
	ASSERT_EQ(l.calls, 3, "each reported");
	ASSERT_EQ(godetect__nr_reported(d), 3, "reported");
	/* the runtime's own verdict (go1.26 leak profile) */
	f.g[0].status = GO_LEAKED;
	f.g[0].wait_reason = "chan receive";
	f.gp.snap.ts_ns += S;
	godetect__process(d, &f.gp);
	ASSERT_TRUE(group_of(d, GO_GROUP_LEAKED, 1), "status leaked");
out:
	godetect__free(d);
}

TEST(stuck_needs_unreachable_and_age)
{
	struct fake f;
	struct log l;
	struct godetect *d;
	const struct go_group *g;
	size_t a, b, c, e, h;

	fake_init(&f);
	d = detector(&f, &l, true);
	if (!ASSERT_TRUE(d, "new"))
		return;
	f.gp.snap.ts_ns = T0 + 20 * S;
	a = park(&f, 5, "chan receive", 0x100, T0);
	b = park(&f, 6, "chan receive", 0x100, T0);
	h = park(&f, 11, "sync.Mutex.Lock", 0x600, T0);
	f.still[h] = true; /* reachable, but a lock nobody lets go */
	c = park(&f, 7, "sync.Mutex.Lock", 0x200, T0 + 17 * S); /* 3 s: too young */
	e = park(&f, 8, "sync.WaitGroup.Wait", 0x300, T0);
	park(&f, 9, "IO wait", 0x400, T0);
	park(&f, 10, "sleep", 0x500, T0);
	f.reachable[b] = true; /* a live goroutine still holds its channel */
	f.unknown[e] = true; /* the budget ran out before its object */
	(void)a, (void)c;
	if (!ASSERT_OK(godetect__process(d, &f.gp), "process"))
		goto out;
	g = group_of(d, GO_GROUP_STUCK, 5);
	if (ASSERT_TRUE(g, "unreachable: stuck")) {
		ASSERT_EQ(g->members[0].evidence.reach, GO_REACH_UNREACHABLE, "its evidence");
		ASSERT_EQ(g->members[0].evidence.addr, 0xc000100000 + a, "the object");
	}
	g = group_of(d, GO_GROUP_STUCK, 11);
	if (ASSERT_TRUE(g, "a lock that does not move: stuck"))
		ASSERT_EQ(g->members[0].evidence.reach, GO_REACH_NO_PROGRESS, "its evidence");
	ASSERT_FALSE(group_of(d, GO_GROUP_STUCK, 6), "reachable: not stuck");
	ASSERT_FALSE(group_of(d, GO_GROUP_STUCK, 7), "younger than stuck_after");
	ASSERT_FALSE(group_of(d, GO_GROUP_STUCK, 8), "unknown: not stuck");
	ASSERT_FALSE(group_of(d, GO_GROUP_STUCK, 9) || group_of(d, GO_GROUP_STUCK, 10),
		     "IO wait and sleep never");
	ASSERT_EQ(godetect__nr_groups(d), 2, "two groups");
	/* a wait already there at tangle's first look needs a second, not stuck_after */
	f.gp.first_ns = T0 + 17 * S;
	f.seen[c].since_ns = f.gp.first_ns;
	f.gp.snap.ts_ns = T0 + 18 * S + S / 2;
	godetect__process(d, &f.gp);
	ASSERT_TRUE(group_of(d, GO_GROUP_STUCK, 7), "1.5 s, but at least that");
out:
	godetect__free(d);
	/* without evidence, nothing is stuck */
	fake_init(&f);
	d = detector(&f, &l, false);
	f.gp.snap.ts_ns = T0 + 20 * S;
	park(&f, 5, "chan receive", 0x100, T0);
	godetect__process(d, &f.gp);
	ASSERT_EQ(godetect__nr_groups(d), 0, "no evidence, no stuck group");
	godetect__free(d);
}

/* Members at one site are one group; it keeps its id, counts revisions, resolves. */
TEST(group_life)
{
	struct fake f;
	struct log l;
	struct godetect *d;
	const struct go_group *g;
	uint64_t id;

	fake_init(&f);
	d = detector(&f, &l, true);
	if (!ASSERT_TRUE(d, "new"))
		return;
	f.gp.snap.ts_ns = T0 + 10 * S;
	for (uint64_t goid = 20; goid < 25; goid++)
		park(&f, goid, "chan send", 0x600, T0 + (goid - 20) * S);
	godetect__process(d, &f.gp);
	g = group_of(d, GO_GROUP_STUCK, 20);
	if (!ASSERT_TRUE(g && g->count == 5, "five senders, one group"))
		goto out;
	id = g->id;
	ASSERT_EQ(g->members[0].goid, 20, "longest blocked first");
	ASSERT_EQ(g->members[0].blocked_ns, 10 * S, "its time");
	ASSERT_EQ(l.calls, 1, "reported once");
	/* the same again: nothing new to say */
	f.gp.snap.ts_ns += S;
	godetect__process(d, &f.gp);
	ASSERT_EQ(l.calls, 1, "unchanged: not reported again");
	/* one more joins */
	park(&f, 30, "chan send", 0x600, T0);
	f.gp.snap.ts_ns += S;
	godetect__process(d, &f.gp);
	g = group_of(d, GO_GROUP_STUCK, 30);
	ASSERT_TRUE(g && g->id == id && g->revision == 1 && g->count == 6, "same id, revision 1");
	ASSERT_EQ(l.calls, 2, "reported as changed");
	/* all woke */
	f.gp.snap.n = 0;
	f.gp.snap.ts_ns += S;
	godetect__process(d, &f.gp);
	ASSERT_EQ(godetect__nr_groups(d), 0, "resolved");
	ASSERT_TRUE(l.resolved == 1 && l.copy.id == id && l.copy.resolved_ns, "reported resolved");
	ASSERT_EQ(godetect__nr_reported(d), 1, "one group in all");
	/* a process that exits resolves its groups */
	park(&f, 40, "chan send (nil chan)", 0x700, T0);
	godetect__process(d, &f.gp);
	ASSERT_EQ(godetect__nr_groups(d), 1, "a leak");
	godetect__forget(d, 42, f.gp.snap.ts_ns + S);
	ASSERT_EQ(godetect__nr_groups(d), 0, "gone with its process");
	ASSERT_EQ(l.resolved, 2, "reported resolved");
out:
	godetect__free(d);
}

/*
 * A handler that leaks one goroutine per request grows steadily; a worker
 * pool goes up and down; a steady set does not grow.
 */
TEST(growing)
{
	struct fake f;
	struct log l;
	struct godetect *d;
	const struct go_group *g = NULL;
	uint64_t first_seen_at = 0;

	fake_init(&f);
	d = detector(&f, &l, false); /* growth needs no evidence */
	if (!ASSERT_TRUE(d, "new"))
		return;
	for (int t = 0; t <= 45; t++) {
		f.gp.snap.n = 0;
		f.gp.snap.ts_ns = T0 + (uint64_t)t * S;
		for (int k = 0; k < t; k++) /* one more leaked per second */
			park(&f, 1000 + (uint64_t)k, "chan send", 0x800, T0 + (uint64_t)k * S);
		for (int k = 0; k < (t % 2 ? 8 : 3); k++) /* a pool, busy and idle by turns */
			park(&f, 100 + (uint64_t)k, "chan receive", 0x900, f.gp.snap.ts_ns);
		for (int k = 0; k < 20; k++) /* twenty connections, steady */
			park(&f, 200 + (uint64_t)k, "sync.Cond.Wait", 0xa00, T0);
		godetect__process(d, &f.gp);
		g = group_of(d, GO_GROUP_GROWING, 1000);
		if (g && !first_seen_at)
			first_seen_at = (uint64_t)t;
	}
	if (!ASSERT_TRUE(g, "the leak grows"))
		goto out;
	/* its first sample is at 1 s (none leaked at 0 s): 30 s later */
	ASSERT_EQ(first_seen_at, 31, "once the window (30 s) is covered");
	ASSERT_EQ(g->count, 45, "all of them");
	ASSERT_TRUE(g->grown_over_ns >= 30 * S && g->grown_from <= 15, "from what, over how long");
	ASSERT_FALSE(group_of(d, GO_GROUP_GROWING, 100), "a pool goes up and down");
	ASSERT_FALSE(group_of(d, GO_GROUP_GROWING, 200), "steady");
out:
	godetect__free(d);
}

/* ---- replay: a process known from a recording, its snapshots handed to the tracker ---- */

struct heard {
	size_t snapshots, gone;
	uint64_t since; /* of goroutine 0, as the tracker carried it over */
};

static void on_snapshot(uint32_t pid, const struct go_process *gp, void *ctx)
{
	struct heard *h = ctx;

	(void)pid;
	if (!gp) {
		h->gone++;
		return;
	}
	h->snapshots++;
	h->since = gp->seen[0].since_ns;
}

/* A snapshot as replay builds it: g malloc'ed, its pcs in a block the snapshot owns. */
static struct gosnap replayed_snapshot(uint64_t ts, uint64_t sched_pc)
{
	struct gosnap s = { .ts_ns = ts, .n = 1 };
	uint64_t *pcs = malloc(2 * sizeof(*pcs));

	s.g = calloc(1, sizeof(*s.g));
	pcs[0] = 0x401000;
	pcs[1] = 0x402000;
	s.g[0] = (struct goroutine){ .goid = 7,
				     .g = 0xc000001000,
				     .status = GO_WAITING,
				     .wait_reason_raw = 2,
				     .sched_pc = sched_pc,
				     .pcs = pcs,
				     .nr_pcs = 2 };
	gosnap__adopt(&s, pcs);
	return s;
}

TEST(replayed_process)
{
	const char *reasons[] = { "", "GC assist marking", "chan receive" };
	struct goproc_recorded d = { .pid = 99, .minor = 26, .cgo = true };
	struct frame f[2] = {}, out[4];
	struct heard h = {};
	struct gotrack *t;
	struct goproc *p;
	struct gosnap s;
	size_t n = 9;

	snprintf(d.version, sizeof(d.version), "go1.26.8");
	snprintf(d.exe, sizeof(d.exe), "/srv/app");
	p = goproc__recorded(&d, reasons, 3);
	if (!ASSERT_TRUE(p, "goproc__recorded"))
		return;
	ASSERT_STREQ(goproc__version(p), "go1.26.8", "version");
	ASSERT_STREQ(goproc__exe(p), "/srv/app", "exe");
	ASSERT_TRUE(goproc__cgo(p) && !goproc__stripped(p), "cgo, not stripped");
	ASSERT_STREQ(golayout__wait_reason(goproc__layout(p), 2), "chan receive", "wait reason");
	ASSERT_TRUE(!golayout__wait_reason(goproc__layout(p), 3), "no reason past the table");
	/* only the pcs recorded have names */
	goproc__frames(p, 0x402000, true, out, 4, &n);
	ASSERT_EQ(n, 0, "a pc not recorded");
	snprintf(f[0].function, sizeof(f[0].function), "main.inner");
	snprintf(f[1].function, sizeof(f[1].function), "main.worker");
	f[0].inlined = true;
	ASSERT_EQ(goproc__add_frames(p, 0x402000, true, f, 2), 0, "add_frames");
	goproc__frames(p, 0x402000, true, out, 4, &n);
	ASSERT_EQ(n, 2, "recorded frames");
	ASSERT_STREQ(out[1].function, "main.worker", "the physical function");
	goproc__frames(p, 0x402000, false, out, 4, &n);
	ASSERT_EQ(n, 0, "the same pc, not as a return address");

	t = gotrack__new("/nonexistent", S);
	if (!ASSERT_TRUE(t, "gotrack__new")) {
		goproc__free(p);
		return;
	}
	gotrack__set_listener(t, on_snapshot, &h);
	ASSERT_EQ(gotrack__replay_process(t, p), 0, "replay_process");
	s = replayed_snapshot(T0, 0x401000);
	ASSERT_EQ(gotrack__replay_snapshot(t, 99, &s), 0, "first snapshot");
	s = replayed_snapshot(T0 + S, 0x401000);
	ASSERT_EQ(gotrack__replay_snapshot(t, 99, &s), 0, "second snapshot");
	ASSERT_EQ(h.snapshots, 2, "the listener heard both");
	ASSERT_EQ(h.since, T0, "in the same state since the first");
	s = replayed_snapshot(T0 + 2 * S, 0x401100);
	gotrack__replay_snapshot(t, 99, &s);
	ASSERT_EQ(h.since, T0 + 2 * S, "parked elsewhere: a new state");
	ASSERT_EQ(gotrack__nr_processes(t), 1, "one process");
	s = replayed_snapshot(T0, 0x401000);
	ASSERT_EQ(gotrack__replay_snapshot(t, 100, &s), -ENOENT, "a snapshot of no process");
	gotrack__forget(t, 99);
	ASSERT_EQ(h.gone, 1, "the listener heard it go");
	ASSERT_EQ(gotrack__nr_processes(t), 0, "no process");
	gotrack__free(t);
}

TEST_MAIN()
