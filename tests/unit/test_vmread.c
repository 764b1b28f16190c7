// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Batched and coalesced reads of process memory, on this process itself:
 * records scattered and adjacent, an unmapped one in the middle, more
 * requests than one system call takes; records of different lengths handed
 * to a callback from the bounce buffer, gaps that cross unmapped pages, a
 * callback that stops the gather, one gather object reused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "test.h"
#include "vmread.h"

#define NREC 5000
#define LEN 40

TEST(gather_scattered_and_unmapped)
{
	uint8_t *pool = malloc(NREC * 96), *out = calloc(NREC, LEN);
	uint64_t addrs[NREC];
	bool ok[NREC];
	void *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long n;

	if (!ASSERT_TRUE(pool && out && hole != MAP_FAILED, "alloc"))
		return;
	for (size_t i = 0; i < NREC * 96; i++)
		pool[i] = (uint8_t)(i * 7 + 3);
	/* reverse order, stride 96: runs must be built from sorted addresses */
	for (size_t i = 0; i < NREC; i++)
		addrs[i] = (uint64_t)(uintptr_t)(pool + (NREC - 1 - i) * 96);
	addrs[NREC / 2] = (uint64_t)(uintptr_t)hole;
	n = vmread__gather((uint32_t)getpid(), addrs, NREC, LEN, out, ok);
	ASSERT_EQ(n, NREC - 1, "all but the unmapped one");
	ASSERT_FALSE(ok[NREC / 2], "unmapped record fails alone");
	for (size_t i = 0; i < NREC; i++) {
		if (i == NREC / 2)
			continue;
		if (!ASSERT_TRUE(ok[i] && !memcmp(out + i * LEN, (void *)(uintptr_t)addrs[i], LEN),
				 "record copied"))
			break;
	}
	munmap(hole, 4096);
	free(pool);
	free(out);
}

TEST(batch_more_than_iov_max)
{
	enum { N = 3000 };
	static uint64_t src[N], dst[N];
	struct vmread_req *r = calloc(N, sizeof(*r));

	if (!ASSERT_TRUE(r, "alloc"))
		return;
	for (size_t i = 0; i < N; i++) {
		src[i] = i * 0x9e3779b97f4a7c15ull;
		r[i] = (struct vmread_req){ (uint64_t)(uintptr_t)&src[i], &dst[i], 8, false };
	}
	r[1500].addr = 8; /* page zero: fails, the rest go on */
	ASSERT_EQ(vmread__batch((uint32_t)getpid(), r, N), N - 1, "read");
	ASSERT_FALSE(r[1500].ok, "bad address");
	ASSERT_TRUE(r[1499].ok && r[1501].ok && dst[2999] == src[2999], "neighbours");
	free(r);
}

TEST(gone_process)
{
	uint64_t v;

	ASSERT_TRUE(vmread__one(0x7ffffff0u, (uint64_t)(uintptr_t)&v, &v, 8) < 0, "no such pid");
}

/* What the callback saw: each record once, with the bytes at its address. */
struct seen {
	const uint64_t *addrs;
	const uint32_t *lens;
	size_t n, calls, good, bad, stop_after;
	uint8_t *hits;
	uint64_t last;
	bool mismatch, unordered;
};

static int check_cb(void *ctx, size_t i, const uint8_t *data, size_t len)
{
	struct seen *s = ctx;

	s->calls++;
	if (i >= s->n || s->hits[i]++ || len != (s->lens ? s->lens[i] : 24))
		s->mismatch = true;
	else if (!data)
		s->bad++;
	else if (memcmp(data, (void *)(uintptr_t)s->addrs[i], len))
		s->mismatch = true;
	else
		s->good++;
	if (data && s->addrs[i] < s->last)
		s->unordered = true;
	if (data)
		s->last = s->addrs[i];
	return s->stop_after && s->calls == s->stop_after ? -EINTR : 0;
}

