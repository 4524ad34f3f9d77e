"""Inferred swapgs rows fold into the crossing they belong to: on a real capture of the static
glibc hello (fixtures/hello-glibc.db, the default capture with the function graph), the first
screen is mostly the story, not GS_BASE/KERNEL_GS_BASE swaps."""

from __future__ import annotations

from pathlib import Path

from tracer.event_filter import is_inferred_swapgs
from tracer.events import Interrupt, SegBaseChange, SyscallEntry, SyscallExit
from tracer.store import TraceReader
from tracer.tui.view_models.filters import ViewFilter, parse_filter
from tracer.tui.view_models.timeline import TimelineRows
from tracer.tui.view_models.trace_index import TraceIndex

GLIBC = Path(__file__).resolve().parent / "fixtures" / "hello-glibc.db"
SCREEN = 45  # timeline rows on the first screen of a large terminal


def rows_of(reader: TraceReader, view_filter: ViewFilter) -> TimelineRows:
    index = TraceIndex()
    index.feed(reader.events())
    rows = TimelineRows(reader, index, view_filter)
    while rows.scan is not None and not rows.scan.step():
        pass
    return rows


def test_the_first_screen_is_at_most_a_quarter_swapgs() -> None:
    with TraceReader.open(GLIBC) as reader:
        shown = rows_of(reader, parse_filter("+swapgs"))
        folded = rows_of(reader, ViewFilter())
        before = sum(is_inferred_swapgs(shown.event(i)) for i in range(SCREEN))
        after = sum(is_inferred_swapgs(folded.event(i)) for i in range(SCREEN))
        assert after <= SCREEN // 4 < before * 2  # a quarter at most; half that before, or more
        assert after < before
        total = reader.count()
        swaps = sum(is_inferred_swapgs(e) for e in reader.events())
        assert shown.count() == total and folded.count() == total - swaps


def test_each_swap_marks_the_crossing_it_belongs_to_and_real_changes_stay() -> None:
    with TraceReader.open(GLIBC) as reader:
        events = list(reader.events())
        folded = rows_of(reader, ViewFilter())
        rows = [folded.row(i) for i in range(folded.count())]
    marked = {event.seq for event, row in rows if row is not None and row.swapgs}
    expected = set()
    waiting: set[int] = set()
    for event in events:
        if is_inferred_swapgs(event):
            waiting.add(event.cpu)
        elif isinstance(event, SyscallEntry | SyscallExit | Interrupt) and event.cpu in waiting:
            waiting.discard(event.cpu)
            expected.add(event.seq)
    assert marked == expected and len(marked) > 10
    kept = {event.seq for event, _ in rows if isinstance(event, SegBaseChange)}
    real = {e.seq for e in events if isinstance(e, SegBaseChange) and not is_inferred_swapgs(e)}
    assert kept == real and real  # wrmsr at boot, arch_prctl
    assert parse_filter("+swapgs").describe() == "+swapgs"
