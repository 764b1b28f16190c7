// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "decode.h"
#include "hmap.h"
#include "log.h"
#include "record.h"
#include "session.h"
#include "sessrec.h"
#include "stacks.h"
#include "symbols.h"

#define STACKS_PER_TICK 32 /* stacks of long waits read per tick, at most */
#define NAMES_MAX (1u << 16) /* places and stacks remembered as recorded, at most */

/* A place as replayed. */
struct place_rec {
	uint32_t pid;
	uint64_t addr;
	struct addr_place_buf buf;
};

struct sessrec {
	/* recording */
	struct rec_writer *w;
	char *path;
	uint64_t max_bytes;
	struct rec_file_header hdr;
	struct hmap *placed; /* place_key -> (void *)1: recorded in this file */
	struct hmap *stacked; /* tid -> since_ns of the wait whose stack is recorded */
	size_t stacks_left; /* this tick */
	bool failed; /* the file could not be written: recording stopped, session goes on */
	struct recgo *go; /* goroutines, recorded or replayed (sessrec_go.c) */
	/* replay */
	struct rec_reader *r;
	struct hmap *places; /* place_key -> struct place_rec */
	struct hmap *stacks; /* tid -> struct stack */
	uint64_t events, bad;
	uint64_t lost[TANGLE_DROP_MAX]; /* as the last lost record said */
	struct rec pending; /* read, not fed yet: it is after the time asked for */
	bool has_pending;
	bool ended; /* no more records (the end, or damage) */
	bool stopped; /* a hook asked to stop */
	uint64_t now; /* the recording's time: the latest record fed, or the paced clock */
	/* paced replay (the dashboard) */
	uint64_t clock; /* where playback is, in recording time */
	uint64_t last_wall_ns;
	double speed;
	bool paused;
};

static uint64_t place_key(uint32_t pid, uint64_t addr)
{
	return (addr * 0x9e3779b97f4a7c15ull) ^ pid ^ ((uint64_t)pid << 40);
}

static int64_t clock_offset(clockid_t id)
{
	struct timespec a, mono;

	clock_gettime(id, &a);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return ((int64_t)a.tv_sec - mono.tv_sec) * 1000000000ll + (a.tv_nsec - mono.tv_nsec);
}

/* ---- recording ---- */

static bool recording(const struct session *s)
{
	return s->rec && s->rec->w && !s->rec->failed;
}

static void check_write(struct session *s, int err)
{
	if (!err || s->rec->failed)
		return;
	s->rec->failed = true;
	log_error(-err, "writing the recording %s; recording stopped", s->rec->path);
}

void sessrec__check_write(struct session *s, int err)
{
	check_write(s, err);
}

struct rec_writer *sessrec__writer(struct session *s)
{
	return recording(s) ? s->rec->w : NULL;
}

struct recgo **sessrec__go_state(struct session *s)
{
	return s->rec ? &s->rec->go : NULL;
}

static void on_event(void *ctx, const void *data, size_t len)
{
	struct session *s = ctx;
	const struct tangle_ev_hdr *h = data;

	if (!recording(s))
		return;
	check_write(s, rec_writer__add(s->rec->w, REC_EVENT,
				       len >= sizeof(*h) ? h->ts_ns : now_ns(), data, len));
}

/* Scheduler state: recorded when it says something the model does not know yet. */
static void on_sched(void *ctx, uint32_t tid, const struct tangle_thread_info *ti)
{
	struct session *s = ctx;
	const struct thread *t = model__thread(s->model, tid);
	struct rec_sched r = { .tid = tid, .info = *ti };

	if (!recording(s) || !t || t->pid != ti->pid)
		return; /* the model ignores it too */
	if (t->state == ti->state && t->state_since_ns == ti->state_since_ns &&
	    t->nr_switches == ti->nr_switches && t->run_ns == ti->run_ns)
		return;
	check_write(s, rec_writer__add(s->rec->w, REC_SCHED, now_ns(), &r, sizeof(r)));
}

