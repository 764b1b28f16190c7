// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unwinding a blocked thread from its syscall-entry registers, read-only.
 *
 * Unwinding: one libdwfl session (struct proc) per process, its modules
 * reported from /proc/PID/maps by hand, so that every file is opened by our
 * own find_elf (through /proc/PID/root, or /proc/PID/map_files for a deleted
 * or replaced file; the vDSO from process memory) and nothing in libdwfl
 * ever ptrace-attaches. libdwfl's CFI engine runs with our thread callbacks:
 * one thread, the registers we were given, memory through process_vm_readv
 * and a per-call page cache, or only from a copy of the stack taken earlier
 * (a stack window). A stack whose CFI unwind gives nothing past the first
 * frame is walked along the rbp chain instead.
 *
 * Naming: through one session per mapped file (struct filesym), shared by
 * all processes, since a file's debug info is big (libc's decompresses to
 * tens of MB); a sorted symbol table and a pruned DIE walk stand in for
 * libdwfl's linear symbol search and for dwarf_getscopes() plus
 * dwarf_getscopes_die(). Each address is described once per file: results
 * are cached by (file, address - load address).
 *
 * Go executables: their code has no .eh_frame (and no .debug_frame once
 * stripped), and their names, lines and inlined calls are in .gopclntab
 * whether stripped or not. A file that src/gobin.c can open is named through
 * it, as Go's own tracebacks name frames, and a stack whose pc is in it is
 * walked as the Go runtime walks it: the pcsp table gives each frame's size,
 * so a frameless leaf (runtime.futex) does not hide its caller as it does
 * from an rbp walk.
 *
 * Hostile input (binaries, DWARF, stacks, names) only ever costs frames or
 * names: every copy is bounded and sanitized, every loop and table has a cap.
 */
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "gobin.h"
#include "unwind.h"

#define MAX_PROCS 64 /* cached libdwfl sessions */
#define MAX_MAPS 65536 /* lines of /proc/PID/maps we look at */
#define MAX_VDSO (1u << 20)
#define MAX_IMAGES 8 /* in-memory ELF images (vDSO) per process */
#define MAX_PHYS 256 /* physical frames of one unwind */
#define MAX_INLINE 32 /* inlined levels at one pc */
#define MAX_SCOPES 128 /* nested DIEs around one pc */
#define SCOPE_BUDGET (1u << 20) /* DIEs looked at in one call, for all its addresses */
#define MAX_MANGLED 4096 /* longer names are not demangled */
#define MAX_FILES 32 /* files with a symbolization session */
#define SYMS_BUDGET (1u << 20) /* sorted symbols of all files; past it libdwfl searches */
#define CACHE_SLOTS 2048 /* symbolized addresses */
#define CACHE_MAX_BLOCK 4096 /* bytes of one cached expansion at most */
#define PAGE 4096u
#define NR_PAGES 16 /* page cache of one unwind */
/* Re-read maps for an unknown address at most this often per process. */
#define REFRESH_NS (100ull * 1000 * 1000)

/* The registers and the ELF header below are x86-64's. */
#ifdef __x86_64__
#define UNWIND_ARCH_OK 1
#else
#define UNWIND_ARCH_OK 0
#endif

/* x86-64 DWARF register numbers. */
enum { DW_RBX = 3, DW_RBP = 6, DW_RSP = 7, DW_R12 = 12, DW_RIP = 16 };

/* libstdc++'s demangler (C++ and legacy Rust symbols). */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

struct map {
	uint64_t start, end, offset, ino;
	unsigned int dev_major, dev_minor;
	bool exec;
	char *path; /* NULL for anonymous memory */
	uint64_t key; /* of the offset-0 mapping of a module's file: see file_key() */
};

struct proc {
	struct unwinder *u;
	uint32_t pid;
	int dirfd; /* /proc/PID: fails with ESRCH once this process is gone, even if pid is reused */
	uint64_t last_used;
	Dwfl *dwfl;
	Dwfl_Callbacks cb;
	char *debuginfo_path;
	char root[PATH_MAX + 32]; /* "" when the process shares our root, else "/proc/PID/root" */
	struct map *maps;
	size_t nr_maps;
	uint64_t maps_hash, reported_ns;
	bool attached;
	void *images[MAX_IMAGES];
	size_t nr_images;
	uint32_t tid; /* the thread being unwound (0 when symbolizing), and its registers */
	const struct user_regs *regs;
};

/*
 * A symbolization session of one file, shared by every process that maps it:
 * its debug info (tens of MB for libc, decompressed) is loaded once, not once
 * per process. The module sits at its link-time addresses.
 */
struct fsym {
	uint64_t addr, size;
	uint64_t sec_end; /* a sizeless symbol (asm label) covers up to its section's end... */
	uint64_t max_end; /* ...and not below the end of any sized symbol sorted before it */
	const char *name; /* in libdwfl's string table of the file */
	int bind; /* higher is better */
	int index; /* in the symbol table: of equals, libdwfl takes the first */
};

struct filesym {
	struct unwinder *u;
	uint64_t key; /* the file's identity, file_key() */
	uint64_t start; /* the module's first address */
	uint64_t last_used;
	Dwfl *dwfl; /* NULL: the file could not be opened (remembered, not retried) */
	Dwfl_Module *mod;
	struct fsym *syms; /* sorted by address: libdwfl searches its symbols linearly */
	size_t nr_syms;
	bool syms_loaded;
	Dwfl_Callbacks cb;
	char *debuginfo_path;
	char root[PATH_MAX + 32]; /* of the process that opened it first */
	struct gobin *go; /* a Go executable: names and frame sizes from its pclntab */
};

/*
 * What one lookup address of a file expands to, packed in one allocation:
 * n records, then their strings. Offsets are from the lookup address.
 */
struct cframe {
	uint64_t offset;
	int32_t line;
	uint16_t function, file; /* string offsets from the start of the block */
	bool inlined;
};

struct symentry {
	uint64_t key, rel; /* file_key(); lookup address minus the module's load address */
	size_t n; /* 0: empty slot */
	struct cframe *frames;
};

struct scope_walk {
	Dwarf_Addr pc;
	Dwarf_Die chain[MAX_SCOPES]; /* from the CU down to the innermost scope holding pc */
	int n;
	unsigned int budget; /* DIEs left to look at in this call; 0: names may be missing */
};

struct page {
	uint64_t addr;
	bool used, ok;
	unsigned char data[PAGE];
};

struct unwinder {
	char proc_root[PATH_MAX];
	struct proc *procs[MAX_PROCS];
	struct filesym *files[MAX_FILES];
	struct symentry cache[CACHE_SLOTS]; /* direct-mapped */
	struct frame scratch[MAX_INLINE + 1];
	struct scope_walk walk;
	size_t nr_syms; /* in all files' sorted tables */
	uint64_t tick;
	Elf *arch; /* an ELF header that only says x86-64, for dwfl_attach_state */
	Elf64_Ehdr ehdr;
	/* State of the current call. */
	struct page pages[NR_PAGES];
	unsigned int next_page;
	bool gone; /* process_vm_readv said ESRCH */
	bool refreshed; /* maps were re-read in this call */
	const struct stack_window *win; /* stack memory to read instead of the thread's */
	uint64_t sp; /* the unwind's first sp, and the highest byte read above it */
	uint64_t deepest;
	bool truncated; /* a read past the window was refused */
	bool fp_only;
};

struct pcinfo {
	uint64_t pc;
	bool activation; /* pc is not a return address: look it up as is */
};

