"""Value -> name tables and the two ways strace prints them: as an enum or as or-ed flags.

strace's rules, kept here so every table follows them:
- an enum value without a name prints as hex with a comment: `0x3001 /* ARCH_??? */`; tables
  whose unknown values strace prints in decimal (signals) set `unknown` to None;
- flags print in the table's order (strace's, not always by value), a multi-bit entry only when
  all its bits are set; leftover bits follow as one hex number: `PROT_READ|0x10000000`;
- a value with no known bit prints as hex with the table's comment: `0x100 /* GRND_??? */`;
- zero prints as the table's zero name (`PROT_NONE`, `F_OK`) or `0`;
- a table may start with an enum field (the access mode of open flags, the mapping type of mmap
  flags): it is always printed first, and the bits after it never get a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class EnumTable:
    name: str
    values: Mapping[int, str]
    unknown: str | None = None
    """Comment for values without a name (`ARCH_???`); None prints them in decimal."""
    width: int = 32
    """Bits of the argument that carry the value (C `int` arguments are 32 bits)."""


@dataclass(frozen=True)
class FlagTable:
    name: str
    bits: tuple[tuple[int, str], ...]
    zero: str | None = None
    unknown: str | None = None
    """Comment when no bit is known (`GRND_???`); None prints the bare hex number."""
    field: EnumTable | None = None
    field_mask: int = 0
    width: int = 32


def _mask(width: int) -> int:
    return (1 << width) - 1


def format_hex(value: int) -> str:
    """strace's `%#x`: `0x1f`, but `0` for zero."""
    return f"{value:#x}" if value else "0"


def format_ptr(value: int) -> str:
    """An address: `NULL` for zero, else hex."""
    value &= (1 << 64) - 1
    return f"{value:#x}" if value else "NULL"


def to_signed(value: int, bits: int) -> int:
    """The low `bits` of a register as a two's-complement number (`0xffffffff` -> -1 for 32)."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def format_enum(table: EnumTable, value: int) -> str:
    value &= _mask(table.width)
    name = table.values.get(value)
    if name is not None:
        return name
    if table.unknown is None:
        return str(value)
    return f"{format_hex(value)} /* {table.unknown} */"


def _or_bits(table: FlagTable, value: int) -> tuple[list[str], int]:
    names: list[str] = []
    for bits, name in table.bits:
        if bits and value & bits == bits:
            names.append(name)
            value &= ~bits
    return names, value


def format_flags(table: FlagTable, value: int) -> str:
    """`PROT_READ|PROT_WRITE`, `O_RDONLY|O_CLOEXEC`, `0x100 /* GRND_??? */`, `PROT_NONE`."""
    value &= _mask(table.width)
    parts: list[str] = []
    if table.field is not None:
        parts.append(format_enum(table.field, value & table.field_mask))
        value &= ~table.field_mask
    elif value == 0:
        return table.zero if table.zero is not None else "0"
    names, rest = _or_bits(table, value)
    parts.extend(names)
    if rest:
        if names or table.field is not None or table.unknown is None:
            parts.append(f"{rest:#x}")
        else:
            parts.append(f"{rest:#x} /* {table.unknown} */")
    return "|".join(parts)


def enum_table(
    name: str, values: Mapping[int, str], unknown: str | None = "", width: int = 32
) -> EnumTable:
    """An enum table whose unknown comment defaults to `NAME_???`."""
    comment = f"{name}_???" if unknown == "" else unknown
    return EnumTable(name=name, values=dict(values), unknown=comment, width=width)


def flag_table(
    name: str,
    bits: Mapping[int, str] | tuple[tuple[int, str], ...],
    zero: str | None = None,
    unknown: str | None = "",
    *,
    field: EnumTable | None = None,
    field_mask: int = 0,
    width: int = 32,
) -> FlagTable:
    """A flag table in the given order whose unknown comment defaults to `NAME_???`."""
    pairs = tuple(bits.items()) if isinstance(bits, Mapping) else bits
    comment = f"{name}_???" if unknown == "" else unknown
    return FlagTable(name, pairs, zero, comment, field, field_mask, width)
