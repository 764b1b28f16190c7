// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Instruction lengths for x86-64 (see x86insn.h): a table per opcode map
 * says whether a ModRM byte and which immediate follow; everything else is
 * prefixes, SIB and displacement arithmetic.
 */
#include <string.h>
#include "x86insn.h"

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

enum {
	XD_OK = 1, /* known opcode */
	XD_M = 2, /* ModRM follows */
	XD_I8 = 4, /* imm8 (or rel8) */
	XD_I16 = 8, /* imm16 */
	XD_IZ = 16, /* imm16 with 66, else imm32 (or rel32) */
	XD_IV = 32, /* B8+r: imm64 with REX.W */
	XD_MOFFS = 64, /* A0-A3: 8-byte address (4 with 67) */
	XD_GRP3 = 128, /* F6/F7: immediate only for /0 and /1 */
};

static const uint8_t x86_map0[256] = {
	[0x00 ... 0x03] = XD_OK | XD_M,
	[0x04] = XD_OK | XD_I8,
	[0x05] = XD_OK | XD_IZ,
	[0x08 ... 0x0b] = XD_OK | XD_M,
	[0x0c] = XD_OK | XD_I8,
	[0x0d] = XD_OK | XD_IZ,
	[0x10 ... 0x13] = XD_OK | XD_M,
	[0x14] = XD_OK | XD_I8,
	[0x15] = XD_OK | XD_IZ,
	[0x18 ... 0x1b] = XD_OK | XD_M,
	[0x1c] = XD_OK | XD_I8,
	[0x1d] = XD_OK | XD_IZ,
	[0x20 ... 0x23] = XD_OK | XD_M,
	[0x24] = XD_OK | XD_I8,
	[0x25] = XD_OK | XD_IZ,
	[0x28 ... 0x2b] = XD_OK | XD_M,
	[0x2c] = XD_OK | XD_I8,
	[0x2d] = XD_OK | XD_IZ,
	[0x30 ... 0x33] = XD_OK | XD_M,
	[0x34] = XD_OK | XD_I8,
	[0x35] = XD_OK | XD_IZ,
	[0x38 ... 0x3b] = XD_OK | XD_M,
	[0x3c] = XD_OK | XD_I8,
	[0x3d] = XD_OK | XD_IZ,
	[0x50 ... 0x5f] = XD_OK,
	[0x63] = XD_OK | XD_M,
	[0x68] = XD_OK | XD_IZ,
	[0x69] = XD_OK | XD_M | XD_IZ,
	[0x6a] = XD_OK | XD_I8,
	[0x6b] = XD_OK | XD_M | XD_I8,
	[0x6c ... 0x6f] = XD_OK,
	[0x70 ... 0x7f] = XD_OK | XD_I8,
	[0x80] = XD_OK | XD_M | XD_I8,
	[0x81] = XD_OK | XD_M | XD_IZ,
	[0x83] = XD_OK | XD_M | XD_I8,
	[0x84 ... 0x8f] = XD_OK | XD_M,
	[0x90 ... 0x99] = XD_OK,
	[0x9b ... 0x9f] = XD_OK,
	[0xa0 ... 0xa3] = XD_OK | XD_MOFFS,
	[0xa4 ... 0xa7] = XD_OK,
	[0xa8] = XD_OK | XD_I8,
	[0xa9] = XD_OK | XD_IZ,
	[0xaa ... 0xaf] = XD_OK,
	[0xb0 ... 0xb7] = XD_OK | XD_I8,
	[0xb8 ... 0xbf] = XD_OK | XD_IV,
	[0xc0 ... 0xc1] = XD_OK | XD_M | XD_I8,
	[0xc2] = XD_OK | XD_I16,
	[0xc3] = XD_OK,
	[0xc6] = XD_OK | XD_M | XD_I8,
	[0xc7] = XD_OK | XD_M | XD_IZ,
	[0xc8] = XD_OK | XD_I16 | XD_I8,
	[0xc9] = XD_OK,
	[0xca] = XD_OK | XD_I16,
	[0xcb ... 0xcc] = XD_OK,
	[0xcd] = XD_OK | XD_I8,
	[0xcf] = XD_OK,
	[0xd0 ... 0xd3] = XD_OK | XD_M,
	[0xd7] = XD_OK,
	[0xd8 ... 0xdf] = XD_OK | XD_M,
	[0xe0 ... 0xe7] = XD_OK | XD_I8,
	[0xe8 ... 0xe9] = XD_OK | XD_IZ,
	[0xeb] = XD_OK | XD_I8,
	[0xec ... 0xef] = XD_OK,
	[0xf1] = XD_OK,
	[0xf4 ... 0xf5] = XD_OK,
	[0xf6] = XD_OK | XD_M | XD_GRP3,
	[0xf7] = XD_OK | XD_M | XD_GRP3,
	[0xf8 ... 0xfd] = XD_OK,
	[0xfe ... 0xff] = XD_OK | XD_M,
};

