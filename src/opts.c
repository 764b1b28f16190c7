// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "opts.h"

static const char usage_text[] =
	"Usage: tangle [COMMAND] [OPTIONS]\n"
	"\n"
	"A system-wide observer of what threads wait on.\n"
	"\n"
	"Commands:\n"
	"  stream     stream thread, futex-wait and stuck-group events as NDJSON\n"
	"  check      look for stuck threads for a while; exit 2 if some are stuck\n"
	"  run        run a command and report if part of it gets stuck\n"
	"  goroutines PID   the goroutines of a running Go program, without stopping it\n"
	"             (tangle goroutines --help for its options)\n"
	"  serve      run as a service: Prometheus /metrics, NDJSON findings to a file\n"
	"             or a Unix socket, a command per stuck group (tangle serve --help)\n"
	"  lockorder -p PID  report lock-order inversions (potential deadlocks) before\n"
	"             they hang: opt-in uprobes on one process's pthread locks\n"
	"             (tangle lockorder --help for its options)\n"
	"  top        the dashboard (the default; ? inside lists the keys)\n"
	"  record -o FILE   record what tangle sees, to look at later with replay\n"
	"  replay FILE [stream|check|top|trace|dot|folded]\n"
	"             the same views on a recording (default: check)\n"
	"\n"
	"Options:\n"
	"  -p, --pid PID[,PID...]   watch these processes only (repeatable)\n"
	"  -t, --tid TID[,TID...]   watch these threads only (repeatable)\n"
	"  -c, --comm NAME          watch threads with this exact name only\n"
	"  -d, --duration SECONDS   stop after SECONDS (stream: until Ctrl-C; check: 2)\n"
	"  -i, --interval SECONDS   refresh interval of top; thread-state sync (default 1)\n"
	"  -o, --output FILE        write records to FILE instead of stdout\n"
	"  -f, --follow             also watch processes that watched PIDs fork\n"
	"      --json               NDJSON output (the default for stream)\n"
	"      --stacks             stream: stacks of waits (taken as each begins) in wait records\n"
	"      --folded             stream: at the end, folded stacks of wait time (flame graphs)\n"
	"      --trace              stream: a trace-event timeline (Perfetto, chrome://tracing)\n"
	"      --dot                stream: at the end, the wait-for graph (Graphviz dot)\n"
	"      --stack-rate N       stream: unwind about N stacks a second at most, sampling\n"
	"                           faster waits (default 1000; 0: every wait)\n"
	"      --no-goroutines      do not read the goroutines of Go programs (no Goroutines\n"
	"                           view, no stuck goroutines)\n"
	"      --stuck-after SECONDS  report stuck groups once their waits are this old\n"
	"                           (default: threads 0.1, run 1; goroutines 5)\n"
	"      --record FILE        also record what is seen to FILE (record: -o FILE)\n"
	"      --max-size SIZE      recording: FILE and FILE.1 hold SIZE at most\n"
	"                           (default 1G; 0: no limit)\n"
	"      --ringbuf-mb MB      BPF ring buffer size, a power of two (default 16)\n"
	"      --max-threads N      threads tracked in BPF maps (default 65536)\n"
	"  -v, --verbose            say more; -vv adds libbpf's debug log\n"
	"  -h, --help               this help\n"
	"\n"
	"Environment: TANGLE_BTF=PATH  BTF for CO-RE when /sys/kernel/btf/vmlinux is missing\n"
	"\n"
	"Examples:\n"
	"  sudo tangle                               # the dashboard, whole host\n"
	"  sudo tangle top -p 1234 -i 0.5            # one process, twice a second\n"
	"  sudo tangle stream --json                 # every futex wait on the host\n"
	"  sudo tangle stream -p 1234 -d 10          # one process, ten seconds\n"
	"  sudo tangle stream -c postgres -o w.ndjson # threads named postgres, to a file\n"
	"  sudo tangle stream -p 1234 | jq 'select(.type==\"wait_end\" and .blocked_ns > 1e9)'\n"
	"  sudo tangle stream --folded -p 1234 -d 30 | flamegraph.pl > waits.svg\n"
	"  sudo tangle check -p 1234                 # is any thread of 1234 stuck? (exit 2 if so)\n"
	"  sudo tangle check --json -d 5             # the whole host, NDJSON stuck_group records\n"
	"  sudo tangle run -- make check             # report if the test suite deadlocks\n"
	"  sudo tangle record -o hang.tgr -p 1234 -d 60 --max-size 256M\n"
	"  tangle replay hang.tgr check              # on a laptop: what was stuck\n"
	"  tangle replay hang.tgr stream | jq .      # every event, as recorded\n"
	"  tangle replay hang.tgr trace -o hang.json # a timeline for ui.perfetto.dev\n";

