// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: the NDJSON writer (src/json.c) and the terminal escaper
 * (src/escape.c), driven by a little program read from the input: one byte
 * picks a call (begin/end object/array, key, str, strn, int, uint, hex,
 * milli, bool, null, the kv_ forms, end_record, term_escape), the bytes after
 * it are its arguments; strings are arbitrary bytes, NUL and invalid UTF-8
 * included, and may be long enough to grow the writer's buffer.
 *
 * Beside the writer runs a model of json.h's contract: which call sequences
 * make a record, and what the record must say. After each json__end_record()
 * the target checks that the return matches the model (0 for a well-formed
 * record, -EINVAL and nothing written for misuse), and that the line written
 * is valid UTF-8 with no raw control byte, C1 control or U+2028/U+2029, and
 * strict JSON whose tokens, parsed back (escapes decoded), are exactly the
 * model's: every string as its input with each byte that does not start a
 * well-formed UTF-8 sequence replaced by U+FFFD, every number as written.
 * Any difference abort()s, for libFuzzer to report.
 *
 *   make fuzz                  build .output-fuzz/fuzz_json
 *   .output-fuzz/fuzz_json -max_total_time=60 CORPUS
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_json: %s\n", why);
	abort();
}

/* ---- growable byte buffer ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->len < n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			fail("out of memory");
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_byte(struct buf *b, char c)
{
	buf_put(b, &c, 1);
}

/* ---- UTF-8 ---- */

/*
 * Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none
 * starts there (Unicode Table 3-7), and its code point in *cp.
 */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, v = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, v = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, v = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12), n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18), n = 4;
	}
	for (size_t i = 1; i < n; i++)
		u[i] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
	buf_put(b, u, n);
}

/* What json.h promises a string becomes: invalid bytes as U+FFFD, one each. */
static void sanitized(struct buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_seq(u + i, n - i, &cp);

		if (len) {
			buf_put(b, u + i, len);
			i += len;
		} else {
			buf_put(b, "\xef\xbf\xbd", 3);
			i++;
		}
	}
}

/* ---- tokens: what the model expects and what the parser reads back ---- */

/* A string token: its tag, a 4-byte length, the bytes (escapes decoded). */
static void token_str(struct buf *t, char tag, const char *s, size_t n)
{
	uint32_t len = (uint32_t)n;

	buf_byte(t, tag);
	buf_put(t, &len, sizeof(len));
	buf_put(t, s, n);
}

/* ---- a strict JSON reader of one compact line ---- */

struct parser {
	const char *p, *end;
	struct buf *tokens;
};

static bool parse_value(struct parser *ps, int depth);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool parse_u4(struct parser *ps, uint32_t *v)
{
	*v = 0;
	if (ps->end - ps->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int h = hexval(*ps->p++);

		if (h < 0)
			return false;
		*v = *v << 4 | (uint32_t)h;
	}
	return true;
}

