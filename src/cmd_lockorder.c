// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle lockorder -p PID`: an opt-in mode that watches one process's
 * pthread mutex and rwlock calls with uprobes and reports lock-order
 * inversions (potential deadlocks) as soon as the order that closes one is
 * taken, before anything hangs. Runs until -d SECONDS, Ctrl-C, or the
 * process exits. Exit 0: no inversion; 2: at least one; 1: error.
 *
 * Layers: lockplace (where to probe) -> lockprobe (BPF) -> lockgraph (the
 * graph and its cycles) -> view_lockorder (reports). This file only wires
 * them and unwinds the stacks that new edges bring.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cmd.h"
#include "consumer.h"
#include "escape.h"
#include "json.h"
#include "lockgraph.h"
#include "lockplace.h"
#include "lockprobe.h"
#include "log.h"
#include "loop.h"
#include "procfs.h"
#include "symbols.h"
#include "unwind.h"
#include "view_json.h"
#include "view_lockorder.h"

#define LO_STACK_FRAMES 32 /* frames kept per edge */
#define MAX_CYCLES_PER_EDGE 16
#define DEFAULT_MAX_EDGES 16384

struct edge_data {
	struct lo_edge_info info;
	struct lo_edge_key key;
};

struct lockorder {
	uint32_t pid;
	double duration_s;
	bool json;
	enum lo_placement how;
	size_t max_edges;
	const char *output;
	FILE *out;
	struct json_writer *w;
	char comm[LO_COMM_LEN + 1];
	struct lo_binary bin;
	struct lockprobe *probe;
	struct lockgraph *g;
	struct unwinder *uw;
	struct loop *loop;
	struct lo_lock_info *locks; /* by lock index, named lazily */
	bool *named;
	size_t cap_locks;
	uint64_t inversions, exits_held, graph_full, start_ns;
	struct lg_cycle cycles[MAX_CYCLES_PER_EDGE];
	int err;
};

static const char usage_text[] =
	"Usage: tangle lockorder -p PID [-d SECONDS] [--json] [-o FILE]\n"
	"\n"
	"Report lock-order inversions (potential deadlocks) of one running process:\n"
	"uprobes on the pthread mutex and rwlock functions of the libc it maps (or of\n"
	"the executable, if static) track the locks each thread holds; when two locks\n"
	"have been taken in both orders (A then B, and B then A), even at different\n"
	"times and without any hang, the cycle is reported with the stacks that took\n"
	"each order. Trylocks and timed locks that back off, recursive locking and\n"
	"read locks shared by readers are not reported.\n"
	"\n"
	"Opt-in and for one process: each lock and unlock call of that process pays\n"
	"a uprobe (about a microsecond; see docs/BENCHMARKS.md). Runs until\n"
	"-d SECONDS, Ctrl-C or the process exits. Exit 0: no inversion; 2: found; 1: error.\n"
	"\n"
	"Options:\n"
	"  -p, --pid PID            the process to watch (required)\n"
	"  -d, --duration SECONDS   stop after SECONDS\n"
	"  -o, --output FILE        write the report to FILE instead of stdout\n"
	"      --json               NDJSON records (lock_order_inversion, lock_held_at_exit,\n"
	"                           lockorder_summary; see docs/SCHEMA.md)\n"
	"      --probe-at WHERE     emulated (default): each uprobe on the first instruction\n"
	"                           the kernel emulates where that is safe; entry: on the\n"
	"                           functions' first instruction (to measure the difference)\n"
	"      --max-edges N        lock-order edges kept (default 16384)\n"
	"  -v, --verbose            say more (where each probe went); -vv: libbpf's log\n"
	"  -h, --help               this help\n"
	"\n"
	"Examples:\n"
	"  sudo tangle lockorder -p 1234 -d 60       # a minute of 1234's locking\n"
	"  sudo tangle lockorder -p 1234 --json | jq 'select(.type==\"lock_order_inversion\")'\n"
	"\n"
	"Go programs are not covered: sync.Mutex's fast path is inlined into every\n"
	"caller (no function to probe) and goroutines move between threads (see README).\n";

enum { OPT_JSON = 256, OPT_PROBE_AT, OPT_MAX_EDGES };

