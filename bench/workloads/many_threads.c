// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * N threads (default 10000) that each block on one condition variable (a
 * futex wait) until the process ends: what an observer must track when a
 * process has very many threads that mostly wait. Stacks are 64 KiB so that
 * 10000 threads take 640 MiB of address space and little memory. Prints
 * "ready" once every thread is waiting, then waits for its stdin to close
 * (or for SIGTERM) and exits.
 *
 *     many_threads [N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STACK_SIZE (64 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t started_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static long started, total;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	if (++started == total)
		pthread_cond_signal(&started_cond);
	for (;;) /* nobody signals it: a wait until exit */
		pthread_cond_wait(&never, &lock);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
	ssize_t got;
	pthread_attr_t attr;
	pthread_t t;
	char buf[256];
	int err;

	if (n <= 0) {
		fprintf(stderr, "usage: %s [N]\n", argv[0]);
		return 2;
	}
	total = n;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	for (long i = 0; i < n; i++) {
		err = pthread_create(&t, &attr, waiter, NULL);
		if (err) {
			fprintf(stderr, "many_threads: thread %ld of %ld: %s\n", i + 1, n,
				strerror(err));
			return 1;
		}
	}
	pthread_mutex_lock(&lock);
	while (started < n)
		pthread_cond_wait(&started_cond, &lock);
	pthread_mutex_unlock(&lock);
	printf("ready\n");
	fflush(stdout);
	do
		got = read(0, buf, sizeof(buf));
	while (got > 0 || (got < 0 && errno == EINTR));
	return 0;
}
