// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of lock places (src/symbols.c): where an address lives.
 *
 * symbols__region() is fed a literal maps file and stack pointers: heap,
 * glibc arenas, thread stacks (apart and merged), shm, memfd, System V, shared
 * anonymous memory, files. symbols__describe() is the one format of every
 * view. A last group asks symbols__place() about this test's own memory
 * through the real /proc: a global of its ELF file, the main stack, a parked
 * thread's stack, the heap, shm and memfd mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "symbols.h"
#include "test.h"

/* ---- symbols__region: pure ---- */

/*
 * pid 100: the program, its .bss continued in anonymous memory, [heap], a glibc
 * arena with its reserve, a grown arena, an aligned mapping without reserve,
 * two thread stacks behind guard pages, plain anonymous memory, shared memory
 * of every kind, a library, glibc-named mappings, two stacks merged in one
 * mapping, [vdso] and [stack].
 */
static const char maps_text[] =
	"555555554000-555555555000 r--p 00000000 fe:00 100  /usr/bin/app\n"
	"555555555000-555555556000 r-xp 00001000 fe:00 100  /usr/bin/app\n"
	"555555557000-555555558000 rw-p 00003000 fe:00 100  /usr/bin/app\n"
	"555555558000-55555555a000 rw-p 00000000 00:00 0 \n"
	"55555555a000-55555557b000 rw-p 00000000 00:00 0    [heap]\n"
	"7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
	"7f0000021000-7f0004000000 ---p 00000000 00:00 0 \n"
	"7f0008000000-7f000c000000 rw-p 00000000 00:00 0 \n"
	"7f0010000000-7f0010021000 rw-p 00000000 00:00 0 \n"
	"7f0010100000-7f0010101000 ---p 00000000 00:00 0 \n"
	"7f0010101000-7f0010901000 rw-p 00000000 00:00 0 \n"
	"7f0010901000-7f0010902000 ---p 00000000 00:00 0 \n"
	"7f0010902000-7f0011102000 rw-p 00000000 00:00 0 \n"
	"7f0011102000-7f0011104000 rw-p 00000000 00:00 0 \n"
	"7f0011200000-7f0011201000 rw-s 00001000 00:1b 7    /dev/shm/tangle-pshared\n"
	"7f0011201000-7f0011202000 rw-s 00000000 00:1b 8    /dev/shm/old (deleted)\n"
	"7f0011202000-7f0011203000 rw-s 00000000 00:01 2476 /memfd:pool (deleted)\n"
	"7f0011203000-7f0011205000 rw-s 00000000 00:01 3    /SYSV0000abcd (deleted)\n"
	"7f0011205000-7f0011206000 rw-s 00000000 00:01 2475 /dev/zero (deleted)\n"
	"7f0011206000-7f0011207000 r--p 00002000 fe:00 300  /usr/lib/libfoo.so\n"
	"7f0011207000-7f0011208000 rw-p 00000000 00:00 0    [anon: glibc: pthread stack: 4242]\n"
	"7f0011208000-7f0011209000 rw-p 00000000 00:00 0    [anon: glibc: malloc arena]\n"
	"7f0011209000-7f001120a000 rw-p 00000000 00:00 0    [anon:my pool]\n"
	"7f001120a000-7f001120b000 rw-s 00000000 00:00 0 \n"
	"7f0012000000-7f0012200000 rw-p 00000000 00:00 0 \n"
	"7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0    [vdso]\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0    [stack]\n";

static const struct procfs_sp fake_sps[] = {
	{ 201, 0x7f0010900000 }, /* near the top of stack A */
	{ 202, 0x7f0011100000 }, /* stack B */
	{ 301, 0x7f0012080000 }, /* two stacks in one mapping */
	{ 302, 0x7f0012180000 }, { 100, 0x7fffffffe000 }, /* the main thread, in [stack] */
};

static bool region_is(const struct procfs_maps *m, bool with_sps, uint64_t addr,
		      enum region_kind kind, const char *text, const char *what)
{
	char buf[256];
	enum region_kind got = symbols__region(
		m, with_sps ? fake_sps : NULL,
		with_sps ? sizeof(fake_sps) / sizeof(fake_sps[0]) : 0, 100, addr, buf, sizeof(buf));
	bool ok = ASSERT_EQ(got, kind, what);

