// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Test driver for src/goobj.c and src/goreach.c (tests/test_goreach.py).
 *
 *   goreach_driver [-n RUNS] [-b MAX_BYTES] [-o MAX_OBJECTS] PID
 *       takes a snapshot of PID's goroutines, finds what the blocked ones
 *       wait on (goobj__waits), judges it RUNS times (goreach__run; a
 *       verdict of "unreachable" must hold in every run) and prints, tab
 *       separated:
 *         info  go=VERSION goroutines=N waits=M heap_layout=dwarf|table
 *               heap_index=runtime.mheap_|runtime.findObject arenas_slot=0x..
 *               decoded_slot=0x.. stripped=0|1
 *         wait  GOID  REASON  KIND  OBJS(0x..,..|-)  HOW  VERDICT  ROOT
 *         state KIND  0xADDR  FIELD=VALUE ...     (goobj__read of each object)
 *         cost  run=I bytes_read=.. reads=.. objects_scanned=.. objects_marked=..
 *               objects_conservative=.. stacks=.. frames_precise=..
 *               frames_conservative=.. retries=.. promoted=.. late_roots=.. moved=..
 *               rounds=.. wall_us=.. cpu_us=.. incomplete=0|1 budget=0|1 why=CAUSE
 *         cost  snapshot_us=.. snapshot_cpu_us=.. waits_us=..
 *       (the cost lines come first, the snapshot's before the runs').
 *   goreach_driver --layout BINARY
 *       prints "layout FIELD TABLE ACTUAL" for every member of golayout_obj.h:
 *       the table's offset and golayout_obj__get's (DWARF where the binary
 *       describes the type, else the table's).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "gobin.h"
#include "golayout_obj.h"
#include "goobj.h"
#include "goproc.h"
#include "goreach.h"

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define F(name) { #name, offsetof(struct go_obj_layout, name) }

static const struct {
	const char *name;
	size_t off;
} fields[] = {
	F(g_panic),	   F(g_defer),	       F(defer_heap),	  F(defer_fn),
	F(defer_link),	   F(chan_qcount),     F(chan_dataqsiz),  F(chan_closed),
	F(chan_sendx),	   F(chan_recvx),      F(chan_recvq),	  F(chan_sendq),
	F(sudog_g),	   F(sudog_next),      F(sudog_prev),	  F(sudog_elem),
	F(sudog_parent),   F(sudog_waitlink),  F(sudog_c),	  F(semaroot_treap),
	F(semaroot_nwait), F(notify_wait),     F(notify_notify),  F(notify_head),
	F(mutex_state),	   F(mutex_sema),      F(rw_w),		  F(rw_writer_sem),
	F(rw_reader_sem),  F(rw_reader_count), F(rw_reader_wait), F(wg_state),
	F(wg_sema),	   F(cond_notify),     F(mheap_arenas),	  F(arena_spans),
	F(span_start),	   F(span_npages),     F(span_nelems),	  F(span_elemsize),
	F(span_state),	   F(span_class),      F(span_limit),	  F(md_pctab),
	F(md_pclntable),   F(md_ftab),	       F(md_text),	  F(md_etext),
	F(md_noptrdata),   F(md_enoptrdata),   F(md_data),	  F(md_edata),
	F(md_bss),	   F(md_ebss),	       F(md_noptrbss),	  F(md_enoptrbss),
	F(md_rodata),	   F(md_gofunc),       F(md_gcdatamask),  F(md_gcbssmask),
	F(span_largetype), F(type_size),       F(type_ptrbytes),  F(type_tflag),
	F(type_kind),	   F(type_gcdata),
};

/* The table's value and DWARF's (where the binary has the type) of every field. */
static int print_layout(const char *path)
{
	struct gobin *b = gobin__open(path);
	struct go_obj_layout t, d;
	int major, minor, patch;
	char why[256];

	if (!b) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!gobin__version_num(b, &major, &minor, &patch) || golayout_obj__table(minor, &t) ||
	    golayout_obj__get(b, &d, why, sizeof(why))) {
		fprintf(stderr, "%s: no layout\n", path);
		gobin__free(b);
		return 1;
	}
	printf("info go=%s source=%s\n", gobin__version(b), d.source);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		uint32_t tv, dv;

		memcpy(&tv, (char *)&t + fields[i].off, 4);
		memcpy(&dv, (char *)&d + fields[i].off, 4);
		printf("layout %s %u %u\n", fields[i].name, tv, dv);
	}
	gobin__free(b);
	return 0;
}

