// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle lockorder`: uprobes on the pthread mutex and rwlock entry points of
 * one process (attached by src/lockprobe.c with that pid, so no other process
 * pays anything). Per thread, the locks it holds, in task storage: the
 * kernel frees it when the thread exits, so a new thread that reuses the tid
 * never inherits a dead thread's locks. Per process, the lock-order edges
 * seen ("B taken while A held"); an edge reaches userspace once, with the
 * registers and a copy of the stack for a DWARF unwind, and after that only
 * bumps its counter here.
 *
 * What counts as an edge (the rules of ThreadSanitizer's deadlock detector):
 *  - a lock call (mutex_lock, rwlock_rdlock/wrlock) adds an edge from every
 *    lock the thread holds, before it may block: an inversion is seen even on
 *    the run where it does deadlock;
 *  - a trylock or timed lock never adds an edge (it backs off instead of
 *    waiting forever), but once it got the lock, the lock is held and later
 *    locks get edges from it; its result comes from a uretprobe;
 *  - taking a lock the thread already holds (a recursive mutex, a read lock
 *    taken twice) only counts the depth: no edge, no self-loop;
 *  - unlocks may come in any order: the lock leaves the held set wherever it
 *    sits in it (the set has no order: edges come from every lock in it).
 * A lock is an address and a generation: pthread_*_init and _destroy bump the
 * generation, so a lock made where a destroyed one lived is a new node.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "lockorder_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define BPF_LOCAL_STORAGE_GET_F_CREATE 1
#define USTACK_CHUNK 512
#define EEXIST 17

/* Set by userspace before load. */
const volatile __u32 target_tgid = 0;

struct held {
	__u32 n;
	__u32 pad;
	struct lo_lock_ref pending; /* a trylock or timed lock in flight (addr 0: none) */
	struct lo_lock_ref l[LO_MAX_HELD];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct held);
} held SEC(".maps");

struct edge_val {
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by userspace (--max-edges) */
	__type(key, struct lo_edge_key);
	__type(value, struct edge_val);
} edges SEC(".maps");

/* Lock generations: only addresses that were initialized or destroyed are here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} gens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LO_STAT_NR);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &which);

	if (n)
		*n += 1;
}

static __always_inline bool ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline struct held *held_of_current(bool create)
{
	return bpf_task_storage_get(&held, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline __u32 gen_of(__u64 addr)
{
	__u32 *g = bpf_map_lookup_elem(&gens, &addr);

	return g ? *g : 0;
}

static __always_inline void fill_hdr(struct lo_ev_hdr *h, __u32 type)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->pad = 0;
	h->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* The stack from sp up; near the top of its mapping, as many whole chunks as can be read. */
static __always_inline __u32 copy_stack(__u8 *dst, __u64 sp)
{
	__u32 i;

	if (!bpf_probe_read_user(dst, LO_USTACK_BYTES, (void *)sp))
		return LO_USTACK_BYTES;
	for (i = 0; i < LO_USTACK_BYTES / USTACK_CHUNK; i++)
		if (bpf_probe_read_user(dst + i * USTACK_CHUNK, USTACK_CHUNK,
					(void *)(sp + i * USTACK_CHUNK)))
			break;
	return i * USTACK_CHUNK;
}

static __always_inline void emit_edge(struct pt_regs *ctx, const struct lo_lock_ref *from,
				      const struct lo_lock_ref *to, __u32 nr_held)
{
	struct lo_ev_edge *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		stat(LO_STAT_EVENTS_LOST);
		return;
	}
	fill_hdr(&e->hdr, LO_EV_EDGE);
	e->from = *from;
	e->to = *to;
	e->nr_held = nr_held;
	e->regs.ip = ctx->ip;
	e->regs.sp = ctx->sp;
	e->regs.bp = ctx->bp;
	e->regs.bx = ctx->bx;
	e->regs.r12 = ctx->r12;
	e->regs.r13 = ctx->r13;
	e->regs.r14 = ctx->r14;
	e->regs.r15 = ctx->r15;
	e->stack_bytes = copy_stack(e->stack, ctx->sp);
	bpf_ringbuf_submit(e, 0);
}

