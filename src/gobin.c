// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Go executables read from the file (see gobin.h). Layouts, from Go's own
 * sources (runtime/symtab.go, runtime/symtabinl.go, debug/buildinfo):
 *
 * .go.buildinfo: "\xff Go buildinf:", pointer size, flags (bit 1: the
 *   strings follow inline, Go 1.18+), padding to 32 bytes, then two
 *   uvarint-prefixed strings: the version and the module info.
 *
 * .gopclntab (Go 1.20+, magic 0xfffffff1): a 72-byte pcHeader (magic, pads,
 *   minLC, ptrSize, nfunc, nfiles, textStart, then the offsets of funcnametab,
 *   cutab, filetab, pctab and pclntable from the header), then the tables.
 *   pclntable starts with nfunc+1 {entryoff, funcoff} pairs (entryoff is
 *   relative to moduledata.text; the last pair is the end of text), and funcoff
 *   leads to a 44-byte _func followed by npcdata uint32 offsets into pctab and
 *   nfuncdata uint32 offsets from moduledata.gofunc.
 *
 * textStart reads 0 from Go 1.26 on and gofunc was never in the header, so
 * both come from runtime.firstmoduledata: the .go.module section (1.26+) or
 * the word in writable data that points at the pcHeader (1.20-1.25). Its
 * first 41 words (through gofunc) kept one layout from 1.20 to 1.26. The ELF
 * .text address is not a substitute: with cgo the C start files come first.
 *
 * Inline tree (FUNCDATA 3) entries are 16 bytes in 1.20-1.26: funcID, 3 pad
 * bytes, nameOff, parentPc, startLine. PCDATA 2 gives the entry index at a pc
 * (-1: not inlined); the caller's frame is at entry + parentPc.
 *
 * Everything read from the file is bounds-checked against the table it lies
 * in; the file itself stays mapped by libelf (ELF_C_READ_MMAP) and the strings
 * handed out point into that mapping.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gobin.h"
#include "x86insn.h"

#define PCLN_MAGIC_120 0xfffffff1u
#define PCLN_HDR_SIZE 72
#define FUNC_HDR_SIZE 44 /* _func up to nfuncdata */
#define PCDATA_INLTREE 2
#define FUNCDATA_INLTREE 3
#define INLCALL_SIZE 16
/* abi.FuncFlag (the same in 1.20-1.26) */
#define FUNCFLAG_TOPFRAME 1
#define FUNCFLAG_SPWRITE 2
#define MAX_INLINE_DEPTH 128 /* a corrupt inline tree may loop */
#define BUILDINFO_MAGIC "\xff Go buildinf:"
#define BUILDINFO_MAGIC_LEN 14
/* moduledata field offsets, identical in Go 1.20-1.26 (amd64, arm64) */
#define MD_PCHEADER 0
#define MD_FUNCNAMETAB 8
#define MD_FTAB 128
#define MD_TEXT 176
#define MD_GOFUNC 320
#define MD_MIN_SIZE 328
#define DWARF_CACHE 16

struct seg {
	uint64_t vaddr, filesz, offset;
	uint32_t flags;
};

struct name_ent {
	const char *name;
	uint32_t idx;
	bool wrapper;
};

struct dwarf_type {
	char name[64];
	Dwarf_Off off;
};

struct gobin {
	Elf *elf;
	const uint8_t *img; /* the whole file, mapped by libelf */
	size_t img_size;
	struct seg *segs; /* PT_LOAD segments */
	size_t nsegs;
	bool pie, stripped, cgo, has_tls;
	uint64_t tls_memsz, tls_align;
	char version[64];
	char *module;
	int vmajor, vminor, vpatch;
	bool version_ok;
	uint8_t wrapper_id; /* abi.FuncIDWrapper of this version; 0: unknown */

	/* .gopclntab */
	const uint8_t *pcln;
	size_t pcln_size;
	uint64_t pcln_addr;
	uint32_t nfunc, minlc;
	const uint8_t *funcnametab, *cutab, *filetab, *pctab, *functab;
	size_t funcnametab_size, cutab_size, filetab_size, pctab_size, functab_size;
	uint64_t text, gofunc, moduledata; /* gofunc, moduledata: 0 if not found */

	/* lazily built */
	struct name_ent *by_name;
	size_t nnames;
	Dwarf *dwarf;
	bool dwarf_tried;
	struct dwarf_type dtypes[DWARF_CACHE];
	size_t ndtypes;
};

/* A decoded function: its index in the functab and its _func record. */
struct func {
	uint32_t idx;
	const uint8_t *f; /* FUNC_HDR_SIZE bytes + pcdata + funcdata, all checked */
	uint64_t entry, end;
	uint32_t npcdata, nfuncdata;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* A NUL-terminated string at off in a table of size n, or NULL. */
static const char *table_str(const uint8_t *tab, size_t n, uint64_t off)
{
	if (!tab || off >= n || !memchr(tab + off, '\0', n - off))
		return NULL;
	return (const char *)tab + off;
}

/*
 * The bytes the file holds at link-time address addr, at least len of them
 * within one PT_LOAD; *avail (optional) says how many follow. NULL if not
 * all of them are file-backed.
 */
static const uint8_t *vaddr_ptr(const struct gobin *b, uint64_t addr, uint64_t len, uint64_t *avail)
{
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];
		uint64_t rel = addr - s->vaddr;

