// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Object and heap layouts per Go version. Every number in the table was
 * read with `gdb -batch -ex 'set language c' -ex "ptype/o struct 'T'"` from
 * a build of that version (tests/goreach/layout/main.go, go1.20.14 to
 * go1.26.8); where the binary's DWARF describes a type, DWARF wins.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "gobin.h"
#include "golayout_obj.h"

/* What every measured version shares; the rows below set what moves. */
static void common(struct go_obj_layout *l)
{
	l->g_panic = 32;
	l->g_defer = 40;
	l->defer_fn = 24;
	l->chan_qcount = 0;
	l->chan_dataqsiz = 8;
	l->chan_closed = 28;
	l->sudog_g = 0;
	l->sudog_next = 8;
	l->sudog_prev = 16;
	l->sudog_elem = 24;
	l->semaroot_treap = 8;
	l->semaroot_nwait = 16;
	l->notify_wait = 0;
	l->notify_notify = 4;
	l->notify_head = 16;
	l->mutex_state = 0;
	l->mutex_sema = 4;
	l->rw_w = 0;
	l->rw_writer_sem = 8;
	l->rw_reader_sem = 12;
	l->rw_reader_count = 16;
	l->rw_reader_wait = 20;
	l->wg_state = 0;
	l->wg_sema = 8;
	l->wg_waiter_mask = 0xffffffff;
	l->cond_notify = 16;
	l->span_start = 24;
	l->span_npages = 32;
	l->md_pctab = 80;
	l->md_pclntable = 104;
	l->md_ftab = 128;
	l->md_text = 176;
	l->md_etext = 184;
	l->md_noptrdata = 192;
	l->md_enoptrdata = 200;
	l->md_data = 208;
	l->md_edata = 216;
	l->md_bss = 224;
	l->md_ebss = 232;
	l->md_noptrbss = 240;
	l->md_enoptrbss = 248;
	l->md_rodata = 312;
	l->md_gofunc = 320;
}

/* hchan: 1.23 added timer at 32, 1.25 bubble at 96 before lock. */
static void chan_rows(struct go_obj_layout *l)
{
	if (l->minor <= 22) {
		l->chan_sendx = 40, l->chan_recvx = 48, l->chan_recvq = 56, l->chan_sendq = 72;
		l->chan_size = 96;
	} else {
		l->chan_sendx = 48, l->chan_recvx = 56, l->chan_recvq = 64, l->chan_sendq = 80;
		l->chan_size = l->minor <= 24 ? 104 : 112;
	}
}

/* sudog: 1.26 made elem and c 16-byte maybeTraceablePtrs. */
static void sudog_rows(struct go_obj_layout *l)
{
	if (l->minor <= 25) {
		l->sudog_parent = 56, l->sudog_waitlink = 64, l->sudog_c = 80;
		l->sudog_ptr_adjust = 0, l->sudog_size = 88;
	} else {
		l->sudog_parent = 64, l->sudog_waitlink = 72, l->sudog_c = 88;
		l->sudog_ptr_adjust = 8, l->sudog_size = 104;
	}
}

/*
 * mspan: 1.21 grew the span by 8 before sweepgen; 1.22 made freeindex and
 * nelems uint16. heapArena: 1.22 dropped the heap bitmap that preceded spans.
 */
static void heap_rows(struct go_obj_layout *l)
{
	l->defer_heap = l->minor <= 21 ? 1 : 0;
	l->defer_link = l->minor <= 21 ? 40 : 32;
	switch (l->minor) {
	case 20:
		l->mheap_arenas = 65904, l->arena_spans = 1064960;
		l->span_nelems = 56, l->span_nelems_size = 8;
		l->span_class = 98, l->span_state = 99, l->span_elemsize = 104, l->span_limit = 112;
		break;
	case 21:
		l->mheap_arenas = 65944, l->arena_spans = 1064960;
		l->span_nelems = 56, l->span_nelems_size = 8;
		l->span_class = 106, l->span_state = 107, l->span_elemsize = 112,
		l->span_limit = 120;
		break;
	default:
		l->mheap_arenas = 66008, l->arena_spans = 0;
		l->span_nelems = 50, l->span_nelems_size = 2;
		l->span_class = 98, l->span_state = 99, l->span_elemsize = 104, l->span_limit = 112;
		break;
	}
	/* internal/abi.Type (runtime._type in 1.20) has not moved */
	l->type_size = 0, l->type_ptrbytes = 8, l->type_tflag = 20, l->type_kind = 23;
	l->type_gcdata = 32;
	l->heap_bits = l->minor >= 22;
	if (l->heap_bits) {
		l->span_largetype = 152;
		l->kind_gcprog = l->minor <= 23 ? 0x40 : 0;
		l->tflag_mask_on_demand = l->minor >= 24 ? 0x10 : 0;
	}
	l->md_gcdatamask = l->minor == 20 ? 512 : l->minor <= 25 ? 536 : 544;
	l->md_gcbssmask = l->md_gcdatamask + 16;
	if (l->minor >= 25)
		l->wg_waiter_mask = 0x7fffffff;
}

