/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The event ABI between tangle's BPF programs and its collector.
 *
 * Every record the BPF side writes to the ring buffer starts with a
 * struct tangle_ev_hdr; hdr.type says which struct follows and hdr.size is the
 * full record size. The same bytes are the record-file format (issue 9), so
 * the layout is fixed-width, explicitly padded, size-checked below, and
 * versioned by TANGLE_ABI_VERSION: change a struct, bump the version.
 */
#ifndef TANGLE_ABI_H
#define TANGLE_ABI_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

#define TANGLE_ABI_VERSION 3
#define TANGLE_COMM_LEN 16

enum tangle_ev_type {
	TANGLE_EV_WAIT_BEGIN = 1,
	TANGLE_EV_WAIT_END = 2,
	TANGLE_EV_FORK = 3,
	TANGLE_EV_EXEC = 4,
	TANGLE_EV_EXIT = 5,
	TANGLE_EV_RENAME = 6,
	TANGLE_EV_USTACK = 7, /* user registers and stack at a wait's start (--stacks) */
	TANGLE_EV_TYPE_MAX,
};

/* Which syscall a wait came through. */
enum tangle_wait_sys {
	TANGLE_SYS_FUTEX = 0, /* futex(2) */
	TANGLE_SYS_FUTEX_WAIT = 1, /* futex_wait(2), futex2 */
	TANGLE_SYS_FUTEX_WAITV = 2, /* futex_waitv(2) */
};

/* Thread states kept in the BPF thread map. */
enum tangle_thread_state {
	TANGLE_TS_UNKNOWN = 0,
	TANGLE_TS_RUNNING = 1,
	TANGLE_TS_RUNNABLE = 2,
	TANGLE_TS_SLEEPING = 3, /* interruptible sleep (S) */
	TANGLE_TS_DISK = 4, /* uninterruptible (D) */
	TANGLE_TS_STOPPED = 5,
	TANGLE_TS_DEAD = 6,
};

/* Drop counters, one per reason, per CPU. */
enum tangle_drop_reason {
	TANGLE_DROP_RINGBUF = 0, /* ring buffer full: an event was lost */
	TANGLE_DROP_THREAD_MAP = 1, /* thread state map full: a thread is untracked */
	TANGLE_DROP_WAIT_MAP = 2, /* wait map full: a wait is untracked */
	TANGLE_DROP_MAX,
};

/* Flags of struct tangle_ev_wait_begin / wait_end. */
#define TANGLE_WAIT_F_TIMEOUT 0x1 /* the wait had a timeout */
#define TANGLE_WAIT_F_PREBLOCKED 0x2 /* began before tangle attached (seeded from /proc) */
#define TANGLE_WAIT_F_UADDR_FAULT 0x4 /* futex_waitv: could not read the first waiter */

/* Flags of struct tangle_ev_task. */
#define TANGLE_TASK_F_THREAD 0x1 /* fork created a thread (same tgid), not a process */
#define TANGLE_TASK_F_GROUP_DEAD 0x2 /* exit: last thread of the process */

struct tangle_ev_hdr {
	__u16 type;
	__u16 size;
	__u32 cpu;
	__u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 pid; /* tgid */
	__u32 tid;
};

struct tangle_ev_wait_begin {
	struct tangle_ev_hdr hdr;
	__u64 uaddr; /* futex word (first one for futex_waitv) */
	__u64 uaddr2;
	__u32 op; /* raw futex op incl. FUTEX_PRIVATE_FLAG etc.; futex2: flags */
	__u32 val; /* expected value */
	__u32 val3; /* bitset for *_BITSET */
	__u16 flags; /* TANGLE_WAIT_F_* */
	__u8 sys; /* enum tangle_wait_sys */
	__u8 nr_futexes; /* futex_waitv: number of futexes (saturated at 255) */
	char comm[TANGLE_COMM_LEN];
};

struct tangle_ev_wait_end {
	struct tangle_ev_hdr hdr;
	__u64 uaddr;
	__u64 begin_ns; /* 0 when the wait began before tangle attached */
	__s64 ret; /* syscall return value: 0 or -errno */
	__u32 op;
	__u16 flags;
	__u8 sys;
	__u8 __pad;
	/* the last task that woke it during the wait (sched_waking), 0 if none */
	__u32 waker_pid;
	__u32 waker_tid;
};