static struct rec_writer *open_file(struct session *s)
{
	struct sessrec *rs = s->rec;
	struct rec_writer *w = rec_writer__open(rs->path, &rs->hdr);

	if (!w)
		log_error(errno, "cannot create the recording %s", rs->path);
	return w;
}

int sessrec__record(struct session *s, const char *path, uint64_t max_bytes)
{
	struct consumer_tap tap = { .event = on_event, .sched = on_sched, .ctx = s };
	struct rec_file_header *h;
	struct sessrec *rs;
	struct utsname u;

	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	s->rec = rs;
	rs->path = strdup(path);
	rs->placed = hmap__new();
	rs->stacked = hmap__new();
	if (!rs->path || !rs->placed || !rs->stacked)
		return -ENOMEM;
	rs->max_bytes = max_bytes;
	h = &rs->hdr;
	rec_header__init(h);
	h->start_ns = s->start_ns;
	h->wall_offset_ns = clock_offset(CLOCK_REALTIME);
	h->boot_offset_ns = clock_offset(CLOCK_BOOTTIME);
	snprintf(h->tool_version, sizeof(h->tool_version), "%s", TANGLE_VERSION);
	gethostname(h->hostname, sizeof(h->hostname) - 1);
	if (!uname(&u))
		memcpy(h->kernel, u.release, strnlen(u.release, sizeof(h->kernel) - 1));
	for (size_t i = 0; i < s->opts->filter.npids && i < 16; i++)
		h->filter_pids[i] = s->opts->filter.pids[i];
	h->stuck_after_s = session__min_wait_ns(s) / 1e9; /* what the live detector went by */
	if (s->opts->goroutines)
		h->flags |= REC_F_GOROUTINES;
	rs->w = open_file(s);
	if (!rs->w)
		return -EIO;
	consumer__set_tap(s->consumer, &tap);
	return 0;
}

static void put_thread(struct session *s, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		       uint8_t state)
{
	struct rec_thread r = { .pid = pid, .tid = tid, .state = state };

	memcpy(r.comm, comm, TANGLE_COMM_LEN);
	check_write(s, rec_writer__add(s->rec->w, REC_THREAD, ts, &r, sizeof(r)));
}

void sessrec__thread(struct session *s, uint64_t ts, const struct procfs_thread *t)
{
	if (recording(s))
		put_thread(s, ts, t->pid, t->tid, t->comm, t->state);
}

static void put_wait(struct session *s, uint64_t ts, uint32_t pid, uint32_t tid, const char *comm,
		     const struct wait *w)
{
	struct rec_wait r = {
		.pid = pid,
		.tid = tid,
		.addr = w->addr,
		.addr2 = w->addr2,
		.since_ns = w->since_ns,
		.op = w->op,
		.expected = w->expected,
		.sys = w->sys,
		.nr_futexes = w->nr_futexes,
		.has_timeout = w->has_timeout,
		.preblocked = w->preblocked,
	};

	memcpy(r.comm, comm, TANGLE_COMM_LEN);
	check_write(s, rec_writer__add(s->rec->w, REC_WAIT, ts, &r, sizeof(r)));
}

void sessrec__wait(struct session *s, uint64_t ts, const struct procfs_thread *t,
		   const struct wait *w)
{
	if (recording(s))
		put_wait(s, ts, t->pid, t->tid, t->comm, w);
}

void sessrec__wait_lost(struct session *s, uint64_t ts, uint32_t tid)
{
	struct rec_tid r = { .tid = tid };

	if (recording(s))
		check_write(s, rec_writer__add(s->rec->w, REC_WAIT_LOST, ts, &r, sizeof(r)));
}

