// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the /proc reader (src/procfs.c).
 *
 * The parsers are fed literal lines. The scan is run against a fake proc tree
 * made under a temporary directory (PID/stat, PID/task/TID/{stat,syscall},
 * PID/mem), so every odd case is reproducible; a last group reads this test's
 * own threads from the real /proc, including threads parked in real futex
 * waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"
#include "test.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define NR_FUTEX_WAIT 455 /* futex_wait(2), futex2 */
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

/* ---- parsers ---------------------------------------------------------- */

static bool stat_ok(const char *line, const char *want_comm, char want_state, const char *what)
{
	char comm[TANGLE_COMM_LEN], state = '?';
	bool ok;

	memset(comm, 'x', sizeof(comm));
	if (!ASSERT_OK(procfs__parse_stat(line, comm, &state), what))
		return false;
	ok = ASSERT_STREQ(comm, want_comm, what);
	return ASSERT_EQ(state, want_state, what) && ok;
}

TEST(parse_stat_comm)
{
	char comm[TANGLE_COMM_LEN], state;
	bool zeros = true;

	stat_ok("123 (app) S 1 123 123 0 -1 4194560 0", "app", 'S', "plain");
	stat_ok("123 (a) b)) S 1 2 3", "a) b)", 'S', "')' and spaces");
	stat_ok("123 (a (b) c) R 1 2 3", "a (b) c", 'R', "'(' and ')'");
	stat_ok("123 (() D 1", "(", 'D', "lone '('");
	stat_ok("123 ()) T 1", ")", 'T', "lone ')'");
	stat_ok("123 () Z 1 2", "", 'Z', "empty comm");
	stat_ok("123 (a b  c) t 0", "a b  c", 't', "spaces");
	stat_ok("123 ( ) I 0", " ", 'I', "a space");
	stat_ok("123 (x) S\n", "x", 'S', "state last, newline");
	stat_ok("123 (0123456789abcdefghij) S 1", "0123456789abcde", 'S', "cut to 15");
	stat_ok("123 (0123456789abcde) S 1", "0123456789abcde", 'S', "exactly 15");

	/* the comm buffer is zero-filled past the name */
	memset(comm, 'x', sizeof(comm));
	if (ASSERT_OK(procfs__parse_stat("1 (ab) S 0", comm, &state), "pad"))
		for (size_t i = 2; i < sizeof(comm); i++)
			zeros = zeros && comm[i] == '\0';
	ASSERT_TRUE(zeros, "zero padded");
}

TEST(parse_stat_malformed)
{
	static const char *const bad[] = {
		"",	      "123",	     "123 (abc",     "123 (abc)", "123 (abc) ",
		"123 abc) S", "123 )abc( S", "123 (abc)S 1", "garbage",	  "123 (abc)\nS",
	};
	char comm[TANGLE_COMM_LEN], state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "bad[%zu] '%s'", i, bad[i]);
		ASSERT_EQ(procfs__parse_stat(bad[i], comm, &state), -EINVAL, what);
	}
}

TEST(parse_syscall)
{
	uint64_t args[6] = { 0 };
	long nr = 0;

	ASSERT_OK(procfs__parse_syscall("202 0x7f00 0x80 0x0 0x0 0x0 0x0 0x7ffd 0x7f11", &nr, args),
		  "futex line");
	ASSERT_EQ(nr, 202, "nr");
	ASSERT_EQ(args[0], 0x7f00, "arg0");
	ASSERT_EQ(args[1], 0x80, "arg1");
	ASSERT_EQ(args[2], 0, "arg2");
	ASSERT_EQ(args[3], 0, "arg3");
	ASSERT_EQ(args[4], 0, "arg4");
	ASSERT_EQ(args[5], 0, "arg5");

	/* as the kernel prints it: newline-terminated, full 64-bit values */
	ASSERT_OK(procfs__parse_syscall("449 0x7ffc12345678 0x2 0x0 0xffffffffffffffff 0x1 0xab "
					"0x7ffc00000000 0x7f1100000000\n",
					&nr, args),
		  "waitv line");
	ASSERT_EQ(nr, 449, "nr 449");
	ASSERT_EQ(args[0], 0x7ffc12345678ULL, "arg0");
	ASSERT_TRUE(args[3] == UINT64_MAX, "arg3 max");
	ASSERT_EQ(args[5], 0xab, "arg5");

	ASSERT_OK(procfs__parse_syscall("0 0x3 0x7ffd0000 0x100 0x0 0x0 0x0 0x7ffd 0x7f11", &nr,
					args),
		  "read");
	ASSERT_EQ(nr, 0, "nr 0");
	ASSERT_EQ(args[0], 3, "fd");

	ASSERT_EQ(procfs__parse_syscall("running", &nr, args), -EAGAIN, "running");
	ASSERT_EQ(procfs__parse_syscall("running\n", &nr, args), -EAGAIN, "running newline");

	nr = 5;
	ASSERT_OK(procfs__parse_syscall("-1 0x7ffd 0x7f11", &nr, args),
		  "blocked outside a syscall");
	ASSERT_EQ(nr, -1, "nr -1");
	ASSERT_OK(procfs__parse_syscall("-1 0x7ffd 0x7f11\n", &nr, args), "-1 newline");
	ASSERT_EQ(nr, -1, "nr -1 again");
}

