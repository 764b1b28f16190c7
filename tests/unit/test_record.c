// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the record file (src/record.c): what is written reads back
 * the same, across several blocks; and a file cut short at any byte, or
 * with any single byte flipped, reads back exactly its intact blocks, then
 * says what is wrong and where, never more and never a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "record.h"
#include "test.h"

#define NRECS 3000 /* ~ 100 KiB: a few blocks with REC_BLOCK_TARGET lowered by size */

static char path[64];

static void make_path(void)
{
	snprintf(path, sizeof(path), "/tmp/tangle-test-record-%d.tgr", (int)getpid());
}

/* Record i: type, time and a body of i % 200 bytes that say i. */
static void body_of(size_t i, uint8_t *buf, size_t *len)
{
	*len = i % 200;
	for (size_t j = 0; j < *len; j++)
		buf[j] = (uint8_t)(i + j);
}

static size_t write_file(size_t nrecs)
{
	struct rec_file_header h = {};
	struct rec_writer *w;
	uint8_t body[256];
	size_t len;

	rec_header__init(&h);
	snprintf(h.hostname, sizeof(h.hostname), "unit");
	w = rec_writer__open(path, &h);
	ASSERT_TRUE(w != NULL, "writer opens");
	if (!w)
		return 0;
	for (size_t i = 0; i < nrecs; i++) {
		body_of(i, body, &len);
		ASSERT_OK(rec_writer__add(w, (uint16_t)(1 + i % 11), 1000 + i, body, len), "add");
		if (i % 700 == 699)
			ASSERT_OK(rec_writer__flush(w), "flush"); /* a block boundary */
	}
	rec_writer__begin(w, REC_PLACE, 5);
	rec_writer__put_str(w, "lock_a");
	rec_writer__put_str(w, NULL);
	ASSERT_OK(rec_writer__end(w), "pieces");
	ASSERT_OK(rec_writer__close(w), "close");
	return nrecs + 1;
}

