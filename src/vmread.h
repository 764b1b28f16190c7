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
 * Read n records of len bytes at addrs[i] into out + i * len, setting ok[i]:
 * vmgather__each with a copy. Records that lie close together in the target
 * (the runtime allocates its objects in spans) are read as one vector.
 * Returns the number read, or -errno if the process cannot be read at all.
 */
long vmread__gather(uint32_t pid, const uint64_t *addrs, size_t n, size_t len, uint8_t *out,
		    bool *ok);

/*
 * Many small records read with few system calls, decoded in place: records
 * close together in the target are read as one vector into a bounce buffer
 * that the object keeps from one call to the next (a snapshot a second must
 * not allocate and fault in megabytes each time), and handed to a callback
 * from there, without a copy.
 */
struct vmgather;

struct vmgather *vmgather__new(void);
void vmgather__free(struct vmgather *g);

/*
 * Called once per record with its len bytes, or data NULL if they could not
 * be read. data is valid only during the call. Return 0, or -errno to stop.
 */
typedef int (*vmgather_fn)(void *ctx, size_t i, const uint8_t *data, size_t len);

/*
 * Read n records, record i being lens[i] bytes (len for all if lens is NULL;
 * 1 byte to 256 KiB, else -EINVAL) at addrs[i], calling fn for each, roughly
 * in address order. Gaps of up to 4 KiB between records are read across.
 * Returns the number read, the callback's error, or -errno if the process
 * cannot be read at all (-ESRCH gone, -EPERM not allowed).
 */
long vmgather__each(struct vmgather *g, uint32_t pid, const uint64_t *addrs, const uint32_t *lens,
		    uint32_t len, size_t n, vmgather_fn fn, void *ctx);

/* One read: 0, -EFAULT if not all of it could be read, or -errno. */
int vmread__one(uint32_t pid, uint64_t addr, void *buf, size_t len);

#endif