	return ASSERT_STREQ(buf, text, what) && ok;
}

TEST(region_memory)
{
	struct procfs_maps *m = procfs__parse_maps(maps_text, sizeof(maps_text) - 1);

	if (!ASSERT_TRUE(m, "parse") || !ASSERT_EQ(m->nr, 27, "every line"))
		goto out;
	region_is(m, true, 0x55555555a040, REGION_HEAP, "heap", "[heap]");
	region_is(m, true, 0x7f0000000b70, REGION_HEAP, "heap", "arena with its reserve");
	region_is(m, true, 0x7f0000020ff0, REGION_HEAP, "heap", "arena, last byte");
	region_is(m, true, 0x7f0008001000, REGION_HEAP, "heap", "arena grown to 64 MiB");
	region_is(m, true, 0x7f0010000040, REGION_ANON, "anonymous memory",
		  "aligned, but no reserve after it: not justified");
	region_is(m, true, 0x7f0011102040, REGION_ANON, "anonymous memory", "no thread's sp in it");
	region_is(m, true, 0x7f0010000000 - 1, REGION_NONE, "", "unmapped");
	region_is(m, true, 0x7f0004000000, REGION_NONE, "", "just past the reserve");
	region_is(m, true, 0x7f0000021000, REGION_ANON, "anonymous memory",
		  "in the reserve (PROT_NONE) itself");
	region_is(m, true, 0x7fffffffe100, REGION_STACK, "stack of thread 100",
		  "[stack] is the main thread's");
	region_is(m, false, 0x7ffffffde000, REGION_STACK, "stack of thread 100",
		  "[stack] needs no sp");
	region_is(m, true, 0x7ffff7fc1100, REGION_OTHER, "[vdso]", "vdso");
	region_is(m, true, 0x7f0011207010, REGION_STACK, "stack of thread 4242",
		  "glibc-named pthread stack");
	region_is(m, true, 0x7f0011208010, REGION_HEAP, "heap", "glibc-named arena");
	region_is(m, true, 0x7f0011209010, REGION_OTHER, "[anon:my pool]", "named anonymous");
out:
	procfs__maps_free(m);
}

TEST(region_thread_stacks)
{
	struct procfs_maps *m = procfs__parse_maps(maps_text, sizeof(maps_text) - 1);

	if (!ASSERT_TRUE(m, "parse"))
		return;
	region_is(m, true, 0x7f0010900e60, REGION_STACK, "stack of thread 201", "above A's sp");
	region_is(m, true, 0x7f0011101ff0, REGION_STACK, "stack of thread 202", "B");
	region_is(m, true, 0x7f0010101000, REGION_STACK, "stack of thread 201",
		  "below the sp: still A's stack mapping");
	region_is(m, false, 0x7f0010900e60, REGION_ANON, "anonymous memory",
		  "without stack pointers it is only anonymous memory");
	/* one mapping holding two stacks: the nearest sp at or below the address */
	region_is(m, true, 0x7f00120a0000, REGION_STACK, "stack of thread 301", "merged, low");
	region_is(m, true, 0x7f0012180000, REGION_STACK, "stack of thread 302", "merged, at sp");
	region_is(m, true, 0x7f00121f0000, REGION_STACK, "stack of thread 302", "merged, high");
	region_is(m, true, 0x7f0012010000, REGION_STACK, "stack of thread 301",
		  "merged, below every sp: the nearest above");
	procfs__maps_free(m);
}

TEST(region_shared_and_files)
{
	struct procfs_maps *m = procfs__parse_maps(maps_text, sizeof(maps_text) - 1);

	if (!ASSERT_TRUE(m, "parse"))
		return;
	region_is(m, true, 0x7f0011200040, REGION_SHM, "shm tangle-pshared+0x1040",
		  "shm: the file offset");
	region_is(m, true, 0x7f0011201008, REGION_SHM, "shm old+0x8 (deleted)", "unlinked shm");
	region_is(m, true, 0x7f0011202040, REGION_MEMFD, "memfd pool+0x40", "memfd");
	region_is(m, true, 0x7f0011204010, REGION_SYSV, "sysv shm key 0x0000abcd id 3+0x1010",
		  "System V: key and id");
	region_is(m, true, 0x7f0011205040, REGION_SHARED_ANON, "shared anonymous memory",
		  "MAP_SHARED | MAP_ANONYMOUS");
	region_is(m, true, 0x7f001120a040, REGION_SHARED_ANON, "shared anonymous memory",
		  "shared, no name");
	region_is(m, true, 0x7f0011206010, REGION_FILE, "/usr/lib/libfoo.so+0x2010",
		  "file: offset in the file");
	region_is(m, true, 0x555555557040, REGION_FILE, "/usr/bin/app+0x3040", "program data");
	region_is(m, true, 0x555555558040, REGION_ANON, "anonymous memory",
		  ".bss after the file (symbols__place asks the ELF file)");
	procfs__maps_free(m);
}