static void put_place(struct session *s, uint32_t pid, uint64_t addr)
{
	struct sessrec *rs = s->rec;
	uint64_t key = place_key(pid, addr);
	const struct addr_place *p;
	struct rec_place r = { .pid = pid, .addr = addr };

	if (hmap__get(rs->placed, key))
		return;
	if (hmap__len(rs->placed) >= NAMES_MAX)
		return;
	p = session__place(pid, addr, NULL);
	if (!p || hmap__set(rs->placed, key, (void *)1))
		return;
	rec_writer__begin(rs->w, REC_PLACE, now_ns());
	rec_writer__put(rs->w, &r, sizeof(r));
	rec_writer__put_str(rs->w, p->symbol);
	rec_writer__put_str(rs->w, p->module);
	rec_writer__put_str(rs->w, p->region);
	check_write(s, rec_writer__end(rs->w));
}

void sessrec__put_frames(struct rec_writer *w, const struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rec_frame r = {
			.addr = f[i].addr,
			.offset = f[i].offset,
			.line = f[i].line,
			.inlined = f[i].inlined,
		};

		rec_writer__put(w, &r, sizeof(r));
		rec_writer__put_str(w, f[i].function);
		rec_writer__put_str(w, f[i].file);
		rec_writer__put_str(w, f[i].module);
	}
}

static void put_stack(struct session *s, uint32_t tid, const struct stack *st, uint32_t pid)
{
	struct rec_writer *w = s->rec->w;
	struct rec_stack r = {
		.pid = pid,
		.tid = tid,
		.since_ns = st->wait_since_ns,
		.sample_every = st->sample_every,
		.nr_user = (uint16_t)st->nr_user,
		.nr_kernel = (uint16_t)st->nr_kernel,
		.truncated = st->truncated,
		.kernel_taken = st->kernel_taken,
	};

	rec_writer__begin(w, REC_STACK, now_ns());
	rec_writer__put(w, &r, sizeof(r));
	sessrec__put_frames(w, st->user, st->nr_user);
	sessrec__put_frames(w, st->kernel, st->nr_kernel);
	check_write(s, rec_writer__end(w));
}

/* The stack of t's wait, once per wait, a bounded number per tick. */
static void note_stack(struct session *s, const struct thread *t)
{
	struct sessrec *rs = s->rec;
	const struct stack *st;
	void *known = hmap__get(rs->stacked, t->tid);

	if (!s->stacks || (known && (uint64_t)(uintptr_t)known == t->wait.since_ns))
		return;
	if (!rs->stacks_left || (!known && hmap__len(rs->stacked) >= NAMES_MAX))
		return;
	rs->stacks_left--;
	st = stacks__get(s->stacks, t->pid, t->tid, t->wait.since_ns);
	if (!st || hmap__set(rs->stacked, t->tid, (void *)(uintptr_t)t->wait.since_ns))
		return;
	put_stack(s, t->tid, st, t->pid);
}

static bool same_owner(const struct lock_owner *a, const struct lock_owner *b)
{
	return a->checked_ns && a->wait_since_ns == b->wait_since_ns && a->kind == b->kind &&
	       a->state == b->state && a->lock_addr == b->lock_addr &&
	       a->owner_tid == b->owner_tid && a->owner_pid == b->owner_pid &&
	       a->pshared == b->pshared && a->readers == b->readers;
}

static void put_owner(struct session *s, const struct thread *t, const struct lock_owner *o)
{
	struct rec_owner r = {
		.tid = t->tid,
		.owner_tid = o->owner_tid,
		.owner_pid = o->owner_pid,
		.kind = (uint8_t)o->kind,
		.state = (uint8_t)o->state,
		.pshared = o->pshared,
		.readers = o->readers,
		.lock_addr = o->lock_addr,
		.wait_since_ns = o->wait_since_ns,
		.checked_ns = o->checked_ns,
	};

	check_write(s, rec_writer__add(s->rec->w, REC_OWNER, o->checked_ns, &r, sizeof(r)));
	/* what a report of t will name: where the lock lives (its stack: at the tick) */
	if (o->state != OWNER_NONE && o->lock_addr)
		put_place(s, t->pid, o->lock_addr);
}

