/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Names for addresses in a process, from the ELF symbol tables of the files
 * it maps (read through /proc/PID/root, so containers work). Used to name a
 * lock: a global `pthread_mutex_t lock_a` is reported as <lock_a>.
 */
#ifndef TANGLE_SYMBOLS_H
#define TANGLE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The data object (STT_OBJECT) covering addr in pid, as "name" or
 * "name+0x10". Returns 0, or -ENOENT when there is none.
 */
int symbols__data(const char *proc_root, uint32_t pid, uint64_t addr, char *buf, size_t len);

#endif
