"""`tracer export`: every format from a trace file, JSON lines, and one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from callgraph_demo import hello_glibc

from tracer import cli
from tracer.bench.synthetic import write_synthetic
from tracer.export.jsonl import event_to_json, json_lines, write_jsonl
from tracer.store import TraceWriter


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.db"
    with TraceWriter(path, {"kernel": str(tmp_path / "no-such-kernel.elf")}) as writer:
        for event in hello_glibc().events:
            writer.append(event)
    return path


def main(argv: Sequence[str]) -> int:
    """The export subcommand as the CLI runs it (one-line errors and exit codes included)."""
    return cli.main(argv)


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_jsonl_writes_every_event_as_its_report_json() -> None:
    events = hello_glibc().events
    out = io.StringIO()
    assert write_jsonl(events, out) == len(events)
    lines = out.getvalue().splitlines()
    # The same objects as `report --json`: each event's fields, a syscall exit with its line.
    assert [json.loads(line) for line in lines] == [json.loads(line) for line in json_lines(events)]
    for line, event in zip(lines, events, strict=True):
        got, plain = json.loads(line), json.loads(json.dumps(event_to_json(event)))
        assert {k: v for k, v in got.items() if k != "text"} == {
            k: v for k, v in plain.items() if k != "text"
        }
    assert {json.loads(line)["kind"] for line in lines} >= {
        "func_entry",
        "func_exit",
        "syscall_entry",
        "msr_write",
    }


def test_export_jsonl_from_a_trace_file(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trace.jsonl"
    assert main(["export", str(trace), "--format", "jsonl", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == len(hello_glibc().events)
    assert json.loads(lines[0])["kind"] == "process"
    assert f"wrote {len(lines)} events to {out}" in capsys.readouterr().err


def test_export_chrome_from_a_trace_file(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    assert main(["export", str(trace), "-f", "chrome", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    names = {event.get("name") for event in data["traceEvents"]}
    # the kernel ELF the trace names is gone: functions keep their addresses
    assert {"write", "brk", hex(hello_glibc().addr("do_syscall_64"))} <= names
    assert data["otherData"]["kernel"].endswith("no-such-kernel.elf")


def test_export_perfetto_from_a_trace_file(trace: Path, tmp_path: Path) -> None:
    pb = pytest.importorskip(
        "perfetto.protos.perfetto.trace.perfetto_trace_pb2",
        reason="the perfetto package is not installed",
    )
    out = tmp_path / "trace.pftrace"
    assert main(["export", str(trace), "-f", "perfetto", "-o", str(out)]) == 0
    parsed = pb.Trace()
    parsed.ParseFromString(out.read_bytes())
    assert any(p.track_event.name == "write" for p in parsed.packet)


def test_export_to_stdout_and_by_pid(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(trace), "-f", "jsonl", "-o", "-", "--pid", "99"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["export", str(trace), "-f", "jsonl", "-o", "-", "--pid", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(hello_glibc().events)


def test_a_corrupt_trace_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "damaged.db"
    write_synthetic(path, 5_000)
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(size // 2)
        file.write(b"\xff" * (size - size // 2))
    out = tmp_path / "out.json"
    assert main(["export", str(path), "-f", "chrome", "-o", str(out)]) == 2
    assert "corrupt trace file" in _error(capsys)
    assert not out.exists() and not list(tmp_path.glob(".out.json*"))


@pytest.mark.parametrize("content", [b"", b"not a trace at all\n" * 50])
def test_not_a_trace_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.db"
    path.write_bytes(content)
    assert main(["export", str(path), "-f", "jsonl", "-o", str(tmp_path / "x.jsonl")]) == 2
    assert _error(capsys).startswith(f"tracer: error: {path}: not a trace file")
    assert main(["export", str(tmp_path / "missing.db"), "-f", "jsonl", "-o", "-"]) == 2
    assert _error(capsys).endswith("no such trace file")


def test_unwritable_output_is_one_line_and_exit_1(
    trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no-such-dir" / "trace.json"
    assert main(["export", str(trace), "-f", "chrome", "-o", str(out)]) == 1
    assert _error(capsys).startswith("tracer: error: ")


def test_bad_format_is_a_usage_error(trace: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["export", str(trace), "-f", "svg", "-o", "x"])
    assert caught.value.code == 2


def test_an_existing_output_is_replaced_whole(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    out.write_text("old")
    assert main(["export", str(trace), "-f", "chrome", "-o", str(out)]) == 0
    json.loads(out.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.db", "trace.json"]


def test_tracer_export_is_a_cli_command(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "export", str(trace), "-f", "jsonl", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == len(hello_glibc().events)
