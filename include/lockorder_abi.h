/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Events of `tangle lockorder` (bpf/lockorder.bpf.c -> src/lockprobe.c).
 *
 * The BPF side keeps, per thread, the pthread locks it holds (task storage,
 * freed by the kernel when the thread exits) and the set of lock-order edges
 * seen so far ("lock B taken while holding A"). Only what is new reaches
 * userspace: an edge the first time it is seen (with the registers and a
 * copy of the stack, for a DWARF unwind), a thread that exits holding locks.
 * Repeats of a known edge only bump its counter in the edges map.
 */
#ifndef TANGLE_LOCKORDER_ABI_H
#define TANGLE_LOCKORDER_ABI_H

#ifdef __bpf__
#include "vmlinux.h"
#else
#include <linux/types.h>
#endif

#define LO_MAX_HELD 16 /* locks one thread holds at once, as far as the graph goes */
#define LO_USTACK_BYTES 4096
#define LO_COMM_LEN 16

enum lo_event_type {
	LO_EV_EDGE = 1,
	LO_EV_EXIT_HELD = 2,
};

enum lo_kind {
	LO_KIND_MUTEX = 0,
	LO_KIND_RWLOCK = 1,
};

enum lo_mode {
	LO_MODE_WRITE = 0, /* a mutex, or a rwlock taken for writing */
	LO_MODE_READ = 1,
};

/* Counters in the stats array map. */
enum lo_stat {
	LO_STAT_ACQUIRE = 0, /* lock calls seen (trylocks that succeeded included) */
	LO_STAT_RELEASE, /* unlocks of a lock the thread was known to hold */
	LO_STAT_UNKNOWN_RELEASE, /* unlocks of a lock taken before tangle attached, or lost */
	LO_STAT_HELD_OVERFLOW, /* acquisitions past LO_MAX_HELD: no edges from them */
	LO_STAT_EDGES_FULL, /* new edges the edges map had no room for */
	LO_STAT_EVENTS_LOST, /* events the ring buffer had no room for */
	LO_STAT_TRY_FAILED, /* trylocks (and timed locks) that did not get the lock */
	LO_STAT_GENERATIONS, /* locks initialized or destroyed (new lock at an address) */
	LO_STAT_NR,
};

/* A lock as one lifetime of a lock object: the address and how many times it was (re)made. */
struct lo_lock_ref {
	__u64 addr;
	__u32 gen; /* bumped by pthread_*_init and _destroy on that address */
	__u8 kind; /* enum lo_kind */
	__u8 mode; /* enum lo_mode */
	__u8 try_taken; /* taken by a trylock or timed lock */
	__u8 depth; /* recursive holds of it (BPF side only) */
	__u64 site; /* return address of the call that took it (0 if unknown) */
};

/* Key of the edges map: B (to) was taken while A (from) was held, in these modes. */
struct lo_edge_key {
	__u64 from_addr;
	__u64 to_addr;
	__u32 from_gen;
	__u32 to_gen;
	__u8 from_mode;
	__u8 to_mode;
	__u8 pad[6];
};

struct lo_ev_hdr {
	__u32 type; /* enum lo_event_type */
	__u32 pid;
	__u32 tid;
	__u32 pad;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	char comm[LO_COMM_LEN];
};

/* The user registers an unwind needs, at the probe. */
struct lo_regs {
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
};

struct lo_ev_edge {
	struct lo_ev_hdr hdr;
	struct lo_lock_ref from; /* held */
	struct lo_lock_ref to; /* being taken */
	__u32 nr_held; /* locks held, from included */
	__u32 stack_bytes; /* valid bytes of stack[] (from regs.sp up) */
	struct lo_regs regs;
	__u8 stack[LO_USTACK_BYTES];
};

struct lo_ev_exit_held {
	struct lo_ev_hdr hdr;
	__u32 nr_held;
	__u32 pad;
	struct lo_lock_ref held[LO_MAX_HELD];
};

_Static_assert(sizeof(struct lo_lock_ref) == 24, "lo_lock_ref size");
_Static_assert(sizeof(struct lo_edge_key) == 32, "lo_edge_key size");
_Static_assert(sizeof(struct lo_ev_edge) == 40 + 48 + 8 + 64 + LO_USTACK_BYTES, "lo_ev_edge size");

#endif
