// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle top`: the dashboard. Two threads. The session's loop consumes
 * events; its 100 ms tick takes a model snapshot when the refresh interval
 * is due, SIGWINCH comes through its signalfd. The terminal thread owns
 * ncurses: it reads keys and draws the snapshot. Both hold top.lock while
 * they work (the loop around each callback), but the terminal thread lets
 * go of it to write to the terminal: a terminal that does not read (a
 * stalled ssh, Ctrl-S, a tmux pane on a slow link) blocks only that write,
 * and events go on being consumed and stuck groups found meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include "cmd.h"
#include "futex.h"
#include "goproc.h"
#include "gotrack.h"
#include "hmap.h"
#include "lockinfo.h"
#include "log.h"
#include "report.h"
#include "record.h"
#include "session.h"
#include "sessrec.h"
#include "stacks.h"
#include "symbols.h"
#include "tui/curses.h"
#include "tui/snapshot.h"

/* Semantic colours; each has a monochrome fallback. */
enum tone {
	TONE_NORMAL,
	TONE_HEADER, /* labels in the header */
	TONE_VALUE, /* figures in the header */
	TONE_TITLE, /* the column title row */
	TONE_SELECTED, /* the selected row */
	TONE_STUCK, /* stuck-group members */
	TONE_WARN, /* drops */
	TONE_TAB, /* the current view's tab */
	TONE_KEY, /* key names in the bottom bar */
	TONE_RUNNING,
	TONE_BLOCKED,
	TONE_DIM,
	TONE_MAX,
};

#define PLACECACHE_MAX 4096
#define PLACE_TTL_NS (5 * 1000000000ull)
#define PLACE_ELF_TTL_NS (60 * 1000000000ull)
#define MAX_EXPANDED 64 /* goroutine groups listed member by member at once */

#define REPLAY_SEEK_NS 10000000000ll
#define TOP_MSGS 8 /* messages kept to print after the dashboard */
#define MSG_SHOWN_NS (10 * 1000000000ull) /* in the bottom line, after the latest */
static const double refresh_steps[] = { 0.2, 0.5, 1, 2, 5, 10 };

struct top {
	struct session session;
	struct opts opts;
	struct snapshot *snap;
	enum view_id view;
	size_t sort_col[VIEW_MAX];
	bool sort_desc[VIEW_MAX];
	size_t sel[VIEW_MAX]; /* index into the visible rows */
	size_t scroll[VIEW_MAX]; /* first visible row shown */
	uint64_t sel_key[VIEW_MAX];
	size_t *visible;
	size_t nr_visible;
	char search[64];
	char filter[64];
	char input[64];
	int input_mode; /* 0, '/', '\\', 'L' (goroutine label) */
	char go_label[64]; /* Goroutines view: only goroutines with this label */
	bool go_system; /* Goroutines view: the runtime's own goroutines too */
	uint64_t expanded[MAX_EXPANDED]; /* goroutine groups shown with their members */
	size_t nr_expanded;
	uint32_t pid_limit;
	bool paused, detail, help, color, initialized;
	int refresh_step;
	uint64_t last_snap_ns;
	uint64_t last_rate_ns; /* when last_events was counted */
	uint64_t last_events;
	double events_per_s;
	char host[64];
	double speed; /* replay: playback speed */
	bool drawn_end; /* replay: the end of the recording is on screen */
	struct hmap *placecache; /* (pid, addr) -> struct place_entry */
	/* the terminal thread */
	pthread_mutex_t lock; /* everything above, and the session */
	pthread_t term;
	bool term_started;
	int wake_fd; /* eventfd: something to draw, or the end */
	bool dirty; /* a snapshot not drawn yet */
	bool resized; /* SIGWINCH */
	bool quit; /* atomic: the terminal thread ends */
	/* what tangle had to say while the dashboard owned the terminal */
	pthread_mutex_t msg_lock; /* messages come from either thread, locked or not */
	char msgs[TOP_MSGS][256]; /* the latest, a ring */
	uint64_t nr_msgs; /* ever */
	uint64_t msg_ns; /* when the latest came */
};

/* How long the end waits for a terminal write before leaving the terminal as it is. */
#define TERM_JOIN_NS 2000000000ull

static struct top *the_top; /* for the atexit handler only */

static attr_t tone(const struct top *t, enum tone k)
{
	static const attr_t mono[TONE_MAX] = {
		[TONE_HEADER] = A_BOLD,
		[TONE_TITLE] = A_REVERSE,
		[TONE_SELECTED] = A_REVERSE,
		[TONE_STUCK] = A_BOLD,
		[TONE_WARN] = A_BOLD | A_UNDERLINE,
		[TONE_TAB] = A_REVERSE,
		[TONE_KEY] = A_REVERSE,
		[TONE_DIM] = A_DIM,
	};

	if (!t->color)
		return mono[k];
	switch (k) {
	case TONE_HEADER:
		return COLOR_PAIR(TONE_HEADER) | A_BOLD;
	case TONE_VALUE:
		return COLOR_PAIR(TONE_VALUE) | A_BOLD;
	case TONE_STUCK:
	case TONE_WARN:
		return COLOR_PAIR(k) | A_BOLD;
	case TONE_NORMAL:
		return A_NORMAL;
	default:
		return COLOR_PAIR(k);
	}
}

static void init_colors(struct top *t)
{
	const char *no_color = getenv("NO_COLOR");

	t->color = has_colors() && !(no_color && *no_color);
	if (!t->color)
		return;
	start_color();
	use_default_colors();
	init_pair(TONE_HEADER, COLOR_CYAN, -1);
	init_pair(TONE_VALUE, COLOR_WHITE, -1);
	init_pair(TONE_TITLE, COLOR_BLACK, COLOR_GREEN);
	init_pair(TONE_SELECTED, COLOR_BLACK, COLOR_CYAN);
	init_pair(TONE_STUCK, COLOR_RED, -1);
	init_pair(TONE_WARN, COLOR_YELLOW, COLOR_RED);
	init_pair(TONE_TAB, COLOR_BLACK, COLOR_CYAN);
	init_pair(TONE_KEY, COLOR_BLACK, COLOR_CYAN);
	init_pair(TONE_RUNNING, COLOR_GREEN, -1);
	init_pair(TONE_BLOCKED, COLOR_YELLOW, -1);
	init_pair(TONE_DIM, COLOR_BLUE, -1);
}

/* ---- text ---- */

