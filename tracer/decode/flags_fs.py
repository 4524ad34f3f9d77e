"""File and descriptor values that need more than a table: AT_FDCWD, modes, ioctl requests.

The tables (O, AT, STATX, F, ...) and the named ioctl requests are in `flags.tbl`.
"""

from __future__ import annotations

from typing import Final

from tracer.decode.flag_tables import IOCTL, IoctlArg, enum_named, flags_named
from tracer.decode.xlat import format_hex, to_signed

AT_FDCWD: Final = -100

O_CREAT: Final = 0o100
O_TMPFILE_BIT: Final = 0o20000000

OPEN: Final = flags_named("O")
"""Open flags with the access mode first: `O_RDONLY|O_CLOEXEC`."""

FD: Final = flags_named("FD")
F_LEASE: Final = enum_named("F_LEASE")


def format_dirfd(value: int) -> str:
    """`AT_FDCWD` for -100, else the descriptor as a C int."""
    fd = to_signed(value, 32)
    return "AT_FDCWD" if fd == AT_FDCWD else str(fd)


def format_mode(value: int) -> str:
    """A `umode_t` (16 bits) as strace's `%#03o`: `0644`, `000`, `022`."""
    return f"0{value & 0xFFFF:o}".rjust(3, "0")


_IOC_DIRS: Final = ("_IOC_NONE", "_IOC_WRITE", "_IOC_READ", "_IOC_READ|_IOC_WRITE")


def format_ioctl_request(value: int) -> str:
    """`TCGETS`, or strace's `_IOC(_IOC_READ, 0x54, 0x13, 0x8)` for requests not listed."""
    value &= 0xFFFFFFFF
    known = IOCTL.get(value)
    if known is not None:
        return known[0]
    direction = _IOC_DIRS[value >> 30]
    ioc_type, ioc_nr, size = (value >> 8) & 0xFF, value & 0xFF, (value >> 16) & 0x3FFF
    return f"_IOC({direction}, {format_hex(ioc_type)}, {format_hex(ioc_nr)}, {format_hex(size)})"


def ioctl_arg_style(request: int) -> IoctlArg:
    known = IOCTL.get(request & 0xFFFFFFFF)
    return known[1] if known is not None else "hex"
