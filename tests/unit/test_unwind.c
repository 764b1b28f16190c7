// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The unwinder on the test's own process (no root needed): symbols, lines
 * and inlined calls of functions compiled here, an unwind of this very thread
 * from registers captured in inline asm (live, and from a copy of its stack
 * taken earlier), the rbp-chain fallback on a frame chain laid out by hand,
 * and kallsyms parsing from a file, kernel stacks named at return addresses.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "ksyms.h"
#include "unwind.h"
#include "test.h"

#define NOIPA __attribute__((noipa, noinline))
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/*
 * The registers at the lea itself (label 1), which is also the pc: only rax
 * changes inside the asm, and CFI does not need it. line gets the line of the
 * macro's use, which is the line of the asm.
 */
#define CAPTURE_REGS(r, line)                              \
	do {                                               \
		asm volatile("1: lea 1b(%%rip), %%rax\n\t" \
			     "mov %%rax, 0(%0)\n\t"        \
			     "mov %%rsp, 8(%0)\n\t"        \
			     "mov %%rbp, 16(%0)\n\t"       \
			     "mov %%rbx, 24(%0)\n\t"       \
			     "mov %%r12, 32(%0)\n\t"       \
			     "mov %%r13, 40(%0)\n\t"       \
			     "mov %%r14, 48(%0)\n\t"       \
			     "mov %%r15, 56(%0)\n\t"       \
			     :                             \
			     : "r"(r)                      \
			     : "rax", "memory");           \
		(line) = __LINE__;                         \
	} while (0)
/* The address of the asm itself, and the line it is on. */
#define PC_HERE(pc, line)                                        \
	do {                                                     \
		asm volatile("1: lea 1b(%%rip), %0" : "=r"(pc)); \
		(line) = __LINE__;                               \
	} while (0)

_Static_assert(offsetof(struct user_regs, r15) == 56, "CAPTURE_REGS layout");

static volatile int sink;
static int capture_line, level2_line, level1_line, test_line;
static int inner_line, middle_line, outer_line, call_line;

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

static void dump(const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("  #%zu 0x%llx %s+0x%llx %s:%d%s%s [%s]\n", i, (unsigned long long)f[i].addr,
		       f[i].function, (unsigned long long)f[i].offset, f[i].file, f[i].line,
		       f[i].inlined ? " (inlined)" : "", f[i].fp_walked ? " (fp)" : "",
		       f[i].module);
}

/* The first frame named fn at or after *from; its index, or -1. */
static int find_frame(const struct frame *f, size_t n, size_t from, const char *fn)
{
	for (size_t i = from; i < n; i++)
		if (!strcmp(f[i].function, fn))
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Symbolization */

int sym_global(int x);

static NOIPA int sym_static(int x)
{
	return x * 3 + sink;
}
static const int sym_static_line = __LINE__ - 4;

int NOIPA sym_global(int x)
{
	return x * 5 + sink;
}
static const int sym_global_line = __LINE__ - 4;

/* The entry of a 4-line function: its signature, brace or first statement, by -O level. */
static bool entry_line(int got, int want)
{
	return got >= want && got <= want + 2;
}

TEST(symbolize_functions)
{
	uint64_t addrs[2] = { (uint64_t)(uintptr_t)sym_static, (uint64_t)(uintptr_t)sym_global };
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[4];
	char exe[PATH_MAX];
	ssize_t len;
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[len > 0 ? len : 0] = '\0';
	sink += sym_static(1) + sym_global(2);

	if (!ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &addrs[0], 1, true, f, 4, &n),
		       "static") ||
	    !ASSERT_EQ(n, 1, "one frame"))
		goto out;
	dump(f, n);
	ASSERT_STREQ(f[0].function, "sym_static", "static name");
	ASSERT_EQ(f[0].offset, 0, "static offset");
	ASSERT_EQ(f[0].addr, addrs[0], "static addr");
	ASSERT_TRUE(ends_with(f[0].file, "test_unwind.c"), "static file");
	ASSERT_TRUE(entry_line(f[0].line, sym_static_line), "static line");
	ASSERT_FALSE(f[0].inlined, "static not inlined");
	ASSERT_STREQ(f[0].module, exe, "static module");

	if (!ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &addrs[1], 1, true, f, 4, &n),
		       "global"))
		goto out;
	dump(f, n);
	ASSERT_STREQ(f[0].function, "sym_global", "global name");
	ASSERT_EQ(f[0].offset, 0, "global offset");
	ASSERT_TRUE(entry_line(f[0].line, sym_global_line), "global line");
