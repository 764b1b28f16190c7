// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading goroutines from outside. Every number read from the target is
 * untrusted: counts are capped, pointers are only dereferenced through
 * vmread (a bad one fails that read, nothing else), frame pointers must
 * climb inside the goroutine's own stack bounds.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gobin.h"
#include "goproc.h"
#include "hmap.h"
#include "log.h"
#include "vmread.h"

#define MAX_ALLGS (16u << 20) /* 16M goroutines: beyond this it is not a sane allgs */
#define MAX_LABELS 64
#define MAX_LABEL_LEN 1024
#define MAX_SELECT 16
#define G_READ_MAX 1024 /* bytes of a g we may read */

struct pc_names {
	uint32_t n;
	struct frame f[];
};

struct goproc {
	char proc_root[128];
	uint32_t pid;
	char exe[PATH_MAX];
	struct gobin *bin;
	struct go_layout l;
	uint64_t bias;
	uint64_t allglen_addr, allgptr_addr;
	uint32_t g_read; /* bytes of each g we read: up to the last member used */
	uint64_t goexit_lo, goexit_hi; /* runtime.goexit, where every stack ends */
	/* wait reasons read from the target when the table lacks its version */
	char *reason_buf;
	const char **reasons;
	struct hmap *names; /* pc*2 + is_return -> struct pc_names */
};

struct snap_priv {
	uint64_t *pcs;
	size_t nr_pcs, cap_pcs;
	struct hmap *label_sets; /* labels_ptr -> struct label_set */
};

struct label_set {
	uint32_t n;
	struct go_label l[MAX_LABELS];
	char *strings;
};

static struct vmread_req req(uint64_t addr, void *buf, size_t len)
{
	return (struct vmread_req){ .addr = addr, .buf = buf, .len = len };
}

static int read_u64(const struct goproc *p, uint64_t addr, uint64_t *v)
{
	return vmread__one(p->pid, addr, v, sizeof(*v));
}

