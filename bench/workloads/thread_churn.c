// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Thread churn for the native benchmarks (bench/native.py): create and join
 * short-lived threads in a loop for SECONDS. Every thread is a clone(), a
 * first run and an exit, which a thread-tracking observer sees as fork/exit
 * tracepoints and as a thread to add to and remove from its model.
 *
 *     thread_churn [SECONDS] [BATCH]
 *
 * BATCH threads (default 1) are created, then all joined, per iteration.
 * Prints {"ops": N, "ops_per_s": X} where one op is one thread created (and
 * joined).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_BATCH 64

/* The thread does nothing: its whole life is creation and exit. */
static void *nothing(void *arg)
{
	return arg;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	int batch = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t tid[MAX_BATCH];
	unsigned long created = 0;
	struct timespec t0;
	double elapsed;
	int err;

	if (seconds <= 0 || batch < 1 || batch > MAX_BATCH) {
		fprintf(stderr, "usage: thread_churn [SECONDS] [BATCH (1..%d)]\n", MAX_BATCH);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (since(&t0) < seconds) {
		for (int i = 0; i < batch; i++) {
			err = pthread_create(&tid[i], NULL, nothing, NULL);
			if (err) {
				fprintf(stderr, "pthread_create: error %d\n", err);
				return 1;
			}
		}
		for (int i = 0; i < batch; i++)
			pthread_join(tid[i], NULL);
		created += (unsigned long)batch;
	}
	elapsed = since(&t0);

	printf("{\"ops\":%lu,\"ops_per_s\":%.0f}\n", created, created / elapsed);
	return 0;
}
