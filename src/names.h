/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How views get names and stacks without doing I/O themselves: the session
 * hands them these lookups (where a lock lives, stacks of waits).
 */
#ifndef TANGLE_NAMES_H
#define TANGLE_NAMES_H

#include <stdint.h>

struct addr_place;
struct stack;

struct names {
	/* where addr lives in pid (see symbols.h), or NULL; valid until the next call */
	const struct addr_place *(*place)(uint32_t pid, uint64_t addr, void *ctx);
	/* the stack of tid in its wait that began at since_ns, or NULL */
	const struct stack *(*stack)(uint32_t pid, uint32_t tid, uint64_t since_ns, void *ctx);
	void *ctx;
};

#endif
