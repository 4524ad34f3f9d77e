"""Paging, filters, jump-to and live growth, checked against plain list filtering.

The same checks run on a TraceReader (with the default row anchors and with tiny ones, so
every anchor path is walked) and on a MemoryTrace.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tracer.bench.synthetic import synthetic_events
from tracer.events import Event, EventKind
from tracer.store import MemoryTrace, TraceReader, TraceSource, TraceWriter
from tracer.store import reader as reader_module

Filter = dict[str, Any]


def _dense() -> list[Event]:
    return list(synthetic_events(20_000, seed=1))


def _sparse() -> list[Event]:
    """Holes in seq, and times that sometimes go backwards."""
    rng = random.Random(2)
    events = []
    for index, event in enumerate(synthetic_events(20_000, seed=2)):
        time_ns = max(0, event.time_ns + rng.choice((-4000, 0, 0, 2500)))
        events.append(dataclasses.replace(event, seq=index * 3 + index % 2, time_ns=time_ns))
    return events


DATASETS = {"dense": _dense(), "sparse": _sparse()}


def _filters(events: list[Event]) -> list[Filter]:
    end = max(event.time_ns for event in events)
    return [
        {},
        {"kinds": "syscall_exit"},
        {"kinds": [EventKind.MSR_WRITE, EventKind.PROCESS, EventKind.NOTE]},
        {"kinds": []},
        {"cpu": 1},
        {"pid": 3},
        {"pid": 999},
        {"kinds": EventKind.SYSCALL_ENTRY, "cpu": 0},
        {"kinds": ["segbase", "gap"], "pid": 7},
        {"kinds": [EventKind.MSR_WRITE, EventKind.PROCESS], "cpu": 0},
        {"kinds": "msr_write", "time_range": (end // 3, end)},
        {"time_range": (end // 3, 2 * end // 3)},
        {"time_range": (end // 3, 2 * end // 3), "kinds": "syscall_exit", "cpu": 1},
        {"time_range": (0, 1)},
        {"time_range": (end + 1, 2 * end)},
    ]


def expected(events: list[Event], **view: Any) -> list[Event]:
    kinds = view.get("kinds")
    if isinstance(kinds, str):
        kinds = [kinds]
    wanted = None if kinds is None else {EventKind(kind) for kind in kinds}
    time_range = view.get("time_range")
    return [
        event
        for event in events
        if (wanted is None or event.kind in wanted)
        and ("cpu" not in view or getattr(event, "cpu", None) == view["cpu"])
        and ("pid" not in view or getattr(event, "pid", None) == view["pid"])
        and (time_range is None or time_range[0] <= event.time_ns < time_range[1])
    ]


@pytest.fixture(scope="module")
def trace_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = {}
    for name, events in DATASETS.items():
        path = tmp_path_factory.mktemp("views") / f"{name}.db"
        with TraceWriter(path) as writer:
            for event in events:
                writer.append(event)
        paths[name] = path
    return paths


@pytest.fixture(params=["file", "file-small-anchors", "memory"])
def open_source(
    request: pytest.FixtureRequest, trace_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    opened: list[TraceSource] = []

    def open_(dataset: str) -> TraceSource:
        if request.param == "memory":
            source: TraceSource = MemoryTrace(DATASETS[dataset])
        else:
            source = TraceReader.open(trace_files[dataset])
        opened.append(source)
        return source

    if request.param == "file-small-anchors":
        monkeypatch.setattr(reader_module, "ANCHOR_EVERY", 7)
    yield open_
    for source in opened:
        source.close()


def _case_ids() -> list[tuple[str, int]]:
    return [(name, i) for name, events in DATASETS.items() for i in range(len(_filters(events)))]


@pytest.mark.parametrize(("dataset", "which"), _case_ids(), ids=lambda v: str(v))
def test_filtered_views_match_list_filtering(open_source: Any, dataset: str, which: int) -> None:
    events = DATASETS[dataset]
    view_filter = _filters(events)[which]
    source = open_source(dataset)
    _check_view(source, events, view_filter)


def _check_view(source: TraceSource, events: list[Event], view_filter: Filter) -> None:
    view = expected(events, **view_filter)
    size = len(view)
    assert source.count(**view_filter) == size
    assert list(source.events(**view_filter)) == view
    if view:
        middle = view[size // 2].seq
        got = list(source.events(start_seq=middle + 1, limit=700, **view_filter))
        assert got == [event for event in view if event.seq > middle][:700]
    offsets = {0, 1, 6, 7, 8, 1023, 1024, 1025, size // 2, size - 100, size - 1, size, size + 5}
    for offset in sorted(o for o in offsets if o >= 0):
        assert source.page(offset, 100, **view_filter) == view[offset : offset + 100], offset
    assert source.page(0, 0, **view_filter) == []
    for index in sorted({0, 1, 7, 1024, size // 3, size - 1} & set(range(size))):
        assert source.index_of(view[index].seq, **view_filter) == index
        assert source.index_of(view[index].seq, nearest=True, **view_filter) == index
    in_view = {event.seq for event in view}
    outside = [event.seq for event in events if event.seq not in in_view][:: max(1, size // 5)]
    for seq in outside[:8]:
        assert source.index_of(seq, **view_filter) is None
        following = [i for i, event in enumerate(view) if event.seq > seq]
        nearest = following[0] if following else None
        assert source.index_of(seq, nearest=True, **view_filter) == nearest
    assert source.index_of(events[-1].seq + 10, nearest=True, **view_filter) is None


@pytest.mark.parametrize("dataset", DATASETS)
def test_lookups_by_seq_and_time(open_source: Any, dataset: str) -> None:
    events = DATASETS[dataset]
    source = open_source(dataset)
    assert isinstance(source, TraceSource)
    by_seq = {event.seq: event for event in events}
    for seq in (events[0].seq, events[1].seq, events[len(events) // 2].seq, events[-1].seq):
        assert source.get(seq) == by_seq[seq]
    assert source.get(events[-1].seq + 1) is None
    assert source.get(-1) is None
    times = sorted({event.time_ns for event in events})
    for time_ns in (0, times[1], times[len(times) // 2] - 1, times[-1], times[-1] + 1):
        later = [(event.time_ns, event.seq) for event in events if event.time_ns >= time_ns]
        assert source.seq_at_time(time_ns) == (min(later)[1] if later else None), time_ns
    assert source.kinds() == sorted({event.kind for event in events})
    assert source.cpus() == sorted({event.cpu for event in events if hasattr(event, "cpu")})
    assert source.pids() == sorted({event.pid for event in events if hasattr(event, "pid")})
    with pytest.raises(ValueError):
        source.page(-1, 10)
    with pytest.raises(ValueError):
        source.count(kind="note", kinds=["gap"])
    with pytest.raises(ValueError):
        source.count(kinds=["no_such_kind"])


def test_count_by_kind_matches_kinds_filter(open_source: Any) -> None:
    source = open_source("dense")
    for kind in EventKind:
        assert source.count(kind) == source.count(kinds=[kind]) == source.count(kinds=kind.value)


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_a_live_view_grows_and_stays_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setattr(reader_module, "ANCHOR_EVERY", 5)
    events = DATASETS["dense"][:3000]
    end = events[-1].time_ns
    filters = [*_filters(events[:1000]), {"time_range": (end // 4, 10 * end)}]
    writer = TraceWriter(tmp_path / "live.db", batch_size=100, flush_interval=3600)
    memory = MemoryTrace()
    for event in events[:1000]:
        writer.append(event)
        memory.append(event)
    source: TraceSource = TraceReader.open(writer.path) if kind == "file" else memory
    with writer, source:
        for done in (1000, 2000, 2950, 3000):
            for event in events[memory.count() : done]:
                writer.append(event)
                memory.append(event)
            writer.flush()
            for view_filter in filters:
                view = expected(events[:done], **view_filter)
                assert source.count(**view_filter) == len(view)
                assert source.page(max(0, len(view) - 12), 12, **view_filter) == view[-12:]
                if view:
                    last = view[-1].seq
                    assert source.index_of(last, **view_filter) == len(view) - 1


def test_memory_trace_rejects_seqs_out_of_order_and_keeps_meta() -> None:
    events = DATASETS["dense"][:3]
    trace = MemoryTrace(events[:2], meta={"source": "live"})
    with pytest.raises(ValueError):
        trace.append(events[0])
    trace.set_meta("program", "hello")
    assert trace.meta == {"source": "live", "program": "hello"}
    assert len(trace) == 2


def test_a_stream_follows_events_appended_while_it_is_read() -> None:
    events = DATASETS["dense"][:20]
    trace = MemoryTrace(events[:10])
    seen = []
    for event in trace.events():
        seen.append(event)
        if len(seen) == 10:
            trace.extend(events[10:])
    assert seen == events
