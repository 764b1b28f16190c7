// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the NDJSON writer (src/json.c).
 *
 * Records are written to an open_memstream() and compared byte for byte. The
 * string-escaping tests end with a fuzz test that checks the writer against an
 * independent UTF-8 decoder and JSON string parser written below.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "json.h"
#include "test.h"

/* A writer on a memory stream; @off is how much output earlier checks consumed. */
struct sink {
	FILE *f;
	char *buf;
	size_t len;
	size_t off;
	struct json_writer *w;
};

static bool sink__open(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->f = open_memstream(&s->buf, &s->len);
	if (!ASSERT_TRUE(s->f, "open_memstream"))
		return false;
	s->w = json__new(s->f);
	return ASSERT_TRUE(s->w, "json__new");
}

static void sink__close(struct sink *s)
{
	json__free(s->w);
	if (s->f)
		fclose(s->f);
	free(s->buf);
}

/* Renders at most 200 bytes of @s printable, as \xNN where needed, into @buf. */
static const char *visible(const char *s, size_t n, char *buf, size_t size)
{
	size_t i, at = 0;
	unsigned char c;

	for (i = 0; i < n && i < 200 && at + 5 < size; i++) {
		c = s[i];
		if (c >= 0x20 && c < 0x7f)
			buf[at++] = c;
		else
			at += snprintf(buf + at, size - at, "\\x%02x", c);
	}
	snprintf(buf + at, size - at, "%s", i < n ? "..." : "");
	return buf;
}

/* Checks that the output since the last check is exactly @want (@n bytes). */
static bool sink__expectn(struct sink *s, const char *want, size_t n, const char *name)
{
	char got_vis[1024], want_vis[1024];
	size_t got;
	bool ok;

	fflush(s->f);
	got = s->len - s->off;
	ok = got == n && memcmp(s->buf + s->off, want, n) == 0;
	if (!ok)
		test__fail(__FILE__, __LINE__, "%s: got '%s' (%zu bytes), want '%s' (%zu bytes)",
			   name, visible(s->buf + s->off, got, got_vis, sizeof(got_vis)), got,
			   visible(want, n, want_vis, sizeof(want_vis)), n);
	s->off = s->len;
	return ok;
}

static bool sink__expect(struct sink *s, const char *want, const char *name)
{
	return sink__expectn(s, want, strlen(want), name);
}

/* Writes @n bytes of @in as a one-string record and checks the line is "@want"\n. */
static bool check_strn(const char *in, size_t n, const char *want, const char *name)
{
	struct sink s;
	char line[1024];
	bool ok = false;

	if (!sink__open(&s))
		goto cleanup;
	json__strn(s.w, in, n);
	if (!ASSERT_OK(json__end_record(s.w), name))
		goto cleanup;
	snprintf(line, sizeof(line), "\"%s\"\n", want);
	ok = sink__expect(&s, line, name);
cleanup:
	sink__close(&s);
	return ok;
}

static bool check_str(const char *in, const char *want, const char *name)
{
	return check_strn(in, strlen(in), want, name);
}

TEST(new_free)
{
	errno = 0;
	ASSERT_TRUE(json__new(NULL) == NULL, "json__new(NULL)");
	ASSERT_EQ(errno, EINVAL, "errno");
	json__free(NULL);
}

TEST(nesting_and_commas)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	json__begin_object(s.w);
	json__kv_int(s.w, "a", 1);
	json__key(s.w, "b");
	json__begin_array(s.w);
	json__int(s.w, 1);
	json__int(s.w, 2);
	json__begin_object(s.w);
	json__key(s.w, "c");
	json__begin_array(s.w);
	json__end_array(s.w);
	json__end_object(s.w);
	json__begin_array(s.w);
	json__begin_array(s.w);
	json__end_array(s.w);
	json__end_array(s.w);
	json__end_array(s.w);
	json__key(s.w, "d");
	json__begin_object(s.w);
	json__end_object(s.w);
	json__kv_str(s.w, "e", "x");
	json__end_object(s.w);
	if (!ASSERT_OK(json__end_record(s.w), "end_record"))
		goto cleanup;
	sink__expect(&s, "{\"a\":1,\"b\":[1,2,{\"c\":[]},[[]]],\"d\":{},\"e\":\"x\"}\n", "output");
