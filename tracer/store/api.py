"""What every trace source offers: the reader API shared by saved files and live captures."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeAlias

from tracer.events import Event, EventKind

KindsArg: TypeAlias = EventKind | str | Iterable[EventKind | str] | None
"""One kind or several; None means every kind."""

TimeRange: TypeAlias = tuple[int, int]
"""Half-open [start, end) in nanoseconds."""


class TraceFileError(Exception):
    """A trace file that cannot be read; `str()` is a one-line message naming the file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a view shows. `kinds` holds kind values; an empty set matches nothing."""

    kinds: frozenset[str] | None = None
    cpu: int | None = None
    pid: int | None = None
    time_range: TimeRange | None = None

    @classmethod
    def of(
        cls,
        kinds: KindsArg = None,
        cpu: int | None = None,
        pid: int | None = None,
        time_range: TimeRange | None = None,
    ) -> EventFilter:
        if kinds is None:
            kind_set = None
        elif isinstance(kinds, str):
            kind_set = frozenset({EventKind(kinds).value})
        else:
            kind_set = frozenset(EventKind(kind).value for kind in kinds)
        if time_range is not None:
            start, end = time_range
            time_range = (int(start), int(end))
        return cls(kind_set, cpu, pid, time_range)

    @property
    def is_everything(self) -> bool:
        return self.kinds is None and self.cpu is None and self.pid is None and not self.time_range

    def matches(self, event: Event) -> bool:
        if self.kinds is not None and event.kind.value not in self.kinds:
            return False
        if self.cpu is not None and getattr(event, "cpu", None) != self.cpu:
            return False
        if self.pid is not None and getattr(event, "pid", None) != self.pid:
            return False
        if self.time_range is not None:
            start, end = self.time_range
            return start <= event.time_ns < end
        return True


class TraceSource(ABC):
    """A trace read by row index, seq or time: a saved file or a capture still running.

    Rows are events in seq order; a filtered view numbers its own rows from 0. The query
    methods turn their arguments into one `EventFilter`; a source answers them with `_count`,
    `_stream`, `_page` and `_index_of`, and provides the abstract methods below.
    """

    def count(
        self,
        kind: EventKind | str | None = None,
        cpu: int | None = None,
        pid: int | None = None,
        *,
        kinds: KindsArg = None,
        time_range: TimeRange | None = None,
    ) -> int:
        if kind is not None:
            if kinds is not None:
                raise ValueError("pass kind or kinds, not both")
            kinds = kind
        return self._count(EventFilter.of(kinds, cpu, pid, time_range))

    def events(
        self,
        start_seq: int = 0,
        limit: int | None = None,
        kinds: KindsArg = None,
        cpu: int | None = None,
        pid: int | None = None,
        time_range: TimeRange | None = None,
    ) -> Iterator[Event]:
        """Events with seq >= start_seq in seq order (at most `limit`)."""
        return self._stream(EventFilter.of(kinds, cpu, pid, time_range), start_seq, limit)

    def events_before(
        self,
        before_seq: int,
        limit: int,
        *,
        kinds: KindsArg = None,
        cpu: int | None = None,
        pid: int | None = None,
        time_range: TimeRange | None = None,
    ) -> list[Event]:
        """The last `limit` events with seq < before_seq, the nearest first (a backward search)."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        return self._before(EventFilter.of(kinds, cpu, pid, time_range), before_seq, limit)

    def page(
        self,
        offset: int,
        limit: int,
        *,
        kinds: KindsArg = None,
        cpu: int | None = None,
        pid: int | None = None,
        time_range: TimeRange | None = None,
    ) -> list[Event]:
        """Rows offset .. offset+limit-1 of the (filtered) view."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        return self._page(EventFilter.of(kinds, cpu, pid, time_range), offset, limit)

    def index_of(
        self,
        seq: int,
        *,
        nearest: bool = False,
        kinds: KindsArg = None,
        cpu: int | None = None,
        pid: int | None = None,
        time_range: TimeRange | None = None,
    ) -> int | None:
        """Row index of `seq` in the (filtered) view; None when it is not a row of the view.

        With `nearest`, the index of the first row at or after `seq` (None past the end).
        """
        return self._index_of(EventFilter.of(kinds, cpu, pid, time_range), seq, nearest)

    def get_many(self, seqs: Sequence[int]) -> list[Event]:
        """The events at `seqs` (increasing), leaving out the ones not in the trace."""
        return [event for seq in seqs if (event := self.get(seq)) is not None]

    @property
    @abstractmethod
    def meta(self) -> dict[str, str]: ...

    @abstractmethod
    def get(self, seq: int) -> Event | None: ...

    @abstractmethod
    def seq_at_time(self, time_ns: int) -> int | None:
        """Seq of the earliest event at or after `time_ns` (lowest seq on a tie)."""

    @abstractmethod
    def kinds(self) -> list[EventKind]: ...

    @abstractmethod
    def pids(self) -> list[int]: ...

    @abstractmethod
    def cpus(self) -> list[int]: ...

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @abstractmethod
    def _count(self, view_filter: EventFilter) -> int: ...

    @abstractmethod
    def _stream(
        self, view_filter: EventFilter, start_seq: int, limit: int | None
    ) -> Iterator[Event]: ...

    @abstractmethod
    def _page(self, view_filter: EventFilter, offset: int, limit: int) -> list[Event]: ...

    @abstractmethod
    def _index_of(self, view_filter: EventFilter, seq: int, nearest: bool) -> int | None: ...

    def _before(self, view_filter: EventFilter, before_seq: int, limit: int) -> list[Event]:
        """By row index; a source that can walk its index backwards does better."""
        after = self._index_of(view_filter, before_seq, True)
        end = self._count(view_filter) if after is None else after
        begin = max(0, end - limit)
        return self._page(view_filter, begin, end - begin)[::-1]