/*
 * Whose memory to read: the thread being unwound shares its process's, and
 * stays readable when the main thread has exited (leaving a zombie leader
 * without memory).
 */
static pid_t mem_task(const struct proc *p)
{
	return (pid_t)(p->tid ? p->tid : p->pid);
}

/* Hash combining, for file identities and the cache. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 31;
	return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) ||
	    (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * Bounded copy of a name that came from the target or its files: control
 * bytes and invalid UTF-8 become '?', and the cut never splits a character.
 */
static void copy_str(char *dst, size_t len, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	while (*s && o + 1 < len) {
		size_t n = *s < 0x80 ? 1 : utf8_len(s);

		if (n <= 1) {
			dst[o++] = n && *s >= 0x20 && *s != 0x7f ? (char)*s : '?';
			s++;
			continue;
		}
		if (o + n >= len)
			break;
		memcpy(dst + o, s, n);
		o += n;
		s += n;
	}
	dst[o] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Names */

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Legacy Rust escapes in a demangled path: $LT$ -> <, $u20$ -> ' ', .. -> :: */
static void rust_unescape(const char *in, char *out, size_t len)
{
	static const struct {
		const char *esc;
		char c;
	} table[] = { { "$SP$", '@' }, { "$BP$", '*' }, { "$RF$", '&' }, { "$LT$", '<' },
		      { "$GT$", '>' }, { "$LP$", '(' }, { "$RP$", ')' }, { "$C$", ',' } };
	size_t o = 0;

	while (*in && o + 1 < len) {
		bool done = false;

		/* A path segment that starts with an escape gets a '_' in front. */
		if (in[0] == '_' && in[1] == '$' && (o == 0 || out[o - 1] == ':'))
			in++;
		if (*in == '$') {
			for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
				size_t n = strlen(table[i].esc);

				if (!strncmp(in, table[i].esc, n)) {
					out[o++] = table[i].c;
					in += n;
					done = true;
					break;
				}
			}
			if (!done && in[1] == 'u') {
				char *end;
				unsigned long c = strtoul(in + 2, &end, 16);

				if (*end == '$' && end > in + 2 && c >= 0x20 && c < 0x7f) {
					out[o++] = (char)c;
					in = end + 1;
					done = true;
				}
			}
		} else if (in[0] == '.' && in[1] == '.' && o + 2 < len) {
			out[o++] = ':';
			out[o++] = ':';
			in += 2;
			done = true;
		}
		if (!done)
			out[o++] = *in++;
	}
	out[o] = '\0';
}

/*
 * A symbol as people read it: C++ and legacy Rust demangled (Rust without
 * its ::h<16 hex> hash), a symbol version ("memcpy@GLIBC_2.14") dropped.
 */
static void demangle(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	char *d = NULL;
	int status = -1;

	if (n > 2 && n < MAX_MANGLED && name[0] == '_' && name[1] == 'Z')
		d = __cxa_demangle(name, NULL, NULL, &status);
	if (d && status == 0) {
		size_t dn = strlen(d);

		if (dn > 19 && !strncmp(d + dn - 19, "::h", 3) && is_hex(d + dn - 16, 16)) {
			d[dn - 19] = '\0';
			rust_unescape(d, out, len);
		} else {
			copy_str(out, len, d);
		}
		free(d);
		return;
	}
	free(d);
	copy_str(out, len, name);
	if (name[0] != '@')
		out[strcspn(out, "@")] = '\0';
}

/*
 * The name of a subprogram or inlined instance, from its own DIE or its
 * origin: the linkage name (*mangled set) if there is one, else DW_AT_name.
 */
static const char *die_name(Dwarf_Die *die, bool *mangled)
{
	Dwarf_Attribute attr;
	const char *name;

	*mangled = true;
	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (name)
		return name;
	*mangled = false;
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

/* ------------------------------------------------------------------------ */
/* Process memory */

/* One page of the target, cached for the rest of this call; NULL if unreadable. */
static const unsigned char *get_page(struct unwinder *u, pid_t pid, uint64_t addr)
{
	struct page *pg;
	struct iovec local, remote;
	ssize_t got;

	for (unsigned int i = 0; i < NR_PAGES; i++)
		if (u->pages[i].used && u->pages[i].addr == addr)
			return u->pages[i].ok ? u->pages[i].data : NULL;
	pg = &u->pages[u->next_page++ % NR_PAGES];
	pg->used = true;
	pg->addr = addr;
	local.iov_base = pg->data;
	local.iov_len = PAGE;
	remote.iov_base = (void *)(uintptr_t)addr;
	remote.iov_len = PAGE;
	got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (got < 0 && errno == ESRCH)
		u->gone = true;
	pg->ok = got == (ssize_t)PAGE;
	return pg->ok ? pg->data : NULL;
}

/* A word of a stack window; false outside it (remembered as a truncation above it). */
static bool window_word(struct unwinder *u, uint64_t addr, uint64_t *val)
{
	const struct stack_window *w = u->win;

	if (addr < w->base || addr - w->base > w->len || w->len - (addr - w->base) < 8) {
		/* just above: the stack went on past the copy (far above: a wild pointer) */
		if (addr >= w->base && addr - w->base < w->len + (1u << 20))
			u->truncated = true;
		return false;
	}
	memcpy(val, (const unsigned char *)w->data + (addr - w->base), 8);
	return true;
}

static bool read_word(struct unwinder *u, pid_t pid, uint64_t addr, uint64_t *val)
{
	unsigned char buf[8];

	if (addr >= u->sp && addr - u->sp + 8 > u->deepest)
		u->deepest = addr - u->sp + 8;
	if (u->win)
		return window_word(u, addr, val);
	for (unsigned int i = 0; i < 8;) {
		uint64_t a = addr + i, base = a & ~(uint64_t)(PAGE - 1);
		unsigned int in_page = (unsigned int)(PAGE - (a - base));
		unsigned int take = 8 - i < in_page ? 8 - i : in_page;
		const unsigned char *pg;

		if (a < addr)
			return false; /* wrapped */
		pg = get_page(u, pid, base);
		if (!pg)
			return false;
		memcpy(buf + i, pg + (a - base), take);
		i += take;
	}
	memcpy(val, buf, 8);
	return true;
}

static void reset_call(struct unwinder *u)
{
	for (unsigned int i = 0; i < NR_PAGES; i++)
		u->pages[i].used = false;
	u->next_page = 0;
	u->walk.budget = SCOPE_BUDGET;
	u->gone = false;
	u->refreshed = false;
	u->win = NULL;
	u->sp = 0;
	u->deepest = 0;
	u->truncated = false;
}

/* ------------------------------------------------------------------------ */
/* /proc/PID/maps */

static void free_maps(struct map *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(maps[i].path);
	free(maps);
}

/* Parses one maps line; false for a line that is not one. */
static bool parse_map(char *line, struct map *m)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perms[8];
	int pos = 0;
	char *path;

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj, &min,
		   &ino, &pos) != 7 ||
	    !pos || end <= start)
		return false;
	path = line + pos;
	path[strcspn(path, "\n")] = '\0';
	m->start = start;
	m->end = end;
	m->offset = off;
	m->ino = ino;
	m->dev_major = maj;
	m->dev_minor = min;
	m->exec = perms[2] == 'x';
	m->path = NULL;
	m->key = 0;
	if (*path) {
		m->path = strdup(path);
		if (!m->path)
			return false;
	}
	return true;
}

