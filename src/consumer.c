// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "consumer.h"
#include "decode.h"
#include "log.h"
#include "procfs.h"
#include "tangle.skel.h"

#define SYSFS_BTF "/sys/kernel/btf/vmlinux"
#define TRACEFS "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"

struct consumer {
	struct tangle_bpf *skel;
	struct ring_buffer *rb;
	struct model *model;
	struct consumer_stats stats;
	int nr_cpus;
	uint64_t *cpu_drops; /* [reason * nr_cpus + cpu]: consumer__stats()'s per-CPU read */
	bool capture_stacks;
	consumer_stack_fn on_stack;
	void *stack_ctx;
	struct consumer_tap tap;
};

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && log__verbose() < 2)
		return 0;
	if (level != LIBBPF_WARN && !log__verbose())
		return 0;
	return vfprintf(stderr, fmt, args);
}

static bool has_cap(const struct __user_cap_data_struct data[2], int cap)
{
	return data[cap / 32].effective & (1u << (cap % 32));
}

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* Name what is missing rather than letting bpf() fail with a bare EPERM. */
static int check_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	bool admin;

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	admin = has_cap(data, CAP_SYS_ADMIN);
	if (!admin && (!has_cap(data, CAP_BPF) || !has_cap(data, CAP_PERFMON))) {
		log_error(EPERM,
			  "loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); "
			  "missing:%s%s (run as root: sudo tangle ...)",
			  has_cap(data, CAP_BPF) ? "" : " CAP_BPF",
			  has_cap(data, CAP_PERFMON) ? "" : " CAP_PERFMON");
		return -EPERM;
	}
	if (!has_cap(data, CAP_SYS_PTRACE))
		log_warn(
			"no CAP_SYS_PTRACE: threads of other users that were blocked before tangle "
			"started will not be found in /proc");
	return 0;
}

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Syscall tracepoints are attached by id, which libbpf reads from tracefs.
 * Mount tracefs where it is expected if nothing is there (as perf does).
 */
static int check_tracefs(void)
{
	if (dir_exists(TRACEFS "/events/syscalls") ||
	    dir_exists(DEBUGFS_TRACING "/events/syscalls"))
		return 0;
	if (dir_exists(TRACEFS "/events")) {
		log_error(
			ENOENT,
			"tracefs has no syscalls events (kernel without CONFIG_FTRACE_SYSCALLS?)");
		return -ENOENT;
	}
	/* mounted, but root's only (mode 0700): not tangle's to mount again */
	if (stat(TRACEFS "/events", &(struct stat){}) && errno == EACCES) {
		log_error(EACCES, "tracefs at " TRACEFS " is not readable: tangle needs "
				  "CAP_DAC_READ_SEARCH to read it (or run as root)");
		return -EACCES;
	}
	if (dir_exists(TRACEFS) && mount("nodev", TRACEFS, "tracefs", 0, NULL) == 0) {
		log_debug("mounted tracefs at " TRACEFS);
		if (dir_exists(TRACEFS "/events/syscalls"))
			return 0;
	}
	log_error(errno ? errno : ENOENT,
		  "tracefs is not mounted at " TRACEFS " and could not be mounted "
		  "(try: mount -t tracefs nodev " TRACEFS ")");
	return -ENOENT;
}

static const char *btf_path(void)
{
	const char *env = getenv("TANGLE_BTF");

	return env && *env ? env : NULL;
}

static int check_btf(void)
{
	const char *custom = btf_path();
	const char *path = custom ? custom : SYSFS_BTF;

	if (access(path, R_OK) == 0)
		return 0;
	log_error(errno,
		  "kernel BTF not readable at %s (tangle needs a kernel built with "
		  "CONFIG_DEBUG_INFO_BTF=y, or TANGLE_BTF=/path/to/vmlinux.btf)",
		  path);
	return -ENOENT;
}

int consumer__preflight_uprobes(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};

	libbpf_set_print(libbpf_print);
	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (!has_cap(data, CAP_SYS_ADMIN)) {
		log_error(EPERM, "uprobes need CAP_SYS_ADMIN (run as root: sudo tangle ...)");
		return -EPERM;
	}
	if (!has_cap(data, CAP_SYS_PTRACE))
		log_warn("no CAP_SYS_PTRACE: the files of another user's process may not be "
			 "readable, and its stacks not unwound");
	return check_btf();
}