/* Load bias: where the kernel put the entry point minus where the ELF says it is. */
static int load_bias(struct goproc *p)
{
	char path[PATH_MAX];
	uint64_t auxv[2], entry = 0;
	Elf64_Ehdr eh;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/exe", p->proc_root, p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, &eh, sizeof(eh), 0);
	close(fd);
	if (n != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		return -ENOEXEC;
	snprintf(path, sizeof(path), "%s/%u/auxv", p->proc_root, p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (read(fd, auxv, sizeof(auxv)) == (ssize_t)sizeof(auxv) && auxv[0] != AT_NULL) {
		if (auxv[0] == AT_ENTRY)
			entry = auxv[1];
	}
	close(fd);
	if (!entry)
		return -ESRCH; /* a zombie or a kernel thread has no auxv */
	p->bias = entry - eh.e_entry;
	return 0;
}

/* The byte after the last member the reader uses. */
static uint32_t g_read_len(const struct go_layout *l)
{
	uint32_t offs[] = { l->g_m,	    l->g_sched_bp,     l->g_syscallsp,
			    l->g_syscallpc, l->g_atomicstatus, l->g_goid,
			    l->g_waitsince, l->g_lockedm,      l->g_gopc,
			    l->g_startpc,   l->g_waiting,      l->g_labels };
	uint32_t max = l->g_sched_g;

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		if (offs[i] > max)
			max = offs[i];
	if (l->g_syscallbp > 0 && (uint32_t)l->g_syscallbp > max)
		max = (uint32_t)l->g_syscallbp;
	if (l->g_parent_goid > 0 && (uint32_t)l->g_parent_goid > max)
		max = (uint32_t)l->g_parent_goid;
	return max + 8;
}

/*
 * A version the table lacks but DWARF described: take the wait reason
 * strings from the runtime's own waitReasonStrings array ([N]string).
 */
static void reasons_from_memory(struct goproc *p)
{
	uint64_t addr, hdr[2 * 64];
	size_t n = 0, total = 0;

	if (gobin__var(p->bin, "runtime.waitReasonStrings", &addr) ||
	    vmread__one(p->pid, addr + p->bias, hdr, sizeof(hdr)))
		return;
	while (n < 64 && hdr[2 * n + 1] < 64 && (n == 0 || hdr[2 * n]))
		total += hdr[2 * n + 1] + 1, n++;
	p->reason_buf = calloc(1, total + 1);
	p->reasons = calloc(n ? n : 1, sizeof(*p->reasons));
	if (!p->reason_buf || !p->reasons)
		return;
	for (size_t i = 0, off = 0; i < n; i++) {
		char *s = p->reason_buf + off;

		if (hdr[2 * i + 1] && vmread__one(p->pid, hdr[2 * i], s, hdr[2 * i + 1]))
			s[0] = '\0';
		p->reasons[i] = s;
		off += hdr[2 * i + 1] + 1;
	}
	p->l.wait_reasons = p->reasons;
	p->l.nr_wait_reasons = n;
}

struct goproc *goproc__open(const char *proc_root, uint32_t pid, char *why, size_t why_len)
{
	char path[PATH_MAX];
	struct goproc *p;
	uint64_t entry, end;
	ssize_t len;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(why, why_len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	snprintf(p->proc_root, sizeof(p->proc_root), "%s", proc_root);
	p->pid = pid;
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, pid);
	len = readlink(path, p->exe, sizeof(p->exe) - 1);
	if (len < 0) {
		err = errno == ENOENT ? ESRCH : errno;
		snprintf(why, why_len, "pid %u: %s", pid,
			 err == ESRCH ? "no such process" : strerror(err));
		goto fail;
	}
	p->exe[len] = '\0';
	p->bin = gobin__open(path);
	if (!p->bin) {
		err = errno;
		if (err == ENOEXEC)
			snprintf(why, why_len, "pid %u (%s) is not a Go program", pid, p->exe);
		else if (err == EINVAL)
			snprintf(
				why, why_len,
				"pid %u (%s): its Go tables are unreadable (corrupt, or older than "
				"go1.20)",
				pid, p->exe);
		else
			snprintf(why, why_len, "pid %u: cannot read %s: %s", pid, p->exe,
				 strerror(err));
		goto fail;
	}
	/* TANGLE_GO_OFFSETS=table|dwarf forces one source of offsets (tests compare them) */
	const char *force = getenv("TANGLE_GO_OFFSETS");
	enum go_layout_source src = !force		    ? GO_LAYOUT_AUTO :
				    !strcmp(force, "table") ? GO_LAYOUT_TABLE :
				    !strcmp(force, "dwarf") ? GO_LAYOUT_DWARF :
							      GO_LAYOUT_AUTO;

	if (golayout__get(p->bin, src, &p->l, why, why_len)) {
		err = ENOTSUP;
		goto fail;
	}
	err = -load_bias(p);
	if (err) {
		snprintf(why, why_len, "pid %u: %s", pid,
			 err == ESRCH || err == ENOENT ? "no such process" : strerror(err));
		if (err == ENOENT)
			err = ESRCH;
		goto fail;
	}
	if (gobin__var(p->bin, "runtime.allglen", &p->allglen_addr) ||
	    gobin__var(p->bin, "runtime.allgptr", &p->allgptr_addr)) {
		snprintf(why, why_len, "pid %u (%s): cannot find runtime.allgptr/allglen", pid,
			 p->exe);
		err = EINVAL;
		goto fail;
	}
	p->allglen_addr += p->bias;
	p->allgptr_addr += p->bias;
	if (!gobin__func(p->bin, "runtime.goexit", &entry, &end)) {
		p->goexit_lo = entry + p->bias;
		p->goexit_hi = end + p->bias;
	}
	p->g_read = g_read_len(&p->l);
	if (p->g_read > G_READ_MAX) {
		snprintf(why, why_len, "pid %u: implausible runtime.g layout", pid);
		err = EINVAL;
		goto fail;
	}
	if (!p->l.nr_wait_reasons)
		reasons_from_memory(p);
	p->names = hmap__new();
	if (!p->names) {
		err = ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto fail;
	}
	return p;
fail:
	goproc__free(p);
	errno = err;
	return NULL;
}

void goproc__free(struct goproc *p)
{
	uint64_t key;
	void *val;

	if (!p)
		return;
	if (p->names) {
		for (size_t it = 0; hmap__next(p->names, &it, &key, &val);)
			free(val);
		hmap__free(p->names);
	}
	gobin__free(p->bin);
	free(p->reason_buf);
	free(p->reasons);
	free(p);
}

uint32_t goproc__pid(const struct goproc *p)
{
	return p->pid;
}

const char *goproc__version(const struct goproc *p)
{
	return gobin__version(p->bin);
}

const char *goproc__exe(const struct goproc *p)
{
	return p->exe;
}

const struct go_layout *goproc__layout(const struct goproc *p)
{
	return &p->l;
}

bool goproc__stripped(const struct goproc *p)
{
	return gobin__stripped(p->bin);
}

bool goproc__cgo(const struct goproc *p)
{
	return gobin__cgo(p->bin);
}

/* ---- names of pcs ---- */

void goproc__frames(struct goproc *p, uint64_t pc, bool is_return, struct frame *out, size_t max,
		    size_t *n)
{
	uint64_t key = pc << 1 | is_return;
	struct pc_names *pn = hmap__get(p->names, key);

	if (!pn) {
		struct gobin_frame gf[16];
		size_t nr = 0;
		uint64_t at = pc - p->bias - (is_return ? 1 : 0);

		if (pc < p->bias || gobin__symbolize(p->bin, at, gf, 16, &nr))
			nr = 0;
		pn = malloc(sizeof(*pn) + nr * sizeof(pn->f[0]));
		if (!pn) {
			*n = 0;
			return;
		}
		pn->n = (uint32_t)nr;
		for (size_t i = 0; i < nr; i++) {
			struct frame *f = &pn->f[i];

			memset(f, 0, sizeof(*f));
			f->addr = pc;
			snprintf(f->function, sizeof(f->function), "%s", gf[i].function);
			snprintf(f->file, sizeof(f->file), "%s", gf[i].file);
			f->line = gf[i].line;
			f->inlined = gf[i].inlined;
			f->offset = gf[i].inlined ? 0 : pc - (gf[i].entry + p->bias);
			snprintf(f->module, sizeof(f->module), "%.*s", (int)sizeof(f->module) - 1,
				 p->exe);
		}
		if (hmap__set(p->names, key, pn)) {
			free(pn);
			*n = 0;
			return;
		}
	}
	*n = pn->n < max ? pn->n : max;
	memcpy(out, pn->f, *n * sizeof(out[0]));
}

const char *goproc__func_name(struct goproc *p, uint64_t pc, uint64_t *entry)
{
	struct frame f[16];
	struct pc_names *pn;
	size_t n;

	goproc__frames(p, pc, false, f, 16, &n);
	pn = hmap__get(p->names, pc << 1);
	if (!n || !pn || !pn->n)
		return "";
	/* the physical function is the last, outermost frame */
	if (entry)
		*entry = pc - pn->f[pn->n - 1].offset;
	return pn->f[pn->n - 1].function;
}

/* ---- the snapshot ---- */

static uint64_t u64_at(const uint8_t *b, uint32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

static uint32_t u32_at(const uint8_t *b, uint32_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* Decode the fields of one g copy. */
static void decode_g(const struct goproc *p, uint64_t addr, const uint8_t *b, struct goroutine *g)
{
	const struct go_layout *l = &p->l;
	uint32_t st = u32_at(b, l->g_atomicstatus);

	memset(g, 0, sizeof(*g));
	g->g = addr;
	g->scan = st & GO_SCAN;
	g->status = st & ~(uint32_t)GO_SCAN;
	g->goid = u64_at(b, l->g_goid);
	g->parent_goid = l->g_parent_goid > 0 ? u64_at(b, (uint32_t)l->g_parent_goid) : 0;
	g->wait_reason_raw = b[l->g_waitreason];
	if (g->status == GO_WAITING || g->status == GO_LEAKED)
		g->wait_reason = golayout__wait_reason(l, g->wait_reason_raw);
	g->waitsince = (int64_t)u64_at(b, l->g_waitsince);
	g->gopc = u64_at(b, l->g_gopc);
	g->startpc = u64_at(b, l->g_startpc);
	g->sched_sp = u64_at(b, l->g_sched_sp);
	g->sched_pc = u64_at(b, l->g_sched_pc);
	g->sched_bp = u64_at(b, l->g_sched_bp);
	g->syscall_sp = u64_at(b, l->g_syscallsp);
	g->syscall_pc = u64_at(b, l->g_syscallpc);
	g->syscall_bp = l->g_syscallbp > 0 ? u64_at(b, (uint32_t)l->g_syscallbp) : 0;
	g->stack_lo = u64_at(b, l->g_stack_lo);
	g->stack_hi = u64_at(b, l->g_stack_hi);
	g->waiting = u64_at(b, l->g_waiting);
	g->labels_ptr = u64_at(b, l->g_labels);
	g->m = u64_at(b, l->g_m);
	g->lockedm = u64_at(b, l->g_lockedm);
}

/* Is this g worth showing at all (dead ones are free-list entries)? */
static bool live(const struct goroutine *g)
{
	return g->status != GO_DEAD && g->status != GO_IDLE && !(g->status == GO_DEADEXTRA) &&
	       g->goid != 0;
}

static bool is_system(struct goproc *p, const struct goroutine *g)
{
	const char *fn = goproc__func_name(p, g->startpc, NULL);

	if (strncmp(fn, "runtime.", 8))
		return false;
	return strcmp(fn, "runtime.main") && strcmp(fn, "runtime.corostart");
}

/* Which thread runs it (g.m) and which it is locked to (g.lockedm), by m.procid. */
static void threads_of(struct goproc *p, struct goroutine *gs, size_t n)
{
	struct vmread_req *reqs = calloc(2 * n, sizeof(*reqs));
	uint64_t *tids = calloc(2 * n, sizeof(*tids));
	size_t nr = 0;

	if (!reqs || !tids)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t m = gs[i].m, lm = gs[i].lockedm;

		if (m && (gs[i].status == GO_RUNNING || gs[i].status == GO_SYSCALL))
			reqs[nr++] = req(m + p->l.m_procid, &tids[2 * i], 8);
		if (lm) {
			gs[i].locked = true;
			reqs[nr++] = req(lm + p->l.m_procid, &tids[2 * i + 1], 8);
		}
	}
	if (nr && vmread__batch(p->pid, reqs, nr) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (tids[2 * i] && tids[2 * i] < UINT32_MAX)
			gs[i].tid = (uint32_t)tids[2 * i];
		if (tids[2 * i + 1] && tids[2 * i + 1] < UINT32_MAX)
			gs[i].locked_tid = (uint32_t)tids[2 * i + 1];
	}
out:
	free(reqs);
	free(tids);
}

static int push_pc(struct snap_priv *sp, uint64_t pc)
{
	if (sp->nr_pcs == sp->cap_pcs) {
		size_t cap = sp->cap_pcs ? 2 * sp->cap_pcs : 4096;
		uint64_t *n = realloc(sp->pcs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sp->pcs = n;
		sp->cap_pcs = cap;
	}
	sp->pcs[sp->nr_pcs++] = pc;
	return 0;
}

struct walk {
	size_t gi; /* index of the goroutine */
	uint64_t sp; /* the saved stack pointer the walk starts above */
	uint64_t bp; /* frame pointer of the frame just recorded */
	uint64_t lo, hi; /* its stack bounds */
	uint64_t pair[2]; /* read: saved bp, return address */
	uint32_t depth;
	uint64_t pcs[GO_MAX_FRAMES];
};

/*
 * Where a goroutine's stack starts: the pc and frame pointer the runtime
 * saved when it parked (sched) or entered a system call (syscallpc/bp; before
 * go1.23 the caller's bp is the one entersyscall pushed below syscallsp).
 */
static bool stack_start(const struct goproc *p, const struct goroutine *g, uint64_t *pc,
			uint64_t *bp)
{
	if (g->status == GO_SYSCALL && g->syscall_sp) {
		*pc = g->syscall_pc;
		if (p->l.g_syscallbp > 0) {
			*bp = g->syscall_bp;
		} else {
			*bp = g->syscall_sp - 16;
		}
		return *pc != 0;
	}
	if (g->status == GO_RUNNING)
		return false;
	*pc = g->sched_pc;
	*bp = g->sched_bp;
	return *pc && g->sched_sp;
}

/*
 * Climb one frame: the (saved bp, return address) pair at w->bp. Returns
 * false when the walk is over: a zero return address, runtime.goexit (where
 * every goroutine's stack ends), a frame pointer that does not climb, or
 * GO_MAX_FRAMES.
 */
static bool climb(const struct goproc *p, struct walk *w, uint64_t next_bp, uint64_t ret)
{
	if (!ret || w->depth >= GO_MAX_FRAMES) {
		w->bp = 0;
		return false;
	}
	w->pcs[w->depth++] = ret;
	if ((ret >= p->goexit_lo && ret < p->goexit_hi) || next_bp <= w->bp) {
		w->bp = 0;
		return false;
	}
	w->bp = next_bp;
	return true;
}

/* Is the frame pointer usable: aligned, and the pair it points at inside the stack? */
static bool bp_ok(const struct walk *w)
{
	return w->bp && !(w->bp & 7) && w->bp >= w->lo && w->bp + 16 <= w->hi;
}

/*
 * The first STACK_CHUNK bytes above the saved sp hold the whole stack of
 * most parked goroutines: read them in one vector per goroutine and walk the
 * frame pointers in our copy. Walks that leave the chunk go on with
 * walk_rest(). Returns -errno only if the process cannot be read at all.
 */
#define STACK_CHUNK 1024
#define WALK_BATCH 4096

static int walk_chunks(struct goproc *p, struct walk *w, size_t nw, uint8_t *buf,
		       struct vmread_req *reqs)
{
	for (size_t k = 0; k < nw; k++) {
		uint64_t len = w[k].hi > w[k].sp ? w[k].hi - w[k].sp : 0;

		reqs[k] =
			req(w[k].sp, buf + k * STACK_CHUNK, len < STACK_CHUNK ? len : STACK_CHUNK);
	}
	if (vmread__batch(p->pid, reqs, nw) < 0)
		return -ESRCH;
	for (size_t k = 0; k < nw; k++) {
		uint64_t lo = w[k].sp, hi = w[k].sp + reqs[k].len;

		if (!reqs[k].ok)
			continue; /* walk_rest reads it frame by frame */
		while (bp_ok(&w[k]) && w[k].bp >= lo && w[k].bp + 16 <= hi) {
			uint64_t pair[2];

			memcpy(pair, buf + k * STACK_CHUNK + (w[k].bp - lo), sizeof(pair));
			if (!climb(p, &w[k], pair[0], pair[1]))
				break;
		}
	}
	return 0;
}

/* The frames past the chunk: one frame level per round, each round one batch of reads. */
static int walk_rest(struct goproc *p, struct walk *w, size_t nw, struct vmread_req *reqs)
{
	for (;;) {
		size_t nr = 0;

		for (size_t k = 0; k < nw; k++) {
			if (!w[k].bp)
				continue;
			if (!bp_ok(&w[k])) {
				w[k].bp = 0;
				continue;
			}
			reqs[nr++] = req(w[k].bp, w[k].pair, 16);
		}
		if (!nr)
			return 0;
		if (vmread__batch(p->pid, reqs, nr) < 0)
			return -ESRCH;
		for (size_t k = 0, r = 0; k < nw; k++) {
			if (!w[k].bp)
				continue;
			if (!reqs[r++].ok)
				w[k].bp = 0;
			else
				climb(p, &w[k], w[k].pair[0], w[k].pair[1]);
		}
	}
}

/* pre-1.23 system calls: the caller's bp is the one entersyscall pushed below syscallsp. */
static int syscall_bps(struct goproc *p, struct gosnap *s, struct walk *w, size_t nw,
		       struct vmread_req *reqs)
{
	size_t nr = 0;

	if (p->l.g_syscallbp >= 0)
		return 0;
	for (size_t k = 0; k < nw; k++)
		if (s->g[w[k].gi].status == GO_SYSCALL)
			reqs[nr++] = req(w[k].bp, &w[k].pair[0], 8);
	if (nr && vmread__batch(p->pid, reqs, nr) < 0)
		return -ESRCH;
	for (size_t k = 0, r = 0; k < nw; k++)
		if (s->g[w[k].gi].status == GO_SYSCALL)
			w[k].bp = reqs[r++].ok ? w[k].pair[0] : 0;
	return 0;
}

static int walk_batch(struct goproc *p, struct gosnap *s, struct snap_priv *sp, struct walk *w,
		      size_t nw, uint8_t *buf, struct vmread_req *reqs)
{
	int err = syscall_bps(p, s, w, nw, reqs);

	if (!err)
		err = walk_chunks(p, w, nw, buf, reqs);
	if (!err)
		err = walk_rest(p, w, nw, reqs);
	for (size_t k = 0; !err && k < nw; k++) {
		struct goroutine *g = &s->g[w[k].gi];
		size_t first = sp->nr_pcs;

		for (uint32_t d = 0; d < w[k].depth; d++)
			if (push_pc(sp, w[k].pcs[d]))
				return -ENOMEM;
		g->nr_pcs = w[k].depth;
		/* an index until the snapshot is complete: the array may still move */
		g->pcs = (const uint64_t *)(uintptr_t)first;
	}
	return err;
}

/* Walk the stacks of all goroutines that are not running, WALK_BATCH at a time. */
static int walk_stacks(struct goproc *p, struct gosnap *s, struct snap_priv *sp)
{
	struct walk *w = calloc(WALK_BATCH, sizeof(*w));
	struct vmread_req *reqs = calloc(WALK_BATCH, sizeof(*reqs));
	uint8_t *buf = malloc((size_t)WALK_BATCH * STACK_CHUNK);
	size_t nw = 0;
	int err = 0;

	if (!w || !reqs || !buf) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n && !err; i++) {
		struct goroutine *g = &s->g[i];
		uint64_t pc, bp;

		if (!stack_start(p, g, &pc, &bp)) {
			g->stack_unavailable = g->status == GO_RUNNING;
			continue;
		}
		w[nw] = (struct walk){ .gi = i, .bp = bp, .lo = g->stack_lo, .hi = g->stack_hi };
		w[nw].sp = g->status == GO_SYSCALL ? g->syscall_sp : g->sched_sp;
		w[nw].pcs[0] = pc;
		w[nw].depth = 1;
		if (++nw == WALK_BATCH) {
			err = walk_batch(p, s, sp, w, nw, buf, reqs);
			nw = 0;
		}
	}
	if (!err && nw)
		err = walk_batch(p, s, sp, w, nw, buf, reqs);
out:
	free(w);
	free(reqs);
	free(buf);
	return err;
}

/* ---- pprof labels ---- */

static int label_strings(struct goproc *p, struct label_set *ls, const uint64_t *hdrs, size_t n)
{
	struct vmread_req reqs[2 * MAX_LABELS];
	size_t total = 0, off = 0;

	for (size_t i = 0; i < 2 * n; i++)
		total += (hdrs[2 * i + 1] < MAX_LABEL_LEN ? hdrs[2 * i + 1] : MAX_LABEL_LEN) + 1;
	ls->strings = calloc(1, total ? total : 1);
	if (!ls->strings)
		return -ENOMEM;
	for (size_t i = 0; i < 2 * n; i++) {
		size_t len = hdrs[2 * i + 1] < MAX_LABEL_LEN ? hdrs[2 * i + 1] : MAX_LABEL_LEN;

		reqs[i] = req(hdrs[2 * i], ls->strings + off, len);
		off += len + 1;
	}
	if (vmread__batch(p->pid, reqs, 2 * n) < 0)
		return -ESRCH;
	for (size_t i = 0; i < n; i++) {
		ls->l[i].key = reqs[2 * i].ok ? reqs[2 * i].buf : "";
		ls->l[i].value = reqs[2 * i + 1].ok ? reqs[2 * i + 1].buf : "";
	}
	ls->n = (uint32_t)n;
	return 0;
}

/* go1.24+: *labelMap is a sorted []struct{key, value string}. */
static int labels_slice(struct goproc *p, uint64_t ptr, struct label_set *ls)
{
	uint64_t sl[3], hdrs[4 * MAX_LABELS];
	size_t n;

	if (vmread__one(p->pid, ptr, sl, sizeof(sl)))
		return -EFAULT;
	n = sl[1] < MAX_LABELS ? sl[1] : MAX_LABELS;
	if (sl[1] > sl[2] || (n && vmread__one(p->pid, sl[0], hdrs, n * 32)))
		return -EFAULT;
	return label_strings(p, ls, hdrs, n);
}

/*
 * go1.20-1.23: *labelMap is a map[string]string: an hmap whose 2^B buckets
 * (and oldbuckets while growing) hold 8 slots of tophash, keys, values and an
 * overflow pointer (272 bytes). Label maps are small; larger ones are cut.
 */
static int labels_map(struct goproc *p, uint64_t ptr, struct label_set *ls)
{
	enum { BUCKET = 272, MIN_TOPHASH = 5, MAX_BUCKETS = 16 };
	uint8_t h[32], b[BUCKET];
	uint64_t hdrs[4 * MAX_LABELS], queue[2 * MAX_BUCKETS];
	size_t nq = 0, n = 0, visited = 0;

	if (vmread__one(p->pid, ptr, h, sizeof(h)))
		return -EFAULT;
	uint8_t B = h[9];
	uint64_t buckets = u64_at(h, 16), old = u64_at(h, 24);

	if (B > 4)
		return -E2BIG;
	for (size_t i = 0; i < (1u << B) && buckets; i++)
		queue[nq++] = buckets + i * BUCKET;
	for (size_t i = 0; i < (1u << (B ? B - 1 : 0)) && old; i++)
		queue[nq++] = old + i * BUCKET;
	while (nq && visited < 4 * MAX_BUCKETS && n < MAX_LABELS) {
		uint64_t at = queue[--nq], ovf;

		visited++;
		if (vmread__one(p->pid, at, b, sizeof(b)))
			continue;
		for (int s = 0; s < 8 && n < MAX_LABELS; s++) {
			bool dup = false;

			if (b[s] < MIN_TOPHASH)
				continue;
			memcpy(&hdrs[4 * n], b + 8 + 16 * s, 16);
			memcpy(&hdrs[4 * n + 2], b + 8 + 128 + 16 * s, 16);
			for (size_t k = 0; k < n; k++)
				dup |= hdrs[4 * k] == hdrs[4 * n] &&
				       hdrs[4 * k + 1] == hdrs[4 * n + 1];
			n += !dup;
		}
		ovf = u64_at(b, 264);
		if (ovf && nq < 2 * MAX_BUCKETS)
			queue[nq++] = ovf;
	}
	return label_strings(p, ls, hdrs, n);
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct go_label *)a)->key, ((const struct go_label *)b)->key);
}

