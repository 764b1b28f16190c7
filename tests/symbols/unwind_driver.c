// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver of src/unwind.c (tests/runtime/test_rt_symbols.py), built at
 * test time with src/unwind.c and src/ksyms.c.
 *
 *	unwind_driver [--repeat N] [--fp] PID TID [PID TID]...
 *	unwind_driver --symbolize [--pc] PID ADDR...
 *	unwind_driver --all
 *	unwind_driver --stdin
 *
 * The first form gets the registers of blocked thread TID as tangle gets
 * them from its BPF task iterator. ptrace is used here only because this is a
 * test (tangle itself never ptraces): seize, interrupt, read the registers,
 * detach. The thread goes back to its futex wait, and the unwind then reads
 * its stack live, as in tangle. It prints one JSON object per line: the
 * registers, every frame, and the time the first unwind and N more took
 * (one unwinder for all targets, so a later target's first unwind shows the
 * cost of a new process whose files are already known).
 *
 * --stdin keeps one unwinder for "PID TID" lines read from stdin, and ends
 * the output of each with a "done" line: a test can change files between
 * unwinds.
 *
 * --all unwinds every thread of the system that sits in a system call, from
 * the pc and sp of /proc/PID/task/TID/syscall (no ptrace): a robustness run
 * over whatever binaries the machine has. It prints one summary line.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include "unwind.h"

static void json_str(const char *key, const char *s)
{
	printf("\"%s\":\"", key);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_frames(int target, const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("{\"type\":\"frame\",\"target\":%d,\"index\":%zu,\"addr\":%" PRIu64 ",",
		       target, i, f[i].addr);
		json_str("function", f[i].function);
		printf(",\"offset\":%" PRIu64 ",", f[i].offset);
		json_str("file", f[i].file);
		printf(",\"line\":%d,", f[i].line);
		json_str("module", f[i].module);
		printf(",\"inlined\":%s,\"fp_walked\":%s}\n", f[i].inlined ? "true" : "false",
		       f[i].fp_walked ? "true" : "false");
	}
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Test only: the registers of a thread blocked in a syscall, via a short ptrace stop. */
static int thread_regs(pid_t tid, struct user_regs *out, long *syscall_nr)
{
	struct user_regs_struct r;
	int status, err = 0;

	if (ptrace(PTRACE_SEIZE, tid, 0, 0))
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) || waitpid(tid, &status, __WALL) < 0 ||
	    ptrace(PTRACE_GETREGS, tid, 0, &r))
		err = -errno;
	ptrace(PTRACE_DETACH, tid, 0, 0);
	if (err)
		return err;
	out->ip = r.rip;
	out->sp = r.rsp;
	out->bp = r.rbp;
	out->bx = r.rbx;
	out->r12 = r.r12;
	out->r13 = r.r13;
	out->r14 = r.r14;
	out->r15 = r.r15;
	out->valid =
		UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 | UREG_R15;
	*syscall_nr = (long)r.orig_rax;
	return 0;
}

static int symbolize(int argc, char **argv)
{
	static struct frame frames[1024];
	uint64_t addrs[256];
	bool pc = false;
	struct unwinder *u;
	size_t nr = 0, n = 0;
	uint32_t pid;
	int i = 0, err;

	if (i < argc && !strcmp(argv[i], "--pc")) {
		pc = true;
		i++;
	}
	if (i >= argc)
		return 2;
	pid = (uint32_t)strtoul(argv[i++], NULL, 0);
	for (; i < argc && nr < 256; i++)
		addrs[nr++] = strtoull(argv[i], NULL, 0);
	u = unwinder__new("/proc");
	if (!u)
		return 1;
	err = unwinder__symbolize(u, pid, addrs, nr, pc, frames, 1024, &n);
	if (!err)
		print_frames(0, frames, n);
	else
		fprintf(stderr, "unwinder__symbolize: %s\n", strerror(-err));
	unwinder__free(u);
	return err ? 1 : 0;
}

/* The pc and sp of a thread in a syscall, from /proc (no stop); false if it runs. */
static bool proc_regs(uint32_t pid, uint32_t tid, struct user_regs *r)
{
	unsigned long long sp, pc;
	char path[64], buf[512];
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/task/%u/syscall", pid, tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	if (sscanf(buf, "%*d %*s %*s %*s %*s %*s %*s %llx %llx", &sp, &pc) != 2)
		return false;
	r->ip = pc;
	r->sp = sp;
	r->valid = UREG_IP | UREG_SP;
	return true;
}

