// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the live model (src/model.c).
 *
 * A recording listener keeps a copy of every struct model_event (the pointers
 * in an event are only valid during the call), so each test can check both
 * the state left in the model and exactly what the views were told.
 */
#include <errno.h>
#include <stdint.h>

#include "hmap.h"
#include "model.h"
#include "test.h"

#define REC_MAX 64

/* A struct model_event with its pointers replaced by copies. */
struct rec {
	enum model_change kind;
	uint64_t ts_ns;
	struct thread thread;
	bool has_wait;
	struct wait wait;
	uint64_t blocked_ns;
	int64_t ret;
	enum wait_result result;
	bool has_old_comm;
	char old_comm[TANGLE_COMM_LEN];
	uint32_t parent_pid;
	uint32_t parent_tid;
	bool is_thread;
	int32_t exit_code;
	bool group_dead;
	/* what the model looked like during the call */
	bool thread_in_model; /* model__thread(tid) == ev->thread */
	bool tid_in_model; /* model__thread(tid) != NULL */
};

struct recorder {
	struct model *m;
	struct rec recs[REC_MAX];
	size_t n; /* events seen; only the first REC_MAX are kept */
};

static void record(const struct model_event *ev, void *ctx)
{
	struct recorder *r = ctx;
	struct rec *c;

	if (r->n++ >= REC_MAX)
		return;
	c = &r->recs[r->n - 1];
	memset(c, 0, sizeof(*c));
	c->kind = ev->kind;
	c->ts_ns = ev->ts_ns;
	if (ev->thread) {
		c->thread = *ev->thread;
		c->thread_in_model = r->m && model__thread(r->m, ev->thread->tid) == ev->thread;
		c->tid_in_model = r->m && model__thread(r->m, ev->thread->tid) != NULL;
	}
	if (ev->wait) {
		c->has_wait = true;
		c->wait = *ev->wait;
	}
	c->blocked_ns = ev->blocked_ns;
	c->ret = ev->ret;
	c->result = ev->result;
	if (ev->old_comm) {
		c->has_old_comm = true;
		memcpy(c->old_comm, ev->old_comm, TANGLE_COMM_LEN);
	}
	c->parent_pid = ev->parent_pid;
	c->parent_tid = ev->parent_tid;
	c->is_thread = ev->is_thread;
	c->exit_code = ev->exit_code;
	c->group_dead = ev->group_dead;
}

static struct model *setup(struct recorder *r)
{
	memset(r, 0, sizeof(*r));
	r->m = model__new(record, r);
	ASSERT_TRUE(r->m, "model__new");
	return r->m;
}

static void reset(struct recorder *r)
{
	r->n = 0;
}

static struct wait futex_wait_on(uint64_t addr, uint64_t since_ns, bool preblocked)
{
	struct wait w = {
		.kind = WAIT_FUTEX,
		.sys = TANGLE_SYS_FUTEX,
		.op = 128, /* FUTEX_WAIT_PRIVATE */
		.expected = 2,
		.addr = addr,
		.since_ns = since_ns,
		.preblocked = preblocked,
	};

	return w;
}

static struct futex_stat *fstat_of(struct model *m, uint32_t pid, uint64_t addr)
{
	struct process *p = model__process(m, pid);

	return p ? hmap__get(p->futexes, addr) : NULL;
}

static uint32_t waiting_on(struct model *m, uint32_t pid, uint64_t addr)
{
	struct futex_stat *f = fstat_of(m, pid, addr);

	return f ? f->waiting : 0;
}

TEST(new_and_free)
{
	struct model *m = model__new(NULL, NULL);

	if (!ASSERT_TRUE(m, "model__new"))
		return;
	ASSERT_EQ(model__nr_threads(m), 0, "no threads");
	ASSERT_EQ(model__nr_processes(m), 0, "no processes");
	ASSERT_TRUE(model__thread(m, 1) == NULL, "no thread 1");
	ASSERT_TRUE(model__process(m, 1) == NULL, "no process 1");
	/* inputs work without a listener */
	ASSERT_OK(model__thread_new(m, 1, 10, 10, "a", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING),
		  "new");
	ASSERT_OK(model__thread_exit(m, 2, 10, 10, "a", 0, true), "exit");
	ASSERT_EQ(model__nr_threads(m), 0, "gone");
	model__free(m);
	model__free(NULL);
}

TEST(thread_new_emits_once)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct process *p;
	struct thread *t;
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1000, 10, 10, "app", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING),
		  "new");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_NEW, "kind");
	ASSERT_EQ(e->ts_ns, 1000, "ts");
	ASSERT_EQ(e->thread.pid, 10, "pid");
	ASSERT_EQ(e->thread.tid, 10, "tid");
	ASSERT_STREQ(e->thread.comm, "app", "comm");
	ASSERT_EQ(e->thread.origin, ORIGIN_PROC, "origin");
	ASSERT_EQ(e->thread.state, TANGLE_TS_SLEEPING, "state");
	ASSERT_EQ(e->thread.state_since_ns, 1000, "state since");
	ASSERT_EQ(e->thread.first_seen_ns, 1000, "first seen");
	ASSERT_EQ(e->thread.wait.kind, WAIT_NONE, "no wait");
	ASSERT_FALSE(e->has_wait, "no wait in event");
	ASSERT_FALSE(e->is_thread, "leader is not a thread");
	ASSERT_TRUE(e->thread_in_model, "reported after the change");

	t = model__thread(m, 10);
	p = model__process(m, 10);
	if (!ASSERT_TRUE(t && p, "in model"))
		goto out;
	ASSERT_STREQ(p->comm, "app", "process comm");
	ASSERT_EQ(p->nr_threads, 1, "one thread");

	/* the /proc scan and the fork event both name it: second one is silent */
	reset(&r);
	ASSERT_OK(model__thread_new(m, 2000, 10, 10, "other", ORIGIN_FORK, 1, 1, TANGLE_TS_RUNNING),
		  "new again");
	ASSERT_EQ(r.n, 0, "no event");
	ASSERT_TRUE(model__thread(m, 10) == t, "same thread");
	ASSERT_STREQ(t->comm, "app", "comm unchanged");
	ASSERT_EQ(t->origin, ORIGIN_PROC, "origin unchanged");
	ASSERT_EQ(t->state, TANGLE_TS_SLEEPING, "state unchanged");
	ASSERT_EQ(p->nr_threads, 1, "still one thread");
	ASSERT_EQ(model__nr_threads(m), 1, "nr_threads");
