/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Decoding of raw event records (struct tangle_ev_*) into model inputs. The
 * bytes may come from the ring buffer or, later, from a record file, so
 * nothing in them is trusted: sizes, types and strings are checked.
 */
#ifndef TANGLE_DECODE_H
#define TANGLE_DECODE_H

#include <stddef.h>
#include "model.h"

/* Apply one record to the model. Returns 0, -EINVAL for a malformed record, or -ENOMEM. */
int decode__event(struct model *m, const void *data, size_t len);

#endif
