// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /proc/kallsyms, sorted once, searched by binary search. Where several
 * symbols share an address only the best name is kept (the one perf would
 * print: global before weak before local, fewer leading underscores, shorter).
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ksyms.h"
#include "unwind.h"

/* A kernel has ~200k symbols; more than this is not a kallsyms file. */
#define KSYMS_MAX (8u << 20)
#define KSYMS_NAMES_MAX (512u << 20)

struct ksym {
	uint64_t addr;
	uint32_t name; /* offset in names */
	uint8_t rank; /* lower is better, see rank_of() */
};

struct ksyms {
	struct ksym *syms;
	size_t nr, cap;
	char *names;
	size_t names_len, names_cap;
};

static int rank_of(char type, const char *name)
{
	int r;

	if (type == 'W' || type == 'w' || type == 'V' || type == 'v')
		r = 1;
	else if (isupper((unsigned char)type))
		r = 0;
	else
		r = 2;
	r *= 4;
	for (int i = 0; i < 3 && name[i] == '_'; i++)
		r++;
	return r;
}

static int add_name(struct ksyms *k, const char *name, const char *mod, uint32_t *off)
{
	size_t len = strlen(name) + (mod ? strlen(mod) + 3 : 0) + 1;

	if (k->names_len + len > k->names_cap) {
		size_t cap = k->names_cap ? k->names_cap * 2 : 1u << 20;
		char *p;

		while (cap < k->names_len + len)
			cap *= 2;
		if (cap > KSYMS_NAMES_MAX)
			return -E2BIG;
		p = realloc(k->names, cap);
		if (!p)
			return -ENOMEM;
		k->names = p;
		k->names_cap = cap;
	}
	if (mod)
		snprintf(k->names + k->names_len, len, "%s [%s]", name, mod);
	else
		memcpy(k->names + k->names_len, name, len);
	*off = (uint32_t)k->names_len;
	k->names_len += len;
	return 0;
}

static int add_sym(struct ksyms *k, uint64_t addr, char type, const char *name, const char *mod)
{
	struct ksym *s;
	int err;

	if (k->nr == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 4096;

		if (cap > KSYMS_MAX)
			return -E2BIG;
		s = realloc(k->syms, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		k->syms = s;
		k->cap = cap;
	}
	s = &k->syms[k->nr];
	err = add_name(k, name, mod, &s->name);
	if (err)
		return err;
	s->addr = addr;
	s->rank = (uint8_t)rank_of(type, name);
	k->nr++;
	return 0;
}

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

/* Sorts by address and keeps the best-ranked symbol of each address. */
static void sort_dedup(struct ksyms *k)
{
	size_t out = 0;

	if (!k->nr)
		return;
	qsort(k->syms, k->nr, sizeof(*k->syms), cmp_ksym);
	for (size_t i = 0; i < k->nr; i++) {
		if (out && k->syms[out - 1].addr == k->syms[i].addr) {
			const char *a = k->names + k->syms[out - 1].name;
			const char *b = k->names + k->syms[i].name;

			if (k->syms[i].rank == k->syms[out - 1].rank && strlen(b) < strlen(a))
				k->syms[out - 1] = k->syms[i];
			continue;
		}
		k->syms[out++] = k->syms[i];
	}
	k->nr = out;
}

/* One line: "ffffffff81000000 T _stext" or "... t name\t[module]". */
static int parse_line(struct ksyms *k, char *line)
{
	char *p = line, *end, *name, *mod = NULL;
	unsigned long long addr;
	char type;

	errno = 0;
	addr = strtoull(p, &end, 16);
	if (errno || end == p || (*end != ' ' && *end != '\t'))
		return 0;
	p = end + strspn(end, " \t");
	type = *p;
	if (!type || (p[1] != ' ' && p[1] != '\t'))
		return 0;
	p += 1 + strspn(p + 1, " \t");
	name = p;
	p += strcspn(p, " \t\n");
	if (*p && *p != '\n') {
		*p++ = '\0';
		p += strspn(p, " \t");
		if (*p == '[') {
			mod = ++p;
			p += strcspn(p, "]\n");
			*p = '\0';
		}
	} else {
		*p = '\0';
	}
	/* Hidden addresses (no root, kptr_restrict) and absolute per-cpu offsets. */
	if (!addr || type == 'a' || type == 'A' || !*name)
		return 0;
	return add_sym(k, addr, type, name, mod && *mod ? mod : NULL);
}

struct ksyms *ksyms__load_file(const char *path)
{
	struct ksyms *k = calloc(1, sizeof(*k));
	char line[512];
	int err = 0;
	FILE *f;

	if (!k)
		return NULL;
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		goto fail;
	}
	while (fgets(line, sizeof(line), f)) {
		/* A line longer than the buffer: skip its rest. */
		if (!strchr(line, '\n') && !feof(f)) {
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		err = parse_line(k, line);
		if (err)
			break;
	}
	fclose(f);
	if (err)
		goto fail;
	sort_dedup(k);
	return k;
fail:
	ksyms__free(k);
	errno = -err;
	return NULL;
}

struct ksyms *ksyms__load(void)
{
	return ksyms__load_file("/proc/kallsyms");
}

void ksyms__free(struct ksyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->names);
	free(k);
}

size_t ksyms__count(const struct ksyms *k)
{
	return k ? k->nr : 0;
}

const char *ksyms__name(const struct ksyms *k, uint64_t addr, uint64_t *offset)
{
	size_t lo = 0, hi;

	if (!k || !k->nr || addr < k->syms[0].addr)
		return NULL;
	/* The last symbol at or below addr. */
	hi = k->nr;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (offset)
		*offset = addr - k->syms[lo].addr;
	return k->names + k->syms[lo].name;
}

size_t ksyms__frames(const struct ksyms *k, const uint64_t *addrs, size_t nr, struct frame *out,
		     size_t max)
{
	size_t n = nr < max ? nr : max;

	for (size_t i = 0; i < n; i++) {
		struct frame *f = &out[i];
		uint64_t look = i && addrs[i] ? addrs[i] - 1 : addrs[i];
		const char *name;

		memset(f, 0, sizeof(*f));
		f->addr = addrs[i];
		name = ksyms__name(k, look, &f->offset);
		if (name) {
			snprintf(f->function, sizeof(f->function), "%s", name);
			f->offset += addrs[i] - look;
		}
		snprintf(f->module, sizeof(f->module), "[kernel]");
	}
	return n;
}
