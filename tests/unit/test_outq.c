// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the output queue (src/outq.c) on a real pipe: a reader that
 * does not read makes the queue drop what may go and keep the rest, in
 * order; a reader that goes away is an error; records are never torn.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "json.h"
#include "outq.h"
#include "test.h"

/* Reads the pipe to its end, at most cap - 1 bytes (the rest is drained away). */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	char junk[65536];
	ssize_t n;

	for (;;) {
		n = len + 1 < cap ? read(fd, buf + len, cap - 1 - len) :
				    read(fd, junk, sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)n;
	}
	buf[len] = 0;
	return len;
}

struct reader {
	int fd;
	char *buf;
	size_t cap, len;
};

static void *reader(void *arg)
{
	struct reader *r = arg;

	r->len = read_all(r->fd, r->buf, r->cap);
	return NULL;
}

TEST(passes_through_in_order)
{
	struct outq_stats st;
	struct outq *q = NULL;
	int fds[2] = { -1, -1 };
	char buf[256];

	if (!ASSERT_OK(pipe(fds), "pipe"))
		return;
	q = outq__new(fds[1]);
	if (!ASSERT_TRUE(q, "outq__new"))
		goto cleanup;
	ASSERT_OK(outq__push(q, "a\n", 2, false), "push a");
	ASSERT_OK(outq__push(q, "bb\n", 3, true), "push bb");
	ASSERT_OK(outq__push(q, "ccc\n", 4, false), "push ccc");
	ASSERT_OK(outq__drain(q), "drain");
	outq__stats(q, &st);
	ASSERT_EQ(st.written_bytes, 9, "written");
	ASSERT_EQ(st.dropped, 0, "dropped");
	ASSERT_EQ(st.waiting, 0, "waiting after drain");
	outq__free(q);
	q = NULL;
	close(fds[1]);
	fds[1] = -1;
	read_all(fds[0], buf, sizeof(buf));
	ASSERT_STREQ(buf, "a\nbb\nccc\n", "in order, whole");
cleanup:
	outq__free(q);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

/*
 * Nobody reads: past the soft limit droppable records are dropped, kept ones
 * are not, and once the reader reads, every kept one arrives after the
 * droppable ones queued before it.
 */
TEST(blocked_reader_drops_what_may_go)
{
	static char line[1024], buf[OUTQ_HARD_LIMIT / 4];
	size_t n_bulk = 3 * OUTQ_SOFT_LIMIT / sizeof(line), kept = 0, got = 0;
	struct outq_stats st;
	struct outq *q = NULL;
	int fds[2] = { -1, -1 };
	const char *p;

	if (!ASSERT_OK(pipe(fds), "pipe"))
		return;
	q = outq__new(fds[1]);
	if (!ASSERT_TRUE(q, "outq__new"))
		goto cleanup;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (size_t i = 0; i < n_bulk; i++) {
		if (i % 1000 == 999) {
			ASSERT_OK(outq__push(q, "KEEP\n", 5, true), "push kept");
			kept++;
		}
		ASSERT_OK(outq__push(q, line, sizeof(line), false), "push bulk");
	}
	outq__stats(q, &st);
	/* the pipe holds 64 KiB, the queue 8 MiB: the rest of 24 MiB was dropped */
	ASSERT_TRUE(st.dropped > n_bulk / 2, "most bulk records dropped");
	ASSERT_EQ(st.dropped_kept, 0, "no kept record dropped");
	ASSERT_TRUE(st.waiting <= OUTQ_SOFT_LIMIT + kept * 5 + 2 * sizeof(line),
		    "what waits is bounded by the soft limit");
	/* now read: the drain completes, and every kept record arrived whole */
	{
		struct reader r = { .fd = fds[0], .buf = buf, .cap = sizeof(buf) };
		pthread_t t;

		if (!ASSERT_OK(pthread_create(&t, NULL, reader, &r), "reader thread"))
			goto cleanup;
		ASSERT_OK(outq__drain(q), "drain");
		outq__free(q);
		q = NULL;
		close(fds[1]);
		fds[1] = -1;
		pthread_join(t, NULL);
		for (p = buf; (p = memmem(p, r.len - (size_t)(p - buf), "KEEP\n", 5)); p += 5)
			got++;
		ASSERT_EQ(got, kept, "every kept record arrived");
	}
cleanup:
	outq__free(q);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

TEST(reader_gone_is_an_error)
{
	struct outq *q = NULL;
	int fds[2] = { -1, -1 };
	int err = 0;

	signal(SIGPIPE, SIG_IGN);
	if (!ASSERT_OK(pipe(fds), "pipe"))
		return;
	close(fds[0]);
	fds[0] = -1;
	q = outq__new(fds[1]);
	if (!ASSERT_TRUE(q, "outq__new"))
		goto cleanup;
	ASSERT_OK(outq__push(q, "a\n", 2, true), "first push: not written yet");
	ASSERT_EQ(outq__drain(q), -EPIPE, "drain says EPIPE");
	for (int i = 0; i < 3 && !err; i++)
		err = outq__push(q, "b\n", 2, true);
	ASSERT_EQ(err, -EPIPE, "later pushes say EPIPE");
	ASSERT_EQ(outq__error(q), -EPIPE, "outq__error");
cleanup:
	outq__free(q);
	if (fds[1] >= 0)
		close(fds[1]);
}

static int sink(void *ctx, const char *line, size_t len, bool keep)
{
	return outq__push(ctx, line, len, keep);
}

/* The JSON writer's records through the queue: droppable ones marked so. */
TEST(json_writer_sink)
{
	struct json_writer *w = NULL;
	struct outq_stats st;
	struct outq *q = NULL;
	int fds[2] = { -1, -1 };
	char buf[256];

	if (!ASSERT_OK(pipe(fds), "pipe"))
		return;
	q = outq__new(fds[1]);
	w = json__new(stdout);
	if (!ASSERT_TRUE(q && w, "new"))
		goto cleanup;
	json__set_sink(w, sink, q);
	json__begin_object(w);
	json__kv_int(w, "n", 1);
	json__end_object(w);
	ASSERT_OK(json__end_record(w), "kept record");
	json__begin_object(w);
	json__droppable(w);
	json__kv_int(w, "n", 2);
	json__end_object(w);
	ASSERT_OK(json__end_record(w), "droppable record");
	ASSERT_OK(json__flush(w), "flush: nothing to do");
	ASSERT_OK(outq__drain(q), "drain");
	outq__stats(q, &st);
	ASSERT_EQ(st.dropped, 0, "nothing dropped");
	outq__free(q);
	q = NULL;
	close(fds[1]);
	fds[1] = -1;
	read_all(fds[0], buf, sizeof(buf));
	ASSERT_STREQ(buf, "{\"n\":1}\n{\"n\":2}\n", "both records");
cleanup:
	json__free(w);
	outq__free(q);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
}

TEST_MAIN()
