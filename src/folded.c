// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "folded.h"
#include "hmap.h"

struct line {
	char *text;
	uint64_t ns;
};

struct folded {
	struct hmap *by_hash; /* hash of text -> struct line (probing on collision) */
	struct line other;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

struct folded *folded__new(void)
{
	struct folded *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->by_hash = hmap__new();
	if (!f->by_hash) {
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	return f;
}

void folded__free(struct folded *f)
{
	size_t it = 0;
	void *v;

	if (!f)
		return;
	while (hmap__next(f->by_hash, &it, NULL, &v)) {
		free(((struct line *)v)->text);
		free(v);
	}
	hmap__free(f->by_hash);
	free(f);
}

/* A frame's name in folded form: no ';', no spaces, no control bytes. */
static void append_frame(char *buf, size_t len, const char *name)
{
	size_t o = strlen(buf);

	if (o && o + 1 < len)
		buf[o++] = ';';
	for (; *name && o + 1 < len; name++)
		buf[o++] =
			(*name == ';' || *name == ' ' || (unsigned char)*name < 0x20) ? '_' : *name;
	buf[o] = '\0';
}

static void frame_name(char *buf, size_t len, const struct frame *fr)
{
	const char *base = strrchr(fr->module, '/');

	if (fr->function[0])
		snprintf(buf, len, "%s%s", fr->function, fr->inlined ? "_[i]" : "");
	else if (fr->module[0])
		snprintf(buf, len, "[%s+0x%" PRIx64 "]", base ? base + 1 : fr->module, fr->offset);
	else
		snprintf(buf, len, "0x%" PRIx64, fr->addr);
}

int folded__add(struct folded *f, const char *comm, const struct frame *frames, size_t n,
		const char *why_none, uint64_t value_ns)
{
	char text[4096] = "", name[512];
	struct line *l;
	uint64_t key;

	append_frame(text, sizeof(text), comm && *comm ? comm : "?");
	if (!n)
		append_frame(text, sizeof(text), why_none ? why_none : "[no stack]");
	for (size_t i = n; i-- > 0;) { /* root first */
		frame_name(name, sizeof(name), &frames[i]);
		append_frame(text, sizeof(text), name);
	}
	for (key = hash_str(text);; key++) {
		l = hmap__get(f->by_hash, key);
		if (!l || !strcmp(l->text, text))
			break;
	}
	if (l) {
		l->ns += value_ns;
		return 0;
	}
	if (hmap__len(f->by_hash) >= FOLDED_MAX_STACKS) {
		f->other.ns += value_ns;
		return 0;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->text = strdup(text)) || hmap__set(f->by_hash, key, l)) {
		if (l)
			free(l->text);
		free(l);
		return -ENOMEM;
	}
	l->ns = value_ns;
	return 0;
}

static int by_ns_desc(const void *a, const void *b)
{
	const struct line *x = *(const struct line *const *)a, *y = *(const struct line *const *)b;

	return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : strcmp(x->text, y->text);
}

int folded__write(const struct folded *f, FILE *out)
{
	size_t n = hmap__len(f->by_hash), k = 0, it = 0;
	struct line **lines = calloc(n + 1, sizeof(*lines));
	void *v;

	if (!lines)
		return -ENOMEM;
	while (hmap__next(f->by_hash, &it, NULL, &v))
		lines[k++] = v;
	qsort(lines, k, sizeof(*lines), by_ns_desc);
	for (size_t i = 0; i < k; i++)
		if (lines[i]->ns / 1000)
			fprintf(out, "%s %" PRIu64 "\n", lines[i]->text, lines[i]->ns / 1000);
	if (f->other.ns / 1000)
		fprintf(out, "[other stacks] %" PRIu64 "\n", f->other.ns / 1000);
	free(lines);
	return fflush(out) ? -errno : 0;
}