/* fork / exec / exit / rename. hdr.pid/tid name the task the event is about. */
struct tangle_ev_task {
	struct tangle_ev_hdr hdr;
	__u32 parent_pid; /* fork: the creator's tgid */
	__u32 parent_tid; /* fork: the creator's tid */
	__s32 exit_code; /* exit: task->exit_code (status << 8 | signal) */
	__u32 flags; /* TANGLE_TASK_F_* */
	char comm[TANGLE_COMM_LEN];
	char old_comm[TANGLE_COMM_LEN]; /* rename: previous name; exec: name before exec */
};

/* Value of the BPF thread-state map, keyed by tid; read by userspace. */
struct tangle_thread_info {
	__u32 pid;
	__u8 state; /* enum tangle_thread_state */
	__u8 in_wait; /* inside a tracked futex wait */
	__u16 __pad;
	__u64 state_since_ns; /* when state last changed */
	__u64 run_ns; /* total on-CPU time while tracked */
	__u64 blocked_ns; /* total time off-CPU in S or D while tracked */
	__u64 nr_switches;
};

#define TANGLE_KSTACK_MAX 32

/*
 * What the iter/task program reports of one thread, on demand: its user
 * registers as saved at kernel entry (for a thread blocked in a syscall,
 * exactly what unwinding its stack needs) and its kernel stack. Read when
 * tangle wants a stack, never on a hot path.
 */
struct tangle_task_regs {
	__u32 pid;
	__u32 tid;
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u32 kstack_bytes; /* bytes of kstack filled */
	__u32 __pad;
	__u64 kstack[TANGLE_KSTACK_MAX];
};

/* Value of the BPF wait map, keyed by tid: the futex wait in progress. */
struct tangle_wait_info {
	__u64 uaddr;
	__u64 begin_ns;
	__u32 op;
	__u16 flags;
	__u8 sys;
	__u8 __pad;
	__u32 waker_pid; /* the last task that woke the waiter, 0 until one does */
	__u32 waker_tid;
	__u32 val, val3; /* as in the wait_begin event: a lost one is rebuilt from this */
};

/*
 * Bytes of user stack copied from sp when a wait begins (stream --stacks and
 * --folded only). The CFI unwinds of the usual ways into a futex wait read
 * 200-800 bytes from a thread's start (pthread mutex, condvar, rwlock and
 * join; C++, Rust, Python, Go's runtime) and up to 2.5 KiB from main(); an
 * unwind that needs more loses its outermost frames. Each KiB costs about
 * half a microsecond per captured wait (bench/overhead.py).
 */
#define TANGLE_USTACK_BYTES 4096

/*
 * The user side of a wait's stack, sent just before its wait_begin record
 * (hdr.ts_ns is the wait's begin, so the two pair up by tid and time): the
 * registers CFI needs to start from, as the thread entered the syscall, and a
 * copy of its stack from sp up. Userspace unwinds it later, when the stack
 * memory itself may have long changed.
 */
struct tangle_ev_ustack {
	struct tangle_ev_hdr hdr;
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u32 sample_every; /* one wait in sample_every was being captured */
	__u32 stack_bytes; /* bytes of stack[] that hold the copy (0: unreadable) */
	__u8 stack[TANGLE_USTACK_BYTES];
};

_Static_assert(sizeof(struct tangle_ev_hdr) == 24, "tangle_ev_hdr size");
_Static_assert(sizeof(struct tangle_ev_wait_begin) == 24 + 48, "tangle_ev_wait_begin size");
_Static_assert(sizeof(struct tangle_ev_wait_end) == 24 + 40, "tangle_ev_wait_end size");
_Static_assert(sizeof(struct tangle_ev_task) == 24 + 48, "tangle_ev_task size");
_Static_assert(sizeof(struct tangle_thread_info) == 40, "tangle_thread_info size");
_Static_assert(sizeof(struct tangle_wait_info) == 40, "tangle_wait_info size");
_Static_assert(sizeof(struct tangle_ev_ustack) == 24 + 64 + 8 + TANGLE_USTACK_BYTES,
	       "tangle_ev_ustack size");
_Static_assert(sizeof(struct tangle_ev_ustack) < 65536, "hdr.size is 16 bits");
_Static_assert(sizeof(struct tangle_task_regs) == 8 + 64 + 8 + 8 * TANGLE_KSTACK_MAX,
	       "tangle_task_regs size");

#endif /* TANGLE_ABI_H */
