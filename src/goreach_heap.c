// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The Go heap seen from outside, and marking: which heap object an address
 * falls in (mheap_.arenas -> heapArena.spans -> mspan, cached for a run),
 * which of an object's words are pointers (the span's heap bits, or the
 * type in the object's header or the span's largeType, from go1.22), and
 * the queue of objects to scan, read a batch at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "goreach_int.h"

uint64_t goreach_arena_index(uint64_t addr)
{
	return (addr - GO_ARENA_BASE_OFFSET) / GO_ARENA_SIZE;
}

uint64_t goreach_arena_page(uint64_t addr)
{
	return (addr / GO_PAGE_SIZE) % GO_PAGES_PER_ARENA;
}

uint64_t goreach_object_base(uint64_t start, uint64_t elemsize, uint64_t addr)
{
	return start + (addr - start) / elemsize * elemsize;
}

/* ---- the heap index ---- */

/* The heapArena of arena index ri, 0 if none (cached for the run). */
static uint64_t arena_of(struct goreach *r, uint64_t ri)
{
	void *v = hmap__get(r->arena_ptr, ri + 1);
	uint64_t ha = 0;

	if (v)
		return (uint64_t)(uintptr_t)v == 1 ? 0 : (uint64_t)(uintptr_t)v;
	if (goreach__read(r, r->arenas_l2 + ri * 8, &ha, sizeof(ha))) {
		goreach__incomplete(r, "the heap index unreadable");
		ha = 0;
	}
	if (ha & 7)
		ha = 0;
	hmap__set(r->arena_ptr, ri + 1, (void *)(uintptr_t)(ha ? ha : 1));
	return ha;
}

static bool read_span(struct goreach *r, uint64_t sp, struct span *out)
{
	const struct go_obj_layout *l = r->l;
	uint8_t b[SPAN_READ];
	uint64_t npages;

	memset(out, 0, sizeof(*out));
	if (!sp || (sp & 7))
		return false;
	if (goreach__read(r, sp, b, SPAN_READ)) {
		goreach__incomplete(r, "an mspan unreadable");
		return false;
	}
	out->addr = sp;
	out->start = u64_at(b, l->span_start);
	npages = out->npages = u64_at(b, l->span_npages);
	out->class = b[l->span_class];
	out->elemsize = u64_at(b, l->span_elemsize);
	out->limit = u64_at(b, l->span_limit);
	out->in_use = b[l->span_state] == GO_SPAN_IN_USE;
	out->noscan = b[l->span_class] & 1;
	/* a span being set up or torn down reads as garbage: not a heap object then */
	if (!npages || npages > (1ull << 31) || !out->elemsize || out->start % GO_PAGE_SIZE ||
	    out->limit < out->start || out->limit > out->start + npages * GO_PAGE_SIZE ||
	    out->elemsize > npages * GO_PAGE_SIZE)
		out->in_use = false;
	return true;
}

static const struct span *span_cached(struct goreach *r, uint64_t sp)
{
	struct span *s = hmap__get(r->spans, sp);

	if (s)
		return s;
	s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	read_span(r, sp, s);
	if (hmap__set(r->spans, sp, s)) {
		free(s);
		return NULL;
	}
	return s;
}

/* The mspan address of addr's page from the arena's spans array (read whole, once). */
static uint64_t span_ptr(struct goreach *r, uint64_t ha, uint64_t addr)
{
	uint64_t *arr = hmap__get(r->arena_spans, ha);
	size_t len = GO_PAGES_PER_ARENA * 8;

	if (!arr) {
		arr = malloc(len);
		if (!arr)
			return 0;
		if (!goreach__budget(r, len)) {
			memset(arr, 0, len);
		} else if (goreach__read(r, ha + r->l->arena_spans, arr, len)) {
			goreach__incomplete(r, "a heapArena unreadable");
			memset(arr, 0, len);
		}
		if (hmap__set(r->arena_spans, ha, arr)) {
			free(arr);
			return 0;
		}
	}
	return arr[goreach_arena_page(addr)];
}

static bool covers(const struct span *s, uint64_t addr)
{
	return s->in_use && addr >= s->start && addr < s->limit;
}

/*
 * The span of the heap object holding addr (and the object's start in
 * *base), or NULL. A page the cached index calls free is looked up once
 * more, uncached: a span allocated since the index was read; what it says
 * replaces the cached entry.
 */
