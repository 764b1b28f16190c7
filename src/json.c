// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Streaming NDJSON writer. See json.h for the contract.
 *
 * The record under construction lives in a growable buffer; a stack of
 * (container kind, "no element yet") pairs decides where commas go and
 * catches misuse. Any misuse or allocation failure sets w->err; from then on
 * every call is a no-op until json__end_record() reports and drops the record.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Initial buffer size, and the size above which the buffer is released after a record. */
#define JSON_BUF_INIT 4096
#define JSON_BUF_KEEP (64 * 1024)

enum json_kind {
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_writer {
	FILE *out;
	char *buf;
	size_t len;
	size_t cap;
	int err; /* first error of the current record: 0, -EINVAL or -ENOMEM */
	int depth; /* open containers; kind[1..depth] and first[1..depth] are live */
	bool after_key; /* in an object, a key was written and its value is due */
	bool batched; /* json__batch_flushes(): no fflush per record */
	json_sink_fn *sink; /* json__set_sink(): records go there instead of out */
	void *sink_ctx;
	bool droppable; /* the current record may be dropped by the sink */
	/* first[0] is true until the record's top-level value has started */
	bool first[JSON_MAX_DEPTH + 1];
	unsigned char kind[JSON_MAX_DEPTH + 1];
};

static void reset(struct json_writer *w)
{
	if (w->cap > JSON_BUF_KEEP) {
		free(w->buf);
		w->buf = NULL;
		w->cap = 0;
	}
	w->len = 0;
	w->err = 0;
	w->droppable = false;
	w->depth = 0;
	w->after_key = false;
	w->first[0] = true;
}

struct json_writer *json__new(FILE *out)
{
	struct json_writer *w;

