// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <string.h>
#include "consumer.h"
#include "futex.h"
#include "lockinfo.h"
#include "json.h"
#include "stacks.h"
#include "symbols.h"
#include "view_json.h"

void view_json__begin(struct json_writer *w, const char *type, uint64_t ts)
{
	json__begin_object(w);
	json__kv_str(w, "type", type);
	json__kv_int(w, "v", JSON_SCHEMA_VERSION);
	json__kv_uint(w, "ts_ns", ts);
}

int view_json__end(struct json_writer *w)
{
	json__end_object(w);
	return json__end_record(w);
}

static void thread_ids(struct json_writer *w, const struct thread *t)
{
	json__kv_uint(w, "pid", t->pid);
	json__kv_uint(w, "tid", t->tid);
	json__kv_strn(w, "comm", t->comm, strnlen(t->comm, TANGLE_COMM_LEN));
}

static const char *origin_name(enum thread_origin o)
{
	switch (o) {
	case ORIGIN_PROC:
		return "proc";
	case ORIGIN_FORK:
		return "fork";
	default:
		return "seen";
	}
}

static void wait_fields(struct json_writer *w, const struct wait *wt)
{
	json__kv_str(w, "kind", "futex");
	json__kv_str(w, "syscall", futex_sys_name(wt->sys));
	json__kv_str(w, "op", futex_op_name(wt->sys, wt->op));
	json__kv_uint(w, "op_raw", wt->op);
	json__kv_bool(w, "private", futex_op_private(wt->sys, wt->op));
	json__kv_hex(w, "addr", wt->addr);
}

/*
 * --stacks on wait records: the user stack and how it was sampled; on
 * wait_end also the kernel stack, read from waits that lasted.
 */
static void wait_stack_fields(struct json_writer *w, const struct stack *st, bool kernel)
{
	view_json__frames(w, "stack", st ? st->user : NULL, st ? st->nr_user : 0);
	if (kernel)
		view_json__frames(w, "kernel_stack", st ? st->kernel : NULL,
				  st ? st->nr_kernel : 0);
	if (st && st->sample_every)
		json__kv_uint(w, "stack_sample_every", st->sample_every);
	else
		json__kv_null(w, "stack_sample_every");
	json__kv_bool(w, "stack_truncated", st && st->truncated);
}

static void on_thread_new(struct json_writer *w, const struct model_event *ev)
{
	const struct thread *t = ev->thread;

	json__kv_str(w, "origin", origin_name(t->origin));
	json__kv_bool(w, "is_thread", ev->is_thread);
	if (t->origin == ORIGIN_FORK) {
		json__kv_uint(w, "parent_pid", ev->parent_pid);
		json__kv_uint(w, "parent_tid", ev->parent_tid);
		json__kv_null(w, "state");
	} else {
		json__kv_null(w, "parent_pid");
		json__kv_null(w, "parent_tid");
		if (t->origin == ORIGIN_PROC)
			json__kv_str(w, "state", thread_state_name(t->state));
		else
			json__kv_null(w, "state");
	}
}

static int process_futex_stats(struct json_writer *w, uint64_t ts, const struct process *p);

void view_json__on_change(const struct model_event *ev, void *ctx)
{
	view_json__change(ctx, ev, false, NULL);
}

