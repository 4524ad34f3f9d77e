"""Seqs of the events a viewer jumps to that the store's kind index alone cannot find.

Two marks: a base change that is not an inferred swapgs (the default view folds those into
their crossings, and a trace may hold half a million of them between two real switches), and a
flagged event (what the trace flags by itself before `tracer check` names violations). Each is
kept per kind with the event's CPU and pid, so a jump in a view filtered by CPU or process
walks the marks, not the trace. Pure: events in, seqs out; the writer stores them.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field

from tracer.event_filter import is_inferred_swapgs
from tracer.events import Event, EventKind, Gap, Note, SegBaseChange, SegCause, TlsSnapshot

VISIBLE_BASE_CHANGE = "base-change"
FLAGGED = "flagged"
MARKABLE_KINDS = frozenset(
    kind.value
    for kind in (EventKind.SEGBASE, EventKind.GAP, EventKind.NOTE, EventKind.TLS_SNAPSHOT)
)
"""The only kinds an event of which can carry a mark."""

NO_VALUE = -(1 << 63)
"""A CPU or pid the event does not have (a note, a gap): matches no CPU or pid filter."""

_WALK_STEP = 4096  # marks looked at between two yields of a filtered walk

MarkWalk = Generator[int, None, "int | None"]
"""Yields how many marks it has looked at; returns the seq found (or None)."""


def is_flagged(event: Event) -> bool:
    """What a trace can flag by itself, until `tracer check` names violations."""
    if isinstance(event, Gap):
        return True
    if isinstance(event, Note):
        return event.level != "info"
    if isinstance(event, SegBaseChange):
        return event.cause == SegCause.UNKNOWN
    if isinstance(event, TlsSnapshot):
        return event.self_pointer is not None and not event.self_pointer_ok
    return False


def event_marks(event: Event) -> tuple[str, ...]:
    if event.kind.value not in MARKABLE_KINDS:
        return ()
    marks: tuple[str, ...] = ()
    if isinstance(event, SegBaseChange) and not is_inferred_swapgs(event):
        marks = (VISIBLE_BASE_CHANGE,)
    if is_flagged(event):
        marks = (*marks, FLAGGED)
    return marks


def _column(value: int | None) -> int:
    return NO_VALUE if value is None else value


@dataclass
class MarkList:
    """The seqs of one mark and kind, in increasing order, with each event's CPU and pid."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    cpus: array[int] = field(default_factory=lambda: array("q"))
    pids: array[int] = field(default_factory=lambda: array("q"))

    def append(self, seq: int, cpu: int | None, pid: int | None) -> None:
        self.seqs.append(seq)
        self.cpus.append(_column(cpu))
        self.pids.append(_column(pid))

    def extend(self, other: MarkList) -> None:
        self.seqs.extend(other.seqs)
        self.cpus.extend(other.cpus)
        self.pids.extend(other.pids)

    def nearest(self, seq: int, forward: bool, cpu: int | None, pid: int | None) -> MarkWalk:
        """The first seq after `seq` (before it, backwards) on `cpu` and of `pid` (None: any)."""
        if forward:
            positions = range(bisect.bisect_right(self.seqs, seq), len(self.seqs))
        else:
            positions = range(bisect.bisect_left(self.seqs, seq) - 1, -1, -1)
        if cpu is None and pid is None:
            return self.seqs[positions[0]] if positions else None
        looked = 0
        for position in positions:
            if (cpu is None or self.cpus[position] == cpu) and (
                pid is None or self.pids[position] == pid
            ):
                return self.seqs[position]
            looked += 1
            if looked % _WALK_STEP == 0:
                yield looked
        return None


@dataclass
class EventMarks:
    """Marks by (mark, kind); `through_seq` is the last seq they cover (every event up to it
    has been looked at)."""

    lists: dict[tuple[str, str], MarkList] = field(default_factory=dict)
    through_seq: int = -1

    def add(self, event: Event) -> None:
        """Look at one event (in seq order); one already covered is ignored."""
        if event.seq <= self.through_seq:
            return
        self.through_seq = event.seq
        for mark in event_marks(event):
            key = (mark, event.kind.value)
            marks = self.lists.get(key)
            if marks is None:
                marks = self.lists[key] = MarkList()
            marks.append(event.seq, getattr(event, "cpu", None), getattr(event, "pid", None))

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def extend(self, later: EventMarks) -> None:
        """Append marks covering the seqs after these (a batch, read back from a file)."""
        for key, marks in later.lists.items():
            self.lists.setdefault(key, MarkList()).extend(marks)
        self.through_seq = max(self.through_seq, later.through_seq)

    def count(self, mark: str) -> int:
        return sum(len(marks.seqs) for (name, _kind), marks in self.lists.items() if name == mark)

    def find(
        self,
        mark: str,
        kinds: Iterable[str],
        seq: int,
        forward: bool,
        cpu: int | None = None,
        pid: int | None = None,
    ) -> MarkWalk:
        """The seq of the nearest event after `seq` (before, backwards) that carries `mark`,
        is of one of `kinds` and is on `cpu` and of `pid` when they are given."""
        found: list[int] = []
        looked = 0
        for kind in sorted(kinds):
            marks = self.lists.get((mark, kind))
            if marks is None:
                continue
            walk = marks.nearest(seq, forward, cpu, pid)
            while True:
                try:
                    looked_here = next(walk)
                except StopIteration as stop:
                    if stop.value is not None:
                        found.append(stop.value)
                    break
                yield looked + looked_here
            looked += len(marks.seqs)
        if not found:
            return None
        return min(found) if forward else max(found)
