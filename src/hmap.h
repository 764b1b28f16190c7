/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* An open-addressing hash map from u64 keys to pointers, for the model. */
#ifndef TANGLE_HMAP_H
#define TANGLE_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hmap;

struct hmap *hmap__new(void);
void hmap__free(struct hmap *m); /* frees the table, not the values */
void *hmap__get(const struct hmap *m, uint64_t key);
/* Insert or replace; returns 0 or -ENOMEM. */
int hmap__set(struct hmap *m, uint64_t key, void *value);
/* Remove; returns the value that was there, or NULL. */
void *hmap__del(struct hmap *m, uint64_t key);
size_t hmap__len(const struct hmap *m);

/*
 * Iteration: for (size_t it = 0; hmap__next(m, &it, &key, &val);) ...
 * The map must not be modified while iterating (backward-shift deletion moves
 * entries): collect keys first, then delete.
 */
bool hmap__next(const struct hmap *m, size_t *it, uint64_t *key, void **value);

#endif
