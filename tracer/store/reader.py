"""Paged, streaming reader of a trace file; works on a file still being written (WAL)."""

from __future__ import annotations

import bisect
import json
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from tracer.analysis.marks import EventMarks
from tracer.events import Event, EventKind
from tracer.store import codec
from tracer.store.analysis import StoredAnalysis, load_stored
from tracer.store.api import EventFilter, TraceFileError, TraceSource
from tracer.store.marks import INFERRED_SWAPGS, load_marks, markable_sql
from tracer.store.opening import corrupt, open_trace_database
from tracer.store.schema import (
    META_COMPLETE,
    META_EVENT_COUNT,
    META_EVENT_COUNTS,
    META_TIME_ORDERED,
)
from tracer.store.sqlview import ROW_COLUMNS, SqlView, clamp64

CHUNK = 512
"""Rows fetched per query while streaming."""

FIRST_CHUNK = 8
"""Rows fetched by a stream's first query: a caller looking for one event (the exit of a
syscall, the next event of a kind) often stops at the first, and decoding is most of a read."""

ANCHOR_EVERY = 1024
"""A filtered view remembers the seq of every this-many-th row, so paging by row index never
skips more than this many rows (OFFSET costs one step per skipped row)."""

RARE_KIND_SHARE = 8
"""A kind filtered with a CPU or pid walks its own index when it is at most this rare."""

_ANCHORED_VIEWS = 32
_SEQS_PER_QUERY = 256  # get_many: SQLite allows a few hundred parameters anywhere
_DECODED_EVENTS = 4096
"""Events kept decoded (by seq): a viewer reads the same few hundred around its cursor again
at every key (the timeline's page, the CPU panel's window), and decoding is most of a read."""
_COUNTED_VIEWS = 256


