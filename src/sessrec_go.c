// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Goroutines in a recording (record.h, "Goroutines"): what the stuck-
 * goroutine detector was given live, each snapshot with the names of its
 * pcs and the evidence asked for, so that a replay judges the same
 * goroutines the same way with no process to read.
 *
 * Recording writes a goroutine in full once, then by goid while it stays
 * the same, in ranges (a leaked goroutine never changes, and leaks come by
 * the thousand from one loop: 16 bytes a snapshot for all of them). Replay rebuilds each snapshot in one block that the
 * snapshot owns, and hands it to the goroutine tracker as if just taken.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "godetect.h"
#include "gotrack.h"
#include "hmap.h"
#include "log.h"
#include "record.h"
#include "session.h"
#include "sessrec.h"

#define CHUNK_BYTES (64u << 10) /* a REC_GO_G record is closed past this */
#define SAME_PER_RECORD 4096 /* goid ranges in one REC_GO_SAME */
#define NAMED_MAX (1u << 16) /* pcs named per process and file, at most */
#define OBJECTS_MAX 64 /* distinct evidence object names kept while replaying */

/* What this file holds of a process (recording). */
struct rec_pid {
	struct hmap *hashes; /* goid -> hash | 1 of its entry in the last snapshot written */
	struct hmap *verdicts; /* goid -> hash | 1 of the last evidence written on it */
	struct hmap *named; /* pc << 1 | is_return -> (void *)1: REC_GO_FRAMES written */
};

struct build_g {
	struct goroutine g;
	uint32_t pcs_at, labels_at; /* in the build's pcs and labels */
};

struct build_label {
	uint32_t key_at, value_at; /* in the build's strings */
};

/* A snapshot being rebuilt (replay). */
struct build {
	bool open;
	uint32_t pid;
	struct gosnap s; /* counters and ts_ns; g comes at the end */
	uint64_t expect; /* goroutines the snapshot said it has */
	uint64_t same_next; /* REC_GO_SAME ranges begin at this goid or above */
	struct build_g *g;
	size_t n, cap;
	uint64_t *pcs;
	size_t nr_pcs, cap_pcs;
	struct build_label *labels;
	size_t nr_labels, cap_labels;
	char *str;
	size_t nr_str, cap_str;
};

struct verdict {
	enum go_reach reach;
	struct go_evidence ev; /* still_ns: from since_ns, as of the snapshot judged */
	uint64_t since_ns;
};

struct recgo {
	/* recording */
	bool opts_written; /* in this file */
	struct rec_go_opts opts;
	struct hmap *pids; /* pid -> struct rec_pid, in this file */
	uint8_t *entry; /* one goroutine, serialized */
	size_t entry_cap;
	uint64_t *same; /* goids unchanged since the last snapshot */
	size_t cap_same;
	struct rec_go_range *ranges; /* SAME_PER_RECORD */
	/* replay */
	struct build b;
	/*
	 * pid -> (goid -> struct verdict): the last evidence recorded on each
	 * goroutine; a verdict is recorded when it changes, so it holds until then.
	 */
	struct hmap *verdicts;
};

static struct recgo *state(struct session *s)
{
	struct recgo **gp = sessrec__go_state(s);

	if (!gp)
		return NULL;
	if (!*gp) {
		*gp = calloc(1, sizeof(**gp));
		if (*gp && (!((*gp)->pids = hmap__new()) || !((*gp)->verdicts = hmap__new()))) {
			sessrec_go__free(*gp);
			*gp = NULL;
		}
	}
	return *gp;
}

static void free_pid(struct rec_pid *p)
{
	if (!p)
		return;
	hmap__free(p->hashes);
	hmap__free(p->verdicts);
	hmap__free(p->named);
	free(p);
}

static void free_verdicts(struct hmap *h)
{
	uint64_t key;
	void *v;

	for (size_t it = 0; h && hmap__next(h, &it, &key, &v);)
		free(v);
	hmap__free(h);
}

static struct hmap *verdicts_of(struct recgo *rg, uint32_t pid, bool create)
{
	struct hmap *h = hmap__get(rg->verdicts, pid);