static int bad(const char *what, const char *arg)
{
	fprintf(stderr, "tangle lockorder: invalid %s: '%s'\nTry 'tangle lockorder --help'.\n",
		what, arg);
	return -EINVAL;
}

static int parse(struct lockorder *lo, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "probe-at", required_argument, NULL, OPT_PROBE_AT },
		{ "max-edges", required_argument, NULL, OPT_MAX_EDGES },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int verbose = 0, c;
	unsigned long v;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:o:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || !v || v > INT32_MAX)
				return bad("PID", optarg);
			if (lo->pid && lo->pid != v)
				return bad("PID (one process at a time)", optarg);
			lo->pid = (uint32_t)v;
			break;
		case 'd':
			lo->duration_s = strtod(optarg, &end);
			if (end == optarg || *end || !(lo->duration_s > 0) || lo->duration_s > 1e7)
				return bad("duration", optarg);
			break;
		case 'o':
			lo->output = optarg;
			break;
		case OPT_JSON:
			lo->json = true;
			break;
		case OPT_PROBE_AT:
			if (!strcmp(optarg, "entry"))
				lo->how = LO_PLACE_ENTRY;
			else if (!strcmp(optarg, "emulated"))
				lo->how = LO_PLACE_EMULATED;
			else
				return bad("--probe-at (entry or emulated)", optarg);
			break;
		case OPT_MAX_EDGES:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 16 || v > (1u << 22) || *optarg == '-')
				return bad("edge limit (16..4194304)", optarg);
			lo->max_edges = v;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 1;
		default:
			fputs(usage_text, stderr);
			return -EINVAL;
		}
	}
	if (optind < argc)
		return bad("argument", argv[optind]);
	if (!lo->pid) {
		fprintf(stderr, "tangle lockorder: which process? (-p PID)\n");
		return -EINVAL;
	}
	log__set_verbose(verbose);
	return 0;
}

/* The locks array covers every lock index of the graph. */
static bool grow_locks(struct lockorder *lo)
{
	size_t need = lockgraph__nr_locks(lo->g), cap = lo->cap_locks;
	struct lo_lock_info *l;
	bool *n;

	if (need <= cap)
		return true;
	while (cap < need)
		cap = cap ? 2 * cap : 64;
	l = realloc(lo->locks, cap * sizeof(*l));
	if (!l)
		return false;
	lo->locks = l;
	n = realloc(lo->named, cap * sizeof(*n));
	if (!n)
		return false;
	lo->named = n;
	memset(lo->named + lo->cap_locks, 0, (cap - lo->cap_locks) * sizeof(*n));
	memset(lo->locks + lo->cap_locks, 0, (cap - lo->cap_locks) * sizeof(*l));
	lo->cap_locks = cap;
	return true;
}

/* "lock_a", "heap", "stack of thread 12": what holds addr, while the process lives ("" if nothing). */
static void place_name(const struct lockorder *lo, uint64_t addr, char *dst, size_t len)
{
	struct addr_place_buf *pb = malloc(sizeof(*pb));

	dst[0] = 0;
	if (pb && !symbols__place("/proc", lo->pid, addr, pb) &&
	    (pb->place.symbol || pb->place.region))
		snprintf(dst, len, "%s", pb->place.symbol ? pb->place.symbol : pb->place.region);
	free(pb);
}

static void name_lock(struct lockorder *lo, uint32_t i)
{
	if (lo->named[i])
		return;
	lo->named[i] = true;
	place_name(lo, lockgraph__lock(lo->g, i)->addr, lo->locks[i].name,
		   sizeof(lo->locks[i].name));
}

/* The call at return address site, named now: its physical frame (addr only if unknown). */
static struct frame call_site(const struct lockorder *lo, uint64_t site)
{
	struct frame one[4], f = { .addr = site };
	size_t n = 0;

	if (site && !unwinder__symbolize(lo->uw, lo->pid, &site, 1, false, one, 4, &n) && n)
		f = one[n - 1];
	return f;
}

/*
 * The first physical frame past the lock call that runs held_at's function:
 * the frames after it are held_at's callers too (it took the first lock,
 * then went on to the second). 0 if it is not on the stack any more.
 */
