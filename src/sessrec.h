/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A session's recording and its replay (record.h holds the file format).
 *
 * Recording taps the session where its model and detectors are fed: ring
 * buffer records and scheduler state (through the consumer's tap), threads
 * and waits found in /proc, lock owners read from memory, lost waits, the
 * detector's ticks; and it keeps what views will need to name things later,
 * where each lock lives and the stack of each long wait, read while the
 * process is still there. Past --max-size the file rotates: FILE becomes
 * FILE.1 and a new FILE starts with the model as it stands (a checkpoint),
 * so either replays on its own.
 *
 * Replay feeds the same inputs, in the same order, to a session with no BPF
 * and no /proc; now_ns() follows the recording's clock. Used by session.c
 * only.
 */
#ifndef TANGLE_SESSREC_H
#define TANGLE_SESSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "consumer.h"
#include "godetect.h"
#include "model.h"
#include "procfs.h"

struct session;
struct sessrec;
struct addr_place;
struct stack;
struct rec_file_header;

/* Start recording to path (after attach, before /proc is read). 0 or -errno, logged. */
int sessrec__record(struct session *s, const char *path, uint64_t max_bytes);
void sessrec__thread(struct session *s, uint64_t ts, const struct procfs_thread *t);
void sessrec__wait(struct session *s, uint64_t ts, const struct procfs_thread *t,
		   const struct wait *w);
void sessrec__wait_lost(struct session *s, uint64_t ts, uint32_t tid);
/* Before the model takes it: recorded when it says something new, with its place and stack. */
void sessrec__owner(struct session *s, const struct thread *t, const struct lock_owner *o);
void sessrec__lost(struct session *s, uint64_t ts, const struct lost_report *l);
void sessrec__tick(struct session *s, uint64_t now);
/* After the views: the tick's records reach the file; rotate if due. */
void sessrec__tick_end(struct session *s, uint64_t now);

/* Open path for replay: 0 or -errno (logged). */
int sessrec__replay_open(struct session *s, const char *path);
/* Feed the whole recording (or up to the hooks' stop). 0, or -EBADMSG if damaged (logged). */
int sessrec__replay_run(struct session *s);
/*
 * Paced replay (the dashboard): once per timer tick, move playback on by the
 * wall time since the last, times the speed, and feed what it passed.
 */
int sessrec__replay_tick(struct session *s);
void sessrec__replay_pace(struct session *s, double speed, bool paused);
/* Feed everything up to recording time to (seeking forward). 0 or -EBADMSG. */
int sessrec__replay_forward(struct session *s, uint64_t to);
struct replay_status {
	uint64_t start_ns, now_ns; /* recording time */
	double speed;
	bool paused, ended, damaged;
};
void sessrec__replay_status(const struct session *s, struct replay_status *out);
/* The header of the recording being replayed, or written; NULL if neither. */
const struct rec_file_header *sessrec__header(const struct session *s);
const struct addr_place *sessrec__place(struct session *s, uint32_t pid, uint64_t addr);
const struct stack *sessrec__stack(struct session *s, uint32_t tid, uint64_t since_ns);
/* Replay: events decoded and lost, as consumer__stats() counts them live. */
void sessrec__replay_stats(const struct session *s, struct consumer_stats *out);

/* Write the end record and close (recording), or close (replay). Accepts no sessrec. */
void sessrec__close(struct session *s);

/*
 * Goroutines (sessrec_go.c). Recording: the detector's settings; each new
 * snapshot before it is judged, the evidence the detector is given on a
 * goroutine, the end of the judging; a process no longer tracked.
 */
void sessrec__go_opts(struct session *s, uint64_t stuck_after_ns, uint64_t growth_window_ns,
		      size_t growth_min);
void sessrec__go_snapshot(struct session *s, const struct go_process *gp);
void sessrec__go_verdict(struct session *s, const struct go_process *gp, const struct goroutine *g,
			 enum go_reach reach, const struct go_evidence *ev);
void sessrec__go_snapshot_end(struct session *s, uint32_t pid);
void sessrec__go_gone(struct session *s, uint32_t pid);
/* Replay: the evidence recorded on g of the snapshot being judged (UNKNOWN if none). */
enum go_reach sessrec__go_recorded_verdict(struct session *s, const struct go_process *gp,
					   const struct goroutine *g, struct go_evidence *ev);

/* Between sessrec.c and sessrec_go.c. */
struct recgo;
struct rec;
struct rec_cursor;
struct rec_writer;
struct frame;
struct rec_writer *sessrec__writer(struct session *s); /* NULL unless recording */
void sessrec__check_write(struct session *s, int err);
void sessrec__put_frames(struct rec_writer *w, const struct frame *f, size_t n);
void sessrec__get_frames(struct rec_cursor *c, struct frame *f, size_t n);
struct recgo **sessrec__go_state(struct session *s); /* NULL without a sessrec */
void sessrec_go__new_file(struct recgo *rg); /* a rotation: describe everything again */
bool sessrec_go__replay(struct session *s, const struct rec *rec); /* false: malformed */
void sessrec_go__free(struct recgo *rg);

#endif