const char *consumer__btf_path(void)
{
	return btf_path();
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct consumer *c = ctx;

	if (decode__is_stack(data, len)) {
		if (!c->on_stack)
			return 0;
		if (c->on_stack(c->stack_ctx, data, len))
			c->stats.bad_records++;
		else
			c->stats.stacks++;
		return 0;
	}
	if (c->tap.event)
		c->tap.event(c->tap.ctx, data, len);
	if (decode__event(c->model, data, len))
		c->stats.bad_records++;
	else
		c->stats.events++;
	return 0;
}

static bool tracepoint_exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), TRACEFS "/events/syscalls/%s", name);
	if (dir_exists(path))
		return true;
	snprintf(path, sizeof(path), DEBUGFS_TRACING "/events/syscalls/%s", name);
	return dir_exists(path);
}

/* The futex2 syscalls are newer than the rest: attach them only where they exist. */
static void disable_missing(struct tangle_bpf *skel)
{
	if (!tracepoint_exists("sys_enter_futex_wait")) {
		bpf_program__set_autoload(skel->progs.tg_futex_wait_enter, false);
		bpf_program__set_autoload(skel->progs.tg_futex_wait_exit, false);
		log_debug("kernel has no futex_wait(2) tracepoints; not watching them");
	}
	if (!tracepoint_exists("sys_enter_futex_waitv")) {
		bpf_program__set_autoload(skel->progs.tg_futex_waitv_enter, false);
		bpf_program__set_autoload(skel->progs.tg_futex_waitv_exit, false);
		log_debug("kernel has no futex_waitv(2) tracepoints; not watching them");
	}
}

static int fill_filter_maps(struct tangle_bpf *skel, const struct filter *f)
{
	__u8 one = 1;

	for (size_t i = 0; i < f->npids; i++)
		if (bpf_map__update_elem(skel->maps.pids, &f->pids[i], sizeof(__u32), &one,
					 sizeof(one), BPF_ANY))
			return -errno;
	for (size_t i = 0; i < f->ntids; i++)
		if (bpf_map__update_elem(skel->maps.tids, &f->tids[i], sizeof(__u32), &one,
					 sizeof(one), BPF_ANY))
			return -errno;
	return 0;
}

struct consumer *consumer__open(const struct consumer_opts *o, struct model *m)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = btf_path());
	const struct filter *f = o->filter;
	struct consumer *c;
	int err;

	libbpf_set_print(libbpf_print);
	err = check_caps();
	if (!err)
		err = check_btf();
	if (!err)
		err = check_tracefs();
	if (err) {
		errno = -err;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->model = m;
	c->nr_cpus = libbpf_num_possible_cpus();
	if (c->nr_cpus <= 0) {
		err = c->nr_cpus ? c->nr_cpus : -EINVAL;
		log_error(-err, "counting the possible CPUs");
		goto fail;
	}
	c->cpu_drops = calloc((size_t)c->nr_cpus * TANGLE_DROP_MAX, sizeof(*c->cpu_drops));
	if (!c->cpu_drops) {
		err = -ENOMEM;
		goto fail;
	}
	c->skel = tangle_bpf__open_opts(&open_opts);
	if (!c->skel) {
		err = -errno;
		log_error(-err, "opening the BPF object");
		goto fail;
	}
	c->skel->rodata->self_tgid = getpid();
	c->skel->rodata->filter_pid = f->npids > 0;
	c->skel->rodata->filter_tid = f->ntids > 0;
	c->skel->rodata->filter_comm = f->comm[0] != '\0';
	c->skel->rodata->follow_children = o->follow_children;
	c->skel->rodata->capture_stacks = o->capture_stacks;
	c->capture_stacks = o->capture_stacks;
	memcpy((char *)c->skel->rodata->comm_filter, f->comm, TANGLE_COMM_LEN);
	bpf_map__set_max_entries(c->skel->maps.events, o->ringbuf_bytes);
	bpf_map__set_max_entries(c->skel->maps.threads, o->max_threads);
	bpf_map__set_max_entries(c->skel->maps.waits, o->max_threads);
	disable_missing(c->skel);
	/* the iterator is attached per request, for one thread */
	bpf_program__set_autoattach(c->skel->progs.tg_task_regs, false);

	err = tangle_bpf__load(c->skel);
	if (err) {
		log_error(-err, "loading BPF programs (run with -v for the verifier log)");
		goto fail;
	}
	err = fill_filter_maps(c->skel, f);
	if (err) {
		log_error(-err, "filling the PID/TID filter maps");
		goto fail;
	}
	err = tangle_bpf__attach(c->skel);
	if (err) {
		log_error(-err, "attaching BPF programs");
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), on_record, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_error(-err, "creating the ring buffer reader");
		goto fail;
	}
	return c;