const struct span *goreach__object(struct goreach *r, uint64_t addr, uint64_t *base)
{
	uint64_t ri = goreach_arena_index(addr), pg = addr / GO_PAGE_SIZE, ha, sp;
	const struct span *s;
	struct span fresh, *c;

	if (r->pcache[pg % PCACHE].page == pg + 1) {
		s = r->pcache[pg % PCACHE].s;
		if (covers(s, addr)) {
			*base = goreach_object_base(s->start, s->elemsize, addr);
			return s;
		}
	}
	if (ri >= GO_ARENA_L2_ENTRIES)
		return NULL;
	if (r->last_ri == ri + 1) {
		ha = r->last_ha;
	} else {
		ha = arena_of(r, ri);
		r->last_ri = ri + 1;
		r->last_ha = ha;
	}
	if (!ha)
		return NULL;
	sp = span_ptr(r, ha, addr);
	s = sp ? span_cached(r, sp) : NULL;
	if (!s || !covers(s, addr)) {
		uint64_t page = addr / GO_PAGE_SIZE + 1;

		if (hmap__get(r->fresh, page))
			return NULL;
		if (hmap__len(r->fresh) >= MAX_FRESH) {
			goreach__incomplete(r, "too many heap lookups");
			return NULL;
		}
		hmap__set(r->fresh, page, (void *)1);
		if (goreach__read(r, ha + r->l->arena_spans + goreach_arena_page(addr) * 8, &sp,
				  8) ||
		    !read_span(r, sp, &fresh) || !covers(&fresh, addr) ||
		    !(c = (void *)span_cached(r, sp)))
			return NULL;
		if (c->start != fresh.start || c->elemsize != fresh.elemsize) {
			free(c->mark); /* another span now: its marks are not these */
			fresh.mark = NULL;
		} else {
			fresh.mark = c->mark;
		}
		*c = fresh;
		s = c;
	}
	r->pcache[pg % PCACHE].page = pg + 1;
	r->pcache[pg % PCACHE].s = s;
	*base = goreach_object_base(s->start, s->elemsize, addr);
	return s;
}

/* ---- marking ---- */

/*
 * Marks are a bit per object in its span, as the GC keeps them: a hash of
 * every marked object would cost a cache miss per word scanned.
 */
bool goreach__marked(const struct span *sp, uint64_t base)
{
	uint64_t i = (base - sp->start) / sp->elemsize;

	return sp->mark && (sp->mark[i / 8] & (1u << (i % 8)));
}

bool goreach__mark(struct goreach *r, const struct span *csp, uint64_t base, uint32_t root)
{
	struct span *sp = (struct span *)csp; /* the run's cache owns it */
	uint64_t i = (base - sp->start) / sp->elemsize;
	void *v;

	if (!sp->mark) {
		sp->mark = calloc((sp->limit - sp->start) / sp->elemsize / 8 + 1, 1);
		if (!sp->mark) {
			r->err = -ENOMEM;
			r->stop = true;
			return false;
		}
	}
	if (sp->mark[i / 8] & (1u << (i % 8)))
		return false;
	sp->mark[i / 8] |= (uint8_t)(1u << (i % 8));
	r->st.objects_marked++;
	/* where the objects blocked goroutines wait on were reached from, for the verdicts */
	if ((v = hmap__get(r->roots, base)) && (uintptr_t)v == 1)
		hmap__set(r->roots, base, (void *)(uintptr_t)((uint64_t)root << 2 | M_MARKED));
	return true;
}

void goreach__push_object(struct goreach *r, uint64_t obj, uint64_t len, uint32_t root,
			  const struct span *sp)
{
	uint64_t addr = obj;

	while (len) {
		uint32_t piece = len > CHUNK ? CHUNK : (uint32_t)len;

		if (r->nwork == r->capwork) {
			size_t cap = r->capwork ? 2 * r->capwork : 4096;
			struct work *w = realloc(r->work, cap * sizeof(*w));

			if (!w) {
				r->err = -ENOMEM;
				r->stop = true;
				return;
			}
			r->work = w;
			r->capwork = cap;
		}
		r->work[r->nwork++] = (struct work){ addr, piece, root, obj, sp };
		addr += piece;
		len -= piece;
	}
}

/* A stack the word points into, if it is one of a goroutine that is not a root. */
static void note_stack_ref(struct goreach *r, uint64_t w, uint32_t root)
{
	size_t lo = 0, hi = r->nstacks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->stacks[mid].hi <= w)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->nstacks && w >= r->stacks[lo].lo && !r->stack_ref[r->stacks[lo].gi])
		r->stack_ref[r->stacks[lo].gi] = root + 1;
}

