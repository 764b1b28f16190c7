// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle check`: watch for up to -d seconds (default 2), threads blocked
 * before the start included, and print every stuck group. Stops early once
 * something is found. Exit 0: nothing stuck; 2: stuck; 1: error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "json.h"
#include "lockinfo.h"
#include "log.h"
#include "report.h"
#include "session.h"
#include "view_go.h"
#include "view_json.h"

#define LONG_WAIT_NS 1000000000ull /* ownerless waits this long are listed */
#define LONG_WAITS_SHOWN 20

struct check {
	struct session session;
	struct opts opts;
	struct json_writer *w; /* --json */
	struct names names;
	size_t found;
};

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct check *c = ctx;

	if (g->resolved_ns) {
		if (c->w)
			view_json__stuck_group(c->w, g, &c->names);
		return;
	}
	if (!g->revision)
		c->found++;
	if (c->w)
		view_json__stuck_group(c->w, g, &c->names);
	else
		report__group(stdout, g, &c->names);
}

static void on_go_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct check *c = ctx;

	if (!g->resolved_ns && !g->revision)
		c->found++;
	if (c->w)
		view_go__stuck_json(c->w, g, gp);
	else if (!g->resolved_ns)
		view_go__stuck_text(stdout, g, gp);
}

static void on_lost(struct session *s, uint64_t ts, const struct lost_report *l)
{
	struct check *c = s->hooks.ctx;

	if (c->w)
		view_json__lost(c->w, ts, drop_reason_name(l->reason), l);
	else
		log_warn("the kernel dropped %llu events (%s); results may be incomplete",
			 (unsigned long long)l->count, drop_reason_name(l->reason));
}

/* Stop once something is found: groups confirmed together were all reported in that run. */
static bool on_tick(struct session *s)
{
	struct check *c = s->hooks.ctx;

	return c->found == 0;
}

static bool in_a_group(const struct detector *d, uint32_t tid)
{
	for (size_t i = 0; i < detector__nr_groups(d); i++) {
		const struct stuck_group *g = detector__group(d, i);

		for (size_t j = 0; j < g->nr_members; j++)
			if (g->members[j].tid == tid)
				return true;
	}
	return false;
}

/* Long waits with no owner to blame: shown for what they are, never called stuck. */
static void long_waits(struct check *c, uint64_t now)
{
	struct session *s = &c->session;
	const struct thread *t;
	size_t it = 0, shown = 0, total = 0;

	while ((t = model__next_thread(s->model, &it))) {
		const struct lock_owner *o = thread__owner(t);
		char comm[4 * TANGLE_COMM_LEN + 1], dur[32];
		uint64_t age;

		if (t->wait.kind == WAIT_NONE || now - t->wait.since_ns < LONG_WAIT_NS ||
		    in_a_group(s->detector, t->tid))
			continue;
		total++;
		age = now - t->wait.since_ns;
		if (c->w) {
			view_json__long_wait(c->w, now, t, age);
			continue;
		}
		if (shown++ == LONG_WAITS_SHOWN)
			continue;
		if (shown == 1)
			printf("Long waits (not stuck as far as tangle can tell):\n");
		term_escape(comm, sizeof(comm), t->comm, TANGLE_COMM_LEN);
		format_duration(dur, sizeof(dur), age);
		printf("  thread %u \"%s\" (pid %u) %s%s on %s 0x%llx%s\n", t->tid, comm, t->pid,
		       t->wait.preblocked ? "at least " : "", dur,
		       lock_kind_name(o ? o->kind : LOCK_UNKNOWN), (unsigned long long)t->wait.addr,
		       t->wait.has_timeout ? " (with a timeout)" : "");
	}
	if (!c->w && total > LONG_WAITS_SHOWN)
		printf("  ... and %zu more\n", total - LONG_WAITS_SHOWN);
}

int cmd_check(int argc, char **argv)
{
	struct session_hooks hooks = { .on_group = on_group,
				       .on_go_group = on_go_group,
				       .on_lost = on_lost,
				       .on_tick = on_tick };
	struct check c = {};
	struct session *s = &c.session;
	int err;

	err = opts__parse("check", argc, argv, &c.opts);
	if (err)
		return err > 0 ? 0 : 1;
	if (c.opts.duration_s == 0 && !c.opts.replay)
		c.opts.duration_s = 2;
	log__set_verbose(c.opts.verbose);
	signal(SIGPIPE, SIG_IGN);
	if (c.opts.json) {
		c.w = json__new(stdout);
		if (!c.w) {
			log_error(errno, "json writer");
			return 1;
		}
		log__set_json(c.w);
	}
	hooks.ctx = &c;
	err = session__open(s, &c.opts, &hooks);
	c.names = session__names(s);
	if (!err) {
		if (c.w)
			write_meta(c.w, s);
		err = session__run(s);
	}
	if (!err) {
		uint64_t now = now_ns();

		session__drain(s);
		long_waits(&c, now);
		if (!c.w && !c.found)
			printf("tangle: no stuck threads found in %.1f s (%zu threads watched%s)\n",
			       (now - s->start_ns) / 1e9, model__nr_threads(s->model),
			       s->go && gotrack__nr_processes(s->go) ? ", goroutines too" : "");
	}
	log__set_json(NULL);
	session__close(s);
	json__free(c.w);
	if (err)
		return 1;
	return c.found ? 2 : 0;
}