	if (h || !create)
		return h;
	h = hmap__new();
	if (h && hmap__set(rg->verdicts, pid, h)) {
		hmap__free(h);
		return NULL;
	}
	return h;
}

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	p = realloc(*v, c * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

static void build_reset(struct build *b)
{
	b->open = false;
	b->n = b->nr_pcs = b->nr_labels = b->nr_str = 0;
	b->same_next = 0;
}

void sessrec_go__new_file(struct recgo *rg)
{
	uint64_t key;
	void *v;

	if (!rg)
		return;
	rg->opts_written = false;
	for (size_t it = 0; hmap__next(rg->pids, &it, &key, &v);)
		free_pid(v);
	hmap__free(rg->pids);
	rg->pids = hmap__new();
}

void sessrec_go__free(struct recgo *rg)
{
	uint64_t key;
	void *v;

	if (!rg)
		return;
	for (size_t it = 0; rg->pids && hmap__next(rg->pids, &it, &key, &v);)
		free_pid(v);
	hmap__free(rg->pids);
	for (size_t it = 0; rg->verdicts && hmap__next(rg->verdicts, &it, &key, &v);)
		free_verdicts(v);
	hmap__free(rg->verdicts);
	free(rg->entry);
	free(rg->same);
	free(rg->ranges);
	free(rg->b.g);
	free(rg->b.pcs);
	free(rg->b.labels);
	free(rg->b.str);
	free(rg);
}

/* ---- recording ---- */

void sessrec__go_opts(struct session *s, uint64_t stuck_after_ns, uint64_t growth_window_ns,
		      size_t growth_min)
{
	struct recgo *rg = sessrec__writer(s) ? state(s) : NULL;

	if (!rg)
		return;
	rg->opts = (struct rec_go_opts){ .stuck_after_ns = stuck_after_ns,
					 .growth_window_ns = growth_window_ns,
					 .growth_min = growth_min };
}

static struct rec_pid *describe(struct session *s, struct recgo *rg, const struct go_process *gp)
{
	struct rec_writer *w = sessrec__writer(s);
	struct rec_pid *p = hmap__get(rg->pids, gp->pid);
	const struct go_layout *l = goproc__layout(gp->proc);
	struct goproc_recorded d;
	struct rec_go_proc r = { .pid = gp->pid };

	if (p)
		return p;
	if (!rg->opts_written) {
		sessrec__check_write(
			s, rec_writer__add(w, REC_GO_OPTS, now_ns(), &rg->opts, sizeof(rg->opts)));
		rg->opts_written = true;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->hashes = hmap__new()) || !(p->named = hmap__new()) ||
	    !(p->verdicts = hmap__new()) || hmap__set(rg->pids, gp->pid, p)) {
		free_pid(p);
		return NULL;
	}
	goproc__describe(gp->proc, &d);
	r.minor = d.minor;
	r.stripped = d.stripped;
	r.cgo = d.cgo;
	r.nr_reasons = (uint16_t)(l->nr_wait_reasons < 256 ? l->nr_wait_reasons : 256);
	rec_writer__begin(w, REC_GO_PROC, now_ns());
	rec_writer__put(w, &r, sizeof(r));
	rec_writer__put_str(w, d.exe);
	rec_writer__put_str(w, d.version);
	for (size_t i = 0; i < r.nr_reasons; i++)
		rec_writer__put_str(w, l->wait_reasons[i] ? l->wait_reasons[i] : "");
	sessrec__check_write(s, rec_writer__end(w));
	return p;
}

static int entry_put(struct recgo *rg, size_t *len, const void *p, size_t n)
{
	if (*len + n > rg->entry_cap) {
		size_t cap = 2 * rg->entry_cap + n + 256;
		uint8_t *e = realloc(rg->entry, cap);

		if (!e)
			return -ENOMEM;
		rg->entry = e;
		rg->entry_cap = cap;
	}
	memcpy(rg->entry + *len, p, n);
	*len += n;
	return 0;
}

static int entry_str(struct recgo *rg, size_t *len, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	uint16_t l = s ? (uint16_t)(n > REC_STR_MAX ? REC_STR_MAX : n) : REC_STR_NONE;

	return entry_put(rg, len, &l, sizeof(l)) || (s && entry_put(rg, len, s, l)) ? -ENOMEM : 0;
}