static size_t held_callers(const struct lo_edge_info *in)
{
	const struct frame *h = &in->held_at;

	if (!h->addr || !h->function[0])
		return 0;
	for (size_t i = 1; i < in->nr_stack; i++) {
		const struct frame *f = &in->stack[i];

		if (!f->inlined && !strcmp(f->function, h->function) &&
		    !strcmp(f->module, h->module))
			return i + 1 < in->nr_stack ? i + 1 : 0;
	}
	return 0;
}

static void report(struct lockorder *lo, const struct lg_cycle *c)
{
	struct lo_view v = { .g = lo->g, .pid = lo->pid, .comm = lo->comm };

	if (!grow_locks(lo))
		return;
	for (size_t i = 0; i < c->nr; i++) {
		struct lg_edge *e = lockgraph__edge_mut(lo->g, c->edges[i]);
		struct edge_data *d = e->data;

		d->info.count = lockprobe__edge_count(lo->probe, &d->key);
		if (!d->info.count)
			d->info.count = 1;
	}
	v.locks = lo->locks;
	lo->inversions++;
	if (lo->w)
		view_lockorder__json(lo->w, now_ns(), &v, c, lo->inversions);
	else {
		view_lockorder__text(lo->out, &v, c);
		fflush(lo->out);
	}
}

static void on_edge(const struct lo_ev_edge *e, void *ctx)
{
	struct lockorder *lo = ctx;
	struct lg_lock fl = { .addr = e->from.addr, .gen = e->from.gen, .kind = e->from.kind };
	struct lg_lock tl = { .addr = e->to.addr, .gen = e->to.gen, .kind = e->to.kind };
	struct lg_edge ge = {
		.from_mode = e->from.mode,
		.to_mode = e->to.mode,
		.from_try = e->from.try_taken,
		.tid = e->hdr.tid,
		.ts_ns = e->hdr.ts_ns,
		.from_site = e->from.site,
		.nr_held = e->nr_held,
	};
	struct user_regs regs = {
		.ip = e->regs.ip,
		.sp = e->regs.sp,
		.bp = e->regs.bp,
		.bx = e->regs.bx,
		.r12 = e->regs.r12,
		.r13 = e->regs.r13,
		.r14 = e->regs.r14,
		.r15 = e->regs.r15,
		.valid = UREG_IP | UREG_SP | UREG_BP | UREG_BX | UREG_R12 | UREG_R13 | UREG_R14 |
			 UREG_R15,
	};
	struct stack_window win = { .base = e->regs.sp, .data = e->stack };
	struct frame *frames;
	struct edge_data *d;
	uint32_t idx;
	size_t n = 0;
	int nc;

	if (e->hdr.pid != lo->pid || e->from.mode > LO_MODE_READ || e->to.mode > LO_MODE_READ)
		return;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	memcpy(d->info.comm, e->hdr.comm, sizeof(d->info.comm));
	d->info.comm[LO_COMM_LEN - 1] = 0;
	d->key = (struct lo_edge_key){
		.from_addr = e->from.addr,
		.to_addr = e->to.addr,
		.from_gen = e->from.gen,
		.to_gen = e->to.gen,
		.from_mode = e->from.mode,
		.to_mode = e->to.mode,
	};
	ge.data = d;
	nc = lockgraph__add(lo->g, &fl, &tl, &ge, &idx, lo->cycles, MAX_CYCLES_PER_EDGE);
	if (nc < 0) {
		if (nc == -ENOSPC)
			lo->graph_full++;
		free(d);
		return;
	}
	/* named now, while the process surely lives: a report may come after it exited */
	if (grow_locks(lo)) {
		name_lock(lo, lockgraph__edge(lo->g, idx)->from);
		name_lock(lo, lockgraph__edge(lo->g, idx)->to);
	}
	/* unwound now, from the copy, and kept at its size (--max-edges bounds how many) */
	win.len = e->stack_bytes <= LO_USTACK_BYTES ? e->stack_bytes : LO_USTACK_BYTES;
	frames = calloc(UNWIND_MAX_FRAMES, sizeof(*frames));
	if (frames &&
	    !unwinder__unwind_window(lo->uw, lo->pid, e->hdr.tid, &regs, &win, frames,
				     UNWIND_MAX_FRAMES, &n) &&
	    n) {
		d->info.stack_truncated = unwinder__last_truncated(lo->uw) || n > LO_STACK_FRAMES;
		d->info.nr_stack = n < LO_STACK_FRAMES ? n : LO_STACK_FRAMES;
		d->info.stack = realloc(frames, d->info.nr_stack * sizeof(*frames)) ?: frames;
		frames = NULL;
	}
	free(frames);
	d->info.held_at = call_site(lo, e->from.site);
	d->info.held_callers = held_callers(&d->info);
	for (int i = 0; i < nc && i < MAX_CYCLES_PER_EDGE; i++)
		report(lo, &lo->cycles[i]);
}