/* Reads maps; *hash fingerprints its text so that an unchanged file costs no report. */
static int read_maps(struct proc *p, const char *name, struct map **out, size_t *nr, uint64_t *hash)
{
	struct map *maps = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	uint64_t h = 14695981039346656037ull;
	char *line = NULL;
	ssize_t len;
	int fd, err = 0;
	FILE *f;

	fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	f = fdopen(fd, "r");
	if (!f) {
		err = -errno;
		close(fd);
		return err;
	}
	while (n < MAX_MAPS && (len = getline(&line, &lcap, f)) > 0) {
		for (ssize_t i = 0; i < len; i++)
			h = (h ^ (unsigned char)line[i]) * 1099511628211ull;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct map *m = realloc(maps, ncap * sizeof(*m));

			if (!m) {
				err = -ENOMEM;
				break;
			}
			maps = m;
			cap = ncap;
		}
		if (parse_map(line, &maps[n]))
			n++;
	}
	free(line);
	fclose(f);
	if (err) {
		free_maps(maps, n);
		return err;
	}
	*out = maps;
	*nr = n;
	*hash = h;
	return 0;
}

static const struct map *map_containing(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_maps;

	/* maps is sorted by address */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < p->maps[mid].start)
			hi = mid;
		else if (addr >= p->maps[mid].end)
			lo = mid + 1;
		else
			return &p->maps[mid];
	}
	return NULL;
}

static bool same_object(const struct map *a, const struct map *b)
{
	return a->path && b->path && a->ino == b->ino && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && !strcmp(a->path, b->path);
}

/*
 * The identity of a mapped file, to share its session and names between
 * processes. Device and inode alone would let a new file that got a freed
 * inode number (a program rebuilt while tangle runs) inherit the names of the
 * old one: size and mtime tell them apart. Never 0.
 */
static uint64_t file_key(const struct proc *p, const struct map *m)
{
	char path[PATH_MAX + 64];
	struct stat st;
	uint64_t h;

	snprintf(path, sizeof(path), "map_files/%llx-%llx", (unsigned long long)m->start,
		 (unsigned long long)m->end);
	if (fstatat(p->dirfd, path, &st, 0) || st.st_ino != m->ino) {
		if (snprintf(path, sizeof(path), "%s%s", p->root, m->path) >= (int)sizeof(path) ||
		    stat(path, &st) || st.st_ino != m->ino)
			memset(&st, 0, sizeof(st));
	}
	h = mix(mix(0, makedev(m->dev_major, m->dev_minor)), m->ino);
	h = mix(mix(h, (uint64_t)st.st_size), (uint64_t)st.st_mtim.tv_sec);
	h = mix(h, (uint64_t)st.st_mtim.tv_nsec);
	return h ? h : 1;
}

/*
 * Reports each mapped ELF file (from its offset-0 mapping through the
 * following mappings of the same file) and the vDSO as a module. Files with
 * no executable mapping cannot hold a pc and are left out. libdwfl keeps
 * modules that are reported again unchanged, with their loaded debug info.
 */
static int report_maps(struct proc *p)
{
	struct map *maps = NULL;
	size_t nr = 0;
	uint64_t hash = 0;
	int err;

	err = read_maps(p, "maps", &maps, &nr, &hash);
	/* A process whose main thread exited shows its maps only through the others. */
	if (!err && !nr && p->tid && p->tid != p->pid) {
		char name[32];

		free_maps(maps, nr);
		snprintf(name, sizeof(name), "task/%u/maps", p->tid);
		err = read_maps(p, name, &maps, &nr, &hash);
	}
	if (err)
		return err;
	p->reported_ns = mono_ns();
	if (p->maps && hash == p->maps_hash) {
		free_maps(maps, nr);
		return 0;
	}
	free_maps(p->maps, p->nr_maps);
	p->maps = maps;
	p->nr_maps = nr;
	p->maps_hash = hash;

	dwfl_report_begin(p->dwfl);
	for (size_t i = 0; i < nr;) {
		struct map *first = &maps[i];
		size_t j = i + 1;
		bool exec = first->exec, vdso;
		Dwfl_Module *mod;
		void **ud = NULL;

		vdso = first->path && !strcmp(first->path, "[vdso]");
		if (!vdso && (!first->path || first->path[0] != '/' || first->offset != 0)) {
			i++;
			continue;
		}
		while (!vdso && j < nr && same_object(&maps[j], first) && maps[j].offset != 0 &&
		       maps[j].start >= maps[j - 1].end) {
			exec |= maps[j].exec;
			j++;
		}
		if (exec) {
			if (!vdso)
				first->key = file_key(p, first);
			mod = dwfl_report_module(p->dwfl, first->path, first->start,
						 maps[j - 1].end);
			if (mod && dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL) &&
			    ud)
				*ud = p;
		}
		i = j;
	}
	dwfl_report_end(p->dwfl, NULL, NULL);
	return 0;
}

/* Re-reads maps once per call and not too often: an address in no module may be a dlopen. */
static bool refresh(struct proc *p)
{
	struct unwinder *u = p->u;

	if (u->refreshed || mono_ns() - p->reported_ns < REFRESH_NS)
		return false;
	u->refreshed = true;
	return report_maps(p) == 0;
}

/*
 * The module reported at addr. libdwfl 0.188 can answer with the module just
 * below an address in no module (seen under valgrind, whose layout leaves a
 * library mapped after tangle's last report above every reported one), so
 * its bounds are checked.
 */
static Dwfl_Module *module_at(struct proc *p, uint64_t addr)
{
	Dwfl_Module *mod = dwfl_addrmodule(p->dwfl, addr);
	Dwarf_Addr low, high;

	if (mod && dwfl_module_info(mod, NULL, &low, &high, NULL, NULL, NULL, NULL) &&
	    (addr < low || addr >= high))
		return NULL;
	return mod;
}

static Dwfl_Module *module_of(struct proc *p, uint64_t addr)
{
	Dwfl_Module *mod = module_at(p, addr);

	if (!mod && refresh(p))
		mod = module_at(p, addr);
	return mod;
}

/* ------------------------------------------------------------------------ */
/* libdwfl callbacks: finding files */

static const struct map *module_map(const struct proc *p, uint64_t base, const char *name)
{
	const struct map *m = map_containing(p, base);

	return m && m->start == base && m->path && !strcmp(m->path, name) ? m : NULL;
}

/* The vDSO is in no file: copy it out of the target's memory. */
static int vdso_elf(struct proc *p, const struct map *m, Elf **elfp)
{
	struct iovec local, remote;
	size_t size;
	void *buf;
	Elf *elf;

	if (!m || p->nr_images == MAX_IMAGES)
		return -1;
	size = m->end - m->start;
	if (size > MAX_VDSO)
		return -1;
	buf = malloc(size);
	if (!buf)
		return -1;
	local.iov_base = buf;
	local.iov_len = size;
	remote.iov_base = (void *)(uintptr_t)m->start;
	remote.iov_len = size;
	if (process_vm_readv(mem_task(p), &local, 1, &remote, 1, 0) != (ssize_t)size) {
		free(buf);
		return -1;
	}
	elf = elf_memory(buf, size);
	if (!elf) {
		free(buf);
		return -1;
	}
	/* libdwfl ends the Elf; the image must outlive it (freed after dwfl_end). */
	p->images[p->nr_images++] = buf;
	*elfp = elf;
	return -1;
}

/* fd is the file the mapping shows (a container's path may name another one). */
static bool is_mapped_file(int fd, const struct map *m)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return false;
	return !m || (st.st_ino == m->ino && major(st.st_dev) == m->dev_major &&
		      minor(st.st_dev) == m->dev_minor);
}

