// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the u64 -> pointer hash map (src/hmap.c).
 *
 * Besides the basic operations, the map is checked against a plain array
 * ("ref") after every single insert and delete, so that a mistake in the
 * backward-shift deletion, which only shows up when a probe chain is broken,
 * is caught at the operation that caused it.
 */
#include <errno.h>
#include <stdint.h>

#include "hmap.h"
#include "test.h"

/* xorshift64*: a fixed seed keeps every run identical. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 1;
}

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Distinct, never dereferenced, non-NULL values: addresses inside this array. */
static char value_pool[200000];

static void *val_of(size_t i)
{
	return &value_pool[i % sizeof(value_pool)];
}

/* The reference: unordered (key, value) pairs, with swap-remove. */
struct ref {
	uint64_t *keys;
	void **vals;
	size_t n;
	size_t cap;
};

static bool ref__init(struct ref *r, size_t cap)
{
	r->keys = calloc(cap, sizeof(*r->keys));
	r->vals = calloc(cap, sizeof(*r->vals));
	r->n = 0;
	r->cap = cap;
	return r->keys && r->vals;
}

static void ref__fini(struct ref *r)
{
	free(r->keys);
	free(r->vals);
}

static ssize_t ref__find(const struct ref *r, uint64_t key)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->keys[i] == key)
			return (ssize_t)i;
	return -1;
}

static void ref__set(struct ref *r, uint64_t key, void *val)
{
	ssize_t i = ref__find(r, key);

	if (i >= 0) {
		r->vals[i] = val;
		return;
	}
	r->keys[r->n] = key;
	r->vals[r->n] = val;
	r->n++;
}

