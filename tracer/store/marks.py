"""A trace file's jump marks (`tracer.analysis.marks`): stored by the writer with each batch.

One row per batch and (mark, kind): the seqs, CPUs and pids packed (array 'q'), so a reader
loads them all at open without reading an event. Meta `marks` says how many events they
cover; a file without them (written before) is marked by a reader, in memory (`MarkScan`).
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from tracer.analysis.marks import MARKABLE_KINDS, EventMarks, MarkList
from tracer.events import Event
from tracer.store.api import TraceSource
from tracer.store.schema import META_COMPLETE, META_EVENT_COUNT, META_MARKS

MARKS_VERSION = 1
"""Bumped when what a mark means changes: stored marks of another version are ignored."""

MARKS_DDL = (
    """CREATE TABLE IF NOT EXISTS marks (
        mark TEXT NOT NULL,
        kind TEXT NOT NULL,
        seqs BLOB NOT NULL,
        cpus BLOB NOT NULL,
        pids BLOB NOT NULL
    )""",
)
INSERT_MARKS = "INSERT INTO marks VALUES (?, ?, ?, ?, ?)"
SCAN_CHUNK = 2048  # events per step of a `MarkScan`
SEQS_PER_STEP = 8_192  # seqs per step of a `MarkScan` over a file: SQLite tests each row

INFERRED_SWAPGS = ('"inferred":true', '"cause":"swapgs"')
"""What the payload of an inferred swapgs base change holds (the codec writes `inferred` only
when True; a quote inside a string value is escaped, so neither can come from a string)."""


def markable_sql(columns: str) -> str:
    """The rows in a seq range [?, ?) that may carry a mark, given the `INFERRED_SWAPGS`
    needles: the markable kinds less the inferred swapgs changes (most rows of a trace), which
    carry none, so they are never decoded. What it returns is still tested event by event."""
    kinds = ", ".join(f"'{kind}'" for kind in sorted(MARKABLE_KINDS))
    return (
        f"SELECT {columns} FROM events WHERE seq >= ? AND seq < ? AND kind IN ({kinds})"
        " AND NOT (kind = 'segbase' AND instr(payload, ?) AND instr(payload, ?)) ORDER BY seq"
    )


def marks_params(marks: EventMarks) -> list[tuple[str, str, bytes, bytes, bytes]]:
    return [
        (mark, kind, found.seqs.tobytes(), found.cpus.tobytes(), found.pids.tobytes())
        for (mark, kind), found in marks.lists.items()
        if found.seqs
    ]


def marks_meta(events: int, through_seq: int) -> str:
    return json.dumps({"version": MARKS_VERSION, "events": events, "through_seq": through_seq})


def load_marks(conn: sqlite3.Connection, meta: dict[str, str]) -> EventMarks | None:
    """The marks the file stores, when they cover every event of a complete file."""
    text = meta.get(META_MARKS)
    if text is None or meta.get(META_COMPLETE) != "1":
        return None
    try:
        info = json.loads(text)
        if info.get("version") != MARKS_VERSION:
            return None
        if str(info.get("events")) != meta.get(META_EVENT_COUNT):
            return None
        marks = EventMarks(through_seq=int(info["through_seq"]))
        for mark, kind, *columns in conn.execute(
            "SELECT mark, kind, seqs, cpus, pids FROM marks ORDER BY rowid"
        ):
            seqs, cpus, pids = (_unpack(blob) for blob in columns)
            if not len(seqs) == len(cpus) == len(pids):
                return None
            marks.lists.setdefault((mark, kind), MarkList()).extend(MarkList(seqs, cpus, pids))
    except (sqlite3.Error, ValueError, TypeError, KeyError, AttributeError):
        return None  # damaged or foreign: mark it again
    return marks


def _unpack(blob: bytes) -> array[int]:
    values = array("q")
    values.frombytes(blob)
    return values


class MarkScan:
    """Mark a trace that stores no marks, a chunk of its markable kinds at a time."""

    def __init__(self, source: TraceSource) -> None:
        self.source = source
        self.marks = EventMarks()
        self._next_seq = 0
        self.done = False

    def steps(self) -> Iterator[float]:
        """Mark to the end of the source, yielding the fraction done."""
        if isinstance(self.source, MarkableSource):
            yield from self._file_steps(self.source)
            return
        total = max(1, self.source.count(kinds=MARKABLE_KINDS))
        seen = 0
        while not self.done:
            end = last_seq(self.source)  # before the read: a growing source's tail is unseen
            chunk = list(self.source.events(self._next_seq, SCAN_CHUNK, kinds=MARKABLE_KINDS))
            self.marks.feed(chunk)
            seen += len(chunk)
            if chunk:
                self._next_seq = chunk[-1].seq + 1
            if len(chunk) < SCAN_CHUNK:
                self.done = True
                self.marks.through_seq = max(self.marks.through_seq, end)
                return
            yield min(1.0, seen / total)

    def _file_steps(self, source: MarkableSource) -> Iterator[float]:
        end = last_seq(self.source)
        while self._next_seq <= end:
            stop = self._next_seq + SEQS_PER_STEP
            self.marks.feed(source.markable_events(self._next_seq, stop))
            self._next_seq = stop
            yield min(1.0, stop / max(1, end))
        self.marks.through_seq = max(self.marks.through_seq, end)
        self.done = True


@runtime_checkable
class MarkableSource(Protocol):
    """A source that can leave out, in SQL, the rows that carry no mark (`TraceReader`)."""

    def markable_events(self, start_seq: int, stop_seq: int) -> list[Event]: ...


def last_seq(source: TraceSource) -> int:
    """The seq of the source's last event (-1 when it has none)."""
    total = source.count()
    last = source.page(total - 1, 1) if total else []
    return last[0].seq if last else -1
