"""Open a trace file read-only, or say in one line why it is not one we can read."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import stat

from tracer.store.api import TraceFileError
from tracer.store.codec import COLUMNS
from tracer.store.schema import FORMAT, SCHEMA_VERSION, SQLITE_MAGIC

_HEADER_SIZE = 100


def open_trace_database(path: str) -> tuple[sqlite3.Connection, int]:
    """A read-only connection to the trace file at `path`, and its schema version."""
    _check_file(path)
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise TraceFileError(path, f"cannot open trace file: {exc}") from None
    try:
        version = _check_schema(path, conn)
    except BaseException:
        conn.close()
        raise
    return conn, version


def corrupt(path: str, exc: sqlite3.Error) -> TraceFileError:
    message = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in message or "open" in message):
        return TraceFileError(path, f"cannot read trace file: {exc}")
    return TraceFileError(path, f"corrupt trace file: {exc}")


def _check_file(path: str) -> None:
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise TraceFileError(path, "not a trace file (a directory)")
        if info.st_size == 0:
            raise TraceFileError(path, "not a trace file (empty file)")
        with open(path, "rb") as file:
            header = file.read(_HEADER_SIZE)
    except FileNotFoundError:
        raise TraceFileError(path, "no such trace file") from None
    except OSError as exc:
        raise TraceFileError(path, f"cannot read trace file: {exc.strerror}") from None
    if not header.startswith(SQLITE_MAGIC):
        raise TraceFileError(path, "not a trace file (not SQLite)")
    if len(header) < _HEADER_SIZE:
        raise TraceFileError(path, "corrupt trace file: truncated header")
    expected = _size_from_header(header)
    if expected is not None and expected > info.st_size and not _has_wal(path):
        # With a WAL present the main file may lag its header mid-checkpoint: let SQLite judge.
        raise TraceFileError(
            path, f"corrupt trace file: truncated ({info.st_size} of {expected} bytes)"
        )


def _size_from_header(header: bytes) -> int | None:
    page_size = int.from_bytes(header[16:18], "big")
    if page_size == 1:
        page_size = 65536
    page_count = int.from_bytes(header[28:32], "big")
    # The header's page count is only meaningful when the change counter matches
    # "version-valid-for" (SQLite file format, section 1.3.7).
    if page_count == 0 or header[24:28] != header[92:96]:
        return None
    return page_size * page_count


def _has_wal(path: str) -> bool:
    try:
        return os.path.getsize(path + "-wal") > 0
    except OSError:
        return False


def _check_schema(path: str, conn: sqlite3.Connection) -> int:
    try:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"meta", "events"} <= tables:
            raise TraceFileError(path, "not a trace file (SQLite, but no tracer tables)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != FORMAT:
            raise TraceFileError(path, "not a trace file (SQLite, but not a tracer trace)")
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise TraceFileError(
                path,
                f"trace schema v{version} is newer than this tracer (v{SCHEMA_VERSION}); "
                "upgrade tracer",
            )
        if version < 1:
            raise TraceFileError(path, f"corrupt trace file: schema version {version}")
        conn.execute(f"SELECT {', '.join(COLUMNS)} FROM events LIMIT 0").fetchall()
        # Reaches both ends of the events b-tree: most truncations and torn pages show here.
        conn.execute(
            "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"
        ).fetchone()
    except sqlite3.Error as exc:
        raise corrupt(path, exc) from None
    return int(version)
