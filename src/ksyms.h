/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel symbols from /proc/kallsyms, for the kernel half of a stack. Without
 * root (or with kptr_restrict) every address reads as 0: then nothing is
 * kept and every lookup returns NULL.
 */
#ifndef TANGLE_KSYMS_H
#define TANGLE_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct ksyms;

/* Loads /proc/kallsyms. NULL and errno on failure. */
struct ksyms *ksyms__load(void);
/* Loads a file in the format of /proc/kallsyms (tests). */
struct ksyms *ksyms__load_file(const char *path);
void ksyms__free(struct ksyms *k);

/*
 * The symbol covering addr ("name", or "name [module]" for a module's), and
 * addr minus its start in *offset (may be NULL). NULL if addr lies below the
 * first symbol or nothing was loaded. Valid until ksyms__free().
 */
const char *ksyms__name(const struct ksyms *k, uint64_t addr, uint64_t *offset);
/* How many symbols were kept: 0 when kallsyms hides the addresses. */
size_t ksyms__count(const struct ksyms *k);

struct frame;

/*
 * A kernel stack (innermost first) as frames of module "[kernel]", at most
 * max; returns how many. The first address is where the thread is; the
 * others are return addresses, named at addr - 1 (inside the call) so that a
 * call that ends its function is not put in the next one. k may be NULL
 * (addresses only).
 */
size_t ksyms__frames(const struct ksyms *k, const uint64_t *addrs, size_t nr, struct frame *out,
		     size_t max);

#endif
