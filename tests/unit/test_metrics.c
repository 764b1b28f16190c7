// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* /metrics text: the format, the values from a synthetic model, the bounds on series. */
#include <stdlib.h>
#include <string.h>
#include "detect.h"
#include "metrics.h"
#include "model.h"
#include "test.h"

#define MS 1000000ull
#define T0 (10000 * MS)

static void nop(const struct stuck_group *g, void *ctx)
{
}

static void deadlock(struct model *m, uint32_t pid, uint32_t a, uint32_t b)
{
	uint64_t la = 0x1000 + pid * 0x100, lb = la + 0x40;
	uint32_t tids[2] = { a, b };
	uint64_t on[2] = { lb, la };

	for (int i = 0; i < 2; i++) {
		struct wait w = {
			.kind = WAIT_FUTEX, .addr = on[i], .expected = 2, .since_ns = T0
		};
		struct lock_owner o = { .kind = LOCK_MUTEX,
					.state = OWNER_LIVE,
					.lock_addr = on[i],
					.owner_tid = tids[1 - i],
					.owner_pid = pid,
					.wait_since_ns = T0,
					.checked_ns = T0 + 200 * MS };
		const char *comm = i ? "abba-\"b\"" : "abba-a";

		model__thread_new(m, T0, pid, tids[i], comm, ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
		model__wait_begin(m, T0, pid, tids[i], comm, &w);
		model__set_owner(m, tids[i], &o);
	}
}

static char *render(struct model *m, struct detector *d)
{
	static struct consumer_stats cs = { .events = 1234 };
	static struct metrics_counters c = { .waits = 7, .wait_ns = 1500 * MS };
	struct metrics_src s = { .model = m,
				 .detector = d,
				 .stats = &cs,
				 .counters = &c,
				 .now_ns = T0 + 5000 * MS,
				 .start_ns = T0,
				 .cpu_s = 1.5,
				 .rss_bytes = 42 << 20 };
	struct mbuf b = {};

	cs.drops[0] = 3;
	metrics__render(&b, &s);
	if (b.oom) {
		mbuf__free(&b);
		return NULL;
	}
	return b.p;
}

/* Every line a comment or NAME{LABELS} VALUE, labels quoted, no raw control byte. */
static bool well_formed(const char *text)
{
	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t n = end ? (size_t)(end - l) : strlen(l);

		if (!end)
			return false; /* the last line ends with \n too */
		if (strncmp(l, "# HELP ", 7) && strncmp(l, "# TYPE ", 7)) {
			const char *sp = memchr(l, ' ', n);
			const char *brace = memchr(l, '{', n);

			if (!sp || sp == l)
				return false;
			if (brace && brace < sp && l[(sp - l) - 1] != '}')
				return false;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)l[i] < 0x20)
				return false;
		l = end + 1;
	}
	return true;
}

TEST(empty_model)
{
	struct model *m = model__new(NULL, NULL);
	struct detect_opts o = { .min_wait_ns = 100 * MS };
	struct detector *d = detector__new(&o, nop, NULL);
	char *t = render(m, d);

	if (!ASSERT_TRUE(t, "rendered"))
		goto out;
	ASSERT_TRUE(well_formed(t), "format");
	ASSERT_TRUE(strstr(t, "# TYPE tangle_events_total counter\ntangle_events_total 1234\n") !=
			    NULL,
		    "events");
	ASSERT_TRUE(strstr(t, "tangle_stuck_groups{of=\"threads\",kind=\"deadlock\"} 0\n") != NULL,
		    "no groups");
	ASSERT_TRUE(strstr(t, "tangle_futex_wait_seconds_total 1.500000000\n") != NULL, "wait s");
	ASSERT_TRUE(strstr(t, "tangle_events_lost_total{reason=\"ringbuf_full\"} 3\n") != NULL,
		    "drops");
	ASSERT_TRUE(strstr(t, "tangle_resident_memory_bytes 44040192\n") != NULL, "rss");
	ASSERT_TRUE(strstr(t, "tangle_uptime_seconds 5.000\n") != NULL, "uptime");
out:
	free(t);
	detector__free(d);
	model__free(m);
}

