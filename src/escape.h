/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef TANGLE_ESCAPE_H
#define TANGLE_ESCAPE_H

#include <stddef.h>

/*
 * Copy at most n bytes of src (stopping at NUL) into dst (dstlen bytes, always
 * NUL-terminated when dstlen > 0), safe for a terminal: printable UTF-8 as is,
 * everything else, and the backslash itself, as \xNN.
 */
void term_escape(char *dst, size_t dstlen, const char *src, size_t n);

#endif
