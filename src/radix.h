/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Sorting 16-byte records by the uint64_t key in their first 8 bytes: an LSD
 * radix sort on only the bytes in which the keys differ (addresses of one
 * process, or goids, share their top bytes), after a check that they are not
 * sorted already. Used for 100k-record arrays every second, where qsort's
 * comparisons were the cost.
 */
#ifndef TANGLE_RADIX_H
#define TANGLE_RADIX_H

#include <stddef.h>

#define RADIX_REC_SIZE 16

/*
 * Sort n records of a (RADIX_REC_SIZE bytes each, key first), with tmp as
 * room for as many. Returns where the sorted records are: a or tmp (the
 * other then holds garbage).
 */
void *radix__sort16(void *a, void *tmp, size_t n);

#endif
