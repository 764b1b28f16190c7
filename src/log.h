/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one log facility: human text on stderr, and in JSON mode an `error`
 * record on the output stream as well, so a consumer of NDJSON never has to
 * scrape stderr.
 */
#ifndef TANGLE_LOG_H
#define TANGLE_LOG_H

#include <stdbool.h>
#include <stdint.h>

struct json_writer;

void log__set_verbose(int level);
int log__verbose(void);
/* Errors are also written as `error` records to w (NULL: text only). */
void log__set_json(struct json_writer *w);

/*
 * While a sink is set, messages go to it (one line, "tangle: ..." without the
 * newline) instead of stderr: the dashboard owns the terminal. NULL: stderr.
 */
typedef void log_sink_fn(void *ctx, const char *line);
void log__set_sink(log_sink_fn *fn, void *ctx);

/* err: a positive errno value to report, or 0. */
void log_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only with -v. */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in ns: the clock of every ts_ns. */
uint64_t now_ns(void);
/*
 * Replay: from now on now_ns() is the recording's clock, ts (the time of the
 * record being replayed); 0 gives the real clock back.
 */
void now_ns__replay(uint64_t ts);

#endif
