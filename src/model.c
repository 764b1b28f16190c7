// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Invariants kept here:
 *  - a thread is in m->threads iff it has not been seen to exit;
 *  - a process is in m->processes iff it has at least one thread in the model;
 *  - futex_stat.waiting counts the model's threads whose wait is on that addr;
 *  - each input produces at most one listener call, after the state changed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hmap.h"
#include "model.h"

struct model {
	struct hmap *threads; /* tid -> struct thread */
	struct hmap *processes; /* pid -> struct process */
	model_listener_fn fn;
	void *ctx;
};

void comm_copy(char dst[TANGLE_COMM_LEN], const char *src)
{
	size_t n = src ? strnlen(src, TANGLE_COMM_LEN - 1) : 0;

	if (n)
		memcpy(dst, src, n);
	memset(dst + n, 0, TANGLE_COMM_LEN - n);
}

struct model *model__new(model_listener_fn fn, void *ctx)
{
	struct model *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->threads = hmap__new();
	m->processes = hmap__new();
	if (!m->threads || !m->processes) {
		model__free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->fn = fn;
	m->ctx = ctx;
	return m;
}

static void process_free(struct process *p)
{
	struct futex_stat *f;
	size_t it = 0;

	if (!p)
		return;
	while ((f = process__next_futex(p, &it)))
		free(f);
	hmap__free(p->futexes);
	free(p);
}

void model__free(struct model *m)
{
	uint64_t key;
	void *val;
	size_t it;

	if (!m)
		return;
	if (m->threads)
		for (it = 0; hmap__next(m->threads, &it, &key, &val);)
			free(val);
	if (m->processes)
		for (it = 0; hmap__next(m->processes, &it, &key, &val);)
			process_free(val);
	hmap__free(m->threads);
	hmap__free(m->processes);
	free(m);
}

static void notify(struct model *m, struct model_event *ev)
{
	if (m->fn)
		m->fn(ev, m->ctx);
}

static struct process *process_get_or_add(struct model *m, uint32_t pid, const char *comm)
{
	struct process *p = hmap__get(m->processes, pid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	comm_copy(p->comm, comm);
	p->futexes = hmap__new();
	if (!p->futexes || hmap__set(m->processes, pid, p)) {
		process_free(p);
		return NULL;
	}
	return p;
}

/* The stats of addr, created if there is room; a refusal is counted once, at wait begin. */
static struct futex_stat *futex_stat_get(struct process *p, uint64_t addr, bool at_begin)
{
	struct futex_stat *f = hmap__get(p->futexes, addr);