		if (addr < s->vaddr || rel >= s->filesz || len > s->filesz - rel)
			continue;
		if (avail)
			*avail = s->filesz - rel;
		return b->img + s->offset + rel;
	}
	return NULL;
}

static bool addr_in_segment(const struct gobin *b, uint64_t addr, uint32_t flag)
{
	for (size_t i = 0; i < b->nsegs; i++)
		if (addr >= b->segs[i].vaddr && addr - b->segs[i].vaddr < b->segs[i].filesz &&
		    (b->segs[i].flags & flag))
			return true;
	return false;
}

/* ---- ELF: segments, sections, symbols, relocations ---- */

static int load_segments(struct gobin *b)
{
	size_t nph;

	if (elf_getphdrnum(b->elf, &nph) || nph > 4096)
		return -ENOEXEC;
	b->segs = calloc(nph ? nph : 1, sizeof(*b->segs));
	if (!b->segs)
		return -ENOMEM;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(b->elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_TLS) {
			b->has_tls = true;
			b->tls_memsz = ph.p_memsz;
			b->tls_align = ph.p_align;
		}
		if (ph.p_type != PT_LOAD || ph.p_offset > b->img_size ||
		    ph.p_filesz > b->img_size - ph.p_offset)
			continue;
		b->segs[b->nsegs++] = (struct seg){ .vaddr = ph.p_vaddr,
						    .filesz = ph.p_filesz,
						    .offset = ph.p_offset,
						    .flags = ph.p_flags };
	}
	return 0;
}

/* The section named name whose file bytes are all in the file. */
static Elf_Scn *find_section(const struct gobin *b, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(b->elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(b->elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, sh))
			continue;
		n = elf_strptr(b->elf, shstrndx, sh->sh_name);
		if (!n || strcmp(n, name))
			continue;
		if (sh->sh_type == SHT_NOBITS || sh->sh_offset > b->img_size ||
		    sh->sh_size > b->img_size - sh->sh_offset)
			return NULL;
		return scn;
	}
	return NULL;
}

static Elf_Scn *find_section_type(const struct gobin *b, uint32_t type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(b->elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	return NULL;
}

/* Value of the .symtab symbol called name; false if none (or stripped). */
static bool symtab_lookup(const struct gobin *b, const char *name, GElf_Sym *out)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section_type(b, SHT_SYMTAB, &sh);
	Elf_Data *data;
	size_t n;

	if (!scn || !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
		return false;
	n = data->d_size / sh.sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *s;

		if (!gelf_getsym(data, (int)i, &sym) || !sym.st_name)
			continue;
		s = elf_strptr(b->elf, sh.sh_link, sym.st_name);
		if (s && !strcmp(s, name)) {
			*out = sym;
			return true;
		}
	}
	return false;
}

/*
 * Calls fn for each R_*_RELATIVE relocation (x86-64 8, aarch64 1027) until
 * it returns true. In a PIE the pointers in data may be left 0 in the file
 * and only filled in by the dynamic loader from these.
 */
static bool for_each_relative(const struct gobin *b, bool (*fn)(void *, uint64_t, uint64_t),
			      void *arg)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(b->elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize ||
		    !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < data->d_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			uint32_t type;

			if (!gelf_getrela(data, (int)i, &r))
				break;
			type = GELF_R_TYPE(r.r_info);
			if ((type == R_X86_64_RELATIVE || type == R_AARCH64_RELATIVE) &&
			    fn(arg, r.r_offset, (uint64_t)r.r_addend))
				return true;
		}
	}
	return false;
}

struct reloc_at {
	uint64_t where, value;
};

static bool reloc_at_cb(void *arg, uint64_t off, uint64_t addend)
{
	struct reloc_at *r = arg;

	if (off != r->where)
		return false;
	r->value = addend;
	return true;
}

/* A pointer-sized word of data at addr, as the loader leaves it. */
static bool read_ptr(const struct gobin *b, uint64_t addr, uint64_t *v)
{
	const uint8_t *p = vaddr_ptr(b, addr, 8, NULL);
	struct reloc_at r = { .where = addr };

	if (!p)
		return false;
	*v = rd64(p);
	if (*v || !b->pie)
		return true;
	if (for_each_relative(b, reloc_at_cb, &r))
		*v = r.value;
	return true;
}

/* ---- .go.buildinfo ---- */

static bool uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

static void parse_version(struct gobin *b)
{
	const char *v = b->version;
	char *end;
	long x;

	if (!strncmp(v, "devel ", 6))
		v += 6;
	if (strncmp(v, "go", 2))
		return;
	v += 2;
	x = strtol(v, &end, 10);
	if (end == v || *end != '.')
		return;
	b->vmajor = (int)x;
	v = end + 1;
	x = strtol(v, &end, 10);
	if (end == v)
		return;
	b->vminor = (int)x;
	b->vpatch = 0;
	if (*end == '.') {
		v = end + 1;
		x = strtol(v, &end, 10);
		if (end != v)
			b->vpatch = (int)x;
	}
	b->version_ok = true;
	/* internal/abi.FuncIDWrapper: corostart came in 1.22, runFinalizers/runCleanups in 1.25 */
	if (b->vmajor == 1 && b->vminor >= 20)
		b->wrapper_id = b->vminor >= 25 ? 23 : b->vminor >= 22 ? 22 : 21;
}