/* g as a REC_GO_G entry, in rg->entry: its length, 0 if out of memory. */
static size_t serialize(struct recgo *rg, const struct goroutine *g)
{
	struct rec_go_g r = {
		.g = g->g,
		.goid = g->goid,
		.parent_goid = g->parent_goid,
		.waitsince = g->waitsince,
		.gopc = g->gopc,
		.startpc = g->startpc,
		.sched_pc = g->sched_pc,
		.labels_ptr = g->labels_ptr,
		.obj_addr = g->obj_addr,
		.status = g->status,
		.tid = g->tid,
		.locked_tid = g->locked_tid,
		.nr_objs = g->nr_objs,
		.nr_pcs = (uint16_t)(g->nr_pcs < GO_MAX_FRAMES ? g->nr_pcs : GO_MAX_FRAMES),
		.nr_labels = (uint16_t)(g->nr_labels < REC_GO_MAX_LABELS ? g->nr_labels :
									   REC_GO_MAX_LABELS),
		.wait_reason_raw = g->wait_reason_raw,
		.obj = (uint8_t)g->obj,
		.flags = (g->scan ? REC_GO_SCAN : 0) | (g->system ? REC_GO_SYSTEM : 0) |
			 (g->locked ? REC_GO_LOCKED : 0) |
			 (g->stack_unavailable ? REC_GO_STACK_UNAVAILABLE : 0),
	};
	size_t len = 0;

	if (entry_put(rg, &len, &r, sizeof(r)) ||
	    (r.nr_pcs && entry_put(rg, &len, g->pcs, r.nr_pcs * sizeof(g->pcs[0]))))
		return 0;
	for (uint16_t i = 0; i < r.nr_labels; i++)
		if (entry_str(rg, &len, g->labels[i].key) ||
		    entry_str(rg, &len, g->labels[i].value))
			return 0;
	return len;
}

static uint64_t hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h | 1;
}

/*
 * Keep the entries of *h whose goid is in the snapshot (in = a goid map, or
 * sn sorted by goid), values freed with free_value (NULL: not pointers).
 */
static int cmp_goid_key(const void *key, const void *elem);

static void prune(struct hmap **h, const struct hmap *in, const struct gosnap *sn)
{
	struct hmap *kept = hmap__new();
	uint64_t key;
	void *v;

	if (!kept)
		return;
	for (size_t it = 0; hmap__next(*h, &it, &key, &v);) {
		bool live =
			in ? hmap__get(in, key) != NULL :
			     sn->n && bsearch(&key, sn->g, sn->n, sizeof(sn->g[0]), cmp_goid_key);

		if (!live || hmap__set(kept, key, v)) {
			if (sn)
				free(v);
		}
	}
	hmap__free(*h);
	*h = kept;
}

/* The names of pc, once per process and file. */
static void name_pc(struct session *s, struct rec_pid *p, const struct go_process *gp, uint64_t pc,
		    bool is_return)
{
	static struct frame f[REC_GO_MAX_FRAMES];
	struct rec_writer *w = sessrec__writer(s);
	uint64_t key = pc << 1 | is_return;
	struct rec_go_frames r = { .pid = gp->pid, .is_return = is_return, .pc = pc };
	size_t n = 0;

	if (!w || !pc || hmap__get(p->named, key) || hmap__len(p->named) >= NAMED_MAX ||
	    hmap__set(p->named, key, (void *)1))
		return;
	goproc__frames(gp->proc, pc, is_return, f, REC_GO_MAX_FRAMES, &n);
	r.n = (uint8_t)n;
	rec_writer__begin(w, REC_GO_FRAMES, now_ns());
	rec_writer__put(w, &r, sizeof(r));
	sessrec__put_frames(w, f, n);
	sessrec__check_write(s, rec_writer__end(w));
}

/* A REC_GO_G being written: records do not nest, so it ends before any other begins. */
struct chunk {
	bool open;
	size_t at; /* of its struct rec_go_chunk in the writer */
	size_t bytes;
	uint32_t nr;
};

static void chunk_end(struct session *s, struct chunk *c)
{
	struct rec_writer *w = sessrec__writer(s);

	if (!c->open || !w)
		return;
	/* the count, known now, goes back into the chunk's header */
	rec_writer__patch(w, c->at + offsetof(struct rec_go_chunk, nr), &c->nr, sizeof(c->nr));
	sessrec__check_write(s, rec_writer__end(w));
	c->open = false;
}

