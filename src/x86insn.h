/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Just enough of an x86-64 decoder to walk straight-line code instruction by
 * instruction (src/gobin.c reads runtime globals and the TLS offset of g out
 * of a few Go runtime functions this way): it knows legacy prefixes,
 * REX, the one-byte and 0F opcode maps, 0F38/0F3A and VEX (C4/C5), and where
 * ModRM, SIB, displacement and immediate are. It gives up (returns false) on
 * EVEX (62), 3DNow! and anything it does not know, so callers only ever act
 * on instructions it fully decoded. It does not check operand validity.
 */
#ifndef TANGLE_X86INSN_H
#define TANGLE_X86INSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct x86_insn {
	uint8_t len; /* bytes, prefixes to immediate */
	uint8_t seg; /* 0x64 (fs), 0x65 (gs) or 0 */
	uint8_t rex; /* 0x40-0x4f, 0 if none (VEX.W shows as REX.W) */
	uint8_t map; /* 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t op;
	uint8_t modrm, sib;
	bool has_modrm, has_sib;
	int32_t disp; /* sign-extended; from the end of the instruction when RIP-relative */
	int64_t imm; /* sign-extended imm8/imm32, imm64; 16-bit ones are not kept */
};

/*
 * Decodes the instruction at p, of which avail bytes may be read (at most
 * 15 are). False if it is one the decoder does not know, or cut short.
 */
bool x86_insn__decode(const uint8_t *p, size_t avail, struct x86_insn *in);

#endif