out:
	unwinder__free(u);
}

ALWAYS_INLINE uint64_t inl_inner(int x)
{
	uint64_t pc;

	PC_HERE(pc, inner_line);
	return pc + (uint64_t)(x & sink);
}

ALWAYS_INLINE uint64_t inl_middle(int x)
{
	return (middle_line = __LINE__, inl_inner(x + 1));
}

static NOIPA uint64_t inl_outer(int x)
{
	uint64_t pc = (outer_line = __LINE__, inl_middle(x * 2));

	sink++;
	return pc;
}

TEST(symbolize_inlined)
{
	struct unwinder *u = unwinder__new("/proc");
	uint64_t pc = inl_outer(0);
	struct frame f[8];
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	if (!ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &pc, 1, true, f, 8, &n),
		       "symbolize"))
		goto out;
	dump(f, n);
	if (!ASSERT_EQ(n, 3, "inner, middle, outer"))
		goto out;
	ASSERT_STREQ(f[0].function, "inl_inner", "inner name");
	ASSERT_TRUE(f[0].inlined, "inner inlined");
	ASSERT_EQ(f[0].line, inner_line, "inner line");
	ASSERT_TRUE(ends_with(f[0].file, "test_unwind.c"), "inner file");
	ASSERT_STREQ(f[1].function, "inl_middle", "middle name");
	ASSERT_TRUE(f[1].inlined, "middle inlined");
	ASSERT_EQ(f[1].line, middle_line, "middle call line");
	ASSERT_TRUE(ends_with(f[1].file, "test_unwind.c"), "middle file");
	ASSERT_STREQ(f[2].function, "inl_outer", "outer name");
	ASSERT_FALSE(f[2].inlined, "outer is the physical frame");
	ASSERT_EQ(f[2].line, outer_line, "outer call line");
	for (size_t i = 0; i < n; i++)
		ASSERT_EQ(f[i].addr, pc, "same address on every level");

	/* Room for one frame: the innermost. */
	ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &pc, 1, true, f, 1, &n), "max 1");
	ASSERT_EQ(n, 1, "truncated to max");
	ASSERT_STREQ(f[0].function, "inl_inner", "innermost kept");
out:
	unwinder__free(u);
}

/* Functions under the symbol names a C++ and a Rust compiler would give them. */
NOIPA int cxx_method(int x) __asm__("_ZN2ns3FooIiE3barEi");
NOIPA int rust_clone(int x) __asm__(
	"_ZN68_$LT$core..option..Option$LT$T$GT$$u20$as$u20$core..clone..Clone$GT$5clone17h4e8fbf2a1e3f0a35E");

NOIPA int cxx_method(int x)
{
	return x + sink;
}

NOIPA int rust_clone(int x)
{
	return x - sink;
}

TEST(symbolize_demangled)
{
	struct {
		uint64_t addr;
		const char *want;
	} cases[] = {
		{ (uint64_t)(uintptr_t)cxx_method, "ns::Foo<int>::bar(int)" },
		{ (uint64_t)(uintptr_t)rust_clone,
		  "<core::option::Option<T> as core::clone::Clone>::clone" },
	};
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[4];
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	sink += cxx_method(1) + rust_clone(2);
	/* Function entries: each is a pc, so each is the first of its list. */
	for (int i = 0; i < 2; i++) {
		if (!ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &cases[i].addr, 1, true,
						   f, 4, &n),
			       "symbolize") ||
		    !ASSERT_EQ(n, 1, "one frame"))
			continue;
		dump(f, n);
		ASSERT_STREQ(f[0].function, cases[i].want, "demangled (Rust without its hash)");
	}
	unwinder__free(u);
}