static void print_state(const struct go_obj_state *st)
{
	printf("state\t%s\t0x%" PRIx64 "\t", go_obj_kind_name(st->kind), st->addr);
	if (!st->ok) {
		printf("unreadable\n");
		return;
	}
	switch (st->kind) {
	case GO_KIND_CHAN:
		printf("qcount=%" PRIu64 " dataqsiz=%" PRIu64 " sendx=%" PRIu64 " recvx=%" PRIu64
		       " closed=%d recvq_empty=%d sendq_empty=%d\n",
		       st->chan.qcount, st->chan.dataqsiz, st->chan.sendx, st->chan.recvx,
		       st->chan.closed, st->chan.recvq_empty, st->chan.sendq_empty);
		break;
	case GO_KIND_MUTEX:
		printf("state=%d sema=%u\n", st->mutex.state, st->mutex.sema);
		break;
	case GO_KIND_RWMUTEX:
		printf("w_state=%d writer_sem=%u reader_sem=%u reader_count=%d reader_wait=%d\n",
		       st->rw.w_state, st->rw.writer_sem, st->rw.reader_sem, st->rw.reader_count,
		       st->rw.reader_wait);
		break;
	case GO_KIND_WAITGROUP:
		printf("counter=%d waiters=%u sema=%u\n", st->wg.counter, st->wg.waiters,
		       st->wg.sema);
		break;
	case GO_KIND_COND:
		printf("wait=%u notify=%u has_waiters=%d\n", st->cond.wait, st->cond.notify,
		       st->cond.has_waiters);
		break;
	case GO_KIND_SEMA:
		printf("count=%u\n", st->sema.count);
		break;
	default:
		printf("\n");
	}
}

static void print_states(struct goobj *o, const struct go_wait *waits, size_t n)
{
	struct go_obj_state st[64];
	size_t m = 0;

	for (size_t k = 0; k < n && m < 64; k++)
		for (uint32_t j = 0; j < waits[k].nr_objs && m < 64; j++)
			st[m++] = (struct go_obj_state){ .kind = waits[k].kind,
							 .addr = waits[k].objs[j] };
	if (goobj__read(o, st, m) < 0)
		return;
	for (size_t i = 0; i < m; i++)
		print_state(&st[i]);
}

static void print_cost(int run, const struct goreach_stats *c)
{
	char why[64];

	snprintf(why, sizeof(why), "%s", c->incomplete_why ? c->incomplete_why : "-");
	for (char *q = why; *q; q++)
		if (*q == ' ')
			*q = '_';
	printf("cost\trun=%d bytes_read=%" PRIu64 " reads=%" PRIu64 " objects_scanned=%" PRIu64
	       " objects_marked=%" PRIu64 " objects_conservative=%" PRIu64 " stacks=%" PRIu64
	       " frames_precise=%" PRIu64 " frames_conservative=%" PRIu64 " retries=%" PRIu64
	       " promoted=%" PRIu64 " late_roots=%" PRIu64 " rounds=%" PRIu64 " wall_us=%" PRIu64
	       " cpu_us=%" PRIu64 " incomplete=%d budget=%d why=%s\n",
	       run, c->bytes_read, c->reads, c->objects_scanned, c->objects_marked,
	       c->objects_conservative, c->stacks_scanned, c->frames_precise,
	       c->frames_conservative, c->stack_retries, c->promoted, c->late_roots, c->rounds,
	       c->wall_ns / 1000, c->cpu_ns / 1000, c->incomplete, c->budget_exhausted, why);
}

/* Combine the verdict of a later run: unreachable must hold every time. */
static void combine(struct goreach_result *acc, const struct goreach_result *now)
{
	if (acc->verdict == GOREACH_UNREACHABLE && now->verdict != GOREACH_UNREACHABLE)
		*acc = *now;
}

