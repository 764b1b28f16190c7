/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stacks of waiting threads, two ways.
 *
 * Captured at the start (stream --stacks and --folded): BPF sends the user
 * registers and a copy of the stack above sp as the wait begins
 * (include/tangle_abi.h). They are kept per thread and unwound with DWARF
 * CFI from that copy when a view asks for the stack, so even a wait of a few
 * microseconds gets its stack. At high wait rates only one wait in N is
 * captured (N adapts to keep the unwinding cost bounded); each stack says
 * its N. The kernel stack is not captured (a futex wait's is always the
 * futex path, and costs more to take than the user stack): stacks__get()
 * adds it to a captured stack while the wait lasts.
 *
 * Taken lazily (always available): a thread blocked in a futex wait keeps
 * its stack and its saved registers unchanged, so for a wait that was not
 * captured (it began before tangle started, capture is off, or it was
 * sampled out) tangle asks for them only when it shows the wait: the
 * registers from a BPF task iterator, the stack memory from
 * process_vm_readv.
 *
 * Either way the stack is kept for that wait until it ends.
 */
#ifndef TANGLE_STACKS_H
#define TANGLE_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "unwind.h"

struct consumer;
struct stacks;

struct stack {
	uint64_t wait_since_ns; /* the wait this stack belongs to */
	/*
	 * 0: taken lazily while the wait lasted. N >= 1: captured as the wait
	 * began, when one wait in N was being captured (it stands for N waits).
	 */
	uint32_t sample_every;
	bool truncated; /* the unwind went past the captured window: outer frames missing */
	bool kernel_taken; /* the kernel stack was asked for (nr_kernel may still be 0) */
	size_t nr_user;
	struct frame user[UNWIND_MAX_FRAMES];
	size_t nr_kernel;
	struct frame kernel[32];
};

/* Registers with c for stack captures when c captures them. NULL and errno on failure. */
struct stacks *stacks__new(struct consumer *c);
void stacks__free(struct stacks *s);
/*
 * The stack of thread tid of pid in its wait that began at since_ns: the
 * captured one (with the kernel stack taken now), else taken now if not
 * known yet. NULL if it cannot be had (the thread is gone).
 */
const struct stack *stacks__get(struct stacks *s, uint32_t pid, uint32_t tid, uint64_t since_ns);
/*
 * The stack already known for that wait, or NULL: never asks the kernel (a
 * capture is unwound on first use). A captured wait always has one, with no
 * frames if it could not be unwound (its process is gone).
 */
const struct stack *stacks__peek(struct stacks *s, uint32_t tid, uint64_t since_ns);
/* The thread's wait ended or it exited: its stack is stale. */
void stacks__forget(struct stacks *s, uint32_t tid);
/* The process exec'd or exited: its binaries may have changed. */
void stacks__forget_process(struct stacks *s, uint32_t pid);
/* Unwind about per_s captured stacks a second at most, sampling waits beyond (0: all). */
void stacks__set_rate(struct stacks *s, unsigned int per_s);
/* Once a tick: adapt the sampling of captures to the rate waits come at. */
void stacks__tick(struct stacks *s, uint64_t now);

#endif
