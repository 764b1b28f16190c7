// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "consumer.h"
#include "hmap.h"
#include "ksyms.h"
#include "log.h"
#include "stacks.h"

#define STACKS_MAX 1024 /* cached stacks; beyond that the oldest are not kept */

struct stacks {
	struct consumer *consumer;
	struct unwinder *unwinder;
	struct ksyms *ksyms; /* loaded at the first kernel stack: parsing kallsyms is not free */
	bool ksyms_tried;
	struct hmap *by_tid; /* tid -> struct stack */
};

struct stacks *stacks__new(struct consumer *c)
{
	struct stacks *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->consumer = c;
	s->unwinder = unwinder__new("/proc");
	s->by_tid = hmap__new();
	if (!s->unwinder || !s->by_tid) {
		stacks__free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void stacks__free(struct stacks *s)
{
	void *v;
	size_t it = 0;

	if (!s)
		return;
	if (s->by_tid)
		while (hmap__next(s->by_tid, &it, NULL, &v))
			free(v);
	hmap__free(s->by_tid);
	unwinder__free(s->unwinder);
	ksyms__free(s->ksyms);
	free(s);
}

static void kernel_frames(struct stacks *s, const struct tangle_task_regs *r, struct stack *st)
{
	size_t n = r->kstack_bytes / sizeof(r->kstack[0]);

	if (n > TANGLE_KSTACK_MAX)
		n = TANGLE_KSTACK_MAX;
	if (n && !s->ksyms_tried) {
		s->ksyms = ksyms__load(); /* NULL or empty: kernel frames stay addresses */
		s->ksyms_tried = true;
	}
	for (size_t i = 0; i < n && st->nr_kernel < sizeof(st->kernel) / sizeof(st->kernel[0]);
	     i++) {
		struct frame *f = &st->kernel[st->nr_kernel++];
		const char *name;

		memset(f, 0, sizeof(*f));
		f->addr = r->kstack[i];
		name = s->ksyms ? ksyms__name(s->ksyms, f->addr, &f->offset) : NULL;
		if (name)
			snprintf(f->function, sizeof(f->function), "%s", name);
		snprintf(f->module, sizeof(f->module), "[kernel]");
	}
}

const struct stack *stacks__get(struct stacks *s, uint32_t pid, uint32_t tid, uint64_t since_ns)
{
	struct stack *st = hmap__get(s->by_tid, tid);
	struct tangle_task_regs r;
	struct user_regs regs;
	uint64_t t0;

	if (st && st->wait_since_ns == since_ns)
		return st;
	t0 = now_ns();
	if (!st) {
		if (hmap__len(s->by_tid) >= STACKS_MAX)
			return NULL;
		st = calloc(1, sizeof(*st));
		if (!st || hmap__set(s->by_tid, tid, st)) {
			free(st);
			return NULL;
		}
	}
	memset(st, 0, sizeof(*st));
	st->wait_since_ns = since_ns;
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
	kernel_frames(s, &r, st);
	log_debug("stack of tid %u: %zu user and %zu kernel frames in %llu us", tid, st->nr_user,
		  st->nr_kernel, (unsigned long long)(now_ns() - t0) / 1000);
	return st;
}

const struct stack *stacks__peek(struct stacks *s, uint32_t tid, uint64_t since_ns)
{
	struct stack *st = hmap__get(s->by_tid, tid);

	return st && st->wait_since_ns == since_ns ? st : NULL;
}

void stacks__forget(struct stacks *s, uint32_t tid)
{
	free(hmap__del(s->by_tid, tid));
}

void stacks__forget_process(struct stacks *s, uint32_t pid)
{
	unwinder__forget(s->unwinder, pid);
}
