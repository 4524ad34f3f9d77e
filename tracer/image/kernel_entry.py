"""Where a kernel's 64-bit syscall entry is, and how its `struct pt_regs` is laid out: read from
its symbols and DWARF, with Linux's layout when DWARF lacks it."""

from __future__ import annotations

from typing import Final

from tracer.decode.ptregs import LINUX_PT_REGS, LINUX_PT_REGS_SIZE

from .dwarf import struct_layout
from .elf import ElfImage

ENTRY_SYMBOLS: Final = ("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "syscall_entry")
PT_REGS_NEEDED: Final = frozenset(
    {"orig_ax", "ax", "di", "si", "dx", "r10", "r8", "r9", "ip", "sp", "flags"}
)


def first_address(image: ElfImage, names: tuple[str, ...]) -> int | None:
    """The address of the first of `names` the symbols have."""
    for name in names:
        sym = image.symbol(name)
        if sym is not None:
            return int(sym.addr)
    return None


def find_entry(image: ElfImage) -> int | None:
    """The syscall entry by its symbol (LSTAR's value, when no trace says it)."""
    return first_address(image, ENTRY_SYMBOLS)


def ptregs_layout(image: ElfImage) -> tuple[tuple[tuple[str, int, int], ...], int, bool]:
    """(fields, size, from DWARF): pt_regs from DWARF when the kernel has it, else Linux's."""
    layout = struct_layout(image, "pt_regs") if image.has_dwarf else None
    if layout is None:
        return LINUX_PT_REGS, LINUX_PT_REGS_SIZE, False
    fields = tuple((f.name, f.offset, f.size) for f in layout.fields if f.size is not None)
    if PT_REGS_NEEDED - {f[0] for f in fields}:
        return LINUX_PT_REGS, LINUX_PT_REGS_SIZE, False
    return fields, layout.size, True