int golayout_obj__table(int minor, struct go_obj_layout *out)
{
	if (minor < 20 || minor > 26)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->minor = minor;
	out->source = "table";
	common(out);
	chan_rows(out);
	sudog_rows(out);
	heap_rows(out);
	return 0;
}

struct member {
	const char *type, *name;
	size_t field; /* offsetof in struct go_obj_layout */
	bool required; /* a version outside the table cannot do without it */
};

#define M(t, n, f, r) { t, n, offsetof(struct go_obj_layout, f), r }

static const struct member members[] = {
	M("runtime.g", "_panic", g_panic, true),
	M("runtime.g", "_defer", g_defer, true),
	M("runtime._defer", "heap", defer_heap, true),
	M("runtime._defer", "fn", defer_fn, true),
	M("runtime._defer", "link", defer_link, true),
	M("runtime.hchan", "qcount", chan_qcount, true),
	M("runtime.hchan", "dataqsiz", chan_dataqsiz, true),
	M("runtime.hchan", "closed", chan_closed, true),
	M("runtime.hchan", "sendx", chan_sendx, true),
	M("runtime.hchan", "recvx", chan_recvx, true),
	M("runtime.hchan", "recvq", chan_recvq, true),
	M("runtime.hchan", "sendq", chan_sendq, true),
	M("runtime.sudog", "g", sudog_g, true),
	M("runtime.sudog", "next", sudog_next, true),
	M("runtime.sudog", "prev", sudog_prev, true),
	M("runtime.sudog", "elem", sudog_elem, true),
	M("runtime.sudog", "parent", sudog_parent, true),
	M("runtime.sudog", "waitlink", sudog_waitlink, true),
	M("runtime.sudog", "c", sudog_c, true),
	M("runtime.semaRoot", "treap", semaroot_treap, true),
	M("runtime.semaRoot", "nwait", semaroot_nwait, true),
	M("runtime.notifyList", "wait", notify_wait, true),
	M("runtime.notifyList", "notify", notify_notify, true),
	M("runtime.notifyList", "head", notify_head, true),
	M("runtime.mheap", "arenas", mheap_arenas, true),
	M("runtime.heapArena", "spans", arena_spans, true),
	M("runtime.mspan", "startAddr", span_start, true),
	M("runtime.mspan", "npages", span_npages, true),
	M("runtime.mspan", "nelems", span_nelems, true),
	M("runtime.mspan", "elemsize", span_elemsize, true),
	M("runtime.mspan", "state", span_state, true),
	M("runtime.mspan", "spanclass", span_class, true),
	M("runtime.mspan", "limit", span_limit, true),
	M("runtime.moduledata", "pctab", md_pctab, true),
	M("runtime.moduledata", "pclntable", md_pclntable, true),
	M("runtime.moduledata", "ftab", md_ftab, true),
	M("runtime.moduledata", "text", md_text, true),
	M("runtime.moduledata", "etext", md_etext, true),
	M("runtime.moduledata", "noptrdata", md_noptrdata, true),
	M("runtime.moduledata", "enoptrdata", md_enoptrdata, true),
	M("runtime.moduledata", "data", md_data, true),
	M("runtime.moduledata", "edata", md_edata, true),
	M("runtime.moduledata", "bss", md_bss, true),
	M("runtime.moduledata", "ebss", md_ebss, true),
	M("runtime.moduledata", "noptrbss", md_noptrbss, true),
	M("runtime.moduledata", "enoptrbss", md_enoptrbss, true),
	M("runtime.moduledata", "rodata", md_rodata, true),
	M("runtime.moduledata", "gofunc", md_gofunc, true),
	M("runtime.moduledata", "gcdatamask", md_gcdatamask, true),
	M("runtime.moduledata", "gcbssmask", md_gcbssmask, true),
	/* 1.22+ only (heap_bits) */
	M("runtime.mspan", "largeType", span_largetype, false),
	M("internal/abi.Type", "Size_", type_size, false),
	M("internal/abi.Type", "PtrBytes", type_ptrbytes, false),
	M("internal/abi.Type", "TFlag", type_tflag, false),
	M("internal/abi.Type", "Kind_", type_kind, false),
	M("internal/abi.Type", "GCData", type_gcdata, false),
	/* only in programs that use them: a layout that has not moved since go1.20 otherwise */
	M("sync.RWMutex", "w", rw_w, false),
	M("sync.RWMutex", "writerSem", rw_writer_sem, false),
	M("sync.RWMutex", "readerSem", rw_reader_sem, false),
	M("sync.RWMutex", "readerCount", rw_reader_count, false),
	M("sync.RWMutex", "readerWait", rw_reader_wait, false),
	M("sync.WaitGroup", "state", wg_state, false),
	M("sync.WaitGroup", "sema", wg_sema, false),
	M("sync.Cond", "notify", cond_notify, false),
};

