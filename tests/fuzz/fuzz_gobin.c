// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: an executable from anyone, as src/gobin.c reads it when
 * tangle attaches to a process (the file behind /proc/PID/exe is the
 * process's to choose). The input reaches gobin__open() as a memfd; if it
 * opens, every lookup runs on it: version and module, functions by name,
 * frames and inline trees at pcs in and around them, pcsp, the runtime
 * globals (by .symtab or by decoding runtime code), the g's TLS offset and
 * DWARF members. Nothing may crash, hang or read out of bounds.
 *
 *   make fuzz                  build .output-fuzz/fuzz_gobin and its seeds
 *   .output-fuzz/fuzz_gobin -max_total_time=60 CORPUS .output-fuzz/seed-gobin
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gobin.h"

#define MAX_FRAMES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const funcs[] = {
	"main.main",	       "runtime.main",	       "runtime.goexit",
	"runtime.mstart",      "runtime.forEachGRace", "runtime.mcommoninit",
	"runtime.stackcheck",  "runtime.gopark",       "runtime.mcall",
	"runtime.systemstack", "crosscall2",	       "",
};

static const char *const vars[] = { "runtime.allglen",	    "runtime.allgptr",
				    "runtime.allm",	    "runtime.firstmoduledata",
				    "runtime.buildVersion", "runtime.tlsg" };

static const char *const members[][2] = {
	{ "runtime.g", "goid" },
	{ "runtime.g", "sched.pc" },
	{ "runtime.m", "curg" },
	{ "runtime.g", "" },
};

/*
 * What a caller does with a frame: read its strings (they point into the
 * mapped file, so ASan sees a read past it) and print its name, into small
 * buffers too.
 */
static void use_frame(const struct gobin_frame *fr)
{
	char buf[256], tiny[4];

	if (!fr->function || !fr->file || fr->line < 0)
		__builtin_trap();
	gobin__print_name(fr->function, buf, sizeof(buf));
	gobin__print_name(fr->function, tiny, sizeof(tiny));
	gobin__print_name(fr->function, tiny, 0);
	if (strlen(fr->file) == SIZE_MAX)
		__builtin_trap();
}

static void at_pc(const struct gobin *b, uint64_t pc)
{
	struct gobin_frame fr[MAX_FRAMES];
	uint64_t frame_size;
	size_t n = 0;
	bool stop;

	if (!gobin__symbolize(b, pc, fr, MAX_FRAMES, &n)) {
		if (n > MAX_FRAMES)
			__builtin_trap();
		for (size_t i = 0; i < n; i++)
			use_frame(&fr[i]);
	}
	gobin__symbolize(b, pc, fr, 1, &n);
	gobin__frame(b, pc, &frame_size, &stop);
}

/* A function's entry, a few pcs inside it, its last byte and just past it. */
static void around_func(const struct gobin *b, uint64_t entry, uint64_t end)
{
	uint64_t len = end > entry ? end - entry : 0;

	at_pc(b, entry);
	at_pc(b, entry - 1);
	at_pc(b, end);
	for (int i = 1; i < 8 && len; i++)
		at_pc(b, entry + len * (uint64_t)i / 8);
	if (len)
		at_pc(b, end - 1);
}

static void exercise(const struct gobin *b)
{
	uint64_t entry, end, addr;
	int major, minor, patch;
	int64_t tls;

	if (!gobin__version(b) || !gobin__main_module(b))
		__builtin_trap();
	gobin__version_num(b, &major, &minor, &patch);
	gobin__stripped(b);
	gobin__cgo(b);
	gobin__pie(b);
	for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++)
		if (!gobin__func(b, funcs[i], &entry, &end))
			around_func(b, entry, end);
	at_pc(b, 0);
	at_pc(b, UINT64_MAX);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		gobin__var(b, vars[i], &addr);
	gobin__g_tls_offset(b, &tls);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		gobin__member_offset(b, members[i][0], members[i][1], &addr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz.elf", MFD_CLOEXEC);
	struct gobin *b;
	char path[64];
	size_t done = 0;

	if (fd < 0)
		return 0;
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	b = gobin__open(path);
	close(fd);
	if (b)
		exercise(b);
	gobin__free(b);
	return 0;
}
