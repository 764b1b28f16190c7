// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <inttypes.h>
#include <string.h>
#include "lockinfo.h"
#include "escape.h"
#include "report.h"
#include "stacks.h"
#include "symbols.h"

void format_duration(char *dst, size_t dstlen, uint64_t ns)
{
	if (ns < 1000000)
		snprintf(dst, dstlen, "%" PRIu64 " us", ns / 1000);
	else if (ns < 1000000000)
		snprintf(dst, dstlen, "%" PRIu64 " ms", ns / 1000000);
	else if (ns < UINT64_C(60000000000))
		snprintf(dst, dstlen, "%.2f s", ns / 1e9);
	else
		snprintf(dst, dstlen, "%" PRIu64 " min %" PRIu64 " s", ns / UINT64_C(60000000000),
			 ns / UINT64_C(1000000000) % 60);
}

static const struct stuck_member *member(const struct stuck_group *g, uint32_t tid)
{
	for (size_t i = 0; i < g->nr_members; i++)
		if (g->members[i].tid == tid)
			return &g->members[i];
	return NULL;
}

/* "mutex 0x55d0c0a010a0 <lock_a in app>", or with the region: "mutex 0x7f12a000 (heap)". */
static void lock_name(char *dst, size_t len, const struct stuck_member *mb,
		      const struct names *names)
{
	const struct addr_place *p =
		names && names->place ? names->place(mb->pid, mb->owner.lock_addr, names->ctx) :
					NULL;
	char place[1024], esc[2048];
	bool symbol = symbols__describe(p, place, sizeof(place));

	if (place[0]) {
		term_escape(esc, sizeof(esc), place, strlen(place));
		snprintf(dst, len, "%s 0x%" PRIx64 " %s%s%s", lock_kind_name(mb->owner.kind),
			 mb->owner.lock_addr, symbol ? "<" : "(", esc, symbol ? ">" : ")");
	} else {
		snprintf(dst, len, "%s 0x%" PRIx64, lock_kind_name(mb->owner.kind),
			 mb->owner.lock_addr);
	}
}

static void thread_name(char *dst, size_t len, uint32_t tid, const struct stuck_member *mb)
{
	char comm[4 * TANGLE_COMM_LEN + 1];

	if (!mb) {
		snprintf(dst, len, "thread %u", tid);
		return;
	}
	term_escape(comm, sizeof(comm), mb->comm, TANGLE_COMM_LEN);
	snprintf(dst, len, "thread %u \"%s\"", tid, comm);
}

/* Go-traceback-like: the function, then where, indented under it. */
static void report_stack(FILE *out, const struct stack *st)
{
	char fn[4 * sizeof(st->user[0].function)], where[4 * sizeof(st->user[0].file) + 64];

	for (size_t i = 0; i < st->nr_user; i++) {
		const struct frame *f = &st->user[i];

		if (f->function[0])
			term_escape(fn, sizeof(fn), f->function, sizeof(f->function));
		else
			snprintf(fn, sizeof(fn), "0x%" PRIx64, f->addr);
		fprintf(out, "        %s%s\n", fn, f->inlined ? " (inlined)" : "");
		if (f->file[0]) {
			term_escape(where, sizeof(where), f->file, sizeof(f->file));
			fprintf(out, "            %s:%d", where, f->line);
		} else {
			term_escape(where, sizeof(where), f->module, sizeof(f->module));
			fprintf(out, "            %s", where[0] ? where : "?");
		}
		if (f->inlined)
			fputc('\n', out);
		else
			fprintf(out, " +0x%" PRIx64 "\n", f->offset);
	}
}

static void report_member(FILE *out, const struct stuck_group *g, const struct stuck_member *mb,
			  const struct names *names)
{
	char who[128], owner[128], lock[2200], dur[32];

	thread_name(who, sizeof(who), mb->tid, mb);
	thread_name(owner, sizeof(owner), mb->owner.owner_tid, member(g, mb->owner.owner_tid));
	lock_name(lock, sizeof(lock), mb, names);
	format_duration(dur, sizeof(dur), mb->blocked_ns);
	fprintf(out, "  %s (pid %u) blocked %s%s\n", who, mb->pid,
		mb->wait.preblocked ? "at least " : "", dur);
	if (mb->owner.kind == LOCK_JOIN)
		fprintf(out, "      joining %s\n", owner);
	else if (mb->owner.state == OWNER_DEAD)
		fprintf(out, "      waiting for %s, whose owner thread %u has exited\n", lock,
			mb->owner.owner_tid);
	else
		fprintf(out, "      waiting for %s held by %s%s\n", lock, owner,
			mb->owner.owner_pid != mb->pid ? " (another process)" : "");
	if (names && names->stack) {
		const struct stack *st =
			names->stack(mb->pid, mb->tid, mb->wait.since_ns, names->ctx);

		if (st && st->nr_user)
			report_stack(out, st);
	}
}

void report__group(FILE *out, const struct stuck_group *g, const struct names *names)
{
	size_t ncycle = 0;

	if (g->resolved_ns) {
		fprintf(out, "tangle: stuck group %" PRIu64 " (%s) resolved\n", g->id,
			group_kind_name(g->kind));
		return;
	}
	for (size_t i = 0; i < g->nr_members; i++)
		ncycle += g->members[i].in_cycle;
	fprintf(out, "tangle: %s (group %" PRIu64 "): %zu thread%s can never proceed\n",
		g->kind == GROUP_DEADLOCK ? "DEADLOCK" : "ABANDONED LOCK", g->id, g->nr_members,
		g->nr_members == 1 ? "" : "s");
	if (g->kind == GROUP_DEADLOCK)
		fprintf(out, "  each thread of the cycle waits for something the next one holds\n");
	else
		fprintf(out, "  a lock they wait for was held by thread %u, which has exited\n",
			g->dead_owner_tid);
	fprintf(out, "\n");
	for (size_t i = 0; i < g->nr_members; i++)
		report_member(out, g, &g->members[i], names);
	if (g->kind == GROUP_DEADLOCK && ncycle) {
		char name[128], lock[2200];

		fprintf(out, "\n  cycle: ");
		for (size_t i = 0; i < ncycle; i++) {
			thread_name(name, sizeof(name), g->members[i].tid, &g->members[i]);
			lock_name(lock, sizeof(lock), &g->members[i], names);
			fprintf(out, "%s\n         -> %s\n         -> ", name, lock);
		}
		thread_name(name, sizeof(name), g->members[0].tid, &g->members[0]);
		fprintf(out, "%s\n", name);
	}
	if (ncycle < g->nr_members)
		fprintf(out, "\n  %zu of them wait, directly or not, on the %s\n",
			g->nr_members - ncycle, g->kind == GROUP_DEADLOCK ? "cycle" : "lost lock");
	fprintf(out, "\n");
	fflush(out);
}
