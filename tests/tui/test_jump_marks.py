"""Jumps by mark (t/T to a base change, v/V to a flagged event) land where a walk over the
events lands, in every view (swapgs folded or shown, one CPU, one process), both ways; the
writer stores the marks, a trace without them is marked by a scan, a live trace as it grows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tracer.analysis.marks import FLAGGED, VISIBLE_BASE_CHANGE, EventMarks
from tracer.bench.synthetic import synthetic_events
from tracer.event_filter import is_inferred_swapgs
from tracer.events import (
    Event,
    Note,
    SegBaseChange,
    SegCause,
    SyscallExit,
    TlsSnapshot,
)
from tracer.store import MemoryTrace, TraceReader, TraceWriter
from tracer.store.marks import MarkScan
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.filters import ViewFilter
from tracer.tui.view_models.jumps import JUMPS, find_jump, next_finding_row
from tracer.tui.view_models.timeline import TimelineRows, run_to_end
from tracer.tui.view_models.trace_index import TraceIndex

VIEWS = {
    "folded": ViewFilter(),
    "cpu 0": ViewFilter(cpu=0),
    "cpu 1": ViewFilter(cpu=1),
    "cpu 1, swapgs shown": ViewFilter(cpu=1, show_swapgs=True),
    "pid 3": ViewFilter(pid=3),
    "base changes only": ViewFilter(kinds=frozenset({"segbase", "gap"})),
}


def mixed_events(count: int) -> list[Event]:
    """Synthetic syscalls on two CPUs, every swapgs inferred, then a few made real: a swapgs
    seen at a stop, an arch_prctl, an unexplained change (flagged); plus bad TLS snapshots and
    warnings (flagged), among the synthetic gaps and info notes."""
    events: list[Event] = []
    for event in synthetic_events(count, seed=7):
        if isinstance(event, SegBaseChange):
            if event.seq % 37 == 0:
                event = replace(event, inferred=False)
            elif event.seq % 53 == 0:
                event = replace(event, which="fs", cause=SegCause.ARCH_PRCTL, inferred=False)
            elif event.seq % 101 == 0:
                event = replace(event, cause=SegCause.UNKNOWN, inferred=False)
        elif isinstance(event, SyscallExit) and event.seq % 89 == 0:
            event = TlsSnapshot(event.seq, event.time_ns, event.cpu, event.pid, 0x1000, 0x2000, "")
        elif isinstance(event, SyscallExit) and event.seq % 97 == 0:
            event = Note(event.seq, event.time_ns, "odd", "warning")
        events.append(event)
    return events


def rows_of(source: MemoryTrace | TraceReader, view_filter: ViewFilter) -> TimelineRows:
    index = TraceIndex()
    rows = TimelineRows(source, index, view_filter)
    while rows.scan is not None and not rows.scan.step():
        pass
    return rows


def landings(rows: TimelineRows, what: str, marks: EventMarks | None) -> list[tuple]:
    """Where the jump lands from every row, both ways."""
    starts = [*range(0, rows.count(), 3), rows.count() - 1]
    return [
        (start, forward, run_to_end(find_jump(rows, start, forward, JUMPS[what], marks)))
        for start in starts
        for forward in (True, False)
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("marks") / "mixed.db"
    with TraceWriter(path, batch_size=97) as writer:
        for event in mixed_events(1_000):
            writer.append(event)
    return path


def test_the_trace_mixes_folded_swapgs_with_real_changes_on_both_cpus() -> None:
    events = mixed_events(1_000)
    changes = [e for e in events if isinstance(e, SegBaseChange)]
    visible = [e for e in changes if not is_inferred_swapgs(e)]
    assert len(changes) > 10 * len(visible) > 100
    assert {e.cpu for e in visible} == {0, 1}


@pytest.mark.parametrize("what", ["segbase", "flagged"])
@pytest.mark.parametrize("view", VIEWS)
def test_a_jump_by_mark_lands_where_the_walk_lands(written: Path, what: str, view: str) -> None:
    with TraceReader.open(written) as reader:
        marks = reader.stored_marks()
        assert marks is not None and marks.count(VISIBLE_BASE_CHANGE) > 20
        rows = rows_of(reader, VIEWS[view])
        by_mark = landings(rows, what, marks)
        assert by_mark == landings(rows, what, None)
    found = [row for _start, _forward, row in by_mark if row is not None]
    assert found and len(found) < len(by_mark)  # some jumps land, some find nothing


def test_the_marks_answer_without_walking_the_trace() -> None:
    events = list(synthetic_events(3_000))  # every base change an inferred swapgs
    marks = EventMarks()
    marks.feed(events)
    rows = rows_of(MemoryTrace(events), ViewFilter(cpu=1))
    last = rows.count() - 1
    for start, way in ((0, True), (last, False)):
        by_mark = find_jump(rows, start, way, JUMPS["segbase"], marks)
        with pytest.raises(StopIteration) as nothing:  # answered at once, without a slice
            next(by_mark)
        assert nothing.value.value is None
        walk = find_jump(rows, start, way, JUMPS["segbase"], None)
        assert next(walk) >= 512  # the walk takes slices, a chunk of events each
        assert run_to_end(walk) is None


def test_the_writer_stores_what_a_scan_of_the_events_finds(written: Path) -> None:
    with TraceReader.open(written) as reader:
        stored = reader.stored_marks()
        scan = MarkScan(reader)
        for _ in scan.steps():
            pass
    assert stored is not None and scan.done
    assert stored == scan.marks
    assert stored.count(FLAGGED) > 5


def test_a_trace_written_without_marks_is_marked_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with TraceWriter(path, analyse=False) as writer:
        for event in mixed_events(600):
            writer.append(event)
    with TraceReader.open(path) as reader:
        assert reader.stored_marks() is None
        trace = OpenTrace(reader, path)
        assert trace.jump_marks() is None
        for _ in trace.mark_steps():
            pass
        marks = trace.jump_marks()
        assert marks is not None
        expected = EventMarks()
        expected.feed(mixed_events(600))
        assert marks == expected


def test_a_live_trace_keeps_its_marks_as_it_grows() -> None:
    events = mixed_events(800)
    source = MemoryTrace()
    trace = OpenTrace(source, live=True)
    for start in range(0, len(events), 150):
        batch = events[start : start + 150]
        source.extend(batch)
        trace.add_events(batch)
        assert trace.jump_marks() is not None
    rows = rows_of(source, ViewFilter(cpu=0))
    assert landings(rows, "segbase", trace.jump_marks()) == landings(rows, "segbase", None)


def test_marks_that_miss_the_tail_of_a_growing_trace_are_not_used() -> None:
    events = mixed_events(300)
    source = MemoryTrace(events[:200])
    trace = OpenTrace(source)
    for _ in trace.mark_steps():
        pass
    assert trace.jump_marks() is not None
    source.extend(events[200:])
    assert trace.jump_marks() is None  # nothing fed them: the jump walks instead


@pytest.mark.parametrize("cpu", [0, 1])
def test_the_next_finding_in_a_view_of_one_cpu_skips_the_other_cpus_findings(cpu: int) -> None:
    events = mixed_events(600)
    findings = [e.seq for e in events if isinstance(e, SyscallExit) and e.seq % 5 == 0]
    on_cpu = [seq for seq in findings if events[seq].cpu == cpu]
    assert 0 < len(on_cpu) < len(findings)
    rows = rows_of(MemoryTrace(events), ViewFilter(cpu=cpu))
    for start in range(0, rows.count(), 7):
        here = rows.event(start)
        assert here is not None
        later = [seq for seq in on_cpu if seq > here.seq]
        earlier = [seq for seq in on_cpu if seq < here.seq]
        for forward, expected in ((True, later[:1]), (False, earlier[-1:])):
            row = run_to_end(next_finding_row(rows, findings, here.seq, forward))
            landed = rows.event(row) if row is not None else None
            assert ([landed.seq] if landed is not None else []) == expected


def test_the_scan_of_a_file_leaves_out_only_the_inferred_swapgs(tmp_path: Path) -> None:
    """The file's scan skips rows by what their payload says; a change inferred from another
    instruction, a swapgs seen at a stop, and owner names that quote the payload's words are
    all still looked at."""
    quoting = '"inferred":true "cause":"swapgs"'
    tricky = [
        SegBaseChange(0, 1, 0, 1, "gs", 0, 1, SegCause.SWAPGS, 0x10, inferred=True),
        SegBaseChange(1, 2, 0, 1, "gs", 1, 0, SegCause.SYSCALL_ENTRY, 0x10, inferred=True),
        SegBaseChange(2, 3, 1, 1, "gs", 0, 1, SegCause.SWAPGS, 0x10),
        SegBaseChange(3, 4, 1, 2, "fs", 0, 1, SegCause.ARCH_PRCTL, 0x10, old_owner=quoting),
        SegBaseChange(4, 5, 1, 2, "fs", 1, 2, SegCause.UNKNOWN, 0x10, new_owner=quoting),
        Note(5, 6, quoting, "warning"),
    ]
    path = tmp_path / "tricky.db"
    with TraceWriter(path, analyse=False) as writer:
        for event in tricky:
            writer.append(event)
    expected = EventMarks()
    expected.feed(tricky)
    assert expected.count(VISIBLE_BASE_CHANGE) == 4 and expected.count(FLAGGED) == 2
    with TraceReader.open(path) as reader:
        scan = MarkScan(reader)
        for _ in scan.steps():
            pass
        assert scan.marks == expected
