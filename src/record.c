// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "record.h"

/*
 * The fuzz build (make fuzz) takes every checksum for good: a mutated file
 * then reaches the record parsers instead of stopping at the first block.
 */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHECKSUM_BAD(want, got) ((void)(want), (void)(got), false)
#else
#define CHECKSUM_BAD(want, got) ((want) != (got))
#endif

static uint32_t crc(const void *p, size_t len)
{
	return (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)len);
}

void rec_header__init(struct rec_file_header *h)
{
	memcpy(h->magic, REC_MAGIC, sizeof(h->magic));
	h->format_version = REC_FORMAT_VERSION;
	h->abi_version = TANGLE_ABI_VERSION;
	h->header_size = sizeof(*h);
	h->ev_sizes[0] = sizeof(struct tangle_ev_hdr);
	h->ev_sizes[1] = sizeof(struct tangle_ev_wait_begin);
	h->ev_sizes[2] = sizeof(struct tangle_ev_wait_end);
	h->ev_sizes[3] = sizeof(struct tangle_ev_task);
	h->ev_sizes[4] = sizeof(struct tangle_thread_info);
}

const char *rec_type_name(uint16_t type)
{
	static const char *const names[REC_TYPE_MAX] = {
		[REC_EVENT] = "event",
		[REC_THREAD] = "thread",
		[REC_WAIT] = "wait",
		[REC_WAIT_LOST] = "wait_lost",
		[REC_OWNER] = "owner",
		[REC_SCHED] = "sched",
		[REC_TICK] = "tick",
		[REC_TICK_END] = "tick_end",
		[REC_PLACE] = "place",
		[REC_STACK] = "stack",
		[REC_LOST] = "lost",
		[REC_END] = "end",
		[REC_GO_OPTS] = "go_opts",
		[REC_GO_PROC] = "go_proc",
		[REC_GO_SNAP] = "go_snap",
		[REC_GO_G] = "go_g",
		[REC_GO_SAME] = "go_same",
		[REC_GO_FRAMES] = "go_frames",
		[REC_GO_VERDICT] = "go_verdict",
		[REC_GO_SNAP_END] = "go_snap_end",
		[REC_GO_GONE] = "go_gone",
	};

	return type < REC_TYPE_MAX && names[type] ? names[type] : "unknown";
}

/* ---- writing ---- */

struct rec_writer {
	FILE *f;
	uint8_t *buf; /* the open block's payload */
	size_t len, cap;
	uint32_t nr_records, index;
	uint64_t first_ts, last_ts;
	uint64_t bytes; /* in the file */
	size_t open_at; /* rec_writer__begin: where the open record starts; SIZE_MAX: none */
	int err;
};

struct rec_writer *rec_writer__open(const char *path, const struct rec_file_header *h)
{
	struct rec_writer *w = calloc(1, sizeof(*w));
	struct rec_file_header hdr = *h;

	if (!w)
		return NULL;
	w->open_at = SIZE_MAX;
	w->cap = REC_BLOCK_TARGET * 2;
	w->buf = malloc(w->cap);
	w->f = w->buf ? fopen(path, "we") : NULL;
	if (!w->f)
		goto fail;
	hdr.header_crc = crc(&hdr, offsetof(struct rec_file_header, header_crc));
	if (fwrite(&hdr, sizeof(hdr), 1, w->f) != 1 || fflush(w->f))
		goto fail;
	w->bytes = sizeof(hdr);
	return w;
fail: {
	int e = errno ? errno : EIO;

	if (w->f)
		fclose(w->f);
	free(w->buf);
	free(w);
	errno = e;
	return NULL;
}
}

static int reserve(struct rec_writer *w, size_t more)
{
	uint8_t *grown;
	size_t cap = w->cap;

	if (w->len + more <= w->cap)
		return 0;
	while (cap < w->len + more)
		cap *= 2;
	grown = realloc(w->buf, cap);
	if (!grown)
		return -ENOMEM;
	w->buf = grown;
	w->cap = cap;
	return 0;
}