void view_json__change(struct json_writer *w, const struct model_event *ev, bool with_stacks,
		       const struct stack *st)
{
	static const char *const types[] = {
		[MC_THREAD_NEW] = "thread_new",	      [MC_THREAD_EXEC] = "thread_exec",
		[MC_THREAD_RENAME] = "thread_rename", [MC_THREAD_EXIT] = "thread_exit",
		[MC_WAIT_BEGIN] = "wait_begin",	      [MC_WAIT_END] = "wait_end",
	};

	if (ev->kind == MC_PROCESS_EXIT) {
		/* its statistics would be lost with it: write them now */
		process_futex_stats(w, ev->ts_ns, ev->process);
		return;
	}
	view_json__begin(w, types[ev->kind], ev->ts_ns);
	/* the bulk of a stream: what a blocked reader loses first (lost_events "output_full") */
	if (ev->kind == MC_WAIT_BEGIN || ev->kind == MC_WAIT_END)
		json__droppable(w);
	thread_ids(w, ev->thread);
	switch (ev->kind) {
	case MC_THREAD_NEW:
		on_thread_new(w, ev);
		break;
	case MC_THREAD_EXEC:
	case MC_THREAD_RENAME:
		json__kv_strn(w, "old_comm", ev->old_comm, strnlen(ev->old_comm, TANGLE_COMM_LEN));
		break;
	case MC_THREAD_EXIT:
		/* exit_code is the wait status: exit value << 8, or the killing signal */
		json__kv_int(w, "exit_code", (ev->exit_code >> 8) & 0xff);
		json__kv_int(w, "signal", ev->exit_code & 0x7f);
		json__kv_bool(w, "group_dead", ev->group_dead);
		break;
	case MC_WAIT_BEGIN:
		wait_fields(w, ev->wait);
		json__kv_uint(w, "expected", ev->wait->expected);
		json__kv_bool(w, "has_timeout", ev->wait->has_timeout);
		json__kv_bool(w, "preblocked", ev->wait->preblocked);
		if (ev->wait->sys == TANGLE_SYS_FUTEX_WAITV)
			json__kv_uint(w, "nr_futexes", ev->wait->nr_futexes);
		if (with_stacks)
			wait_stack_fields(w, st, false);
		break;
	case MC_WAIT_END:
		wait_fields(w, ev->wait);
		json__kv_bool(w, "preblocked", ev->wait->preblocked);
		json__kv_uint(w, "blocked_ns", ev->blocked_ns);
		json__kv_str(w, "result", wait_result_name(ev->result));
		if (ev->result == WAIT_WOKEN && ev->wait->waker_tid) {
			json__kv_uint(w, "waker_pid", ev->wait->waker_pid);
			json__kv_uint(w, "waker_tid", ev->wait->waker_tid);
		} else {
			json__kv_null(w, "waker_pid");
			json__kv_null(w, "waker_tid");
		}
		/* a system call fails with -4095..-1; anything else (a damaged recording) is none */
		if (ev->result == WAIT_EXITED || ev->result == WAIT_LOST || ev->ret >= 0 ||
		    ev->ret < -4095)
			json__kv_null(w, "errno");
		else
			json__kv_int(w, "errno", -ev->ret);
		if (with_stacks)
			wait_stack_fields(w, st, true);
		break;
	case MC_PROCESS_EXIT:
		break;
	}
	view_json__end(w);
}

int view_json__meta(struct json_writer *w, const struct stream_meta *meta)
{
	const struct filter *f = meta->filter;

	view_json__begin(w, "meta", meta->ts_ns);
	json__kv_str(w, "tool", "tangle");
	json__kv_str(w, "version", TANGLE_VERSION);
	json__kv_int(w, "abi_version", TANGLE_ABI_VERSION);
	json__kv_str(w, "kernel", meta->kernel);
	json__kv_str(w, "hostname", meta->hostname);
	json__kv_int(w, "wall_offset_ns", meta->wall_offset_ns);
	json__kv_int(w, "boot_offset_ns", meta->boot_offset_ns);
	json__key(w, "filter");
	json__begin_object(w);
	json__key(w, "pids");
	json__begin_array(w);
	for (size_t i = 0; i < f->npids; i++)
		json__uint(w, f->pids[i]);
	json__end_array(w);
	json__key(w, "tids");
	json__begin_array(w);
	for (size_t i = 0; i < f->ntids; i++)
		json__uint(w, f->tids[i]);
	json__end_array(w);
	if (f->comm[0])
		json__kv_str(w, "comm", f->comm);
	else
		json__kv_null(w, "comm");
	json__end_object(w);
	return view_json__end(w);
}