static NOIPA uint64_t return_address(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

TEST(symbolize_return_address)
{
	struct unwinder *u = unwinder__new("/proc");
	uint64_t ra = (call_line = __LINE__, return_address());
	struct frame f[4];
	size_t n = 0;

	sink++;
	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	/* A return address is looked up at ra - 1, in the call, and reported as ra. */
	if (!ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &ra, 1, false, f, 4, &n),
		       "symbolize"))
		goto out;
	dump(f, n);
	ASSERT_EQ(n, 1, "one frame");
	ASSERT_STREQ(f[0].function, "test_symbolize_return_address", "caller");
	ASSERT_EQ(f[0].line, call_line, "line of the call");
	ASSERT_EQ(f[0].addr, ra, "reported as the return address");
	ASSERT_TRUE(f[0].offset > 0, "offset past the call");
out:
	unwinder__free(u);
}

TEST(symbolize_hostile_addresses)
{
	uint64_t addrs[] = {
		0, 1, 4096, 0xffffffffffffffffull, 0xffffffff81000000ull, 0x00007fffffffe000ull
	};
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[16];
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), addrs, 6, false, f, 16, &n),
		  "symbolize");
	ASSERT_EQ(n, 6, "a frame each");
	for (size_t i = 0; i < n; i++)
		ASSERT_STREQ(f[i].function, "", "no name");
	ASSERT_EQ(unwinder__symbolize(u, 0x7ffffffe, addrs, 1, true, f, 16, &n), -ESRCH,
		  "no such process");
	ASSERT_EQ(n, 0, "no frames");
	unwinder__forget(u, 12345);
	unwinder__forget(u, (uint32_t)getpid());
	unwinder__free(u);
	unwinder__free(NULL);
	unwinder__forget(NULL, 1);
}

struct lib_text {
	const char *name;
	uint64_t addr;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct lib_text *t = arg;

	if (!strstr(info->dlpi_name, t->name))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		if (info->dlpi_phdr[i].p_type == PT_LOAD && (info->dlpi_phdr[i].p_flags & PF_X)) {
			t->addr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
			return 1;
		}
	}
	return 0;
}

static bool mapped(const char *name)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	if (f)
		fclose(f);
	return found;
}

/* An address in a library loaded after the session was made: maps are read again. */
TEST(symbolize_after_dlopen)
{
	const char *libs[] = { "libanl.so.1", "libBrokenLocale.so.1", "libutil.so.1" };
	uint64_t self = (uint64_t)(uintptr_t)sym_static;
	struct lib_text t = { 0 };
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[4];
	void *h = NULL;
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &self, 1, true, f, 4, &n), "session");
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]) && !h; i++) {
		if (mapped(libs[i]))
			continue;
		h = dlopen(libs[i], RTLD_NOW);
		t.name = libs[i];
	}
	if (!h) {
		printf("  no library to dlopen: not tested\n");
		goto out;
	}
	dl_iterate_phdr(find_text, &t);
	if (!ASSERT_TRUE(t.addr, "text of the library"))
		goto out;
	usleep(150 * 1000); /* maps are re-read at most every 100 ms */
	ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &t.addr, 1, true, f, 4, &n),
		  "symbolize");
	dump(f, n);
	ASSERT_EQ(n, 1, "one frame");
	ASSERT_TRUE(strstr(f[0].module, t.name) != NULL, "module found after the dlopen");
out:
	if (h)
		dlclose(h);
	unwinder__free(u);
}

