"""A trace held in memory with the reader API, for a live view fed event by event."""

from __future__ import annotations

import bisect
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator

from tracer.events import Event, EventKind
from tracer.store.api import EventFilter, TraceSource

_CACHED_VIEWS = 32


class _View:
    """Positions (in the trace's list) of the events a filter matches, scanned so far."""

    __slots__ = ("positions", "scanned")

    def __init__(self) -> None:
        self.positions = array("q")
        self.scanned = 0


class MemoryTrace(TraceSource):
    """Events in a list, in increasing seq order; same queries as `TraceReader`.

    Filtered views are built incrementally and cached, so paging a growing trace costs only
    the events appended since the last query. Not thread-safe: append and read from one
    thread (the TUI's message handlers).
    """

    def __init__(self, events: Iterable[Event] = (), meta: dict[str, str] | None = None) -> None:
        self._events: list[Event] = []
        self._seqs = array("q")
        self._meta = dict(meta or {})
        self._kind_counts: Counter[str] = Counter()
        self._pids: set[int] = set()
        self._cpus: set[int] = set()
        self._time_ordered = True
        self._views: OrderedDict[EventFilter, _View] = OrderedDict()
        self.extend(events)

    def __len__(self) -> int:
        return len(self._events)

    def close(self) -> None:
        """Nothing to release; the trace lives in memory."""

    def append(self, event: Event) -> None:
        if self._seqs and event.seq <= self._seqs[-1]:
            raise ValueError(f"event seq {event.seq} does not follow seq {self._seqs[-1]}")
        if self._events and event.time_ns < self._events[-1].time_ns:
            self._time_ordered = False
        self._events.append(event)
        self._seqs.append(event.seq)
        self._kind_counts[event.kind.value] += 1
        pid = getattr(event, "pid", None)
        if pid is not None:
            self._pids.add(pid)
        cpu = getattr(event, "cpu", None)
        if cpu is not None:
            self._cpus.add(cpu)

    def extend(self, events: Iterable[Event]) -> None:
        for event in events:
            self.append(event)

    @property
    def meta(self) -> dict[str, str]:
        return dict(self._meta)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def _count(self, view_filter: EventFilter) -> int:
        if view_filter.is_everything:
            return len(self._events)
        if view_filter.cpu is None and view_filter.pid is None and not view_filter.time_range:
            return sum(self._kind_counts[kind] for kind in view_filter.kinds or ())
        return len(self._view(view_filter).positions)

    def _page(self, view_filter: EventFilter, offset: int, limit: int) -> list[Event]:
        if view_filter.is_everything:
            return self._events[offset : offset + limit]
        positions = self._view(view_filter).positions[offset : offset + limit]
        return [self._events[position] for position in positions]

    def get(self, seq: int) -> Event | None:
        position = bisect.bisect_left(self._seqs, seq)
        if position < len(self._seqs) and self._seqs[position] == seq:
            return self._events[position]
        return None

    def seq_at_time(self, time_ns: int) -> int | None:
        """Seq of the earliest event at or after `time_ns` (lowest seq on a tie)."""
        if self._time_ordered:
            position = bisect.bisect_left(self._events, time_ns, key=_time_of)
            return self._seqs[position] if position < len(self._events) else None
        later = [(event.time_ns, event.seq) for event in self._events if event.time_ns >= time_ns]
        return min(later)[1] if later else None

    def _index_of(self, view_filter: EventFilter, seq: int, nearest: bool) -> int | None:
        position = bisect.bisect_left(self._seqs, seq)
        if view_filter.is_everything:
            index, end = position, len(self._events)
            exact = index < end and self._seqs[index] == seq
        else:
            positions = self._view(view_filter).positions
            index, end = bisect.bisect_left(positions, position), len(positions)
            exact = index < end and self._seqs[positions[index]] == seq
        return index if exact or (nearest and index < end) else None

    def kinds(self) -> list[EventKind]:
        return sorted(EventKind(kind) for kind, count in self._kind_counts.items() if count)

    def pids(self) -> list[int]:
        return sorted(self._pids)

    def cpus(self) -> list[int]:
        return sorted(self._cpus)

    def _stream(
        self, view_filter: EventFilter, start_seq: int, limit: int | None
    ) -> Iterator[Event]:
        # Indexes, not iterators: events appended while a consumer iterates are yielded too.
        position = bisect.bisect_left(self._seqs, start_seq)
        remaining = limit
        if view_filter.is_everything:
            while position < len(self._events) and (remaining is None or remaining > 0):
                yield self._events[position]
                position += 1
                remaining = None if remaining is None else remaining - 1
            return
        positions = self._view(view_filter).positions
        index = bisect.bisect_left(positions, position)
        while remaining is None or remaining > 0:
            if index >= len(positions):
                positions = self._view(view_filter).positions  # catch up with appends
                if index >= len(positions):
                    return
            yield self._events[positions[index]]
            index += 1
            remaining = None if remaining is None else remaining - 1

    def _view(self, view_filter: EventFilter) -> _View:
        view = self._views.pop(view_filter, None) or _View()
        self._views[view_filter] = view
        if len(self._views) > _CACHED_VIEWS:
            self._views.popitem(last=False)
        matches = view_filter.matches
        for position in range(view.scanned, len(self._events)):
            if matches(self._events[position]):
                view.positions.append(position)
        view.scanned = len(self._events)
        return view


def _time_of(event: Event) -> int:
    return event.time_ns