TEST(parse_syscall_malformed)
{
	static const char *const bad[] = {
		"",
		"garbage",
		"x202 0x1 0x2 0x3 0x4 0x5 0x6",
		"202",
		"202\n",
		"202 0x1 0x2",
		"202 0x1 0x2 0x3 0x4 0x5",
		"202 1 2 3 4 5 6",
		"202 0x1 0x2 0x3 0x4 0x5 6",
		"202 0xZZ 0x2 0x3 0x4 0x5 0x6",
		"202 0x 0x2 0x3 0x4 0x5 0x6",
		"202 0x1ffffffffffffffff 0x2 0x3 0x4 0x5 0x6",
		"99999999999999999999 0x1 0x2 0x3 0x4 0x5 0x6",
	};
	uint64_t args[6];
	long nr;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[96];

		snprintf(what, sizeof(what), "bad[%zu] '%s'", i, bad[i]);
		ASSERT_EQ(procfs__parse_syscall(bad[i], &nr, args), -EINVAL, what);
	}
}

TEST(state_of)
{
	ASSERT_EQ(procfs__state_of('R'), TANGLE_TS_RUNNABLE, "R");
	ASSERT_EQ(procfs__state_of('S'), TANGLE_TS_SLEEPING, "S");
	ASSERT_EQ(procfs__state_of('I'), TANGLE_TS_SLEEPING, "I");
	ASSERT_EQ(procfs__state_of('D'), TANGLE_TS_DISK, "D");
	ASSERT_EQ(procfs__state_of('T'), TANGLE_TS_STOPPED, "T");
	ASSERT_EQ(procfs__state_of('t'), TANGLE_TS_STOPPED, "t");
	ASSERT_EQ(procfs__state_of('Z'), TANGLE_TS_DEAD, "Z");
	ASSERT_EQ(procfs__state_of('X'), TANGLE_TS_DEAD, "X");
	ASSERT_EQ(procfs__state_of('P'), TANGLE_TS_UNKNOWN, "P");
	ASSERT_EQ(procfs__state_of('W'), TANGLE_TS_UNKNOWN, "W");
	ASSERT_EQ(procfs__state_of('r'), TANGLE_TS_UNKNOWN, "r");
	ASSERT_EQ(procfs__state_of('?'), TANGLE_TS_UNKNOWN, "?");
	ASSERT_EQ(procfs__state_of('\0'), TANGLE_TS_UNKNOWN, "NUL");
}

static bool is_preblocked_futex(const struct wait *w, const char *what)
{
	bool ok = ASSERT_EQ(w->kind, WAIT_FUTEX, what);

	ok = ASSERT_TRUE(w->preblocked, what) && ok;
	return ASSERT_EQ(w->since_ns, 0, what) && ok;
}

static bool no_wait(bool waits, const struct wait *w, const char *what)
{
	const struct wait zero = { 0 };
	bool ok = ASSERT_FALSE(waits, what);

	return ASSERT_TRUE(memcmp(w, &zero, sizeof(zero)) == 0, what) && ok;
}

TEST(futex_wait_of_futex)
{
	uint64_t args[6] = { 0x7f0000001000ULL, FUTEX_WAIT_PRIVATE, 42, 0, 0, 0 };
	struct wait w;

	/* FUTEX_WAIT_PRIVATE (op 128), no timeout */
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "wait private");
	is_preblocked_futex(&w, "wait private");
	ASSERT_EQ(w.sys, TANGLE_SYS_FUTEX, "sys");
	ASSERT_EQ(w.addr, 0x7f0000001000ULL, "addr");
	ASSERT_EQ(w.op, 128, "op");
	ASSERT_EQ(w.expected, 42, "expected");
	ASSERT_FALSE(w.has_timeout, "no timeout");
	ASSERT_EQ(w.addr2, 0, "no addr2");

	args[3] = 0x7ffd1000; /* timespec pointer */
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "wait with timeout");
	ASSERT_TRUE(w.has_timeout, "timeout");

	/* FUTEX_WAKE (op 1) does not block */
	memset(&w, 0xa5, sizeof(w));
	args[1] = FUTEX_WAKE;
	no_wait(procfs__futex_wait_of(SYS_futex, args, &w), &w, "wake");
	args[1] = FUTEX_WAKE_PRIVATE;
	no_wait(procfs__futex_wait_of(SYS_futex, args, &w), &w, "wake private");
	args[1] = FUTEX_UNLOCK_PI;
	no_wait(procfs__futex_wait_of(SYS_futex, args, &w), &w, "unlock_pi");
	args[1] = FUTEX_CMP_REQUEUE_PRIVATE;
	no_wait(procfs__futex_wait_of(SYS_futex, args, &w), &w, "cmp_requeue");

	/* FUTEX_LOCK_PI blocks too */
	args[1] = FUTEX_LOCK_PI;
	args[3] = 0;
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "lock_pi");
	is_preblocked_futex(&w, "lock_pi");
	ASSERT_EQ(w.op, FUTEX_LOCK_PI, "op lock_pi");
	args[1] = FUTEX_LOCK_PI_PRIVATE;
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "lock_pi private");

	/* bitset waits, with a clock flag */
	args[1] = FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | FUTEX_PRIVATE_FLAG;
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "wait_bitset");
	ASSERT_EQ(w.op, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME | FUTEX_PRIVATE_FLAG, "op kept");

	/* requeue-PI: the second address is kept */
	args[1] = FUTEX_WAIT_REQUEUE_PI_PRIVATE;
	args[4] = 0x7f0000002000ULL;
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex, args, &w), "wait_requeue_pi");
	ASSERT_EQ(w.addr2, 0x7f0000002000ULL, "addr2");
}