/* The name found for a lock of the graph (the process may be gone by now). */
static bool known_name(const struct lockorder *lo, const struct lo_lock_ref *r, char *dst,
		       size_t len)
{
	struct lg_lock l = { .addr = r->addr, .gen = r->gen };
	int64_t i = lockgraph__lock_index(lo->g, &l);

	if (i < 0 || (size_t)i >= lo->cap_locks || !lo->locks[i].name[0])
		return false;
	snprintf(dst, len, "%s", lo->locks[i].name);
	return true;
}

static void on_exit_held(const struct lo_ev_exit_held *e, void *ctx)
{
	struct lockorder *lo = ctx;
	struct lo_exit_info x = { .pid = e->hdr.pid, .tid = e->hdr.tid, .held = e->held };
	struct frame at[LO_MAX_HELD];
	char names[LO_MAX_HELD][256];
	const char *np[LO_MAX_HELD];

	if (e->hdr.pid != lo->pid)
		return;
	memcpy(x.comm, e->hdr.comm, sizeof(x.comm));
	x.comm[LO_COMM_LEN - 1] = 0;
	x.nr = e->nr_held < LO_MAX_HELD ? e->nr_held : LO_MAX_HELD;
	for (size_t i = 0; i < x.nr; i++) {
		at[i] = call_site(lo, e->held[i].site);
		if (!known_name(lo, &e->held[i], names[i], sizeof(names[i])))
			place_name(lo, e->held[i].addr, names[i], sizeof(names[i]));
		np[i] = names[i];
	}
	x.held_at = at;
	x.names = np;
	lo->exits_held++;
	if (lo->w)
		view_lockorder__exit_json(lo->w, now_ns(), &x);
	else
		view_lockorder__exit_text(lo->out, &x);
}

static int on_ring(struct loop *l, void *ctx)
{
	struct lockorder *lo = ctx;
	int n = lockprobe__poll(lo->probe);

	if (n < 0 && n != -EINTR) {
		lo->err = n;
		loop__stop(l);
	}
	return 0;
}

static int on_gone(struct loop *l, void *ctx)
{
	struct lockorder *lo = ctx;

	lockprobe__poll(lo->probe);
	log_debug("pid %u exited", lo->pid);
	loop__stop(l);
	return 0;
}

static int on_timer(struct loop *l, void *ctx)
{
	struct lockorder *lo = ctx;

	lockprobe__poll(lo->probe);
	if (lo->duration_s && now_ns() - lo->start_ns >= (uint64_t)(lo->duration_s * 1e9))
		loop__stop(l);
	return 0;
}

static int on_signal(struct loop *l, int signo, void *ctx)
{
	loop__stop(l);
	return 0;
}

static void read_comm(struct lockorder *lo)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/comm", lo->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(lo->comm, sizeof(lo->comm), f))
		lo->comm[strcspn(lo->comm, "\n")] = 0;
	fclose(f);
}

static void probes_json(struct lockorder *lo)
{
	view_json__begin(lo->w, "lockorder_probes", now_ns());
	json__kv_uint(lo->w, "pid", lo->pid);
	json__kv_str(lo->w, "comm", lo->comm);
	json__kv_str(lo->w, "binary", lo->bin.shown);
	json__kv_str(lo->w, "placement", lo->how == LO_PLACE_ENTRY ? "entry" : "emulated");
	json__key(lo->w, "functions");
	json__begin_array(lo->w);
	for (int f = 0; f < LO_FN_NR; f++) {
		const struct lo_site *s = &lo->bin.fn[f];

		if (!s->found)
			continue;
		json__begin_object(lo->w);
		json__kv_str(lo->w, "function", lockplace__fn(f)->name);
		json__kv_hex(lo->w, "addr", s->vaddr);
		json__kv_uint(lo->w, "probe_offset", s->probe_off);
		json__kv_bool(lo->w, "emulated", s->emulated);
		json__kv_str(lo->w, "insn", s->insn[0] ? s->insn : NULL);
		json__kv_bool(lo->w, "uretprobe", lockplace__fn(f)->role == LO_ROLE_TRY);
		json__end_object(lo->w);
	}
	json__end_array(lo->w);
	view_json__end(lo->w);
}