fail:
	consumer__free(c);
	errno = -err;
	return NULL;
}

void consumer__free(struct consumer *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	tangle_bpf__destroy(c->skel);
	free(c->cpu_drops);
	free(c);
}

int consumer__fd(const struct consumer *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int consumer__poll(struct consumer *c)
{
	return ring_buffer__consume(c->rb);
}

int consumer__seed_wait(struct consumer *c, uint32_t tid, const struct wait *w)
{
	struct tangle_wait_info wi = {
		.uaddr = w->addr,
		.begin_ns = 0,
		.op = w->op,
		.flags = TANGLE_WAIT_F_PREBLOCKED | (w->has_timeout ? TANGLE_WAIT_F_TIMEOUT : 0),
		.sys = w->sys,
		.val = w->expected,
	};

	/* BPF_NOEXIST: a wait BPF saw begin itself knows better */
	if (bpf_map__update_elem(c->skel->maps.waits, &tid, sizeof(tid), &wi, sizeof(wi),
				 BPF_NOEXIST) &&
	    errno != EEXIST)
		return -errno;
	return 0;
}

void consumer__unseed_wait(struct consumer *c, uint32_t tid)
{
	struct tangle_wait_info wi;

	if (!bpf_map__lookup_elem(c->skel->maps.waits, &tid, sizeof(tid), &wi, sizeof(wi), 0) &&
	    (wi.flags & TANGLE_WAIT_F_PREBLOCKED))
		bpf_map__delete_elem(c->skel->maps.waits, &tid, sizeof(tid), 0);
}

int consumer__watch_pid(struct consumer *c, uint32_t pid)
{
	__u8 one = 1;

	if (bpf_map__update_elem(c->skel->maps.pids, &pid, sizeof(pid), &one, sizeof(one), BPF_ANY))
		return -errno;
	return 0;
}

int consumer__task_regs(struct consumer *c, uint32_t tid, struct tangle_task_regs *out)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info info = { .task.tid = tid };
	struct bpf_link *link;
	ssize_t n = 0, r;
	int fd, err = 0;

	opts.link_info = &info;
	opts.link_info_len = sizeof(info);
	link = bpf_program__attach_iter(c->skel->progs.tg_task_regs, &opts);
	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	while (n < (ssize_t)sizeof(*out) &&
	       (r = read(fd, (char *)out + n, sizeof(*out) - (size_t)n)) > 0)
		n += r;
	if (n != (ssize_t)sizeof(*out) || out->tid != tid)
		err = -ESRCH; /* the thread is gone */
	close(fd);
out:
	bpf_link__destroy(link);
	return err;
}

void consumer__on_stacks(struct consumer *c, consumer_stack_fn fn, void *ctx)
{
	c->on_stack = fn;
	c->stack_ctx = ctx;
}

void consumer__set_tap(struct consumer *c, const struct consumer_tap *tap)
{
	c->tap = tap ? *tap : (struct consumer_tap){};
}

bool consumer__captures_stacks(const struct consumer *c)
{
	return c && c->capture_stacks;
}

void consumer__set_stack_sampling(struct consumer *c, uint32_t every)
{
	/* .data is mapped: the programs see the store at their next wait */
	__atomic_store_n(&c->skel->data->stack_sample_every, every ? every : 1, __ATOMIC_RELAXED);
}

/*
 * Every entry of one of the maps keyed by tid (threads, waits), BATCH at a
 * time: fn(c, tid, value). Returns the sum of what fn returned, or -errno.
 */
typedef int entry_fn(struct consumer *c, __u32 tid, const void *val);