void sessrec__owner(struct session *s, const struct thread *t, const struct lock_owner *o)
{
	if (!recording(s) || t->wait.since_ns != o->wait_since_ns || same_owner(&t->owner, o))
		return;
	put_owner(s, t, o);
}

void sessrec__lost(struct session *s, uint64_t ts, const struct lost_report *l)
{
	struct rec_lost r = { .reason = (uint32_t)l->reason, .count = l->count, .total = l->total };
	struct rec_writer *w;

	if (!recording(s))
		return;
	w = s->rec->w;
	rec_writer__begin(w, REC_LOST, ts);
	rec_writer__put(w, &r, sizeof(r));
	for (uint32_t i = 0; i < l->nr_cpus; i++) {
		struct rec_lost_cpu c = { .cpu = l->cpus[i].cpu, .count = l->cpus[i].count };

		rec_writer__put(w, &c, sizeof(c));
	}
	check_write(s, rec_writer__end(w));
}

/* A REC_LOST to its hook: the CPUs after the totals (none in older files). */
static void replay_lost(struct session *s, const struct rec *rec, struct rec_cursor *c)
{
	struct rec_lost r;
	struct lost_report l = {};
	struct lost_cpu *cpus = NULL;

	rec_cursor__get(c, &r, sizeof(r));
	if (c->bad || r.reason >= TANGLE_DROP_MAX)
		return;
	s->rec->lost[r.reason] = r.total;
	if (!s->hooks.on_lost)
		return;
	l = (struct lost_report){ .reason = (int)r.reason, .count = r.count, .total = r.total };
	if (c->left >= sizeof(struct rec_lost_cpu))
		cpus = calloc(c->left / sizeof(struct rec_lost_cpu), sizeof(*cpus));
	while (cpus && c->left >= sizeof(struct rec_lost_cpu)) {
		struct rec_lost_cpu rc;

		rec_cursor__get(c, &rc, sizeof(rc));
		cpus[l.nr_cpus++] = (struct lost_cpu){ rc.cpu, rc.count };
	}
	l.cpus = cpus;
	s->hooks.on_lost(s, rec->ts_ns, &l);
	free(cpus);
}

void sessrec__tick(struct session *s, uint64_t now)
{
	const struct thread *t;
	size_t it = 0;

	if (!recording(s))
		return;
	/* the stacks a report would show: of waits on a lock someone holds */
	s->rec->stacks_left = STACKS_PER_TICK;
	while (s->rec->stacks_left && (t = model__next_thread(s->model, &it))) {
		const struct lock_owner *o = thread__owner(t);

		if (o && o->state != OWNER_NONE)
			note_stack(s, t);
	}
	check_write(s, rec_writer__add(s->rec->w, REC_TICK, now, NULL, 0));
}

/* A new file starts with the model as it stands, as if read from /proc. */
static void checkpoint(struct session *s, uint64_t now)
{
	const struct thread *t;
	size_t it = 0;

	while ((t = model__next_thread(s->model, &it))) {
		struct rec_sched sched = {
			.tid = t->tid,
			.info = { .pid = t->pid,
				  .state = t->state,
				  .in_wait = t->wait.kind != WAIT_NONE,
				  .state_since_ns = t->state_since_ns,
				  .run_ns = t->run_ns,
				  .blocked_ns = t->sched_blocked_ns,
				  .nr_switches = t->nr_switches },
		};

		put_thread(s, now, t->pid, t->tid, t->comm, t->state);
		if (t->nr_switches)
			check_write(s, rec_writer__add(s->rec->w, REC_SCHED, now, &sched,
						       sizeof(sched)));
		if (t->wait.kind == WAIT_NONE)
			continue;
		put_wait(s, now, t->pid, t->tid, t->comm, &t->wait);
		if (thread__owner(t))
			put_owner(s, t, &t->owner);
	}
}

