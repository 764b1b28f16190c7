// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A context-switch storm for the native benchmarks (bench/native.py): two
 * threads bounce one byte over two pipes for SECONDS. Each round trip is two
 * blocking read()s, two write()s that wake the reader, and (on few CPUs) two
 * context switches, without any futex: what it measures is the cost of
 * tracing the scheduler (sched_switch, sched_wakeup) rather than futex calls.
 *
 *     pipe_pingpong [SECONDS]
 *
 * Prints {"ops": N, "ops_per_s": X} where one op is one round trip.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int to_pong[2], to_ping[2]; /* [0] read end, [1] write end */

/* Echo every byte back until ping closes its end. */
static void *pong(void *arg)
{
	char c;

	while (read(to_pong[0], &c, 1) == 1) {
		if (write(to_ping[1], &c, 1) != 1)
			break;
	}
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
	unsigned long trips = 0;
	struct timespec t0;
	pthread_t t;
	double elapsed;
	char c = 'x';

	if (seconds <= 0) {
		fprintf(stderr, "usage: pipe_pingpong [SECONDS]\n");
		return 2;
	}
	if (pipe(to_pong) || pipe(to_ping)) {
		perror("pipe");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (pthread_create(&t, NULL, pong, NULL)) {
		perror("pthread_create");
		return 1;
	}
	/* The main thread plays ping; reading the clock (vDSO) once per round
	 * trip is cheap next to two pipe hops, and no timer thread is needed. */
	while (since(&t0) < seconds) {
		if (write(to_pong[1], &c, 1) != 1 || read(to_ping[0], &c, 1) != 1) {
			perror("pipe_pingpong");
			return 1;
		}
		trips++;
	}
	close(to_pong[1]); /* pong's read() returns 0: it ends */
	pthread_join(t, NULL);
	elapsed = since(&t0);

	printf("{\"ops\":%lu,\"ops_per_s\":%.0f}\n", trips, trips / elapsed);
	return 0;
}