int rec_writer__flush(struct rec_writer *w)
{
	struct rec_block_header bh = { .magic = REC_BLOCK_MAGIC };

	if (w->err)
		return w->err;
	if (!w->nr_records)
		return 0;
	bh.payload_len = (uint32_t)w->len;
	bh.payload_crc = crc(w->buf, w->len);
	bh.nr_records = w->nr_records;
	bh.first_ts_ns = w->first_ts;
	bh.last_ts_ns = w->last_ts;
	bh.index = w->index++;
	bh.header_crc = crc(&bh, offsetof(struct rec_block_header, header_crc));
	if (fwrite(&bh, sizeof(bh), 1, w->f) != 1 ||
	    (w->len && fwrite(w->buf, w->len, 1, w->f) != 1) || fflush(w->f)) {
		w->err = -(errno ? errno : EIO);
		return w->err;
	}
	w->bytes += sizeof(bh) + w->len;
	w->len = 0;
	w->nr_records = 0;
	return 0;
}

void rec_writer__begin(struct rec_writer *w, uint16_t type, uint64_t ts_ns)
{
	struct rec_hdr h = { .type = type, .ts_ns = ts_ns };

	if (w->err)
		return;
	if (reserve(w, sizeof(h))) {
		w->err = -ENOMEM;
		return;
	}
	w->open_at = w->len;
	memcpy(w->buf + w->len, &h, sizeof(h));
	w->len += sizeof(h);
}

void rec_writer__put(struct rec_writer *w, const void *p, size_t len)
{
	if (w->err || w->open_at == SIZE_MAX || !len)
		return;
	if (reserve(w, len)) {
		w->err = -ENOMEM;
		return;
	}
	memcpy(w->buf + w->len, p, len);
	w->len += len;
}

void rec_writer__put_str(struct rec_writer *w, const char *s)
{
	uint16_t n = REC_STR_NONE;

	if (s) {
		size_t len = strlen(s);

		n = (uint16_t)(len > REC_STR_MAX ? REC_STR_MAX : len);
	}
	rec_writer__put(w, &n, sizeof(n));
	if (s)
		rec_writer__put(w, s, n);
}

int rec_writer__end(struct rec_writer *w)
{
	struct rec_hdr h;
	size_t size;

	if (w->err)
		return w->err;
	if (w->open_at == SIZE_MAX)
		return -EINVAL;
	size = w->len - w->open_at;
	/* records are small; one this large is dropped (a block stays under REC_BLOCK_MAX) */
	if (size > REC_BLOCK_MAX / 2) {
		w->len = w->open_at;
		w->open_at = SIZE_MAX;
		return -E2BIG;
	}
	/* records are packed, so the header is copied out and back, never cast in place */
	memcpy(&h, w->buf + w->open_at, sizeof(h));
	h.size = (uint32_t)size;
	memcpy(w->buf + w->open_at, &h, sizeof(h));
	if (!w->nr_records++)
		w->first_ts = h.ts_ns;
	w->last_ts = h.ts_ns;
	w->open_at = SIZE_MAX;
	if (w->len >= REC_BLOCK_TARGET)
		return rec_writer__flush(w);
	return 0;
}

size_t rec_writer__offset(const struct rec_writer *w)
{
	return w->len;
}

void rec_writer__patch(struct rec_writer *w, size_t at, const void *p, size_t len)
{
	if (w->err || w->open_at == SIZE_MAX || at < w->open_at || at > w->len || len > w->len - at)
		return;
	memcpy(w->buf + at, p, len);
}

int rec_writer__add(struct rec_writer *w, uint16_t type, uint64_t ts_ns, const void *body,
		    size_t len)
{
	rec_writer__begin(w, type, ts_ns);
	rec_writer__put(w, body, len);
	return rec_writer__end(w);
}

