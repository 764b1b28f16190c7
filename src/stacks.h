/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stacks of waiting threads, taken lazily: a thread blocked in a futex wait
 * keeps its stack and its saved registers unchanged until the wait ends, so
 * tangle asks for them only when it shows a wait (a stuck group, the
 * dashboard's detail pane) and keeps the answer for that wait. Nothing is
 * added to the futex path: the registers come from a BPF task iterator, the
 * stack memory from process_vm_readv, the unwinding from DWARF CFI.
 */
#ifndef TANGLE_STACKS_H
#define TANGLE_STACKS_H

#include <stddef.h>
#include <stdint.h>
#include "unwind.h"

struct consumer;
struct stacks;

struct stack {
	uint64_t wait_since_ns; /* the wait this stack belongs to */
	size_t nr_user;
	struct frame user[UNWIND_MAX_FRAMES];
	size_t nr_kernel;
	struct frame kernel[32];
};

struct stacks *stacks__new(struct consumer *c);
void stacks__free(struct stacks *s);
/*
 * The stack of thread tid of pid in its wait that began at since_ns, taken
 * now if not known yet. NULL if it cannot be had (the thread is gone).
 */
const struct stack *stacks__get(struct stacks *s, uint32_t pid, uint32_t tid, uint64_t since_ns);
/* The stack already taken for that wait, or NULL: never takes one. */
const struct stack *stacks__peek(struct stacks *s, uint32_t tid, uint64_t since_ns);
/* The thread's wait ended or it exited: its stack is stale. */
void stacks__forget(struct stacks *s, uint32_t tid);
/* The process exec'd or exited: its binaries may have changed. */
void stacks__forget_process(struct stacks *s, uint32_t pid);

#endif