TEST(gather_each_lengths_gaps_and_holes)
{
	enum { N = 3000, STRIDE = 2048, PAGES = N * STRIDE / 4096 };
	size_t map_len = (size_t)PAGES * 4096;
	uint8_t *area =
		mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *addrs = calloc(N, sizeof(*addrs));
	uint32_t *lens = calloc(N, sizeof(*lens));
	struct vmgather *g = vmgather__new();
	struct seen s = { .n = N };
	size_t hole = PAGES / 2, in_hole = 0;
	long got;

	if (!ASSERT_TRUE(area != MAP_FAILED && addrs && lens && g, "alloc"))
		goto out;
	for (size_t i = 0; i < map_len; i++)
		area[i] = (uint8_t)(i * 13 + i / 4096);
	/*
	 * The tops of 2 KiB "stacks", shuffled: short records with gaps the
	 * gather reads across, and one page in the middle unmapped under two of
	 * them, so that the coalesced read across it fails and the records
	 * around it must be read one by one.
	 */
	for (size_t i = 0; i < N; i++) {
		size_t k = (i * 7919) % N;

		lens[i] = 100 + (uint32_t)(k % 9) * 100;
		addrs[i] = (uint64_t)(uintptr_t)(area + (k + 1) * STRIDE - lens[i]);
		if ((k + 1) * STRIDE - lens[i] >= hole * 4096 &&
		    (k + 1) * STRIDE <= (hole + 1) * 4096)
			in_hole++;
	}
	munmap(area + hole * 4096, 4096);
	s.addrs = addrs;
	s.lens = lens;
	s.hits = calloc(N, 1);
	if (!ASSERT_TRUE(s.hits, "alloc"))
		goto out;
	got = vmgather__each(g, (uint32_t)getpid(), addrs, lens, 0, N, check_cb, &s);
	ASSERT_EQ(in_hole, 2, "two records in the hole");
	ASSERT_EQ(got, N - 2, "all but those read");
	ASSERT_EQ(s.calls, N, "one call per record");
	ASSERT_EQ(s.bad, 2, "the two in the hole fail");
	ASSERT_FALSE(s.mismatch, "every record has its own bytes");

	/* the same object again, fixed length, more records than before */
	free(s.hits);
	s = (struct seen){ .n = N, .addrs = addrs, .hits = calloc(N, 1) };
	for (size_t i = 0; i < N; i++)
		addrs[i] = (uint64_t)(uintptr_t)(area + (i + 1) * STRIDE - 24);
	if (!ASSERT_TRUE(s.hits, "alloc"))
		goto out;
	got = vmgather__each(g, (uint32_t)getpid(), addrs, NULL, 24, N, check_cb, &s);
	ASSERT_EQ(got, N - 2, "fixed length");
	ASSERT_FALSE(s.mismatch || s.unordered, "records in address order");

	/* a callback error stops it */
	free(s.hits);
	s = (struct seen){ .n = N, .addrs = addrs, .hits = calloc(N, 1), .stop_after = 10 };
	if (!ASSERT_TRUE(s.hits, "alloc"))
		goto out;
	got = vmgather__each(g, (uint32_t)getpid(), addrs, NULL, 24, N, check_cb, &s);
	ASSERT_EQ(got, -EINTR, "callback's error");
	ASSERT_EQ(s.calls, 10, "no call after it");

	/* lengths it cannot take */
	ASSERT_EQ(vmgather__each(g, (uint32_t)getpid(), addrs, NULL, 1u << 20, 1, check_cb, &s),
		  -EINVAL, "record too long");
	ASSERT_EQ(vmgather__each(g, (uint32_t)getpid(), addrs, NULL, 0, 1, check_cb, &s), -EINVAL,
		  "empty record");
	ASSERT_EQ(vmgather__each(g, (uint32_t)getpid(), addrs, NULL, 24, 0, check_cb, &s), 0,
		  "no records");
out:
	if (area != MAP_FAILED)
		munmap(area, map_len);
	free(s.hits);
	free(addrs);
	free(lens);
	vmgather__free(g);
}

TEST(gather_each_gone_process)
{
	struct vmgather *g = vmgather__new();
	uint64_t addr = (uint64_t)(uintptr_t)&addr;
	struct seen s = { .n = 1, .addrs = &addr };
	uint8_t hit = 0;

	s.hits = &hit;
	if (!ASSERT_TRUE(g, "vmgather__new"))
		return;
	ASSERT_TRUE(vmgather__each(g, 0x7ffffff0u, &addr, NULL, 8, 1, check_cb, &s) < 0,
		    "no such pid");
	ASSERT_EQ(s.calls, 0, "no callback");
	vmgather__free(g);
}

TEST_MAIN()
