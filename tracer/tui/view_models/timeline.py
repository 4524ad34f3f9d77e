"""The timeline's rows: a filtered view of a trace source, paged on demand and cached.

Kind, CPU and pid filters are the store's own views (instant at any size); syscall-name and
text filters, and the folding of inferred swapgs rows, need every candidate event looked at,
so a `FilterScan` collects the matching seqs a slice at a time while the view shows what it has
found so far.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterator
from typing import Any

from tracer.event_filter import is_inferred_swapgs
from tracer.events import Event, Interrupt, Symbolizer, SyscallEntry, SyscallExit
from tracer.store.api import TraceSource
from tracer.tui.view_models.filters import TextMatcher, ViewFilter
from tracer.tui.view_models.rows import TimelineRow, timeline_row
from tracer.tui.view_models.trace_index import TraceIndex

CROSSINGS = (SyscallEntry, SyscallExit, Interrupt)
"""The user/kernel crossings an inferred swapgs pair belongs to (it comes just before them)."""

PAGE = 128
_CACHED_PAGES = 64
_SCAN_CHUNK = 512
_FIRST_FIND_CHUNK = 8

Match = Callable[[Event, TimelineRow], bool]
Search = Generator[int, None, int | None]
"""Yields how many rows it has looked at so far; returns the row found (or None)."""


class FilterScan:
    """Seqs of the events a scan-only filter (syscall names, text) accepts, found so far."""

    def __init__(
        self,
        source: TraceSource,
        index: TraceIndex,
        view_filter: ViewFilter,
        symbolize: Symbolizer | None = None,
    ) -> None:
        self.source = source
        self.index = index
        self.symbolize = symbolize
        self.view_filter = view_filter
        self.matcher: TextMatcher | None = view_filter.matcher()
        self.seqs = array("q")
        self.next_seq = 0
        self.examined = 0
        self.done = False
        self._entries: OrderedDict[int, SyscallEntry] = OrderedDict()
        self.fold = view_filter.folds_swapgs
        self.folded_into: set[int] = set()  # seqs of crossings that hold folded swapgs rows
        self._folding: set[int] = set()  # cpus with folded swapgs waiting for their crossing

    def accepts(self, event: Event) -> bool:
        if self.fold:
            if is_inferred_swapgs(event):
                self._folding.add(event.cpu)  # type: ignore[union-attr]
                return False
            if isinstance(event, CROSSINGS) and event.cpu in self._folding:
                self._folding.discard(event.cpu)
                self.folded_into.add(event.seq)
        syscalls = self.view_filter.syscalls
        if syscalls is not None and getattr(event, "nr", None) not in syscalls:
            return False
        if isinstance(event, SyscallEntry):
            self._entries[event.seq] = event
            if len(self._entries) > 4096:
                self._entries.popitem(last=False)
        if self.matcher is None:
            return True
        entry = None
        if isinstance(event, SyscallExit) and event.entry_seq is not None:
            entry = self._entries.get(event.entry_seq)
            if entry is None:
                found = self.source.get(event.entry_seq)
                entry = found if isinstance(found, SyscallEntry) else None
        return self.matcher.matches(timeline_row(event, self.index, entry, self.symbolize).text)

    def step(self, limit: int = _SCAN_CHUNK) -> bool:
        """Look at up to `limit` more events; True once the end of the source is reached."""
        query = self.view_filter.store_query()
        chunk = list(self.source.events(self.next_seq, limit, **query))  # type: ignore[arg-type]
        for event in chunk:
            if self.accepts(event):
                self.seqs.append(event.seq)
        self.examined += len(chunk)
        if chunk:
            self.next_seq = chunk[-1].seq + 1
        self.done = len(chunk) < limit
        return self.done

    def resume(self) -> None:
        """The source grew (live): look again from where the scan stopped."""
        self.done = False


class _Page:
    """A page of rows: its events read at once, each row formatted when first asked for (a
    jump far away shows a screenful of a page, not all of it)."""

    __slots__ = ("_entries", "_rows", "_timeline", "events")

    def __init__(self, timeline: TimelineRows, events: list[Event]) -> None:
        self._timeline = timeline
        self.events = events
        self._entries = {e.seq: e for e in events if isinstance(e, SyscallEntry)}
        self._rows: list[TimelineRow | None] = [None] * len(events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, position: int) -> tuple[Event, TimelineRow]:
        event = self.events[position]
        row = self._rows[position]
        if row is None:
            row = self._rows[position] = self._timeline.format_row(event, self._entries)
        return event, row


class TimelineRows:
    """Row i of the filtered timeline as (event, row), for a Line-API widget to draw."""

    def __init__(
        self,
        source: TraceSource,
        index: TraceIndex,
        view_filter: ViewFilter | None = None,
        symbolize: Symbolizer | None = None,
    ) -> None:
        self.source = source
        self.index = index
        self.symbolize = symbolize
        self.view_filter = view_filter or ViewFilter()
        self.scan = (
            FilterScan(source, index, self.view_filter, symbolize)
            if self.view_filter.needs_scan
            else None
        )
        self._pages: OrderedDict[int, _Page] = OrderedDict()
        self._count: int | None = None
        self._first_seq: int | None = None

    # Size and growth.

    def count(self) -> int:
        if self.scan is not None:
            return len(self.scan.seqs)
        if self._count is None:
            self._count = self.source.count(**self.view_filter.store_query())  # type: ignore[arg-type]
        return self._count

    def grew(self) -> None:
        """New events were appended to a live source: forget the size and the last page."""
        old = self._count
        self._count = None
        if self.scan is not None:
            caught_up = self.scan.done
            self.scan.resume()
            while caught_up and not self.scan.step():
                pass  # a scan that had caught up looks at the new events now (a live batch)
        if old is not None:
            self._pages.pop(old // PAGE, None)
        for number in [n for n, rows in self._pages.items() if len(rows) < PAGE]:
            del self._pages[number]

    def reformat(self) -> None:
        """Names or symbols became known: rows already formatted are stale."""
        self._pages.clear()

    # Rows.

    def row(self, index: int) -> tuple[Event, TimelineRow] | None:
        if index < 0:
            return None
        rows = self._page(index // PAGE)
        offset = index % PAGE
        return rows[offset] if offset < len(rows) else None

    def event(self, index: int) -> Event | None:
        found = self.row(index)
        return found[0] if found else None

    def _page(self, number: int) -> _Page:
        rows = self._pages.get(number)
        if rows is not None:
            self._pages.move_to_end(number)
            return rows
        rows = _Page(self, self._fetch(number * PAGE, PAGE))
        self._pages[number] = rows
        if len(self._pages) > _CACHED_PAGES:
            self._pages.popitem(last=False)
        return rows

    def _fetch(self, offset: int, limit: int) -> list[Event]:
        if self.scan is None:
            return self.source.page(offset, limit, **self.view_filter.store_query())  # type: ignore[arg-type]
        return self.source.get_many(self.scan.seqs[offset : offset + limit])

    def format_row(self, event: Event, entries: dict[int, SyscallEntry]) -> TimelineRow:
        """`event`'s row; `entries` are the syscall entries of its page, by seq."""
        entry = None
        if isinstance(event, SyscallExit) and event.entry_seq is not None:
            entry = entries.get(event.entry_seq)
            if entry is None:
                found = self.source.get(event.entry_seq)
                entry = found if isinstance(found, SyscallEntry) else None
        row = timeline_row(event, self.index, entry, self.symbolize)
        if self.scan is not None and event.seq in self.scan.folded_into:
            row = dataclasses.replace(row, swapgs=True)
        return row

    # Where a seq is.

    def index_of(self, seq: int, nearest: bool = True) -> int | None:
        """Row of `seq`, or with `nearest` the first row after it (the last row past the end)."""
        if self.scan is not None:
            import bisect

            position = bisect.bisect_left(self.scan.seqs, seq)
            exact = position < len(self.scan.seqs) and self.scan.seqs[position] == seq
            if exact:
                return position
            if not nearest or not self.scan.seqs:
                return None
            return min(position, len(self.scan.seqs) - 1)
        if self.view_filter.is_everything:
            guess = self._dense_index(seq)
            if guess is not None:
                return guess
        found = self.source.index_of(seq, nearest=nearest, **self.view_filter.store_query())  # type: ignore[arg-type]
        if found is None and nearest:
            total = self.count()
            return total - 1 if total else None
        return found

    def _dense_index(self, seq: int) -> int | None:
        """Seqs without holes make row = seq - first; checked by reading that row."""
        if self._first_seq is None:
            first = self.source.page(0, 1)
            if not first:
                return None
            self._first_seq = first[0].seq
        guess = seq - self._first_seq
        if guess < 0:
            return 0
        found = self.row(guess)
        if found is not None and found[0].seq == seq:
            return guess
        return None

    # Search.

    def search(
        self, start: int, forward: bool, match: Match, *, include_start: bool = False
    ) -> Search:
        """Walk rows from `start` (exclusive unless `include_start`) one page at a time.

        Yields how many rows it has looked at after each page; returns (StopIteration.value)
        the first matching row, or None.
        """
        step = 1 if forward else -1
        index = start if include_start else start + step
        looked = 0
        while True:
            total = self.count()
            if index < 0 or index >= total:
                return None
            page_number = index // PAGE
            rows = self._page(page_number)
            offset = index - page_number * PAGE
            positions = (
                range(offset, len(rows)) if forward else range(min(offset, len(rows) - 1), -1, -1)
            )
            for position in positions:
                event, row = rows[position]
                if match(event, row):
                    return page_number * PAGE + position  # noqa: B901
            looked += len(positions)
            index = (page_number + 1) * PAGE if forward else page_number * PAGE - 1
            yield looked

    def find(
        self,
        start: int,
        forward: bool,
        kinds: frozenset[str],
        predicate: Callable[[Event], bool] = lambda event: True,
    ) -> Search:
        """The next row (from `start`, exclusive) whose event is of `kinds` and passes `predicate`.

        Asks the store for just those kinds when the view allows it, so a jump to a rare kind
        costs what the store's kind index costs, not a walk over every row in between.
        """
        view_kinds = self.view_filter.store_kinds()
        wanted = kinds if view_kinds is None else kinds & view_kinds
        only_folding = self.view_filter.syscalls is None and not self.view_filter.text
        if self.scan is not None and only_folding:
            predicate = _unfolded(predicate)  # the store's kind index, minus the folded rows
        elif self.scan is not None:
            found = yield from self.search(
                start, forward, lambda event, _row: event.kind.value in wanted and predicate(event)
            )
            return found
        if not wanted:
            return None
        here = self.event(start)
        if here is None:
            return None
        query = {"kinds": wanted, "cpu": self.view_filter.cpu, "pid": self.view_filter.pid}
        from_seq = here.seq + 1 if forward else here.seq
        found_seq = yield from _find_by_kind(self.source, from_seq, forward, query, predicate)
        return None if found_seq is None else self.index_of(found_seq, nearest=False)


