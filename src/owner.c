// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include "lockinfo.h"
#include "owner.h"
#include "procfs.h"

/*
 * The bytes around the futex word. A lock at the very start of a mapping has
 * nothing readable before it: read from the page start and leave zeros there.
 */
static int read_snapshot(uint32_t pid, uint64_t addr, uint8_t *snap)
{
	uint64_t from = addr - LOCKINFO_BEFORE;
	struct iovec local, remote;
	ssize_t n;

	if (addr < 4096)
		return -EFAULT;
	if ((from & ~4095ull) != (addr & ~4095ull))
		from = addr & ~4095ull;
	memset(snap, 0, LOCKINFO_SNAP);
	local.iov_base = snap + (from - (addr - LOCKINFO_BEFORE));
	local.iov_len = LOCKINFO_SNAP - (from - (addr - LOCKINFO_BEFORE));
	remote.iov_base = (void *)(uintptr_t)from;
	remote.iov_len = local.iov_len;
	n = process_vm_readv((pid_t)pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == local.iov_len ? 0 : -EFAULT;
}

/* A shared lock's owner in another process must map the same object. */
static bool same_ipc_namespace(const char *proc_root, uint32_t a, uint32_t b)
{
	char pa[64], pb[64];
	struct stat sa, sb;

	snprintf(pa, sizeof(pa), "%s/%u/ns/ipc", proc_root, a);
	snprintf(pb, sizeof(pb), "%s/%u/ns/ipc", proc_root, b);
	return !stat(pa, &sa) && !stat(pb, &sb) && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static bool shares_lock(const char *proc_root, uint32_t pid, uint64_t addr, uint32_t owner_pid)
{
	struct map_id id;

	/* anonymous private memory is 00:00 0; a SysV segment may well have inode (shmid) 0 */
	if (procfs__map_of(proc_root, pid, addr, &id) || (!id.inode && !id.dev))
		return false;
	/* shmids are per IPC namespace: segment 0 of another one is another segment */
	if (!id.inode && !same_ipc_namespace(proc_root, pid, owner_pid))
		return false;
	return procfs__maps_object(proc_root, owner_pid, &id);
}

int owner__resolve(const char *proc_root, uint32_t pid, const struct wait *w, uint64_t now,
		   struct lock_owner *out)
{
	uint8_t snap[LOCKINFO_SNAP];
	struct lock_guess g;
	uint32_t owner_pid;
	bool zombie;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->wait_since_ns = w->since_ns;
	out->checked_ns = now;
	out->lock_addr = w->addr;
	if (!lockinfo__wants_memory(w))
		return 0;
	err = read_snapshot(pid, w->addr, snap);
	lockinfo__classify(w, err ? NULL : snap, &g);
	out->kind = g.kind;
	out->lock_addr = g.lock_addr;
	out->pshared = g.pshared;
	out->readers = g.readers;
	if (!g.owner_tid)
		return err;
	out->owner_tid = g.owner_tid;
	if (procfs__tgid_of(proc_root, g.owner_tid, &owner_pid, &zombie) == -ENOENT) {
		/* a joined thread that is gone would not block anyone: no claim */
		out->state = g.kind == LOCK_JOIN ? OWNER_NONE : OWNER_DEAD;
		return 0;
	}
	if (g.kind == LOCK_JOIN) {
		out->state = owner_pid == pid && !zombie ? OWNER_LIVE : OWNER_NONE;
		out->owner_pid = owner_pid;
		return 0;
	}
	if (owner_pid == pid) {
		out->owner_pid = owner_pid;
		out->state = zombie ? OWNER_DEAD : OWNER_LIVE;
	} else if (g.pshared && !zombie && shares_lock(proc_root, pid, w->addr, owner_pid)) {
		out->owner_pid = owner_pid;
		out->state = OWNER_LIVE;
	} else if (!g.pshared) {
		/* a private lock's owner is in this process: its tid was reused, it is gone */
		out->state = OWNER_DEAD;
	}
	return 0;
}