void opts__usage(FILE *out)
{
	fputs(usage_text, out);
}

enum {
	OPT_JSON = 256,
	OPT_RINGBUF,
	OPT_MAX_THREADS,
	OPT_STUCK_AFTER,
	OPT_STACKS,
	OPT_FOLDED,
	OPT_NO_GOROUTINES,
	OPT_STACK_RATE,
	OPT_RECORD,
	OPT_MAX_SIZE,
	OPT_REPLAY,
	OPT_TRACE,
	OPT_DOT,
	OPT_LISTEN,
	OPT_SOCKET,
	OPT_ON_STUCK,
	OPT_ALL_EVENTS,
};

static const struct option long_opts[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "tid", required_argument, NULL, 't' },
	{ "comm", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "interval", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "follow", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "ringbuf-mb", required_argument, NULL, OPT_RINGBUF },
	{ "max-threads", required_argument, NULL, OPT_MAX_THREADS },
	{ "stuck-after", required_argument, NULL, OPT_STUCK_AFTER },
	{ "stacks", no_argument, NULL, OPT_STACKS },
	{ "folded", no_argument, NULL, OPT_FOLDED },
	{ "stack-rate", required_argument, NULL, OPT_STACK_RATE },
	{ "no-goroutines", no_argument, NULL, OPT_NO_GOROUTINES },
	{ "record", required_argument, NULL, OPT_RECORD },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "replay", required_argument, NULL, OPT_REPLAY },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "dot", no_argument, NULL, OPT_DOT },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "on-stuck", required_argument, NULL, OPT_ON_STUCK },
	{ "all-events", no_argument, NULL, OPT_ALL_EVENTS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int bad(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "tangle %s: invalid %s: '%s'\n", cmd, what, arg);
	fprintf(stderr, "Try 'tangle %s --help'.\n", cmd);
	return -EINVAL;
}

/* "64M", "1G", "4096": bytes, at least 64 KiB. */
static int parse_size(const char *cmd, const char *arg, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || *arg == '-')
		return bad(cmd, "size (like 512M or 2G)", arg);
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10, end++;
		break;
	case 'm':
	case 'M':
		v <<= 20, end++;
		break;
	case 'g':
	case 'G':
		v <<= 30, end++;
		break;
	}
	if (!*end && !v) { /* 0: no limit */
		*out = 0;
		return 0;
	}
	if (*end || v < (64u << 10) || v > (1ull << 50))
		return bad(cmd, "size (like 512M or 2G, at least 64K)", arg);
	*out = v;
	return 0;
}

/* "12,34" appended to ids; every element must be a positive integer. */
static int parse_ids(const char *cmd, const char *what, const char *arg, uint32_t *ids, size_t *n)
{
	const char *p = arg;

	do {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || end == p || (*end && *end != ',') || v == 0 || v > INT_MAX ||
		    *p == '-' || *p == '+' || *p == ' ')
			return bad(cmd, what, arg);
		if (*n == FILTER_MAX_IDS)
			return bad(cmd, "count (too many) of", what);
		if (!filter__has(ids, *n, (uint32_t)v))
			ids[(*n)++] = (uint32_t)v;
		p = *end ? end + 1 : end;
	} while (*p);
	return 0;
}

static int parse_seconds(const char *cmd, const char *what, const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v <= 0 || v > 1e7)
		return bad(cmd, what, arg);
	*out = v;
	return 0;
}

