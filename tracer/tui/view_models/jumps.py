"""Jumps to the next event of a kind (s, t, w, v and their capitals).

A jump asks the store's kind index when the kind alone decides. When it also needs a test of
the event (a base change that is not a folded swapgs, a flagged event), it asks the trace's
jump marks (`tracer.analysis.marks`), which answer with a bisect; without marks that cover the
whole trace (a file still being marked) it walks the events of the kind, as it always could.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tracer.analysis.marks import FLAGGED, VISIBLE_BASE_CHANGE, EventMarks, is_flagged
from tracer.events import Event, EventKind
from tracer.tui.view_models.filters import KIND_ALIASES
from tracer.tui.view_models.timeline import Search, TimelineRows


def _any(event: Event) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Jump:
    """Where a jump key goes: events of `kinds` passing `predicate`; `mark` is the jump mark
    that says the same, `folded_mark` the one that says it in a view folding swapgs rows."""

    kinds: frozenset[str]
    predicate: Callable[[Event], bool] = _any
    mark: str | None = None
    folded_mark: str | None = None


JUMPS: dict[str, Jump] = {
    "syscall": Jump(frozenset({EventKind.SYSCALL_ENTRY.value})),
    "segbase": Jump(KIND_ALIASES["segbase"], folded_mark=VISIBLE_BASE_CHANGE),
    "msr": Jump(KIND_ALIASES["msr"]),
    "flagged": Jump(
        frozenset({"gap", "note", "segbase", "tls_snapshot"}), is_flagged, FLAGGED, FLAGGED
    ),
}


def find_jump(
    rows: TimelineRows, start: int, forward: bool, jump: Jump, marks: EventMarks | None
) -> Search:
    """The row of the next event `jump` goes to from row `start` (exclusive), or None.

    `marks` must cover every event of the trace (None: walk the events)."""
    view = rows.view_filter
    mark = jump.folded_mark if view.folds_swapgs else jump.mark
    if mark is None or marks is None or view.syscalls is not None or view.text:
        found = yield from rows.find(start, forward, jump.kinds, jump.predicate)
        return found
    view_kinds = view.store_kinds()
    wanted = jump.kinds if view_kinds is None else jump.kinds & view_kinds
    here = rows.event(start)
    if here is None or not wanted:
        return None
    seq = yield from marks.find(mark, wanted, here.seq, forward, view.cpu, view.pid)
    return None if seq is None else rows.index_of(seq, nearest=False)


def next_finding_row(
    rows: TimelineRows, finding_seqs: Sequence[int], seq: int, forward: bool
) -> Search:
    """The row of the nearest finding after `seq` (before it, backwards) that the view shows
    (a view of one CPU skips the others' findings), or None."""
    if forward:
        positions = range(bisect.bisect_right(finding_seqs, seq), len(finding_seqs))
    else:
        positions = range(bisect.bisect_left(finding_seqs, seq) - 1, -1, -1)
    for looked, position in enumerate(positions, 1):
        row = rows.index_of(finding_seqs[position], nearest=False)
        if row is not None:
            return row
        if looked % 256 == 0:
            yield looked
    return None
