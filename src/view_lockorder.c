// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Lock-order inversion reports (see view_lockorder.h). */
#include <inttypes.h>
#include <string.h>
#include "escape.h"
#include "json.h"
#include "view_json.h"
#include "view_lockorder.h"

const char *lo_kind_name(uint8_t kind)
{
	return kind == LO_KIND_RWLOCK ? "rwlock" : "mutex";
}

const char *lo_mode_name(uint8_t mode)
{
	return mode == LO_MODE_READ ? "read" : "write";
}

/* "mutex M1 (0x55d0c0a010a0, lock_a)" */
static void lock_text(char *dst, size_t len, const struct lo_view *v, uint32_t lock)
{
	const struct lg_lock *l = lockgraph__lock(v->g, lock);
	char name[4 * sizeof(v->locks[0].name)];

	term_escape(name, sizeof(name), v->locks[lock].name, sizeof(v->locks[lock].name));
	snprintf(dst, len, "%s M%u (0x%" PRIx64 "%s%s%s)", lo_kind_name(l->kind), lock, l->addr,
		 name[0] ? ", " : "", name, l->gen ? ", re-made" : "");
}

static void frame_text(FILE *out, size_t i, const struct frame *f)
{
	char fn[4 * sizeof(f->function)], where[4 * sizeof(f->file)];

	if (f->function[0])
		term_escape(fn, sizeof(fn), f->function, sizeof(f->function));
	else
		snprintf(fn, sizeof(fn), "0x%" PRIx64, f->addr);
	fprintf(out, "    #%zu %s", i, fn);
	if (f->function[0] && !f->inlined)
		fprintf(out, "+0x%" PRIx64, f->offset);
	if (f->file[0]) {
		term_escape(where, sizeof(where), f->file, sizeof(f->file));
		fprintf(out, " %s:%d", where, f->line);
	} else if (f->module[0]) {
		term_escape(where, sizeof(where), f->module, sizeof(f->module));
		fprintf(out, " (%s)", where);
	}
	fprintf(out, "%s\n", f->inlined ? " (inlined)" : "");
}

void view_lockorder__text(FILE *out, const struct lo_view *v, const struct lg_cycle *c)
{
	char comm[4 * LO_COMM_LEN + 1], a[1200], b[1200];
	uint32_t first_tid = lockgraph__edge(v->g, c->edges[0])->tid;
	bool one_thread = true;

	term_escape(comm, sizeof(comm), v->comm ? v->comm : "", LO_COMM_LEN);
	fprintf(out, "WARNING: lock-order inversion (potential deadlock) in pid %u \"%s\"\n",
		v->pid, comm);
	fprintf(out, "  Cycle in lock order graph:");
	for (size_t i = 0; i < c->nr; i++)
		fprintf(out, " M%u =>", lockgraph__edge(v->g, c->edges[i])->from);
	fprintf(out, " M%u\n\n", lockgraph__edge(v->g, c->edges[0])->from);
	for (size_t i = 0; i < c->nr; i++) {
		const struct lg_edge *e = lockgraph__edge(v->g, c->edges[i]);
		const struct lo_edge_info *in = e->data;
		char tcomm[4 * LO_COMM_LEN + 1];

		if (e->tid != first_tid)
			one_thread = false;
		lock_text(a, sizeof(a), v, e->to);
		lock_text(b, sizeof(b), v, e->from);
		term_escape(tcomm, sizeof(tcomm), in ? in->comm : "", LO_COMM_LEN);
		fprintf(out, "  %s acquired%s here while holding %s%s in thread %u \"%s\"", a,
			e->to_mode == LO_MODE_READ ? " for reading" : "", b,
			e->from_mode == LO_MODE_READ ? " (for reading)" : "", e->tid, tcomm);
		if (in && in->count)
			fprintf(out, " (this order %" PRIu64 " time%s)", in->count,
				in->count == 1 ? "" : "s");
		fputs(":\n", out);
		if (in && in->nr_stack) {
			for (size_t f = 0; f < in->nr_stack; f++)
				frame_text(out, f, &in->stack[f]);
			if (in->stack_truncated)
				fputs("    ... (outer frames past the captured stack)\n", out);
		} else {
			fputs("    (no stack)\n", out);
		}
		if (in && in->held_at.addr) {
			fprintf(out, "  M%u previously acquired by the same thread at:\n", e->from);
			frame_text(out, 0, &in->held_at);
			for (size_t f = in->held_callers; f && f < in->nr_stack; f++)
				frame_text(out, f - in->held_callers + 1, &in->stack[f]);
		}
		fputc('\n', out);
	}
	if (one_thread)
		fputs("  (all of it by one thread: it deadlocks once two threads run these paths)\n\n",
		      out);
}

static void lock_json(struct json_writer *w, const struct lo_view *v, uint32_t lock)
{
	const struct lg_lock *l = lockgraph__lock(v->g, lock);

	json__begin_object(w);
	json__kv_uint(w, "id", lock);
	json__kv_hex(w, "addr", l->addr);
	json__kv_str(w, "kind", lo_kind_name(l->kind));
	json__kv_uint(w, "generation", l->gen);
	json__kv_str(w, "name", v->locks[lock].name[0] ? v->locks[lock].name : NULL);
	json__end_object(w);
}

