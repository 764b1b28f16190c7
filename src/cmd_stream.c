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
#include "json.h"
#include "log.h"
#include "session.h"
#include "view_json.h"

struct stream {
	struct session session;
	struct opts opts;
	struct json_writer *w;
	struct names names;
	FILE *out;
};

static int64_t clock_offset(clockid_t id)
{
	struct timespec a, mono;

	clock_gettime(id, &a);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)a.tv_sec - mono.tv_sec) * 1000000000ll + (a.tv_nsec - mono.tv_nsec);
}

int write_meta(struct json_writer *w, uint64_t ts, const struct filter *f)
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

	view_json__stuck_group(st->w, g, &st->names);
}

static void on_lost(struct session *s, uint64_t ts, int reason, uint64_t count, uint64_t total)
{
	struct stream *st = s->hooks.ctx;

	view_json__lost(st->w, ts, count, drop_reason_name(reason), total);
}

static bool on_tick(struct session *s)
{
	struct stream *st = s->hooks.ctx;

	if (ferror(st->out)) {
		log_debug("output closed, stopping");
		return false;
	}
	return true;
}

static void on_change(const struct model_event *ev, void *ctx)
{
	struct stream *st = ctx;

	view_json__on_change(ev, st->w);
}

static int run(struct stream *st)
{
	struct session_hooks hooks = {
		.on_change = on_change,
		.on_group = on_group,
		.on_lost = on_lost,
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
	write_meta(st->w, s->start_ns, &st->opts.filter);
	err = session__run(s);
	session__drain(s);
	cs = consumer__stats(s->consumer);
	for (int r = 0; r < TANGLE_DROP_MAX; r++)
		lost += cs->drops[r];
	now = now_ns();
	view_json__futex_stats(st->w, now, s->model);
	view_json__summary(st->w, now, cs->events, lost, now - s->start_ns);
	return err;
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
	st.out = out;
	st.w = json__new(out);
	if (!st.w) {
		log_error(errno, "json writer");
		return 1;
	}
	log__set_json(st.w);
	err = run(&st);
	log__set_json(NULL);
	session__close(&st.session);
	json__free(st.w);
	if (out != stdout && fclose(out)) {
		log_error(errno, "writing %s", st.opts.output);
		err = -errno;
	}
	return err ? 1 : 0;
}
