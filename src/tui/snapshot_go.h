/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The goroutine rows of a snapshot (snapshot_go.c), for snapshot.c only. */
#ifndef TANGLE_TUI_SNAPSHOT_GO_H
#define TANGLE_TUI_SNAPSHOT_GO_H

#include "tui/snapshot.h"

/* Fill s->gors, and the goroutine fields of thread and process rows. 0 or -ENOMEM. */
int snapshot__fill_go(struct snapshot *s, uint64_t now, const struct snap_go_source *src);
void snapshot__free_go(struct snapshot *s);

#endif
