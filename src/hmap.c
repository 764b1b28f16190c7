// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Linear probing with backward-shift deletion: no tombstones, so lookups stay
 * short after heavy thread churn. The table is kept at most 3/4 full.
 */
#include <errno.h>
#include <stdlib.h>
#include "hmap.h"

struct hmap_slot {
	uint64_t key;
	void *value; /* NULL marks an empty slot */
};

struct hmap {
	struct hmap_slot *slots;
	size_t cap; /* power of two */
	size_t len;
};

static size_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)k;
}

struct hmap *hmap__new(void)
{
	struct hmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cap = 64;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

void hmap__free(struct hmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static struct hmap_slot *find(const struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1;

	for (size_t i = hash64(key) & mask;; i = (i + 1) & mask) {
		struct hmap_slot *s = &m->slots[i];

		if (!s->value || s->key == key)
			return s;
	}
}

void *hmap__get(const struct hmap *m, uint64_t key)
{
	return find(m, key)->value;
}

static int grow(struct hmap *m)
{
	struct hmap_slot *old = m->slots;
	size_t old_cap = m->cap;
	struct hmap_slot *slots = calloc(old_cap * 2, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	m->slots = slots;
	m->cap = old_cap * 2;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].value)
			*find(m, old[i].key) = old[i];
	free(old);
	return 0;
}

int hmap__set(struct hmap *m, uint64_t key, void *value)
{
	struct hmap_slot *s;

	if (!value)
		return -EINVAL;
	if ((m->len + 1) * 4 > m->cap * 3) {
		int err = grow(m);

		if (err)
			return err;
	}
	s = find(m, key);
	if (!s->value)
		m->len++;
	s->key = key;
	s->value = value;
	return 0;
}

void *hmap__del(struct hmap *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	struct hmap_slot *s = find(m, key);
	void *value = s->value;
	size_t i, j;

	if (!value)
		return NULL;
	m->len--;
	/* shift back every following entry that may no longer be reachable */
	i = (size_t)(s - m->slots);
	for (j = (i + 1) & mask; m->slots[j].value; j = (j + 1) & mask) {
		size_t home = hash64(m->slots[j].key) & mask;

		/* entry j can move to i if i lies cyclically in [home, j) */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].value = NULL;
	return value;
}

size_t hmap__len(const struct hmap *m)
{
	return m->len;
}

bool hmap__next(const struct hmap *m, size_t *it, uint64_t *key, void **value)
{
	while (*it < m->cap) {
		struct hmap_slot *s = &m->slots[(*it)++];

		if (s->value) {
			if (key)
				*key = s->key;
			if (value)
				*value = s->value;
			return true;
		}
	}
	return false;
}