/* Copies a file; its size, or -1. */
static ssize_t copy_file(const char *from, int to)
{
	char buf[65536];
	ssize_t n, total = 0;
	int fd = open(from, O_RDONLY);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write(to, buf, (size_t)n) != n) {
			total = -1;
			break;
		}
		total += n;
	}
	close(fd);
	return n < 0 ? -1 : total;
}

/* A file name with a control byte and invalid UTF-8 comes out printable. */
TEST(hostile_module_name)
{
	char path[] = "/tmp/tangle-\x01\xff\xc3\xa9-XXXXXX";
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[4];
	uint64_t addr;
	ssize_t size;
	size_t n = 0;
	void *map;
	int fd;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	fd = mkstemp(path);
	if (!ASSERT_TRUE(fd >= 0, "mkstemp"))
		goto out;
	size = copy_file("/proc/self/exe", fd);
	map = size > 0 ? mmap(NULL, (size_t)size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) :
			 MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED) {
		printf("  cannot map an executable file in /tmp: not tested\n");
		goto unlink;
	}
	addr = (uint64_t)(uintptr_t)map + 0x100;
	ASSERT_OK(unwinder__symbolize(u, (uint32_t)getpid(), &addr, 1, true, f, 4, &n),
		  "symbolize");
	dump(f, n);
	if (ASSERT_EQ(n, 1, "one frame"))
		ASSERT_TRUE(strstr(f[0].module, "/tmp/tangle-??\xc3\xa9-") == f[0].module,
			    "control byte and invalid UTF-8 replaced");
	munmap(map, (size_t)size);
unlink:
	unlink(path);
out:
	unwinder__free(u);
}

/* ------------------------------------------------------------------------ */
/* Unwinding this thread */

static NOIPA int capture_and_unwind(struct unwinder *u, struct frame *f, size_t max, size_t *n)
{
	struct user_regs r = { 0 };

	CAPTURE_REGS(&r, capture_line);
	r.valid = UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 | UREG_R15;
	return unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, max, n);
}

static NOIPA int level2(struct unwinder *u, struct frame *f, size_t max, size_t *n)
{
	int err = (level2_line = __LINE__, capture_and_unwind(u, f, max, n));

	sink++;
	return err;
}

static NOIPA int level1(struct unwinder *u, struct frame *f, size_t max, size_t *n)
{
	int err = (level1_line = __LINE__, level2(u, f, max, n));

	sink++;
	return err;
}

TEST(unwind_self)
{
	struct unwinder *u = unwinder__new("/proc");
	struct frame f[UNWIND_MAX_FRAMES];
	const char *order[] = { "capture_and_unwind", "level2", "level1", "test_unwind_self" };
	int lines[4], err, at = 0;
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	err = (test_line = __LINE__, level1(u, f, UNWIND_MAX_FRAMES, &n));
	sink++;
	lines[0] = capture_line;
	lines[1] = level2_line;
	lines[2] = level1_line;
	lines[3] = test_line;
	if (!ASSERT_OK(err, "unwind"))
		goto out;
	dump(f, n);
	for (int i = 0; i < 4; i++) {
		int j = find_frame(f, n, (size_t)at, order[i]);

		if (!ASSERT_TRUE(j >= at, order[i]))
			break;
		ASSERT_EQ(f[j].line, lines[i], order[i]);
		ASSERT_TRUE(ends_with(f[j].file, "test_unwind.c"), order[i]);
		ASSERT_FALSE(f[j].fp_walked, "CFI, not frame pointers");
		at = j + 1;
	}
	ASSERT_EQ(find_frame(f, n, 0, "capture_and_unwind"), 0, "first frame is the capture");
	ASSERT_TRUE(find_frame(f, n, (size_t)at, "main") > 0, "main below the test");

	/* A second unwind reuses the session and gives the same stack. */
	{
		struct frame g[UNWIND_MAX_FRAMES];
		size_t m = 0;

		ASSERT_OK(level1(u, g, UNWIND_MAX_FRAMES, &m), "second unwind");
		ASSERT_EQ(m, n, "same depth");
		for (size_t i = 1; i < m && i < n; i++)
			ASSERT_STREQ(g[i].function, f[i].function, "same function");
	}
	/* max bounds the output. */
	ASSERT_OK(level1(u, f, 2, &n), "max 2");
	ASSERT_EQ(n, 2, "two frames");
out:
	unwinder__free(u);
}