static void summary(struct lockorder *lo)
{
	uint64_t st[LO_STAT_NR], now = now_ns();

	lockprobe__stats(lo->probe, st);
	if (lo->w) {
		view_json__begin(lo->w, "lockorder_summary", now);
		json__kv_uint(lo->w, "pid", lo->pid);
		json__kv_uint(lo->w, "duration_ns", now - lo->start_ns);
		json__kv_uint(lo->w, "inversions", lo->inversions);
		json__kv_uint(lo->w, "locks", lockgraph__nr_locks(lo->g));
		json__kv_uint(lo->w, "edges", lockgraph__nr_edges(lo->g));
		json__kv_uint(lo->w, "acquisitions", st[LO_STAT_ACQUIRE]);
		json__kv_uint(lo->w, "releases", st[LO_STAT_RELEASE]);
		json__kv_uint(lo->w, "unknown_releases", st[LO_STAT_UNKNOWN_RELEASE]);
		json__kv_uint(lo->w, "trylocks_failed", st[LO_STAT_TRY_FAILED]);
		json__kv_uint(lo->w, "lock_lifetimes", st[LO_STAT_GENERATIONS]);
		json__kv_uint(lo->w, "threads_exited_holding", lo->exits_held);
		json__kv_uint(lo->w, "held_overflow", st[LO_STAT_HELD_OVERFLOW]);
		json__kv_uint(lo->w, "edges_dropped", st[LO_STAT_EDGES_FULL] + lo->graph_full);
		json__kv_uint(lo->w, "events_lost", st[LO_STAT_EVENTS_LOST]);
		json__kv_uint(lo->w, "searches_truncated", lockgraph__truncated_searches(lo->g));
		view_json__end(lo->w);
		return;
	}
	fprintf(lo->out,
		"tangle lockorder: %" PRIu64 " inversion%s in %.1f s: %" PRIu64
		" lock calls, %zu locks, %zu lock orders seen\n",
		lo->inversions, lo->inversions == 1 ? "" : "s", (now - lo->start_ns) / 1e9,
		st[LO_STAT_ACQUIRE], lockgraph__nr_locks(lo->g), lockgraph__nr_edges(lo->g));
	if (st[LO_STAT_HELD_OVERFLOW])
		log_warn("%" PRIu64 " locks taken while %d were already held: no orders from them",
			 st[LO_STAT_HELD_OVERFLOW], LO_MAX_HELD);
	if (st[LO_STAT_EDGES_FULL] + lo->graph_full)
		log_warn("%" PRIu64 " lock orders not kept (--max-edges %zu reached)",
			 st[LO_STAT_EDGES_FULL] + lo->graph_full, lo->max_edges);
	if (st[LO_STAT_EVENTS_LOST])
		log_warn("%" PRIu64 " new lock orders lost (ring buffer full)",
			 st[LO_STAT_EVENTS_LOST]);
	if (st[LO_STAT_UNKNOWN_RELEASE])
		log_debug("%" PRIu64 " unlocks of locks taken before tangle attached",
			  st[LO_STAT_UNKNOWN_RELEASE]);
}

