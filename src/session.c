// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "godetect.h"
#include "goevidence.h"
#include "gosite.h"
#include "gotrack.h"
#include "hmap.h"
#include "log.h"
#include "owner.h"
#include "procfs.h"
#include "session.h"
#include "record.h"
#include "sessrec.h"
#include "stacks.h"
#include "symbols.h"

#define PROC "/proc"
#define DETECT_TICK_NS 100000000ull /* 100 ms: detection latency is about two ticks */
#define DETECT_MIN_WAIT_NS 100000000ull /* waits younger than this are not examined */
#define GO_SNAPSHOT_NS 1000000000ull /* goroutine tables are read at most once a second */

static void on_change(const struct model_event *ev, void *ctx)
{
	struct session *s = ctx;

	if (s->booting && ev->kind == MC_THREAD_EXIT && s->boot_gone)
		hmap__set(s->boot_gone, ev->thread->tid, (void *)1);
	if (s->hooks.on_change)
		s->hooks.on_change(ev, s->hooks.ctx);
	/* a stack is good for one wait only; a new image has new symbols */
	if (s->stacks) {
		if (ev->kind == MC_WAIT_END || ev->kind == MC_THREAD_EXIT)
			stacks__forget(s->stacks, ev->thread->tid);
		else if (ev->kind == MC_THREAD_EXEC || ev->kind == MC_PROCESS_EXIT)
			stacks__forget_process(s->stacks,
					       ev->thread ? ev->thread->pid : ev->process->pid);
	}
	/* goroutines: every process is probed once; an exec may make it Go, or not */
	if (s->go && !s->opts->replay) { /* a replay's tracker follows the recording */
		if (ev->kind == MC_THREAD_NEW) {
			gotrack__note(s->go, ev->thread->pid);
		} else if (ev->kind == MC_THREAD_EXEC || ev->kind == MC_PROCESS_EXIT) {
			uint32_t pid = ev->thread ? ev->thread->pid : ev->process->pid;

			gotrack__forget(s->go, pid);
			if (ev->kind == MC_THREAD_EXEC)
				gotrack__note(s->go, pid);
		}
	}
}

/* ---- goroutines: each new snapshot goes to the detector ---- */

static void on_go_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct session *s = ctx;

	if (s->hooks.on_go_group)
		s->hooks.on_go_group(g, gp, s->hooks.ctx);
}

static uint64_t go_site(const struct go_process *gp, const struct goroutine *g, void *ctx)
{
	(void)ctx;
	return gp->proc ? gosite__key(gp->proc, g) : 0;
}

static enum go_reach go_reach(const struct go_process *gp, const struct goroutine *g,
			      struct go_evidence *ev, void *ctx)
{
	struct session *s = ctx;
	enum go_reach r;

	if (s->opts->replay)
		return sessrec__go_recorded_verdict(s, gp, g, ev);
	r = goevidence__judge(s->goevidence, gp, g, ev);
	sessrec__go_verdict(s, gp, g, r, ev);
	return r;
}

static void on_go_snapshot(uint32_t pid, const struct go_process *gp, void *ctx)
{
	struct session *s = ctx;

	if (!s->godetect)
		return;
	if (!gp) {
		sessrec__go_gone(s, pid);
		godetect__forget(s->godetect, pid, now_ns());
		if (s->goevidence)
			goevidence__forget(s->goevidence, pid);
		return;
	}
	/* a recording keeps what the detector is given: the snapshot, then the evidence */
	sessrec__go_snapshot(s, gp);
	if (godetect__process(s->godetect, gp))
		log_error(ENOMEM, "stuck-goroutine detection");
	sessrec__go_snapshot_end(s, pid);
}

static uint64_t go_new_id(void *ctx)
{
	struct session *s = ctx;

	return detector__new_id(s->detector);
}

static void open_goroutines(struct session *s, const struct opts *o)
{
	struct godetect_opts go = { .site = go_site, .new_id = go_new_id, .ctx = s };

	s->go = gotrack__new(PROC, GO_SNAPSHOT_NS);
	if (!s->go) {
		log_warn("goroutines will not be shown: %s", strerror(errno));
		return;
	}
	if (o->stuck_after_s > 0)
		go.stuck_after_ns = (uint64_t)(o->stuck_after_s * 1e9);
	s->goevidence =
		goevidence__new(PROC, go.stuck_after_ns ? go.stuck_after_ns : GO_STUCK_AFTER_NS);
	if (s->goevidence)
		go.reach = go_reach;
	else
		log_warn("goroutines will not be judged stuck: %s", strerror(errno));
	s->godetect = godetect__new(&go, on_go_group, s);
	if (!s->godetect)
		log_warn("stuck goroutines will not be looked for: %s", strerror(errno));
	gotrack__set_listener(s->go, on_go_snapshot, s);
	sessrec__go_opts(s, go.stuck_after_ns, go.growth_window_ns, go.growth_min);
}