/* The main module: the second field of the "mod\t" line of the module info. */
static int parse_modinfo(struct gobin *b, const uint8_t *s, size_t n)
{
	const char *p = (const char *)s, *end = p + n, *line, *tab;

	/* 16-byte sentinels around the text (debug/buildinfo) */
	if (n >= 33 && s[n - 17] == '\n') {
		p += 16;
		end -= 16;
	}
	for (line = p; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));

		if (!nl)
			nl = end;
		if (nl - line > 4 && !memcmp(line, "mod\t", 4)) {
			line += 4;
			tab = memchr(line, '\t', (size_t)(nl - line));
			b->module = strndup(line, (size_t)((tab ? tab : nl) - line));
			return b->module ? 0 : -ENOMEM;
		}
		line = nl + 1;
	}
	return 0;
}

static int parse_buildinfo(struct gobin *b, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *q = p + 32;
	uint64_t len;
	int err;

	if (n < 32 || memcmp(p, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN))
		return -ENOEXEC;
	if (!(p[15] & 2)) /* pointer format of Go 1.17 and older */
		return 0;
	if (!uvarint(&q, end, &len) || len > (uint64_t)(end - q))
		return 0;
	snprintf(b->version, sizeof(b->version), "%.*s", (int)len, (const char *)q);
	for (char *c = b->version; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	parse_version(b);
	q += len;
	if (!uvarint(&q, end, &len) || len > (uint64_t)(end - q))
		return 0;
	err = parse_modinfo(b, q, (size_t)len);
	return err;
}

/* .go.buildinfo, or its magic at a 16-byte boundary of writable data. */
static int load_buildinfo(struct gobin *b)
{
	GElf_Shdr sh;

	if (find_section(b, ".go.buildinfo", &sh))
		return parse_buildinfo(b, b->img + sh.sh_offset, sh.sh_size);
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];

		if (!(s->flags & PF_W))
			continue;
		for (uint64_t off = 0; off + 32 <= s->filesz; off += 16) {
			const uint8_t *p = b->img + s->offset + off;

			if (!memcmp(p, BUILDINFO_MAGIC, BUILDINFO_MAGIC_LEN))
				return parse_buildinfo(b, p, s->filesz - off);
		}
	}
	return -ENOEXEC;
}

/* ---- .gopclntab ---- */

static bool pcln_header_ok(const uint8_t *p, size_t n)
{
	return n >= PCLN_HDR_SIZE && rd32(p) == PCLN_MAGIC_120 && !p[4] && !p[5] &&
	       (p[6] == 1 || p[6] == 2 || p[6] == 4) && p[7] == 8;
}

/* Section by name, else the magic in read-only or RELRO data (8-aligned). */
static int find_pclntab(struct gobin *b)
{
	static const char *const names[] = { ".gopclntab", ".data.rel.ro.gopclntab" };
	GElf_Shdr sh;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!find_section(b, names[i], &sh))
			continue;
		b->pcln = b->img + sh.sh_offset;
		b->pcln_size = sh.sh_size;
		b->pcln_addr = sh.sh_addr;
		return pcln_header_ok(b->pcln, b->pcln_size) ? 0 : -EINVAL;
	}
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];

		if (s->flags & PF_X)
			continue;
		for (uint64_t off = 0; off + PCLN_HDR_SIZE <= s->filesz; off += 8) {
			const uint8_t *p = b->img + s->offset + off;

			if (!pcln_header_ok(p, s->filesz - off))
				continue;
			b->pcln = p;
			b->pcln_size = s->filesz - off;
			b->pcln_addr = s->vaddr + off;
			return 0;
		}
	}
	return -EINVAL;
}

/* Is md the address of a moduledata that describes our pclntab? */
static bool moduledata_ok(const struct gobin *b, uint64_t md)
{
	uint64_t hdr, names, ftab;

	return vaddr_ptr(b, md, MD_MIN_SIZE, NULL) && read_ptr(b, md + MD_PCHEADER, &hdr) &&
	       hdr == b->pcln_addr && read_ptr(b, md + MD_FUNCNAMETAB, &names) &&
	       names == b->pcln_addr + (uint64_t)(b->funcnametab - b->pcln) &&
	       read_ptr(b, md + MD_FTAB, &ftab) &&
	       ftab == b->pcln_addr + (uint64_t)(b->functab - b->pcln);
}

struct md_search {
	const struct gobin *b;
	uint64_t found;
};

static bool md_reloc_cb(void *arg, uint64_t off, uint64_t addend)
{
	struct md_search *m = arg;

	if (addend != m->b->pcln_addr || !moduledata_ok(m->b, off))
		return false;
	m->found = off;
	return true;
}

/*
 * runtime.firstmoduledata: .go.module (1.26+), else the 8-aligned word of
 * writable data that holds the pcHeader address (or the relocation that
 * will put it there).
 */
