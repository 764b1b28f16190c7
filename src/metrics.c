// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Prometheus text format of the model and detectors (see metrics.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"
#include "golayout.h"
#include "lockinfo.h"
#include "metrics.h"

void mbuf__printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 16384;
		char *p;

		while (cap - b->len <= (size_t)n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void mbuf__free(struct mbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void metrics__label(char *dst, size_t len, const char *src, size_t n)
{
	char tmp[4 * 64 + 1];
	size_t o = 0;

	/* term_escape: printable UTF-8 as is, the rest as \xNN; then the format's own escapes */
	term_escape(tmp, sizeof(tmp), src, n < 64 ? n : 64);
	for (const char *c = tmp; *c && o + 3 < len; c++) {
		if (*c == '\\' || *c == '"')
			dst[o++] = '\\';
		dst[o++] = *c;
	}
	if (len)
		dst[o < len ? o : len - 1] = 0;
}

static void family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf__printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void threads(struct mbuf *b, const struct metrics_src *s)
{
	uint64_t by_state[8] = { 0 }, waiting[8] = { 0 }, run_ns = 0, blocked_ns = 0;
	const struct thread *t;
	size_t it = 0;

	while ((t = model__next_thread(s->model, &it))) {
		by_state[t->state < 8 ? t->state : 0]++;
		if (t->wait.kind != WAIT_NONE) {
			const struct lock_owner *o = thread__owner(t);
			unsigned k = o ? (unsigned)o->kind : (unsigned)LOCK_UNKNOWN;

			waiting[k < 8 ? k : 0]++;
		}
		run_ns += t->run_ns;
		blocked_ns += t->sched_blocked_ns;
	}
	family(b, "tangle_threads", "gauge", "Threads watched, by scheduler state.");
	for (unsigned i = 0; i < 7; i++)
		mbuf__printf(b, "tangle_threads{state=\"%s\"} %llu\n",
			     thread_state_name((uint8_t)i), (unsigned long long)by_state[i]);
	family(b, "tangle_threads_waiting", "gauge",
	       "Threads in a futex wait now, by what they wait on (futex: not known to be a lock).");
	for (unsigned k = 0; k <= LOCK_JOIN; k++)
		mbuf__printf(b, "tangle_threads_waiting{kind=\"%s\"} %llu\n",
			     lock_kind_name((enum lock_kind)k), (unsigned long long)waiting[k]);
	family(b, "tangle_futex_waits_total", "counter", "Futex waits that ended.");
	mbuf__printf(b, "tangle_futex_waits_total %llu\n", (unsigned long long)s->counters->waits);
	family(b, "tangle_futex_wait_seconds_total", "counter",
	       "Time spent in futex waits that ended.");
	mbuf__printf(b, "tangle_futex_wait_seconds_total %.9f\n", s->counters->wait_ns / 1e9);
}

struct top {
	uint64_t key; /* what is ranked */
	uint64_t a, b; /* values shown */
	uint32_t pid;
	uint64_t addr;
	const char *comm;
};

/* Keep the n largest keys in top[] (n slots, *used of them filled). */
static void rank(struct top *top, size_t n, size_t *used, const struct top *x)
{
	size_t i;

	if (*used < n) {
		i = (*used)++;
	} else {
		if (top[n - 1].key >= x->key)
			return;
		i = n - 1;
	}
	while (i > 0 && top[i - 1].key < x->key) {
		top[i] = top[i - 1];
		i--;
	}
	top[i] = *x;
}

static void processes(struct mbuf *b, const struct metrics_src *s)
{
	struct top procs[METRICS_TOP_PROCESSES], locks[METRICS_TOP_LOCKS];
	size_t np = 0, nl = 0, it = 0, contended = 0;
	const struct process *p;
	char comm[4 * 64 + 8];

	while ((p = model__next_process(s->model, &it))) {
		const struct futex_stat *f;
		uint64_t total = 0, waits = 0;
		size_t fit = 0;

		while ((f = process__next_futex(p, &fit))) {
			struct top x = { .key = f->total_ns,
					 .a = f->total_ns,
					 .b = f->waiting,
					 .pid = p->pid,
					 .addr = f->addr,
					 .comm = p->comm };

			total += f->total_ns;
			waits += f->waits;
			if (f->waiting)
				contended++;
			if (f->total_ns || f->waiting)
				rank(locks, METRICS_TOP_LOCKS, &nl, &x);
		}
		if (total) {
			struct top x = {
				.key = total, .a = total, .b = waits, .pid = p->pid, .comm = p->comm
			};

			rank(procs, METRICS_TOP_PROCESSES, &np, &x);
		}
	}
	family(b, "tangle_processes", "gauge", "Processes watched.");
	mbuf__printf(b, "tangle_processes %zu\n", model__nr_processes(s->model));
	family(b, "tangle_contended_locks", "gauge",
	       "Futex words with a thread waiting on them now.");
	mbuf__printf(b, "tangle_contended_locks %zu\n", contended);
	family(b, "tangle_process_futex_wait_seconds_total", "counter",
	       "Time the threads of a process spent in futex waits that ended (the 20 processes "
	       "with the most).");
	for (size_t i = 0; i < np; i++) {
		metrics__label(comm, sizeof(comm), procs[i].comm, TANGLE_COMM_LEN);
		mbuf__printf(
			b, "tangle_process_futex_wait_seconds_total{pid=\"%u\",comm=\"%s\"} %.9f\n",
			procs[i].pid, comm, procs[i].a / 1e9);
	}
	family(b, "tangle_process_futex_waits_total", "counter",
	       "Futex waits of a process that ended (the same processes).");
	for (size_t i = 0; i < np; i++) {
		metrics__label(comm, sizeof(comm), procs[i].comm, TANGLE_COMM_LEN);
		mbuf__printf(b, "tangle_process_futex_waits_total{pid=\"%u\",comm=\"%s\"} %llu\n",
			     procs[i].pid, comm, (unsigned long long)procs[i].b);
	}
	family(b, "tangle_lock_wait_seconds_total", "counter",
	       "Time spent waiting on one futex word (the 20 with the most).");
	for (size_t i = 0; i < nl; i++) {
		metrics__label(comm, sizeof(comm), locks[i].comm, TANGLE_COMM_LEN);
		mbuf__printf(
			b,
			"tangle_lock_wait_seconds_total{pid=\"%u\",comm=\"%s\",addr=\"0x%llx\"} "
			"%.9f\n",
			locks[i].pid, comm, (unsigned long long)locks[i].addr, locks[i].a / 1e9);
	}
	family(b, "tangle_lock_waiters", "gauge", "Threads waiting on that futex word now.");
	for (size_t i = 0; i < nl; i++) {
		metrics__label(comm, sizeof(comm), locks[i].comm, TANGLE_COMM_LEN);
		mbuf__printf(b,
			     "tangle_lock_waiters{pid=\"%u\",comm=\"%s\",addr=\"0x%llx\"} %llu\n",
			     locks[i].pid, comm, (unsigned long long)locks[i].addr,
			     (unsigned long long)locks[i].b);
	}
}

/* One sample per kind of group: the 2 of threads, then the 3 of goroutines. */
static void by_kind(struct mbuf *b, const char *name, const uint64_t threads[2],
		    const uint64_t goroutines[3])
{
	for (int k = 0; k < 2; k++)
		mbuf__printf(b, "%s{of=\"threads\",kind=\"%s\"} %llu\n", name,
			     group_kind_name((enum group_kind)k), (unsigned long long)threads[k]);
	for (int k = 0; k < 3; k++)
		mbuf__printf(b, "%s{of=\"goroutines\",kind=\"%s\"} %llu\n", name,
			     go_group_kind_name((enum go_group_kind)k),
			     (unsigned long long)goroutines[k]);
}

static void stuck(struct mbuf *b, const struct metrics_src *s)
{
	uint64_t groups[2] = { 0 }, members[2] = { 0 }, go_groups[3] = { 0 }, go_members[3] = { 0 };
	size_t shown = 0;
	char comm[4 * 64 + 8];

	for (size_t i = 0; i < detector__nr_groups(s->detector); i++) {
		const struct stuck_group *g = detector__group(s->detector, i);

		if (g->resolved_ns || g->kind > GROUP_ABANDONED)
			continue;
		groups[g->kind]++;
		members[g->kind] += g->nr_members;
	}
	for (size_t i = 0; s->godetect && i < godetect__nr_groups(s->godetect); i++) {
		const struct go_group *g = godetect__group(s->godetect, i);

		if (g->resolved_ns || g->kind > GO_GROUP_GROWING)
			continue;
		go_groups[g->kind]++;
		go_members[g->kind] += g->count;
	}
	family(b, "tangle_stuck_groups", "gauge",
	       "Stuck groups now: of threads (deadlock, abandoned) or goroutines (leaked, stuck, "
	       "growing).");
	by_kind(b, "tangle_stuck_groups", groups, go_groups);
	family(b, "tangle_stuck_members", "gauge", "Threads or goroutines in those groups.");
	by_kind(b, "tangle_stuck_members", members, go_members);
	family(b, "tangle_stuck_groups_detected_total", "counter", "Stuck groups found.");
	by_kind(b, "tangle_stuck_groups_detected_total", s->counters->groups,
		s->counters->go_groups);
	family(b, "tangle_stuck_group_members", "gauge",
	       "Members of each stuck group now (the 50 oldest groups), by group id.");
	for (size_t i = 0; i < detector__nr_groups(s->detector) && shown < METRICS_GROUPS; i++) {
		const struct stuck_group *g = detector__group(s->detector, i);

		if (g->resolved_ns || !g->nr_members)
			continue;
		shown++;
		metrics__label(comm, sizeof(comm), g->members[0].comm, TANGLE_COMM_LEN);
		mbuf__printf(
			b,
			"tangle_stuck_group_members{group_id=\"%llu\",of=\"threads\",kind=\"%s\","
			"pid=\"%u\",comm=\"%s\"} %zu\n",
			(unsigned long long)g->id, group_kind_name(g->kind), g->members[0].pid,
			comm, g->nr_members);
	}
	for (size_t i = 0;
	     s->godetect && i < godetect__nr_groups(s->godetect) && shown < METRICS_GROUPS; i++) {
		const struct go_group *g = godetect__group(s->godetect, i);
		const struct process *p;

		if (g->resolved_ns)
			continue;
		shown++;
		p = model__process(s->model, g->pid);
		metrics__label(comm, sizeof(comm), p ? p->comm : "", TANGLE_COMM_LEN);
		mbuf__printf(b,
			     "tangle_stuck_group_members{group_id=\"%llu\",of=\"goroutines\","
			     "kind=\"%s\",pid=\"%u\",comm=\"%s\"} %zu\n",
			     (unsigned long long)g->id, go_group_kind_name(g->kind), g->pid, comm,
			     g->count);
	}
}

struct reason_count {
	const char *reason;
	uint64_t n;
};

static void goroutines(struct mbuf *b, const struct metrics_src *s)
{
	const struct go_process *gp;
	size_t it = 0, nproc = 0;
	char comm[4 * 64 + 8], reason[4 * 64 + 8];

	if (!s->go)
		return;
	family(b, "tangle_go_processes", "gauge", "Go processes whose goroutines are read.");
	mbuf__printf(b, "tangle_go_processes %zu\n", gotrack__nr_processes(s->go));
	family(b, "tangle_goroutines", "gauge",
	       "Goroutines of a Go process by status, as of its latest snapshot (32 processes at "
	       "most).");
	while ((gp = gotrack__next(s->go, &it)) && nproc < METRICS_GO_PROCESSES) {
		uint64_t by[16] = { 0 };
		const struct process *p = model__process(s->model, gp->pid);

		if (!gp->snap.n)
			continue;
		nproc++;
		for (size_t i = 0; i < gp->snap.n; i++)
			by[gp->snap.g[i].status < 16 ? gp->snap.g[i].status : 0]++;
		metrics__label(comm, sizeof(comm), p ? p->comm : "", TANGLE_COMM_LEN);
		for (uint32_t st = 0; st < 16; st++) {
			const char *name = golayout__status_name(st);

			if (!by[st] || !strcmp(name, "???"))
				continue;
			mbuf__printf(
				b, "tangle_goroutines{pid=\"%u\",comm=\"%s\",status=\"%s\"} %llu\n",
				gp->pid, comm, name, (unsigned long long)by[st]);
		}
	}
	family(b, "tangle_goroutines_waiting", "gauge",
	       "Waiting goroutines of a Go process by wait reason (32 reasons at most, the rest "
	       "as \"other\").");
	it = nproc = 0;
	while ((gp = gotrack__next(s->go, &it)) && nproc < METRICS_GO_PROCESSES) {
		struct reason_count rc[METRICS_GO_REASONS];
		size_t nr = 0;
		uint64_t other = 0;
		const struct process *p = model__process(s->model, gp->pid);

		if (!gp->snap.n)
			continue;
		nproc++;
		for (size_t i = 0; i < gp->snap.n; i++) {
			const char *r = gp->snap.g[i].wait_reason;
			size_t k;

			if (!r)
				continue;
			/* wait reasons are the layout's static strings: compared by address first */
			for (k = 0; k < nr && rc[k].reason != r && strcmp(rc[k].reason, r); k++)
				;
			if (k < nr)
				rc[k].n++;
			else if (nr < METRICS_GO_REASONS)
				rc[nr++] = (struct reason_count){ r, 1 };
			else
				other++;
		}
		metrics__label(comm, sizeof(comm), p ? p->comm : "", TANGLE_COMM_LEN);
		for (size_t k = 0; k < nr; k++) {
			metrics__label(reason, sizeof(reason), rc[k].reason, 64);
			mbuf__printf(
				b,
				"tangle_goroutines_waiting{pid=\"%u\",comm=\"%s\",reason=\"%s\"} "
				"%llu\n",
				gp->pid, comm, reason, (unsigned long long)rc[k].n);
		}
		if (other)
			mbuf__printf(
				b,
				"tangle_goroutines_waiting{pid=\"%u\",comm=\"%s\",reason=\"other\"} "
				"%llu\n",
				gp->pid, comm, (unsigned long long)other);
	}
}

static void self(struct mbuf *b, const struct metrics_src *s)
{
	const struct metrics_counters *c = s->counters;

	family(b, "tangle_build_info", "gauge", "tangle's version.");
	mbuf__printf(b, "tangle_build_info{version=\"%s\"} 1\n", TANGLE_VERSION);
	family(b, "tangle_uptime_seconds", "gauge", "Since tangle started.");
	mbuf__printf(b, "tangle_uptime_seconds %.3f\n", (s->now_ns - s->start_ns) / 1e9);
	family(b, "tangle_events_total", "counter", "Kernel events tangle consumed.");
	mbuf__printf(b, "tangle_events_total %llu\n", (unsigned long long)s->stats->events);
	family(b, "tangle_events_per_second", "gauge", "Events consumed a second, lately.");
	mbuf__printf(b, "tangle_events_per_second %.1f\n", s->events_per_s);
	family(b, "tangle_events_lost_total", "counter",
	       "Kernel events dropped before tangle read them, by reason.");
	for (int r = 0; r < TANGLE_DROP_MAX; r++)
		mbuf__printf(b, "tangle_events_lost_total{reason=\"%s\"} %llu\n",
			     drop_reason_name(r), (unsigned long long)s->stats->drops[r]);
	family(b, "tangle_bad_records_total", "counter", "Kernel records that failed to decode.");
	mbuf__printf(b, "tangle_bad_records_total %llu\n",
		     (unsigned long long)s->stats->bad_records);
	family(b, "tangle_records_total", "counter", "NDJSON records written to the stream.");
	mbuf__printf(b, "tangle_records_total %llu\n", (unsigned long long)c->records);
	family(b, "tangle_records_dropped_total", "counter",
	       "NDJSON records a slow reader or a full disk could not take.");
	mbuf__printf(b, "tangle_records_dropped_total %llu\n",
		     (unsigned long long)c->records_dropped);
	family(b, "tangle_on_stuck_runs_total", "counter", "--on-stuck commands run, by result.");
	mbuf__printf(b, "tangle_on_stuck_runs_total{result=\"ok\"} %llu\n",
		     (unsigned long long)(c->hooks_run - c->hooks_failed));
	mbuf__printf(b, "tangle_on_stuck_runs_total{result=\"failed\"} %llu\n",
		     (unsigned long long)c->hooks_failed);
	family(b, "tangle_cpu_seconds_total", "counter", "tangle's own CPU time, user and system.");
	mbuf__printf(b, "tangle_cpu_seconds_total %.3f\n", s->cpu_s);
	family(b, "tangle_resident_memory_bytes", "gauge", "tangle's own resident memory.");
	mbuf__printf(b, "tangle_resident_memory_bytes %llu\n", (unsigned long long)s->rss_bytes);
	family(b, "tangle_scrapes_total", "counter", "Scrapes of /metrics served.");
	mbuf__printf(b, "tangle_scrapes_total %llu\n", (unsigned long long)c->scrapes);
}

void metrics__render(struct mbuf *out, const struct metrics_src *s)
{
	threads(out, s);
	processes(out, s);
	stuck(out, s);
	goroutines(out, s);
	self(out, s);
}
