// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle stream`: say `meta`, report what /proc shows is already there, then
 * every change of the model and every stuck group as NDJSON until the
 * duration ends, a signal arrives, the watched processes are all gone, or
 * the reader goes away.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "folded.h"
#include "json.h"
#include "log.h"
#include "outq.h"
#include "session.h"
#include "sessrec.h"
#include "record.h"
#include "stacks.h"
#include "view_go.h"
#include "view_json.h"
#include "view_trace.h"

struct stream {
	struct session session;
	struct opts opts;
	struct json_writer *w;
	struct names names;
	struct folded *folded; /* --folded: wait time per stack, written at the end */
	struct view_trace *trace; /* --trace: a timeline instead of records */
	FILE *out;
	struct outq *q; /* NDJSON records go out through it: a slow reader never stalls us */
	uint64_t out_dropped; /* records the queue dropped, as reported so far */
};

/* NDJSON records, unless an export replaces them. */
static bool records(const struct stream *st)
{
	return !st->folded && !st->opts.trace && !st->opts.dot;
}

static int64_t clock_offset(clockid_t id)
{
	struct timespec a, mono;

	clock_gettime(id, &a);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)a.tv_sec - mono.tv_sec) * 1000000000ll + (a.tv_nsec - mono.tv_nsec);
}

int write_meta(struct json_writer *w, const struct session *s)
{
	const struct rec_file_header *h = sessrec__header(s);
	struct stream_meta meta = { .ts_ns = s->start_ns, .filter = &s->opts->filter };

	if (h) { /* the recording says where and when (a replay: the recording host) */
		meta.kernel = h->kernel;
		meta.hostname = h->hostname;
		meta.wall_offset_ns = h->wall_offset_ns;
		meta.boot_offset_ns = h->boot_offset_ns;
		return view_json__meta(w, &meta);
	}
	return write_meta_live(w, s->start_ns, &s->opts->filter);
}

int write_meta_live(struct json_writer *w, uint64_t ts, const struct filter *f)
{
	struct stream_meta meta = { .ts_ns = ts, .filter = f };
	struct utsname u;
	char host[256] = "";

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	meta.kernel = u.release;
	meta.hostname = host;
	meta.wall_offset_ns = clock_offset(CLOCK_REALTIME);
	meta.boot_offset_ns = clock_offset(CLOCK_BOOTTIME);
	return view_json__meta(w, &meta);
}

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct stream *st = ctx;

	if (st->trace)
		view_trace__on_group(st->trace, g);
	if (records(st))
		view_json__stuck_group(st->w, g, &st->names);
}

static void on_go_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct stream *st = ctx;

	if (records(st))
		view_go__stuck_json(st->w, g, gp);
}

static void on_lost(struct session *s, uint64_t ts, const struct lost_report *l)
{
	struct stream *st = s->hooks.ctx;

	if (!records(st))
		log_warn("the kernel dropped %llu events (%s): the export misses them",
			 (unsigned long long)l->count, drop_reason_name(l->reason));
	else
		view_json__lost(st->w, ts, drop_reason_name(l->reason), l);
}

static void on_batch(struct session *s)
{
	struct stream *st = s->hooks.ctx;

	if (!st->folded && !st->opts.dot)
		json__flush(st->w);
	if (st->q)
		outq__kick(st->q);
}

/*
 * What a blocked reader made the queue drop, as lost_events "output_full",
 * once the reader reads again (the record would wait behind the rest).
 */
static void report_output_drops(struct stream *st, bool final)
{
	struct outq_stats qs;

	if (!st->q)
		return;
	outq__stats(st->q, &qs);
	if (qs.dropped == st->out_dropped || (!final && qs.waiting > OUTQ_SOFT_LIMIT / 2))
		return;
	view_json__lost_output(st->w, now_ns(), qs.dropped - st->out_dropped, qs.dropped);
	st->out_dropped = qs.dropped;
}

static bool on_tick(struct session *s)
{
	struct stream *st = s->hooks.ctx;

	if (st->q ? outq__error(st->q) : ferror(st->out)) {
		log_debug("output closed, stopping");
		return false;
	}
	report_output_drops(st, false);
	return true;
}

/*
 * --folded: a wait's time goes under its stack. Short waits have a stack when
 * it was captured as they began, one in N of them at high wait rates: then
 * each captured one counts N times and the others not at all, which keeps
 * every stack's total right on average. A long wait without a captured stack
 * had one taken while it lasted, or counts under [stack_unknown].
 */
static void fold_wait(struct stream *st, const char *comm, uint64_t blocked_ns,
		      const struct stack *stack)
{
	uint64_t weight = 1;

	if (blocked_ns < FOLDED_SHORT_WAIT_NS) {
		if (!stack)
			return; /* sampled out: the captured waits stand for it */
		if (stack->sample_every)
			weight = stack->sample_every;
	}
	folded__add(st->folded, comm, stack ? stack->user : NULL, stack ? stack->nr_user : 0,
		    "[stack_unknown]", blocked_ns * weight);
}

