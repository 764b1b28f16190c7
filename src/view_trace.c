// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "escape.h"
#include "futex.h"
#include "hmap.h"
#include "json.h"
#include "lockinfo.h"
#include "symbols.h"
#include "view_trace.h"

struct view_trace {
	struct json_writer *w;
	FILE *out;
	struct names names;
	struct hmap *named; /* pids (key pid << 32) and tids (key tid) with a name event */
	struct hmap *stuck; /* tid -> group id + 1 of the stuck group it is in */
	uint64_t flows; /* flow ids handed out */
	size_t nevents;
	int err;
};

static void next_event(struct view_trace *v)
{
	if (v->nevents++)
		fputc(',', v->out);
}

static void end_event(struct view_trace *v)
{
	int err = json__end_record(v->w);

	if (err && !v->err)
		v->err = err;
}

struct view_trace *view_trace__new(struct json_writer *w, FILE *out, const struct names *names)
{
	struct view_trace *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->w = w;
	v->out = out;
	if (names)
		v->names = *names;
	v->named = hmap__new();
	v->stuck = hmap__new();
	if (!v->named || !v->stuck) {
		view_trace__free(v);
		errno = ENOMEM;
		return NULL;
	}
	fputs("[\n", out);
	return v;
}

void view_trace__free(struct view_trace *v)
{
	if (!v)
		return;
	hmap__free(v->named);
	hmap__free(v->stuck);
	free(v);
}

static void meta_event(struct view_trace *v, const char *what, uint32_t pid, uint32_t tid,
		       const char *name)
{
	next_event(v);
	json__begin_object(v->w);
	json__kv_str(v->w, "name", what);
	json__kv_str(v->w, "ph", "M");
	json__kv_uint(v->w, "pid", pid);
	json__kv_uint(v->w, "tid", tid);
	json__key(v->w, "args");
	json__begin_object(v->w);
	json__kv_str(v->w, "name", name);
	json__end_object(v->w);
	json__end_object(v->w);
	end_event(v);
}

/* Name the process and the thread tracks (again, after a rename or exec). */
static void name_thread(struct view_trace *v, const struct thread *t, bool again)
{
	char name[64], comm[TANGLE_COMM_LEN + 1];

	memcpy(comm, t->comm, TANGLE_COMM_LEN);
	comm[TANGLE_COMM_LEN] = '\0';
	if (again || !hmap__get(v->named, (uint64_t)t->pid << 32)) {
		if (t->tid == t->pid || !hmap__get(v->named, (uint64_t)t->pid << 32)) {
			snprintf(name, sizeof(name), "%s (pid %u)", comm, t->pid);
			meta_event(v, "process_name", t->pid, t->pid, name);
			hmap__set(v->named, (uint64_t)t->pid << 32, (void *)1);
		}
	}
	if (again || !hmap__get(v->named, t->tid)) {
		snprintf(name, sizeof(name), "%s %u", comm, t->tid);
		meta_event(v, "thread_name", t->pid, t->tid, name);
		hmap__set(v->named, t->tid, (void *)1);
	}
}

/* "mutex <lock_a in app>" when the owner of the wait was read, else "futex wait 0x..". */
static void wait_name(struct view_trace *v, const struct thread *t, const struct wait *w,
		      const struct lock_owner *o, char *buf, size_t len)
{
	const struct addr_place *p;
	char place[512];

	if (!o || o->kind == LOCK_UNKNOWN) {
		snprintf(buf, len, "futex %s 0x%" PRIx64, futex_op_name(w->sys, w->op), w->addr);
		return;
	}
	p = v->names.place ? v->names.place(t->pid, o->lock_addr, v->names.ctx) : NULL;
	if (symbols__describe(p, place, sizeof(place)))
		snprintf(buf, len, "%s <%s>", lock_kind_name(o->kind), place);
	else if (place[0])
		snprintf(buf, len, "%s 0x%" PRIx64 " (%s)", lock_kind_name(o->kind), o->lock_addr,
			 place);
	else
		snprintf(buf, len, "%s 0x%" PRIx64, lock_kind_name(o->kind), o->lock_addr);
}