/* An edge from every lock held to the one being taken; new ones go to userspace. */
static __always_inline void add_edges(struct pt_regs *ctx, struct held *h,
				      const struct lo_lock_ref *to)
{
	struct lo_edge_key k = {};
	struct edge_val one = { .count = 1 }, *v;
	__u32 n = h->n;
	int err;

	k.to_addr = to->addr;
	k.to_gen = to->gen;
	k.to_mode = to->mode;
	for (__u32 i = 0; i < LO_MAX_HELD; i++) {
		if (i >= n)
			break;
		k.from_addr = h->l[i].addr;
		k.from_gen = h->l[i].gen;
		k.from_mode = h->l[i].mode;
		v = bpf_map_lookup_elem(&edges, &k);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			continue;
		}
		err = bpf_map_update_elem(&edges, &k, &one, BPF_NOEXIST);
		if (err == -EEXIST)
			continue; /* another thread added it just now */
		if (err) {
			stat(LO_STAT_EDGES_FULL);
			continue;
		}
		emit_edge(ctx, &h->l[i], to, n);
	}
}

/* The slot of addr in the held set, or LO_MAX_HELD. */
static __always_inline __u32 find_held(const struct held *h, __u64 addr, __u32 gen)
{
	__u32 n = h->n;

	for (__u32 i = 0; i < LO_MAX_HELD; i++) {
		if (i >= n)
			break;
		if (h->l[i].addr == addr && h->l[i].gen == gen)
			return i;
	}
	return LO_MAX_HELD;
}

static __always_inline void push_held(struct held *h, const struct lo_lock_ref *r)
{
	__u32 n = h->n;

	if (n >= LO_MAX_HELD) {
		stat(LO_STAT_HELD_OVERFLOW);
		return;
	}
	h->l[n] = *r;
	h->l[n].depth = 1;
	h->n = n + 1;
}

/* Hold r, at slot if the thread holds it already (recursion: one more depth), else anew. */
static __always_inline void hold(struct held *h, const struct lo_lock_ref *r, __u32 slot)
{
	if (slot < LO_MAX_HELD) {
		if (h->l[slot].depth < 255)
			h->l[slot].depth++;
		return;
	}
	push_held(h, r);
}

static __always_inline __u64 return_address(struct pt_regs *ctx)
{
	__u64 ret = 0;

	/* every probe sits before the function's first push: the return address is at sp */
	bpf_probe_read_user(&ret, sizeof(ret), (void *)ctx->sp);
	return ret;
}

static __always_inline int acquire(struct pt_regs *ctx, __u8 kind, __u8 mode)
{
	struct lo_lock_ref r = {};
	struct held *h;
	__u32 slot;

	if (!ours())
		return 0;
	h = held_of_current(true);
	if (!h)
		return 0;
	r.addr = ctx->di;
	r.gen = gen_of(r.addr);
	r.kind = kind;
	r.mode = mode;
	r.site = return_address(ctx);
	stat(LO_STAT_ACQUIRE);
	slot = find_held(h, r.addr, r.gen);
	/* re-taking a held lock (recursion) adds no edge */
	if (slot >= LO_MAX_HELD)
		add_edges(ctx, h, &r);
	hold(h, &r, slot);
	return 0;
}

