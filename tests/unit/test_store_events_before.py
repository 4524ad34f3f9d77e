"""`TraceSource.events_before` (a backward search's read): the file's descending query and the
in-memory default give the events a filter keeps before a seq, the nearest first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.bench.synthetic import synthetic_events
from tracer.store import MemoryTrace, TraceReader, TraceWriter
from tracer.store.api import EventFilter

FILTERS = [
    {},
    {"kinds": ["syscall_entry"]},
    {"kinds": ["msr_write", "gap", "note", "syscall_exit"]},
    {"cpu": 1},
    {"kinds": ["segbase"], "cpu": 0},
    {"pid": 3, "kinds": ["syscall_exit", "msr_write"]},
]


@pytest.fixture(scope="module")
def events() -> list:
    return list(synthetic_events(3_000, seed=3))


@pytest.fixture(scope="module")
def written(events: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("before") / "trace.db"
    with TraceWriter(path) as writer:
        for event in events:
            writer.append(event)
    return path


@pytest.mark.parametrize("query", FILTERS, ids=repr)
def test_events_before_are_the_filtered_events_before_a_seq_nearest_first(
    events: list, written: Path, query: dict
) -> None:
    kept = [e for e in events if EventFilter.of(**query).matches(e)]
    with TraceReader.open(written) as reader:
        memory = MemoryTrace(events)
        for before in (0, 1, 17, 1_500, 2_999, 3_000, 10**6):
            for limit in (0, 1, 5, 700):
                expected = [e for e in kept if e.seq < before][::-1][:limit]
                assert reader.events_before(before, limit, **query) == expected
                assert memory.events_before(before, limit, **query) == expected
    assert kept


def test_get_many_reads_the_events_at_the_seqs_it_is_given(events: list, written: Path) -> None:
    wanted = [0, 5, 6, 999, 1_000, *range(1_200, 1_900, 3), 2_999, 3_000, 10**6]
    expected = [events[seq] for seq in wanted if seq < len(events)]
    with TraceReader.open(written) as reader:
        assert reader.get_many(wanted) == expected
        assert reader.get_many([]) == []
    assert MemoryTrace(events).get_many(wanted) == expected
