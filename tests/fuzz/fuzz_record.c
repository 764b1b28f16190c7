// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: a record file, as tangle replay takes it, from anyone,
 * through the very code a user runs: `tangle replay FILE stream`, then one
 * of check, trace, dot and folded. The reader checks the file; its records
 * feed the model, the thread detector, the goroutine tracker and detector;
 * the views print what they found. Nothing in the file may crash, hang or
 * leak. The input reaches replay as a memfd, the way a file would.
 *
 *   make fuzz                  build .output-fuzz/fuzz_record
 *   make fuzz-run FUZZ_S=60    run it on the committed corpus for 60 s
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cmd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int null = open("/dev/null", O_WRONLY);

	(void)argc, (void)argv;
	/* what the views print is not the point; libFuzzer reports on stderr */
	if (null >= 0) {
		fflush(stdout);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return 0;
}

static void replay(const char *path, const char *view)
{
	char *argv[] = { "replay", (char *)path, (char *)view, NULL };

	cmd_replay(3, argv);
	fflush(stdout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const views[] = { "check", "trace", "dot", "folded" };
	int fd = memfd_create("fuzz.tgr", MFD_CLOEXEC);
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
	replay(path, "stream");
	replay(path, views[size % 4]);
	close(fd);
	return 0;
}
