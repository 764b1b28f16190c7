// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `tangle goroutines PID`: the goroutines of a running Go program, read from
 * outside (no ptrace, no pause, no code change), printed in Go's own
 * traceback format or as NDJSON.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "cmd.h"
#include "goproc.h"
#include "json.h"
#include "log.h"
#include "view_go.h"

#define MAX_LABEL_FILTERS 16

struct gr_opts {
	uint32_t pid;
	bool json, group, system, no_stacks;
	unsigned repeat; /* --repeat N: N snapshots through one goproc, costs on stderr */
	struct go_view_opts view;
	const char *state, *reason, *output;
	struct {
		const char *key, *value;
	} labels[MAX_LABEL_FILTERS];
	size_t nr_labels;
};

static void usage(FILE *out)
{
	fputs("Usage: tangle goroutines PID [options]\n"
	      "\n"
	      "Print the goroutines of a running Go program (go1.20 or newer, stripped or not),\n"
	      "read from its memory without stopping it, in Go's traceback format.\n"
	      "\n"
	      "Options:\n"
	      "  --json           NDJSON records (go_process, then goroutine or goroutine_group)\n"
	      "  --group          one entry per distinct (state, wait reason, labels, stack), with\n"
	      "                   a count and the goids, like pprof's debug=1\n"
	      "  --label K=V      only goroutines with pprof label K=V (repeatable; all must match)\n"
	      "  --state S        only goroutines in Go status S (runnable, running, syscall,\n"
	      "                   waiting, ...)\n"
	      "  --reason R       only goroutines waiting for reason R (\"chan receive\", ...)\n"
	      "  --all-frames     show the runtime's own frames too (like GOTRACEBACK=system)\n"
	      "  --system         show the runtime's goroutines too (GC workers, finalizers, ...)\n"
	      "  --no-stacks      states only, no stacks (cheapest: for very many goroutines)\n"
	      "  -o, --output F   write to F instead of stdout\n"
	      "  -h, --help       this help\n"
	      "\n"
	      "Examples:\n"
	      "  tangle goroutines 4242                  # like pprof goroutine?debug=2\n"
	      "  tangle goroutines 4242 --group          # identical stacks counted\n"
	      "  tangle goroutines 4242 --label job=sync --reason 'chan receive'\n"
	      "  tangle goroutines 4242 --json | jq -c 'select(.type==\"goroutine\")'\n",
	      out);
}

static int parse(int argc, char **argv, struct gr_opts *o)
{
	enum {
		OPT_LABEL = 256,
		OPT_STATE,
		OPT_REASON,
		OPT_ALL_FRAMES,
		OPT_SYSTEM,
		OPT_GROUP,
		OPT_NO_STACKS,
		OPT_REPEAT,
	};
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "group", no_argument, NULL, OPT_GROUP },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "all-frames", no_argument, NULL, OPT_ALL_FRAMES },
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "no-stacks", no_argument, NULL, OPT_NO_STACKS },
		{ "repeat", required_argument, NULL, OPT_REPEAT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", longs, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case OPT_GROUP:
			o->group = true;
			break;
		case OPT_LABEL: {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || o->nr_labels == MAX_LABEL_FILTERS) {
				fprintf(stderr,
					"tangle goroutines: --label wants KEY=VALUE (at most %d)\n",
					MAX_LABEL_FILTERS);
				return -EINVAL;
			}
			*eq = '\0';
			o->labels[o->nr_labels].key = optarg;
			o->labels[o->nr_labels++].value = eq + 1;
			break;
		}
		case OPT_STATE:
			o->state = optarg;
			break;
		case OPT_REASON:
			o->reason = optarg;
			break;
		case OPT_ALL_FRAMES:
			o->view.all_frames = true;
			break;
		case OPT_SYSTEM:
			o->system = true;
			break;
		case OPT_NO_STACKS:
			o->no_stacks = true;
			break;
		case OPT_REPEAT: {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || !n || n > 100000) {
				fprintf(stderr, "tangle goroutines: --repeat wants 1..100000\n");
				return -EINVAL;
			}
			o->repeat = (unsigned)n;
			break;
		}
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "tangle goroutines: expected one PID\n");
		usage(stderr);
		return -EINVAL;
	}
	char *end;
	unsigned long pid = strtoul(argv[optind], &end, 10);

	if (*end || !pid || pid > UINT32_MAX) {
		fprintf(stderr, "tangle goroutines: not a PID: %s\n", argv[optind]);
		return -EINVAL;
	}
	o->pid = (uint32_t)pid;
	return 0;
}

