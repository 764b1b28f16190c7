// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tangle's kernel side: thread lifecycle and scheduler state from sched
 * tracepoints, futex waits from syscall tracepoints. Nothing here runs on a
 * lock fast path: an uncontended pthread lock never enters the kernel, so the
 * futex programs only see waits that block (or are about to).
 *
 * Per-thread state lives in BPF maps that userspace reads when it wants
 * (threads, waits); only discrete events (a wait begins or ends, a thread is
 * born, execs, is renamed or dies) go to the ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tangle_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PF_KTHREAD 0x00200000

/* futex(2) commands, from include/uapi/linux/futex.h */
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13
#define FUTEX_CMD_MASK 0x7f /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */

/* Filters, set by userspace between open and load. */
const volatile __u32 self_tgid = 0;
const volatile bool filter_pid = false;
const volatile bool filter_tid = false;
const volatile bool filter_comm = false;
const volatile bool follow_children = false;
const volatile char comm_filter[TANGLE_COMM_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by userspace */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TANGLE_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Stack captures given up (ring buffer busy or full): not lost events, just no stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stack_skips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by userspace */
	__type(key, __u32); /* tid */
	__type(value, struct tangle_thread_info);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct tangle_wait_info);
} waits SEC(".maps");

/* PIDs (tgids) and TIDs to watch when filter_pid / filter_tid are set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} tids SEC(".maps");

/* Scratch for the task iterator: too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tangle_task_regs);
} task_regs_buf SEC(".maps");

/*
 * Stacks of waits, captured as they begin (stream --stacks and --folded):
 * off, the verifier drops the code. One wait in stack_sample_every is
 * captured; userspace raises it while waits come faster than it can unwind
 * them, and every capture says the value it was taken under.
 */
const volatile bool capture_stacks = false;
__u32 stack_sample_every = 1;

/*
 * Wake the collector only once a batch has built up, and once per batch: at
 * high event rates a wakeup per record costs more than the record (on a VM,
 * an interrupt and an exit each; while the collector lagged, a wakeup on
 * every record slowed a futex storm twentyfold). The record whose bytes
 * cross a multiple of wakeup_bytes wakes it; one missed in a race between
 * CPUs is made up by the next multiple, and the collector also drains the
 * ring on its 100 ms tick, so a quiet trickle is never held longer.
 */
const volatile __u64 wakeup_bytes = 256 << 10;

