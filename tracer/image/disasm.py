"""Capstone over the image's code: privileged-instruction sites, and listings for display."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Literal, TypeAlias

import capstone

from .elf import ElfImage, Section

SiteKind: TypeAlias = Literal[
    "wrmsr", "rdmsr", "swapgs", "wrfsbase", "wrgsbase", "rdfsbase", "rdgsbase", "sysretq",
    "sysexit", "iretq", "syscall", "sysenter", "mov_cr3", "int", "hlt",
]  # fmt: skip

# Capstone mnemonic -> site kind. The 32-bit-operand sysret/sysexit (back to compatibility mode)
# count as the same kind; `Site.text` keeps the exact spelling. A lone 0xcf (iretd) is left
# out: no 64-bit kernel returns that way, and the byte is common in data swept as code.
_KIND_OF_MNEMONIC: dict[str, SiteKind] = {
    "wrmsr": "wrmsr", "rdmsr": "rdmsr", "swapgs": "swapgs",
    "wrfsbase": "wrfsbase", "wrgsbase": "wrgsbase", "rdfsbase": "rdfsbase", "rdgsbase": "rdgsbase",
    "sysretq": "sysretq", "sysret": "sysretq", "sysexit": "sysexit", "sysexitq": "sysexit",
    "iretq": "iretq", "syscall": "syscall", "sysenter": "sysenter", "int": "int", "hlt": "hlt",
}  # fmt: skip

# Byte strings every encoding of a kind contains; code without any is not disassembled.
_SIGNATURES: dict[SiteKind, tuple[bytes, ...]] = {
    "wrmsr": (b"\x0f\x30",), "rdmsr": (b"\x0f\x32",), "swapgs": (b"\x0f\x01\xf8",),
    "wrfsbase": (b"\x0f\xae",), "wrgsbase": (b"\x0f\xae",), "rdfsbase": (b"\x0f\xae",),
    "rdgsbase": (b"\x0f\xae",), "sysretq": (b"\x0f\x07",), "sysexit": (b"\x0f\x35",),
    "iretq": (b"\xcf",), "syscall": (b"\x0f\x05",), "sysenter": (b"\x0f\x34",),
    "mov_cr3": (b"\x0f\x22",), "int": (b"\xcd",), "hlt": (b"\xf4",),
}  # fmt: skip

ALL_KINDS: frozenset[SiteKind] = frozenset(_SIGNATURES)
_CHUNK = 64 * 1024  # capstone decodes a whole buffer at once; keep its arrays small
_MAX_INSN = 15


@dataclass(frozen=True, slots=True)
class Insn:
    addr: int
    size: int
    mnemonic: str
    op_str: str
    bytes: bytes

    @property
    def text(self) -> str:
        return f"{self.mnemonic} {self.op_str}".rstrip()

    @property
    def end(self) -> int:
        return self.addr + self.size


@dataclass(frozen=True, slots=True)
class Site:
    addr: int
    kind: SiteKind
    size: int
    text: str  # as capstone prints it (Intel syntax): "wrmsr", "mov cr3, rax"
    function: str | None  # symbolized address: "setup_msrs+0x12"
    section: str  # code in a section of instruction templates (Linux's .altinstr_replacement)
    # is copied elsewhere at boot, so a caller may want to leave such sites out


def new_capstone(*, detail: bool = False) -> capstone.Cs:
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.detail = detail
    md.skipdata = not detail  # sweeps step over data bytes instead of stopping
    return md


def _site_kind(mnemonic: str, op_str: str) -> SiteKind | None:
    if mnemonic == "mov":
        return "mov_cr3" if op_str.startswith("cr3,") else None
    return _KIND_OF_MNEMONIC.get(mnemonic)


def _sync_points(image: ElfImage, section: Section) -> list[int]:
    """Addresses where a linear sweep must (re)start: section start, symbol starts and ends.
    Kept per symbol table: a plan scans each section once per site kind (0.4 s a time on
    Linux's 125k symbols)."""
    key = f"sync_points:{section.name}:{id(image.symtab)}"
    cached: list[int] | None = image._cache.get(key)
    if cached is not None:
        return cached
    points = {section.addr}
    for sym in image.symtab.code_symbols(section.name):
        points.add(sym.addr)
        if sym.size:
            points.add(sym.end)
    image._cache[key] = found = sorted(p for p in points if section.addr <= p < section.end)
    return found


def _sweep(md: capstone.Cs, code: bytes, base: int) -> Iterator[tuple[int, int, str, str]]:
    """Linear sweep of `code` (loaded at `base`) in chunks, staying on instruction boundaries."""
    pos = 0
    while pos < len(code):
        chunk_end = min(len(code), pos + _CHUNK)
        next_pos = pos
        for insn in md.disasm_lite(code[pos:chunk_end], base + pos):
            offset = insn[0] - base
            # An instruction near the chunk's end may be cut: decode it again with the next one.
            if chunk_end < len(code) and offset > chunk_end - _MAX_INSN:
                break
            yield insn
            next_pos = offset + insn[1]
        pos = max(next_pos, pos + 1)


def _signature_pattern(kinds: Collection[SiteKind]) -> re.Pattern[bytes]:
    signatures = {sig for kind in kinds for sig in _SIGNATURES[kind]}
    return re.compile(b"|".join(re.escape(s) for s in sorted(signatures)))


def scan_sites(image: ElfImage, kinds: Collection[SiteKind] = ALL_KINDS) -> list[Site]:
    """Every instruction of the given kinds in the image's executable sections, by address.

    Sweeps restart at every code symbol so data in a gap cannot desynchronise a function;
    stretches with no symbols (or a stripped file) are swept linearly on their own.
    """
    wanted = frozenset(kinds)
    unknown = wanted - ALL_KINDS
    if unknown:
        raise ValueError(f"unknown site kinds: {sorted(unknown)}")
    if not wanted:
        return []
    md = new_capstone()
    pattern = _signature_pattern(wanted)
    sites = []
    for section in image.executable_sections():
        code = image.data[section.offset : section.offset + section.size]
        for start, end in _stretches_to_sweep(image, section, code, pattern):
            for addr, size, mnemonic, op_str in _sweep(md, code[start:end], section.addr + start):
                kind = _site_kind(mnemonic, op_str)
                if kind in wanted:
                    text = f"{mnemonic} {op_str}".rstrip()
                    sites.append(Site(addr, kind, size, text, image.symbolize(addr), section.name))
    sites.sort(key=lambda s: s.addr)
    return sites


def _stretches_to_sweep(
    image: ElfImage, section: Section, code: bytes, pattern: re.Pattern[bytes]
) -> Iterator[tuple[int, int]]:
    """The [start, end) offsets between sync points that hold a whole signature: found by
    searching the section for the next one, not each of Linux's 125k stretches in turn."""
    points = [p - section.addr for p in _sync_points(image, section)] + [section.size]
    pos = 0
    while pos < len(code):
        found = pattern.search(code, pos)
        if found is None:
            return
        i = bisect_right(points, found.start()) - 1
        start, end = points[i], points[i + 1]
        if pattern.search(code, start, end) is not None:  # a signature across its end is none
            yield start, end
        pos = end


def find_syscall_instructions(image: ElfImage) -> list[Site]:
    """The `syscall` instructions of a user program, with the functions that hold them."""
    syscall_only: tuple[SiteKind, ...] = ("syscall",)
    return scan_sites(image, syscall_only)


def disassemble(
    image: ElfImage, start: int, end: int | None = None, *, count: int | None = None
) -> list[Insn]:
    """Instructions from `start` up to `end` (exclusive) or for `count` instructions."""
    if (end is None) == (count is None):
        raise ValueError("give exactly one of end= or count=")
    limit = end - start if end is not None else (count or 0) * _MAX_INSN
    code = image.read_upto(start, max(limit, 0))
    md = new_capstone()
    insns: list[Insn] = []
    for addr, size, mnemonic, op_str in md.disasm_lite(code, start):
        if count is not None and len(insns) >= count:
            break
        raw = code[addr - start : addr - start + size]
        insns.append(Insn(addr, size, mnemonic, op_str, raw))
    return insns