out:
	model__free(m);
}

TEST(thread_new_is_thread_and_parents)
{
	struct recorder r;
	struct model *m = setup(&r);

	if (!m)
		return;
	/* fork of a new process: creator in another tgid */
	ASSERT_OK(model__thread_new(m, 1, 20, 20, "child", ORIGIN_FORK, 10, 11, TANGLE_TS_RUNNABLE),
		  "fork process");
	/* clone of a thread: creator in the same tgid */
	ASSERT_OK(model__thread_new(m, 2, 20, 21, "child", ORIGIN_FORK, 20, 20, TANGLE_TS_RUNNABLE),
		  "clone thread");
	/* /proc: a thread iff tid != pid */
	ASSERT_OK(model__thread_new(m, 3, 20, 22, "child", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING),
		  "proc thread");
	ASSERT_OK(model__thread_new(m, 4, 30, 30, "x", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING),
		  "proc leader");
	if (!ASSERT_EQ(r.n, 4, "four events"))
		goto out;
	ASSERT_FALSE(r.recs[0].is_thread, "fork: process");
	ASSERT_EQ(r.recs[0].parent_pid, 10, "parent pid");
	ASSERT_EQ(r.recs[0].parent_tid, 11, "parent tid");
	ASSERT_EQ(r.recs[0].thread.origin, ORIGIN_FORK, "origin fork");
	ASSERT_TRUE(r.recs[1].is_thread, "clone: thread");
	ASSERT_EQ(r.recs[1].parent_pid, 20, "parent pid 2");
	ASSERT_EQ(r.recs[1].parent_tid, 20, "parent tid 2");
	ASSERT_TRUE(r.recs[2].is_thread, "proc: thread");
	ASSERT_FALSE(r.recs[3].is_thread, "proc: leader");
out:
	model__free(m);
}

TEST(process_thread_counts)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct process *p, *q;
	size_t it, n;
	uint32_t sum;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "a", ORIGIN_PROC, 0, 0, 0), "100");
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "a", ORIGIN_PROC, 0, 0, 0), "101");
	ASSERT_OK(model__thread_new(m, 1, 100, 102, "a", ORIGIN_PROC, 0, 0, 0), "102");
	ASSERT_OK(model__thread_new(m, 1, 200, 200, "b", ORIGIN_PROC, 0, 0, 0), "200");
	p = model__process(m, 100);
	q = model__process(m, 200);
	if (!ASSERT_TRUE(p && q, "processes"))
		goto out;
	ASSERT_EQ(p->nr_threads, 3, "100 has 3");
	ASSERT_EQ(q->nr_threads, 1, "200 has 1");
	ASSERT_EQ(model__nr_threads(m), 4, "4 threads");
	ASSERT_EQ(model__nr_processes(m), 2, "2 processes");
	ASSERT_TRUE(model__process(m, 101) == NULL, "no process 101");

	it = 0;
	n = 0;
	for (struct thread *t; (t = model__next_thread(m, &it));)
		n++;
	ASSERT_EQ(n, 4, "iterate threads");
	it = 0;
	n = 0;
	sum = 0;
	for (struct process *x; (x = model__next_process(m, &it));) {
		n++;
		sum += x->nr_threads;
	}
	ASSERT_EQ(n, 2, "iterate processes");
	ASSERT_EQ(sum, 4, "sum of nr_threads");

	ASSERT_OK(model__thread_exit(m, 5, 100, 101, "a", 0, false), "exit 101");
	ASSERT_EQ(p->nr_threads, 2, "100 has 2");
	ASSERT_EQ(model__nr_threads(m), 3, "3 threads");
out:
	model__free(m);
}

/* A process first met through a non-leader takes the leader's comm once the leader shows up. */
TEST(process_comm_from_leader)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct process *p;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "worker", ORIGIN_PROC, 0, 0, 0), "101");
	p = model__process(m, 100);
	if (!ASSERT_TRUE(p, "process"))
		goto out;
	ASSERT_STREQ(p->comm, "worker", "comm from first thread");
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "server", ORIGIN_PROC, 0, 0, 0), "100");
	ASSERT_STREQ(p->comm, "server", "comm from leader");
	ASSERT_OK(model__thread_new(m, 1, 100, 102, "other", ORIGIN_PROC, 0, 0, 0), "102");
	ASSERT_STREQ(p->comm, "server", "a thread does not rename the process");
out:
	model__free(m);
}

TEST(rename)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct process *p;
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "app", ORIGIN_PROC, 0, 0, 0), "100");
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "app", ORIGIN_PROC, 0, 0, 0), "101");
	p = model__process(m, 100);
	if (!ASSERT_TRUE(p, "process"))
		goto out;

	reset(&r);
	ASSERT_OK(model__thread_rename(m, 50, 100, 101, "worker-1"), "rename thread");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_RENAME, "kind");
	ASSERT_EQ(e->ts_ns, 50, "ts");
	ASSERT_EQ(e->thread.tid, 101, "tid");
	ASSERT_STREQ(e->thread.comm, "worker-1", "new comm in event");
	ASSERT_TRUE(e->has_old_comm, "old comm given");
	ASSERT_STREQ(e->old_comm, "app", "old comm");
	ASSERT_STREQ(model__thread(m, 101)->comm, "worker-1", "model comm");
	ASSERT_STREQ(p->comm, "app", "process keeps leader's comm");

	reset(&r);
	ASSERT_OK(model__thread_rename(m, 60, 100, 100, "main-loop"), "rename leader");
	ASSERT_EQ(r.n, 1, "one event");
	ASSERT_STREQ(e->old_comm, "app", "leader old comm");
	ASSERT_STREQ(p->comm, "main-loop", "process renamed with its leader");

	/* a long name is cut to 15 bytes */
	reset(&r);
	ASSERT_OK(model__thread_rename(m, 70, 100, 101, "abcdefghijklmnopqrstuvwxyz"), "long");
	ASSERT_STREQ(model__thread(m, 101)->comm, "abcdefghijklmno", "truncated");
	ASSERT_STREQ(e->old_comm, "worker-1", "old comm 2");

	/* rename of a thread never seen: it is created first */
	reset(&r);
	ASSERT_OK(model__thread_rename(m, 80, 300, 301, "new"), "rename unknown");
	if (!ASSERT_EQ(r.n, 2, "two events"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_THREAD_NEW, "new first");
	ASSERT_EQ(r.recs[0].thread.origin, ORIGIN_SEEN, "seen");
	ASSERT_TRUE(r.recs[0].is_thread, "301 is a thread of 300");
	ASSERT_EQ(r.recs[1].kind, MC_THREAD_RENAME, "then rename");
	ASSERT_STREQ(r.recs[1].thread.comm, "new", "comm");
out:
	model__free(m);
}

