// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test program of the unwinder (tests/runtime/test_rt_symbols.py): thread A
 * blocks for good in pthread_mutex_lock inside worker_a, called through an
 * always-inline helper from outer_a. The test builds it at -O0 and -O2, PIE
 * and not, stripped with a separate debug file; "LINE:name" comments mark
 * the lines the stack must show. Prints "ready PID TID" once A is on its way
 * to block, then waits to be killed; with --main-exits the main thread exits
 * instead (the process lives on as thread A, its leader a zombie).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int counter;
static volatile pid_t tid_a;

/* noipa: neither inlined, cloned nor tail-called, at any -O. */
__attribute__((noipa)) void worker_a(int depth)
{
	counter += depth;
	pthread_mutex_lock(&lock); /* LINE:lock */
	counter++;
	pthread_mutex_unlock(&lock);
}

static inline __attribute__((always_inline)) void helper_a(int depth)
{
	counter++;
	worker_a(depth + 1); /* LINE:helper_call */
	counter++;
}

__attribute__((noipa)) void outer_a(int depth)
{
	helper_a(depth + 1); /* LINE:outer_call */
	counter++;
}

static void *thread_a(void *arg)
{
	tid_a = gettid();
	outer_a(1); /* LINE:thread_call */
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t;

	pthread_mutex_lock(&lock);
	if (pthread_create(&t, NULL, thread_a, NULL))
		return 1;
	while (!tid_a)
		usleep(1000);
	printf("ready %d %d\n", getpid(), tid_a);
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "--main-exits"))
		pthread_exit(NULL);
	for (;;)
		pause();
}
