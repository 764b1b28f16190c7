// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A contended-mutex workload for overhead benchmarks: THREADS threads lock
 * and unlock one mutex around a tiny critical section for SECONDS, then
 * print {"ops": N, "ops_per_s": X, "futex_waits_hint": ...}. Contention makes
 * glibc call futex(), which is exactly what tangle traces.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stop;
static unsigned long shared_counter;

static void *worker(void *arg)
{
	unsigned long *ops = arg;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_mutex_lock(&lock);
		for (int i = 0; i < 50; i++)
			shared_counter++;
		pthread_mutex_unlock(&lock);
		(*ops)++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4;
	double seconds = argc > 2 ? atof(argv[2]) : 2;
	struct timespec t0, t1, d = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
	unsigned long *ops = calloc((size_t)threads, sizeof(*ops)), total = 0;
	pthread_t *tid = calloc((size_t)threads, sizeof(*tid));

	if (threads < 1 || threads > 256 || seconds <= 0 || !ops || !tid) {
		fprintf(stderr, "usage: mutex_bench [THREADS] [SECONDS]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, &ops[i]);
	nanosleep(&d, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += ops[i];
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"threads\":%d,\"ops\":%lu,\"ops_per_s\":%.0f}\n", threads, total,
	       total / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
	free(ops);
	free(tid);
	return 0;
}