/* Draw UTF-8 text in width columns at (y, x), cut or padded; returns columns used. */
static int put_text(int y, int x, int width, const char *s, bool right, attr_t attr)
{
	wchar_t wbuf[512];
	mbstate_t st = { 0 };
	int used = 0, n = 0;

	if (width <= 0)
		return 0;
	while (*s && n < (int)(sizeof(wbuf) / sizeof(wbuf[0])) - 1) {
		wchar_t wc;
		size_t len = mbrtowc(&wc, s, strlen(s), &st);
		int w;

		if (len == (size_t)-1 || len == (size_t)-2 || len == 0) {
			wc = L'?';
			len = 1;
			memset(&st, 0, sizeof(st));
		}
		w = wcwidth(wc);
		if (w < 0)
			wc = L'?', w = 1;
		if (used + w > width)
			break;
		wbuf[n++] = wc;
		used += w;
		s += len;
	}
	/* cut short: say so with an ellipsis in the last column */
	if (*s && n > 0 && wcwidth(L'\u2026') == 1) {
		while (n > 0 && used + 1 > width)
			used -= wcwidth(wbuf[--n]);
		wbuf[n++] = L'\u2026';
		used++;
	}
	wbuf[n] = L'\0';
	attron(attr);
	if (right && used < width) {
		mvhline(y, x, ' ', width - used);
		mvaddnwstr(y, x + width - used, wbuf, n);
	} else {
		mvaddnwstr(y, x, wbuf, n);
		if (used < width)
			mvhline(y, x + used, ' ', width - used);
	}
	attroff(attr);
	return width;
}

