// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The output queue (outq.h). Two buffers: the collector appends to one while
 * the writer thread writes the other out, and they swap when the writer is
 * done. The collector never waits on the reader, only on the lock, which
 * the writer holds for a swap, never across a write().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "outq.h"

/* Queued bytes that wake the writer before the batch ends. */
#define OUTQ_WAKE_BYTES (256u << 10)

struct buf {
	char *p;
	size_t len, cap;
};

struct outq {
	int fd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t more, done; /* records queued; a buffer written */
	bool stop;
	bool idle; /* the writer waits for q->more */
	int err; /* the first write error, -errno */
	struct buf pending; /* appended to by the collector */
	struct buf writing; /* being written by the writer, outside the lock */
	struct outq_stats st;
};

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *writer(void *arg)
{
	struct outq *q = arg;
	struct buf b;
	int err;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->pending.len && !q->stop) {
			q->idle = true;
			pthread_cond_wait(&q->more, &q->lock);
			q->idle = false;
		}
		if (!q->pending.len)
			break; /* stopping, everything written */
		b = q->writing;
		q->writing = q->pending;
		q->pending = (struct buf){ .p = b.p, .cap = b.cap };
		pthread_mutex_unlock(&q->lock);
		err = write_all(q->fd, q->writing.p, q->writing.len);
		pthread_mutex_lock(&q->lock);
		if (err && !q->err)
			q->err = err;
		if (err)
			q->pending.len = 0; /* nobody reads them now */
		else
			q->st.written_bytes += q->writing.len;
		q->writing.len = 0;
		pthread_cond_broadcast(&q->done);
		if (q->err)
			break;
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct outq *outq__new(int fd)
{
	struct outq *q = calloc(1, sizeof(*q));
	sigset_t all, old;
	int err;

	if (!q)
		return NULL;
	q->fd = fd;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->more, NULL);
	pthread_cond_init(&q->done, NULL);
	/* signals are the collector's (its signalfd): the writer takes none */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&q->thread, NULL, writer, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		outq__free(q);
		errno = err;
		return NULL;
	}
	q->started = true;
	return q;
}

static int reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64u << 10;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int outq__push(struct outq *q, const void *buf, size_t len, bool keep)
{
	size_t waiting;
	int err;

	pthread_mutex_lock(&q->lock);
	err = q->err;
	waiting = q->pending.len + q->writing.len;
	if (!err && (waiting + len > OUTQ_HARD_LIMIT ||
		     (!keep && waiting + len > OUTQ_SOFT_LIMIT) || reserve(&q->pending, len))) {
		q->st.dropped++;
		q->st.dropped_kept += keep;
		q->st.dropped_bytes += len;
	} else if (!err) {
		memcpy(q->pending.p + q->pending.len, buf, len);
		q->pending.len += len;
		/* the writer is woken at the end of a batch (outq__kick), or by a big one */
		if (q->idle && q->pending.len >= OUTQ_WAKE_BYTES)
			pthread_cond_signal(&q->more);
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

void outq__kick(struct outq *q)
{
	pthread_mutex_lock(&q->lock);
	if (q->idle && q->pending.len)
		pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
}

int outq__error(struct outq *q)
{
	int err;

	pthread_mutex_lock(&q->lock);
	err = q->err;
	pthread_mutex_unlock(&q->lock);
	return err;
}

int outq__drain(struct outq *q)
{
	int err;

	pthread_mutex_lock(&q->lock);
	if (q->idle && q->pending.len)
		pthread_cond_signal(&q->more);
	while ((q->pending.len || q->writing.len) && !q->err)
		pthread_cond_wait(&q->done, &q->lock);
	err = q->err;
	pthread_mutex_unlock(&q->lock);
	return err;
}

void outq__stats(struct outq *q, struct outq_stats *st)
{
	pthread_mutex_lock(&q->lock);
	*st = q->st;
	st->waiting = q->pending.len + q->writing.len;
	pthread_mutex_unlock(&q->lock);
}

void outq__free(struct outq *q)
{
	if (!q)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_signal(&q->more);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	pthread_cond_destroy(&q->done);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q->pending.p);
	free(q->writing.p);
	free(q);
}