TEST(exit_removes_thread_then_process)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "app", ORIGIN_PROC, 0, 0, 3), "100");
	ASSERT_OK(model__thread_new(m, 2, 100, 101, "wrk", ORIGIN_PROC, 0, 0, 3), "101");

	reset(&r);
	ASSERT_OK(model__thread_exit(m, 10, 100, 101, "wrk", 0, false), "exit 101");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_EXIT, "kind");
	ASSERT_EQ(e->ts_ns, 10, "ts");
	ASSERT_EQ(e->thread.tid, 101, "tid");
	ASSERT_EQ(e->thread.pid, 100, "pid");
	ASSERT_STREQ(e->thread.comm, "wrk", "comm as it was");
	ASSERT_EQ(e->thread.first_seen_ns, 2, "thread as it was");
	ASSERT_EQ(e->thread.state, TANGLE_TS_DEAD, "dead");
	ASSERT_FALSE(e->group_dead, "not group dead");
	ASSERT_TRUE(e->tid_in_model, "told before the removal");
	ASSERT_FALSE(e->thread_in_model, "with a copy of the thread");
	ASSERT_TRUE(model__thread(m, 101) == NULL, "101 gone");
	ASSERT_TRUE(model__process(m, 100) != NULL, "process stays");
	ASSERT_EQ(model__process(m, 100)->nr_threads, 1, "one left");

	reset(&r);
	ASSERT_OK(model__thread_exit(m, 20, 100, 100, "app", 9, true), "exit 100");
	ASSERT_EQ(r.n, 2, "thread exit, then process exit");
	ASSERT_EQ(r.recs[1].kind, MC_PROCESS_EXIT, "process exit last");
	ASSERT_EQ(r.recs[1].ts_ns, 20, "at the exit's time");
	ASSERT_EQ(e->exit_code, 9, "exit code");
	ASSERT_TRUE(e->group_dead, "group dead");
	ASSERT_TRUE(model__thread(m, 100) == NULL, "100 gone");
	ASSERT_TRUE(model__process(m, 100) == NULL, "process gone with its last thread");
	ASSERT_EQ(model__nr_threads(m), 0, "no threads");
	ASSERT_EQ(model__nr_processes(m), 0, "no processes");

	/* a thread that exited before the /proc scan: reported, not added */
	reset(&r);
	ASSERT_OK(model__thread_exit(m, 30, 500, 501, "ghost", 256, false), "exit unknown");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_EXIT, "kind");
	ASSERT_EQ(e->thread.tid, 501, "tid");
	ASSERT_EQ(e->thread.pid, 500, "pid");
	ASSERT_STREQ(e->thread.comm, "ghost", "comm from the event");
	ASSERT_EQ(e->thread.state, TANGLE_TS_DEAD, "dead");
	ASSERT_EQ(e->exit_code, 256, "exit code");
	ASSERT_EQ(model__nr_threads(m), 0, "still none");
	ASSERT_EQ(model__nr_processes(m), 0, "no process created");
out:
	model__free(m);
}

TEST(exit_while_waiting)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x7000, 1000, false);

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "app", ORIGIN_PROC, 0, 0, 0), "100");
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "wrk", ORIGIN_PROC, 0, 0, 0), "101");
	ASSERT_OK(model__wait_begin(m, 1000, 100, 101, "wrk", &w), "begin");
	ASSERT_EQ(waiting_on(m, 100, 0x7000), 1, "waiting 1");

	reset(&r);
	ASSERT_OK(model__thread_exit(m, 4000, 100, 101, "wrk", 0, false), "exit");
	if (!ASSERT_EQ(r.n, 2, "two events"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_WAIT_END, "wait end first");
	ASSERT_EQ(r.recs[0].result, WAIT_EXITED, "result exited");
	ASSERT_STREQ(wait_result_name(r.recs[0].result), "exited", "name");
	ASSERT_EQ(r.recs[0].blocked_ns, 3000, "blocked");
	ASSERT_TRUE(r.recs[0].has_wait, "wait given");
	ASSERT_EQ(r.recs[0].wait.addr, 0x7000, "addr");
	ASSERT_EQ(r.recs[0].wait.since_ns, 1000, "since");
	ASSERT_EQ(r.recs[0].thread.tid, 101, "tid");
	ASSERT_EQ(r.recs[0].thread.wait.kind, WAIT_NONE, "thread no longer waits");
	ASSERT_EQ(r.recs[1].kind, MC_THREAD_EXIT, "then exit");
	ASSERT_EQ(r.recs[1].thread.tid, 101, "exit tid");
	ASSERT_EQ(waiting_on(m, 100, 0x7000), 0, "waiting back to 0");
	ASSERT_TRUE(model__thread(m, 101) == NULL, "gone");
out:
	model__free(m);
}

