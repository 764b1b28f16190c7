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
 * The blocking site of g as a key: twice the pc of the frame, plus one when
 * it is the program's own code; 0 when g has no stack.
 */
uint64_t gosite__key(struct goproc *p, const struct goroutine *g);

#endif
