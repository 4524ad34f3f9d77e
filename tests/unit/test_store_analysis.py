"""A trace file's stored analysis (owners and raw findings): what the writer stores equals a
fresh analysis of the same events, an older file is analysed once and updated, and a file
that cannot be written still gets its analysis, in memory."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tracer.analysis.checks import Checker, KernelFacts, render
from tracer.analysis.kernel_facts import kernel_facts
from tracer.bench.synthetic import synthetic_events
from tracer.decode.msr import MSR_GS_BASE
from tracer.events import Event, MsrWrite, SyscallEntry
from tracer.store import TraceReader, TraceWriter
from tracer.store.analysis import AnalysisScan, StoredAnalysis

FIXTURES = Path(__file__).resolve().parents[1] / "tui" / "fixtures"
GOLDEN = FIXTURES / "hello-tls.db"
BROKEN = FIXTURES / "tls-broken.db"
KERNEL = FIXTURES / "kernel.elf"
KERNEL_GS = 0xFFFF_8880_0F00_0000


def synthetic_with_owners(count: int) -> list[Event]:
    """Synthetic events, with the per-CPU areas written to GS_BASE first and an
    arch_prctl(ARCH_SET_FS) now and then, so that owners are learned too."""
    events: list[Event] = [
        MsrWrite(cpu, cpu, cpu, 0, MSR_GS_BASE, 0, KERNEL_GS + cpu, 0xFFFF_FFFF_8100_0000)
        for cpu in range(2)
    ]
    for event in synthetic_events(count):
        moved: Event = replace(event, seq=event.seq + 2)
        if isinstance(moved, SyscallEntry) and moved.seq % 7 == 0:
            moved = _arch_prctl(moved)
        events.append(moved)
    return events


def _arch_prctl(entry: SyscallEntry) -> SyscallEntry:
    args = (0x1002, 0x4C_8380 + entry.seq, *entry.args[2:])
    return replace(entry, nr=158, args=args)


def write(path: Path, events: list[Event], analyse: bool = True, meta: dict | None = None) -> None:
    with TraceWriter(path, meta or {}, analyse=analyse, batch_size=97) as writer:
        for event in events:
            writer.append(event)


def fresh(path: Path) -> StoredAnalysis:
    with TraceReader.open(path) as reader:
        scan = AnalysisScan(reader, str(path), save=False)
        for _ in scan.steps():
            pass
        assert scan.result is not None
        return scan.result


_OPEN: list[TraceReader] = []


@pytest.fixture(autouse=True)
def _close_readers() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def stored(path: Path) -> StoredAnalysis | None:
    """The file's stored analysis (its reader stays open for `rows_at` until the test ends)."""
    reader = TraceReader.open(path)
    _OPEN.append(reader)
    return reader.stored_analysis()


def assert_same(a: StoredAnalysis, b: StoredAnalysis) -> None:
    assert sorted(a.owner_rows, key=repr) == sorted(b.owner_rows, key=repr)
    assert a.findings() == b.findings()
    assert a.seqs == b.seqs
    assert a.through_seq == b.through_seq
    for seq in sorted({row[0] for row in b.all_rows()})[:50]:
        assert a.rows_at(seq) == b.rows_at(seq)


def test_the_writer_stores_what_a_fresh_analysis_finds_on_a_synthetic_trace(
    tmp_path: Path,
) -> None:
    path = tmp_path / "synthetic.db"
    write(path, synthetic_with_owners(6_000))
    kept = stored(path)
    assert kept is not None and kept.saved == "stored"
    assert len(kept.owner_rows) > 2 and len(kept.all_rows()) > 100
    assert_same(kept, fresh(path))


def golden_rewritten(tmp_path: Path, source: Path) -> tuple[Path, dict[str, str]]:
    """The recorded trace's events written again by today's writer (which analyses them)."""
    with TraceReader.open(source) as reader:
        events, meta = list(reader.events()), reader.meta
    path = tmp_path / source.name
    user_meta = {key: meta[key] for key in ("gdt", "kernel") if key in meta}
    write(path, events, meta=user_meta)
    return path, meta


@pytest.mark.parametrize("source", [GOLDEN, BROKEN], ids=["hello-tls", "tls-broken"])
def test_stored_findings_render_as_the_checker_finds_on_the_golden_trace(
    tmp_path: Path, source: Path
) -> None:
    path, meta = golden_rewritten(tmp_path, source)
    kept = stored(path)
    assert kept is not None
    assert_same(kept, fresh(path))
    facts, symbolize = kernel_facts(KERNEL, meta)
    rules = set()
    with TraceReader.open(path) as reader:
        for kernel_facts_used, names in ((facts, symbolize), (KernelFacts(), None)):
            checked = list(Checker(kernel_facts_used, names).check(reader.events()))
            rendered = [f for raw in kept.findings() for f in render(raw, kernel_facts_used, names)]
            assert rendered == checked
            rules |= {finding.rule for finding in checked}
    if source == BROKEN:
        assert "kernel-on-app-tcb" in rules


def test_an_older_trace_is_analysed_once_and_updated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    write(path, synthetic_with_owners(3_000), analyse=False)
    assert stored(path) is None
    with TraceReader.open(path) as reader:
        scan = AnalysisScan(reader, str(path), save=True)
        for _ in scan.steps():
            pass
        assert scan.result is not None and scan.result.saved == "updated"
        assert reader.count() == 3_002  # the events are untouched
    kept = stored(path)
    assert kept is not None
    assert_same(kept, scan.result)


def test_a_trace_that_cannot_be_written_is_analysed_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    write(path, synthetic_with_owners(2_000), analyse=False)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing it
    try:
        with TraceReader.open(path) as reader:
            scan = AnalysisScan(reader, str(path), save=True)
            for _ in scan.steps():
                pass
            assert scan.result is not None
            assert scan.result.saved.startswith("not updated")
            assert len(scan.result.all_rows()) > 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert stored(path) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_a_read_only_trace_file_is_analysed_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    write(path, synthetic_with_owners(1_000), analyse=False)
    os.chmod(path, 0o444)
    with TraceReader.open(path) as reader:
        scan = AnalysisScan(reader, str(path), save=True)
        for _ in scan.steps():
            pass
        assert scan.result is not None and scan.result.saved.startswith("not updated")


def test_a_stale_analysis_is_not_used(tmp_path: Path) -> None:
    """An analysis covering fewer events than the file holds (a file appended to by hand, or
    cut) is made again."""
    path = tmp_path / "stale.db"
    shutil.copy(GOLDEN, path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'event_count'")
    conn.close()
    assert stored(path) is None


def test_an_analysis_that_fails_costs_no_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a rule must not end a capture: the events are all written, the file says it
    holds no analysis (so readers make their own), and why."""
    from tracer.analysis.trace_analysis import TraceAnalysis

    events = synthetic_with_owners(1_500)
    real = TraceAnalysis.feed_one

    def breaks_at_1000(self: TraceAnalysis, event: Event) -> None:
        if event.seq == 1_000:
            raise KeyError("a rule's bug")
        real(self, event)

    monkeypatch.setattr(TraceAnalysis, "feed_one", breaks_at_1000)
    path = tmp_path / "broken.db"
    write(path, events)
    with TraceReader.open(path) as reader:
        assert reader.count() == len(events)
        assert "a rule's bug" in reader.meta["analysis"]
        assert reader.stored_analysis() is None