def _unfolded(predicate: Callable[[Event], bool]) -> Callable[[Event], bool]:
    return lambda event: not is_inferred_swapgs(event) and predicate(event)


def _chunk_sizes() -> Iterator[int]:
    """Events read per query by a find: few at first (the next event of a kind is often near,
    and decoding a chunk costs ~60 us an event), more as the search goes on."""
    size = _FIRST_FIND_CHUNK
    while True:
        yield size
        size = min(size * 4, _SCAN_CHUNK)


def _find_by_kind(
    source: TraceSource,
    from_seq: int,
    forward: bool,
    query: dict[str, Any],
    predicate: Callable[[Event], bool],
) -> Search:
    """The first event `predicate` accepts from `from_seq` on (forward) or before it (back),
    in chunks of growing size; yields the events looked at so far between large chunks."""
    looked = 0
    for size in _chunk_sizes():
        if forward:
            chunk = list(source.events(from_seq, size, **query))
        else:
            chunk = source.events_before(from_seq, size, **query)
        for event in chunk:
            if predicate(event):
                return event.seq
        looked += len(chunk)
        if len(chunk) < size:
            return None
        from_seq = chunk[-1].seq + 1 if forward else chunk[-1].seq
        if size == _SCAN_CHUNK:
            yield looked
    return None  # not reached: the sizes never end


def run_to_end(steps: Iterator[Any]) -> Any:
    """Drive a generator to its end and give back what it returned (tests, small traces)."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
