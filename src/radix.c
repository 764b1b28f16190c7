// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "radix.h"

static uint64_t key_at(const unsigned char *rec)
{
	uint64_t k;

	memcpy(&k, rec, sizeof(k));
	return k;
}

void *radix__sort16(void *a, void *tmp, size_t n)
{
	unsigned char *from = a, *to = tmp, *t;
	uint64_t lo = UINT64_MAX, hi = 0, prev = 0, diff;
	size_t count[256];
	bool sorted = true;

	for (size_t i = 0; i < n; i++) {
		uint64_t k = key_at(from + i * RADIX_REC_SIZE);

		sorted &= !i || prev <= k;
		prev = k;
		lo = k < lo ? k : lo;
		hi = k > hi ? k : hi;
	}
	if (sorted)
		return a;
	diff = lo ^ hi;
	for (unsigned shift = 0; shift < 64 && diff >> shift; shift += 8) {
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(key_at(from + i * RADIX_REC_SIZE) >> shift) & 0xff]++;
		for (unsigned d = 0; d < 256; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++) {
			const unsigned char *rec = from + i * RADIX_REC_SIZE;

			memcpy(to + count[(key_at(rec) >> shift) & 0xff]++ * RADIX_REC_SIZE, rec,
			       RADIX_REC_SIZE);
		}
		t = from;
		from = to;
		to = t;
	}
	return from;
}
