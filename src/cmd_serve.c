// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle serve`: the collector as a service, without a terminal. It serves
 * Prometheus text format at http://ADDR:PORT/metrics (src/metrics.c, over
 * libmicrohttpd driven from the session's own epoll loop: a scrape reads the
 * model between two batches of events, no lock, no thread), writes its
 * findings as NDJSON to a rotated file (-o) and to the readers of a Unix
 * socket (--socket), and runs a command for each new stuck group
 * (--on-stuck) with the group's JSON on stdin.
 *
 * The NDJSON of service mode is its findings: meta, stuck_group and
 * stuck_group_resolved (threads and goroutines), lost_events, error, and a
 * summary at exit; --all-events adds every event as `tangle
 * stream` writes it. Stuck-group records are never lost to a reader that
 * goes away: while no reader is connected they wait in a backlog (bounded,
 * SERVE_BACKLOG_RECORDS) that the next reader gets first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "view_go.h"
#include "view_json.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:9750"
#define SERVE_DEFAULT_MAX_SIZE (64ull << 20)
#define SERVE_MAX_CLIENTS 16
#define SERVE_CLIENT_SOFT (8u << 20) /* past it, a slow reader loses droppable records */
#define SERVE_CLIENT_HARD (64u << 20) /* past it, it is disconnected */
#define SERVE_BACKLOG_RECORDS 4096 /* kept for the next reader while none is connected */
#define SERVE_HOOKS 8 /* --on-stuck commands running at once */
#define SERVE_HOOK_TIMEOUT_NS (60 * 1000000000ull)
#define SERVE_EPS_WINDOW_NS (5 * 1000000000ull)

struct client {
	int fd;
	struct mbuf out;
	size_t off; /* written so far of out */
};

struct hook {
	pid_t pid; /* 0: free */
	uint64_t start_ns;
	uint64_t group_id;
};

struct serve {
	struct session session;
	struct opts opts;
	struct names names;
	struct json_writer *w;
	struct MHD_Daemon *http;
	int http_fd; /* its epoll fd, in the session's loop */
	/* -o FILE */
	FILE *file;
	uint64_t file_bytes;
	/* --socket PATH */
	int lfd, cep; /* listening socket; epoll of it and the clients */
	struct client clients[SERVE_MAX_CLIENTS];
	char *backlog[SERVE_BACKLOG_RECORDS]; /* ring of lines waiting for a reader */
	size_t backlog_len[SERVE_BACKLOG_RECORDS];
	size_t backlog_head, backlog_n;
	/* --on-stuck */
	struct hook hooks[SERVE_HOOKS];
	/* renders one record into cap: a group for --on-stuck, a reader's meta */
	struct json_writer *cap_w;
	struct mbuf cap;
	struct metrics_counters counters;
	uint64_t eps_events, eps_ns;
	double eps;
	bool writing; /* a record is being written: the sink's own errors are not re-logged */
};

static const char usage_text[] =
	"Usage: tangle serve [--listen ADDR:PORT] [-p PID]... [-c COMM] [-o FILE [--max-size SIZE]]\n"
	"                    [--socket PATH] [--on-stuck CMD] [--all-events] [--no-goroutines] [-v]\n"
	"\n"
	"Run as a service, without a terminal, until SIGTERM or SIGINT:\n"
	"  - Prometheus metrics at http://ADDR:PORT/metrics (default " SERVE_DEFAULT_LISTEN ";\n"
	"    ADDR: an IPv4 address, or * for all):\n"
	"    threads by state, futex wait time, contended locks, stuck groups and their\n"
	"    members by kind, goroutines by status and wait reason, tangle's own events,\n"
	"    drops, CPU and memory (README: Metrics lists them and their label bounds);\n"
	"  - its findings as NDJSON (stuck_group, stuck_group_resolved, lost_events,\n"
	"    error): to FILE, rotated to FILE.1 past SIZE (default 64M), and\n"
	"    to every reader of the Unix socket PATH (a reader that comes back gets the\n"
	"    stuck-group records it missed); --all-events adds every event, as tangle stream;\n"
	"  - for each new stuck group, /bin/sh -c CMD with the group's JSON on stdin\n"
	"    (TANGLE_GROUP_ID, TANGLE_GROUP_KIND, TANGLE_GROUP_OF in its environment).\n"
	"\n"
	"Examples:\n"
	"  sudo tangle serve                                  # metrics on 127.0.0.1:9750\n"
	"  sudo tangle serve --socket /run/tangle/events.sock -o /var/log/tangle/events.ndjson\n"
	"  sudo tangle serve --on-stuck 'gcore -o /var/crash/core $(jq -r .pids[0])'\n"
	"  socat - UNIX-CONNECT:/run/tangle/events.sock | jq 'select(.type==\"stuck_group\")'\n"
	"\n"
	"See deploy/ for a systemd unit, a container image and a Kubernetes DaemonSet.\n";

