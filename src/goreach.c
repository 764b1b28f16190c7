// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The run of goreach.h: setup, roots, the blocked goroutines and the
 * fixpoint, verdicts. Invariants:
 *  - an object is marked only once (a bit per object in its span);
 *  - the g and sudogs of a blocked goroutine are "cut": reaching them marks
 *    them BLOCKED and scans nothing, until the goroutine is found wakeable;
 *  - every byte read counts against the budget; a failed or refused read
 *    sets incomplete, which turns every "unreachable" into "unknown".
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gobin.h"
#include "goreach_int.h"
#include "x86insn.h"

static uint64_t arenas_slot_from_code(struct goreach *r);

const char *goreach__heap_index(struct goreach *r, uint64_t *slot, uint64_t *decoded)
{
	*slot = r->arenas_slot;
	*decoded = arenas_slot_from_code(r);
	return r->heap_index;
}

const char *goreach_verdict_name(enum goreach_verdict v)
{
	switch (v) {
	case GOREACH_REACHABLE:
		return "reachable";
	case GOREACH_UNREACHABLE:
		return "unreachable";
	default:
		return "unknown";
	}
}

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- reading, with the budget ---- */

/* Something was not read: no "unreachable" in this run. why: the first cause, for the record. */
void goreach__incomplete(struct goreach *r, const char *why)
{
	if (!r->st.incomplete)
		r->st.incomplete_why = why;
	r->st.incomplete = true;
}

bool goreach__budget(struct goreach *r, uint64_t more)
{
	if (r->st.bytes_read + more <= r->max_bytes)
		return true;
	r->st.budget_exhausted = true;
	goreach__incomplete(r, "budget exhausted");
	r->stop = true;
	return false;
}

/* Read reqs; 0 or a fatal -errno (the process is gone). Failed requests have ok false. */
int goreach__read_batch(struct goreach *r, struct vmread_req *reqs, size_t n)
{
	long got;

	for (size_t i = 0; i < n; i++)
		r->st.bytes_read += reqs[i].len;
	r->st.reads += (n + 1023) / 1024;
	got = vmread__batch(r->pid, reqs, n);
	if (got < 0) {
		r->err = (int)got;
		r->stop = true;
		return (int)got;
	}
	return 0;
}

int goreach__read(struct goreach *r, uint64_t addr, void *buf, size_t len)
{
	struct vmread_req q = { .addr = addr, .buf = buf, .len = len };

	if (goreach__read_batch(r, &q, 1))
		return r->err;
	return q.ok ? 0 : -EFAULT;
}

/* ---- setup ---- */

static int read_mask(struct goreach *r, uint64_t md, uint32_t off, uint8_t **mask, uint64_t *bits)
{
	struct {
		int32_t n, pad;
		uint64_t bytedata;
	} bv;
	size_t len;

	if (goreach__read(r, md + off, &bv, sizeof(bv)) || bv.n <= 0 || !bv.bytedata)
		return -ENOENT;
	len = ((size_t)bv.n + 7) / 8;
	if (len > (64u << 20))
		return -EINVAL;
	*mask = malloc(len);
	if (!*mask)
		return -ENOMEM;
	if (goreach__read(r, bv.bytedata, *mask, len)) {
		free(*mask);
		*mask = NULL;
		return -ENOENT;
	}
	*bits = (uint64_t)bv.n;
	return 0;
}

static int read_moduledata(struct goreach *r, uint64_t md)
{
	const struct go_obj_layout *l = r->l;
	uint8_t b[600];

	if (l->md_gcbssmask + 16 > sizeof(b) || goreach__read(r, md, b, l->md_gcbssmask + 16))
		return -EINVAL;
	r->data = (struct region){ u64_at(b, l->md_data), u64_at(b, l->md_edata) };
	r->bss = (struct region){ u64_at(b, l->md_bss), u64_at(b, l->md_ebss) };
	r->globals[0] = r->data;
	r->globals[1] = r->bss;
	r->globals[2] = (struct region){ u64_at(b, l->md_noptrdata), u64_at(b, l->md_enoptrdata) };
	r->globals[3] = (struct region){ u64_at(b, l->md_noptrbss), u64_at(b, l->md_enoptrbss) };
	for (int i = 0; i < 4; i++)
		if (r->globals[i].hi < r->globals[i].lo ||
		    r->globals[i].hi - r->globals[i].lo > (1ull << 32))
			return -EINVAL;
	/* without a mask every word of the section is taken for a pointer */
	read_mask(r, md, l->md_gcdatamask, &r->datamask, &r->datamask_bits);
	read_mask(r, md, l->md_gcbssmask, &r->bssmask, &r->bssmask_bits);
	return 0;
}

