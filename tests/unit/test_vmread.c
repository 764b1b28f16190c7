// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Batched and coalesced reads of process memory, on this process itself:
 * records scattered and adjacent, an unmapped one in the middle, more
 * requests than one system call takes.
 */
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

TEST_MAIN()