static int put_fmt(int y, int x, attr_t attr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int put_fmt(int y, int x, attr_t attr, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int w;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	w = (int)strlen(buf);
	if (x >= COLS)
		return 0;
	put_text(y, x, w < COLS - x ? w : COLS - x, buf, false, attr);
	return w;
}

/*
 * ---- lock places, cached: reading maps and ELF files on every refresh would be the cost of
 * the dashboard. Entries expire, so that a stack that became another thread's, a running
 * thread's stack (anonymous memory until it blocks) or a pid reused by another program are
 * named right again soon; a place in an ELF file, the costly lookup, lives longer.
 */

struct place_entry {
	uint32_t pid;
	uint64_t addr;
	uint64_t at_ns;
	bool known;
	struct addr_place place; /* its strings follow the entry */
};

static char *place_copy(char **to, const char *s)
{
	char *at = *to;

	if (!s)
		return NULL;
	strcpy(at, s);
	*to += strlen(s) + 1;
	return at;
}

static struct place_entry *place_entry_new(uint32_t pid, uint64_t addr, uint64_t now,
					   const struct addr_place *p)
{
	size_t len = sizeof(struct place_entry);
	struct place_entry *e;
	char *to;

	if (p)
		len += (p->symbol ? strlen(p->symbol) + 1 : 0) +
		       (p->module ? strlen(p->module) + 1 : 0) +
		       (p->region ? strlen(p->region) + 1 : 0);
	e = calloc(1, len);
	if (!e)
		return NULL;
	e->pid = pid;
	e->addr = addr;
	e->at_ns = now;
	e->known = p;
	if (p) {
		to = (char *)(e + 1);
		e->place.symbol = place_copy(&to, p->symbol);
		e->place.module = place_copy(&to, p->module);
		e->place.region = place_copy(&to, p->region);
	}
	return e;
}

static void placecache_clear(struct hmap *h)
{
	uint64_t *keys = malloc(hmap__len(h) * sizeof(*keys) + 1);
	size_t it = 0, n = 0;
	uint64_t key;
	void *v;

	while (hmap__next(h, &it, &key, &v)) {
		free(v);
		if (keys)
			keys[n++] = key;
	}
	for (size_t i = 0; i < n; i++)
		hmap__del(h, keys[i]);
	free(keys);
}

static const struct addr_place *cached_place(uint32_t pid, uint64_t addr, void *ctx)
{
	struct top *t = ctx;
	uint64_t key = (addr * 0x9e3779b97f4a7c15ULL) ^ pid, now = now_ns();
	struct place_entry *e;

	if (!t->placecache)
		return NULL;
	e = hmap__get(t->placecache, key);
	if (e && (e->pid != pid || e->addr != addr ||
		  now - e->at_ns > (e->place.module ? PLACE_ELF_TTL_NS : PLACE_TTL_NS))) {
		hmap__del(t->placecache, key);
		free(e);
		e = NULL;
	}
	if (!e) {
		if (hmap__len(t->placecache) >= PLACECACHE_MAX)
			placecache_clear(t->placecache);
		e = place_entry_new(pid, addr, now, session__place(pid, addr, &t->session));
		if (!e || hmap__set(t->placecache, key, e)) {
			free(e);
			return NULL;
		}
	}
	return e->known ? &e->place : NULL;
}

static void placecache_free(struct hmap *h)
{
	if (!h)
		return;
	placecache_clear(h);
	hmap__free(h);
}

/* ---- rows ---- */

static uint64_t row_key(const struct snapshot *s, enum view_id v, size_t row)
{
	switch (v) {
	case VIEW_PROCESSES:
		return s->procs[row].pid;
	case VIEW_THREADS:
		return s->threads[row].tid;
	case VIEW_LOCKS:
		return s->locks[row].addr ^ ((uint64_t)s->locks[row].pid << 48);
	case VIEW_GOROUTINES:
		return s->gors[row].key ^
		       (s->gors[row].member ? s->gors[row].goid * 0x9e3779b97f4a7c15ULL : 0);
	default:
		return s->groups[row].id;
	}
}

/* Rows that pass the filter and the PID limit, in sorted order; keeps the selection on its row. */
static void update_visible(struct top *t)
{
	size_t n = t->snap ? view__nr_rows(t->snap, t->view) : 0;
	size_t *vis = realloc(t->visible, (n + 1) * sizeof(*vis));
	size_t k = 0;

	if (!vis)
		return;
	t->visible = vis;
	for (size_t i = 0; i < n; i++) {
		uint32_t pid = view__row_pid(t->snap, t->view, i);

		if (t->pid_limit && pid && pid != t->pid_limit)
			continue;
		if (!view__row_matches(t->snap, t->view, i, t->filter))
			continue;
		vis[k++] = i;
	}
	t->nr_visible = k;
	for (size_t i = 0; i < k; i++) {
		if (row_key(t->snap, t->view, vis[i]) == t->sel_key[t->view]) {
			t->sel[t->view] = i;
			return;
		}
	}
	if (t->sel[t->view] >= k)
		t->sel[t->view] = k ? k - 1 : 0;
}

static void remember_selection(struct top *t)
{
	if (t->nr_visible && t->sel[t->view] < t->nr_visible)
		t->sel_key[t->view] = row_key(t->snap, t->view, t->visible[t->sel[t->view]]);
}

static void resort(struct top *t)
{
	if (!t->snap)
		return;
	view__sort(t->snap, t->view, t->sort_col[t->view], t->sort_desc[t->view]);
	update_visible(t);
}

/* ---- goroutines, from the session's tracker ---- */

static const struct go_process *go_next(void *ctx, size_t *it)
{
	struct session *s = ctx;

	return gotrack__next(s->go, it);
}

static void go_frames(const struct go_process *gp, uint64_t pc, bool is_return, struct frame *out,
		      size_t max, size_t *n, void *ctx)
{
	(void)ctx;
	goproc__frames(gp->proc, pc, is_return, out, max, n);
}

static const struct go_group *go_stuck(void *ctx, size_t i)
{
	struct session *s = ctx;

	return s->godetect ? godetect__group(s->godetect, i) : NULL;
}

static void take_snapshot(struct top *t)
{
	struct session *s = &t->session;
	const struct consumer_stats *st = session__stats(s);
	struct snap_go_source go = {
		.next = go_next,
		.frames = go_frames,
		.ctx = s,
		.label = t->go_label,
		.system = t->go_system,
		.expanded = t->expanded,
		.nr_expanded = t->nr_expanded,
		.stuck = go_stuck,
	};
	uint64_t now = now_ns();
	struct snapshot *snap;

	snap = snapshot__take(s->model, s->detector, t->snap, now, cached_place, t,
			      s->go ? &go : NULL);
	if (!snap)
		return;
	/* a snapshot a key asked for comes early: the rate needs a longer stretch */
	if (!t->last_rate_ns || now - t->last_rate_ns >= 200000000ull) {
		if (t->last_rate_ns)
			t->events_per_s =
				(st->events - t->last_events) / ((now - t->last_rate_ns) / 1e9);
		t->last_events = st->events;
		t->last_rate_ns = now;
	}
	t->last_snap_ns = now;
	snapshot__free(t->snap);
	t->snap = snap;
	resort(t);
}

/* ---- drawing ---- */

static const char *const view_names[VIEW_MAX] = { "Processes", "Threads", "Locks", "Stuck",
						  "Goroutines" };

static void draw_header(struct top *t)
{
	const struct consumer_stats *st = session__stats(&t->session);
	const struct snapshot *s = t->snap;
	uint64_t drops = 0, up = now_ns() - t->session.start_ns;
	size_t stuck_threads = 0;
	char dur[32];
	int x = 0;

	for (int r = 0; r < TANGLE_DROP_MAX; r++)
		drops += st->drops[r];
	for (size_t i = 0; s && i < s->nr_groups; i++)
		stuck_threads += s->groups[i].go ? 0 : s->groups[i].nr_members;
	snap_duration(dur, sizeof(dur), up);
	move(0, 0);
	clrtoeol();
	x += put_fmt(0, x, tone(t, TONE_HEADER), "tangle %s", TANGLE_VERSION);
	if (t->opts.replay) {
		struct replay_status rs;

		session__replay_status(&t->session, &rs);
		x += put_fmt(0, x, tone(t, TONE_NORMAL), " replay of ");
		x += put_fmt(0, x, tone(t, TONE_VALUE), "%s", t->host);
		x += put_fmt(0, x, tone(t, TONE_NORMAL), "  at +");
		x += put_fmt(0, x, tone(t, TONE_VALUE), "%s", dur);
		x += put_fmt(0, x, tone(t, TONE_NORMAL), "  speed ");
		x += put_fmt(0, x, tone(t, TONE_VALUE), "x%g", rs.speed);
		if (rs.ended)
			x += put_fmt(0, x, tone(t, rs.damaged ? TONE_WARN : TONE_DIM), "  %s",
				     rs.damaged ? "END (damaged file)" : "END");
	} else {
		x += put_fmt(0, x, tone(t, TONE_NORMAL), " on ");
		x += put_fmt(0, x, tone(t, TONE_VALUE), "%s", t->host);
		x += put_fmt(0, x, tone(t, TONE_NORMAL), "  up ");
		x += put_fmt(0, x, tone(t, TONE_VALUE), "%s", dur);
	}
	x += put_fmt(0, x, tone(t, TONE_NORMAL), "  events/s ");
	x += put_fmt(0, x, tone(t, TONE_VALUE), "%.0f", t->events_per_s);
	x += put_fmt(0, x, tone(t, TONE_NORMAL), "  drops ");
	x += put_fmt(0, x, drops ? tone(t, TONE_WARN) : tone(t, TONE_VALUE), "%" PRIu64, drops);
	if (t->paused)
		put_fmt(0, x, tone(t, TONE_WARN), "  PAUSED");
	move(1, 0);
	clrtoeol();
	x = 0;
	x += put_fmt(1, x, tone(t, TONE_HEADER), "Threads ");
	x += put_fmt(1, x, tone(t, TONE_VALUE), "%zu", s ? s->nr_threads : 0);
	x += put_fmt(1, x, tone(t, TONE_NORMAL), ": ");
	x += put_fmt(1, x, tone(t, TONE_RUNNING), "%u running", s ? s->running : 0);
	x += put_fmt(1, x, tone(t, TONE_NORMAL), ", %u runnable, ", s ? s->runnable : 0);
	x += put_fmt(1, x, tone(t, TONE_BLOCKED), "%u blocked", s ? s->blocked : 0);
	x += put_fmt(1, x, tone(t, TONE_HEADER), "   Stuck ");
	if (!s || !s->nr_groups)
		x += put_fmt(1, x, tone(t, TONE_VALUE), "none");
	else if (stuck_threads && s->stuck_goroutines)
		x += put_fmt(1, x, tone(t, TONE_STUCK), "%zu groups, %zu threads, %zu goroutines",
			     s->nr_groups, stuck_threads, s->stuck_goroutines);
	else
		x += put_fmt(1, x, tone(t, TONE_STUCK), "%zu group%s, %zu %s", s->nr_groups,
			     s->nr_groups == 1 ? "" : "s",
			     stuck_threads ? stuck_threads : s->stuck_goroutines,
			     stuck_threads ? "threads" : "goroutines");
	if (s && s->go_processes) {
		x += put_fmt(1, x, tone(t, TONE_HEADER), "   Goroutines ");
		put_fmt(1, x, tone(t, TONE_VALUE), "%zu in %zu Go process%s", s->goroutines,
			s->go_processes, s->go_processes == 1 ? "" : "es");
	}
}

static void draw_tabs(struct top *t)
{
	int x = 0;

	move(2, 0);
	clrtoeol();
	for (int v = 0; v < VIEW_MAX; v++) {
		attr_t a = v == (int)t->view ? tone(t, TONE_TAB) : tone(t, TONE_NORMAL);

		x += put_fmt(2, x, a, " %d %s ", v + 1, view_names[v]);
		x += put_fmt(2, x, tone(t, TONE_NORMAL), " ");
	}
	if (t->pid_limit)
		x += put_fmt(2, x, tone(t, TONE_WARN), " pid %u ", t->pid_limit);
	if (t->filter[0])
		x += 1 + put_fmt(2, x + 1, tone(t, TONE_WARN), " filter: %s ", t->filter);
	if (t->view == VIEW_GOROUTINES && t->go_label[0])
		x += 1 + put_fmt(2, x + 1, tone(t, TONE_WARN), " label %s ", t->go_label);
	if (t->view == VIEW_GOROUTINES && t->go_system)
		put_fmt(2, x + 1, tone(t, TONE_WARN), " +runtime ");
}

/* Widths of the columns for the current terminal; the flexible one takes the rest. */
static void column_layout(const struct column *cols, size_t n, int *w)
{
	int fixed = 0, flex = -1;

	for (size_t c = 0; c < n; c++) {
		w[c] = cols[c].width;
		if (!w[c])
			flex = (int)c;
		fixed += w[c] + 1;
	}
	if (flex >= 0)
		w[flex] = COLS - fixed > 10 ? COLS - fixed : 10;
}

static attr_t row_tone(const struct top *t, size_t row, bool selected)
{
	const struct snapshot *s = t->snap;

	if (selected)
		return tone(t, TONE_SELECTED);
	switch (t->view) {
	case VIEW_THREADS:
		if (s->threads[row].group_id)
			return tone(t, TONE_STUCK);
		if (s->threads[row].state == TANGLE_TS_RUNNING)
			return tone(t, TONE_RUNNING);
		return tone(t, TONE_NORMAL);
	case VIEW_PROCESSES:
		return s->procs[row].stuck ? tone(t, TONE_STUCK) : tone(t, TONE_NORMAL);
	case VIEW_STUCK:
		return tone(t, TONE_STUCK);
	case VIEW_GOROUTINES:
		if (s->gors[row].error)
			return tone(t, TONE_WARN);
		if (strstr(s->gors[row].state, "(leaked)") ||
		    strstr(s->gors[row].state, "nil chan") ||
		    !strcmp(s->gors[row].state, "select (no cases)"))
			return tone(t, TONE_STUCK);
		if (!strcmp(s->gors[row].state, "running"))
			return tone(t, TONE_RUNNING);
		return s->gors[row].member ? tone(t, TONE_DIM) : tone(t, TONE_NORMAL);
	default:
		return tone(t, TONE_NORMAL);
	}
}

static void draw_table(struct top *t, int y0, int height)
{
	size_t ncols, *sel = &t->sel[t->view], *scroll = &t->scroll[t->view];
	const struct column *cols = view__columns(t->view, &ncols);
	int w[16], x = 0;
	char cell[1024];

	column_layout(cols, ncols, w);
	move(y0, 0);
	clrtoeol();
	attron(tone(t, TONE_TITLE));
	mvhline(y0, 0, ' ', COLS);
	attroff(tone(t, TONE_TITLE));
	for (size_t c = 0; c < ncols && x < COLS; c++) {
		bool sorted = c == t->sort_col[t->view];

		snprintf(cell, sizeof(cell), "%s%s", cols[c].title,
			 sorted ? (t->sort_desc[t->view] ? "v" : "^") : "");
		put_text(y0, x, w[c] < COLS - x ? w[c] : COLS - x, cell, cols[c].right,
			 tone(t, TONE_TITLE) | (sorted ? A_BOLD : 0));
		x += w[c] + 1;
	}
	height--;
	if (*sel < *scroll)
		*scroll = *sel;
	if (height > 0 && *sel >= *scroll + (size_t)height)
		*scroll = *sel - (size_t)height + 1;
	for (int i = 0; i < height; i++) {
		size_t vi = *scroll + (size_t)i;
		int y = y0 + 1 + i;

		move(y, 0);
		clrtoeol();
		if (!t->snap || vi >= t->nr_visible)
			continue;
		x = 0;
		attr_t a = row_tone(t, t->visible[vi], vi == *sel);

		if (vi == *sel) {
			attron(a);
			mvhline(y, 0, ' ', COLS);
			attroff(a);
		}
		for (size_t c = 0; c < ncols && x < COLS; c++) {
			view__cell(t->snap, t->view, t->visible[vi], c, cell, sizeof(cell));
			put_text(y, x, w[c] < COLS - x ? w[c] : COLS - x, cell, cols[c].right, a);
			x += w[c] + 1;
		}
	}
	if (!t->snap || !t->nr_visible)
		put_fmt(y0 + 2, 2, tone(t, TONE_DIM), "%s",
			t->view == VIEW_STUCK ? "No stuck threads." :
			t->view == VIEW_GOROUTINES && !t->session.go ?
						"Goroutines are not read (--no-goroutines)." :
			t->view == VIEW_GOROUTINES ? "No Go programs seen yet." :
						     "Nothing to show.");
}

/* The wait's stack, innermost first: function, then file:line or module. */
static void stack_lines(struct top *t, const struct thread_row *r, int row, int end)
{
	struct names n = session__names(&t->session);
	const struct stack *st = n.stack(r->pid, r->tid, r->wait.since_ns, n.ctx);
	char fn[192], where[300];

	if (!st || !st->nr_user) {
		if (row < end)
			put_fmt(row, 3, tone(t, TONE_DIM), "stack: not available");
		return;
	}
	for (size_t i = 0; i < st->nr_user && row < end; i++) {
		const struct frame *f = &st->user[i];

		term_escape(fn, sizeof(fn), f->function[0] ? f->function : "?",
			    sizeof(f->function));
		if (f->file[0]) {
			const char *base = strrchr(f->file, '/');

			term_escape(where, sizeof(where), base ? base + 1 : f->file,
				    sizeof(f->file));
			put_fmt(row++, 3, tone(t, TONE_NORMAL), "%-40s %s:%d%s", fn, where, f->line,
				f->inlined ? " (inlined)" : "");
		} else {
			const char *base = strrchr(f->module, '/');

			term_escape(where, sizeof(where), base ? base + 1 : f->module,
				    sizeof(f->module));
			put_fmt(row++, 3, tone(t, TONE_DIM), "%-40s %s+0x%llx", fn, where,
				(unsigned long long)f->offset);
		}
	}
}

/* As in the text report: "mutex 0x55d0c0a010a0 <lock_a in app>", "mutex 0x7f12a000 (heap)". */
static void detail_lock(char *buf, size_t len, enum lock_kind kind, uint64_t addr,
			const char *place, bool is_symbol)
{
	if (!place[0])
		snprintf(buf, len, "%s 0x%" PRIx64, lock_kind_name(kind), addr);
	else
		snprintf(buf, len, "%s 0x%" PRIx64 " %s%s%s", lock_kind_name(kind), addr,
			 is_symbol ? "<" : "(", place, is_symbol ? ">" : ")");
}

static void detail_thread(struct top *t, const struct thread_row *r, int y, int h)
{
	char dur[32], line[512];
	int row = y;

	put_fmt(row++, 1, tone(t, TONE_HEADER), "thread %u \"%s\" of pid %u, %s", r->tid, r->comm,
		r->pid, thread_state_name(r->state));
	if (r->goid)
		put_fmt(row++, 3, tone(t, TONE_NORMAL), "runs goroutine %" PRIu64 " (%s)", r->goid,
			r->go_func[0] ? r->go_func : "?");
	if (!r->waiting) {
		put_fmt(row++, 3, tone(t, TONE_NORMAL), "not in a futex wait");
		return;
	}
	snap_duration(dur, sizeof(dur), r->wait_ns);
	put_fmt(row++, 3, tone(t, TONE_NORMAL), "waiting %s%s in %s %s on 0x%" PRIx64 "%s",
		r->preblocked ? "at least " : "", dur, futex_sys_name(r->wait.sys),
		futex_op_name(r->wait.sys, r->wait.op), r->wait.addr,
		r->has_timeout ? ", with a timeout" : ", no timeout");
	if (r->owner.checked_ns) {
		detail_lock(line, sizeof(line), r->kind, r->addr, r->place, r->place_is_symbol);
		put_fmt(row++, 3, tone(t, TONE_NORMAL), "lock: %s%s", line,
			r->owner.pshared ? " (process-shared)" : "");
		if (r->owner.state == OWNER_LIVE)
			put_fmt(row++, 3, tone(t, TONE_NORMAL), "%s thread %u (pid %u)",
				r->kind == LOCK_JOIN ? "joining" : "held by", r->owner_tid,
				r->owner.owner_pid);
		else if (r->owner.state == OWNER_DEAD)
			put_fmt(row++, 3, tone(t, TONE_STUCK),
				"its owner, thread %u, has exited: the lock is abandoned",
				r->owner_tid);
		else if (r->owner.readers)
			put_fmt(row++, 3, tone(t, TONE_NORMAL), "held by readers");
		else
			put_fmt(row++, 3, tone(t, TONE_NORMAL),
				"no owner can be known (condition variable, semaphore, ...)");
	} else {
		put_fmt(row++, 3, tone(t, TONE_DIM), "owner not examined yet (waits > 100 ms are)");
	}
	if (r->group_id)
		put_fmt(row++, 3, tone(t, TONE_STUCK),
			"member of stuck group G%" PRIu64 " (see view 4)", r->group_id);
	stack_lines(t, r, row, y + h);
}

/* A goroutine group (or one goroutine): what it waits in, since when, its stack, its members. */
static void detail_goroutines(struct top *t, const struct gor_row *r, int y, int h)
{
	char dur[32];
	int row = y, end = y + h;

	if (r->error) {
		put_fmt(row++, 1, tone(t, TONE_HEADER), "process %u \"%s\"", r->pid, r->comm);
		put_fmt(row++, 3, tone(t, TONE_WARN), "its goroutines cannot be read: %s", r->site);
		return;
	}
	snap_duration(dur, sizeof(dur), r->wait_ns);
	if (r->member || r->count == 1)
		put_fmt(row++, 1, tone(t, TONE_HEADER),
			"goroutine %" PRIu64 " [%s, %s%s] of pid %u \"%s\"", r->goid, r->state,
			r->at_least ? "at least " : "", dur, r->pid, r->comm);
	else
		put_fmt(row++, 1, tone(t, TONE_HEADER),
			"%u goroutines [%s] of pid %u \"%s\", the longest %s%s", r->count, r->state,
			r->pid, r->comm, r->at_least ? "at least " : "", dur);
	if (!r->member && r->count > 1 && row < end)
		put_fmt(row++, 3, tone(t, TONE_NORMAL), "goids %s  (Right lists them)", r->goids);
	if (r->labels[0] && row < end)
		put_fmt(row++, 3, tone(t, TONE_NORMAL), "labels %s", r->labels);
	if (r->stack_unavailable && row < end)
		put_fmt(row++, 3, tone(t, TONE_DIM), "running on a thread now: stack unavailable");
	for (size_t i = 0; i < r->nr_frames && row < end; i++) {
		const struct gor_frame *f = &r->frames[i];

		put_fmt(row++, 3, tone(t, TONE_NORMAL), "%-48s %s%s", f->function, f->where,
			f->inlined ? " (inlined)" : "");
	}
	if (r->created[0] && row < end) {
		if (r->member && r->parent_goid)
			put_fmt(row++, 3, tone(t, TONE_DIM), "created by %s in goroutine %" PRIu64,
				r->created, r->parent_goid);
		else
			put_fmt(row++, 3, tone(t, TONE_DIM), "created by %s", r->created);
	}
}

static void draw_detail(struct top *t, int y, int h)
{
	const struct snapshot *s = t->snap;
	size_t row;

	attron(tone(t, TONE_TITLE));
	mvhline(y, 0, ' ', COLS);
	put_text(y, 1, COLS - 2, "Detail (Enter closes)", false, tone(t, TONE_TITLE));
	attroff(tone(t, TONE_TITLE));
	for (int i = 1; i < h; i++) {
		move(y + i, 0);
		clrtoeol();
	}
	if (!s || !t->nr_visible)
		return;
	row = t->visible[t->sel[t->view]];
	switch (t->view) {
	case VIEW_THREADS:
		detail_thread(t, &s->threads[row], y + 1, h - 1);
		break;
	case VIEW_GOROUTINES:
		detail_goroutines(t, &s->gors[row], y + 1, h - 1);
		break;
	case VIEW_PROCESSES: {
		const struct proc_row *p = &s->procs[row];
		int r = y + 1;

		put_fmt(r++, 1, tone(t, TONE_HEADER), "process %u \"%s\"", p->pid, p->comm);
		put_fmt(r++, 3, tone(t, TONE_NORMAL),
			"%u threads: %u running, %u runnable, %u blocked; %.0f%% of time blocked",
			p->threads, p->running, p->runnable, p->blocked, p->blocked_share * 100);
		put_fmt(r++, 3, p->stuck ? tone(t, TONE_STUCK) : tone(t, TONE_NORMAL),
			"%u threads in stuck groups (p limits the views to this process)",
			p->stuck);
		break;
	}
	case VIEW_LOCKS: {
		const struct lock_row *l = &s->locks[row];
		char tot[32], mx[32], line[SNAP_PLACE_LEN + 64];

		snap_duration(tot, sizeof(tot), l->total_ns);
		snap_duration(mx, sizeof(mx), l->max_ns);
		detail_lock(line, sizeof(line), l->kind, l->addr, l->place, l->place_is_symbol);
		put_fmt(y + 1, 1, tone(t, TONE_HEADER), "%s, pid %u", line, l->pid);
		put_fmt(y + 2, 3, tone(t, TONE_NORMAL),
			"%u waiting now; %" PRIu64 " waits, %s in total, longest %s", l->waiters,
			l->waits, tot, mx);
		break;
	}
	default: {
		const struct group_row *g = &s->groups[row];
		const char *p = g->chain;
		int r = y + 2;

		if (g->go) {
			put_fmt(y + 1, 1, tone(t, TONE_STUCK), "group G%" PRIu64 ": %s goroutines",
				g->id, go_group_kind_name(g->go_kind));
			put_text(y + 2, 3, COLS - 4, g->chain, false, tone(t, TONE_NORMAL));
			put_text(y + 3, 3, COLS - 4, g->members, false, tone(t, TONE_NORMAL));
			if (g->evidence[0])
				put_text(y + 4, 3, COLS - 4, g->evidence, false,
					 tone(t, TONE_NORMAL));
			put_fmt(y + 4 + !!g->evidence[0], 3, tone(t, TONE_DIM),
				"(view 5 shows their stacks)");
			break;
		}
		put_fmt(y + 1, 1, tone(t, TONE_STUCK), "group G%" PRIu64 ": %s, %zu threads: %s",
			g->id, group_kind_name(g->kind), g->nr_members, g->members);
		/* the chain, one hop per line */
		while (*p && r < y + h) {
			const char *next = strstr(p, "--> ");
			char hop[256];
			size_t n = next ? (size_t)(next - p) + 3 : strlen(p);

			snprintf(hop, sizeof(hop), "%.*s", (int)n, p);
			put_text(r++, 3, COLS - 4, hop, false, tone(t, TONE_NORMAL));
			p = next ? next + 4 : p + n;
		}
	}
	}
}

static const char *const help_lines[] = {
	"tangle top: what every thread waits on, who holds it, and who is stuck",
	"",
	"  1 2 3 4 5, Tab, S-Tab, F2  views: Processes, Threads, Locks, Stuck, Goroutines",
	"  Up Down PgUp PgDn Home End, j k   move the selection",
	"  Enter, F5      show or hide the detail pane of the selected row",
	"  /, F3          search (Enter jumps to the next match, n repeats)",
	"  \\, F4          filter rows by text (empty filter clears it)",
	"  < >, F6        sort by the previous / next column;  I  invert the order",
	"  p              limit to the selected row's process (p again: all)",
	"  Space          pause / resume updates",
	"  + -            refresh interval up / down;  Ctrl-L  redraw the whole screen",
	"Replay (tangle replay FILE top): Space pauses the playback too,",
	"  ] [            play faster / slower (x1/8 to x64)",
	"  } {            seek 10 s forward / back (in recording time)",
	"  ?, h, F1       this help",
	"  q, F10         quit",
	"Goroutines view (Go programs, read from their memory without stopping them):",
	"  Right, l / Left  list a group's goroutines / fold them again",
	"  L              only goroutines with a pprof label (key=value or key)",
	"  S              the runtime's own goroutines too (GC workers, ...)",
	"",
	"Stuck groups are threads that can never proceed: a cycle of waits (deadlock),",
	"or waits on a lock whose owner exited (abandoned), and all who wait on them.",
	"OWNER 'x1234': the owner thread has exited.  STUCK 'G1': member of group 1.",
	"",
	"Press any key to return.",
};

static void draw_help(struct top *t)
{
	erase();
	for (size_t i = 0; i < sizeof(help_lines) / sizeof(help_lines[0]) && (int)i < LINES; i++)
		put_text((int)i, 1, COLS - 2, help_lines[i], false,
			 i == 0 ? tone(t, TONE_HEADER) : tone(t, TONE_NORMAL));
}

static void draw_footer(struct top *t)
{
	static const char *const keys[][2] = {
		{ "F1", "Help" },   { "F2", "View" }, { "F3", "Search" }, { "F4", "Filter" },
		{ "F5", "Detail" }, { "F6", "Sort" }, { "Spc", "Pause" }, { "F10", "Quit" },
	};
	int y = LINES - 1, x = 0;

	move(y, 0);
	clrtoeol();
	if (t->input_mode) {
		put_fmt(y, 0, tone(t, TONE_KEY), "%s",
			t->input_mode == '/' ? "Search:" :
			t->input_mode == 'L' ? "Label:" :
					       "Filter:");
		put_fmt(y, 8, tone(t, TONE_NORMAL), "%s_", t->input);
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && x < COLS; i++) {
		x += put_fmt(y, x, tone(t, TONE_NORMAL), "%s", keys[i][0]);
		x += put_fmt(y, x, tone(t, TONE_KEY), "%-7s", keys[i][1]);
	}
	x += put_fmt(y, x, tone(t, TONE_DIM), " every %gs", refresh_steps[t->refresh_step]);
	pthread_mutex_lock(&t->msg_lock);
	if (t->nr_msgs && now_ns() - t->msg_ns < MSG_SHOWN_NS)
		put_text(y, x + 2, COLS - x - 2, t->msgs[(t->nr_msgs - 1) % TOP_MSGS], false,
			 tone(t, TONE_WARN));
	pthread_mutex_unlock(&t->msg_lock);
}

/* Into ncurses' picture of the screen only: the terminal thread writes it out unlocked. */
static void draw(struct top *t)
{
	int table_h;

	if (t->help) {
		draw_help(t);
		wnoutrefresh(stdscr);
		return;
	}
	draw_header(t);
	draw_tabs(t);
	table_h = LINES - 4;
	if (t->detail && table_h > 8) {
		int detail_h = table_h / 2 < 18 ? table_h / 2 : 18;

		draw_table(t, 3, table_h - detail_h);
		draw_detail(t, 3 + table_h - detail_h, detail_h);
	} else {
		draw_table(t, 3, table_h);
	}
	draw_footer(t);
	wnoutrefresh(stdscr);
}

/* ---- input ---- */

static void move_sel(struct top *t, long delta)
{
	long s = (long)t->sel[t->view] + delta;

	if (s >= (long)t->nr_visible)
		s = (long)t->nr_visible - 1;
	if (s < 0)
		s = 0;
	t->sel[t->view] = (size_t)s;
	remember_selection(t);
}

static void search_next(struct top *t, bool from_next)
{
	size_t n = t->nr_visible;

	if (!t->search[0] || !n || !t->snap)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t vi = (t->sel[t->view] + i + (from_next ? 1 : 0)) % n;

		if (view__row_matches(t->snap, t->view, t->visible[vi], t->search)) {
			t->sel[t->view] = vi;
			remember_selection(t);
			return;
		}
	}
	beep();
}

