"""x86-64 facts every layer shares: the canonical halves of the address space, the base names."""

from __future__ import annotations

from typing import Final

KERNEL_HALF: Final = 0x8000_0000_0000_0000
"""The upper half, where kernels map themselves: canonical addresses there start at
0xffff800000000000 with 4-level paging and at 0xff00000000000000 with 5-level paging (LA57,
which QEMU's `-cpu max` offers and Linux then uses: its direct map can sit at 0xff3c...)."""

BASE_NAMES: Final = {"fs": "FS_BASE", "gs": "GS_BASE", "kgs": "KERNEL_GS_BASE"}
"""The segment bases by their short names (`SegReg`), as the MSRs are called."""


def is_kernel_address(value: int) -> bool:
    return value >= KERNEL_HALF