static void rotate(struct session *s, uint64_t now)
{
	struct sessrec *rs = s->rec;
	char old[4096];
	int err = rec_writer__close(rs->w);

	rs->w = NULL;
	check_write(s, err);
	if (err)
		return;
	snprintf(old, sizeof(old), "%s.1", rs->path);
	if (rename(rs->path, old)) {
		log_error(errno, "rotating the recording %s to %s; recording stopped", rs->path,
			  old);
		rs->failed = true;
		return;
	}
	rs->hdr.seq++;
	rs->hdr.start_ns = now;
	rs->w = open_file(s);
	if (!rs->w) {
		rs->failed = true;
		return;
	}
	log_debug("recording rotated: %s is file %u, the previous one is %s", rs->path, rs->hdr.seq,
		  old);
	hmap__free(rs->placed);
	hmap__free(rs->stacked);
	rs->placed = hmap__new();
	rs->stacked = hmap__new();
	sessrec_go__new_file(rs->go);
	if (!rs->placed || !rs->stacked) {
		rs->failed = true;
		return;
	}
	checkpoint(s, now);
}

void sessrec__tick_end(struct session *s, uint64_t now)
{
	struct sessrec *rs = s->rec;

	if (!recording(s))
		return;
	check_write(s, rec_writer__add(rs->w, REC_TICK_END, now, NULL, 0));
	check_write(s, rec_writer__flush(rs->w));
	/* each of FILE and FILE.1 holds half of --max-size */
	if (recording(s) && rs->max_bytes && rec_writer__bytes(rs->w) >= rs->max_bytes / 2)
		rotate(s, now);
}

/* ---- replay ---- */

int sessrec__replay_open(struct session *s, const char *path)
{
	const struct rec_file_header *h;
	struct sessrec *rs;
	char why[512];
	FILE *f;

	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	s->rec = rs;
	rs->places = hmap__new();
	rs->stacks = hmap__new();
	if (!rs->places || !rs->stacks)
		return -ENOMEM;
	f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		int err = errno;

		log_error(err, "cannot open %s", path);
		return -err;
	}
	rs->r = rec_reader__open(f, path, why, sizeof(why));
	if (!rs->r) {
		log_error(0, "%s", why);
		return -EINVAL;
	}
	h = rec_reader__header(rs->r);
	log_debug("replaying %s: recorded by tangle %s on %s (kernel %s), file %u", path,
		  h->tool_version, h->hostname, h->kernel, h->seq);
	s->start_ns = h->start_ns;
	rs->now = h->start_ns ? h->start_ns : 1;
	rs->speed = 1;
	now_ns__replay(rs->now);
	return 0;
}

const struct rec_file_header *sessrec__header(const struct session *s)
{
	if (!s->rec)
		return NULL;
	return s->rec->r ? rec_reader__header(s->rec->r) : &s->rec->hdr;
}

static void free_places(struct hmap *h)
{
	uint64_t key;
	void *v;

	if (!h)
		return;
	for (size_t it = 0; hmap__next(h, &it, &key, &v);)
		free(v);
	hmap__free(h);
}

static void replay_place(struct sessrec *rs, const struct rec *rec)
{
	struct rec_cursor c;
	struct rec_place r;
	struct place_rec *p = calloc(1, sizeof(*p));
	bool has_sym, has_mod, has_region;
	uint64_t key;

	if (!p)
		return;
	rec_cursor__init(&c, rec);
	rec_cursor__get(&c, &r, sizeof(r));
	rec_cursor__get_str(&c, p->buf.symbol, sizeof(p->buf.symbol), &has_sym);
	rec_cursor__get_str(&c, p->buf.module, sizeof(p->buf.module), &has_mod);
	rec_cursor__get_str(&c, p->buf.region, sizeof(p->buf.region), &has_region);
	key = place_key(r.pid, r.addr);
	if (c.bad || hmap__len(rs->places) >= NAMES_MAX || hmap__get(rs->places, key)) {
		rs->bad += c.bad;
		free(p);
		return;
	}
	p->pid = r.pid;
	p->addr = r.addr;
	p->buf.place.symbol = has_sym ? p->buf.symbol : NULL;
	p->buf.place.module = has_mod ? p->buf.module : NULL;
	p->buf.place.region = has_region ? p->buf.region : NULL;
	if (hmap__set(rs->places, key, p))
		free(p);
}

