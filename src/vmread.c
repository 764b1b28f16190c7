// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "vmread.h"

#define BATCH 1024 /* IOV_MAX */

/*
 * process_vm_readv stops at the first remote vector it cannot read and does
 * not split a vector, so the byte count says which one failed: mark it and
 * go on with the next.
 */
long vmread__batch(uint32_t pid, struct vmread_req *reqs, size_t n)
{
	struct iovec local[BATCH], remote[BATCH];
	long done = 0;
	size_t i = 0;

	while (i < n) {
		size_t cnt = 0;
		ssize_t got;

		for (size_t j = i; j < n && cnt < BATCH; j++, cnt++) {
			local[cnt] = (struct iovec){ reqs[j].buf, reqs[j].len };
			remote[cnt] =
				(struct iovec){ (void *)(uintptr_t)reqs[j].addr, reqs[j].len };
			reqs[j].ok = false;
		}
		got = process_vm_readv((pid_t)pid, local, cnt, remote, cnt, 0);
		if (got < 0) {
			if (errno != EFAULT)
				return -errno;
			got = 0;
		}
		/* the vectors read in full, then the one that failed (if any) */
		size_t k = 0;
		for (; k < cnt && (size_t)got >= reqs[i + k].len; k++) {
			got -= (ssize_t)reqs[i + k].len;
			reqs[i + k].ok = true;
			done++;
		}
		if (k == cnt) {
			i += cnt;
			continue;
		}
		i += k + 1; /* skip the failed one */
	}
	return done;
}

int vmread__one(uint32_t pid, uint64_t addr, void *buf, size_t len)
{
	struct vmread_req r = { .addr = addr, .buf = buf, .len = len };
	long n = vmread__batch(pid, &r, 1);

	if (n < 0)
		return (int)n;
	return r.ok ? 0 : -EFAULT;
}

#define RUN_GAP 512 /* read across gaps up to this size */
#define RUN_MAX (256u << 10) /* bytes per coalesced read */
#define WINDOW (8u << 20) /* bytes of bounce buffer per round of reads */

struct rec {
	uint64_t addr;
	size_t i;
};

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct run {
	uint64_t addr;
	size_t len, first, n; /* records first..first+n-1 of the sorted array */
};

/* Read runs[0..nr) into buf, then copy each record out, or read it alone if its run failed. */
static long read_runs(uint32_t pid, struct run *runs, size_t nr, const struct rec *recs, size_t len,
		      uint8_t *buf, uint8_t *out, bool *ok, struct vmread_req *reqs)
{
	size_t off = 0;
	long done = 0, got;

	for (size_t r = 0; r < nr; r++) {
		reqs[r] = (struct vmread_req){ .addr = runs[r].addr,
					       .buf = buf + off,
					       .len = runs[r].len };
		off += runs[r].len;
	}
	got = vmread__batch(pid, reqs, nr);
	if (got < 0)
		return got;
	for (size_t r = 0; r < nr; r++) {
		for (size_t k = runs[r].first; k < runs[r].first + runs[r].n; k++) {
			const struct rec *rc = &recs[k];
			uint8_t *dst = out + rc->i * len;

			if (reqs[r].ok) {
				memcpy(dst, (uint8_t *)reqs[r].buf + (rc->addr - runs[r].addr),
				       len);
				ok[rc->i] = true;
			} else {
				ok[rc->i] = vmread__one(pid, rc->addr, dst, len) == 0;
			}
			done += ok[rc->i];
		}
	}
	return done;
}

long vmread__gather(uint32_t pid, const uint64_t *addrs, size_t n, size_t len, uint8_t *out,
		    bool *ok)
{
	struct rec *recs = calloc(n ? n : 1, sizeof(*recs));
	struct run *runs = calloc(BATCH, sizeof(*runs));
	struct vmread_req *reqs = calloc(BATCH, sizeof(*reqs));
	uint8_t *buf = malloc(WINDOW + RUN_MAX);
	size_t nr = 0, used = 0;
	long done = 0, got;

	if (!recs || !runs || !reqs || !buf || len > RUN_MAX) {
		done = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		recs[i] = (struct rec){ addrs[i], i };
		ok[i] = false;
	}
	qsort(recs, n, sizeof(*recs), cmp_rec);
	for (size_t k = 0; k < n; k++) {
		struct run *last = nr ? &runs[nr - 1] : NULL;
		uint64_t end = recs[k].addr + len;

		if (last && recs[k].addr <= last->addr + last->len + RUN_GAP &&
		    end - last->addr <= RUN_MAX && recs[k].addr >= last->addr) {
			if (end > last->addr + last->len) {
				used += end - (last->addr + last->len);
				last->len = end - last->addr;
			}
			last->n++;
			continue;
		}
		if (nr == BATCH || used + len > WINDOW) {
			got = read_runs(pid, runs, nr, recs, len, buf, out, ok, reqs);
			if (got < 0) {
				done = got;
				goto out;
			}
			done += got;
			nr = 0;
			used = 0;
		}
		runs[nr++] = (struct run){ recs[k].addr, len, k, 1 };
		used += len;
	}
	if (nr) {
		got = read_runs(pid, runs, nr, recs, len, buf, out, ok, reqs);
		done = got < 0 ? got : done + got;
	}
out:
	free(recs);
	free(runs);
	free(reqs);
	free(buf);
	return done;
}
