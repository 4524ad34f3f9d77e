"""Kernel symbols from text: a System.map, or a `/proc/kallsyms` dump. Both are lines of
`ADDRESS TYPE NAME [module]`; neither gives sizes, so a symbol reaches the next one, as the
kernel's own kallsyms lookup assumes. The lookups are the ones an ElfImage gives."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from .elf import ElfImage, is_elf
from .errors import ImageError, read_input
from .symbols import Symbol, SymbolBind, SymbolLookups, SymbolTable, SymbolType

# nm's type letters, folded to the sections the tracer tells apart.
_SECTION_OF = {"t": ".text", "w": ".text", "d": ".data", "r": ".rodata", "b": ".bss", "v": ".data"}
_MAX_LINE_ERRORS = 3


def _kind(letter: str) -> tuple[SymbolType, SymbolBind, str] | None:
    """(type, bind, section) for an nm type letter; None for undefined or debugging entries."""
    low = letter.lower()
    if low in ("u", "n", "?"):
        return None
    if low == "a":
        return "notype", "local" if letter == "a" else "global", "*ABS*"
    sym_type: SymbolType = "func" if low in ("t", "w") else "object"
    bind: SymbolBind = "weak" if low in ("w", "v") else "local" if letter == low else "global"
    return sym_type, bind, _SECTION_OF.get(low, ".data")


def parse_symbol_lines(lines: Iterable[str], path: Path) -> list[tuple[int, str, str]]:
    """(address, type letter, name) for each kernel (not module) symbol line."""
    entries = []
    bad = 0
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words:
            continue
        if len(words) < 3 or len(words[1]) != 1:
            bad += 1
            if bad >= _MAX_LINE_ERRORS or number <= 1:
                raise ImageError(path, f"line {number} is not `ADDRESS TYPE NAME`: {line[:60]!r}")
            continue
        if len(words) > 3 and words[3].startswith("["):
            continue  # a loaded module's symbol: not in the kernel image
        try:
            addr = int(words[0], 16)
        except ValueError:
            raise ImageError(
                path, f"line {number}: {words[0][:20]!r} is not a hex address"
            ) from None
        entries.append((addr, words[1], words[2]))
    if not entries:
        raise ImageError(path, "no symbols in it")
    return entries


def _runs(entries: list[tuple[int, str, str]]) -> Iterator[tuple[str, int, int]]:
    """Pseudo-sections: maximal address runs of one section kind, as (name, start, size), so a
    lookup never names a data address after the text symbol before it."""
    ordered = sorted(
        (addr, _SECTION_OF.get(letter.lower(), "*ABS*")) for addr, letter, _ in entries
    )
    start, kind = ordered[0]
    for addr, section in ordered[1:]:
        if section != kind:
            yield kind, start, addr - start
            start, kind = addr, section
    yield kind, start, 1  # the last run ends at the last symbol


def _symbols(entries: list[tuple[int, str, str]]) -> list[Symbol]:
    """Each symbol sized to the next higher address (the last one gets size 1)."""
    starts = sorted({addr for addr, _, _ in entries})
    following = dict(zip(starts, starts[1:], strict=False))
    symbols = []
    for addr, letter, name in entries:
        kind = _kind(letter)
        if kind is None:
            continue
        sym_type, bind, section = kind
        size = following.get(addr, addr + 1) - addr if sym_type != "notype" else 0
        symbols.append(Symbol(name, addr, size, sym_type, bind, section))
    return symbols


class SymbolMap(SymbolLookups):
    """A kernel's symbols from a System.map or a kallsyms dump. Build with `SymbolMap.open`."""

    has_dwarf = False

    def __init__(self, path: Path, entries: list[tuple[int, str, str]]) -> None:
        self.path = path
        kernel_entries = [e for e in entries if e[1].lower() != "a"]
        if kernel_entries and all(addr == 0 for addr, _, _ in kernel_entries):
            raise ImageError(
                path, "every address is 0: dumped without the right to see them "
                "(read /proc/kallsyms as root, or with kernel.kptr_restrict=0)",
            )  # fmt: skip
        # Per-CPU symbols are offsets into each CPU's area (Linux links them at 0): their own
        # run, kept away from the image's addresses.
        self.symtab = SymbolTable(_symbols(entries), list(_runs(entries)))

    @classmethod
    def open(cls, path: str | Path) -> SymbolMap:
        path = Path(path)
        text = read_input(path, "a symbol file").decode("utf-8", errors="replace")
        return cls(path, parse_symbol_lines(text.splitlines(), path))

    def __repr__(self) -> str:
        return f"SymbolMap({str(self.path)!r}, {len(self.symtab)} symbols)"

    def function_at(self, addr: int) -> Symbol | None:
        sym = self.symtab.covering(addr)
        return sym if sym is not None and sym.type == "func" else None


class KernelSymbols(Protocol):
    """What the tracer asks of a kernel's symbols, from an ELF (ElfImage) or a map (SymbolMap)."""

    path: Path
    symtab: SymbolTable

    @property
    def has_dwarf(self) -> bool: ...
    @property
    def symbols(self) -> tuple[Symbol, ...]: ...
    def symbol(self, name: str) -> Symbol | None: ...
    def address_of(self, name: str) -> int | None: ...
    def symbolize(self, addr: int) -> str | None: ...
    def label_at(self, addr: int) -> str | None: ...
    def function_at(self, addr: int) -> Symbol | None: ...


def open_kernel_symbols(path: str | Path) -> ElfImage | SymbolMap:
    """`--symbols FILE`: a vmlinux (with or without DWARF) is read as an ELF, anything else as a
    System.map or kallsyms dump."""
    path = Path(path)  # unreadable: SymbolMap.open says what is wrong with it
    return ElfImage.open(path) if is_elf(path) else SymbolMap.open(path)


def with_symbols(image: ElfImage, symbols: Sequence[Symbol]) -> ElfImage:
    """A stripped ELF given the symbols of its System.map or kallsyms dump."""
    alloc = [(s.name, s.addr, s.size) for s in image.sections if s.allocated and not s.tls]
    image.symtab = SymbolTable(symbols, alloc)
    image.has_symtab = True
    return image


def open_kernel_image(kernel: str | Path, symbols: str | Path | None = None) -> ElfImage:
    """A trace's kernel ELF with the symbols the trace names beside it (`meta['symbols']`: a
    bzImage's extracted ELF has no symbols of its own, its System.map or kallsyms dump has)."""
    if symbols is None:
        return ElfImage.open(kernel)
    found = open_kernel_symbols(symbols)
    return with_symbols(ElfImage.open(kernel, require_symbols=False), found.symbols)
