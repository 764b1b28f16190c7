/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A collection session, shared by stream, check and run: attach the BPF side,
 * take in what /proc shows is already blocked, then tick: drain events,
 * resolve the owners of long waits, run the detector, report drops, until the
 * duration ends, a signal arrives or the command's hook says stop.
 *
 * Order matters at start: BPF is attached before /proc is read, so nothing
 * that happens in between is missed; the model resolves the overlap.
 */
#ifndef TANGLE_SESSION_H
#define TANGLE_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include "consumer.h"
#include "detect.h"
#include "godetect.h"
#include "loop.h"
#include "model.h"
#include "opts.h"
#include "names.h"
#include "procfs.h"

struct session;

struct session_hooks {
	model_listener_fn on_change; /* every model change */
	detect_fn on_group; /* new, changed and resolved stuck groups */
	godetect_fn on_go_group; /* the same for goroutines (opts->goroutines) */
	/* drops counted by the kernel since the last call, one call per reason */
	void (*on_lost)(struct session *s, uint64_t ts, const struct lost_report *l);
	/* once the loop exists, before it runs: add sources to s->loop */
	void (*on_start)(struct session *s);
	/* after each batch of events read from the ring buffer, and each tick */
	void (*on_batch)(struct session *s);
	/* after each tick; return false to stop */
	bool (*on_tick)(struct session *s);
	/* a signal other than SIGINT/SIGTERM/SIGHUP (e.g. SIGCHLD); return false to stop */
	bool (*on_signal)(struct session *s, int signo);
	void *ctx;
};

struct session {
	struct opts *opts;
	struct session_hooks hooks;
	struct model *model;
	struct consumer *consumer;
	struct detector *detector;
	struct stacks *stacks;
	struct gotrack *go; /* goroutines of Go processes, when opts->goroutines */
	struct godetect *godetect; /* their stuck groups */
	struct goevidence *goevidence; /* what the stuck rule goes by */
	uint64_t start_ns;
	uint64_t deadline_ns; /* 0: none */
	uint64_t tick_ns;
	uint64_t last_sync_ns;
	uint64_t drops_reported[TANGLE_DROP_MAX];
	uint64_t *cpu_reported; /* [reason * nr_cpus + cpu], of consumer__cpu_drops() */
	struct lost_cpu *lost_cpus; /* report_drops()'s scratch, nr_cpus entries */
	uint64_t drops_recovered; /* ring-buffer drops after which lost waits were looked for */
	bool stop_when_pids_gone;
	int extra_signal; /* 0, or a signal routed to hooks.on_signal */
	struct loop *loop;
	/* start-up: what /proc showed, applied after the events since attach */
	struct procfs_thread *boot;
	size_t nr_boot;
	size_t cap_boot;
	struct hmap *boot_gone; /* tids that exited while bootstrapping */
	bool booting;
	/* recording (opts->record), or replaying (opts->replay): see sessrec.h */
	struct sessrec *rec;
	struct consumer_stats replay_stats;
	bool paced; /* replay at the recording's pace (the dashboard), not at once */
};

/*
 * Check PIDs exist, block the signals the loop will read, attach, and read
 * /proc. Returns 0 or -errno (already logged). What /proc showed enters the
 * model at the start of session__run, after the events since attach, so a
 * command can write its first record (meta) in between.
 */
int session__open(struct session *s, struct opts *o, const struct session_hooks *h);
/* Run the loop until something stops it; returns 0 or -errno. */
int session__run(struct session *s);
/* Drain what is pending (at the end of a run). */
void session__drain(struct session *s);
void session__close(struct session *s);
/* Resolve owners and run the detector now. */
void session__detect(struct session *s);
/*
 * Where addr lives in pid (symbol, module, region), read from /proc now; NULL
 * if the process or the mapping is gone. Valid until the next call. ctx: the
 * session (a replay answers from its recording), or NULL (/proc).
 */
const struct addr_place *session__place(uint32_t pid, uint64_t addr, void *ctx);
/* The stack taken for tid's wait since since_ns, if one was (never takes one). */
const struct stack *session__known_stack(struct session *s, uint32_t tid, uint64_t since_ns);
/*
 * Replay in the dashboard: play at speed (1: as recorded), or pause; call
 * before session__run. Seek by delta_ns of recording time (back: played
 * again from the start, at once). Where playback is: sessrec.h.
 */
void session__replay_pace(struct session *s, double speed, bool paused);
int session__replay_seek(struct session *s, int64_t delta_ns);
struct replay_status;
void session__replay_status(const struct session *s, struct replay_status *out);
/*
 * Replay: the recording has goroutines; track and judge them as it says
 * (sessrec_go.c, at the recording's REC_GO_OPTS). 0, or -ENOMEM (logged).
 */
int session__replay_goroutines(struct session *s, uint64_t stuck_after_ns,
			       uint64_t growth_window_ns, size_t growth_min);
/* How old a wait must be before the detector considers it. */
uint64_t session__min_wait_ns(const struct session *s);
/* Counters: the consumer's, or a replay's (events replayed, losses recorded). */
const struct consumer_stats *session__stats(struct session *s);
/* Lock places and stacks for views, backed by this session. */
struct names session__names(struct session *s);

#endif
