// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Futex calls at a chosen rate, for the event pipeline benchmark
 * (bench/pipeline.py).
 *
 *     futex_storm RATE SECONDS [THREADS]
 *
 * Each of THREADS threads (default 2) calls futex(FUTEX_WAIT_PRIVATE) on a
 * word of its own with a value the word does not hold, so the kernel
 * returns EAGAIN at once: no sleep, no context switch, but the syscall
 * tracepoints fire and tangle sees a wait begin and end, two events per
 * call. RATE is the total number of calls a second over all threads (0: as
 * fast as they go), paced in batches of 64 against CLOCK_MONOTONIC, so a
 * thread that falls behind catches up without ever exceeding the rate over
 * a batch. After SECONDS, prints {"rate": R, "threads": N, "calls": N,
 * "calls_per_s": X, "seconds": S}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define CACHE_LINE 64

struct worker {
	uint32_t word; /* never equal to the value waited for */
	double rate; /* calls a second for this thread; 0: unpaced */
	unsigned long calls;
	pthread_t tid;
} __attribute__((aligned(CACHE_LINE)));

static atomic_bool stop;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = { (time_t)t, (long)((t - (time_t)t) * 1e9) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	double t0 = now_s();
	unsigned long calls = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		for (int i = 0; i < BATCH; i++)
			syscall(SYS_futex, &w->word, FUTEX_WAIT_PRIVATE, w->word + 1, NULL, NULL,
				0);
		calls += BATCH;
		if (w->rate > 0)
			sleep_until(t0 + calls / w->rate);
	}
	w->calls = calls;
	return NULL;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : -1;
	double seconds = argc > 2 ? atof(argv[2]) : 0;
	int threads = argc > 3 ? atoi(argv[3]) : 2;
	unsigned long total = 0;
	struct worker *w;
	double t0, elapsed;

	if (argc < 3 || rate < 0 || seconds <= 0 || threads < 1 || threads > 64) {
		fprintf(stderr, "usage: futex_storm RATE SECONDS [THREADS]   (RATE 0: unpaced)\n");
		return 2;
	}
	w = aligned_alloc(CACHE_LINE, sizeof(*w) * (size_t)threads);
	if (!w) {
		perror("futex_storm");
		return 1;
	}
	t0 = now_s();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){ .word = 0, .rate = rate / threads };
		if (pthread_create(&w[i].tid, NULL, run, &w[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	sleep_until(t0 + seconds);
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].calls;
	}
	elapsed = now_s() - t0;
	printf("{\"rate\":%.0f,\"threads\":%d,\"calls\":%lu,\"calls_per_s\":%.0f,\"seconds\":%.3f}\n",
	       rate, threads, total, total / elapsed, elapsed);
	free(w);
	return 0;
}