TEST(unwind_bad_args)
{
	struct unwinder *u = unwinder__new("/proc");
	struct user_regs r = { .ip = 1, .valid = UREG_IP };
	struct frame f[4];
	size_t n = 7;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	ASSERT_EQ(unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, 4, &n),
		  -EINVAL, "no sp");
	ASSERT_EQ(n, 0, "n reset");
	r.sp = (uint64_t)(uintptr_t)&r;
	r.valid |= UREG_SP;
	ASSERT_EQ(unwinder__unwind(u, 0x7ffffffe, 1, &r, f, 4, &n), -ESRCH, "no such process");
	/* Nonsense registers: one frame (the pc), nothing worse. */
	ASSERT_OK(unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, 4, &n),
		  "garbage registers");
	ASSERT_TRUE(n >= 1, "the pc at least");
	ASSERT_EQ(f[0].addr, 1, "pc");
	unwinder__free(u);
}

/*
 * The rbp-chain walk on records laid out by hand on this stack: pc in
 * sym_static's neighbour, then "return addresses" inside sym_static and
 * sym_global.
 */
TEST(unwind_frame_pointers)
{
	struct unwinder *u = unwinder__new("/proc");
	volatile uint64_t chain[8];
	struct user_regs r = { 0 };
	struct frame f[8];
	size_t n = 0;

	if (!ASSERT_TRUE(u, "unwinder__new"))
		return;
	chain[0] = (uint64_t)(uintptr_t)&chain[2];
	chain[1] = (uint64_t)(uintptr_t)sym_static + 1;
	chain[2] = (uint64_t)(uintptr_t)&chain[4];
	chain[3] = (uint64_t)(uintptr_t)sym_global + 1;
	chain[4] = 0;
	chain[5] = 0;
	r.ip = (uint64_t)(uintptr_t)inl_outer;
	r.sp = (uint64_t)(uintptr_t)&chain[0];
	r.bp = (uint64_t)(uintptr_t)&chain[0];
	r.valid = UREG_IP | UREG_SP | UREG_BP;
	unwinder__set_fp_only(u, true);
	if (!ASSERT_OK(unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, 8, &n),
		       "unwind"))
		goto out;
	dump(f, n);
	if (!ASSERT_EQ(n, 3, "pc and two records"))
		goto out;
	ASSERT_STREQ(f[0].function, "inl_outer", "pc");
	ASSERT_STREQ(f[1].function, "sym_static", "first record");
	ASSERT_EQ(f[1].offset, 1, "return address offset");
	ASSERT_STREQ(f[2].function, "sym_global", "second record");
	for (size_t i = 0; i < n; i++)
		ASSERT_TRUE(f[i].fp_walked, "fp_walked");

	/* A record pointing down the stack ends the walk. */
	chain[2] = (uint64_t)(uintptr_t)&chain[0];
	ASSERT_OK(unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, 8, &n),
		  "loop");
	ASSERT_EQ(n, 3, "no loop");
	/* A return address outside executable memory ends it too. */
	chain[3] = (uint64_t)(uintptr_t)&chain[0];
	ASSERT_OK(unwinder__unwind(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, f, 8, &n),
		  "data address");
	ASSERT_EQ(n, 2, "stops before the data address");
out:
	unwinder__free(u);
}

/* ------------------------------------------------------------------------ */
/* Unwinding a copy of the stack, after the stack itself has moved on */

#define WINDOW_MAX (64u << 10)

static int wcapture_line, wlevel2_line, wlevel1_line, wtest_line;

