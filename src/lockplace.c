// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Where the lock-order uprobes go (see lockplace.h). */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "lockplace.h"
#include "procfs.h"
#include "x86insn.h"

#define CODE_MAX 8192 /* bytes of a function decoded to check its branches */

static const struct lo_fn_info fns[LO_FN_NR] = {
	[LO_FN_MUTEX_LOCK] = { "pthread_mutex_lock", LO_ROLE_LOCK, false, false },
	[LO_FN_MUTEX_TRYLOCK] = { "pthread_mutex_trylock", LO_ROLE_TRY, false, false },
	[LO_FN_MUTEX_TIMEDLOCK] = { "pthread_mutex_timedlock", LO_ROLE_TRY, false, false },
	[LO_FN_MUTEX_CLOCKLOCK] = { "pthread_mutex_clocklock", LO_ROLE_TRY, false, false },
	[LO_FN_MUTEX_UNLOCK] = { "pthread_mutex_unlock", LO_ROLE_UNLOCK, false, false },
	[LO_FN_MUTEX_INIT] = { "pthread_mutex_init", LO_ROLE_LIFETIME, false, false },
	[LO_FN_MUTEX_DESTROY] = { "pthread_mutex_destroy", LO_ROLE_LIFETIME, false, false },
	[LO_FN_RW_RDLOCK] = { "pthread_rwlock_rdlock", LO_ROLE_LOCK, true, true },
	[LO_FN_RW_WRLOCK] = { "pthread_rwlock_wrlock", LO_ROLE_LOCK, true, false },
	[LO_FN_RW_TRYRDLOCK] = { "pthread_rwlock_tryrdlock", LO_ROLE_TRY, true, true },
	[LO_FN_RW_TRYWRLOCK] = { "pthread_rwlock_trywrlock", LO_ROLE_TRY, true, false },
	[LO_FN_RW_TIMEDRDLOCK] = { "pthread_rwlock_timedrdlock", LO_ROLE_TRY, true, true },
	[LO_FN_RW_TIMEDWRLOCK] = { "pthread_rwlock_timedwrlock", LO_ROLE_TRY, true, false },
	[LO_FN_RW_CLOCKRDLOCK] = { "pthread_rwlock_clockrdlock", LO_ROLE_TRY, true, true },
	[LO_FN_RW_CLOCKWRLOCK] = { "pthread_rwlock_clockwrlock", LO_ROLE_TRY, true, false },
	[LO_FN_RW_UNLOCK] = { "pthread_rwlock_unlock", LO_ROLE_UNLOCK, true, false },
	[LO_FN_RW_INIT] = { "pthread_rwlock_init", LO_ROLE_LIFETIME, true, false },
	[LO_FN_RW_DESTROY] = { "pthread_rwlock_destroy", LO_ROLE_LIFETIME, true, false },
};

const struct lo_fn_info *lockplace__fn(enum lo_fn fn)
{
	return fn < LO_FN_NR ? &fns[fn] : NULL;
}

/* ---- the probe offset ---- */

enum { REG_SP = 4, REG_DI = 7 };

static int reg_field(const struct x86_insn *in)
{
	return ((in->modrm >> 3) & 7) | (in->rex & 4 ? 8 : 0);
}

static int rm_field(const struct x86_insn *in)
{
	return (in->modrm & 7) | (in->rex & 1 ? 8 : 0);
}

static bool mod_reg(const struct x86_insn *in)
{
	return in->has_modrm && (in->modrm >> 6) == 3;
}

static bool harmless_dest(int reg)
{
	return reg != REG_SP && reg != REG_DI;
}

/*
 * Instructions the probe may move past: ones that write neither rdi nor rsp
 * and do not branch. A short list of what lock functions begin with (loads,
 * register moves, ALU on registers or flags only); anything else stops the
 * walk.
 */
