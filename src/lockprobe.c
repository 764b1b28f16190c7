// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Loading and attaching the lock-order uprobes (see lockprobe.h). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "consumer.h"
#include "lockorder.skel.h"
#include "lockprobe.h"
#include "log.h"

#define MAX_LINKS (2 * LO_FN_NR)

struct lockprobe {
	struct lockorder_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[MAX_LINKS];
	size_t nr_links;
	struct lockprobe_hooks hooks;
	int nr_cpus;
};

static int on_record(void *ctx, void *data, size_t len)
{
	struct lockprobe *p = ctx;
	const struct lo_ev_hdr *h = data;

	if (len < sizeof(*h))
		return 0;
	switch (h->type) {
	case LO_EV_EDGE:
		if (len >= sizeof(struct lo_ev_edge) && p->hooks.on_edge)
			p->hooks.on_edge(data, p->hooks.ctx);
		break;
	case LO_EV_EXIT_HELD:
		if (len >= sizeof(struct lo_ev_exit_held) && p->hooks.on_exit_held)
			p->hooks.on_exit_held(data, p->hooks.ctx);
		break;
	}
	return 0;
}

static struct bpf_program *prog_for(struct lockorder_bpf *s, const struct lo_fn_info *f)
{
	switch (f->role) {
	case LO_ROLE_LOCK:
		return !f->rwlock ? s->progs.lo_mutex_lock :
		       f->read	  ? s->progs.lo_rdlock :
				    s->progs.lo_wrlock;
	case LO_ROLE_TRY:
		return !f->rwlock ? s->progs.lo_mutex_try :
		       f->read	  ? s->progs.lo_tryrdlock :
				    s->progs.lo_trywrlock;
	case LO_ROLE_UNLOCK:
		return s->progs.lo_unlock;
	case LO_ROLE_LIFETIME:
		return s->progs.lo_lifetime;
	}
	return NULL;
}

static int attach_one(struct lockprobe *p, struct bpf_program *prog, bool ret, uint32_t pid,
		      const char *path, uint64_t off, const char *name)
{
	struct bpf_link *l;

	if (p->nr_links == MAX_LINKS)
		return -E2BIG;
	l = bpf_program__attach_uprobe(prog, ret, (pid_t)pid, path, (size_t)off);
	if (!l) {
		int err = -errno;

		log_error(-err, "attaching a uprobe%s to %s at %s+0x%llx", ret ? " (return)" : "",
			  name, path, (unsigned long long)off);
		return err;
	}
	p->links[p->nr_links++] = l;
	return 0;
}

struct lockprobe *lockprobe__open(uint32_t pid, const struct lo_binary *bin, size_t max_edges,
				  const struct lockprobe_hooks *hooks)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = consumer__btf_path());
	struct lockprobe *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return NULL;
	p->hooks = *hooks;
	p->nr_cpus = libbpf_num_possible_cpus();
	p->skel = lockorder_bpf__open_opts(&oo);
	if (!p->skel) {
		err = -errno;
		log_error(-err, "opening the lock-order BPF object");
		goto fail;
	}
	p->skel->rodata->target_tgid = pid;
	bpf_map__set_max_entries(p->skel->maps.edges, (uint32_t)max_edges);
	err = lockorder_bpf__load(p->skel);
	if (err) {
		log_error(-err, "loading the lock-order BPF programs (-v shows why)");
		goto fail;
	}
	for (int f = 0; f < LO_FN_NR; f++) {
		const struct lo_site *s = &bin->fn[f];
		const struct lo_fn_info *fi = lockplace__fn(f);

		if (!s->found)
			continue;
		err = attach_one(p, prog_for(p->skel, fi), false, pid, bin->path, s->file_off,
				 fi->name);
		if (!err && fi->role == LO_ROLE_TRY)
			/* the same address: one breakpoint (nothing before it moved rsp) */
			err = attach_one(p, p->skel->progs.lo_try_ret, true, pid, bin->path,
					 s->file_off, fi->name);
		if (err)
			goto fail;
	}
	p->links[p->nr_links] = bpf_program__attach(p->skel->progs.lo_exit);
	if (!p->links[p->nr_links]) {
		err = -errno;
		log_error(-err, "attaching to sched_process_exit");
		goto fail;
	}
	p->nr_links++;
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), on_record, p, NULL);
	if (!p->rb) {
		err = -errno;
		log_error(-err, "ring buffer");
		goto fail;
	}
	return p;
fail:
	lockprobe__close(p);
	errno = -err;
	return NULL;
}

void lockprobe__close(struct lockprobe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	for (size_t i = 0; i < p->nr_links; i++)
		bpf_link__destroy(p->links[i]);
	lockorder_bpf__destroy(p->skel);
	free(p);
}

int lockprobe__fd(const struct lockprobe *p)
{
	return ring_buffer__epoll_fd(p->rb);
}

int lockprobe__poll(struct lockprobe *p)
{
	return ring_buffer__consume(p->rb);
}

size_t lockprobe__nr_probes(const struct lockprobe *p)
{
	return p->nr_links ? p->nr_links - 1 : 0;
}

void lockprobe__stats(const struct lockprobe *p, uint64_t out[LO_STAT_NR])
{
	uint64_t *v = calloc((size_t)(p->nr_cpus > 0 ? p->nr_cpus : 1), sizeof(*v));
	int fd = bpf_map__fd(p->skel->maps.stats);

	memset(out, 0, LO_STAT_NR * sizeof(out[0]));
	if (!v)
		return;
	for (uint32_t k = 0; k < LO_STAT_NR; k++) {
		if (bpf_map_lookup_elem(fd, &k, v))
			continue;
		for (int c = 0; c < p->nr_cpus; c++)
			out[k] += v[c];
	}
	free(v);
}

uint64_t lockprobe__edge_count(const struct lockprobe *p, const struct lo_edge_key *k)
{
	uint64_t count = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.edges), k, &count))
		return 0;
	return count;
}