void sessrec__get_frames(struct rec_cursor *c, struct frame *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rec_frame r;
		bool present;

		memset(&f[i], 0, sizeof(f[i]));
		rec_cursor__get(c, &r, sizeof(r));
		f[i].addr = r.addr;
		f[i].offset = r.offset;
		f[i].line = r.line;
		f[i].inlined = r.inlined;
		rec_cursor__get_str(c, f[i].function, sizeof(f[i].function), &present);
		rec_cursor__get_str(c, f[i].file, sizeof(f[i].file), &present);
		rec_cursor__get_str(c, f[i].module, sizeof(f[i].module), &present);
	}
}

static void replay_stack(struct sessrec *rs, const struct rec *rec)
{
	struct rec_cursor c;
	struct rec_stack r;
	struct stack *st;

	rec_cursor__init(&c, rec);
	rec_cursor__get(&c, &r, sizeof(r));
	if (c.bad || r.nr_user > UNWIND_MAX_FRAMES || r.nr_kernel > 32 || !r.tid) {
		rs->bad++;
		return;
	}
	st = hmap__get(rs->stacks, r.tid);
	if (!st) {
		if (hmap__len(rs->stacks) >= NAMES_MAX)
			return;
		st = malloc(sizeof(*st));
		if (!st || hmap__set(rs->stacks, r.tid, st)) {
			free(st);
			return;
		}
	}
	memset(st, 0, sizeof(*st));
	st->wait_since_ns = r.since_ns;
	st->sample_every = r.sample_every;
	st->truncated = r.truncated;
	st->kernel_taken = r.kernel_taken;
	st->nr_user = r.nr_user;
	st->nr_kernel = r.nr_kernel;
	sessrec__get_frames(&c, st->user, st->nr_user);
	sessrec__get_frames(&c, st->kernel, st->nr_kernel);
	if (c.bad) {
		st->nr_user = st->nr_kernel = 0;
		rs->bad++;
	}
}

