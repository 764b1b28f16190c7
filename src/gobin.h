/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What a Go executable says about itself, read from the file alone (never
 * from the running process): the toolchain version from .go.buildinfo, the
 * function table, file:line and inline tree from .gopclntab (present even in
 * binaries linked with -ldflags=-s -w), runtime globals from .symtab or, when
 * stripped, by decoding the few runtime functions that load them, and struct
 * member offsets from DWARF when it is there.
 *
 * All addresses are link-time virtual addresses: the caller adds the load
 * bias of a PIE (0 for the default non-PIE Go executable).
 *
 * Hostile files: every offset and length read from the file is checked
 * against the section it points into; a corrupt table gives -EINVAL or no
 * answer, never a read out of bounds. Not thread-safe.
 */
#ifndef TANGLE_GOBIN_H
#define TANGLE_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gobin;

/*
 * Open the ELF file at path. NULL and errno: ENOEXEC if it is not a Go
 * executable (no .go.buildinfo), EINVAL if its Go tables are corrupt or of a
 * format older than Go 1.20 (pclntab magic other than 0xfffffff1), or the
 * error of open().
 */
struct gobin *gobin__open(const char *path);
void gobin__free(struct gobin *b);

/* "go1.26.8" as the toolchain wrote it in .go.buildinfo ("" if unreadable). */
const char *gobin__version(const struct gobin *b);
/* The main module path ("" if none, e.g. a test binary). */
const char *gobin__main_module(const struct gobin *b);
/* Parsed version: go1.26.8 -> 1, 26, 8 (go1.21rc2 -> 1, 21, 0). false if it does not parse. */
bool gobin__version_num(const struct gobin *b, int *major, int *minor, int *patch);
/* No .symtab: names come from .gopclntab only. */
bool gobin__stripped(const struct gobin *b);
/* Linked with cgo (external linker): has a PT_TLS segment / runtime.tlsg. */
bool gobin__cgo(const struct gobin *b);
/* ET_DYN (-buildmode=pie): addresses need the load bias. */
bool gobin__pie(const struct gobin *b);

/*
 * Address of a runtime global (e.g. "runtime.allgptr", "runtime.allglen",
 * "runtime.allm", "runtime.buildVersion"): from .symtab, or in a stripped
 * binary by decoding the function that loads it (allglen and allgptr from
 * runtime.forEachGRace; allm from its readers). 0, or -ENOENT.
 */
int gobin__var(const struct gobin *b, const char *name, uint64_t *addr);

/* Entry and end (exclusive) of a function by its Go name. 0, or -ENOENT. */
int gobin__func(const struct gobin *b, const char *name, uint64_t *entry, uint64_t *end);

struct gobin_frame {
	const char *function; /* "main.(*T).run"; points into the binary's tables */
	const char *file; /* "/src/main.go"; "" if unknown */
	int line; /* 0 if unknown */
	uint64_t entry; /* entry of the physical function holding pc */
	bool inlined; /* expanded from the inline tree of the next frame */
};

/*
 * The frames at pc, innermost first: the inlined calls (inlined = true)
 * expanded from the inline tree, then the physical function, as Go's own
 * traceback prints them. pc is looked up as is: for a return address pass
 * ret - 1 (as runtime.Callers' users do). Fills up to max, sets *n.
 * 0, or -ENOENT if no function covers pc.
 */
int gobin__symbolize(const struct gobin *b, uint64_t pc, struct gobin_frame *out, size_t max,
		     size_t *n);

/*
 * function as Go's tracebacks print it (runtime.funcNameForPrint): the type
 * arguments of a generic instantiation become "[...]", so
 * "main.sum[go.shape.int]" prints as "main.sum[...]". Copies into buf
 * (truncated, always terminated) and returns strlen(buf).
 */
size_t gobin__print_name(const char *function, char *buf, size_t size);

/*
 * How Go's own unwinder steps out of the function at pc (added for
 * src/unwind.c): *frame_size is the distance from sp to the return address
 * at pc (from the pcsp table: 0 at entry, then the pushes and the frame);
 * the caller's sp is sp + *frame_size + 8. *stop is set when the runtime
 * stops its own tracebacks at this function: a top frame (runtime.goexit,
 * runtime.mstart, runtime.rt0_go) or one that switches stacks by writing SP
 * (runtime.mcall, runtime.systemstack, runtime.morestack). For a return
 * address pass ret - 1. 0, or -ENOENT if no function covers pc or its
 * table has no value there.
 */
int gobin__frame(const struct gobin *b, uint64_t pc, uint64_t *frame_size, bool *stop);

/*
 * Offset of member in the runtime type named type ("runtime.g", "goid";
 * nested names with dots: "sched.pc"), from DWARF. 0, or -ENOENT (no DWARF,
 * no such type or member).
 */
int gobin__member_offset(const struct gobin *b, const char *type, const char *member,
			 uint64_t *off);

/*
 * The offset from the thread pointer (fs_base) at which the runtime keeps
 * the current g (-8 for pure-Go and simple cgo binaries on amd64), from
 * PT_TLS and runtime.tlsg, or by decoding runtime.stackcheck. 0 or -ENOENT.
 */
int gobin__g_tls_offset(const struct gobin *b, int64_t *off);

#endif
