// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for src/gobin.c (tests/test_gobin.py).
 *
 *   gobin_driver BINARY            read queries from stdin, one per line:
 *     info                         -> info version=.. module=.. stripped=0|1 cgo=0|1 pie=0|1
 *                                     major=.. minor=.. patch=.. tls=OFF|none
 *     var NAME                     -> var NAME 0xADDR | var NAME none
 *     func NAME                    -> func NAME 0xENTRY 0xEND | func NAME none
 *                                     (NAME is the rest of the line: it may hold spaces)
 *     sym 0xPC                     -> sym 0xPC N, then N lines
 *                                     frame FUNCTION<TAB>FILE<TAB>LINE<TAB>0xENTRY<TAB>0|1
 *                                     (last field: inlined); N = 0 if no function
 *     member TYPE PATH             -> member TYPE PATH OFFSET | member TYPE PATH none
 *     frame 0xPC                   -> frame 0xPC SIZE STOP | frame 0xPC none (gobin__frame)
 *     printname FUNCTION           -> printname NAME (gobin__print_name)
 *   gobin_driver --open BINARY     -> "ok", or "error ERRNO-NAME" (exit 1)
 *   gobin_driver --fuzz BINARY N SEED
 *                                  corrupt/truncate copies of BINARY N times and
 *                                  use every API on each; prints "fuzz opened=.. failed=.."
 *   gobin_driver --bench BINARY    costs: "bench open_us=.. first_func_us=.. (builds the
 *                                  name index) sym_ns=.. func_ns=.. frames=.."
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "gobin.h"

#define MAX_FRAMES 64

static void print_frames(const struct gobin *b, uint64_t pc)
{
	struct gobin_frame fr[MAX_FRAMES];
	size_t n = 0;

	if (gobin__symbolize(b, pc, fr, MAX_FRAMES, &n))
		n = 0;
	printf("sym 0x%" PRIx64 " %zu\n", pc, n);
	for (size_t i = 0; i < n; i++)
		printf("frame %s\t%s\t%d\t0x%" PRIx64 "\t%d\n", fr[i].function, fr[i].file,
		       fr[i].line, fr[i].entry, fr[i].inlined);
}

static void print_info(const struct gobin *b)
{
	int major = 0, minor = 0, patch = 0;
	int64_t tls;

	gobin__version_num(b, &major, &minor, &patch);
	printf("info version=%s module=%s stripped=%d cgo=%d pie=%d major=%d minor=%d patch=%d ",
	       gobin__version(b), gobin__main_module(b), gobin__stripped(b), gobin__cgo(b),
	       gobin__pie(b), major, minor, patch);
	if (gobin__g_tls_offset(b, &tls))
		printf("tls=none\n");
	else
		printf("tls=%" PRId64 "\n", tls);
}