/* Bytes of this thread's stack mapping above addr (at most max). */
static size_t stack_room(uint64_t addr, size_t max)
{
	unsigned long long lo, hi;
	char line[512];
	size_t room = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && addr >= lo && addr < hi)
			room = hi - addr < max ? hi - addr : max;
	fclose(f);
	return room;
}

/*
 * Registers here, and a copy of the stack from sp up, as BPF takes them at a
 * wait: by the kernel (process_vm_readv on ourselves), which also keeps ASan
 * from seeing a read across the redzones of frames.
 */
static NOIPA size_t capture_window(struct user_regs *r, unsigned char *copy)
{
	struct iovec local = { .iov_base = copy }, remote;
	ssize_t got;

	CAPTURE_REGS(r, wcapture_line);
	r->valid =
		UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 | UREG_R15;
	local.iov_len = stack_room(r->sp, WINDOW_MAX);
	remote.iov_base = (void *)(uintptr_t)r->sp;
	remote.iov_len = local.iov_len;
	got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	return got > 0 ? (size_t)got : 0;
}

static NOIPA size_t wlevel2(struct user_regs *r, unsigned char *copy)
{
	size_t len = (wlevel2_line = __LINE__, capture_window(r, copy));

	sink++;
	return len;
}

static NOIPA size_t wlevel1(struct user_regs *r, unsigned char *copy)
{
	size_t len = (wlevel1_line = __LINE__, wlevel2(r, copy));

	sink++;
	return len;
}

/* Overwrites the stack below the caller, where the captured frames were. */
static NOIPA void clobber_stack(void)
{
	volatile unsigned char junk[16384];

	memset((void *)junk, 0x5a, sizeof(junk));
	sink += junk[100];
}

TEST(unwind_window)
{
	struct unwinder *u = unwinder__new("/proc");
	unsigned char *copy = malloc(WINDOW_MAX);
	const char *order[] = { "capture_window", "wlevel2", "wlevel1", "test_unwind_window" };
	struct frame f[UNWIND_MAX_FRAMES];
	struct stack_window win;
	struct user_regs r = { 0 };
	int lines[4], at = 0;
	size_t len, n = 0;

	if (!ASSERT_TRUE(u && copy, "unwinder__new"))
		goto out;
	len = (wtest_line = __LINE__, wlevel1(&r, copy));
	sink++;
	lines[0] = wcapture_line;
	lines[1] = wlevel2_line;
	lines[2] = wlevel1_line;
	lines[3] = wtest_line;
	if (!ASSERT_TRUE(len > 256, "stack copied"))
		goto out;
	/* the frames are gone: only the copy can give them back */
	clobber_stack();
	win = (struct stack_window){ .base = r.sp, .data = copy, .len = len };
	if (!ASSERT_OK(unwinder__unwind_window(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, &win,
					       f, UNWIND_MAX_FRAMES, &n),
		       "unwind the window"))
		goto out;
	dump(f, n);
	for (int i = 0; i < 4; i++) {
		int j = find_frame(f, n, (size_t)at, order[i]);

		if (!ASSERT_TRUE(j >= at, order[i]))
			break;
		ASSERT_EQ(f[j].line, lines[i], order[i]);
		ASSERT_FALSE(f[j].fp_walked, "CFI, not frame pointers");
		at = j + 1;
	}
	ASSERT_TRUE(find_frame(f, n, (size_t)at, "main") > 0, "main below the test");
	ASSERT_FALSE(unwinder__last_truncated(u), "the whole stack was there");
	ASSERT_TRUE(unwinder__last_depth(u) > 0 && unwinder__last_depth(u) <= len, "depth");

	/* A window that ends early: the inner frames only, and it says so. */
	win.len = 8;
	ASSERT_OK(unwinder__unwind_window(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, &win, f,
					  UNWIND_MAX_FRAMES, &n),
		  "short window");
	ASSERT_TRUE(n >= 1 && n < 4, "cut short");
	ASSERT_STREQ(f[0].function, "capture_window", "first frame still right");
	ASSERT_TRUE(unwinder__last_truncated(u), "truncated");
	/* No copy at all: the pc. */
	win.len = 0;
	win.data = NULL;
	ASSERT_OK(unwinder__unwind_window(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, &win, f,
					  UNWIND_MAX_FRAMES, &n),
		  "empty window");
	ASSERT_TRUE(n >= 1, "the pc");
	ASSERT_STREQ(f[0].function, "capture_window", "pc");
	/* A window outlives its thread: a tid that does not exist is no error. */
	win.len = len;
	win.data = copy;
	ASSERT_OK(unwinder__unwind_window(u, (uint32_t)getpid(), 0x7ffffffe, &r, &win, f,
					  UNWIND_MAX_FRAMES, &n),
		  "thread gone");
	ASSERT_TRUE(find_frame(f, n, 0, "wlevel1") > 0, "still unwound");
	ASSERT_EQ(unwinder__unwind_window(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, NULL, f,
					  UNWIND_MAX_FRAMES, &n),
		  -EINVAL, "no window");
	win.data = NULL;
	ASSERT_EQ(unwinder__unwind_window(u, (uint32_t)getpid(), (uint32_t)gettid(), &r, &win, f,
					  UNWIND_MAX_FRAMES, &n),
		  -EINVAL, "len without data");
out:
	free(copy);
	unwinder__free(u);
}