TEST(wait_begin_end_pairs)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 1000, false);
	struct futex_stat *f;
	struct thread *t;
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "app", ORIGIN_PROC, 0, 0, 0), "100");
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "wrk", ORIGIN_PROC, 0, 0, 0), "101");
	t = model__thread(m, 101);

	reset(&r);
	w.has_timeout = true;
	w.addr2 = 0x2000;
	ASSERT_OK(model__wait_begin(m, 1000, 100, 101, "wrk", &w), "begin");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_WAIT_BEGIN, "kind");
	ASSERT_TRUE(e->has_wait, "wait");
	ASSERT_EQ(e->wait.kind, WAIT_FUTEX, "futex");
	ASSERT_EQ(e->wait.addr, 0x1000, "addr");
	ASSERT_EQ(e->wait.addr2, 0x2000, "addr2");
	ASSERT_EQ(e->wait.op, 128, "op");
	ASSERT_EQ(e->wait.expected, 2, "expected");
	ASSERT_TRUE(e->wait.has_timeout, "timeout");
	ASSERT_EQ(e->wait.since_ns, 1000, "since");
	ASSERT_EQ(e->thread.wait.kind, WAIT_FUTEX, "thread waits in the event");
	ASSERT_EQ(t->wait.kind, WAIT_FUTEX, "thread waits");
	ASSERT_EQ(t->wait.addr, 0x1000, "thread wait addr");
	f = fstat_of(m, 100, 0x1000);
	if (!ASSERT_TRUE(f, "futex stat"))
		goto out;
	ASSERT_EQ(f->addr, 0x1000, "stat addr");
	ASSERT_EQ(f->waiting, 1, "waiting 1");
	ASSERT_EQ(f->waits, 0, "no finished wait yet");

	/* a second thread on the same word */
	ASSERT_OK(model__wait_begin(m, 1500, 100, 100, "app", &w), "begin 100");
	ASSERT_EQ(f->waiting, 2, "waiting 2");

	reset(&r);
	ASSERT_OK(model__wait_end(m, 5000, 100, 101, "wrk", &w, 1000, 0), "end");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_WAIT_END, "kind");
	ASSERT_EQ(e->blocked_ns, 4000, "blocked");
	ASSERT_EQ(e->ret, 0, "ret");
	ASSERT_EQ(e->result, WAIT_WOKEN, "woken");
	ASSERT_TRUE(e->has_wait, "wait");
	ASSERT_EQ(e->wait.addr, 0x1000, "addr");
	ASSERT_EQ(e->wait.since_ns, 1000, "since");
	ASSERT_FALSE(e->wait.preblocked, "not preblocked");
	ASSERT_EQ(e->thread.wait.kind, WAIT_NONE, "thread done waiting in the event");
	ASSERT_EQ(t->wait.kind, WAIT_NONE, "thread done waiting");
	ASSERT_EQ(t->nr_waits, 1, "nr_waits");
	ASSERT_EQ(t->wait_ns, 4000, "wait_ns");
	ASSERT_EQ(f->waits, 1, "waits 1");
	ASSERT_EQ(f->total_ns, 4000, "total 4000");
	ASSERT_EQ(f->max_ns, 4000, "max 4000");
	ASSERT_EQ(f->waiting, 1, "waiting 1 again");

	reset(&r);
	ASSERT_OK(model__wait_end(m, 3500, 100, 100, "app", &w, 1500, -ETIMEDOUT), "end 100");
	ASSERT_EQ(e->result, WAIT_TIMEOUT, "timeout");
	ASSERT_EQ(e->ret, -ETIMEDOUT, "ret");
	ASSERT_EQ(f->waits, 2, "waits 2");
	ASSERT_EQ(f->total_ns, 6000, "total 6000");
	ASSERT_EQ(f->max_ns, 4000, "max stays 4000");
	ASSERT_EQ(f->waiting, 0, "waiting 0");

	/* a longer wait raises max */
	w.since_ns = 10000;
	ASSERT_OK(model__wait_begin(m, 10000, 100, 101, "wrk", &w), "begin 3");
	ASSERT_EQ(f->waiting, 1, "waiting 1 (3)");
	ASSERT_OK(model__wait_end(m, 19000, 100, 101, "wrk", &w, 10000, -EAGAIN), "end 3");
	ASSERT_EQ(f->waits, 3, "waits 3");
	ASSERT_EQ(f->total_ns, 15000, "total 15000");
	ASSERT_EQ(f->max_ns, 9000, "max 9000");
	ASSERT_EQ(f->waiting, 0, "waiting 0 (3)");
	ASSERT_EQ(t->nr_waits, 2, "nr_waits 2");
	ASSERT_EQ(t->wait_ns, 13000, "wait_ns 13000");
	ASSERT_EQ(hmap__len(model__process(m, 100)->futexes), 1, "one futex tracked");
out:
	model__free(m);
}

/* A wait the /proc scan found: its start is unknown, tangle's start stands in. */
TEST(preblocked_wait_end)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 500, true);
	struct wait end = futex_wait_on(0x1000, 0, false);
	struct rec *e = &r.recs[0];
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 500, 100, 100, "app", ORIGIN_PROC, 0, 0, 3), "100");
	ASSERT_OK(model__wait_begin(m, 500, 100, 100, "app", &w), "preblocked begin");
	t = model__thread(m, 100);
	if (!ASSERT_TRUE(t, "thread"))
		goto out;
	ASSERT_TRUE(t->wait.preblocked, "preblocked");
	ASSERT_EQ(t->wait.since_ns, 500, "since start");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 1, "waiting 1");

	reset(&r);
	end.preblocked = true; /* as the BPF side flags it */
	ASSERT_OK(model__wait_end(m, 3500, 100, 100, "app", &end, 0, 0), "end");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_WAIT_END, "kind");
	ASSERT_TRUE(e->wait.preblocked, "reported preblocked");
	ASSERT_EQ(e->wait.since_ns, 500, "since start");
	ASSERT_EQ(e->blocked_ns, 3000, "blocked = ts - start");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 0, "waiting 0");
	ASSERT_EQ(fstat_of(m, 100, 0x1000)->total_ns, 3000, "total");
out:
	model__free(m);
}

/* The scan guessed a wait that BPF then saw begin: keep the precise start, no event. */
TEST(preblocked_upgraded_silently)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait pre = futex_wait_on(0x1000, 500, true);
	struct wait real = futex_wait_on(0x1000, 700, false);
	struct rec *e = &r.recs[0];
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 500, 100, 100, "app", ORIGIN_PROC, 0, 0, 3), "100");
	ASSERT_OK(model__wait_begin(m, 500, 100, 100, "app", &pre), "preblocked");
	t = model__thread(m, 100);

	reset(&r);
	ASSERT_OK(model__wait_begin(m, 700, 100, 100, "app", &real), "real begin");
	ASSERT_EQ(r.n, 0, "no event");
	ASSERT_EQ(t->wait.kind, WAIT_FUTEX, "still waiting");
	ASSERT_FALSE(t->wait.preblocked, "no longer preblocked");
	ASSERT_EQ(t->wait.since_ns, 700, "precise start");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 1, "not counted twice");

	ASSERT_OK(model__wait_end(m, 1700, 100, 100, "app", &real, 700, 0), "end");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_FALSE(e->wait.preblocked, "not preblocked");
	ASSERT_EQ(e->blocked_ns, 1000, "blocked from precise start");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 0, "waiting 0");
out:
	model__free(m);
}

