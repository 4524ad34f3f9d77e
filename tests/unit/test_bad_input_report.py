"""`tracer report` on bad trace files (one line, exit status 2) and on odd events (unknown
syscall numbers, user pointers the tracer could not read, a capture cut short), and the CLI's
last-resort handler: no traceback unless TRACER_DEBUG=1."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.cli import main
from tracer.commands import report as report_command
from tracer.events import Gap, ProcessEvent, SegBases, SyscallEntry, SyscallExit
from tracer.store import SCHEMA_VERSION, TraceWriter

REPO = Path(__file__).resolve().parents[2]
BASES = SegBases(0, 0, 0)
EFAULT = (1 << 64) - 14
ENOSYS = (1 << 64) - 38


def entry(seq: int, nr: int, args: tuple[int, ...], memory: tuple = ()) -> SyscallEntry:
    full = (tuple(args) + (0,) * 6)[:6]
    return SyscallEntry(
        seq,
        seq * 1000,
        0,
        1,
        0x1000,
        nr,
        full,
        0x401000,
        0x7FFE0000,
        0x202,
        0xFFFF8880,
        (),
        BASES,
        0xFFFFFFFF81000000,
        memory,
    )  # type: ignore[arg-type]


def exit_(seq: int, nr: int, ret: int, entry_seq: int, memory: tuple = ()) -> SyscallExit:
    return SyscallExit(
        seq,
        seq * 1000,
        0,
        1,
        0x1000,
        nr,
        ret,
        entry_seq,
        0x401002,
        0x7FFE0000,
        0x202,
        (),
        BASES,
        0xFFFFFFFF81000100,
        memory,
    )


@pytest.fixture
def odd_trace(tmp_path: Path) -> Path:
    """A trace with an unknown syscall, unreadable pointers, and a capture cut short."""
    path = tmp_path / "odd.db"
    with TraceWriter(path, meta={"kernel": str(tmp_path / "gone.elf")}) as writer:
        writer.append(ProcessEvent(1, 0, 0, 1, 0x1000, "start", "odd"))
        writer.append(entry(2, 999, (1, 2, 3)))
        writer.append(exit_(3, 999, ENOSYS, 2))
        writer.append(entry(4, 1, (1, 0xDEAD0000, 5), memory=((1, None),)))
        writer.append(exit_(5, 1, EFAULT, 4))
        writer.append(entry(6, 257, ((1 << 64) - 100, 0x1234, 0), memory=((1, None),)))
        writer.append(exit_(7, 257, EFAULT, 6))
        writer.append(entry(8, 1 << 32 | 39, ()))
        writer.append(exit_(9, 1 << 32 | 39, 1, 8))
        writer.append(
            Gap(10, 10_000, "capture ended: gdb was killed by SIGKILL during the capture")
        )
    return path


def run_report(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["report", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def test_unknown_syscalls_and_unreadable_pointers_are_shown(
    odd_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_report([str(odd_trace)], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert "syscall_0x3e7(0x1, 0x2, 0x3, 0, 0, 0) = -1 ENOSYS" in lines[0]
    assert "write(1, 0xdead0000, 5) = -1 EFAULT (Bad address)" in lines[1]
    assert "openat(AT_FDCWD, 0x1234, O_RDONLY) = -1 EFAULT" in lines[2]
    assert "syscall_0x100000027(" in lines[3]  # only the low 32 bits select a call
    assert lines[-1] == "--- gap: capture ended: gdb was killed by SIGKILL during the capture ---"


def test_json_report_of_odd_events(odd_trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_report([str(odd_trace), "--json"], capsys)
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[1]["text"].startswith("syscall_0x3e7(")
    assert rows[3]["memory"] == {"1": None}
    assert rows[-1]["kind"] == "gap"


def test_quiet_report_reads_everything_and_prints_nothing(
    odd_trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_report([str(odd_trace), "-q"], capsys) == (0, "", "")


def _copy_with_schema(src: Path, dst: Path, version: int) -> Path:
    dst.write_bytes(src.read_bytes())
    with sqlite3.connect(dst) as conn:
        conn.execute(f"PRAGMA user_version = {version}")
    return dst


BAD_TRACES = {
    "missing": ("no such trace file", lambda t, d: d / "nope.db"),
    "empty": ("empty file", lambda t, d: _write(d / "empty.db", b"")),
    "not-sqlite": ("not SQLite", lambda t, d: _write(d / "text.db", b"hello, not a database\n")),
    "truncated": ("truncated", lambda t, d: _write(d / "cut.db", t.read_bytes()[:1500])),
    "newer-schema": (
        "newer than this tracer",
        lambda t, d: _copy_with_schema(t, d / "new.db", SCHEMA_VERSION + 1),
    ),
    "other-sqlite": ("no tracer tables", lambda t, d: _other_sqlite(d / "other.db")),
    "directory": ("a directory", lambda t, d: d),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _other_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    return path


@pytest.fixture
def big_trace(tmp_path: Path) -> Path:
    from tracer.bench.synthetic import write_synthetic

    path = tmp_path / "big.db"
    write_synthetic(path, 3000)
    return path


@pytest.mark.parametrize("case", list(BAD_TRACES))
@pytest.mark.parametrize("view", [[], ["--json"], ["--msr"], ["-q"]])
def test_bad_trace_files_are_usage_errors(
    case: str, view: list[str], big_trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words, make = BAD_TRACES[case]
    work = tmp_path / "work"
    work.mkdir()
    bad = make(big_trace, work)
    status, out, err = run_report([str(bad), *view], capsys)
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tracer: error: {bad}: "), err
    assert words in lines[0]


def test_an_internal_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(report_command, "run", broken)
    monkeypatch.delenv("TRACER_DEBUG", raising=False)
    status = main(["report", "x.db"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.splitlines() == [
        "tracer: error: internal error: RuntimeError: a bug over two "
        "lines (run with TRACER_DEBUG=1 to see the traceback)"
    ]


def test_tracer_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(report_command, "run", broken)
    monkeypatch.setenv("TRACER_DEBUG", "1")
    assert main(["report", "x.db"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("internal error: RuntimeError: a bug")


def test_a_closed_stdout_is_not_an_error(odd_trace: Path) -> None:
    """`tracer report | head -1`: the reader goes away; no traceback, no 'Exception ignored'."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", "report", str(odd_trace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # before reading anything
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert err == b""