static __always_inline void submit(void *e)
{
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	__u64 size = ((struct tangle_ev_hdr *)e)->size;
	bool cross = pending >= wakeup_bytes &&
		     (pending - size) / wakeup_bytes != pending / wakeup_bytes;

	bpf_ringbuf_submit(e, cross ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

static __always_inline bool comm_matches(const char *comm)
{
	for (int i = 0; i < TANGLE_COMM_LEN; i++) {
		if (comm[i] != comm_filter[i])
			return false;
		if (!comm[i])
			return true;
	}
	return true;
}

/* The one place that decides whether a thread is watched. */
static __always_inline bool wanted(__u32 pid, __u32 tid, const char *comm)
{
	if (pid == self_tgid || tid == 0)
		return false;
	if (filter_pid && !bpf_map_lookup_elem(&pids, &pid))
		return false;
	if (filter_tid && !bpf_map_lookup_elem(&tids, &tid))
		return false;
	if (filter_comm && !comm_matches(comm))
		return false;
	return true;
}

static __always_inline bool task_wanted(struct task_struct *t)
{
	char comm[TANGLE_COMM_LEN];

	if (BPF_CORE_READ(t, flags) & PF_KTHREAD)
		return false;
	BPF_CORE_READ_STR_INTO(&comm, t, comm);
	return wanted(BPF_CORE_READ(t, tgid), BPF_CORE_READ(t, pid), comm);
}

static __always_inline bool current_wanted(__u32 *pid, __u32 *tid)
{
	char comm[TANGLE_COMM_LEN];
	__u64 id = bpf_get_current_pid_tgid();

	*pid = id >> 32;
	*tid = (__u32)id;
	bpf_get_current_comm(&comm, sizeof(comm));
	return wanted(*pid, *tid, comm);
}

static __always_inline void fill_hdr(struct tangle_ev_hdr *h, __u16 type, __u16 size, __u64 now,
				     __u32 pid, __u32 tid)
{
	h->type = type;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ts_ns = now;
	h->pid = pid;
	h->tid = tid;
}

/* task->__state on current kernels, task->state before 5.14. */
static __always_inline unsigned int task_state(struct task_struct *t)
{
	struct task_struct___pre514 {
		long state;
	} *old = (void *)t;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ(old, state);
}

static __always_inline __u8 state_of(unsigned int s)
{
	if (s == 0)
		return TANGLE_TS_RUNNABLE; /* preempted */
	if (s & (0x10 | 0x20 | 0x80)) /* EXIT_DEAD, EXIT_ZOMBIE, TASK_DEAD */
		return TANGLE_TS_DEAD;
	if (s & (0x4 | 0x8)) /* __TASK_STOPPED, __TASK_TRACED */
		return TANGLE_TS_STOPPED;
	if ((s & 0x2) && !(s & 0x400)) /* TASK_UNINTERRUPTIBLE without TASK_NOLOAD */
		return TANGLE_TS_DISK;
	return TANGLE_TS_SLEEPING;
}

/*
 * Move a thread to a new scheduler state and account the time spent in the
 * old one. Threads enter the map the first time they are seen and wanted;
 * a full map is counted, never silent.
 */
static __always_inline void set_state(struct task_struct *t, __u8 state, __u64 now, bool switched)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	struct tangle_thread_info *ti = bpf_map_lookup_elem(&threads, &tid);

	if (!ti) {
		struct tangle_thread_info fresh = {};

		if (!task_wanted(t))
			return;
		fresh.pid = BPF_CORE_READ(t, tgid);
		fresh.state = state;
		fresh.state_since_ns = now;
		fresh.nr_switches = switched;
		if (bpf_map_update_elem(&threads, &tid, &fresh, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(&threads, &tid))
			count_drop(TANGLE_DROP_THREAD_MAP);
		return;
	}
	if (ti->state == TANGLE_TS_RUNNING)
		ti->run_ns += now - ti->state_since_ns;
	else if (ti->state == TANGLE_TS_SLEEPING || ti->state == TANGLE_TS_DISK)
		ti->blocked_ns += now - ti->state_since_ns;
	ti->state = state;
	ti->state_since_ns = now;
	ti->nr_switches += switched;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tg_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();

	if (BPF_CORE_READ(prev, pid))
		set_state(prev, state_of(task_state(prev)), now, true);
	if (BPF_CORE_READ(next, pid))
		set_state(next, TANGLE_TS_RUNNING, now, false);
	return 0;
}

/*
 * sched_waking runs in the waker's context (sched_wakeup may run on the
 * wakee's CPU, from an IPI): the current task is who woke p. For a thread in
 * a tracked wait it is remembered with the wait, for the wait_end: the
 * thread that released the lock or signalled the condition (an interrupt's
 * victim for a timeout, which the result tells apart).
 */
SEC("tp_btf/sched_waking")
int BPF_PROG(tg_sched_waking, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct tangle_thread_info *ti = bpf_map_lookup_elem(&threads, &tid);
	struct tangle_wait_info *wi;
	__u64 id;

	/* only threads already tracked: a wakeup alone does not make a thread wanted */
	if (!ti)
		return 0;
	if (ti->in_wait) {
		wi = bpf_map_lookup_elem(&waits, &tid);
		id = bpf_get_current_pid_tgid();
		if (wi && (__u32)id != tid) {
			wi->waker_pid = id >> 32;
			wi->waker_tid = (__u32)id;
		}
	}
	if (ti->state != TANGLE_TS_RUNNING)
		set_state(p, TANGLE_TS_RUNNABLE, bpf_ktime_get_ns(), false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tg_sched_wakeup_new, struct task_struct *p)
{
	set_state(p, TANGLE_TS_RUNNABLE, bpf_ktime_get_ns(), false);
	return 0;
}

static __always_inline struct tangle_ev_task *reserve_task_event(__u16 type, struct task_struct *t,
								 __u64 now)
{
	struct tangle_ev_task *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(TANGLE_DROP_RINGBUF);
		return NULL;
	}
	fill_hdr(&e->hdr, type, sizeof(*e), now, BPF_CORE_READ(t, tgid), BPF_CORE_READ(t, pid));
	e->parent_pid = 0;
	e->parent_tid = 0;
	e->exit_code = 0;
	e->flags = 0;
	BPF_CORE_READ_STR_INTO(&e->comm, t, comm);
	__builtin_memset(e->old_comm, 0, sizeof(e->old_comm));
	return e;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tg_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ppid = BPF_CORE_READ(parent, tgid);
	__u32 child_pid = BPF_CORE_READ(child, tgid);
	bool thread = ppid == child_pid;
	struct tangle_ev_task *e;

	if (BPF_CORE_READ(child, flags) & PF_KTHREAD)
		return 0;
	if (!thread && follow_children && filter_pid && bpf_map_lookup_elem(&pids, &ppid)) {
		__u8 one = 1;

		bpf_map_update_elem(&pids, &child_pid, &one, BPF_ANY);
	}
	/* a thread of a watched process is watched; a new process only if followed */
	if (thread ? !task_wanted(parent) : !task_wanted(child))
		return 0;
	e = reserve_task_event(TANGLE_EV_FORK, child, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->parent_pid = ppid;
	e->parent_tid = BPF_CORE_READ(parent, pid);
	e->flags = thread ? TANGLE_TASK_F_THREAD : 0;
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tg_sched_process_exec, struct task_struct *p, pid_t old_pid)
{
	struct tangle_ev_task *e;

	if (!task_wanted(p))
		return 0;
	e = reserve_task_event(TANGLE_EV_EXEC, p, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->parent_tid = old_pid; /* a non-leader thread that execs takes the leader's tid */
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tg_sched_process_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	bool tracked = bpf_map_lookup_elem(&threads, &tid) || bpf_map_lookup_elem(&waits, &tid);
	struct tangle_ev_task *e;

	if (tracked) {
		bpf_map_delete_elem(&threads, &tid);
		bpf_map_delete_elem(&waits, &tid);
	}
	if (!tracked && !task_wanted(p))
		return 0;
	e = reserve_task_event(TANGLE_EV_EXIT, p, bpf_ktime_get_ns());
	if (!e)
		return 0;
	e->exit_code = BPF_CORE_READ(p, exit_code);
	if (BPF_CORE_READ(p, signal, live.counter) == 0)
		e->flags |= TANGLE_TASK_F_GROUP_DEAD;
	submit(e);
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(tg_task_rename, struct task_struct *task, const char *comm)
{
	char newcomm[TANGLE_COMM_LEN] = {};
	struct tangle_ev_task *e;

	/* exec names the task too: its own event carries the new name */
	if (bpf_core_field_exists(task->in_execve) &&
	    BPF_CORE_READ_BITFIELD_PROBED(task, in_execve))
		return 0;
	bpf_probe_read_kernel_str(newcomm, sizeof(newcomm), comm);
	/* watched under either name: renaming into or out of a -c filter is news */
	if (!task_wanted(task) &&
	    !wanted(BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, pid), newcomm))
		return 0;
	e = reserve_task_event(TANGLE_EV_RENAME, task, bpf_ktime_get_ns());
	if (!e)
		return 0;
	/* the tracepoint fires before task->comm is overwritten */
	__builtin_memcpy(e->old_comm, e->comm, sizeof(e->comm));
	__builtin_memcpy(e->comm, newcomm, sizeof(newcomm));
	submit(e);
	return 0;
}

#define USTACK_CHUNK 512

static __always_inline void count_stack_skip(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&stack_skips, &zero);

	if (n)
		*n += 1;
}

/*
 * Copy the user stack from sp up into dst. Near the top of a mapping the
 * whole window cannot be read: then as many whole chunks as can.
 */
static __always_inline __u32 copy_user_stack(__u8 *dst, __u64 sp)
{
	__u32 i;

	if (!bpf_probe_read_user(dst, TANGLE_USTACK_BYTES, (void *)sp))
		return TANGLE_USTACK_BYTES;
	for (i = 0; i < TANGLE_USTACK_BYTES / USTACK_CHUNK; i++)
		if (bpf_probe_read_user(dst + i * USTACK_CHUNK, USTACK_CHUNK,
					(void *)(sp + i * USTACK_CHUNK)))
			break;
	return i * USTACK_CHUNK;
}

/*
 * The user stack of a wait, sent before its wait_begin: the syscall entry
 * registers and a copy of the stack above sp, all a CFI unwind needs (glibc
 * has no frame pointers: a frame-pointer walk from here, as bpf_get_stack
 * does, stops at __lll_lock_wait). Its kernel stack is not taken: at
 * syscall entry it is only the entry path, and taking it where the wait
 * sleeps (bpf_get_stack in sched_switch) measured ~5 us per wait, twice all
 * of this, for what is always the futex code; the collector reads it from a
 * wait that lasts instead.
 */
static __always_inline void capture_ustack(__u32 pid, __u32 tid, __u64 now)
{
	__u32 every = stack_sample_every;
	struct tangle_ev_ustack *e;
	struct pt_regs *regs;

	if (every > 1 && bpf_get_prandom_u32() % every)
		return;
	/* a stack is worth less than the events behind it: leave them room */
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4) {
		count_stack_skip();
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_stack_skip();
		return;
	}
	fill_hdr(&e->hdr, TANGLE_EV_USTACK, sizeof(*e), now, pid, tid);
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	e->ip = BPF_CORE_READ(regs, ip);
	e->sp = BPF_CORE_READ(regs, sp);
	e->bp = BPF_CORE_READ(regs, bp);
	e->bx = BPF_CORE_READ(regs, bx);
	e->r12 = BPF_CORE_READ(regs, r12);
	e->r13 = BPF_CORE_READ(regs, r13);
	e->r14 = BPF_CORE_READ(regs, r14);
	e->r15 = BPF_CORE_READ(regs, r15);
	e->sample_every = every ? every : 1;
	e->stack_bytes = copy_user_stack(e->stack, e->sp);
	submit(e);
}

/* Record a wait in progress and announce it. */
static __always_inline void begin_wait(__u32 pid, __u32 tid, __u64 uaddr, __u64 uaddr2, __u32 op,
				       __u32 val, __u32 val3, __u16 flags, __u8 sys, __u8 nr)
{
	__u64 now = bpf_ktime_get_ns();
	struct tangle_wait_info wi = {
		.uaddr = uaddr,
		.begin_ns = now,
		.op = op,
		.flags = flags,
		.sys = sys,
		.val = val,
		.val3 = val3,
	};
	struct tangle_ev_wait_begin *e;
	struct tangle_thread_info *ti;

	/* first: the consumer has the stack in hand when the wait_begin arrives */
	if (capture_stacks)
		capture_ustack(pid, tid, now);
	if (bpf_map_update_elem(&waits, &tid, &wi, BPF_ANY))
		count_drop(TANGLE_DROP_WAIT_MAP);
	ti = bpf_map_lookup_elem(&threads, &tid);
	if (ti)
		ti->in_wait = 1;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(TANGLE_DROP_RINGBUF);
		return;
	}
	fill_hdr(&e->hdr, TANGLE_EV_WAIT_BEGIN, sizeof(*e), now, pid, tid);
	e->uaddr = uaddr;
	e->uaddr2 = uaddr2;
	e->op = op;
	e->val = val;
	e->val3 = val3;
	e->flags = flags;
	e->sys = sys;
	e->nr_futexes = nr;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	submit(e);
}

SEC("tracepoint/syscalls/sys_enter_futex")
int tg_futex_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 op = ctx->args[1], cmd = op & FUTEX_CMD_MASK, pid, tid;

	if (cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_LOCK_PI &&
	    cmd != FUTEX_LOCK_PI2 && cmd != FUTEX_WAIT_REQUEUE_PI)
		return 0;
	if (!current_wanted(&pid, &tid))
		return 0;
	begin_wait(pid, tid, ctx->args[0], ctx->args[4], op, ctx->args[2], ctx->args[5],
		   ctx->args[3] ? TANGLE_WAIT_F_TIMEOUT : 0, TANGLE_SYS_FUTEX, 1);
	return 0;
}

