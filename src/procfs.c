// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading /proc is racy by nature: a process or thread can vanish between
 * readdir() and open(). Every such failure means "skip it", never an error.
 * Target memory is only ever read (pread on /proc/PID/mem), never written.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>
#include "futex.h"
#include "procfs.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define SYS_futex_wait_nr 455 /* futex_wait(2), Linux 6.7; not in older headers */

/* Read a small /proc file into buf (NUL-terminated); returns length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

uint8_t procfs__state_of(char c)
{
	switch (c) {
	case 'R':
		return TANGLE_TS_RUNNABLE; /* running or on a run queue: /proc can't tell */
	case 'S':
	case 'I':
		return TANGLE_TS_SLEEPING;
	case 'D':
		return TANGLE_TS_DISK;
	case 'T':
	case 't':
		return TANGLE_TS_STOPPED;
	case 'Z':
	case 'X':
		return TANGLE_TS_DEAD;
	default:
		return TANGLE_TS_UNKNOWN;
	}
}

int procfs__parse_stat(const char *buf, char comm[TANGLE_COMM_LEN], char *state)
{
	const char *open = strchr(buf, '(');
	const char *close = strrchr(buf, ')');
	size_t n;

	if (!open || !close || close < open || close[1] != ' ' || !close[2])
		return -EINVAL;
	n = (size_t)(close - open - 1);
	if (n > TANGLE_COMM_LEN - 1)
		n = TANGLE_COMM_LEN - 1;
	memset(comm, 0, TANGLE_COMM_LEN);
	memcpy(comm, open + 1, n);
	*state = close[2];
	return 0;
}

int procfs__parse_syscall(const char *buf, long *nr, uint64_t args[6])
{
	char *end;
	long v;

	if (strncmp(buf, "running", 7) == 0)
		return -EAGAIN;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*nr = v;
	if (v < 0)
		return 0; /* blocked, but not in a syscall */
	for (int i = 0; i < 6; i++) {
		const char *p = end;

		while (*p == ' ')
			p++;
		if (strncmp(p, "0x", 2) != 0)
			return -EINVAL;
		errno = 0;
		args[i] = strtoull(p, &end, 16);
		if (errno || end <= p + 2)
			return -EINVAL;
	}
	return 0;
}

bool procfs__futex_wait_of(long nr, const uint64_t args[6], struct wait *w)
{
	memset(w, 0, sizeof(*w));
	if (nr == SYS_futex) {
		if (!futex_op_waits((uint32_t)args[1]))
			return false;
		w->sys = TANGLE_SYS_FUTEX;
		w->addr = args[0];
		w->op = (uint32_t)args[1];
		w->expected = (uint32_t)args[2];
		w->has_timeout = args[3] != 0;
		w->addr2 = args[4];
	} else if (nr == SYS_futex_wait_nr) {
		w->sys = TANGLE_SYS_FUTEX_WAIT;
		w->addr = args[0];
		w->expected = (uint32_t)args[1];
		w->op = (uint32_t)args[3];
		w->has_timeout = args[4] != 0;
	} else if (nr == SYS_futex_waitv) {
		w->sys = TANGLE_SYS_FUTEX_WAITV;
		w->addr = args[0]; /* the waiter array; the caller reads the first uaddr */
		w->nr_futexes = args[1] > 255 ? 255 : (uint8_t)args[1];
		w->op = (uint32_t)args[2];
		w->has_timeout = args[3] != 0;
	} else {
		return false;
	}
	w->kind = WAIT_FUTEX;
	w->preblocked = true;
	return true;
}

/* futex_waitv: the futex word is inside the caller's array; read it, never write. */
static void resolve_waitv(const char *proc_root, uint32_t pid, struct wait *w)
{
	struct futex_waitv first;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%u/mem", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (pread(fd, &first, sizeof(first), (off_t)w->addr) == (ssize_t)sizeof(first)) {
		w->addr = first.uaddr;
		w->expected = (uint32_t)first.val;
	}
	close(fd);
}

int procfs__read_thread(const char *proc_root, uint32_t pid, uint32_t tid,
			struct procfs_thread *out)
{
	char path[PATH_MAX], buf[512], state;
	uint64_t args[6];
	ssize_t n;
	long nr;