int view_json__lost(struct json_writer *w, uint64_t ts, const char *reason,
		    const struct lost_report *l)
{
	view_json__begin(w, "lost_events", ts);
	json__kv_uint(w, "count", l->count);
	json__kv_str(w, "reason", reason);
	json__kv_uint(w, "total", l->total);
	json__key(w, "cpus");
	json__begin_array(w);
	for (uint32_t i = 0; i < l->nr_cpus; i++) {
		json__begin_object(w);
		json__kv_uint(w, "cpu", l->cpus[i].cpu);
		json__kv_uint(w, "count", l->cpus[i].count);
		json__end_object(w);
	}
	json__end_array(w);
	return view_json__end(w);
}

int view_json__lost_output(struct json_writer *w, uint64_t ts, uint64_t count, uint64_t total)
{
	view_json__begin(w, "lost_events", ts);
	json__kv_uint(w, "count", count);
	json__kv_str(w, "reason", "output_full");
	json__kv_uint(w, "total", total);
	json__kv_null(w, "cpus");
	return view_json__end(w);
}

int view_json__error(struct json_writer *w, uint64_t ts, const char *msg, int err)
{
	view_json__begin(w, "error", ts);
	json__kv_str(w, "message", msg);
	if (err)
		json__kv_int(w, "errno", err);
	else
		json__kv_null(w, "errno");
	return view_json__end(w);
}

static int process_futex_stats(struct json_writer *w, uint64_t ts, const struct process *p)
{
	const struct futex_stat *f;
	size_t fit = 0;
	int err = 0;

	while (!err && (f = process__next_futex(p, &fit))) {
		if (!f->waits)
			continue;
		view_json__begin(w, "futex_stats", ts);
		json__kv_uint(w, "pid", p->pid);
		json__kv_strn(w, "comm", p->comm, strnlen(p->comm, TANGLE_COMM_LEN));
		json__kv_hex(w, "addr", f->addr);
		json__kv_uint(w, "waits", f->waits);
		json__kv_uint(w, "total_wait_ns", f->total_ns);
		json__kv_uint(w, "max_wait_ns", f->max_ns);
		json__kv_uint(w, "waiting", f->waiting);
		err = view_json__end(w);
	}
	return err;
}

int view_json__futex_stats(struct json_writer *w, uint64_t ts, const struct model *m)
{
	const struct process *p;
	size_t pit = 0;
	int err = 0;

	while (!err && (p = model__next_process(m, &pit)))
		err = process_futex_stats(w, ts, p);
	return err;
}

int view_json__long_wait(struct json_writer *w, uint64_t ts, const struct thread *t,
			 uint64_t age_ns)
{
	const struct lock_owner *o = thread__owner(t);

	view_json__begin(w, "long_wait", ts);
	thread_ids(w, t);
	json__kv_uint(w, "blocked_ns", age_ns);
	json__kv_bool(w, "preblocked", t->wait.preblocked);
	json__kv_str(w, "kind", lock_kind_name(o ? o->kind : LOCK_UNKNOWN));
	json__kv_hex(w, "addr", t->wait.addr);
	if (o && o->owner_tid && o->state == OWNER_LIVE)
		json__kv_uint(w, "owner_tid", o->owner_tid);
	else
		json__kv_null(w, "owner_tid");
	json__kv_bool(w, "has_timeout", t->wait.has_timeout);
	return view_json__end(w);
}

int view_json__summary(struct json_writer *w, uint64_t ts, uint64_t events, uint64_t lost,
		       uint64_t duration_ns)
{
	view_json__begin(w, "summary", ts);
	json__kv_uint(w, "events", events);
	json__kv_uint(w, "lost", lost);
	json__kv_uint(w, "duration_ns", duration_ns);
	return view_json__end(w);
}

static void waits_on(struct json_writer *w, const struct stuck_member *mb,
		     const struct names *names)
{
	const struct addr_place *p =
		names && names->place ? names->place(mb->pid, mb->owner.lock_addr, names->ctx) :
					NULL;

	json__key(w, "waits_on");
	json__begin_object(w);
	json__kv_str(w, "kind", lock_kind_name(mb->owner.kind));
	json__kv_hex(w, "addr", mb->owner.lock_addr);
	json__kv_hex(w, "futex_addr", mb->wait.addr);
	if (mb->owner.owner_tid)
		json__kv_uint(w, "owner_tid", mb->owner.owner_tid);
	else
		json__kv_null(w, "owner_tid");
	json__kv_bool(w, "owner_exited", mb->owner.state == OWNER_DEAD);
	json__kv_bool(w, "pshared", mb->owner.pshared);
	json__kv_str(w, "symbol", p ? p->symbol : NULL);
	json__kv_str(w, "module", p ? p->module : NULL);
	json__kv_str(w, "region", p ? p->region : NULL);
	json__end_object(w);
}

