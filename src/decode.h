/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Decoding of raw event records (struct tangle_ev_*) into model inputs. The
 * bytes may come from the ring buffer or, later, from a record file, so
 * nothing in them is trusted: sizes, types and strings are checked.
 */
#ifndef TANGLE_DECODE_H
#define TANGLE_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include "model.h"

/*
 * Apply one record to the model. Returns 0, -EINVAL for a malformed record, or -ENOMEM.
 * Stack captures are not model inputs: they are checked and otherwise ignored here
 * (the consumer hands them to the stacks, see decode__ustack()).
 */
int decode__event(struct model *m, const void *data, size_t len);

/* The record is a stack capture (TANGLE_EV_USTACK), valid or not. */
bool decode__is_stack(const void *data, size_t len);
/* Check a TANGLE_EV_USTACK record and copy it to out. 0 or -EINVAL. */
int decode__ustack(const void *data, size_t len, struct tangle_ev_ustack *out);

#endif
