"""Which functions address memory through a segment override (fs:/gs:), by disassembly."""

from __future__ import annotations

import re
from typing import Any

from .disasm import new_capstone
from .elf import ElfImage

# In 64-bit code an fs:/gs: memory operand is only written with its override prefix.
_PREFIX = {"fs": 0x64, "gs": 0x65}
_MAX_INSN = 15


def functions_using_segment(image: ElfImage, segment: str = "fs") -> frozenset[str]:
    """Names of functions with at least one `segment:`-relative memory operand.

    Disassembling a whole kernel (15 MB of Linux text: 6.6M instructions, 30 s) would find
    them; only the prefix byte's places can hold one. An instruction with the override
    still decodes with it from the prefix on (the prefixes before it only change sizes), so
    a place that does not is none; the rest are confirmed from their function's start, as
    the only place known to begin an instruction."""
    cs = new_capstone()
    cs.detail = False
    marker = f"{segment}:"
    prefix = re.compile(re.escape(bytes([_PREFIX[segment]])))
    found = set()
    for section in image.executable_sections():
        data = image.read(section.addr, section.size)
        last_place: dict[int, tuple[str, int]] = {}  # function's start -> (name, last place)
        for match in prefix.finditer(data):
            at = match.start()
            insn = next(cs.disasm_lite(data[at : at + _MAX_INSN], section.addr + at, 1), None)
            if insn is None or marker not in insn[3]:
                continue
            function = image.function_at(section.addr + at)
            if function is not None and function.name not in found:
                last_place[max(function.addr - section.addr, 0)] = (function.name, at)
        for start, (name, last) in last_place.items():
            if _operand_between(cs, data, section.addr, start, last, marker):
                found.add(name)
    return frozenset(found)


def _operand_between(cs: Any, data: bytes, base: int, start: int, last: int, marker: str) -> bool:
    """Whether the instructions decoded from offset `start` through the one at or over
    `last` have such an operand (a byte capstone cannot decode is stepped over)."""
    offset = start
    while offset <= last:
        end = offset
        for addr, size, _mnemonic, op_str in cs.disasm_lite(
            data[offset : last + _MAX_INSN], base + offset
        ):
            end = addr - base + size
            if marker in op_str:
                return True
            if end > last:
                return False
        offset = max(end, offset + 1)
    return False
