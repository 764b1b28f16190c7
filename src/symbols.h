/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where an address of a process lives, said the way a debugger would: the
 * ELF data symbol covering it and the file it belongs to (a global
 * `pthread_mutex_t lock_a` is "lock_a in stuck_abba"), or else the memory
 * that holds it: the heap, the stack of a thread, a shared memory file, a
 * file mapping. ELF files are read through /proc/PID/root, so containers work.
 */
#ifndef TANGLE_SYMBOLS_H
#define TANGLE_SYMBOLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "procfs.h"

struct addr_place {
	/* the ELF data object (STT_OBJECT) covering it, "lock_a" or "table+0x40"; NULL if none */
	const char *symbol;
	/* the ELF file whose loaded image holds it, as /proc/PID/maps names it; NULL if none */
	const char *module;
	/*
	 * the memory that holds it: "heap", "stack of thread 1234", "shm NAME+0x40",
	 * "memfd NAME+0x40", "sysv shm key 0x0000abcd id 3+0x40", "shared anonymous memory",
	 * "anonymous memory", "FILE+0x1040", "MODULE .bss"; NULL when nothing maps it
	 */
	const char *region;
};

/* An addr_place with room for its strings. */
struct addr_place_buf {
	struct addr_place place;
	char symbol[256];
	char module[PATH_MAX];
	char region[PATH_MAX + 64];
};

/*
 * Where addr lives in pid. Reads pid's maps, at most one ELF file, and the
 * stack pointers of pid's threads when addr is in anonymous memory. Returns 0,
 * or -ENOENT when the process or a mapping holding addr is gone.
 */
int symbols__place(const char *proc_root, uint32_t pid, uint64_t addr, struct addr_place_buf *out);

/* What symbols__region found. */
enum region_kind {
	REGION_NONE, /* nothing maps addr */
	REGION_HEAP, /* [heap], or a glibc malloc arena */
	REGION_STACK, /* [stack], or a mapping holding a thread's stack pointer */
	REGION_ANON, /* private anonymous memory no known thread's stack pointer is in */
	REGION_SHARED_ANON, /* MAP_SHARED | MAP_ANONYMOUS */
	REGION_SHM, /* a file in /dev/shm (shm_open) */
	REGION_MEMFD,
	REGION_SYSV, /* System V shared memory (shmat) */
	REGION_FILE, /* any other file mapping */
	REGION_OTHER, /* [vdso], a named anonymous mapping, ... */
};

/*
 * The memory of pid (whose maps and threads' stack pointers are given) that
 * holds addr, written into buf; no I/O. With sps NULL a mapping that could be
 * a thread's stack is REGION_ANON: call again with the stack pointers then.
 */
enum region_kind symbols__region(const struct procfs_maps *maps, const struct procfs_sp *sps,
				 size_t nr_sps, uint32_t pid, uint64_t addr, char *buf, size_t len);

/*
 * One format for every view: "lock_a in stuck_abba" (the symbol, and the base
 * name of its module) when a symbol covers the address, else the region
 * ("stack of thread 4242"); "" when nothing is known. True when it names a
 * symbol: views write <lock_a in stuck_abba> but (stack of thread 4242).
 */
bool symbols__describe(const struct addr_place *p, char *buf, size_t len);

#endif