TEST(futex_wait_of_futex2)
{
	/* futex_waitv(waiters, nr_futexes, flags, timeout, clockid) */
	uint64_t v[6] = { 0x7ffc0000ULL, 3, 0, 0x7ffd0000ULL, CLOCK_MONOTONIC, 0 };
	/* futex_wait(uaddr, val, mask, flags, timeout, clockid) */
	uint64_t f[6] = { 0x7f0000003000ULL, 7, 0xffffffff, FUTEX_32 | 128, 0, CLOCK_MONOTONIC };
	struct wait w;

	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex_waitv, v, &w), "waitv");
	is_preblocked_futex(&w, "waitv");
	ASSERT_EQ(w.sys, TANGLE_SYS_FUTEX_WAITV, "sys waitv");
	ASSERT_EQ(w.addr, 0x7ffc0000ULL, "waiter array");
	ASSERT_EQ(w.nr_futexes, 3, "nr futexes");
	ASSERT_EQ(w.op, 0, "flags");
	ASSERT_TRUE(w.has_timeout, "timeout");
	v[1] = 300;
	v[3] = 0;
	ASSERT_TRUE(procfs__futex_wait_of(SYS_futex_waitv, v, &w), "waitv many");
	ASSERT_EQ(w.nr_futexes, 255, "saturated");
	ASSERT_FALSE(w.has_timeout, "no timeout");

	ASSERT_TRUE(procfs__futex_wait_of(NR_FUTEX_WAIT, f, &w), "futex_wait");
	is_preblocked_futex(&w, "futex_wait");
	ASSERT_EQ(w.sys, TANGLE_SYS_FUTEX_WAIT, "sys futex_wait");
	ASSERT_EQ(w.addr, 0x7f0000003000ULL, "addr");
	ASSERT_EQ(w.expected, 7, "expected");
	ASSERT_EQ(w.op, FUTEX_32 | 128, "flags");
	ASSERT_FALSE(w.has_timeout, "no timeout");
	f[4] = 0x7ffd0000ULL;
	ASSERT_TRUE(procfs__futex_wait_of(NR_FUTEX_WAIT, f, &w), "futex_wait timeout");
	ASSERT_TRUE(w.has_timeout, "timeout");
}

TEST(futex_wait_of_other_syscalls)
{
	uint64_t args[6] = { 3, 0x7ffd0000, 0x100, 0, 0, 0 };
	struct wait w;

	memset(&w, 0xa5, sizeof(w));
	no_wait(procfs__futex_wait_of(0, args, &w), &w, "syscall 0");
	args[1] = FUTEX_WAIT; /* a futex-like op in a non-futex call is irrelevant */
	no_wait(procfs__futex_wait_of(SYS_read, args, &w), &w, "read");
	no_wait(procfs__futex_wait_of(SYS_nanosleep, args, &w), &w, "nanosleep");
	no_wait(procfs__futex_wait_of(454, args, &w), &w, "futex_wake (454)");
	no_wait(procfs__futex_wait_of(456, args, &w), &w, "futex_requeue (456)");
}

/* ---- /proc/PID/maps ---------------------------------------------------- */