int session__replay_goroutines(struct session *s, uint64_t stuck_after_ns,
			       uint64_t growth_window_ns, size_t growth_min)
{
	struct godetect_opts go = {
		.stuck_after_ns = stuck_after_ns,
		.growth_window_ns = growth_window_ns,
		.growth_min = growth_min,
		.reach = go_reach,
		.site = go_site,
		.new_id = go_new_id,
		.ctx = s,
	};

	if (s->go || !s->opts->goroutines)
		return 0;
	/* as for threads, --stuck-after overrides what the recording ran with */
	if (s->opts->stuck_after_s > 0)
		go.stuck_after_ns = (uint64_t)(s->opts->stuck_after_s * 1e9);
	s->go = gotrack__new(PROC, GO_SNAPSHOT_NS);
	s->godetect = s->go ? godetect__new(&go, on_go_group, s) : NULL;
	if (!s->go || !s->godetect) {
		gotrack__free(s->go);
		s->go = NULL;
		log_error(ENOMEM, "replaying goroutines");
		return -ENOMEM;
	}
	gotrack__set_listener(s->go, on_go_snapshot, s);
	return 0;
}

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct session *s = ctx;

	if (s->hooks.on_group)
		s->hooks.on_group(g, s->hooks.ctx);
}

/*
 * A thread found in /proc: into the model, and if blocked in a futex, seeded
 * into BPF so its end is seen. The wait is read again after seeding: one that
 * ended in between would otherwise stay in the model for ever.
 */
static void on_proc_thread(const struct procfs_thread *t, void *ctx)
{
	struct session *s = ctx;
	struct procfs_thread again;
	struct wait w = t->wait;

	/* known already: forked, or met in an event, since attach; that is fresher */
	if (model__thread(s->model, t->tid) || (s->boot_gone && hmap__get(s->boot_gone, t->tid)))
		return;
	model__thread_new(s->model, s->start_ns, t->pid, t->tid, t->comm, ORIGIN_PROC, 0, 0,
			  t->state);
	sessrec__thread(s, s->start_ns, t);
	if (w.kind != WAIT_FUTEX)
		return;
	w.since_ns = s->start_ns;
	if (consumer__seed_wait(s->consumer, t->tid, &w)) {
		log_debug("could not seed the wait of tid %u", t->tid);
		return;
	}
	if (procfs__read_thread(PROC, t->pid, t->tid, &again) || again.wait.kind != WAIT_FUTEX ||
	    again.wait.addr != w.addr) {
		consumer__unseed_wait(s->consumer, t->tid);
		return;
	}
	model__wait_begin(s->model, s->start_ns, t->pid, t->tid, t->comm, &w);
	sessrec__wait(s, s->start_ns, t, &w);
}

/* At open: remember what /proc shows; bootstrap() applies it. */
static void collect_proc_thread(const struct procfs_thread *t, void *ctx)
{
	struct session *s = ctx;

	if (s->nr_boot == s->cap_boot) {
		size_t cap = s->cap_boot ? s->cap_boot * 2 : 256;
		struct procfs_thread *grown;

		if (cap > MODEL_MAX_THREADS)
			return;
		grown = realloc(s->boot, cap * sizeof(*grown));
		if (!grown)
			return;
		s->boot = grown;
		s->cap_boot = cap;
	}
	s->boot[s->nr_boot++] = *t;
}

/* The signals the loop reads: they end the session, or go to hooks.on_signal. */
static void session_signals(const struct session *s, sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGINT);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGHUP);
	if (s->extra_signal)
		sigaddset(sigs, s->extra_signal);
}

static int check_pids(const struct filter *f)
{
	for (size_t i = 0; i < f->npids; i++) {
		if (!procfs__pid_exists(PROC, f->pids[i])) {
			log_error(ESRCH, "no process with PID %u", f->pids[i]);
			return -ESRCH;
		}
	}
	return 0;
}

