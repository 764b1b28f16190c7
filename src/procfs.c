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

int procfs__parse_maps_line(char *line, struct procfs_map *m)
{
	unsigned long long start, end, off, ino;
	unsigned int major, minor;
	char perms[5];
	int pos = 0;
	char *p;

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms, &off, &major,
		   &minor, &ino, &pos) != 7 ||
	    !pos || start >= end || strlen(perms) != 4)
		return -EINVAL;
	p = line + pos;
	if (*p && *p != ' ')
		return -EINVAL;
	while (*p == ' ' || *p == '\t')
		p++;
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = off;
	m->id.dev = (uint64_t)major << 32 | minor;
	m->id.inode = ino;
	m->read = perms[0] == 'r';
	m->write = perms[1] == 'w';
	m->exec = perms[2] == 'x';
	m->shared = perms[3] == 's';
	m->path = p;
	return 0;
}

/* Parse text (owned from now on) in place. */
static struct procfs_maps *parse_maps_owned(char *text)
{
	struct procfs_maps *m = calloc(1, sizeof(*m));
	size_t cap = 0;
	char *line, *next;

	if (!m) {
		free(text);
		return NULL;
	}
	m->text = text;
	for (line = text; line && *line; line = next) {
		struct procfs_map e;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (procfs__parse_maps_line(line, &e))
			continue;
		if (m->nr && e.start < m->maps[m->nr - 1].end)
			continue; /* out of order: lookups bisect */
		if (m->nr == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct procfs_map *a = realloc(m->maps, ncap * sizeof(*a));

			if (!a) {
				procfs__maps_free(m);
				errno = ENOMEM;
				return NULL;
			}
			m->maps = a;
			cap = ncap;
		}
		m->maps[m->nr++] = e;
	}
	return m;
}

struct procfs_maps *procfs__parse_maps(const char *text, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return NULL;
	memcpy(copy, text, len);
	copy[len] = '\0';
	return parse_maps_owned(copy);
}

void procfs__maps_free(struct procfs_maps *m)
{
	if (!m)
		return;
	free(m->maps);
	free(m->text);
	free(m);
}

const struct procfs_map *procfs__maps_find(const struct procfs_maps *m, uint64_t addr)
{
	size_t lo = 0, hi = m ? m->nr : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->maps[mid].start)
			hi = mid;
		else if (addr >= m->maps[mid].end)
			lo = mid + 1;
		else
			return &m->maps[mid];
	}
	return NULL;
}

/* A whole /proc file of any size, NUL-terminated; NULL and errno. */
static char *read_all(const char *path, size_t *len)
{
	size_t cap = 16384, n = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	ssize_t r = 0;

	if (fd < 0 || !buf) {
		err = errno;
		goto out;
	}
	while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				err = ENOMEM;
				goto out;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (r < 0)
		err = errno;
out:
	if (fd >= 0)
		close(fd);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The maps of a live thread of pid other than the main one; NULL if none has any. */
static char *other_thread_maps(const char *proc_root, uint32_t pid, size_t *len)
{
	char path[PATH_MAX], *text = NULL;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%u/task", proc_root, pid);
	d = opendir(path);
	if (!d)
		return NULL;
	while (!text && (de = readdir(d))) {
		uint32_t tid;

		if (!parse_id(de->d_name, &tid) || tid == pid)
			continue;
		snprintf(path, sizeof(path), "%s/%u/task/%u/maps", proc_root, pid, tid);
		text = read_all(path, len);
		if (text && !*len) {
			free(text);
			text = NULL;
		}
	}
	closedir(d);
	return text;
}

struct procfs_maps *procfs__read_maps(const char *proc_root, uint32_t pid)
{
	char path[PATH_MAX], *text, *other;
	size_t len;

	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, pid);
	text = read_all(path, &len);
	if (!text)
		return NULL;
	if (!len && (other = other_thread_maps(proc_root, pid, &len))) {
		free(text);
		text = other;
	}
	return parse_maps_owned(text);
}