/* futex_wait(uaddr, val, mask, flags, timeout, clockid), Linux 6.7+ */
SEC("tracepoint/syscalls/sys_enter_futex_wait")
int tg_futex_wait_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid, tid;

	if (!current_wanted(&pid, &tid))
		return 0;
	begin_wait(pid, tid, ctx->args[0], 0, ctx->args[3], ctx->args[1], ctx->args[2],
		   ctx->args[4] ? TANGLE_WAIT_F_TIMEOUT : 0, TANGLE_SYS_FUTEX_WAIT, 1);
	return 0;
}

/* futex_waitv(waiters, nr_futexes, flags, timeout, clockid), Linux 5.16+ */
SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int tg_futex_waitv_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct futex_waitv first = {};
	__u32 pid, tid, nr = ctx->args[1];
	__u16 flags = ctx->args[3] ? TANGLE_WAIT_F_TIMEOUT : 0;

	if (!current_wanted(&pid, &tid))
		return 0;
	if (bpf_probe_read_user(&first, sizeof(first), (void *)ctx->args[0]))
		flags |= TANGLE_WAIT_F_UADDR_FAULT;
	begin_wait(pid, tid, first.uaddr, 0, ctx->args[2], first.val, 0, flags,
		   TANGLE_SYS_FUTEX_WAITV, nr > 255 ? 255 : nr);
	return 0;
}

