/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF side of `tangle lockorder` (bpf/lockorder.bpf.c): loads it for one
 * process, attaches its uprobes where src/lockplace.c placed them, and hands
 * each ring-buffer record, checked for size, to a hook. The callbacks only
 * decode; the graph is built by the caller (src/lockgraph.c).
 */
#ifndef TANGLE_LOCKPROBE_H
#define TANGLE_LOCKPROBE_H

#include <stddef.h>
#include <stdint.h>
#include "lockorder_abi.h"
#include "lockplace.h"

struct lockprobe;

struct lockprobe_hooks {
	void (*on_edge)(const struct lo_ev_edge *e, void *ctx);
	void (*on_exit_held)(const struct lo_ev_exit_held *e, void *ctx);
	void *ctx;
};

/*
 * Load and attach for pid, probing bin's functions. max_edges bounds the
 * edges map. NULL and errno on failure (already logged, naming the cause).
 */
struct lockprobe *lockprobe__open(uint32_t pid, const struct lo_binary *bin, size_t max_edges,
				  const struct lockprobe_hooks *hooks);
void lockprobe__close(struct lockprobe *p);
int lockprobe__fd(const struct lockprobe *p); /* epoll-able */
int lockprobe__poll(struct lockprobe *p); /* consume what is there; records or -errno */
size_t lockprobe__nr_probes(const struct lockprobe *p);
/* The counters (enum lo_stat), summed over CPUs. */
void lockprobe__stats(const struct lockprobe *p, uint64_t out[LO_STAT_NR]);
/* How many times an edge was taken (0 if unknown). */
uint64_t lockprobe__edge_count(const struct lockprobe *p, const struct lo_edge_key *k);

#endif