uint64_t rec_writer__bytes(const struct rec_writer *w)
{
	return w->bytes + (w->len ? sizeof(struct rec_block_header) + w->len : 0);
}

int rec_writer__close(struct rec_writer *w)
{
	int err;

	if (!w)
		return 0;
	err = rec_writer__flush(w);
	if (fclose(w->f) && !err)
		err = -(errno ? errno : EIO);
	free(w->buf);
	free(w);
	return err;
}

/* ---- reading ---- */

struct rec_reader {
	FILE *f;
	char name[256];
	struct rec_file_header hdr;
	uint8_t *buf; /* the current block's payload */
	size_t len, pos;
	uint32_t left; /* records left in the current block */
	uint64_t offset; /* of the next block in the file */
	uint64_t blocks, records;
	bool failed;
	char error[512];
};

static void set_error(struct rec_reader *r, const char *what)
{
	snprintf(r->error, sizeof(r->error),
		 "%s: %s at byte %llu (block %llu); the %llu records before it were read", r->name,
		 what, (unsigned long long)r->offset, (unsigned long long)r->blocks,
		 (unsigned long long)r->records);
	r->failed = true;
}

struct rec_reader *rec_reader__open(FILE *f, const char *name, char *why, size_t why_len)
{
	struct rec_reader *r = calloc(1, sizeof(*r));
	struct rec_file_header *h;
	size_t got;

	if (!r) {
		snprintf(why, why_len, "%s", strerror(ENOMEM));
		fclose(f);
		return NULL;
	}
	r->f = f;
	snprintf(r->name, sizeof(r->name), "%s", name);
	h = &r->hdr;
	got = fread(h, 1, sizeof(*h), f);
	if (got < sizeof(h->magic) || memcmp(h->magic, REC_MAGIC, sizeof(h->magic))) {
		snprintf(why, why_len, "%s: not a tangle recording (no %s magic)", name, REC_MAGIC);
		goto fail;
	}
	if (got < offsetof(struct rec_file_header, header_size) + sizeof(h->header_size)) {
		snprintf(why, why_len, "%s: truncated in its file header", name);
		goto fail;
	}
	if (h->format_version != REC_FORMAT_VERSION || h->header_size != sizeof(*h)) {
		snprintf(why, why_len,
			 "%s: record format version %u (header %u bytes); this tangle reads "
			 "version %u",
			 name, h->format_version, h->header_size, REC_FORMAT_VERSION);
		goto fail;
	}
	if (got < sizeof(*h)) {
		snprintf(why, why_len, "%s: truncated in its file header", name);
		goto fail;
	}
	if (CHECKSUM_BAD(h->header_crc, crc(h, offsetof(struct rec_file_header, header_crc)))) {
		snprintf(why, why_len, "%s: the file header fails its checksum", name);
		goto fail;
	}
	if (h->abi_version != TANGLE_ABI_VERSION) {
		snprintf(why, why_len,
			 "%s: recorded events are of ABI version %u; this tangle reads %u", name,
			 h->abi_version, TANGLE_ABI_VERSION);
		goto fail;
	}
	h->tool_version[sizeof(h->tool_version) - 1] = '\0';
	h->hostname[sizeof(h->hostname) - 1] = '\0';
	h->kernel[sizeof(h->kernel) - 1] = '\0';
	r->offset = sizeof(*h);
	return r;
fail:
	rec_reader__close(r);
	return NULL;
}

void rec_reader__close(struct rec_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->buf);
	free(r);
}

const struct rec_file_header *rec_reader__header(const struct rec_reader *r)
{
	return &r->hdr;
}

const char *rec_reader__error(const struct rec_reader *r)
{
	return r->error[0] ? r->error : NULL;
}

uint64_t rec_reader__blocks(const struct rec_reader *r)
{
	return r->blocks;
}

uint64_t rec_reader__records(const struct rec_reader *r)
{
	return r->records;
}