/* ---- the NDJSON outputs ---- */

static void rotate(struct serve *sv)
{
	char old[4096];

	snprintf(old, sizeof(old), "%s.1", sv->opts.output);
	fflush(sv->file);
	if (rename(sv->opts.output, old))
		log_warn("rotating %s: %s", sv->opts.output, strerror(errno));
	fclose(sv->file);
	sv->file = fopen(sv->opts.output, "ae");
	sv->file_bytes = 0;
	if (!sv->file) {
		log_error(errno, "reopening %s", sv->opts.output);
		return;
	}
	/* every file starts with meta: a reader of this one alone can still place ts_ns */
	if (sv->cap_w && !write_meta(sv->cap_w, &sv->session) &&
	    fwrite(sv->cap.p, 1, sv->cap.len, sv->file) == sv->cap.len)
		sv->file_bytes += sv->cap.len;
}

static void backlog_push(struct serve *sv, const char *line, size_t len)
{
	size_t slot = (sv->backlog_head + sv->backlog_n) % SERVE_BACKLOG_RECORDS;
	char *copy = malloc(len);

	if (!copy) {
		sv->counters.records_dropped++;
		return;
	}
	memcpy(copy, line, len);
	if (sv->backlog_n == SERVE_BACKLOG_RECORDS) { /* full: the oldest goes */
		free(sv->backlog[sv->backlog_head]);
		sv->backlog_head = (sv->backlog_head + 1) % SERVE_BACKLOG_RECORDS;
		sv->backlog_n--;
		sv->counters.records_dropped++;
		slot = (sv->backlog_head + sv->backlog_n) % SERVE_BACKLOG_RECORDS;
	}
	sv->backlog[slot] = copy;
	sv->backlog_len[slot] = len;
	sv->backlog_n++;
}

static size_t nr_clients(const struct serve *sv)
{
	size_t n = 0;

	for (int i = 0; i < SERVE_MAX_CLIENTS; i++)
		n += sv->clients[i].fd > 0;
	return n;
}

static void client_close(struct serve *sv, struct client *c)
{
	epoll_ctl(sv->cep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	mbuf__free(&c->out);
	c->fd = 0;
	c->off = 0;
}

/* Write what a client has pending, as far as its socket takes it now. */
static void client_flush(struct serve *sv, struct client *c)
{
	while (c->fd > 0 && c->off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->off, c->out.len - c->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			log_debug("socket reader gone: %s", n < 0 ? strerror(errno) : "closed");
			client_close(sv, c);
			return;
		}
		c->off += (size_t)n;
	}
	if (c->fd > 0 && c->off == c->out.len)
		c->off = c->out.len = 0;
}

static void client_append(struct serve *sv, struct client *c, const char *line, size_t len,
			  bool keep)
{
	size_t pending = c->out.len - c->off;

	if ((!keep && pending >= SERVE_CLIENT_SOFT) || pending >= SERVE_CLIENT_HARD) {
		sv->counters.records_dropped++;
		if (pending >= SERVE_CLIENT_HARD) {
			log_warn("a socket reader has not read %zu bytes: disconnected", pending);
			client_close(sv, c);
		}
		return;
	}
	if (c->off && c->off == c->out.len)
		c->off = c->out.len = 0;
	mbuf__printf(&c->out, "%.*s", (int)len, line);
}

/* json sink: every record to the file, to each reader, or (stuck groups) to the backlog. */
static int sink(void *ctx, const char *line, size_t len, bool keep)
{
	static const char group_type[] = "\"type\":\"stuck_group";
	struct serve *sv = ctx;
	bool any = false;

	sv->counters.records++;
	if (sv->file) {
		if (fwrite(line, 1, len, sv->file) != len) {
			sv->counters.records_dropped++;
			clearerr(sv->file);
		} else {
			sv->file_bytes += len;
			if (sv->opts.record_max_bytes &&
			    sv->file_bytes >= sv->opts.record_max_bytes)
				rotate(sv);
		}
	}
	for (int i = 0; i < SERVE_MAX_CLIENTS; i++) {
		struct client *c = &sv->clients[i];

		if (c->fd <= 0)
			continue;
		any = true;
		client_append(sv, c, line, len, keep);
	}
	/* stuck_group and stuck_group_resolved; the line is not NUL-terminated */
	if (!any && sv->lfd > 0 && keep && memmem(line, len, group_type, sizeof(group_type) - 1))
		backlog_push(sv, line, len);
	return 0;
}

