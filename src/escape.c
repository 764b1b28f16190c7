// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Untrusted names on a terminal: printable UTF-8 passes (so names in any
 * script read as they are), every control byte, C1 control, bidirectional
 * override, line separator and invalid byte becomes \xNN, so no escape
 * sequence a process puts in its name reaches the terminal.
 */
#include <stdint.h>
#include <string.h>
#include "escape.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid or a control. */
static size_t utf8_printable(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
	    cp == 0x2029)
		return 0;
	/* bidirectional controls reorder what follows them on screen */
	if (cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

void term_escape(char *dst, size_t dstlen, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0;

	if (!dstlen)
		return;
	while (i < n && s[i] && o + 5 < dstlen) {
		size_t len = utf8_printable(s + i, strnlen(src + i, n - i));

		if (len && s[i] != '\\') {
			memcpy(dst + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[s[i] >> 4];
		dst[o++] = hex[s[i] & 15];
		i++;
	}
	dst[o] = '\0';
}