/* A preblocked guess arriving after BPF already saw the wait begin is ignored. */
TEST(preblocked_after_real_ignored)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait real = futex_wait_on(0x1000, 700, false);
	struct wait pre = futex_wait_on(0x1000, 900, true);
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__wait_begin(m, 700, 100, 100, "app", &real), "real");
	t = model__thread(m, 100);
	reset(&r);
	ASSERT_OK(model__wait_begin(m, 900, 100, 100, "app", &pre), "preblocked");
	ASSERT_EQ(r.n, 0, "no event");
	ASSERT_FALSE(t->wait.preblocked, "still precise");
	ASSERT_EQ(t->wait.since_ns, 700, "start kept");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 1, "waiting 1");
	model__free(m);
}

/* A new wait while one is recorded means the old end was lost: replace it. */
TEST(wait_begin_replaces_lost_wait)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait a = futex_wait_on(0x1000, 100, false);
	struct wait b = futex_wait_on(0x2000, 200, false);
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__wait_begin(m, 100, 100, 100, "app", &a), "a");
	t = model__thread(m, 100);
	reset(&r);
	ASSERT_OK(model__wait_begin(m, 200, 100, 100, "app", &b), "b");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_WAIT_BEGIN, "begin");
	ASSERT_EQ(t->wait.addr, 0x2000, "new addr");
	ASSERT_EQ(t->wait.since_ns, 200, "new since");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 0, "old addr released");
	ASSERT_EQ(waiting_on(m, 100, 0x2000), 1, "new addr held");
	/* the same address again (e.g. a lost end and a new wait on the same word) */
	b.since_ns = 300;
	ASSERT_OK(model__wait_begin(m, 300, 100, 100, "app", &b), "b again");
	ASSERT_EQ(waiting_on(m, 100, 0x2000), 1, "not counted twice");
	ASSERT_EQ(t->wait.since_ns, 300, "restarted");
out:
	model__free(m);
}

/* A wait_end whose address differs from the recorded wait still ends the thread's wait. */
TEST(wait_end_other_addr)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait a = futex_wait_on(0x1000, 100, false);
	struct wait b = futex_wait_on(0x2000, 150, false);
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__wait_begin(m, 100, 100, 100, "app", &a), "a");
	reset(&r);
	ASSERT_OK(model__wait_end(m, 400, 100, 100, "app", &b, 150, 0), "end b");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->wait.addr, 0x2000, "ended wait is the event's");
	ASSERT_EQ(e->blocked_ns, 250, "from begin_ns");
	ASSERT_EQ(model__thread(m, 100)->wait.kind, WAIT_NONE, "not waiting");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 0, "a released");
	ASSERT_EQ(fstat_of(m, 100, 0x2000)->waits, 1, "b counted");
out:
	model__free(m);
}

TEST(wait_for_unknown_tid)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 100, false);
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__wait_begin(m, 100, 100, 101, "wrk", &w), "begin");
	if (!ASSERT_EQ(r.n, 2, "two events"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_THREAD_NEW, "thread_new first");
	ASSERT_EQ(r.recs[0].thread.tid, 101, "tid");
	ASSERT_EQ(r.recs[0].thread.pid, 100, "pid");
	ASSERT_EQ(r.recs[0].thread.origin, ORIGIN_SEEN, "origin seen");
	ASSERT_EQ(r.recs[0].thread.first_seen_ns, 100, "first seen");
	ASSERT_STREQ(r.recs[0].thread.comm, "wrk", "comm");
	ASSERT_TRUE(r.recs[0].is_thread, "101 in 100 is a thread");
	ASSERT_EQ(r.recs[0].thread.wait.kind, WAIT_NONE, "not yet waiting when announced");
	ASSERT_TRUE(r.recs[0].thread_in_model, "in model");
	ASSERT_EQ(r.recs[1].kind, MC_WAIT_BEGIN, "then wait_begin");
	t = model__thread(m, 101);
	if (!ASSERT_TRUE(t, "thread"))
		goto out;
	ASSERT_EQ(t->origin, ORIGIN_SEEN, "model origin");
	ASSERT_EQ(model__process(m, 100)->nr_threads, 1, "process counted");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 1, "waiting");

	/* wait_end for another unknown thread: created too, then the end */
	reset(&r);
	ASSERT_OK(model__wait_end(m, 900, 200, 200, "x", &w, 100, 0), "end unknown");
	if (!ASSERT_EQ(r.n, 2, "two events"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_THREAD_NEW, "thread_new first");
	ASSERT_FALSE(r.recs[0].is_thread, "leader");
	ASSERT_EQ(r.recs[1].kind, MC_WAIT_END, "then wait_end");
	ASSERT_EQ(r.recs[1].blocked_ns, 800, "blocked");
	ASSERT_EQ(model__nr_threads(m), 2, "2 threads");
	ASSERT_EQ(model__nr_processes(m), 2, "2 processes");
out:
	model__free(m);
}

TEST(exec_same_tid)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct rec *e = &r.recs[0];

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "sh", ORIGIN_FORK, 50, 50, 2), "100");
	reset(&r);
	ASSERT_OK(model__thread_exec(m, 10, 100, 100, 100, "python3"), "exec");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_EXEC, "kind");
	ASSERT_EQ(e->ts_ns, 10, "ts");
	ASSERT_EQ(e->thread.tid, 100, "tid");
	ASSERT_STREQ(e->thread.comm, "python3", "new comm");
	ASSERT_TRUE(e->has_old_comm, "old comm");
	ASSERT_STREQ(e->old_comm, "sh", "old comm value");
	ASSERT_STREQ(model__process(m, 100)->comm, "python3", "process comm");
	ASSERT_EQ(model__nr_threads(m), 1, "one thread");

	/* exec of an unknown task: seen first */
	reset(&r);
	ASSERT_OK(model__thread_exec(m, 20, 300, 300, 300, "ls"), "exec unknown");
	if (!ASSERT_EQ(r.n, 2, "two events"))
		goto out;
	ASSERT_EQ(r.recs[0].kind, MC_THREAD_NEW, "new");
	ASSERT_EQ(r.recs[1].kind, MC_THREAD_EXEC, "exec");
out:
	model__free(m);
}