static void flush_outputs(struct serve *sv)
{
	if (sv->file)
		fflush(sv->file);
	for (int i = 0; i < SERVE_MAX_CLIENTS; i++)
		if (sv->clients[i].fd > 0)
			client_flush(sv, &sv->clients[i]);
}

static void on_accept(struct serve *sv)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	struct client *c = NULL;
	int fd = accept4(sv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < SERVE_MAX_CLIENTS && !c; i++)
		if (sv->clients[i].fd <= 0)
			c = &sv->clients[i];
	if (!c) {
		log_warn("socket: %d readers already, one more refused", SERVE_MAX_CLIENTS);
		close(fd);
		return;
	}
	c->fd = fd;
	ev.data.fd = fd;
	epoll_ctl(sv->cep, EPOLL_CTL_ADD, fd, &ev);
	/* a reader starts with its own meta, then what it missed */
	if (sv->cap_w && !write_meta(sv->cap_w, &sv->session))
		client_append(sv, c, sv->cap.p, sv->cap.len, true);
	while (sv->backlog_n) {
		size_t h = sv->backlog_head;

		client_append(sv, c, sv->backlog[h], sv->backlog_len[h], true);
		free(sv->backlog[h]);
		sv->backlog[h] = NULL;
		sv->backlog_head = (h + 1) % SERVE_BACKLOG_RECORDS;
		sv->backlog_n--;
	}
	client_flush(sv, c);
	log_debug("socket reader %d connected (%zu now)", fd, nr_clients(sv));
}

static int on_sockets(struct loop *l, void *ctx)
{
	struct serve *sv = ctx;
	struct epoll_event evs[SERVE_MAX_CLIENTS + 1];
	int n = epoll_wait(sv->cep, evs, SERVE_MAX_CLIENTS + 1, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.fd == sv->lfd) {
			on_accept(sv);
			continue;
		}
		for (int k = 0; k < SERVE_MAX_CLIENTS; k++) {
			struct client *c = &sv->clients[k];
			char buf[512];

			if (c->fd != evs[i].data.fd)
				continue;
			ssize_t got = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

			/* readers only read: what they send is ignored, EOF or an error ends them */
			if ((got < 0 && errno != EAGAIN && errno != EINTR) || got == 0 ||
			    (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
				/* what it had not been sent yet waits for the next reader */
				log_debug("socket reader %d gone", c->fd);
				client_close(sv, c);
			}
		}
	}
	return 0;
}

