/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Folded stacks of wait time: one line per distinct stack, root first,
 * frames separated by ';', then the microseconds spent waiting there, the
 * input of flamegraph.pl, inferno and speedscope. Plain C, no I/O but the
 * final write.
 */
#ifndef TANGLE_FOLDED_H
#define TANGLE_FOLDED_H

#include <stdint.h>
#include <stdio.h>
#include "unwind.h"

#define FOLDED_MAX_STACKS 65536 /* beyond this, waits go to one "[other stacks]" line */
/*
 * Waits shorter than this are counted only with a stack captured as they
 * began (possibly sampled); longer ones always, a lazily taken stack or not.
 */
#define FOLDED_SHORT_WAIT_NS 100000000ull

struct folded;

struct folded *folded__new(void);
void folded__free(struct folded *f);
/*
 * Count value_ns under comm and the stack (frames innermost first, as
 * unwound; NULL or n == 0: "[no stack]" with why). Returns 0 or -ENOMEM.
 */
int folded__add(struct folded *f, const char *comm, const struct frame *frames, size_t n,
		const char *why_none, uint64_t value_ns);
/* Every line, largest first. Returns 0 or -errno. */
int folded__write(const struct folded *f, FILE *out);

#endif
