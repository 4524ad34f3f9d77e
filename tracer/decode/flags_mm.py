"""Memory-management values that need more than a table: mmap's huge-page size field.

The tables (PROT, MAP, MADV, ...) are in `flags.tbl`.
"""

from __future__ import annotations

from typing import Final

from tracer.decode.flag_tables import flags_named
from tracer.decode.xlat import format_flags

MAP: Final = flags_named("MAP")

MAP_HUGE_SHIFT: Final = 26
MAP_HUGE_MASK: Final = 0x3F


def format_mmap_flags(value: int) -> str:
    """`MAP_PRIVATE|MAP_ANONYMOUS`; the huge-page size field prints as `21<<MAP_HUGE_SHIFT`."""
    value &= 0xFFFFFFFF
    huge = (value >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
    text = format_flags(MAP, value & ~(MAP_HUGE_MASK << MAP_HUGE_SHIFT))
    return f"{text}|{huge}<<MAP_HUGE_SHIFT" if huge else text
