// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "consumer.h"
#include "decode.h"
#include "hmap.h"
#include "ksyms.h"
#include "log.h"
#include "opts.h"
#include "stacks.h"

#define STACKS_MAX 1024 /* unwound stacks kept; beyond that no more are */
#define CAPTURES_MAX 4096 /* captures waiting to be unwound (threads in a captured wait) */
#define SAMPLE_WINDOW_NS 100000000ull
#define SAMPLE_EVERY_MAX (1u << 20)

/* One wait's capture, as BPF sent it, until it is unwound or the wait ends. */
struct capture {
	struct tangle_ev_ustack u; /* u.hdr.ts_ns: the wait's begin; 0 once unwound */
};

struct stacks {
	struct consumer *consumer;
	struct unwinder *unwinder;
	struct ksyms *ksyms; /* loaded at the first kernel stack: parsing kallsyms is not free */
	bool ksyms_tried;
	struct hmap *by_tid; /* tid -> struct stack */
	struct hmap *captures; /* tid -> struct capture */
	/* sampling of captures: one wait in every, to unwind about rate a second (0: all) */
	unsigned int rate;
	uint32_t every;
	uint64_t window_start_ns;
	uint64_t window_waits; /* waits the captures of this window stand for */
	uint64_t window_captures;
	/* for -v */
	uint64_t nr_captures, nr_unwound, nr_truncated, nr_refused, unwind_ns, weight;
	size_t max_depth;
};

static int on_capture(void *ctx, const void *data, size_t len);

struct stacks *stacks__new(struct consumer *c)
{
	struct stacks *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->consumer = c;
	s->unwinder = unwinder__new("/proc");
	s->by_tid = hmap__new();
	s->captures = hmap__new();
	if (!s->unwinder || !s->by_tid || !s->captures) {
		stacks__free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->every = 1;
	s->rate = OPTS_STACK_RATE_DEFAULT;
	s->window_start_ns = now_ns();
	if (consumer__captures_stacks(c))
		consumer__on_stacks(c, on_capture, s);
	return s;
}

static void free_all(struct hmap *h)
{
	size_t it = 0;
	void *v;

	if (!h)
		return;
	while (hmap__next(h, &it, NULL, &v))
		free(v);
	hmap__free(h);
}

void stacks__free(struct stacks *s)
{
	if (!s)
		return;
	if (s->consumer && consumer__captures_stacks(s->consumer))
		log_debug(
			"stacks captured at wait start: %llu (of about %llu waits: one in %.1f), "
			"unwound %llu (mean %llu us), %llu cut short by the %u-byte window "
			"(deepest read %zu bytes), %llu not kept, %llu skipped in BPF (ring buffer "
			"busy)",
			(unsigned long long)s->nr_captures, (unsigned long long)s->weight,
			s->nr_captures ? (double)s->weight / (double)s->nr_captures : 0.0,
			(unsigned long long)s->nr_unwound,
			(unsigned long long)(s->nr_unwound ? s->unwind_ns / s->nr_unwound / 1000 :
							     0),
			(unsigned long long)s->nr_truncated, TANGLE_USTACK_BYTES, s->max_depth,
			(unsigned long long)s->nr_refused,
			(unsigned long long)consumer__stats(s->consumer)->stack_skips);
	if (s->consumer && consumer__captures_stacks(s->consumer))
		consumer__on_stacks(s->consumer, NULL, NULL);
	free_all(s->by_tid);
	free_all(s->captures);
	unwinder__free(s->unwinder);
	ksyms__free(s->ksyms);
	free(s);
}

static void kernel_frames(struct stacks *s, const __u64 *kstack, size_t bytes, struct stack *st)
{
	size_t n = bytes / sizeof(kstack[0]);
	uint64_t addrs[TANGLE_KSTACK_MAX];

	if (n > TANGLE_KSTACK_MAX)
		n = TANGLE_KSTACK_MAX;
	for (size_t i = 0; i < n; i++)
		addrs[i] = kstack[i];
	if (n && !s->ksyms_tried) {
		s->ksyms = ksyms__load(); /* NULL or empty: kernel frames stay addresses */
		s->ksyms_tried = true;
	}
	st->nr_kernel = ksyms__frames(s->ksyms, addrs, n, st->kernel,
				      sizeof(st->kernel) / sizeof(st->kernel[0]));
	st->kernel_taken = true;
}

/* The stack slot of tid, emptied, for the wait since since_ns; NULL when full. */
static struct stack *stack_slot(struct stacks *s, uint32_t tid, uint64_t since_ns)
{
	struct stack *st = hmap__get(s->by_tid, tid);

