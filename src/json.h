/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A streaming NDJSON writer: one record (one JSON value) per line.
 *
 * A record is built in memory and handed to the FILE with a single fwrite() in
 * json__end_record(), so a record is either written whole or not at all.
 * Commas and colons are inserted automatically; output is compact.
 *
 * Strings are escaped so that the output is always valid UTF-8 and valid JSON
 * whatever the input bytes (thread names are attacker-controlled): every
 * control character (C0, DEL and C1) is escaped, U+2028/U+2029 are escaped,
 * and every byte that is not part of a well-formed UTF-8 sequence becomes
 * U+FFFD.
 *
 * Misuse (a value in an object without a key, an unbalanced end, nesting past
 * JSON_MAX_DEPTH, a second top-level value) never crashes and never emits
 * malformed JSON: the writer marks the record broken, ignores the rest of it
 * and json__end_record() drops it and returns -EINVAL. The writer is then
 * ready for the next record. A writer is not thread-safe.
 */
#ifndef TANGLE_JSON_H
#define TANGLE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json_writer;

/* Returns NULL and sets errno on failure. The writer does not own @out. */
struct json_writer *json__new(FILE *out);
/* Accepts NULL. Drops an unfinished record; does not close the FILE. */
void json__free(struct json_writer *w);

void json__begin_object(struct json_writer *w);
void json__end_object(struct json_writer *w);
void json__begin_array(struct json_writer *w);
void json__end_array(struct json_writer *w);

void json__key(struct json_writer *w, const char *key);

/* A NULL @s is written as null. */
void json__str(struct json_writer *w, const char *s);
/* Exactly @n bytes of @s, which may contain NUL (written as \u0000); NULL is null. */
void json__strn(struct json_writer *w, const char *s, size_t n);
void json__int(struct json_writer *w, long long v);
void json__uint(struct json_writer *w, unsigned long long v);
void json__bool(struct json_writer *w, bool v);
void json__null(struct json_writer *w);
/* A string such as "0x55d0c0a010a0": lowercase, no padding. */
void json__hex(struct json_writer *w, unsigned long long v);
/* v / 1000 as a decimal number with 3 decimals: ns written as us ("12.345"). */
void json__milli(struct json_writer *w, unsigned long long v);
void json__kv_milli(struct json_writer *w, const char *key, unsigned long long v);

void json__kv_str(struct json_writer *w, const char *key, const char *s);
void json__kv_strn(struct json_writer *w, const char *key, const char *s, size_t n);
void json__kv_int(struct json_writer *w, const char *key, long long v);
void json__kv_uint(struct json_writer *w, const char *key, unsigned long long v);
void json__kv_bool(struct json_writer *w, const char *key, bool v);
void json__kv_hex(struct json_writer *w, const char *key, unsigned long long v);
void json__kv_null(struct json_writer *w, const char *key);

/*
 * Finishes the record: it must hold exactly one complete value (depth 0).
 * Writes it and '\n' with one fwrite() and flushes (unless the writer was
 * told json__batch_flushes()). Returns 0, -EINVAL for a
 * broken, unfinished or empty record (nothing is written), -ENOMEM if the
 * record could not be buffered, or the -errno of the failed write or flush
 * (e.g. -EPIPE). The writer is reset for the next record in every case.
 */
int json__end_record(struct json_writer *w);

/*
 * From now on json__end_record() leaves the records in the FILE's buffer
 * and the caller flushes them with json__flush(), e.g. once per batch of
 * events: at a million records a second a write() each costs more than
 * making them. Returns what fflush() did, as json__end_record() does.
 */
void json__batch_flushes(struct json_writer *w);
int json__flush(struct json_writer *w);

/*
 * Records go to sink(ctx, line, len, keep) instead of the FILE (json__flush
 * then does nothing): an output queue, say. keep is false for a record the
 * caller marked json__droppable() while building it. The sink returns 0 or
 * -errno, which json__end_record() returns.
 */
typedef int json_sink_fn(void *ctx, const char *line, size_t len, bool keep);
void json__set_sink(struct json_writer *w, json_sink_fn *sink, void *ctx);
/* The current record may be dropped by the sink if it must (json__set_sink). */
void json__droppable(struct json_writer *w);

#endif /* TANGLE_JSON_H */
