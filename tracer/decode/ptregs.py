"""Linux's x86-64 `struct pt_regs`: the fallback layout, decoding, and what it says about the
syscall it was built for.

At syscall entry Linux's `entry_SYSCALL_64` pushes ss, the user rsp, r11 (user rflags), cs, rcx
(user rip) and rax (orig_ax: the syscall number), then the general registers; the arguments are
di, si, dx, r10, r8, r9. The layout comes from DWARF when the kernel has it; this is the one to
use when it does not.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping, Sequence
from typing import Final

PtRegsLayout = Sequence[tuple[str, int, int]]
"""(field, offset, size in bytes)."""

LINUX_PT_REGS_FIELDS: Final = (
    "r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss"
).split()

LINUX_PT_REGS: Final[tuple[tuple[str, int, int], ...]] = tuple(
    (name, 8 * i, 8) for i, name in enumerate(LINUX_PT_REGS_FIELDS)
)
"""Linux's pt_regs (arch/x86/include/asm/ptrace.h): r15 at 0 ... ss at 160."""

LINUX_PT_REGS_SIZE: Final = 168

PT_REGS_SYSCALL_ARGS: Final = ("di", "si", "dx", "r10", "r8", "r9")
"""pt_regs fields holding syscall arguments 0..5 (the x86-64 syscall convention)."""

PtRegs = Sequence[tuple[str, int]] | Mapping[str, int]
"""Decoded pt_regs: (field, value) pairs as in events.PtRegsValues, or a mapping."""


def pt_regs_size(layout: PtRegsLayout) -> int:
    """Bytes a layout covers (its last field's end)."""
    return max((offset + size for _, offset, size in layout), default=0)


def decode_pt_regs(
    data: bytes, layout: PtRegsLayout = LINUX_PT_REGS
) -> tuple[tuple[str, int], ...]:
    """Each field of `layout` read from `data` as a little-endian unsigned number."""
    try:
        unpacker = _unpacker(tuple(layout))
    except TypeError:  # fields as lists (a layout read back from JSON): not hashable
        unpacker = None
    needed = pt_regs_size(layout) if unpacker is None else unpacker[0].size  # last field's end
    if len(data) < needed:
        raise ValueError(f"pt_regs needs {needed} bytes, got {len(data)}")
    if unpacker is not None:
        unpack, names = unpacker
        return tuple(zip(names, unpack.unpack_from(data), strict=True))
    return tuple(
        (name, int.from_bytes(data[offset : offset + size], "little"))
        for name, offset, size in layout
    )


@functools.lru_cache(maxsize=8)
def _unpacker(
    layout: tuple[tuple[str, int, int], ...],
) -> tuple[struct.Struct, tuple[str, ...]] | None:
    """One `struct` format (and the field names) for a layout of whole, ordered, apart fields
    (Linux's: 21 of 8 bytes): every field in one call, a third of the time of slicing them one
    by one (a syscall stop decodes pt_regs twice). None for a layout it cannot read in order."""
    codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
    fmt, at = "<", 0
    for _, offset, size in layout:
        if offset < at or size not in codes:
            return None
        fmt += f"{offset - at}x{codes[size]}"
        at = offset + size
    return struct.Struct(fmt), tuple(name for name, _, _ in layout)


def encode_pt_regs(regs: PtRegs, layout: PtRegsLayout = LINUX_PT_REGS) -> bytes:
    """The bytes `decode_pt_regs` reads back as `regs` (fields absent from `regs` are zero)."""
    values = _as_dict(regs)
    out = bytearray(pt_regs_size(layout))
    for name, offset, size in layout:
        value = values.get(name, 0) & ((1 << (8 * size)) - 1)
        out[offset : offset + size] = value.to_bytes(size, "little")
    return bytes(out)


def _as_dict(regs: PtRegs) -> dict[str, int]:
    return dict(regs.items()) if isinstance(regs, Mapping) else dict(regs)


def _field(regs: PtRegs, name: str) -> int:
    value = _as_dict(regs).get(name)
    if value is None:
        raise KeyError(f"pt_regs has no field {name!r}")
    return value


def pt_regs_syscall_nr(regs: PtRegs) -> int:
    """The syscall number: orig_ax (ax itself holds -ENOSYS until the handler returns)."""
    return _field(regs, "orig_ax")


def pt_regs_syscall_args(regs: PtRegs) -> tuple[int, int, int, int, int, int]:
    di, si, dx, r10, r8, r9 = (_field(regs, name) for name in PT_REGS_SYSCALL_ARGS)
    return (di, si, dx, r10, r8, r9)


def pt_regs_user_ip(regs: PtRegs) -> int:
    return _field(regs, "ip")


def pt_regs_user_sp(regs: PtRegs) -> int:
    return _field(regs, "sp")


def pt_regs_user_flags(regs: PtRegs) -> int:
    return _field(regs, "flags")


def check_pt_regs_at_entry(regs: PtRegs, rcx: int, r11: int, user_rsp: int, rax: int) -> list[str]:
    """Where pt_regs built at syscall entry disagrees with the CPU state the `syscall` left:
    ip must be RCX, flags R11, sp the user RSP and orig_ax the RAX that selected the syscall.
    Empty when everything agrees; a missing field is a disagreement too."""
    values = _as_dict(regs)
    expected = (("ip", rcx, "RCX"), ("flags", r11, "R11"), ("sp", user_rsp, "user RSP"))
    problems = []
    for name, want, source in (*expected, ("orig_ax", rax, "RAX")):
        got = values.get(name)
        if got is None:
            problems.append(f"pt_regs has no {name} (expected {source} {want:#x})")
        elif got != want:
            problems.append(f"pt_regs {name} {got:#x} != {source} {want:#x}")
    return problems