static void frame_obj(struct json_writer *w, const struct frame *f)
{
	json__begin_object(w);
	json__kv_hex(w, "addr", f->addr);
	json__kv_str(w, "function", f->function[0] ? f->function : NULL);
	json__kv_uint(w, "offset", f->offset);
	json__kv_str(w, "file", f->file[0] ? f->file : NULL);
	if (f->line)
		json__kv_int(w, "line", f->line);
	else
		json__kv_null(w, "line");
	json__kv_str(w, "module", f->module[0] ? f->module : NULL);
	json__kv_bool(w, "inlined", f->inlined);
	json__end_object(w);
}

static void frame_json(struct json_writer *w, const char *key, const struct frame *f)
{
	json__key(w, key);
	if (f->addr)
		frame_obj(w, f);
	else
		json__null(w);
}

int view_lockorder__json(struct json_writer *w, uint64_t ts, const struct lo_view *v,
			 const struct lg_cycle *c, uint64_t id)
{
	uint32_t first_tid = lockgraph__edge(v->g, c->edges[0])->tid;
	bool one_thread = true;

	view_json__begin(w, "lock_order_inversion", ts);
	json__kv_uint(w, "inversion_id", id);
	json__kv_uint(w, "pid", v->pid);
	json__kv_str(w, "comm", v->comm);
	json__key(w, "locks");
	json__begin_array(w);
	for (size_t i = 0; i < c->nr; i++)
		lock_json(w, v, lockgraph__edge(v->g, c->edges[i])->from);
	json__end_array(w);
	json__key(w, "edges");
	json__begin_array(w);
	for (size_t i = 0; i < c->nr; i++) {
		const struct lg_edge *e = lockgraph__edge(v->g, c->edges[i]);
		const struct lo_edge_info *in = e->data;
		static const struct frame none;

		if (e->tid != first_tid)
			one_thread = false;
		json__begin_object(w);
		json__kv_uint(w, "from", e->from);
		json__kv_uint(w, "to", e->to);
		json__kv_hex(w, "from_addr", lockgraph__lock(v->g, e->from)->addr);
		json__kv_hex(w, "to_addr", lockgraph__lock(v->g, e->to)->addr);
		json__kv_str(w, "from_mode", lo_mode_name(e->from_mode));
		json__kv_str(w, "to_mode", lo_mode_name(e->to_mode));
		json__kv_bool(w, "from_trylock", e->from_try);
		json__kv_uint(w, "tid", e->tid);
		json__kv_str(w, "comm", in ? in->comm : NULL);
		json__kv_uint(w, "first_ts_ns", e->ts_ns);
		json__kv_uint(w, "count", in ? in->count : 0);
		json__kv_uint(w, "locks_held", e->nr_held);
		frame_json(w, "held_at", in ? &in->held_at : &none);
		/* held_at and its callers, as far as they are known */
		json__key(w, "held_stack");
		json__begin_array(w);
		if (in && in->held_at.addr) {
			frame_obj(w, &in->held_at);
			for (size_t f = in->held_callers; f && f < in->nr_stack; f++)
				frame_obj(w, &in->stack[f]);
		}
		json__end_array(w);
		view_json__frames(w, "stack", in ? in->stack : NULL, in ? in->nr_stack : 0);
		json__kv_bool(w, "stack_truncated", in && in->stack_truncated);
		json__end_object(w);
	}
	json__end_array(w);
	json__kv_bool(w, "single_thread", one_thread);
	return view_json__end(w);
}

void view_lockorder__exit_text(FILE *out, const struct lo_exit_info *x)
{
	char comm[4 * LO_COMM_LEN + 1], name[1024];

	term_escape(comm, sizeof(comm), x->comm, LO_COMM_LEN);
	fprintf(out, "NOTE: thread %u \"%s\" (pid %u) exited holding %zu lock%s:\n", x->tid, comm,
		x->pid, x->nr, x->nr == 1 ? "" : "s");
	for (size_t i = 0; i < x->nr; i++) {
		term_escape(name, sizeof(name), x->names[i], 256);
		fprintf(out, "  %s 0x%" PRIx64 "%s%s%s, taken at:\n", lo_kind_name(x->held[i].kind),
			(uint64_t)x->held[i].addr, name[0] ? " (" : "", name, name[0] ? ")" : "");
		frame_text(out, 0, &x->held_at[i]);
	}
	fputc('\n', out);
}

int view_lockorder__exit_json(struct json_writer *w, uint64_t ts, const struct lo_exit_info *x)
{
	view_json__begin(w, "lock_held_at_exit", ts);
	json__kv_uint(w, "pid", x->pid);
	json__kv_uint(w, "tid", x->tid);
	json__kv_strn(w, "comm", x->comm, strnlen(x->comm, LO_COMM_LEN));
	json__key(w, "locks");
	json__begin_array(w);
	for (size_t i = 0; i < x->nr; i++) {
		json__begin_object(w);
		json__kv_hex(w, "addr", x->held[i].addr);
		json__kv_str(w, "kind", lo_kind_name(x->held[i].kind));
		json__kv_str(w, "mode", lo_mode_name(x->held[i].mode));
		json__kv_uint(w, "generation", x->held[i].gen);
		json__kv_str(w, "name", x->names[i][0] ? x->names[i] : NULL);
		frame_json(w, "held_at", &x->held_at[i]);
		json__end_object(w);
	}
	json__end_array(w);
	return view_json__end(w);
}
