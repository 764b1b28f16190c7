/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where a goroutine blocks, in the program's own terms: the innermost frame
 * of its own code below the library calls it waits in (sync.(*Mutex).Lock,
 * net.(*conn).Read), or, when all of it is library code, the innermost frame
 * Go's traceback shows. The dashboard and the detector group by it.
 */
#ifndef TANGLE_GOSITE_H
#define TANGLE_GOSITE_H

#include <stdbool.h>
#include <stdint.h>
#include "goproc.h"

/*
 * Is fn in Go's standard library? Its import path has no dot in its first
 * element ("sync", "internal/poll", "net/http"), except package main.
 */
bool gosite__is_library(const char *fn);

/*
 * Of the frames of one pc (inlined calls expanded, innermost first): the
 * index of the innermost one Go's traceback shows (*shown) and of the
 * innermost of the program's own code (*own), SIZE_MAX where there is none.
 */
void gosite__pick(const struct frame *f, size_t n, size_t *shown, size_t *own);

/* A site as a key: twice the pc of its frame, plus one when it is the program's own code. */
static inline uint64_t gosite__pc_key(uint64_t pc, bool own)
{
	return pc * 2 + own;
}

/* The blocking site of g as a key (gosite__pc_key); 0 when g has no stack. */
uint64_t gosite__key(struct goproc *p, const struct goroutine *g);

#endif
