// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Where an address lives: first the mapping that holds it (symbols__region,
 * pure), then, for a file mapping or the anonymous .bss right after one, the
 * ELF image it belongs to, its section and the data symbol covering it.
 *
 * Hostile binaries: every size and index read from the ELF is checked by
 * libelf/gelf; we only compare addresses and copy bounded names. Paths and
 * names from /proc and ELF files may hold any byte: views escape them.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "symbols.h"

/*
 * HEAP_MAX_SIZE of 64-bit glibc (2 * DEFAULT_MMAP_THRESHOLD_MAX): every malloc
 * arena but the main one is a mapping aligned to it, read-write at its start
 * and PROT_NONE up to the next boundary until the arena grows into it.
 */
#define GLIBC_HEAP_MAX (UINT64_C(64) << 20)
#define DELETED " (deleted)"

/* ---- the mapping: pure ---- */

/* Length of path without the " (deleted)" the kernel appends to unlinked files. */
static size_t undeleted_len(const char *path, bool *deleted)
{
	size_t n = strlen(path), d = strlen(DELETED);

	*deleted = n > d && strcmp(path + n - d, DELETED) == 0;
	return *deleted ? n - d : n;
}

static bool is_anon(const struct procfs_map *m)
{
	return !m->path[0] && !m->id.inode;
}

/* A glibc malloc arena (other than the main one, which is [heap]). */
static bool is_glibc_arena(const struct procfs_maps *maps, size_t i)
{
	const struct procfs_map *m = &maps->maps[i], *next = i + 1 < maps->nr ? m + 1 : NULL;
	uint64_t size = m->end - m->start;

	if (m->start % GLIBC_HEAP_MAX || m->shared)
		return false;
	if (size % GLIBC_HEAP_MAX == 0)
		return true; /* grown to its full size */
	/* the reserve above it; it may have merged with PROT_NONE memory after it */
	return next && next->start == m->end && is_anon(next) && !next->read && !next->write &&
	       !next->shared && next->end >= m->start + GLIBC_HEAP_MAX;
}

/*
 * The thread whose stack holds addr, among those whose sp is in m: a live
 * frame lies above its thread's sp, so the nearest sp at or below addr; else
 * (addr below every sp: unused stack) the nearest above.
 */
static bool stack_of(const struct procfs_map *m, const struct procfs_sp *sps, size_t n,
		     uint64_t addr, uint32_t *tid)
{
	const struct procfs_sp *below = NULL, *above = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct procfs_sp *s = &sps[i];

		if (s->sp < m->start || s->sp >= m->end)
			continue;
		if (s->sp <= addr && (!below || s->sp > below->sp))
			below = s;
		if (s->sp > addr && (!above || s->sp < above->sp))
			above = s;
	}
	if (!below)
		below = above;
	if (below)
		*tid = below->tid;
	return below;
}

/* glibc 2.40+ names its mappings with glibc.mem.decorate_maps: "[anon: glibc: ...]". */
static enum region_kind named_anon(const char *path, char *buf, size_t len)
{
	static const char *const stacks[] = { "[anon: glibc: pthread stack: ",
					      "[anon: glibc: pthread user stack: " };
	unsigned int tid;

	for (size_t i = 0; i < sizeof(stacks) / sizeof(stacks[0]); i++) {
		size_t n = strlen(stacks[i]);

		if (strncmp(path, stacks[i], n) == 0 && sscanf(path + n, "%u]", &tid) == 1) {
			snprintf(buf, len, "stack of thread %u", tid);
			return REGION_STACK;
		}
	}
	if (!strcmp(path, "[anon: glibc: malloc arena]") ||
	    !strcmp(path, "[anon: glibc: malloc]")) {
		snprintf(buf, len, "heap");
		return REGION_HEAP;
	}
	snprintf(buf, len, "%s", path);
	return REGION_OTHER;
}