static int replay_one(struct session *s, const struct rec *rec, bool *tick_end)
{
	struct sessrec *rs = s->rec;
	struct rec_cursor c;

	rec_cursor__init(&c, rec);
	switch (rec->type) {
	case REC_EVENT:
		if (decode__is_stack(rec->body, rec->len))
			break;
		if (decode__event(s->model, rec->body, rec->len))
			rs->bad++;
		else
			rs->events++;
		break;
	case REC_THREAD: {
		struct rec_thread r;

		rec_cursor__get(&c, &r, sizeof(r));
		if (!c.bad && r.tid)
			model__thread_new(s->model, rec->ts_ns, r.pid, r.tid, r.comm, ORIGIN_PROC,
					  0, 0, r.state);
		break;
	}
	case REC_WAIT: {
		struct rec_wait r;
		struct wait w = { .kind = WAIT_FUTEX };

		rec_cursor__get(&c, &r, sizeof(r));
		if (c.bad || !r.tid)
			break;
		w.addr = r.addr;
		w.addr2 = r.addr2;
		w.since_ns = r.since_ns;
		w.op = r.op;
		w.expected = r.expected;
		w.sys = r.sys;
		w.nr_futexes = r.nr_futexes;
		w.has_timeout = r.has_timeout;
		w.preblocked = r.preblocked;
		model__wait_begin(s->model, rec->ts_ns, r.pid, r.tid, r.comm, &w);
		break;
	}
	case REC_WAIT_LOST: {
		struct rec_tid r;

		rec_cursor__get(&c, &r, sizeof(r));
		if (!c.bad)
			model__wait_lost(s->model, rec->ts_ns, r.tid);
		break;
	}
	case REC_OWNER: {
		struct rec_owner r;
		struct lock_owner o = {};

		rec_cursor__get(&c, &r, sizeof(r));
		if (c.bad || r.kind > LOCK_JOIN || r.state > OWNER_DEAD)
			break;
		o.kind = r.kind;
		o.state = r.state;
		o.lock_addr = r.lock_addr;
		o.owner_tid = r.owner_tid;
		o.owner_pid = r.owner_pid;
		o.pshared = r.pshared;
		o.readers = r.readers;
		o.wait_since_ns = r.wait_since_ns;
		o.checked_ns = r.checked_ns ? r.checked_ns : rec->ts_ns;
		model__set_owner(s->model, r.tid, &o);
		break;
	}
	case REC_SCHED: {
		struct rec_sched r;

		rec_cursor__get(&c, &r, sizeof(r));
		if (!c.bad)
			model__thread_sched(s->model, r.tid, &r.info);
		break;
	}
	case REC_TICK:
		if (detector__run(s->detector, s->model, rec->ts_ns))
			log_error(ENOMEM, "stuck-group detection");
		break;
	case REC_TICK_END:
		*tick_end = true;
		break;
	case REC_PLACE:
		replay_place(rs, rec);
		break;
	case REC_STACK:
		replay_stack(rs, rec);
		break;
	case REC_LOST:
		replay_lost(s, rec, &c);
		break;
	case REC_END:
		return 1;
	case REC_GO_OPTS:
	case REC_GO_PROC:
	case REC_GO_SNAP:
	case REC_GO_G:
	case REC_GO_SAME:
	case REC_GO_FRAMES:
	case REC_GO_VERDICT:
	case REC_GO_SNAP_END:
	case REC_GO_GONE:
		if (!sessrec_go__replay(s, rec))
			rs->bad++;
		break;
	default: /* a newer tangle's record: skipped */
		break;
	}
	if (c.bad)
		rs->bad++;
	return 0;
}

/*
 * Feed the records up to until (recording time). 1: more to come; 0: the
 * recording is over, or a hook said stop; -EBADMSG: the rest is damaged
 * (said once).
 */
static int replay_until(struct session *s, uint64_t until)
{
	struct sessrec *rs = s->rec;
	int n;

	while (!rs->ended) {
		bool tick_end = false;

		if (!rs->has_pending) {
			n = rec_reader__next(rs->r, &rs->pending);
			if (n <= 0) {
				rs->ended = true;
				if (rs->bad)
					log_warn("%llu malformed records ignored",
						 (unsigned long long)rs->bad);
				if (n < 0) {
					log_error(0, "%s", rec_reader__error(rs->r));
					return -EBADMSG;
				}
				break;
			}
			rs->has_pending = true;
		}
		if (rs->pending.ts_ns > until)
			return 1;
		rs->has_pending = false;
		/* the clock never goes back: events of several CPUs interleave */
		if (rs->pending.ts_ns > rs->now)
			rs->now = rs->pending.ts_ns;
		now_ns__replay(rs->now);
		if (replay_one(s, &rs->pending, &tick_end)) {
			rs->ended = true;
			break;
		}
		if (!tick_end)
			continue;
		if (s->hooks.on_batch)
			s->hooks.on_batch(s);
		if ((s->hooks.on_tick && !s->hooks.on_tick(s)) ||
		    (s->deadline_ns && rs->now >= s->deadline_ns)) {
			rs->stopped = true;
			return 0;
		}
	}
	return 0;
}