	if (!st) {
		if (hmap__len(s->by_tid) >= STACKS_MAX)
			return NULL;
		st = malloc(sizeof(*st));
		if (!st || hmap__set(s->by_tid, tid, st)) {
			free(st);
			return NULL;
		}
	}
	st->wait_since_ns = since_ns;
	st->sample_every = 0;
	st->truncated = false;
	st->kernel_taken = false;
	st->nr_user = st->nr_kernel = 0;
	return st;
}

/* Keep the sampling of captures near CAPTURES_PER_S: tell BPF when it changes. */
static void set_every(struct stacks *s, uint32_t every)
{
	if (every < 1)
		every = 1;
	if (every > SAMPLE_EVERY_MAX)
		every = SAMPLE_EVERY_MAX;
	if (every == s->every)
		return;
	log_debug("capturing the stack of one wait in %u (was one in %u)", every, s->every);
	s->every = every;
	consumer__set_stack_sampling(s->consumer, every);
}

static void count_capture(struct stacks *s, uint32_t every)
{
	s->nr_captures++;
	s->weight += every;
	s->window_waits += every;
	/*
	 * A burst: sample harder now rather than at the end of the window.
	 * Only captures taken at the current sampling count (the ring buffer
	 * still holds some taken before it changed).
	 */
	if (s->rate && every == s->every &&
	    ++s->window_captures > s->rate * SAMPLE_WINDOW_NS / 1000000000ull + 1 &&
	    s->every < SAMPLE_EVERY_MAX) {
		set_every(s, s->every * 2);
		s->window_captures = 0;
	}
}

void stacks__set_rate(struct stacks *s, unsigned int per_s)
{
	s->rate = per_s;
	if (!per_s)
		set_every(s, 1);
}

void stacks__tick(struct stacks *s, uint64_t now)
{
	uint64_t dt = now - s->window_start_ns, want;

	if (!s->rate || !consumer__captures_stacks(s->consumer) || now < s->window_start_ns ||
	    dt < SAMPLE_WINDOW_NS)
		return;
	/* waits per second, estimated from the captures and their sampling */
	want = (s->window_waits * 1000000000ull / dt + s->rate - 1) / s->rate;
	if (want > SAMPLE_EVERY_MAX)
		want = SAMPLE_EVERY_MAX;
	/* up at once, down by halves: a lull between bursts is not a new rate */
	set_every(s, want >= s->every ? (uint32_t)want :
					(uint32_t)(want > s->every / 2 ? want : s->every / 2));
	s->window_start_ns = now;
	s->window_waits = s->window_captures = 0;
}

/* A stack capture from the ring buffer: check it and keep it for its wait, nothing more. */
static int on_capture(void *ctx, const void *data, size_t len)
{
	struct stacks *s = ctx;
	struct tangle_ev_hdr h;
	struct capture *c;
	bool fresh;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, data, sizeof(h));
	c = hmap__get(s->captures, h.tid);
	fresh = !c;
	if (fresh) {
		if (hmap__len(s->captures) >= CAPTURES_MAX) {
			s->nr_refused++;
			return 0;
		}
		c = malloc(sizeof(*c));
		if (!c)
			return 0;
	}
	if (decode__ustack(data, len, &c->u)) {
		if (fresh)
			free(c);
		else
			free(hmap__del(s->captures, h.tid));
		return -EINVAL;
	}
	if (fresh && hmap__set(s->captures, h.tid, c)) {
		free(c);
		return 0;
	}
	count_capture(s, c->u.sample_every);
	return 0;
}

