"""Linux's symbol table (125k symbols, a second to decode) decoded once: kept in the tracer's
cache under a hash of its bytes, as columns `marshal` reads back in a few milliseconds."""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .cache import cache_root
from .symbols import Symbol, SymbolBind, SymbolType, parse_symtab

# A program's few thousand symbols are decoded every time.
_KEEP_FROM_BYTES = 240_000  # 10,000 Elf64_Sym records
_KEPT_VERSION = 1
_KEPT_TYPES: tuple[SymbolType, ...] = ("func", "object", "notype", "tls")
_KEPT_BINDS: tuple[SymbolBind, ...] = ("global", "local", "weak")


def parse_symtab_kept(table: bytes, strings: bytes, section_names: Sequence[str]) -> list[Symbol]:
    """`parse_symtab`, from the cache when this table was decoded before."""
    if len(table) < _KEEP_FROM_BYTES:
        return parse_symtab(table, strings, section_names)
    digest = hashlib.sha1(f"v{_KEPT_VERSION}".encode())
    for part in (table, strings, "\0".join(section_names).encode()):
        digest.update(len(part).to_bytes(8, "little") + part)
    path = cache_root() / "symtab" / f"{digest.hexdigest()}.marshal"
    try:
        return _from_columns(marshal.loads(path.read_bytes()))
    except (OSError, ValueError, EOFError, TypeError, IndexError):
        pass  # absent or damaged: decode it again
    symbols = parse_symtab(table, strings, section_names)
    _keep(path, _to_columns(symbols))
    return symbols


def _to_columns(symbols: list[Symbol]) -> tuple[Any, ...]:
    sections = sorted({s.section for s in symbols})
    at = {name: i for i, name in enumerate(sections)}
    types = {name: i for i, name in enumerate(_KEPT_TYPES)}
    binds = {name: i for i, name in enumerate(_KEPT_BINDS)}
    return (
        sections,
        [s.name for s in symbols],
        [s.addr for s in symbols],
        [s.size for s in symbols],
        bytes(types[s.type] for s in symbols),
        bytes(binds[s.bind] for s in symbols),
        [at[s.section] for s in symbols],
    )


def _from_columns(columns: tuple[Any, ...]) -> list[Symbol]:
    sections, names, addrs, sizes, types, binds, in_section = columns
    if len({len(names), len(addrs), len(sizes), len(types), len(binds), len(in_section)}) != 1:
        raise ValueError("columns of different lengths")
    return list(
        map(
            Symbol,
            names,
            addrs,
            sizes,
            [_KEPT_TYPES[t] for t in types],
            [_KEPT_BINDS[b] for b in binds],
            [sections[i] for i in in_section],
        )
    )


def _keep(path: Path, columns: tuple[Any, ...]) -> None:
    """Write whole or not at all; a cache that cannot be written costs the next run time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_bytes(marshal.dumps(columns))
        os.replace(partial, path)
    except OSError:
        pass