static void wait_slice(struct view_trace *v, const struct thread *t, const struct wait *w,
		       const struct lock_owner *o, uint64_t end_ns, const char *result,
		       bool going_on)
{
	char name[768];
	void *stuck = hmap__get(v->stuck, t->tid);
	uint64_t begin = w->since_ns < end_ns ? w->since_ns : end_ns;

	wait_name(v, t, w, o, name, sizeof(name));
	next_event(v);
	json__begin_object(v->w);
	json__kv_str(v->w, "name", name);
	json__kv_str(v->w, "cat", going_on && stuck ? "stuck" : "wait");
	json__kv_str(v->w, "ph", "X");
	json__kv_milli(v->w, "ts", begin);
	json__kv_milli(v->w, "dur", end_ns - begin);
	json__kv_uint(v->w, "pid", t->pid);
	json__kv_uint(v->w, "tid", t->tid);
	if (going_on && stuck)
		json__kv_str(v->w, "cname", "terrible"); /* red in chrome://tracing */
	json__key(v->w, "args");
	json__begin_object(v->w);
	json__kv_hex(v->w, "addr", w->addr);
	json__kv_str(v->w, "op", futex_op_name(w->sys, w->op));
	json__kv_str(v->w, "result", result);
	json__kv_bool(v->w, "preblocked", w->preblocked);
	json__kv_bool(v->w, "has_timeout", w->has_timeout);
	if (w->waker_tid)
		json__kv_uint(v->w, "waker_tid", w->waker_tid);
	if (going_on && stuck)
		json__kv_uint(v->w, "stuck_group", (uint64_t)(uintptr_t)stuck - 1);
	json__end_object(v->w);
	json__end_object(v->w);
	end_event(v);
}

/*
 * The waker's side of an arrow: a 1 us slice on its track just before the
 * wakee returns (the flow binds to it), then the flow's two ends.
 */
static void wake_flow(struct view_trace *v, const struct thread *t, const struct wait *w,
		      uint64_t end_ns)
{
	uint64_t at = end_ns > 1000 ? end_ns - 1000 : end_ns;
	uint64_t id = ++v->flows;
	char name[64];

	snprintf(name, sizeof(name), "wakes %u", t->tid);
	next_event(v);
	json__begin_object(v->w);
	json__kv_str(v->w, "name", name);
	json__kv_str(v->w, "cat", "wake");
	json__kv_str(v->w, "ph", "X");
	json__kv_milli(v->w, "ts", at);
	json__kv_milli(v->w, "dur", 1000);
	json__kv_uint(v->w, "pid", w->waker_pid);
	json__kv_uint(v->w, "tid", w->waker_tid);
	json__end_object(v->w);
	end_event(v);
	for (int end = 0; end < 2; end++) {
		next_event(v);
		json__begin_object(v->w);
		json__kv_str(v->w, "name", "wakeup");
		json__kv_str(v->w, "cat", "wake");
		json__kv_str(v->w, "ph", end ? "f" : "s");
		json__kv_uint(v->w, "id", id);
		if (end)
			json__kv_str(v->w, "bp", "e");
		/* inside the waker's slice, then inside the end of the wait's */
		json__kv_milli(v->w, "ts", end ? end_ns - 1 : at);
		json__kv_uint(v->w, "pid", end ? t->pid : w->waker_pid);
		json__kv_uint(v->w, "tid", end ? t->tid : w->waker_tid);
		json__end_object(v->w);
		end_event(v);
	}
}

void view_trace__on_change(const struct model_event *ev, void *ctx)
{
	struct view_trace *v = ctx;

	switch (ev->kind) {
	case MC_THREAD_NEW:
		name_thread(v, ev->thread, false);
		break;
	case MC_THREAD_RENAME:
	case MC_THREAD_EXEC:
		name_thread(v, ev->thread, true);
		break;
	case MC_WAIT_END:
		name_thread(v, ev->thread, false);
		wait_slice(v, ev->thread, ev->wait, ev->owner, ev->ts_ns,
			   wait_result_name(ev->result), false);
		if (ev->result == WAIT_WOKEN && ev->wait->waker_tid &&
		    ev->ts_ns > ev->wait->since_ns)
			wake_flow(v, ev->thread, ev->wait, ev->ts_ns);
		break;
	case MC_THREAD_EXIT:
		hmap__del(v->stuck, ev->thread->tid);
		break;
	default:
		break;
	}
}

