#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Small seeds for tests/fuzz/fuzz_gobin.c, made from real Go executables.

    gobin_seeds.py OUTDIR GO-BINARY...

A Go executable is megabytes (a hello world's .gopclntab alone is ~700 KiB),
past libFuzzer's default -max_len and slow to mutate. This rebuilds one as a
few KiB that src/gobin.c still reads the whole way: the ELF header, three
PT_LOAD segments (text, read-only, writable) and, of the .gopclntab, only the
functions tangle looks up (main.*, the runtime functions it decodes or stops
at, crosscall2) with their code, pc tables, file names and inline trees;
.go.buildinfo verbatim and a moduledata (in .go.module for Go 1.26+) that
points at the new tables. Each binary gives three seeds:

    NAME-full   sections named, .symtab with the runtime globals if it had one, and
                a small DWARF .debug_info with runtime.g, runtime.gobuf and runtime.m
    NAME-bare   no section headers: every table is found by scanning segments
    NAME-pie    ET_DYN, moduledata pointers left 0 and filled by R_X86_64_RELATIVE

Layouts are those src/gobin.c documents (Go 1.20+, amd64). Nothing here is
checked beyond what gobin reads: the seeds are for fuzzing, not for running.
"""

import os
import struct
import sys

PCLN_MAGIC = 0xFFFFFFF1
FUNC_HDR = 44
PCDATA_INLTREE = 2
FUNCDATA_INLTREE = 3
INLCALL = 16
BUILDINFO_MAGIC = b"\xff Go buildinf:"
MD_SIZE = 0x300
BASE = 0x400000
KEEP = {
    "runtime.main", "runtime.goexit", "runtime.mstart", "runtime.rt0_go", "runtime.mcall",
    "runtime.systemstack", "runtime.morestack", "runtime.forEachGRace",
    "runtime.mcommoninit", "runtime.stackcheck", "runtime.gopark", "crosscall2",
}
PT_LOAD, PT_TLS = 1, 7
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_NOBITS = 1, 2, 3, 4, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_TLS = 1, 2, 4, 0x400
PF_X, PF_W, PF_R = 1, 2, 4
R_X86_64_RELATIVE = 8


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def cstr(b, o):
    return bytes(b[o:b.index(b"\0", o)])


def align(n, a):
    return (n + a - 1) // a * a


class Elf:
    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        assert d[:4] == b"\x7fELF" and d[4] == 2 and d[5] == 1, "not a 64-bit LE ELF"
        (self.type, self.machine, _, _, phoff, shoff, _, _, _, phnum, _, shnum,
         shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", d, 16)
        self.phdrs = [struct.unpack_from("<IIQQQQQQ", d, phoff + 56 * i) for i in range(phnum)]
        shdrs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + 64 * i) for i in range(shnum)]
        strtab = shdrs[shstrndx]
        self.sections = {}
        for s in shdrs:
            name = cstr(d, strtab[4] + s[0]).decode()
            self.sections[name] = s

    def section(self, name):
        s = self.sections.get(name)
        return (s[3], self.data[s[4]:s[4] + s[5]]) if s else (None, None)

    def read(self, addr, n):
        """n bytes at a link-time address, from the PT_LOAD that holds them."""
        for p in self.phdrs:
            if p[0] == PT_LOAD and p[3] <= addr and addr + n <= p[3] + p[5]:
                return self.data[p[2] + addr - p[3]:p[2] + addr - p[3] + n]
        raise ValueError(f"0x{addr:x} not in the file")

    def symbols(self):
        s = self.sections.get(".symtab")
        if not s:
            return {}
        strs = list(self.sections.values())[s[6]]
        out = {}
        for o in range(s[4], s[4] + s[5], 24):
            name, info, other, shndx, value, size = struct.unpack_from("<IBBHQQ", self.data, o)
            if name:
                out.setdefault(cstr(self.data, strs[4] + name).decode(), (value, size, info))
        return out


def pctable(pctab, off):
    """Bytes of the pc-value table at off (through its terminator) and the values it takes."""
    if not off:
        return b"", []
    p, first, val, vals = off, True, -1, []
    while True:
        uv, p = uvarint(pctab, p)
        if uv == 0 and not first:
            return pctab[off:p], vals
        _, p = uvarint(pctab, p)
        val += -(uv & 1) ^ (uv >> 1)
        vals.append(val)
        first = False


def uvarint(b, p):
    v = shift = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, p


class Pcln:
    """The source binary's tables, as src/gobin.c reads them."""

    def __init__(self, elf):
        self.addr, self.pcln = elf.section(".gopclntab")
        if self.pcln is None:  # externally linked PIE
            self.addr, self.pcln = elf.section(".data.rel.ro.gopclntab")
        h = self.pcln
        assert u32(h, 0) == PCLN_MAGIC and h[7] == 8, "not a Go 1.20+ .gopclntab"
        self.header = h[:72]
        self.nfunc = u64(h, 8)
        self.text_start = u64(h, 24)
        off = [u64(h, 32 + 8 * i) for i in range(5)] + [len(h)]
        self.funcnametab, self.cutab, self.filetab, self.pctab, self.functab = (
            h[off[i]:off[i + 1]] for i in range(5))
        self.md_addr = self.moduledata(elf)
        md = elf.read(self.md_addr, 328)
        self.gofunc = u64(md, 320)
        self.text = u64(md, 176)

    def moduledata(self, elf):
        addr, _ = elf.section(".go.module")
        if addr:
            return addr
        want = struct.pack("<Q", self.addr)
        for p in elf.phdrs:
            if p[0] == PT_LOAD and p[1] & PF_W:
                seg = elf.data[p[2]:p[2] + p[4]]
                for o in range(0, len(seg) - 8, 8):
                    if seg[o:o + 8] == want:
                        return p[3] + o
        raise ValueError("no moduledata")

    def func(self, i):
        entry, funcoff = struct.unpack_from("<II", self.functab, 8 * i)
        npcdata, nfuncdata = u32(self.functab, funcoff + 28), self.functab[funcoff + 43]
        size = FUNC_HDR + 4 * (npcdata + nfuncdata)
        return {
            "entry": entry, "end": u32(self.functab, 8 * (i + 1)),
            "name": cstr(self.funcnametab, u32(self.functab, funcoff + 4)).decode(),
            "rec": bytearray(self.functab[funcoff:funcoff + size]),
            "npcdata": npcdata, "nfuncdata": nfuncdata,
        }


class Builder:
    """New .gopclntab tables: strings and pc tables copied once, offsets remapped."""

    def __init__(self):
        self.names, self.name_off = bytearray(), {}
        self.files, self.file_off = bytearray(), {}
        self.pctab, self.pc_off = bytearray(b"\0"), {}
        self.cutab = []

    def name(self, s):
        if s not in self.name_off:
            self.name_off[s] = len(self.names)
            self.names += s + b"\0"
        return self.name_off[s]

    def file(self, s):
        if s not in self.file_off:
            self.file_off[s] = len(self.files)
            self.files += s + b"\0"
        return self.file_off[s]

    def table(self, body):
        if not body:
            return 0
        if body not in self.pc_off:
            self.pc_off[body] = len(self.pctab)
            self.pctab += body
        return self.pc_off[body]


def rebuild(src, elf):
    """The kept functions' code, new pclntab pieces and inline trees (gofunc blob)."""
    b = Builder()
    keep = [i for i in range(src.nfunc)
            if (n := src.func(i)["name"]) in KEEP or n.startswith("main.")
            or n.startswith("runtime/cgo.") and n.endswith("crosscall2")]
    text, gofunc, funcs, cus = bytearray(), bytearray(), [], {}
    for i in keep:
        f = src.func(i)
        rec, npc = f["rec"], f["npcdata"]
        text += b"\xcc" * (align(len(text), 32) - len(text))
        new_entry = len(text)
        text += elf.read(src.text + f["entry"], f["end"] - f["entry"])
        struct.pack_into("<II", rec, 0, new_entry, b.name(cstr(src.funcnametab, u32(rec, 4))))
        for o in (16, 24):  # pcsp, pcln
            struct.pack_into("<I", rec, o, b.table(pctable(src.pctab, u32(rec, o))[0]))
        body, files = pctable(src.pctab, u32(rec, 20))
        struct.pack_into("<I", rec, 20, b.table(body))
        # the file numbers this function uses, for a per-CU block of the new cutab
        cu = u32(rec, 32)
        cus.setdefault(cu, set()).update(x for x in files if x >= 0)
        inl_vals = []
        for j in range(npc):
            body, vals = pctable(src.pctab, u32(rec, FUNC_HDR + 4 * j))
            struct.pack_into("<I", rec, FUNC_HDR + 4 * j, b.table(body))
            if j == PCDATA_INLTREE:
                inl_vals = vals
        for j in range(f["nfuncdata"]):
            o = FUNC_HDR + 4 * (npc + j)
            off = u32(rec, o)
            new = 0xFFFFFFFF
            if j == FUNCDATA_INLTREE and off != 0xFFFFFFFF and max(inl_vals, default=-1) >= 0:
                n = max(inl_vals) + 1
                tree = bytearray(elf.read(src.gofunc + off, n * INLCALL))
                for k in range(n):
                    nameoff = u32(tree, k * INLCALL + 4)
                    struct.pack_into("<I", tree, k * INLCALL + 4,
                                     b.name(cstr(src.funcnametab, nameoff)))
                gofunc += b"\0" * (align(len(gofunc), 8) - len(gofunc))
                new = len(gofunc)
                gofunc += tree
            struct.pack_into("<I", rec, o, new)
        funcs.append(rec)
    # cutab: one block per source CU, as long as its highest file number used
    cu_new = {}
    for cu, files in sorted(cus.items()):
        cu_new[cu] = len(b.cutab)
        for fileno in range(max(files, default=-1) + 1):
            if fileno in files:
                b.cutab.append(b.file(cstr(src.filetab, u32(src.cutab, 4 * (cu + fileno)))))
            else:
                b.cutab.append(0xFFFFFFFF)
    for rec in funcs:
        struct.pack_into("<I", rec, 32, cu_new[u32(rec, 32)])
    return b, funcs, bytes(text), bytes(gofunc)


def pclntab(src, b, funcs, text_addr, end):
    """The new .gopclntab: header, four tables, then functab and _func records."""
    ftab = bytearray()
    recs = bytearray()
    base = 8 * (len(funcs) + 1)
    for rec in funcs:
        recs += b"\0" * (align(base + len(recs), 8) - base - len(recs))
        ftab += struct.pack("<II", u32(rec, 0), base + len(recs))
        recs += rec
    ftab += struct.pack("<II", end, 0)
    parts = [bytes(b.names), struct.pack(f"<{len(b.cutab)}I", *b.cutab), bytes(b.files),
             bytes(b.pctab), bytes(ftab + recs)]
    offs, o = [], 72
    for p in parts:
        o = align(o, 8)
        offs.append(o)
        o += len(p)
    h = bytearray(src.header)
    struct.pack_into("<Q", h, 8, len(funcs))
    struct.pack_into("<Q", h, 24, text_addr if src.text_start else 0)
    struct.pack_into("<5Q", h, 32, *offs)
    out = bytearray(h)
    for p, off in zip(parts, offs):
        out += b"\0" * (off - len(out)) + p
    return bytes(out), offs


class Image:
    """An ELF file laid out by hand: sections appended in order, addresses = BASE + offset."""

    def __init__(self):
        self.data = bytearray(0x200)  # ELF header and program headers
        self.sections = []  # (name, type, flags, addr, offset, size, link, info, align, entsize)

    def add(self, name, body, stype=SHT_PROGBITS, flags=SHF_ALLOC, al=16, link=0, info=0,
            entsize=0, alloc=True):
        self.data += b"\0" * (align(len(self.data), al) - len(self.data))
        off = len(self.data)
        self.data += body
        self.sections.append((name, stype, flags, BASE + off if alloc else 0, off, len(body),
                              link, info, al, entsize))
        return BASE + off

    def reserve(self, name, size, **kw):
        return self.add(name, bytes(size), **kw)

    def patch(self, addr, fmt, *v):
        struct.pack_into(fmt, self.data, addr - BASE, *v)


def uleb(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def dwarf():
    """A DWARF 4 .debug_abbrev and .debug_info: the runtime structs whose members tangle reads.

    Go writes a few megabytes of compressed DWARF; this is the part gobin__member_offset
    walks: top-level structures, members with offsets, a typedef to follow on a path.
    """
    DW_FORM_string, DW_FORM_udata, DW_FORM_data1, DW_FORM_ref4 = 0x08, 0x0F, 0x0B, 0x13
    NAME, BYTE_SIZE, LOCATION, TYPE, ENCODING = 0x03, 0x0B, 0x38, 0x49, 0x3E
    abbrevs = {  # code: (tag, children, attributes)
        1: (0x11, 1, [(NAME, DW_FORM_string)]),  # compile unit
        2: (0x13, 1, [(NAME, DW_FORM_string), (BYTE_SIZE, DW_FORM_udata)]),  # structure
        3: (0x0D, 0, [(NAME, DW_FORM_string), (LOCATION, DW_FORM_udata), (TYPE, DW_FORM_ref4)]),
        4: (0x16, 0, [(NAME, DW_FORM_string), (TYPE, DW_FORM_ref4)]),  # typedef
        5: (0x24, 0, [(NAME, DW_FORM_string), (BYTE_SIZE, DW_FORM_udata),
                      (ENCODING, DW_FORM_data1)]),  # base type
    }
    abbrev = bytearray()
    for code, (tag, children, attrs) in abbrevs.items():
        abbrev += uleb(code) + uleb(tag) + bytes([children])
        for a, f in attrs:
            abbrev += uleb(a) + uleb(f)
        abbrev += b"\0\0"
    abbrev += b"\0"
    # (label, abbrev code, values; a str value of a ref4 is a label); None ends children
    dies = [
        ("cu", 1, [b"runtime"]),
        ("uintptr", 5, [b"uintptr", 8, 7]),
        ("int64", 5, [b"int64", 8, 5]),
        ("gobuf", 2, [b"runtime.gobuf", 56]),
        (None, 3, [b"sp", 0, "uintptr"]),
        (None, 3, [b"pc", 8, "uintptr"]),
        None,
        ("gobuf_t", 4, [b"runtime.gobuf_t", "gobuf"]),
        ("g", 2, [b"runtime.g", 440]),
        (None, 3, [b"sched", 56, "gobuf_t"]),
        (None, 3, [b"goid", 152, "int64"]),
        None,
        ("m", 2, [b"runtime.m", 1200]),
        (None, 3, [b"curg", 192, "uintptr"]),
        None,
        None,
    ]

    def encode(labels):
        out = bytearray()
        for die in dies:
            if die is None:
                out += b"\0"
                continue
            label, code, values = die
            if label:
                labels[label] = 11 + len(out)  # offsets count from the unit header
            out += uleb(code)
            for (_, form), v in zip(abbrevs[code][2], values):
                if form == DW_FORM_string:
                    out += v + b"\0"
                elif form == DW_FORM_udata:
                    out += uleb(v)
                elif form == DW_FORM_data1:
                    out += bytes([v])
                else:
                    out += struct.pack("<I", labels.get(v, 0))
        return out

    labels = {}
    encode(labels)
    body = encode(labels)
    info = struct.pack("<IHIB", 7 + len(body), 4, 0, 8) + body
    return bytes(abbrev), bytes(info)


def seed(elf, src, shape):
    b, funcs, code, gofunc = rebuild(src, elf)
    img = Image()
    text_addr = img.add(".text", code, flags=SHF_ALLOC | SHF_EXECINSTR, al=64)
    img.data += b"\0" * (align(len(img.data), 64) - len(img.data))
    text_end = len(img.data)
    pcln_size = len(pclntab(src, b, funcs, text_addr, len(code))[0])
    gofunc_addr = img.add(".rodata", gofunc or b"\0", al=32)
    pcln_addr = img.reserve(".gopclntab", pcln_size, al=8)
    tab, offs = pclntab(src, b, funcs, text_addr, len(code))
    img.patch(pcln_addr, f"{len(tab)}s", tab)
    ro_end = len(img.data)
    img.data += b"\0" * (align(len(img.data), 0x1000) - len(img.data))
    rw_start = len(img.data)
    _, bi = elf.section(".go.buildinfo")
    img.add(".go.buildinfo", bi, flags=SHF_ALLOC | SHF_WRITE)
    # a PIE's moduledata is found through its relocations, not by name
    md_name = ".go.module" if ".go.module" in elf.sections and shape != "pie" else ".noptrdata"
    md = img.reserve(md_name, MD_SIZE, flags=SHF_ALLOC | SHF_WRITE, al=32)
    sizes = [len(b.names), 4 * len(b.cutab), len(b.files), len(b.pctab), 0]
    ptrs = {0: pcln_addr, 176: text_addr, 184: text_addr + len(code), 320: gofunc_addr}
    for i, off in enumerate(offs):  # funcnametab, cutab, filetab, pctab, pclntable slices
        ptrs[8 + 24 * i] = pcln_addr + off
        img.patch(md + 16 + 24 * i, "<QQ", sizes[i], sizes[i])
    ptrs[128] = pcln_addr + offs[4]  # ftab
    img.patch(md + 136, "<QQ", len(funcs) + 1, len(funcs) + 1)
    for o, v in ptrs.items():
        img.patch(md + o, "<Q", 0 if shape == "pie" else v)
    bss = img.reserve(".data", 64, flags=SHF_ALLOC | SHF_WRITE, al=32)
    rw_end = len(img.data)
    tls = [p for p in elf.phdrs if p[0] == PT_TLS]
    syms = elf.symbols()
    if shape == "pie":
        rela = b"".join(struct.pack("<QQq", md + o, R_X86_64_RELATIVE, v)
                        for o, v in sorted(ptrs.items()))
        img.add(".rela", rela, stype=SHT_RELA, al=8, entsize=24, alloc=False)
    if shape == "full":
        abbrev, info = dwarf()
        img.add(".debug_abbrev", abbrev, al=1, alloc=False)
        img.add(".debug_info", info, al=1, alloc=False)
    if syms and shape != "bare":
        values = {"runtime.text": text_addr, "runtime.firstmoduledata": md,
                  "runtime.allglen": bss, "runtime.allgptr": bss + 8, "runtime.allm": bss + 16,
                  "runtime.buildVersion": bss + 24}
        if tls and "runtime.tlsg" in syms:
            values["runtime.tlsg"] = syms["runtime.tlsg"][0]
        strs, symtab = bytearray(b"\0"), bytearray(24)
        for name, v in values.items():
            symtab += struct.pack("<IBBHQQ", len(strs), 1, 0, 1, v, 8)
            strs += name.encode() + b"\0"
        nsec = len(img.sections) + 1
        img.add(".symtab", bytes(symtab), stype=SHT_SYMTAB, al=8, link=nsec + 1, info=1,
                entsize=24, alloc=False)
        img.add(".strtab", bytes(strs), stype=SHT_STRTAB, al=1, alloc=False)
    phdrs = [(PT_LOAD, PF_R | PF_X, 0, BASE, text_end, text_end, 0x1000),
             (PT_LOAD, PF_R, text_end, BASE + text_end, ro_end - text_end, ro_end - text_end,
              0x1000),
             (PT_LOAD, PF_R | PF_W, rw_start, BASE + rw_start, rw_end - rw_start,
              rw_end - rw_start, 0x1000)]
    if tls:
        phdrs.append((PT_TLS, PF_R, rw_start, BASE + rw_start, 0, tls[0][6], tls[0][7]))
    for i, p in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", img.data, 64 + 56 * i, p[0], p[1], p[2], p[3], p[3],
                         p[4], p[5], p[6])
    shnum = shoff = shstrndx = 0
    if shape != "bare":
        shstr = bytearray(b"\0")
        names = []
        for s in img.sections + [(".shstrtab",)]:
            names.append(len(shstr))
            shstr += s[0].encode() + b"\0"
        img.add(".shstrtab", bytes(shstr), stype=SHT_STRTAB, al=1, alloc=False)
        img.data += b"\0" * (align(len(img.data), 8) - len(img.data))
        shoff, shnum, shstrndx = len(img.data), len(img.sections) + 1, len(img.sections)
        img.data += bytes(64)
        for s, n in zip(img.sections, names):
            img.data += struct.pack("<IIQQQQIIQQ", n, *s[1:])
    e_type = 3 if shape == "pie" else 2
    struct.pack_into("<16sHHIQQQIHHHHHH", img.data, 0, b"\x7fELF\x02\x01\x01" + bytes(9),
                     e_type, elf.machine, 1, text_addr, 64, shoff, 0, 64, 56, len(phdrs), 64,
                     shnum, shstrndx)
    return bytes(img.data)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for path in sys.argv[2:]:
        elf = Elf(path)
        src = Pcln(elf)
        for shape in ("full", "bare", "pie"):
            name = os.path.join(out, f"{os.path.basename(path)}-{shape}")
            with open(name, "wb") as f:
                f.write(seed(elf, src, shape))


if __name__ == "__main__":
    main()
