/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Human-readable stuck-group reports, in the manner of a sanitizer report:
 * who, waiting on what, held by whom, and the cycle drawn as a chain.
 * Every untrusted string is escaped for the terminal.
 */
#ifndef TANGLE_REPORT_H
#define TANGLE_REPORT_H

#include <stdio.h>
#include "detect.h"
#include "escape.h"
#include "view_json.h"

/* names may be NULL: no symbols, no stacks. */
void report__group(FILE *out, const struct stuck_group *g, const struct names *names);
/* "1.25 s", "350 ms", "2 min 5 s" */
void format_duration(char *dst, size_t dstlen, uint64_t ns);

#endif
