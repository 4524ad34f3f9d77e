"""Streaming trace-file writer: events are buffered and committed in batches (SQLite, WAL).

Each batch is one transaction, so a capture cut at any point (even by SIGKILL) leaves a valid
file holding every batch committed before the cut.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from typing import Any, Self

from tracer.analysis.marks import EventMarks
from tracer.analysis.trace_analysis import TraceAnalysis
from tracer.events import Event
from tracer.store import codec
from tracer.store.analysis import (
    ANALYSIS_DDL,
    INSERT_FINDING,
    INSERT_OWNER,
    INSERT_SEQS,
    analysis_meta,
    finding_params,
    owner_params,
    seq_params,
)
from tracer.store.marks import INSERT_MARKS, MARKS_DDL, marks_meta, marks_params
from tracer.store.schema import (
    DDL,
    FORMAT,
    META_ANALYSIS,
    META_COMPLETE,
    META_END_TIME_NS,
    META_ENDED_AT,
    META_EVENT_COUNT,
    META_EVENT_COUNTS,
    META_FORMAT,
    META_MARKS,
    META_SCHEMA_VERSION,
    META_STARTED_AT,
    META_TIME_ORDERED,
    RESERVED_META,
    SCHEMA_VERSION,
)

_SIDE_FILES = ("-wal", "-shm", "-journal")
_INSERT_EVENT = "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class TraceWriter:
    """Writes a new trace file; use as a context manager or call `close()`.

    Events must arrive in increasing `seq` order. They are committed every `batch_size` events,
    or at the first `append` (or `flush_if_due`) once `flush_interval` seconds have passed since
    the last commit, and on `flush()` / `close()`. `close()` may be called more than once, from
    a signal handler that interrupted `append` or `flush`, or from another thread.

    With `analyse` (the default) the owners and the checks' raw findings are computed as events
    arrive and committed with them (`tracer.store.analysis`), so a reader has them at once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        meta: dict[str, str] | None = None,
        *,
        overwrite: bool = False,
        batch_size: int = 512,
        flush_interval: float = 0.25,
        analyse: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        user_meta = dict(meta or {})
        for key, value in user_meta.items():
            _check_meta(key, value)
        self.path = os.fspath(path)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._pending: list[codec.Row] = []
        self._analysis = TraceAnalysis(keep_all=False) if analyse else None
        self._marks = EventMarks() if analyse else None  # this batch's: see tracer.store.marks
        self._analysis_failed: str | None = None
        self._pending_meta: dict[str, str] = {}
        self._committed = 0
        self._counts: Counter[str] = Counter()
        self._last_seq: int | None = None
        self._last_time_ns: int | None = None
        self._time_ordered = True
        self._last_flush = time.monotonic()
        self._lock = threading.RLock()
        self._flushing = False
        self._closing = False
        self._close_requested = False
        _create_private_file(self.path, overwrite)
        try:
            self._conn: sqlite3.Connection | None = _init_database(self.path, user_meta, analyse)
        except BaseException:
            _remove_trace_files(self.path)
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def appended(self) -> int:
        """Events accepted by `append` so far (committed or not)."""
        return self._committed + len(self._pending)

    @property
    def committed(self) -> int:
        """Events committed to the file so far."""
        return self._committed

    def append(self, event: Event, summary: str | None = None) -> None:
        """Buffer one event (and its one-line summary, if the caller has one)."""
        with self._lock:  # a close from another thread waits for this append to land
            if self._conn is None or self._closing:
                raise ValueError(f"append to a closed trace writer ({self.path})")
            seq = event.seq
            if self._last_seq is not None and seq <= self._last_seq:
                raise ValueError(f"event seq {seq} does not follow seq {self._last_seq}")
            row = codec.encode(event)
            if summary is not None:
                row = (*row[:6], summary, row[7])
            self._pending.append(row)
            if self._analysis is not None:
                self._analyse(event)
            self._last_seq = seq
            if self._last_time_ns is not None and event.time_ns < self._last_time_ns:
                self._time_ordered = False
            self._last_time_ns = event.time_ns
            if len(self._pending) >= self.batch_size:
                self.flush()
            else:
                self.flush_if_due()

    def _analyse(self, event: Event) -> None:
        """Feed the stored analysis; an analysis that fails never costs the capture its events:
        the file says it holds none, and its readers analyse it themselves."""
        assert self._analysis is not None
        try:
            self._analysis.feed_one(event)
            if self._marks is not None:
                self._marks.add(event)
        except Exception as exc:  # a bug in a rule: keep the events, drop the analysis
            self._analysis = self._marks = None
            self._analysis_failed = f"{type(exc).__name__}: {exc} (at seq {event.seq})"

    def flush_if_due(self) -> bool:
        """Commit pending events if `flush_interval` has passed; for an idle capture loop."""
        if self._pending and time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()
            return True
        return False

    def set_meta(self, key: str, value: str) -> None:
        """Record `key = value` in the file's meta table (committed now)."""
        _check_meta(key, value)
        if self._conn is None:
            raise ValueError(f"set_meta on a closed trace writer ({self.path})")
        self._pending_meta[key] = value
        self.flush()

    def flush(self) -> None:
        """Commit every pending event and meta value in one transaction."""
        with self._lock:
            if self._conn is None or self._flushing:
                return  # closed, or re-entered from a signal handler: the outer flush commits
            self._flushing = True
            try:
                self._commit()
            finally:
                self._flushing = False
                if self._close_requested:
                    self.close()

    def close(self) -> None:
        """Commit what is pending, mark the file complete and close it. Idempotent."""
        with self._lock:
            if self._conn is None or self._closing:
                return
            if self._flushing:
                # Re-entered (a signal handler interrupted flush): the outer flush closes.
                self._close_requested = True
                return
            self._closing = True
            conn = self._conn
            try:
                self._flushing = True
                try:
                    self._commit(final=True)
                finally:
                    self._flushing = False
                _compact(conn)
            finally:
                self._conn = None
                conn.close()

    def _commit(self, final: bool = False) -> None:
        conn = self._conn
        if conn is None or not (self._pending or self._pending_meta or final):
            return
        rows = list(self._pending)
        meta = dict(self._pending_meta)
        counts = self._counts.copy()
        counts.update(row[2] for row in rows)
        total = self._committed + len(rows)
        meta[META_EVENT_COUNT] = str(total)
        meta[META_EVENT_COUNTS] = json.dumps(dict(sorted(counts.items())))
        meta[META_TIME_ORDERED] = "1" if self._time_ordered else "0"
        if final:
            meta[META_COMPLETE] = "1"
            meta[META_ENDED_AT] = _now_iso()
            if self._last_time_ns is not None:
                meta[META_END_TIME_NS] = str(self._last_time_ns)
        owners, findings = self._analysis.take_new() if self._analysis is not None else ([], [])
        marks = self._marks
        if self._analysis is not None:
            meta[META_ANALYSIS] = analysis_meta(self._analysis)
        elif self._analysis_failed is not None:
            meta[META_ANALYSIS] = json.dumps({"version": 0, "failed": self._analysis_failed})
            meta[META_MARKS] = json.dumps({"version": 0})
        if marks is not None:
            meta[META_MARKS] = marks_meta(total, marks.through_seq)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # OR IGNORE: a batch re-sent after a commit that was interrupted before the
            # bookkeeping below ran must not fail (seqs are unique by construction).
            conn.executemany(_INSERT_EVENT, rows)
            if owners:
                conn.executemany(INSERT_OWNER, owner_params(owners))
            if findings:
                conn.executemany(INSERT_FINDING, finding_params(findings))
                conn.executemany(INSERT_SEQS, seq_params(findings))
            if marks is not None and marks.lists:
                conn.executemany(INSERT_MARKS, marks_params(marks))
            conn.executemany(_UPSERT_META, meta.items())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._analysis is not None:  # sent again with the next commit
                self._analysis.owners.new_rows[:0] = owners
                self._analysis.findings[:0] = findings
            raise
        del self._pending[: len(rows)]
        if marks is not None and self._marks is marks:  # committed: the next batch's start empty
            self._marks = EventMarks(through_seq=marks.through_seq)
        self._committed, self._counts = total, counts
        for key, value in meta.items():
            if self._pending_meta.get(key) == value:
                del self._pending_meta[key]
        self._last_flush = time.monotonic()


