/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one event loop: epoll over the ring buffer, a timer, signals and (for
 * the dashboard) the keyboard. Callbacks return 0 to go on, or -errno to stop
 * the loop with that error.
 */
#ifndef TANGLE_LOOP_H
#define TANGLE_LOOP_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>

struct loop;
typedef int (*loop_fn)(struct loop *l, void *ctx);
typedef int (*loop_signal_fn)(struct loop *l, int signo, void *ctx);

struct loop *loop__new(void);
void loop__free(struct loop *l); /* closes the timer and signal fds it made; accepts NULL */
int loop__add_fd(struct loop *l, int fd, loop_fn fn, void *ctx);
/* A periodic timer; the callback runs once per expiry batch. */
int loop__add_timer(struct loop *l, uint64_t interval_ns, loop_fn fn, void *ctx);
/* Block the signals in set and deliver them through the loop. */
int loop__add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn, void *ctx);
/*
 * Hold m around every callback, for state the callbacks share with another
 * thread (the dashboard's terminal thread). Waiting is done without it.
 */
void loop__set_lock(struct loop *l, pthread_mutex_t *m);
/* Run until loop__stop() or a callback error; returns 0 or that error. */
int loop__run(struct loop *l);
/* From a callback, or from another thread: the loop ends at its next wakeup. */
void loop__stop(struct loop *l);

#endif
