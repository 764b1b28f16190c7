// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Stack maps from the target's own function table (Go 1.20+ layout of
 * runtime._func: entryOff, nameOff, args, deferreturn, pcsp, pcfile, pcln,
 * npcdata, cuOffset, startLine, funcID, flag, pad, nfuncdata = 44 bytes,
 * then npcdata uint32 offsets into pctab and nfuncdata uint32 offsets from
 * moduledata.gofunc). Tables are read once per function and kept.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "goreach_funcs.h"
#include "hmap.h"
#include "memword.h"
#include "vmread.h"

#define FUNC_HDR 44
#define PCDATA_STACKMAP 1
#define FUNCDATA_ARGS 0
#define FUNCDATA_LOCALS 1
#define FUNCDATA_STACKOBJ 2
#define FLAG_TOPFRAME 1
#define FLAG_SPWRITE 2
#define ARGS_UNKNOWN INT32_MIN /* ArgsSizeUnknown: reflect stubs */
#define MAX_FTAB (4u << 20) /* functions: beyond this it is not a sane table */
#define MAX_TABLE (64u << 10) /* bytes of one pc-value table */
#define MAX_MAP (1u << 20) /* bytes of one stack map */
#define MAX_OBJS 4096 /* stack objects of one function */
#define MAX_CONS 8

/* One function, read once. */
struct fn {
	uint64_t entry;
	int32_t args;
	uint8_t flag;
	bool bad; /* its tables could not be read: no maps */
	uint8_t *pcsp, *smi; /* pc-value tables (smi: PCDATA_StackMapIndex), NULL if none */
	size_t pcsp_len, smi_len;
	int32_t loc_n, loc_nbit, arg_n, arg_nbit; /* -1: no such stack map */
	uint8_t *loc, *arg; /* loc_n bitmaps of (loc_nbit + 7) / 8 bytes */
	uint32_t nobjs;
	struct go_stack_obj *objs;
};

static struct go_frame_info no_frame; /* the cached answer "no frame at this pc" */

struct goreach_funcs {
	uint32_t pid;
	uint64_t text, etext, pctab, pctab_len, pclntable, gofunc, rodata;
	uint64_t cons[MAX_CONS]; /* entries of functions the GC scans conservatively */
	uint32_t nr_cons;
	uint32_t *ftab; /* pairs: entry offset from text, _func offset in pclntable */
	size_t nftab;
	struct hmap *fns; /* entry -> struct fn */
	struct hmap *pcs; /* pc -> struct go_frame_info (or ENOENT_INFO): the answers so far */
	uint64_t bytes, reads;
};

static int rd(struct goreach_funcs *s, uint64_t addr, void *buf, size_t len)
{
	s->bytes += len;
	s->reads++;
	return vmread__one(s->pid, addr, buf, len);
}

struct goreach_funcs *goreach_funcs__new(uint32_t pid, const struct go_obj_layout *l,
					 uint64_t moduledata)
{
	struct goreach_funcs *s = calloc(1, sizeof(*s));
	uint8_t md[512];
	uint64_t ftab, nftab;
	int err = ENOMEM;

	if (!s || !(s->fns = hmap__new()) || !(s->pcs = hmap__new()))
		goto fail;
	s->pid = pid;
	err = EINVAL;
	if (l->md_gofunc + 8 > sizeof(md) || rd(s, moduledata, md, l->md_gofunc + 8))
		goto fail;
	s->text = u64_at(md, l->md_text);
	s->etext = u64_at(md, l->md_etext);
	s->pctab = u64_at(md, l->md_pctab);
	s->pctab_len = u64_at(md, l->md_pctab + 8);
	s->pclntable = u64_at(md, l->md_pclntable);
	s->gofunc = u64_at(md, l->md_gofunc);
	s->rodata = u64_at(md, l->md_rodata);
	ftab = u64_at(md, l->md_ftab);
	nftab = u64_at(md, l->md_ftab + 8);
	if (!nftab || nftab > MAX_FTAB || s->etext <= s->text)
		goto fail;
	s->ftab = malloc(nftab * 8);
	if (!s->ftab) {
		err = ENOMEM;
		goto fail;
	}
	s->nftab = nftab;
	if (rd(s, ftab, s->ftab, nftab * 8))
		goto fail;
	return s;
fail:
	goreach_funcs__free(s);
	errno = err;
	return NULL;
}