static uint64_t find_moduledata(const struct gobin *b)
{
	struct md_search m = { .b = b };
	GElf_Shdr sh;

	if (find_section(b, ".go.module", &sh) && moduledata_ok(b, sh.sh_addr))
		return sh.sh_addr;
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct seg *s = &b->segs[i];

		if (!(s->flags & PF_W))
			continue;
		for (uint64_t off = 0; off + 8 <= s->filesz; off += 8)
			if (rd64(b->img + s->offset + off) == b->pcln_addr &&
			    moduledata_ok(b, s->vaddr + off))
				return s->vaddr + off;
	}
	if (b->pie && for_each_relative(b, md_reloc_cb, &m))
		return m.found;
	return 0;
}

/* Where entry offsets count from: moduledata.text, else what the file says. */
static int find_text(struct gobin *b, uint64_t text_start)
{
	GElf_Shdr sh;
	GElf_Sym sym;
	uint64_t v;

	b->moduledata = find_moduledata(b);
	if (b->moduledata) {
		if (read_ptr(b, b->moduledata + MD_GOFUNC, &v) && vaddr_ptr(b, v, 1, NULL))
			b->gofunc = v;
		if (read_ptr(b, b->moduledata + MD_TEXT, &v) && addr_in_segment(b, v, PF_X)) {
			b->text = v;
			return 0;
		}
	}
	/* Go 1.25 and older write textStart; 1.26 writes 0 */
	if (text_start && addr_in_segment(b, text_start, PF_X)) {
		b->text = text_start;
		return 0;
	}
	if (symtab_lookup(b, "runtime.text", &sym) && addr_in_segment(b, sym.st_value, PF_X)) {
		b->text = sym.st_value;
		return 0;
	}
	/* internally linked binaries put runtime.text first in .text */
	if (find_section(b, ".text", &sh) && addr_in_segment(b, sh.sh_addr, PF_X)) {
		b->text = sh.sh_addr;
		return 0;
	}
	return -EINVAL;
}

static int load_pclntab(struct gobin *b)
{
	const uint8_t *h;
	uint64_t nfunc, off[5], text_start, prev = PCLN_HDR_SIZE;
	const uint8_t **tabs[5] = { &b->funcnametab, &b->cutab, &b->filetab, &b->pctab,
				    &b->functab };
	size_t *sizes[5] = { &b->funcnametab_size, &b->cutab_size, &b->filetab_size, &b->pctab_size,
			     &b->functab_size };
	int err = find_pclntab(b);

	if (err)
		return err;
	h = b->pcln;
	b->minlc = h[6];
	nfunc = rd64(h + 8);
	text_start = rd64(h + 24);
	for (int i = 0; i < 5; i++) {
		off[i] = rd64(h + 32 + 8 * i);
		if (off[i] < prev || off[i] > b->pcln_size)
			return -EINVAL;
		prev = off[i];
	}
	for (int i = 0; i < 5; i++) {
		*tabs[i] = b->pcln + off[i];
		*sizes[i] = (i < 4 ? off[i + 1] : b->pcln_size) - off[i];
	}
	if (nfunc == 0 || nfunc >= (1u << 24) || (nfunc + 1) * 8 > b->functab_size)
		return -EINVAL;
	b->nfunc = (uint32_t)nfunc;
	/* entries must be sorted for the binary search */
	for (uint32_t i = 1; i <= b->nfunc; i++)
		if (rd32(b->functab + 8 * i) < rd32(b->functab + 8 * (i - 1)))
			return -EINVAL;
	return find_text(b, text_start);
}

/* Function i of the functab, checked; false if its record is corrupt. */
static bool func_at(const struct gobin *b, uint32_t i, struct func *fn)
{
	const uint8_t *e = b->functab + 8 * (size_t)i;
	uint32_t entryoff = rd32(e), funcoff = rd32(e + 4);

	if (i >= b->nfunc || funcoff > b->functab_size || b->functab_size - funcoff < FUNC_HDR_SIZE)
		return false;
	fn->f = b->functab + funcoff;
	if (rd32(fn->f) != entryoff)
		return false;
	fn->idx = i;
	fn->npcdata = rd32(fn->f + 28);
	fn->nfuncdata = fn->f[43];
	/* the pcdata and funcdata offsets that follow must be in the table too */
	if (fn->npcdata > 1024 ||
	    b->functab_size - funcoff < FUNC_HDR_SIZE + 4 * (fn->npcdata + fn->nfuncdata))
		return false;
	fn->entry = b->text + entryoff;
	fn->end = b->text + rd32(e + 8);
	return true;
}

static bool func_for_pc(const struct gobin *b, uint64_t pc, struct func *fn)
{
	uint64_t off;
	uint32_t lo = 0, hi;

	if (!b->pcln || pc < b->text || pc - b->text > UINT32_MAX)
		return false;
	off = pc - b->text;
	hi = b->nfunc; /* entry nfunc is the end of text */
	if (off < rd32(b->functab) || off >= rd32(b->functab + 8 * (size_t)hi))
		return false;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (rd32(b->functab + 8 * (size_t)mid) <= off)
			lo = mid;
		else
			hi = mid;
	}
	return func_at(b, lo, fn);
}

static const char *func_name(const struct gobin *b, int32_t nameoff)
{
	const char *s = nameoff < 0 ?
				NULL :
				table_str(b->funcnametab, b->funcnametab_size, (uint64_t)nameoff);

	return s ? s : "?";
}

