// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goroutine stacks as GC roots: each is read between two reads of its g (a
 * goroutine that moved in between is read again), walked frame by frame
 * with the stack maps of goreach_funcs.h, its address-taken locals scanned
 * when a live slot points into them, its defer records followed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "goreach_int.h"

uint32_t goreach__g_len(const struct go_layout *gl, const struct go_obj_layout *l)
{
	uint32_t offs[] = {
		gl->g_atomicstatus, gl->g_stack_hi,  gl->g_sched_sp,  gl->g_sched_pc,
		gl->g_syscallsp,    gl->g_syscallpc, gl->g_waitsince, gl->g_goid,
		gl->g_waiting,	    l->g_panic,	     l->g_defer,      gl->g_waitreason
	};
	uint32_t max = 0;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		if (offs[i] > max)
			max = offs[i];
	return max + 8;
}

/* ---- stacks ---- */

void goreach__decode_g(const struct go_layout *gl, const uint8_t *b, struct ghdr *h)
{
	uint32_t st;

	memcpy(&st, b + gl->g_atomicstatus, 4);
	h->status = st & ~(uint32_t)GO_SCAN;
	h->lo = u64_at(b, gl->g_stack_lo);
	h->hi = u64_at(b, gl->g_stack_hi);
	h->sp = u64_at(b, gl->g_sched_sp);
	h->pc = u64_at(b, gl->g_sched_pc);
	h->ssp = u64_at(b, gl->g_syscallsp);
	h->spc = u64_at(b, gl->g_syscallpc);
	h->waitsince = u64_at(b, gl->g_waitsince);
	h->goid = u64_at(b, gl->g_goid);
	h->waiting = u64_at(b, gl->g_waiting);
	h->reason = b[gl->g_waitreason];
}

static void decode_records(const struct go_obj_layout *l, const uint8_t *b, struct ghdr *h)
{
	h->panic = u64_at(b, l->g_panic);
	h->defer = u64_at(b, l->g_defer);
}

static bool ghdr_same(const struct ghdr *a, const struct ghdr *b)
{
	return a->status == b->status && a->lo == b->lo && a->hi == b->hi && a->sp == b->sp &&
	       a->pc == b->pc && a->ssp == b->ssp && a->spc == b->spc &&
	       a->waitsince == b->waitsince && a->goid == b->goid;
}

/*
 * Where a goroutine's live frames are: from (pc, sp) saved when it parked
 * or entered a system call, precisely; a running one (its sp unknown) or
 * one in a state we do not walk: its whole stack, conservatively.
 */
static bool stack_region(const struct ghdr *h, uint64_t *lo, uint64_t *pc, bool *precise)
{
	if (h->hi <= h->lo || h->hi - h->lo > (1ull << 30))
		return false;
	*precise = true;
	switch (h->status) {
	case GO_SYSCALL:
		if (h->ssp >= h->lo && h->ssp < h->hi && h->spc) {
			*lo = h->ssp, *pc = h->spc;
			return true;
		}
		break;
	case GO_WAITING:
	case GO_RUNNABLE:
	case GO_PREEMPTED:
	case GO_LEAKED:
		if (h->sp >= h->lo && h->sp < h->hi && h->pc) {
			*lo = h->sp, *pc = h->pc;
			return true;
		}
		break;
	case GO_DEAD:
	case GO_IDLE:
		return false;
	default:
		break;
	}
	*precise = false;
	*lo = h->lo, *pc = 0;
	return true;
}

static bool word_at(const struct walkbuf *wb, uint64_t a, uint64_t *v)
{
	if (a < wb->lo || a + 8 > wb->hi || (a & 7))
		return false;
	*v = u64_at(wb->b, a - wb->lo);
	return true;
}

static void scan_range(struct goreach *r, const struct walkbuf *wb, uint64_t lo, uint64_t hi,
		       uint32_t root)
{
	if (lo < wb->lo)
		lo = wb->lo;
	if (hi > wb->hi)
		hi = wb->hi;
	if (lo < hi)
		goreach__scan_words(r, lo, wb->b + (lo - wb->lo), hi - lo, root);
}

static void scan_bits(struct goreach *r, const struct walkbuf *wb, uint64_t base,
		      const uint8_t *bits, uint32_t n, uint32_t root)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t v;

		if ((bits[i / 8] & (1u << (i % 8))) && word_at(wb, base + 8ull * i, &v)) {
			r->from = base + 8ull * i;
			goreach__reach(r, v, root);
		}
	}
}

