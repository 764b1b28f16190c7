/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The record file (tangle record, tangle replay): everything a session fed
 * its model and detectors, in the order it fed them, so that a replay on
 * another machine reaches the same results.
 *
 * Layout: a file header (magic, format and ABI versions, host, kernel, clock
 * offsets, the sizes of the event structs), then blocks. A block is a header
 * (magic, payload length, CRC-32 of the payload, record count, first and last
 * timestamps, CRC-32 of the block header itself) and its payload: records,
 * each a struct rec_hdr and its body. Raw ring-buffer events are stored as
 * read (REC_EVENT); what the session learnt elsewhere (/proc at start, lock
 * owners, scheduler state, where a lock lives, stacks) has a record type of
 * its own. A reader stops at the first block that is truncated or fails its
 * checksum and says so; everything before it replays.
 *
 * Little-endian, fixed-width, explicitly padded: a file is read on machines
 * of the same byte order (x86-64, arm64). Plain C; I/O through stdio only.
 */
#ifndef TANGLE_RECORD_H
#define TANGLE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "tangle_abi.h"

#define REC_MAGIC "TANGLREC"
#define REC_FORMAT_VERSION 1
#define REC_BLOCK_MAGIC 0x4b4c4254u /* "TBLK" */
#define REC_BLOCK_MAX (1u << 20) /* a block's payload never exceeds this */
#define REC_BLOCK_TARGET (128u << 10) /* a block is closed once this full */
#define REC_STR_MAX 4095u /* a string is cut to this many bytes */
#define REC_STR_NONE 0xffffu /* the length of a NULL string */

enum rec_type {
	REC_EVENT = 1, /* a ring-buffer record as read (struct tangle_ev_*) */
	REC_THREAD = 2, /* struct rec_thread: found in /proc (at start, or a followed pid) */
	REC_WAIT = 3, /* struct rec_wait: a wait found in /proc, seeded */
	REC_WAIT_LOST = 4, /* struct rec_tid: a wait's end was lost; found over */
	REC_OWNER = 5, /* struct rec_owner: who holds what tid waits on */
	REC_SCHED = 6, /* struct rec_sched: scheduler state of a thread, from BPF */
	REC_TICK = 7, /* no body: the detectors run as of hdr.ts_ns */
	REC_TICK_END = 8, /* no body: the tick is over (views refresh, commands decide) */
	REC_PLACE = 9, /* struct rec_place and 3 strings: where a lock lives */
	REC_STACK = 10, /* struct rec_stack and frames: the stack of a wait */
	REC_LOST = 11, /* struct rec_lost, then rec_lost_cpu per CPU that dropped */
	REC_END = 12, /* struct rec_end: the recording ended cleanly */
	/*
	 * Goroutines (see "Goroutines" below): what the goroutine tracker and
	 * the evidence gave the stuck-goroutine detector, per snapshot.
	 */
	REC_GO_OPTS = 13, /* struct rec_go_opts: the detector's settings (first in a file) */
	REC_GO_PROC = 14, /* struct rec_go_proc and strings: a Go process */
	REC_GO_SNAP = 15, /* struct rec_go_snap: a snapshot of pid begins */
	REC_GO_G = 16, /* struct rec_go_chunk, then goroutines: part of the snapshot */
	REC_GO_SAME = 17, /* struct rec_go_chunk, then rec_go_ranges: as in pid's last snapshot */
	REC_GO_FRAMES = 18, /* struct rec_go_frames and frames: the names of a pc */
	REC_GO_VERDICT = 19, /* struct rec_go_verdict and a string: evidence on a goroutine */
	REC_GO_SNAP_END = 20, /* struct rec_go_pid: the snapshot is complete; judge it */
	REC_GO_GONE = 21, /* struct rec_go_pid: the process is no longer tracked */
	REC_TYPE_MAX,
};