TEST(region_small_buffer)
{
	struct procfs_maps *m = procfs__parse_maps(maps_text, sizeof(maps_text) - 1);
	char buf[8];

	if (!ASSERT_TRUE(m, "parse"))
		return;
	ASSERT_EQ(symbols__region(m, fake_sps, 5, 100, 0x7f0011200040, buf, sizeof(buf)),
		  REGION_SHM, "kind");
	ASSERT_STREQ(buf, "shm tan", "cut and terminated");
	ASSERT_EQ(symbols__region(m, fake_sps, 5, 100, 0x7f0011200040, buf, 0), REGION_SHM,
		  "no buffer");
	ASSERT_EQ(symbols__region(NULL, NULL, 0, 100, 0x1000, buf, sizeof(buf)), REGION_NONE,
		  "no maps");
	procfs__maps_free(m);
}

TEST(describe)
{
	struct addr_place p = { .symbol = "lock_a",
				.module = "/usr/bin/stuck_abba",
				.region = "/usr/bin/stuck_abba .bss" };
	char buf[128];

	ASSERT_TRUE(symbols__describe(&p, buf, sizeof(buf)), "a symbol");
	ASSERT_STREQ(buf, "lock_a in stuck_abba", "symbol in module base name");
	p.module = "app";
	symbols__describe(&p, buf, sizeof(buf));
	ASSERT_STREQ(buf, "lock_a in app", "module without a directory");
	p.module = NULL;
	symbols__describe(&p, buf, sizeof(buf));
	ASSERT_STREQ(buf, "lock_a", "symbol alone");
	p = (struct addr_place){ .region = "stack of thread 4242" };
	ASSERT_FALSE(symbols__describe(&p, buf, sizeof(buf)), "a region");
	ASSERT_STREQ(buf, "stack of thread 4242", "region");
	p = (struct addr_place){ 0 };
	ASSERT_FALSE(symbols__describe(&p, buf, sizeof(buf)), "nothing");
	ASSERT_STREQ(buf, "", "empty");
	ASSERT_FALSE(symbols__describe(NULL, buf, sizeof(buf)), "no place");
	ASSERT_STREQ(buf, "", "empty too");
}

/* ---- symbols__place on this process ---- */

static int table[64] = { 1 }; /* .data */
static pthread_mutex_t unit_lock; /* .bss */