/* The next block into r->buf: 1, 0 at a clean end, -EBADMSG. */
static int next_block(struct rec_reader *r)
{
	struct rec_block_header bh;
	size_t got = fread(&bh, 1, sizeof(bh), r->f);
	uint8_t *buf;

	if (got == 0 && feof(r->f))
		return 0;
	if (got < sizeof(bh)) {
		set_error(r, ferror(r->f) ? "read error" : "truncated in a block header");
		return -EBADMSG;
	}
	if (bh.magic != REC_BLOCK_MAGIC ||
	    CHECKSUM_BAD(bh.header_crc, crc(&bh, offsetof(struct rec_block_header, header_crc)))) {
		set_error(r, "a damaged block header (bad magic or checksum)");
		return -EBADMSG;
	}
	if (bh.payload_len > REC_BLOCK_MAX ||
	    bh.payload_len < bh.nr_records * sizeof(struct rec_hdr)) {
		set_error(r, "a block of impossible size");
		return -EBADMSG;
	}
	if (bh.index != r->blocks) {
		set_error(r, "a block out of sequence");
		return -EBADMSG;
	}
	buf = realloc(r->buf, bh.payload_len ? bh.payload_len : 1);
	if (!buf) {
		set_error(r, "out of memory reading a block");
		return -EBADMSG;
	}
	r->buf = buf;
	if (fread(r->buf, 1, bh.payload_len, r->f) != bh.payload_len) {
		set_error(r, "truncated in a block (the recording was cut short)");
		return -EBADMSG;
	}
	if (CHECKSUM_BAD(bh.payload_crc, crc(r->buf, bh.payload_len))) {
		set_error(r, "a block that fails its checksum (corrupt data)");
		return -EBADMSG;
	}
	r->len = bh.payload_len;
	r->pos = 0;
	r->left = bh.nr_records;
	r->offset += sizeof(bh) + bh.payload_len;
	r->blocks++;
	return 1;
}

int rec_reader__next(struct rec_reader *r, struct rec *out)
{
	struct rec_hdr h;

	if (r->failed)
		return -EBADMSG;
	while (!r->left) {
		int n;

		if (r->pos != r->len) {
			set_error(r, "a block with bytes after its last record");
			return -EBADMSG;
		}
		n = next_block(r);
		if (n <= 0)
			return n;
	}
	if (r->len - r->pos < sizeof(h)) {
		set_error(r, "a block whose records overrun it");
		return -EBADMSG;
	}
	memcpy(&h, r->buf + r->pos, sizeof(h));
	if (h.size < sizeof(h) || h.size > r->len - r->pos) {
		set_error(r, "a record of impossible size");
		return -EBADMSG;
	}
	out->type = h.type;
	out->ts_ns = h.ts_ns;
	out->body = r->buf + r->pos + sizeof(h);
	out->len = h.size - sizeof(h);
	r->pos += h.size;
	r->left--;
	r->records++;
	return 1;
}

/* ---- parsing bodies ---- */

void rec_cursor__init(struct rec_cursor *c, const struct rec *r)
{
	c->p = r->body;
	c->left = r->len;
	c->bad = false;
}

void rec_cursor__get(struct rec_cursor *c, void *out, size_t len)
{
	if (c->bad || c->left < len) {
		c->bad = true;
		memset(out, 0, len);
		return;
	}
	memcpy(out, c->p, len);
	c->p += len;
	c->left -= len;
}

void rec_cursor__get_str(struct rec_cursor *c, char *buf, size_t len, bool *present)
{
	uint16_t n;
	size_t keep;

	*present = false;
	buf[0] = '\0';
	rec_cursor__get(c, &n, sizeof(n));
	if (c->bad || n == REC_STR_NONE)
		return;
	if (n > REC_STR_MAX || n > c->left) {
		c->bad = true;
		return;
	}
	keep = n < len - 1 ? n : len - 1;
	memcpy(buf, c->p, keep);
	buf[keep] = '\0';
	c->p += n;
	c->left -= n;
	*present = true;
}
