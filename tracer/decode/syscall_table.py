"""The Linux x86-64 syscall table (arch/x86/entry/syscalls/syscall_64.tbl, 64-bit and common
entries) with each syscall's arguments described the way strace prints them.

The rows live in the data file `syscalls.tbl` beside this module, one line a syscall
(`nr name args [| ret]`, grouped by domain); `args` is a short spec parsed here once, at import:

    "fd buf:buf_out@ret count:ulong"      read(2)
    "dfd:dirfd filename:path flags:flags=O mode:mode"

Each word is `name:kind`, a bare `fd` meaning `fd:fd`. A kind may name a table (`flags=PROT`,
`enum=ARCH`, see `flags.FORMATTERS`), a structure (`struct_out=stat`, see `structs`) or where a
buffer's or an array's length comes from (`@2`: argument 2, `@ret`: the return value). `skip`
holds a register strace does not print (preadv's high offset).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal

from tracer.decode.flags import FORMATTERS
from tracer.decode.struct_format import LAYOUT_OF


class ArgKind(Enum):
    INT = "int"  # C int: signed 32 bits of the register
    UINT = "uint"  # unsigned 32 bits, decimal
    LONG = "long"  # signed 64 bits (off_t, loff_t, long)
    ULONG = "ulong"  # unsigned 64 bits (size_t, unsigned long), decimal
    HEX = "hex"  # unsigned 64 bits in hex, 0 as `0`
    PTR = "ptr"  # address, 0 as NULL
    FD = "fd"  # descriptor: signed 32 bits
    DIRFD = "dirfd"  # descriptor or AT_FDCWD
    STR = "str"  # NUL-terminated user string read at entry, cut at 32 bytes
    PATH = "path"  # NUL-terminated path read at entry, printed whole (up to PATH_MAX)
    BUF_IN = "buf_in"  # buffer read at entry, length from another argument
    BUF_OUT = "buf_out"  # buffer the kernel fills, read at exit, length from ret or an argument
    BUF_OUT_HEX = "buf_out_hex"  # same, every byte printed as \xNN (strace does so for getrandom)
    PATH_OUT = "path_out"  # NUL-terminated path the kernel fills (getcwd), read at exit
    STRUCT_IN = "struct_in"  # pointer to a structure the kernel reads, decoded at entry when named
    STRUCT_OUT = "struct_out"  # pointer to a structure the kernel fills, decoded at exit
    MODE = "mode"  # umode_t in octal
    FLAGS = "flags"  # or-ed flags from a named table
    ENUM = "enum"  # one value from a named table
    SKIP = "skip"  # a register that carries part of another argument: not printed


class RetKind(Enum):
    DEC = "dec"
    HEX = "hex"  # addresses: mmap, brk, mremap, shmat
    OCT = "oct"  # umask
    TIME = "time"  # time(2): seconds, with the date in UTC


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind
    table: str | None = None
    """The flag or enum table; for structures, the layout (`struct_format.LAYOUT_OF`)."""
    length_from: int | Literal["ret"] | None = None
    """For buffers: the argument index holding the length, or "ret" for the return value."""


@dataclass(frozen=True)
class SyscallSpec:
    nr: int
    name: str
    args: tuple[Arg, ...]
    ret: RetKind = RetKind.DEC
    noreturn: bool = False
    """exit and exit_group: strace prints `= ?`; the capture sees no exit for them."""


_NEEDS_TABLE: Final = frozenset({ArgKind.FLAGS, ArgKind.ENUM})
_NEEDS_LENGTH: Final = frozenset({ArgKind.BUF_IN, ArgKind.BUF_OUT, ArgKind.BUF_OUT_HEX})
_STRUCTS: Final = frozenset({ArgKind.STRUCT_IN, ArgKind.STRUCT_OUT})
_NORETURN: Final = frozenset({"exit", "exit_group"})


def parse_args(spec: str) -> tuple[Arg, ...]:
    """Parse an argument spec such as `"fd buf:buf_in@2 count:ulong"` (see the module docs)."""
    return tuple(_parse_arg(word) for word in spec.split())


def _parse_arg(word: str) -> Arg:
    name, _, kind_text = word.partition(":")
    kind_text = kind_text or name
    kind_text, _, length_text = kind_text.partition("@")
    kind_text, _, table = kind_text.partition("=")
    kind = ArgKind(kind_text)
    if kind in _STRUCTS:
        _check_struct(word, table, length_text)
    else:
        if (kind in _NEEDS_TABLE) != bool(table):
            raise ValueError(f"{word!r}: flags and enum arguments, and only they, name a table")
        if table and table not in FORMATTERS:
            raise ValueError(f"{word!r}: no table named {table!r}")
        if (kind in _NEEDS_LENGTH) != bool(length_text) and kind is not ArgKind.PATH_OUT:
            raise ValueError(f"{word!r}: buffers and arrays, and only they, say their length")
    length: int | Literal["ret"] | None = None
    if length_text:
        length = "ret" if length_text == "ret" else int(length_text)
    return Arg(name, kind, table or None, length)


def _check_struct(word: str, struct: str, length_text: str) -> None:
    """A structure argument may name its layout (`=timespec`); arrays and sized structures
    say which argument gives their length (`=iovec@2`), fixed ones say nothing."""
    if not struct:
        if length_text:
            raise ValueError(f"{word!r}: only a named structure says its length")
        return
    if struct not in LAYOUT_OF:
        raise ValueError(f"{word!r}: no structure named {struct!r}")
    if (LAYOUT_OF[struct].length != "fixed") != bool(length_text):
        raise ValueError(f"{word!r}: arrays and sized structures, and only they, say their length")


def _rows() -> Iterator[tuple[int, str, str, str]]:
    """(nr, name, args, ret) for each line of `syscalls.tbl`; `#` starts a comment."""
    text = resources.files("tracer.decode").joinpath("syscalls.tbl").read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        line, _, ret = line.split("#", 1)[0].partition("|")
        words = line.split(maxsplit=2)
        if not words:
            continue
        if len(words) < 2 or not words[0].isdigit():
            raise ValueError(f"syscalls.tbl:{number}: not `nr name args [| ret]`: {line!r}")
        yield int(words[0]), words[1], words[2] if len(words) > 2 else "", ret.strip() or "dec"


def _build() -> dict[int, SyscallSpec]:
    table: dict[int, SyscallSpec] = {}
    for nr, name, spec, ret in _rows():
        if nr in table:
            raise ValueError(f"syscall {nr} listed twice: {table[nr].name} and {name}")
        args = parse_args(spec)
        if len(args) > 6:
            raise ValueError(f"{name}: more than six arguments")
        table[nr] = SyscallSpec(nr, name, args, RetKind(ret), name in _NORETURN)
    return dict(sorted(table.items()))


SYSCALLS: Final[Mapping[int, SyscallSpec]] = MappingProxyType(_build())
"""Every x86-64 syscall by number."""

_BY_NAME: Final[Mapping[str, SyscallSpec]] = MappingProxyType(
    {spec.name: spec for spec in SYSCALLS.values()}
)

# The numbers code outside the decoders tests events against, read from the one table.
NR_WRITE: Final = _BY_NAME["write"].nr
NR_WRITEV: Final = _BY_NAME["writev"].nr
NR_EXIT: Final = _BY_NAME["exit"].nr
NR_EXIT_GROUP: Final = _BY_NAME["exit_group"].nr
NR_ARCH_PRCTL: Final = _BY_NAME["arch_prctl"].nr


def syscall_spec(nr: int) -> SyscallSpec | None:
    return SYSCALLS.get(nr)


def syscall_name(nr: int) -> str:
    """`read` for 0; strace's `syscall_0x3e7` for numbers the table does not know."""
    spec = SYSCALLS.get(nr)
    return spec.name if spec else f"syscall_{nr & (1 << 64) - 1:#x}"


def syscall_number(name: str) -> int | None:
    spec = _BY_NAME.get(name)
    return spec.nr if spec else None