	memset(out, 0, sizeof(*out));
	out->pid = pid;
	out->tid = tid;
	snprintf(path, sizeof(path), "%s/%u/task/%u/stat", proc_root, pid, tid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (procfs__parse_stat(buf, out->comm, &state))
		return -EINVAL;
	out->state = procfs__state_of(state);
	if (state != 'S')
		return 0; /* a futex wait sleeps interruptibly */
	snprintf(path, sizeof(path), "%s/%u/task/%u/syscall", proc_root, pid, tid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return 0; /* no ptrace access or gone: state without a wait */
	if (procfs__parse_syscall(buf, &nr, args) == 0 && nr >= 0 &&
	    procfs__futex_wait_of(nr, args, &out->wait) && out->wait.sys == TANGLE_SYS_FUTEX_WAITV)
		resolve_waitv(proc_root, pid, &out->wait);
	return 0;
}

static bool parse_id(const char *s, uint32_t *id)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

static void scan_process(const char *proc_root, uint32_t pid, const struct filter *f,
			 procfs_thread_fn fn, void *ctx)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%u/task", proc_root, pid);
	d = opendir(path);
	if (!d)
		return; /* exited meanwhile */
	while ((de = readdir(d))) {
		struct procfs_thread t;
		uint32_t tid;

		if (!parse_id(de->d_name, &tid))
			continue;
		if (procfs__read_thread(proc_root, pid, tid, &t))
			continue;
		if (filter__match(f, pid, tid, t.comm))
			fn(&t, ctx);
	}
	closedir(d);
}

/* PF_KTHREAD in the flags field (9th) of /proc/PID/stat; kernel threads never use futexes. */
static bool is_kernel_thread(const char *proc_root, uint32_t pid)
{
	char path[PATH_MAX], buf[512];
	unsigned long flags;
	const char *p;

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, pid);
	if (read_small(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')))
		return false;
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags) != 1)
		return false;
	return flags & 0x00200000;
}

int procfs__scan(const char *proc_root, const struct filter *f, procfs_thread_fn fn, void *ctx)
{
	struct dirent *de;
	DIR *d;

	if (f->npids) {
		for (size_t i = 0; i < f->npids; i++)
			scan_process(proc_root, f->pids[i], f, fn, ctx);
		return 0;
	}
	d = opendir(proc_root);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint32_t pid;

		if (!parse_id(de->d_name, &pid) || is_kernel_thread(proc_root, pid))
			continue;
		scan_process(proc_root, pid, f, fn, ctx);
	}
	closedir(d);
	return 0;
}

bool procfs__pid_exists(const char *proc_root, uint32_t pid)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, pid);
	return access(path, F_OK) == 0;
}

int procfs__parse_status(const char *buf, uint32_t *tgid, char *state)
{
	const char *t = strstr(buf, "\nTgid:");
	const char *s = strstr(buf, "\nState:");
	unsigned long v;

	if (!t || !s || sscanf(t + 6, " %lu", &v) != 1 || v == 0 || v > UINT32_MAX ||
	    sscanf(s + 7, " %c", state) != 1)
		return -EINVAL;
	*tgid = (uint32_t)v;
	return 0;
}

int procfs__tgid_of(const char *proc_root, uint32_t tid, uint32_t *tgid, bool *zombie)
{
	char path[PATH_MAX], buf[1024], state;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/status", proc_root, tid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOENT || n == -ESRCH ? -ENOENT : (int)n;
	if (procfs__parse_status(buf, tgid, &state))
		return -EINVAL;
	*zombie = state == 'Z' || state == 'X';
	return 0;
}

int procfs__parse_maps_line(const char *line, uint64_t *start, uint64_t *end, struct map_id *id)
{
	unsigned long long s, e, ino;
	unsigned int major, minor;

	if (sscanf(line, "%llx-%llx %*s %*s %x:%x %llu", &s, &e, &major, &minor, &ino) != 5)
		return -EINVAL;
	*start = s;
	*end = e;
	id->dev = (uint64_t)major << 32 | minor;
	id->inode = ino;
	return 0;
}

/* Call fn for each maps line until it returns true; returns whether one did. */
static bool maps_find(const char *proc_root, uint32_t pid,
		      bool (*fn)(uint64_t start, uint64_t end, const struct map_id *id, void *ctx),
		      void *ctx)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && getline(&line, &cap, f) > 0) {
		uint64_t start, end;
		struct map_id id;

		if (procfs__parse_maps_line(line, &start, &end, &id) == 0)
			found = fn(start, end, &id, ctx);
	}
	free(line);
	fclose(f);
	return found;
}

struct map_query {
	uint64_t addr;
	struct map_id id;
};

static bool map_holds(uint64_t start, uint64_t end, const struct map_id *id, void *ctx)
{
	struct map_query *q = ctx;

	if (q->addr < start || q->addr >= end)
		return false;
	q->id = *id;
	return true;
}

int procfs__map_of(const char *proc_root, uint32_t pid, uint64_t addr, struct map_id *out)
{
	struct map_query q = { .addr = addr };

	if (!maps_find(proc_root, pid, map_holds, &q))
		return -ENOENT;
	*out = q.id;
	return 0;
}

static bool map_is(uint64_t start, uint64_t end, const struct map_id *id, void *ctx)
{
	const struct map_id *want = ctx;

	return id->inode && id->inode == want->inode && id->dev == want->dev;
}

bool procfs__maps_object(const char *proc_root, uint32_t pid, const struct map_id *id)
{
	return maps_find(proc_root, pid, map_is, (void *)id);
}