cleanup:
	sink__close(&s);
}

TEST(value_kinds)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	json__begin_array(s.w);
	json__str(s.w, "s");
	json__str(s.w, NULL);
	json__str(s.w, "");
	json__strn(s.w, "abcdef", 3);
	json__strn(s.w, NULL, 5);
	json__int(s.w, 0);
	json__int(s.w, -42);
	json__int(s.w, LLONG_MIN);
	json__int(s.w, LLONG_MAX);
	json__uint(s.w, 0);
	json__uint(s.w, ULLONG_MAX);
	json__bool(s.w, true);
	json__bool(s.w, false);
	json__null(s.w);
	json__hex(s.w, 0);
	json__hex(s.w, 0x55d0c0a010a0ULL);
	json__hex(s.w, ULLONG_MAX);
	json__end_array(s.w);
	if (!ASSERT_OK(json__end_record(s.w), "end_record"))
		goto cleanup;
	sink__expect(&s,
		     "[\"s\",null,\"\",\"abc\",null,0,-42,-9223372036854775808,9223372036854775807,"
		     "0,18446744073709551615,true,false,null,\"0x0\",\"0x55d0c0a010a0\","
		     "\"0xffffffffffffffff\"]\n",
		     "output");
cleanup:
	sink__close(&s);
}

TEST(kv_helpers)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	json__begin_object(s.w);
	json__kv_str(s.w, "type", "meta");
	json__kv_str(s.w, "none", NULL);
	json__kv_strn(s.w, "comm", "worker-1\0\0\0", 8);
	json__kv_int(s.w, "v", -1);
	json__kv_uint(s.w, "ts_ns", 1234567890123ULL);
	json__kv_bool(s.w, "ok", true);
	json__kv_hex(s.w, "addr", 0xdeadbeefULL);
	json__kv_null(s.w, "owner_tid");
	json__end_object(s.w);
	if (!ASSERT_OK(json__end_record(s.w), "end_record"))
		goto cleanup;
	sink__expect(
		&s,
		"{\"type\":\"meta\",\"none\":null,\"comm\":\"worker-1\",\"v\":-1,"
		"\"ts_ns\":1234567890123,\"ok\":true,\"addr\":\"0xdeadbeef\",\"owner_tid\":null}\n",
		"output");
cleanup:
	sink__close(&s);
}

TEST(records_and_scalars)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	json__int(s.w, 7);
	ASSERT_OK(json__end_record(s.w), "int record");
	json__str(s.w, "x");
	ASSERT_OK(json__end_record(s.w), "str record");
	json__begin_object(s.w);
	json__end_object(s.w);
	ASSERT_OK(json__end_record(s.w), "object record");
	json__begin_array(s.w);
	json__end_array(s.w);
	ASSERT_OK(json__end_record(s.w), "array record");
	sink__expect(&s, "7\n\"x\"\n{}\n[]\n", "output");
cleanup:
	sink__close(&s);
}

/* Nesting to exactly JSON_MAX_DEPTH works; one level deeper drops the record. */
TEST(max_depth)
{
	char want[2 * JSON_MAX_DEPTH + 2];
	struct sink s;
	int i;

	if (!sink__open(&s))
		goto cleanup;
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		json__begin_array(s.w);
	for (i = 0; i < JSON_MAX_DEPTH; i++)
		json__end_array(s.w);
	ASSERT_OK(json__end_record(s.w), "depth 32");
	memset(want, '[', JSON_MAX_DEPTH);
	memset(want + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	want[2 * JSON_MAX_DEPTH] = '\n';
	want[2 * JSON_MAX_DEPTH + 1] = '\0';
	sink__expect(&s, want, "depth 32 output");

	for (i = 0; i < JSON_MAX_DEPTH + 1; i++) {
		json__begin_object(s.w);
		json__key(s.w, "k");
	}
	for (i = 0; i < JSON_MAX_DEPTH + 1; i++)
		json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "depth 33");
	for (i = 0; i < 1000; i++)
		json__begin_array(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "depth 1000");
	sink__expect(&s, "", "nothing written");

	json__null(s.w);
	ASSERT_OK(json__end_record(s.w), "usable again");
	sink__expect(&s, "null\n", "after overflow");
cleanup:
	sink__close(&s);
}

