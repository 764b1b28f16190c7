// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "json.h"
#include "log.h"
#include "view_json.h"

static int verbose;
static struct json_writer *json_out;

void log__set_verbose(int v)
{
	verbose = v;
}

int log__verbose(void)
{
	return verbose;
}

void log__set_json(struct json_writer *w)
{
	json_out = w;
}

static log_sink_fn *sink;
static void *sink_ctx;

void log__set_sink(log_sink_fn *fn, void *ctx)
{
	sink = fn;
	sink_ctx = ctx;
}

/* One message, to the sink or to stderr. */
static void emit(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "tangle: %s", prefix);

	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (sink)
		sink(sink_ctx, line);
	else
		fprintf(stderr, "%s\n", line);
}

static void emit_str(const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void emit_str(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}

static uint64_t replay_now;

void now_ns__replay(uint64_t ts)
{
	replay_now = ts;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	if (replay_now)
		return replay_now;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void log_error(int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err)
		emit_str("", "%s: %s", msg, strerror(err));
	else
		emit_str("", "%s", msg);
	if (json_out)
		view_json__error(json_out, now_ns(), msg, err);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("warning: ", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}