static void ref__del(struct ref *r, size_t i)
{
	r->n--;
	r->keys[i] = r->keys[r->n];
	r->vals[i] = r->vals[r->n];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The map holds exactly the reference's entries: same length and every
 * reference key found with its value. With @iterate, iteration must also
 * yield each key exactly once with its value (sorted multiset comparison).
 */
static bool same_as_ref(const struct hmap *m, const struct ref *r, bool iterate, const char *what)
{
	uint64_t *got = NULL, *want = NULL, key;
	size_t it = 0, seen = 0;
	bool ok = false;
	void *val;

	if (!ASSERT_EQ(hmap__len(m), r->n, what))
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (!ASSERT_TRUE(hmap__get(m, r->keys[i]) == r->vals[i], what))
			return false;
	if (!iterate)
		return true;
	got = calloc(r->n + 1, sizeof(*got));
	want = calloc(r->n + 1, sizeof(*want));
	if (!ASSERT_TRUE(got && want, "alloc"))
		goto out;
	while (hmap__next(m, &it, &key, &val)) {
		if (!ASSERT_TRUE(seen < r->n, what) || !ASSERT_TRUE(hmap__get(m, key) == val, what))
			goto out;
		got[seen++] = key;
	}
	if (!ASSERT_EQ(seen, r->n, what))
		goto out;
	memcpy(want, r->keys, r->n * sizeof(*want));
	qsort(got, seen, sizeof(*got), cmp_u64);
	qsort(want, seen, sizeof(*want), cmp_u64);
	ok = ASSERT_TRUE(memcmp(got, want, seen * sizeof(*got)) == 0, what);
out:
	free(got);
	free(want);
	return ok;
}

TEST(new_is_empty)
{
	struct hmap *m = hmap__new();
	size_t it = 0;

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	ASSERT_EQ(hmap__len(m), 0, "len");
	ASSERT_TRUE(hmap__get(m, 0) == NULL, "get 0");
	ASSERT_TRUE(hmap__get(m, 42) == NULL, "get 42");
	ASSERT_TRUE(hmap__del(m, 42) == NULL, "del missing");
	ASSERT_FALSE(hmap__next(m, &it, NULL, NULL), "next on empty");
	ASSERT_EQ(hmap__len(m), 0, "len after del");
	hmap__free(m);
	hmap__free(NULL);
}

TEST(set_get_del)
{
	struct hmap *m = hmap__new();

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	ASSERT_OK(hmap__set(m, 1, val_of(1)), "set 1");
	ASSERT_OK(hmap__set(m, 2, val_of(2)), "set 2");
	ASSERT_OK(hmap__set(m, 3, val_of(3)), "set 3");
	ASSERT_EQ(hmap__len(m), 3, "len 3");
	ASSERT_TRUE(hmap__get(m, 1) == val_of(1), "get 1");
	ASSERT_TRUE(hmap__get(m, 2) == val_of(2), "get 2");
	ASSERT_TRUE(hmap__get(m, 3) == val_of(3), "get 3");
	ASSERT_TRUE(hmap__get(m, 4) == NULL, "get 4");

	ASSERT_TRUE(hmap__del(m, 2) == val_of(2), "del 2 returns value");
	ASSERT_EQ(hmap__len(m), 2, "len 2");
	ASSERT_TRUE(hmap__get(m, 2) == NULL, "2 gone");
	ASSERT_TRUE(hmap__del(m, 2) == NULL, "del 2 again");
	ASSERT_EQ(hmap__len(m), 2, "len still 2");
	ASSERT_TRUE(hmap__get(m, 1) == val_of(1), "1 kept");
	ASSERT_TRUE(hmap__get(m, 3) == val_of(3), "3 kept");

	ASSERT_OK(hmap__set(m, 2, val_of(22)), "set 2 again");
	ASSERT_TRUE(hmap__get(m, 2) == val_of(22), "get new 2");
	ASSERT_EQ(hmap__len(m), 3, "len 3 again");
	hmap__free(m);
}

TEST(replace_keeps_len)
{
	struct hmap *m = hmap__new();

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	ASSERT_OK(hmap__set(m, 7, val_of(1)), "set");
	for (size_t i = 2; i < 1000; i++) {
		if (!ASSERT_OK(hmap__set(m, 7, val_of(i)), "replace"))
			break;
		if (!ASSERT_EQ(hmap__len(m), 1, "len stays 1"))
			break;
		if (!ASSERT_TRUE(hmap__get(m, 7) == val_of(i), "latest value"))
			break;
	}
	ASSERT_TRUE(hmap__del(m, 7) == val_of(999), "del returns latest");
	ASSERT_EQ(hmap__len(m), 0, "empty");
	hmap__free(m);
}

TEST(null_value_rejected)
{
	struct hmap *m = hmap__new();

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	ASSERT_EQ(hmap__set(m, 5, NULL), -EINVAL, "set NULL new key");
	ASSERT_EQ(hmap__len(m), 0, "nothing inserted");
	ASSERT_OK(hmap__set(m, 5, val_of(5)), "set 5");
	/* NULL must not become a way to delete (and corrupt len) */
	ASSERT_EQ(hmap__set(m, 5, NULL), -EINVAL, "set NULL existing key");
	ASSERT_TRUE(hmap__get(m, 5) == val_of(5), "old value kept");
	ASSERT_EQ(hmap__len(m), 1, "len 1");
	hmap__free(m);
}

TEST(extreme_keys)
{
	struct hmap *m = hmap__new();
	uint64_t keys[] = { 0, UINT64_MAX, 1, UINT64_MAX - 1, (uint64_t)1 << 63 };
	size_t n = sizeof(keys) / sizeof(keys[0]);
	size_t it = 0, seen = 0;
	uint64_t key;
	void *val;

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	ASSERT_TRUE(hmap__get(m, 0) == NULL, "0 absent");
	ASSERT_TRUE(hmap__get(m, UINT64_MAX) == NULL, "max absent");
	for (size_t i = 0; i < n; i++)
		ASSERT_OK(hmap__set(m, keys[i], val_of(i)), "set");
	ASSERT_EQ(hmap__len(m), n, "len");
	for (size_t i = 0; i < n; i++)
		ASSERT_TRUE(hmap__get(m, keys[i]) == val_of(i), "get");
	while (hmap__next(m, &it, &key, &val)) {
		size_t i;

		for (i = 0; i < n && keys[i] != key; i++)
			;
		ASSERT_TRUE(i < n && val == val_of(i), "iterated pair");
		seen++;
	}
	ASSERT_EQ(seen, n, "iterated all");
	ASSERT_TRUE(hmap__del(m, 0) == val_of(0), "del 0");
	ASSERT_TRUE(hmap__get(m, 0) == NULL, "0 gone");
	ASSERT_TRUE(hmap__get(m, UINT64_MAX) == val_of(1), "max kept");
	ASSERT_TRUE(hmap__del(m, UINT64_MAX) == val_of(1), "del max");
	ASSERT_TRUE(hmap__get(m, UINT64_MAX) == NULL, "max gone");
	ASSERT_EQ(hmap__len(m), n - 2, "len after");
	hmap__free(m);
}

/* 100k keys: the table doubles from 64 slots about twelve times. */
TEST(growth_100k)
{
	const size_t n = 100000;
	struct hmap *m = hmap__new();
	size_t i, bad = 0;

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	for (i = 0; i < n; i++) {
		if (!ASSERT_OK(hmap__set(m, i * 7919, val_of(i)), "set"))
			goto out;
		/* spot-check the earliest keys survive every rehash */
		if ((i & (i - 1)) == 0 && !ASSERT_TRUE(hmap__get(m, 0) == val_of(0), "key 0"))
			goto out;
	}
	ASSERT_EQ(hmap__len(m), n, "len");
	for (i = 0; i < n; i++)
		if (hmap__get(m, i * 7919) != val_of(i))
			bad++;
	ASSERT_EQ(bad, 0, "all found");
	ASSERT_TRUE(hmap__get(m, 7919 * n) == NULL, "absent key");
	ASSERT_TRUE(hmap__get(m, 1) == NULL, "absent key 1");

	/* delete every other key, then check both halves */
	for (i = 0; i < n; i += 2)
		if (hmap__del(m, i * 7919) != val_of(i))
			bad++;
	ASSERT_EQ(bad, 0, "del returned values");
	ASSERT_EQ(hmap__len(m), n / 2, "len half");
	for (i = 0; i < n; i++)
		if (hmap__get(m, i * 7919) != (i % 2 ? val_of(i) : NULL))
			bad++;
	ASSERT_EQ(bad, 0, "half found, half gone");
out:
	hmap__free(m);
}

TEST(growth_random_keys)
{
	const size_t n = 100000;
	uint64_t *keys = calloc(n, sizeof(*keys));
	struct hmap *m = hmap__new();
	size_t i, bad = 0, len;

	if (!ASSERT_TRUE(m && keys, "alloc"))
		goto out;
	rng_seed(0x1234);
	for (i = 0; i < n; i++) {
		keys[i] = rng_next();
		if (!ASSERT_OK(hmap__set(m, keys[i], val_of(i)), "set"))
			goto out;
	}
	/* random 64-bit keys: a duplicate would be a surprise, but count it right */
	len = hmap__len(m);
	ASSERT_EQ(len, n, "len");
	for (i = 0; i < n; i++)
		if (hmap__get(m, keys[i]) != val_of(i))
			bad++;
	ASSERT_EQ(bad, 0, "all found");
	for (i = 0; i < n; i++)
		if (hmap__del(m, keys[i]) != val_of(i))
			bad++;
	ASSERT_EQ(bad, 0, "all deleted");
	ASSERT_EQ(hmap__len(m), 0, "empty");
out:
	hmap__free(m);
	free(keys);
}

/* Every entry is visited exactly once, in a map that grew and had deletions. */
TEST(iteration_exactly_once)
{
	const size_t n = 20000;
	unsigned char *visits = calloc(n, 1);
	struct hmap *m = hmap__new();
	size_t i, it = 0, count = 0, bad = 0;
	uint64_t key;
	void *val;

	if (!ASSERT_TRUE(m && visits, "alloc"))
		goto out;
	for (i = 0; i < n; i++)
		if (!ASSERT_OK(hmap__set(m, i, val_of(i)), "set"))
			goto out;
	for (i = 0; i < n; i += 3)
		hmap__del(m, i);
	while (hmap__next(m, &it, &key, &val)) {
		if (key >= n || key % 3 == 0 || val != val_of(key)) {
			bad++;
			continue;
		}
		visits[key]++;
		count++;
	}
	ASSERT_EQ(bad, 0, "only live entries with their values");
	ASSERT_EQ(count, hmap__len(m), "count == len");
	for (i = 0; i < n; i++)
		if (visits[i] != (i % 3 ? 1 : 0))
			bad++;
	ASSERT_EQ(bad, 0, "each live key once");

	/* NULL out-pointers are allowed */
	it = 0;
	count = 0;
	while (hmap__next(m, &it, NULL, NULL))
		count++;
	ASSERT_EQ(count, hmap__len(m), "count with NULL outs");
	/* an exhausted iterator stays exhausted */
	ASSERT_FALSE(hmap__next(m, &it, &key, &val), "exhausted");
out:
	hmap__free(m);
	free(visits);
}

/*
 * Random inserts, replaces and deletes, checked against the reference after
 * every operation. @key_range keeps keys colliding often enough that deletes
 * hit the middle of probe chains; @max_live bounds the table size.
 */
static void churn(uint64_t seed, size_t ops, uint64_t key_range, size_t max_live)
{
	struct hmap *m = hmap__new();
	struct ref r;
	char what[96];

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	if (!ASSERT_TRUE(ref__init(&r, max_live + 1), "ref"))
		goto out;
	rng_seed(seed);
	for (size_t op = 0; op < ops; op++) {
		uint64_t x = rng_next();
		bool del = r.n >= max_live || (r.n && x % 3 == 0);

		if (del) {
			size_t i = (x >> 8) % r.n;
			uint64_t key = r.keys[i];
			void *want = r.vals[i];

			snprintf(what, sizeof(what), "seed %#llx op %zu del %llu",
				 (unsigned long long)seed, op, (unsigned long long)key);
			ref__del(&r, i);
			if (!ASSERT_TRUE(hmap__del(m, key) == want, what))
				goto out;
		} else {
			uint64_t key = (x >> 8) % key_range;

			snprintf(what, sizeof(what), "seed %#llx op %zu set %llu",
				 (unsigned long long)seed, op, (unsigned long long)key);
			ref__set(&r, key, val_of(op));
			if (!ASSERT_OK(hmap__set(m, key, val_of(op)), what))
				goto out;
		}
		if (!same_as_ref(m, &r, r.n <= 64 || op % 64 == 0, what))
			goto out;
	}
	/* drain in random order */
	while (r.n) {
		size_t i = rng_next() % r.n;
		uint64_t key = r.keys[i];
		void *want = r.vals[i];

		snprintf(what, sizeof(what), "seed %#llx drain %llu", (unsigned long long)seed,
			 (unsigned long long)key);
		ref__del(&r, i);
		if (!ASSERT_TRUE(hmap__del(m, key) == want, what) ||
		    !same_as_ref(m, &r, r.n <= 64 || r.n % 64 == 0, what))
			goto out;
	}
	ASSERT_EQ(hmap__len(m), 0, "drained");
out:
	ref__fini(&r);
	hmap__free(m);
}

/* Small table (64 slots, < 48 live): wrap-around chains are common. */
TEST(random_delete_small_table)
{
	for (uint64_t seed = 1; seed <= 40; seed++)
		churn(seed * 0x9e3779b97f4a7c15ULL, 2000, 200, 47);
}

/* Larger tables that grow and keep churning. */
TEST(random_delete_large_table)
{
	churn(0xdeadbeef, 6000, 5000, 1500);
	churn(0xfeedface, 6000, UINT64_MAX, 2500);
}

/* Insert everything, then delete in a random (fixed-seed) order, checking each step. */
TEST(delete_random_order)
{
	const size_t n = 3000;
	struct hmap *m = hmap__new();
	struct ref r;
	char what[64];

	if (!ASSERT_TRUE(m, "hmap__new"))
		return;
	if (!ASSERT_TRUE(ref__init(&r, n), "ref"))
		goto out;
	rng_seed(42);
	for (size_t i = 0; i < n; i++) {
		uint64_t key = rng_next() >> (i % 50); /* mixed magnitudes */

		ref__set(&r, key, val_of(i));
		if (!ASSERT_OK(hmap__set(m, key, val_of(i)), "set"))
			goto out;
	}
	if (!same_as_ref(m, &r, true, "after inserts"))
		goto out;
	for (size_t step = 0; r.n; step++) {
		size_t i = rng_next() % r.n;
		uint64_t key = r.keys[i];
		void *want = r.vals[i];

		snprintf(what, sizeof(what), "delete step %zu", step);
		ref__del(&r, i);
		if (!ASSERT_TRUE(hmap__del(m, key) == want, what))
			goto out;
		if (!ASSERT_TRUE(hmap__get(m, key) == NULL, what))
			goto out;
		if (!same_as_ref(m, &r, r.n <= 64 || step % 32 == 0, what))
			goto out;
	}
out:
	ref__fini(&r);
	hmap__free(m);
}

TEST_MAIN()