static bool pcvarint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 35 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint32_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/*
 * The value of the pc-value table at pctab offset tab for pc: a sequence of
 * (zigzag value delta, pc delta / minLC) uvarint pairs starting from value -1
 * at the entry; a value delta of 0 after the first pair ends it.
 */
static bool pcvalue(const struct gobin *b, const struct func *fn, uint32_t tab, uint64_t pc,
		    int32_t *out)
{
	const uint8_t *p, *end = b->pctab + b->pctab_size;
	uint64_t cur = fn->entry;
	int32_t val = -1;

	if (!tab || tab >= b->pctab_size)
		return false;
	p = b->pctab + tab;
	for (bool first = true;; first = false) {
		uint32_t uv, pcd;

		if (!pcvarint(&p, end, &uv) || (uv == 0 && !first) || !pcvarint(&p, end, &pcd))
			return false;
		/* wraps as Go's int32 does: a corrupt table must not overflow a signed int */
		val = (int32_t)((uint32_t)val + (-(uv & 1) ^ (uv >> 1)));
		cur += (uint64_t)pcd * b->minlc;
		if (pc < cur) {
			*out = val;
			return true;
		}
	}
}

static uint32_t pcdata_off(const struct func *fn, uint32_t i)
{
	return i < fn->npcdata ? rd32(fn->f + FUNC_HDR_SIZE + 4 * i) : 0;
}

/* The inline tree of fn (entries are read with bounds checks), or NULL. */
static const uint8_t *inline_tree(const struct gobin *b, const struct func *fn, uint64_t *size)
{
	uint32_t off;

	if (!b->gofunc || fn->nfuncdata <= FUNCDATA_INLTREE)
		return NULL;
	off = rd32(fn->f + FUNC_HDR_SIZE + 4 * (fn->npcdata + FUNCDATA_INLTREE));
	if (off == UINT32_MAX)
		return NULL;
	return vaddr_ptr(b, b->gofunc + off, INLCALL_SIZE, size);
}

static void file_line(const struct gobin *b, const struct func *fn, uint64_t pc,
		      struct gobin_frame *fr)
{
	int32_t fileno, line;
	uint32_t cu = rd32(fn->f + 32);

	fr->file = "";
	fr->line = 0;
	if (pcvalue(b, fn, rd32(fn->f + 20), pc, &fileno) && fileno >= 0 &&
	    (uint64_t)cu + (uint32_t)fileno < b->cutab_size / 4) {
		uint32_t foff = rd32(b->cutab + 4 * ((uint64_t)cu + (uint32_t)fileno));
		const char *s = table_str(b->filetab, b->filetab_size, foff);

		if (s)
			fr->file = s;
	}
	if (pcvalue(b, fn, rd32(fn->f + 24), pc, &line) && line > 0)
		fr->line = line;
}

/* ---- reading runtime code (see x86insn.h) ---- */

/* mov disp32(%rip), r64: REX.W 8B /r with mod=00 rm=101. */
static bool x86_rip_load(const struct x86_insn *in)
{
	return in->map == 0 && in->op == 0x8b && (in->rex & 8) && !in->seg && in->has_modrm &&
	       (in->modrm & 0xc7) == 0x05;
}

/* The function's bytes: never read past its end. */
static const uint8_t *func_code(const struct gobin *b, const char *name, uint64_t *entry,
				size_t *len)
{
	uint64_t end;

	if (gobin__func(b, name, entry, &end) || end <= *entry || end - *entry > (1u << 20))
		return NULL;
	*len = (size_t)(end - *entry);
	return vaddr_ptr(b, *entry, *len, NULL);
}

/*
 * Targets of the first n RIP-relative 64-bit loads (mov disp32(%rip), r64) in
 * the straight-line decoding of function name from its entry. False if the
 * decoder stops (unknown instruction, end of function) before n of them.
 */
static bool rip_loads(const struct gobin *b, const char *name, uint64_t *targets, int n)
{
	uint64_t entry;
	size_t len, off = 0;
	const uint8_t *code = func_code(b, name, &entry, &len);
	int found = 0;

	if (!code)
		return false;
	while (found < n && off < len) {
		struct x86_insn in;

		if (!x86_insn__decode(code + off, len - off, &in))
			return false;
		off += in.len;
		if (x86_rip_load(&in))
			targets[found++] = entry + off + (int64_t)in.disp;
	}
	return found == n;
}

/* lea disp32(%rip), r64: REX.W 8D /r with mod=00 rm=101. */
static bool x86_rip_lea(const struct x86_insn *in)
{
	return in->map == 0 && in->op == 0x8d && (in->rex & 8) && !in->seg && in->has_modrm &&
	       (in->modrm & 0xc7) == 0x05;
}

/*
 * The target of the first atomic pointer store to a global in function
 * name: "lea disp32(%rip), rA" directly followed by "xchg rB, (rA)" (REX.W
 * 87 /r, mod=00, rm=A; what atomicstorep compiles to). False if the
 * decoder stops first.
 */
