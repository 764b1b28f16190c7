// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include "radix.h"
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

/*
 * Coalescing: records whose gaps are at most RUN_GAP bytes are read as one
 * remote vector. A vector costs the kernel about as much as copying 4-5 KiB
 * (it pins the pages of each vector separately), so reading across a gap of a
 * few KiB is cheaper than starting a new one: a 100k-goroutine table or the
 * tops of 100k 2 KiB stacks come in a few hundred vectors. Runs go into one
 * bounce buffer of WINDOW bytes, small enough to stay in cache while the
 * records are decoded from it.
 */
#define RUN_GAP 4096
#define RUN_MAX (256u << 10) /* bytes per coalesced read, and the largest record */
#define WINDOW (256u << 10) /* bytes of bounce buffer per system call */

struct rec {
	uint64_t addr; /* the sort key: first (radix.h) */
	uint32_t len, i;
};
_Static_assert(sizeof(struct rec) == RADIX_REC_SIZE, "radix__sort16 records");

struct run {
	uint64_t addr;
	size_t len, off; /* off: where it lands in the bounce buffer */
	size_t first, n; /* records first..first+n-1 of the sorted array */
};

struct vmgather {
	struct rec *recs, *tmp;
	size_t cap;
	struct run runs[BATCH];
	struct vmread_req reqs[BATCH];
	uint8_t *buf; /* WINDOW + RUN_MAX: the last run of a round may grow past WINDOW */
};

struct vmgather *vmgather__new(void)
{
	struct vmgather *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->buf = malloc(WINDOW + RUN_MAX);
	if (!g->buf) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	return g;
}

void vmgather__free(struct vmgather *g)
{
	if (!g)
		return;
	free(g->recs);
	free(g->tmp);
	free(g->buf);
	free(g);
}

/* Sort by address (radix.h: user addresses share their top bytes, so few passes). */
static void sort_recs(struct vmgather *g, size_t n)
{
	struct rec *sorted = radix__sort16(g->recs, g->tmp, n);

	if (sorted != g->recs) {
		g->tmp = g->recs;
		g->recs = sorted;
	}
}

/*
 * Read runs[0..nr) with one system call into the bounce buffer and hand each
 * record to fn. A run that failed (a gap or a record crossing into unmapped
 * memory) is read again record by record, in its own place in the buffer.
 */
static long read_runs(struct vmgather *g, uint32_t pid, size_t nr, vmgather_fn fn, void *ctx)
{
	long done = 0, got;

	for (size_t r = 0; r < nr; r++)
		g->reqs[r] = (struct vmread_req){ .addr = g->runs[r].addr,
						  .buf = g->buf + g->runs[r].off,
						  .len = g->runs[r].len };
	got = vmread__batch(pid, g->reqs, nr);
	if (got < 0)
		return got;
	for (size_t r = 0; r < nr; r++) {
		const struct run *run = &g->runs[r];
		bool whole = g->reqs[r].ok;
		struct vmread_req one;

		for (size_t k = run->first; k < run->first + run->n; k++) {
			const struct rec *rc = &g->recs[k];
			uint8_t *data = g->buf + run->off + (rc->addr - run->addr);
			int err;

			if (!whole) {
				one = (struct vmread_req){ .addr = rc->addr,
							   .buf = data,
							   .len = rc->len };
				got = vmread__batch(pid, &one, 1);
				if (got < 0)
					return got;
			}
			err = fn(ctx, rc->i, whole || one.ok ? data : NULL, rc->len);
			if (err)
				return err < 0 ? err : -ECANCELED;
			done += whole || one.ok;
		}
	}
	return done;
}

long vmgather__each(struct vmgather *g, uint32_t pid, const uint64_t *addrs, const uint32_t *lens,
		    uint32_t len, size_t n, vmgather_fn fn, void *ctx)
{
	size_t nr = 0, used = 0;
	long done = 0, got;

	if (n > UINT32_MAX)
		return -E2BIG;
	if (n > g->cap) {
		size_t cap = n < 1024 ? 1024 : n + n / 4;
		struct rec *a = malloc(cap * sizeof(*a)), *b = malloc(cap * sizeof(*b));

		if (!a || !b) {
			free(a);
			free(b);
			return -ENOMEM;
		}
		free(g->recs);
		free(g->tmp);
		g->recs = a;
		g->tmp = b;
		g->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t l = lens ? lens[i] : len;

		if (l > RUN_MAX || !l || addrs[i] + l < addrs[i])
			return -EINVAL;
		g->recs[i] = (struct rec){ addrs[i], l, (uint32_t)i };
	}
	sort_recs(g, n);
	for (size_t k = 0; k < n; k++) {
		const struct rec *rc = &g->recs[k];
		struct run *last = nr ? &g->runs[nr - 1] : NULL;
		uint64_t end = rc->addr + rc->len;

		if (last && rc->addr <= last->addr + last->len + RUN_GAP &&
		    end - last->addr <= RUN_MAX) {
			if (end > last->addr + last->len) {
				used += end - (last->addr + last->len);
				last->len = end - last->addr;
			}
			last->n++;
			continue;
		}
		if (nr == BATCH || used + rc->len > WINDOW) {
			got = read_runs(g, pid, nr, fn, ctx);
			if (got < 0)
				return got;
			done += got;
			nr = 0;
			used = 0;
		}
		g->runs[nr++] = (struct run){ rc->addr, rc->len, used, k, 1 };
		used += rc->len;
	}
	if (nr) {
		got = read_runs(g, pid, nr, fn, ctx);
		done = got < 0 ? got : done + got;
	}
	return done;
}

struct copy_out {
	uint8_t *out;
	bool *ok;
	size_t len;
};

static int copy_out(void *ctx, size_t i, const uint8_t *data, size_t len)
{
	struct copy_out *c = ctx;

	c->ok[i] = data != NULL;
	if (data)
		memcpy(c->out + i * c->len, data, len);
	return 0;
}

long vmread__gather(uint32_t pid, const uint64_t *addrs, size_t n, size_t len, uint8_t *out,
		    bool *ok)
{
	struct copy_out c = { out, ok, len };
	struct vmgather *g;
	long done;

	if (len > RUN_MAX)
		return -EINVAL;
	g = vmgather__new();
	if (!g)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		ok[i] = false;
	done = vmgather__each(g, pid, addrs, NULL, (uint32_t)len, n, copy_out, &c);
	vmgather__free(g);
	return done;
}