/* ------------------------------------------------------------------------ */
/* Kernel symbols */

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/tangle-ksyms-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

TEST(ksyms_file)
{
	const char *text = "ffffffff81000000 T _text\n"
			   "ffffffff81000000 T startup_64\n"
			   "ffffffff81000000 t __pi_text\n"
			   "ffffffff81001000 t local_fn\n"
			   "ffffffff81002000 W weak_fn\n"
			   "ffffffff81002000 t __weak_fn_alias\n"
			   "0000000000000000 A fixed_percpu_data\n"
			   "ffffffff81004000 T _stext\n"
			   "ffffffff81004000 T _text\n"
			   "ffffffffc0201000 t mod_fn\t[my_mod]\n"
			   "garbage line\n"
			   "ffffffff81003000 T " /* no name */ "\n";
	char *path = write_tmp(text);
	struct ksyms *k;
	uint64_t off = 99;

	if (!ASSERT_TRUE(path, "tmp file"))
		return;
	k = ksyms__load_file(path);
	unlink(path);
	if (!ASSERT_TRUE(k, "load"))
		return;
	ASSERT_EQ(ksyms__count(k), 5, "deduplicated");
	ASSERT_STREQ(ksyms__name(k, 0xffffffff81000000ull, &off), "startup_64", "no underscore");
	ASSERT_EQ(off, 0, "offset 0");
	ASSERT_STREQ(ksyms__name(k, 0xffffffff81000fffull, &off), "startup_64", "inside");
	ASSERT_EQ(off, 0xfff, "offset");
	ASSERT_STREQ(ksyms__name(k, 0xffffffff81001010ull, NULL), "local_fn", "local");
	ASSERT_STREQ(ksyms__name(k, 0xffffffff81002000ull, NULL), "weak_fn", "weak over local");
	ASSERT_STREQ(ksyms__name(k, 0xffffffff81004000ull, NULL), "_text", "then the shorter");
	ASSERT_STREQ(ksyms__name(k, 0xffffffffc0201004ull, &off), "mod_fn [my_mod]", "module");
	ASSERT_EQ(off, 4, "module offset");
	ASSERT_TRUE(ksyms__name(k, 0x1000, &off) == NULL, "below the first");
	ksyms__free(k);
	ksyms__free(NULL);
	ASSERT_TRUE(ksyms__name(NULL, 1, NULL) == NULL, "NULL ksyms");
}

