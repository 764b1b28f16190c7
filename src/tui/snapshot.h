/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the dashboard shows, taken from the model at one instant: flat rows
 * per view, with every derived figure computed and every string already made
 * safe for a terminal. Plain C without curses or I/O (lock places come through
 * a callback), so views only draw and tests can check the figures.
 */
#ifndef TANGLE_TUI_SNAPSHOT_H
#define TANGLE_TUI_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "detect.h"
#include "escape.h"
#include "godetect.h"
#include "model.h"
#include "unwind.h"

struct go_process;
struct goroutine;

#define SNAP_NAME_LEN 64 /* escaped comm */
#define SNAP_PLACE_LEN 160 /* escaped "lock_a in app" or region, see symbols__describe() */

enum view_id {
	VIEW_PROCESSES,
	VIEW_THREADS,
	VIEW_LOCKS,
	VIEW_STUCK,
	VIEW_GOROUTINES,
	VIEW_MAX,
};

struct proc_row {
	uint32_t pid;
	char comm[SNAP_NAME_LEN];
	uint32_t threads;
	uint32_t running, runnable, blocked; /* blocked: S or D */
	double blocked_share; /* of the time its threads were tracked */
	uint64_t longest_wait_ns;
	uint32_t stuck;
	int32_t goroutines; /* -1: not a Go program (or not read yet) */
};

struct thread_row {
	uint32_t pid;
	uint32_t tid;
	char comm[SNAP_NAME_LEN];
	uint8_t state;
	bool waiting;
	enum lock_kind kind;
	uint64_t addr; /* the lock object when known, else the futex word */
	char place[SNAP_PLACE_LEN]; /* where it lives: "lock_a in app", "heap", or "" */
	bool place_is_symbol; /* place names an ELF symbol, not a region */
	uint32_t owner_tid; /* 0: none known */
	bool owner_exited;
	bool has_timeout;
	bool preblocked;
	uint64_t wait_ns;
	uint64_t group_id; /* 0: not in a stuck group */
	uint64_t goid; /* the goroutine it runs (Go programs), 0: none */
	char go_func[SNAP_NAME_LEN]; /* that goroutine's start function */
	struct wait wait;
	struct lock_owner owner;
};

struct lock_row {
	uint32_t pid;
	uint64_t addr;
	enum lock_kind kind;
	char place[SNAP_PLACE_LEN];
	bool place_is_symbol;
	uint32_t owner_tid;
	uint32_t waiters;
	double contentions_per_s;
	uint64_t waits;
	uint64_t total_ns;
	uint64_t max_ns;
};

struct group_row {
	uint64_t id;
	enum group_kind kind;
	bool go; /* a group of goroutines: go_kind, and chain says where they wait */
	enum go_group_kind go_kind;
	uint64_t age_ns;
	size_t nr_members;
	char chain[1024]; /* "1234 (worker) --mutex 0x...(a)--> 1235 (worker) --...--> 1234" */
	char members[512];
	char evidence[128]; /* goroutines judged stuck: what they wait on, and why it is stuck */
};

#define SNAP_GO_FRAMES 32 /* stack lines kept per goroutine row */
#define SNAP_GO_MEMBERS 1000 /* member rows listed per expanded group */

struct gor_frame {
	char function[SNAP_PLACE_LEN];
	char where[SNAP_PLACE_LEN]; /* "main.go:42", "" if unknown */
	bool inlined;
};

/*
 * The Goroutines view: per Go process, its goroutines grouped by state, wait
 * reason and blocking site (the innermost frame Go's traceback would show),
 * each group followed by its members when expanded. A process whose
 * goroutines cannot be read is one row saying why.
 */