def _check_meta(key: str, value: str) -> None:
    if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError(f"meta keys and values must be str: {key!r} = {value!r}")
    if key in RESERVED_META:
        raise ValueError(f"meta key {key!r} is set by the trace writer")


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _create_private_file(path: str, overwrite: bool) -> None:
    """Create `path` empty with mode 0600 before SQLite opens it (SQLite would use 0644)."""
    if overwrite:
        _remove_trace_files(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "trace file exists (pass overwrite=True to replace it)", path
        ) from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
    finally:
        os.close(fd)
    # A -wal left by an earlier file of this name would be replayed into the new one.
    for suffix in _SIDE_FILES:
        _unlink_if_present(path + suffix)


def _remove_trace_files(path: str) -> None:
    _unlink_if_present(path)
    for suffix in _SIDE_FILES:
        _unlink_if_present(path + suffix)


def _unlink_if_present(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _init_database(path: str, user_meta: dict[str, str], analyse: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        meta = {
            META_FORMAT: FORMAT,
            META_SCHEMA_VERSION: str(SCHEMA_VERSION),
            META_COMPLETE: "0",
            META_STARTED_AT: _now_iso(),
            META_EVENT_COUNT: "0",
            META_EVENT_COUNTS: "{}",
            META_TIME_ORDERED: "1",
            **user_meta,
        }
        # The schema is committed in rollback-journal mode so that the main file holds it
        # (and a valid header) before any event lands in the WAL.
        conn.execute("BEGIN")
        for statement in DDL + (ANALYSIS_DDL + MARKS_DDL if analyse else ()):
            conn.execute(statement)
        conn.executemany(_UPSERT_META, meta.items())
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses no committed transaction when the process dies.
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _compact(conn: sqlite3.Connection) -> None:
    """Fold the WAL back so a finished trace is one self-contained file (best effort)."""
    try:
        conn.execute("PRAGMA busy_timeout = 100")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    except sqlite3.OperationalError:
        pass  # a reader still has the file open; it stays in WAL mode, which is fine
