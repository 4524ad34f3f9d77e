"""Thread-local blocks (x86-64 TLS variant II): the TCB at the thread pointer, variables below.

A block read from the guest covers [tp - span, tp + 8): the variables live at negative TP
offsets, and the TCB's first word (fs:0) should point to the TCB itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TlsVariable:
    name: str
    tp_offset: int  # negative: the variable is at tp + tp_offset
    size: int


@dataclass(frozen=True, slots=True)
class TlsBlock:
    thread_pointer: int
    self_pointer: int | None
    values: tuple[tuple[str, int | None], ...]

    @property
    def self_pointer_ok(self) -> bool:
        return self.self_pointer == self.thread_pointer


def decode_tls_block(
    thread_pointer: int, data: bytes | None, span: int, variables: Sequence[TlsVariable]
) -> TlsBlock:
    """Values of the named variables (integers of their size, None if outside the read)."""
    if data is None or len(data) < span + 8:
        return TlsBlock(thread_pointer, None, tuple((v.name, None) for v in variables))
    self_pointer = int.from_bytes(data[span : span + 8], "little")
    values: list[tuple[str, int | None]] = []
    for var in variables:
        start = span + var.tp_offset
        size = var.size if var.size in (1, 2, 4, 8) else 8
        if start < 0 or start + size > span:
            values.append((var.name, None))
        else:
            values.append((var.name, int.from_bytes(data[start : start + size], "little")))
    return TlsBlock(thread_pointer, self_pointer, tuple(values))