static uint8_t *slurp(size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

/*
 * Read buf (len bytes) to the end; returns records read, *rc the last
 * result. Every record read must be the one written at that position.
 */
static size_t read_all(const uint8_t *buf, size_t len, int *rc, char *why, size_t why_len,
		       bool *opened)
{
	FILE *f = fmemopen((void *)buf, len ? len : 1, "rb");
	struct rec_reader *r;
	struct rec rec;
	size_t n = 0;
	uint8_t body[256];
	size_t blen;

	*opened = false;
	if (!len) /* fmemopen of 0 bytes: an empty file */
		f = fopen("/dev/null", "rb");
	r = rec_reader__open(f, "mem", why, why_len);
	if (!r) {
		*rc = -EINVAL;
		return 0;
	}
	*opened = true;
	while ((*rc = rec_reader__next(r, &rec)) > 0) {
		if (n < NRECS) {
			body_of(n, body, &blen);
			if (rec.type != 1 + n % 11 || rec.ts_ns != 1000 + n || rec.len != blen ||
			    memcmp(rec.body, body, blen)) {
				ASSERT_TRUE(false,
					    "a record read back differs from the one written");
				break;
			}
		}
		n++;
	}
	if (*rc < 0)
		snprintf(why, why_len, "%s", rec_reader__error(r));
	rec_reader__close(r);
	return n;
}

TEST(roundtrip)
{
	size_t len, total, n;
	uint8_t *buf;
	char why[512];
	bool opened;
	int rc;

	make_path();
	total = write_file(NRECS);
	buf = slurp(&len);
	ASSERT_TRUE(buf != NULL, "file read");
	n = read_all(buf, len, &rc, why, sizeof(why), &opened);
	ASSERT_EQ(n, total, "every record back");
	ASSERT_EQ(rc, 0, "clean end");
	free(buf);
	unlink(path);
}

TEST(pieces_and_strings)
{
	struct rec_reader *r;
	struct rec_cursor c;
	struct rec rec;
	char s[16], why[256];
	bool present;

	make_path();
	write_file(10);
	r = rec_reader__open(fopen(path, "rb"), path, why, sizeof(why));
	ASSERT_TRUE(r != NULL, "opens");
	if (!r)
		return;
	ASSERT_STREQ(rec_reader__header(r)->hostname, "unit", "header");
	while (rec_reader__next(r, &rec) > 0 && rec.ts_ns != 5)
		;
	ASSERT_EQ(rec.type, REC_PLACE, "last record");
	rec_cursor__init(&c, &rec);
	rec_cursor__get_str(&c, s, sizeof(s), &present);
	ASSERT_TRUE(present, "string");
	ASSERT_STREQ(s, "lock_a", "string value");
	rec_cursor__get_str(&c, s, sizeof(s), &present);
	ASSERT_FALSE(present, "NULL string");
	ASSERT_FALSE(c.bad, "cursor fine");
	rec_cursor__get_str(&c, s, sizeof(s), &present);
	ASSERT_TRUE(c.bad, "reading past the end fails");
	rec_reader__close(r);
	unlink(path);
}

/* Cut the file at every length: the intact blocks come back, then a clear error. */
TEST(truncated_everywhere)
{
	size_t len, total, prev = 0;
	uint8_t *buf;
	char why[512];
	bool opened;
	int rc;

	make_path();
	total = write_file(NRECS);
	buf = slurp(&len);
	if (!buf)
		return;
	for (size_t cut = 0; cut < len; cut += (cut < 400 ? 1 : 97)) {
		size_t n = read_all(buf, cut, &rc, why, sizeof(why), &opened);

		if (!opened) {
			ASSERT_TRUE(cut < sizeof(struct rec_file_header),
				    "only a cut header fails open");
			ASSERT_TRUE(strstr(why, "mem") != NULL, "the reason names the file");
			continue;
		}
		if (cut == sizeof(struct rec_file_header)) {
			ASSERT_EQ(rc, 0, "a header alone is an empty recording");
			continue;
		}
		ASSERT_TRUE(n < total, "a cut file has fewer records");
		ASSERT_TRUE(n >= prev, "a longer prefix never reads less");
		prev = n;
		if (rc == 0)
			continue; /* cut exactly between blocks */
		ASSERT_EQ(rc, -EBADMSG, "damage reported");
		ASSERT_TRUE(strstr(why, "truncated") != NULL, "says truncated");
	}
	free(buf);
	unlink(path);
}

/* Flip one byte anywhere: what precedes the damaged block reads back, then an error. */
TEST(corrupt_everywhere)
{
	size_t len, total;
	uint8_t *buf;
	char why[512];
	bool opened;
	int rc;

	make_path();
	total = write_file(NRECS);
	buf = slurp(&len);
	if (!buf)
		return;
	for (size_t at = 0; at < len; at += (at < 400 ? 1 : 89)) {
		size_t n;

		buf[at] ^= 0x5a;
		n = read_all(buf, len, &rc, why, sizeof(why), &opened);
		buf[at] ^= 0x5a;
		if (!opened) {
			ASSERT_TRUE(at < sizeof(struct rec_file_header),
				    "only the header fails open");
			continue;
		}
		ASSERT_EQ(rc, -EBADMSG, "a flipped byte is always found");
		ASSERT_TRUE(n < total, "and nothing after it is read");
		ASSERT_TRUE(strstr(why, "byte") != NULL, "the error says where");
	}
	free(buf);
	unlink(path);
}

TEST(not_a_recording)
{
	static const char text[] = "{\"type\":\"meta\"}\n";
	char why[256];
	struct rec_reader *r = rec_reader__open(fmemopen((void *)text, sizeof(text), "rb"),
						"x.json", why, sizeof(why));

	ASSERT_TRUE(r == NULL, "refused");
	ASSERT_TRUE(strstr(why, "not a tangle recording") != NULL, "says why");
}

TEST_MAIN()
