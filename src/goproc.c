// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Reading goroutines from outside. Every number read from the target is
 * untrusted: counts are capped, pointers are only dereferenced through
 * vmread (a bad one fails that read, nothing else), frame pointers must
 * climb inside the goroutine's own stack bounds.
 *
 * A snapshot is a few gathers (vmread.h), each decoded straight from the
 * bounce buffer: every g of allgs; then, for the goroutines that may have
 * run since the last snapshot through the same goproc, the tops of their
 * stacks, their sudogs and their label sets; then those gs once more, to
 * catch the ones that moved while read. What a goroutine that has not run
 * since had (go_parked__same) is taken from its memo instead.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include "gobin.h"
#include "goproc.h"
#include "hmap.h"
#include "log.h"
#include "memword.h"
#include "radix.h"
#include "vmread.h"

#define MAX_ALLGS (16u << 20) /* 16M goroutines: beyond this it is not a sane allgs */
#define MAX_LABELS 64
#define MAX_LABEL_LEN 1024
#define MAX_SELECT 16
#define G_READ_MAX 1024 /* bytes of a g we may read */
#define STACK_CHUNK 8192 /* bytes of stack above the saved sp read at once */

struct pc_names {
	uint32_t n;
	struct frame f[];
};

/*
 * What the last complete snapshot found of the goroutine at one index of
 * allgs. allgs only grows, so an index names the same g from one snapshot to
 * the next; the g's own fields (go_parked) tell whether it is still the same
 * goroutine, parked the same way since. Its stack is in p->memo_pcs.
 */
struct memo {
	struct go_parked key;
	uint32_t gen; /* the snapshot that wrote it: valid if p->memo_gen */
	uint8_t have; /* MEMO_* */
	uint8_t obj; /* enum go_wait_obj */
	uint16_t nr_pcs;
	uint32_t nr_objs;
	uint64_t obj_addr;
	size_t pcs_off;
};

enum {
	MEMO_STACK = 1 << 0,
	MEMO_OBJS = 1 << 1,
};

/*
 * The pcs of a snapshot's stacks, shared with its goproc, whose memos point
 * into the last complete snapshot's: they are taken from there, not copied
 * into a pool of their own.
 */
struct pcs_buf {
	uint32_t refs;
	size_t n, cap;
	uint64_t v[];
};

/* Indexes into allgs, kept between snapshots. */
struct idx_list {
	uint32_t *v;
	size_t n, cap;
};

/*
 * What one pass reads after the gs, for up to cap goroutines: the tops of
 * their stacks (st_*, later what recheck() reads) and the sudogs they wait
 * on (ob_*, this round's and the next's).
 */
struct lists {
	uint64_t *st_addr, *st_bp;
	uint32_t *st_len, *st_idx;
	uint64_t *ob_addr[2];
	uint32_t *ob_idx[2];
	size_t cap;
};

struct goid_key {
	uint64_t goid; /* the sort key: first (radix.h) */
	uint64_t i;
};
_Static_assert(sizeof(struct goid_key) == RADIX_REC_SIZE, "radix__sort16 records");

#define SYS_MEMO 64

struct sys_memo {
	uint64_t startpc;
	bool known, system;
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
	uint8_t wait_class[256]; /* enum go_wait_class of each raw wait reason */
	bool wait_select[256]; /* the raw wait reason is a select */
	struct sys_memo sys_memo[SYS_MEMO]; /* is_system() of a few start pcs */
	/*
	 * Kept from one snapshot to the next (the dashboard takes one a second
	 * through the same goproc): buffers, so that a snapshot allocates
	 * nothing big but its result, and what is known of each goroutine.
	 */
	struct vmgather *vg;
	uint64_t *allgs;
	size_t cap_allgs;
	size_t nr_bogus; /* this snapshot's entries of allgs that are no g (plausible_g) */
	struct goroutine *work; /* the snapshot being taken: its array, by allgs index */
	uint8_t *work_flags; /* W_*, by allgs index */
	size_t cap_work;
	struct lists lists;
	struct idx_list thr, lab; /* goroutines with a thread to name, with labels */
	struct goid_key *keys[2];
	size_t cap_keys;
	struct memo *memo; /* by allgs index */
	size_t cap_memo;
	uint32_t gen; /* snapshots begun */
	uint32_t memo_gen; /* the last complete one: its memos and label sets are valid */
	struct pcs_buf *memo_pcs; /* its stacks */
	struct hmap *label_sets; /* labels_ptr -> struct label_set */
	struct goproc_recorded *rec; /* a process replayed from a recording (bin NULL) */
};

struct label_set {
	uint32_t refs; /* the goproc's cache and each snapshot that uses it */
	uint32_t n;
	uint32_t gen_ok; /* known to be right in that snapshot */
	uint32_t gen_used; /* the last snapshot that took a reference */
	uint64_t labels_ptr; /* the g.labels it was read from */
	struct go_label *l;
	char *strings;
};