/* A string after its opening quote; decoded into a token tagged tag. */
static bool parse_string(struct parser *ps, char tag)
{
	struct buf s = { 0 };
	bool ok = false;

	while (ps->p < ps->end) {
		unsigned char c = (unsigned char)*ps->p;
		uint32_t cp, lo;
		size_t len;

		if (c == '"') {
			ps->p++;
			token_str(ps->tokens, tag, s.p, s.len);
			ok = true;
			break;
		}
		if (c != '\\') {
			len = utf8_seq((const unsigned char *)ps->p, (size_t)(ps->end - ps->p),
				       &cp);
			if (!len || cp < 0x20)
				break;
			buf_put(&s, ps->p, len);
			ps->p += len;
			continue;
		}
		if (++ps->p >= ps->end)
			break;
		c = (unsigned char)*ps->p++;
		if (c == 'u') {
			if (!parse_u4(ps, &cp) || (cp >= 0xdc00 && cp <= 0xdfff))
				break;
			if (cp >= 0xd800 && cp <= 0xdbff) { /* a pair, or it is not Unicode */
				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
					break;
				ps->p += 2;
				if (!parse_u4(ps, &lo) || lo < 0xdc00 || lo > 0xdfff)
					break;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			put_utf8(&s, cp);
			continue;
		}
		switch (c) {
		case '"':
		case '\\':
		case '/':
			buf_byte(&s, (char)c);
			continue;
		case 'b':
			buf_byte(&s, '\b');
			continue;
		case 'f':
			buf_byte(&s, '\f');
			continue;
		case 'n':
			buf_byte(&s, '\n');
			continue;
		case 'r':
			buf_byte(&s, '\r');
			continue;
		case 't':
			buf_byte(&s, '\t');
			continue;
		}
		break;
	}
	free(s.p);
	return ok;
}

static bool digits(struct parser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, as its text */
static bool parse_number(struct parser *ps)
{
	const char *start = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (ps->p >= ps->end || *ps->p < '1' || *ps->p > '9' || !digits(ps))
		return false;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (!digits(ps))
			return false;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps))
			return false;
	}
	token_str(ps->tokens, 'n', start, (size_t)(ps->p - start));
	return true;
}

static bool literal(struct parser *ps, const char *word, char tag)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
		return false;
	ps->p += n;
	buf_byte(ps->tokens, tag);
	return true;
}