/* Replay: the recording stands in for BPF and /proc. */
static int open_replay(struct session *s, struct opts *o)
{
	const struct rec_file_header *h;
	int err = sessrec__replay_open(s, o->replay);

	if (err)
		return err;
	h = sessrec__header(s);
	/* the filter the recording was made with, for meta */
	if (!o->filter.npids)
		for (size_t i = 0; i < 16 && h->filter_pids[i]; i++)
			o->filter.pids[o->filter.npids++] = h->filter_pids[i];
	s->stop_when_pids_gone = false;
	if (o->duration_s > 0)
		s->deadline_ns = s->start_ns + (uint64_t)(o->duration_s * 1e9);
	return 0;
}

int session__open(struct session *s, struct opts *o, const struct session_hooks *h)
{
	struct consumer_opts co = {
		.filter = &o->filter,
		.follow_children = o->follow_children,
		.ringbuf_bytes = o->ringbuf_bytes,
		.max_threads = o->max_threads,
		.capture_stacks = o->stacks,
	};
	struct detect_opts dopts;
	sigset_t sigs;
	int err;

	s->opts = o;
	s->hooks = *h;
	s->tick_ns = DETECT_TICK_NS;
	s->stop_when_pids_gone = o->filter.npids && !o->follow_children;
	err = o->replay ? 0 : check_pids(&o->filter);
	if (err)
		return err;
	s->model = model__new(on_change, s);
	if (o->replay) {
		err = open_replay(s, o);
		if (err)
			return err;
	}
	dopts.min_wait_ns = session__min_wait_ns(s);
	s->detector = detector__new(&dopts, on_group, s);
	if (!s->model || !s->detector)
		return -ENOMEM;
	if (o->replay)
		return 0;
	/* blocked now, read from a signalfd later: a Ctrl-C at any point ends cleanly */
	session_signals(s, &sigs);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	s->consumer = consumer__open(&co, s->model);
	if (!s->consumer)
		return -errno;
	s->start_ns = now_ns();
	if (o->record) {
		err = sessrec__record(s, o->record, o->record_max_bytes);
		if (err)
			return err;
	}
	s->stacks = stacks__new(s->consumer);
	if (!s->stacks)
		log_warn("stacks will not be shown: %s", strerror(errno));
	else
		stacks__set_rate(s->stacks, o->stack_rate);
	if (o->goroutines)
		open_goroutines(s, o);
	s->boot_gone = hmap__new();
	procfs__scan(PROC, &o->filter, collect_proc_thread, s);
	if (o->duration_s > 0)
		s->deadline_ns = s->start_ns + (uint64_t)(o->duration_s * 1e9);
	return 0;
}

/*
 * Bootstrap: the events since attach first (forks and exits during the scan
 * are known exactly), then what /proc showed of everything else.
 */
static void bootstrap(struct session *s)
{
	s->booting = true;
	consumer__poll(s->consumer);
	for (size_t i = 0; i < s->nr_boot; i++)
		on_proc_thread(&s->boot[i], s);
	s->booting = false;
	free(s->boot);
	s->boot = NULL;
	s->nr_boot = s->cap_boot = 0;
	hmap__free(s->boot_gone);
	s->boot_gone = NULL;
	consumer__sync_threads(s->consumer);
	s->last_sync_ns = now_ns();
}

/*
 * The CPUs that dropped events of reason r since its previous report, from
 * the per-CPU counters consumer__stats() just read; none if they cannot be.
 */
static const struct lost_cpu *lost_cpus(struct session *s, int r, uint32_t *n)
{
	uint32_t nr_cpus;
	const uint64_t *now = consumer__cpu_drops(s->consumer, r, &nr_cpus);
	uint64_t *was;

	*n = 0;
	if (!now || !nr_cpus)
		return NULL;
	if (!s->cpu_reported) {
		s->cpu_reported =
			calloc((size_t)nr_cpus * TANGLE_DROP_MAX, sizeof(*s->cpu_reported));
		s->lost_cpus = calloc(nr_cpus, sizeof(*s->lost_cpus));
		if (!s->cpu_reported || !s->lost_cpus) {
			free(s->cpu_reported);
			free(s->lost_cpus);
			s->cpu_reported = NULL;
			s->lost_cpus = NULL;
			return NULL;
		}
	}
	was = s->cpu_reported + (size_t)r * nr_cpus;
	for (uint32_t cpu = 0; cpu < nr_cpus; cpu++) {
		if (now[cpu] > was[cpu])
			s->lost_cpus[(*n)++] = (struct lost_cpu){ cpu, now[cpu] - was[cpu] };
		was[cpu] = now[cpu];
	}
	return s->lost_cpus;
}