TEST(a_deadlock_shows)
{
	struct model *m = model__new(NULL, NULL);
	struct detect_opts o = { .min_wait_ns = 100 * MS };
	struct detector *d = detector__new(&o, nop, NULL);
	char *t;

	deadlock(m, 500, 501, 502);
	detector__run(d, m, T0 + 300 * MS);
	detector__run(d, m, T0 + 400 * MS);
	t = render(m, d);
	if (!ASSERT_TRUE(t, "rendered"))
		goto out;
	ASSERT_TRUE(well_formed(t), "format");
	ASSERT_TRUE(strstr(t, "tangle_stuck_groups{of=\"threads\",kind=\"deadlock\"} 1\n") != NULL,
		    "one deadlock");
	ASSERT_TRUE(strstr(t, "tangle_stuck_members{of=\"threads\",kind=\"deadlock\"} 2\n") != NULL,
		    "two members");
	/* named after its first member, either thread; a quote in a name comes escaped */
	ASSERT_TRUE(strstr(t, "kind=\"deadlock\",pid=\"500\",comm=\"abba-a\"} 2\n") ||
			    strstr(t, "kind=\"deadlock\",pid=\"500\",comm=\"abba-\\\"b\\\"\"} 2\n"),
		    "the group's series");
	ASSERT_TRUE(strstr(t, "tangle_threads_waiting{kind=\"mutex\"} 2\n") != NULL, "waiting");
	ASSERT_TRUE(strstr(t, "tangle_threads{state=\"sleeping\"} 2\n") != NULL, "states");
out:
	free(t);
	detector__free(d);
	model__free(m);
}

TEST(label_values_escaped)
{
	char out[300];

	metrics__label(out, sizeof(out), "a\"b\\c", 16);
	ASSERT_STREQ(out, "a\\\"b\\\\x5cc", "quote and backslash");
	metrics__label(out, sizeof(out), "\x1b[2J\xff", 16);
	ASSERT_STREQ(out, "\\\\x1b[2J\\\\xff", "escape and invalid UTF-8 as \\xNN");
	metrics__label(out, 4, "abcdef", 16);
	ASSERT_TRUE(strlen(out) < 4, "cut to fit");
}

TEST(series_are_bounded)
{
	struct model *m = model__new(NULL, NULL);
	struct detect_opts o = { .min_wait_ns = 100 * MS };
	struct detector *d = detector__new(&o, nop, NULL);
	size_t procs = 0, locks = 0;
	char *t;

	/* 100 processes with a finished wait each, on its own futex */
	for (uint32_t p = 1000; p < 1100; p++) {
		struct wait w = { .kind = WAIT_FUTEX, .addr = 0x5000 + p, .since_ns = T0 };

		model__thread_new(m, T0, p, p, "w", ORIGIN_PROC, 0, 0, TANGLE_TS_SLEEPING);
		model__wait_begin(m, T0, p, p, "w", &w);
		model__wait_end(m, T0 + (p - 999) * MS, p, p, "w", &w, T0, 0);
	}
	t = render(m, d);
	if (!ASSERT_TRUE(t, "rendered"))
		goto out;
	for (const char *c = t; (c = strstr(c, "\ntangle_process_futex_wait_seconds_total{")); c++)
		procs++;
	for (const char *c = t; (c = strstr(c, "\ntangle_lock_wait_seconds_total{")); c++)
		locks++;
	ASSERT_EQ(procs, METRICS_TOP_PROCESSES, "top processes only");
	ASSERT_EQ(locks, METRICS_TOP_LOCKS, "top locks only");
	/* the longest waits are the ones kept */
	ASSERT_TRUE(strstr(t, "{pid=\"1099\",comm=\"w\"} 0.100000000\n") != NULL, "the largest");
	ASSERT_TRUE(strstr(t, "{pid=\"1000\",") == NULL, "not the smallest");
out:
	free(t);
	detector__free(d);
	model__free(m);
}

TEST_MAIN()
