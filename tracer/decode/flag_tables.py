"""The flag and enum tables strace prints, read once from the data file `flags.tbl` beside this
module (its header says the format), and the ioctl requests it names."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal, get_args

from tracer.decode.xlat import EnumTable, FlagTable

Table = EnumTable | FlagTable

IoctlArg = Literal["none", "ptr", "int", "hex"]
"""How the third ioctl argument prints for a request: absent, pointer, decimal, hex."""


class TableFileError(ValueError):
    pass


def _header(words: list[str], tables: Mapping[str, Table]) -> tuple[str, dict[str, object]]:
    """`flags MAP field=MAP_TYPE/0xf width=64` -> the key and the table's keyword arguments."""
    key, options = words[1], dict(word.split("=", 1) for word in words[2:])
    name = options.pop("name", key)
    unknown = options.pop("unknown", f"{name}_???")
    kwargs: dict[str, object] = {
        "name": name,
        "unknown": None if unknown == "none" else unknown,
        "width": int(options.pop("width", "32")),
    }
    if "zero" in options:
        kwargs["zero"] = options.pop("zero")
    if "field" in options:
        field, mask = options.pop("field").split("/")
        kwargs["field"], kwargs["field_mask"] = tables[field], int(mask, 0)
    if options:
        raise TableFileError(f"{key}: unknown option(s) {', '.join(options)}")
    return key, kwargs


def parse_tables(text: str) -> tuple[dict[str, Table], dict[int, tuple[str, IoctlArg]]]:
    """The tables of a `flags.tbl` text by key, and its ioctl requests by number."""
    tables: dict[str, Table] = {}
    ioctl: dict[int, tuple[str, IoctlArg]] = {}
    kind, key = "", ""
    kwargs: dict[str, object] = {}
    rows: list[tuple[int, str]] = []

    def close() -> None:
        if kind == "enum":
            tables[key] = EnumTable(values=dict(rows), **kwargs)  # type: ignore[arg-type]
        elif kind == "flags":
            tables[key] = FlagTable(bits=tuple(rows), **kwargs)  # type: ignore[arg-type]

    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if not line[0].isspace():
            close()
            kind, rows = words[0], []
            if kind in ("enum", "flags"):
                key, kwargs = _header(words, tables)
            elif kind != "ioctl":
                raise TableFileError(f"unknown table kind {kind!r}")
        elif kind == "ioctl":
            style, name = words[1], " ".join(words[2:])
            if style not in get_args(IoctlArg):
                raise TableFileError(f"ioctl {words[0]}: unknown argument style {style!r}")
            ioctl[int(words[0], 0)] = (name, style)  # type: ignore[assignment]
        else:
            rows.append((int(words[0], 0), " ".join(words[1:])))
    close()
    return tables, ioctl


_TABLES, _IOCTL = parse_tables(
    resources.files("tracer.decode").joinpath("flags.tbl").read_text(encoding="utf-8")
)

TABLES: Final[Mapping[str, Table]] = MappingProxyType(_TABLES)
"""Every table by key: `TABLES["PROT"]`, `TABLES["O"]` (open flags), `TABLES["ARCH"]`, ..."""

IOCTL: Final[Mapping[int, tuple[str, IoctlArg]]] = MappingProxyType(_IOCTL)
"""A few ioctl requests by number; the rest decode as `_IOC(dir, type, nr, size)`."""


def flags_named(key: str) -> FlagTable:
    """The flags table `key`, for code that prints it with its own rules around."""
    table = TABLES[key]
    if not isinstance(table, FlagTable):
        raise TypeError(f"{key} is an enum table")
    return table


def enum_named(key: str) -> EnumTable:
    table = TABLES[key]
    if not isinstance(table, EnumTable):
        raise TypeError(f"{key} is a flags table")
    return table