static int queries(const char *path)
{
	struct gobin *b = gobin__open(path);
	char *line = NULL;
	size_t cap = 0;

	if (!b) {
		fprintf(stderr, "gobin__open %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (getline(&line, &cap, stdin) > 0) {
		char a[512], c[512];
		uint64_t x, y;

		line[strcspn(line, "\n")] = '\0';
		if (!strcmp(line, "info")) {
			print_info(b);
		} else if (!strncmp(line, "var ", 4)) {
			if (gobin__var(b, line + 4, &x))
				printf("%s none\n", line);
			else
				printf("%s 0x%" PRIx64 "\n", line, x);
		} else if (!strncmp(line, "func ", 5)) { /* names may hold spaces */
			if (gobin__func(b, line + 5, &x, &y))
				printf("%s none\n", line);
			else
				printf("%s 0x%" PRIx64 " 0x%" PRIx64 "\n", line, x, y);
		} else if (sscanf(line, "sym %" SCNx64, &x) == 1) {
			print_frames(b, x);
		} else if (sscanf(line, "frame %" SCNx64, &x) == 1) {
			bool stop;

			if (gobin__frame(b, x, &y, &stop))
				printf("frame 0x%" PRIx64 " none\n", x);
			else
				printf("frame 0x%" PRIx64 " %" PRIu64 " %d\n", x, y, stop);
		} else if (!strncmp(line, "printname ", 10)) {
			char name[256];

			gobin__print_name(line + 10, name, sizeof(name));
			printf("printname %s\n", name);
		} else if (sscanf(line, "member %511s %511s", a, c) == 2) {
			if (gobin__member_offset(b, a, c, &x))
				printf("member %s %s none\n", a, c);
			else
				printf("member %s %s %" PRIu64 "\n", a, c, x);
		} else if (line[0]) {
			printf("error unknown query: %s\n", line);
		}
	}
	free(line);
	gobin__free(b);
	return 0;
}

/* Every entry point, on a binary that may be corrupt: must not crash. */
static void exercise(const struct gobin *b, uint64_t lo, uint64_t hi, uint32_t *rng)
{
	static const char *const names[] = { "main.main", "runtime.main", "runtime.forEachGRace",
					     "runtime.mcommoninit", "runtime.stackcheck" };
	static const char *const vars[] = { "runtime.allglen", "runtime.allgptr", "runtime.allm",
					    "runtime.firstmoduledata" };
	struct gobin_frame fr[8];
	uint64_t x, y;
	int64_t t;
	size_t n;
	int i;

	for (i = 0; i < 200; i++) {
		*rng = *rng * 1103515245u + 12345u;
		gobin__symbolize(b, lo + (hi > lo ? *rng % (hi - lo) : 0), fr, 8, &n);
	}
	for (i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!gobin__func(b, names[i], &x, &y))
			gobin__symbolize(b, x, fr, 8, &n);
	for (i = 0; i < (int)(sizeof(vars) / sizeof(vars[0])); i++)
		gobin__var(b, vars[i], &x);
	gobin__g_tls_offset(b, &t);
	gobin__member_offset(b, "runtime.g", "sched.pc", &x);
	gobin__version_num(b, &i, &i, &i);
}

static uint8_t *slurp(const char *path, size_t *size)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) || !(buf = malloc((size_t)st.st_size))) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*size = (size_t)st.st_size;
	if (read(fd, buf, *size) != (ssize_t)*size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	return buf;
}

/*
 * Where to aim: the pclntab's file range (from a clean open: the first
 * bytes of funcs are the most sensitive) and the text range for pcs.
 */
struct fuzz_target {
	size_t pcln_off, pcln_size;
	uint64_t text_lo, text_hi;
};

static bool fuzz_target(const char *path, const uint8_t *img, size_t size, struct fuzz_target *t)
{
	struct gobin *b = gobin__open(path);
	uint64_t x, y;

	if (!b)
		return false;
	if (!gobin__func(b, "main.main", &x, &y)) {
		t->text_lo = x > 0x100000 ? x - 0x100000 : 0;
		t->text_hi = y + 0x100000;
	}
	gobin__free(b);
	/* the pclntab magic at an 8-byte boundary */
	for (size_t off = 0; off + 8 <= size; off += 8) {
		if (!memcmp(img + off, "\xf1\xff\xff\xff\x00\x00\x01\x08", 8)) {
			t->pcln_off = off;
			t->pcln_size = size - off > (1u << 20) ? (1u << 20) : size - off;
			return true;
		}
	}
	return false;
}