static void chunk_add(struct session *s, struct chunk *c, uint32_t pid, const void *entry,
		      size_t len)
{
	struct rec_writer *w = sessrec__writer(s);
	struct rec_go_chunk h = { .pid = pid };

	if (c->open && c->bytes + len > CHUNK_BYTES)
		chunk_end(s, c);
	if (!w)
		return;
	if (!c->open) {
		rec_writer__begin(w, REC_GO_G, now_ns());
		c->at = rec_writer__offset(w);
		rec_writer__put(w, &h, sizeof(h));
		*c = (struct chunk){ .open = true, .at = c->at };
	}
	rec_writer__put(w, entry, len);
	c->bytes += len;
	c->nr++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The unchanged goroutines, sorted, as ranges of goids. */
static void put_same(struct session *s, struct recgo *rg, uint32_t pid, size_t n)
{
	struct rec_go_chunk c = { .pid = pid };
	struct rec_writer *w;

	if (n)
		qsort(rg->same, n, sizeof(*rg->same), cmp_u64);
	for (size_t i = 0; i < n;) {
		struct rec_go_range *r = &rg->ranges[c.nr++];

		*r = (struct rec_go_range){ .first = rg->same[i], .n = 1 };
		for (i++; i < n && rg->same[i] == r->first + r->n; i++)
			r->n++;
		while (i < n && rg->same[i] == rg->same[i - 1])
			i++; /* a goid twice in one snapshot (reused while read) */
		if (c.nr < SAME_PER_RECORD && i < n)
			continue;
		w = sessrec__writer(s);
		if (!w)
			return;
		rec_writer__begin(w, REC_GO_SAME, now_ns());
		rec_writer__put(w, &c, sizeof(c));
		rec_writer__put(w, rg->ranges, c.nr * sizeof(*rg->ranges));
		sessrec__check_write(s, rec_writer__end(w));
		c.nr = 0;
	}
}

void sessrec__go_snapshot(struct session *s, const struct go_process *gp)
{
	struct rec_writer *w = sessrec__writer(s);
	struct recgo *rg = w ? state(s) : NULL;
	const struct gosnap *sn = &gp->snap;
	struct rec_go_snap r = {
		.pid = gp->pid,
		.ts_ns = sn->ts_ns,
		.n = sn->n,
		.cost_ns = sn->cost_ns,
		.cpu_ns = sn->cpu_ns,
		.nr_allgs = sn->nr_allgs,
		.nr_retried = sn->nr_retried,
		.nr_reused = sn->nr_reused,
	};
	struct chunk chunk = {};
	struct hmap *hashes;
	struct rec_pid *p;
	size_t nr_same = 0;

	if (!rg || !gp->proc || !(p = describe(s, rg, gp)))
		return;
	if ((!rg->ranges && !(rg->ranges = malloc(SAME_PER_RECORD * sizeof(*rg->ranges)))) ||
	    grow((void **)&rg->same, &rg->cap_same, sn->n, sizeof(*rg->same)))
		return;
	hashes = hmap__new();
	if (!hashes)
		return;
	sessrec__check_write(s, rec_writer__add(w, REC_GO_SNAP, now_ns(), &r, sizeof(r)));
	for (size_t i = 0; i < sn->n; i++) {
		const struct goroutine *g = &sn->g[i];
		size_t len = serialize(rg, g);
		uint64_t h = len ? hash(rg->entry, len) : 0;

		if (!len)
			continue; /* out of memory: the replay lacks it */
		hmap__set(hashes, g->goid, (void *)(uintptr_t)h);
		if ((uint64_t)(uintptr_t)hmap__get(p->hashes, g->goid) != h) {
			chunk_add(s, &chunk, gp->pid, rg->entry, len);
			continue;
		}
		rg->same[nr_same++] = g->goid;
	}
	chunk_end(s, &chunk);
	put_same(s, rg, gp->pid, nr_same);
	hmap__free(p->hashes);
	p->hashes = hashes;
	prune(&p->verdicts, hashes, NULL);
	/* every pc a view or the detector may name */
	for (size_t i = 0; i < sn->n; i++) {
		const struct goroutine *g = &sn->g[i];

		for (uint32_t k = 0; k < g->nr_pcs && k < GO_MAX_FRAMES; k++)
			name_pc(s, p, gp, g->pcs[k], true);
		name_pc(s, p, gp, g->gopc, true);
		name_pc(s, p, gp, g->startpc, false);
	}
}

void sessrec__go_verdict(struct session *s, const struct go_process *gp, const struct goroutine *g,
			 enum go_reach reach, const struct go_evidence *ev)
{
	struct rec_writer *w = sessrec__writer(s);
	struct recgo *rg = w ? state(s) : NULL;
	struct rec_go_verdict r = {
		.pid = gp->pid,
		.reach = (uint32_t)reach,
		.goid = g->goid,
		.addr = ev->addr,
		/* a time, not a duration: unchanged while the object is, so written once */
		.since_ns = ev->still_ns && ev->still_ns < gp->snap.ts_ns ?
				    gp->snap.ts_ns - ev->still_ns :
				    0,
	};

	struct rec_pid *p = rg ? hmap__get(rg->pids, gp->pid) : NULL;
	uint64_t h;

	if (!p)
		return;
	/* as the last one said: not written again (a replay keeps the last) */
	h = hash((const uint8_t *)&r.reach, sizeof(r) - offsetof(struct rec_go_verdict, reach)) ^
	    (ev->object ? hash((const uint8_t *)ev->object, strlen(ev->object)) : 0);
	h |= 1;
	if ((uint64_t)(uintptr_t)hmap__get(p->verdicts, g->goid) == h)
		return;
	hmap__set(p->verdicts, g->goid, (void *)(uintptr_t)h);
	rec_writer__begin(w, REC_GO_VERDICT, now_ns());
	rec_writer__put(w, &r, sizeof(r));
	rec_writer__put_str(w, ev->object);
	sessrec__check_write(s, rec_writer__end(w));
}

static void put_pid(struct session *s, uint16_t type, uint32_t pid)
{
	struct rec_writer *w = sessrec__writer(s);
	struct recgo *rg = w ? state(s) : NULL;
	struct rec_go_pid r = { .pid = pid };

	if (!rg || !hmap__get(rg->pids, pid))
		return;
	sessrec__check_write(s, rec_writer__add(w, type, now_ns(), &r, sizeof(r)));
	if (type == REC_GO_GONE)
		free_pid(hmap__del(rg->pids, pid));
}

void sessrec__go_snapshot_end(struct session *s, uint32_t pid)
{
	put_pid(s, REC_GO_SNAP_END, pid);
}

void sessrec__go_gone(struct session *s, uint32_t pid)
{
	put_pid(s, REC_GO_GONE, pid);
}

/* ---- replay ---- */

/* Evidence names are a few static strings live; replayed, they live as long as the program. */
static const char *intern(const char *name)
{
	static char names[OBJECTS_MAX][32];
	static size_t n;

	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return names[i];
	if (n == OBJECTS_MAX)
		return "object";
	snprintf(names[n], sizeof(names[n]), "%s", name);
	return names[n++];
}

static int add_str(struct build *b, const char *s, size_t len, uint32_t *at)
{
	if (grow((void **)&b->str, &b->cap_str, b->nr_str + len + 1, 1))
		return -ENOMEM;
	*at = (uint32_t)b->nr_str;
	memcpy(b->str + b->nr_str, s, len);
	b->str[b->nr_str + len] = '\0';
	b->nr_str += len + 1;
	return 0;
}

/* A goroutine into the build: its pcs and labels copied in. */
static int add_g(struct build *b, const struct goroutine *g, const uint64_t *pcs,
		 const struct go_label *labels)
{
	struct build_g *bg;

	if (b->n >= b->expect || grow((void **)&b->g, &b->cap, b->n + 1, sizeof(*b->g)) ||
	    grow((void **)&b->pcs, &b->cap_pcs, b->nr_pcs + g->nr_pcs, sizeof(*b->pcs)) ||
	    grow((void **)&b->labels, &b->cap_labels, b->nr_labels + g->nr_labels,
		 sizeof(*b->labels)))
		return -ENOMEM;
	bg = &b->g[b->n++];
	bg->g = *g;
	bg->pcs_at = (uint32_t)b->nr_pcs;
	bg->labels_at = (uint32_t)b->nr_labels;
	if (g->nr_pcs)
		memcpy(b->pcs + b->nr_pcs, pcs, g->nr_pcs * sizeof(*pcs));
	b->nr_pcs += g->nr_pcs;
	for (uint32_t i = 0; i < g->nr_labels; i++) {
		struct build_label *l = &b->labels[b->nr_labels++];

		if (add_str(b, labels[i].key, strlen(labels[i].key), &l->key_at) ||
		    add_str(b, labels[i].value, strlen(labels[i].value), &l->value_at))
			return -ENOMEM;
	}
	return 0;
}

static bool replay_g(struct build *b, struct rec_cursor *c, const struct go_layout *l)
{
	struct rec_go_g r;
	struct goroutine g = {};
	uint64_t pcs[GO_MAX_FRAMES];
	struct go_label labels[REC_GO_MAX_LABELS];
	static char strs[REC_GO_MAX_LABELS][2][REC_STR_MAX + 1];

	rec_cursor__get(c, &r, sizeof(r));
	if (c->bad || r.nr_pcs > GO_MAX_FRAMES || r.nr_labels > REC_GO_MAX_LABELS ||
	    r.obj > GO_OBJ_SEMA)
		return false;
	rec_cursor__get(c, pcs, r.nr_pcs * sizeof(pcs[0]));
	for (uint16_t i = 0; i < r.nr_labels; i++) {
		bool present;

		rec_cursor__get_str(c, strs[i][0], sizeof(strs[i][0]), &present);
		rec_cursor__get_str(c, strs[i][1], sizeof(strs[i][1]), &present);
		labels[i] = (struct go_label){ .key = strs[i][0], .value = strs[i][1] };
	}
	if (c->bad)
		return false;
	g.g = r.g;
	g.goid = r.goid;
	g.parent_goid = r.parent_goid;
	g.status = r.status;
	g.scan = r.flags & REC_GO_SCAN;
	g.system = r.flags & REC_GO_SYSTEM;
	g.locked = r.flags & REC_GO_LOCKED;
	g.stack_unavailable = r.flags & REC_GO_STACK_UNAVAILABLE;
	g.wait_reason_raw = r.wait_reason_raw;
	g.wait_reason = golayout__wait_reason(l, r.wait_reason_raw);
	g.waitsince = r.waitsince;
	g.tid = r.tid;
	g.locked_tid = r.locked_tid;
	g.gopc = r.gopc;
	g.startpc = r.startpc;
	g.sched_pc = r.sched_pc;
	g.labels_ptr = r.labels_ptr;
	g.obj = (enum go_wait_obj)r.obj;
	g.obj_addr = r.obj_addr;
	g.nr_objs = r.nr_objs;
	g.nr_pcs = r.nr_pcs;
	g.nr_labels = r.nr_labels;
	return !add_g(b, &g, pcs, labels);
}

static int cmp_goid(const void *a, const void *b)
{
	uint64_t x = ((const struct build_g *)a)->g.goid, y = ((const struct build_g *)b)->g.goid;

	return x < y ? -1 : x > y;
}

static int cmp_goid_key(const void *key, const void *elem)
{
	uint64_t goid = *(const uint64_t *)key;
	const struct goroutine *g = elem;

	return goid < g->goid ? -1 : goid > g->goid;
}

/* The build becomes a snapshot: one block holds its pcs, labels and strings. */
static int finish(struct session *s, struct build *b)
{
	size_t pcs_bytes = b->nr_pcs * sizeof(uint64_t);
	size_t labels_bytes = b->nr_labels * sizeof(struct go_label);
	uint8_t *block = malloc(pcs_bytes + labels_bytes + b->nr_str + 1);
	struct gosnap sn = b->s;
	uint64_t *pcs;
	struct go_label *labels;
	char *str;

	sn.g = calloc(b->n ? b->n : 1, sizeof(*sn.g));
	if (!block || !sn.g || gosnap__adopt(&sn, block)) {
		free(block);
		free(sn.g);
		return -ENOMEM;
	}
	pcs = (uint64_t *)block;
	labels = (struct go_label *)(block + pcs_bytes);
	str = (char *)(block + pcs_bytes + labels_bytes);
	if (pcs_bytes)
		memcpy(pcs, b->pcs, pcs_bytes);
	if (b->nr_str)
		memcpy(str, b->str, b->nr_str);
	for (size_t i = 0; i < b->nr_labels; i++)
		labels[i] = (struct go_label){ .key = str + b->labels[i].key_at,
					       .value = str + b->labels[i].value_at };
	if (b->n)
		qsort(b->g, b->n, sizeof(*b->g), cmp_goid);
	for (size_t i = 0; i < b->n; i++) {
		sn.g[i] = b->g[i].g;
		sn.g[i].pcs = sn.g[i].nr_pcs ? pcs + b->g[i].pcs_at : NULL;
		sn.g[i].labels = sn.g[i].nr_labels ? labels + b->g[i].labels_at : NULL;
	}
	sn.n = b->n;
	return gotrack__replay_snapshot(s->go, b->pid, &sn);
}

static void replay_proc(struct session *s, struct rec_cursor *c)
{
	static char reasons_buf[256][64];
	const char *reasons[256];
	struct goproc_recorded d = {};
	struct rec_go_proc r;
	struct goproc *p;
	bool present;

	rec_cursor__get(c, &r, sizeof(r));
	if (c->bad || r.nr_reasons > 256)
		return;
	d.pid = r.pid;
	d.minor = r.minor;
	d.stripped = r.stripped;
	d.cgo = r.cgo;
	rec_cursor__get_str(c, d.exe, sizeof(d.exe), &present);
	rec_cursor__get_str(c, d.version, sizeof(d.version), &present);
	for (size_t i = 0; i < r.nr_reasons; i++) {
		rec_cursor__get_str(c, reasons_buf[i], sizeof(reasons_buf[i]), &present);
		reasons[i] = reasons_buf[i];
	}
	if (c->bad)
		return;
	p = goproc__recorded(&d, reasons, r.nr_reasons);
	if (!p || gotrack__replay_process(s->go, p))
		log_error(ENOMEM, "replaying the goroutines of pid %u", r.pid);
}

static void replay_frames(struct session *s, struct rec_cursor *c)
{
	static struct frame f[REC_GO_MAX_FRAMES];
	struct rec_go_frames r;
	const struct go_process *gp;

	rec_cursor__get(c, &r, sizeof(r));
	if (c->bad || r.n > REC_GO_MAX_FRAMES)
		return;
	sessrec__get_frames(c, f, r.n);
	gp = gotrack__process(s->go, r.pid);
	if (!c->bad && gp && gp->proc)
		goproc__add_frames(gp->proc, r.pc, r.is_return, f, r.n);
}

static void replay_verdict(struct recgo *rg, struct rec_cursor *c)
{
	struct rec_go_verdict r;
	struct hmap *vs;
	struct verdict *v;
	char object[32];
	bool present;

	rec_cursor__get(c, &r, sizeof(r));
	rec_cursor__get_str(c, object, sizeof(object), &present);
	/* on a goroutine of the snapshot being judged (and of the last: not pruned yet) */
	if (c->bad || r.reach > GO_REACH_NO_PROGRESS || !rg->b.open || r.pid != rg->b.pid ||
	    !(vs = verdicts_of(rg, r.pid, true)) || hmap__len(vs) > 2 * rg->b.expect)
		return;
	v = calloc(1, sizeof(*v));
	if (!v)
		return;
	v->reach = (enum go_reach)r.reach;
	v->ev = (struct go_evidence){ .reach = v->reach,
				      .object = present ? intern(object) : NULL,
				      .addr = r.addr };
	v->since_ns = r.since_ns;
	free(hmap__del(vs, r.goid));
	if (hmap__set(vs, r.goid, v))
		free(v);
}

enum go_reach sessrec__go_recorded_verdict(struct session *s, const struct go_process *gp,
					   const struct goroutine *g, struct go_evidence *ev)
{
	struct recgo **rgp = sessrec__go_state(s);
	const struct hmap *vs = rgp && *rgp ? verdicts_of(*rgp, gp->pid, false) : NULL;
	const struct verdict *v = vs ? hmap__get(vs, g->goid) : NULL;

	if (!v)
		return GO_REACH_UNKNOWN;
	*ev = v->ev;
	ev->still_ns =
		v->since_ns && v->since_ns < gp->snap.ts_ns ? gp->snap.ts_ns - v->since_ns : 0;
	return v->reach;
}

/* One REC_GO_* record; false if it is malformed. */
bool sessrec_go__replay(struct session *s, const struct rec *rec)
{
	struct recgo *rg = state(s);
	struct build *b = rg ? &rg->b : NULL;
	struct rec_cursor c;
	const struct go_process *gp;

	if (!rg)
		return true;
	rec_cursor__init(&c, rec);
	if (rec->type == REC_GO_OPTS) {
		struct rec_go_opts o;

		rec_cursor__get(&c, &o, sizeof(o));
		if (!c.bad)
			session__replay_goroutines(s, o.stuck_after_ns, o.growth_window_ns,
						   (size_t)o.growth_min);
		return !c.bad;
	}
	if (!s->go)
		return true; /* --no-goroutines, or a file cut before its options */
	switch (rec->type) {
	case REC_GO_PROC:
		replay_proc(s, &c);
		break;
	case REC_GO_SNAP: {
		struct rec_go_snap r;

		rec_cursor__get(&c, &r, sizeof(r));
		build_reset(b);
		if (c.bad || !gotrack__process(s->go, r.pid))
			break;
		b->open = true;
		b->pid = r.pid;
		b->expect = r.n;
		b->s = (struct gosnap){ .ts_ns = r.ts_ns,
					.cost_ns = r.cost_ns,
					.cpu_ns = r.cpu_ns,
					.nr_allgs = r.nr_allgs,
					.nr_retried = r.nr_retried,
					.nr_reused = r.nr_reused };
		break;
	}
	case REC_GO_G:
	case REC_GO_SAME: {
		struct rec_go_chunk ch;

		rec_cursor__get(&c, &ch, sizeof(ch));
		gp = gotrack__process(s->go, ch.pid);
		if (c.bad || !b->open || ch.pid != b->pid || !gp || !gp->proc)
			break;
		for (uint32_t i = 0; i < ch.nr && !c.bad; i++) {
			const struct goroutine *prev;

			struct rec_go_range r;

			if (rec->type == REC_GO_G) {
				if (!replay_g(b, &c, goproc__layout(gp->proc)))
					c.bad = true;
				continue;
			}
			/* ascending: each goid of the last snapshot is taken once at most */
			rec_cursor__get(&c, &r, sizeof(r));
			if (c.bad || r.first < b->same_next || !r.n || r.first + r.n < r.first) {
				c.bad = true;
				break;
			}
			b->same_next = r.first + r.n;
			for (uint64_t goid = r.first; goid < b->same_next && !c.bad; goid++) {
				prev = gp->snap.n ? bsearch(&goid, gp->snap.g, gp->snap.n,
							    sizeof(gp->snap.g[0]), cmp_goid_key) :
						    NULL;
				if (!prev || add_g(b, prev, prev->pcs, prev->labels))
					c.bad = true;
			}
		}
		break;
	}
	case REC_GO_FRAMES:
		replay_frames(s, &c);
		break;
	case REC_GO_VERDICT:
		replay_verdict(rg, &c);
		break;
	case REC_GO_SNAP_END: {
		struct rec_go_pid r;
		struct hmap *vs;

		rec_cursor__get(&c, &r, sizeof(r));
		if (!c.bad && b->open && r.pid == b->pid && finish(s, b))
			log_error(ENOMEM, "replaying a goroutine snapshot of pid %u", r.pid);
		/* the evidence on goroutines gone with this snapshot goes too */
		gp = gotrack__process(s->go, r.pid);
		vs = verdicts_of(rg, r.pid, false);
		if (!c.bad && gp && vs) {
			prune(&vs, NULL, &gp->snap);
			if (hmap__set(rg->verdicts, r.pid, vs))
				free_verdicts(vs);
		}
		build_reset(b);
		b->pid = 0;
		break;
	}
	case REC_GO_GONE: {
		struct rec_go_pid r;

		rec_cursor__get(&c, &r, sizeof(r));
		if (!c.bad) {
			gotrack__forget(s->go, r.pid);
			free_verdicts(hmap__del(rg->verdicts, r.pid));
		}
		break;
	}
	default:
		break;
	}
	if (c.bad)
		build_reset(b); /* a snapshot with a bad part is not judged */
	return !c.bad;
}
