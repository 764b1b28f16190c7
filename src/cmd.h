/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands: each takes argv with argv[0] = its name, returns the process exit status. */
#ifndef TANGLE_CMD_H
#define TANGLE_CMD_H

#include <stdint.h>
#include "filter.h"

struct json_writer;
struct session;

int cmd_stream(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_goroutines(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_lockorder(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* The meta record that opens every NDJSON stream (a replay's: the recording's host). */
int write_meta(struct json_writer *w, const struct session *s);
/* The meta record of a live session that has no struct session (tangle lockorder). */
int write_meta_live(struct json_writer *w, uint64_t ts, const struct filter *f);

#endif
