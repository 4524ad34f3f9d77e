"""Finding events around a moment through the `TraceSource` API alone."""

from __future__ import annotations

from typing import Any

from tracer.events import Event
from tracer.store.api import TraceSource


def row_of(source: TraceSource, seq: int) -> int | None:
    """Row of `seq` in the unfiltered view (seqs without holes make it seq - first)."""
    first = source.page(0, 1)
    if not first:
        return None
    guess = seq - first[0].seq
    if guess >= 0:
        found = source.page(guess, 1)
        if found and found[0].seq == seq:
            return guess
    return source.index_of(seq)


def window_before(source: TraceSource, seq: int, size: int) -> list[Event]:
    """Up to `size` events ending with the one at `seq`, in seq order."""
    row = row_of(source, seq)
    if row is None:
        return []
    start = max(0, row - size + 1)
    return source.page(start, row - start + 1)


def last_at_or_before(source: TraceSource, seq: int, **query: Any) -> Event | None:
    """The last event of a filtered view at or before `seq`."""
    after = source.index_of(seq, nearest=True, **query)
    if after is not None:
        found = source.page(after, 1, **query)
        if found and found[0].seq == seq:
            return found[0]
        row = after - 1
    else:
        row = source.count(**query) - 1
    if row < 0:
        return None
    found = source.page(row, 1, **query)
    return found[0] if found else None
