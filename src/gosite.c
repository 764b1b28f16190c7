// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdint.h>
#include <string.h>
#include "gosite.h"
#include "view_go.h"

bool gosite__is_library(const char *fn)
{
	const char *slash = strrchr(fn, '/'), *dot = strchr(slash ? slash : fn, '.');
	const char *end = dot ? dot : fn + strlen(fn), *first_slash = strchr(fn, '/');
	size_t first_len =
		first_slash && first_slash < end ? (size_t)(first_slash - fn) : (size_t)(end - fn);

	if (first_len == 4 && !strncmp(fn, "main", 4))
		return false;
	return !memchr(fn, '.', first_len);
}

void gosite__pick(const struct frame *f, size_t n, size_t *shown, size_t *own)
{
	*shown = *own = SIZE_MAX;
	for (size_t k = 0; k < n && *own == SIZE_MAX; k++) {
		if (!view_go__frame_shown(&f[k]))
			continue;
		if (*shown == SIZE_MAX)
			*shown = k;
		if (!gosite__is_library(f[k].function))
			*own = k;
	}
}

uint64_t gosite__key(struct goproc *p, const struct goroutine *g)
{
	uint64_t first = 0;

	for (uint32_t i = 0; i < g->nr_pcs; i++) {
		struct frame f[16];
		size_t n = 0, shown, own;

		goproc__frames(p, g->pcs[i], true, f, 16, &n);
		gosite__pick(f, n, &shown, &own);
		if (own != SIZE_MAX)
			return gosite__pc_key(g->pcs[i], true);
		if (shown != SIZE_MAX && !first)
			first = gosite__pc_key(g->pcs[i], false);
	}
	return first;
}
