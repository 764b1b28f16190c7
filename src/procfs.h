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

/*
 * /proc/PID/maps, parsed in one place for every reader (owner checks, lock
 * names). A line: "START-END PERMS OFFSET MAJOR:MINOR INODE   PATH", PATH
 * empty for anonymous memory, "[heap]", "[stack]", "/dev/zero (deleted)" for
 * shared anonymous memory, "/memfd:NAME (deleted)", "/SYSV0000abcd (deleted)".
 */
struct procfs_map {
	uint64_t start, end; /* [start, end) */
	uint64_t offset; /* file offset of start */
	struct map_id id;
	bool read, write, exec, shared;
	const char *path; /* "" when anonymous; owned by the procfs_maps */
};

/* A process's mappings, in address order (lines out of order are dropped). */
struct procfs_maps {
	struct procfs_map *maps;
	size_t nr;
	char *text; /* holds every path */
};

/*
 * Read pid's maps; through another thread's task/TID/maps when the main thread
 * has exited (its own is then empty). NULL and errno (ENOENT: no such process).
 */
struct procfs_maps *procfs__read_maps(const char *proc_root, uint32_t pid);
/* Parse the text of a maps file (no I/O). NULL and errno on ENOMEM. */
struct procfs_maps *procfs__parse_maps(const char *text, size_t len);
void procfs__maps_free(struct procfs_maps *m);
/* The mapping that holds addr, or NULL. */
const struct procfs_map *procfs__maps_find(const struct procfs_maps *m, uint64_t addr);

/* A thread's user stack pointer, where /proc can tell it. */
struct procfs_sp {
	uint32_t tid;
	uint64_t sp;
};

/*
 * The stack pointers of pid's threads that are off the CPU: from
 * task/TID/syscall (blocked in a syscall or stopped), else stat's kstkesp when
 * not zero. A thread running on a CPU has none. Returns how many were found
 * (*out is malloc'd, NULL when none) or -errno.
 */
int procfs__thread_sps(const char *proc_root, uint32_t pid, struct procfs_sp **out);

/* Parsers, exposed for unit tests. */
/* One maps line, NUL- or newline-terminated, parsed in place (m->path points into line). */
int procfs__parse_maps_line(char *line, struct procfs_map *m);
/* The sp of a task/TID/syscall line ("NR ARG0..ARG5 SP PC" or "-1 SP PC"); -EAGAIN: running. */
int procfs__parse_syscall_sp(const char *buf, uint64_t *sp);
/* Field 29 (kstkesp) of a stat line; 0 unless the task is exiting or dumping core. */
int procfs__parse_stat_kstkesp(const char *buf, uint64_t *sp);
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