static bool rip_xchg_store(const struct gobin *b, const char *name, uint64_t *target)
{
	uint64_t entry, lea_target = 0;
	size_t len, off = 0;
	const uint8_t *code = func_code(b, name, &entry, &len);
	int lea_reg = -1;

	if (!code)
		return false;
	while (off < len) {
		struct x86_insn in;
		int reg;

		if (!x86_insn__decode(code + off, len - off, &in))
			return false;
		off += in.len;
		if (x86_rip_lea(&in)) {
			lea_reg = (in.rex & 4) << 1 | ((in.modrm >> 3) & 7);
			lea_target = entry + off + (int64_t)in.disp;
			continue;
		}
		reg = (in.rex & 1) << 3 | (in.modrm & 7);
		if (lea_reg >= 0 && in.map == 0 && in.op == 0x87 && (in.rex & 8) && !in.seg &&
		    in.has_modrm && (in.modrm & 0xc0) == 0 && (in.modrm & 7) != 4 &&
		    (in.modrm & 7) != 5 && reg == lea_reg) {
			*target = lea_target;
			return true;
		}
		lea_reg = -1;
	}
	return false;
}

/*
 * The g's offset from the thread pointer, from the first instructions of
 * runtime.stackcheck, which loads g in one of two forms:
 *   mov %fs:disp32, r64                  (64 REX.W 8B /r, mod=00 rm=100, SIB no base/index)
 *   mov $imm32, r64; mov %fs:(r64), r64  (REX.W C7 /0 mod=11; 64 REX.W 8B /r mod=00)
 * the second in PIE builds. Nothing else is recognised.
 */
static bool stackcheck_tls(const struct gobin *b, int64_t *tls_off)
{
	uint64_t entry;
	size_t len, off = 0;
	const uint8_t *code = func_code(b, "runtime.stackcheck", &entry, &len);
	int reg = -1;
	int64_t regval = 0;

	if (!code)
		return false;
	for (int i = 0; i < 2 && off < len; i++) {
		struct x86_insn in;

		if (!x86_insn__decode(code + off, len - off, &in))
			return false;
		off += in.len;
		if (in.map != 0 || !(in.rex & 8) || !in.has_modrm)
			return false;
		if (in.op == 0x8b && in.seg == 0x64 && (in.modrm & 0xc7) == 0x04 && in.has_sib &&
		    (in.sib & 0x3f) == 0x25) {
			*tls_off = in.disp;
			return true;
		}
		if (in.op == 0x8b && in.seg == 0x64 && (in.modrm & 0xc0) == 0 && reg >= 0 &&
		    (in.modrm & 7) == (reg & 7) && (in.modrm & 7) != 4 && (in.modrm & 7) != 5 &&
		    ((in.rex & 1) << 3 | (in.modrm & 7)) == reg) {
			*tls_off = regval;
			return true;
		}
		if (in.op == 0xc7 && !in.seg && (in.modrm & 0xf8) == 0xc0) {
			reg = (in.rex & 1) << 3 | (in.modrm & 7);
			regval = in.imm;
			continue;
		}
		return false;
	}
	return false;
}

/* ---- open / free ---- */

/*
 * Linked with cgo: runtime/cgo's crosscall2 (assembly, in every version) or
 * any Go function of package runtime/cgo (1.21+). A PT_TLS segment says
 * nothing: internally linked PIEs have one too.
 */
static bool has_cgo(const struct gobin *b)
{
	for (uint32_t i = 0; i < b->nfunc; i++) {
		struct func fn;
		const char *s;

		if (!func_at(b, i, &fn))
			continue;
		s = func_name(b, (int32_t)rd32(fn.f + 4));
		if (!strcmp(s, "crosscall2") || !strncmp(s, "runtime/cgo.", 12))
			return true;
	}
	return false;
}

struct gobin *gobin__open(const char *path)
{
	struct gobin *b;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	size_t size;
	int fd, err;

	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto fail;
	}
	elf_version(EV_CURRENT);
	b->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	/* the whole file mapped or read, so that the descriptor can go */
	if (b->elf && elf_cntl(b->elf, ELF_C_FDREAD)) {
		elf_end(b->elf);
		b->elf = NULL;
	}
	close(fd);
	err = -ENOEXEC;
	if (!b->elf || elf_kind(b->elf) != ELF_K_ELF || gelf_getclass(b->elf) != ELFCLASS64 ||
	    !gelf_getehdr(b->elf, &eh) || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		goto fail;
	b->img = (const uint8_t *)elf_rawfile(b->elf, &size);
	if (!b->img)
		goto fail;
	b->img_size = size;
	b->pie = eh.e_type == ET_DYN;
	b->stripped = !find_section_type(b, SHT_SYMTAB, &sh);
	err = load_segments(b);
	if (err)
		goto fail;
	err = load_buildinfo(b);
	if (err)
		goto fail;
	err = load_pclntab(b);
	if (err)
		goto fail;
	b->cgo = has_cgo(b);
	return b;
fail:
	gobin__free(b);
	errno = -err;
	return NULL;
}

void gobin__free(struct gobin *b)
{
	if (!b)
		return;
	if (b->dwarf)
		dwarf_end(b->dwarf);
	if (b->elf)
		elf_end(b->elf);
	free(b->segs);
	free(b->module);
	free(b->by_name);
	free(b);
}

const char *gobin__version(const struct gobin *b)
{
	return b->version;
}

const char *gobin__main_module(const struct gobin *b)
{
	return b->module ? b->module : "";
}