static void switch_view(struct top *t, int v)
{
	t->view = (enum view_id)((v + VIEW_MAX) % VIEW_MAX);
	resort(t);
}

/* Goroutines view: list the members of the selected group (on), or fold it (off). */
static void expand(struct top *t, bool on)
{
	const struct gor_row *r;
	size_t k = 0;

	if (t->view != VIEW_GOROUTINES || !t->snap || !t->nr_visible)
		return;
	r = &t->snap->gors[t->visible[t->sel[t->view]]];
	if (on && (r->member || r->count < 2 || r->expanded))
		return;
	if (!on && !r->expanded && !r->member)
		return;
	for (size_t i = 0; i < t->nr_expanded; i++)
		if (t->expanded[i] != r->key)
			t->expanded[k++] = t->expanded[i];
	t->nr_expanded = k;
	if (on) {
		if (t->nr_expanded == MAX_EXPANDED) /* the oldest is folded */
			memmove(t->expanded, t->expanded + 1, --t->nr_expanded * sizeof(uint64_t));
		t->expanded[t->nr_expanded++] = r->key;
	}
	t->sel_key[t->view] = r->key; /* the group row stays selected */
	take_snapshot(t);
}

static void input_key(struct top *t, int ch)
{
	size_t len = strlen(t->input);

	if (ch == 27) { /* Esc: cancel */
		t->input_mode = 0;
		return;
	}
	if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
		if (t->input_mode == '/') {
			snprintf(t->search, sizeof(t->search), "%s", t->input);
			search_next(t, false);
		} else if (t->input_mode == 'L') {
			snprintf(t->go_label, sizeof(t->go_label), "%s", t->input);
			take_snapshot(t);
		} else {
			snprintf(t->filter, sizeof(t->filter), "%s", t->input);
			update_visible(t);
		}
		t->input_mode = 0;
		return;
	}
	if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && len)
		t->input[len - 1] = '\0';
	else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(t->input))
		t->input[len] = (char)ch, t->input[len + 1] = '\0';
	if (t->input_mode == '\\') { /* filter as you type */
		snprintf(t->filter, sizeof(t->filter), "%s", t->input);
		update_visible(t);
	}
}