void view_json__frames(struct json_writer *w, const char *key, const struct frame *f, size_t n)
{
	json__key(w, key);
	json__begin_array(w);
	for (size_t i = 0; i < n; i++) {
		json__begin_object(w);
		json__kv_hex(w, "addr", f[i].addr);
		json__kv_str(w, "function", f[i].function[0] ? f[i].function : NULL);
		json__kv_uint(w, "offset", f[i].offset);
		json__kv_str(w, "file", f[i].file[0] ? f[i].file : NULL);
		if (f[i].line)
			json__kv_int(w, "line", f[i].line);
		else
			json__kv_null(w, "line");
		json__kv_str(w, "module", f[i].module[0] ? f[i].module : NULL);
		json__kv_bool(w, "inlined", f[i].inlined);
		json__end_object(w);
	}
	json__end_array(w);
}

int view_json__stuck_group(struct json_writer *w, const struct stuck_group *g,
			   const struct names *names)
{
	uint32_t pids[64];
	size_t npids = 0;

	view_json__begin(w, g->resolved_ns ? "stuck_group_resolved" : "stuck_group",
			 g->resolved_ns ? g->resolved_ns : g->detected_ns);
	json__kv_uint(w, "group_id", g->id);
	json__kv_str(w, "kind", group_kind_name(g->kind));
	json__kv_uint(w, "revision", g->revision);
	json__kv_uint(w, "detected_ts_ns", g->detected_ns);
	if (g->resolved_ns)
		json__kv_uint(w, "resolved_ts_ns", g->resolved_ns);
	json__key(w, "pids");
	json__begin_array(w);
	for (size_t i = 0; i < g->nr_members; i++) {
		if (npids < 64 && !filter__has(pids, npids, g->members[i].pid)) {
			pids[npids++] = g->members[i].pid;
			json__uint(w, g->members[i].pid);
		}
	}
	json__end_array(w);
	json__key(w, "members");
	json__begin_array(w);
	for (size_t i = 0; i < g->nr_members; i++) {
		const struct stuck_member *mb = &g->members[i];

		json__begin_object(w);
		json__kv_uint(w, "pid", mb->pid);
		json__kv_uint(w, "tid", mb->tid);
		json__kv_strn(w, "comm", mb->comm, strnlen(mb->comm, TANGLE_COMM_LEN));
		json__kv_uint(w, "blocked_ns", mb->blocked_ns);
		json__kv_bool(w, "in_cycle", mb->in_cycle);
		const struct stack *st =
			names && names->stack && !g->resolved_ns ?
				names->stack(mb->pid, mb->tid, mb->wait.since_ns, names->ctx) :
				NULL;

		waits_on(w, mb, names);
		view_json__frames(w, "stack", st ? st->user : NULL, st ? st->nr_user : 0);
		view_json__frames(w, "kernel_stack", st ? st->kernel : NULL,
				  st ? st->nr_kernel : 0);
		json__end_object(w);
	}
	json__end_array(w);
	json__key(w, "edges");
	json__begin_array(w);
	for (size_t i = 0; i < g->nr_edges; i++) {
		json__begin_object(w);
		json__kv_uint(w, "from_tid", g->edges[i].from_tid);
		json__kv_uint(w, "to_tid", g->edges[i].to_tid);
		json__kv_str(w, "kind", lock_kind_name(g->edges[i].kind));
		json__kv_hex(w, "addr", g->edges[i].addr);
		json__end_object(w);
	}
	json__end_array(w);
	if (g->kind == GROUP_ABANDONED)
		json__kv_uint(w, "exited_owner_tid", g->dead_owner_tid);
	return view_json__end(w);
}
