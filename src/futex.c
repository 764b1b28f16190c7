// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <linux/futex.h>
#include "futex.h"
#include "tangle_abi.h"

#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128 /* FUTEX_PRIVATE_FLAG */
#endif

#define FUTEX_CMD(op) ((op) & FUTEX_CMD_MASK)

const char *futex_op_name(uint8_t sys, uint32_t op)
{
	if (sys == TANGLE_SYS_FUTEX_WAIT)
		return "futex2_wait";
	if (sys == TANGLE_SYS_FUTEX_WAITV)
		return "waitv";
	switch (FUTEX_CMD(op)) {
	case FUTEX_WAIT:
		return "wait";
	case FUTEX_WAIT_BITSET:
		return "wait_bitset";
	case FUTEX_LOCK_PI:
		return "lock_pi";
	case FUTEX_LOCK_PI2:
		return "lock_pi2";
	case FUTEX_WAIT_REQUEUE_PI:
		return "wait_requeue_pi";
	case FUTEX_WAKE:
		return "wake";
	case FUTEX_REQUEUE:
		return "requeue";
	case FUTEX_CMP_REQUEUE:
		return "cmp_requeue";
	case FUTEX_WAKE_OP:
		return "wake_op";
	case FUTEX_UNLOCK_PI:
		return "unlock_pi";
	case FUTEX_TRYLOCK_PI:
		return "trylock_pi";
	case FUTEX_WAKE_BITSET:
		return "wake_bitset";
	case FUTEX_CMP_REQUEUE_PI:
		return "cmp_requeue_pi";
	default:
		return "unknown";
	}
}

const char *futex_sys_name(uint8_t sys)
{
	switch (sys) {
	case TANGLE_SYS_FUTEX_WAIT:
		return "futex_wait";
	case TANGLE_SYS_FUTEX_WAITV:
		return "futex_waitv";
	default:
		return "futex";
	}
}

bool futex_op_private(uint8_t sys, uint32_t op)
{
	if (sys == TANGLE_SYS_FUTEX)
		return op & FUTEX_PRIVATE_FLAG;
	return op & FUTEX2_PRIVATE;
}

bool futex_op_waits(uint32_t op)
{
	switch (FUTEX_CMD(op)) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
	case FUTEX_LOCK_PI:
	case FUTEX_LOCK_PI2:
	case FUTEX_WAIT_REQUEUE_PI:
		return true;
	default:
		return false;
	}
}
