"""The TUI's owners and findings come from the trace file's stored analysis: the same lines and
owners a scan of the events gives, an older file analysed once and updated, a file that cannot
be written analysed in memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.tui.conftest import BROKEN, KERNEL, RECORDED
from tracer.analysis.checks import Checker, KernelFacts
from tracer.analysis.kernel_facts import kernel_facts
from tracer.store import TraceReader, TraceWriter
from tracer.tui.open_trace import OpenTrace
from tracer.tui.view_models.findings import FindingsScan, StoredFindingsScan


def rewrite(source: Path, path: Path, analyse: bool) -> None:
    """The recorded trace's events written again (by an older tracer: without analysis)."""
    with TraceReader.open(source) as reader:
        events, meta = list(reader.events()), reader.meta
    keep = {key: meta[key] for key in ("gdt", "kernel") if key in meta}
    with TraceWriter(path, keep, analyse=analyse) as writer:
        for event in events:
            writer.append(event)


def run(steps) -> None:  # type: ignore[no-untyped-def]
    for _ in steps:
        pass


def scanned_lines(path: Path, checker: Checker) -> list[tuple[int, str, str, str]]:
    """What the findings tab showed before: the checker run over every event."""
    with TraceReader.open(path) as reader:
        scan = FindingsScan(reader, checker)
        run(scan.steps())
        return [(line.seq, line.rule, line.message, line.where) for line in scan.lines]


def stored_lines(trace: OpenTrace, checker: Checker) -> list[tuple[int, str, str, str]]:
    scan = trace.findings_scan(checker)
    assert isinstance(scan, StoredFindingsScan)
    run(scan.steps())
    assert scan.done and scan.seqs == [line.seq for line in scan.lines]
    return [(line.seq, line.rule, line.message, line.where) for line in scan.lines]


def test_an_older_trace_is_analysed_once_then_read_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    rewrite(BROKEN, path, analyse=False)
    facts, symbolize = kernel_facts(KERNEL, {})
    expected = scanned_lines(path, Checker(facts, symbolize))
    assert any(rule == "kernel-on-app-tcb" for _seq, rule, _m, _w in expected)
    with TraceReader.open(path) as reader:
        assert reader.stored_analysis() is None
        trace = OpenTrace(reader, path)
        run(trace.owner_scan())  # the owner scan analyses the file (owners and findings)
        assert trace.index.owner_scan_done
        assert trace.analysis is not None and trace.analysis.saved == "updated"
        assert stored_lines(trace, Checker(facts, symbolize)) == expected
        owners_then = trace.index.owner_history.rows()
    with TraceReader.open(path) as reader:
        trace = OpenTrace(reader, path)
        assert reader.stored_analysis() is not None
        run(trace.owner_scan())
        assert trace.analysis is not None and trace.analysis.saved == "stored"
        assert sorted(trace.index.owner_history.rows(), key=repr) == sorted(owners_then, key=repr)
        assert stored_lines(trace, Checker(facts, symbolize)) == expected
        # Another kernel's facts, the same stored analysis: what the checker would say.
        assert stored_lines(trace, Checker(KernelFacts())) == scanned_lines(
            path, Checker(KernelFacts())
        )


def test_owners_from_the_file_are_the_ones_a_scan_learns(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    rewrite(RECORDED, path, analyse=True)
    with TraceReader.open(path) as reader:
        scanned = OpenTrace(reader, path, live=True)  # a live trace is scanned as before
        run(scanned.owner_scan())
        stored = OpenTrace(reader, path)
        run(stored.owner_scan())
        assert stored.analysis is not None and stored.analysis.saved == "stored"
        rows = stored.index.owner_history.rows()
        assert rows and sorted(rows, key=repr) == sorted(
            scanned.index.owner_history.rows(), key=repr
        )
        for event in reader.events():
            bases = getattr(event, "bases", None)
            values = (bases.fs_base, bases.gs_base, bases.kernel_gs_base) if bases else ()
            for value in values:
                assert stored.index.owner(value, event.seq, getattr(event, "pid", None)) == (
                    scanned.index.owner(value, event.seq, getattr(event, "pid", None))
                )


def test_a_trace_that_cannot_be_written_opens_with_its_analysis_in_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    rewrite(BROKEN, path, analyse=False)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # someone else is writing it
    try:
        with TraceReader.open(path) as reader:
            trace = OpenTrace(reader, path)
            run(trace.owner_scan())
            assert trace.analysis is not None
            assert trace.analysis.saved.startswith("not updated")
            assert stored_lines(trace, Checker(KernelFacts())) == scanned_lines(
                path, Checker(KernelFacts())
            )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