struct rec_file_header {
	char magic[8]; /* REC_MAGIC, not terminated */
	uint32_t format_version; /* REC_FORMAT_VERSION */
	uint32_t abi_version; /* TANGLE_ABI_VERSION of the events */
	uint32_t header_size; /* sizeof(struct rec_file_header) */
	uint32_t seq; /* 0, then +1 for each file a rotation starts */
	uint64_t start_ns; /* CLOCK_MONOTONIC when the session attached */
	int64_t wall_offset_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	int64_t boot_offset_ns; /* CLOCK_BOOTTIME - CLOCK_MONOTONIC */
	uint16_t ev_sizes[8]; /* sizeof: ev_hdr, wait_begin, wait_end, task, thread_info */
	char tool_version[32];
	char hostname[64];
	char kernel[64];
	uint32_t filter_pids[16]; /* -p as given (0: none) */
	double stuck_after_s; /* the thread detector's minimum wait, in s, as it ran live */
	uint32_t flags; /* REC_F_* */
	uint32_t header_crc; /* CRC-32 of everything before it */
};

#define REC_F_GOROUTINES 0x1 /* goroutines were read, and are recorded (REC_GO_*) */

struct rec_block_header {
	uint32_t magic; /* REC_BLOCK_MAGIC */
	uint32_t payload_len;
	uint32_t payload_crc;
	uint32_t nr_records;
	uint64_t first_ts_ns;
	uint64_t last_ts_ns;
	uint32_t index; /* 0, 1, 2... in the file */
	uint32_t header_crc; /* CRC-32 of everything before it */
};

struct rec_hdr {
	uint16_t type; /* enum rec_type */
	uint16_t __pad;
	uint32_t size; /* the whole record, this header included */
	uint64_t ts_ns;
};

struct rec_thread {
	uint32_t pid, tid;
	uint8_t state; /* enum tangle_thread_state */
	uint8_t __pad[7];
	char comm[TANGLE_COMM_LEN];
};

struct rec_wait {
	uint32_t pid, tid;
	char comm[TANGLE_COMM_LEN];
	uint64_t addr, addr2, since_ns;
	uint32_t op, expected;
	uint8_t sys, nr_futexes, has_timeout, preblocked;
	uint32_t __pad;
};

struct rec_tid {
	uint32_t tid;
	uint32_t __pad;
};

struct rec_owner {
	uint32_t tid;
	uint32_t owner_tid;
	uint32_t owner_pid;
	uint8_t kind; /* enum lock_kind */
	uint8_t state; /* enum owner_state */
	uint8_t pshared, readers;
	uint64_t lock_addr;
	uint64_t wait_since_ns;
	uint64_t checked_ns;
};

struct rec_sched {
	uint32_t tid;
	uint32_t __pad;
	struct tangle_thread_info info;
};

/* Followed by symbol, module and region, each a uint16 length and bytes (0xffff: none). */
struct rec_place {
	uint32_t pid;
	uint32_t __pad;
	uint64_t addr;
};

/*
 * Followed by nr_user then nr_kernel frames, each a struct rec_frame and its
 * function, file and module, each a uint16 length and bytes.
 */
struct rec_stack {
	uint32_t pid, tid;
	uint64_t since_ns;
	uint32_t sample_every;
	uint16_t nr_user, nr_kernel;
	uint8_t truncated, kernel_taken;
	uint8_t __pad[6];
};

struct rec_frame {
	uint64_t addr;
	uint64_t offset;
	int32_t line;
	uint8_t inlined;
	uint8_t __pad[3];
};

struct rec_lost {
	uint32_t reason; /* enum tangle_drop_reason */
	uint32_t __pad;
	uint64_t count, total;
};

/* Where the drops of a rec_lost happened (none in files of before per-CPU reports). */
struct rec_lost_cpu {
	uint32_t cpu;
	uint32_t __pad;
	uint64_t count;
};