TEST(parse_maps_line)
{
	char line[256];
	struct procfs_map m;

	snprintf(line, sizeof(line), "%s",
		 "7f34ed139000-7f34ed13b000 rw-p 001d3000 fe:00 326269                     "
		 "/usr/lib/x86_64-linux-gnu/libc.so.6\n");
	if (ASSERT_OK(procfs__parse_maps_line(line, &m), "file")) {
		ASSERT_TRUE(m.start == 0x7f34ed139000ULL && m.end == 0x7f34ed13b000ULL, "range");
		ASSERT_EQ(m.offset, 0x1d3000, "offset");
		ASSERT_TRUE(m.id.dev == (0xfeULL << 32 | 0), "dev");
		ASSERT_EQ(m.id.inode, 326269, "inode");
		ASSERT_TRUE(m.read && m.write && !m.exec && !m.shared, "perms");
		ASSERT_STREQ(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6", "path, no newline");
	}
	snprintf(line, sizeof(line), "%s", "7f34dc000000-7f34dc021000 rw-p 00000000 00:00 0 \n");
	if (ASSERT_OK(procfs__parse_maps_line(line, &m), "anonymous"))
		ASSERT_STREQ(m.path, "", "no path");
	snprintf(line, sizeof(line), "%s", "7f34dc021000-7f34e0000000 ---p 00000000 00:00 0");
	if (ASSERT_OK(procfs__parse_maps_line(line, &m), "no trailing space"))
		ASSERT_TRUE(!m.read && !m.write && !m.exec && m.path[0] == '\0', "PROT_NONE");
	snprintf(line, sizeof(line), "%s",
		 "7fb377841000-7fb377842000 rw-s 00001000 00:1b 2  /dev/shm/a b (deleted)\n");
	if (ASSERT_OK(procfs__parse_maps_line(line, &m), "shared, spaces in the name")) {
		ASSERT_TRUE(m.shared, "shared");
		ASSERT_STREQ(m.path, "/dev/shm/a b (deleted)", "path with spaces");
		ASSERT_TRUE(m.id.dev == 0x1b, "dev 00:1b");
	}

	static const char *const bad[] = {
		"",
		"garbage",
		"7f00-7e00 rw-p 00000000 00:00 0", /* end before start */
		"7f00-7f00 rw-p 00000000 00:00 0", /* empty */
		"7f00-8f00 rw-p 00000000 00:00", /* no inode */
		"7f00-8f00 rw-p 00000000 00:00 0x", /* junk after the inode */
		"7f00-8f00 rw 00000000 00:00 0 [heap]", /* short perms */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[64];

		snprintf(line, sizeof(line), "%s", bad[i]);
		snprintf(what, sizeof(what), "bad[%zu]", i);
		ASSERT_EQ(procfs__parse_maps_line(line, &m), -EINVAL, what);
	}
}

TEST(parse_maps)
{
	static const char text[] = "1000-2000 r--p 00000000 08:01 11 /bin/app\n"
				   "not a maps line\n"
				   "\n"
				   "3000-5000 rw-p 00000000 00:00 0 [heap]\n"
				   "2800-2900 rw-p 00000000 00:00 0 \n" /* out of order: dropped */
				   "5000-6000 rw-p 00000000 00:00 0 "; /* no final newline */
	struct procfs_maps *m = procfs__parse_maps(text, sizeof(text) - 1);

	if (!ASSERT_TRUE(m, "parse"))
		return;
	if (ASSERT_EQ(m->nr, 3, "three mappings")) {
		ASSERT_STREQ(m->maps[0].path, "/bin/app", "first");
		ASSERT_STREQ(m->maps[1].path, "[heap]", "second");
		ASSERT_TRUE(m->maps[2].start == 0x5000, "last line without newline");
	}
	ASSERT_TRUE(procfs__maps_find(m, 0x1000) == &m->maps[0], "start is inside");
	ASSERT_TRUE(procfs__maps_find(m, 0x1fff) == &m->maps[0], "end - 1 is inside");
	ASSERT_TRUE(procfs__maps_find(m, 0x2000) == NULL, "end is outside");
	ASSERT_TRUE(procfs__maps_find(m, 0x2850) == NULL, "the dropped line maps nothing");
	ASSERT_TRUE(procfs__maps_find(m, 0x4000) == &m->maps[1], "heap");
	ASSERT_TRUE(procfs__maps_find(m, 0x5000) == &m->maps[2], "adjacent mapping");
	ASSERT_TRUE(procfs__maps_find(m, 0x0) == NULL, "below all");
	ASSERT_TRUE(procfs__maps_find(m, UINT64_MAX) == NULL, "above all");
	ASSERT_TRUE(procfs__maps_find(NULL, 0x1000) == NULL, "no maps");
	procfs__maps_free(m);

	m = procfs__parse_maps("", 0);
	if (ASSERT_TRUE(m, "empty text"))
		ASSERT_EQ(m->nr, 0, "no mappings");
	procfs__maps_free(m);
	procfs__maps_free(NULL);
}

TEST(parse_syscall_sp)
{
	uint64_t sp = 0;

	ASSERT_OK(procfs__parse_syscall_sp("202 0x7f00 0x80 0x2 0x0 0x0 0x0 0x7ffd1230 0x7f11\n",
					   &sp),
		  "in a syscall");
	ASSERT_TRUE(sp == 0x7ffd1230, "sp: second to last");
	ASSERT_OK(procfs__parse_syscall_sp("-1 0x7ffd4560 0x7f11", &sp), "outside a syscall");
	ASSERT_TRUE(sp == 0x7ffd4560, "sp of -1 SP PC");
	ASSERT_EQ(procfs__parse_syscall_sp("running\n", &sp), -EAGAIN, "running");
	ASSERT_EQ(procfs__parse_syscall_sp("", &sp), -EINVAL, "empty");
	ASSERT_EQ(procfs__parse_syscall_sp("202 0x1 0x2", &sp), -EINVAL, "too few fields");
	ASSERT_EQ(procfs__parse_syscall_sp("-1 7ffd 0x7f11", &sp), -EINVAL, "not hex");
	ASSERT_EQ(procfs__parse_syscall_sp("-1 0xzz 0x7f11", &sp), -EINVAL, "bad hex");
}

TEST(parse_stat_kstkesp)
{
	/* fields 28 (startstack), 29 (kstkesp), 30 (kstkeip) are 1000, 2000, 3000 */
	static const char line[] =
		"77 (a) b) c) S 1 77 77 0 -1 4194560 120 0 0 0 5 3 0 0 20 0 2 0 12345 1000000 "
		"200 18446744073709551615 1 1 1000 2000 3000 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
	uint64_t sp = 0;

	ASSERT_OK(procfs__parse_stat_kstkesp(line, &sp), "stat");
	ASSERT_EQ(sp, 2000, "field 29");
	ASSERT_EQ(procfs__parse_stat_kstkesp("77 (a) S 1 2 3", &sp), -EINVAL, "short");
	ASSERT_EQ(procfs__parse_stat_kstkesp("no parens", &sp), -EINVAL, "no comm");
}

/* ---- a fake proc tree ------------------------------------------------- */

struct fake {
	char root[256];
};

static bool fake__write(const struct fake *fk, const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", fk->root, rel);
	/* make the parent directories */
	for (char *s = path + strlen(fk->root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(path, 0755) && errno != EEXIST) {
			*s = '/';
			return ASSERT_OK(-errno, path);
		}
		*s = '/';
	}
	f = fopen(path, "w");
	if (!ASSERT_TRUE(f, path))
		return false;
	ok = fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ASSERT_TRUE(ok, path);
}

static bool fake__puts(const struct fake *fk, const char *rel, const char *text)
{
	return fake__write(fk, rel, text, strlen(text));
}

static bool fake__mkdir(const struct fake *fk, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fk->root, rel);
	return ASSERT_TRUE(mkdir(path, 0755) == 0 || errno == EEXIST, path);
}