static int open_socket(struct serve *sv, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct stat st;

	if (strlen(path) >= sizeof(a.sun_path)) {
		log_error(ENAMETOOLONG, "--socket %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, path);
	/* a socket left by an earlier run is replaced; anything else at that path is not */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error(EEXIST, "--socket %s: exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	sv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sv->lfd < 0 || bind(sv->lfd, (struct sockaddr *)&a, sizeof(a)) || chmod(path, 0660) ||
	    listen(sv->lfd, 8)) {
		int err = errno;

		log_error(err, "--socket %s", path);
		return -err;
	}
	sv->cep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = sv->lfd;
	if (sv->cep < 0 || epoll_ctl(sv->cep, EPOLL_CTL_ADD, sv->lfd, &ev))
		return -errno;
	return 0;
}

/* ---- /metrics ---- */

static void self_usage(double *cpu_s, uint64_t *rss)
{
	struct rusage ru;
	char line[256];
	FILE *f;

	*cpu_s = 0;
	*rss = 0;
	if (!getrusage(RUSAGE_SELF, &ru))
		*cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
			 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			*rss = strtoull(line + 6, NULL, 10) << 10;
	fclose(f);
}

static enum MHD_Result on_http(void *ctx, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_len, void **state)
{
	struct serve *sv = ctx;
	struct session *s = &sv->session;
	struct MHD_Response *r;
	struct mbuf b = {};
	enum MHD_Result ret;
	unsigned int status = MHD_HTTP_OK;
	const char *type = "text/plain; version=0.0.4; charset=utf-8";

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		mbuf__printf(&b, "only GET\n");
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (!strcmp(url, "/metrics")) {
		struct metrics_src src = {
			.model = s->model,
			.detector = s->detector,
			.go = s->go,
			.godetect = s->godetect,
			.stats = session__stats(s),
			.counters = &sv->counters,
			.now_ns = now_ns(),
			.start_ns = s->start_ns,
			.events_per_s = sv->eps,
		};

		sv->counters.scrapes++;
		self_usage(&src.cpu_s, &src.rss_bytes);
		metrics__render(&b, &src);
	} else if (!strcmp(url, "/")) {
		type = "text/html; charset=utf-8";
		mbuf__printf(&b,
			     "<html><body><h1>tangle %s</h1><p><a href=\"/metrics\">/metrics"
			     "</a></p></body></html>\n",
			     TANGLE_VERSION);
	} else {
		mbuf__printf(&b, "not found: /metrics is here\n");
		status = MHD_HTTP_NOT_FOUND;
	}
	if (b.oom) {
		mbuf__free(&b);
		return MHD_NO;
	}
	r = MHD_create_response_from_buffer(b.len, b.p ? b.p : (char *)"", MHD_RESPMEM_MUST_COPY);
	mbuf__free(&b);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int on_http_fd(struct loop *l, void *ctx)
{
	struct serve *sv = ctx;

	MHD_run(sv->http);
	return 0;
}

static int parse_listen(const char *arg, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(arg, ':');
	char *end;
	unsigned long port;

	if (!colon || (size_t)(colon - arg) >= sizeof(host))
		return -EINVAL;
	memcpy(host, arg, (size_t)(colon - arg));
	host[colon - arg] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
		return -EINVAL;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (!*host || !strcmp(host, "*"))
		a->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (!strcmp(host, "localhost"))
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int open_http(struct serve *sv)
{
	static struct sockaddr_in a;
	const union MHD_DaemonInfo *info;

	if (parse_listen(sv->opts.listen, &a)) {
		log_error(EINVAL, "--listen %s: expected ADDR:PORT (an IPv4 address, or *)",
			  sv->opts.listen);
		return -EINVAL;
	}
	sv->http = MHD_start_daemon(MHD_USE_EPOLL, ntohs(a.sin_port), NULL, NULL, on_http, sv,
				    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
				    MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT,
				    10u, MHD_OPTION_END);
	if (!sv->http) {
		log_error(errno ? errno : EADDRINUSE, "--listen %s: cannot serve HTTP there",
			  sv->opts.listen);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(sv->http, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info)
		return -EINVAL;
	sv->http_fd = info->epoll_fd;
	return 0;
}

/* ---- --on-stuck ---- */

static int capture(void *ctx, const char *line, size_t len, bool keep)
{
	struct mbuf *b = ctx;

	b->len = 0;
	mbuf__printf(b, "%.*s", (int)len, line);
	return 0;
}

static void reap_hooks(struct serve *sv, bool final)
{
	uint64_t now = now_ns();

	for (int i = 0; i < SERVE_HOOKS; i++) {
		struct hook *h = &sv->hooks[i];
		int status;
		pid_t r;

		if (!h->pid)
			continue;
		if (!final && now - h->start_ns > SERVE_HOOK_TIMEOUT_NS) {
			log_warn("--on-stuck for group %" PRIu64 " still runs after 60 s: killed",
				 h->group_id);
			kill(-h->pid, SIGKILL);
		}
		r = waitpid(h->pid, &status, final ? 0 : WNOHANG);
		if (r != h->pid)
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			sv->counters.hooks_failed++;
			log_warn("--on-stuck for group %" PRIu64 " failed (%s %d)", h->group_id,
				 WIFEXITED(status) ? "exit status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		}
		h->pid = 0;
	}
}

/* Run the hook with line on stdin; never blocks the collector. */
static void run_hook(struct serve *sv, uint64_t id, const char *kind, const char *of)
{
	struct hook *h = NULL;
	char env_id[64], env_kind[64], env_of[64];
	int fd;
	pid_t pid;

	for (int i = 0; i < SERVE_HOOKS && !h; i++)
		if (!sv->hooks[i].pid)
			h = &sv->hooks[i];
	sv->counters.hooks_run++;
	if (!h) {
		sv->counters.hooks_failed++;
		log_warn("--on-stuck: %d commands still running, not run for group %" PRIu64,
			 SERVE_HOOKS, id);
		return;
	}
	/* the JSON goes in a memfd: the child reads it at its pace, we never block on a pipe */
	fd = memfd_create("tangle-group", MFD_CLOEXEC);
	if (fd < 0 || write(fd, sv->cap.p, sv->cap.len) != (ssize_t)sv->cap.len ||
	    lseek(fd, 0, SEEK_SET)) {
		sv->counters.hooks_failed++;
		log_error(errno, "--on-stuck: the group's JSON");
		if (fd >= 0)
			close(fd);
		return;
	}
	snprintf(env_id, sizeof(env_id), "TANGLE_GROUP_ID=%" PRIu64, id);
	snprintf(env_kind, sizeof(env_kind), "TANGLE_GROUP_KIND=%s", kind);
	snprintf(env_of, sizeof(env_of), "TANGLE_GROUP_OF=%s", of);
	pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls from here: the collector may have threads */
		setpgid(0, 0);
		/* the command gets none of tangle's ambient capabilities (a unit's CAP_BPF...) */
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		dup2(fd, STDIN_FILENO);
		putenv(env_id);
		putenv(env_kind);
		putenv(env_of);
		execl("/bin/sh", "sh", "-c", sv->opts.on_stuck, (char *)NULL);
		_exit(127);
	}
	close(fd);
	if (pid < 0) {
		sv->counters.hooks_failed++;
		log_error(errno, "--on-stuck: fork");
		return;
	}
	h->pid = pid;
	h->start_ns = now_ns();
	h->group_id = id;
}

/* ---- the session ---- */

static void on_group(const struct stuck_group *g, void *ctx)
{
	struct serve *sv = ctx;

	view_json__stuck_group(sv->w, g, &sv->names);
	if (g->resolved_ns || g->revision)
		return;
	if (g->kind <= GROUP_ABANDONED)
		sv->counters.groups[g->kind]++;
	if (sv->opts.on_stuck && sv->cap_w && !view_json__stuck_group(sv->cap_w, g, &sv->names)) {
		run_hook(sv, g->id, group_kind_name(g->kind), "threads");
	}
}

static void on_go_group(const struct go_group *g, const struct go_process *gp, void *ctx)
{
	struct serve *sv = ctx;

	view_go__stuck_json(sv->w, g, gp);
	if (g->resolved_ns || g->revision)
		return;
	if (g->kind <= GO_GROUP_GROWING)
		sv->counters.go_groups[g->kind]++;
	if (sv->opts.on_stuck && sv->cap_w && !view_go__stuck_json(sv->cap_w, g, gp)) {
		run_hook(sv, g->id, go_group_kind_name(g->kind), "goroutines");
	}
}

static void on_change(const struct model_event *ev, void *ctx)
{
	struct serve *sv = ctx;

	if (ev->kind == MC_WAIT_END) {
		sv->counters.waits++;
		sv->counters.wait_ns += ev->blocked_ns;
	}
	if (sv->opts.all_events)
		view_json__change(sv->w, ev, false, NULL);
}

static void on_lost(struct session *s, uint64_t ts, const struct lost_report *l)
{
	struct serve *sv = s->hooks.ctx;

	view_json__lost(sv->w, ts, drop_reason_name(l->reason), l);
}

static void on_start(struct session *s)
{
	struct serve *sv = s->hooks.ctx;

	if (sv->lfd > 0 && loop__add_fd(s->loop, sv->cep, on_sockets, sv))
		log_error(ENOSPC, "socket: no room in the event loop");
	if (loop__add_fd(s->loop, sv->http_fd, on_http_fd, sv))
		log_error(ENOSPC, "http: no room in the event loop");
}

static void on_batch(struct session *s)
{
	flush_outputs(s->hooks.ctx);
}

static bool on_tick(struct session *s)
{
	struct serve *sv = s->hooks.ctx;
	uint64_t now = now_ns(), events = session__stats(s)->events;

	if (sv->http)
		MHD_run(sv->http); /* its timeouts */
	reap_hooks(sv, false);
	flush_outputs(sv);
	if (!sv->eps_ns) {
		sv->eps_ns = now;
		sv->eps_events = events;
	} else if (now - sv->eps_ns >= SERVE_EPS_WINDOW_NS) {
		sv->eps = (events - sv->eps_events) / ((now - sv->eps_ns) / 1e9);
		sv->eps_ns = now;
		sv->eps_events = events;
	}
	return true;
}

static int serve_parse(struct serve *sv, int argc, char **argv)
{
	int err;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 1;
		}
	err = opts__parse("serve", argc, argv, &sv->opts);
	if (err)
		return err;
	if (!sv->opts.listen)
		sv->opts.listen = SERVE_DEFAULT_LISTEN;
	if (!sv->opts.max_size_set)
		sv->opts.record_max_bytes = SERVE_DEFAULT_MAX_SIZE;
	if (sv->opts.record || sv->opts.replay || sv->opts.json || sv->opts.stacks) {
		fprintf(stderr, "tangle serve: --record, --replay, --json and --stacks are not for "
				"serve (its stream is NDJSON already)\n");
		return -EINVAL;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	struct session_hooks hooks = {
		.on_change = on_change,
		.on_group = on_group,
		.on_go_group = on_go_group,
		.on_lost = on_lost,
		.on_start = on_start,
		.on_batch = on_batch,
		.on_tick = on_tick,
	};
	struct serve *sv = calloc(1, sizeof(*sv));
	struct session *s;
	int err;

	if (!sv)
		return 1;
	s = &sv->session;
	err = serve_parse(sv, argc, argv);
	if (err) {
		free(sv);
		return err > 0 ? 0 : 1;
	}
	log__set_verbose(sv->opts.verbose);
	signal(SIGPIPE, SIG_IGN);
	sv->w = json__new(stdout);
	if (!sv->w) {
		log_error(errno, "json writer");
		free(sv);
		return 1;
	}
	json__set_sink(sv->w, sink, sv);
	log__set_json(sv->w);
	sv->cap_w = json__new(stdout);
	if (!sv->cap_w) {
		log_error(errno, "json writer");
		err = -ENOMEM;
		goto out;
	}
	json__set_sink(sv->cap_w, capture, &sv->cap);
	if (sv->opts.output) {
		struct stat st;

		sv->file = fopen(sv->opts.output, "ae");
		if (!sv->file) {
			log_error(errno, "cannot open %s", sv->opts.output);
			err = -errno;
			goto out;
		}
		if (!fstat(fileno(sv->file), &st))
			sv->file_bytes = (uint64_t)st.st_size;
	}
	if (sv->opts.socket_path) {
		err = open_socket(sv, sv->opts.socket_path);
		if (err)
			goto out;
	}
	/* before BPF is loaded: a port in use is said at once */
	err = open_http(sv);
	if (err)
		goto out;
	hooks.ctx = sv;
	err = session__open(s, &sv->opts, &hooks);
	sv->names = session__names(s);
	if (!err) {
		write_meta(sv->w, s);
		flush_outputs(sv);
		fprintf(stderr, "tangle: serving http://%s/metrics%s%s%s%s\n", sv->opts.listen,
			sv->opts.socket_path ? ", NDJSON on " : "",
			sv->opts.socket_path ? sv->opts.socket_path : "",
			sv->opts.output ? ", NDJSON to " : "",
			sv->opts.output ? sv->opts.output : "");
		err = session__run(s);
	}
	if (!err) {
		const struct consumer_stats *cs = session__stats(s);
		uint64_t lost = 0, now = now_ns();

		session__drain(s);
		for (int r = 0; r < TANGLE_DROP_MAX; r++)
			lost += cs->drops[r];
		view_json__summary(sv->w, now, cs->events, lost, now - s->start_ns);
	}
	flush_outputs(sv);
	reap_hooks(sv, true);
	log__set_json(NULL);
	session__close(s);
out:
	if (sv->http)
		MHD_stop_daemon(sv->http);
	for (int i = 0; i < SERVE_MAX_CLIENTS; i++)
		if (sv->clients[i].fd > 0)
			client_close(sv, &sv->clients[i]);
	if (sv->lfd > 0) {
		close(sv->lfd);
		unlink(sv->opts.socket_path);
	}
	if (sv->cep > 0)
		close(sv->cep);
	for (size_t i = 0; i < sv->backlog_n; i++)
		free(sv->backlog[(sv->backlog_head + i) % SERVE_BACKLOG_RECORDS]);
	if (sv->file)
		fclose(sv->file);
	json__free(sv->w);
	json__free(sv->cap_w);
	mbuf__free(&sv->cap);
	free(sv);
	return err ? 1 : 0;
}
