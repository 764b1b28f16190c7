/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands: each takes argv with argv[0] = its name, returns the process exit status. */
#ifndef TANGLE_CMD_H
#define TANGLE_CMD_H

#include <stdint.h>
#include "filter.h"

struct json_writer;

int cmd_stream(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_goroutines(int argc, char **argv);

/* The meta record that opens every NDJSON stream. */
int write_meta(struct json_writer *w, uint64_t ts, const struct filter *f);

#endif
