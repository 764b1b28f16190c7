// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Two threads hand a token back and forth through a mutex and two condition
 * variables for SECONDS: every hand-off is a futex wait and a futex wake, so
 * round trips per second measure what tracing adds to each blocking futex
 * call, free of the contention dynamics that a lock-hammering loop has.
 * With PAUSE_US, ping sleeps that long (without the lock) before each
 * hand-off while pong waits: a wait rate low enough that nothing saturates,
 * to measure what one wait costs rather than what a flood of them does.
 * Prints {"round_trips": N, "round_trips_per_s": X}.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: ping's turn, 1: pong's */
static atomic_bool stop;
static unsigned long trips;
static struct timespec pause_ts;

static void play(int me)
{
	pthread_mutex_lock(&lock);
	while (!atomic_load(&stop)) {
		while (turn != me && !atomic_load(&stop))
			pthread_cond_wait(&turn_changed, &lock);
		turn = !me;
		trips += me;
		pthread_cond_signal(&turn_changed);
	}
	pthread_mutex_unlock(&lock);
}

static void *pong(void *arg)
{
	play(1);
	return arg;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2;
	long pause_us = argc > 2 ? atol(argv[2]) : 0;
	struct timespec t0, t1;
	pthread_t t;

	if (seconds <= 0 || pause_us < 0 || pause_us >= 1000000) {
		fprintf(stderr, "usage: pingpong [SECONDS] [PAUSE_US]\n");
		return 2;
	}
	pause_ts.tv_nsec = pause_us * 1000;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_create(&t, NULL, pong, NULL);
	{
		/* the main thread plays ping; a timer thread would add noise, so check time */
		pthread_mutex_lock(&lock);
		for (;;) {
			while (turn != 0)
				pthread_cond_wait(&turn_changed, &lock);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) {
				atomic_store(&stop, true);
				pthread_cond_broadcast(&turn_changed);
				break;
			}
			if (pause_ts.tv_nsec) { /* pong waits meanwhile */
				pthread_mutex_unlock(&lock);
				nanosleep(&pause_ts, NULL);
				pthread_mutex_lock(&lock);
			}
			turn = 1;
			pthread_cond_signal(&turn_changed);
		}
		pthread_mutex_unlock(&lock);
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("{\"round_trips\":%lu,\"round_trips_per_s\":%.0f}\n", trips,
	       trips / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
	return 0;
}