	if (!out) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->buf = malloc(JSON_BUF_INIT);
	if (!w->buf) {
		free(w);
		return NULL;
	}
	w->cap = JSON_BUF_INIT;
	w->out = out;
	reset(w);
	return w;
}

void json__free(struct json_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

static bool misuse(struct json_writer *w)
{
	if (!w->err)
		w->err = -EINVAL;
	return false;
}

/* Makes room for @n more bytes; false (and the record broken) if it cannot. */
static bool reserve(struct json_writer *w, size_t n)
{
	size_t need, cap;
	char *buf;

	if (w->err)
		return false;
	if (n <= w->cap - w->len)
		return true;
	if (n > SIZE_MAX - w->len)
		goto nomem;
	need = w->len + n;
	cap = w->cap ? w->cap : JSON_BUF_INIT;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	buf = realloc(w->buf, cap);
	if (!buf)
		goto nomem;
	w->buf = buf;
	w->cap = cap;
	return true;
nomem:
	w->err = -ENOMEM;
	return false;
}

static void put(struct json_writer *w, const void *p, size_t n)
{
	if (!n || !reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_char(struct json_writer *w, char c)
{
	if (w->len < w->cap && !w->err)
		w->buf[w->len++] = c;
	else
		put(w, &c, 1);
}

/* Writes \u00XX for a control character @c. */
static void put_u00(struct json_writer *w, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };

	put(w, esc, sizeof(esc));
}

/*
 * Length of the well-formed UTF-8 sequence at @s (at most @n bytes available),
 * or 0 if @s[0] does not start one. Follows Unicode Table 3-7: the second
 * byte's range excludes overlong forms (E0, F0), surrogates (ED) and code
 * points above U+10FFFF (F4); C0, C1 and F5..FF never start a sequence.
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Printable ASCII other than '"' and '\\': copied as is. */
static bool plain_ascii(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Escapes an ASCII byte that is not plain_ascii(): short form where JSON has one. */
static void put_ascii_escape(struct json_writer *w, unsigned char c)
{
	switch (c) {
	case '"':
		put(w, "\\\"", 2);
		break;
	case '\\':
		put(w, "\\\\", 2);
		break;
	case '\b':
		put(w, "\\b", 2);
		break;
	case '\f':
		put(w, "\\f", 2);
		break;
	case '\n':
		put(w, "\\n", 2);
		break;
	case '\r':
		put(w, "\\r", 2);
		break;
	case '\t':
		put(w, "\\t", 2);
		break;
	default:
		put_u00(w, c);
	}
}

/*
 * Writes @n bytes of @src as a quoted JSON string. Runs of bytes that need no
 * escaping are copied with one put(). Each byte that does not begin a
 * well-formed UTF-8 sequence becomes U+FFFD, so output is valid UTF-8 for any
 * input. Control characters, including C1 (U+0080..U+009F, which some
 * terminals act on), and U+2028/U+2029 (line terminators to JavaScript) are
 * escaped, so the line can be printed on a terminal or embedded in a script.
 */
static void put_string(struct json_writer *w, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, run = 0, len;
	bool c1, line_sep;

	put_char(w, '"');
	while (i < n) {
		if (plain_ascii(s[i])) {
			i++;
			continue;
		}
		len = s[i] < 0x80 ? 1 : utf8_len(s + i, n - i);
		c1 = len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0;
		line_sep = len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
			   (s[i + 2] == 0xa8 || s[i + 2] == 0xa9);
		if (len > 1 && !c1 && !line_sep) {
			i += len; /* well-formed and harmless: part of the run */
			continue;
		}
		put(w, s + run, i - run);
		if (len == 0)
			put(w, "\xef\xbf\xbd", 3); /* U+FFFD for this one byte */
		else if (len == 1)
			put_ascii_escape(w, s[i]);
		else if (c1)
			put_u00(w, s[i + 1]);
		else
			put(w, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
		i += len ? len : 1;
		run = i;
	}
	put(w, s + run, i - run);
	put_char(w, '"');
}

/*
 * Checks that a value may start here and writes the comma it needs. A value
 * in an object must follow a key; a record holds a single top-level value.
 */
static bool begin_value(struct json_writer *w)
{
	int d = w->depth;

	if (w->err)
		return false;
	if (d == 0) {
		if (!w->first[0])
			return misuse(w);
		w->first[0] = false;
		return true;
	}
	if (w->kind[d] == JSON_OBJECT) {
		if (!w->after_key)
			return misuse(w);
		w->after_key = false;
		return true;
	}
	if (!w->first[d])
		put_char(w, ',');
	w->first[d] = false;
	return !w->err;
}

static void begin_container(struct json_writer *w, enum json_kind kind, char open)
{
	if (!begin_value(w))
		return;
	if (w->depth >= JSON_MAX_DEPTH) {
		misuse(w);
		return;
	}
	put_char(w, open);
	w->depth++;
	w->kind[w->depth] = kind;
	w->first[w->depth] = true;
}

static void end_container(struct json_writer *w, enum json_kind kind, char close)
{
	if (w->err)
		return;
	if (w->depth == 0 || w->kind[w->depth] != kind || w->after_key) {
		misuse(w);
		return;
	}
	put_char(w, close);
	w->depth--;
}

void json__begin_object(struct json_writer *w)
{
	begin_container(w, JSON_OBJECT, '{');
}

void json__end_object(struct json_writer *w)
{
	end_container(w, JSON_OBJECT, '}');
}

void json__begin_array(struct json_writer *w)
{
	begin_container(w, JSON_ARRAY, '[');
}

void json__end_array(struct json_writer *w)
{
	end_container(w, JSON_ARRAY, ']');
}

void json__key(struct json_writer *w, const char *key)
{
	int d = w->depth;

	if (w->err)
		return;
	if (!key || d == 0 || w->kind[d] != JSON_OBJECT || w->after_key) {
		misuse(w);
		return;
	}
	if (!w->first[d])
		put_char(w, ',');
	w->first[d] = false;
	put_string(w, key, strlen(key));
	put_char(w, ':');
	w->after_key = true;
}

void json__strn(struct json_writer *w, const char *s, size_t n)
{
	if (!s)
		json__null(w);
	else if (begin_value(w))
		put_string(w, s, n);
}

void json__str(struct json_writer *w, const char *s)
{
	json__strn(w, s, s ? strlen(s) : 0);
}

/* Writes a value that needs no escaping, such as a number or a literal. */
static void put_raw_value(struct json_writer *w, const char *s, int n)
{
	if (n > 0 && begin_value(w))
		put(w, s, (size_t)n);
}

/*
 * Numbers are most of a record's bytes and, through snprintf, most of the
 * time spent writing it (a futex storm of 1M events/s): written by hand.
 * Each fills buf from its end and returns where the text starts.
 */
static char *fmt_u64(char *end, unsigned long long v)
{
	do
		*--end = (char)('0' + v % 10);
	while (v /= 10);
	return end;
}

void json__int(struct json_writer *w, long long v)
{
	char buf[24], *end = buf + sizeof(buf), *p;

	/* the magnitude of LLONG_MIN does not fit in a long long, but does in unsigned */
	p = fmt_u64(end, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v);
	if (v < 0)
		*--p = '-';
	put_raw_value(w, p, (int)(end - p));
}

void json__uint(struct json_writer *w, unsigned long long v)
{
	char buf[24], *end = buf + sizeof(buf), *p = fmt_u64(end, v);

	put_raw_value(w, p, (int)(end - p));
}

void json__milli(struct json_writer *w, unsigned long long v)
{
	char buf[32], *end = buf + sizeof(buf), *p = fmt_u64(end - 4, v / 1000);
	unsigned r = (unsigned)(v % 1000);

	end[-4] = '.';
	end[-3] = (char)('0' + r / 100);
	end[-2] = (char)('0' + r / 10 % 10);
	end[-1] = (char)('0' + r % 10);
	put_raw_value(w, p, (int)(end - p));
}

void json__kv_milli(struct json_writer *w, const char *key, unsigned long long v)
{
	json__key(w, key);
	json__milli(w, v);
}

void json__hex(struct json_writer *w, unsigned long long v)
{
	static const char digits[] = "0123456789abcdef";
	char buf[24], *end = buf + sizeof(buf), *p = end;

	*--p = '"';
	do
		*--p = digits[v & 0xf];
	while (v >>= 4);
	*--p = 'x';
	*--p = '0';
	*--p = '"';
	put_raw_value(w, p, (int)(end - p));
}

void json__bool(struct json_writer *w, bool v)
{
	if (v)
		put_raw_value(w, "true", 4);
	else
		put_raw_value(w, "false", 5);
}

void json__null(struct json_writer *w)
{
	put_raw_value(w, "null", 4);
}

void json__kv_str(struct json_writer *w, const char *key, const char *s)
{
	json__key(w, key);
	json__str(w, s);
}

void json__kv_strn(struct json_writer *w, const char *key, const char *s, size_t n)
{
	json__key(w, key);
	json__strn(w, s, n);
}

void json__kv_int(struct json_writer *w, const char *key, long long v)
{
	json__key(w, key);
	json__int(w, v);
}

void json__kv_uint(struct json_writer *w, const char *key, unsigned long long v)
{
	json__key(w, key);
	json__uint(w, v);
}

void json__kv_bool(struct json_writer *w, const char *key, bool v)
{
	json__key(w, key);
	json__bool(w, v);
}

void json__kv_hex(struct json_writer *w, const char *key, unsigned long long v)
{
	json__key(w, key);
	json__hex(w, v);
}

void json__kv_null(struct json_writer *w, const char *key)
{
	json__key(w, key);
	json__null(w);
}

int json__end_record(struct json_writer *w)
{
	int err = w->err;

	if (!err && (w->depth || w->first[0]))
		err = -EINVAL;
	if (!err) {
		put_char(w, '\n');
		err = w->err;
	}
	if (!err && w->sink) {
		err = w->sink(w->sink_ctx, w->buf, w->len, !w->droppable);
	} else if (!err) {
		errno = 0;
		if (fwrite(w->buf, 1, w->len, w->out) != w->len)
			err = errno ? -errno : -EIO;
		if (!w->batched && !err)
			err = json__flush(w);
	}
	reset(w);
	return err;
}

void json__batch_flushes(struct json_writer *w)
{
	w->batched = true;
}

void json__set_sink(struct json_writer *w, json_sink_fn *sink, void *ctx)
{
	w->sink = sink;
	w->sink_ctx = ctx;
}

void json__droppable(struct json_writer *w)
{
	w->droppable = true;
}

int json__flush(struct json_writer *w)
{
	if (w->sink)
		return 0; /* the sink writes as it can */
	errno = 0;
	if (fflush(w->out))
		return errno ? -errno : -EIO;
	return 0;
}
