// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The objects blocked goroutines wait on. Everything read from the target
 * is untrusted and may be torn (the process runs on): a sudog counts only if
 * its g is the goroutine that waits, a Cond only if its notify list holds
 * that sudog, and any read that fails drops what it would have said.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gobin.h"
#include "golayout.h"
#include "goobj.h"
#include "memword.h"
#include "vmread.h"

#define STACK_PROBE 2048 /* bytes above sched.sp searched for the sudog of a sync wait */
#define MAX_NOTIFY_WALK 64 /* sudogs of a Cond's list looked at */
#define SUDOG_READ 128 /* bytes of a sudog read: every version's fits */
#define USER_MIN 0x10000ull
#define USER_MAX 0x800000000000ull

struct goobj {
	uint32_t pid;
	struct gobin *bin;
	struct go_obj_layout l;
	struct go_layout gl;
	uint64_t bias;
	uint64_t wg_wait_lo, wg_wait_hi; /* sync.(*WaitGroup).Wait, to name "semacquire" waits */
};

static int load_bias(const char *proc_root, uint32_t pid, uint64_t *bias)
{
	char path[PATH_MAX];
	uint64_t auxv[2], entry = 0;
	Elf64_Ehdr eh;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, &eh, sizeof(eh), 0);
	close(fd);
	if (n != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return -ENOEXEC;
	snprintf(path, sizeof(path), "%s/%u/auxv", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (read(fd, auxv, sizeof(auxv)) == (ssize_t)sizeof(auxv) && auxv[0] != AT_NULL)
		if (auxv[0] == AT_ENTRY)
			entry = auxv[1];
	close(fd);
	if (!entry)
		return -ESRCH;
	*bias = entry - eh.e_entry;
	return 0;
}

struct goobj *goobj__open(const char *proc_root, uint32_t pid, char *why, size_t why_len)
{
	char path[PATH_MAX];
	struct goobj *o = calloc(1, sizeof(*o));
	uint64_t entry, end;
	int err;

	if (!o) {
		snprintf(why, why_len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	o->pid = pid;
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, pid);
	o->bin = gobin__open(path);
	if (!o->bin) {
		err = errno == ENOENT ? ESRCH : errno;
		snprintf(why, why_len, "pid %u: %s", pid,
			 err == ENOEXEC ? "not a Go program" : strerror(err));
		goto fail;
	}
	if (golayout__get(o->bin, GO_LAYOUT_AUTO, &o->gl, why, why_len) ||
	    golayout_obj__get(o->bin, &o->l, why, why_len)) {
		err = ENOTSUP;
		goto fail;
	}
	err = -load_bias(proc_root, pid, &o->bias);
	if (err) {
		snprintf(why, why_len, "pid %u: %s", pid, strerror(err));
		err = err == ENOENT ? ESRCH : err;
		goto fail;
	}
	if (!gobin__func(o->bin, "sync.(*WaitGroup).Wait", &entry, &end)) {
		o->wg_wait_lo = entry + o->bias;
		o->wg_wait_hi = end + o->bias;
	}
	return o;
fail:
	goobj__free(o);
	errno = err;
	return NULL;
}

void goobj__free(struct goobj *o)
{
	if (!o)
		return;
	gobin__free(o->bin);
	free(o);
}

uint32_t goobj__pid(const struct goobj *o)
{
	return o->pid;
}

const struct go_obj_layout *goobj__layout(const struct goobj *o)
{
	return &o->l;
}

const struct go_layout *goobj__glayout(const struct goobj *o)
{
	return &o->gl;
}

const struct gobin *goobj__bin(const struct goobj *o)
{
	return o->bin;
}

uint64_t goobj__bias(const struct goobj *o)
{
	return o->bias;
}

uint64_t goobj__var(const struct goobj *o, const char *name)
{
	uint64_t addr;

	return gobin__var(o->bin, name, &addr) ? 0 : addr + o->bias;
}

const char *go_obj_kind_name(enum go_obj_kind k)
{
	static const char *const names[] = {
		[GO_KIND_NONE] = "none",	   [GO_KIND_CHAN] = "chan",
		[GO_KIND_MUTEX] = "mutex",	   [GO_KIND_RWMUTEX] = "rwmutex",
		[GO_KIND_WAITGROUP] = "waitgroup", [GO_KIND_COND] = "cond",
		[GO_KIND_SEMA] = "sema",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static bool plausible_ptr(uint64_t v)
{
	return v >= USER_MIN && v < USER_MAX && !(v & 7);
}

/* ---- from the sudogs on g.waiting ---- */

/* A sudog to read for waits[wi] (the goroutine's next one in a select chain). */
struct sudog_q {
	uint64_t *addr;
	uint32_t *wi;
	size_t n;
};

static void add_sudog(struct go_wait *w, uint64_t sd)
{
	if (w->nr_sudogs < GO_WAIT_MAX_OBJS)
		w->sudogs[w->nr_sudogs++] = sd;
}

/* Which sync object a semaphore address belongs to, by the wait reason. */
static void sync_object(const struct goobj *o, const struct goroutine *g, struct go_wait *w,
			uint64_t elem)
{
	const struct go_obj_layout *l = &o->l;
	const char *r = g->wait_reason ? g->wait_reason : "";

	w->sema = elem;
	w->nr_objs = 1;
	if (!strcmp(r, "sync.Mutex.Lock")) {
		w->kind = GO_KIND_MUTEX, w->objs[0] = elem - l->mutex_sema;
	} else if (!strcmp(r, "sync.RWMutex.RLock")) {
		w->kind = GO_KIND_RWMUTEX, w->objs[0] = elem - l->rw_reader_sem;
	} else if (!strcmp(r, "sync.RWMutex.Lock")) {
		w->kind = GO_KIND_RWMUTEX, w->objs[0] = elem - l->rw_writer_sem;
	} else if (!strncmp(r, "sync.WaitGroup.Wait", 19)) {
		w->kind = GO_KIND_WAITGROUP, w->objs[0] = elem - l->wg_sema;
	} else if (!strcmp(r, "sync.Cond.Wait")) {
		w->kind = GO_KIND_COND, w->objs[0] = elem - l->cond_notify;
	} else {
		bool wg = false;

		/* before go1.24 WaitGroup.Wait parks as a plain semacquire: its frames tell */
		for (uint32_t i = 0; i < g->nr_pcs && o->wg_wait_lo; i++)
			wg |= g->pcs[i] > o->wg_wait_lo && g->pcs[i] <= o->wg_wait_hi;
		if (wg)
			w->kind = GO_KIND_WAITGROUP, w->objs[0] = elem - l->wg_sema;
		else
			w->kind = GO_KIND_SEMA, w->objs[0] = elem;
	}
}

/*
 * Read the queued sudogs, one round per link of the select chains (up to
 * GO_WAIT_MAX_OBJS), and fill the channels (or, for sync waits in 1.26+,
 * the semaphore) of each wait.
 */
static int read_sudogs(struct goobj *o, const struct gosnap *s, struct go_wait *waits,
		       struct sudog_q *q)
{
	const struct go_obj_layout *l = &o->l;
	uint32_t adj = l->sudog_ptr_adjust;
	uint8_t *buf = malloc(q->n * SUDOG_READ + 1);
	bool *ok = malloc(q->n + 1);
	int err = 0;

	if (!buf || !ok) {
		err = -ENOMEM;
		goto out;
	}
	for (int round = 0; q->n && round < GO_WAIT_MAX_OBJS; round++) {
		long got = vmread__gather(o->pid, q->addr, q->n, SUDOG_READ, buf, ok);
		size_t next = 0;

		if (got < 0) {
			err = (int)got;
			goto out;
		}
		for (size_t k = 0; k < q->n; k++) {
			struct go_wait *w = &waits[q->wi[k]];
			const struct goroutine *g = &s->g[w->index];
			const uint8_t *sd = buf + k * SUDOG_READ;
			uint64_t obj, link;

			if (!ok[k])
				continue;
			if (u64_at(sd, l->sudog_g) != g->g) {
				w->released = true; /* released or reused since the snapshot */
				continue;
			}
			add_sudog(w, q->addr[k]);
			if (w->kind != GO_KIND_CHAN) {
				obj = u64_at(sd, l->sudog_elem + adj);
				if (obj)
					sync_object(o, g, w, obj);
				w->how = "sudog";
				continue;
			}
			obj = u64_at(sd, l->sudog_c + adj);
			if (!obj)
				continue;
			if (w->nr_objs == GO_WAIT_MAX_OBJS) {
				w->truncated = true;
				continue;
			}
			w->objs[w->nr_objs++] = obj;
			w->how = "sudog";
			link = u64_at(sd, l->sudog_waitlink);
			if (link && g->wait_reason && !strncmp(g->wait_reason, "select", 6)) {
				q->addr[next] = link;
				q->wi[next++] = q->wi[k];
			}
		}
		q->n = next;
	}
	if (q->n) /* a select chain longer than we follow */
		for (size_t k = 0; k < q->n; k++)
			waits[q->wi[k]].truncated = true;
out:
	free(buf);
	free(ok);
	return err;
}

/* ---- sync waits before go1.26: the sudog kept on the stack ---- */

/* The words above sched.sp that may point at the sudog or the sync object. */
static size_t stack_words(const struct goroutine *g, const uint8_t *stk, size_t len, uint64_t *out)
{
	size_t n = 0;

	for (size_t off = 0; off + 8 <= len; off += 8) {
		uint64_t v = u64_at(stk, (uint32_t)off);

		if (!plausible_ptr(v) || (v >= g->stack_lo && v < g->stack_hi))
			continue;
		out[n++] = v;
	}
	return n;
}

/* Is sd on the notify list at nl (a Cond's notify)? Walks at most MAX_NOTIFY_WALK sudogs. */
static bool on_notify_list(struct goobj *o, uint64_t nl, uint64_t sd)
{
	const struct go_obj_layout *l = &o->l;
	uint64_t cur;

	if (vmread__one(o->pid, nl + l->notify_head, &cur, sizeof(cur)))
		return false;
	for (int i = 0; i < MAX_NOTIFY_WALK && plausible_ptr(cur); i++) {
		if (cur == sd)
			return true;
		if (vmread__one(o->pid, cur + l->sudog_next, &cur, sizeof(cur)))
			return false;
	}
	return false;
}

/* Find the sudog (and for a Cond, the Cond) of waits[wi] among the words of its stack top. */
static int probe_stack(struct goobj *o, const struct gosnap *s, struct go_wait *w, uint8_t *stk,
		       uint64_t *words, uint8_t *sds, bool *ok)
{
	const struct go_obj_layout *l = &o->l;
	const struct goroutine *g = &s->g[w->index];
	size_t len, n;
	uint64_t sd = 0, elem = 0;
	long got;

	if (!g->sched_sp || g->sched_sp >= g->stack_hi || g->sched_sp < g->stack_lo)
		return 0;
	len = g->stack_hi - g->sched_sp;
	if (len > STACK_PROBE)
		len = STACK_PROBE;
	if (vmread__one(o->pid, g->sched_sp, stk, len))
		return 0;
	n = stack_words(g, stk, len, words);
	got = vmread__gather(o->pid, words, n, SUDOG_READ, sds, ok);
	if (got < 0)
		return (int)got;
	for (size_t k = 0; k < n && !sd; k++) {
		if (ok[k] && u64_at(sds + k * SUDOG_READ, l->sudog_g) == g->g) {
			sd = words[k];
			elem = u64_at(sds + k * SUDOG_READ, l->sudog_elem + l->sudog_ptr_adjust);
		}
	}
	if (!sd)
		return 0;
	add_sudog(w, sd);
	w->how = "stack";
	if (w->kind != GO_KIND_COND) {
		if (elem)
			sync_object(o, g, w, elem);
		return 0;
	}
	/* Cond.Wait keeps its receiver: the Cond whose list holds sd (or the list itself) */
	for (size_t k = 0; k < n; k++) {
		uint64_t c = words[k];

		if (on_notify_list(o, c + l->cond_notify, sd)) {
			sync_object(o, g, w, c + l->cond_notify);
			return 0;
		}
		if (c >= l->cond_notify && on_notify_list(o, c, sd)) {
			sync_object(o, g, w, c);
			return 0;
		}
	}
	return 0;
}

static int probe_stacks(struct goobj *o, const struct gosnap *s, struct go_wait *waits,
			const uint32_t *wi, size_t n)
{
	uint8_t *stk = malloc(STACK_PROBE);
	uint64_t *words = malloc(STACK_PROBE);
	uint8_t *sds = malloc(STACK_PROBE / 8 * SUDOG_READ);
	bool *ok = malloc(STACK_PROBE / 8);
	int err = 0;

	if (!stk || !words || !sds || !ok)
		err = -ENOMEM;
	for (size_t k = 0; !err && k < n; k++)
		err = probe_stack(o, s, &waits[wi[k]], stk, words, sds, ok);
	free(stk);
	free(words);
	free(sds);
	free(ok);
	return err;
}

/* ---- all of it ---- */

static enum go_obj_kind kind_of(enum go_wait_class c, const char *reason)
{
	if (c == GO_WAIT_CHAN)
		return GO_KIND_CHAN;
	if (c == GO_WAIT_SEMA)
		return GO_KIND_SEMA;
	if (!strcmp(reason, "sync.Cond.Wait"))
		return GO_KIND_COND;
	return GO_KIND_MUTEX; /* refined by sync_object() */
}

int goobj__waits(struct goobj *o, const struct gosnap *s, struct go_wait **out, size_t *n)
{
	struct go_wait *waits = calloc(s->n + 1, sizeof(*waits));
	struct sudog_q q = { .addr = calloc(s->n + 1, sizeof(uint64_t)),
			     .wi = calloc(s->n + 1, sizeof(uint32_t)) };
	uint32_t *probe = calloc(s->n + 1, sizeof(uint32_t));
	size_t nw = 0, np = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!waits || !q.addr || !q.wi || !probe) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct goroutine *g = &s->g[i];
		enum go_wait_class c = golayout__wait_class(g->wait_reason);
		struct go_wait *w = &waits[nw];

		if (g->status != GO_WAITING && g->status != GO_LEAKED)
			continue;
		if (c != GO_WAIT_CHAN && c != GO_WAIT_NIL_CHAN && c != GO_WAIT_SELECT_NONE &&
		    c != GO_WAIT_SYNC && c != GO_WAIT_SEMA)
			continue;
		w->index = i;
		w->how = "";
		nw++;
		if (c == GO_WAIT_NIL_CHAN || c == GO_WAIT_SELECT_NONE) {
			w->never = true;
			w->kind = c == GO_WAIT_NIL_CHAN ? GO_KIND_CHAN : GO_KIND_NONE;
			continue;
		}
		w->kind = kind_of(c, g->wait_reason);
		if (g->waiting && (c == GO_WAIT_CHAN || o->l.minor >= 26)) {
			q.addr[q.n] = g->waiting;
			q.wi[q.n++] = (uint32_t)(nw - 1);
		} else if (c != GO_WAIT_CHAN) {
			probe[np++] = (uint32_t)(nw - 1);
		}
	}
	err = read_sudogs(o, s, waits, &q);
	if (!err)
		err = probe_stacks(o, s, waits, probe, np);
out:
	free(q.addr);
	free(q.wi);
	free(probe);
	if (err) {
		free(waits);
		return err;
	}
	*out = waits;
	*n = nw;
	return 0;
}

/* ---- object states ---- */

static uint32_t state_len(const struct go_obj_layout *l, enum go_obj_kind k)
{
	switch (k) {
	case GO_KIND_CHAN:
		return l->chan_sendq + 16;
	case GO_KIND_MUTEX:
		return 8;
	case GO_KIND_RWMUTEX:
		return l->rw_reader_wait + 4;
	case GO_KIND_WAITGROUP:
		return l->wg_sema + 4;
	case GO_KIND_COND:
		return l->cond_notify + l->notify_head + 8;
	case GO_KIND_SEMA:
		return 4;
	default:
		return 0;
	}
}

#define STATE_MAX 256

static void decode_state(const struct go_obj_layout *l, struct go_obj_state *st, const uint8_t *b)
{
	uint64_t v;

	switch (st->kind) {
	case GO_KIND_CHAN:
		st->chan.qcount = u64_at(b, l->chan_qcount);
		st->chan.dataqsiz = u64_at(b, l->chan_dataqsiz);
		st->chan.closed = u32_at(b, l->chan_closed) != 0;
		st->chan.sendx = u64_at(b, l->chan_sendx);
		st->chan.recvx = u64_at(b, l->chan_recvx);
		st->chan.recvq_empty = u64_at(b, l->chan_recvq) == 0;
		st->chan.sendq_empty = u64_at(b, l->chan_sendq) == 0;
		break;
	case GO_KIND_MUTEX:
		st->mutex.state = (int32_t)u32_at(b, l->mutex_state);
		st->mutex.sema = u32_at(b, l->mutex_sema);
		break;
	case GO_KIND_RWMUTEX:
		st->rw.w_state = (int32_t)u32_at(b, l->rw_w + l->mutex_state);
		st->rw.writer_sem = u32_at(b, l->rw_writer_sem);
		st->rw.reader_sem = u32_at(b, l->rw_reader_sem);
		st->rw.reader_count = (int32_t)u32_at(b, l->rw_reader_count);
		st->rw.reader_wait = (int32_t)u32_at(b, l->rw_reader_wait);
		break;
	case GO_KIND_WAITGROUP:
		v = u64_at(b, l->wg_state);
		st->wg.counter = (int32_t)(v >> 32);
		st->wg.waiters = (uint32_t)v & l->wg_waiter_mask;
		st->wg.sema = u32_at(b, l->wg_sema);
		break;
	case GO_KIND_COND:
		st->cond.wait = u32_at(b, l->cond_notify + l->notify_wait);
		st->cond.notify = u32_at(b, l->cond_notify + l->notify_notify);
		st->cond.has_waiters = u64_at(b, l->cond_notify + l->notify_head) != 0;
		break;
	case GO_KIND_SEMA:
		st->sema.count = u32_at(b, 0);
		break;
	default:
		break;
	}
}

long goobj__read(struct goobj *o, struct go_obj_state *st, size_t n)
{
	struct vmread_req *reqs = calloc(n + 1, sizeof(*reqs));
	uint8_t *buf = calloc(n + 1, STATE_MAX);
	long got = -ENOMEM;

	if (!reqs || !buf)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint32_t len = state_len(&o->l, st[i].kind);

		st[i].ok = false;
		reqs[i] = (struct vmread_req){ .addr = st[i].addr,
					       .buf = buf + i * STATE_MAX,
					       .len = len && len <= STATE_MAX ? len : 1 };
	}
	got = vmread__batch(o->pid, reqs, n);
	if (got < 0)
		goto out;
	got = 0;
	for (size_t i = 0; i < n; i++) {
		if (!reqs[i].ok || !state_len(&o->l, st[i].kind))
			continue;
		decode_state(&o->l, &st[i], buf + i * STATE_MAX);
		st[i].ok = true;
		got++;
	}
out:
	free(reqs);
	free(buf);
	return got;
}

/*
 * Only what the waiter waits for counts as movement: a channel's counters
 * and closed flag, a lock's flags and semaphore, a wait group's counter, a
 * Cond's notifications; not more waiters piling up (queues, waiter counts,
 * a Cond's wait ticket, readerCount), which a deadlock can keep changing.
 */
bool go_obj_state__moved(const struct go_obj_state *a, const struct go_obj_state *b)
{
	if (!a->ok || !b->ok || a->kind != b->kind || a->addr != b->addr)
		return false;
	switch (a->kind) {
	case GO_KIND_CHAN:
		return a->chan.qcount != b->chan.qcount || a->chan.sendx != b->chan.sendx ||
		       a->chan.recvx != b->chan.recvx || a->chan.closed != b->chan.closed;
	case GO_KIND_MUTEX:
		return (a->mutex.state & 7) != (b->mutex.state & 7) ||
		       a->mutex.sema != b->mutex.sema;
	case GO_KIND_RWMUTEX:
		return (a->rw.w_state & 7) != (b->rw.w_state & 7) ||
		       a->rw.writer_sem != b->rw.writer_sem ||
		       a->rw.reader_sem != b->rw.reader_sem ||
		       a->rw.reader_wait != b->rw.reader_wait;
	case GO_KIND_WAITGROUP:
		return a->wg.counter != b->wg.counter || a->wg.sema != b->wg.sema;
	case GO_KIND_COND:
		return a->cond.notify != b->cond.notify;
	case GO_KIND_SEMA:
		return a->sema.count != b->sema.count;
	default:
		return false;
	}
}
