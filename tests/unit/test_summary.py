"""`tracer report --summary` (strace -c) and `--trace=NAME,...` (strace -e trace=), checked
against the events of a real capture (tests/tui/fixtures/hello-tls.db) and the demo call graph."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from callgraph_demo import hello_glibc

from tracer.commands import export, report
from tracer.decode.strace_filter import TraceSpecError, parse_trace_spec
from tracer.decode.syscall_table import syscall_name, syscall_number
from tracer.event_filter import only_syscalls
from tracer.events import Event, FuncEntry, FuncExit, SyscallEntry, SyscallExit
from tracer.store import TraceReader, TraceWriter
from tracer.summary import summary_lines, syscall_stats

RECORDED = Path(__file__).resolve().parents[1] / "tui" / "fixtures" / "hello-tls.db"


def recorded_events() -> list[Event]:
    with TraceReader.open(RECORDED) as reader:
        return list(reader.events())


def table(lines: Sequence[str]) -> dict[str, tuple[float, int, int, bool]]:
    """name -> (seconds, calls, errors, host time) from the printed rows, total included."""
    rows = {}
    for line in lines[2:]:
        if line.startswith("---") or line.startswith("time:"):
            continue
        words = line.split()
        host = words[-1] == "*"
        if host:
            words.pop()
        name = words[-1]
        if name == "total":
            seconds, calls = float(words[1]), int(words[2])
            errors = int(words[3]) if len(words) == 5 else 0
        else:
            seconds, calls = float(words[1]), int(words[3])
            errors = int(words[4]) if len(words) == 6 else 0
        rows[name] = (seconds, calls, errors, host)
    return rows


def test_the_summary_counts_what_the_trace_holds() -> None:
    events = recorded_events()
    lines = list(summary_lines(syscall_stats(events)))
    rows = table(lines)
    calls = Counter(syscall_name(e.nr) for e in events if isinstance(e, SyscallEntry))
    errors = Counter(
        syscall_name(e.nr)
        for e in events
        if isinstance(e, SyscallExit) and -4095 <= e.ret_signed < 0
    )
    host_ns: Counter[str] = Counter()
    entries: dict[int, SyscallEntry] = {}
    for event in events:
        if isinstance(event, SyscallEntry):
            entries[event.pid] = event
        elif isinstance(event, SyscallExit) and event.pid in entries:
            entry = entries.pop(event.pid)
            host_ns[syscall_name(entry.nr)] += event.time_ns - entry.time_ns
    assert {name: row[1] for name, row in rows.items() if name != "total"} == dict(calls)
    assert {name: row[2] for name, row in rows.items() if row[2] and name != "total"} == dict(
        errors
    )
    for name, (seconds, *_rest) in rows.items():
        if name != "total":
            assert seconds == pytest.approx(host_ns[name] / 1e9, abs=1e-6)
    assert rows["total"][:3] == (
        pytest.approx(sum(host_ns.values()) / 1e9, abs=1e-6),
        sum(calls.values()),
        sum(errors.values()),
    )
    # No function-graph ring in this capture: every timed row says it is host time.
    assert all(row[3] for name, row in rows.items() if host_ns[name])
    assert lines[-1].startswith("time: host time")
    assert [line.split()[-2 if line.endswith("*") else -1] for line in lines[2:5]] == [
        name for name, _ in sorted(host_ns.items(), key=lambda kv: -kv[1])[:3]
    ]


def test_guest_time_comes_from_the_function_graph() -> None:
    events = hello_glibc().events
    stats = {row.name: row for row in syscall_stats(events)}
    write = syscall_number("write")
    entry = next(e for e in events if isinstance(e, SyscallEntry) and e.nr == write)
    exit_ = next(e for e in events if isinstance(e, SyscallExit) and e.nr == write)
    inside = [e for e in events if entry.seq < e.seq < exit_.seq and e.pid == entry.pid]
    first = next(e for e in inside if isinstance(e, FuncEntry))
    last = [e for e in inside if isinstance(e, FuncExit)][-1]  # do_syscall_64 returns last
    assert last.guest_ns is not None and first.guest_ns is not None
    assert stats["write"].guest_ns == last.guest_ns - first.guest_ns
    assert not stats["write"].host_time and stats["exit_group"].calls == 1
    assert list(summary_lines(list(stats.values())))[-1].startswith("time: guest time")


def test_trace_spec() -> None:
    write, brk = syscall_number("write"), syscall_number("brk")
    assert parse_trace_spec("write,brk") == {write, brk}
    assert parse_trace_spec("1") == {1}
    everything_but = parse_trace_spec("!write")
    assert write not in everything_but and brk in everything_but
    for bad in ("nosuchcall", "", "!"):
        with pytest.raises(TraceSpecError):
            parse_trace_spec(bad)


def test_a_syscall_left_out_takes_its_inside_along() -> None:
    events = hello_glibc().events
    kept = list(only_syscalls(events, parse_trace_spec("brk")))
    assert {syscall_name(e.nr) for e in kept if isinstance(e, SyscallEntry)} == {"brk"}
    write = syscall_number("write")
    entry = next(e for e in events if isinstance(e, SyscallEntry) and e.nr == write)
    exit_ = next(e for e in events if isinstance(e, SyscallExit) and e.nr == write)
    assert not [e for e in kept if entry.seq <= e.seq <= exit_.seq and e.pid == entry.pid]
    assert [e for e in kept if isinstance(e, FuncEntry)]  # brk's own calls stay


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "trace.db"
    with TraceWriter(path, {"kernel": str(tmp_path / "no-such-kernel.elf")}) as writer:
        for event in recorded_events():
            writer.append(event)
    return path


def run(module, argv: Sequence[str]) -> int:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser(prog="tracer")
    module.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.run(args))


def test_report_trace_and_summary_options(trace_file: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(report, ["report", str(trace_file), "--trace=write,brk"]) == 0
    lines = capsys.readouterr().out.splitlines()
    calls = [line.split("] ", 1)[1].split("(")[0] for line in lines if "(" in line]
    brk = syscall_number("brk")
    assert set(calls) == {"write", "brk"}
    assert calls.count("brk") == sum(
        isinstance(e, SyscallEntry) and e.nr == brk for e in recorded_events()
    )
    assert run(report, ["report", str(trace_file), "-e", "trace=!brk,arch_prctl", "-c"]) == 0
    names = set(table(capsys.readouterr().out.splitlines()))
    assert "brk" not in names and "arch_prctl" not in names and {"write", "total"} <= names
    from tracer.cli import main

    assert main(["report", str(trace_file), "--trace=nosuchcall"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown syscall 'nosuchcall'" in err and "\n" not in err


def test_export_trace_option(trace_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert (
        run(export, ["export", str(trace_file), "-f", "jsonl", "-o", str(out), "-e", "write"]) == 0
    )
    kinds = [json.loads(line) for line in out.read_text().splitlines()]
    nrs = {e["nr"] for e in kinds if e["kind"] in ("syscall_entry", "syscall_exit")}
    assert nrs == {syscall_number("write")}