static bool place_of(const void *addr, struct addr_place_buf *b, const char *what)
{
	return ASSERT_OK(symbols__place("/proc", (uint32_t)getpid(), (uintptr_t)addr, b), what);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = s ? strlen(s) : 0, t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

TEST(place_self_globals)
{
	struct addr_place_buf b;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (!ASSERT_TRUE(n > 0, "readlink"))
		return;
	exe[n] = '\0';
	if (place_of(&table[4], &b, "table+0x10")) {
		ASSERT_STREQ(b.place.symbol, "table+0x10", "symbol");
		ASSERT_STREQ(b.place.module, exe, "module: this binary");
		ASSERT_TRUE(ends_with(b.place.region, " .data"), "region: .data");
	}
	if (place_of(&unit_lock, &b, "unit_lock")) {
		ASSERT_STREQ(b.place.symbol, "unit_lock", "symbol");
		ASSERT_TRUE(ends_with(b.place.region, " .bss"), "region: .bss");
	}
	ASSERT_EQ(symbols__place("/proc", (uint32_t)getpid(), 0x10, &b), -ENOENT, "unmapped");
	ASSERT_EQ(symbols__place("/nonexistent", 1, 0x10, &b), -ENOENT, "no /proc");
}

struct parked {
	uint32_t *volatile word; /* on the parked thread's stack */
	volatile pid_t tid;
};

static void *parked(void *arg)
{
	struct parked *p = arg;
	uint32_t word = 0;

	p->tid = gettid();
	p->word = &word;
	while (!__atomic_load_n(&word, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

/* Has tid's stack pointer (once it blocks in the futex) made it to /proc? */
static bool sp_known(pid_t tid)
{
	struct procfs_sp *sps = NULL;
	int n = procfs__thread_sps("/proc", (uint32_t)getpid(), &sps);
	bool found = false;

	for (int i = 0; i < n; i++)
		found |= sps[i].tid == (uint32_t)tid;
	free(sps);
	return found;
}

/* The main stack is [stack]; a thread blocked in futex() is named by its stack pointer. */
TEST(place_self_stacks)
{
	struct timespec nap = { 0, 2000000 };
	struct parked p = { 0 };
	struct addr_place_buf b;
	char want[64];
	int local = 0;
	pthread_t th;

	if (place_of(&local, &b, "main stack")) {
		snprintf(want, sizeof(want), "stack of thread %d", (int)getpid());
		ASSERT_STREQ(b.place.region, want, "[stack]");
		ASSERT_TRUE(!b.place.symbol && !b.place.module, "no symbol");
	}
	if (!ASSERT_OK(pthread_create(&th, NULL, parked, &p), "pthread_create"))
		return;
	for (int i = 0; i < 1000 && !p.word; i++)
		nanosleep(&nap, NULL);
	for (int i = 0; i < 1000 && p.word && !sp_known(p.tid); i++)
		nanosleep(&nap, NULL);
	if (ASSERT_TRUE(p.word && sp_known(p.tid), "parked thread seen blocked") &&
	    place_of(p.word, &b, "thread stack")) {
		snprintf(want, sizeof(want), "stack of thread %d", (int)p.tid);
		ASSERT_STREQ(b.place.region, want, "the parked thread's stack");
	}
	if (p.word) {
		__atomic_store_n(p.word, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, p.word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	pthread_join(th, NULL);
}

TEST(place_self_shared)
{
	struct addr_place_buf b;
	char name[64], want[128];
	int fd = memfd_create("tangle-unit", 0), sfd;
	void *a = MAP_FAILED, *s = MAP_FAILED, *z = MAP_FAILED;

	if (!ASSERT_TRUE(fd >= 0, "memfd_create") || !ASSERT_OK(ftruncate(fd, 8192), "ftruncate"))
		goto out;
	a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
	if (ASSERT_TRUE(a != MAP_FAILED, "mmap memfd") && place_of((char *)a + 0x40, &b, "memfd"))
		ASSERT_STREQ(b.place.region, "memfd tangle-unit+0x1040", "memfd, file offset");

	snprintf(name, sizeof(name), "/tangle-unit-%d", (int)getpid());
	sfd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (ASSERT_TRUE(sfd >= 0, "shm_open")) {
		if (ASSERT_OK(ftruncate(sfd, 4096), "ftruncate shm"))
			s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
		close(sfd);
		if (ASSERT_TRUE(s != MAP_FAILED, "mmap shm") &&
		    place_of((char *)s + 0x40, &b, "shm")) {
			snprintf(want, sizeof(want), "shm %s+0x40", name + 1);
			ASSERT_STREQ(b.place.region, want, "shm NAME+0x40");
		}
		shm_unlink(name);
	}

	z = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ASSERT_TRUE(z != MAP_FAILED, "mmap shared anonymous") && place_of(z, &b, "anon"))
		ASSERT_STREQ(b.place.region, "shared anonymous memory", "MAP_SHARED|MAP_ANONYMOUS");
out:
	if (a != MAP_FAILED)
		munmap(a, 4096);
	if (s != MAP_FAILED)
		munmap(s, 4096);
	if (z != MAP_FAILED)
		munmap(z, 4096);
	if (fd >= 0)
		close(fd);
}

TEST(place_self_heap)
{
#if defined(__SANITIZE_ADDRESS__)
	printf("  (skipped: ASan's allocator is not glibc's heap)\n");
#else
	struct addr_place_buf b;
	void *p = malloc(64);

	if (ASSERT_TRUE(p, "malloc") && place_of(p, &b, "malloc"))
		ASSERT_STREQ(b.place.region, "heap", "a small malloc of the main thread");
	free(p);
#endif
}

TEST_MAIN()