static int fuzz(const char *path, long iterations, uint32_t seed)
{
	struct fuzz_target t = { 0 };
	size_t size;
	uint8_t *img = slurp(path, &size), *work;
	char fdpath[64];
	long opened = 0, failed = 0;
	uint32_t rng = seed;
	int fd;

	if (!img || !fuzz_target(path, img, size, &t)) {
		fprintf(stderr, "fuzz: cannot read %s or find its pclntab\n", path);
		free(img);
		return 1;
	}
	work = malloc(size);
	fd = memfd_create("gobin-fuzz", MFD_CLOEXEC);
	if (!work || fd < 0) {
		free(img);
		free(work);
		return 1;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	for (long it = 0; it < iterations; it++) {
		size_t len = size;
		struct gobin *b;

		memcpy(work, img, size);
		rng = rng * 1103515245u + 12345u;
		switch (it % 5) {
		case 0: /* truncate anywhere in the file, often inside the pclntab */
			len = (rng >> 4) % size;
			if (it % 10 == 0)
				len = t.pcln_off + (rng >> 4) % t.pcln_size;
			break;
		case 1: /* one byte of the first 64 KiB of the pclntab set to 0xff or 0 */
		case 2: {
			size_t off = t.pcln_off +
				     (rng >> 4) % (t.pcln_size < 65536 ? t.pcln_size : 65536);
			work[off] = it % 5 == 1 ? 0xff : 0;
			break;
		}
		case 3: /* a burst of random bytes anywhere in the pclntab */
			for (int k = 0; k < 16; k++) {
				rng = rng * 1103515245u + 12345u;
				work[t.pcln_off + (rng >> 4) % t.pcln_size] = (uint8_t)(rng >> 24);
			}
			break;
		case 4: /* random bytes anywhere: headers, inline trees, moduledata, code */
			for (int k = 0; k < 64; k++) {
				rng = rng * 1103515245u + 12345u;
				work[(rng >> 2) % size] = (uint8_t)(rng >> 24);
			}
			break;
		}
		if (ftruncate(fd, 0) || pwrite(fd, work, len, 0) != (ssize_t)len) {
			perror("fuzz: memfd");
			break;
		}
		b = gobin__open(fdpath);
		if (!b) {
			failed++;
			continue;
		}
		opened++;
		exercise(b, t.text_lo, t.text_hi, &rng);
		gobin__free(b);
	}
	printf("fuzz opened=%ld failed=%ld\n", opened, failed);
	close(fd);
	free(work);
	free(img);
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Cost of an open, of a symbolization and of a lookup by name (warm cache). */
static int bench(const char *path)
{
	struct gobin_frame fr[MAX_FRAMES];
	struct gobin *b;
	uint64_t lo, hi, x, y, sink = 0;
	double t0, open_ns = 0, index_ns, sym_ns, func_ns;
	const int opens = 20, syms = 200000, funcs = 100000;
	size_t n;

	for (int i = 0; i < opens; i++) {
		t0 = now_ns();
		b = gobin__open(path);
		open_ns += now_ns() - t0;
		if (!b)
			return 1;
		gobin__free(b);
	}
	b = gobin__open(path);
	t0 = now_ns();
	if (!b || gobin__func(b, "runtime.main", &lo, &y) || gobin__func(b, "main.main", &x, &hi)) {
		gobin__free(b);
		return 1;
	}
	index_ns = now_ns() - t0;
	if (hi < lo) {
		x = lo;
		lo = hi;
		hi = x;
	}
	t0 = now_ns();
	for (int i = 0; i < syms; i++) {
		gobin__symbolize(b, lo + (uint64_t)i * 7919 % (hi - lo), fr, MAX_FRAMES, &n);
		sink += n;
	}
	sym_ns = (now_ns() - t0) / syms;
	t0 = now_ns();
	for (int i = 0; i < funcs; i++)
		sink += !gobin__func(b, i & 1 ? "runtime.main" : "main.main", &x, &y);
	func_ns = (now_ns() - t0) / funcs;
	printf("bench open_us=%.0f first_func_us=%.0f sym_ns=%.0f func_ns=%.0f frames=%" PRIu64
	       "\n",
	       open_ns / opens / 1e3, index_ns / 1e3, sym_ns, func_ns, sink);
	gobin__free(b);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--open")) {
		struct gobin *b = gobin__open(argv[2]);

		if (!b) {
			printf("error %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
			return 1;
		}
		printf("ok\n");
		gobin__free(b);
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "--fuzz"))
		return fuzz(argv[2], strtol(argv[3], NULL, 0), (uint32_t)strtoul(argv[4], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "--bench"))
		return bench(argv[2]);
	if (argc == 2 && argv[1][0] != '-')
		return queries(argv[1]);
	fprintf(stderr,
		"usage: %s BINARY < queries | --open BINARY | --fuzz BINARY N SEED | "
		"--bench BINARY\n",
		argv[0]);
	return 2;
}