/* Unwind the capture of tid's wait since since_ns from its window, into its stack slot. */
static struct stack *unwind_capture(struct stacks *s, uint32_t tid, struct capture *c)
{
	const struct tangle_ev_ustack *u = &c->u;
	struct stack_window win = { .base = u->sp, .data = u->stack, .len = u->stack_bytes };
	struct user_regs regs = {
		.ip = u->ip,
		.sp = u->sp,
		.bp = u->bp,
		.bx = u->bx,
		.r12 = u->r12,
		.r13 = u->r13,
		.r14 = u->r14,
		.r15 = u->r15,
		.valid = UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 |
			 UREG_R15,
	};
	struct stack *st = stack_slot(s, tid, u->hdr.ts_ns);
	uint64_t t0 = now_ns();
	size_t depth = 0;

	if (!st)
		return NULL;
	st->sample_every = u->sample_every;
	if (u->sp && !unwinder__unwind_window(s->unwinder, u->hdr.pid, tid, &regs, &win, st->user,
					      UNWIND_MAX_FRAMES, &st->nr_user)) {
		st->truncated = unwinder__last_truncated(s->unwinder);
		depth = unwinder__last_depth(s->unwinder);
	}
	c->u.hdr.ts_ns = 0; /* unwound: st stands for it now */
	s->nr_unwound++;
	s->nr_truncated += st->truncated;
	s->unwind_ns += now_ns() - t0;
	if (depth > s->max_depth)
		s->max_depth = depth;
	if (log__verbose() > 1)
		log_debug("stack of tid %u from its wait start: %zu user frames, %zu bytes deep%s, "
			  "in %llu us",
			  tid, st->nr_user, depth, st->truncated ? " (cut short)" : "",
			  (unsigned long long)(now_ns() - t0) / 1000);
	return st;
}

const struct stack *stacks__peek(struct stacks *s, uint32_t tid, uint64_t since_ns)
{
	struct stack *st = hmap__get(s->by_tid, tid);
	struct capture *c;

	if (st && st->wait_since_ns == since_ns)
		return st;
	c = hmap__get(s->captures, tid);
	if (c && since_ns && c->u.hdr.ts_ns == since_ns)
		return unwind_capture(s, tid, c);
	return NULL;
}

/*
 * The lazy path: the thread's registers now (it still waits), its live stack
 * and its kernel stack; for a captured stack, only the kernel stack.
 */
const struct stack *stacks__get(struct stacks *s, uint32_t pid, uint32_t tid, uint64_t since_ns)
{
	struct stack *st = (struct stack *)stacks__peek(s, tid, since_ns);
	struct tangle_task_regs r;
	struct user_regs regs;
	uint64_t t0;

	if (st) {
		if (!st->kernel_taken && !consumer__task_regs(s->consumer, tid, &r) && r.pid == pid)
			kernel_frames(s, r.kstack, r.kstack_bytes, st);
		st->kernel_taken = true;
		return st;
	}
	t0 = now_ns();
	st = stack_slot(s, tid, since_ns);
	if (!st)
		return NULL;
	if (consumer__task_regs(s->consumer, tid, &r) || r.pid != pid) {
		free(hmap__del(s->by_tid, tid));
		return NULL;
	}
	regs = (struct user_regs){
		.ip = r.ip,
		.sp = r.sp,
		.bp = r.bp,
		.bx = r.bx,
		.r12 = r.r12,
		.r13 = r.r13,
		.r14 = r.r14,
		.r15 = r.r15,
		.valid = UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 |
			 UREG_R15,
	};
	if (r.sp)
		unwinder__unwind(s->unwinder, pid, tid, &regs, st->user, UNWIND_MAX_FRAMES,
				 &st->nr_user);
	kernel_frames(s, r.kstack, r.kstack_bytes, st);
	log_debug("stack of tid %u: %zu user and %zu kernel frames in %llu us (%zu bytes deep)",
		  tid, st->nr_user, st->nr_kernel, (unsigned long long)(now_ns() - t0) / 1000,
		  r.sp ? unwinder__last_depth(s->unwinder) : 0);
	return st;
}

void stacks__forget(struct stacks *s, uint32_t tid)
{
	free(hmap__del(s->by_tid, tid));
	free(hmap__del(s->captures, tid));
}

void stacks__forget_process(struct stacks *s, uint32_t pid)
{
	unwinder__forget(s->unwinder, pid);
}