static void fn_free(struct fn *f)
{
	if (!f)
		return;
	free(f->pcsp);
	free(f->smi);
	free(f->loc);
	free(f->arg);
	for (uint32_t i = 0; i < f->nobjs; i++)
		free((void *)f->objs[i].mask);
	free(f->objs);
	free(f);
}

void goreach_funcs__free(struct goreach_funcs *s)
{
	uint64_t key;
	void *v;

	if (!s)
		return;
	for (size_t it = 0; s->fns && hmap__next(s->fns, &it, &key, &v);)
		fn_free(v);
	for (size_t it = 0; s->pcs && hmap__next(s->pcs, &it, &key, &v);)
		if (v != &no_frame)
			free(v);
	hmap__free(s->fns);
	hmap__free(s->pcs);
	free(s->ftab);
	free(s);
}

void goreach_funcs__conservative(struct goreach_funcs *s, uint64_t entry)
{
	if (s->nr_cons < MAX_CONS && entry)
		s->cons[s->nr_cons++] = entry;
}

void goreach_funcs__cost(const struct goreach_funcs *s, uint64_t *bytes, uint64_t *reads)
{
	*bytes = s->bytes;
	*reads = s->reads;
}

static bool uvarint(const uint8_t *p, size_t len, size_t *i, uint32_t *v)
{
	uint32_t r = 0;

	for (unsigned shift = 0; *i < len && shift < 35; shift += 7) {
		uint8_t b = p[(*i)++];

		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/*
 * Go's pc-value encoding: pairs of (zig-zag value delta, pc delta) varints
 * from (entry, -1); a zero value delta after the first pair ends the table.
 * The value at target is the one of the first pair whose pc passes it.
 */
bool go_pcvalue(const uint8_t *tab, size_t len, uint64_t entry, uint64_t target, int32_t *val)
{
	uint64_t pc = entry;
	int32_t v = -1;
	size_t i = 0;

	for (bool first = true;; first = false) {
		uint32_t uv, dpc;

		if (!uvarint(tab, len, &i, &uv) || (uv == 0 && !first))
			return false;
		v += (int32_t)(-(uv & 1) ^ (uv >> 1));
		if (!uvarint(tab, len, &i, &dpc))
			return false;
		pc += dpc;
		if (target < pc) {
			*val = v;
			return true;
		}
	}
}

/* Length of a complete pc-value table at tab (its end marker excluded), or 0. */
static size_t table_len(const uint8_t *tab, size_t len)
{
	size_t i = 0;

	for (bool first = true;; first = false) {
		uint32_t uv, dpc;

		if (!uvarint(tab, len, &i, &uv))
			return 0;
		if (uv == 0 && !first)
			return i;
		if (!uvarint(tab, len, &i, &dpc))
			return 0;
	}
}

/* Read the pc-value table at pctab + off, growing the window until it ends. */
static uint8_t *read_table(struct goreach_funcs *s, uint32_t off, size_t *out_len)
{
	if (off >= s->pctab_len)
		return NULL;
	for (size_t len = 512;; len *= 4) {
		size_t n, avail = s->pctab_len - off;
		uint8_t *t;

		if (len > avail)
			len = avail; /* never past the end of pctab */
		if (len > MAX_TABLE || !(t = malloc(len)))
			return NULL;
		if (rd(s, s->pctab + off, t, len)) {
			free(t);
			return NULL;
		}
		n = table_len(t, len);
		if (n) {
			*out_len = n;
			return t;
		}
		free(t);
		if (len == avail)
			return NULL;
	}
}

/* A stackmap {n int32, nbit int32, bitmaps}: all of its bitmaps. */
static int read_stackmap(struct goreach_funcs *s, uint64_t addr, int32_t *n, int32_t *nbit,
			 uint8_t **maps)
{
	int32_t hdr[2];
	size_t size;

	if (rd(s, addr, hdr, sizeof(hdr)) || hdr[0] <= 0 || hdr[1] < 0)
		return -EINVAL;
	size = (size_t)hdr[0] * (((size_t)hdr[1] + 7) / 8);
	if (size > MAX_MAP)
		return -EINVAL;
	*maps = malloc(size + 1);
	if (!*maps)
		return -ENOMEM;
	if (size && rd(s, addr + 8, *maps, size)) {
		free(*maps);
		*maps = NULL;
		return -EINVAL;
	}
	*n = hdr[0];
	*nbit = hdr[1];
	return 0;
}

/*
 * Stack objects: a uintptr count, then {off, size, ptrBytes int32, gcdataoff
 * uint32} (before go1.24 a negative ptrBytes means a GC program: no mask).
 */
static int read_stack_objects(struct goreach_funcs *s, uint64_t addr, struct fn *f)
{
	uint64_t n;
	uint8_t *recs;

	if (rd(s, addr, &n, sizeof(n)) || n > MAX_OBJS)
		return -EINVAL;
	if (!n)
		return 0;
	recs = malloc(n * 16);
	f->objs = calloc(n, sizeof(*f->objs));
	if (!recs || !f->objs) {
		free(recs);
		return -ENOMEM;
	}
	if (rd(s, addr + 8, recs, n * 16)) {
		free(recs);
		return -EINVAL;
	}
	f->nobjs = (uint32_t)n;
	for (uint64_t i = 0; i < n; i++) {
		struct go_stack_obj *o = &f->objs[i];
		int32_t ptrbytes = (int32_t)u32_at(recs, i * 16 + 8);
		uint8_t *mask;
		size_t len;

		o->off = (int32_t)u32_at(recs, i * 16);
		o->size = (int32_t)u32_at(recs, i * 16 + 4);
		if (ptrbytes == 0) {
			o->mask =
				calloc(1, 1); /* no pointers (NULL if out of memory: every word) */
			continue;
		}
		if (ptrbytes < 0 || ptrbytes > o->size || ptrbytes % 8)
			continue; /* a GC program (or nonsense): scanned word by word */
		len = ((size_t)ptrbytes / 8 + 7) / 8;
		mask = malloc(len);
		if (mask && rd(s, s->rodata + u32_at(recs, i * 16 + 12), mask, len) == 0) {
			o->ptrbytes = (uint32_t)ptrbytes;
			o->mask = mask;
		} else {
			free(mask);
		}
	}
	free(recs);
	return 0;
}

/* The function table entry covering pc: binary search of ftab by entry offset. */
static bool find_func(const struct goreach_funcs *s, uint64_t pc, uint64_t *entry,
		      uint32_t *funcoff)
{
	size_t lo = 0, hi = s->nftab - 1; /* the last entry is the end sentinel */
	uint64_t off;

	if (pc < s->text || pc >= s->etext || s->nftab < 2)
		return false;
	off = pc - s->text;
	if (off < s->ftab[0])
		return false;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ftab[2 * mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	if (off >= s->ftab[2 * hi])
		return false;
	*entry = s->text + s->ftab[2 * lo];
	*funcoff = s->ftab[2 * lo + 1];
	return true;
}

/* Read function f's tables (its _func at pclntable + funcoff). */
static void load_fn(struct goreach_funcs *s, struct fn *f, uint32_t funcoff)
{
	uint8_t hdr[FUNC_HDR + 4 * 64];
	uint32_t npcdata, nfuncdata, off;
	uint64_t fd[3];
	size_t need;

	f->loc_n = f->arg_n = -1;
	f->bad = true;
	if (rd(s, s->pclntable + funcoff, hdr, FUNC_HDR))
		return;
	npcdata = u32_at(hdr, 28);
	nfuncdata = hdr[43];
	need = FUNC_HDR + 4 * ((size_t)npcdata + nfuncdata);
	if (npcdata > 32 || need > sizeof(hdr) ||
	    rd(s, s->pclntable + funcoff + FUNC_HDR, hdr + FUNC_HDR, need - FUNC_HDR))
		return;
	if (s->text + u32_at(hdr, 0) != f->entry)
		return; /* not the function ftab said */
	f->args = (int32_t)u32_at(hdr, 8);
	f->flag = hdr[41];
	off = u32_at(hdr, 16);
	if (off && !(f->pcsp = read_table(s, off, &f->pcsp_len)))
		return;
	f->bad = false;
	if (npcdata > PCDATA_STACKMAP && (off = u32_at(hdr, FUNC_HDR + 4 * PCDATA_STACKMAP)))
		f->smi = read_table(s, off, &f->smi_len);
	for (uint32_t i = 0; i < 3; i++) {
		fd[i] = 0;
		if (i < nfuncdata) {
			off = u32_at(hdr, FUNC_HDR + 4 * ((size_t)npcdata + i));
			if (off != UINT32_MAX)
				fd[i] = s->gofunc + off;
		}
	}
	if (fd[FUNCDATA_LOCALS])
		read_stackmap(s, fd[FUNCDATA_LOCALS], &f->loc_n, &f->loc_nbit, &f->loc);
	if (fd[FUNCDATA_ARGS])
		read_stackmap(s, fd[FUNCDATA_ARGS], &f->arg_n, &f->arg_nbit, &f->arg);
	if (fd[FUNCDATA_STACKOBJ] && read_stack_objects(s, fd[FUNCDATA_STACKOBJ], f))
		f->bad = true; /* an object we cannot see: scan the frame conservatively */
}

static struct fn *fn_get(struct goreach_funcs *s, uint64_t pc)
{
	uint64_t entry;
	uint32_t funcoff;
	struct fn *f;

	if (!find_func(s, pc, &entry, &funcoff))
		return NULL;
	f = hmap__get(s->fns, entry);
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->entry = entry;
	load_fn(s, f, funcoff);
	if (hmap__set(s->fns, entry, f)) {
		fn_free(f);
		return NULL;
	}
	return f;
}

static int frame_of(struct goreach_funcs *s, uint64_t pc, struct go_frame_info *out)
{
	struct fn *f = fn_get(s, pc);
	uint64_t target;
	int32_t sp = 0, idx = -1;

	memset(out, 0, sizeof(*out));
	if (!f || f->bad)
		return -ENOENT;
	target = pc > f->entry ? pc - 1 : pc;
	if (f->pcsp && !go_pcvalue(f->pcsp, f->pcsp_len, f->entry, target, &sp))
		return -ENOENT;
	if (sp < 0)
		return -ENOENT;
	out->entry = f->entry;
	out->frame_size = (uint32_t)sp;
	out->top = f->flag & FLAG_TOPFRAME;
	out->spwrite = f->flag & FLAG_SPWRITE;
	for (uint32_t i = 0; i < s->nr_cons; i++)
		out->conservative |= s->cons[i] == f->entry;
	out->args_bytes = f->args > 0 ? (uint32_t)f->args : 0;
	if (f->args == ARGS_UNKNOWN)
		return 0; /* reflect stubs: no maps, scan conservatively */
	if (pc > f->entry && f->smi && !go_pcvalue(f->smi, f->smi_len, f->entry, target, &idx))
		idx = -1;
	if (idx < 0)
		idx = 0; /* the runtime's choice too: the entry map */
	out->has_maps = true;
	out->locals_map = f->loc_n > 0;
	if (f->loc_n > 0) {
		if (idx >= f->loc_n) {
			out->has_maps = false;
			return 0;
		}
		out->nlocals = (uint32_t)f->loc_nbit;
		out->locals = f->loc + (size_t)idx * (((size_t)f->loc_nbit + 7) / 8);
	}
	if (f->arg_n > 0 && f->args > 0) {
		if (idx >= f->arg_n) {
			out->has_maps = false;
			return 0;
		}
		out->nargs = (uint32_t)f->arg_nbit;
		out->args = f->arg + (size_t)idx * (((size_t)f->arg_nbit + 7) / 8);
	} else if (f->args > 0 && f->arg_n < 0) {
		out->has_maps = false; /* arguments with no map (assembly): conservative */
	}
	out->nobjs = f->nobjs;
	out->objs = f->objs;
	return 0;
}

/* The frame at pc, answered once per pc: a goroutine's pcs repeat across thousands of them. */
int goreach_funcs__frame(struct goreach_funcs *s, uint64_t pc, struct go_frame_info *out)
{
	struct go_frame_info *c = hmap__get(s->pcs, pc);
	int err;

	if (c == &no_frame)
		return -ENOENT;
	if (c) {
		*out = *c;
		return 0;
	}
	err = frame_of(s, pc, out);
	c = err ? &no_frame : malloc(sizeof(*c));
	if (c && c != &no_frame)
		*c = *out;
	if (c && hmap__set(s->pcs, pc, c) && c != &no_frame)
		free(c);
	return err;
}