static const uint8_t x86_map0f[256] = {
	[0x00 ... 0x03] = XD_OK | XD_M,
	[0x05 ... 0x09] = XD_OK,
	[0x0b] = XD_OK,
	[0x0d] = XD_OK | XD_M,
	[0x10 ... 0x1f] = XD_OK | XD_M,
	[0x20 ... 0x23] = XD_OK | XD_M,
	[0x28 ... 0x2f] = XD_OK | XD_M,
	[0x30 ... 0x35] = XD_OK,
	[0x37] = XD_OK,
	[0x40 ... 0x6f] = XD_OK | XD_M,
	[0x70 ... 0x73] = XD_OK | XD_M | XD_I8,
	[0x74 ... 0x76] = XD_OK | XD_M,
	[0x77] = XD_OK,
	[0x78 ... 0x79] = XD_OK | XD_M,
	[0x7c ... 0x7f] = XD_OK | XD_M,
	[0x80 ... 0x8f] = XD_OK | XD_IZ,
	[0x90 ... 0x9f] = XD_OK | XD_M,
	[0xa0 ... 0xa2] = XD_OK,
	[0xa3] = XD_OK | XD_M,
	[0xa4] = XD_OK | XD_M | XD_I8,
	[0xa5] = XD_OK | XD_M,
	[0xa8 ... 0xaa] = XD_OK,
	[0xab] = XD_OK | XD_M,
	[0xac] = XD_OK | XD_M | XD_I8,
	[0xad ... 0xb9] = XD_OK | XD_M,
	[0xba] = XD_OK | XD_M | XD_I8,
	[0xbb ... 0xc1] = XD_OK | XD_M,
	[0xc2] = XD_OK | XD_M | XD_I8,
	[0xc3] = XD_OK | XD_M,
	[0xc4 ... 0xc6] = XD_OK | XD_M | XD_I8,
	[0xc7] = XD_OK | XD_M,
	[0xc8 ... 0xcf] = XD_OK,
	[0xd0 ... 0xff] = XD_OK | XD_M,
};

bool x86_insn__decode(const uint8_t *p, size_t avail, struct x86_insn *in)
{
	const uint8_t *s = p, *end = p + (avail < 15 ? avail : 15);
	bool opsize = false, addrsize = false, vex = false;
	uint8_t fl = 0;
	int imm = 0, disp = 0;

	memset(in, 0, sizeof(*in));
	for (; p < end; p++) {
		if (*p == 0x66)
			opsize = true;
		else if (*p == 0x67)
			addrsize = true;
		else if (*p == 0x64 || *p == 0x65)
			in->seg = *p;
		else if (*p != 0xf0 && *p != 0xf2 && *p != 0xf3 && *p != 0x2e && *p != 0x36 &&
			 *p != 0x3e && *p != 0x26)
			break;
	}
	if (p < end && (*p & 0xf0) == 0x40)
		in->rex = *p++;
	if (p >= end)
		return false;
	if (*p == 0xc4 || *p == 0xc5) { /* VEX: map from the prefix, ModRM always */
		int n = *p == 0xc4 ? 3 : 2;

		if (end - p < n + 1)
			return false;
		in->map = n == 3 ? (p[1] & 0x1f) : 1;
		if (n == 3 && (p[2] & 0x80))
			in->rex |= 0x48;
		p += n;
		vex = true;
		if (in->map < 1 || in->map > 3)
			return false;
	} else if (*p == 0x0f) {
		p++;
		if (p < end && (*p == 0x38 || *p == 0x3a))
			in->map = *p++ == 0x38 ? 2 : 3;
		else
			in->map = 1;
	}
	if (p >= end)
		return false;
	in->op = *p++;
	if (in->map == 0)
		fl = x86_map0[in->op];
	else if (in->map == 1)
		fl = vex ? (in->op == 0x77 ? XD_OK : (XD_OK | XD_M | (x86_map0f[in->op] & XD_I8))) :
			   x86_map0f[in->op];
	else
		fl = XD_OK | XD_M | (in->map == 3 ? XD_I8 : 0);
	if (!(fl & XD_OK))
		return false;
	if (fl & XD_M) {
		uint8_t mod, rm;

		if (p >= end)
			return false;
		in->has_modrm = true;
		in->modrm = *p++;
		mod = in->modrm >> 6;
		rm = in->modrm & 7;
		if (mod != 3 && rm == 4) {
			if (p >= end)
				return false;
			in->has_sib = true;
			in->sib = *p++;
		}
		if (mod == 1)
			disp = 1;
		else if (mod == 2 || (mod == 0 && rm == 5) ||
			 (mod == 0 && in->has_sib && (in->sib & 7) == 5))
			disp = 4;
		if ((fl & XD_GRP3) && ((in->modrm >> 3) & 7) < 2)
			imm = in->op == 0xf6 ? 1 : (opsize ? 2 : 4);
	}
	if (fl & XD_I8)
		imm += 1;
	if (fl & XD_I16)
		imm += 2;
	if (fl & XD_IZ)
		imm += opsize ? 2 : 4;
	if (fl & XD_IV)
		imm += (in->rex & 8) ? 8 : opsize ? 2 : 4;
	if (fl & XD_MOFFS)
		imm += addrsize ? 4 : 8;
	if (end - p < disp + imm)
		return false;
	if (disp == 1)
		in->disp = (int8_t)p[0];
	else if (disp == 4)
		in->disp = (int32_t)rd32(p);
	p += disp;
	if (imm == 1)
		in->imm = (int8_t)p[0];
	else if (imm == 4)
		in->imm = (int32_t)rd32(p);
	else if (imm == 8)
		in->imm = (int64_t)rd64(p);
	p += imm;
	in->len = (uint8_t)(p - s);
	return true;
}