/* A frame of the stack being scanned, from the first pass of walk_frames(). */
struct gframe {
	uint64_t sp, fp, varp;
	struct go_frame_info fi;
	bool conservative;
};

static int sobj_cmp(const void *a, const void *b)
{
	const struct sobj *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* A word pointing into the stack being scanned: queue the stack object it points into. */
void goreach__stack_hit(struct goreach *r, uint64_t w)
{
	size_t lo = 0, hi = r->nsobjs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->sobjs[mid].addr + r->sobjs[mid].rec->size <= w)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->nsobjs && w >= r->sobjs[lo].addr && !r->sobjs[lo].queued &&
	    r->nsq < r->nsobjs) {
		r->sobjs[lo].queued = true;
		r->sq[r->nsq++] = (uint32_t)lo;
	}
}

static int add_sobj(struct goreach *r, uint64_t addr, const struct go_stack_obj *rec)
{
	if (r->nsobjs == r->capsobjs) {
		size_t cap = r->capsobjs ? 2 * r->capsobjs : 64;
		struct sobj *o = realloc(r->sobjs, cap * sizeof(*o));
		uint32_t *q = realloc(r->sq, cap * sizeof(*q));

		if (o)
			r->sobjs = o;
		if (q)
			r->sq = q;
		if (!o || !q)
			return -ENOMEM;
		r->capsobjs = cap;
	}
	r->sobjs[r->nsobjs++] = (struct sobj){ addr, rec, false };
	return 0;
}

/* First pass: the frames from (pc, sp) and their stack objects; returns how many frames. */
static size_t collect_frames(struct goreach *r, const struct walkbuf *wb, uint64_t pc, uint64_t sp,
			     uint64_t *rest)
{
	bool cons_next = false;
	size_t n = 0;

	r->nsobjs = 0;
	*rest = 0;
	for (; sp < wb->hi; n++) {
		struct gframe *f;
		uint64_t ret;

		if (n == r->capframes) {
			size_t cap = r->capframes ? 2 * r->capframes : 64;
			struct gframe *fr =
				cap <= MAX_FRAMES ? realloc(r->frames, cap * sizeof(*fr)) : NULL;

			if (!fr)
				break;
			r->frames = fr;
			r->capframes = cap;
		}
		f = &r->frames[n];
		if (goreach_funcs__frame(r->stk, pc, &f->fi) || f->fi.spwrite)
			break;
		f->sp = sp;
		f->fp = sp + f->fi.frame_size + 8;
		if (f->fp > wb->hi)
			break;
		f->varp = f->fp - 8;
		if (f->varp > sp)
			f->varp -= 8; /* the saved frame pointer */
		f->conservative = f->fi.conservative || cons_next || !f->fi.has_maps ||
				  (f->varp > sp && !f->fi.locals_map);
		cons_next = f->fi.conservative;
		for (uint32_t i = 0; !f->conservative && i < f->fi.nobjs; i++) {
			const struct go_stack_obj *o = &f->fi.objs[i];
			uint64_t p = (o->off < 0 ? f->varp : f->fp) + (int64_t)o->off;

			/* below sp: not allocated in the frame yet */
			if (p >= sp && o->size > 0 && add_sobj(r, p, o))
				break;
		}
		if (f->fi.top || (pc > r->goexit_lo && pc <= r->goexit_hi) ||
		    !word_at(wb, f->fp - 8, &ret) || !ret)
			return n + 1;
		pc = ret;
		sp = f->fp;
	}
	*rest = sp; /* lost the thread of the frames from here */
	return n;
}

/*
 * The defer records of g._defer, linked through link, on the stack or in
 * the heap: their fn (which may be a closure allocated on the stack) and
 * link are pointers, and a heap record is kept as a whole.
 */
static void scan_defers(struct goreach *r, const struct walkbuf *wb, uint64_t d, uint32_t root)
{
	const struct go_obj_layout *l = r->l;

	for (int i = 0; i < 64 && d >= USER_MIN && !(d & 7); i++) {
		uint8_t rec[64];
		uint64_t fn, link;

		if (d >= wb->lo && d + l->defer_link + 8 <= wb->hi) {
			memcpy(rec, wb->b + (d - wb->lo), l->defer_link + 8);
		} else if (l->defer_link + 8 > sizeof(rec) ||
			   goreach__read(r, d, rec, l->defer_link + 8)) {
			goreach__incomplete(r, "a defer record unreadable");
			return;
		}
		fn = u64_at(rec, l->defer_fn);
		link = u64_at(rec, l->defer_link);
		r->from = d + l->defer_fn;
		goreach__reach(r, fn, root);
		r->from = d + l->defer_link;
		goreach__reach(r, link, root);
		if (rec[l->defer_heap]) {
			r->from = 0;
			goreach__reach(r, d, root);
		}
		d = link;
	}
}

