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
		fprintf(stderr, "tangle: %s: %s\n", msg, strerror(err));
	else
		fprintf(stderr, "tangle: %s\n", msg);
	if (json_out)
		view_json__error(json_out, now_ns(), msg, err);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("tangle: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	fputs("tangle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
