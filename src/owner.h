/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Resolve who holds what a thread waits on: read the memory around the futex
 * word with process_vm_readv (never written, never stopped), classify it
 * (lockinfo.c), then validate the candidate owner against /proc: it must be
 * a live thread of a process that can see that memory, or it is an exited
 * owner (an abandoned lock), or nothing at all.
 */
#ifndef TANGLE_OWNER_H
#define TANGLE_OWNER_H

#include <stdint.h>
#include "model.h"

/* Fills out (always); returns 0, or -errno if the waiter's memory could not be read. */
int owner__resolve(const char *proc_root, uint32_t pid, const struct wait *w, uint64_t now,
		   struct lock_owner *out);

#endif