/*
 * Scan the stack in wb of a parked goroutine from (pc, sp) up, as the GC
 * does: each frame's live slots by its stack maps (goreach_funcs.h); its
 * address-taken locals only if a live slot points into them, then by their
 * own masks; a frame without maps, asyncPreempt and the frame it
 * interrupted word by word; anything the walk cannot follow word by word
 * from there up.
 */
static void walk_frames(struct goreach *r, const struct walkbuf *wb, uint64_t pc, uint64_t sp,
			uint32_t root, const struct ghdr *h)
{
	uint64_t rest;
	size_t n = collect_frames(r, wb, pc, sp, &rest);

	if (r->nsobjs > 1)
		qsort(r->sobjs, r->nsobjs, sizeof(*r->sobjs), sobj_cmp);
	r->nsq = 0;
	r->cur_wb = wb;
	for (size_t k = 0; k < n; k++) {
		const struct gframe *f = &r->frames[k];

		if (f->conservative) {
			scan_range(r, wb, f->sp, f->varp, root);
			scan_range(r, wb, f->fp, f->fp + f->fi.args_bytes, root);
			r->st.frames_conservative++;
			continue;
		}
		if (f->fi.nlocals && f->varp > f->sp)
			scan_bits(r, wb, f->varp - 8ull * f->fi.nlocals, f->fi.locals,
				  f->fi.nlocals, root);
		if (f->fi.nargs)
			scan_bits(r, wb, f->fp, f->fi.args, f->fi.nargs, root);
		r->st.frames_precise++;
	}
	if (rest) {
		r->st.frames_conservative++;
		scan_range(r, wb, rest, wb->hi, root);
	}
	/* the panic record (always on the stack) and the defer chain, as the GC finds them */
	goreach__stack_hit(r, h->panic);
	scan_defers(r, wb, h->defer, root);
	for (size_t q = 0; q < r->nsq; q++) {
		const struct sobj *o = &r->sobjs[r->sq[q]];

		if (o->rec->mask)
			scan_bits(r, wb, o->addr, o->rec->mask, o->rec->ptrbytes / 8, root);
		else
			scan_range(r, wb, o->addr, o->addr + (uint32_t)o->rec->size, root);
	}
	r->cur_wb = NULL;
}

