// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include "consumer.h"
#include "decode.h"

static const size_t record_size[TANGLE_EV_TYPE_MAX] = {
	[TANGLE_EV_WAIT_BEGIN] = sizeof(struct tangle_ev_wait_begin),
	[TANGLE_EV_WAIT_END] = sizeof(struct tangle_ev_wait_end),
	[TANGLE_EV_FORK] = sizeof(struct tangle_ev_task),
	[TANGLE_EV_EXEC] = sizeof(struct tangle_ev_task),
	[TANGLE_EV_EXIT] = sizeof(struct tangle_ev_task),
	[TANGLE_EV_RENAME] = sizeof(struct tangle_ev_task),
	[TANGLE_EV_USTACK] = sizeof(struct tangle_ev_ustack),
};

static int decode_wait_begin(struct model *m, const struct tangle_ev_wait_begin *e)
{
	struct wait w = {
		.kind = WAIT_FUTEX,
		.sys = e->sys,
		.nr_futexes = e->nr_futexes,
		.has_timeout = e->flags & TANGLE_WAIT_F_TIMEOUT,
		.preblocked = e->flags & TANGLE_WAIT_F_PREBLOCKED,
		.op = e->op,
		.expected = e->val,
		.addr = e->uaddr,
		.addr2 = e->uaddr2,
		.since_ns = e->hdr.ts_ns,
	};
	char comm[TANGLE_COMM_LEN];

	comm_copy(comm, e->comm);
	return model__wait_begin(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid, comm, &w);
}

static int decode_wait_end(struct model *m, const struct tangle_ev_wait_end *e)
{
	struct wait w = {
		.kind = WAIT_FUTEX,
		.sys = e->sys,
		.preblocked = e->flags & TANGLE_WAIT_F_PREBLOCKED,
		.has_timeout = e->flags & TANGLE_WAIT_F_TIMEOUT,
		.op = e->op,
		.addr = e->uaddr,
		.since_ns = e->begin_ns,
		.waker_pid = e->waker_pid,
		.waker_tid = e->waker_tid,
	};
	struct thread *t = model__thread(m, e->hdr.tid);
	char comm[TANGLE_COMM_LEN];

	if (e->begin_ns > e->hdr.ts_ns)
		return -EINVAL;
	/* a copy: the model may replace the thread (a reused tid) while using it */
	comm_copy(comm, t ? t->comm : "");
	return model__wait_end(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid, comm, &w, e->begin_ns,
			       e->ret);
}

static int decode_task(struct model *m, const struct tangle_ev_task *e)
{
	char comm[TANGLE_COMM_LEN];

	comm_copy(comm, e->comm);
	switch (e->hdr.type) {
	case TANGLE_EV_FORK:
		return model__thread_new(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid, comm, ORIGIN_FORK,
					 e->parent_pid, e->parent_tid, TANGLE_TS_RUNNABLE);
	case TANGLE_EV_EXEC:
		return model__thread_exec(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid,
					  e->parent_tid ? e->parent_tid : e->hdr.tid, comm);
	case TANGLE_EV_EXIT:
		return model__thread_exit(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid, comm,
					  e->exit_code, e->flags & TANGLE_TASK_F_GROUP_DEAD);
	case TANGLE_EV_RENAME:
		return model__thread_rename(m, e->hdr.ts_ns, e->hdr.pid, e->hdr.tid, comm);
	}
	return -EINVAL;
}

/* The header of a record of a known type, its size checked; -EINVAL otherwise. */
static int check_hdr(const void *data, size_t len, struct tangle_ev_hdr *h)
{
	if (len < sizeof(*h))
		return -EINVAL;
	memcpy(h, data, sizeof(*h));
	if (h->type == 0 || h->type >= TANGLE_EV_TYPE_MAX || h->size != record_size[h->type] ||
	    len < h->size || h->tid == 0 || h->pid == 0)
		return -EINVAL;
	return 0;
}

bool decode__is_stack(const void *data, size_t len)
{
	uint16_t type;

	if (len < sizeof(type))
		return false;
	memcpy(&type, data, sizeof(type));
	return type == TANGLE_EV_USTACK;
}

int decode__ustack(const void *data, size_t len, struct tangle_ev_ustack *out)
{
	struct tangle_ev_hdr h;

	if (check_hdr(data, len, &h) || h.type != TANGLE_EV_USTACK)
		return -EINVAL;
	memcpy(out, data, sizeof(*out));
	if (out->stack_bytes > sizeof(out->stack) || out->sample_every == 0)
		return -EINVAL;
	return 0;
}

int decode__event(struct model *m, const void *data, size_t len)
{
	struct tangle_ev_hdr h;

	if (check_hdr(data, len, &h))
		return -EINVAL;
	switch (h.type) {
	case TANGLE_EV_WAIT_BEGIN: {
		struct tangle_ev_wait_begin e;

		memcpy(&e, data, sizeof(e));
		return decode_wait_begin(m, &e);
	}
	case TANGLE_EV_WAIT_END: {
		struct tangle_ev_wait_end e;

		memcpy(&e, data, sizeof(e));
		return decode_wait_end(m, &e);
	}
	case TANGLE_EV_USTACK:
		return 0; /* for the stacks, not the model: decode__ustack() */
	default: {
		struct tangle_ev_task e;

		memcpy(&e, data, sizeof(e));
		return decode_task(m, &e);
	}
	}
}

/* Declared in consumer.h; here, with the ABI, so that the plain-C views can name drops too. */
const char *drop_reason_name(int reason)
{
	switch (reason) {
	case TANGLE_DROP_RINGBUF:
		return "ringbuf_full";
	case TANGLE_DROP_THREAD_MAP:
		return "thread_map_full";
	case TANGLE_DROP_WAIT_MAP:
		return "wait_map_full";
	default:
		return "unknown";
	}
}