static void decode_labels(struct goproc *p, struct gosnap *s, struct snap_priv *sp)
{
	for (size_t i = 0; i < s->n; i++) {
		struct goroutine *g = &s->g[i];
		struct label_set *ls;
		uint64_t ptr;

		if (!g->labels_ptr)
			continue;
		ls = hmap__get(sp->label_sets, g->labels_ptr);
		if (!ls) {
			ls = calloc(1, sizeof(*ls));
			if (!ls)
				return;
			/* g.labels points at a labelMap whose first word is the map or slice */
			if (p->l.labels == GO_LABELS_SLICE)
				ptr = g->labels_ptr;
			else if (read_u64(p, g->labels_ptr, &ptr))
				ptr = 0;
			if (ptr && (p->l.labels == GO_LABELS_SLICE ? labels_slice(p, ptr, ls) :
								     labels_map(p, ptr, ls)))
				ls->n = 0;
			if (p->l.labels == GO_LABELS_MAP && ls->n > 1)
				qsort(ls->l, ls->n, sizeof(ls->l[0]), cmp_label);
			if (hmap__set(sp->label_sets, g->labels_ptr, ls)) {
				free(ls->strings);
				free(ls);
				return;
			}
		}
		g->labels = ls->l;
		g->nr_labels = ls->n;
	}
}

