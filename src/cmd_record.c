// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle record -o FILE`: a session whose only view is the recording
 * (sessrec.h), until -d, Ctrl-C, or the watched processes are gone.
 * `tangle replay FILE [VIEW]`: a view run over a recording instead of the
 * live system: stream, check and top as they are, and the exports.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cmd.h"
#include "log.h"
#include "session.h"

struct record {
	struct session session;
	struct opts opts;
};

static void on_lost(struct session *s, uint64_t ts, const struct lost_report *l)
{
	(void)s, (void)ts;
	log_warn("the kernel dropped %llu events (%s): the recording misses them (it says so)",
		 (unsigned long long)l->count, drop_reason_name(l->reason));
}

int cmd_record(int argc, char **argv)
{
	struct session_hooks hooks = { .on_lost = on_lost };
	struct record r = {};
	struct session *s = &r.session;
	const struct consumer_stats *cs;
	struct stat st;
	uint64_t lost = 0;
	int err;

	err = opts__parse("record", argc, argv, &r.opts);
	if (err)
		return err > 0 ? 0 : 1;
	log__set_verbose(r.opts.verbose);
	if (!r.opts.output) {
		fprintf(stderr, "tangle record: where to? (tangle record -o FILE)\n");
		return 1;
	}
	r.opts.record = r.opts.output;
	r.opts.output = NULL;
	hooks.ctx = &r;
	err = session__open(s, &r.opts, &hooks);
	if (!err) {
		fprintf(stderr, "tangle: recording to %s (Ctrl-C to stop)\n", r.opts.record);
		err = session__run(s);
		session__drain(s);
	}
	if (!err) {
		cs = session__stats(s);
		for (int i = 0; i < TANGLE_DROP_MAX; i++)
			lost += cs->drops[i];
		fprintf(stderr,
			"tangle: recorded %llu events (%llu lost), %zu threads, in %.1f s to %s\n",
			(unsigned long long)cs->events, (unsigned long long)lost,
			model__nr_threads(s->model), (now_ns() - s->start_ns) / 1e9, r.opts.record);
	}
	session__close(s);
	if (!err && !stat(r.opts.record, &st))
		log_debug("%s: %lld bytes", r.opts.record, (long long)st.st_size);
	return err ? 1 : 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *as; /* the subcommand it runs, with these options first */
	const char *opt;
} views[] = {
	{ "check", cmd_check, "check", NULL },	  { "stream", cmd_stream, "stream", NULL },
	{ "top", cmd_top, "top", NULL },	  { "trace", cmd_stream, "stream", "--trace" },
	{ "dot", cmd_stream, "stream", "--dot" }, { "folded", cmd_stream, "stream", "--folded" },
};

int cmd_replay(int argc, char **argv)
{
	const char *file, *view = "check";
	char **args;
	int first = 2, n = 0, rc;
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: tangle replay FILE [check|stream|top|trace|dot|folded] [OPTIONS]\n"
			"\n"
			"Run a view over a recording made by tangle record, as it ran live:\n"
			"  check   the stuck groups (the default; exit 2 if any)\n"
			"  stream  every record as NDJSON, as tangle stream printed it\n"
			"  top     the dashboard, the recording played back: Space pauses,\n"
			"          ] and [ play faster and slower, } and { seek 10 s\n"
			"  trace   a Chrome/Perfetto trace-event timeline (-o FILE.json)\n"
			"  dot     the wait-for graph of the stuck groups, for Graphviz\n"
			"  folded  folded stacks of wait time, for flamegraph.pl\n"
			"The view's own options follow (tangle stream --help).\n");
		return argc < 2 ? 1 : 0;
	}
	file = argv[1];
	if (argc > 2 && argv[2][0] != '-')
		view = argv[2], first = 3;
	for (i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		if (!strcmp(views[i].name, view))
			break;
	if (i == sizeof(views) / sizeof(views[0])) {
		fprintf(stderr,
			"tangle replay: unknown view '%s' (check, stream, top, trace, dot, "
			"folded)\n",
			view);
		return 1;
	}
	args = calloc((size_t)argc + 4, sizeof(*args));
	if (!args)
		return 1;
	args[n++] = (char *)views[i].as;
	if (views[i].opt)
		args[n++] = (char *)views[i].opt;
	args[n++] = "--replay";
	args[n++] = (char *)file;
	for (int a = first; a < argc; a++)
		args[n++] = argv[a];
	rc = views[i].fn(n, args);
	free(args);
	return rc;
}