static int open_checked(const char *path, const struct map *m)
{
	/* O_NONBLOCK: a FIFO or device under that name must not hang us. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0 && !is_mapped_file(fd, m)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Opens a module's file as the process sees it: by path under its root, or,
 * when that is not the mapped file ((deleted), replaced on disk, another
 * mount namespace), through /proc/PID/map_files. Never via ptrace.
 */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	struct proc *p = *userdata;
	const struct map *m;
	char path[PATH_MAX + 64];
	size_t len;
	int fd = -1;

	if (!p)
		return -1;
	m = module_map(p, base, modname);
	if (!strcmp(modname, "[vdso]"))
		return vdso_elf(p, m, elfp);
	len = strlen(modname);
	if (modname[0] == '/' && !(len > 10 && !strcmp(modname + len - 10, " (deleted)"))) {
		if (snprintf(path, sizeof(path), "%s%s", p->root, modname) < (int)sizeof(path))
			fd = open_checked(path, m);
	}
	if (fd < 0 && m) {
		snprintf(path, sizeof(path), "%s/%u/map_files/%llx-%llx", p->u->proc_root, p->pid,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		fd = open_checked(path, NULL);
	}
	if (fd < 0)
		return -1;
	*file_name = strdup(path);
	if (!*file_name) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Separate debug info by build-id or .gnu_debuglink (libdwfl's standard
 * search over debuginfo_path, which covers the target's /usr/lib/debug).
 * When the file was opened through map_files, its debuglink is also looked
 * for next to the path it was mapped from (under root), if a build-id can
 * validate what is found there.
 */
static int find_debuginfo_under(const char *root, Dwfl_Module *mod, void **userdata,
				const char *modname, Dwarf_Addr base, const char *file_name,
				const char *debuglink_file, GElf_Word debuglink_crc,
				char **debuginfo_file_name)
{
	const unsigned char *bits;
	GElf_Addr vaddr;
	char alt[PATH_MAX + 64];
	size_t len;
	int fd;

	fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
					  debuglink_crc, debuginfo_file_name);
	if (fd >= 0 || !root || modname[0] != '/' || !file_name)
		return fd;
	if (snprintf(alt, sizeof(alt), "%s%s", root, modname) >= (int)sizeof(alt))
		return fd;
	len = strlen(alt);
	if (len > 10 && !strcmp(alt + len - 10, " (deleted)"))
		alt[len - 10] = '\0';
	if (!strcmp(alt, file_name) || dwfl_module_build_id(mod, &bits, &vaddr) <= 0)
		return fd;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, alt, debuglink_file,
					    debuglink_crc, debuginfo_file_name);
}

/*
 * A process session never loads separate debug files: its unwinds need only
 * .eh_frame (or the file's own .debug_frame), and names and lines come from
 * the file's shared session. Else a frame without .eh_frame would make each
 * process decompress its own copy of, say, libc's debug info.
 */
static int proc_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			       Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			       GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	return -1;
}

static int file_find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			       Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			       GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const struct filesym *fs = *userdata;

	return find_debuginfo_under(fs ? fs->root : NULL, mod, userdata, modname, base, file_name,
				    debuglink_file, debuglink_crc, debuginfo_file_name);
}

/* A file session's one module is opened by dwfl_report_elf itself. */
static int no_find_elf(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
		       char **file_name, Elf **elfp)
{
	return -1;
}

/* ------------------------------------------------------------------------ */
/* libdwfl callbacks: the one thread */

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct proc *p = arg;

	if (*thread_argp)
		return 0;
	*thread_argp = p;
	return (pid_t)p->tid;
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct proc *p = arg;

	if ((uint32_t)tid != p->tid)
		return false;
	*thread_argp = p;
	return true;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct proc *p = arg;
	uint64_t v;

	if (!read_word(p->u, mem_task(p), addr, &v))
		return false;
	*result = v;
	return true;
}

/* Only the registers we know: CFI needs rsp and rip, and the callee-saved ones it restores. */
static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	const struct proc *p = arg;
	const struct user_regs *r = p->regs;
	const struct {
		uint32_t bit;
		int regno;
		uint64_t val;
	} regs[] = {
		{ UREG_BX, DW_RBX, r->bx },	  { UREG_BP, DW_RBP, r->bp },
		{ UREG_SP, DW_RSP, r->sp },	  { UREG_R12, DW_R12, r->r12 },
		{ UREG_R13, DW_R12 + 1, r->r13 }, { UREG_R14, DW_R12 + 2, r->r14 },
		{ UREG_R15, DW_R12 + 3, r->r15 }, { UREG_IP, DW_RIP, r->ip },
	};

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		Dwarf_Word v = regs[i].val;

		if ((r->valid & regs[i].bit) &&
		    !dwfl_thread_state_registers(thread, regs[i].regno, 1, &v))
			return false;
	}
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

/* ------------------------------------------------------------------------ */
/* Process sessions */

static void proc_free(struct proc *p)
{
	if (!p)
		return;
	dwfl_end(p->dwfl);
	for (size_t i = 0; i < p->nr_images; i++)
		free(p->images[i]);
	free_maps(p->maps, p->nr_maps);
	free(p->debuginfo_path);
	if (p->dirfd >= 0)
		close(p->dirfd);
	free(p);
}

static struct proc *proc_new(struct unwinder *u, uint32_t pid, uint32_t tid, int *err)
{
	struct proc *p = calloc(1, sizeof(*p));
	char path[PATH_MAX + 16];
	struct stat theirs, ours;

	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	p->u = u;
	p->pid = pid;
	p->tid = tid;
	snprintf(path, sizeof(path), "%s/%u", u->proc_root, pid);
	p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		*err = errno == ENOENT ? -ESRCH : -errno;
		goto fail;
	}
	/* A process in another root (container) has its files and debug files there. */
	if (!fstatat(p->dirfd, "root", &theirs, 0) && !stat("/", &ours) &&
	    (theirs.st_dev != ours.st_dev || theirs.st_ino != ours.st_ino))
		snprintf(p->root, sizeof(p->root), "%s/root", path);
	if (asprintf(&p->debuginfo_path, "-:.debug:/usr/lib/debug%s%s%s", p->root[0] ? ":" : "",
		     p->root, p->root[0] ? "/usr/lib/debug" : "") < 0) {
		p->debuginfo_path = NULL;
		*err = -ENOMEM;
		goto fail;
	}
	p->cb.find_elf = find_elf;
	p->cb.find_debuginfo = proc_find_debuginfo;
	p->cb.section_address = dwfl_offline_section_address;
	p->cb.debuginfo_path = &p->debuginfo_path;
	p->dwfl = dwfl_begin(&p->cb);
	if (!p->dwfl) {
		*err = -ENOMEM;
		goto fail;
	}
	*err = report_maps(p);
	if (*err)
		goto fail;
	return p;
fail:
	proc_free(p);
	return NULL;
}

/*
 * The session of pid, made on first use; the least recently used one makes
 * room. tid: the thread this call is about, 0 for none.
 */
static struct proc *proc_get(struct unwinder *u, uint32_t pid, uint32_t tid, int *err)
{
	struct stat st;
	int slot = -1, lru = 0;