static int all_threads(void)
{
	static struct frame frames[UNWIND_MAX_FRAMES];
	struct unwinder *u = unwinder__new("/proc");
	size_t threads = 0, total = 0, named = 0;
	double t0 = now_us();
	struct dirent *pe, *te;
	DIR *proc;

	if (!u || !(proc = opendir("/proc")))
		return 1;
	while ((pe = readdir(proc))) {
		uint32_t pid = (uint32_t)strtoul(pe->d_name, NULL, 10);
		char path[64];
		DIR *task;

		if (!pid || pid == (uint32_t)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%u/task", pid);
		task = opendir(path);
		if (!task)
			continue;
		while ((te = readdir(task))) {
			uint32_t tid = (uint32_t)strtoul(te->d_name, NULL, 10);
			struct user_regs r = { 0 };
			size_t n = 0;

			if (!tid || !proc_regs(pid, tid, &r))
				continue;
			if (unwinder__unwind(u, pid, tid, &r, frames, UNWIND_MAX_FRAMES, &n))
				continue;
			threads++;
			total += n;
			for (size_t i = 0; i < n; i++)
				named += frames[i].function[0] != '\0';
		}
		closedir(task);
	}
	closedir(proc);
	printf("{\"type\":\"summary\",\"threads\":%zu,\"frames\":%zu,\"named\":%zu,"
	       "\"us\":%.0f}\n",
	       threads, total, named, now_us() - t0);
	unwinder__free(u);
	return 0;
}

/* Unwinds one target: its frames, then repeat more unwinds for the timing line. */
static int unwind_target(struct unwinder *u, uint32_t pid, uint32_t tid, int target, int repeat)
{
	static struct frame frames[UNWIND_MAX_FRAMES];
	struct user_regs regs = { 0 };
	double t0, cold, total = 0, worst = 0;
	long nr = -1;
	size_t n = 0;
	int err;

	err = thread_regs((pid_t)tid, &regs, &nr);
	if (err) {
		fprintf(stderr, "ptrace %u: %s\n", tid, strerror(-err));
		return 1;
	}
	printf("{\"type\":\"regs\",\"target\":%d,\"ip\":%" PRIu64 ",\"sp\":%" PRIu64
	       ",\"bp\":%" PRIu64 ",\"syscall\":%ld}\n",
	       target, regs.ip, regs.sp, regs.bp, nr);
	t0 = now_us();
	err = unwinder__unwind(u, pid, tid, &regs, frames, UNWIND_MAX_FRAMES, &n);
	cold = now_us() - t0;
	if (err) {
		fprintf(stderr, "unwinder__unwind: %s\n", strerror(-err));
		return 1;
	}
	print_frames(target, frames, n);
	for (int r = 0; r < repeat; r++) {
		double t = now_us(), d;
		size_t m;

		unwinder__unwind(u, pid, tid, &regs, frames, UNWIND_MAX_FRAMES, &m);
		d = now_us() - t;
		total += d;
		if (d > worst)
			worst = d;
	}
	printf("{\"type\":\"timing\",\"target\":%d,\"cold_us\":%.1f,\"warm_us_avg\":%.1f,"
	       "\"warm_us_max\":%.1f,\"repeat\":%d,\"frames\":%zu}\n",
	       target, cold, repeat ? total / repeat : 0.0, worst, repeat, n);
	return 0;
}

static int from_stdin(void)
{
	struct unwinder *u = unwinder__new("/proc");
	unsigned int pid, tid;
	char line[128];
	int t = 0;

	if (!u)
		return 1;
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "%u %u", &pid, &tid) != 2)
			continue;
		unwind_target(u, pid, tid, t, 0);
		printf("{\"type\":\"done\",\"target\":%d}\n", t++);
		fflush(stdout);
	}
	unwinder__free(u);
	return 0;
}

int main(int argc, char **argv)
{
	struct unwinder *u;
	int i = 1, repeat = 0, err = 0;
	bool fp = false;

	if (argc > 1 && !strcmp(argv[1], "--symbolize"))
		return symbolize(argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "--all"))
		return all_threads();
	if (argc > 1 && !strcmp(argv[1], "--stdin"))
		return from_stdin();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--fp"))
			fp = true;
		else
			break;
	}
	if (argc - i < 2 || (argc - i) % 2) {
		fprintf(stderr,
			"usage: %s [--repeat N] [--fp] PID TID [PID TID]...\n"
			"       %s --symbolize [--pc] PID ADDR...\n"
			"       %s --all\n"
			"       %s --stdin\n",
			argv[0], argv[0], argv[0], argv[0]);
		return 2;
	}
	/* One unwinder for all targets: the cold time of a later one shows what is shared. */
	u = unwinder__new("/proc");
	if (!u) {
		perror("unwinder__new");
		return 1;
	}
	unwinder__set_fp_only(u, fp);
	for (int t = 0; i + 1 < argc && !err; i += 2, t++)
		err = unwind_target(u, (uint32_t)strtoul(argv[i], NULL, 0),
				    (uint32_t)strtoul(argv[i + 1], NULL, 0), t, repeat);
	unwinder__free(u);
	return err;
}
