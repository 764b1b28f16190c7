/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where the Go runtime keeps the objects goroutines wait on and the heap
 * they live in (linux/amd64): channels (runtime.hchan) and their sudogs,
 * the semaphore table, sync.Mutex/RWMutex/WaitGroup/Cond, the heap's arena
 * index (mheap_.arenas -> heapArena.spans -> mspan) and the module data
 * (data/bss bounds, their pointer masks, the function table and stack maps).
 * The companion of golayout.h, which covers g, m and sudog's wait fields.
 *
 * Offsets come from the binary's DWARF where it describes the type, else
 * from a table measured with gdb (`ptype/o`) on builds of go1.20.14,
 * 1.21.13, 1.22.12, 1.23.12, 1.24.13, 1.25.12 and 1.26.8. Plain C, no I/O
 * of its own (DWARF is asked through gobin).
 */
#ifndef TANGLE_GOLAYOUT_OBJ_H
#define TANGLE_GOLAYOUT_OBJ_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct gobin;

/* Constants of the amd64 runtime that no struct describes (malloc.go, mheap.go, sema.go). */
#define GO_PAGE_SIZE 8192ull
#define GO_ARENA_SIZE (64ull << 20) /* heapArenaBytes */
#define GO_PAGES_PER_ARENA (GO_ARENA_SIZE / GO_PAGE_SIZE)
#define GO_ARENA_L2_ENTRIES (1ull << 22) /* arenaL1Bits = 0, arenaL2Bits = 48 - 26 */
#define GO_ARENA_BASE_OFFSET 0xffff800000000000ull /* arenaBaseOffset */
#define GO_SPAN_IN_USE 1 /* mSpanInUse: a span of heap objects */
#define GO_SEMTAB_SIZE 251 /* semTabSize */
#define GO_SEMTAB_STRIDE 64 /* semaRoot padded to a cache line */

struct go_obj_layout {
	int minor;
	const char *source; /* "dwarf" (at least one type from DWARF) or "table" */
	/* runtime.hchan; a waitq is {first, last *sudog} */
	uint32_t chan_qcount, chan_dataqsiz, chan_closed, chan_sendx, chan_recvx;
	uint32_t chan_recvq, chan_sendq, chan_size;
	/* runtime.g: the defer and panic records, which may live on its stack */
	uint32_t g_panic, g_defer;
	/* runtime._defer: a chain from g._defer through link, on the stack or the heap */
	uint32_t defer_heap, defer_fn, defer_link;
	/* runtime.sudog (elem and c: add sudog_ptr_adjust, the 1.26 maybeTraceablePtr) */
	uint32_t sudog_g, sudog_next, sudog_prev, sudog_elem, sudog_parent, sudog_waitlink;
	uint32_t sudog_c, sudog_ptr_adjust, sudog_size;
	/* runtime.semaRoot, one per GO_SEMTAB_STRIDE bytes of runtime.semtable */
	uint32_t semaroot_treap, semaroot_nwait;
	/* runtime.notifyList (sync.Cond.notify) */
	uint32_t notify_wait, notify_notify, notify_head;
	/* sync */
	uint32_t mutex_state, mutex_sema; /* sync.Mutex (internal/sync.Mutex from 1.24) */
	uint32_t rw_w, rw_writer_sem, rw_reader_sem, rw_reader_count, rw_reader_wait;
	uint32_t wg_state, wg_sema;
	uint32_t
		wg_waiter_mask; /* of the low 32 bits of state: 0x7fffffff from 1.25 (synctest bit) */
	uint32_t cond_notify;
	/* heap */
	uint32_t mheap_arenas, arena_spans;
	uint32_t span_start, span_npages, span_nelems, span_elemsize, span_state, span_class;
	uint32_t span_limit;
	uint8_t span_nelems_size; /* uint16 from 1.22, uintptr before */
	/*
	 * Pointer maps of heap objects (1.22+, "allocation headers"): objects up
	 * to 512 bytes have a bitmap at the end of their span (before the 128
	 * bytes of inline mark bits in Green Tea GC builds); larger ones point
	 * at their type (internal/abi.Type) from their first word, or from
	 * mspan.largeType for one-object spans. heap_bits false: 1.20/1.21,
	 * whose heapArena bitmap is not read (objects are scanned word by word).
	 */
	bool heap_bits;
	uint32_t span_largetype;
	uint32_t type_size, type_ptrbytes, type_tflag, type_kind, type_gcdata;
	uint8_t kind_gcprog; /* Kind_ bit: GCData is a GC program (<= 1.23), 0 if none */
	uint8_t tflag_mask_on_demand; /* TFlag bit: GCData is **byte (1.24+), 0 if none */
	/* runtime.moduledata */
	uint32_t md_pctab, md_pclntable, md_ftab, md_text, md_etext;
	uint32_t md_noptrdata, md_enoptrdata, md_data, md_edata, md_bss, md_ebss;
	uint32_t md_noptrbss, md_enoptrbss, md_rodata, md_gofunc, md_gcdatamask, md_gcbssmask;
};

/*
 * The layout of b's Go version: the table's row overridden by what DWARF
 * says. 0, or -ENOENT with a reason in why (a version the table lacks and
 * whose DWARF does not describe every type needed).
 */
int golayout_obj__get(const struct gobin *b, struct go_obj_layout *out, char *why, size_t why_len);

/* The table's layout for go1.<minor> (no DWARF), or -ENOENT. */
int golayout_obj__table(int minor, struct go_obj_layout *out);

#endif
