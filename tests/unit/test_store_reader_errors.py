"""TraceReader.open: every way a file can fail to be a readable trace, in one line each."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest

from tracer.bench.synthetic import write_synthetic
from tracer.events import Note
from tracer.store import SCHEMA_VERSION, TraceFileError, TraceReader, TraceWriter


def _open_error(path: Path) -> str:
    with pytest.raises(TraceFileError) as caught:
        TraceReader.open(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return caught.value.reason


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.db"
    write_synthetic(path, 5_000)
    return path


def test_missing_file(tmp_path: Path) -> None:
    assert _open_error(tmp_path / "nope.db") == "no such trace file"
    assert not (tmp_path / "nope.db").exists()  # opening does not create it


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    assert _open_error(path) == "not a trace file (empty file)"


def test_directory(tmp_path: Path) -> None:
    assert _open_error(tmp_path) == "not a trace file (a directory)"


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("syscall_entry nr=60\n" * 100)
    assert _open_error(path) == "not a trace file (not SQLite)"


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.db"
    path.write_bytes(random.Random(7).randbytes(64 * 1024))
    assert _open_error(path) == "not a trace file (not SQLite)"


def test_sqlite_file_without_our_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE songs (title TEXT)")
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    assert _open_error(path) == "not a trace file (SQLite, but no tracer tables)"


def test_sqlite_file_with_look_alike_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY)")
        conn.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    conn.close()
    assert _open_error(path) == "not a trace file (SQLite, but not a tracer trace)"


def test_schema_newer_than_this_tracer(trace: Path) -> None:
    with sqlite3.connect(trace) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 2}")
    conn.close()
    assert _open_error(trace) == (
        f"trace schema v{SCHEMA_VERSION + 2} is newer than this tracer (v{SCHEMA_VERSION}); "
        "upgrade tracer"
    )


def test_file_truncated_in_the_middle(trace: Path) -> None:
    size = trace.stat().st_size
    os.truncate(trace, size // 2)
    reason = _open_error(trace)
    assert reason.startswith("corrupt trace file: truncated")


def test_file_truncated_inside_the_header(trace: Path) -> None:
    os.truncate(trace, 60)
    assert _open_error(trace) == "corrupt trace file: truncated header"


def test_damaged_pages_surface_as_trace_file_errors(trace: Path) -> None:
    size = trace.stat().st_size
    with open(trace, "r+b") as file:
        file.seek(size // 2)
        file.write(b"\xff" * (size - size // 2))
    with pytest.raises(TraceFileError, match="corrupt trace file") as caught:
        with TraceReader.open(trace) as reader:
            list(reader.events())
    assert "\n" not in str(caught.value)


def test_an_event_kind_from_a_newer_tracer(tmp_path: Path) -> None:
    path = tmp_path / "trace.db"
    with TraceWriter(path) as writer:
        writer.append(Note(0, 0, "known"))
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO events VALUES (1, 1, 'future_kind', 0, 0, NULL, NULL, '{}')")
    conn.close()
    with TraceReader.open(path) as reader:
        assert reader.get(0) == Note(0, 0, "known")
        assert [kind.value for kind in reader.kinds()] == ["note"]
        with pytest.raises(TraceFileError, match="unknown event kind 'future_kind'"):
            reader.get(1)


def test_a_closed_reader_refuses_queries(trace: Path) -> None:
    reader = TraceReader.open(trace)
    reader.close()
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.count(cpu=0)
