"""Process, signal and futex values that need more than a table: clone's exit signal, futex
operations and their encoded wake operation.

The tables (SIG, ARCH, CLOCK, CLONE, FUTEX_CMD, ...) are in `flags.tbl`.
"""

from __future__ import annotations

from typing import Final

from tracer.decode.flag_tables import enum_named, flags_named
from tracer.decode.xlat import EnumTable, format_enum, format_flags, format_hex

ARCH_SET_GS: Final = 0x1001
ARCH_SET_FS: Final = 0x1002

SIG: Final = enum_named("SIG")
CLONE: Final = flags_named("CLONE")
CSIGNAL: Final = 0xFF


def format_signal(value: int) -> str:
    """`SIGSEGV`, `SIGRT_2`; numbers without a name (including 0) in decimal."""
    return format_enum(SIG, value)


def format_clone_flags(value: int) -> str:
    """clone's flags: `CLONE_VM|CLONE_FS|...|SIGCHLD`, the low byte being the exit signal."""
    value &= (1 << 64) - 1
    flags, sig = value & ~CSIGNAL, value & CSIGNAL
    if not flags:
        return format_signal(sig) if sig else "0"
    text = format_flags(CLONE, flags)
    return f"{text}|{format_signal(sig)}" if sig else text


FUTEX_PRIVATE_FLAG: Final = 128
FUTEX_CLOCK_REALTIME: Final = 256
FUTEX_CMD_MASK: Final = ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)
FUTEX_BITSET_MATCH_ANY: Final = 0xFFFFFFFF

FUTEX_CMD: Final = enum_named("FUTEX_CMD")

_FUTEX_CLOCK_CMDS: Final = frozenset({0, 9, 11, 13})
"""Commands strace names together with FUTEX_CLOCK_REALTIME (the waits and LOCK_PI2)."""


def futex_cmd(op: int) -> int:
    """The command of a futex op without the PRIVATE and CLOCK_REALTIME bits."""
    return op & 0xFFFFFFFF & FUTEX_CMD_MASK


def format_futex_op(op: int) -> str:
    """`FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME`; unknown as `0x63 /* FUTEX_??? */`."""
    op &= 0xFFFFFFFF
    cmd = futex_cmd(op)
    clock = bool(op & FUTEX_CLOCK_REALTIME)
    if cmd not in FUTEX_CMD.values or (clock and cmd not in _FUTEX_CLOCK_CMDS):
        return format_enum(FUTEX_CMD, op)
    text = FUTEX_CMD.values[cmd] + ("_PRIVATE" if op & FUTEX_PRIVATE_FLAG else "")
    return text + ("|FUTEX_CLOCK_REALTIME" if clock else "")


def format_futex_bitset(value: int) -> str:
    value &= 0xFFFFFFFF
    return "FUTEX_BITSET_MATCH_ANY" if value == FUTEX_BITSET_MATCH_ANY else format_hex(value)


_WAKE_OPS: Final = enum_named("FUTEX_OP")
_WAKE_CMPS: Final = enum_named("FUTEX_OP_CMP")


def format_futex_wake_op(val3: int) -> str:
    """FUTEX_WAKE_OP's encoded operation: `FUTEX_OP_ADD<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1`."""
    val3 &= 0xFFFFFFFF
    op, cmp = (val3 >> 28) & 0xF, (val3 >> 24) & 0xF
    oparg, cmparg = (val3 >> 12) & 0xFFF, val3 & 0xFFF
    shift = "FUTEX_OP_OPARG_SHIFT<<28|" if op & 8 else ""
    op_text, cmp_text = _shifted(_WAKE_OPS, op & 7, 28), _shifted(_WAKE_CMPS, cmp, 24)
    return f"{shift}{op_text}|{format_hex(oparg)}<<12|{cmp_text}|{format_hex(cmparg)}"


def _shifted(table: EnumTable, value: int, shift: int) -> str:
    name, _, comment = format_enum(table, value).partition(" ")
    return f"{name}<<{shift} {comment}" if comment else f"{name}<<{shift}"
