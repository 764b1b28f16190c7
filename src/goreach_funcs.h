/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the Go garbage collector knows of each stack frame, read from the
 * running process's own function table (moduledata.ftab, pctab, gofunc):
 * the frame's size at a pc (pcsp), and which of its words hold live
 * pointers there (the locals and arguments stack maps at the pc's
 * PCDATA_StackMapIndex, and the frame's address-taken stack objects).
 *
 * goreach scans the stacks of live goroutines with these maps, as the GC
 * does, instead of every word: a parked goroutine's frames are full of
 * dead slots that still hold stale pointers (main() keeps a channel it
 * handed to its workers long ago), and a conservative scan would take them
 * for references. Frames without maps (assembly), and the frames the GC
 * itself scans conservatively (asyncPreempt and the frame it interrupted),
 * are reported as such so that the caller scans every word of them.
 *
 * Plain C over vmread; every table read from the target is bounds-checked,
 * a bad one gives "no maps" (scan conservatively), never a wrong map.
 */
#ifndef TANGLE_GOREACH_FUNCS_H
#define TANGLE_GOREACH_FUNCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "golayout_obj.h"

struct goreach_funcs;

/*
 * An address-taken local (FUNCDATA_StackObjects). The GC scans one only if
 * a live slot points into it (before that it may hold stale data), with its
 * own pointer mask.
 */
struct go_stack_obj {
	int32_t off; /* from varp if negative, from argp (= fp) otherwise */
	int32_t size;
	uint32_t ptrbytes; /* bytes covered by mask */
	const uint8_t *mask; /* a bit per word; NULL: scan every word (a GC program) */
};

struct go_frame_info {
	uint64_t entry; /* of the function holding pc */
	uint32_t frame_size; /* sp delta at pc: the return address is at sp + frame_size */
	bool top; /* a top frame (goexit, mstart): nothing above it */
	bool spwrite; /* switches stacks (mcall, systemstack, morestack) */
	bool conservative; /* asyncPreempt, debugCall: scan it and its caller word by word */
	bool has_maps; /* false: scan the whole frame and its argument area word by word */
	bool locals_map; /* the function has a locals map (needed if the frame has locals) */
	uint32_t args_bytes; /* _func.args: arguments and results at fp */
	uint32_t nlocals; /* bits of locals: the words just below varp */
	const uint8_t *locals;
	uint32_t nargs; /* bits of args: the words from fp up */
	const uint8_t *args;
	uint32_t nobjs;
	const struct go_stack_obj *objs;
};

/*
 * Read pid's function table through moduledata (runtime.firstmoduledata's
 * address, bias included). NULL and errno on failure.
 */
struct goreach_funcs *goreach_funcs__new(uint32_t pid, const struct go_obj_layout *l,
					 uint64_t moduledata);
void goreach_funcs__free(struct goreach_funcs *s);

/*
 * The frame of the function at pc. pc is a return address (or a parked
 * goroutine's sched.pc, which is one too): maps are looked up at pc - 1 as
 * the runtime does. The pointers in out stay valid until
 * goreach_funcs__free. 0, or -ENOENT if no function covers pc or its pcsp
 * table has no value there.
 */
int goreach_funcs__frame(struct goreach_funcs *s, uint64_t pc, struct go_frame_info *out);

/* The function at entry is scanned conservatively, with its caller (runtime.asyncPreempt). */
void goreach_funcs__conservative(struct goreach_funcs *s, uint64_t entry);

/* Bytes read from the target so far (tables, maps), and the number of reads. */
void goreach_funcs__cost(const struct goreach_funcs *s, uint64_t *bytes, uint64_t *reads);

/* Exposed for unit tests: the value of a pc-value table at target (Go's pcvalue encoding). */
bool go_pcvalue(const uint8_t *tab, size_t len, uint64_t entry, uint64_t target, int32_t *val);

#endif