/* ---- what a goroutine waits on ---- */

/*
 * g.waiting heads the sudogs of a channel operation (c is the channel; a
 * select links one per case through waitlink) and, from go1.26, of a
 * semaphore wait (elem is the semaphore's address).
 */
static void decode_objects(struct goproc *p, struct gosnap *s)
{
	const struct go_layout *l = &p->l;
	uint32_t adj = l->sudog_ptr_adjust;
	uint32_t need = l->sudog_c + adj + 8;
	uint64_t *addrs = calloc(s->n ? s->n : 1, sizeof(*addrs));
	bool *ok = calloc(s->n ? s->n : 1, sizeof(*ok));
	uint8_t *sds = calloc(s->n ? s->n : 1, 128);
	size_t *idx = calloc(s->n ? s->n : 1, sizeof(*idx));
	size_t nr = 0;

	if (l->sudog_waitlink + 8 > need)
		need = l->sudog_waitlink + 8;
	if (l->sudog_elem + adj + 8 > need)
		need = l->sudog_elem + adj + 8;
	if (!addrs || !ok || !sds || !idx || need > 128)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		struct goroutine *g = &s->g[i];
		enum go_wait_class c = golayout__wait_class(g->wait_reason);

		if (!g->waiting || g->status != GO_WAITING)
			continue;
		/* semaphore waits record their sudog only from go1.26 */
		if (c != GO_WAIT_CHAN &&
		    !((c == GO_WAIT_SYNC || c == GO_WAIT_SEMA) && l->minor >= 26))
			continue;
		idx[nr] = i;
		addrs[nr++] = g->waiting;
	}
	/* one round per sudog of the chains (a select has one per case); sudogs sit in spans */
	for (int round = 0; nr && round < MAX_SELECT; round++) {
		size_t next = 0;

		if (vmread__gather(p->pid, addrs, nr, need, sds, ok) < 0)
			break;
		for (size_t r = 0; r < nr; r++) {
			struct goroutine *g = &s->g[idx[r]];
			const uint8_t *sd = sds + r * need;
			uint64_t ch, link;

			if (!ok[r])
				continue;
			if (golayout__wait_class(g->wait_reason) != GO_WAIT_CHAN) {
				uint64_t elem = u64_at(sd, l->sudog_elem + adj);

				if (elem) {
					g->obj = GO_OBJ_SEMA;
					g->obj_addr = elem;
					g->nr_objs = 1;
				}
				continue;
			}
			ch = u64_at(sd, l->sudog_c + adj);
			if (!ch)
				continue;
			g->obj = strncmp(g->wait_reason, "select", 6) ? GO_OBJ_CHAN : GO_OBJ_SELECT;
			if (!g->nr_objs)
				g->obj_addr = ch;
			g->nr_objs++;
			link = u64_at(sd, l->sudog_waitlink);
			if (g->obj != GO_OBJ_SELECT || !link)
				continue;
			idx[next] = idx[r];
			addrs[next++] = link;
		}
		nr = next;
	}
