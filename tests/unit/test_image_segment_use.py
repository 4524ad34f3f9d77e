"""Which functions use fs:/gs: memory operands: found from the override prefix's places only,
with the same answer as disassembling every byte of text."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_image_support import GUEST_KERNEL, assemble_program

from tracer.image import ElfImage
from tracer.image.disasm import new_capstone
from tracer.image.segment_use import functions_using_segment

# `decoy` holds 0x64 bytes that decode as fs: instructions when read from that byte (the
# `mov $0x64` is `64 00 00`: add fs:[rax], al), but never from the function's start.
SOURCE = """
    .text
    .globl _start
    .type _start, @function
_start:
    hlt
    .size _start, .-_start
    .type decoy, @function
decoy:
    mov $0x64, %eax
    mov 0x64(%rbx), %rcx
    ret
    .size decoy, .-decoy
    .type reader, @function
reader:
    mov $0x64, %eax
    mov %fs:0x10, %rax
    ret
    .size reader, .-reader
    .type after_bad_byte, @function
after_bad_byte:
    .byte 0x06
    mov %fs:(%rdi), %rdx
    ret
    .size after_bad_byte, .-after_bad_byte
    .type gs_user, @function
gs_user:
    mov %gs:0x8, %rax
    ret
    .size gs_user, .-gs_user
"""


def every_instruction(image: ElfImage, segment: str) -> frozenset[str]:
    """The slow answer: a linear sweep of all executable bytes."""
    cs = new_capstone()
    found = set()
    for section in image.executable_sections():
        data = image.read(section.addr, section.size)
        offset = 0
        while offset < len(data):
            end = offset
            for addr, size, _m, op_str in cs.disasm_lite(data[offset:], section.addr + offset):
                end = addr - section.addr + size
                function = image.function_at(addr)
                if f"{segment}:" in op_str and function is not None:
                    found.add(function.name)
            offset = max(end, offset + 1)
    return frozenset(found)


def test_only_real_operands_count(tmp_path: Path) -> None:
    image = ElfImage.open(assemble_program(tmp_path, "segments", SOURCE))
    assert functions_using_segment(image, "fs") == {"reader", "after_bad_byte"}
    assert functions_using_segment(image, "gs") == {"gs_user"}


@pytest.mark.parametrize("segment", ["fs", "gs"])
def test_the_same_answer_as_a_full_sweep_on_the_guest_kernel(segment: str) -> None:
    if not GUEST_KERNEL.exists():
        pytest.skip(f"{GUEST_KERNEL} not built (./run setup)")
    image = ElfImage.open(GUEST_KERNEL)
    found = functions_using_segment(image, segment)
    assert found  # the built-in kernel has TLS accesses through both
    assert found == every_instruction(image, segment)
