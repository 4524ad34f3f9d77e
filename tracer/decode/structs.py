"""The structures strace decodes behind syscall pointers: one table of x86-64 layouts (sizes,
field offsets and widths; the data file `structs.tbl`) shared by the read plan
(`strace.entry_reads` / `exit_reads`: how many bytes to fetch) and the printers in
`struct_format` (report, TUI and JSON alike).

A syscall argument names its structure in the syscall table: `rqtp:struct_in=timespec`,
`vec:struct_in=iovec@2` (an array whose element count is argument 2), `nset:struct_in=sigset@3`
(a structure whose byte size is argument 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Final, Literal

MAX_ELEMENTS: Final = 32
"""Array elements read and shown (strace's `-s 32` applies to arrays as well)."""

IOV_KEY: Final = 64
"""Memory key of the buffer of iovec element i is IOV_KEY + i (keys below 6 are arguments)."""


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    signed: bool = False

    def value(self, data: bytes) -> int:
        return int.from_bytes(
            data[self.offset : self.offset + self.size], "little", signed=self.signed
        )


@dataclass(frozen=True)
class Layout:
    name: str
    size: int
    fields: tuple[Field, ...]
    length: Literal["fixed", "elements", "bytes"] = "fixed"
    """What the `@N` argument says: nothing (fixed size), an element count, or a byte size."""
    max_bytes: int = 0
    """For `bytes` layouts: the most worth reading (a sigset is 8 bytes on x86-64)."""
    max_count: int = 1 << 32
    """For arrays: a longer one the kernel refuses unread (UIO_MAXIOV), so nothing is read and
    the address is shown, rather than stack bytes past the caller's array."""

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name!r}")

    def values(self, data: bytes) -> dict[str, int]:
        """Every integer field of one element (char arrays are read by the printers)."""
        return {f.name: f.value(data) for f in self.fields if f.offset + f.size <= len(data)}

    def read_size(self, length: int | None) -> int:
        """Bytes to read for an argument whose `@N` value is `length` (None for fixed ones)."""
        if self.length == "elements":
            if (length or 0) > self.max_count:
                return 0
            return self.size * min(length or 0, MAX_ELEMENTS)
        if self.length == "bytes":
            return min(length or 0, self.max_bytes or self.size)
        return self.size


def parse_layouts(text: str) -> dict[str, Layout]:
    """The layouts of a `structs.tbl` text by name."""
    layouts: dict[str, Layout] = {}
    header: list[str] = []
    fields: list[Field] = []

    def close() -> None:
        if header:
            name, size, *options = header
            kwargs = dict(option.split("=", 1) for option in options)
            numbers = {k: int(v) for k, v in kwargs.items() if k != "length"}
            length = kwargs.get("length", "fixed")
            if length not in ("fixed", "elements", "bytes"):
                raise ValueError(f"{name}: unknown length {length!r}")
            layouts[name] = Layout(name, int(size), tuple(fields), length, **numbers)  # type: ignore[arg-type]

    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if line[0].isspace():
            name, offset, size, *signed = words
            fields.append(Field(name, int(offset), int(size), signed == ["signed"]))
        else:
            close()
            header, fields = words, []
    close()
    return layouts


LAYOUTS: Final[dict[str, Layout]] = parse_layouts(
    resources.files("tracer.decode").joinpath("structs.tbl").read_text(encoding="utf-8")
)
"""Structure name -> its x86-64 layout, from the data file `structs.tbl` beside this module."""


def layout(name: str) -> Layout:
    return LAYOUTS[name]


__all__ = ["IOV_KEY", "LAYOUTS", "MAX_ELEMENTS", "Field", "Layout", "layout"]
