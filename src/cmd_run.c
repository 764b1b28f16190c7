// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle run -- CMD...`: start CMD under observation (it and every process
 * it forks) and report on stderr when part of it gets stuck. CMD is held
 * before exec until BPF is attached, so nothing it does is missed. tangle
 * exits with CMD's status (128 + signal when it was killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cmd.h"
#include "json.h"
#include "log.h"
#include "report.h"
#include "session.h"
#include "view_go.h"
#include "view_json.h"

struct run {
	struct session session;
	struct opts opts;
	struct json_writer *w; /* --json */
	struct names names;
	FILE *out;
	pid_t child;
	int status;
	bool exited;
};

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct run *r = ctx;

	if (r->w)
		view_json__stuck_group(r->w, g, &r->names);
	else
		report__group(r->out, g, &r->names);
}

static void on_go_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct run *r = ctx;

	if (r->w)
		view_go__stuck_json(r->w, g, gp);
	else if (!g->resolved_ns)
		view_go__stuck_text(r->out, g, gp);
}

static bool reap(struct run *r)
{
	int status;

	if (r->exited)
		return true;
	if (waitpid(r->child, &status, WNOHANG) == r->child) {
		r->status = status;
		r->exited = true;
	}
	return r->exited;
}

static bool on_signal(struct session *s, int signo)
{
	return !reap(s->hooks.ctx);
}

static bool on_tick(struct session *s)
{
	return !reap(s->hooks.ctx);
}

/* Child: wait for the go byte (BPF attached), then become CMD. */
static void child_exec(int gate, char **command, const sigset_t *old)
{
	char go;

	sigprocmask(SIG_SETMASK, old, NULL);
	if (read(gate, &go, 1) != 1)
		_exit(127);
	close(gate);
	execvp(command[0], command);
	fprintf(stderr, "tangle run: cannot run %s: %s\n", command[0], strerror(errno));
	_exit(127);
}

static int exit_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int cmd_run(int argc, char **argv)
{
	struct session_hooks hooks = { .on_group = on_group,
				       .on_go_group = on_go_group,
				       .on_tick = on_tick,
				       .on_signal = on_signal };
	struct run r = { .out = stderr };
	struct session *s = &r.session;
	sigset_t chld, old;
	int gate[2], err;

	err = opts__parse("run", argc, argv, &r.opts);
	if (err)
		return err > 0 ? 0 : 1;
	r.opts.thread_stuck_after_s = 1;
	log__set_verbose(r.opts.verbose);
	if (r.opts.output && !(r.out = fopen(r.opts.output, "we"))) {
		log_error(errno, "cannot open %s", r.opts.output);
		return 1;
	}
	if (r.opts.json && !(r.w = json__new(r.out))) {
		log_error(errno, "json writer");
		return 1;
	}
	/* SIGCHLD stays blocked from before fork, so the loop cannot miss it */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (pipe2(gate, O_CLOEXEC) || sigprocmask(SIG_BLOCK, &chld, &old)) {
		log_error(errno, "setting up the child");
		return 1;
	}
	r.child = fork();
	if (r.child < 0) {
		log_error(errno, "fork");
		return 1;
	}
	if (r.child == 0) {
		close(gate[1]);
		child_exec(gate[0], r.opts.command, &old);
	}
	close(gate[0]);
	r.opts.filter.pids[0] = (uint32_t)r.child;
	r.opts.filter.npids = 1;
	r.opts.follow_children = true;
	hooks.ctx = &r;
	s->extra_signal = SIGCHLD;
	err = session__open(s, &r.opts, &hooks);
	r.names = session__names(s);
	if (err) {
		kill(r.child, SIGKILL); /* never run CMD unobserved */
	} else {
		if (r.w)
			write_meta(r.w, s);
		if (write(gate[1], "g", 1) != 1)
			err = -errno;
	}
	close(gate[1]);
	if (!err)
		err = session__run(s);
	if (!reap(&r)) {
		/* interrupted: pass it on, then wait for CMD */
		kill(r.child, SIGTERM);
		if (waitpid(r.child, &r.status, 0) == r.child)
			r.exited = true;
	}
	session__close(s);
	json__free(r.w);
	if (r.out != stderr)
		fclose(r.out);
	if (err && !r.exited)
		return 1;
	return r.exited ? exit_status(r.status) : 1;
}