static bool eat(struct parser *ps, char c)
{
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

/* The members of an object or the elements of an array, after the opening bracket. */
static bool parse_container(struct parser *ps, bool object, int depth)
{
	char close = object ? '}' : ']';

	buf_byte(ps->tokens, object ? '{' : '[');
	if (!eat(ps, close)) {
		do {
			if (object && (!eat(ps, '"') || !parse_string(ps, 'k') || !eat(ps, ':')))
				return false;
			if (!parse_value(ps, depth + 1))
				return false;
		} while (eat(ps, ','));
		if (!eat(ps, close))
			return false;
	}
	buf_byte(ps->tokens, close);
	return true;
}

static bool parse_value(struct parser *ps, int depth)
{
	if (ps->p >= ps->end || depth > JSON_MAX_DEPTH)
		return false;
	switch (*ps->p) {
	case '{':
	case '[':
		return parse_container(ps, *ps->p++ == '{', depth);
	case '"':
		ps->p++;
		return parse_string(ps, 's');
	case 't':
		return literal(ps, "true", 't');
	case 'f':
		return literal(ps, "false", 'f');
	case 'n':
		return literal(ps, "null", 'z');
	default:
		return parse_number(ps);
	}
}

/*
 * The line as bytes: valid UTF-8, no C0 or DEL byte but the final newline,
 * no raw C1 control, no raw U+2028/U+2029 (json.h escapes them all).
 */
static void check_bytes(const char *line, size_t n)
{
	const unsigned char *u = (const unsigned char *)line;

	if (!n || line[n - 1] != '\n')
		fail("record does not end in a newline");
	for (size_t i = 0; i < n - 1;) {
		uint32_t cp;
		size_t len = utf8_seq(u + i, n - 1 - i, &cp);

		if (!len)
			fail("record is not valid UTF-8");
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
			fail("raw control character in record");
		if (cp == 0x2028 || cp == 0x2029)
			fail("raw U+2028/U+2029 in record");
		i += len;
	}
}

static void check_record(const char *line, size_t n, const struct buf *want)
{
	struct buf got = { 0 };
	struct parser ps = { .p = line, .end = line + n - 1, .tokens = &got };

	check_bytes(line, n);
	if (!parse_value(&ps, 1) || ps.p != ps.end)
		fail("record is not one JSON value");
	if (got.len != want->len || memcmp(got.p, want->p, got.len))
		fail("record does not say what was written");
	free(got.p);
}

/* ---- the model of json.h: when a record is well-formed, and its tokens ---- */

struct model {
	int depth;
	bool object[JSON_MAX_DEPTH + 1];
	bool after_key, top, broken;
	struct buf tokens;
};

static void model_reset(struct model *m)
{
	m->depth = 0;
	m->after_key = m->top = m->broken = false;
	m->tokens.len = 0;
}

/* A value may start here: one top-level value, a key before each value in an object. */
static bool model_value(struct model *m)
{
	if (m->broken)
		return false;
	if (m->depth == 0) {
		if (m->top)
			return !(m->broken = true);
		m->top = true;
	} else if (m->object[m->depth]) {
		if (!m->after_key)
			return !(m->broken = true);
		m->after_key = false;
	}
	return true;
}

static void model_open(struct model *m, bool object)
{
	if (!model_value(m))
		return;
	if (m->depth >= JSON_MAX_DEPTH) {
		m->broken = true;
		return;
	}
	m->object[++m->depth] = object;
	buf_byte(&m->tokens, object ? '{' : '[');
}

static void model_close(struct model *m, bool object)
{
	if (m->broken)
		return;
	if (m->depth == 0 || m->object[m->depth] != object || m->after_key) {
		m->broken = true;
		return;
	}
	m->depth--;
	buf_byte(&m->tokens, object ? '}' : ']');
}

static void model_key(struct model *m, const char *key)
{
	struct buf s = { 0 };

	if (m->broken)
		return;
	if (!key || m->depth == 0 || !m->object[m->depth] || m->after_key) {
		m->broken = true;
		return;
	}
	m->after_key = true;
	sanitized(&s, key, strlen(key));
	token_str(&m->tokens, 'k', s.p, s.len);
	free(s.p);
}

static void model_str(struct model *m, const char *s, size_t n)
{
	struct buf b = { 0 };

	if (!s) {
		if (model_value(m))
			buf_byte(&m->tokens, 'z');
		return;
	}
	if (!model_value(m))
		return;
	sanitized(&b, s, n);
	token_str(&m->tokens, 's', b.p, b.len);
	free(b.p);
}

static void model_token(struct model *m, char tag, const char *text)
{
	if (!model_value(m))
		return;
	if (tag == 'n' || tag == 's')
		token_str(&m->tokens, tag, text, strlen(text));
	else
		buf_byte(&m->tokens, tag);
}

/* ---- the program ---- */

enum op {
	OP_BEGIN_OBJECT,
	OP_END_OBJECT,
	OP_BEGIN_ARRAY,
	OP_END_ARRAY,
	OP_KEY,
	OP_STR,
	OP_STRN,
	OP_LONG_STRN,
	OP_INT,
	OP_UINT,
	OP_HEX,
	OP_MILLI,
	OP_BOOL,
	OP_NULL,
	OP_KV_STR,
	OP_KV_STRN,
	OP_KV_INT,
	OP_KV_UINT,
	OP_KV_HEX,
	OP_KV_MILLI,
	OP_KV_BOOL,
	OP_KV_NULL,
	OP_END_RECORD,
	OP_TERM_ESCAPE,
	OP_COUNT,
};

struct input {
	const uint8_t *p, *end;
};

static uint8_t take_u8(struct input *in)
{
	return in->p < in->end ? *in->p++ : 0;
}

static uint64_t take_u64(struct input *in)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)take_u8(in) << (8 * i);
	return v;
}

/*
 * A string argument: a length byte (0xff: NULL), then that many bytes, as a
 * NUL-terminated copy in *s (the bytes may hold NULs of their own).
 */
static void take_str(struct input *in, char **s, size_t *n)
{
	uint8_t len = take_u8(in);
	size_t avail = (size_t)(in->end - in->p);

	*s = NULL;
	*n = 0;
	if (len == 0xff)
		return;
	*n = len < avail ? len : avail;
	*s = malloc(*n + 1);
	if (!*s)
		fail("out of memory");
	memcpy(*s, in->p, *n);
	(*s)[*n] = '\0';
	in->p += *n;
}

struct run {
	struct json_writer *w;
	FILE *f;
	char *out;
	size_t out_size, seen; /* open_memstream's buffer; bytes already checked */
	bool batched;
	struct model m;
};