	if (f)
		return f;
	if (hmap__len(p->futexes) >= MODEL_MAX_FUTEXES_PER_PROCESS) {
		p->futexes_dropped += at_begin;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->addr = addr;
	if (hmap__set(p->futexes, addr, f)) {
		free(f);
		return NULL;
	}
	return f;
}

/* Add a thread without telling anyone; the caller decides what to report. */
static struct thread *thread_add(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid,
				 const char *comm, enum thread_origin origin)
{
	struct process *p;
	struct thread *t;

	if (hmap__len(m->threads) >= MODEL_MAX_THREADS)
		return NULL;
	p = process_get_or_add(m, pid, comm);
	if (!p)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	t->tid = tid;
	comm_copy(t->comm, comm);
	t->origin = origin;
	t->first_seen_ns = ts;
	if (hmap__set(m->threads, tid, t)) {
		free(t);
		return NULL;
	}
	p->nr_threads++;
	if (tid == pid)
		comm_copy(p->comm, comm);
	return t;
}

static void thread_remove(struct model *m, struct thread *t, uint64_t ts);

/* A thread met in a wait event before any fork or /proc record named it. */
static struct thread *thread_get_or_seen(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid,
					 const char *comm)
{
	struct thread *t = hmap__get(m->threads, tid);
	struct model_event ev = { .kind = MC_THREAD_NEW, .ts_ns = ts };

	if (t && t->pid == pid)
		return t;
	/* the tid was reused by another process: its exit record was lost */
	if (t)
		thread_remove(m, t, ts);
	t = thread_add(m, ts, pid, tid, comm, ORIGIN_SEEN);
	if (!t)
		return NULL;
	ev.thread = t;
	ev.is_thread = tid != pid;
	notify(m, &ev);
	return t;
}

static void wait_clear(struct model *m, struct thread *t)
{
	struct process *p;
	struct futex_stat *f;

	if (t->wait.kind == WAIT_NONE)
		return;
	p = hmap__get(m->processes, t->pid);
	f = p ? hmap__get(p->futexes, t->wait.addr) : NULL;
	if (f && f->waiting)
		f->waiting--;
	memset(&t->wait, 0, sizeof(t->wait));
	memset(&t->owner, 0, sizeof(t->owner));
}

static void thread_remove(struct model *m, struct thread *t, uint64_t ts)
{
	struct process *p;

	wait_clear(m, t);
	hmap__del(m->threads, t->tid);
	p = hmap__get(m->processes, t->pid);
	if (p && --p->nr_threads == 0) {
		struct model_event ev = { .kind = MC_PROCESS_EXIT, .ts_ns = ts, .process = p };

		hmap__del(m->processes, p->pid);
		notify(m, &ev);
		process_free(p);
	}
	free(t);
}

int model__thread_new(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		      enum thread_origin origin, uint32_t parent_pid, uint32_t parent_tid,
		      uint8_t state)
{
	struct model_event ev = { .kind = MC_THREAD_NEW, .ts_ns = ts };
	struct thread *t = hmap__get(m->threads, tid);

	/* the /proc scan and the fork event can both name a thread born during start-up */
	if (t && t->pid == pid)
		return 0;
	if (t)
		thread_remove(m, t, ts); /* tid reused by another process; the exit was lost */
	t = thread_add(m, ts, pid, tid, comm, origin);
	if (!t)
		return -ENOMEM;
	t->state = state;
	t->state_since_ns = ts;
	ev.thread = t;
	ev.parent_pid = parent_pid;
	ev.parent_tid = parent_tid;
	ev.is_thread = origin == ORIGIN_FORK ? parent_pid == pid : tid != pid;
	notify(m, &ev);
	return 0;
}

int model__thread_exec(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, uint32_t old_tid,
		       const char *comm)
{
	struct model_event ev = { .kind = MC_THREAD_EXEC, .ts_ns = ts };
	char old_comm[TANGLE_COMM_LEN] = "";
	struct thread *t;
	struct process *p;

	/* de_thread(): a non-leader that execs takes over the leader's tid */
	if (old_tid != tid && (t = hmap__get(m->threads, old_tid))) {
		struct thread *leader = hmap__get(m->threads, tid);

		if (leader)
			thread_remove(m, leader, ts);
		hmap__del(m->threads, old_tid);
		t->tid = tid;
		if (hmap__set(m->threads, tid, t)) {
			thread_remove(m, t, ts);
			return -ENOMEM;
		}
	}
	t = thread_get_or_seen(m, ts, pid, tid, comm);
	if (!t)
		return -ENOMEM;
	memcpy(old_comm, t->comm, sizeof(old_comm));
	comm_copy(t->comm, comm);
	p = hmap__get(m->processes, pid);
	if (p)
		comm_copy(p->comm, comm);
	ev.thread = t;
	ev.old_comm = old_comm;
	notify(m, &ev);
	return 0;
}

int model__thread_rename(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm)
{
	struct model_event ev = { .kind = MC_THREAD_RENAME, .ts_ns = ts };
	char old_comm[TANGLE_COMM_LEN];
	struct thread *t = thread_get_or_seen(m, ts, pid, tid, comm);
	struct process *p;

	if (!t)
		return -ENOMEM;
	memcpy(old_comm, t->comm, sizeof(old_comm));
	comm_copy(t->comm, comm);
	if (tid == pid && (p = hmap__get(m->processes, pid)))
		comm_copy(p->comm, comm);
	ev.thread = t;
	ev.old_comm = old_comm;
	notify(m, &ev);
	return 0;
}

int model__thread_exit(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		       int32_t exit_code, bool group_dead)
{
	struct model_event ev = { .kind = MC_THREAD_EXIT, .ts_ns = ts };
	struct thread *t = hmap__get(m->threads, tid);
	struct thread gone = { .pid = pid, .tid = tid, .state = TANGLE_TS_DEAD };

	ev.exit_code = exit_code;
	ev.group_dead = group_dead;
	if (!t) {
		/* exited between attach and the /proc scan: still worth a record */
		comm_copy(gone.comm, comm);
		ev.thread = &gone;
		notify(m, &ev);
		return 0;
	}
	if (t->wait.kind != WAIT_NONE) {
		struct model_event wev = { .kind = MC_WAIT_END, .ts_ns = ts, .thread = t };
		struct wait w = t->wait;

		wev.wait = &w;
		wev.blocked_ns = ts > w.since_ns ? ts - w.since_ns : 0;
		wev.result = WAIT_EXITED;
		wait_clear(m, t);
		notify(m, &wev);
	}
	gone = *t;
	gone.state = TANGLE_TS_DEAD;
	ev.thread = &gone;
	notify(m, &ev); /* before the removal, which may end the process too */
	thread_remove(m, t, ts);
	return 0;
}

int model__wait_begin(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		      const struct wait *w)
{
	struct model_event ev = { .kind = MC_WAIT_BEGIN, .ts_ns = ts };
	struct thread *t = thread_get_or_seen(m, ts, pid, tid, comm);
	struct process *p;
	struct futex_stat *f;

	if (!t)
		return -ENOMEM;
	if (t->wait.kind != WAIT_NONE) {
		/*
		 * The /proc scan guessed a wait that BPF then saw begin (the scan
		 * raced it): keep the precise start, say nothing new.
		 */
		if (t->wait.preblocked && !w->preblocked && t->wait.addr == w->addr) {
			t->wait.preblocked = false;
			t->wait.since_ns = w->since_ns;
			return 0;
		}
		if (w->preblocked)
			return 0; /* BPF already knows this wait better */
		/* recovered from BPF's map after drops, and then its event came too */
		if (t->wait.since_ns == w->since_ns && t->wait.addr == w->addr)
			return 0;
		wait_clear(m, t); /* its end was lost: a new wait replaces it */
	}
	t->wait = *w;
	t->wait.kind = WAIT_FUTEX;
	comm_copy(t->comm, comm);
	p = hmap__get(m->processes, t->pid);
	f = p ? futex_stat_get(p, w->addr, true) : NULL;
	if (f)
		f->waiting++;
	ev.thread = t;
	ev.wait = &t->wait;
	notify(m, &ev);
	return 0;
}

int model__wait_end(struct model *m, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		    const struct wait *w, uint64_t begin_ns, int64_t ret)
{
	struct model_event ev = { .kind = MC_WAIT_END, .ts_ns = ts, .ret = ret };
	struct thread *t = thread_get_or_seen(m, ts, pid, tid, comm);
	struct wait done = *w;
	struct lock_owner owner;
	struct process *p;
	struct futex_stat *f;

	if (!t)
		return -ENOMEM;
	if (thread__owner(t) && t->wait.addr == w->addr) {
		owner = t->owner;
		ev.owner = &owner;
	}
	done.kind = WAIT_FUTEX;
	if (t->wait.kind != WAIT_NONE && t->wait.addr == w->addr) {
		done = t->wait;
		done.preblocked = done.preblocked && !begin_ns;
	}
	if (begin_ns) {
		done.since_ns = begin_ns;
		done.preblocked = false;
	}
	done.waker_pid = w->waker_pid;
	done.waker_tid = w->waker_tid;
	wait_clear(m, t);
	ev.blocked_ns = ts > done.since_ns ? ts - done.since_ns : 0;
	ev.result = wait_result_of(ret);
	t->nr_waits++;
	t->wait_ns += ev.blocked_ns;
	p = hmap__get(m->processes, t->pid);
	f = p ? futex_stat_get(p, done.addr, false) : NULL;
	if (f) {
		f->waits++;
		f->total_ns += ev.blocked_ns;
		if (ev.blocked_ns > f->max_ns)
			f->max_ns = ev.blocked_ns;
	}
	ev.thread = t;
	ev.wait = &done;
	notify(m, &ev);
	return 0;
}

int model__wait_lost(struct model *m, uint64_t ts, uint32_t tid)
{
	struct model_event ev = { .kind = MC_WAIT_END, .ts_ns = ts, .result = WAIT_LOST };
	struct thread *t = hmap__get(m->threads, tid);
	struct wait w;

	if (!t || t->wait.kind == WAIT_NONE)
		return -ENOENT;
	w = t->wait;
	wait_clear(m, t);
	ev.thread = t;
	ev.wait = &w;
	ev.blocked_ns = ts > w.since_ns ? ts - w.since_ns : 0;
	notify(m, &ev);
	return 0;
}

void model__set_owner(struct model *m, uint32_t tid, const struct lock_owner *o)
{
	struct thread *t = hmap__get(m->threads, tid);

	if (t && t->wait.kind != WAIT_NONE && t->wait.since_ns == o->wait_since_ns)
		t->owner = *o;
}

const struct lock_owner *thread__owner(const struct thread *t)
{
	if (t->wait.kind == WAIT_NONE || !t->owner.checked_ns ||
	    t->owner.wait_since_ns != t->wait.since_ns)
		return NULL;
	return &t->owner;
}

void model__thread_sched(struct model *m, uint32_t tid, const struct tangle_thread_info *ti)
{
	struct thread *t = hmap__get(m->threads, tid);

	if (!t || ti->pid != t->pid)
		return;
	t->state = ti->state;
	t->state_since_ns = ti->state_since_ns;
	t->run_ns = ti->run_ns;
	t->sched_blocked_ns = ti->blocked_ns;
	t->nr_switches = ti->nr_switches;
}

struct thread *model__thread(const struct model *m, uint32_t tid)
{
	return hmap__get(m->threads, tid);
}

struct process *model__process(const struct model *m, uint32_t pid)
{
	return hmap__get(m->processes, pid);
}

size_t model__nr_threads(const struct model *m)
{
	return hmap__len(m->threads);
}

size_t model__nr_processes(const struct model *m)
{
	return hmap__len(m->processes);
}

struct thread *model__next_thread(const struct model *m, size_t *it)
{
	void *v;

