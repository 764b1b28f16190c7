/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands: each takes argv with argv[0] = its name, returns the process exit status. */
#ifndef TANGLE_CMD_H
#define TANGLE_CMD_H

int cmd_stream(int argc, char **argv);

#endif