static void on_change(const struct model_event *ev, void *ctx)
{
	struct stream *st = ctx;
	const struct stack *stack = NULL;

	/* unwound at the begin already, while the process surely still runs */
	if (st->opts.stacks && (ev->kind == MC_WAIT_BEGIN || ev->kind == MC_WAIT_END))
		stack = session__known_stack(&st->session, ev->thread->tid, ev->wait->since_ns);
	if (st->trace)
		view_trace__on_change(ev, st->trace);
	else if (st->folded && ev->kind == MC_WAIT_END)
		fold_wait(st, ev->thread->comm, ev->blocked_ns, stack);
	else if (records(st))
		view_json__change(st->w, ev, st->opts.stacks, stack);
}

static int run(struct stream *st)
{
	struct session_hooks hooks = {
		.on_change = on_change,
		.on_group = on_group,
		.on_go_group = on_go_group,
		.on_lost = on_lost,
		.on_batch = on_batch,
		.on_tick = on_tick,
	};
	struct session *s = &st->session;
	const struct consumer_stats *cs;
	uint64_t lost = 0, now;
	int err;

	hooks.ctx = st;
	err = session__open(s, &st->opts, &hooks);
	if (err)
		return err;
	st->names = session__names(s);
	log_debug("attached");
	if (records(st)) {
		write_meta(st->w, s);
		json__flush(st->w);
	}
	if (st->opts.trace) {
		st->trace = view_trace__new(st->w, st->out, &st->names);
		if (!st->trace)
			return -errno;
	}
	err = session__run(s);
	session__drain(s);
	now = now_ns();
	if (st->trace)
		return view_trace__finish(st->trace, s->model, now) ?: err;
	if (st->opts.dot)
		return view_dot__write(st->out, s->model, s->detector, now, session__min_wait_ns(s), &st->names) ?:
			       err;
	if (st->folded) {
		/* waits still going on count up to now, as if they ended now */
		const struct thread *t;
		size_t it = 0;

		cs = session__stats(s);
		if (cs->stack_skips)
			log_warn("%llu stack captures skipped (the ring buffer was busy): the "
				 "profile under-counts short waits",
				 (unsigned long long)cs->stack_skips);
		now = now_ns();
		while ((t = model__next_thread(s->model, &it)))
			if (t->wait.kind != WAIT_NONE)
				fold_wait(st, t->comm, now - t->wait.since_ns,
					  session__known_stack(s, t->tid, t->wait.since_ns));
		return folded__write(st->folded, st->out) ?: err;
	}
	cs = session__stats(s);
	for (int r = 0; r < TANGLE_DROP_MAX; r++)
		lost += cs->drops[r];
	if (st->q && !outq__drain(st->q))
		report_output_drops(st, true);
	now = now_ns();
	view_json__futex_stats(st->w, now, s->model);
	view_json__summary(st->w, now, cs->events, lost, now - s->start_ns);
	json__flush(st->w);
	if (st->q)
		outq__drain(st->q);
	log_debug("%llu events, %llu lost in %.1f s", (unsigned long long)cs->events,
		  (unsigned long long)lost, (now - s->start_ns) / 1e9);
	return err;
}

static int push(void *ctx, const char *line, size_t len, bool keep)
{
	return outq__push(ctx, line, len, keep);
}

int cmd_stream(int argc, char **argv)
{
	struct stream st = {};
	FILE *out = stdout;
	int err;

	err = opts__parse("stream", argc, argv, &st.opts);
	if (err)
		return err > 0 ? 0 : 1;
	log__set_verbose(st.opts.verbose);
	if (st.opts.output) {
		out = fopen(st.opts.output, "we");
		if (!out) {
			log_error(errno, "cannot open %s", st.opts.output);
			return 1;
		}
	}
	/* a reader that goes away (| head) ends the stream instead of killing it */
	signal(SIGPIPE, SIG_IGN);
	/* records leave in batches (on_batch), not in one write() each */
	setvbuf(out, NULL, _IOFBF, 64 << 10);
	st.out = out;
	st.w = json__new(out);
	if (!st.w) {
		log_error(errno, "json writer");
		return 1;
	}
	json__batch_flushes(st.w);
	if (st.opts.folded + st.opts.trace + st.opts.dot > 1) {
		log_error(EINVAL, "one of --folded, --trace and --dot at a time");
		return 1;
	}
	if (st.opts.folded) {
		st.folded = folded__new();
		if (!st.folded) {
			log_error(errno, "folded stacks");
			return 1;
		}
	} else if (!st.opts.trace && !st.opts.dot) {
		st.q = outq__new(fileno(out));
		if (!st.q) {
			log_error(errno, "output queue");
			return 1;
		}
		json__set_sink(st.w, push, st.q);
		log__set_json(st.w);
	}
	err = run(&st);
	log__set_json(NULL);
	if (st.q) {
		struct outq_stats qs;

		outq__stats(st.q, &qs);
		if (qs.dropped)
			log_warn("the output was not read fast enough: %llu records dropped "
				 "(%llu MiB), reported as lost_events \"output_full\"",
				 (unsigned long long)qs.dropped,
				 (unsigned long long)(qs.dropped_bytes >> 20));
		outq__free(st.q);
	}
	session__close(&st.session);
	folded__free(st.folded);
	view_trace__free(st.trace);
	json__free(st.w);
	if (out != stdout && fclose(out)) {
		log_error(errno, "writing %s", st.opts.output);
		err = -errno;
	}
	return err ? 1 : 0;
}