static void report_drops(struct session *s)
{
	const struct consumer_stats *st = consumer__stats(s->consumer);
	int n;

	/*
	 * Events were lost, wait_begin records among them maybe: a deadlock
	 * that formed then would go unseen. BPF's map of waits in progress
	 * says which; the backlog was just consumed, so what is left is lost.
	 */
	if (st->drops[TANGLE_DROP_RINGBUF] != s->drops_recovered) {
		s->drops_recovered = st->drops[TANGLE_DROP_RINGBUF];
		n = consumer__recover_waits(s->consumer);
		if (n < 0)
			log_debug("recovering waits after dropped events: %s", strerror(-n));
		else if (n)
			log_debug("%d waits recovered from BPF after dropped events", n);
	}

	for (int r = 0; r < TANGLE_DROP_MAX; r++) {
		struct lost_report l = { .reason = r };
		uint64_t ts = now_ns();

		if (st->drops[r] == s->drops_reported[r])
			continue;
		l.count = st->drops[r] - s->drops_reported[r];
		l.total = st->drops[r];
		l.cpus = lost_cpus(s, r, &l.nr_cpus);
		sessrec__lost(s, ts, &l);
		if (s->hooks.on_lost)
			s->hooks.on_lost(s, ts, &l);
		s->drops_reported[r] = st->drops[r];
	}
}

/*
 * With -p, a process-shared lock can be held by a process nobody asked to
 * watch: follow the edge and watch that process too, or a cross-process
 * cycle stays invisible.
 */
static void follow_owner(struct session *s, uint32_t pid)
{
	struct filter *f = &s->opts->filter;
	struct filter one = { .npids = 1, .pids = { pid } };

	if (!f->npids || filter__has(f->pids, f->npids, pid) || f->npids == FILTER_MAX_IDS)
		return;
	if (consumer__watch_pid(s->consumer, pid))
		return;
	f->pids[f->npids++] = pid;
	log_debug("watching pid %u too: it holds a lock a watched thread waits for", pid);
	procfs__scan(PROC, &one, on_proc_thread, s);
}

/* Read who holds what each long, untimed wait is on; one memory read per wait per tick. */
static void resolve_owners(struct session *s, uint64_t now)
{
	uint32_t follow[16], lost[64];
	size_t nfollow = 0, nlost = 0;
	struct thread *t;
	size_t it = 0;

	while ((t = model__next_thread(s->model, &it))) {
		struct procfs_thread now_in;
		struct lock_owner o;

		if (t->wait.kind == WAIT_NONE || t->wait.has_timeout ||
		    now < t->wait.since_ns + DETECT_MIN_WAIT_NS)
			continue;
		owner__resolve(PROC, t->pid, &t->wait, now, &o);
		/*
		 * An edge must be real: after dropped events the model can hold a
		 * wait that ended long ago. Ask /proc whether the thread still sleeps
		 * on that futex word.
		 */
		if (o.state != OWNER_NONE &&
		    (procfs__read_thread(PROC, t->pid, t->tid, &now_in) ||
		     now_in.wait.kind != WAIT_FUTEX || now_in.wait.addr != t->wait.addr)) {
			if (nlost < 64)
				lost[nlost++] = t->tid;
			continue;
		}
		sessrec__owner(s, t, &o);
		model__set_owner(s->model, t->tid, &o);
		if (o.state == OWNER_LIVE && o.owner_pid != t->pid && nfollow < 16)
			follow[nfollow++] = o.owner_pid;
	}
	/* after the walk: these change the model */
	for (size_t i = 0; i < nlost; i++) {
		sessrec__wait_lost(s, now, lost[i]);
		model__wait_lost(s->model, now, lost[i]);
	}
	for (size_t i = 0; i < nfollow; i++)
		follow_owner(s, follow[i]);
}

/*
 * --stacks: waits have their user stacks captured as they begin; take the
 * stack of every wait that has lasted without one (it began before tangle,
 * or was sampled out), and the kernel stack of every one that has lasted, a
 * bounded number per tick.
 */
static void take_stacks(struct session *s, uint64_t now)
{
	struct thread *t;
	size_t it = 0, budget = 32;

	stacks__tick(s->stacks, now);

	while (budget && (t = model__next_thread(s->model, &it))) {
		const struct stack *st;

		if (t->wait.kind == WAIT_NONE || now < t->wait.since_ns + DETECT_MIN_WAIT_NS)
			continue;
		/* a captured stack lacks only its kernel half */
		st = stacks__peek(s->stacks, t->tid, t->wait.since_ns);
		if (st && st->kernel_taken)
			continue;
		stacks__get(s->stacks, t->pid, t->tid, t->wait.since_ns);
		budget--;
	}
}

