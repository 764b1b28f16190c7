/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Stacks of threads that sit in a system call right now, at no cost to the
 * target: the caller has the thread's user registers at syscall entry (from a
 * BPF task iterator), the stack memory is read live with process_vm_readv (a
 * blocked thread's stack does not change) and unwound with the DWARF CFI of
 * every mapped file (.eh_frame, .debug_frame) through elfutils' libdwfl.
 * Never ptrace, never stop, never write to the target.
 *
 * Or from registers and a copy of the stack taken earlier (by BPF, as a
 * wait began): unwinder__unwind_window() reads only that copy, so a wait
 * that is long over can still be unwound while its process lives.
 *
 * Each frame is named with function, offset, file:line and module; code that
 * the compiler inlined becomes extra frames (inlined = true) in front of the
 * physical frame that holds it, as gdb and eu-stack show them.
 *
 * Go executables (src/gobin.h) are named from their .gopclntab, stripped or
 * not, as Go's own tracebacks name them ("main.sum[...]", inlined calls
 * included; every frame's offset is from the physical function's entry),
 * and a stack whose pc is Go code is walked with the pclntab's frame sizes,
 * as the Go runtime walks it, up to where the runtime's traceback stops
 * (runtime.mstart, runtime.mcall, runtime.goexit, ...).
 *
 * The unwinder caches a libdwfl session per process (up to 64) and per
 * mapped file (32), least recently used dropped first, and the names of the
 * addresses it saw (2048 slots). A file's debug info is loaded once for all
 * the processes that map it. It is not thread-safe. Separate debug files are found by
 * build-id and .gnu_debuglink under /usr/lib/debug and the target's own root;
 * debuginfod is never asked (a download would make an unwind take seconds),
 * so unwinder__new() removes DEBUGINFOD_URLS from the environment.
 *
 * Cost: the first unwind that needs a file's debug info loads it (~40 ms for
 * glibc's from libc6-dbg); later unwinds of known addresses take ~10 us.
 */
#ifndef TANGLE_UNWIND_H
#define TANGLE_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNWIND_MAX_FRAMES 64

struct frame {
	/*
	 * The pc of the first frame, the return address of the others (their
	 * symbol and line are looked up at addr - 1, inside the call).
	 */
	uint64_t addr;
	/* Demangled (C++, legacy Rust without its ::h<hash>); "" if unknown. */
	char function[160];
	uint64_t offset; /* addr - start of the function (or of the inlined instance) */
	char file[256]; /* source file, "" without line info */
	int line; /* 0 if none */
	char module[256]; /* path of the mapped file as in /proc/PID/maps, "[vdso]", "" if none */
	bool inlined; /* an inlined call expanded from the next physical frame */
	/*
	 * The stack was walked along the rbp chain because the CFI unwind gave
	 * nothing past the first frame: callers of functions built without frame
	 * pointers may be missing. Same value on every frame of one unwind.
	 */
	bool fp_walked;
};

enum {
	UREG_IP = 1u << 0,
	UREG_SP = 1u << 1,
	UREG_BP = 1u << 2,
	UREG_BX = 1u << 3,
	UREG_R12 = 1u << 4,
	UREG_R13 = 1u << 5,
	UREG_R14 = 1u << 6,
	UREG_R15 = 1u << 7,
};

/* x86-64 user registers; valid says which are known (UREG_*). */
struct user_regs {
	uint64_t ip, sp, bp, bx, r12, r13, r14, r15;
	uint32_t valid;
};

struct unwinder;

/* proc_root: "/proc" normally. NULL and errno on failure. */
struct unwinder *unwinder__new(const char *proc_root);
void unwinder__free(struct unwinder *u);

/*
 * Unwind thread tid of process pid from regs (ip and sp at least), reading
 * its memory live. Fills up to max frames (inlined ones included) and sets
 * *n. Returns 0 even if only the first frame could be produced, -ESRCH if the
 * thread or its process is gone (or is not pid's), -EINVAL without ip or sp,
 * -EOPNOTSUPP on an architecture other than x86-64.
 */
int unwinder__unwind(struct unwinder *u, uint32_t pid, uint32_t tid, const struct user_regs *regs,
		     struct frame *frames, size_t max, size_t *n);

/*
 * Stack memory copied earlier (when a wait began, by BPF): the unwind reads
 * the stack from here and not from the live thread, whose stack has moved on
 * since. base is the sp the copy starts at.
 */
struct stack_window {
	uint64_t base;
	const void *data;
	size_t len;
};

/*
 * unwinder__unwind() from registers and stack memory captured earlier: reads
 * inside the window are served from it and every other read fails, so the
 * unwind stops where the window ends. The thread need not exist any more;
 * its process must (its maps name the code). Same returns.
 */
int unwinder__unwind_window(struct unwinder *u, uint32_t pid, uint32_t tid,
			    const struct user_regs *regs, const struct stack_window *win,
			    struct frame *frames, size_t max, size_t *n);

/*
 * Of the last unwind: how many bytes above sp it read (the stack depth that
 * a window must hold for that unwind), and whether it stopped because it
 * wanted to read past its window.
 */
size_t unwinder__last_depth(const struct unwinder *u);
bool unwinder__last_truncated(const struct unwinder *u);

/*
 * Name addresses of pid, e.g. a stack from a BPF stack map: all are return
 * addresses (looked up at addr - 1), except the first when first_is_pc. Each
 * address gives one frame or more (inlined calls); up to max in all, *n set.
 * Returns 0, -ESRCH if the process is gone, -EINVAL.
 */
int unwinder__symbolize(struct unwinder *u, uint32_t pid, const uint64_t *addrs, size_t nr,
			bool first_is_pc, struct frame *frames, size_t max, size_t *n);

/*
 * Walk rbp chains only, never CFI: for programs built with frame pointers,
 * and to test the fallback. (libdwfl itself goes on along rbp through code
 * that has no CFI, such as JIT code; fp_walked marks only the full fallback.)
 */
void unwinder__set_fp_only(struct unwinder *u, bool fp_only);

/* Drop what is cached for pid: call when it exited or exec'd. */
void unwinder__forget(struct unwinder *u, uint32_t pid);

#endif