TEST(ksyms_hidden)
{
	/* Without root kallsyms shows only zeros: nothing kept, every lookup NULL. */
	char *path = write_tmp("0000000000000000 T _text\n0000000000000000 t foo\n");
	struct ksyms *k;

	if (!ASSERT_TRUE(path, "tmp file"))
		return;
	k = ksyms__load_file(path);
	unlink(path);
	if (!ASSERT_TRUE(k, "load"))
		return;
	ASSERT_EQ(ksyms__count(k), 0, "none");
	ASSERT_TRUE(ksyms__name(k, 0xffffffff81000000ull, NULL) == NULL, "no name");
	ksyms__free(k);
	errno = 0;
	ASSERT_TRUE(ksyms__load_file("/nonexistent/kallsyms") == NULL, "missing file");
	ASSERT_EQ(errno, ENOENT, "errno");
}

/*
 * Kernel stacks: every frame but the innermost is a return address, named
 * at addr - 1. A call that ends its function returns to the first byte of
 * the next one, which must not take the name.
 */
TEST(ksyms_frames_return_addresses)
{
	char *path = write_tmp("ffffffff81001000 T caller_fn\n"
			       "ffffffff81001040 T next_fn\n"
			       "ffffffff81002000 T schedule\n");
	const uint64_t stack[] = { 0xffffffff81002010ull, 0xffffffff81001040ull,
				   0xffffffff81001040ull, 0x10 };
	struct frame f[4];
	struct ksyms *k;

	if (!ASSERT_TRUE(path, "tmp file"))
		return;
	k = ksyms__load_file(path);
	unlink(path);
	if (!ASSERT_TRUE(k, "load"))
		return;
	memset(f, 0xff, sizeof(f));
	ASSERT_EQ(ksyms__frames(k, stack, 4, f, 3), 3, "bounded by max");
	ASSERT_STREQ(f[0].function, "schedule", "innermost at its address");
	ASSERT_EQ(f[0].offset, 0x10, "innermost offset");
	ASSERT_STREQ(f[1].function, "caller_fn", "return address at the end of caller_fn");
	ASSERT_EQ(f[1].offset, 0x40, "offset from caller_fn");
	ASSERT_EQ(f[1].addr, 0xffffffff81001040ull, "addr as given");
	ASSERT_STREQ(f[1].module, "[kernel]", "module");
	ASSERT_FALSE(f[1].inlined, "not inlined");
	ASSERT_STREQ(f[2].function, "caller_fn", "same again");
	ASSERT_EQ(ksyms__frames(k, stack, 4, f, 4), 4, "all");
	ASSERT_STREQ(f[3].function, "", "below every symbol: no name");
	ASSERT_EQ(f[3].addr, 0x10, "but its address");
	/* The innermost frame is where the thread is: at its address. */
	ASSERT_EQ(ksyms__frames(k, &stack[1], 1, f, 4), 1, "one");
	ASSERT_STREQ(f[0].function, "next_fn", "a pc at a function's start is that function");
	ksyms__free(k);
	/* Without symbols: addresses only. */
	ASSERT_EQ(ksyms__frames(NULL, stack, 2, f, 4), 2, "NULL ksyms");
	ASSERT_STREQ(f[1].function, "", "no name");
	ASSERT_EQ(f[1].addr, 0xffffffff81001040ull, "addr");
}

TEST(ksyms_proc)
{
	struct ksyms *k = ksyms__load();
	uint64_t off;

	if (!ASSERT_TRUE(k, "load /proc/kallsyms"))
		return;
	/* Root sees addresses; others get an empty table. Both must be consistent. */
	if (ksyms__count(k)) {
		const char *name = ksyms__name(k, 0xffffffffffffffffull, &off);

		ASSERT_TRUE(name && *name, "last symbol");
	} else {
		ASSERT_TRUE(ksyms__name(k, 0xffffffff81000000ull, &off) == NULL, "hidden");
	}
	ksyms__free(k);
}

TEST_MAIN()
