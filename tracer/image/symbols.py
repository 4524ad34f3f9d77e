"""Symbols and address-to-name lookup: sorted arrays and bisect, no per-query scans."""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

SymbolType: TypeAlias = Literal["func", "object", "notype", "tls"]
SymbolBind: TypeAlias = Literal["global", "local", "weak"]

_TYPES: dict[int, SymbolType] = {0: "notype", 1: "object", 2: "func", 6: "tls", 10: "func"}
_BINDS: dict[int, SymbolBind] = {0: "local", 1: "global", 2: "weak", 10: "global"}
_SHN_UNDEF = 0
_SHN_LORESERVE = 0xFF00
_SYM64 = struct.Struct("<IBBHQQ")
# How far back from an address to look for a sized symbol that still covers it.
_CONTAINMENT_WINDOW = 32


@dataclass(frozen=True, slots=True)
class Symbol:
    name: str
    addr: int
    size: int
    type: SymbolType
    bind: SymbolBind
    section: str

    @property
    def end(self) -> int:
        return self.addr + self.size

    def contains(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.size


def parse_symtab(table: bytes, strings: bytes, section_names: Sequence[str]) -> list[Symbol]:
    """Decode an ELF64 little-endian symbol table.

    pyelftools spends ~14 us a symbol and a vmlinux has ~150k of them, so the fixed-size
    Elf64_Sym records are unpacked here directly (pyelftools still locates the sections).
    """
    symbols = []
    usable = len(table) - len(table) % _SYM64.size
    for name_off, info, _other, shndx, value, size in _SYM64.iter_unpack(table[:usable]):
        sym_type = _TYPES.get(info & 0xF)
        bind = _BINDS.get(info >> 4)
        if sym_type is None or bind is None or shndx == _SHN_UNDEF or name_off == 0:
            continue
        end = strings.find(b"\0", name_off)
        name = strings[name_off : end if end >= 0 else len(strings)].decode("utf-8", "replace")
        if not name:
            continue
        in_section = shndx < _SHN_LORESERVE and shndx < len(section_names)
        section = section_names[shndx] if in_section else ""
        symbols.append(Symbol(name, value, size, sym_type, bind, section))
    return symbols


_TYPE_RANK = {"func": 0, "notype": 1, "object": 2, "tls": 3}
_BIND_RANK = {"global": 0, "weak": 1, "local": 2}


def _rank(sym: Symbol) -> tuple[int, int]:
    """Lower is preferred: functions, then labels, then data; globals before locals."""
    return _TYPE_RANK[sym.type], _BIND_RANK[sym.bind]


# `_rank` as one small integer, for sorting by (address, rank) as one number.
_RANK_OF = {
    (sym_type, bind): type_rank * len(_BIND_RANK) + bind_rank
    for sym_type, type_rank in _TYPE_RANK.items()
    for bind, bind_rank in _BIND_RANK.items()
}
_RANKS = len(_RANK_OF)


def _is_assembler_local(name: str) -> bool:
    # Assemblers keep `.L` names out of .symtab, but some toolchains leak `$x`/`.L` style ones.
    return name.startswith((".L", "$"))


class SymbolTable:
    """Name and address lookups over the image's (non-TLS) symbols."""

    def __init__(self, symbols: Iterable[Symbol], sections: Sequence[tuple[str, int, int]]) -> None:
        self.symbols: tuple[Symbol, ...] = tuple(
            s for s in symbols if s.type != "tls" and not _is_assembler_local(s.name)
        )
        # Sorted as indices by integer keys, no Python call per comparison: Linux has 125k
        # symbols and a capture's start-up waits for this table.
        syms = self.symbols
        ranks = [_RANK_OF[s.type, s.bind] for s in syms]
        by_rank = sorted(range(len(syms)), key=ranks.__getitem__)  # stable: file order kept
        # The best-ranked symbol of each name (the first of them in file order) is set last.
        self._by_name: dict[str, Symbol] = {syms[i].name: syms[i] for i in reversed(by_rank)}
        keys = [s.addr * _RANKS + rank for s, rank in zip(syms, ranks, strict=True)]
        ordered = [syms[i] for i in sorted(range(len(syms)), key=keys.__getitem__)]
        self._all = ordered
        self._all_starts = [s.addr for s in ordered]
        sized = [s for s in ordered if s.size > 0]
        self._sized = sized
        self._sized_starts = [s.addr for s in sized]
        self._code: dict[str, list[Symbol]] | None = None
        # Allocated sections as (start, end, name), sorted, to keep lookups inside one section.
        self._sections = sorted((addr, addr + size, name) for name, addr, size in sections if size)
        self._section_starts = [s[0] for s in self._sections]

    def __len__(self) -> int:
        return len(self.symbols)

    def get(self, name: str) -> Symbol | None:
        return self._by_name.get(name)

    def section_name_at(self, addr: int) -> str | None:
        i = bisect_right(self._section_starts, addr) - 1
        for start, end, name in reversed(self._sections[max(0, i - 7) : i + 1]):
            if start <= addr < end:
                return name
        return None

    def covering(self, addr: int) -> Symbol | None:
        """The preferred sized symbol whose [addr, addr+size) holds `addr`."""
        i = bisect_right(self._sized_starts, addr) - 1
        best: Symbol | None = None
        for sym in self._sized[max(0, i - _CONTAINMENT_WINDOW + 1) : i + 1]:
            if sym.contains(addr) and (
                best is None or (_rank(sym), sym.size) < (_rank(best), best.size)
            ):
                best = sym
        return best

    def preceding(self, addr: int) -> Symbol | None:
        """The nearest symbol at or before `addr` in the same section."""
        section = self.section_name_at(addr)
        if section is None:
            return None
        i = bisect_right(self._all_starts, addr) - 1
        if i < 0:
            return None
        start = self._all[i].addr
        # Several symbols can share that address: take the best-ranked one in this section.
        while i > 0 and self._all[i - 1].addr == start:
            i -= 1
        for sym in self._all[i:]:
            if sym.addr != start:
                break
            if sym.section == section:
                return sym
        return None

    def starting_at(self, addr: int) -> list[Symbol]:
        """Symbols whose address is exactly `addr`, best-ranked first."""
        i = bisect_right(self._all_starts, addr)
        found = []
        while i > 0 and self._all[i - 1].addr == addr:
            found.append(self._all[i - 1])
            i -= 1
        return sorted(found, key=lambda s: (_rank(s), s.size == 0, s.name))

    def lookup(self, addr: int) -> tuple[Symbol, int] | None:
        """The symbol that best names `addr`, and the offset into it."""
        sym = self.covering(addr) or self.preceding(addr)
        return (sym, addr - sym.addr) if sym is not None else None

    def code_symbols(self, section: str) -> list[Symbol]:
        """Symbols in one section, sorted by address (instruction-boundary hints for sweeps)."""
        if self._code is None:  # every section's at once: a plan asks for each several times
            self._code = {}
            for sym in self._all:
                if sym.type in ("func", "notype"):
                    self._code.setdefault(sym.section, []).append(sym)
        return list(self._code.get(section, ()))


def format_location(sym: Symbol, offset: int) -> str:
    return f"{sym.name}+{offset:#x}" if offset else sym.name


class SymbolLookups:
    """Name and address questions over `self.symtab`, for every kind of symbol source."""

    symtab: SymbolTable

    @property
    def symbols(self) -> tuple[Symbol, ...]:
        """Functions, objects and labels (not TLS symbols)."""
        return self.symtab.symbols

    def symbol(self, name: str) -> Symbol | None:
        return self.symtab.get(name)

    def address_of(self, name: str) -> int | None:
        sym = self.symtab.get(name)
        return sym.addr if sym is not None else None

    def symbolize(self, addr: int) -> str | None:
        """`name+0x1a` for an address, or None when no symbol names it."""
        found = self.symtab.lookup(addr)
        return format_location(*found) if found is not None else None

    def label_at(self, addr: int) -> str | None:
        """The name of a symbol starting exactly at `addr` (inner labels of assembly included)."""
        found = self.symtab.starting_at(addr)
        return found[0].name if found else None