	for (int i = 0; i < MAX_PROCS; i++) {
		struct proc *p = u->procs[i];

		if (!p) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (p->pid == pid) {
			if (fstatat(p->dirfd, "stat", &st, 0)) {
				/* Exited (and maybe the pid reused): start over. */
				proc_free(p);
				u->procs[i] = NULL;
				slot = i;
				break;
			}
			p->last_used = ++u->tick;
			p->tid = tid;
			return p;
		}
		if (!u->procs[lru] || p->last_used < u->procs[lru]->last_used)
			lru = i;
	}
	if (slot < 0) {
		proc_free(u->procs[lru]);
		u->procs[lru] = NULL;
		slot = lru;
	}
	u->procs[slot] = proc_new(u, pid, tid, err);
	if (!u->procs[slot])
		return NULL;
	u->procs[slot]->last_used = ++u->tick;
	return u->procs[slot];
}

/* ------------------------------------------------------------------------ */
/* Unwinding */

struct walk {
	struct pcinfo *pcs;
	size_t nr, max;
	uint64_t last_sp;
};

static int frame_cb(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	Dwarf_Word sp = 0;
	bool activation = false;
	bool have_sp;

	if (!dwfl_frame_pc(state, &pc, &activation) || !pc)
		return DWARF_CB_ABORT;
	have_sp = dwfl_frame_reg(state, DW_RSP, &sp) == 0;
	/* A corrupt stack can make CFI go round in circles. */
	if (w->nr && have_sp && pc == w->pcs[w->nr - 1].pc && sp == w->last_sp)
		return DWARF_CB_ABORT;
	w->pcs[w->nr].pc = pc;
	w->pcs[w->nr].activation = activation || !w->nr;
	w->nr++;
	w->last_sp = have_sp ? sp : 0;
	return w->nr < w->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

static size_t cfi_unwind(struct proc *p, uint32_t tid, const struct user_regs *regs,
			 struct pcinfo *pcs, size_t max)
{
	struct walk w = { .pcs = pcs, .max = max };

	if (!p->attached) {
		if (!dwfl_attach_state(p->dwfl, p->u->arch, (pid_t)p->pid, &thread_callbacks, p))
			return 0;
		p->attached = true;
	}
	p->tid = tid;
	p->regs = regs;
	dwfl_getthread_frames(p->dwfl, (pid_t)tid, frame_cb, &w);
	p->regs = NULL;
	return w.nr;
}

/*
 * The rbp chain, for code without CFI: each frame record {saved rbp, return
 * address} must lie higher on the same stack mapping than the last, and each
 * return address inside executable memory.
 */
static size_t fp_walk(struct proc *p, const struct user_regs *r, struct pcinfo *pcs, size_t max)
{
	const struct map *stack;
	uint64_t bp = r->bp, lo = r->sp;
	size_t n = 0;

	pcs[n].pc = r->ip;
	pcs[n++].activation = true;
	if (!(r->valid & UREG_BP))
		return n;
	stack = map_containing(p, r->sp);
	if (!stack && refresh(p))
		stack = map_containing(p, r->sp);
	if (!stack)
		return n;
	while (n < max) {
		const struct map *m;
		uint64_t next, ret;

		if (bp < lo || (bp & 7) || bp < stack->start || bp + 16 > stack->end)
			break;
		if (!read_word(p->u, mem_task(p), bp, &next) ||
		    !read_word(p->u, mem_task(p), bp + 8, &ret))
			break;
		m = map_containing(p, ret);
		if (!ret || !m || !m->exec)
			break;
		pcs[n].pc = ret;
		pcs[n++].activation = false;
		if (next <= bp)
			break;
		lo = bp + 16;
		bp = next;
	}
	return n;
}

static struct filesym *filesym_get(struct proc *p, Dwfl_Module *mod, const struct map *m);

/*
 * The Go executable holding pc (a return address already moved back into
 * its call), and pc's link-time address in it; NULL if pc is not Go code.
 */
static struct gobin *go_module(struct proc *p, uint64_t pc, uint64_t *link)
{
	Dwfl_Module *mod = module_of(p, pc);
	const struct map *m;
	struct filesym *fs;
	Dwarf_Addr start;

	if (!mod || !dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL))
		return NULL;
	m = map_containing(p, start);
	if (!m || m->start != start || !m->key)
		return NULL;
	fs = filesym_get(p, mod, m);
	if (!fs || !fs->go)
		return NULL;
	*link = fs->start + (pc - start);
	return fs->go;
}

/*
 * Go code, as the Go runtime unwinds it: each function's frame size at pc
 * (pcsp) says where its return address is, with or without CFI or frame
 * pointers. Stops where the runtime's own traceback stops (top frames and
 * functions that switch stacks: runtime.mstart, runtime.goexit,
 * runtime.mcall, runtime.systemstack), outside Go code, or when sp leaves
 * the stack mapping. 0 if pc is not in a Go executable.
 */
static size_t go_walk(struct proc *p, const struct user_regs *r, struct pcinfo *pcs, size_t max)
{
	const struct map *stack = map_containing(p, r->sp);
	uint64_t pc = r->ip, sp = r->sp;
	size_t n = 0;

	if (!stack || !max)
		return 0;
	while (n < max) {
		uint64_t link, size, ret;
		struct gobin *go = go_module(p, pc - (n ? 1 : 0), &link);
		bool stop;

		if (!go || gobin__frame(go, link, &size, &stop))
			break;
		pcs[n].pc = pc;
		pcs[n].activation = n == 0;
		n++;
		if (stop && n > 1)
			break;
		if (size > stack->end - sp || stack->end - sp - size < 8 ||
		    !read_word(p->u, mem_task(p), sp + size, &ret) || !ret)
			break;
		sp += size + 8;
		pc = ret;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Symbolization */

/*
 * Looks among the children of parent for the scope that holds pc and goes
 * down into it: the DIEs dwarf_getscopes() would find, in one walk pruned by
 * address ranges (dwarf_getscopes_die(), which eu-addr2line needs after it,
 * reads the whole CU up to the DIE). True once pc was found.
 */
static bool walk_scopes(struct scope_walk *w, Dwarf_Die *parent, int depth)
{
	Dwarf_Attribute attr;
	Dwarf_Die die, unit;

	if (depth >= MAX_SCOPES || dwarf_child(parent, &die) != 0)
		return false;
	do {
		if (!w->budget)
			return false;
		w->budget--;
		switch (dwarf_tag(&die)) {
		case DW_TAG_subprogram:
		case DW_TAG_inlined_subroutine:
		case DW_TAG_entry_point:
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
		case DW_TAG_with_stmt:
		case DW_TAG_module:
			if (dwarf_haspc(&die, w->pc) != 1)
				break;
			if (w->n < MAX_SCOPES)
				w->chain[w->n++] = die;
			walk_scopes(w, &die, depth + 1);
			return true;
		case DW_TAG_namespace:
		case DW_TAG_class_type:
		case DW_TAG_structure_type:
			if (walk_scopes(w, &die, depth + 1))
				return true;
			break;
		case DW_TAG_imported_unit: /* dwz: DIEs shared by several CUs */
			if (dwarf_formref_die(dwarf_attr(&die, DW_AT_import, &attr), &unit) &&
			    walk_scopes(w, &unit, depth + 1))
				return true;
			break;
		default:
			break;
		}
	} while (dwarf_siblingof(&die, &die) == 0);
	return false;
}

/* Function DIEs around pc, innermost first: inlined instances, then their subprogram. */
static int function_scopes(Dwfl_Module *mod, uint64_t look, struct scope_walk *w, Dwarf_Die *out,
			   int max, Dwarf_Addr *bias)
{
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, look, bias);
	int n = 0;

	if (!cudie)
		return 0;
	w->pc = look - *bias;
	w->n = 0;
	walk_scopes(w, cudie, 0);
	for (int i = w->n - 1; i >= 0 && n < max; i--) {
		int tag = dwarf_tag(&w->chain[i]);

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
		    tag != DW_TAG_entry_point)
			continue;
		out[n++] = w->chain[i];
		if (tag != DW_TAG_inlined_subroutine)
			break;
	}
	return n;
}