/* sync.Mutex wraps internal/sync.Mutex from go1.24: "mu.state", before "state". */
static void mutex_from_dwarf(const struct gobin *b, struct go_obj_layout *l, bool *any)
{
	uint64_t st, se;

	if ((!gobin__member_offset(b, "sync.Mutex", "mu.state", &st) &&
	     !gobin__member_offset(b, "sync.Mutex", "mu.sema", &se)) ||
	    (!gobin__member_offset(b, "sync.Mutex", "state", &st) &&
	     !gobin__member_offset(b, "sync.Mutex", "sema", &se))) {
		l->mutex_state = (uint32_t)st;
		l->mutex_sema = (uint32_t)se;
		*any = true;
	}
}

/*
 * Override l with what DWARF says. A type DWARF lacks keeps the table's
 * numbers; returns -ENOENT if a required one is missing and the table had
 * no row (known false).
 */
static int from_dwarf(const struct gobin *b, struct go_obj_layout *l, bool known)
{
	const char *missing = NULL; /* a type asked for and not found: skip its members */
	bool any = false;

	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const struct member *m = &members[i];
		uint64_t off;

		if (missing && !strcmp(missing, m->type))
			goto absent;
		if (gobin__member_offset(b, m->type, m->name, &off) == 0) {
			*(uint32_t *)((char *)l + m->field) = (uint32_t)off;
			any = true;
			continue;
		}
		missing = m->type;
absent:
		if (m->required && !known)
			return -ENOENT;
	}
	mutex_from_dwarf(b, l, &any);
	if (any)
		l->source = "dwarf";
	return 0;
}

int golayout_obj__get(const struct gobin *b, struct go_obj_layout *out, char *why, size_t why_len)
{
	int major, minor, patch;
	bool known;

	if (!gobin__version_num(b, &major, &minor, &patch) || major != 1) {
		snprintf(why, why_len, "cannot read the Go version of this binary (\"%s\")",
			 gobin__version(b));
		return -ENOENT;
	}
	known = golayout_obj__table(minor, out) == 0;
	if (!known) {
		/* the newest row for what DWARF may not describe; DWARF must say the rest */
		golayout_obj__table(26, out);
		out->minor = minor;
	}
	if (from_dwarf(b, out, known)) {
		snprintf(why, why_len,
			 "%s is not in tangle's table of Go heap layouts (go1.20 to go1.26) and "
			 "the binary has no DWARF to read them from",
			 gobin__version(b));
		return -ENOENT;
	}
	if (!known) {
		out->span_nelems_size = 2;
		out->sudog_ptr_adjust = minor >= 26 ? 8 : 0;
		out->sudog_size = out->sudog_c + 8 + out->sudog_ptr_adjust;
		out->wg_waiter_mask = 0x7fffffff;
	}
	return 0;
}