int sessrec__replay_run(struct session *s)
{
	int n = replay_until(s, UINT64_MAX);

	return n < 0 ? n : 0;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sessrec__replay_tick(struct session *s)
{
	struct sessrec *rs = s->rec;
	uint64_t wall = wall_ns();
	int n = 0;

	if (!rs->last_wall_ns)
		rs->last_wall_ns = wall;
	if (!rs->paused && !rs->ended && !rs->stopped) {
		rs->clock += (uint64_t)((double)(wall - rs->last_wall_ns) * rs->speed);
		n = replay_until(s, rs->clock);
		if (rs->clock > rs->now && !rs->ended)
			rs->now = rs->clock;
		now_ns__replay(rs->now);
		/* the views hear of the end: nothing else will tick */
		if (rs->ended && s->hooks.on_tick)
			s->hooks.on_tick(s);
	}
	rs->last_wall_ns = wall;
	return n < 0 ? n : 0;
}

void sessrec__replay_pace(struct session *s, double speed, bool paused)
{
	struct sessrec *rs = s->rec;

	if (!rs)
		return;
	if (!rs->clock)
		rs->clock = rs->now;
	rs->speed = speed;
	rs->paused = paused;
}

int sessrec__replay_forward(struct session *s, uint64_t to)
{
	struct sessrec *rs = s->rec;
	int n;

	if (!rs->clock || to > rs->clock)
		rs->clock = to;
	n = replay_until(s, rs->clock);
	/* past the end, playback stays at the last record */
	if (rs->clock > rs->now && !rs->ended)
		rs->now = rs->clock;
	now_ns__replay(rs->now);
	return n < 0 ? n : 0;
}

void sessrec__replay_status(const struct session *s, struct replay_status *out)
{
	const struct sessrec *rs = s->rec;

	memset(out, 0, sizeof(*out));
	if (!rs || !rs->r)
		return;
	out->start_ns = s->start_ns;
	out->now_ns = rs->now;
	out->speed = rs->speed;
	out->paused = rs->paused;
	out->ended = rs->ended || rs->stopped;
	out->damaged = rec_reader__error(rs->r) != NULL;
}

const struct addr_place *sessrec__place(struct session *s, uint32_t pid, uint64_t addr)
{
	const struct place_rec *p = s->rec ? hmap__get(s->rec->places, place_key(pid, addr)) : NULL;

	return p && p->pid == pid && p->addr == addr ? &p->buf.place : NULL;
}

const struct stack *sessrec__stack(struct session *s, uint32_t tid, uint64_t since_ns)
{
	const struct stack *st = s->rec ? hmap__get(s->rec->stacks, tid) : NULL;

	return st && st->wait_since_ns == since_ns ? st : NULL;
}

void sessrec__replay_stats(const struct session *s, struct consumer_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->rec)
		return;
	out->events = s->rec->events;
	out->bad_records = s->rec->bad;
	memcpy(out->drops, s->rec->lost, sizeof(out->drops));
}

void sessrec__close(struct session *s)
{
	struct sessrec *rs = s->rec;
	uint64_t key;
	void *v;

	if (!rs)
		return;
	if (recording(s)) {
		const struct consumer_stats *st = consumer__stats(s->consumer);
		struct rec_end end = { .events = st->events };

		for (int r = 0; r < TANGLE_DROP_MAX; r++)
			end.lost += st->drops[r];
		check_write(s, rec_writer__add(rs->w, REC_END, now_ns(), &end, sizeof(end)));
	}
	if (rs->w)
		check_write(s, rec_writer__close(rs->w));
	rec_reader__close(rs->r);
	if (rs->r)
		now_ns__replay(0);
	free(rs->path);
	hmap__free(rs->placed);
	hmap__free(rs->stacked);
	free_places(rs->places);
	for (size_t it = 0; rs->stacks && hmap__next(rs->stacks, &it, &key, &v);)
		free(v);
	hmap__free(rs->stacks);
	sessrec_go__free(rs->go);
	free(rs);
	s->rec = NULL;
}