void view_trace__on_group(struct view_trace *v, const struct stuck_group *g)
{
	char name[96];

	snprintf(name, sizeof(name), "%s%s (group %" PRIu64 ")", g->resolved_ns ? "resolved: " : "",
		 group_kind_name(g->kind), g->id);
	for (size_t i = 0; i < g->nr_members; i++) {
		const struct stuck_member *mb = &g->members[i];

		if (g->resolved_ns)
			hmap__del(v->stuck, mb->tid);
		else
			hmap__set(v->stuck, mb->tid, (void *)(uintptr_t)(g->id + 1));
		next_event(v);
		json__begin_object(v->w);
		json__kv_str(v->w, "name", name);
		json__kv_str(v->w, "cat", "stuck");
		json__kv_str(v->w, "ph", "i");
		json__kv_str(v->w, "s", "t");
		json__kv_milli(v->w, "ts", g->resolved_ns ? g->resolved_ns : g->detected_ns);
		json__kv_uint(v->w, "pid", mb->pid);
		json__kv_uint(v->w, "tid", mb->tid);
		json__key(v->w, "args");
		json__begin_object(v->w);
		json__kv_uint(v->w, "group_id", g->id);
		json__kv_str(v->w, "kind", group_kind_name(g->kind));
		json__kv_bool(v->w, "in_cycle", mb->in_cycle);
		json__kv_hex(v->w, "lock_addr", mb->owner.lock_addr);
		if (mb->owner.owner_tid)
			json__kv_uint(v->w, "owner_tid", mb->owner.owner_tid);
		json__end_object(v->w);
		json__end_object(v->w);
		end_event(v);
	}
}

int view_trace__finish(struct view_trace *v, const struct model *m, uint64_t now)
{
	const struct thread *t;
	size_t it = 0;

	while ((t = model__next_thread(m, &it))) {
		if (t->wait.kind == WAIT_NONE)
			continue;
		name_thread(v, t, false);
		wait_slice(v, t, &t->wait, thread__owner(t), now, "still waiting", true);
	}
	fputs("\n]\n", v->out);
	if (fflush(v->out) && !v->err)
		v->err = -errno;
	return v->err;
}

/* ---- Graphviz ---- */

/*
 * The inside of a dot string: bytes as the terminal views show them (valid
 * UTF-8 kept, the rest \xNN), then quotes and backslashes escaped for dot.
 */
