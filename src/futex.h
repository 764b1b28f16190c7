/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Naming futex operations for people and JSON. */
#ifndef TANGLE_FUTEX_H
#define TANGLE_FUTEX_H

#include <stdbool.h>
#include <stdint.h>

/* "wait", "wait_bitset", "lock_pi", ... for futex(2); "futex2_wait", "waitv" otherwise. */
const char *futex_op_name(uint8_t sys, uint32_t op);
const char *futex_sys_name(uint8_t sys);
/* FUTEX_PRIVATE_FLAG for futex(2), FUTEX2_PRIVATE for the futex2 calls. */
bool futex_op_private(uint8_t sys, uint32_t op);
/* Is this futex(2) op one that blocks (and so starts a wait)? */
bool futex_op_waits(uint32_t op);

#endif