/* A stat line as the kernel writes it; flags is field 9. */
static bool fake__stat(const struct fake *fk, const char *rel, uint32_t id, const char *comm,
		       char state, unsigned long flags)
{
	char line[512];

	snprintf(line, sizeof(line),
		 "%u (%s) %c 1 %u %u 0 -1 %lu 120 0 0 0 5 3 0 0 20 0 2 0 12345 1000000 200 "
		 "18446744073709551615 1 1 0 0 0 0 0 4096 17922 0 0 0 17 3 0 0 0 0 0\n",
		 id, comm, state, id, id, flags);
	return fake__puts(fk, rel, line);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static void fake__destroy(struct fake *fk)
{
	if (fk->root[0])
		nftw(fk->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	fk->root[0] = '\0';
}

#define PF_NORMAL 0x00400100UL
#define PF_KTHREAD_FLAGS 0x00208040UL /* includes PF_KTHREAD (0x00200000) */
#define WAITV_ARRAY 0x40

/*
 * pid 100 "app": 100 in FUTEX_WAIT_PRIVATE, 101 "worker 1" running,
 *   102 malformed stat, 103 blocked outside a syscall, 104 in read(),
 *   105 'D' with a futex line (not a futex wait), 106 'S' without a syscall
 *   file, 107 in futex_waitv (waiters in 100/mem), 108 in FUTEX_WAKE,
 *   "abc" a non-numeric task entry;
 * pid 200: no task/ directory; pid 300: a kernel thread;
 * pid 400 "a) (b": a comm with parentheses;
 * non-numeric and zero entries at the top level.
 */
static bool fake__build(struct fake *fk)
{
	struct futex_waitv waiters[2] = {
		{ .val = 7, .uaddr = 0xdead0000ULL, .flags = FUTEX_32 },
		{ .val = 9, .uaddr = 0xbeef0000ULL, .flags = FUTEX_32 },
	};
	unsigned char mem[WAITV_ARRAY + sizeof(waiters)];
	bool ok = true;

	snprintf(fk->root, sizeof(fk->root), "%s/tangle-procfs-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!ASSERT_TRUE(mkdtemp(fk->root), "mkdtemp")) {
		fk->root[0] = '\0';
		return false;
	}
	memset(mem, 0, sizeof(mem));
	memcpy(mem + WAITV_ARRAY, waiters, sizeof(waiters));

	ok = ok && fake__stat(fk, "100/stat", 100, "app", 'S', PF_NORMAL);
	ok = ok && fake__stat(fk, "100/task/100/stat", 100, "app", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/100/syscall",
			      "202 0x7f0000001000 0x80 0x2a 0x0 0x0 0x0 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__stat(fk, "100/task/101/stat", 101, "worker 1", 'R', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/101/syscall", "running\n");
	ok = ok && fake__puts(fk, "100/task/102/stat", "102 garbage without parens\n");
	ok = ok && fake__stat(fk, "100/task/103/stat", 103, "app", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/103/syscall", "-1 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__stat(fk, "100/task/104/stat", 104, "reader", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/104/syscall",
			      "0 0x3 0x7ffd0000 0x100 0x0 0x0 0x0 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__stat(fk, "100/task/105/stat", 105, "app", 'D', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/105/syscall",
			      "202 0x7f0000005000 0x80 0x0 0x0 0x0 0x0 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__stat(fk, "100/task/106/stat", 106, "app", 'S', PF_NORMAL);
	ok = ok && fake__stat(fk, "100/task/107/stat", 107, "waitv", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/107/syscall",
			      "449 0x40 0x2 0x0 0x7ffd1000 0x1 0x0 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__stat(fk, "100/task/108/stat", 108, "app", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "100/task/108/syscall",
			      "202 0x7f0000001000 0x81 0x1 0x0 0x0 0x0 0x7ffd0000 0x7f110000\n");
	ok = ok && fake__mkdir(fk, "100/task/abc");
	ok = ok && fake__write(fk, "100/mem", mem, sizeof(mem));

	ok = ok && fake__stat(fk, "200/stat", 200, "notask", 'S', PF_NORMAL);
	ok = ok && fake__stat(fk, "300/stat", 300, "kworker/0:1", 'I', PF_KTHREAD_FLAGS);
	ok = ok && fake__stat(fk, "300/task/300/stat", 300, "kworker/0:1", 'I', PF_KTHREAD_FLAGS);
	ok = ok && fake__stat(fk, "400/stat", 400, "a) (b", 'S', PF_NORMAL);
	ok = ok && fake__stat(fk, "400/task/400/stat", 400, "a) (b", 'S', PF_NORMAL);
	ok = ok && fake__puts(fk, "400/task/400/syscall",
			      "202 0x4000 0x80 0x0 0x0 0x0 0x0 0x7ffd0000 0x7f110000\n");

	ok = ok && fake__mkdir(fk, "self");
	ok = ok && fake__mkdir(fk, "0");
	ok = ok && fake__mkdir(fk, "12abc");
	ok = ok && fake__puts(fk, "uptime", "1.0 1.0\n");
	return ok;
}

#define SEEN_MAX 32

struct seen {
	struct procfs_thread t[SEEN_MAX];
	size_t n;
	size_t overflow;
};

static void collect(const struct procfs_thread *t, void *ctx)
{
	struct seen *s = ctx;

	if (s->n == SEEN_MAX) {
		s->overflow++;
		return;
	}
	s->t[s->n++] = *t;
}

static const struct procfs_thread *seen__tid(const struct seen *s, uint32_t tid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].tid == tid)
			return &s->t[i];
	return NULL;
}

/* The set of tids seen equals @want (order does not matter: readdir() has none). */
static bool seen__tids_are(const struct seen *s, const uint32_t *want, size_t n, const char *what)
{
	bool ok = ASSERT_EQ(s->n, n, what) && ASSERT_EQ(s->overflow, 0, what);

	for (size_t i = 0; i < n; i++) {
		size_t count = 0;

		for (size_t j = 0; j < s->n; j++)
			count += s->t[j].tid == want[i];
		if (!ASSERT_EQ(count, 1, what)) {
			printf("    missing or repeated tid %u\n", want[i]);
			ok = false;
		}
	}
	return ok;
}

/* struct filter is 8 KiB: keep it off the stack and zeroed. */
static struct filter flt;

static void filter_reset(void)
{
	memset(&flt, 0, sizeof(flt));
}

static int scan(const struct fake *fk, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return procfs__scan(fk->root, &flt, collect, s);
}

TEST(scan_fake_tree_all)
{
	static const uint32_t want[] = { 100, 101, 103, 104, 105, 106, 107, 108, 400 };
	const struct procfs_thread *t;
	struct fake fk = { "" };
	struct seen s;

	if (!fake__build(&fk))
		goto out;
	filter_reset();
	if (!ASSERT_OK(scan(&fk, &s), "scan"))
		goto out;
	/* 102 (malformed) skipped; 200 (no task/) and 300 (kernel thread) skipped */
	seen__tids_are(&s, want, sizeof(want) / sizeof(want[0]), "tids");

	t = seen__tid(&s, 100);
	if (ASSERT_TRUE(t, "100")) {
		ASSERT_EQ(t->pid, 100, "100 pid");
		ASSERT_STREQ(t->comm, "app", "100 comm");
		ASSERT_EQ(t->state, TANGLE_TS_SLEEPING, "100 sleeping");
		is_preblocked_futex(&t->wait, "100 waits");
		ASSERT_EQ(t->wait.sys, TANGLE_SYS_FUTEX, "100 sys");
		ASSERT_EQ(t->wait.addr, 0x7f0000001000ULL, "100 addr");
		ASSERT_EQ(t->wait.op, FUTEX_WAIT_PRIVATE, "100 op");
		ASSERT_EQ(t->wait.expected, 42, "100 expected");
		ASSERT_FALSE(t->wait.has_timeout, "100 no timeout");
	}
	t = seen__tid(&s, 101);
	if (ASSERT_TRUE(t, "101")) {
		ASSERT_EQ(t->pid, 100, "101 pid");
		ASSERT_STREQ(t->comm, "worker 1", "101 comm");
		ASSERT_EQ(t->state, TANGLE_TS_RUNNABLE, "101 runnable");
		ASSERT_EQ(t->wait.kind, WAIT_NONE, "101 no wait");
	}
	t = seen__tid(&s, 103);
	ASSERT_TRUE(t && t->state == TANGLE_TS_SLEEPING && t->wait.kind == WAIT_NONE,
		    "103 blocked outside a syscall: no wait");
	t = seen__tid(&s, 104);
	ASSERT_TRUE(t && t->wait.kind == WAIT_NONE, "104 in read: no wait");
	ASSERT_TRUE(t && strcmp(t->comm, "reader") == 0, "104 comm");
	t = seen__tid(&s, 105);
	ASSERT_TRUE(t && t->state == TANGLE_TS_DISK && t->wait.kind == WAIT_NONE,
		    "105 'D': no futex wait");
	t = seen__tid(&s, 106);
	ASSERT_TRUE(t && t->state == TANGLE_TS_SLEEPING && t->wait.kind == WAIT_NONE,
		    "106 no syscall file: state only");
	t = seen__tid(&s, 107);
	if (ASSERT_TRUE(t, "107")) {
		is_preblocked_futex(&t->wait, "107 waits");
		ASSERT_EQ(t->wait.sys, TANGLE_SYS_FUTEX_WAITV, "107 sys");
		ASSERT_EQ(t->wait.addr, 0xdead0000ULL, "107 first futex word read from mem");
		ASSERT_EQ(t->wait.expected, 7, "107 first expected value");
		ASSERT_EQ(t->wait.nr_futexes, 2, "107 nr futexes");
		ASSERT_EQ(t->wait.op, 0, "107 flags");
		ASSERT_TRUE(t->wait.has_timeout, "107 timeout");
	}
	t = seen__tid(&s, 108);
	ASSERT_TRUE(t && t->wait.kind == WAIT_NONE, "108 FUTEX_WAKE: no wait");
	t = seen__tid(&s, 400);
	if (ASSERT_TRUE(t, "400")) {
		ASSERT_STREQ(t->comm, "a) (b", "400 comm with parentheses");
		ASSERT_EQ(t->wait.addr, 0x4000, "400 addr");
	}
out:
	fake__destroy(&fk);
}

TEST(scan_fake_tree_filters)
{
	static const uint32_t p100[] = { 100, 101, 103, 104, 105, 106, 107, 108 };
	static const uint32_t t101[] = { 101 };
	static const uint32_t t100_400[] = { 100, 400 };
	static const uint32_t app[] = { 100, 103, 105, 106, 108 };
	static const uint32_t none[] = { 0 };
	struct fake fk = { "" };
	struct seen s;

	if (!fake__build(&fk))
		goto out;

	filter_reset();
	flt.pids[flt.npids++] = 100;
	ASSERT_OK(scan(&fk, &s), "pid 100");
	seen__tids_are(&s, p100, sizeof(p100) / sizeof(p100[0]), "pid 100");

	filter_reset();
	flt.tids[flt.ntids++] = 101;
	ASSERT_OK(scan(&fk, &s), "tid 101");
	seen__tids_are(&s, t101, 1, "tid 101");

	filter_reset();
	flt.tids[flt.ntids++] = 100;
	flt.tids[flt.ntids++] = 400;
	flt.tids[flt.ntids++] = 102; /* malformed: still skipped */
	ASSERT_OK(scan(&fk, &s), "tids 100 400 102");
	seen__tids_are(&s, t100_400, 2, "tids 100 400 102");

	filter_reset();
	strcpy(flt.comm, "worker 1");
	ASSERT_OK(scan(&fk, &s), "comm worker 1");
	seen__tids_are(&s, t101, 1, "comm worker 1");

	filter_reset();
	strcpy(flt.comm, "app");
	flt.pids[flt.npids++] = 100;
	ASSERT_OK(scan(&fk, &s), "pid 100 comm app");
	seen__tids_are(&s, app, sizeof(app) / sizeof(app[0]), "pid 100 comm app");

	filter_reset();
	flt.pids[flt.npids++] = 100;
	flt.tids[flt.ntids++] = 400; /* in another process: no match */
	ASSERT_OK(scan(&fk, &s), "pid 100 tid 400");
	seen__tids_are(&s, none, 0, "pid 100 tid 400");

	/* a pid without task/, and one that does not exist: nothing, no error */
	filter_reset();
	flt.pids[flt.npids++] = 200;
	flt.pids[flt.npids++] = 999;
	ASSERT_OK(scan(&fk, &s), "pids 200 999");
	seen__tids_are(&s, none, 0, "pids 200 999");

	filter_reset();
	strcpy(flt.comm, "nobody");
	ASSERT_OK(scan(&fk, &s), "comm nobody");
	seen__tids_are(&s, none, 0, "comm nobody");
out:
	fake__destroy(&fk);
}

TEST(scan_missing_root)
{
	struct fake fk;
	struct seen s;

	filter_reset();
	snprintf(fk.root, sizeof(fk.root), "/nonexistent/tangle-proc-%d", (int)getpid());
	ASSERT_EQ(scan(&fk, &s), -ENOENT, "no such root");
	ASSERT_EQ(s.n, 0, "nothing reported");
}

TEST(read_thread_fake)
{
	struct procfs_thread t;
	struct fake fk = { "" };

	if (!fake__build(&fk))
		goto out;
	ASSERT_OK(procfs__read_thread(fk.root, 100, 100, &t), "100");
	ASSERT_EQ(t.pid, 100, "pid");
	ASSERT_EQ(t.tid, 100, "tid");
	ASSERT_EQ(t.wait.addr, 0x7f0000001000ULL, "addr");
	ASSERT_OK(procfs__read_thread(fk.root, 100, 101, &t), "101");
	ASSERT_EQ(t.wait.kind, WAIT_NONE, "no wait");

	memset(&t, 0xa5, sizeof(t));
	ASSERT_EQ(procfs__read_thread(fk.root, 100, 999, &t), -ENOENT, "missing thread");
	ASSERT_EQ(procfs__read_thread(fk.root, 999, 999, &t), -ENOENT, "missing process");
	ASSERT_EQ(procfs__read_thread(fk.root, 200, 200, &t), -ENOENT, "no task dir");
	ASSERT_EQ(procfs__read_thread(fk.root, 100, 102, &t), -EINVAL, "malformed stat");

	ASSERT_TRUE(procfs__pid_exists(fk.root, 100), "100 exists");
	ASSERT_TRUE(procfs__pid_exists(fk.root, 200), "200 exists");
	ASSERT_FALSE(procfs__pid_exists(fk.root, 999), "999 does not");
out:
	fake__destroy(&fk);
}

/* Stack pointers of the fake pid 100: every thread with a syscall line but the running one. */
TEST(thread_sps_fake)
{
	static const uint32_t want[] = { 100, 103, 104, 105, 107, 108 };
	struct fake fk = { "" };
	struct procfs_sp *sps = NULL;
	bool seen[sizeof(want) / sizeof(want[0])] = { false };
	int n;

	if (!fake__build(&fk))
		goto out;
	n = procfs__thread_sps(fk.root, 100, &sps);
	if (!ASSERT_EQ(n, 6, "six threads with an sp"))
		goto out;
	for (int i = 0; i < n; i++) {
		ASSERT_TRUE(sps[i].sp == 0x7ffd0000, "sp");
		for (size_t j = 0; j < sizeof(want) / sizeof(want[0]); j++)
			seen[j] |= sps[i].tid == want[j];
	}
	for (size_t j = 0; j < sizeof(want) / sizeof(want[0]); j++)
		ASSERT_TRUE(seen[j], "each expected thread");
	free(sps);
	ASSERT_EQ(procfs__thread_sps(fk.root, 999, &sps), -ENOENT, "no such process");
	ASSERT_TRUE(sps == NULL, "nothing returned");
out:
	free(sps);
	fake__destroy(&fk);
}

/* The main thread exited: its maps are empty, another thread's are read. */
TEST(read_maps_fake)
{
	struct fake fk = { "" };
	struct procfs_maps *m = NULL;
	struct map_id id;

	if (!fake__build(&fk))
		goto out;
	if (!fake__puts(&fk, "500/maps", "") || !fake__puts(&fk, "500/task/500/maps", "") ||
	    !fake__puts(&fk, "500/task/501/maps", "1000-2000 rw-s 00000000 00:01 77 /memfd:x\n") ||
	    !fake__puts(&fk, "600/maps", "1000-2000 rw-s 00000000 00:01 77 /memfd:x\n"))
		goto out;
	m = procfs__read_maps(fk.root, 500);
	if (ASSERT_TRUE(m, "read") && ASSERT_EQ(m->nr, 1, "from thread 501"))
		ASSERT_STREQ(m->maps[0].path, "/memfd:x", "path");
	ASSERT_OK(procfs__map_of(fk.root, 500, 0x1800, &id), "map_of");
	ASSERT_EQ(id.inode, 77, "inode");
	ASSERT_TRUE(procfs__maps_object(fk.root, 600, &id), "600 maps the object");
	ASSERT_EQ(procfs__map_of(fk.root, 500, 0x2000, &id), -ENOENT, "unmapped");
	ASSERT_TRUE(procfs__read_maps(fk.root, 999) == NULL && errno == ENOENT, "no process");
out:
	procfs__maps_free(m);
	fake__destroy(&fk);
}

/* ---- the real /proc --------------------------------------------------- */

TEST(read_thread_self)
{
	char name[TANGLE_COMM_LEN] = "";
	struct procfs_thread t;

	ASSERT_OK(prctl(PR_GET_NAME, name), "PR_GET_NAME");
	if (!ASSERT_OK(procfs__read_thread("/proc", getpid(), gettid(), &t), "read self"))
		return;
	ASSERT_EQ(t.pid, (uint32_t)getpid(), "pid");
	ASSERT_EQ(t.tid, (uint32_t)gettid(), "tid");
	ASSERT_STREQ(t.comm, name, "comm");
	/* /proc says 'R' for the reader itself */
	ASSERT_TRUE(t.state == TANGLE_TS_RUNNING || t.state == TANGLE_TS_RUNNABLE,
		    "running or runnable");
	ASSERT_EQ(t.wait.kind, WAIT_NONE, "no wait");
	ASSERT_TRUE(procfs__pid_exists("/proc", getpid()), "self exists");
}

struct parked {
	uint32_t word; /* futex word */
	struct futex_waitv waiters[1];
	bool waitv; /* park in futex_waitv instead of futex(FUTEX_WAIT_PRIVATE) */
	volatile pid_t tid;
	volatile bool stop;
	long err; /* errno of the wait when it did not block */
};

static void *park(void *arg)
{
	struct parked *p = arg;

	p->tid = gettid();
	while (!p->stop) {
		long r;

		if (p->waitv)
			r = syscall(SYS_futex_waitv, p->waiters, 1, 0, NULL, 0);
		else
			r = syscall(SYS_futex, &p->word, FUTEX_WAIT_PRIVATE,
				    __atomic_load_n(&p->word, __ATOMIC_SEQ_CST), NULL, NULL, 0);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			p->err = errno;
			break;
		}
	}
	return NULL;
}

/* Start a thread parked in a futex wait and read it until /proc shows the wait (≤ 2 s). */
static void check_parked(bool waitv)
{
	struct parked p = { .word = 0, .waitv = waitv };
	struct timespec nap = { 0, 2000000 };
	struct procfs_thread t = { 0 };
	bool started = false;
	pthread_t th;
	char path[128];
	int i;

	p.word = waitv ? 5 : 0;
	p.waiters[0].val = p.word;
	p.waiters[0].uaddr = (uintptr_t)&p.word;
	p.waiters[0].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
	if (!ASSERT_OK(pthread_create(&th, NULL, park, &p), "pthread_create"))
		return;
	started = true;
	for (i = 0; i < 1000 && !p.tid; i++)
		nanosleep(&nap, NULL);
	if (!ASSERT_TRUE(p.tid, "thread started"))
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)getpid(), (int)p.tid);
	if (access(path, R_OK) != 0) {
		printf("  (skipped: %s is not readable here)\n", path);
		goto out;
	}
	for (i = 0; i < 1000 && !p.err; i++) {
		if (procfs__read_thread("/proc", getpid(), p.tid, &t) == 0 &&
		    t.wait.kind == WAIT_FUTEX)
			break;
		nanosleep(&nap, NULL);
	}
	if (waitv && p.err == ENOSYS) {
		printf("  (skipped: no futex_waitv in this kernel)\n");
		goto out;
	}
	if (!ASSERT_EQ(p.err, 0, "wait syscall") || !ASSERT_EQ(t.wait.kind, WAIT_FUTEX, "seen"))
		goto out;
	ASSERT_EQ(t.pid, (uint32_t)getpid(), "pid");
	ASSERT_EQ(t.tid, (uint32_t)p.tid, "tid");
	ASSERT_EQ(t.state, TANGLE_TS_SLEEPING, "sleeping");
	ASSERT_TRUE(t.wait.preblocked, "preblocked");
	ASSERT_TRUE(t.wait.addr == (uintptr_t)&p.word, "the futex word");
	ASSERT_EQ(t.wait.expected, p.word, "expected value");
	ASSERT_FALSE(t.wait.has_timeout, "no timeout");
	if (waitv) {
		ASSERT_EQ(t.wait.sys, TANGLE_SYS_FUTEX_WAITV, "sys waitv");
		ASSERT_EQ(t.wait.nr_futexes, 1, "one futex");
	} else {
		ASSERT_EQ(t.wait.sys, TANGLE_SYS_FUTEX, "sys futex");
		ASSERT_EQ(t.wait.op, FUTEX_WAIT_PRIVATE, "op");
	}
out:
	if (started) {
		p.stop = true;
		__atomic_add_fetch(&p.word, 1, __ATOMIC_SEQ_CST);
		while (pthread_tryjoin_np(th, NULL) == EBUSY) {
			syscall(SYS_futex, &p.word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
			nanosleep(&nap, NULL);
		}
	}
}

TEST(read_thread_real_futex_wait)
{
	check_parked(false);
}

TEST(read_thread_real_futex_waitv)
{
	check_parked(true);
}

TEST_MAIN()
