/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the files of goreach (goreach.c: the run, goreach_heap.c: the heap
 * index and marking, goreach_stacks.c: goroutine stacks) share: the state
 * of one goreach and its internal calls. Not for other modules.
 */
#ifndef TANGLE_GOREACH_INT_H
#define TANGLE_GOREACH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "goreach.h"
#include "goreach_funcs.h"
#include "hmap.h"
#include "memword.h"
#include "vmread.h"

#define DEF_MAX_BYTES (64ull << 20)
#define DEF_MAX_OBJECTS (1ull << 20)
#define ROUND_BYTES (4u << 20) /* read per batch of objects or stacks */
#define CHUNK (1u << 20) /* largest single read */
#define MAX_REQS 4096 /* objects per batch */
#define MERGE_GAP 256 /* objects at most this far apart are read as one vector */
#define STACK_GROUP 512 /* goroutines whose stacks are read together */
#define CONFIRM_PASSES 3 /* markings again because goroutines judged unreachable moved */
#define STACK_TRIES 3
#define RUNNING_WAIT_US \
	200 /* pause before reading a running goroutine again */ /* a goroutine that keeps moving is then scanned conservatively */
#define MAX_FRAMES 10000
#define SPAN_READ 128
#define SUDOG_READ 128 /* bytes of a sudog read: every version's fits */
#define MAX_FRESH 100000 /* lookups of pages re-read because the cached index said "free" */
#define PCACHE 4096 /* pages of recent lookups remembered */
#define USER_MIN 0x10000ull
#define USER_MAX 0x800000000000ull

enum { M_MARKED = 1, M_BLOCKED = 2 };

enum gkind {
	G_ROOT, /* live: its stack is a root */
	G_CAND, /* blocked on located objects: a root only once one of them is marked */
	G_NEVER, /* nil channel, select {}: never a root */
	G_WOKEN, /* a candidate found wakeable */
};

struct span {
	uint64_t addr; /* of the runtime's mspan */
	uint64_t start, npages, limit, elemsize;
	uint8_t class; /* spanclass: size class << 1 | noscan */
	bool in_use, noscan;
	uint8_t *mark; /* a bit per object: marked in this run (NULL: none yet) */
};

/* The pointer map of a type (internal/abi.Type), for objects with a header or a large type. */
struct tinfo {
	uint64_t size, ptrbytes;
	uint8_t *mask; /* a bit per word of the first ptrbytes of each element */
	bool ok;
};

struct region {
	uint64_t lo, hi;
};

struct work {
	uint64_t addr; /* a piece of the object at obj (all of it, but for large objects) */
	uint32_t len;
	uint32_t root;
	uint64_t obj;
	const struct span *sp;
};

struct stackref {
	uint64_t lo, hi;
	uint32_t gi;
};

/* An address-taken local of the stack being scanned. */
struct sobj {
	uint64_t addr;
	const struct go_stack_obj *rec;
	bool queued;
};

struct walkbuf {
	const uint8_t *b;
	uint64_t lo, hi; /* addresses of b[0] and its end */
};

struct gframe;

/* What one goroutine's stack scan needs from a fresh read of its g. */
struct ghdr {
	uint32_t status;
	uint64_t lo, hi, sp, pc, ssp, spc, waitsince, goid, waiting;
	uint8_t reason; /* g.waitreason */
	uint64_t panic, defer; /* may point at records on the stack */
};

/* A stack to scan: a goroutine of the snapshot, or one started since (late). */
struct sjob {
	uint64_t g, goid; /* goid 0: whatever goroutine g holds now (late) */
	uint32_t root; /* snapshot index + 1, or late_root() */
	uint32_t tries;
};