struct snap_priv {
	void *recorded; /* gosnap__adopt: the block a replayed snapshot lives in */
	struct pcs_buf *pcs;
	struct label_set **sets; /* referenced by this snapshot */
	size_t nr_sets, cap_sets;
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
	for (unsigned r = 0; r < 256; r++) {
		const char *reason = golayout__wait_reason(&p->l, (uint8_t)r);

		p->wait_class[r] = (uint8_t)golayout__wait_class(reason);
		p->wait_select[r] = reason && !strncmp(reason, "select", 6);
	}
	p->names = hmap__new();
	p->label_sets = hmap__new();
	p->vg = vmgather__new();
	if (!p->names || !p->label_sets || !p->vg) {
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

static void label_set_put(struct label_set *ls)
{
	if (ls && !--ls->refs) {
		free(ls->l);
		free(ls->strings);
		free(ls);
	}
}

static void pcs_put(struct pcs_buf *b)
{
	if (b && !--b->refs)
		free(b);
}

void goproc__free(struct goproc *p)
{
	struct lists *ls;
	uint64_t key;
	void *val;

	if (!p)
		return;
	if (p->names) {
		for (size_t it = 0; hmap__next(p->names, &it, &key, &val);)
			free(val);
		hmap__free(p->names);
	}
	if (p->label_sets) {
		for (size_t it = 0; hmap__next(p->label_sets, &it, &key, &val);)
			label_set_put(val);
		hmap__free(p->label_sets);
	}
	gobin__free(p->bin);
	free(p->rec);
	free(p->reason_buf);
	free(p->reasons);
	vmgather__free(p->vg);
	free(p->allgs);
	free(p->work_flags);
	ls = &p->lists;
	free(ls->st_addr);
	free(ls->st_bp);
	free(ls->st_len);
	free(ls->st_idx);
	for (int i = 0; i < 2; i++) {
		free(ls->ob_addr[i]);
		free(ls->ob_idx[i]);
		free(p->keys[i]);
	}
	free(p->thr.v);
	free(p->lab.v);
	free(p->memo);
	pcs_put(p->memo_pcs);
	free(p);
}

uint32_t goproc__pid(const struct goproc *p)
{
	return p->pid;
}

const char *goproc__version(const struct goproc *p)
{
	return p->rec ? p->rec->version : gobin__version(p->bin);
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
	return p->rec ? p->rec->stripped : gobin__stripped(p->bin);
}

bool goproc__cgo(const struct goproc *p)
{
	return p->rec ? p->rec->cgo : gobin__cgo(p->bin);
}

/* ---- names of pcs ---- */

/* The cached frames of pc (NULL only when out of memory). */
static const struct pc_names *names_of(struct goproc *p, uint64_t pc, bool is_return)
{
	uint64_t key = pc << 1 | is_return;
	struct pc_names *pn = hmap__get(p->names, key);
	struct gobin_frame gf[16];
	size_t nr = 0;
	uint64_t at = pc - p->bias - (is_return ? 1 : 0);

	if (pn)
		return pn;
	/* a recorded process knows the pcs that were recorded (goproc__add_frames), no others */
	if (!p->bin || pc < p->bias || gobin__symbolize(p->bin, at, gf, 16, &nr))
		nr = 0;
	pn = malloc(sizeof(*pn) + nr * sizeof(pn->f[0]));
	if (!pn)
		return NULL;
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
		snprintf(f->module, sizeof(f->module), "%.*s", (int)sizeof(f->module) - 1, p->exe);
	}
	if (hmap__set(p->names, key, pn)) {
		free(pn);
		return NULL;
	}
	return pn;
}

void goproc__frames(struct goproc *p, uint64_t pc, bool is_return, struct frame *out, size_t max,
		    size_t *n)
{
	const struct pc_names *pn = names_of(p, pc, is_return);

	*n = !pn ? 0 : pn->n < max ? pn->n : max;
	if (*n)
		memcpy(out, pn->f, *n * sizeof(out[0]));
}

/* ---- a process known from a recording ---- */

struct goproc *goproc__recorded(const struct goproc_recorded *r, const char *const *reasons,
				size_t nr_reasons)
{
	struct goproc *p = calloc(1, sizeof(*p));
	size_t total = 0;

	if (!p)
		return NULL;
	p->pid = r->pid;
	snprintf(p->exe, sizeof(p->exe), "%s", r->exe);
	p->rec = malloc(sizeof(*p->rec));
	p->names = hmap__new();
	for (size_t i = 0; i < nr_reasons; i++)
		total += strlen(reasons[i]) + 1;
	p->reason_buf = malloc(total + 1);
	p->reasons = calloc(nr_reasons + 1, sizeof(*p->reasons));
	if (!p->rec || !p->names || !p->reason_buf || !p->reasons) {
		goproc__free(p);
		return NULL;
	}
	*p->rec = *r;
	for (size_t i = 0, off = 0; i < nr_reasons; i++) {
		size_t len = strlen(reasons[i]);

		memcpy(p->reason_buf + off, reasons[i], len + 1);
		p->reasons[i] = p->reason_buf + off;
		off += len + 1;
	}
	p->l.minor = r->minor;
	p->l.source = "recording";
	p->l.wait_reasons = p->reasons;
	p->l.nr_wait_reasons = nr_reasons;
	return p;
}

void goproc__describe(const struct goproc *p, struct goproc_recorded *out)
{
	if (p->rec) {
		*out = *p->rec;
		return;
	}
	memset(out, 0, sizeof(*out));
	out->pid = p->pid;
	out->minor = p->l.minor;
	out->stripped = gobin__stripped(p->bin);
	out->cgo = gobin__cgo(p->bin);
	snprintf(out->version, sizeof(out->version), "%s", gobin__version(p->bin));
	snprintf(out->exe, sizeof(out->exe), "%s", p->exe);
}

int goproc__add_frames(struct goproc *p, uint64_t pc, bool is_return, const struct frame *f,
		       size_t n)
{
	uint64_t key = pc << 1 | is_return;
	struct pc_names *pn;

	if (!p->rec || n > 64)
		return -EINVAL;
	pn = malloc(sizeof(*pn) + n * sizeof(pn->f[0]));
	if (!pn)
		return -ENOMEM;
	pn->n = (uint32_t)n;
	memcpy(pn->f, f, n * sizeof(f[0]));
	free(hmap__del(p->names, key));
	if (hmap__set(p->names, key, pn)) {
		free(pn);
		return -ENOMEM;
	}
	return 0;
}

int gosnap__adopt(struct gosnap *s, void *block)
{
	struct snap_priv *sp = calloc(1, sizeof(*sp));

	if (!sp)
		return -ENOMEM;
	sp->recorded = block;
	s->priv = sp;
	return 0;
}

const char *goproc__func_name(struct goproc *p, uint64_t pc, uint64_t *entry)
{
	const struct pc_names *pn = names_of(p, pc, false);

	if (!pn || !pn->n)
		return "";
	/* the physical function is the last, outermost frame */
	if (entry)
		*entry = pc - pn->f[pn->n - 1].offset;
	return pn->f[pn->n - 1].function;
}

/* ---- goroutines that have not run since the last snapshot ---- */

void go_parked__of(const struct goroutine *g, struct go_parked *out)
{
	bool sys = g->status == GO_SYSCALL && g->syscall_sp;

	*out = (struct go_parked){
		.g = g->g,
		.goid = g->goid,
		.waitsince = (uint64_t)g->waitsince,
		.pc = sys ? g->syscall_pc : g->sched_pc,
		.sp = sys ? g->syscall_sp : g->sched_sp,
		.bp = sys ? g->syscall_bp : g->sched_bp,
		.stack_lo = g->stack_lo,
		.stack_hi = g->stack_hi,
		.waiting = g->waiting,
		.labels_ptr = g->labels_ptr,
		.status = g->status,
	};
}

bool go_parked__same(const struct go_parked *before, const struct go_parked *now)
{
	const struct go_parked *a = before, *b = now;

	if (!a->waitsince || !a->goid || a->status == GO_RUNNING)
		return false;
	return a->g == b->g && a->goid == b->goid && a->waitsince == b->waitsince &&
	       a->status == b->status && a->pc == b->pc && a->sp == b->sp && a->bp == b->bp &&
	       a->stack_lo == b->stack_lo && a->stack_hi == b->stack_hi &&
	       a->waiting == b->waiting && a->labels_ptr == b->labels_ptr;
}

/* ---- the snapshot ---- */

enum {
	W_LIVE = 1 << 0, /* a goroutine (not a dead g, not unreadable) */
	W_REUSED = 1 << 1, /* stack, objects and labels taken from its memo */
	W_READ = 1 << 2, /* read only now: recheck it */
	W_MOVED = 1 << 3, /* it changed while read: read it again */
};

/* The state of one pass over a list of gs (read_pass). */
struct pass {
	struct goproc *p;
	struct snap_priv *sp;
	unsigned flags;
	const uint32_t *ai; /* allgs index of record i; NULL: i itself */
	size_t n; /* records */
	size_t nr_st, nr_ob; /* in the lists */
	size_t bad_sched, parked, reused;
};

/*
 * Fault in the pages of a buffer about to be filled, in one system call
 * rather than one page fault per page (a 100k-goroutine table is tens of
 * megabytes). Only a hint: kernels before 5.14 refuse it, and the pages
 * fault in one by one as before.
 */
static void prefault(void *v, size_t len)
{
	uintptr_t lo = ((uintptr_t)v + 4095) & ~(uintptr_t)4095;
	uintptr_t hi = ((uintptr_t)v + len) & ~(uintptr_t)4095;

	if (hi > lo + (64u << 10))
		madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
}

/* Grow *v (an array of *cap elements of size sz) to hold n. */
static int reserve(void *v, size_t *cap, size_t n, size_t sz)
{
	void **pv = v;
	void *nv;

	if (n <= *cap)
		return 0;
	n += n / 4 + 64;
	nv = realloc(*pv, n * sz);
	if (!nv)
		return -ENOMEM;
	*pv = nv;
	*cap = n;
	return 0;
}

/* Grow arrays that share one capacity: each of the nr in vs, of element sizes szs. */
static int reserve_many(void **vs[], const size_t *szs, size_t nr, size_t *cap, size_t n)
{
	for (size_t i = 0; i < nr; i++) {
		size_t c = *cap;

		if (reserve(vs[i], &c, n, szs[i]))
			return -ENOMEM;
		if (i == nr - 1)
			*cap = c;
	}
	return 0;
}

static int push_idx(struct idx_list *l, size_t i)
{
	if (reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = (uint32_t)i;
	return 0;
}

/*
 * The per-goroutine buffers of the goproc, for n goroutines. They stay
 * allocated: a snapshot a second does not fault in megabytes each time. New
 * memos start zeroed (gen 0: invalid) from calloc, not from a memset that
 * would touch every page now.
 */
static int reserve_all(struct goproc *p, size_t n)
{
	struct lists *ls = &p->lists;
	void **work[] = { (void **)&p->work_flags };
	size_t work_sz[] = { sizeof(*p->work_flags) };
	void **lists[] = { (void **)&ls->st_addr,    (void **)&ls->st_bp,
			   (void **)&ls->st_len,     (void **)&ls->st_idx,
			   (void **)&ls->ob_addr[0], (void **)&ls->ob_addr[1],
			   (void **)&ls->ob_idx[0],  (void **)&ls->ob_idx[1] };
	size_t lists_sz[] = { 8, 8, 4, 4, 8, 8, 4, 4 };
	void **keys[] = { (void **)&p->keys[0], (void **)&p->keys[1] };
	size_t keys_sz[] = { sizeof(*p->keys[0]), sizeof(*p->keys[0]) };

	if (reserve_many(work, work_sz, 1, &p->cap_work, n) ||
	    reserve_many(lists, lists_sz, 8, &ls->cap, n) ||
	    reserve_many(keys, keys_sz, 2, &p->cap_keys, n))
		return -ENOMEM;
	if (n > p->cap_memo) {
		size_t cap = n + n / 4 + 64;
		struct memo *m = calloc(cap, sizeof(*m));

		if (!m)
			return -ENOMEM;
		if (p->cap_memo)
			memcpy(m, p->memo, p->cap_memo * sizeof(*m));
		free(p->memo);
		p->memo = m;
		p->cap_memo = cap;
		prefault(m, cap * sizeof(*m));
	}
	return 0;
}

/* Append n pcs to the snapshot's stacks; g->pcs is their index until publish(). */
static int push_pcs(struct snap_priv *sp, const uint64_t *pcs, size_t n, struct goroutine *g)
{
	struct pcs_buf *b = sp->pcs;

	if (b->n + n > b->cap) {
		size_t cap = 2 * b->cap + n;

		b = realloc(b, sizeof(*b) + cap * sizeof(b->v[0]));
		if (!b)
			return -ENOMEM;
		b->cap = cap;
		sp->pcs = b;
	}
	memcpy(b->v + b->n, pcs, n * sizeof(*pcs));
	g->pcs = (const uint64_t *)(uintptr_t)b->n;
	g->nr_pcs = (uint32_t)n;
	b->n += n;
	return 0;
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

/*
 * Could this be a g at all? The runtime never stores anything else in allgs,
 * but the process owns that memory and may have rewritten it: a status the
 * runtime does not use, or a stack that is not one, is not shown as a
 * goroutine (and is counted in nr_bogus).
 */
static bool plausible_g(const struct goroutine *g)
{
	bool status =
		g->status <= GO_DEADEXTRA && g->status != GO_MORIBUND && g->status != GO_ENQUEUE;

	return status && g->stack_lo >= 4096 && g->stack_lo < g->stack_hi &&
	       g->stack_hi - g->stack_lo <= (1ull << 30) && g->goid < (1ull << 56);
}

/* Is this g worth showing at all (dead ones are free-list entries)? */
static bool live(const struct goroutine *g)
{
	return g->status != GO_DEAD && g->status != GO_IDLE && !(g->status == GO_DEADEXTRA) &&
	       g->goid != 0;
}

/* A goroutine the runtime started (GC workers, ...): by its start function, memoized. */
static bool is_system(struct goproc *p, uint64_t startpc)
{
	struct sys_memo *m = &p->sys_memo[(startpc >> 4) % SYS_MEMO];

	if (!m->known || m->startpc != startpc) {
		const char *fn = goproc__func_name(p, startpc, NULL);

		m->startpc = startpc;
		m->known = true;
		m->system = !strncmp(fn, "runtime.", 8) && strcmp(fn, "runtime.main") &&
			    strcmp(fn, "runtime.corostart");
	}
	return m->system;
}

static bool on_thread(const struct goroutine *g)
{
	return g->m && (g->status == GO_RUNNING || g->status == GO_SYSCALL);
}

/* Which thread runs it (g.m) and which it is locked to (g.lockedm), by m.procid. */
static void threads_of(struct goproc *p, const struct idx_list *l)
{
	struct vmread_req *reqs = calloc(2 * l->n + 1, sizeof(*reqs));
	uint64_t *tids = calloc(2 * l->n + 1, sizeof(*tids));
	size_t nr = 0;

	if (!reqs || !tids)
		goto out;
	for (size_t k = 0; k < l->n; k++) {
		const struct goroutine *g = &p->work[l->v[k]];

		if (on_thread(g))
			reqs[nr] = req(g->m + p->l.m_procid, &tids[nr], 8), nr++;
		if (g->locked)
			reqs[nr] = req(g->lockedm + p->l.m_procid, &tids[nr], 8), nr++;
	}
	if (!nr || vmread__batch(p->pid, reqs, nr) < 0)
		goto out;
	for (size_t k = 0, r = 0; k < l->n; k++) {
		struct goroutine *g = &p->work[l->v[k]];

		if (on_thread(g)) {
			if (tids[r] && tids[r] < UINT32_MAX)
				g->tid = (uint32_t)tids[r];
			r++;
		}
		if (g->locked) {
			if (tids[r] && tids[r] < UINT32_MAX)
				g->locked_tid = (uint32_t)tids[r];
			r++;
		}
	}
out:
	free(reqs);
	free(tids);
}

/* ---- stacks ---- */

struct walk {
	size_t gi; /* index of the goroutine in p->work */
	uint64_t bp; /* frame pointer of the frame just recorded */
	uint64_t lo, hi; /* its stack bounds */
	uint64_t pair[2]; /* read: saved bp, return address */
	uint32_t depth;
	uint64_t pcs[GO_MAX_FRAMES];
};

/*
 * Where a goroutine's stack starts: the pc and frame pointer the runtime
 * saved when it parked (sched) or entered a system call (syscallpc/bp; before
 * go1.23 the caller's bp is the one entersyscall pushed below syscallsp), and
 * the sp above which its frames are.
 */
static bool stack_start(const struct goproc *p, const struct goroutine *g, uint64_t *pc,
			uint64_t *bp, uint64_t *sp)
{
	if (g->status == GO_SYSCALL && g->syscall_sp) {
		*pc = g->syscall_pc;
		*sp = g->syscall_sp;
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
	*sp = g->sched_sp;
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
 * Queue the stack of work[gi] for walk_stacks(): the STACK_CHUNK bytes above
 * its saved sp (or up to the top of its stack).
 */
static int queue_stack(struct pass *ps, size_t gi)
{
	struct goproc *p = ps->p;
	struct goroutine *g = &p->work[gi];
	struct lists *ls = &p->lists;
	uint64_t pc, bp, sp, len;

	if (!stack_start(p, g, &pc, &bp, &sp)) {
		g->stack_unavailable = g->status == GO_RUNNING;
		return 0;
	}
	len = g->stack_hi > sp ? g->stack_hi - sp : 0;
	if (!len)
		return push_pcs(ps->sp, &pc, 1, g);
	ls->st_addr[ps->nr_st] = sp;
	ls->st_len[ps->nr_st] = (uint32_t)(len < STACK_CHUNK ? len : STACK_CHUNK);
	ls->st_idx[ps->nr_st] = (uint32_t)gi;
	ls->st_bp[ps->nr_st++] = bp;
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
static int syscall_bps(struct goproc *p, size_t nw)
{
	struct lists *ls = &p->lists;
	struct vmread_req *reqs;
	size_t nr = 0;

	if (p->l.g_syscallbp >= 0)
		return 0;
	for (size_t k = 0; k < nw; k++)
		nr += p->work[ls->st_idx[k]].status == GO_SYSCALL;
	if (!nr)
		return 0;
	reqs = calloc(nr, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	nr = 0;
	for (size_t k = 0; k < nw; k++)
		if (p->work[ls->st_idx[k]].status == GO_SYSCALL)
			reqs[nr] = req(ls->st_bp[k], &ls->st_bp[k], 8), nr++;
	if (vmread__batch(p->pid, reqs, nr) < 0) {
		free(reqs);
		return -ESRCH;
	}
	for (size_t k = 0, r = 0; k < nw; k++)
		if (p->work[ls->st_idx[k]].status == GO_SYSCALL && !reqs[r++].ok)
			ls->st_bp[k] = 0;
	free(reqs);
	return 0;
}

struct stack_walk {
	struct goproc *p;
	struct snap_priv *sp;
	struct walk *rest; /* walks that go on past what was read */
	size_t nr_rest, cap_rest;
};

/*
 * The top of one goroutine's stack, from its saved sp: walk the frame
 * pointers in the bounce buffer. Most parked goroutines' stacks fit; the
 * walks that leave it go on in walk_rest().
 */
static int walk_chunk(void *ctx, size_t k, const uint8_t *data, size_t len)
{
	struct stack_walk *sw = ctx;
	struct goproc *p = sw->p;
	struct lists *ls = &p->lists;
	struct goroutine *g = &p->work[ls->st_idx[k]];
	uint64_t lo = ls->st_addr[k], pc = 0, bp, sp;
	struct walk w;

	stack_start(p, g, &pc, &bp, &sp);
	w.gi = ls->st_idx[k];
	w.bp = ls->st_bp[k];
	w.lo = g->stack_lo;
	w.hi = g->stack_hi;
	w.pcs[0] = pc;
	w.depth = 1;
	while (data && bp_ok(&w) && w.bp >= lo && w.bp + 16 <= lo + len) {
		uint64_t pair[2];

		memcpy(pair, data + (w.bp - lo), sizeof(pair));
		if (!climb(p, &w, pair[0], pair[1]))
			break;
	}
	if (!bp_ok(&w))
		return push_pcs(sw->sp, w.pcs, w.depth, g);
	if (reserve(&sw->rest, &sw->cap_rest, sw->nr_rest + 1, sizeof(*sw->rest)))
		return -ENOMEM;
	sw->rest[sw->nr_rest++] = w;
	return 0;
}

/*
 * Walk the queued stacks: the top of each in one gather (2 KiB stacks sit
 * side by side in the runtime's stack spans, so they come in few large
 * reads), the frames above it frame by frame.
 */
static int walk_stacks(struct pass *ps)
{
	struct goproc *p = ps->p;
	struct lists *ls = &p->lists;
	struct stack_walk sw = { .p = p, .sp = ps->sp };
	struct vmread_req *reqs = NULL;
	long got;
	int err;

	err = syscall_bps(p, ps->nr_st);
	if (err)
		return err;
	got = vmgather__each(p->vg, p->pid, ls->st_addr, ls->st_len, 0, ps->nr_st, walk_chunk, &sw);
	if (got < 0) {
		err = (int)got;
		goto out;
	}
	if (sw.nr_rest) {
		reqs = calloc(sw.nr_rest, sizeof(*reqs));
		if (!reqs) {
			err = -ENOMEM;
			goto out;
		}
		err = walk_rest(p, sw.rest, sw.nr_rest, reqs);
		for (size_t k = 0; !err && k < sw.nr_rest; k++)
			err = push_pcs(ps->sp, sw.rest[k].pcs, sw.rest[k].depth,
				       &p->work[sw.rest[k].gi]);
	}
out:
	free(sw.rest);
	free(reqs);
	return err;
}

/* ---- pprof labels ---- */

/* The strings of the label sets being read, read together at the end. */
struct label_strs {
	uint64_t *addr;
	uint32_t *len;
	char **dst;
	size_t n, cap;
	size_t unread; /* strings that could not be read */
};

/*
 * Make ls from the string headers of its n labels (key, value, key, ...:
 * pointer and length each), its strings to be read into it by
 * read_label_strs(). An unreadable string stays "".
 */
static int label_set_from(struct label_set *ls, const uint64_t *hdrs, size_t n,
			  struct label_strs *ss)
{
	void **arrays[] = { (void **)&ss->addr, (void **)&ss->len, (void **)&ss->dst };
	size_t sizes[] = { sizeof(*ss->addr), sizeof(*ss->len), sizeof(*ss->dst) };
	size_t total = 0, off = 0;

	for (size_t i = 0; i < 2 * n; i++)
		total += (hdrs[2 * i + 1] < MAX_LABEL_LEN ? hdrs[2 * i + 1] : MAX_LABEL_LEN) + 1;
	ls->strings = calloc(1, total ? total : 1);
	ls->l = calloc(n ? n : 1, sizeof(*ls->l));
	if (!ls->strings || !ls->l || reserve_many(arrays, sizes, 3, &ss->cap, ss->n + 2 * n))
		return -ENOMEM;
	for (size_t i = 0; i < 2 * n; i++) {
		size_t len = hdrs[2 * i + 1] < MAX_LABEL_LEN ? hdrs[2 * i + 1] : MAX_LABEL_LEN;
		char *dst = ls->strings + off;

		if (i % 2)
			ls->l[i / 2].value = dst;
		else
			ls->l[i / 2].key = dst;
		off += len + 1;
		if (!len || !hdrs[2 * i])
			continue;
		ss->addr[ss->n] = hdrs[2 * i];
		ss->len[ss->n] = (uint32_t)len;
		ss->dst[ss->n++] = dst;
	}
	ls->n = (uint32_t)n;
	return 0;
}

static int copy_str(void *ctx, size_t i, const uint8_t *data, size_t len)
{
	struct label_strs *ss = ctx;

	if (data)
		memcpy(ss->dst[i], data, len);
	else
		ss->unread++;
	return 0;
}

/*
 * Is the process on its way out (PF_EXITING, a zombie, gone)? Its memory is
 * being unmapped: what could not be read is not the process's doing, and a
 * snapshot with holes in it (labels with empty keys) must not be published.
 */
static bool exiting(const struct goproc *p)
{
	char path[160], buf[512], *c;
	unsigned long flags = 0;
	char state = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/stat", p->proc_root, p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	c = strrchr(buf, ')'); /* after comm, which may hold anything */
	if (!c || sscanf(c + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) != 2)
		return false;
	return state == 'Z' || state == 'X' || (flags & 0x4); /* PF_EXITING */
}

static int read_label_strs(struct goproc *p, struct label_strs *ss)
{
	long got = vmgather__each(p->vg, p->pid, ss->addr, ss->len, 0, ss->n, copy_str, ss);

	if ((got < 0 || ss->unread) && exiting(p))
		return -ESRCH;
	return got < 0 ? (int)got : 0;
}

/*
 * go1.24+: g.labels points at a labelMap, a sorted []struct{key, value
 * string}. Many sets are read at once: their slice headers in one gather,
 * then their string headers in another.
 */
struct slice_read {
	struct label_set **sets;
	uint32_t *idx; /* set of each second-round record */
	uint64_t *addr;
	uint32_t *len;
	size_t n;
	struct label_strs *ss;
	int err;
};

static int slice_hdr(void *ctx, size_t k, const uint8_t *data, size_t len)
{
	struct slice_read *r = ctx;
	uint64_t sl[3];
	size_t n;

	if (!data)
		return 0;
	memcpy(sl, data, sizeof(sl));
	n = sl[1] < MAX_LABELS ? sl[1] : MAX_LABELS;
	if (!n || !sl[0] || sl[1] > sl[2])
		return 0;
	r->idx[r->n] = (uint32_t)k;
	r->addr[r->n] = sl[0];
	r->len[r->n++] = (uint32_t)(n * 32);
	return 0;
}

static int slice_strs(void *ctx, size_t k, const uint8_t *data, size_t len)
{
	struct slice_read *r = ctx;
	uint64_t hdrs[4 * MAX_LABELS];

	if (!data)
		return 0;
	memcpy(hdrs, data, len);
	return label_set_from(r->sets[r->idx[k]], hdrs, len / 32, r->ss);
}

static int labels_slices(struct goproc *p, struct label_set **sets, size_t n, struct label_strs *ss)
{
	struct slice_read r = { .sets = sets, .ss = ss };
	uint64_t *ptrs = malloc((n ? n : 1) * sizeof(*ptrs));
	long got = -ENOMEM;

	r.idx = malloc((n ? n : 1) * sizeof(*r.idx));
	r.addr = malloc((n ? n : 1) * sizeof(*r.addr));
	r.len = malloc((n ? n : 1) * sizeof(*r.len));
	if (!ptrs || !r.idx || !r.addr || !r.len)
		goto out;
	for (size_t k = 0; k < n; k++)
		ptrs[k] = sets[k]->labels_ptr;
	got = vmgather__each(p->vg, p->pid, ptrs, NULL, 24, n, slice_hdr, &r);
	if (got >= 0)
		got = vmgather__each(p->vg, p->pid, r.addr, r.len, 0, r.n, slice_strs, &r);
out:
	free(ptrs);
	free(r.idx);
	free(r.addr);
	free(r.len);
	return got < 0 ? (int)got : 0;
}

/*
 * go1.20-1.23: *labelMap is a map[string]string: an hmap whose 2^B buckets
 * (and oldbuckets while growing) hold 8 slots of tophash, keys, values and an
 * overflow pointer (272 bytes). Label maps are small; larger ones are cut.
 * One set at a time.
 */
static int labels_map(struct goproc *p, struct label_set *ls, struct label_strs *ss)
{
	enum { BUCKET = 272, MIN_TOPHASH = 5, MAX_BUCKETS = 16 };
	uint8_t h[32], b[BUCKET];
	uint64_t hdrs[4 * MAX_LABELS], queue[2 * MAX_BUCKETS], ptr;
	size_t nq = 0, n = 0, visited = 0;

	/* g.labels points at a labelMap whose first word is the map */
	if (read_u64(p, ls->labels_ptr, &ptr) || !ptr || vmread__one(p->pid, ptr, h, sizeof(h)))
		return 0;
	uint8_t B = h[9];
	uint64_t buckets = u64_at(h, 16), old = u64_at(h, 24);

	if (B > 4)
		return 0;
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
	return n ? label_set_from(ls, hdrs, n, ss) : 0;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct go_label *)a)->key, ((const struct go_label *)b)->key);
}

/* Read the label sets (new, empty) sets[0..n); one that cannot be read stays empty. */
static int read_label_sets(struct goproc *p, struct label_set **sets, size_t n)
{
	struct label_strs ss = { 0 };
	int err = 0;

	if (p->l.labels == GO_LABELS_SLICE)
		err = labels_slices(p, sets, n, &ss);
	for (size_t k = 0; !err && p->l.labels == GO_LABELS_MAP && k < n; k++)
		err = labels_map(p, sets[k], &ss);
	if (!err)
		err = read_label_strs(p, &ss);
	/* a map has no order: sort by key, as the slice of go1.24+ is */
	for (size_t k = 0; !err && p->l.labels == GO_LABELS_MAP && k < n; k++)
		if (sets[k]->n > 1)
			qsort(sets[k]->l, sets[k]->n, sizeof(sets[k]->l[0]), cmp_label);
	free(ss.addr);
	free(ss.len);
	free(ss.dst);
	/* the process exiting fails the snapshot; a set that cannot be read otherwise stays empty */
	return err == -ENOMEM || err == -ESRCH ? err : 0;
}

/* Take a reference for the snapshot being taken, once. */
static int label_set_use(struct goproc *p, struct snap_priv *sp, struct label_set *ls)
{
	if (ls->gen_used == p->gen)
		return 0;
	if (reserve(&sp->sets, &sp->cap_sets, sp->nr_sets + 1, sizeof(*sp->sets)))
		return -ENOMEM;
	sp->sets[sp->nr_sets++] = ls;
	ls->refs++;
	ls->gen_used = p->gen;
	return 0;
}

/*
 * The labels of the goroutines in p->lab, one read per distinct label set,
 * all read together. A set cached from the last snapshot is still right if a
 * goroutine that has not run since holds it: g.labels changes only when its
 * goroutine runs, a labelMap is never changed once made, and one that is
 * pointed at cannot be freed and its address reused. Any other set is read
 * again. The sets replaced are let go only at the end: pointers to them are
 * still held in sets[] until then.
 */
static int decode_labels(struct pass *ps)
{
	struct goproc *p = ps->p;
	const struct idx_list *lab = &p->lab;
	struct label_set **sets = calloc(lab->n + 1, sizeof(*sets)), **fresh = NULL, **old = NULL;
	size_t nf = 0, no = 0, cap_f = 0, cap_o = 0;
	int err = -ENOMEM;

	if (!sets)
		return -ENOMEM;
	for (size_t k = 0; k < lab->n; k++) {
		if (!(p->work_flags[lab->v[k]] & W_REUSED))
			continue;
		sets[k] = hmap__get(p->label_sets, p->work[lab->v[k]].labels_ptr);
		if (sets[k] && sets[k]->gen_ok == p->memo_gen)
			sets[k]->gen_ok = p->gen;
	}
	for (size_t k = 0; k < lab->n; k++) {
		uint64_t ptr = p->work[lab->v[k]].labels_ptr;
		struct label_set *ls = sets[k];

		if (!ls || ls->gen_ok != p->gen)
			ls = hmap__get(p->label_sets, ptr);
		if (!ls || ls->gen_ok != p->gen) {
			struct label_set *ns = calloc(1, sizeof(*ns));

			if (!ns)
				goto out;
			*ns = (struct label_set){ .refs = 1, .gen_ok = p->gen, .labels_ptr = ptr };
			if (reserve(&fresh, &cap_f, nf + 1, sizeof(*fresh)) ||
			    (ls && reserve(&old, &cap_o, no + 1, sizeof(*old))) ||
			    hmap__set(p->label_sets, ptr, ns)) {
				free(ns);
				goto out;
			}
			if (ls)
				old[no++] = ls;
			fresh[nf++] = ns;
			ls = ns;
		}
		if (label_set_use(p, ps->sp, ls))
			goto out;
		sets[k] = ls;
		p->work[lab->v[k]].labels = ls->l;
		p->work[lab->v[k]].nr_labels = ls->n;
	}
	err = nf ? read_label_sets(p, fresh, nf) : 0;
	/* the sets just read have their labels now */
	for (size_t k = 0; !err && nf && k < lab->n; k++) {
		p->work[lab->v[k]].labels = sets[k]->l;
		p->work[lab->v[k]].nr_labels = sets[k]->n;
	}
out:
	for (size_t i = 0; i < no; i++)
		label_set_put(old[i]);
	free(old);
	free(fresh);
	free(sets);
	return err;
}

/*
 * Forget the cached label sets the snapshot just taken (sp) did not use.
 * Each set it used is in the cache once: if there are as many, none is left.
 */
static void prune_label_sets(struct goproc *p, const struct snap_priv *sp)
{
	uint64_t key, *drop = NULL;
	size_t n = 0, cap = 0;
	void *val;

	if (hmap__len(p->label_sets) == sp->nr_sets)
		return;
	for (size_t it = 0; hmap__next(p->label_sets, &it, &key, &val);) {
		if (((struct label_set *)val)->gen_used == p->gen)
			continue;
		if (reserve(&drop, &cap, n + 1, sizeof(*drop)))
			break;
		drop[n++] = key;
	}
	for (size_t i = 0; i < n; i++)
		label_set_put(hmap__del(p->label_sets, drop[i]));
	free(drop);
}

/* ---- what a goroutine waits on ---- */

/*
 * g.waiting heads the sudogs of a channel operation (c is the channel; a
 * select links one per case through waitlink) and, from go1.26, of a
 * semaphore wait (elem is the semaphore's address).
 */
static bool has_sudog(const struct goproc *p, const struct goroutine *g)
{
	enum go_wait_class c = p->wait_class[g->wait_reason_raw];

	if (!g->waiting || g->status != GO_WAITING)
		return false;
	/* semaphore waits record their sudog only from go1.26 */
	return c == GO_WAIT_CHAN || ((c == GO_WAIT_SYNC || c == GO_WAIT_SEMA) && p->l.minor >= 26);
}

struct obj_read {
	struct goproc *p;
	size_t next; /* entries of the next round (the next sudog of a select) */
};

/* One sudog of the goroutine p->lists.ob_idx[0][k]. */
static int decode_sudog(void *ctx, size_t k, const uint8_t *sd, size_t len)
{
	struct obj_read *o = ctx;
	struct goproc *p = o->p;
	const struct go_layout *l = &p->l;
	struct lists *ls = &p->lists;
	uint32_t adj = l->sudog_ptr_adjust, gi = ls->ob_idx[0][k];
	struct goroutine *g = &p->work[gi];
	uint64_t ch, link;

	if (!sd)
		return 0;
	if (p->wait_class[g->wait_reason_raw] != GO_WAIT_CHAN) {
		uint64_t elem = u64_at(sd, l->sudog_elem + adj);

		if (elem) {
			g->obj = GO_OBJ_SEMA;
			g->obj_addr = elem;
			g->nr_objs = 1;
		}
		return 0;
	}
	ch = u64_at(sd, l->sudog_c + adj);
	if (!ch)
		return 0;
	g->obj = p->wait_select[g->wait_reason_raw] ? GO_OBJ_SELECT : GO_OBJ_CHAN;
	if (!g->nr_objs)
		g->obj_addr = ch;
	g->nr_objs++;
	link = u64_at(sd, l->sudog_waitlink);
	if (g->obj != GO_OBJ_SELECT || !link)
		return 0;
	ls->ob_idx[1][o->next] = gi;
	ls->ob_addr[1][o->next++] = link;
	return 0;
}

/* Read the queued sudogs: one round per sudog of the chains (a select has one per case). */
static int decode_objects(struct pass *ps)
{
	struct goproc *p = ps->p;
	const struct go_layout *l = &p->l;
	struct lists *ls = &p->lists;
	uint32_t adj = l->sudog_ptr_adjust;
	uint32_t need = l->sudog_c + adj + 8;
	struct obj_read o = { .p = p };
	size_t nr = ps->nr_ob;

	if (l->sudog_waitlink + 8 > need)
		need = l->sudog_waitlink + 8;
	if (l->sudog_elem + adj + 8 > need)
		need = l->sudog_elem + adj + 8;
	for (int round = 0; nr && round < MAX_SELECT; round++) {
		uint32_t *ti = ls->ob_idx[0];
		uint64_t *ta = ls->ob_addr[0];
		long got;

		o.next = 0;
		got = vmgather__each(p->vg, p->pid, ls->ob_addr[0], NULL, need, nr, decode_sudog,
				     &o);
		if (got < 0)
			return got == -ENOMEM ? -ENOMEM : 0;
		ls->ob_idx[0] = ls->ob_idx[1];
		ls->ob_idx[1] = ti;
		ls->ob_addr[0] = ls->ob_addr[1];
		ls->ob_addr[1] = ta;
		nr = o.next;
	}
	return 0;
}

/* ---- one pass over a list of gs ---- */

/*
 * Take the stack and objects of work[gi] from its memo if it has not run
 * since the last snapshot (go_parked__same). Returns 1 if it did, 0 if not.
 */
static int reuse_memo(struct pass *ps, size_t gi)
{
	struct goproc *p = ps->p;
	struct goroutine *g = &p->work[gi];
	const struct memo *mo = &p->memo[gi];
	struct go_parked key;

	if (!p->memo_gen || mo->gen != p->memo_gen ||
	    ((ps->flags & GOSNAP_STACKS) && !(mo->have & MEMO_STACK)) ||
	    ((ps->flags & GOSNAP_OBJECTS) && !(mo->have & MEMO_OBJS)))
		return 0;
	go_parked__of(g, &key);
	if (!go_parked__same(&mo->key, &key))
		return 0;
	if ((ps->flags & GOSNAP_STACKS) &&
	    push_pcs(ps->sp, p->memo_pcs->v + mo->pcs_off, mo->nr_pcs, g))
		return -ENOMEM;
	if (ps->flags & GOSNAP_OBJECTS) {
		g->obj = mo->obj;
		g->obj_addr = mo->obj_addr;
		g->nr_objs = mo->nr_objs;
	}
	return 1;
}

/*
 * One g, decoded straight from the bounce buffer into its slot of p->work,
 * and sorted out: what can be taken from its memo, what must be read next.
 */
static int decode_cb(void *ctx, size_t i, const uint8_t *b, size_t len)
{
	struct pass *ps = ctx;
	struct goproc *p = ps->p;
	size_t gi = ps->ai ? ps->ai[i] : i;
	struct goroutine *g = &p->work[gi];
	int err = 0, reused;

	p->work_flags[gi] = 0;
	if (!b)
		return 0;
	decode_g(p, p->allgs[gi], b, g);
	if (!live(g))
		return 0;
	if (!plausible_g(g)) {
		p->nr_bogus++;
		return 0;
	}
	/* a parked g's saved context names the g itself: the layout check */
	if ((g->status == GO_WAITING || g->status == GO_RUNNABLE) &&
	    u64_at(b, p->l.g_sched_g) != g->g)
		ps->bad_sched++;
	g->system = is_system(p, g->startpc);
	g->locked = g->lockedm != 0;
	if (on_thread(g) || g->locked)
		err = push_idx(&p->thr, gi);
	if (!err && g->labels_ptr && (ps->flags & GOSNAP_LABELS))
		err = push_idx(&p->lab, gi);
	reused = err ? 0 : reuse_memo(ps, gi);
	if (err || reused < 0)
		return err ? err : reused;
	p->work_flags[gi] = W_LIVE | (reused ? W_REUSED : W_READ);
	ps->parked += g->status == GO_WAITING || g->status == GO_RUNNABLE;
	if (reused) {
		ps->reused += (ps->flags & GOSNAP_STACKS) != 0;
		return 0;
	}
	if (ps->flags & GOSNAP_STACKS)
		err = queue_stack(ps, gi);
	if ((ps->flags & GOSNAP_OBJECTS) && has_sudog(p, g)) {
		p->lists.ob_idx[0][ps->nr_ob] = (uint32_t)gi;
		p->lists.ob_addr[0][ps->nr_ob++] = g->waiting;
	}
	return err;
}

/* Remember the goroutines of the pass for the next snapshot. */
static void write_memos(struct pass *ps)
{
	struct goproc *p = ps->p;

	for (size_t k = 0; k < ps->n; k++) {
		size_t i = ps->ai ? ps->ai[k] : k;
		const struct goroutine *g = &p->work[i];
		struct memo *mo = &p->memo[i];

		if (!(p->work_flags[i] & W_LIVE))
			continue;
		mo->gen = p->gen;
		mo->pcs_off = (size_t)(uintptr_t)g->pcs;
		if (p->work_flags[i] & W_REUSED) {
			/* its pcs were in the last snapshot's buffer, which this one replaces */
			if (!(ps->flags & GOSNAP_STACKS))
				mo->have &= (uint8_t)~MEMO_STACK;
			continue;
		}
		go_parked__of(g, &mo->key);
		mo->have = ((ps->flags & GOSNAP_STACKS) ? MEMO_STACK : 0) |
			   ((ps->flags & GOSNAP_OBJECTS) ? MEMO_OBJS : 0);
		mo->obj = (uint8_t)g->obj;
		mo->obj_addr = g->obj_addr;
		mo->nr_objs = g->nr_objs;
		mo->nr_pcs = (uint16_t)g->nr_pcs;
	}
}

/*
 * Read the goroutines at allgs[ai[0..n)] (allgs[0..n) if ai is NULL) into
 * their slots of p->work, with what flags asks for, and remember them.
 */
static int read_pass(struct goproc *p, unsigned flags, const uint32_t *ai, size_t n,
		     struct snap_priv *sp, size_t *bad_sched, size_t *parked, size_t *reused)
{
	struct pass ps = { .p = p, .sp = sp, .flags = flags, .ai = ai, .n = n };
	uint64_t *addrs = p->allgs;
	long got;
	int err = 0;

	if (ai) {
		addrs = malloc((n ? n : 1) * sizeof(*addrs));
		if (!addrs)
			return -ENOMEM;
		for (size_t k = 0; k < n; k++)
			addrs[k] = p->allgs[ai[k]];
	}
	p->thr.n = 0;
	p->lab.n = 0;
	got = vmgather__each(p->vg, p->pid, addrs, NULL, p->g_read, n, decode_cb, &ps);
	if (addrs != p->allgs)
		free(addrs);
	*bad_sched += ps.bad_sched;
	*parked += ps.parked;
	*reused += ps.reused;
	if (got < 0)
		return (int)got;
	threads_of(p, &p->thr);
	if (flags & GOSNAP_STACKS)
		err = walk_stacks(&ps);
	if (!err && (flags & GOSNAP_LABELS))
		err = decode_labels(&ps);
	if (!err && (flags & GOSNAP_OBJECTS))
		err = decode_objects(&ps);
	if (!err)
		write_memos(&ps);
	return err;
}

/* ---- the snapshot as a whole ---- */

static void free_priv(struct snap_priv *sp)
{
	if (!sp)
		return;
	for (size_t i = 0; i < sp->nr_sets; i++)
		label_set_put(sp->sets[i]);
	free(sp->sets);
	pcs_put(sp->pcs);
	free(sp->recorded);
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
static int read_allgs(struct goproc *p, size_t *n, char *why, size_t why_len)
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
	if (reserve(&p->allgs, &p->cap_allgs, len ? len : 1, sizeof(*p->allgs)) ||
	    reserve_all(p, len))
		return -ENOMEM;
	if (len && (err = vmread__one(p->pid, ptr, p->allgs, len * 8))) {
		snprintf(why, why_len, "pid %u: %s", p->pid,
			 err == -ESRCH ? "the process exited" : "cannot read runtime.allgs");
		return err == -EFAULT ? -EINVAL : err;
	}
	*n = len;
	return 0;
}

struct recheck {
	struct goproc *p;
	size_t changed;
};

static int recheck_cb(void *ctx, size_t k, const uint8_t *b, size_t len)
{
	struct recheck *rc = ctx;
	struct goproc *p = rc->p;
	const struct go_layout *l = &p->l;
	uint32_t i = p->lists.st_idx[k];
	const struct goroutine *g = &p->work[i];
	bool moved = !b;

	if (b) {
		uint32_t st = u32_at(b, l->g_atomicstatus) & ~(uint32_t)GO_SCAN;

		moved = st != g->status ||
			(st != GO_RUNNING && (u64_at(b, l->g_sched_sp) != g->sched_sp ||
					      u64_at(b, l->g_sched_pc) != g->sched_pc)) ||
			(g->waitsince && (int64_t)u64_at(b, l->g_waitsince) != g->waitsince);
	}
	if (moved) {
		p->work_flags[i] |= W_MOVED;
		rc->changed++;
	}
	return 0;
}

/*
 * The goroutines whose status, saved sp or waitsince changed between the
 * first read and the end of the stack walk were read mid-change: mark them
 * W_MOVED to be read again. Those taken from their memo were read only once,
 * with the g. Returns how many changed.
 */
static size_t recheck(struct goproc *p, size_t n)
{
	const struct go_layout *l = &p->l;
	struct recheck rc = { .p = p };
	uint32_t len = l->g_atomicstatus + 4;
	size_t nr = 0;

	if (l->g_sched_bp + 8 > len)
		len = l->g_sched_bp + 8;
	if (l->g_waitsince + 8 > len)
		len = l->g_waitsince + 8;
	for (size_t i = 0; i < n; i++) {
		if (!(p->work_flags[i] & W_READ))
			continue;
		p->lists.st_idx[nr] = (uint32_t)i;
		p->lists.st_addr[nr++] = p->work[i].g;
	}
	if (vmgather__each(p->vg, p->pid, p->lists.st_addr, NULL, len, nr, recheck_cb, &rc) < 0)
		return 0;
	return rc.changed;
}

/*
 * The goroutines marked W_MOVED, to be read again into their slots: their
 * allgs indexes in a new array of *na. Their memos are forgotten.
 */
static uint32_t *take_moved(struct goproc *p, size_t n, size_t *na)
{
	uint32_t *again = malloc((n ? n : 1) * sizeof(*again));

	*na = 0;
	if (!again)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(p->work_flags[i] & W_MOVED))
			continue;
		p->memo[i].gen = 0;
		again[(*na)++] = (uint32_t)i;
	}
	return again;
}

/* Sort keys[0][0..n) by goid (radix.h); the sorted array ends up in keys[0]. */
static void sort_goids(struct goproc *p, size_t n)
{
	struct goid_key *sorted = radix__sort16(p->keys[0], p->keys[1], n);

	if (sorted != p->keys[0]) {
		p->keys[1] = p->keys[0];
		p->keys[0] = sorted;
	}
}

/*
 * The snapshot's array is work[0..n) by allgs index: close up the slots of
 * dead gs, then sort it by goid in place, following each cycle of the
 * permutation once (allgs is in order of creation, mostly goid order: little
 * moves). The pcs indexes become pointers on the way.
 */
static void publish(struct goproc *p, size_t n, struct gosnap *out, struct snap_priv *sp)
{
	struct goroutine *g = p->work, tmp, *fit;
	struct goid_key *keys;
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (!(p->work_flags[i] & W_LIVE))
			continue;
		if (m != i)
			g[m] = g[i];
		g[m].pcs = g[m].nr_pcs ? sp->pcs->v + (size_t)(uintptr_t)g[m].pcs : NULL;
		p->keys[0][m] = (struct goid_key){ g[m].goid, m };
		m++;
	}
	sort_goids(p, m);
	keys = p->keys[0];
	for (size_t j = 0; j < m; j++) {
		if (keys[j].i == j)
			continue;
		tmp = g[j];
		for (size_t k = j;;) {
			size_t from = keys[k].i;

			keys[k].i = k;
			if (from == j) {
				g[k] = tmp;
				break;
			}
			g[k] = g[from];
			k = from;
		}
	}
	fit = realloc(g, (m ? m : 1) * sizeof(*g));
	out->g = fit ? fit : g;
	out->n = m;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct snap_priv *new_priv(const struct goproc *p)
{
	struct snap_priv *sp = calloc(1, sizeof(*sp));
	/* room for as many pcs as last time: one allocation, no copies as it grows */
	size_t cap = p->memo_pcs ? p->memo_pcs->n + p->memo_pcs->n / 8 + 1024 : 4096;

	if (!sp)
		return NULL;
	sp->pcs = malloc(sizeof(*sp->pcs) + cap * sizeof(sp->pcs->v[0]));
	if (!sp->pcs) {
		free(sp);
		return NULL;
	}
	*sp->pcs = (struct pcs_buf){ .refs = 1, .cap = cap };
	return sp;
}

int goproc__snapshot(struct goproc *p, unsigned flags, struct gosnap *out, char *why,
		     size_t why_len)
{
	struct snap_priv *sp = new_priv(p);
	uint64_t cpu0 = thread_cpu_ns();
	uint32_t *again = NULL;
	size_t n = 0, bad = 0, parked = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->ts_ns = now_ns();
	if (!sp) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	out->priv = sp;
	p->gen++;
	err = read_allgs(p, &n, why, why_len);
	if (err)
		goto fail;
	out->nr_allgs = n;
	/* decoded in place, a slot per g, closed up and sorted by publish() */
	out->g = malloc((n ? n : 1) * sizeof(*out->g));
	if (!out->g) {
		err = -ENOMEM;
		goto fail_read;
	}
	prefault(out->g, n * sizeof(*out->g));
	p->work = out->g;
	p->nr_bogus = 0;
	err = read_pass(p, flags, NULL, n, sp, &bad, &parked, &out->nr_reused);
	if (err)
		goto fail_read;
	/* goroutines that moved while read: once more, the rest are left out */
	if ((flags & GOSNAP_STACKS) && recheck(p, n)) {
		size_t na;

		again = take_moved(p, n, &na);
		if (!again) {
			err = -ENOMEM;
			goto fail_read;
		}
		out->nr_retried = na;
		/* (the retried count twice in bad and parked alike: the layout check holds) */
		err = read_pass(p, flags, again, na, sp, &bad, &parked, &out->nr_reused);
		if (err)
			goto fail_read;
	}
	if (bad && bad * 2 >= parked) {
		snprintf(why, why_len,
			 "pid %u: the goroutine table does not match the %s layout of %s (%zu of "
			 "%zu parked goroutines inconsistent)",
			 p->pid, p->l.source, goproc__version(p), bad, parked);
		err = -EINVAL;
		goto fail;
	}
	publish(p, n, out, sp);
	out->nr_bogus = p->nr_bogus;
	p->work = NULL;
	/* the memos just written are the ones to trust next time; their pcs are sp's */
	pcs_put(p->memo_pcs);
	p->memo_pcs = sp->pcs;
	p->memo_pcs->refs++;
	p->memo_gen = p->gen;
	prune_label_sets(p, sp);
	free(again);
	out->cost_ns = now_ns() - out->ts_ns;
	out->cpu_ns = thread_cpu_ns() - cpu0;
	return 0;
fail_read:
	if (err == -ESRCH)
		snprintf(why, why_len, "pid %u: the process exited", p->pid);
	else if (err == -ENOMEM)
		snprintf(why, why_len, "out of memory");
	else if (!why[0])
		snprintf(why, why_len, "pid %u: reading its goroutines: %s (changed while read?)",
			 p->pid, strerror(-err));
fail:
	p->work = NULL;
	free(again);
	gosnap__free(out);
	return err;
}