static bool passable(const uint8_t *p, const struct x86_insn *in)
{
	if (in->len == 4 && !memcmp(p, "\xf3\x0f\x1e\xfa", 4)) /* endbr64 */
		return true;
	if (in->map == 1) {
		switch (in->op) {
		case 0xb6: /* movzx */
		case 0xb7:
		case 0xbe: /* movsx */
		case 0xbf:
			return harmless_dest(reg_field(in));
		}
		return false;
	}
	if (in->map != 0)
		return false;
	switch (in->op) {
	case 0x8b: /* mov r, r/m */
	case 0x8d: /* lea */
	case 0x63: /* movsxd */
	case 0x03: /* add/or/and/sub/xor r, r/m */
	case 0x0b:
	case 0x23:
	case 0x2b:
	case 0x33:
		return harmless_dest(reg_field(in));
	case 0x89: /* mov r/m, r */
	case 0x01:
	case 0x09:
	case 0x21:
	case 0x29:
	case 0x31:
	case 0xc7: /* mov r/m, imm */
		return !mod_reg(in) || harmless_dest(rm_field(in));
	case 0x81: /* group 1, imm: cmp (/7) writes flags only */
	case 0x83:
		return ((in->modrm >> 3) & 7) == 7 || !mod_reg(in) || harmless_dest(rm_field(in));
	case 0x38: /* cmp, test: flags only */
	case 0x39:
	case 0x3a:
	case 0x3b:
	case 0x3c:
	case 0x3d:
	case 0x84:
	case 0x85:
	case 0xa8:
	case 0xa9:
	case 0x24: /* and al/eax, imm */
	case 0x25:
		return true;
	case 0xf6: /* test r/m, imm (/0) */
	case 0xf7:
		return ((in->modrm >> 3) & 7) == 0;
	}
	if (in->op >= 0xb8 && in->op <= 0xbf) /* mov r, imm */
		return harmless_dest((in->op & 7) | (in->rex & 1 ? 8 : 0));
	return false;
}

/* What the kernel's x86 uprobe code emulates instead of single-stepping. */
static const char *emulated_kind(const uint8_t *p, const struct x86_insn *in)
{
	if (in->map == 0) {
		if (in->op >= 0x50 && in->op <= 0x57 && (!in->rex || in->rex == 0x41))
			return "push";
		if (in->op >= 0x70 && in->op <= 0x7f)
			return "jcc";
		if (in->op == 0xeb || in->op == 0xe9)
			return "jmp";
		if (in->op == 0xe8)
			return "call";
		if (in->op == 0x90 && in->len == 1 && p[0] == 0x90)
			return "nop";
		return NULL;
	}
	if (in->map == 1 && in->op >= 0x80 && in->op <= 0x8f)
		return "jcc";
	return NULL;
}

static bool rel_branch(const struct x86_insn *in)
{
	return (in->map == 0 && ((in->op >= 0x70 && in->op <= 0x7f) || in->op == 0xeb ||
				 in->op == 0xe9 || in->op == 0xe3)) ||
	       (in->map == 1 && in->op >= 0x80 && in->op <= 0x8f);
}

/* Does any direct branch of the function land in (0, cand]? Unknown code counts as yes. */
static bool lands_before(const uint8_t *code, size_t len, uint64_t cand)
{
	struct x86_insn in;

	for (size_t at = 0; at < len; at += in.len) {
		if (!x86_insn__decode(code + at, len - at, &in))
			return true;
		if (rel_branch(&in)) {
			int64_t target = (int64_t)(at + in.len) + in.imm;

			if (target > 0 && (uint64_t)target <= cand)
				return true;
		}
		/* the function ends where straight-line code returns or jumps away for good */
	}
	return false;
}

void lockplace__place(const uint8_t *code, size_t len, uint64_t *off, bool *emulated, char *insn)
{
	struct x86_insn in;
	size_t at = 0;

	*off = 0;
	*emulated = false;
	insn[0] = 0;
	while (at < len && at < 64) {
		const char *kind;

		if (!x86_insn__decode(code + at, len - at, &in))
			return;
		kind = emulated_kind(code + at, &in);
		if (kind) {
			if (at && lands_before(code, len, at)) {
				/* the entry it is, then: is that one emulated? */
				if (x86_insn__decode(code, len, &in) &&
				    (kind = emulated_kind(code, &in))) {
					*emulated = true;
					snprintf(insn, 8, "%s", kind);
				}
				return;
			}
			*off = at;
			*emulated = true;
			snprintf(insn, 8, "%s", kind);
			return;
		}
		if (!passable(code + at, &in))
			return;
		at += in.len;
	}
}

/* ---- the ELF file ---- */

static bool vaddr_to_offset(Elf *elf, uint64_t vaddr, uint64_t *off)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
			*off = vaddr - ph.p_vaddr + ph.p_offset;
			return true;
		}
	}
	return false;
}

