// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdio.h>
#include <string.h>
#include "cmd.h"
#include "opts.h"

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "top";

	if (argc <= 1)
		return cmd_top(argc, argv);

	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		opts__usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("tangle %s\n", TANGLE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "stream"))
		return cmd_stream(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "goroutines"))
		return cmd_goroutines(argc - 1, argv + 1);
	if (!strcmp(cmd, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return cmd_serve(argc - 1, argv + 1);
	if (!strcmp(cmd, "lockorder"))
		return cmd_lockorder(argc - 1, argv + 1);
	if (!strcmp(cmd, "top"))
		return cmd_top(argc - 1, argv + 1);
	if (cmd[0] == '-') /* tangle -p 123: the dashboard with options */
		return cmd_top(argc, argv);
	fprintf(stderr, "tangle: unknown command '%s'\n", cmd);
	opts__usage(stderr);
	return 1;
}