/* Each misuse drops its record with -EINVAL and leaves the writer usable. */
TEST(misuse)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "empty record");

	json__begin_object(s.w);
	json__int(s.w, 1);
	json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "value without key");

	json__begin_array(s.w);
	json__key(s.w, "k");
	json__end_array(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "key in array");

	json__key(s.w, "k");
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "key at top level");

	json__begin_object(s.w);
	json__key(s.w, "a");
	json__key(s.w, "b");
	json__int(s.w, 1);
	json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "key after key");

	json__begin_object(s.w);
	json__key(s.w, "a");
	json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "key without value");

	json__begin_object(s.w);
	json__key(s.w, NULL);
	json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "NULL key");

	json__begin_object(s.w);
	json__end_array(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "mismatched end");

	json__end_object(s.w);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "end at depth 0");

	json__begin_object(s.w);
	json__kv_int(s.w, "a", 1);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "unclosed object");

	json__int(s.w, 1);
	json__int(s.w, 2);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "two top-level values");

	sink__expect(&s, "", "nothing written");
	json__begin_object(s.w);
	json__kv_int(s.w, "a", 1);
	json__end_object(s.w);
	ASSERT_OK(json__end_record(s.w), "usable again");
	sink__expect(&s, "{\"a\":1}\n", "after misuse");
cleanup:
	sink__close(&s);
}

TEST(control_bytes)
{
	static const char *const want[0x20] = {
		"\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006",
		"\\u0007", "\\b",     "\\t",	 "\\n",	    "\\u000b", "\\f",	  "\\r",
		"\\u000e", "\\u000f", "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014",
		"\\u0015", "\\u0016", "\\u0017", "\\u0018", "\\u0019", "\\u001a", "\\u001b",
		"\\u001c", "\\u001d", "\\u001e", "\\u001f",
	};
	char in[3], expect[32];
	int c;

	for (c = 0; c < 0x20; c++) {
		in[0] = 'a';
		in[1] = (char)c;
		in[2] = 'z';
		snprintf(expect, sizeof(expect), "a%sz", want[c]);
		check_strn(in, 3, expect, want[c]);
	}
	check_str("a\x7f!", "a\\u007f!", "DEL");
	check_strn("\0", 1, "\\u0000", "lone NUL");
}

TEST(quotes_backslashes)
{
	check_str("\"", "\\\"", "quote");
	check_str("\\", "\\\\", "backslash");
	check_str("a\"b\\c/d", "a\\\"b\\\\c/d", "mixed");
	check_str("\\\"\\\"", "\\\\\\\"\\\\\\\"", "alternating");
	check_str("\\u0041", "\\\\u0041", "literal \\u");
	check_str(" ~!#$%&'()*+,-.:;<=>?@[]^_`{|}", " ~!#$%&'()*+,-.:;<=>?@[]^_`{|}", "punct");
}

TEST(keys_escaped)
{
	struct sink s;

	if (!sink__open(&s))
		goto cleanup;
	json__begin_object(s.w);
	json__kv_int(s.w, "a\"b\n\x1b\xff", 1);
	json__end_object(s.w);
	if (!ASSERT_OK(json__end_record(s.w), "end_record"))
		goto cleanup;
	sink__expect(&s, "{\"a\\\"b\\n\\u001b\xef\xbf\xbd\":1}\n", "output");
cleanup:
	sink__close(&s);
}

TEST(utf8_valid)
{
	check_str("\xc2\xa0", "\xc2\xa0", "U+00A0");
	check_str("caf\xc3\xa9", "caf\xc3\xa9", "2-byte e-acute");
	check_str("\xdf\xbf", "\xdf\xbf", "U+07FF");
	check_str("\xe0\xa0\x80", "\xe0\xa0\x80", "U+0800");
	check_str("\xe2\x82\xac", "\xe2\x82\xac", "3-byte euro");
	check_str("\xe2\x80\xa7\xe2\x80\xaa", "\xe2\x80\xa7\xe2\x80\xaa", "U+2027 U+202A");
	check_str("\xed\x9f\xbf", "\xed\x9f\xbf", "U+D7FF");
	check_str("\xee\x80\x80", "\xee\x80\x80", "U+E000");
	check_str("\xef\xbf\xbd", "\xef\xbf\xbd", "U+FFFD");
	check_str("\xef\xbf\xbf", "\xef\xbf\xbf", "U+FFFF");
	check_str("\xf0\x90\x80\x80", "\xf0\x90\x80\x80", "U+10000");
	check_str("\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!", "4-byte emoji");
	check_str("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", "U+10FFFF");
	check_str("\xe6\x97\xa5\xe6\x9c\xac-\xd0\xb6", "\xe6\x97\xa5\xe6\x9c\xac-\xd0\xb6",
		  "mixed");
}