/* DW_AT_call_file:DW_AT_call_line of an inlined instance: where its caller called it. */
static void call_site(Dwarf_Die *inl, struct frame *f)
{
	Dwarf_Attribute attr;
	Dwarf_Word file, line;
	Dwarf_Files *files;
	Dwarf_Die cu;
	size_t nfiles;
	const char *name;

	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &line) == 0)
		f->line = line > INT_MAX ? 0 : (int)line;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &file) != 0 ||
	    !dwarf_diecu(inl, &cu, NULL, NULL) || dwarf_getsrcfiles(&cu, &files, &nfiles) != 0 ||
	    file >= nfiles)
		return;
	name = dwarf_filesrc(files, file, NULL, NULL);
	if (name)
		copy_str(f->file, sizeof(f->file), name);
}

static int bind_value(const GElf_Sym *sym)
{
	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		return 3;
	case STB_WEAK:
		return 2;
	case STB_LOCAL:
		return 1;
	default:
		return 0;
	}
}

static int cmp_fsym(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1; /* sized before sizeless */
	return x->index - y->index;
}

/* The section end of a sizeless symbol, so that it labels nothing beyond. */
static uint64_t section_end(Elf *elf, GElf_Word shndx, Dwarf_Addr bias)
{
	Elf_Scn *scn = elf ? elf_getscn(elf, shndx) : NULL;
	GElf_Shdr shdr;

	if (!scn || !gelf_getshdr(scn, &shdr))
		return 0;
	return shdr.sh_addr + shdr.sh_size + bias;
}