bool gobin__version_num(const struct gobin *b, int *major, int *minor, int *patch)
{
	if (!b->version_ok)
		return false;
	*major = b->vmajor;
	*minor = b->vminor;
	*patch = b->vpatch;
	return true;
}

bool gobin__stripped(const struct gobin *b)
{
	return b->stripped;
}

bool gobin__cgo(const struct gobin *b)
{
	return b->cgo;
}

bool gobin__pie(const struct gobin *b)
{
	return b->pie;
}

/* ---- lookups ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_ent *)a)->name, ((const struct name_ent *)b)->name);
}

/*
 * By name, then the real function before its ABI wrapper (a Go function's
 * ABI0 wrapper and an assembly function's ABIInternal wrapper carry the
 * same name in the pclntab), then by address.
 */
static int name_ent_cmp(const void *a, const void *b)
{
	const struct name_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->wrapper != y->wrapper)
		return x->wrapper ? 1 : -1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The functions sorted by name, built at the first lookup by name. */
static int build_name_index(struct gobin *b)
{
	b->by_name = malloc(sizeof(*b->by_name) * (b->nfunc ? b->nfunc : 1));
	if (!b->by_name)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->nfunc; i++) {
		struct func fn;

		if (!func_at(b, i, &fn) || (int32_t)rd32(fn.f + 4) < 0)
			continue;
		b->by_name[b->nnames].name =
			table_str(b->funcnametab, b->funcnametab_size, rd32(fn.f + 4));
		b->by_name[b->nnames].idx = i;
		b->by_name[b->nnames].wrapper = b->wrapper_id && fn.f[40] == b->wrapper_id;
		if (b->by_name[b->nnames].name)
			b->nnames++;
	}
	qsort(b->by_name, b->nnames, sizeof(*b->by_name), name_ent_cmp);
	return 0;
}

int gobin__func(const struct gobin *cb, const char *name, uint64_t *entry, uint64_t *end)
{
	struct gobin *b = (struct gobin *)cb; /* the name index is a cache */
	struct name_ent key = { .name = name }, *e;
	struct func fn;

	if (!b->by_name && build_name_index(b))
		return -ENOMEM;
	e = bsearch(&key, b->by_name, b->nnames, sizeof(*e), name_cmp);
	/* of equal names, the first: not an ABI wrapper */
	while (e && e > b->by_name && !strcmp(e[-1].name, name))
		e--;
	if (!e || !func_at(b, e->idx, &fn))
		return -ENOENT;
	*entry = fn.entry;
	*end = fn.end;
	return 0;
}

int gobin__symbolize(const struct gobin *b, uint64_t pc, struct gobin_frame *out, size_t max,
		     size_t *n)
{
	struct func fn;
	const uint8_t *tree;
	uint64_t tree_size = 0, cur = pc;
	uint32_t inl = 0;
	int32_t idx = -1;

	*n = 0;
	if (!func_for_pc(b, pc, &fn))
		return -ENOENT;
	tree = inline_tree(b, &fn, &tree_size);
	if (tree)
		inl = pcdata_off(&fn, PCDATA_INLTREE);
	for (int depth = 0; tree && inl && depth < MAX_INLINE_DEPTH && *n < max; depth++) {
		const uint8_t *ic;
		struct gobin_frame *fr = &out[*n];

		if (!pcvalue(b, &fn, inl, cur, &idx) || idx < 0 ||
		    (uint64_t)idx >= tree_size / INLCALL_SIZE)
			break;
		ic = tree + (size_t)idx * INLCALL_SIZE;
		/* autogenerated wrappers are left out, as Go's traceback does */
		if (!b->wrapper_id || ic[0] != b->wrapper_id) {
			fr->function = func_name(b, (int32_t)rd32(ic + 4));
			fr->entry = fn.entry;
			fr->inlined = true;
			file_line(b, &fn, cur, fr);
			(*n)++;
		}
		cur = fn.entry + (uint32_t)rd32(ic + 8);
	}
	if (*n < max) {
		struct gobin_frame *fr = &out[(*n)++];

		fr->function = func_name(b, (int32_t)rd32(fn.f + 4));
		fr->entry = fn.entry;
		fr->inlined = false;
		file_line(b, &fn, cur, fr);
	}
	return 0;
}

size_t gobin__print_name(const char *function, char *buf, size_t size)
{
	const char *open = strchr(function, '['), *close = strrchr(function, ']');

	if (!size)
		return 0;
	if (!open || !close || close <= open)
		snprintf(buf, size, "%s", function);
	else
		snprintf(buf, size, "%.*s[...]%s", (int)(open - function), function, close + 1);
	return strlen(buf);
}

int gobin__frame(const struct gobin *b, uint64_t pc, uint64_t *frame_size, bool *stop)
{
	struct func fn;
	int32_t sp;

	if (!func_for_pc(b, pc, &fn) || !pcvalue(b, &fn, rd32(fn.f + 16), pc, &sp) || sp < 0)
		return -ENOENT;
	*frame_size = (uint64_t)sp;
	*stop = fn.f[41] & (FUNCFLAG_TOPFRAME | FUNCFLAG_SPWRITE);
	return 0;
}

