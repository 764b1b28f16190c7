// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Mutex lock/unlock throughput for the native benchmarks (bench/native.py).
 *
 *     mutex_ops shared|private [THREADS] [SECONDS]
 *
 * shared:  THREADS threads lock and unlock ONE mutex around a tiny critical
 *          section; contention sends glibc into futex() (wait and wake),
 *          which is what tangle traces.
 * private: each thread locks and unlocks ITS OWN mutex: never contended, so
 *          glibc stays on its user-space fast path (one atomic each way, no
 *          system call). Whatever slows this down is a per-call cost such as
 *          a uprobe on pthread_mutex_lock; a futex tracer adds nothing.
 *
 * The calls go through the PLT into libc (pthread_mutex_* live in libc.so.6
 * since glibc 2.34), so a uprobe on libc's symbols sees every one of them.
 * After SECONDS, prints {"mode": ..., "threads": N, "ops": N, "ops_per_s": X,
 * "vcsw": N} where one op is one lock + unlock pair and vcsw counts the
 * process's voluntary context switches (getrusage): about the number of
 * futex waits, i.e. of lock hand-offs that went through the kernel.
 *
 * With MUTEX_OPS_GATE=1 in the environment it first prints
 * {"gate":"waiting","pid":P} and waits for a line on stdin, so that an
 * observer of this one process (tangle lockorder -p P) attaches before the
 * timed part begins.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define CACHE_LINE 64

/* One thread's state, alone on its cache line(s): no false sharing between
 * the counters, nor between the private mutexes. */
struct slot {
	pthread_mutex_t own; /* private mode: this thread's mutex */
	pthread_mutex_t *lock; /* the mutex this thread uses */
	unsigned long ops;
} __attribute__((aligned(CACHE_LINE)));

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long shared_counter; /* written under shared_lock only */
static atomic_bool stop;

static void *worker(void *arg)
{
	struct slot *s = arg;
	unsigned long ops = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_mutex_lock(s->lock);
		shared_counter++; /* tiny critical section (racy in private mode: unused) */
		pthread_mutex_unlock(s->lock);
		ops++;
	}
	s->ops = ops;
	return NULL;
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	bool private = !strcmp(mode, "private");
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	double seconds = argc > 3 ? atof(argv[3]) : 2;
	struct timespec t0, d = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
	struct slot *slots;
	pthread_t *tid;
	unsigned long total = 0;
	double elapsed;
	struct rusage ru;

	if ((!private && strcmp(mode, "shared")) || threads < 1 || threads > 256 || seconds <= 0) {
		fprintf(stderr, "usage: mutex_ops shared|private [THREADS] [SECONDS]\n");
		return 2;
	}
	slots = aligned_alloc(CACHE_LINE, sizeof(*slots) * (size_t)threads);
	tid = calloc((size_t)threads, sizeof(*tid));
	if (!slots || !tid) {
		perror("mutex_ops");
		return 1;
	}
	memset(slots, 0, sizeof(*slots) * (size_t)threads);
	for (int i = 0; i < threads; i++) {
		pthread_mutex_init(&slots[i].own, NULL);
		slots[i].lock = private ? &slots[i].own : &shared_lock;
	}

	if (getenv("MUTEX_OPS_GATE")) {
		char line[16];

		printf("{\"gate\":\"waiting\",\"pid\":%d}\n", (int)getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&tid[i], NULL, worker, &slots[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	nanosleep(&d, NULL);
	atomic_store(&stop, true);
	for (int i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		total += slots[i].ops;
	}
	elapsed = since(&t0);
	getrusage(RUSAGE_SELF, &ru);

	printf("{\"mode\":\"%s\",\"threads\":%d,\"ops\":%lu,\"ops_per_s\":%.0f,\"vcsw\":%ld}\n",
	       mode, threads, total, total / elapsed, ru.ru_nvcsw);
	free(slots);
	free(tid);
	return 0;
}