/* One word that may be a pointer, found from root. */
void goreach__reach(struct goreach *r, uint64_t w, uint32_t root)
{
	const struct span *sp;
	uint64_t base;

	if (w < USER_MIN || w >= USER_MAX)
		return;
	if (r->cur_wb && w >= r->cur_wb->lo && w < r->cur_wb->hi) {
		goreach__stack_hit(r, w);
		return;
	}
	if (!(sp = goreach__object(r, w, &base))) {
		if (r->want_stack_refs)
			note_stack_ref(r, w, root);
		return;
	}
	if (goreach__marked(sp, base))
		return;
	if (hmap__get(r->cut, base)) {
		if (!hmap__get(r->blocked, base))
			hmap__set(r->blocked, base,
				  (void *)(uintptr_t)((uint64_t)root << 2 | M_BLOCKED));
		return;
	}
	if (!goreach__mark(r, sp, base, root))
		return;
	if (r->trace)
		hmap__set(r->trace, base, (void *)(uintptr_t)r->from);
	if (!sp->noscan)
		goreach__push_object(r, base, sp->elemsize, root, sp);
}

void goreach__scan_words(struct goreach *r, uint64_t addr, const uint8_t *b, size_t len,
			 uint32_t root)
{
	for (size_t off = 0; off + 8 <= len; off += 8) {
		r->from = addr + off;
		goreach__reach(r, u64_at(b, off), root);
	}
}

void goreach__scan_masked(struct goreach *r, uint64_t addr, const uint8_t *b, size_t len,
			  const uint8_t *mask, uint64_t bits, uint32_t root)
{
	for (size_t i = 0; (i + 1) * 8 <= len; i++) {
		if (mask && (i >= bits || !(mask[i / 8] & (1u << (i % 8)))))
			continue;
		r->from = addr + i * 8;
		goreach__reach(r, u64_at(b, i * 8), root);
	}
}

/* ---- pointer maps of heap objects (1.22+) ---- */

/* The pointer map of type typ, read once per run; ok false if it cannot be had. */
static const struct tinfo *type_info(struct goreach *r, uint64_t typ)
{
	const struct go_obj_layout *l = r->l;
	struct tinfo *t = hmap__get(r->types, typ);
	uint8_t b[48];
	uint64_t gc, nbytes;

	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t || hmap__set(r->types, typ, t)) {
		free(t);
		return NULL;
	}
	if (!typ || (typ & 7) || goreach__read(r, typ, b, sizeof(b)))
		return t;
	t->size = u64_at(b, l->type_size);
	t->ptrbytes = u64_at(b, l->type_ptrbytes);
	gc = u64_at(b, l->type_gcdata);
	if (!t->size || !t->ptrbytes || t->ptrbytes > t->size || t->ptrbytes % 8 ||
	    t->ptrbytes > (64ull << 20))
		return t;
	if (l->kind_gcprog && (b[l->type_kind] & l->kind_gcprog))
		return t; /* a GC program, not a mask */
	/* a mask the runtime builds on first use: not there yet, or being built */
	if (l->tflag_mask_on_demand && (b[l->type_tflag] & l->tflag_mask_on_demand) &&
	    (goreach__read(r, gc, &gc, sizeof(gc)) || !gc || in_region(&r->data, gc) ||
	     in_region(&r->bss, gc) || in_region(&r->globals[2], gc) ||
	     in_region(&r->globals[3], gc)))
		return t;
	nbytes = (t->ptrbytes / 8 + 7) / 8;
	t->mask = malloc(nbytes);
	if (!t->mask || goreach__read(r, gc, t->mask, nbytes)) {
		free(t->mask);
		t->mask = NULL;
		return t;
	}
	t->ok = true;
	return t;
}

/*
 * Green Tea GC (1.25 experiment, 1.26 default) keeps 128 bytes of mark bits
 * at the end of small-object spans, after their heap bits; their last byte
 * is the span class, where the heap bits of a span without them end with a
 * zero byte (the bits of the bitmap's own words). -1 if unknown.
 */
static int green_tea(struct goreach *r, const struct span *sp)
{
	uint8_t last;

	if (r->l->minor < 25)
		return 0;
	if (r->green_tea >= 0)
		return r->green_tea;
	if (goreach__read(r, sp->start + sp->npages * GO_PAGE_SIZE - 1, &last, 1))
		return -1;
	r->green_tea = last == sp->class;
	return r->green_tea;
}