static bool has_label(const struct goroutine *g, const char *key, const char *value)
{
	for (uint32_t i = 0; i < g->nr_labels; i++)
		if (!strcmp(g->labels[i].key, key) && !strcmp(g->labels[i].value, value))
			return true;
	return false;
}

static bool wanted(const struct gr_opts *o, const struct goroutine *g)
{
	if (g->system && !o->system)
		return false;
	if (o->state && strcmp(o->state, golayout__status_name(g->status)))
		return false;
	if (o->reason && (!g->wait_reason || strcmp(o->reason, g->wait_reason)))
		return false;
	for (size_t i = 0; i < o->nr_labels; i++)
		if (!has_label(g, o->labels[i].key, o->labels[i].value))
			return false;
	return true;
}

/* Same entry of --group: same state, wait reason, labels and stack. */
static int cmp_key(const struct goroutine *x, const struct goroutine *y)
{
	int c;

	if (x->status != y->status)
		return x->status < y->status ? -1 : 1;
	if (x->wait_reason_raw != y->wait_reason_raw)
		return x->wait_reason_raw < y->wait_reason_raw ? -1 : 1;
	if (x->nr_pcs != y->nr_pcs)
		return x->nr_pcs < y->nr_pcs ? -1 : 1;
	if (x->nr_pcs && (c = memcmp(x->pcs, y->pcs, x->nr_pcs * sizeof(x->pcs[0]))))
		return c;
	if (x->nr_labels != y->nr_labels)
		return x->nr_labels < y->nr_labels ? -1 : 1;
	for (uint32_t i = 0; i < x->nr_labels; i++) {
		if ((c = strcmp(x->labels[i].key, y->labels[i].key)) ||
		    (c = strcmp(x->labels[i].value, y->labels[i].value)))
			return c;
	}
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	const struct goroutine *x = *(const struct goroutine *const *)a;
	const struct goroutine *y = *(const struct goroutine *const *)b;
	int c = cmp_key(x, y);

	return c ? c : x->goid < y->goid ? -1 : x->goid > y->goid;
}

/* Largest groups first, as pprof orders its debug=1 profile. */
struct range {
	size_t first, n;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return x->first < y->first ? -1 : 1;
}

static void read_comm(uint32_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	comm[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(comm, (int)len, f))
		comm[strcspn(comm, "\n")] = '\0';
	fclose(f);
}

static int print_all(FILE *out, struct goproc *p, const struct gosnap *s, const struct gr_opts *o,
		     const char *comm)
{
	const struct goroutine **shown = calloc(s->n ? s->n : 1, sizeof(*shown));
	struct range *groups = NULL;
	struct json_writer *w = NULL;
	size_t n = 0, ng = 0;
	int err = 0;

	if (!shown)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (wanted(o, &s->g[i]))
			shown[n++] = &s->g[i];
	if (o->group && n) {
		qsort(shown, n, sizeof(*shown), cmp_group);
		groups = calloc(n, sizeof(*groups));
		if (!groups) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (ng && !cmp_key(shown[groups[ng - 1].first], shown[i])) {
				groups[ng - 1].n++;
				continue;
			}
			groups[ng++] = (struct range){ i, 1 };
		}
		qsort(groups, ng, sizeof(*groups), cmp_range);
	}
	if (o->json) {
		w = json__new(out);
		if (!w) {
			err = -errno;
			goto out;
		}
		view_go__process_json(w, p, s, comm, n);
		if (o->group)
			for (size_t i = 0; i < ng; i++)
				view_go__group_json(w, p, shown + groups[i].first, groups[i].n,
						    s->ts_ns);
		else
			for (size_t i = 0; i < n; i++)
				view_go__goroutine_json(w, p, shown[i], s->ts_ns, 0);
		goto out;
	}
	fprintf(out, "# tangle goroutines: pid %u (", goproc__pid(p));
	for (const char *c = comm; *c; c++)
		fputc((unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c, out);
	fprintf(out, "), %s, %zu goroutines\n", goproc__version(p), n);
	for (size_t i = 0; i < (o->group ? ng : n); i++) {
		fputc('\n', out);
		if (o->group)
			view_go__group(out, p, shown + groups[i].first, groups[i].n, s->ts_ns,
				       &o->view);
		else
			view_go__traceback(out, p, shown[i], s->ts_ns, &o->view);
	}
out:
	json__free(w);
	free(groups);
	free(shown);
	return err;
}

