"""x86-64 facts every layer shares: the canonical halves of the address space, the base names."""

from __future__ import annotations

from typing import Final

KERNEL_HALF: Final = 0xFFFF_8000_0000_0000
"""The first address of the upper canonical half, where kernels map themselves."""

BASE_NAMES: Final = {"fs": "FS_BASE", "gs": "GS_BASE", "kgs": "KERNEL_GS_BASE"}
"""The segment bases by their short names (`SegReg`), as the MSRs are called."""


def is_kernel_address(value: int) -> bool:
    return value >= KERNEL_HALF