/* A file mapping: shm_open, memfd, System V shared memory, or any file. */
static enum region_kind file_region(const struct procfs_map *m, uint64_t addr, char *buf,
				    size_t len)
{
	uint64_t off = addr - m->start + m->offset;
	bool deleted;
	size_t n = undeleted_len(m->path, &deleted);
	unsigned int key;
	int end = 0;

	if (!strncmp(m->path, "/dev/shm/", 9) && n > 9) {
		snprintf(buf, len, "shm %.*s+0x%" PRIx64 "%s", (int)(n - 9), m->path + 9, off,
			 deleted ? DELETED : "");
		return REGION_SHM;
	}
	if (!strncmp(m->path, "/memfd:", 7)) {
		/* always "deleted": a memfd never had a name in a directory */
		snprintf(buf, len, "memfd %.*s+0x%" PRIx64, (int)(n - 7), m->path + 7, off);
		return REGION_MEMFD;
	}
	/* "/SYSV%08x" with the key; the inode is the segment's shmid */
	if (sscanf(m->path, "/SYSV%8x%n", &key, &end) == 1 && end == 13 && (size_t)end == n) {
		snprintf(buf, len, "sysv shm key 0x%08x id %" PRIu64 "+0x%" PRIx64, key,
			 m->id.inode, off);
		return REGION_SYSV;
	}
	if (m->shared && !strcmp(m->path, "/dev/zero" DELETED)) {
		snprintf(buf, len, "shared anonymous memory");
		return REGION_SHARED_ANON;
	}
	snprintf(buf, len, "%.*s+0x%" PRIx64 "%s", (int)n, m->path, off, deleted ? DELETED : "");
	return REGION_FILE;
}

enum region_kind symbols__region(const struct procfs_maps *maps, const struct procfs_sp *sps,
				 size_t nr_sps, uint32_t pid, uint64_t addr, char *buf, size_t len)
{
	const struct procfs_map *m = procfs__maps_find(maps, addr);
	uint32_t tid;

	if (len)
		buf[0] = '\0';
	if (!m)
		return REGION_NONE;
	if (!strcmp(m->path, "[heap]")) {
		snprintf(buf, len, "heap");
		return REGION_HEAP;
	}
	if (!strcmp(m->path, "[stack]")) {
		snprintf(buf, len, "stack of thread %u", pid); /* the main thread's */
		return REGION_STACK;
	}
	if (!strncmp(m->path, "[anon:", 6))
		return named_anon(m->path, buf, len);
	if (m->path[0] == '/')
		return file_region(m, addr, buf, len);
	if (m->path[0]) {
		snprintf(buf, len, "%s", m->path); /* [vdso], [anon_shmem:NAME], ... */
		return REGION_OTHER;
	}
	if (m->shared) {
		snprintf(buf, len, "shared anonymous memory");
		return REGION_SHARED_ANON;
	}
	if (is_glibc_arena(maps, (size_t)(m - maps->maps))) {
		snprintf(buf, len, "heap");
		return REGION_HEAP;
	}
	if (stack_of(m, sps, nr_sps, addr, &tid)) {
		snprintf(buf, len, "stack of thread %u", tid);
		return REGION_STACK;
	}
	/* a large malloc chunk, a mmap() of the program's own: "heap" would be a guess */
	snprintf(buf, len, "anonymous memory");
	return REGION_ANON;
}

bool symbols__describe(const struct addr_place *p, char *buf, size_t len)
{
	const char *base;

	if (len)
		buf[0] = '\0';
	if (!p)
		return false;
	if (p->symbol) {
		base = p->module ? strrchr(p->module, '/') : NULL;
		if (p->module)
			snprintf(buf, len, "%s in %s", p->symbol, base ? base + 1 : p->module);
		else
			snprintf(buf, len, "%s", p->symbol);
		return true;
	}
	if (p->region)
		snprintf(buf, len, "%s", p->region);
	return false;
}

/* ---- the ELF image: reads files ---- */

/* Load bias: where the first PT_LOAD landed minus where the ELF wanted it. */
static bool load_bias(Elf *elf, uint64_t map_start, uint64_t *bias)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (ph.p_offset != 0)
			return false;
		*bias = map_start - (ph.p_vaddr & ~(uint64_t)(ph.p_align > 1 ? ph.p_align - 1 : 0));
		return true;
	}
	return false;
}

/* Is vaddr inside a loaded segment (its .bss included)? */
static bool in_image(Elf *elf, uint64_t vaddr)
{
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return false;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr - ph.p_vaddr < ph.p_memsz)
			return true;
	}
	return false;
}

/* The allocated section holding vaddr (".data", ".bss"), or NULL. */
static const char *section_of(Elf *elf, uint64_t vaddr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		/* .tbss overlaps the sections after it in the image: TLS is per thread */
		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC) ||
		    (sh.sh_flags & SHF_TLS))
			continue;
		if (vaddr >= sh.sh_addr && vaddr - sh.sh_addr < sh.sh_size)
			return elf_strptr(elf, shstrndx, sh.sh_name);
	}
	return NULL;
}

