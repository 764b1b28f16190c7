/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where `tangle lockorder` puts its uprobes: the pthread lock entry points of
 * the file a process actually maps them from (its libc, an old libpthread, or
 * the executable itself when it is static), and, inside each function, the
 * offset of an instruction the kernel emulates rather than single-steps.
 *
 * Why the offset matters (DESIGN.md): a uprobe on an instruction the kernel
 * has to single-step out of line costs ~10 us here; one on an instruction it
 * emulates (push, jmp, jcc, call, nop) ~1 us. glibc's pthread_mutex_lock
 * begins with a mov (single-stepped) and reaches a jcc three instructions
 * later. The probe may move there only if every call passes it exactly once
 * with the arguments and the stack as they were at the entry: so only along
 * the straight line from the entry, only past instructions that write
 * neither rdi nor rsp, and only if no branch in the function lands between
 * the entry and it. Otherwise the probe stays at the entry.
 *
 * No libbpf, no root: the ELF is read with libelf and the code decoded with
 * src/x86insn.c, so this is unit-tested on the build machine's own libc.
 */
#ifndef TANGLE_LOCKPLACE_H
#define TANGLE_LOCKPLACE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a probed function does, for the BPF program attached to it. */
enum lo_role {
	LO_ROLE_LOCK, /* blocks until it has the lock: edges from every lock held */
	LO_ROLE_TRY, /* may fail (trylock, timed lock): held on success only, never an edge */
	LO_ROLE_UNLOCK,
	LO_ROLE_LIFETIME, /* init or destroy: a new lock at that address afterwards */
};

enum lo_fn {
	LO_FN_MUTEX_LOCK,
	LO_FN_MUTEX_TRYLOCK,
	LO_FN_MUTEX_TIMEDLOCK,
	LO_FN_MUTEX_CLOCKLOCK,
	LO_FN_MUTEX_UNLOCK,
	LO_FN_MUTEX_INIT,
	LO_FN_MUTEX_DESTROY,
	LO_FN_RW_RDLOCK,
	LO_FN_RW_WRLOCK,
	LO_FN_RW_TRYRDLOCK,
	LO_FN_RW_TRYWRLOCK,
	LO_FN_RW_TIMEDRDLOCK,
	LO_FN_RW_TIMEDWRLOCK,
	LO_FN_RW_CLOCKRDLOCK,
	LO_FN_RW_CLOCKWRLOCK,
	LO_FN_RW_UNLOCK,
	LO_FN_RW_INIT,
	LO_FN_RW_DESTROY,
	LO_FN_NR,
};

struct lo_fn_info {
	const char *name;
	enum lo_role role;
	bool rwlock;
	bool read; /* rwlock: taken for reading */
};

const struct lo_fn_info *lockplace__fn(enum lo_fn fn);

enum lo_placement {
	LO_PLACE_EMULATED, /* the first emulated instruction where that is safe (default) */
	LO_PLACE_ENTRY, /* always the function's first instruction (to measure the difference) */
};

struct lo_site {
	bool found; /* the file defines the function */
	uint64_t vaddr; /* of the function */
	uint64_t size;
	uint64_t probe_off; /* from the function's start */
	uint64_t file_off; /* of the probe, in the file (what a uprobe is given) */
	bool emulated; /* the kernel emulates the probed instruction */
	char insn[8]; /* "push", "jcc", "jmp", "call", "nop", or "" (single-stepped) */
};

struct lo_binary {
	char path[PATH_MAX]; /* the file to attach to (through /proc/PID/root or map_files) */
	char shown[PATH_MAX]; /* the path as the process maps it */
	struct lo_site fn[LO_FN_NR];
	size_t nr_found;
};

/*
 * The probe offset in code (the function's bytes, len of them): sets *off,
 * *emulated and insn (8 bytes). Never fails: the entry (0) when in doubt.
 */
void lockplace__place(const uint8_t *code, size_t len, uint64_t *off, bool *emulated, char *insn);

/* The lock functions that the ELF file at path defines, placed. 0, or -errno. */
int lockplace__read_file(const char *path, enum lo_placement how, struct lo_binary *out);

/*
 * The file pid takes its pthread lock functions from: of the files it maps
 * that define pthread_mutex_lock, an old glibc's libpthread first (its libc
 * only forwards to it), else the first one mapped (a static executable comes
 * before any library). 0; -ESRCH: no such process; -ENOENT: no file of it
 * defines them (a Go program, a stripped static binary); other -errno.
 */
int lockplace__find(const char *proc_root, uint32_t pid, enum lo_placement how,
		    struct lo_binary *out);

#endif