/* A trylock or timed lock: remembered until its uretprobe says whether it got the lock. */
static __always_inline int try_begin(struct pt_regs *ctx, __u8 kind, __u8 mode)
{
	struct held *h;

	if (!ours())
		return 0;
	h = held_of_current(true);
	if (!h)
		return 0;
	h->pending.addr = ctx->di;
	h->pending.gen = gen_of(ctx->di);
	h->pending.kind = kind;
	h->pending.mode = mode;
	h->pending.try_taken = 1;
	h->pending.site = return_address(ctx);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(lo_try_ret, int ret)
{
	struct lo_lock_ref r;
	struct held *h;

	if (!ours())
		return 0;
	h = held_of_current(false);
	if (!h || !h->pending.addr)
		return 0;
	r = h->pending;
	h->pending.addr = 0;
	if (ret != 0) {
		stat(LO_STAT_TRY_FAILED);
		return 0;
	}
	stat(LO_STAT_ACQUIRE);
	hold(h, &r, find_held(h, r.addr, r.gen));
	return 0;
}

static __always_inline int release(struct pt_regs *ctx)
{
	__u64 addr = ctx->di;
	struct held *h;
	__u32 slot, n, last;

	if (!ours())
		return 0;
	h = held_of_current(false);
	if (!h) {
		stat(LO_STAT_UNKNOWN_RELEASE);
		return 0;
	}
	/* the generation is not looked up: a thread holds one lifetime of an address at most */
	n = h->n;
	slot = LO_MAX_HELD;
	for (__u32 i = 0; i < LO_MAX_HELD; i++) {
		if (i >= n)
			break;
		if (h->l[i].addr == addr) {
			slot = i;
			break;
		}
	}
	if (slot >= LO_MAX_HELD || n == 0 || n > LO_MAX_HELD) {
		stat(LO_STAT_UNKNOWN_RELEASE);
		return 0;
	}
	stat(LO_STAT_RELEASE);
	if (h->l[slot].depth > 1) {
		h->l[slot].depth--;
		return 0;
	}
	/* out of order is fine: the last one takes its place (the set has no order) */
	last = n - 1;
	asm volatile("" : "+r"(last)); /* keep the mask below for the verifier */
	last &= LO_MAX_HELD - 1;
	slot &= LO_MAX_HELD - 1;
	if (slot != last)
		h->l[slot] = h->l[last];
	h->n = n - 1;
	return 0;
}

/* pthread_*_init and _destroy: whatever lives at that address from now on is another lock. */
static __always_inline int new_generation(struct pt_regs *ctx)
{
	__u64 addr = ctx->di;
	__u32 one = 1, *g;

	if (!ours())
		return 0;
	stat(LO_STAT_GENERATIONS);
	g = bpf_map_lookup_elem(&gens, &addr);
	if (g)
		__sync_fetch_and_add(g, 1);
	else
		bpf_map_update_elem(&gens, &addr, &one, BPF_NOEXIST);
	return 0;
}

SEC("uprobe")
int lo_mutex_lock(struct pt_regs *ctx)
{
	return acquire(ctx, LO_KIND_MUTEX, LO_MODE_WRITE);
}

SEC("uprobe")
int lo_mutex_try(struct pt_regs *ctx)
{
	return try_begin(ctx, LO_KIND_MUTEX, LO_MODE_WRITE);
}

SEC("uprobe")
int lo_rdlock(struct pt_regs *ctx)
{
	return acquire(ctx, LO_KIND_RWLOCK, LO_MODE_READ);
}

SEC("uprobe")
int lo_wrlock(struct pt_regs *ctx)
{
	return acquire(ctx, LO_KIND_RWLOCK, LO_MODE_WRITE);
}

SEC("uprobe")
int lo_tryrdlock(struct pt_regs *ctx)
{
	return try_begin(ctx, LO_KIND_RWLOCK, LO_MODE_READ);
}

SEC("uprobe")
int lo_trywrlock(struct pt_regs *ctx)
{
	return try_begin(ctx, LO_KIND_RWLOCK, LO_MODE_WRITE);
}

SEC("uprobe")
int lo_unlock(struct pt_regs *ctx)
{
	return release(ctx);
}

SEC("uprobe")
int lo_lifetime(struct pt_regs *ctx)
{
	return new_generation(ctx);
}

/* A thread that exits holding locks: reported (its held set goes with its task storage). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(lo_exit, struct task_struct *p)
{
	struct lo_ev_exit_held *e;
	struct held *h;
	__u32 n;

	if (!ours())
		return 0;
	h = bpf_task_storage_get(&held, p, 0, 0);
	if (!h || !h->n)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat(LO_STAT_EVENTS_LOST);
		return 0;
	}
	fill_hdr(&e->hdr, LO_EV_EXIT_HELD);
	n = h->n;
	e->nr_held = n;
	e->pad = 0;
	for (__u32 i = 0; i < LO_MAX_HELD; i++) {
		if (i < n)
			e->held[i] = h->l[i];
		else
			__builtin_memset(&e->held[i], 0, sizeof(e->held[i]));
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}