/* The file's symbols, sorted once, for a binary search per lookup. */
static void load_syms(struct filesym *fs)
{
	int nr = dwfl_module_getsymtab(fs->mod);
	uint64_t max_end = 0;
	size_t n = 0;

	fs->syms_loaded = true;
	if (nr <= 0 || (size_t)nr > SYMS_BUDGET - fs->u->nr_syms)
		return;
	fs->syms = malloc((size_t)nr * sizeof(*fs->syms));
	if (!fs->syms)
		return;
	for (int i = 0; i < nr; i++) {
		struct fsym *f = &fs->syms[n];
		GElf_Word shndx = SHN_UNDEF;
		Dwarf_Addr bias = 0;
		Elf *elf = NULL;
		GElf_Addr addr;
		GElf_Sym sym;
		int type;

		f->name = dwfl_module_getsym_info(fs->mod, i, &sym, &addr, &shndx, &elf, &bias);
		type = GELF_ST_TYPE(sym.st_info);
		if (!f->name || !*f->name || shndx == SHN_UNDEF || shndx >= SHN_LORESERVE ||
		    !addr || type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		f->addr = addr;
		f->size = sym.st_size;
		f->bind = bind_value(&sym);
		f->index = i;
		f->sec_end = f->size ? 0 : section_end(elf, shndx, bias);
		n++;
	}
	qsort(fs->syms, n, sizeof(*fs->syms), cmp_fsym);
	for (size_t i = 0; i < n; i++) {
		fs->syms[i].max_end = max_end;
		if (fs->syms[i].size && fs->syms[i].addr + fs->syms[i].size > max_end)
			max_end = fs->syms[i].addr + fs->syms[i].size;
	}
	fs->nr_syms = n;
	fs->u->nr_syms += n;
}

/*
 * The symbol holding addr, as dwfl_module_addrinfo() would choose it: the
 * sized symbol that starts closest below (of those at one address the best
 * bound, then the smallest), else the closest asm label in the same section
 * that no sized symbol covers.
 */
static const char *filesym_addrsym(struct filesym *fs, uint64_t addr, GElf_Off *off)
{
	const struct fsym *best = NULL;
	size_t lo = 0, hi;

	if (!fs->syms_loaded)
		load_syms(fs);
	if (!fs->syms) {
		GElf_Sym sym;

		return dwfl_module_addrinfo(fs->mod, addr, off, &sym, NULL, NULL, NULL);
	}
	hi = fs->nr_syms;
	while (lo < hi) { /* the first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;

		if (fs->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Nested symbols are rare: a short walk down finds the one holding addr. */
	for (size_t k = lo, steps = 0; k-- > 0 && steps < 64; steps++) {
		const struct fsym *s = &fs->syms[k];

		if (best && s->addr < best->addr)
			break;
		if (!s->size || addr - s->addr >= s->size)
			continue;
		if (!best || s->bind > best->bind ||
		    (s->bind == best->bind &&
		     (s->size < best->size || (s->size == best->size && s->index < best->index))))
			best = s;
	}
	if (!best && lo) {
		const struct fsym *s = &fs->syms[lo - 1];

		if (!s->size && addr < s->sec_end && s->addr >= s->max_end)
			best = s;
	}
	if (!best)
		return NULL;
	*off = addr - best->addr;
	return best->name;
}

/*
 * What the file says about lookup address look of module mod: the inlined
 * calls there (innermost first, inlined = true), then the function holding
 * them, with offsets from look. Fills out (zeroed first), returns the count.
 */
static size_t describe(Dwfl_Module *mod, struct filesym *fs, struct scope_walk *w, uint64_t look,
		       struct frame *out, size_t max)
{
	Dwarf_Die funcs[MAX_INLINE];
	const char *sym, *src;
	Dwfl_Line *line;
	Dwarf_Addr bias = 0;
	GElf_Off off = 0;
	GElf_Sym es;
	int lineno = 0, nf;
	size_t n = 0;

	sym = fs ? filesym_addrsym(fs, look, &off) :
		   dwfl_module_addrinfo(mod, look, &off, &es, NULL, NULL, NULL);
	line = dwfl_module_getsrc(mod, look);
	src = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
	nf = function_scopes(mod, look, w, funcs, MAX_INLINE, &bias);

	for (int i = 0; i < nf && n < max; i++) {
		struct frame *f = &out[n++];
		bool inl = dwarf_tag(&funcs[i]) == DW_TAG_inlined_subroutine, mangled;
		const char *name = die_name(&funcs[i], &mangled);
		Dwarf_Addr entry;

		/*
		 * C++ functions with internal linkage have no DW_AT_linkage_name,
		 * and their DW_AT_name lacks the namespace: the symbol has both.
		 */
		if (!inl && !mangled && sym && !strncmp(sym, "_Z", 2))
			name = sym;

		memset(f, 0, sizeof(*f));
		f->inlined = inl;
		if (name)
			demangle(name, f->function, sizeof(f->function));
		else if (!inl && sym)
			demangle(sym, f->function, sizeof(f->function));
		if (!inl && sym)
			f->offset = off;
		else if (dwarf_entrypc(&funcs[i], &entry) == 0 && entry + bias <= look)
			f->offset = look - (entry + bias);
		if (i == 0) {
			if (src)
				copy_str(f->file, sizeof(f->file), src);
			f->line = lineno;
		} else {
			call_site(&funcs[i - 1], f);
		}
	}
	/* No DWARF, or no subprogram above the inlined ones: the ELF symbol. */
	if (n < max && (nf == 0 || dwarf_tag(&funcs[nf - 1]) == DW_TAG_inlined_subroutine)) {
		struct frame *f = &out[n++];

		memset(f, 0, sizeof(*f));
		if (sym) {
			demangle(sym, f->function, sizeof(f->function));
			f->offset = off;
		}
		if (nf) {
			call_site(&funcs[nf - 1], f);
		} else if (src) {
			copy_str(f->file, sizeof(f->file), src);
			f->line = lineno;
		}
	}
	return n;
}

/*
 * describe() for a Go executable, from its pclntab: the inlined calls at
 * link-time address look, then the function holding them, named as Go's
 * traceback prints them. Every frame's offset is from the physical
 * function's entry (an inlined call has no start of its own there).
 */
static size_t go_describe(struct gobin *go, uint64_t look, struct frame *out, size_t max)
{
	struct gobin_frame gf[MAX_INLINE + 1];
	size_t n = 0;

	if (max > MAX_INLINE + 1)
		max = MAX_INLINE + 1;
	if (gobin__symbolize(go, look, gf, max, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char name[sizeof(out->function)];

		memset(&out[i], 0, sizeof(out[i]));
		gobin__print_name(gf[i].function, name, sizeof(name));
		copy_str(out[i].function, sizeof(out[i].function), name);
		copy_str(out[i].file, sizeof(out[i].file), gf[i].file);
		out[i].line = gf[i].line;
		out[i].offset = look - gf[i].entry;
		out[i].inlined = gf[i].inlined;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* Per-file sessions and the cache of symbolized addresses */

static void filesym_free(struct filesym *fs)
{
	if (!fs)
		return;
	dwfl_end(fs->dwfl);
	gobin__free(fs->go);
	fs->u->nr_syms -= fs->nr_syms;
	free(fs->syms);
	free(fs->debuginfo_path);
	free(fs);
}

/* Opens the file of process module mod again, alone, at its link-time addresses. */
static void filesym_open(struct filesym *fs, struct proc *p, Dwfl_Module *mod)
{
	const char *name, *file = NULL;
	Dwarf_Addr bias, start;
	void **ud = NULL;

	/* The process session opened it (find_elf checked it is the mapped file). */
	if (!dwfl_module_getelf(mod, &bias))
		return;
	name = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &file, NULL);
	if (!name || !file)
		return;
	fs->go = gobin__open(file); /* NULL for anything but a Go executable */
	copy_str(fs->root, sizeof(fs->root), p->root);
	fs->debuginfo_path = strdup(p->debuginfo_path);
	if (!fs->debuginfo_path)
		return;
	fs->cb.find_elf = no_find_elf;
	fs->cb.find_debuginfo = file_find_debuginfo;
	fs->cb.section_address = dwfl_offline_section_address;
	fs->cb.debuginfo_path = &fs->debuginfo_path;
	fs->dwfl = dwfl_begin(&fs->cb);
	if (!fs->dwfl)
		return;
	dwfl_report_begin(fs->dwfl);
	fs->mod = dwfl_report_elf(fs->dwfl, name, file, -1, 0, true);
	dwfl_report_end(fs->dwfl, NULL, NULL);
	if (!fs->mod || !dwfl_module_info(fs->mod, &ud, &start, NULL, NULL, NULL, NULL, NULL) ||
	    !ud) {
		dwfl_end(fs->dwfl);
		fs->dwfl = NULL;
		return;
	}
	*ud = fs;
	fs->start = start;
}

/* The session of the file mapped at m (the offset-0 mapping of mod), made on first use. */
static struct filesym *filesym_get(struct proc *p, Dwfl_Module *mod, const struct map *m)
{
	struct unwinder *u = p->u;
	int slot = -1, lru = 0;
	struct filesym *fs;

	for (int i = 0; i < MAX_FILES; i++) {
		fs = u->files[i];
		if (!fs) {
			if (slot < 0)
				slot = i;
			continue;
		}
		if (fs->key == m->key) {
			fs->last_used = ++u->tick;
			return fs->dwfl ? fs : NULL;
		}
		if (!u->files[lru] || fs->last_used < u->files[lru]->last_used)
			lru = i;
	}
	if (slot < 0) {
		filesym_free(u->files[lru]);
		u->files[lru] = NULL;
		slot = lru;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	fs->u = u;
	fs->key = m->key;
	fs->last_used = ++u->tick;
	u->files[slot] = fs;
	filesym_open(fs, p, mod);
	return fs->dwfl ? fs : NULL;
}

static struct symentry *cache_slot(struct unwinder *u, uint64_t key, uint64_t rel)
{
	return &u->cache[mix(key, rel) >> 53 & (CACHE_SLOTS - 1)];
}

/* Packs frames into e; an expansion too big to be worth keeping is not cached. */
static void cache_store(struct symentry *e, uint64_t key, uint64_t rel, const struct frame *f,
			size_t n)
{
	size_t size = n * sizeof(struct cframe), pos;
	struct cframe *c;

	for (size_t i = 0; i < n; i++)
		size += strlen(f[i].function) + strlen(f[i].file) + 2;
	if (!n || size > CACHE_MAX_BLOCK)
		return;
	c = malloc(size);
	if (!c)
		return;
	pos = n * sizeof(*c);
	for (size_t i = 0; i < n; i++) {
		size_t a = strlen(f[i].function) + 1, b = strlen(f[i].file) + 1;

		c[i].offset = f[i].offset;
		c[i].line = f[i].line;
		c[i].inlined = f[i].inlined;
		c[i].function = (uint16_t)pos;
		memcpy((char *)c + pos, f[i].function, a);
		pos += a;
		c[i].file = (uint16_t)pos;
		memcpy((char *)c + pos, f[i].file, b);
		pos += b;
	}
	free(e->frames);
	e->frames = c;
	e->n = n;
	e->key = key;
	e->rel = rel;
}

static size_t cache_load(const struct symentry *e, struct frame *out, size_t max)
{
	size_t n = e->n < max ? e->n : max;

	for (size_t i = 0; i < n; i++) {
		const struct cframe *c = &e->frames[i];

		memset(&out[i], 0, sizeof(out[i]));
		copy_str(out[i].function, sizeof(out[i].function),
			 (const char *)e->frames + c->function);
		copy_str(out[i].file, sizeof(out[i].file), (const char *)e->frames + c->file);
		out[i].offset = c->offset;
		out[i].line = c->line;
		out[i].inlined = c->inlined;
	}
	return n;
}

/*
 * One address of process p as one frame or more (see describe()), up to
 * max. Files are described through their shared session and the result
 * cached by (file, address - load address); the vDSO, and files that cannot
 * be reopened, through the process's own session.
 */
static size_t symbolize_one(struct proc *p, uint64_t addr, bool is_pc, bool fp, struct frame *out,
			    size_t max)
{
	uint64_t look = is_pc || !addr ? addr : addr - 1;
	struct unwinder *u = p->u;
	const struct map *m = NULL;
	const char *modname = NULL;
	struct symentry *e = NULL;
	struct filesym *fs;
	Dwfl_Module *mod;
	Dwarf_Addr start = 0;
	size_t n;

	if (!max)
		return 0;
	mod = module_of(p, look);
	if (mod)
		modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	if (!mod || !modname) {
		m = map_containing(p, look);
		memset(out, 0, sizeof(*out));
		n = 1;
		if (m && m->path)
			copy_str(out->module, sizeof(out->module), m->path);
		goto done;
	}
	m = map_containing(p, start);
	if (m && m->start == start && m->key) {
		e = cache_slot(u, m->key, look - start);
		if (e->n && e->key == m->key && e->rel == look - start) {
			n = cache_load(e, out, max);
			goto named;
		}
		fs = filesym_get(p, mod, m);
		n = 0;
		/* Go code by its pclntab; the C code of a cgo binary by DWARF */
		if (fs && fs->go)
			n = go_describe(fs->go, fs->start + (look - start), u->scratch,
					MAX_INLINE + 1);
		if (!n && fs)
			n = describe(fs->mod, fs, &u->walk, fs->start + (look - start), u->scratch,
				     MAX_INLINE + 1);
		else if (!n)
			n = describe(mod, NULL, &u->walk, look, u->scratch, MAX_INLINE + 1);
		/* What a spent DIE budget left unnamed is not kept. */
		if (u->walk.budget)
			cache_store(e, m->key, look - start, u->scratch, n);
	} else {
		n = describe(mod, NULL, &u->walk, look, u->scratch, MAX_INLINE + 1);
	}
	if (n > max)
		n = max;
	memcpy(out, u->scratch, n * sizeof(*out));
named:
	for (size_t i = 0; i < n; i++)
		copy_str(out[i].module, sizeof(out[i].module), modname);
done:
	for (size_t i = 0; i < n; i++) {
		out[i].addr = addr;
		if (out[i].function[0])
			out[i].offset += addr - look;
		out[i].fp_walked = fp;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* API */

struct unwinder *unwinder__new(const char *proc_root)
{
	struct unwinder *u;

	if (!proc_root || strlen(proc_root) >= PATH_MAX - 64) {
		errno = EINVAL;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	copy_str(u->proc_root, sizeof(u->proc_root), proc_root);
	/* libdwfl would ask debuginfod last, and a download takes seconds. */
	unsetenv("DEBUGINFOD_URLS");
	elf_version(EV_CURRENT);
	memcpy(u->ehdr.e_ident, ELFMAG, SELFMAG);
	u->ehdr.e_ident[EI_CLASS] = ELFCLASS64;
	u->ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
	u->ehdr.e_ident[EI_VERSION] = EV_CURRENT;
	u->ehdr.e_type = ET_CORE;
	u->ehdr.e_machine = EM_X86_64;
	u->ehdr.e_version = EV_CURRENT;
	u->ehdr.e_ehsize = sizeof(u->ehdr);
	u->arch = elf_memory((char *)&u->ehdr, sizeof(u->ehdr));
	if (!u->arch) {
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	for (int i = 0; i < MAX_PROCS; i++)
		proc_free(u->procs[i]);
	for (int i = 0; i < MAX_FILES; i++)
		filesym_free(u->files[i]);
	for (int i = 0; i < CACHE_SLOTS; i++)
		free(u->cache[i].frames);
	elf_end(u->arch);
	free(u);
}

void unwinder__set_fp_only(struct unwinder *u, bool fp_only)
{
	if (u)
		u->fp_only = fp_only;
}

void unwinder__forget(struct unwinder *u, uint32_t pid)
{
	if (!u)
		return;
	for (int i = 0; i < MAX_PROCS; i++) {
		if (u->procs[i] && u->procs[i]->pid == pid) {
			proc_free(u->procs[i]);
			u->procs[i] = NULL;
		}
	}
}

/* An unwind of live memory (win NULL) or of a stack window. */
static int unwind(struct unwinder *u, uint32_t pid, uint32_t tid, const struct user_regs *regs,
		  const struct stack_window *win, struct frame *frames, size_t max, size_t *n)
{
	struct pcinfo pcs[MAX_PHYS];
	size_t npc = 0, cap;
	char task[32];
	struct stat st;
	bool fp = false;
	struct proc *p;
	int err = 0;

	*n = 0;
	if (!UNWIND_ARCH_OK)
		return -EOPNOTSUPP;
	if (!u || !regs || (regs->valid & (UREG_IP | UREG_SP)) != (UREG_IP | UREG_SP))
		return -EINVAL;
	if (!max)
		return 0;
	reset_call(u);
	p = proc_get(u, pid, tid, &err);
	if (!p)
		return err;
	/* a window outlives its thread; live memory does not */
	snprintf(task, sizeof(task), "task/%u", tid);
	if (!win && fstatat(p->dirfd, task, &st, 0))
		return -ESRCH;
	u->win = win;
	u->sp = regs->sp;
	cap = max < MAX_PHYS ? max : MAX_PHYS;
	/* A pc in no module, at the start or where CFI stopped, may be a library dlopen'ed since. */
	if (!module_at(p, regs->ip))
		refresh(p);
	/* Go code first by its frame sizes: it has no CFI once stripped */
	if (!u->fp_only)
		npc = go_walk(p, regs, pcs, cap);
	if (!u->fp_only && npc < 2)
		npc = cfi_unwind(p, tid, regs, pcs, cap);
	if (npc && npc < cap && !module_at(p, pcs[npc - 1].pc - !pcs[npc - 1].activation) &&
	    refresh(p))
		npc = cfi_unwind(p, tid, regs, pcs, cap);
	if (npc < 2) {
		struct pcinfo fpcs[MAX_PHYS];
		size_t nfp = fp_walk(p, regs, fpcs, cap);

		if (nfp > npc) {
			memcpy(pcs, fpcs, nfp * sizeof(pcs[0]));
			npc = nfp;
			fp = true;
		}
	}
	/* The thread (or all of its process) exited: its memory is gone. */
	if (u->gone) {
		if (fstatat(p->dirfd, "stat", &st, 0))
			unwinder__forget(u, pid);
		return -ESRCH;
	}
	if (!npc) {
		pcs[0].pc = regs->ip;
		pcs[0].activation = true;
		npc = 1;
	}
	for (size_t i = 0; i < npc && *n < max; i++)
		*n += symbolize_one(p, pcs[i].pc, pcs[i].activation, fp, frames + *n, max - *n);
	return 0;
}

int unwinder__unwind(struct unwinder *u, uint32_t pid, uint32_t tid, const struct user_regs *regs,
		     struct frame *frames, size_t max, size_t *n)
{
	return unwind(u, pid, tid, regs, NULL, frames, max, n);
}

int unwinder__unwind_window(struct unwinder *u, uint32_t pid, uint32_t tid,
			    const struct user_regs *regs, const struct stack_window *win,
			    struct frame *frames, size_t max, size_t *n)
{
	int err;

	*n = 0;
	if (!win || (win->len && !win->data))
		return -EINVAL;
	err = unwind(u, pid, tid, regs, win, frames, max, n);
	if (u)
		u->win = NULL; /* the caller's memory */
	return err;
}

size_t unwinder__last_depth(const struct unwinder *u)
{
	return u ? (size_t)u->deepest : 0;
}

bool unwinder__last_truncated(const struct unwinder *u)
{
	return u && u->truncated;
}

int unwinder__symbolize(struct unwinder *u, uint32_t pid, const uint64_t *addrs, size_t nr,
			bool first_is_pc, struct frame *frames, size_t max, size_t *n)
{
	struct proc *p;
	int err = 0;

	*n = 0;
	if (!u || (nr && !addrs))
		return -EINVAL;
	if (!nr || !max)
		return 0;
	p = proc_get(u, pid, 0, &err);
	if (!p)
		return err;
	reset_call(u);
	for (size_t i = 0; i < nr && *n < max; i++)
		*n += symbolize_one(p, addrs[i], i == 0 && first_is_pc, false, frames + *n,
				    max - *n);
	return 0;
}