static bool find_object(Elf *elf, uint64_t vaddr, char *buf, size_t len)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !sh.sh_entsize)
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_shndx == SHN_UNDEF)
				continue;
			if (vaddr < sym.st_value ||
			    vaddr - sym.st_value >= (sym.st_size ? sym.st_size : 1))
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!name || !*name)
				continue;
			if (vaddr == sym.st_value)
				snprintf(buf, len, "%s", name);
			else
				snprintf(buf, len, "%s+0x%" PRIx64, name, vaddr - sym.st_value);
			return true;
		}
	}
	return false;
}

/*
 * Whether fd is the file mapping f shows. A path under the process's root is
 * the process's to redirect (a symlink to one of the host's files, resolved
 * from tangle's root): only the mapped inode is read.
 */
static bool is_mapped(int fd, const struct procfs_map *f)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_ino == f->id.inode &&
	       (((uint64_t)major(st.st_dev) << 32) | minor(st.st_dev)) == f->id.dev;
}

/* The file of mapping f, through the process's root; an unlinked one through map_files. */
static int open_mapped(const char *proc_root, uint32_t pid, const struct procfs_map *f)
{
	char path[PATH_MAX + 64];
	int fd;

	/* O_NONBLOCK: a FIFO or device put under that name must not hang us */
	snprintf(path, sizeof(path), "%s/%u/root%s", proc_root, pid, f->path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && is_mapped(fd, f))
		return fd;
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/%u/map_files/%" PRIx64 "-%" PRIx64, proc_root, pid,
		 f->start, f->end);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && !is_mapped(fd, f)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * addr in the ELF file mapped at maps->maps[i] (addr is in that mapping or in
 * the anonymous .bss after it): module, section and symbol. False when the
 * file is no ELF file or addr is outside its loaded segments.
 */
static bool elf_place(const char *proc_root, uint32_t pid, const struct procfs_maps *maps, size_t i,
		      uint64_t addr, struct addr_place_buf *out)
{
	const struct procfs_map *f = &maps->maps[i], *first = NULL;
	const char *section;
	uint64_t bias;
	bool found = false;
	Elf *elf;
	int fd;

	/* the nearest mapping of the file at offset 0 below it locates the image */
	for (size_t j = i + 1; j-- > 0 && !first;)
		if (maps->maps[j].id.inode == f->id.inode && maps->maps[j].id.dev == f->id.dev &&
		    maps->maps[j].offset == 0)
			first = &maps->maps[j];
	if (!first)
		return false;
	fd = open_mapped(proc_root, pid, first);
	if (fd < 0)
		return false;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf && elf_kind(elf) == ELF_K_ELF && load_bias(elf, first->start, &bias) &&
	    addr >= bias && in_image(elf, addr - bias)) {
		found = true;
		snprintf(out->module, sizeof(out->module), "%s", f->path);
		out->place.module = out->module;
		if (find_object(elf, addr - bias, out->symbol, sizeof(out->symbol)))
			out->place.symbol = out->symbol;
		section = section_of(elf, addr - bias);
		if (section && *section)
			snprintf(out->region, sizeof(out->region), "%s %s", f->path, section);
		else
			snprintf(out->region, sizeof(out->region), "%s", f->path);
	}
	elf_end(elf);
	close(fd);
	return found;
}

int symbols__place(const char *proc_root, uint32_t pid, uint64_t addr, struct addr_place_buf *out)
{
	struct procfs_maps *maps = procfs__read_maps(proc_root, pid);
	const struct procfs_map *m = procfs__maps_find(maps, addr);
	struct procfs_sp *sps = NULL;
	enum region_kind kind;
	size_t i;
	int n;

	memset(&out->place, 0, sizeof(out->place));
	if (!m) {
		procfs__maps_free(maps);
		return -ENOENT;
	}
	i = (size_t)(m - maps->maps);
	kind = symbols__region(maps, NULL, 0, pid, addr, out->region, sizeof(out->region));
	if (kind == REGION_FILE && elf_place(proc_root, pid, maps, i, addr, out))
		goto done;
	/* a .bss longer than the file's last page is anonymous memory right after it */
	if (kind == REGION_ANON && i && maps->maps[i - 1].end == m->start &&
	    maps->maps[i - 1].path[0] == '/' && elf_place(proc_root, pid, maps, i - 1, addr, out))
		goto done;
	/* only now the threads: reading every task's syscall file costs more than the rest */
	if (kind == REGION_ANON && (n = procfs__thread_sps(proc_root, pid, &sps)) > 0)
		symbols__region(maps, sps, (size_t)n, pid, addr, out->region, sizeof(out->region));
done:
	out->place.region = out->region[0] ? out->region : NULL;
	free(sps);
	procfs__maps_free(maps);
	return 0;
}