static void dot_chars(FILE *out, const char *s, size_t n)
{
	char esc[1024];

	term_escape(esc, sizeof(esc), s, n);
	for (const char *p = esc; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
}

static void dot_str(FILE *out, const char *s)
{
	fputc('"', out);
	dot_chars(out, s, strlen(s));
	fputc('"', out);
}

static uint64_t group_of(const struct detector *d, uint32_t tid)
{
	for (size_t i = 0; d && i < detector__nr_groups(d); i++) {
		const struct stuck_group *g = detector__group(d, i);

		for (size_t j = 0; j < g->nr_members; j++)
			if (g->members[j].tid == tid)
				return g->id;
	}
	return 0;
}

static void dot_thread(FILE *out, const struct model *m, uint32_t tid, bool stuck)
{
	const struct thread *t = model__thread(m, tid);

	fprintf(out, "  t%u [shape=box, style=\"rounded%s\", label=\"", tid,
		stuck ? ",filled" : "");
	/* the name escaped, then a line break of dot's own (\n) */
	if (t) {
		dot_chars(out, t->comm, TANGLE_COMM_LEN);
		fprintf(out, "\\ntid %u (pid %u)\"", tid, t->pid);
	} else {
		fprintf(out, "tid %u\\n(exited)\"", tid);
	}
	fprintf(out, "%s];\n", stuck ? ", color=red3, fillcolor=mistyrose" : "");
}

static uint64_t lock_key(uint32_t pid, uint64_t lock)
{
	return (lock * 0x9e3779b97f4a7c15ull) ^ pid ^ ((uint64_t)pid << 40);
}

/* Each stuck group as a cluster around its threads: "G1 deadlock, 4 threads". */
static void dot_groups(FILE *out, const struct model *m, const struct detector *d,
		       const struct hmap *threads, const struct hmap *locks)
{
	for (size_t i = 0; d && i < detector__nr_groups(d); i++) {
		const struct stuck_group *g = detector__group(d, i);

		if (g->resolved_ns)
			continue;
		fprintf(out,
			"  subgraph cluster_g%" PRIu64 " {\n"
			"    label=\"G%" PRIu64 " %s, %zu thread%s\"; style=dashed; color=red3; "
			"fontcolor=red3;\n   ",
			g->id, g->id, group_kind_name(g->kind), g->nr_members,
			g->nr_members == 1 ? "" : "s");
		for (size_t j = 0; j < g->nr_members; j++) {
			const struct thread *t = model__thread(m, g->members[j].tid);
			const struct lock_owner *o = t ? thread__owner(t) : NULL;
			uint64_t lock = t ? (o && o->lock_addr ? o->lock_addr : t->wait.addr) : 0;

			if (hmap__get(threads, g->members[j].tid))
				fprintf(out, " t%u;", g->members[j].tid);
			/* and what it waits on, so that the cycle is drawn inside */
			if (t && hmap__get(locks, lock_key(t->pid, lock)))
				fprintf(out, " l%u_%" PRIx64 ";", t->pid, lock);
		}
		fputs("\n  }\n", out);
	}
}

int view_dot__write(FILE *out, const struct model *m, const struct detector *d, uint64_t now,
		    uint64_t min_wait_ns, const struct names *names)
{
	struct hmap *threads = hmap__new(), *locks = hmap__new(), *held = hmap__new();
	const struct thread *t;
	size_t it = 0;
	int err = 0;

	if (!threads || !locks || !held) {
		hmap__free(threads);
		hmap__free(locks);
		hmap__free(held);
		return -ENOMEM;
	}
	fputs("digraph waitfor {\n"
	      "  rankdir=LR;\n"
	      "  node [fontname=\"Helvetica\", fontsize=10];\n"
	      "  edge [fontname=\"Helvetica\", fontsize=9];\n",
	      out);
	while ((t = model__next_thread(m, &it))) {
		const struct lock_owner *o;
		uint64_t lock, gid;
		char label[768], place[512];
		const struct addr_place *p;

		if (t->wait.kind == WAIT_NONE || t->wait.has_timeout ||
		    now < t->wait.since_ns + min_wait_ns)
			continue;
		o = thread__owner(t);
		gid = group_of(d, t->tid);
		lock = o && o->lock_addr ? o->lock_addr : t->wait.addr;
		if (!hmap__get(threads, t->tid)) {
			dot_thread(out, m, t->tid, gid != 0);
			hmap__set(threads, t->tid, (void *)1);
		}
		if (!hmap__get(locks, lock_key(t->pid, lock))) {
			p = names && names->place && o ? names->place(t->pid, lock, names->ctx) :
							 NULL;
			if (symbols__describe(p, place, sizeof(place)))
				snprintf(label, sizeof(label), "%s <%s>",
					 lock_kind_name(o ? o->kind : LOCK_UNKNOWN), place);
			else
				snprintf(label, sizeof(label), "%s 0x%" PRIx64,
					 lock_kind_name(o ? o->kind : LOCK_UNKNOWN), lock);
			fprintf(out, "  l%u_%" PRIx64 " [shape=ellipse, label=", t->pid, lock);
			dot_str(out, label);
			fputs("];\n", out);
			hmap__set(locks, lock_key(t->pid, lock), (void *)1);
		}
		snprintf(label, sizeof(label), "waits %.1f s", (now - t->wait.since_ns) / 1e9);
		fprintf(out, "  t%u -> l%u_%" PRIx64 " [label=\"%s\"%s];\n", t->tid, t->pid, lock,
			label, gid ? ", color=red3, penwidth=2" : "");
		/* a lock is held by one thread: one edge, however many wait on it */
		if (!o || o->state == OWNER_NONE || hmap__get(held, lock_key(t->pid, lock)))
			continue;
		hmap__set(held, lock_key(t->pid, lock), (void *)1);
		if (!hmap__get(threads, o->owner_tid) && !model__thread(m, o->owner_tid)) {
			dot_thread(out, m, o->owner_tid, gid != 0);
			hmap__set(threads, o->owner_tid, (void *)1);
		}
		fprintf(out, "  l%u_%" PRIx64 " -> t%u [label=\"%s\", style=dashed%s];\n", t->pid,
			lock, o->owner_tid, o->state == OWNER_DEAD ? "held by (exited)" : "held by",
			gid ? ", color=red3" : "");
	}
	/* owners met only as owners, still alive: draw them too */
	it = 0;
	while ((t = model__next_thread(m, &it))) {
		const struct lock_owner *o = thread__owner(t);

		if (!o || o->state != OWNER_LIVE || hmap__get(threads, o->owner_tid))
			continue;
		if (t->wait.has_timeout || now < t->wait.since_ns + min_wait_ns)
			continue;
		dot_thread(out, m, o->owner_tid, group_of(d, o->owner_tid) != 0);
		hmap__set(threads, o->owner_tid, (void *)1);
	}
	dot_groups(out, m, d, threads, locks);
	fputs("}\n", out);
	if (fflush(out))
		err = -errno;
	hmap__free(threads);
	hmap__free(locks);
	hmap__free(held);
	return err;
}