struct rec_end {
	uint64_t events; /* ring-buffer records decoded */
	uint64_t lost; /* events the kernel dropped, all reasons */
};

/*
 * Goroutines. Each snapshot of a Go process is REC_GO_SNAP, then its
 * goroutines in chunks (REC_GO_G in full, REC_GO_SAME by goid range for those
 * recorded identical in the process's previous snapshot of this file), the
 * names of pcs not named yet in this file (REC_GO_FRAMES), the evidence
 * the detector asked for (REC_GO_VERDICT), and REC_GO_SNAP_END. A process
 * is described (REC_GO_PROC) before its first snapshot in a file.
 */
struct rec_go_opts {
	uint64_t stuck_after_ns, growth_window_ns; /* 0: the defaults */
	uint64_t growth_min;
};

/* Followed by exe, version, then nr_reasons wait reason strings. */
struct rec_go_proc {
	uint32_t pid;
	int32_t minor;
	uint8_t stripped, cgo;
	uint16_t nr_reasons;
	uint32_t __pad;
};

struct rec_go_snap {
	uint32_t pid;
	uint32_t __pad;
	uint64_t ts_ns; /* when it was taken (the record's own time is when it was written) */
	uint64_t n; /* goroutines in all */
	uint64_t cost_ns, cpu_ns;
	uint64_t nr_allgs, nr_retried, nr_reused;
};

struct rec_go_chunk {
	uint32_t pid;
	uint32_t nr;
};

/*
 * REC_GO_SAME: goids first..first + n - 1, each as it was in the process's
 * last snapshot; the ranges of a snapshot ascend and do not overlap.
 */
struct rec_go_range {
	uint64_t first, n;
};

#define REC_GO_SCAN 0x1
#define REC_GO_SYSTEM 0x2
#define REC_GO_LOCKED 0x4
#define REC_GO_STACK_UNAVAILABLE 0x8

/* Followed by nr_pcs pcs (uint64), then nr_labels keys and values (strings). */
struct rec_go_g {
	uint64_t g, goid, parent_goid;
	int64_t waitsince;
	uint64_t gopc, startpc, sched_pc, labels_ptr, obj_addr;
	uint32_t status, tid, locked_tid, nr_objs;
	uint16_t nr_pcs, nr_labels;
	uint8_t wait_reason_raw, obj, flags; /* REC_GO_* */
	uint8_t __pad;
};

/* Followed by n struct rec_frame and their strings, as in a stack. */
struct rec_go_frames {
	uint32_t pid;
	uint8_t is_return;
	uint8_t n;
	uint16_t __pad;
	uint64_t pc;
};

/* Followed by the object's name (a string, none: NULL). */
struct rec_go_verdict {
	uint32_t pid;
	uint32_t reach; /* enum go_reach, as judged */
	uint64_t goid, addr;
	uint64_t since_ns; /* no progress since (snapshot clock), 0 if none: still for ts - this */
};

struct rec_go_pid {
	uint32_t pid;
	uint32_t __pad;
};

#define REC_GO_MAX_FRAMES 32 /* names of one pc, at most (inlined calls expanded) */
#define REC_GO_MAX_LABELS \
	32 /* recorded per goroutine, at most (an entry stays far below a block) */

_Static_assert(sizeof(struct rec_go_g) == 96, "rec_go_g size");
_Static_assert(sizeof(struct rec_go_snap) == 64, "rec_go_snap size");
_Static_assert(sizeof(struct rec_file_header) == 8 + 16 + 24 + 16 + 32 + 128 + 64 + 8 + 8,
	       "rec_file_header size");