int gobin__var(const struct gobin *b, const char *name, uint64_t *addr)
{
	uint64_t t[2];
	GElf_Sym sym;

	if (symtab_lookup(b, name, &sym) && sym.st_value) {
		*addr = sym.st_value;
		return 0;
	}
	if (!strcmp(name, "runtime.firstmoduledata") && b->moduledata) {
		*addr = b->moduledata;
		return 0;
	}
	/* forEachGRace starts with atomicAllG(): allglen, then allgptr */
	if (!strcmp(name, "runtime.allglen") || !strcmp(name, "runtime.allgptr")) {
		if (!rip_loads(b, "runtime.forEachGRace", t, 2))
			return -ENOENT;
		*addr = !strcmp(name, "runtime.allglen") ? t[0] : t[1];
		return 0;
	}
	/*
	 * mcommoninit ends its list insertion with atomicstorep(&allm, mp),
	 * its only xchg through a lea'd global in 1.20-1.26 (its first 64-bit
	 * load is allm only from 1.22: before, fastrandseed comes first)
	 */
	if (!strcmp(name, "runtime.allm")) {
		if (!rip_xchg_store(b, "runtime.mcommoninit", &t[0]))
			return -ENOENT;
		*addr = t[0];
		return 0;
	}
	return -ENOENT;
}

int gobin__g_tls_offset(const struct gobin *b, int64_t *off)
{
	GElf_Sym sym;

	/* delve's formula: the static TLS block ends at the thread pointer */
	if (b->has_tls && symtab_lookup(b, "runtime.tlsg", &sym)) {
		uint64_t align = b->tls_align > 1 ? b->tls_align : 1;
		uint64_t size = (b->tls_memsz + align - 1) / align * align;

		/* in unsigned arithmetic: a hostile st_value must not overflow int64_t */
		*off = (int64_t)(sym.st_value - size);
		return 0;
	}
	if (stackcheck_tls(b, off))
		return 0;
	/* runtime·settls puts the thread pointer 8 bytes past m.tls[0] */
	if (!b->has_tls) {
		*off = -8;
		return 0;
	}
	return -ENOENT;
}

/* ---- DWARF ---- */

static bool die_name_is(Dwarf_Die *die, const char *name)
{
	const char *s = dwarf_diename(die);

	return s && !strcmp(s, name);
}

/* The top-level structure type called name, searched once per name. */
static bool dwarf_struct(struct gobin *b, const char *name, Dwarf_Die *out)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	for (size_t i = 0; i < b->ndtypes; i++)
		if (!strcmp(b->dtypes[i].name, name))
			return dwarf_offdie(b->dwarf, b->dtypes[i].off, out) != NULL;
	while (!dwarf_nextcu(b->dwarf, off, &next, &hsize, NULL, NULL, NULL)) {
		Dwarf_Die cu, die;

		if (dwarf_offdie(b->dwarf, off + hsize, &cu) && dwarf_child(&cu, &die) == 0) {
			do {
				if (dwarf_tag(&die) != DW_TAG_structure_type ||
				    !die_name_is(&die, name))
					continue;
				*out = die;
				if (b->ndtypes < DWARF_CACHE && strlen(name) < 64) {
					strcpy(b->dtypes[b->ndtypes].name, name);
					b->dtypes[b->ndtypes++].off = dwarf_dieoffset(&die);
				}
				return true;
			} while (dwarf_siblingof(&die, &die) == 0);
		}
		off = next;
	}
	return false;
}

static bool member_offset(Dwarf_Die *st, const char *name, size_t len, uint64_t *off,
			  Dwarf_Die *type)
{
	Dwarf_Die m;

	if (dwarf_child(st, &m))
		return false;
	do {
		Dwarf_Attribute a;
		Dwarf_Word w;
		const char *s;

		if (dwarf_tag(&m) != DW_TAG_member || !(s = dwarf_diename(&m)) ||
		    strlen(s) != len || memcmp(s, name, len))
			continue;
		if (!dwarf_attr(&m, DW_AT_data_member_location, &a) || dwarf_formudata(&a, &w))
			return false;
		*off = w;
		if (!dwarf_attr(&m, DW_AT_type, &a) || !dwarf_formref_die(&a, type))
			return false;
		/* through typedefs to the struct, for the next part of the path */
		for (int i = 0; i < 8 && dwarf_tag(type) == DW_TAG_typedef; i++)
			if (!dwarf_attr(type, DW_AT_type, &a) || !dwarf_formref_die(&a, type))
				return false;
		return true;
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

int gobin__member_offset(const struct gobin *cb, const char *type, const char *member,
			 uint64_t *off)
{
	struct gobin *b = (struct gobin *)cb; /* the DWARF handle is a cache */
	Dwarf_Die die, t;
	uint64_t total = 0;

	if (!b->dwarf_tried) {
		b->dwarf_tried = true;
		b->dwarf = dwarf_begin_elf(b->elf, DWARF_C_READ, NULL);
	}
	if (!b->dwarf || !dwarf_struct(b, type, &die))
		return -ENOENT;
	for (const char *p = member; *p;) {
		size_t len = strcspn(p, ".");
		uint64_t o;

		if (!len || !member_offset(&die, p, len, &o, &t))
			return -ENOENT;
		total += o;
		die = t;
		p += len;
		if (*p)
			p++;
	}
	*off = total;
	return 0;
}
