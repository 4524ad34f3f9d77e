"""Every flag and enum table by name, and one entry point that prints any of them like strace.

The tables live in the data file `flags.tbl` (read by `flag_tables`); the rules for printing
them in `xlat`. A few values need more than a table (mmap's huge-page field, clone's exit
signal, futex's PRIVATE/CLOCK bits, ioctl's `_IOC(...)` fallback, AT_FDCWD, modes): those are
registered here as formatters under a table-like name, so syscall specs refer to all of them the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Final

from tracer.decode.flag_tables import TABLES, Table
from tracer.decode.flags_fs import format_dirfd, format_ioctl_request, format_mode
from tracer.decode.flags_mm import format_mmap_flags
from tracer.decode.flags_proc import (
    format_clone_flags,
    format_futex_bitset,
    format_futex_op,
    format_futex_wake_op,
    format_signal,
)
from tracer.decode.xlat import EnumTable, FlagTable, format_enum
from tracer.decode.xlat import format_flags as _format_flag_table


def _table_formatter(table: Table) -> Callable[[int], str]:
    if isinstance(table, EnumTable):
        return partial(format_enum, table)
    return partial(_format_flag_table, table)


FORMATTERS: Final[Mapping[str, Callable[[int], str]]] = MappingProxyType(
    {
        **{name: _table_formatter(table) for name, table in TABLES.items()},
        "MAP": format_mmap_flags,
        "CLONE": format_clone_flags,
        "FUTEX": format_futex_op,
        "FUTEX_BITSET": format_futex_bitset,
        "FUTEX_WAKE_OP": format_futex_wake_op,
        "IOCTL": format_ioctl_request,
        "SIG": format_signal,
        "DIRFD": format_dirfd,
        "MODE": format_mode,
    }
)
"""Every name a syscall argument may refer to, with the function that prints its values."""


def format_flags(table: Table | str, value: int) -> str:
    """Print `value` the way strace prints it for `table` (an enum, flags, or a formatter name).

    `format_flags("PROT", 3)` is `PROT_READ|PROT_WRITE`, `format_flags("ARCH", 0x1002)` is
    `ARCH_SET_FS`, `format_flags("DIRFD", -100)` is `AT_FDCWD`.
    """
    if isinstance(table, str):
        formatter = FORMATTERS.get(table)
        if formatter is None:
            raise KeyError(f"no flag or enum table named {table!r}")
        return formatter(value)
    return _table_formatter(table)(value)


__all__ = [
    "FORMATTERS",
    "TABLES",
    "EnumTable",
    "FlagTable",
    "Table",
    "format_dirfd",
    "format_enum",
    "format_flags",
    "format_mode",
    "format_signal",
]