void session__detect(struct session *s)
{
	uint64_t now = now_ns();

	if (s->opts->replay)
		return; /* the recording's ticks run the detector */
	if (s->opts->stacks && s->stacks)
		take_stacks(s, now);
	resolve_owners(s, now);
	sessrec__tick(s, now);
	if (detector__run(s->detector, s->model, now))
		log_error(ENOMEM, "stuck-group detection");
	if (s->go)
		gotrack__tick(s->go, now);
}

uint64_t session__min_wait_ns(const struct session *s)
{
	const struct rec_file_header *h = sessrec__header(s);

	if (s->opts->stuck_after_s > 0)
		return (uint64_t)(s->opts->stuck_after_s * 1e9);
	/* from the file: anything but a plausible figure (NaN included) is not taken */
	if (s->opts->replay && h && h->stuck_after_s > 0 && h->stuck_after_s < 1e6)
		return (uint64_t)(h->stuck_after_s * 1e9);
	if (s->opts->thread_stuck_after_s > 0)
		return (uint64_t)(s->opts->thread_stuck_after_s * 1e9);
	return DETECT_MIN_WAIT_NS;
}

const struct consumer_stats *session__stats(struct session *s)
{
	if (s->consumer)
		return consumer__stats(s->consumer);
	sessrec__replay_stats(s, &s->replay_stats);
	return &s->replay_stats;
}

static bool watched_pids_gone(const struct session *s)
{
	const struct filter *f = &s->opts->filter;

	if (!s->stop_when_pids_gone)
		return false;
	for (size_t i = 0; i < f->npids; i++)
		if (procfs__pid_exists(PROC, f->pids[i]))
			return false;
	return true;
}

static int on_ringbuf(struct loop *l, void *ctx)
{
	struct session *s = ctx;
	int n = consumer__poll(s->consumer);

	if (n < 0 && n != -EINTR) {
		log_error(-n, "reading the ring buffer");
		return n;
	}
	if (s->hooks.on_batch)
		s->hooks.on_batch(s);
	return 0;
}

static int on_tick(struct loop *l, void *ctx)
{
	struct session *s = ctx;
	uint64_t now;

	consumer__poll(s->consumer);
	report_drops(s);
	now = now_ns();
	if (now - s->last_sync_ns >= (uint64_t)(s->opts->interval_s * 1e9)) {
		consumer__sync_threads(s->consumer);
		s->last_sync_ns = now;
	}
	session__detect(s);
	if (s->hooks.on_batch)
		s->hooks.on_batch(s);
	if (s->hooks.on_tick && !s->hooks.on_tick(s))
		loop__stop(l);
	sessrec__tick_end(s, now_ns());
	if (s->deadline_ns && now_ns() >= s->deadline_ns)
		loop__stop(l);
	if (watched_pids_gone(s)) {
		log_debug("every watched process has exited");
		loop__stop(l);
	}
	return 0;
}

static int on_signal(struct loop *l, int signo, void *ctx)
{
	struct session *s = ctx;

	if (signo == s->extra_signal && s->hooks.on_signal) {
		if (!s->hooks.on_signal(s, signo))
			loop__stop(l);
		return 0;
	}
	log_debug("got signal %d, detaching", signo);
	loop__stop(l);
	return 0;
}

/* ---- replay, paced for the dashboard ---- */

#define REPLAY_TIMER_NS 50000000ull

static int on_replay_timer(struct loop *l, void *ctx)
{
	struct session *s = ctx;

	(void)l;
	sessrec__replay_tick(s);
	return 0;
}

static int run_paced(struct session *s)
{
	sigset_t sigs;
	int err;

	s->loop = loop__new();
	if (!s->loop)
		return -errno;
	session_signals(s, &sigs);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	err = loop__add_signals(s->loop, &sigs, on_signal, s);
	if (!err)
		err = loop__add_timer(s->loop, REPLAY_TIMER_NS, on_replay_timer, s);
	if (!err && s->hooks.on_start)
		s->hooks.on_start(s);
	if (!err)
		err = loop__run(s->loop);
	if (err)
		log_error(-err, "event loop");
	return err;
}

void session__replay_pace(struct session *s, double speed, bool paused)
{
	s->paced = true;
	sessrec__replay_pace(s, speed, paused);
}