out:
	free(addrs);
	free(ok);
	free(sds);
	free(idx);
}

static void free_priv(struct snap_priv *sp)
{
	uint64_t key;
	void *val;

	if (!sp)
		return;
	if (sp->label_sets) {
		for (size_t it = 0; hmap__next(sp->label_sets, &it, &key, &val);) {
			free(((struct label_set *)val)->strings);
			free(val);
		}
		hmap__free(sp->label_sets);
	}
	free(sp->pcs);
	free(sp);
}

void gosnap__free(struct gosnap *s)
{
	if (!s)
		return;
	free(s->g);
	free_priv(s->priv);
	memset(s, 0, sizeof(*s));
}

/* Read allglen, then allgptr (the runtime publishes them in that order), then the array. */
static int read_allgs(struct goproc *p, uint64_t **out, size_t *n, char *why, size_t why_len)
{
	uint64_t len, ptr;
	int err;

	err = read_u64(p, p->allglen_addr, &len);
	if (!err)
		err = read_u64(p, p->allgptr_addr, &ptr);
	if (err) {
		snprintf(why, why_len, "pid %u: %s", p->pid,
			 err == -ESRCH ? "the process exited" : "cannot read runtime.allgs");
		return err == -EFAULT ? -EINVAL : err;
	}
	if (len > MAX_ALLGS || (len && !ptr)) {
		snprintf(why, why_len, "pid %u: runtime.allglen = %" PRIu64 " is not plausible",
			 p->pid, len);
		return -EINVAL;
	}
	*out = calloc(len ? len : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	if (len && (err = vmread__one(p->pid, ptr, *out, len * 8))) {
		free(*out);
		snprintf(why, why_len, "pid %u: %s", p->pid,
			 err == -ESRCH ? "the process exited" : "cannot read runtime.allgs");
		return err == -EFAULT ? -EINVAL : err;
	}
	*n = len;
	return 0;
}

/*
 * The goroutines whose status or saved sp changed between the first read
 * and the end of the stack walk were read mid-change: read them again (their
 * stack too, next round). Returns how many changed.
 */
static size_t recheck(struct goproc *p, struct gosnap *s)
{
	const struct go_layout *l = &p->l;
	size_t len = l->g_atomicstatus + 4, changed = 0;
	uint64_t *addrs = calloc(s->n ? s->n : 1, sizeof(*addrs));
	uint8_t *copies = calloc(s->n ? s->n : 1, len);
	bool *ok = calloc(s->n ? s->n : 1, sizeof(*ok));

	if (!addrs || !copies || !ok || len < l->g_sched_bp + 8)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		addrs[i] = s->g[i].g;
	if (vmread__gather(p->pid, addrs, s->n, len, copies, ok) < 0)
		goto out;
	for (size_t i = 0; i < s->n; i++) {
		const uint8_t *b = copies + i * len;
		uint32_t st = u32_at(b, l->g_atomicstatus) & ~(uint32_t)GO_SCAN;
		bool moved = st != s->g[i].status ||
			     (st != GO_RUNNING && (u64_at(b, l->g_sched_sp) != s->g[i].sched_sp ||
						   u64_at(b, l->g_sched_pc) != s->g[i].sched_pc));

		if (ok[i] && !moved)
			continue;
		s->g[i].goid = 0; /* marks it for the next round */
		changed++;
	}
out:
	free(addrs);
	free(copies);
	free(ok);
	return changed;
}

/* One pass over the given g addresses into s (appending). */
static int read_gs(struct goproc *p, const uint64_t *addrs, size_t n, unsigned flags,
		   struct gosnap *s, struct snap_priv *sp, size_t *bad_sched)
{
	uint8_t *copies = calloc(n ? n : 1, p->g_read);
	bool *ok = calloc(n ? n : 1, sizeof(*ok));
	struct goroutine *gs = calloc(n ? n : 1, sizeof(*gs));
	struct gosnap part = { 0 };
	size_t m = 0;
	long got;
	int err = 0;

	if (!copies || !ok || !gs) {
		err = -ENOMEM;
		goto out;
	}
	got = vmread__gather(p->pid, addrs, n, p->g_read, copies, ok);
	if (got < 0) {
		err = (int)got;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = copies + i * p->g_read;

		if (!ok[i])
			continue;
		decode_g(p, addrs[i], b, &gs[m]);
		if (!live(&gs[m]))
			continue;
		/* a parked g's saved context names the g itself: the layout check */
		if ((gs[m].status == GO_WAITING || gs[m].status == GO_RUNNABLE) &&
		    u64_at(b, p->l.g_sched_g) != addrs[i])
			(*bad_sched)++;
		m++;
	}
	threads_of(p, gs, m);
	for (size_t i = 0; i < m; i++)
		gs[i].system = is_system(p, &gs[i]);
	part.g = gs;
	part.n = m;
	if (flags & GOSNAP_STACKS)
		err = walk_stacks(p, &part, sp);
	if (!err && (flags & GOSNAP_LABELS))
		decode_labels(p, &part, sp);
	if (!err && (flags & GOSNAP_OBJECTS))
		decode_objects(p, &part);
	if (!err && m) {
		struct goroutine *all = realloc(s->g, (s->n + m) * sizeof(*all));

		if (!all) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(all + s->n, gs, m * sizeof(*gs));
		s->g = all;
		s->n += m;
	}
out:
	free(copies);
	free(ok);
	free(gs);
	return err;
}

static int cmp_goid(const void *a, const void *b)
{
	const struct goroutine *x = a, *y = b;

	return x->goid < y->goid ? -1 : x->goid > y->goid;
}

int goproc__snapshot(struct goproc *p, unsigned flags, struct gosnap *out, char *why,
		     size_t why_len)
{
	struct snap_priv *sp = calloc(1, sizeof(*sp));
	uint64_t *allgs = NULL, *again = NULL;
	size_t n = 0, bad = 0, parked = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->ts_ns = now_ns();
	if (!sp || !(sp->label_sets = hmap__new())) {
		free_priv(sp);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	out->priv = sp;
	err = read_allgs(p, &allgs, &n, why, why_len);
	if (err)
		goto fail;
	out->nr_allgs = n;
	err = read_gs(p, allgs, n, flags, out, sp, &bad);
	if (err)
		goto fail_read;
	/* goroutines that moved while read: once more, the rest are left out */
	if ((flags & GOSNAP_STACKS) && recheck(p, out)) {
		size_t k = 0, na = 0;

		again = calloc(out->n, sizeof(*again));
		if (!again) {
			err = -ENOMEM;
			goto fail_read;
		}
		for (size_t i = 0; i < out->n; i++) {
			if (!out->g[i].goid)
				again[na++] = out->g[i].g;
			else
				out->g[k++] = out->g[i];
		}
		out->n = k;
		out->nr_retried = na;
		err = read_gs(p, again, na, flags, out, sp, &bad);
		if (err)
			goto fail_read;
	}
	for (size_t i = 0; i < out->n; i++)
		parked += out->g[i].status == GO_WAITING || out->g[i].status == GO_RUNNABLE;
	if (bad && bad * 2 >= parked) {
		snprintf(why, why_len,
			 "pid %u: the goroutine table does not match the %s layout of %s (%zu of "
			 "%zu parked goroutines inconsistent)",
			 p->pid, p->l.source, goproc__version(p), bad, parked);
		err = -EINVAL;
		goto fail;
	}
	for (size_t i = 0; i < out->n; i++)
		if (out->g[i].nr_pcs)
			out->g[i].pcs = sp->pcs + (size_t)(uintptr_t)out->g[i].pcs;
	/* allgs is nearly in goid order already; sort only if it is not */
	for (size_t i = 1; i < out->n; i++) {
		if (out->g[i - 1].goid > out->g[i].goid) {
			qsort(out->g, out->n, sizeof(out->g[0]), cmp_goid);
			break;
		}
	}
	free(allgs);
	free(again);
	out->cost_ns = now_ns() - out->ts_ns;
	return 0;
fail_read:
	if (err == -ESRCH)
		snprintf(why, why_len, "pid %u: the process exited", p->pid);
	else if (err == -ENOMEM)
		snprintf(why, why_len, "out of memory");
	else if (!why[0])
		snprintf(why, why_len, "pid %u: %s", p->pid, strerror(-err));
fail:
	free(allgs);
	free(again);
	gosnap__free(out);
	return err;
}