_Static_assert(sizeof(struct rec_block_header) == 40, "rec_block_header size");
_Static_assert(sizeof(struct rec_hdr) == 16, "rec_hdr size");
_Static_assert(sizeof(struct rec_thread) == 32, "rec_thread size");
_Static_assert(sizeof(struct rec_wait) == 64, "rec_wait size");
_Static_assert(sizeof(struct rec_owner) == 40, "rec_owner size");
_Static_assert(sizeof(struct rec_sched) == 48, "rec_sched size");
_Static_assert(sizeof(struct rec_stack) == 32, "rec_stack size");
_Static_assert(sizeof(struct rec_frame) == 24, "rec_frame size");

/* Fill the parts of a header every file has (magic, versions, sizes). */
void rec_header__init(struct rec_file_header *h);

/* ---- writing ---- */

struct rec_writer;

/*
 * Create path (truncating it) and write h. max_bytes: once the file would
 * grow past it, rec_writer__full() says so (the caller rotates). NULL and
 * errno on failure.
 */
struct rec_writer *rec_writer__open(const char *path, const struct rec_file_header *h);
/* Append a record (body of len bytes, maybe 0). 0 or -errno (the file is then unusable). */
int rec_writer__add(struct rec_writer *w, uint16_t type, uint64_t ts_ns, const void *body,
		    size_t len);
/* Append a record whose body is built in pieces: begin, then put, then end. */
void rec_writer__begin(struct rec_writer *w, uint16_t type, uint64_t ts_ns);
void rec_writer__put(struct rec_writer *w, const void *p, size_t len);
/* A string as a uint16 length and its bytes, NULL as 0xffff; cut at 4095 bytes. */
void rec_writer__put_str(struct rec_writer *w, const char *s);
int rec_writer__end(struct rec_writer *w);
/* Where the next byte put goes; rec_writer__patch rewrites bytes put there, before the end. */
size_t rec_writer__offset(const struct rec_writer *w);
void rec_writer__patch(struct rec_writer *w, size_t at, const void *p, size_t len);
/* Close the current block and hand it to the kernel. 0 or -errno. */
int rec_writer__flush(struct rec_writer *w);
/* Bytes in the file, blocks not yet flushed included. */
uint64_t rec_writer__bytes(const struct rec_writer *w);
/* Flush and close; 0 or -errno. Accepts NULL. */
int rec_writer__close(struct rec_writer *w);

/* ---- reading ---- */

struct rec_reader;

/* A record as read: valid until the next call of rec_reader__next. */
struct rec {
	uint16_t type;
	uint64_t ts_ns;
	const uint8_t *body;
	size_t len;
};

/*
 * Read the header of f (the reader owns f from now on and closes it). NULL
 * and a reason in why when f is not a tangle recording, or one of a format
 * this build cannot read.
 */
struct rec_reader *rec_reader__open(FILE *f, const char *name, char *why, size_t why_len);
void rec_reader__close(struct rec_reader *r); /* accepts NULL */
const struct rec_file_header *rec_reader__header(const struct rec_reader *r);
/*
 * The next record: 1, 0 at the end of the file, or -EBADMSG when the rest of
 * the file is damaged (truncated, a checksum mismatch, a malformed record):
 * rec_reader__error() says where and what, and every record before the
 * damaged block has been returned.
 */
int rec_reader__next(struct rec_reader *r, struct rec *out);
const char *rec_reader__error(const struct rec_reader *r);
/* Blocks and records returned so far. */
uint64_t rec_reader__blocks(const struct rec_reader *r);
uint64_t rec_reader__records(const struct rec_reader *r);

/* Parsing record bodies: a cursor that fails once, for good, when the body is too short. */
struct rec_cursor {
	const uint8_t *p;
	size_t left;
	bool bad;
};

void rec_cursor__init(struct rec_cursor *c, const struct rec *r);
/* Copy len bytes to out (zeroes it when short). */
void rec_cursor__get(struct rec_cursor *c, void *out, size_t len);
/* A string into buf (terminated, cut to len - 1); *present false for NULL. */
void rec_cursor__get_str(struct rec_cursor *c, char *buf, size_t len, bool *present);

const char *rec_type_name(uint16_t type);

#endif