	return hmap__next(m->threads, it, NULL, &v) ? v : NULL;
}

struct process *model__next_process(const struct model *m, size_t *it)
{
	void *v;

	return hmap__next(m->processes, it, NULL, &v) ? v : NULL;
}

struct futex_stat *process__next_futex(const struct process *p, size_t *it)
{
	void *v;

	return hmap__next(p->futexes, it, NULL, &v) ? v : NULL;
}

enum wait_result wait_result_of(int64_t ret)
{
	if (ret >= 0)
		return WAIT_WOKEN; /* futex_waitv returns the index of the woken futex */
	if (ret < -4095)
		return WAIT_ERROR; /* not an errno: a corrupt record */
	switch (-ret) {
	case ETIMEDOUT:
		return WAIT_TIMEOUT;
	case EAGAIN:
		return WAIT_VALUE_CHANGED;
	case EINTR:
	case 512: /* ERESTARTSYS */
	case 513: /* ERESTARTNOINTR */
	case 514: /* ERESTARTNOHAND */
	case 516: /* ERESTART_RESTARTBLOCK */
		return WAIT_INTERRUPTED;
	default:
		return WAIT_ERROR;
	}
}

const char *wait_result_name(enum wait_result r)
{
	static const char *const names[] = {
		[WAIT_WOKEN] = "woken",
		[WAIT_TIMEOUT] = "timeout",
		[WAIT_VALUE_CHANGED] = "value_changed",
		[WAIT_INTERRUPTED] = "interrupted",
		[WAIT_ERROR] = "error",
		[WAIT_EXITED] = "exited",
		[WAIT_LOST] = "lost",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "error";
}

const char *thread_state_name(uint8_t state)
{
	static const char *const names[] = {
		[TANGLE_TS_UNKNOWN] = "unknown",   [TANGLE_TS_RUNNING] = "running",
		[TANGLE_TS_RUNNABLE] = "runnable", [TANGLE_TS_SLEEPING] = "sleeping",
		[TANGLE_TS_DISK] = "disk",	   [TANGLE_TS_STOPPED] = "stopped",
		[TANGLE_TS_DEAD] = "zombie",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "unknown";
}
