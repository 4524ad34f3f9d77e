"""Which functions address memory through a segment override (fs:/gs:), by disassembly."""

from __future__ import annotations

from .disasm import new_capstone
from .elf import ElfImage


def functions_using_segment(image: ElfImage, segment: str = "fs") -> frozenset[str]:
    """Names of functions with at least one `segment:`-relative memory operand."""
    cs = new_capstone()
    cs.detail = False
    marker = f"{segment}:"
    found: set[str] = set()
    for section in image.executable_sections():
        data = image.read(section.addr, section.size)
        offset = 0
        while offset < len(data):
            end = offset
            for addr, size, _mnemonic, op_str in cs.disasm_lite(
                data[offset:], section.addr + offset
            ):
                end = addr - section.addr + size
                if marker in op_str:
                    function = image.function_at(addr)
                    if function is not None:
                        found.add(function.name)
            offset = max(end, offset + 1)  # skip a byte capstone cannot decode
    return frozenset(found)