int goreach__push_stack(struct goreach *r, struct sjob j)
{
	if (r->nsjobs == r->capsjobs) {
		size_t cap = r->capsjobs ? 2 * r->capsjobs : 1024;
		struct sjob *v = realloc(r->sjobs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->sjobs = v;
		r->capsjobs = cap;
	}
	r->sjobs[r->nsjobs++] = j;
	return 0;
}

/* A running goroutine, to be read again after the others (its live frames are unknown). */
static void push_later(struct goreach *r, struct sjob j)
{
	if (r->nlater == r->caplater) {
		size_t cap = r->caplater ? 2 * r->caplater : 64;
		struct sjob *v = realloc(r->later, cap * sizeof(*v));

		if (!v) {
			r->err = -ENOMEM, r->stop = true;
			return;
		}
		r->later = v;
		r->caplater = cap;
	}
	r->later[r->nlater++] = j;
}

struct sread {
	struct sjob job;
	struct ghdr h1;
	uint64_t lo, pc, len;
	bool precise, have;
	uint8_t *stk;
};

/*
 * Scan the stacks of one group of queued goroutines: read each g afresh,
 * then its stack, then the g again; a goroutine that moved in between is
 * queued again, and after STACK_TRIES scanned word by word whatever it is.
 */
static void scan_stack_group(struct goreach *r, struct sread *sr, size_t n, uint8_t *gbuf)
{
	struct vmread_req *reqs = calloc(n + 1, sizeof(*reqs));
	size_t bytes = 0;

	if (!reqs) {
		r->err = -ENOMEM, r->stop = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		reqs[i] = (struct vmread_req){ .addr = sr[i].job.g,
					       .buf = gbuf + i * r->ghdr_len,
					       .len = r->ghdr_len };
	if (goreach__read_batch(r, reqs, n))
		goto out;
	for (size_t i = 0; i < n; i++) {
		sr[i].have = false;
		if (!reqs[i].ok) {
			goreach__incomplete(r, "a g unreadable");
			continue;
		}
		goreach__decode_g(r->gl, gbuf + i * r->ghdr_len, &sr[i].h1);
		if ((sr[i].job.goid && sr[i].h1.goid != sr[i].job.goid) ||
		    !stack_region(&sr[i].h1, &sr[i].lo, &sr[i].pc, &sr[i].precise))
			continue; /* exited (and maybe reused): nothing of it to scan */
		if (sr[i].h1.status == GO_RUNNING && sr[i].job.tries < STACK_TRIES) {
			/* its sp is in a register: wait for it to park rather than scan it all */
			sr[i].job.tries++;
			push_later(r, sr[i].job);
			continue;
		}
		if (sr[i].job.tries >= STACK_TRIES)
			sr[i].precise = false;
		if (!sr[i].precise)
			sr[i].lo = sr[i].h1.status == GO_RUNNING ? sr[i].h1.lo : sr[i].lo;
		sr[i].len = sr[i].h1.hi - sr[i].lo;
		if (bytes + sr[i].len > ROUND_BYTES && bytes) {
			goreach__push_stack(r, sr[i].job); /* next group */
			continue;
		}
		if (sr[i].len > ROUND_BYTES) {
			sr[i].len = ROUND_BYTES; /* a huge stack: its top only, and incomplete */
			goreach__incomplete(r, "a stack larger than a read");
		}
		sr[i].stk = r->buf + bytes;
		bytes += sr[i].len;
		sr[i].have = true;
	}
	if (!goreach__budget(r, bytes))
		goto out;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (sr[i].have)
			reqs[m++] = (struct vmread_req){ .addr = sr[i].lo,
							 .buf = sr[i].stk,
							 .len = sr[i].len };
	if (goreach__read_batch(r, reqs, m))
		goto out;
	for (size_t i = 0, k = 0; i < n; i++)
		if (sr[i].have && !reqs[k++].ok)
			sr[i].have = false, goreach__incomplete(r, "a stack unreadable");
	/* the gs again: a goroutine that ran meanwhile has another stack now */
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (sr[i].have)
			reqs[m++] = (struct vmread_req){ .addr = sr[i].job.g,
							 .buf = gbuf + i * r->ghdr_len,
							 .len = r->ghdr_len };
	if (goreach__read_batch(r, reqs, m))
		goto out;
	for (size_t i = 0, k = 0; i < n && !r->stop; i++) {
		struct ghdr h2;
		struct walkbuf wb;
		uint32_t root = sr[i].job.root;

		if (!sr[i].have)
			continue;
		if (!reqs[k++].ok) {
			goreach__incomplete(r, "a g unreadable (again)");
			continue;
		}
		goreach__decode_g(r->gl, gbuf + i * r->ghdr_len, &h2);
		decode_records(r->l, gbuf + i * r->ghdr_len, &h2);
		if (sr[i].precise && !ghdr_same(&sr[i].h1, &h2)) {
			r->st.stack_retries++;
			sr[i].job.tries++;
			sr[i].job.goid = h2.goid;
			goreach__push_stack(r, sr[i].job);
			continue;
		}
		wb = (struct walkbuf){ sr[i].stk, sr[i].lo, sr[i].lo + sr[i].len };
		r->st.stacks_scanned++;
		if (sr[i].precise)
			walk_frames(r, &wb, sr[i].pc, sr[i].lo, root, &h2);
		else
			scan_range(r, &wb, wb.lo, wb.hi, root), r->st.frames_conservative++;
	}
out:
	free(reqs);
}

/* Scan every queued stack (and what they reach). */
void goreach__scan_stacks(struct goreach *r)
{
	struct sread *sr = calloc(STACK_GROUP, sizeof(*sr));
	uint8_t *gbuf = malloc((size_t)STACK_GROUP * r->ghdr_len);

	if (!sr || !gbuf) {
		r->err = -ENOMEM, r->stop = true;
		goto out;
	}
	for (;;) {
		while (r->nsjobs && !r->stop) {
			size_t n = 0;

			while (r->nsjobs && n < STACK_GROUP)
				sr[n++].job = r->sjobs[--r->nsjobs];
			scan_stack_group(r, sr, n, gbuf);
			/* the buffer is reused: scan what the stacks reach before the next group */
			goreach__drain(r);
		}
		if (!r->nlater || r->stop)
			break;
		usleep(RUNNING_WAIT_US);
		while (r->nlater)
			goreach__push_stack(r, r->later[--r->nlater]);
	}
out:
	free(sr);
	free(gbuf);
}