struct goreach {
	struct goobj *o;
	uint32_t pid;
	const struct go_obj_layout *l;
	const struct go_layout *gl;
	uint64_t max_bytes, max_objects;
	struct goreach_funcs *stk;
	uint64_t arenas_slot; /* &mheap_.arenas[0] */
	const char *heap_index; /* how it was found */
	uint64_t allglen, allgptr;
	uint64_t goexit_lo, goexit_hi;
	struct region data, bss, globals[4];
	uint8_t *datamask, *bssmask;
	uint64_t datamask_bits, bssmask_bits;
	uint32_t ghdr_len;
	int green_tea; /* spans keep inline mark bits after their heap bits: -1 not known yet */
	/* per run */
	const struct gosnap *s;
	const struct go_wait *waits;
	uint8_t *gkind; /* per goroutine of s: enum gkind */
	int32_t *gwait; /* per goroutine: its index in waits, or -1 */
	uint32_t *stack_ref; /* per goroutine: root + 1 of a word found pointing into its stack */
	bool *moved; /* per goroutine: blocked in the snapshot, ran since */
	struct stackref *stacks; /* sorted by lo */
	size_t nstacks;
	bool want_stack_refs;
	uint64_t arenas_l2;
	struct hmap *arena_ptr; /* arena index + 1 -> heapArena address, or 1 if none */
	struct hmap *arena_spans; /* heapArena address -> copy of its spans array */
	struct hmap *spans; /* mspan address -> struct span */
	struct {
		uint64_t page; /* + 1; 0: empty */
		const struct span *s;
	} pcache[PCACHE]; /* recent pages of in-use spans */
	uint64_t last_ri, last_ha; /* the last arena looked up (last_ri + 1; 0: none) */
	struct hmap *fresh; /* pages looked up again, uncached */
	struct hmap *types; /* internal/abi.Type address -> struct tinfo */
	struct hmap *blocked; /* cut objects reached: base -> root << 2 | M_BLOCKED */
	struct hmap *roots; /* objects waited on: base -> 1, or root << 2 | M_MARKED once marked */
	struct hmap *cut; /* g and sudog addresses of the blocked -> goroutine index + 1 */
	struct work *work;
	size_t nwork, capwork;
	struct sjob *sjobs;
	size_t nsjobs, capsjobs;
	struct sjob *later; /* running goroutines, read again after a pause */
	size_t nlater, caplater;
	uint8_t *buf; /* ROUND_BYTES */
	/* the stack being scanned (walk_frames) */
	const struct walkbuf *cur_wb;
	struct gframe *frames;
	size_t capframes;
	struct sobj *sobjs;
	uint32_t *sq; /* queue of sobjs to scan */
	size_t nsobjs, capsobjs, nsq;
	struct goreach_stats st;
	uint64_t from; /* the address of the word being looked at */
	struct hmap *trace; /* TANGLE_GOREACH_TRACE: object base -> the word that marked it */
	uint64_t trace_addr;
	bool stop; /* budget exhausted or fatal error */
	int err;
};

static inline bool in_region(const struct region *g, uint64_t a)
{
	return a >= g->lo && a < g->hi;
}

/* goreach.c: reading, with the budget */
void goreach__incomplete(struct goreach *r, const char *why);
bool goreach__budget(struct goreach *r, uint64_t more);
int goreach__read_batch(struct goreach *r, struct vmread_req *reqs, size_t n);
int goreach__read(struct goreach *r, uint64_t addr, void *buf, size_t len);

/* goreach_heap.c: the heap index and marking */
const struct span *goreach__object(struct goreach *r, uint64_t addr, uint64_t *base);
/* Is the object at base (of span sp) marked; mark it (false if it was already, or no memory). */
bool goreach__marked(const struct span *sp, uint64_t base);
bool goreach__mark(struct goreach *r, const struct span *sp, uint64_t base, uint32_t root);
void goreach__push_object(struct goreach *r, uint64_t obj, uint64_t len, uint32_t root,
			  const struct span *sp);
void goreach__reach(struct goreach *r, uint64_t w, uint32_t root);
void goreach__scan_words(struct goreach *r, uint64_t addr, const uint8_t *b, size_t len,
			 uint32_t root);
void goreach__scan_masked(struct goreach *r, uint64_t addr, const uint8_t *b, size_t len,
			  const uint8_t *mask, uint64_t bits, uint32_t root);
void goreach__drain(struct goreach *r);

/* goreach_stacks.c: goroutine stacks */
uint32_t goreach__g_len(const struct go_layout *gl, const struct go_obj_layout *l);
void goreach__decode_g(const struct go_layout *gl, const uint8_t *b, struct ghdr *h);
void goreach__stack_hit(struct goreach *r, uint64_t w);
int goreach__push_stack(struct goreach *r, struct sjob j);
void goreach__scan_stacks(struct goreach *r);

#endif
