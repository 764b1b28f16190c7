/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Reading another process's memory in bulk with process_vm_readv: no ptrace,
 * no stop, never a write. Requests are batched up to IOV_MAX remote vectors
 * per system call; one unreadable address fails only its own request.
 */
#ifndef TANGLE_VMREAD_H
#define TANGLE_VMREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vmread_req {
	uint64_t addr;
	void *buf;
	size_t len;
	bool ok; /* set by vmread__batch */
};

/*
 * Read every request. Returns the number read in full (ok = true), or -errno
 * if the process cannot be read at all (-ESRCH gone, -EPERM not allowed).
 */
long vmread__batch(uint32_t pid, struct vmread_req *reqs, size_t n);

/*
 * Read n records of len bytes at addrs[i] into out + i * len, setting ok[i].
 * Records that lie close together in the target (the runtime allocates its
 * objects in spans) are read as one vector: a few hundred large reads instead
 * of one per record, which is what makes a 100k-goroutine table cheap.
 * Returns the number read, or -errno if the process cannot be read at all.
 */
long vmread__gather(uint32_t pid, const uint64_t *addrs, size_t n, size_t len, uint8_t *out,
		    bool *ok);

/* One read: 0, -EFAULT if not all of it could be read, or -errno. */
int vmread__one(uint32_t pid, uint64_t addr, void *buf, size_t len);

#endif
