// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle stream`: attach, say `meta`, report what /proc shows is already
 * blocked, then stream every change of the model as NDJSON until the
 * duration ends, a signal arrives, the watched processes are all gone, or
 * the reader goes away.
 *
 * Order matters at start: BPF is attached before /proc is read, so nothing
 * that happens in between is missed; the model resolves the overlap.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "consumer.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "opts.h"
#include "procfs.h"
#include "view_json.h"

struct stream {
	struct opts opts;
	struct json_writer *w;
	FILE *out;
	struct model *model;
	struct consumer *consumer;
	uint64_t start_ns;
	uint64_t deadline_ns; /* 0: none */
	uint64_t drops_reported[TANGLE_DROP_MAX];
	int exit_code;
};

static int64_t clock_offset(clockid_t id)
{
	struct timespec a, mono;

	clock_gettime(id, &a);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)a.tv_sec - mono.tv_sec) * 1000000000ll + (a.tv_nsec - mono.tv_nsec);
}

static int write_meta(struct stream *s)
{
	struct stream_meta meta = { .ts_ns = s->start_ns, .filter = &s->opts.filter };
	struct utsname u;
	char host[256] = "";

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	meta.kernel = u.release;
	meta.hostname = host;
	meta.wall_offset_ns = clock_offset(CLOCK_REALTIME);
	meta.boot_offset_ns = clock_offset(CLOCK_BOOTTIME);
	return view_json__meta(s->w, &meta);
}

/* A thread found in /proc: into the model, and if blocked in a futex, seeded into BPF. */
static void on_proc_thread(const struct procfs_thread *t, void *ctx)
{
	struct stream *s = ctx;
	struct wait w = t->wait;

	model__thread_new(s->model, s->start_ns, t->pid, t->tid, t->comm, ORIGIN_PROC, 0, 0,
			  t->state);
	if (w.kind != WAIT_FUTEX)
		return;
	w.since_ns = s->start_ns;
	if (consumer__seed_wait(s->consumer, t->tid, &w))
		log_debug("could not seed the wait of tid %u", t->tid);
	model__wait_begin(s->model, s->start_ns, t->pid, t->tid, t->comm, &w);
}

static void report_drops(struct stream *s)
{
	const struct consumer_stats *st = consumer__stats(s->consumer);

	for (int r = 0; r < TANGLE_DROP_MAX; r++) {
		if (st->drops[r] == s->drops_reported[r])
			continue;
		view_json__lost(s->w, now_ns(), st->drops[r] - s->drops_reported[r],
				drop_reason_name(r), st->drops[r]);
		s->drops_reported[r] = st->drops[r];
	}
}

static bool watched_pids_gone(const struct stream *s)
{
	const struct filter *f = &s->opts.filter;

	if (!f->npids || s->opts.follow_children)
		return false;
	for (size_t i = 0; i < f->npids; i++)
		if (procfs__pid_exists("/proc", f->pids[i]))
			return false;
	return true;
}

static int on_ringbuf(struct loop *l, void *ctx)
{
	struct stream *s = ctx;
	int n = consumer__poll(s->consumer);

	if (n < 0 && n != -EINTR) {
		log_error(-n, "reading the ring buffer");
		return n;
	}
	if (ferror(s->out)) {
		log_debug("output closed, stopping");
		loop__stop(l);
	}
	return 0;
}

static int on_tick(struct loop *l, void *ctx)
{
	struct stream *s = ctx;

	consumer__poll(s->consumer);
	report_drops(s);
	consumer__sync_threads(s->consumer);
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
	log_debug("got signal %d, detaching", signo);
	loop__stop(l);
	return 0;
}

static int check_pids(const struct filter *f)
{
	for (size_t i = 0; i < f->npids; i++) {
		if (!procfs__pid_exists("/proc", f->pids[i])) {
			log_error(ESRCH, "no process with PID %u", f->pids[i]);
			return -ESRCH;
		}
	}
	return 0;
}

static int run(struct stream *s)
{
	struct consumer_opts co = {
		.filter = &s->opts.filter,
		.follow_children = s->opts.follow_children,
		.ringbuf_bytes = s->opts.ringbuf_bytes,
		.max_threads = s->opts.max_threads,
	};
	uint64_t tick_ns = (uint64_t)(s->opts.interval_s * 1e9);
	struct loop *l = NULL;
	sigset_t sigs;
	int err;

	err = check_pids(&s->opts.filter);
	if (err)
		return err;
	s->model = model__new(view_json__on_change, s->w);
	if (!s->model)
		return -errno;
	s->consumer = consumer__open(&co, s->model);
	if (!s->consumer)
		return -errno;
	s->start_ns = now_ns();
	if (s->opts.duration_s > 0)
		s->deadline_ns = s->start_ns + (uint64_t)(s->opts.duration_s * 1e9);
	write_meta(s);
	consumer__poll(s->consumer);
	procfs__scan("/proc", &s->opts.filter, on_proc_thread, s);
	consumer__sync_threads(s->consumer);

	l = loop__new();
	if (!l)
		return -errno;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	err = loop__add_signals(l, &sigs, on_signal, s);
	if (!err)
		err = loop__add_fd(l, consumer__fd(s->consumer), on_ringbuf, s);
	/* the tick also ends -d: keep it no longer than the duration */
	if (s->deadline_ns && s->deadline_ns - s->start_ns < tick_ns)
		tick_ns = s->deadline_ns - s->start_ns;
	if (!err)
		err = loop__add_timer(l, tick_ns < 10000000 ? 10000000 : tick_ns, on_tick, s);
	if (!err)
		err = loop__run(l);
	if (err)
		log_error(-err, "event loop");
	/* whatever stopped us, drain what is pending and close the stream properly */
	consumer__poll(s->consumer);
	report_drops(s);
	{
		const struct consumer_stats *st = consumer__stats(s->consumer);
		uint64_t lost = 0, now = now_ns();

		for (int r = 0; r < TANGLE_DROP_MAX; r++)
			lost += st->drops[r];
		view_json__futex_stats(s->w, now, s->model);
		view_json__summary(s->w, now, st->events, lost, now - s->start_ns);
		if (st->bad_records)
			log_warn("%llu malformed records ignored",
				 (unsigned long long)st->bad_records);
	}
	loop__free(l);
	return err;
}

int cmd_stream(int argc, char **argv)
{
	struct stream s = {};
	FILE *out = stdout;
	int err;

	err = opts__parse("stream", argc, argv, &s.opts);
	if (err)
		return err > 0 ? 0 : 1;
	log__set_verbose(s.opts.verbose);
	if (s.opts.output) {
		out = fopen(s.opts.output, "we");
		if (!out) {
			log_error(errno, "cannot open %s", s.opts.output);
			return 1;
		}
	}
	/* a reader that goes away (| head) ends the stream instead of killing it */
	signal(SIGPIPE, SIG_IGN);
	s.out = out;
	s.w = json__new(out);
	if (!s.w) {
		log_error(errno, "json writer");
		return 1;
	}
	log__set_json(s.w);
	err = run(&s);
	log__set_json(NULL);
	consumer__free(s.consumer);
	model__free(s.model);
	json__free(s.w);
	if (out != stdout && fclose(out)) {
		log_error(errno, "writing %s", s.opts.output);
		err = -errno;
	}
	return err ? 1 : 0;
}
