// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "loop.h"

#define LOOP_MAX_SOURCES 8

enum source_kind { SRC_FD, SRC_TIMER, SRC_SIGNAL };

struct source {
	enum source_kind kind;
	int fd;
	loop_fn fn;
	loop_signal_fn sig_fn;
	void *ctx;
};

struct loop {
	int epfd;
	bool stop; /* atomic: loop__stop() may come from another thread */
	pthread_mutex_t *lock;
	int nr;
	struct source src[LOOP_MAX_SOURCES];
};

struct loop *loop__new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		int err = errno;

		free(l);
		errno = err;
		return NULL;
	}
	return l;
}

void loop__free(struct loop *l)
{
	if (!l)
		return;
	for (int i = 0; i < l->nr; i++)
		if (l->src[i].kind != SRC_FD)
			close(l->src[i].fd);
	close(l->epfd);
	free(l);
}

static int add(struct loop *l, struct source s)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (l->nr == LOOP_MAX_SOURCES)
		return -ENOSPC;
	ev.data.u32 = l->nr;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, s.fd, &ev))
		return -errno;
	l->src[l->nr++] = s;
	return 0;
}

int loop__add_fd(struct loop *l, int fd, loop_fn fn, void *ctx)
{
	return add(l, (struct source){ .kind = SRC_FD, .fd = fd, .fn = fn, .ctx = ctx });
}

int loop__add_timer(struct loop *l, uint64_t interval_ns, loop_fn fn, void *ctx)
{
	struct itimerspec its = {
		.it_interval = { interval_ns / 1000000000, interval_ns % 1000000000 },
		.it_value = { interval_ns / 1000000000, interval_ns % 1000000000 },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	int err;

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL)) {
		err = -errno;
		close(fd);
		return err;
	}
	err = add(l, (struct source){ .kind = SRC_TIMER, .fd = fd, .fn = fn, .ctx = ctx });
	if (err)
		close(fd);
	return err;
}

int loop__add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn, void *ctx)
{
	int fd, err;

	if (sigprocmask(SIG_BLOCK, set, NULL))
		return -errno;
	fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	err = add(l, (struct source){ .kind = SRC_SIGNAL, .fd = fd, .sig_fn = fn, .ctx = ctx });
	if (err)
		close(fd);
	return err;
}

static int dispatch(struct loop *l, struct source *s)
{
	struct signalfd_siginfo si;
	uint64_t expirations;

	switch (s->kind) {
	case SRC_FD:
		return s->fn(l, s->ctx);
	case SRC_TIMER:
		if (read(s->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
			return 0;
		return s->fn(l, s->ctx);
	case SRC_SIGNAL:
		while (read(s->fd, &si, sizeof(si)) == sizeof(si)) {
			int err = s->sig_fn(l, (int)si.ssi_signo, s->ctx);

			if (err)
				return err;
		}
		return 0;
	}
	return 0;
}

void loop__set_lock(struct loop *l, pthread_mutex_t *m)
{
	l->lock = m;
}

static bool stopped(struct loop *l)
{
	return __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
}

int loop__run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_SOURCES];

	__atomic_store_n(&l->stop, false, __ATOMIC_RELEASE);
	while (!stopped(l)) {
		int n = epoll_wait(l->epfd, evs, LOOP_MAX_SOURCES, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !stopped(l); i++) {
			int err;

			if (l->lock)
				pthread_mutex_lock(l->lock);
			err = dispatch(l, &l->src[evs[i].data.u32]);
			if (l->lock)
				pthread_mutex_unlock(l->lock);
			if (err)
				return err;
		}
	}
	return 0;
}

void loop__stop(struct loop *l)
{
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
}
