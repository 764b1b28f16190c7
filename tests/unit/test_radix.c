// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* radix__sort16: keys in any order, already sorted, sharing their top bytes, all equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "radix.h"
#include "test.h"

struct rec {
	uint64_t key;
	uint64_t tag; /* the record's position before sorting */
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Sort n records made by key(i); check the order, that none is lost, and stability. */
static void check(size_t n, uint64_t (*key)(size_t i, uint64_t *s), const char *what)
{
	struct rec *a = calloc(n + 1, sizeof(*a)), *tmp = calloc(n + 1, sizeof(*tmp)), *out;
	unsigned char *seen = calloc(n + 1, 1);
	uint64_t s = 88172645463325252ull;
	bool ok = true;

	if (!ASSERT_TRUE(a && tmp && seen, "calloc"))
		goto out;
	for (size_t i = 0; i < n; i++)
		a[i] = (struct rec){ key(i, &s), i };
	out = radix__sort16(a, tmp, n);
	for (size_t i = 0; i < n && ok; i++) {
		ok &= out[i].tag < n && !seen[out[i].tag];
		seen[out[i].tag < n ? out[i].tag : 0] = 1;
		if (i)
			ok &= out[i - 1].key < out[i].key ||
			      (out[i - 1].key == out[i].key && out[i - 1].tag < out[i].tag);
	}
	ASSERT_TRUE(ok, what);
out:
	free(a);
	free(tmp);
	free(seen);
}

static uint64_t random_key(size_t i, uint64_t *s)
{
	(void)i;
	return rnd(s);
}

static uint64_t address(size_t i, uint64_t *s)
{
	(void)i;
	return 0xc000000000ull + (rnd(s) & 0xffffff) * 8;
}

static uint64_t ascending(size_t i, uint64_t *s)
{
	(void)s;
	return 1000 + i;
}

static uint64_t same(size_t i, uint64_t *s)
{
	(void)i, (void)s;
	return 42;
}

static uint64_t few(size_t i, uint64_t *s)
{
	(void)i;
	return rnd(s) % 3;
}

TEST(sorts)
{
	check(0, random_key, "empty");
	check(1, random_key, "one");
	check(100000, random_key, "random 64-bit keys");
	check(100000, address, "addresses sharing their top bytes");
	check(1000, ascending, "already sorted");
	check(1000, same, "all equal");
	check(1000, few, "three keys, stable");
}

TEST(sorted_input_stays_in_place)
{
	struct rec a[3] = { { 1, 0 }, { 2, 1 }, { 3, 2 } }, tmp[3];

	ASSERT_TRUE(radix__sort16(a, tmp, 3) == a, "no pass, no copy");
}

TEST_MAIN()