/* de_thread(): a non-leader execs and takes over the leader's tid. */
TEST(exec_de_thread)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 5, false);
	struct rec *e = &r.recs[0];
	struct process *p;
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 100, "app", ORIGIN_PROC, 0, 0, 3), "100");
	ASSERT_OK(model__thread_new(m, 2, 100, 101, "wrk", ORIGIN_PROC, 0, 0, 3), "101");
	ASSERT_OK(model__thread_new(m, 3, 100, 102, "wrk2", ORIGIN_PROC, 0, 0, 3), "102");
	/* the leader sits in a wait that de_thread() kills */
	ASSERT_OK(model__wait_begin(m, 5, 100, 100, "app", &w), "leader waits");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 1, "waiting 1");
	ASSERT_OK(model__thread_exit(m, 6, 100, 102, "wrk2", 0, false), "102 exits");

	reset(&r);
	ASSERT_OK(model__thread_exec(m, 10, 100, 100, 101, "newprog"), "exec from 101");
	if (!ASSERT_EQ(r.n, 1, "one event"))
		goto out;
	ASSERT_EQ(e->kind, MC_THREAD_EXEC, "kind");
	ASSERT_EQ(e->thread.tid, 100, "reported under the leader's tid");
	ASSERT_STREQ(e->thread.comm, "newprog", "new comm");
	ASSERT_STREQ(e->old_comm, "wrk", "old comm is the exec'ing thread's");
	ASSERT_EQ(e->thread.first_seen_ns, 2, "it is thread 101 moved");
	ASSERT_TRUE(e->thread_in_model, "in model under tid 100");

	ASSERT_TRUE(model__thread(m, 101) == NULL, "101 gone");
	t = model__thread(m, 100);
	if (!ASSERT_TRUE(t, "100 present"))
		goto out;
	ASSERT_EQ(t->tid, 100, "tid updated");
	ASSERT_EQ(t->pid, 100, "pid");
	ASSERT_EQ(t->first_seen_ns, 2, "moved thread");
	ASSERT_EQ(t->wait.kind, WAIT_NONE, "the old leader's wait is gone");
	p = model__process(m, 100);
	if (!ASSERT_TRUE(p, "process"))
		goto out;
	ASSERT_EQ(p->nr_threads, 1, "one thread left");
	ASSERT_STREQ(p->comm, "newprog", "process comm");
	ASSERT_EQ(model__nr_threads(m), 1, "nr_threads");
	ASSERT_EQ(waiting_on(m, 100, 0x1000), 0, "waiting released");

	/* the leader's exit was already seen: the thread moves into a free tid */
	ASSERT_OK(model__thread_new(m, 20, 100, 103, "t3", ORIGIN_FORK, 100, 100, 2), "103");
	ASSERT_OK(model__thread_exit(m, 21, 100, 100, "newprog", 0, false), "leader exits");
	ASSERT_EQ(model__process(m, 100)->nr_threads, 1, "103 keeps the process");
	reset(&r);
	ASSERT_OK(model__thread_exec(m, 22, 100, 100, 103, "third"), "exec from 103");
	ASSERT_EQ(r.n, 1, "one event");
	ASSERT_TRUE(model__thread(m, 103) == NULL, "103 gone");
	t = model__thread(m, 100);
	ASSERT_TRUE(t && t->first_seen_ns == 20, "103 moved to 100");
	ASSERT_EQ(model__process(m, 100)->nr_threads, 1, "still one");
	ASSERT_EQ(model__nr_threads(m), 1, "nr_threads 1");
out:
	model__free(m);
}

TEST(futex_bound_per_process)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0, 0, false);
	uint64_t extra = 0x10000000ULL + 8ULL * MODEL_MAX_FUTEXES_PER_PROCESS;
	size_t events;
	struct process *p;
	struct futex_stat *f;

	if (!m)
		return;
	for (uint64_t i = 0; i < MODEL_MAX_FUTEXES_PER_PROCESS; i++) {
		w.addr = 0x10000000ULL + 8 * i;
		w.since_ns = 10 * i;
		if (!ASSERT_OK(model__wait_begin(m, 10 * i, 100, 100, "app", &w), "begin") ||
		    !ASSERT_OK(model__wait_end(m, 10 * i + 5, 100, 100, "app", &w, 10 * i, 0),
			       "end"))
			goto out;
	}
	p = model__process(m, 100);
	if (!ASSERT_TRUE(p, "process"))
		goto out;
	ASSERT_EQ(hmap__len(p->futexes), MODEL_MAX_FUTEXES_PER_PROCESS, "at the bound");
	ASSERT_EQ(p->futexes_dropped, 0, "nothing dropped yet");

	/* one more address: not tracked, counted, the wait itself still reported */
	events = r.n;
	w.addr = extra;
	w.since_ns = 1000000;
	ASSERT_OK(model__wait_begin(m, 1000000, 100, 100, "app", &w), "begin extra");
	ASSERT_EQ(r.n, events + 1, "wait_begin reported");
	ASSERT_EQ(model__thread(m, 100)->wait.addr, extra, "thread waits on it");
	ASSERT_OK(model__wait_end(m, 1000100, 100, 100, "app", &w, 1000000, 0), "end extra");
	ASSERT_EQ(r.n, events + 2, "wait_end reported");
	ASSERT_EQ(hmap__len(p->futexes), MODEL_MAX_FUTEXES_PER_PROCESS, "still at the bound");
	ASSERT_TRUE(hmap__get(p->futexes, extra) == NULL, "extra not tracked");
	ASSERT_TRUE(p->futexes_dropped >= 1, "drop counted");
	ASSERT_EQ(model__thread(m, 100)->wait.kind, WAIT_NONE, "wait ended");
	ASSERT_EQ(model__thread(m, 100)->nr_waits, MODEL_MAX_FUTEXES_PER_PROCESS + 1,
		  "thread counts every wait");

	/* an address already tracked keeps being updated */
	w.addr = 0x10000000ULL;
	ASSERT_OK(model__wait_begin(m, 2000000, 100, 100, "app", &w), "begin tracked");
	f = hmap__get(p->futexes, w.addr);
	if (!ASSERT_TRUE(f, "tracked"))
		goto out;
	ASSERT_EQ(f->waiting, 1, "waiting");
	ASSERT_OK(model__wait_end(m, 2000050, 100, 100, "app", &w, 2000000, 0), "end tracked");
	ASSERT_EQ(f->waits, 2, "waits");
	ASSERT_EQ(f->waiting, 0, "waiting 0");

	/* the bound is per process */
	w.addr = extra;
	ASSERT_OK(model__wait_begin(m, 3000000, 200, 200, "other", &w), "other process");
	ASSERT_EQ(waiting_on(m, 200, extra), 1, "tracked in another process");
	ASSERT_EQ(model__process(m, 200)->futexes_dropped, 0, "nothing dropped there");
out:
	model__free(m);
}