static int run(struct lockorder *lo)
{
	struct lockprobe_hooks hooks = { .on_edge = on_edge,
					 .on_exit_held = on_exit_held,
					 .ctx = lo };
	char comm[4 * sizeof(lo->comm)], shown[4 * PATH_MAX];
	size_t emulated = 0;
	sigset_t set;
	int pidfd, err;

	err = consumer__preflight_uprobes();
	if (err)
		return err;
	err = lockplace__find("/proc", lo->pid, lo->how, &lo->bin);
	if (err == -ESRCH) {
		log_error(ESRCH, "no process %u", lo->pid);
		return err;
	}
	if (err == -ENOENT) {
		log_error(ENOENT,
			  "process %u maps no file that defines pthread_mutex_lock (a Go program, "
			  "or a static binary without symbols?)",
			  lo->pid);
		return err;
	}
	if (err) {
		log_error(-err, "reading the maps of process %u", lo->pid);
		return err;
	}
	read_comm(lo);
	lo->g = lockgraph__new(lo->max_edges);
	lo->uw = unwinder__new("/proc");
	lo->loop = loop__new();
	if (!lo->g || !lo->uw || !lo->loop)
		return -ENOMEM;
	pidfd = (int)syscall(SYS_pidfd_open, (pid_t)lo->pid, 0);
	if (pidfd < 0) {
		err = -errno;
		log_error(-err, "watching process %u", lo->pid);
		return err;
	}
	lo->probe = lockprobe__open(lo->pid, &lo->bin, lo->max_edges, &hooks);
	if (!lo->probe) {
		err = -errno;
		close(pidfd);
		return err ? err : -EINVAL;
	}
	lo->start_ns = now_ns();
	for (int f = 0; f < LO_FN_NR; f++) {
		const struct lo_site *s = &lo->bin.fn[f];

		if (!s->found)
			continue;
		emulated += s->emulated;
		log_debug("%s: +0x%" PRIx64 " (%s)", lockplace__fn(f)->name, s->probe_off,
			  s->emulated ? s->insn : "single-stepped");
	}
	if (lo->w) {
		struct filter f = { .npids = 1, .pids = { lo->pid } };

		write_meta_live(lo->w, lo->start_ns, &f);
		probes_json(lo);
		json__flush(lo->w);
	}
	/* the process names itself, and the path is its own: both escaped for the terminal */
	term_escape(comm, sizeof(comm), lo->comm, sizeof(lo->comm));
	term_escape(shown, sizeof(shown), lo->bin.shown, sizeof(lo->bin.shown));
	fprintf(stderr,
		"tangle lockorder: watching pid %u (%s) through %s: %zu functions, %zu uprobes "
		"(%zu on emulated instructions); Ctrl-C to stop\n",
		lo->pid, comm, shown, lo->bin.nr_found, lockprobe__nr_probes(lo->probe), emulated);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (loop__add_fd(lo->loop, lockprobe__fd(lo->probe), on_ring, lo) ||
	    loop__add_fd(lo->loop, pidfd, on_gone, lo) ||
	    loop__add_timer(lo->loop, 100000000ull, on_timer, lo) ||
	    loop__add_signals(lo->loop, &set, on_signal, lo)) {
		close(pidfd);
		return -errno ? -errno : -EINVAL;
	}
	err = loop__run(lo->loop);
	lockprobe__poll(lo->probe);
	close(pidfd);
	if (!err)
		err = lo->err;
	if (!err)
		summary(lo);
	return err;
}

int cmd_lockorder(int argc, char **argv)
{
	struct lockorder lo = { .max_edges = DEFAULT_MAX_EDGES };
	int err;

	err = parse(&lo, argc, argv);
	if (err)
		return err > 0 ? 0 : 1;
	signal(SIGPIPE, SIG_IGN);
	lo.out = stdout;
	if (lo.output) {
		lo.out = fopen(lo.output, "we");
		if (!lo.out) {
			log_error(errno, "%s", lo.output);
			return 1;
		}
	}
	if (lo.json) {
		lo.w = json__new(lo.out);
		if (!lo.w) {
			log_error(errno, "json writer");
			return 1;
		}
		log__set_json(lo.w);
	}
	err = run(&lo);
	if (lo.w)
		json__flush(lo.w);
	log__set_json(NULL);
	lockprobe__close(lo.probe);
	if (lo.g)
		for (size_t i = 0; i < lockgraph__nr_edges(lo.g); i++) {
			struct edge_data *d = lockgraph__edge(lo.g, (uint32_t)i)->data;

			if (d)
				free(d->info.stack);
			free(d);
		}
	lockgraph__free(lo.g);
	unwinder__free(lo.uw);
	loop__free(lo.loop);
	free(lo.locks);
	free(lo.named);
	json__free(lo.w);
	if (lo.out != stdout && fclose(lo.out) && !err)
		err = -errno;
	if (err)
		return 1;
	return lo.inversions ? 2 : 0;
}