static void end_record(struct run *r)
{
	bool ok = !r->m.broken && r->m.depth == 0 && r->m.top;
	int err = json__end_record(r->w);

	if (r->batched && json__flush(r->w))
		fail("json__flush failed");
	fflush(r->f);
	if (err != (ok ? 0 : -EINVAL))
		fail(ok ? "a well-formed record was not written" : "misuse was not reported");
	if (!ok) {
		if (r->out_size != r->seen)
			fail("a dropped record was written");
	} else {
		const char *line = r->out + r->seen;
		size_t n = r->out_size - r->seen;

		if (!memchr(line, '\n', n) || (char *)memchr(line, '\n', n) != line + n - 1)
			fail("a record is not exactly one line");
		check_record(line, n, &r->m.tokens);
	}
	r->seen = r->out_size;
	model_reset(&r->m);
}

static bool lower_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* term_escape: a NUL-terminated prefix of printable UTF-8 and \xNN that decodes to the input. */
static void term(struct run *r, const char *s, size_t n, size_t dstlen)
{
	char *dst = malloc(dstlen ? dstlen : 1);
	struct buf dec = { 0 };
	size_t len;

	if (!dst)
		fail("out of memory");
	term_escape(dst, dstlen, s, n);
	if (!dstlen)
		goto out;
	len = strnlen(dst, dstlen);
	if (len == dstlen)
		fail("term_escape: no terminating NUL");
	for (size_t i = 0; i < len;) {
		const unsigned char *u = (const unsigned char *)dst + i;
		uint32_t cp;
		size_t l;

		if (u[0] == '\\') {
			if (len - i < 4 || u[1] != 'x' || !lower_hex(u[2]) || !lower_hex(u[3]))
				fail("term_escape: bad escape");
			buf_byte(&dec, (char)(hexval((char)u[2]) << 4 | hexval((char)u[3])));
			i += 4;
			continue;
		}
		l = utf8_seq(u, len - i, &cp);
		if (!l || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			fail("term_escape: unsafe character passed through");
		buf_put(&dec, u, l);
		i += l;
	}
	if (dec.len > strnlen(s, n) || (dec.len && memcmp(dec.p, s, dec.len)))
		fail("term_escape: output does not decode to the input");
	json__str(r->w, dst);
	model_str(&r->m, dst, len);
out:
	free(dec.p);
	free(dst);
}

static void step(struct run *r, struct input *in)
{
	struct model *m = &r->m;
	char *key = NULL, *s = NULL, num[48];
	size_t keylen, n;
	uint64_t v;
	uint8_t op = take_u8(in) % OP_COUNT;

	/* the kv_ forms: a key, then the value as below */
	if (op >= OP_KV_STR && op <= OP_KV_NULL)
		take_str(in, &key, &keylen);
	switch (op) {
	case OP_BEGIN_OBJECT:
		json__begin_object(r->w);
		model_open(m, true);
		break;
	case OP_END_OBJECT:
		json__end_object(r->w);
		model_close(m, true);
		break;
	case OP_BEGIN_ARRAY:
		json__begin_array(r->w);
		model_open(m, false);
		break;
	case OP_END_ARRAY:
		json__end_array(r->w);
		model_close(m, false);
		break;
	case OP_KEY:
		take_str(in, &key, &keylen);
		json__key(r->w, key);
		model_key(m, key);
		break;
	case OP_STR:
		take_str(in, &s, &n);
		json__str(r->w, s);
		model_str(m, s, s ? strlen(s) : 0);
		break;
	case OP_STRN:
	case OP_LONG_STRN: {
		/* up to ~256 KiB: past the writer's initial and kept buffer sizes */
		size_t times = op == OP_LONG_STRN ? 1 + 4 * (size_t)take_u8(in) : 1;
		struct buf b = { 0 };

		take_str(in, &s, &n);
		if (s)
			for (size_t i = 0; i < times; i++)
				buf_put(&b, s, n);
		json__strn(r->w, s ? (b.p ? b.p : "") : NULL, b.len);
		model_str(m, s ? (b.p ? b.p : "") : NULL, b.len);
		free(b.p);
		break;
	}
	case OP_INT:
		v = take_u64(in);
		json__int(r->w, (long long)v);
		snprintf(num, sizeof(num), "%lld", (long long)v);
		model_token(m, 'n', num);
		break;
	case OP_UINT:
		v = take_u64(in);
		json__uint(r->w, v);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		model_token(m, 'n', num);
		break;
	case OP_HEX:
		v = take_u64(in);
		json__hex(r->w, v);
		snprintf(num, sizeof(num), "0x%llx", (unsigned long long)v);
		model_token(m, 's', num);
		break;
	case OP_MILLI:
		v = take_u64(in);
		json__milli(r->w, v);
		snprintf(num, sizeof(num), "%llu.%03llu", (unsigned long long)(v / 1000),
			 (unsigned long long)(v % 1000));
		model_token(m, 'n', num);
		break;
	case OP_BOOL:
		v = take_u8(in) & 1;
		json__bool(r->w, v);
		model_token(m, v ? 't' : 'f', NULL);
		break;
	case OP_NULL:
		json__null(r->w);
		model_token(m, 'z', NULL);
		break;
	case OP_KV_STR:
		take_str(in, &s, &n);
		json__kv_str(r->w, key, s);
		model_key(m, key);
		model_str(m, s, s ? strlen(s) : 0);
		break;
	case OP_KV_STRN:
		take_str(in, &s, &n);
		json__kv_strn(r->w, key, s, n);
		model_key(m, key);
		model_str(m, s, n);
		break;
	case OP_KV_INT:
		v = take_u64(in);
		json__kv_int(r->w, key, (long long)v);
		model_key(m, key);
		snprintf(num, sizeof(num), "%lld", (long long)v);
		model_token(m, 'n', num);
		break;
	case OP_KV_UINT:
		v = take_u64(in);
		json__kv_uint(r->w, key, v);
		model_key(m, key);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
		model_token(m, 'n', num);
		break;
	case OP_KV_HEX:
		v = take_u64(in);
		json__kv_hex(r->w, key, v);
		model_key(m, key);
		snprintf(num, sizeof(num), "0x%llx", (unsigned long long)v);
		model_token(m, 's', num);
		break;
	case OP_KV_MILLI:
		v = take_u64(in);
		json__kv_milli(r->w, key, v);
		model_key(m, key);
		snprintf(num, sizeof(num), "%llu.%03llu", (unsigned long long)(v / 1000),
			 (unsigned long long)(v % 1000));
		model_token(m, 'n', num);
		break;
	case OP_KV_BOOL:
		v = take_u8(in) & 1;
		json__kv_bool(r->w, key, v);
		model_key(m, key);
		model_token(m, v ? 't' : 'f', NULL);
		break;
	case OP_KV_NULL:
		json__kv_null(r->w, key);
		model_key(m, key);
		model_token(m, 'z', NULL);
		break;
	case OP_END_RECORD:
		end_record(r);
		break;
	case OP_TERM_ESCAPE:
		v = take_u8(in); /* the destination's size */
		take_str(in, &s, &n);
		if (s)
			term(r, s, n, (size_t)v);
		break;
	}
	free(key);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, data + size };
	struct run r = { 0 };

	r.f = open_memstream(&r.out, &r.out_size);
	if (!r.f)
		return 0;
	r.w = json__new(r.f);
	if (!r.w)
		fail("json__new failed");
	/* the first byte's low bit: flush per record, or per batch as the stream does */
	r.batched = take_u8(&in) & 1;
	if (r.batched)
		json__batch_flushes(r.w);
	while (in.p < in.end)
		step(&r, &in);
	end_record(&r);
	json__free(r.w);
	fclose(r.f);
	free(r.out);
	free(r.m.tokens.p);
	return 0;
}