/*
 * Where mheap_.arenas[0] is, in a binary without symbols: runtime.findObject
 * starts with spanOf(p), whose first RIP-relative 64-bit load (mov
 * disp32(%rip), r64) is mheap_.arenas[0] on linux/amd64 (arenaL1Bits = 0)
 * in every version 1.20 to 1.26. The code is read from the process.
 */
static uint64_t arenas_slot_from_code(struct goreach *r)
{
	uint64_t entry, end, bias = goobj__bias(r->o);
	uint8_t code[256];
	size_t len, off = 0;

	if (gobin__func(goobj__bin(r->o), "runtime.findObject", &entry, &end) || end <= entry)
		return 0;
	len = end - entry < sizeof(code) ? end - entry : sizeof(code);
	if (goreach__read(r, entry + bias, code, len))
		return 0;
	while (off < len) {
		struct x86_insn in;

		if (!x86_insn__decode(code + off, len - off, &in))
			return 0;
		off += in.len;
		if (in.map == 0 && in.op == 0x8b && (in.rex & 8) && !in.seg && in.has_modrm &&
		    (in.modrm & 0xc7) == 0x05)
			return entry + bias + off + (uint64_t)(int64_t)in.disp;
	}
	return 0;
}

struct goreach *goreach__new(struct goobj *o, const struct goreach_opts *opts, char *why,
			     size_t why_len)
{
	struct goreach *r = calloc(1, sizeof(*r));
	const struct gobin *b = goobj__bin(o);
	uint64_t md, entry, end;
	int err = ENOMEM;

	if (!r) {
		snprintf(why, why_len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->o = o;
	r->pid = goobj__pid(o);
	r->l = goobj__layout(o);
	r->gl = goobj__glayout(o);
	r->max_bytes = opts && opts->max_bytes ? opts->max_bytes : DEF_MAX_BYTES;
	r->max_objects = opts && opts->max_objects ? opts->max_objects : DEF_MAX_OBJECTS;
	r->ghdr_len = goreach__g_len(r->gl, r->l);
	r->green_tea = -1;
	r->buf = malloc(ROUND_BYTES);
	if (!r->buf)
		goto fail;
	md = goobj__var(o, "runtime.firstmoduledata");
	r->allglen = goobj__var(o, "runtime.allglen");
	r->allgptr = goobj__var(o, "runtime.allgptr");
	r->max_bytes = ~0ull; /* the setup is not part of a run's budget */
	r->arenas_slot = goobj__var(o, "runtime.mheap_");
	if (r->arenas_slot) {
		r->arenas_slot += r->l->mheap_arenas;
		r->heap_index = "runtime.mheap_";
	} else if ((r->arenas_slot = arenas_slot_from_code(r))) {
		r->heap_index = "runtime.findObject";
	}
	if (!md || !r->arenas_slot) {
		snprintf(why, why_len, "pid %u: cannot find %s", r->pid,
			 md ? "runtime.mheap_ (nor decode runtime.findObject)" :
			      "runtime.firstmoduledata");
		err = ENOTSUP;
		goto fail;
	}
	if (read_moduledata(r, md)) {
		snprintf(why, why_len, "pid %u: unreadable runtime.firstmoduledata", r->pid);
		err = EINVAL;
		goto fail;
	}
	r->stk = goreach_funcs__new(r->pid, r->l, md);
	if (!r->stk) {
		err = errno;
		snprintf(why, why_len, "pid %u: unreadable function table", r->pid);
		goto fail;
	}
	r->max_bytes = opts && opts->max_bytes ? opts->max_bytes : DEF_MAX_BYTES;
	if (!gobin__func(b, "runtime.asyncPreempt", &entry, &end))
		goreach_funcs__conservative(r->stk, entry + goobj__bias(o));
	if (!gobin__func(b, "runtime.debugCallV2", &entry, &end))
		goreach_funcs__conservative(r->stk, entry + goobj__bias(o));
	if (!gobin__func(b, "runtime.goexit", &entry, &end)) {
		r->goexit_lo = entry + goobj__bias(o);
		r->goexit_hi = end + goobj__bias(o);
	}
	return r;
fail:
	goreach__free(r);
	errno = err;
	return NULL;
}

static void free_run(struct goreach *r)
{
	uint64_t key;
	void *v;

	for (size_t it = 0; r->arena_spans && hmap__next(r->arena_spans, &it, &key, &v);)
		free(v);
	for (size_t it = 0; r->spans && hmap__next(r->spans, &it, &key, &v);) {
		free(((struct span *)v)->mark);
		free(v);
	}
	for (size_t it = 0; r->types && hmap__next(r->types, &it, &key, &v);) {
		free(((struct tinfo *)v)->mask);
		free(v);
	}
	hmap__free(r->types);
	r->types = NULL;
	hmap__free(r->arena_ptr);
	hmap__free(r->arena_spans);
	hmap__free(r->spans);
	hmap__free(r->fresh);
	hmap__free(r->blocked);
	hmap__free(r->roots);
	hmap__free(r->cut);
	hmap__free(r->trace);
	r->arena_ptr = r->arena_spans = r->spans = r->fresh = r->cut = r->trace = NULL;
	r->blocked = r->roots = NULL;
	free(r->gkind);
	free(r->gwait);
	free(r->stack_ref);
	free(r->moved);
	r->moved = NULL;
	free(r->stacks);
	r->gkind = NULL;
	r->gwait = NULL;
	r->stack_ref = NULL;
	r->stacks = NULL;
	r->nwork = r->nsjobs = r->nlater = 0;
	memset(r->pcache, 0, sizeof(r->pcache));
	r->last_ri = r->last_ha = 0;
}

void goreach__free(struct goreach *r)
{
	if (!r)
		return;
	free_run(r);
	goreach_funcs__free(r->stk);
	free(r->datamask);
	free(r->bssmask);
	free(r->work);
	free(r->sjobs);
	free(r->later);
	free(r->frames);
	free(r->sobjs);
	free(r->sq);
	free(r->buf);
	free(r);
}

/* data and bss, through the runtime's pointer masks */
static void scan_globals(struct goreach *r)
{
	struct region regs[2] = { r->data, r->bss };
	const uint8_t *masks[2] = { r->datamask, r->bssmask };
	uint64_t bits[2] = { r->datamask_bits, r->bssmask_bits };

	for (int k = 0; k < 2 && !r->stop; k++) {
		for (uint64_t a = regs[k].lo; a < regs[k].hi && !r->stop; a += ROUND_BYTES) {
			uint64_t len = regs[k].hi - a > ROUND_BYTES ? ROUND_BYTES : regs[k].hi - a;
			uint64_t first = (a - regs[k].lo) / 8;

			if (!goreach__budget(r, len))
				return;
			if (goreach__read(r, a, r->buf, len)) {
				goreach__incomplete(r, "data/bss unreadable");
				continue;
			}
			if (masks[k]) {
				uint64_t nb = bits[k] > first ? bits[k] - first : 0;

				/* the mask of this window: shift it when the window is not the first */
				if (first % 8 == 0)
					goreach__scan_masked(r, a, r->buf, len,
							     masks[k] + first / 8, nb, 0);
				else
					goreach__scan_words(r, a, r->buf, len, 0);
			} else {
				goreach__scan_words(r, a, r->buf, len, 0);
			}
		}
	}
	goreach__drain(r);
}

/* ---- the blocked goroutines ---- */

static int stackref_cmp(const void *a, const void *b)
{
	const struct stackref *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The goroutine whose stack holds a, or -1. */
static long stack_owner(const struct goreach *r, uint64_t a)
{
	size_t lo = 0, hi = r->nstacks;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->stacks[mid].hi <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->nstacks && a >= r->stacks[lo].lo)
		return r->stacks[lo].gi;
	return -1;
}

/* Is object a (what a goroutine waits on) reachable now? *root: from where. */
static enum goreach_verdict obj_verdict(struct goreach *r, uint64_t a, uint32_t *root)
{
	const struct span *sp;
	uint64_t base;
	long gi;
	void *v;

	for (int i = 0; i < 4; i++)
		if (in_region(&r->globals[i], a)) {
			*root = 0;
			return GOREACH_REACHABLE;
		}
	if ((sp = goreach__object(r, a, &base))) {
		if (!goreach__marked(sp, base))
			return GOREACH_UNREACHABLE; /* so far */
		v = hmap__get(r->roots, base);
		*root = v && ((uintptr_t)v & 3) == M_MARKED ? (uint32_t)((uintptr_t)v >> 2) : 0;
		return GOREACH_REACHABLE;
	}
	gi = stack_owner(r, a);
	if (gi >= 0) {
		if (r->gkind[gi] == G_ROOT || r->gkind[gi] == G_WOKEN) {
			*root = (uint32_t)gi + 1;
			return GOREACH_REACHABLE;
		}
		if (r->stack_ref[gi]) {
			*root = r->stack_ref[gi] - 1;
			return GOREACH_REACHABLE;
		}
		return GOREACH_UNREACHABLE;
	}
	return GOREACH_UNKNOWN; /* not the heap, not a global, not a stack */
}

/* Wake candidate gi: its stack becomes a root, its g and sudogs are followed again. */
static void wake(struct goreach *r, size_t gi, const struct go_wait *w)
{
	uint64_t cut[GO_WAIT_MAX_OBJS + 1];
	size_t nc = 0;
	uint32_t root = (uint32_t)gi + 1;

	r->gkind[gi] = G_WOKEN;
	r->st.promoted++;
	cut[nc++] = r->s->g[gi].g;
	for (uint32_t i = 0; i < w->nr_sudogs; i++)
		cut[nc++] = w->sudogs[i];
	for (size_t i = 0; i < nc; i++) {
		const struct span *sp;
		uint64_t base;

		hmap__del(r->cut, cut[i]);
		if (!(sp = goreach__object(r, cut[i], &base)))
			continue;
		hmap__del(r->cut, base);
		hmap__del(r->blocked, base);
		if (goreach__mark(r, sp, base, root) && !sp->noscan)
			goreach__push_object(r, base, sp->elemsize, root, sp);
	}
	goreach__push_stack(r, (struct sjob){ r->s->g[gi].g, r->s->g[gi].goid, root, 0 });
}

/* Classify the goroutines of the snapshot, cut the blocked ones, queue the live stacks. */
static int setup_run(struct goreach *r, const struct gosnap *s, const struct go_wait *waits,
		     size_t n)
{
	r->s = s;
	r->waits = waits;
	r->gkind = calloc(s->n + 1, 1);
	r->gwait = malloc((s->n + 1) * sizeof(*r->gwait));
	r->stack_ref = calloc(s->n + 1, sizeof(*r->stack_ref));
	r->moved = calloc(s->n + 1, sizeof(*r->moved));
	r->stacks = calloc(s->n + 1, sizeof(*r->stacks));
	r->arena_ptr = hmap__new();
	r->arena_spans = hmap__new();
	r->spans = hmap__new();
	r->fresh = hmap__new();
	r->types = hmap__new();
	r->blocked = hmap__new();
	r->roots = hmap__new();
	r->cut = hmap__new();
	if (!r->gkind || !r->gwait || !r->stack_ref || !r->moved || !r->stacks || !r->arena_ptr ||
	    !r->arena_spans || !r->spans || !r->fresh || !r->types || !r->blocked || !r->roots ||
	    !r->cut)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		r->gwait[i] = -1;
	for (size_t k = 0; k < n; k++) {
		const struct go_wait *w = &waits[k];

		if (w->index >= s->n)
			continue;
		r->gwait[w->index] = (int32_t)k;
		if (w->never)
			r->gkind[w->index] = G_NEVER;
		else if (w->nr_objs && !w->truncated)
			r->gkind[w->index] = G_CAND;
		else
			continue; /* what it waits on is not known: it stays a root */
		if (hmap__set(r->cut, s->g[w->index].g, (void *)(uintptr_t)(w->index + 1)))
			return -ENOMEM;
		for (uint32_t j = 0; j < w->nr_sudogs; j++)
			if (hmap__set(r->cut, w->sudogs[j], (void *)(uintptr_t)(w->index + 1)))
				return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (s->g[i].stack_hi > s->g[i].stack_lo)
			r->stacks[r->nstacks++] =
				(struct stackref){ s->g[i].stack_lo, s->g[i].stack_hi,
						   (uint32_t)i };
		if (r->gkind[i] == G_ROOT &&
		    goreach__push_stack(
			    r, (struct sjob){ s->g[i].g, s->g[i].goid, (uint32_t)i + 1, 0 }))
			return -ENOMEM;
	}
	if (r->nstacks > 1)
		qsort(r->stacks, r->nstacks, sizeof(*r->stacks), stackref_cmp);
	/* only worth looking for pointers into stacks if an object lives on one */
	for (size_t k = 0; k < n; k++)
		for (uint32_t j = 0; j < waits[k].nr_objs; j++)
			if (stack_owner(r, waits[k].objs[j]) >= 0)
				r->want_stack_refs = true;
	if (goreach__read(r, r->arenas_slot, &r->arenas_l2, 8) || !r->arenas_l2)
		return -EINVAL;
	/* the objects waited on: where they are reached from is kept, for the verdicts */
	for (size_t k = 0; k < n; k++)
		for (uint32_t j = 0; j < waits[k].nr_objs; j++) {
			uint64_t base;

			if (goreach__object(r, waits[k].objs[j], &base) &&
			    hmap__set(r->roots, base, (void *)1))
				return -ENOMEM;
		}
	if (getenv("TANGLE_GOREACH_TRACE")) {
		r->trace_addr = strtoull(getenv("TANGLE_GOREACH_TRACE"), NULL, 0);
		r->trace = hmap__new();
	}
	return 0;
}

/* Debugging: how the object at r->trace_addr was reached, innermost first, on stderr. */
static void print_trace(struct goreach *r)
{
	const struct span *sp;
	uint64_t a = r->trace_addr, base;

	for (int depth = 0; depth < 64 && (sp = goreach__object(r, a, &base)); depth++) {
		void *v = hmap__get(r->trace, base);
		long gi;

		fprintf(stderr,
			"goreach trace: 0x%" PRIx64 " in object 0x%" PRIx64 "+%" PRIu64
			" (size %" PRIu64 ")\n",
			a, base, a - base, sp->elemsize);
		if (!v) {
			fprintf(stderr, "goreach trace: not marked from a scanned word\n");
			return;
		}
		a = (uint64_t)(uintptr_t)v;
		gi = stack_owner(r, a);
		if (gi >= 0) {
			fprintf(stderr,
				"goreach trace: <- stack of goroutine %" PRIu64 " at 0x%" PRIx64
				" (sp+%" PRIu64 ")\n",
				r->s->g[gi].goid, a, a - r->s->g[gi].sched_sp);
			return;
		}
	}
	fprintf(stderr, "goreach trace: <- 0x%" PRIx64 " (not in the heap: a global?)\n", a);
}

/* The root id of goroutines that were not in the snapshot. */
static uint32_t late_root(const struct goreach *r)
{
	return (uint32_t)r->s->n + 1;
}

/* Wake every candidate one of whose objects is reachable; true if any was. */
static bool wake_round(struct goreach *r, size_t n)
{
	bool any = false;

	for (size_t k = 0; k < n; k++) {
		const struct go_wait *w = &r->waits[k];

		if (w->index >= r->s->n || r->gkind[w->index] != G_CAND)
			continue;
		for (uint32_t j = 0; j < w->nr_objs; j++) {
			uint32_t root;

			if (obj_verdict(r, w->objs[j], &root) == GOREACH_REACHABLE) {
				wake(r, w->index, w);
				any = true;
				break;
			}
		}
	}
	return any;
}

static void root_name(const struct goreach *r, uint32_t root, char *buf, size_t len)
{
	if (root == late_root(r)) {
		snprintf(buf, len, "a goroutine started since the snapshot");
		return;
	}
	if (!root || root > r->s->n) {
		snprintf(buf, len, "data/bss");
		return;
	}
	snprintf(buf, len, "goroutine %" PRIu64 "%s", r->s->g[root - 1].goid,
		 r->gkind[root - 1] == G_WOKEN ? " (woken)" : "");
}

static void fixpoint(struct goreach *r, size_t n)
{
	while (!r->stop && wake_round(r, n)) {
		r->st.rounds++;
		goreach__drain(r);
		goreach__scan_stacks(r);
	}
}

/*
 * The process ran on while the snapshot's goroutines were scanned: a
 * goroutine started since may hold what its parent dropped, and a blocked
 * goroutine that ran meanwhile may hold what it received. Read allgs again:
 * every live goroutine the snapshot did not have becomes a root, every
 * blocked one whose status, wait stamp or saved context changed is woken
 * (its verdict will be "unknown"). Returns the number of new roots, or
 * -errno.
 */
static long late_pass(struct goreach *r)
{
	const struct go_layout *gl = r->gl;
	uint64_t len = 0, ptr = 0, *gs = NULL;
	uint32_t off = gl->g_atomicstatus, span = gl->g_waitsince + 8 - off;
	uint8_t *buf = NULL;
	struct vmread_req *reqs = NULL;
	struct hmap *known = hmap__new();
	long added = 0;

	if (!known || !r->allglen || !r->allgptr || span > 64 || gl->g_goid < off)
		goto fail;
	if (goreach__read(r, r->allglen, &len, 8) || goreach__read(r, r->allgptr, &ptr, 8) ||
	    !len || len > (16u << 20))
		goto fail;
	gs = malloc(len * 8);
	buf = malloc(len * 64);
	reqs = calloc(len, sizeof(*reqs));
	if (!gs || !buf || !reqs || !goreach__budget(r, len * (8 + span)) ||
	    goreach__read(r, ptr, gs, len * 8))
		goto fail;
	for (uint64_t i = 0; i < len; i++)
		reqs[i] = (struct vmread_req){ .addr = gs[i] + off,
					       .buf = buf + i * 64,
					       .len = span };
	if (goreach__read_batch(r, reqs, len))
		goto fail;
	for (size_t i = 0; i < r->s->n; i++)
		hmap__set(known, r->s->g[i].g, (void *)(uintptr_t)(i + 1));
	for (uint64_t i = 0; i < len && !r->stop; i++) {
		const uint8_t *b = buf + i * 64;
		uint32_t st;
		uint64_t goid = u64_at(b, gl->g_goid - off), ws = u64_at(b, gl->g_waitsince - off);
		uintptr_t k;

		memcpy(&st, b, 4);
		st &= ~(uint32_t)GO_SCAN;
		if (!reqs[i].ok || st == GO_DEAD || st == GO_IDLE || st == GO_DEADEXTRA || !goid)
			continue;
		k = (uintptr_t)hmap__get(known, gs[i]);
		if (!k || r->s->g[k - 1].goid != goid) {
			goreach__push_stack(r, (struct sjob){ gs[i], goid, late_root(r), 0 });
			added++;
			continue;
		}
		k--;
		if ((r->gkind[k] == G_CAND || r->gkind[k] == G_NEVER) &&
		    (st != r->s->g[k].status ||
		     (r->s->g[k].waitsince && ws != (uint64_t)r->s->g[k].waitsince))) {
			r->moved[k] = true;
			if (r->gkind[k] == G_CAND)
				wake(r, k, &r->waits[r->gwait[k]]);
			else
				goreach__push_stack(
					r, (struct sjob){ gs[i], goid, (uint32_t)k + 1, 0 });
			added++;
		}
	}
	r->st.late_roots += (uint64_t)added;
	goto out;
fail:
	goreach__incomplete(r, "allgs unreadable"); /* could not tell what ran meanwhile */
out:
	hmap__free(known);
	free(gs);
	free(buf);
	free(reqs);
	return added;
}

static void verdicts(struct goreach *r, size_t n, struct goreach_result *out)
{
	for (size_t k = 0; k < n; k++) {
		const struct go_wait *w = &r->waits[k];
		struct goreach_result *o = &out[k];
		bool unknown = false, reachable = false;

		memset(o, 0, sizeof(*o));
		if (w->index >= r->s->n)
			continue;
		if (r->moved[w->index] || (w->released && !w->nr_objs)) {
			snprintf(o->root, sizeof(o->root), "moved while read");
			continue;
		}
		if (w->never) {
			o->verdict = GOREACH_UNREACHABLE;
			snprintf(o->root, sizeof(o->root), "nothing can wake it");
			continue;
		}
		if (!w->nr_objs) {
			snprintf(o->root, sizeof(o->root), "object not found");
			continue;
		}
		for (uint32_t j = 0; j < w->nr_objs; j++) {
			uint32_t root = 0;

			o->objs[j] = obj_verdict(r, w->objs[j], &root);
			if (o->objs[j] == GOREACH_REACHABLE && !reachable) {
				reachable = true;
				root_name(r, root, o->root, sizeof(o->root));
			}
			unknown |= o->objs[j] == GOREACH_UNKNOWN;
		}
		if (reachable) {
			o->verdict = GOREACH_REACHABLE;
		} else if (unknown || w->truncated || r->st.incomplete) {
			o->verdict = GOREACH_UNKNOWN;
			snprintf(o->root, sizeof(o->root), "%s",
				 w->truncated		? "select with too many cases" :
				 r->st.budget_exhausted ? "budget exhausted" :
				 r->st.incomplete	? "incomplete read" :
							  "object outside the heap");
			for (uint32_t j = 0; j < w->nr_objs; j++)
				if (o->objs[j] == GOREACH_UNREACHABLE)
					o->objs[j] = GOREACH_UNKNOWN;
		} else {
			o->verdict = GOREACH_UNREACHABLE;
		}
	}
}

/*
 * Did goroutine g of the snapshot run since, by what its g says now? Its
 * status changed, or the GC's wait stamp did (the scheduler zeroes it when
 * the goroutine runs; the GC only sets a zero one). The GC may have moved
 * its stack meanwhile (shrinking it), which changes sp and the stack bounds
 * but not the distance from sp to the top.
 */
static bool ran_since(const struct goroutine *g, const struct ghdr *h)
{
	return h->goid != g->goid || h->status != g->status ||
	       (g->waitsince && h->waitsince != (uint64_t)g->waitsince);
}

/*
 * The goroutines judged unreachable must still be parked as they were in the
 * snapshot. One that moved was woken meanwhile: typically in the middle of a
 * wake-up when the snapshot was taken (its waker had already dropped the
 * channel by the time its stack was read), possibly by a path marking
 * missed. Either way its verdict is "unknown", and it now runs with what it
 * received: it is woken here (its stack becomes a root) and the caller
 * marks again. Returns how many moved, or -1 if they could not be read.
 */
static long confirm(struct goreach *r, size_t n, const struct goreach_result *out)
{
	const struct go_obj_layout *l = r->l;
	size_t c = 0, m = 0;
	uint8_t *gbuf, *sbuf;
	struct vmread_req *reqs;
	size_t *which;
	long moved = 0;

	/* buffers for those to confirm only: usually few of many waits */
	for (size_t k = 0; k < n; k++)
		c += out[k].verdict == GOREACH_UNREACHABLE && !r->waits[k].never;
	if (!c)
		return 0;
	gbuf = malloc(c * (r->ghdr_len + SUDOG_READ));
	reqs = calloc(2 * c, sizeof(*reqs));
	which = calloc(c, sizeof(*which));
	sbuf = gbuf ? gbuf + c * r->ghdr_len : NULL;
	if (!gbuf || !reqs || !which) {
		moved = -1;
		goto out;
	}
	/* each g, and the sudog that recorded its wait (torn down and reused when it wakes) */
	for (size_t k = 0; k < n; k++) {
		const struct go_wait *w = &r->waits[k];

		if (out[k].verdict != GOREACH_UNREACHABLE || w->never)
			continue;
		which[m] = k;
		reqs[2 * m] = (struct vmread_req){ .addr = r->s->g[w->index].g,
						   .buf = gbuf + m * r->ghdr_len,
						   .len = r->ghdr_len };
		reqs[2 * m + 1] = (struct vmread_req){ .addr = w->nr_sudogs ? w->sudogs[0] : 0,
						       .buf = sbuf + m * SUDOG_READ,
						       .len = SUDOG_READ };
		m++;
	}
	if (m && goreach__read_batch(r, reqs, 2 * m)) {
		moved = -1;
		goto out;
	}
	for (size_t i = 0; i < m; i++) {
		const struct go_wait *w = &r->waits[which[i]];
		const struct goroutine *g = &r->s->g[w->index];
		const uint8_t *sd = sbuf + i * SUDOG_READ;
		struct ghdr h;

		if (reqs[2 * i].ok && reqs[2 * i + 1].ok) {
			goreach__decode_g(r->gl, gbuf + i * r->ghdr_len, &h);
			if (!ran_since(g, &h) && h.reason == g->wait_reason_raw &&
			    h.pc == g->sched_pc && h.waiting == g->waiting &&
			    h.hi - h.sp == g->stack_hi - g->sched_sp &&
			    u64_at(sd, l->sudog_g) == g->g &&
			    (w->kind != GO_KIND_CHAN ||
			     u64_at(sd, l->sudog_c + l->sudog_ptr_adjust) == w->objs[0]))
				continue;
		}
		r->moved[w->index] = true;
		wake(r, w->index, w);
		moved++;
	}
out:
	free(gbuf);
	free(reqs);
	free(which);
	return moved;
}

int goreach__run(struct goreach *r, const struct gosnap *s, const struct go_wait *waits, size_t n,
		 struct goreach_result *out, struct goreach_stats *st)
{
	uint64_t t0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t sb0, sr0, sb1, sr1;
	int err;

	memset(&r->st, 0, sizeof(r->st));
	r->stop = false;
	r->err = 0;
	r->want_stack_refs = false;
	r->nstacks = 0;
	goreach_funcs__cost(r->stk, &sb0, &sr0);
	err = setup_run(r, s, waits, n);
	if (err) {
		r->err = err;
		goto out;
	}
	scan_globals(r);
	goreach__scan_stacks(r);
	fixpoint(r, n);
	/* what ran meanwhile: goroutines started since the snapshot, blocked ones that moved */
	if (!r->stop && late_pass(r) > 0) {
		goreach__scan_stacks(r);
		fixpoint(r, n);
	}
	if (r->err)
		goto out;
	/* until every goroutine judged unreachable is still parked as in the snapshot */
	for (int pass = 0;; pass++) {
		long moved;

		verdicts(r, n, out);
		if (r->stop || !(moved = confirm(r, n, out)))
			break;
		r->st.moved += moved > 0 ? (uint64_t)moved : 0;
		if (moved < 0 || pass == CONFIRM_PASSES) {
			goreach__incomplete(r, "blocked goroutines keep moving");
			verdicts(r, n, out);
			break;
		}
		goreach__scan_stacks(r);
		fixpoint(r, n);
	}
	if (r->trace)
		print_trace(r);
out:
	goreach_funcs__cost(r->stk, &sb1, &sr1);
	r->st.bytes_read += sb1 - sb0;
	r->st.reads += sr1 - sr0;
	r->st.wall_ns = now_ns(CLOCK_MONOTONIC) - t0;
	r->st.cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (st)
		*st = r->st;
	err = r->err;
	free_run(r);
	return err;
}