TEST(thread_sched)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct tangle_thread_info ti = {
		.pid = 100,
		.state = TANGLE_TS_DISK,
		.in_wait = 0,
		.state_since_ns = 1234,
		.run_ns = 5678,
		.blocked_ns = 910,
		.nr_switches = 11,
	};
	struct thread *t;

	if (!m)
		return;
	ASSERT_OK(model__thread_new(m, 1, 100, 101, "wrk", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING),
		  "101");
	t = model__thread(m, 101);
	reset(&r);
	model__thread_sched(m, 101, &ti);
	ASSERT_EQ(r.n, 0, "no event");
	ASSERT_EQ(t->state, TANGLE_TS_DISK, "state");
	ASSERT_EQ(t->state_since_ns, 1234, "state since");
	ASSERT_EQ(t->run_ns, 5678, "run_ns");
	ASSERT_EQ(t->sched_blocked_ns, 910, "blocked_ns");
	ASSERT_EQ(t->nr_switches, 11, "switches");

	/* a reused tid in another process: not this thread's state */
	ti.pid = 999;
	ti.state = TANGLE_TS_RUNNING;
	ti.run_ns = 1;
	model__thread_sched(m, 101, &ti);
	ASSERT_EQ(t->state, TANGLE_TS_DISK, "state kept");
	ASSERT_EQ(t->run_ns, 5678, "run_ns kept");

	/* unknown tid: nothing happens */
	ti.pid = 100;
	model__thread_sched(m, 4242, &ti);
	ASSERT_TRUE(model__thread(m, 4242) == NULL, "not created");
	ASSERT_EQ(model__nr_threads(m), 1, "one thread");
	model__free(m);
}

TEST(wait_result_of_mapping)
{
	ASSERT_EQ(wait_result_of(0), WAIT_WOKEN, "0");
	ASSERT_EQ(wait_result_of(1), WAIT_WOKEN, "1 (waitv index)");
	ASSERT_EQ(wait_result_of(127), WAIT_WOKEN, "127");
	ASSERT_EQ(wait_result_of(INT64_MAX), WAIT_WOKEN, "max");
	ASSERT_EQ(wait_result_of(-ETIMEDOUT), WAIT_TIMEOUT, "ETIMEDOUT");
	ASSERT_EQ(wait_result_of(-EAGAIN), WAIT_VALUE_CHANGED, "EAGAIN");
	ASSERT_EQ(wait_result_of(-EINTR), WAIT_INTERRUPTED, "EINTR");
	ASSERT_EQ(wait_result_of(-512), WAIT_INTERRUPTED, "ERESTARTSYS");
	ASSERT_EQ(wait_result_of(-513), WAIT_INTERRUPTED, "ERESTARTNOINTR");
	ASSERT_EQ(wait_result_of(-514), WAIT_INTERRUPTED, "ERESTARTNOHAND");
	ASSERT_EQ(wait_result_of(-515), WAIT_ERROR, "ENOIOCTLCMD is not a restart");
	ASSERT_EQ(wait_result_of(-516), WAIT_INTERRUPTED, "ERESTART_RESTARTBLOCK");
	ASSERT_EQ(wait_result_of(-511), WAIT_ERROR, "511");
	ASSERT_EQ(wait_result_of(-517), WAIT_ERROR, "517");
	ASSERT_EQ(wait_result_of(-EINVAL), WAIT_ERROR, "EINVAL");
	ASSERT_EQ(wait_result_of(-EFAULT), WAIT_ERROR, "EFAULT");
	ASSERT_EQ(wait_result_of(-ENOSYS), WAIT_ERROR, "ENOSYS");
	ASSERT_EQ(wait_result_of(-EDEADLK), WAIT_ERROR, "EDEADLK");
	ASSERT_EQ(wait_result_of(-1), WAIT_ERROR, "EPERM");
	ASSERT_EQ(wait_result_of(-4096), WAIT_ERROR, "-4096");
	ASSERT_EQ(wait_result_of(-((int64_t)1 << 40)), WAIT_ERROR, "large negative");
	ASSERT_EQ(wait_result_of(INT64_MIN + 1), WAIT_ERROR, "INT64_MIN + 1");
	/* INT64_MIN is left out: see the report on model.c (negation overflows) */
}

TEST(wait_result_names)
{
	ASSERT_STREQ(wait_result_name(WAIT_WOKEN), "woken", "woken");
	ASSERT_STREQ(wait_result_name(WAIT_TIMEOUT), "timeout", "timeout");
	ASSERT_STREQ(wait_result_name(WAIT_VALUE_CHANGED), "value_changed", "value_changed");
	ASSERT_STREQ(wait_result_name(WAIT_INTERRUPTED), "interrupted", "interrupted");
	ASSERT_STREQ(wait_result_name(WAIT_ERROR), "error", "error");
	ASSERT_STREQ(wait_result_name(WAIT_EXITED), "exited", "exited");
	ASSERT_STREQ(wait_result_name(WAIT_LOST), "lost", "lost");
	ASSERT_STREQ(wait_result_name((enum wait_result)(WAIT_LOST + 1)), "error", "out of range");
	ASSERT_STREQ(wait_result_name((enum wait_result) - 1), "error", "negative");
}

TEST(thread_state_names)
{
	ASSERT_STREQ(thread_state_name(TANGLE_TS_UNKNOWN), "unknown", "unknown");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_RUNNING), "running", "running");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_RUNNABLE), "runnable", "runnable");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_SLEEPING), "sleeping", "sleeping");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_DISK), "disk", "disk");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_STOPPED), "stopped", "stopped");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_DEAD), "zombie", "dead");
	ASSERT_STREQ(thread_state_name(TANGLE_TS_DEAD + 1), "unknown", "7");
	ASSERT_STREQ(thread_state_name(200), "unknown", "200");
	ASSERT_STREQ(thread_state_name(255), "unknown", "255");
}

TEST(comm_copy_bounds)
{
	/* 16 bytes, no terminator, followed by bytes that must not be read into dst */
	const char src[TANGLE_COMM_LEN + 4] = "0123456789abcdefXYZ";
	char dst[TANGLE_COMM_LEN];
	bool zeros = true;

	memset(dst, 'x', sizeof(dst));
	comm_copy(dst, src);
	ASSERT_STREQ(dst, "0123456789abcde", "cut to 15 bytes");
	ASSERT_EQ(dst[TANGLE_COMM_LEN - 1], '\0', "terminated");

	memset(dst, 'x', sizeof(dst));
	comm_copy(dst, "abc");
	ASSERT_STREQ(dst, "abc", "short");
	for (size_t i = 3; i < TANGLE_COMM_LEN; i++)
		zeros = zeros && dst[i] == '\0';
	ASSERT_TRUE(zeros, "zero padded");

	memset(dst, 'x', sizeof(dst));
	comm_copy(dst, "");
	ASSERT_STREQ(dst, "", "empty");

	memset(dst, 'x', sizeof(dst));
	comm_copy(dst, "0123456789abcde");
	ASSERT_STREQ(dst, "0123456789abcde", "exactly 15");

	/* control bytes are kept as they are; escaping is the views' job */
	comm_copy(dst, "a\x1b[1m\n\t");
	ASSERT_STREQ(dst, "a\x1b[1m\n\t", "control bytes");
	/* comm_copy(dst, NULL) is left out: see the report on model.c (memcpy from NULL) */
}