/*
 * The snapshot to print. With --repeat N (for bench/goroutines.py; not in
 * --help), N of them through the same goproc, each taken while the one
 * before is still held, as the dashboard does: the first reads everything,
 * the later ones only what changed. The cost of each goes to stderr as
 * key=value, then the peak RSS.
 */
static int take_snapshots(struct goproc *p, const struct gr_opts *o, struct gosnap *snap, char *why,
			  size_t why_len)
{
	unsigned flags = o->no_stacks ? GOSNAP_ALL & ~GOSNAP_STACKS : GOSNAP_ALL;
	unsigned n = o->repeat ? o->repeat : 1;
	struct gosnap next;
	struct rusage ru;
	int err;

	for (unsigned i = 0; i < n; i++) {
		err = goproc__snapshot(p, flags, &next, why, why_len);
		if (err)
			return err;
		gosnap__free(snap);
		*snap = next;
		if (snap->nr_bogus)
			log_warn("pid %u: %zu entries of its goroutine table are not goroutines "
				 "(left out): the process rewrote runtime.allgs while it was read?",
				 goproc__pid(p), snap->nr_bogus);
		if (o->repeat)
			fprintf(stderr,
				"tangle goroutines: snapshot=%u wall_ns=%" PRIu64 " cpu_ns=%" PRIu64
				" goroutines=%zu allgs=%zu retried=%zu stacks_reused=%zu\n",
				i + 1, snap->cost_ns, snap->cpu_ns, snap->n, snap->nr_allgs,
				snap->nr_retried, snap->nr_reused);
	}
	if (o->repeat && !getrusage(RUSAGE_SELF, &ru))
		fprintf(stderr, "tangle goroutines: maxrss_kb=%ld\n", ru.ru_maxrss);
	return 0;
}

int cmd_goroutines(int argc, char **argv)
{
	struct gr_opts o = { 0 };
	struct gosnap snap = { 0 };
	struct goproc *p = NULL;
	char why[512] = "", comm[64];
	FILE *out = stdout;
	int err;

	err = parse(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : 1;
	read_comm(o.pid, comm, sizeof(comm));
	p = goproc__open("/proc", o.pid, why, sizeof(why));
	if (!p) {
		fprintf(stderr, "tangle goroutines: %s\n", why);
		return 1;
	}
	err = take_snapshots(p, &o, &snap, why, sizeof(why));
	if (err) {
		if (err == -EPERM)
			snprintf(why, sizeof(why),
				 "pid %u: not allowed to read its memory (run as root, or as its "
				 "user with ptrace allowed)",
				 o.pid);
		fprintf(stderr, "tangle goroutines: %s\n", why);
		gosnap__free(&snap);
		goproc__free(p);
		return 1;
	}
	if (o.output && !(out = fopen(o.output, "we"))) {
		fprintf(stderr, "tangle goroutines: %s: %s\n", o.output, strerror(errno));
		err = -errno;
		goto out;
	}
	err = print_all(out, p, &snap, &o, comm);
	if (fflush(out) && !err)
		err = -errno;
	if (err)
		fprintf(stderr, "tangle goroutines: %s\n", strerror(-err));
out:
	if (out && out != stdout)
		fclose(out);
	gosnap__free(&snap);
	goproc__free(p);
	return err ? 1 : 0;
}