class TraceReader(TraceSource):
    """Read a trace file: `TraceReader.open(path)`; see `TraceSource` for the methods.

    Every query sees the batches committed so far, so a file still being written can be
    followed. Use one reader from one thread at a time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._conn: sqlite3.Connection | None = None
        self._conn, self.schema_version = open_trace_database(self.path)
        self._anchors: OrderedDict[EventFilter, list[int]] = OrderedDict()
        self._counts: dict[EventFilter, tuple[int, int]] = {}
        self._decoded: OrderedDict[int, Event] = OrderedDict()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> TraceReader:
        return cls(path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def meta(self) -> dict[str, str]:
        return dict(self._rows("SELECT key, value FROM meta"))

    def stored_analysis(self) -> StoredAnalysis | None:
        """The owners and raw findings the file stores, when they cover all of a complete
        file (see `tracer.store.analysis`); None: analyse it (`AnalysisScan`)."""
        if self._conn is None:
            raise ValueError(f"trace reader is closed ({self.path})")
        return load_stored(self._conn, self.meta)

    def stored_marks(self) -> EventMarks | None:
        """The jump marks the file stores, when they cover all of a complete file (see
        `tracer.store.marks`); None: mark it (`MarkScan`)."""
        if self._conn is None:
            raise ValueError(f"trace reader is closed ({self.path})")
        return load_marks(self._conn, self.meta)

    @property
    def complete(self) -> bool:
        """True once the writer closed the file; False while it is live (or was cut)."""
        return self._scalar("SELECT value FROM meta WHERE key = ?", (META_COMPLETE,)) == "1"

    def _count(self, view_filter: EventFilter) -> int:
        if view_filter.cpu is None and view_filter.pid is None and not view_filter.time_range:
            fast = self._count_from_meta(view_filter.kinds)
            if fast is not None:
                return fast
        version = self._scalar("PRAGMA data_version")
        cached = self._counts.get(view_filter)
        if cached is not None and cached[0] == version:
            return cached[1]
        view = self._view(view_filter)
        total = 0 if view.empty else int(self._scalar(*view.count()))
        if len(self._counts) >= _COUNTED_VIEWS:
            self._counts.clear()
        self._counts[view_filter] = (version, total)
        return total

    def _page(self, view_filter: EventFilter, offset: int, limit: int) -> list[Event]:
        start = self._seq_of_row(view_filter, offset) if limit else None
        if start is None:
            return []
        view = self._view(view_filter)
        return self._decode_all(self._rows(*view.select(ROW_COLUMNS, start, limit=limit)))

    def markable_events(self, start_seq: int, stop_seq: int) -> list[Event]:
        """The events in [start_seq, stop_seq) that may carry a jump mark (`markable_sql`)."""
        bounds = (clamp64(start_seq), clamp64(stop_seq))
        return self._decode_all(self._rows(markable_sql(ROW_COLUMNS), (*bounds, *INFERRED_SWAPGS)))

    def _before(self, view_filter: EventFilter, before_seq: int, limit: int) -> list[Event]:
        view = self._view(view_filter)
        if view.empty or limit == 0:
            return []
        sql, params = view.select(ROW_COLUMNS, to_seq=before_seq, limit=limit, descending=True)
        return self._decode_all(self._rows(sql, params))

    def get(self, seq: int) -> Event | None:
        rows = self._rows(f"SELECT {ROW_COLUMNS} FROM events WHERE seq = ?", (clamp64(seq),))
        return self._decode_all(rows)[0] if rows else None

    def get_many(self, seqs: Sequence[int]) -> list[Event]:
        events: list[Event] = []
        for start in range(0, len(seqs), _SEQS_PER_QUERY):
            batch = [clamp64(seq) for seq in seqs[start : start + _SEQS_PER_QUERY]]
            marks = ", ".join("?" * len(batch))
            sql = f"SELECT {ROW_COLUMNS} FROM events WHERE seq IN ({marks}) ORDER BY seq"
            events.extend(self._decode_all(self._rows(sql, batch)))
        return events

    def seq_at_time(self, time_ns: int) -> int | None:
        """Seq of the earliest event at or after `time_ns` (lowest seq on a tie)."""
        return self._scalar(
            "SELECT seq FROM events WHERE time_ns >= ? ORDER BY time_ns, seq LIMIT 1",
            (clamp64(time_ns),),
        )

    def _index_of(self, view_filter: EventFilter, seq: int, nearest: bool) -> int | None:
        view = self._view(view_filter)
        if view.empty:
            return None
        sql, params = view.select("seq", seq, limit=1)
        found = self._scalar(sql, params)
        if found is None or (found != seq and not nearest):
            return None
        anchors = self._extend_anchors(view_filter, view, until_seq=found)
        slot = bisect.bisect_right(anchors, found) - 1
        if slot < 0:
            return 0
        return slot * ANCHOR_EVERY + int(self._scalar(*view.count(anchors[slot], found)))

    def kinds(self) -> list[EventKind]:
        known = {kind.value for kind in EventKind}
        return [EventKind(value) for value in self._distinct("kind") if value in known]

    def pids(self) -> list[int]:
        return self._distinct("pid")

    def cpus(self) -> list[int]:
        return self._distinct("cpu")

    # Internals.

    def _stream(
        self, view_filter: EventFilter, start_seq: int, limit: int | None
    ) -> Iterator[Event]:
        remaining = limit
        next_seq = start_seq
        chunk = FIRST_CHUNK
        while remaining is None or remaining > 0:
            view = self._view(view_filter)  # re-resolved: a live file's time bounds may move
            if view.empty:
                return
            want = chunk if remaining is None else min(chunk, remaining)
            chunk = min(chunk * 8, CHUNK)
            rows = self._rows(*view.select(ROW_COLUMNS, next_seq, limit=want))
            yield from self._decode_all(rows)
            if len(rows) < want:
                return
            next_seq = rows[-1][0] + 1
            if remaining is not None:
                remaining -= len(rows)

    def _seq_of_row(self, view_filter: EventFilter, index: int) -> int | None:
        if view_filter.is_everything:
            dense = self._dense_bounds()
            if dense is not None:
                first, last = dense
                return first + index if first + index <= last else None
        view = self._view(view_filter)
        if view.empty:
            return None
        slot = index // ANCHOR_EVERY
        anchors = self._extend_anchors(view_filter, view, until_slot=slot)
        if slot >= len(anchors):
            return None
        skip = index - slot * ANCHOR_EVERY
        return self._scalar(*view.select("seq", anchors[slot], limit=1, offset=skip))

    def _extend_anchors(
        self,
        view_filter: EventFilter,
        view: SqlView,
        until_slot: int | None = None,
        until_seq: int | None = None,
    ) -> list[int]:
        """The view's anchors, extended to cover row slot `until_slot` or row `until_seq`.

        A view only grows at its end (seqs increase), so anchors stay valid while live.
        """
        anchors = self._anchors.pop(view_filter, [])
        self._anchors[view_filter] = anchors  # most recently used last
        if len(self._anchors) > _ANCHORED_VIEWS:
            self._anchors.popitem(last=False)
        while not (
            (until_slot is not None and len(anchors) > until_slot)
            or (until_seq is not None and anchors and anchors[-1] >= until_seq)
        ):
            if anchors:
                sql, params = view.select("seq", anchors[-1], limit=1, offset=ANCHOR_EVERY)
            else:
                sql, params = view.select("seq", limit=1)
            seq = self._scalar(sql, params)
            if seq is None:
                break
            anchors.append(seq)
        return anchors

    def _view(self, view_filter: EventFilter) -> SqlView:
        seq_range = None
        if view_filter.time_range is not None and self._time_ordered():
            start, end = view_filter.time_range
            low = self.seq_at_time(start)
            high = self.seq_at_time(end)
            # No event at or after start: nothing in range; none at or after end: no upper bound.
            seq_range = (0, 0) if low is None else (low, high)
        return SqlView.build(
            view_filter.kinds,
            view_filter.cpu,
            view_filter.pid,
            view_filter.time_range,
            seq_range,
            self._rare_kinds(view_filter),
        )

    def _rare_kinds(self, view_filter: EventFilter) -> frozenset[str]:
        """Kinds of at most 1/RARE_KIND_SHARE of all events (from the writer's counts)."""
        others = (view_filter.cpu, view_filter.pid, view_filter.time_range)
        if not view_filter.kinds or all(other is None for other in others):
            return frozenset()
        text = self._scalar("SELECT value FROM meta WHERE key = ?", (META_EVENT_COUNTS,))
        counts = json.loads(text) if text else {}
        total = sum(counts.values())
        return frozenset(
            kind for kind in view_filter.kinds if counts.get(kind, 0) * RARE_KIND_SHARE <= total
        )

    def _time_ordered(self) -> bool:
        return self._scalar("SELECT value FROM meta WHERE key = ?", (META_TIME_ORDERED,)) == "1"

    def _dense_bounds(self) -> tuple[int, int] | None:
        """(first, last) seq when seqs have no holes, so row index = seq - first."""
        count, first, last = self._rows(
            "SELECT (SELECT value FROM meta WHERE key = ?),"
            " (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)",
            (META_EVENT_COUNT,),
        )[0]
        if first is None or count is None or int(count) != last - first + 1:
            return None
        return first, last

    def _count_from_meta(self, kinds: frozenset[str] | None) -> int | None:
        if kinds is None:
            value = self._scalar("SELECT value FROM meta WHERE key = ?", (META_EVENT_COUNT,))
            return None if value is None else int(value)
        text = self._scalar("SELECT value FROM meta WHERE key = ?", (META_EVENT_COUNTS,))
        if text is None:
            return None
        counts = json.loads(text)
        return sum(int(counts.get(kind, 0)) for kind in kinds)

    def _distinct(self, column: str) -> list[Any]:
        # Skip-scan over the column's index: one short lookup per distinct value.
        values: list[Any] = []
        value = self._scalar(f"SELECT min({column}) FROM events")
        while value is not None:
            values.append(value)
            value = self._scalar(f"SELECT min({column}) FROM events WHERE {column} > ?", (value,))
        return values

    def _decode_all(self, rows: list[Any]) -> list[Event]:
        # A seq's row never changes once committed (events are immutable), so neither does
        # its event, even in a file still being written.
        decoded = self._decoded
        events = []
        try:
            for row in rows:
                event = decoded.get(row[0])
                if event is None:
                    event = decoded[row[0]] = codec.decode(row)
                    if len(decoded) > _DECODED_EVENTS:
                        decoded.popitem(last=False)
                events.append(event)
        except codec.CodecError as exc:
            raise TraceFileError(self.path, str(exc)) from None
        return events

    def _rows(self, sql: str, params: Any = ()) -> list[Any]:
        if self._conn is None:
            raise ValueError(f"trace reader is closed ({self.path})")
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise corrupt(self.path, exc) from None

    def _scalar(self, sql: str, params: Any = ()) -> Any:
        rows = self._rows(sql, params)
        return rows[0][0] if rows else None