int procfs__map_of(const char *proc_root, uint32_t pid, uint64_t addr, struct map_id *out)
{
	struct procfs_maps *m = procfs__read_maps(proc_root, pid);
	const struct procfs_map *e = procfs__maps_find(m, addr);

	if (e)
		*out = e->id;
	procfs__maps_free(m);
	return e ? 0 : -ENOENT;
}

bool procfs__maps_object(const char *proc_root, uint32_t pid, const struct map_id *id)
{
	struct procfs_maps *m = procfs__read_maps(proc_root, pid);
	bool found = false;

	for (size_t i = 0; m && i < m->nr && !found; i++)
		found = (id->inode || id->dev) && m->maps[i].id.inode == id->inode &&
			m->maps[i].id.dev == id->dev;
	procfs__maps_free(m);
	return found;
}

int procfs__parse_syscall_sp(const char *buf, uint64_t *sp)
{
	const char *f[9];
	int n = 0;
	char *end;

	if (strncmp(buf, "running", 7) == 0)
		return -EAGAIN;
	/* the fields: "NR A0 A1 A2 A3 A4 A5 SP PC", or "-1 SP PC" outside a syscall */
	for (const char *p = buf; *p && n < 9;) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		f[n++] = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
	}
	if (n != (strncmp(buf, "-1 ", 3) == 0 ? 3 : 9))
		return -EINVAL;
	if (strncmp(f[n - 2], "0x", 2) != 0)
		return -EINVAL;
	errno = 0;
	*sp = strtoull(f[n - 2], &end, 16);
	if (errno || end == f[n - 2] + 2 || (*end != ' ' && *end))
		return -EINVAL;
	return 0;
}

int procfs__parse_stat_kstkesp(const char *buf, uint64_t *sp)
{
	const char *p = strrchr(buf, ')');
	unsigned long long v;
	char *end;

	if (!p)
		return -EINVAL;
	p++;
	/* field 3 (state) follows ')'; skip fields 3..28 */
	for (int field = 3; field < 29; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		while (*p && *p != ' ')
			p++;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EINVAL;
	*sp = v;
	return 0;
}

/*
 * One thread's sp. /proc/PID/task/TID/syscall has it for a thread off the CPU
 * (needs ptrace access, as tangle has). stat's kstkesp is zero for every live
 * task since Linux 4.9 (commit 0a1eb2d474ed) unless it is exiting or dumping
 * core; kept as a fallback for those.
 */
static bool thread_sp(const char *proc_root, uint32_t pid, uint32_t tid, uint64_t *sp)
{
	char path[PATH_MAX], buf[512];

	snprintf(path, sizeof(path), "%s/%u/task/%u/syscall", proc_root, pid, tid);
	if (read_small(path, buf, sizeof(buf)) > 0 && procfs__parse_syscall_sp(buf, sp) == 0 && *sp)
		return true;
	snprintf(path, sizeof(path), "%s/%u/task/%u/stat", proc_root, pid, tid);
	return read_small(path, buf, sizeof(buf)) > 0 && procfs__parse_stat_kstkesp(buf, sp) == 0 &&
	       *sp;
}

int procfs__thread_sps(const char *proc_root, uint32_t pid, struct procfs_sp **out)
{
	struct procfs_sp *sps = NULL;
	char path[PATH_MAX];
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%u/task", proc_root, pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint32_t tid;
		uint64_t sp;

		if (!parse_id(de->d_name, &tid) || !thread_sp(proc_root, pid, tid, &sp))
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct procfs_sp *a = realloc(sps, ncap * sizeof(*a));

			if (!a) {
				free(sps);
				closedir(d);
				return -ENOMEM;
			}
			sps = a;
			cap = ncap;
		}
		sps[n].tid = tid;
		sps[n].sp = sp;
		n++;
	}
	closedir(d);
	*out = sps;
	return (int)n;
}