static uint64_t heap_bits_base(const struct span *sp, int gt)
{
	uint64_t end = sp->start + sp->npages * GO_PAGE_SIZE;

	return end - sp->npages * GO_PAGE_SIZE / 64 - (gt && sp->elemsize >= 16 ? 128 : 0);
}

enum pmap {
	PM_WORDS, /* every word (no map to be had) */
	PM_SMALL, /* the span's heap bits */
	PM_HEADER, /* the type in the object's first word */
	PM_LARGE, /* the span's largeType */
};

static void scan_small(struct goreach *r, const struct work *w, const uint8_t *data,
		       const uint8_t *bits)
{
	uint64_t first = (w->obj - w->sp->start) / 8, j = first % 64;
	uint64_t nbits = w->sp->elemsize / 8, m = u64_at(bits, 0) >> j;

	if (j + nbits > 64)
		m |= u64_at(bits, 8) << (64 - j);
	for (uint64_t k = 0; k < nbits && (k + 1) * 8 <= w->len; k++) {
		if (!((m >> k) & 1))
			continue;
		r->from = w->addr + k * 8;
		goreach__reach(r, u64_at(data, k * 8), w->root);
	}
}

/* Words of w at addresses from ds on, elements of type t tiled from ds. */
static void scan_typed(struct goreach *r, const struct work *w, const uint8_t *data, uint64_t ds,
		       const struct tinfo *t)
{
	for (uint64_t off = 0; off + 8 <= w->len; off += 8) {
		uint64_t a = w->addr + off, e, k;

		if (a < ds)
			continue;
		e = (a - ds) % t->size;
		if (e >= t->ptrbytes)
			continue;
		k = e / 8;
		if (!(t->mask[k / 8] & (1u << (k % 8))))
			continue;
		r->from = a;
		goreach__reach(r, u64_at(data, off), w->root);
	}
}

/*
 * One object (or piece) of a batch: where its bytes land in the batch
 * buffer, and the extra read its pointer map needs (the span's heap bits,
 * read once per span and batch, or mspan.largeType).
 */
struct pending {
	struct work w;
	enum pmap pm;
	uint32_t off; /* of its bytes in r->buf */
	int dreq; /* the read holding its bytes */
	int xreq; /* the extra read, -1 if none */
	uint64_t xaddr; /* what that read starts at */
};

/* How to find the pointers of w, and the extra read that needs (*xaddr, *xlen: 0 if none). */
static enum pmap pointer_map(struct goreach *r, const struct work *w, uint64_t *xaddr,
			     uint32_t *xlen)
{
	const struct span *sp = w->sp;
	int gt;

	*xlen = 0;
	if (!r->l->heap_bits)
		return PM_WORDS;
	if (sp->elemsize <= 512) {
		gt = sp->elemsize >= 16 ? green_tea(r, sp) : 0; /* no mark bits below 16 bytes */
		if (gt < 0 || w->addr != w->obj || sp->npages != 1)
			return PM_WORDS;
		*xaddr = heap_bits_base(sp, gt);
		*xlen = GO_PAGE_SIZE / 64; /* the span's bits, shared by its objects in the batch */
		return PM_SMALL;
	}
	if (sp->class >> 1)
		return w->addr == w->obj ? PM_HEADER : PM_WORDS;
	*xaddr = sp->addr + r->l->span_largetype;
	*xlen = 8;
	return PM_LARGE;
}

static void scan_pending(struct goreach *r, const struct pending *p, const uint8_t *data,
			 const uint8_t *extra)
{
	const struct work *w = &p->w;
	const struct tinfo *t = NULL;
	uint64_t ds = w->obj;

	switch (p->pm) {
	case PM_SMALL:
		if (extra) {
			uint8_t bits[16] = { 0 };
			uint64_t at = (w->obj - w->sp->start) / 8 / 64 * 8;

			memcpy(bits, extra + at, at + 16 <= GO_PAGE_SIZE / 64 ? 16 : 8);
			scan_small(r, w, data, bits);
			return;
		}
		break;
	case PM_HEADER:
		t = type_info(r, u64_at(data, 0));
		ds = w->obj + 8;
		break;
	case PM_LARGE:
		if (extra)
			t = type_info(r, u64_at(extra, 0));
		break;
	default:
		break;
	}
	if (t && t->ok) {
		scan_typed(r, w, data, ds, t);
		return;
	}
	r->st.objects_conservative++;
	goreach__scan_words(r, w->addr, data, w->len, w->root);
}

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return x->w.addr < y->w.addr ? -1 : x->w.addr > y->w.addr;
}

