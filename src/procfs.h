/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What /proc says about threads that exist when tangle starts, above all
 * those already blocked in a futex wait: without this, a tool that only sees
 * new events misses the hang that made the user start it.
 */
#ifndef TANGLE_PROCFS_H
#define TANGLE_PROCFS_H

#include <stdbool.h>
#include <stdint.h>
#include "filter.h"
#include "model.h"

struct procfs_thread {
	uint32_t pid;
	uint32_t tid;
	char comm[TANGLE_COMM_LEN];
	uint8_t state; /* enum tangle_thread_state */
	struct wait wait; /* kind WAIT_FUTEX when blocked in a futex wait */
};

typedef void (*procfs_thread_fn)(const struct procfs_thread *t, void *ctx);

/* Report every thread of the processes the filter names (all when none). Returns 0 or -errno. */
int procfs__scan(const char *proc_root, const struct filter *f, procfs_thread_fn fn, void *ctx);
/* Read one thread; -ENOENT if it is gone. */
int procfs__read_thread(const char *proc_root, uint32_t pid, uint32_t tid,
			struct procfs_thread *out);
bool procfs__pid_exists(const char *proc_root, uint32_t pid);

/*
 * The process (tgid) of a thread id, from /proc/TID/status. Returns 0 and sets
 * *tgid and *zombie, or -ENOENT when no such thread exists.
 */
int procfs__tgid_of(const char *proc_root, uint32_t tid, uint32_t *tgid, bool *zombie);

/* The backing object (device, inode) of the mapping of pid that holds addr. */
struct map_id {
	uint64_t dev; /* major << 32 | minor */
	uint64_t inode;
};
int procfs__map_of(const char *proc_root, uint32_t pid, uint64_t addr, struct map_id *out);
/* Does pid map the object id anywhere? */
bool procfs__maps_object(const char *proc_root, uint32_t pid, const struct map_id *id);

/* Parsers, exposed for unit tests. */
/* One /proc/PID/maps line: start, end, dev, inode. */
int procfs__parse_maps_line(const char *line, uint64_t *start, uint64_t *end, struct map_id *id);
/* The Tgid: and State: lines of /proc/TID/status. */
int procfs__parse_status(const char *buf, uint32_t *tgid, char *state);
/* "/proc/PID/stat": comm (may contain ')' and spaces) and state letter. */
int procfs__parse_stat(const char *buf, char comm[TANGLE_COMM_LEN], char *state);
/* "/proc/PID/task/TID/syscall": "NR ARG0..ARG5 SP PC", "running" or "-1 SP PC". */
int procfs__parse_syscall(const char *buf, long *nr, uint64_t args[6]);
uint8_t procfs__state_of(char c);
/* Fill w from a syscall line if it is a blocking futex wait; false otherwise. */
bool procfs__futex_wait_of(long nr, const uint64_t args[6], struct wait *w);

#endif
