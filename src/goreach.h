/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Can any live goroutine still reach what a blocked goroutine waits on?
 * The evidence behind a stuck-goroutine report, in the spirit of Go 1.26's
 * goroutine-leak profile, computed from outside on an unmodified binary.
 *
 * A bounded mark phase over the running process's memory (process_vm_readv,
 * no stop), as precise as the GC's own where it can be: the roots are the
 * binary's data and bss (the words the runtime's pointer masks name) and the
 * stacks of the live goroutines, those not blocked on a channel or sync
 * object, walked frame by frame with the GC's stack maps (goreach_funcs.h).
 * Heap objects are found through the heap's own index (mheap_.arenas ->
 * heapArena.spans -> mspan; interior pointers count) and scanned by their
 * pointer maps (go1.22+: the span's heap bits, or the type in the object's
 * header or the span's largeType); word by word where no map can be had
 * (go1.20/1.21, a running goroutine's stack, assembly frames), which can
 * only keep more alive. The blocked goroutines' own records (their g and
 * their sudogs) are not followed: they are what every waiting goroutine is
 * reachable through. When an object a blocked goroutine waits on is marked,
 * that goroutine may be woken: its stack, g and sudogs become roots too, and
 * marking goes on to a fixpoint.
 *
 * The process runs on while it is read. Goroutines started since the
 * snapshot become roots; a blocked goroutine found moved (woken meanwhile)
 * becomes one too, is judged "unknown", and marking goes on. The verdicts
 * lean one way: "unreachable" only when marking completed within its
 * budget, every read succeeded, every object the goroutine waits on was
 * located, and it was found parked as in the snapshot after marking;
 * anything less is "unknown". A reference that moves from an unread place
 * to an already read one at the wrong moment (or lives only in a running
 * thread's registers) can still be missed: a detector should ask again
 * later and report only what stays unreachable. Finalizers, cleanups and
 * the finalizer queue are not roots.
 *
 * Debugging: TANGLE_GOREACH_TRACE=0xADDR prints on stderr, after a run, the
 * chain of words through which the heap object holding ADDR was marked.
 */
#ifndef TANGLE_GOREACH_H
#define TANGLE_GOREACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "goobj.h"
#include "goproc.h"

struct goreach;

/* In the order of godetect.h's enum go_reach. */
enum goreach_verdict {
	GOREACH_UNKNOWN,
	GOREACH_REACHABLE,
	GOREACH_UNREACHABLE,
};

struct goreach_opts {
	uint64_t max_bytes; /* read at most this much per run (0: 64 MiB) */
	uint64_t max_objects; /* scan at most this many heap objects (0: 1M) */
};

struct goreach_result {
	enum goreach_verdict verdict; /* of the goroutine: reachable if any object is */
	enum goreach_verdict objs[GO_WAIT_MAX_OBJS]; /* per object of its go_wait */
	char root[64]; /* reachable: where from ("data/bss", "goroutine 12"); else why not */
};

struct goreach_stats {
	uint64_t bytes_read, reads; /* from the target, all included */
	uint64_t objects_scanned, objects_marked;
	uint64_t objects_conservative; /* scanned word by word: no pointer map to be had */
	uint64_t stacks_scanned, frames_precise, frames_conservative;
	uint64_t stack_retries; /* stacks read again because their goroutine moved */
	uint64_t promoted; /* blocked goroutines found wakeable */
	uint64_t late_roots; /* goroutines started, or blocked ones that ran, during the run */
	uint64_t moved; /* goroutines judged unreachable found moved (then woken, marked again) */
	uint64_t rounds; /* of the fixpoint */
	uint64_t wall_ns, cpu_ns;
	bool budget_exhausted;
	bool incomplete; /* a read failed, the budget ran out, or goroutines moved */
	const char *incomplete_why; /* the first cause, or NULL */
};

/*
 * Prepare for o's process: its data/bss bounds and pointer masks, the heap
 * index, the function table. NULL and errno (ENOTSUP: the heap index
 * cannot be found) with a reason in why.
 */
struct goreach *goreach__new(struct goobj *o, const struct goreach_opts *opts, char *why,
			     size_t why_len);
void goreach__free(struct goreach *r);

/*
 * Judge waits[0..n) (goobj__waits of snapshot s): out[i] for waits[i].
 * Goroutines of s without an entry in waits are live roots. 0, or -errno
 * (-ENOMEM, -ESRCH the process is gone); st may be NULL.
 */
int goreach__run(struct goreach *r, const struct gosnap *s, const struct go_wait *waits, size_t n,
		 struct goreach_result *out, struct goreach_stats *st);

const char *goreach_verdict_name(enum goreach_verdict v);

/*
 * Where the heap index was found: &mheap_.arenas[0] in *slot, and how
 * ("runtime.mheap_" from the symbol table, "runtime.findObject" decoded
 * from that function's code in a stripped binary); *decoded: what decoding
 * runtime.findObject gives (0 if it cannot), for tests to compare.
 */
const char *goreach__heap_index(struct goreach *r, uint64_t *slot, uint64_t *decoded);

/*
 * The heap index arithmetic (exposed for unit tests): the index of addr's
 * arena in mheap_.arenas[0] (arenaL1Bits = 0 on linux/amd64) and its page
 * in that arena.
 */
uint64_t goreach_arena_index(uint64_t addr);
uint64_t goreach_arena_page(uint64_t addr);
/* The start of the object of size elemsize holding addr in a span starting at start. */
uint64_t goreach_object_base(uint64_t start, uint64_t elemsize, uint64_t addr);

#endif