struct batch {
	struct pending *p;
	struct vmread_req *reqs;
	uint8_t *xbuf; /* extra reads */
	size_t n, nr;
};

/*
 * Take a batch of queued objects and lay out its reads: objects in address
 * order, neighbours at most MERGE_GAP apart read as one vector (a linked
 * structure allocated in a row is read a span at a time), and one extra
 * read per span (heap bits) or large object (largeType). Returns the bytes
 * the batch reads.
 */
static size_t plan_batch(struct goreach *r, struct batch *b)
{
	size_t bytes = 0, data = 0, xoff = 0;
	int last = -1;

	b->n = b->nr = 0;
	while (r->nwork && b->n < MAX_REQS && data + r->work[r->nwork - 1].len <= ROUND_BYTES / 2) {
		b->p[b->n].w = r->work[--r->nwork];
		data += b->p[b->n++].w.len;
	}
	if (b->n > 1)
		qsort(b->p, b->n, sizeof(*b->p), pending_cmp);
	for (size_t i = 0; i < b->n; i++) {
		struct pending *p = &b->p[i];
		struct vmread_req *q = last >= 0 ? &b->reqs[last] : NULL;
		uint64_t end = q ? q->addr + q->len : 0;

		if (q && p->w.addr >= q->addr && p->w.addr <= end + MERGE_GAP) {
			uint64_t nend = p->w.addr + p->w.len > end ? p->w.addr + p->w.len : end;

			p->off = (uint32_t)((uint8_t *)q->buf - r->buf + (p->w.addr - q->addr));
			bytes += nend - end;
			q->len = nend - q->addr;
		} else {
			last = (int)b->nr;
			p->off = (uint32_t)bytes;
			b->reqs[b->nr++] = (struct vmread_req){ .addr = p->w.addr,
								.buf = r->buf + bytes,
								.len = p->w.len };
			bytes += p->w.len;
		}
		p->dreq = last;
	}
	/*
	 * The extras, after the data. Objects are in address order, so those of
	 * one span follow each other: its heap bits are read once for all.
	 */
	last = -1;
	for (size_t i = 0; i < b->n; i++) {
		struct pending *p = &b->p[i];
		uint32_t xlen;

		p->pm = pointer_map(r, &p->w, &p->xaddr, &xlen);
		p->xreq = -1;
		if (!xlen)
			continue;
		if (last >= 0 && b->reqs[last].addr == p->xaddr) {
			p->xreq = last;
			continue;
		}
		last = p->xreq = (int)b->nr;
		b->reqs[b->nr++] =
			(struct vmread_req){ .addr = p->xaddr, .buf = b->xbuf + xoff, .len = xlen };
		xoff += xlen;
		bytes += xlen;
	}
	return bytes;
}

/* Scan the queued heap objects, a batch of reads at a time, until none is left. */
void goreach__drain(struct goreach *r)
{
	struct batch b = { .p = calloc(MAX_REQS, sizeof(*b.p)),
			   .reqs = calloc(2 * MAX_REQS, sizeof(*b.reqs)),
			   .xbuf = malloc((size_t)MAX_REQS * (GO_PAGE_SIZE / 64)) };

	if (!b.p || !b.reqs || !b.xbuf) {
		r->err = -ENOMEM;
		r->stop = true;
	}
	while (r->nwork && !r->stop) {
		size_t bytes = plan_batch(r, &b);

		if (r->st.objects_scanned + b.n > r->max_objects) {
			r->st.budget_exhausted = r->stop = true;
			goreach__incomplete(r, "object budget exhausted");
			break;
		}
		if (!goreach__budget(r, bytes) || goreach__read_batch(r, b.reqs, b.nr))
			break;
		r->st.objects_scanned += b.n;
		for (size_t i = 0; i < b.n && !r->stop; i++) {
			const struct pending *p = &b.p[i];
			const struct vmread_req *x = p->xreq >= 0 ? &b.reqs[p->xreq] : NULL;

			if (!b.reqs[p->dreq].ok) {
				goreach__incomplete(r, "a heap object unreadable");
				continue;
			}
			scan_pending(r, p, r->buf + p->off, x && x->ok ? x->buf : NULL);
		}
	}
	free(b.p);
	free(b.reqs);
	free(b.xbuf);
}