int session__replay_seek(struct session *s, int64_t delta_ns)
{
	struct replay_status st;
	struct detect_opts dopts = { .min_wait_ns = session__min_wait_ns(s) };
	uint64_t to;
	int err;

	sessrec__replay_status(s, &st);
	if (delta_ns >= 0)
		return sessrec__replay_forward(s, st.now_ns + (uint64_t)delta_ns);
	/* back: the model cannot unwind, so play again from the start, quickly */
	to = st.now_ns - st.start_ns > (uint64_t)-delta_ns ? st.now_ns + delta_ns : st.start_ns;
	if (!strcmp(s->opts->replay, "-")) {
		log_warn("cannot seek back in a recording read from stdin");
		return -ESPIPE;
	}
	sessrec__close(s);
	gotrack__free(s->go);
	godetect__free(s->godetect);
	s->go = NULL;
	s->godetect = NULL;
	detector__free(s->detector);
	model__free(s->model);
	s->model = model__new(on_change, s);
	s->detector = detector__new(&dopts, on_group, s);
	if (!s->model || !s->detector)
		return -ENOMEM;
	err = sessrec__replay_open(s, s->opts->replay);
	if (err)
		return err;
	sessrec__replay_pace(s, st.speed, st.paused);
	return sessrec__replay_forward(s, to);
}

void session__replay_status(const struct session *s, struct replay_status *out)
{
	sessrec__replay_status(s, out);
}

int session__run(struct session *s)
{
	uint64_t tick = s->tick_ns;
	sigset_t sigs;
	int err;

	if (s->opts->replay)
		return s->paced ? run_paced(s) : sessrec__replay_run(s);
	bootstrap(s);
	s->loop = loop__new();
	if (!s->loop)
		return -errno;
	session_signals(s, &sigs);
	err = loop__add_signals(s->loop, &sigs, on_signal, s);
	if (!err)
		err = loop__add_fd(s->loop, consumer__fd(s->consumer), on_ringbuf, s);
	if (s->deadline_ns && s->deadline_ns - s->start_ns < tick)
		tick = s->deadline_ns - s->start_ns;
	if (!err)
		err = loop__add_timer(s->loop, tick, on_tick, s);
	if (!err && s->hooks.on_start)
		s->hooks.on_start(s);
	if (!err)
		err = loop__run(s->loop);
	if (err)
		log_error(-err, "event loop");
	return err;
}

void session__drain(struct session *s)
{
	if (!s->consumer)
		return;
	consumer__poll(s->consumer);
	report_drops(s);
	if (s->hooks.on_batch)
		s->hooks.on_batch(s);
}

void session__close(struct session *s)
{
	const struct consumer_stats *st = s->consumer ? consumer__stats(s->consumer) : NULL;

	sessrec__close(s);
	if (st && st->bad_records)
		log_warn("%llu malformed records ignored", (unsigned long long)st->bad_records);
	loop__free(s->loop);
	free(s->boot);
	free(s->cpu_reported);
	free(s->lost_cpus);
	hmap__free(s->boot_gone);
	stacks__free(s->stacks);
	gotrack__free(s->go);
	godetect__free(s->godetect);
	goevidence__free(s->goevidence);
	consumer__free(s->consumer);
	detector__free(s->detector);
	model__free(s->model);
	memset(s, 0, sizeof(*s));
}

static const struct stack *session_stack(uint32_t pid, uint32_t tid, uint64_t since_ns, void *ctx)
{
	struct session *s = ctx;

	if (s->opts && s->opts->replay)
		return sessrec__stack(s, tid, since_ns);
	return s->stacks ? stacks__get(s->stacks, pid, tid, since_ns) : NULL;
}

const struct stack *session__known_stack(struct session *s, uint32_t tid, uint64_t since_ns)
{
	if (s->opts && s->opts->replay)
		return sessrec__stack(s, tid, since_ns);
	return s->stacks ? stacks__peek(s->stacks, tid, since_ns) : NULL;
}

struct names session__names(struct session *s)
{
	return (struct names){ .place = session__place, .stack = session_stack, .ctx = s };
}

const struct addr_place *session__place(uint32_t pid, uint64_t addr, void *ctx)
{
	static struct addr_place_buf buf;
	struct session *s = ctx;

	if (s && s->opts && s->opts->replay)
		return sessrec__place(s, pid, addr);
	if (symbols__place(PROC, pid, addr, &buf))
		return NULL;
	return &buf.place;
}
