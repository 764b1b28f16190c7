/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which threads to watch: the userspace twin of the BPF-side filter, used
 * where tangle looks at threads itself (the /proc scan).
 */
#ifndef TANGLE_FILTER_H
#define TANGLE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "tangle_abi.h"

#define FILTER_MAX_IDS 1024

struct filter {
	uint32_t pids[FILTER_MAX_IDS];
	size_t npids;
	uint32_t tids[FILTER_MAX_IDS];
	size_t ntids;
	char comm[TANGLE_COMM_LEN]; /* "" for any */
};

static inline bool filter__has(const uint32_t *ids, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static inline bool filter__match(const struct filter *f, uint32_t pid, uint32_t tid,
				 const char *comm)
{
	if (f->npids && !filter__has(f->pids, f->npids, pid))
		return false;
	if (f->ntids && !filter__has(f->tids, f->ntids, tid))
		return false;
	if (f->comm[0] && strncmp(f->comm, comm, TANGLE_COMM_LEN) != 0)
		return false;
	return true;
}

#endif