int main(int argc, char **argv)
{
	struct goreach_opts opts = { 0 };
	struct goproc *p = NULL;
	struct goobj *o = NULL;
	struct goreach *r = NULL;
	struct go_wait *waits = NULL;
	struct goreach_result *res = NULL, *acc = NULL;
	struct gosnap s = { 0 };
	size_t n = 0;
	uint64_t t0, t1;
	char why[256];
	int runs = 1, c, ret = 1;
	uint32_t pid;

	if (argc == 3 && !strcmp(argv[1], "--layout"))
		return print_layout(argv[2]);
	while ((c = getopt(argc, argv, "n:b:o:")) != -1) {
		switch (c) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 'b':
			opts.max_bytes = strtoull(optarg, NULL, 0);
			break;
		case 'o':
			opts.max_objects = strtoull(optarg, NULL, 0);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || runs < 1)
		goto usage;
	pid = (uint32_t)strtoul(argv[optind], NULL, 10);
	p = goproc__open("/proc", pid, why, sizeof(why));
	if (!p) {
		fprintf(stderr, "goproc: %s\n", why);
		goto out;
	}
	o = goobj__open("/proc", pid, why, sizeof(why));
	if (!o) {
		fprintf(stderr, "goobj: %s\n", why);
		goto out;
	}
	r = goreach__new(o, &opts, why, sizeof(why));
	if (!r) {
		fprintf(stderr, "goreach: %s\n", why);
		goto out;
	}
	if (goproc__snapshot(p, GOSNAP_ALL, &s, why, sizeof(why))) {
		fprintf(stderr, "snapshot: %s\n", why);
		goto out;
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	if (goobj__waits(o, &s, &waits, &n)) {
		fprintf(stderr, "waits failed\n");
		goto out;
	}
	t1 = now_ns(CLOCK_MONOTONIC);
	{
		uint64_t slot, decoded;
		const char *how = goreach__heap_index(r, &slot, &decoded);

		printf("info\tgo=%s goroutines=%zu waits=%zu heap_layout=%s heap_index=%s "
		       "arenas_slot=0x%" PRIx64 " decoded_slot=0x%" PRIx64 " stripped=%d\n",
		       goproc__version(p), s.n, n, goobj__layout(o)->source, how, slot, decoded,
		       goproc__stripped(p));
	}
	printf("cost\tsnapshot_us=%" PRIu64 " snapshot_cpu_us=%" PRIu64 " waits_us=%" PRIu64 "\n",
	       s.cost_ns / 1000, s.cpu_ns / 1000, (t1 - t0) / 1000);
	res = calloc(n + 1, sizeof(*res));
	acc = calloc(n + 1, sizeof(*acc));
	if (!res || !acc)
		goto out;
	for (int run = 0; run < runs; run++) {
		struct goreach_stats st;

		if (goreach__run(r, &s, waits, n, res, &st)) {
			fprintf(stderr, "goreach__run failed\n");
			goto out;
		}
		print_cost(run, &st);
		for (size_t k = 0; k < n; k++) {
			if (!run)
				acc[k] = res[k];
			else
				combine(&acc[k], &res[k]);
		}
		if (run + 1 < runs)
			usleep(100000);
	}
	for (size_t k = 0; k < n; k++) {
		const struct go_wait *w = &waits[k];
		const struct goroutine *g = &s.g[w->index];
		char objs[GO_WAIT_MAX_OBJS * 20] = "-";
		size_t off = 0;

		for (uint32_t j = 0; j < w->nr_objs && off + 20 < sizeof(objs); j++)
			off += (size_t)snprintf(objs + off, sizeof(objs) - off, "%s0x%" PRIx64,
						j ? "," : "", w->objs[j]);
		printf("wait\t%" PRIu64 "\t%s\t%s\t%s\t%s\t%s\t%s\n", g->goid,
		       g->wait_reason ? g->wait_reason : "?", go_obj_kind_name(w->kind), objs,
		       w->how && *w->how ? w->how : "-", goreach_verdict_name(acc[k].verdict),
		       acc[k].root[0] ? acc[k].root : "-");
	}
	print_states(o, waits, n);
	ret = 0;
out:
	free(res);
	free(acc);
	free(waits);
	gosnap__free(&s);
	goreach__free(r);
	goobj__free(o);
	goproc__free(p);
	return ret;
usage:
	fprintf(stderr,
		"usage: %s [-n RUNS] [-b MAX_BYTES] [-o MAX_OBJECTS] PID\n"
		"       %s --layout BINARY\n",
		argv[0], argv[0]);
	return 2;
}
