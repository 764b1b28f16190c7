/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Words of a buffer read from another process, at a byte offset (no
 * alignment needed; the target's byte order, which is the host's).
 */
#ifndef TANGLE_MEMWORD_H
#define TANGLE_MEMWORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t u64_at(const uint8_t *b, size_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static inline uint32_t u32_at(const uint8_t *b, size_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

#endif
