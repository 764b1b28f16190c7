// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Hostile binaries: every size and index read from the ELF is checked by
 * libelf/gelf; we only compare addresses and copy bounded names.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbols.h"

#define MAX_FILES 64

struct mapped_file {
	uint64_t start; /* the mapping with file offset 0 */
	char path[PATH_MAX];
};

/* The first mapping (offset 0) of each file in pid's address space. */
static int mapped_files(const char *proc_root, uint32_t pid, struct mapped_file *files, int max)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (n < max && getline(&line, &cap, f) > 0) {
		unsigned long long start, off;
		int pos = 0;
		char *p;

		if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %n", &start, &off, &pos) != 2 || !pos)
			continue;
		p = line + pos;
		p[strcspn(p, "\n")] = '\0';
		if (off != 0 || p[0] != '/')
			continue;
		files[n].start = start;
		snprintf(files[n].path, sizeof(files[n].path), "%s", p);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

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
			    vaddr >= sym.st_value + (sym.st_size ? sym.st_size : 1))
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

int symbols__data(const char *proc_root, uint32_t pid, uint64_t addr, char *buf, size_t len)
{
	struct mapped_file *files = calloc(MAX_FILES, sizeof(*files));
	int n, err = -ENOENT;

	if (!files)
		return -ENOMEM;
	elf_version(EV_CURRENT);
	n = mapped_files(proc_root, pid, files, MAX_FILES);
	for (int i = 0; i < n && err; i++) {
		char path[PATH_MAX + 64];
		uint64_t bias;
		Elf *elf;
		int fd;

		if (addr < files[i].start)
			continue;
		snprintf(path, sizeof(path), "%s/%u/root%s", proc_root, pid, files[i].path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		if (elf && elf_kind(elf) == ELF_K_ELF && load_bias(elf, files[i].start, &bias) &&
		    addr >= bias && find_object(elf, addr - bias, buf, len))
			err = 0;
		elf_end(elf);
		close(fd);
	}
	free(files);
	return err;
}