/*
 * Random inputs on a small, pid-consistent population (a tid always belongs to
 * the same pid), checking the invariants model.c states after every input.
 */
static uint64_t rng_state = 0x5eed;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint32_t pid_of(uint32_t tid)
{
	return (tid - 1) / 8 * 8 + 1; /* tids 1..8 -> pid 1, 9..16 -> pid 9, ... */
}

static bool invariants_hold(struct model *m, const char *what)
{
	size_t it = 0, nthreads = 0, nproc = 0;
	struct process *p;
	struct thread *t;

	while ((t = model__next_thread(m, &it))) {
		nthreads++;
		if (!ASSERT_TRUE(model__process(m, t->pid), what))
			return false;
	}
	if (!ASSERT_EQ(nthreads, model__nr_threads(m), what))
		return false;
	it = 0;
	while ((p = model__next_process(m, &it))) {
		size_t jt = 0, count = 0;
		struct futex_stat *f;

		nproc++;
		for (size_t kt = 0; (t = model__next_thread(m, &kt));)
			count += t->pid == p->pid;
		if (!ASSERT_TRUE(count > 0, what) || !ASSERT_EQ(p->nr_threads, count, what))
			return false;
		while ((f = process__next_futex(p, &jt))) {
			uint32_t waiting = 0;

			for (size_t kt = 0; (t = model__next_thread(m, &kt));)
				waiting += t->pid == p->pid && t->wait.kind != WAIT_NONE &&
					   t->wait.addr == f->addr;
			if (!ASSERT_EQ(f->waiting, waiting, what))
				return false;
		}
	}
	return ASSERT_EQ(nproc, model__nr_processes(m), what);
}

TEST(random_inputs_keep_invariants)
{
	struct recorder r;
	struct model *m = setup(&r);
	char what[64];

	if (!m)
		return;
	for (int op = 0; op < 20000; op++) {
		uint64_t x = rng_next();
		uint32_t tid = 1 + (uint32_t)(x % 32), pid = pid_of(tid);
		uint64_t ts = (uint64_t)op * 100 + 100;
		struct wait w = futex_wait_on(0x1000 + 8 * ((x >> 8) % 6), ts, (x >> 16) % 5 == 0);
		uint64_t begin = (x >> 20) % 2 ? ts - 50 : 0;
		int err = 0;

		switch ((x >> 24) % 7) {
		case 0:
			err = model__thread_new(m, ts, pid, tid, "t", (x >> 32) % 3, 0, 0, 3);
			break;
		case 1:
			err = model__thread_exit(m, ts, pid, tid, "t", 0, false);
			break;
		case 2:
			err = model__thread_rename(m, ts, pid, tid, (x >> 32) % 2 ? "a" : "b");
			break;
		case 3:
			/* exec from any thread of the process lands on the leader's tid */
			err = model__thread_exec(m, ts, pid, pid, tid, "e");
			break;
		case 4:
		case 5:
			err = model__wait_begin(m, ts, pid, tid, "t", &w);
			break;
		case 6:
			err = model__wait_end(m, ts, pid, tid, "t", &w, begin,
					      -(int64_t)(x >> 40) % 600);
			break;
		}
		snprintf(what, sizeof(what), "op %d", op);
		if (!ASSERT_OK(err, what) || !invariants_hold(m, what))
			break;
	}
	model__free(m);
}

/* Cases that once misbehaved: a corrupt ret, a NULL comm, a tid reused by another process. */
TEST(wait_lost_ends_a_stale_wait)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 100, false);

	if (!ASSERT_TRUE(m, "model"))
		return;
	model__thread_new(m, 1, 5, 10, "a", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
	model__wait_begin(m, 100, 5, 10, "a", &w);
	reset(&r);
	ASSERT_OK(model__wait_lost(m, 900, 10), "lost");
	ASSERT_EQ(r.n, 1, "one wait_end");
	ASSERT_EQ(r.recs[0].result, WAIT_LOST, "result lost");
	ASSERT_EQ(r.recs[0].blocked_ns, 800, "an upper bound");
	ASSERT_EQ(model__thread(m, 10)->wait.kind, WAIT_NONE, "no wait left");
	ASSERT_EQ(waiting_on(m, 5, 0x1000), 0, "not counted as waiting");
	ASSERT_EQ(model__wait_lost(m, 1000, 10), -ENOENT, "nothing to end twice");
	model__free(m);
}

TEST(hostile_inputs_regressions)
{
	struct recorder r;
	struct model *m = setup(&r);
	struct wait w = futex_wait_on(0x1000, 100, false);
	char dst[TANGLE_COMM_LEN];

	ASSERT_EQ(wait_result_of(INT64_MIN), WAIT_ERROR, "INT64_MIN ret");
	ASSERT_EQ(wait_result_of(-5000), WAIT_ERROR, "not an errno");
	memset(dst, 'x', sizeof(dst));
	comm_copy(dst, NULL);
	ASSERT_EQ(dst[0], 0, "NULL comm copies as empty");
	if (!ASSERT_TRUE(m, "model"))
		return;
	model__thread_new(m, 1, 5, 10, "a", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
	model__thread_new(m, 1, 7, 20, "b", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
	/* tid 10 now shows up in pid 7: the old thread's exit was lost */
	model__wait_begin(m, 100, 7, 10, "c", &w);
	model__wait_end(m, 200, 7, 10, "c", &w, 100, 0);
	ASSERT_EQ(model__thread(m, 10)->pid, 7, "thread moved to its new process");
	ASSERT_EQ(waiting_on(m, 7, 0x1000), 0, "no waiter left behind");
	ASSERT_TRUE(model__process(m, 5) == NULL, "old process gone with its only thread");
	model__free(m);
}

TEST_MAIN()