static int each_entry(struct consumer *c, const struct bpf_map *map, size_t val_size, entry_fn *fn)
{
	enum { BATCH = 512 };
	union {
		struct tangle_thread_info thread;
		struct tangle_wait_info wait;
	} vals[BATCH];
	int fd = bpf_map__fd(map), sum = 0;
	__u32 keys[BATCH], out_batch, *in = NULL;

	if (val_size > sizeof(vals[0]))
		return -EINVAL;
	/* valgrind cannot see the kernel fill these */
	memset(keys, 0, sizeof(keys));
	memset(vals, 0, sizeof(vals));
	for (;;) {
		__u32 count = BATCH;
		int err = bpf_map_lookup_batch(fd, in, &out_batch, keys, vals, &count, NULL);

		if (err && errno != ENOENT)
			return -errno;
		/* the kernel packs the values val_size apart */
		for (__u32 i = 0; i < count; i++)
			sum += fn(c, keys[i], (const char *)vals + i * val_size);
		if (err) /* ENOENT: that was the last batch */
			return sum;
		in = &out_batch;
	}
}

static int sync_thread(struct consumer *c, __u32 tid, const void *val)
{
	const struct tangle_thread_info *ti = val;

	if (c->tap.sched)
		c->tap.sched(c->tap.ctx, tid, ti);
	model__thread_sched(c->model, tid, ti);
	return 0;
}

int consumer__sync_threads(struct consumer *c)
{
	int n = each_entry(c, c->skel->maps.threads, sizeof(struct tangle_thread_info),
			   sync_thread);

	return n < 0 ? n : 0;
}

/* 1 if the wait BPF has in progress for tid was unknown to the model, and is now. */
static int recover_wait(struct consumer *c, __u32 tid, const void *val)
{
	const struct tangle_wait_info *wi = val;
	const struct thread *t = model__thread(c->model, tid);
	struct tangle_ev_wait_begin e = {
		.hdr = { .type = TANGLE_EV_WAIT_BEGIN,
			 .size = sizeof(e),
			 .ts_ns = wi->begin_ns,
			 .tid = tid },
		.uaddr = wi->uaddr,
		.op = wi->op,
		.val = wi->val,
		.val3 = wi->val3,
		.flags = wi->flags,
		.sys = wi->sys,
		.nr_futexes = 1,
	};
	struct procfs_thread pt;
	bool zombie = false;

	/* seeded from /proc (known), or known to the model already */
	if ((wi->flags & TANGLE_WAIT_F_PREBLOCKED) || !wi->begin_ns ||
	    (t && t->wait.kind != WAIT_NONE && t->wait.since_ns >= wi->begin_ns))
		return 0;
	if (t)
		e.hdr.pid = t->pid;
	else if (procfs__tgid_of("/proc", tid, &e.hdr.pid, &zombie) || zombie)
		return 0;
	if (t)
		memcpy(e.comm, t->comm, sizeof(e.comm));
	else if (!procfs__read_thread("/proc", e.hdr.pid, tid, &pt))
		memcpy(e.comm, pt.comm, sizeof(e.comm));
	on_record(c, &e, sizeof(e));
	return 1;
}

const uint64_t *consumer__cpu_drops(const struct consumer *c, int reason, uint32_t *nr_cpus)
{
	if (reason < 0 || reason >= TANGLE_DROP_MAX) {
		*nr_cpus = 0;
		return NULL;
	}
	*nr_cpus = (uint32_t)c->nr_cpus;
	return c->cpu_drops + (size_t)reason * (size_t)c->nr_cpus;
}

int consumer__recover_waits(struct consumer *c)
{
	return each_entry(c, c->skel->maps.waits, sizeof(struct tangle_wait_info), recover_wait);
}

const struct consumer_stats *consumer__stats(struct consumer *c)
{
	__u64 *vals = calloc(c->nr_cpus, sizeof(*vals));

	if (!vals)
		return &c->stats;
	for (__u32 r = 0; r < TANGLE_DROP_MAX; r++) {
		__u64 sum = 0;

		if (bpf_map__lookup_elem(c->skel->maps.drops, &r, sizeof(r), vals,
					 sizeof(*vals) * c->nr_cpus, 0))
			continue;
		for (int i = 0; i < c->nr_cpus; i++) {
			sum += vals[i];
			c->cpu_drops[r * (size_t)c->nr_cpus + (size_t)i] = vals[i];
		}
		c->stats.drops[r] = sum;
	}
	if (c->capture_stacks) {
		__u32 zero = 0;
		__u64 sum = 0;

		if (!bpf_map__lookup_elem(c->skel->maps.stack_skips, &zero, sizeof(zero), vals,
					  sizeof(*vals) * c->nr_cpus, 0))
			for (int i = 0; i < c->nr_cpus; i++)
				sum += vals[i];
		c->stats.stack_skips = sum;
	}
	free(vals);
	return &c->stats;
}