#define FFFD "\xef\xbf\xbd"

TEST(utf8_invalid)
{
	check_str("\xc0\x80", FFFD FFFD, "overlong C0 80");
	check_str("\xc1\xbf", FFFD FFFD, "overlong C1 BF");
	check_str("\xe0\x80\x80", FFFD FFFD FFFD, "overlong E0 80 80");
	check_str("\xe0\x9f\xbf", FFFD FFFD FFFD, "overlong E0 9F BF");
	check_str("\xf0\x80\x80\x80", FFFD FFFD FFFD FFFD, "overlong F0 80 80 80");
	check_str("\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD, "overlong F0 8F BF BF");
	check_str("\xed\xa0\x80", FFFD FFFD FFFD, "surrogate D800");
	check_str("\xed\xbf\xbf", FFFD FFFD FFFD, "surrogate DFFF");
	check_str("\xed\xa0\xbd\xed\xb8\x80", FFFD FFFD FFFD FFFD FFFD FFFD, "surrogate pair");
	check_str("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, "U+110000");
	check_str("\x80", FFFD, "lone continuation 80");
	check_str("a\xbf"
		  "b",
		  "a" FFFD "b", "lone continuation BF");
	check_str("\xe2\x82", FFFD FFFD, "truncated E2 82 at end");
	check_str("\xe2\x82"
		  "a",
		  FFFD FFFD "a", "truncated E2 82 before ASCII");
	check_str("\xf0\x9f\x98", FFFD FFFD FFFD, "truncated 4-byte");
	check_str("\xc3", FFFD, "truncated 2-byte");
	check_str("\xc3\xc3\xa9", FFFD "\xc3\xa9", "lead then valid");
	check_str("\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD, "F5 lead");
	check_str("\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff",
		  FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD, "F5..FF");
	check_str("\xfe\xff", FFFD FFFD, "UTF-16 BOM bytes");
}

/* C1 controls (U+0080..U+009F) are escaped: some terminals act on them. */
TEST(c1_controls)
{
	check_str("\xc2\x80", "\\u0080", "U+0080");
	check_str("\xc2\x9b[2J", "\\u009b[2J", "CSI");
	check_str("\xc2\x9f", "\\u009f", "U+009F");
	check_str("\x9b", FFFD, "raw 9B byte");
}

TEST(terminal_escapes)
{
	check_str("\x1b[31mred\x1b]0;title\x07", "\\u001b[31mred\\u001b]0;title\\u0007", "SGR+OSC");
	check_str("\x1b[2J\x1b[H\r\x1b[K", "\\u001b[2J\\u001b[H\\r\\u001b[K", "clear");
	check_str("\x1bP+q\x1b\\", "\\u001bP+q\\u001b\\\\", "DCS");
}

TEST(line_separators)
{
	check_str("a\xe2\x80\xa8"
		  "b",
		  "a\\u2028b", "U+2028");
	check_str("\xe2\x80\xa9", "\\u2029", "U+2029");
	check_str("\xe2\x80\xa8\xe2\x80\xa9", "\\u2028\\u2029", "both");
}

TEST(nul_in_strn)
{
	check_strn("ab\0cd", 5, "ab\\u0000cd", "NUL inside");
	check_strn("\0\0", 2, "\\u0000\\u0000", "only NULs");
	check_strn("abc", 0, "", "zero length");
}

/* A kernel comm of 16 bytes with no terminator: json__strn must not read past it. */
TEST(comm_without_terminator)
{
	static const char name[] = "\x1b[2Jevil\xff\xfe"
				   "abcdef";
	char *comm = malloc(16);

	_Static_assert(sizeof(name) == 17, "16 bytes and the literal's NUL");

	if (!ASSERT_TRUE(comm, "malloc"))
		return;
	memcpy(comm, name, 16);
	check_strn(comm, strnlen(comm, 16), "\\u001b[2Jevil" FFFD FFFD "abcdef", "comm");
	memcpy(comm, "worker\0garbage!!", 16);
	check_strn(comm, strnlen(comm, 16), "worker", "comm with NUL");
	free(comm);
}

/* Code points of a JSON string as an independent decoder sees them. */
struct cps {
	uint32_t *v;
	size_t n;
	size_t cap;
};

/*
 * Textbook UTF-8 decoding (bit masks, then range checks; deliberately not the
 * writer's table-driven check). Returns the sequence length, 0 if ill-formed.
 */
static size_t ref_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t len, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		v = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		v = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		v = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* What the writer must preserve: input code points, U+FFFD for each byte not in a valid one. */
static void ref_sanitize(const unsigned char *s, size_t n, struct cps *out)
{
	size_t i = 0, len;
	uint32_t cp;

	out->n = 0;
	while (i < n) {
		len = ref_decode(s + i, n - i, &cp);
		out->v[out->n++] = len ? cp : 0xfffd;
		i += len ? len : 1;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses @n bytes that must be exactly one JSON string and a newline. Besides
 * JSON validity it enforces the writer's promises: no raw control byte (C0,
 * DEL, C1), no raw U+2028/U+2029, valid UTF-8, no escaped surrogates. Returns
 * NULL on success or what was wrong.
 */
static const char *parse_line(const unsigned char *s, size_t n, struct cps *out)
{
	size_t i = 1, len;
	uint32_t cp;
	int k, h;

	out->n = 0;
	if (n < 3 || s[0] != '"')
		return "no opening quote";
	for (;;) {
		if (i >= n)
			return "unterminated string";
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			if (++i >= n)
				return "truncated escape";
			switch (s[i]) {
			case '"':
			case '\\':
			case '/':
				cp = s[i];
				break;
			case 'b':
				cp = '\b';
				break;
			case 'f':
				cp = '\f';
				break;
			case 'n':
				cp = '\n';
				break;
			case 'r':
				cp = '\r';
				break;
			case 't':
				cp = '\t';
				break;
			case 'u':
				if (i + 4 >= n)
					return "truncated \\u";
				for (cp = 0, k = 1; k <= 4; k++) {
					h = hexval(s[i + k]);
					if (h < 0)
						return "bad hex in \\u";
					cp = cp << 4 | (uint32_t)h;
				}
				if (cp >= 0xd800 && cp <= 0xdfff)
					return "escaped surrogate";
				i += 4;
				break;
			default:
				return "bad escape";
			}
			i++;
		} else {
			if (s[i] < 0x20 || s[i] == 0x7f)
				return "raw control byte";
			len = ref_decode(s + i, n - i, &cp);
			if (!len)
				return "invalid UTF-8";
			if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
				return "raw C1 control or line separator";
			i += len;
		}
		if (out->n == out->cap)
			return "more code points than expected";
		out->v[out->n++] = cp;
	}
	if (i + 2 != n || s[i + 1] != '\n')
		return "trailing bytes after closing quote";
	return NULL;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Appends the UTF-8 form of @cp (no checks: may make surrogates on purpose). */
static size_t put_utf8(unsigned char *p, uint32_t cp)
{
	if (cp < 0x80) {
		p[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = 0xc0 | cp >> 6;
		p[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = 0xe0 | cp >> 12;
		p[1] = 0x80 | (cp >> 6 & 0x3f);
		p[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	p[0] = 0xf0 | cp >> 18;
	p[1] = 0x80 | (cp >> 12 & 0x3f);
	p[2] = 0x80 | (cp >> 6 & 0x3f);
	p[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* Random bytes biased towards the ones the escaper treats specially. */
static size_t random_input(unsigned char *buf, size_t max)
{
	static const unsigned char special[] = {
		0x00, 0x07, 0x08, 0x0a, 0x1b, 0x1f, '"',  '\\', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
		0xa8, 0xa9, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5,
	};
	static const uint32_t edge_cps[] = { 0x80,   0x9f,    0xa0,	0x7ff,	  0x800,   0xd7ff,
					     0xd800, 0xdfff,  0xe000,	0x2028,	  0x2029,  0xfffd,
					     0xffff, 0x10000, 0x10ffff, 0x110000, 0x1fffff };
	size_t len = rng() % (max - 4), n = 0;
	uint64_t r;

	while (n < len) {
		r = rng();
		switch (r % 8) {
		case 0:
		case 1:
			buf[n++] = special[(r >> 8) % sizeof(special)];
			break;
		case 2:
			n += put_utf8(buf + n, (r >> 8) % 0x110000);
			break;
		case 3:
			n += put_utf8(
				buf + n,
				edge_cps[(r >> 8) % (sizeof(edge_cps) / sizeof(edge_cps[0]))]);
			break;
		default:
			buf[n++] = (unsigned char)(r >> 8);
		}
	}
	return n;
}

#define FUZZ_ITERATIONS 20000
#define FUZZ_MAX_LEN 64

/* Every input yields a valid JSON string line that decodes to the sanitized input. */
TEST(fuzz_strings)
{
	unsigned char in[FUZZ_MAX_LEN];
	uint32_t want_v[FUZZ_MAX_LEN], got_v[FUZZ_MAX_LEN];
	struct cps want = { want_v, 0, FUZZ_MAX_LEN }, got = { got_v, 0, FUZZ_MAX_LEN };
	const char *why;
	struct sink s;
	size_t n;
	int i, bad = 0;

	if (!sink__open(&s))
		goto cleanup;
	for (i = 0; i < FUZZ_ITERATIONS && bad < 5; i++) {
		n = random_input(in, sizeof(in));
		json__strn(s.w, (const char *)in, n);
		if (!ASSERT_OK(json__end_record(s.w), "end_record"))
			goto cleanup;
		fflush(s.f);
		why = parse_line((unsigned char *)s.buf + s.off, s.len - s.off, &got);
		s.off = s.len;
		ref_sanitize(in, n, &want);
		if (!why && (got.n != want.n || memcmp(got.v, want.v, want.n * sizeof(*want.v))))
			why = "decoded string differs from sanitized input";
		if (why) {
			bad++;
			test__fail(__FILE__, __LINE__, "input %d (%zu bytes): %s", i, n, why);
		}
	}
	ASSERT_EQ(i, FUZZ_ITERATIONS, "iterations");
cleanup:
	sink__close(&s);
}

#define BIG (1024 * 1024)

TEST(big_string)
{
	unsigned char *in = malloc(BIG);
	uint32_t *want_v = malloc(BIG * sizeof(uint32_t)), *got_v = malloc(BIG * sizeof(uint32_t));
	struct cps want = { want_v, 0, BIG }, got = { got_v, 0, BIG };
	const char *why;
	struct sink s = {};
	size_t i;

	if (!ASSERT_TRUE(in && want_v && got_v, "malloc") || !sink__open(&s))
		goto cleanup;

	/* Plain ASCII: copied verbatim. */
	for (i = 0; i < BIG; i++)
		in[i] = 'a' + i % 26;
	json__strn(s.w, (const char *)in, BIG);
	if (!ASSERT_OK(json__end_record(s.w), "ascii end_record"))
		goto cleanup;
	fflush(s.f);
	ASSERT_EQ(s.len - s.off, BIG + 3, "ascii length");
	ASSERT_TRUE(s.buf[s.off] == '"' && memcmp(s.buf + s.off + 1, in, BIG) == 0 &&
			    s.buf[s.off + BIG + 1] == '"' && s.buf[s.off + BIG + 2] == '\n',
		    "ascii content");
	s.off = s.len;

	/* Every byte value repeated: each becomes up to six bytes of output. */
	for (i = 0; i < BIG; i++)
		in[i] = (unsigned char)(i * 7 + i / 256);
	json__strn(s.w, (const char *)in, BIG);
	if (!ASSERT_OK(json__end_record(s.w), "mixed end_record"))
		goto cleanup;
	fflush(s.f);
	why = parse_line((unsigned char *)s.buf + s.off, s.len - s.off, &got);
	ASSERT_TRUE(why == NULL, why ? why : "parse");
	ref_sanitize(in, BIG, &want);
	ASSERT_TRUE(got.n == want.n && memcmp(got.v, want.v, want.n * sizeof(*want.v)) == 0,
		    "mixed content");
	s.off = s.len;

	/* The writer gives back its big buffer and keeps working. */
	json__kv_int(s.w, "k", 1);
	ASSERT_EQ(json__end_record(s.w), -EINVAL, "misuse after big record");
	json__str(s.w, "small");
	ASSERT_OK(json__end_record(s.w), "small end_record");
	sink__expect(&s, "\"small\"\n", "small after big");
cleanup:
	sink__close(&s);
	free(in);
	free(want_v);
	free(got_v);
}

static int write_one_record(struct json_writer *w)
{
	json__begin_object(w);
	json__kv_str(w, "type", "lost_events");
	json__kv_uint(w, "count", 3);
	json__end_object(w);
	return json__end_record(w);
}

/* A writer on the write end of a pipe, rfd its read end; SIGPIPE ignored meanwhile. */
struct pipe_sink {
	void (*old)(int);
	int rfd;
	FILE *f;
	struct json_writer *w;
};

static bool pipe_sink__open(struct pipe_sink *p)
{
	int fds[2];

	p->old = signal(SIGPIPE, SIG_IGN);
	p->rfd = -1;
	p->f = NULL;
	p->w = NULL;
	if (!ASSERT_OK(pipe(fds), "pipe"))
		return false;
	p->rfd = fds[0];
	p->f = fdopen(fds[1], "w");
	if (!ASSERT_TRUE(p->f, "fdopen")) {
		close(fds[1]);
		return false;
	}
	p->w = json__new(p->f);
	return ASSERT_TRUE(p->w, "json__new");
}

static void pipe_sink__close_reader(struct pipe_sink *p)
{
	if (p->rfd >= 0)
		close(p->rfd);
	p->rfd = -1;
}

static void pipe_sink__close(struct pipe_sink *p)
{
	json__free(p->w);
	if (p->f)
		fclose(p->f);
	pipe_sink__close_reader(p);
	signal(SIGPIPE, p->old);
}

TEST(closed_pipe_epipe)
{
	struct pipe_sink p;

	if (pipe_sink__open(&p)) {
		pipe_sink__close_reader(&p);
		ASSERT_EQ(write_one_record(p.w), -EPIPE, "first record");
		ASSERT_EQ(write_one_record(p.w), -EPIPE, "second record");
	}
	pipe_sink__close(&p);
}

/* json__batch_flushes(): records stay in the FILE's buffer until json__flush(). */
TEST(batched_flushes)
{
	struct pipe_sink p;
	char buf[128];
	ssize_t n;

	if (!pipe_sink__open(&p))
		goto cleanup;
	json__batch_flushes(p.w);
	ASSERT_OK(write_one_record(p.w), "first record");
	ASSERT_OK(write_one_record(p.w), "second record");
	ASSERT_OK(fcntl(p.rfd, F_SETFL, O_NONBLOCK), "O_NONBLOCK");
	n = read(p.rfd, buf, sizeof(buf));
	ASSERT_TRUE(n < 0 && errno == EAGAIN, "nothing written before json__flush");
	ASSERT_OK(json__flush(p.w), "json__flush");
	n = read(p.rfd, buf, sizeof(buf) - 1);
	if (ASSERT_TRUE(n > 0, "written by json__flush")) {
		buf[n] = 0;
		ASSERT_STREQ(buf,
			     "{\"type\":\"lost_events\",\"count\":3}\n"
			     "{\"type\":\"lost_events\",\"count\":3}\n",
			     "both records, once");
	}
	pipe_sink__close_reader(&p);
	ASSERT_OK(write_one_record(p.w), "buffered after the reader left");
	ASSERT_EQ(json__flush(p.w), -EPIPE, "the flush reports the closed pipe");
cleanup:
	pipe_sink__close(&p);
}

TEST(read_only_stream)
{
	struct json_writer *w = NULL;
	FILE *f = fopen("/dev/null", "r");

	if (!ASSERT_TRUE(f, "fopen"))
		return;
	w = json__new(f);
	if (ASSERT_TRUE(w, "json__new"))
		ASSERT_EQ(write_one_record(w), -EBADF, "write to read-only stream");
	json__free(w);
	fclose(f);
}

TEST_MAIN()
