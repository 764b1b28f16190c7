/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Command-line options shared by the subcommands, bcc style (-p, -t, -c, -d, -i, -v). */
#ifndef TANGLE_OPTS_H
#define TANGLE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "filter.h"

#define OPTS_STACK_RATE_DEFAULT 1000

struct opts {
	struct filter filter;
	double duration_s; /* 0: until interrupted */
	double interval_s;
	const char *output; /* NULL: stdout */
	bool json;
	int verbose; /* -v: 1, -vv: 2 (libbpf debug log) */
	bool follow_children;
	size_t ringbuf_bytes;
	unsigned int max_threads;
	double stuck_after_s; /* report groups whose waits are at least this old; 0: default */
	double thread_stuck_after_s; /* the command's default for threads; 0: 0.1 s */
	char **command; /* run: the command and its arguments (after --) */
	bool stacks; /* stream: stacks of waits, captured as they begin, in wait records */
	unsigned int stack_rate; /* stream: captured stacks unwound a second at most; 0: all */
	bool folded; /* stream: folded stacks of wait time instead of NDJSON */
	bool trace; /* stream: a Chrome/Perfetto trace-event timeline instead of NDJSON */
	bool dot; /* stream: the wait-for graph of stuck groups (Graphviz) instead of NDJSON */
	bool goroutines; /* read the goroutines of Go processes (unless --no-goroutines) */
	const char *record; /* record what the session sees to this file (record, --record) */
	uint64_t
		record_max_bytes; /* --max-size: FILE and FILE.1 hold this much at most (1 GiB); 0: no limit */
	const char *replay; /* replay: the recording read instead of BPF and /proc */
	bool max_size_set; /* --max-size was given */
	/* serve */
	const char *listen; /* --listen ADDR:PORT of /metrics */
	const char *socket_path; /* --socket PATH: NDJSON to the readers of a Unix socket */
	const char *on_stuck; /* --on-stuck CMD */
	bool all_events; /* --all-events: every event in serve's NDJSON, not only findings */
};

/*
 * Parse the options of subcommand cmd (argv[0] is the subcommand name).
 * Returns 0 to go on, 1 when help was printed (exit 0), -EINVAL on a usage
 * error (already reported on stderr).
 */
int opts__parse(const char *cmd, int argc, char **argv, struct opts *o);
void opts__usage(FILE *out);

#endif
