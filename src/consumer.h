/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The consumer owns the BPF side: it checks the machine can run it, loads and
 * attaches the programs, and turns ring-buffer records into model inputs. It
 * is the only file that includes the skeleton or calls libbpf.
 */
#ifndef TANGLE_CONSUMER_H
#define TANGLE_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "filter.h"
#include "model.h"

struct consumer_opts {
	const struct filter *filter;
	bool follow_children; /* add processes forked by watched PIDs to the filter */
	size_t ringbuf_bytes; /* power of two, >= page size */
	uint32_t max_threads; /* BPF thread and wait map sizes */
	bool capture_stacks; /* send the stack of each wait as it begins (stream --stacks) */
};

struct consumer_stats {
	uint64_t events; /* records decoded into the model */
	uint64_t stacks; /* stack captures handed on (consumer__on_stacks) */
	uint64_t stack_skips; /* stack captures BPF gave up: ring buffer busy */
	uint64_t bad_records; /* records that failed to decode */
	uint64_t drops[TANGLE_DROP_MAX]; /* totals read from the BPF drop counters */
};

struct consumer;

/*
 * Check prerequisites (capabilities, BTF, tracefs), load and attach.
 * Returns NULL and sets errno on failure, after logging what is missing.
 */
struct consumer *consumer__open(const struct consumer_opts *o, struct model *m);
void consumer__free(struct consumer *c); /* detaches everything; accepts NULL */
int consumer__fd(const struct consumer *c); /* epoll-able ring buffer fd */
/* Decode every pending record into the model; returns the count or -errno. */
int consumer__poll(struct consumer *c);
/* Tell BPF about a wait found in /proc so its end is reported too. */
int consumer__seed_wait(struct consumer *c, uint32_t tid, const struct wait *w);
/* Take back a seeded wait that ended before it was seeded (still marked preblocked). */
void consumer__unseed_wait(struct consumer *c, uint32_t tid);
/* Start watching one more process (with a PID filter in place). */
int consumer__watch_pid(struct consumer *c, uint32_t pid);
/* Registers and kernel stack of a thread, now (BPF task iterator). 0, -ESRCH or -errno. */
int consumer__task_regs(struct consumer *c, uint32_t tid, struct tangle_task_regs *out);
/*
 * Where stack captures go (TANGLE_EV_USTACK records as read: fn checks them,
 * see decode__ustack(); it returns 0 or -EINVAL). A capture arrives just
 * before the wait_begin of its wait. Without fn they are dropped.
 */
typedef int (*consumer_stack_fn)(void *ctx, const void *data, size_t len);
void consumer__on_stacks(struct consumer *c, consumer_stack_fn fn, void *ctx);
/* Whether waits' stacks are captured (consumer_opts.capture_stacks). */
bool consumer__captures_stacks(const struct consumer *c);
/* Capture the stack of one wait in every (1: all), from now on. */
void consumer__set_stack_sampling(struct consumer *c, uint32_t every);
/*
 * What the model is fed, as it is fed (tangle record): every ring-buffer
 * record but stack captures, and each thread's scheduler state as synced,
 * before the model sees it. NULL functions: nothing is tapped.
 */
struct consumer_tap {
	void (*event)(void *ctx, const void *data, size_t len);
	void (*sched)(void *ctx, uint32_t tid, const struct tangle_thread_info *ti);
	void *ctx;
};
void consumer__set_tap(struct consumer *c, const struct consumer_tap *tap);
/* Copy scheduler state of every tracked thread from BPF into the model. */
int consumer__sync_threads(struct consumer *c);
/*
 * After dropped events: every wait BPF has in progress that the model does
 * not know (its wait_begin was lost) becomes a wait_begin event as BPF would
 * have sent it, with its real begin time, through the same path (and the
 * tap: a recording replays it). Returns how many were recovered, or -errno.
 */
int consumer__recover_waits(struct consumer *c);
/* Refresh and return counters. */
/* The drops of one CPU in a lost_report. */
struct lost_cpu {
	uint32_t cpu;
	uint64_t count;
};

/* What the kernel dropped for one reason since the previous report of it. */
struct lost_report {
	int reason; /* enum tangle_drop_reason */
	uint64_t count; /* since the previous report */
	uint64_t total; /* since tangle started */
	uint32_t nr_cpus; /* entries in cpus: the CPUs that dropped any of count, ascending */
	const struct lost_cpu *cpus;
};

const struct consumer_stats *consumer__stats(struct consumer *c);
/*
 * The totals of one drop reason per CPU (*nr_cpus of them, indexed by CPU),
 * as the last consumer__stats() read them; NULL if they could not be kept.
 */
const uint64_t *consumer__cpu_drops(const struct consumer *c, int reason, uint32_t *nr_cpus);

/* Name of a drop reason, as in lost_events records. */
const char *drop_reason_name(int reason);

/*
 * For the uprobe-based modes (tangle lockorder), before they load their own
 * BPF object: names the missing capability (uprobes need CAP_SYS_ADMIN) or
 * BTF, and routes libbpf's messages as the consumer does. 0 or -errno.
 */
int consumer__preflight_uprobes(void);
/* TANGLE_BTF, or NULL: the kernel's own BTF. */
const char *consumer__btf_path(void);

#endif