static void find_symbols(Elf *elf, struct lo_binary *out)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || !sh.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
			    !sym.st_value)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || strncmp(name, "pthread_", 8))
				continue;
			for (int f = 0; f < LO_FN_NR; f++) {
				if (out->fn[f].found || strcmp(name, fns[f].name))
					continue;
				out->fn[f].found = true;
				out->fn[f].vaddr = sym.st_value;
				out->fn[f].size = sym.st_size;
			}
		}
	}
}

int lockplace__read_file(const char *path, enum lo_placement how, struct lo_binary *out)
{
	uint8_t *code = NULL;
	Elf *elf = NULL;
	int fd, err = 0;

	memset(out->fn, 0, sizeof(out->fn));
	out->nr_found = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto out;
	}
	code = malloc(CODE_MAX);
	if (!code) {
		err = -ENOMEM;
		goto out;
	}
	find_symbols(elf, out);
	for (int f = 0; f < LO_FN_NR; f++) {
		struct lo_site *s = &out->fn[f];
		uint64_t start;
		ssize_t n;

		if (!s->found)
			continue;
		if (!vaddr_to_offset(elf, s->vaddr, &start)) {
			s->found = false;
			continue;
		}
		out->nr_found++;
		s->file_off = start;
		n = pread(fd, code, s->size && s->size < CODE_MAX ? s->size : CODE_MAX,
			  (off_t)start);
		if (n <= 0 || how == LO_PLACE_ENTRY) {
			/* the entry: still say whether that instruction is emulated */
			lockplace__place(code, n > 0 ? (size_t)n : 0, &s->probe_off, &s->emulated,
					 s->insn);
			if (s->probe_off) {
				s->probe_off = 0;
				s->emulated = false;
				s->insn[0] = 0;
			}
		} else {
			lockplace__place(code, (size_t)n, &s->probe_off, &s->emulated, s->insn);
		}
		s->file_off = start + s->probe_off;
	}
out:
	free(code);
	if (elf)
		elf_end(elf);
	close(fd);
	return err;
}

/* The file behind mapping m, opened through the process's root if it is the mapped one. */
static bool mapped_path(const char *proc_root, uint32_t pid, const struct procfs_map *m, char *path,
			size_t len)
{
	struct stat st;

	snprintf(path, len, "%s/%u/root%s", proc_root, pid, m->path);
	if (!stat(path, &st) && S_ISREG(st.st_mode) && st.st_ino == m->id.inode)
		return true;
	snprintf(path, len, "%s/%u/map_files/%" PRIx64 "-%" PRIx64, proc_root, pid, m->start,
		 m->end);
	return !stat(path, &st) && S_ISREG(st.st_mode) && st.st_ino == m->id.inode;
}

int lockplace__find(const char *proc_root, uint32_t pid, enum lo_placement how,
		    struct lo_binary *out)
{
	struct procfs_maps *maps = procfs__read_maps(proc_root, pid);
	struct lo_binary *cand;
	bool have = false;
	int err = -ENOENT;

	if (!maps)
		return errno == ENOENT ? -ESRCH : -errno;
	cand = malloc(sizeof(*cand));
	if (!cand) {
		procfs__maps_free(maps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < maps->nr; i++) {
		const struct procfs_map *m = &maps->maps[i];
		const char *base;
		bool seen = false;

		if (!m->exec || m->path[0] != '/')
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = maps->maps[j].exec && maps->maps[j].id.inode == m->id.inode &&
			       maps->maps[j].id.dev == m->id.dev;
		if (seen || !mapped_path(proc_root, pid, m, cand->path, sizeof(cand->path)))
			continue;
		if (lockplace__read_file(cand->path, how, cand) ||
		    !cand->fn[LO_FN_MUTEX_LOCK].found || !cand->fn[LO_FN_MUTEX_UNLOCK].found)
			continue;
		snprintf(cand->shown, sizeof(cand->shown), "%s", m->path);
		base = strrchr(m->path, '/');
		if (!have || (base && !strncmp(base + 1, "libpthread", 10))) {
			*out = *cand;
			have = true;
		}
	}
	if (have)
		err = 0;
	free(cand);
	procfs__maps_free(maps);
	return err;
}