int opts__parse(const char *cmd, int argc, char **argv, struct opts *o)
{
	unsigned long v;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->interval_s = 1;
	o->ringbuf_bytes = 16u << 20;
	o->max_threads = 65536;
	o->stack_rate = OPTS_STACK_RATE_DEFAULT;
	o->goroutines = true;
	o->record_max_bytes = 1ull << 30; /* a recording left running does not fill the disk */
	optind = 1;
	bool run = !strcmp(cmd, "run");

	/* run: options end at the command ("+": no permutation) */
	while ((c = getopt_long(argc, argv, run ? "+p:t:c:d:i:o:fvh" : "p:t:c:d:i:o:fvh", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_ids(cmd, "PID", optarg, o->filter.pids, &o->filter.npids))
				return -EINVAL;
			break;
		case 't':
			if (parse_ids(cmd, "TID", optarg, o->filter.tids, &o->filter.ntids))
				return -EINVAL;
			break;
		case 'c':
			if (!*optarg || strlen(optarg) >= TANGLE_COMM_LEN)
				return bad(cmd, "comm (1 to 15 bytes)", optarg);
			strcpy(o->filter.comm, optarg);
			break;
		case 'd':
			if (parse_seconds(cmd, "duration", optarg, &o->duration_s))
				return -EINVAL;
			break;
		case 'i':
			if (parse_seconds(cmd, "interval", optarg, &o->interval_s))
				return -EINVAL;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'f':
			o->follow_children = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_RINGBUF:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > 1024 || (v & (v - 1)))
				return bad(cmd, "ring buffer size (a power of two, 1..1024 MB)",
					   optarg);
			o->ringbuf_bytes = v << 20;
			break;
		case OPT_MAX_THREADS:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v < 64 || v > (1u << 22))
				return bad(cmd, "thread limit (64..4194304)", optarg);
			o->max_threads = (unsigned int)v;
			break;
		case OPT_STACKS:
			o->stacks = true;
			break;
		case OPT_FOLDED:
			o->folded = o->stacks = true;
			break;
		case OPT_NO_GOROUTINES:
			o->goroutines = false;
			break;
		case OPT_STACK_RATE:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' || v > 10000000)
				return bad(cmd, "stack rate (0..10000000 a second)", optarg);
			o->stack_rate = (unsigned int)v;
			break;
		case OPT_RECORD:
			o->record = optarg;
			break;
		case OPT_MAX_SIZE:
			if (parse_size(cmd, optarg, &o->record_max_bytes))
				return -EINVAL;
			o->max_size_set = true;
			break;
		case OPT_LISTEN:
		case OPT_SOCKET:
		case OPT_ON_STUCK:
		case OPT_ALL_EVENTS:
			if (strcmp(cmd, "serve")) {
				fprintf(stderr, "tangle %s: --%s is an option of tangle serve\n",
					cmd,
					c == OPT_LISTEN	  ? "listen" :
					c == OPT_SOCKET	  ? "socket" :
					c == OPT_ON_STUCK ? "on-stuck" :
							    "all-events");
				return -EINVAL;
			}
			if (c == OPT_LISTEN)
				o->listen = optarg;
			else if (c == OPT_SOCKET)
				o->socket_path = optarg;
			else if (c == OPT_ON_STUCK)
				o->on_stuck = optarg;
			else
				o->all_events = true;
			break;
		case OPT_REPLAY:
			o->replay = optarg;
			break;
		case OPT_TRACE:
			o->trace = true;
			break;
		case OPT_DOT:
			o->dot = true;
			break;
		case OPT_STUCK_AFTER:
			if (parse_seconds(cmd, "--stuck-after", optarg, &o->stuck_after_s))
				return -EINVAL;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			opts__usage(stdout);
			return 1;
		default:
			fputc('\n', stderr);
			opts__usage(stderr);
			return -EINVAL;
		}
	}
	if (run) {
		if (optind >= argc) {
			fprintf(stderr,
				"tangle run: no command given (tangle run -- CMD [ARG...])\n");
			return -EINVAL;
		}
		o->command = argv + optind;
		return 0;
	}
	if (optind < argc) {
		fprintf(stderr, "tangle %s: unexpected argument '%s'\n", cmd, argv[optind]);
		fprintf(stderr, "Try 'tangle %s --help'.\n", cmd);
		return -EINVAL;
	}
	return 0;
}