/* One exit path for all three: only threads with a recorded wait emit. */
static __always_inline void end_wait(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct tangle_wait_info *wi = bpf_map_lookup_elem(&waits, &tid);
	struct tangle_ev_wait_end *e;
	struct tangle_thread_info *ti;

	if (!wi)
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		fill_hdr(&e->hdr, TANGLE_EV_WAIT_END, sizeof(*e), bpf_ktime_get_ns(), id >> 32,
			 tid);
		e->uaddr = wi->uaddr;
		e->begin_ns = wi->begin_ns;
		e->ret = ret;
		e->op = wi->op;
		e->flags = wi->flags;
		e->sys = wi->sys;
		e->__pad = 0;
		e->waker_pid = wi->waker_pid;
		e->waker_tid = wi->waker_tid;
		submit(e);
	} else {
		count_drop(TANGLE_DROP_RINGBUF);
	}
	bpf_map_delete_elem(&waits, &tid);
	ti = bpf_map_lookup_elem(&threads, &tid);
	if (ti)
		ti->in_wait = 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int tg_futex_exit(struct trace_event_raw_sys_exit *ctx)
{
	end_wait(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex_wait")
int tg_futex_wait_exit(struct trace_event_raw_sys_exit *ctx)
{
	end_wait(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex_waitv")
int tg_futex_waitv_exit(struct trace_event_raw_sys_exit *ctx)
{
	end_wait(ctx->ret);
	return 0;
}

/*
 * iter/task, attached by userspace for one tid at a time: the registers a
 * blocked thread saved at syscall entry and its kernel stack, so its user
 * stack can be unwound from outside without stopping it.
 */
SEC("iter/task")
int tg_task_regs(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct tangle_task_regs *out;
	struct pt_regs *regs;
	__u32 zero = 0;
	long n;

	if (!task)
		return 0;
	out = bpf_map_lookup_elem(&task_regs_buf, &zero);
	if (!out)
		return 0;
	__builtin_memset(out, 0, sizeof(*out));
	out->pid = task->tgid;
	out->tid = task->pid;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (regs) {
		out->ip = BPF_CORE_READ(regs, ip);
		out->sp = BPF_CORE_READ(regs, sp);
		out->bp = BPF_CORE_READ(regs, bp);
		out->bx = BPF_CORE_READ(regs, bx);
		out->r12 = BPF_CORE_READ(regs, r12);
		out->r13 = BPF_CORE_READ(regs, r13);
		out->r14 = BPF_CORE_READ(regs, r14);
		out->r15 = BPF_CORE_READ(regs, r15);
	}
	n = bpf_get_task_stack(task, out->kstack, sizeof(out->kstack), 0);
	out->kstack_bytes = n > 0 ? n : 0;
	bpf_seq_write(ctx->meta->seq, out, sizeof(*out));
	return 0;
}