/* A search starts afresh; the filter prompt shows the filter in force, to edit. */
static void start_input(struct top *t, int mode)
{
	t->input_mode = mode;
	snprintf(t->input, sizeof(t->input), "%s",
		 mode == '/' ? "" :
		 mode == 'L' ? t->go_label :
			       t->filter);
}

/* Returns false to quit. */
static bool key(struct top *t, int ch)
{
	size_t ncols, page = LINES > 6 ? (size_t)LINES - 6 : 1;

	view__columns(t->view, &ncols);
	if (t->input_mode) {
		input_key(t, ch);
		return true;
	}
	if (t->help && ch != KEY_RESIZE) {
		t->help = false;
		return true;
	}
	switch (ch) {
	case 'q':
	case 'Q':
	case KEY_F(10):
		return false;
	case KEY_UP:
	case 'k':
		move_sel(t, -1);
		break;
	case KEY_DOWN:
	case 'j':
		move_sel(t, 1);
		break;
	case KEY_PPAGE:
		move_sel(t, -(long)page);
		break;
	case KEY_NPAGE:
		move_sel(t, (long)page);
		break;
	case KEY_HOME:
		move_sel(t, -(long)t->nr_visible);
		break;
	case KEY_END:
		move_sel(t, (long)t->nr_visible);
		break;
	case '\t':
	case KEY_F(2):
		switch_view(t, (int)t->view + 1);
		break;
	case KEY_BTAB:
		switch_view(t, (int)t->view - 1);
		break;
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
		switch_view(t, ch - '1');
		break;
	case KEY_RIGHT:
	case 'l':
		expand(t, true);
		break;
	case KEY_LEFT:
		expand(t, false);
		break;
	case 'L':
		if (t->view == VIEW_GOROUTINES)
			start_input(t, 'L');
		break;
	case 'S':
		if (t->view == VIEW_GOROUTINES) {
			t->go_system = !t->go_system;
			take_snapshot(t);
		}
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
	case KEY_F(5):
		t->detail = !t->detail;
		break;
	case '/':
	case KEY_F(3):
		start_input(t, '/');
		break;
	case 'n':
		search_next(t, true);
		break;
	case '\\':
	case KEY_F(4):
		start_input(t, '\\');
		break;
	case '>':
	case '.':
	case KEY_F(6):
		t->sort_col[t->view] = (t->sort_col[t->view] + 1) % ncols;
		resort(t);
		break;
	case '<':
	case ',':
		t->sort_col[t->view] = (t->sort_col[t->view] + ncols - 1) % ncols;
		resort(t);
		break;
	case 'I':
		t->sort_desc[t->view] = !t->sort_desc[t->view];
		resort(t);
		break;
	case 'p':
		if (t->pid_limit)
			t->pid_limit = 0;
		else if (t->snap && t->nr_visible)
			t->pid_limit = view__row_pid(t->snap, t->view, t->visible[t->sel[t->view]]);
		update_visible(t);
		break;
	case ' ':
		t->paused = !t->paused;
		if (t->opts.replay)
			session__replay_pace(&t->session, t->speed, t->paused);
		break;
	case ']':
	case '[':
		if (!t->opts.replay)
			break;
		t->speed = ch == ']' ? (t->speed < 64 ? t->speed * 2 : 64) :
				       (t->speed > 0.125 ? t->speed / 2 : 0.125);
		session__replay_pace(&t->session, t->speed, t->paused);
		break;
	case '}':
	case '{':
		if (!t->opts.replay)
			break;
		session__replay_seek(&t->session, ch == '}' ? REPLAY_SEEK_NS : -REPLAY_SEEK_NS);
		t->drawn_end = false;
		take_snapshot(t);
		break;
	case '+':
	case '=':
		if (t->refresh_step + 1 < (int)(sizeof(refresh_steps) / sizeof(refresh_steps[0])))
			t->refresh_step++;
		break;
	case '-':
		if (t->refresh_step > 0)
			t->refresh_step--;
		break;
	case '?':
	case 'h':
	case KEY_F(1):
		t->help = true;
		break;
	case 27:
		t->detail = false;
		t->input_mode = 0;
		break;
	case 'L' & 0x1f: /* Ctrl-L: the terminal was garbled (or missed output): all again */
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
	return true;
}

/* ---- the terminal thread ---- */

static void wake(struct top *t)
{
	uint64_t one = 1;

	if (write(t->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("waking the terminal thread: %s", strerror(errno));
}

static bool quitting(struct top *t)
{
	return __atomic_load_n(&t->quit, __ATOMIC_ACQUIRE);
}

/* With t->lock held: the terminal thread ends, and the session's loop at its next tick. */
static void quit(struct top *t)
{
	__atomic_store_n(&t->quit, true, __ATOMIC_RELEASE);
	if (t->session.loop)
		loop__stop(t->session.loop);
}

static void resize(struct top *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		resizeterm(ws.ws_row, ws.ws_col);
	clear();
}

/*
 * One round: the keys typed, a resize, a new snapshot, drawn under the lock
 * into ncurses' screen; then, unlocked, written to the terminal. getch() is
 * called only right after a write (it would write a window changed since).
 */
static void *terminal_thread(void *arg)
{
	struct top *t = arg;
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
			       { .fd = t->wake_fd, .events = POLLIN } };

	while (!quitting(t)) {
		int keys[64], n = 0, ch;
		uint64_t v;
		bool show;

		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if ((p[1].revents & POLLIN) && read(t->wake_fd, &v, sizeof(v)) < 0)
			v = 0;
		pthread_mutex_lock(&t->lock);
		if (quitting(t)) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			quit(t); /* the terminal went away */
			pthread_mutex_unlock(&t->lock);
			break;
		}
		while (n < (int)(sizeof(keys) / sizeof(keys[0])) && (ch = getch()) != ERR)
			keys[n++] = ch;
		for (int i = 0; i < n && !quitting(t); i++)
			if (!key(t, keys[i]))
				quit(t);
		if (t->resized) {
			t->resized = false;
			resize(t);
			n++;
		}
		show = !quitting(t) && (n || t->dirty);
		if (show)
			draw(t);
		t->dirty = false;
		pthread_mutex_unlock(&t->lock);
		if (show)
			doupdate();
	}
	return NULL;
}

/* After the session: the terminal thread told to end and joined, unless a write holds it. */
static bool stop_terminal(struct top *t)
{
	struct timespec until;

	if (!t->term_started)
		return true;
	pthread_mutex_lock(&t->lock);
	quit(t);
	pthread_mutex_unlock(&t->lock);
	wake(t);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(TERM_JOIN_NS / 1000000000ull);
	if (pthread_timedjoin_np(t->term, NULL, &until)) {
		/*
		 * Blocked writing to a terminal nobody reads: leave it as it is,
		 * and the lock held. Whatever is written from here on (a warning,
		 * a flush at exit) would block too, so stdout and stderr go to
		 * /dev/null; the write in progress keeps the terminal's file.
		 */
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		pthread_mutex_lock(&t->lock);
		t->initialized = false;
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
		return false;
	}
	t->term_started = false;
	return true;
}

static bool on_signal(struct session *s, int signo)
{
	struct top *t = s->hooks.ctx;

	t->resized = true;
	wake(t);
	return true;
}

static bool on_tick(struct session *s)
{
	struct top *t = s->hooks.ctx;
	uint64_t due = (uint64_t)(refresh_steps[t->refresh_step] * 1e9);

	struct replay_status rs = {};

	if (t->opts.replay)
		session__replay_status(s, &rs);
	if ((!t->paused && now_ns() - t->last_snap_ns >= due) || (rs.ended && !t->drawn_end)) {
		t->drawn_end = rs.ended;
		take_snapshot(t);
		t->dirty = true;
		wake(t);
	}
	return true;
}

static void on_start(struct session *s)
{
	struct top *t = s->hooks.ctx;
	int err;

	take_snapshot(t);
	t->dirty = true;
	loop__set_lock(s->loop, &t->lock);
	err = pthread_create(&t->term, NULL, terminal_thread, t);
	if (err) {
		log_error(err, "starting the terminal thread");
		loop__stop(s->loop);
		return;
	}
	t->term_started = true;
	wake(t);
}

/* log__set_sink() while the dashboard runs: kept, shown in the bottom line, printed at the end. */
static void on_log(void *ctx, const char *line)
{
	struct top *t = ctx;

	pthread_mutex_lock(&t->msg_lock);
	snprintf(t->msgs[t->nr_msgs++ % TOP_MSGS], sizeof(t->msgs[0]), "%s", line);
	t->msg_ns = now_ns();
	pthread_mutex_unlock(&t->msg_lock);
}

static void restore_terminal(void)
{
	struct top *t = the_top;

	if (!t || !t->initialized)
		return;
	endwin();
	t->initialized = false;
	log__set_sink(NULL, NULL);
	pthread_mutex_lock(&t->msg_lock);
	if (t->nr_msgs > TOP_MSGS)
		fprintf(stderr, "tangle: (%" PRIu64 " earlier messages not shown)\n",
			t->nr_msgs - TOP_MSGS);
	for (uint64_t i = t->nr_msgs > TOP_MSGS ? t->nr_msgs - TOP_MSGS : 0; i < t->nr_msgs; i++)
		fprintf(stderr, "%s\n", t->msgs[i % TOP_MSGS]);
	t->nr_msgs = 0;
	pthread_mutex_unlock(&t->msg_lock);
}

static int start_curses(struct top *t)
{
	setlocale(LC_ALL, "");
	if (!newterm(NULL, stdout, stdin)) {
		log_error(0, "cannot drive this terminal (TERM=%s)", getenv("TERM") ?: "unset");
		return -ENOTTY;
	}
	t->initialized = true;
	atexit(restore_terminal);
	log__set_sink(on_log, t); /* stderr is the dashboard's terminal now */
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	init_colors(t);
	return 0;
}

int cmd_top(int argc, char **argv)
{
	struct session_hooks hooks = { .on_tick = on_tick,
				       .on_signal = on_signal,
				       .on_start = on_start };
	struct top t = { .view = VIEW_THREADS, .refresh_step = 2, .wake_fd = -1 };
	struct session *s = &t.session;
	int err;

	err = opts__parse("top", argc, argv, &t.opts);
	if (err)
		return err > 0 ? 0 : 1;
	log__set_verbose(t.opts.verbose);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		log_error(0,
			  "tangle top needs a terminal; for a pipe or a file use 'tangle stream'");
		return 1;
	}
	for (int i = 0; i < (int)(sizeof(refresh_steps) / sizeof(refresh_steps[0])); i++)
		if (t.opts.interval_s >= refresh_steps[i])
			t.refresh_step = i;
	/* sensible first sorts: longest wait first, most waiters first */
	t.sort_col[VIEW_THREADS] = 4;
	t.sort_desc[VIEW_THREADS] = true;
	t.sort_col[VIEW_PROCESSES] = 7;
	t.sort_desc[VIEW_PROCESSES] = true;
	t.sort_col[VIEW_LOCKS] = 3;
	t.sort_desc[VIEW_LOCKS] = true;
	t.sort_col[VIEW_GOROUTINES] = 2; /* the biggest groups first, like pprof */
	t.sort_desc[VIEW_GOROUTINES] = true;
	gethostname(t.host, sizeof(t.host) - 1);
	pthread_mutex_init(&t.lock, NULL);
	pthread_mutex_init(&t.msg_lock, NULL);
	t.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t.wake_fd < 0) {
		log_error(errno, "eventfd");
		return 1;
	}
	t.speed = 1;
	t.placecache = hmap__new();
	the_top = &t;
	hooks.ctx = &t;
	s->extra_signal = SIGWINCH;
	/* attach before taking over the screen, so errors are readable */
	err = session__open(s, &t.opts, &hooks);
	/* like htop -p: the dashboard stays when the processes are gone */
	s->stop_when_pids_gone = false;
	if (!err && t.opts.replay) {
		snprintf(t.host, sizeof(t.host), "%s", sessrec__header(s)->hostname);
		session__replay_pace(s, t.speed, false);
	}
	if (!err)
		err = start_curses(&t);
	if (!err)
		err = session__run(s);
	if (!stop_terminal(&t)) {
		/* its thread is in a write and may draw again: nothing of ours is freed under it */
		the_top = NULL;
		session__close(s);
		log__set_sink(NULL, NULL);
		return err ? 1 : 0;
	}
	restore_terminal();
	the_top = NULL;
	session__close(s);
	snapshot__free(t.snap);
	free(t.visible);
	placecache_free(t.placecache);
	close(t.wake_fd);
	pthread_mutex_destroy(&t.lock);
	pthread_mutex_destroy(&t.msg_lock);
	return err ? 1 : 0;
}