struct gor_row {
	uint32_t pid;
	char comm[SNAP_NAME_LEN];
	uint64_t key; /* the group; its member rows carry it too */
	bool member; /* a goroutine of an expanded group */
	bool expanded; /* a group whose members follow */
	bool error; /* the process's goroutines cannot be read: site says why */
	uint32_t count; /* goroutines in the group (1 on member rows) */
	uint64_t goid; /* member rows, and groups of one */
	uint64_t parent_goid; /* member rows */
	char state[48]; /* "chan receive", "running", ... */
	uint64_t wait_ns; /* in that state; the longest of a group */
	bool at_least; /* already so when tangle first looked */
	char site[SNAP_PLACE_LEN]; /* "main.worker (main.go:42)" */
	char created[SNAP_PLACE_LEN]; /* "main.main (main.go:30)" */
	char labels[SNAP_PLACE_LEN]; /* "{k=v, k2=v2}", "" if none */
	char goids[SNAP_PLACE_LEN]; /* group rows: "12 13 14 ..." */
	/* the group's sort keys, on member rows too so that they sort with it */
	uint32_t group_count;
	uint64_t group_wait_ns;
	uint64_t group_goid; /* the goid of a group of one, else 0 (as GOID shows it) */
	/* the stack of the goroutine (member), or of the group's longest waiter */
	struct gor_frame *frames;
	size_t nr_frames;
	bool stack_unavailable; /* running on a thread right now */
};

struct snapshot {
	uint64_t ts_ns;
	struct proc_row *procs;
	size_t nr_procs;
	struct thread_row *threads;
	size_t nr_threads;
	struct lock_row *locks;
	size_t nr_locks;
	struct group_row *groups;
	size_t nr_groups;
	struct gor_row *gors;
	size_t nr_gors;
	/* header figures */
	uint32_t running, runnable, blocked;
	size_t go_processes, goroutines; /* goroutines: those the Goroutines view counts */
	size_t stuck_goroutines; /* in the goroutine groups of the Stuck view */
};

/* Where addr lives in pid (symbols.h), or NULL; valid until the next call. */
typedef const struct addr_place *(*snap_place_fn)(uint32_t pid, uint64_t addr, void *ctx);

/* Where the goroutines come from (gotrack.h in the dashboard, fakes in tests). */
struct snap_go_source {
	/* the Go processes: for (size_t it = 0; (gp = next(ctx, &it));) */
	const struct go_process *(*next)(void *ctx, size_t *it);
	/* the frames of pc in gp, innermost first (goproc__frames) */
	void (*frames)(const struct go_process *gp, uint64_t pc, bool is_return, struct frame *out,
		       size_t max, size_t *n, void *ctx);
	void *ctx;
	const char *label; /* "key=value" or "key": only goroutines with that label */
	bool system; /* the runtime's own goroutines too */
	const uint64_t *expanded; /* group keys whose members are listed */
	size_t nr_expanded;
	/* stuck goroutine groups (godetect.h), for the Stuck view: i-th, NULL past the end */
	const struct go_group *(*stuck)(void *ctx, size_t i);
};

/*
 * Take a snapshot. prev (may be NULL) is the previous snapshot, for rates;
 * go (may be NULL) the goroutines of Go programs.
 * Returns NULL and sets errno on failure.
 */
struct snapshot *snapshot__take(const struct model *m, const struct detector *d,
				const struct snapshot *prev, uint64_t now, snap_place_fn place,
				void *place_ctx, const struct snap_go_source *go);
void snapshot__free(struct snapshot *s);

/* Columns, shared by drawing and sorting: one table per view. */
struct column {
	const char *title;
	int width; /* 0: takes the rest of the line */
	bool right; /* right-aligned */
};

const struct column *view__columns(enum view_id v, size_t *n);
size_t view__nr_rows(const struct snapshot *s, enum view_id v);
/* Format cell (row, col) of view v into buf. */
void view__cell(const struct snapshot *s, enum view_id v, size_t row, size_t col, char *buf,
		size_t len);
/* Sort view v's rows by column col. */
void view__sort(struct snapshot *s, enum view_id v, size_t col, bool descending);
/* Does the row contain text (case-insensitive) in any of its cells? */
bool view__row_matches(const struct snapshot *s, enum view_id v, size_t row, const char *text);
/* The pid a row belongs to (0 for a stuck-group row spanning several). */
uint32_t view__row_pid(const struct snapshot *s, enum view_id v, size_t row);

void snap_duration(char *buf, size_t len, uint64_t ns);

#endif
