"""Syscalls whose printed arguments depend on another argument's value, as in strace.

open/openat show the mode only with O_CREAT or O_TMPFILE; fcntl, ioctl and futex pick their
arguments by command; clone names its arguments; mremap shows the new address only when asked to
move to it. Each layout gets the raw arguments and `fmt(i)`, argument i printed per the table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from tracer.decode.flags_fs import (
    F_LEASE,
    FD,
    O_CREAT,
    O_TMPFILE_BIT,
    OPEN,
    ioctl_arg_style,
)
from tracer.decode.flags_proc import (
    format_clone_flags,
    format_futex_bitset,
    format_futex_wake_op,
    format_signal,
    futex_cmd,
)
from tracer.decode.xlat import format_enum, format_flags, format_hex, format_ptr, to_signed

ArgFormatter = Callable[[int], str]
Layout = Callable[[Sequence[int], ArgFormatter], list[str]]


def _arg(args: Sequence[int], index: int) -> int:
    return args[index] if index < len(args) else 0


def _u32(value: int) -> str:
    return str(value & 0xFFFFFFFF)


def _open_like(flags_index: int) -> Layout:
    def layout(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
        shown = [fmt(i) for i in range(flags_index + 1)]
        if _arg(args, flags_index) & (O_CREAT | O_TMPFILE_BIT):
            shown.append(fmt(flags_index + 1))
        return shown

    return layout


def _mq_open(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    shown = [fmt(0), fmt(1)]
    return shown + [fmt(2), fmt(3)] if _arg(args, 1) & O_CREAT else shown


_FCNTL_NO_ARG: Final = frozenset({1, 3, 9, 11, 1025, 1032, 1034})
_FCNTL_INT_ARG: Final = frozenset({0, 8, 1030, 1031})
_FCNTL_PTR_ARG: Final = frozenset({5, 6, 7, 15, 16, 36, 37, 38})


def _fcntl(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    cmd, arg = _arg(args, 1) & 0xFFFFFFFF, _arg(args, 2)
    shown = [fmt(0), fmt(1)]
    if cmd in _FCNTL_NO_ARG:
        return shown
    if cmd in _FCNTL_INT_ARG:
        return [*shown, str(to_signed(arg, 32))]
    if cmd in _FCNTL_PTR_ARG:
        return [*shown, format_ptr(arg)]
    third = {
        2: lambda: format_flags(FD, arg),
        4: lambda: format_flags(OPEN, arg),
        10: lambda: format_signal(arg),
        1024: lambda: format_enum(F_LEASE, arg),
    }.get(cmd, lambda: format_hex(arg))
    return [*shown, third()]


def _ioctl(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    style, arg = ioctl_arg_style(_arg(args, 1)), _arg(args, 2)
    shown = [fmt(0), fmt(1)]
    if style == "none":
        return shown
    third = {"ptr": format_ptr, "int": lambda v: str(to_signed(v, 32))}.get(style, format_hex)
    return [*shown, third(arg)]


def _futex(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    cmd = futex_cmd(_arg(args, 1))
    val, timeout, uaddr2, val3 = (_arg(args, i) for i in (2, 3, 4, 5))
    head = [fmt(0), fmt(1)]
    val2 = _u32(timeout)  # the requeue commands pass a count where the timeout goes
    tail: dict[int, list[str]] = {
        0: [_u32(val), format_ptr(timeout)],
        1: [_u32(val)],
        2: [_u32(val)],
        3: [_u32(val), val2, format_ptr(uaddr2)],
        4: [_u32(val), val2, format_ptr(uaddr2), _u32(val3)],
        5: [_u32(val), val2, format_ptr(uaddr2), format_futex_wake_op(val3)],
        6: [format_ptr(timeout)],
        7: [],
        8: [],
        9: [_u32(val), format_ptr(timeout), format_futex_bitset(val3)],
        10: [_u32(val), format_futex_bitset(val3)],
        11: [_u32(val), format_ptr(timeout), format_ptr(uaddr2)],
        12: [_u32(val), val2, format_ptr(uaddr2), _u32(val3)],
        13: [format_ptr(timeout)],
    }
    default = [_u32(val), format_ptr(timeout), format_ptr(uaddr2), format_hex(val3 & 0xFFFFFFFF)]
    return head + tail.get(cmd, default)


_CLONE_PARENT_TID: Final = 0x100000 | 0x1000  # CLONE_PARENT_SETTID | CLONE_PIDFD
_CLONE_SETTLS: Final = 0x80000
_CLONE_CHILD_TID: Final = 0x1000000 | 0x200000  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID


def _clone(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    flags = _arg(args, 0)
    shown = [f"child_stack={format_ptr(_arg(args, 1))}", f"flags={format_clone_flags(flags)}"]
    if flags & _CLONE_PARENT_TID:
        shown.append(f"parent_tid={format_ptr(_arg(args, 2))}")
    if flags & _CLONE_SETTLS:
        shown.append(f"tls={format_ptr(_arg(args, 4))}")
    if flags & _CLONE_CHILD_TID:
        shown.append(f"child_tidptr={format_ptr(_arg(args, 3))}")
    return shown


_MREMAP_MOVE_TO: Final = 0x1 | 0x2  # MREMAP_MAYMOVE | MREMAP_FIXED


def _mremap(args: Sequence[int], fmt: ArgFormatter) -> list[str]:
    shown = [fmt(i) for i in range(4)]
    if _arg(args, 3) & _MREMAP_MOVE_TO == _MREMAP_MOVE_TO:
        shown.append(fmt(4))
    return shown


LAYOUTS: Final[dict[str, Layout]] = {
    "open": _open_like(1),
    "openat": _open_like(2),
    "mq_open": _mq_open,
    "fcntl": _fcntl,
    "ioctl": _ioctl,
    "futex": _futex,
    "clone": _clone,
    "mremap": _mremap,
}
"""Syscall name -> how its arguments print, for those that are not a fixed list."""


def fcntl_return(args: Sequence[int], ret: int) -> str | None:
    """strace's decoration of fcntl's result: `0x1 (flags FD_CLOEXEC)`; None when plain."""
    cmd = _arg(args, 1) & 0xFFFFFFFF
    if cmd == 1 and ret:  # F_GETFD
        return f"{ret:#x} (flags {format_flags(FD, ret)})"
    if cmd == 3:  # F_GETFL
        return f"{format_hex(ret)} (flags {format_flags(OPEN, ret)})"
    if cmd == 1025:  # F_GETLEASE
        return f"{format_hex(ret)} ({format_enum(F_LEASE, ret)})"
    return None


__all__ = ["LAYOUTS", "fcntl_return"]
