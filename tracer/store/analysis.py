"""A trace file's stored analysis: owners by moment and raw findings, kept beside the events.

The writer stores them batch by batch, in the transaction that commits the batch's events
(`TraceWriter(analyse=True)`, the default). A file written without them (an older tracer) is
analysed once by a reader (`AnalysisScan`) and updated when the file can be written; meta
`analysis` says which version of the analysis the file holds and how many events it covers.
"""

from __future__ import annotations

import bisect
import json
import pathlib
import sqlite3
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tracer.analysis.owner_history import OwnerRow
from tracer.analysis.rules import KERNEL_ON_APP_TCB, STAR_GDT_MISMATCH, RawFinding
from tracer.analysis.trace_analysis import ANALYSIS_VERSION, TraceAnalysis
from tracer.store.api import TraceSource
from tracer.store.schema import META_ANALYSIS, META_COMPLETE, META_EVENT_COUNT

ANALYSIS_DDL = (
    """CREATE TABLE IF NOT EXISTS owners (
        pid INTEGER,
        value TEXT NOT NULL,
        since INTEGER NOT NULL,
        label TEXT NOT NULL
    )""",
    # `message` for the rules whose message the trace alone decides, `data` (JSON) for the rest.
    """CREATE TABLE IF NOT EXISTS findings (
        seq INTEGER NOT NULL,
        rule TEXT NOT NULL,
        cpu INTEGER,
        pid INTEGER,
        pc TEXT,
        message TEXT,
        data TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS findings_seq ON findings (seq)",
    # The seqs with findings, packed (array 'q'), by what decides whether they show: a viewer
    # knows them all without reading a row of `findings` (see `seq_class`).
    "CREATE TABLE IF NOT EXISTS finding_seqs (class TEXT NOT NULL, seqs BLOB NOT NULL)",
)
INSERT_OWNER = "INSERT INTO owners VALUES (?, ?, ?, ?)"
INSERT_FINDING = "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_SEQS = "INSERT INTO finding_seqs VALUES (?, ?)"
FINDING_COLUMNS = "seq, rule, cpu, pid, pc, message, data"
ALWAYS, FS_EVIDENCE, FS_NO_EVIDENCE, STAR = "always", "fs-evidence", "fs-no-evidence", "star"
SCAN_CHUNK = 512  # events per step: one step fits in a slice of the UI's time


def owner_params(rows: list[OwnerRow]) -> list[tuple[int | None, str, int, str]]:
    # Values are 64-bit unsigned (kernel addresses): text, as SQLite integers are signed.
    return [(pid, str(value), since, label) for pid, value, since, label in rows]


FindingRow = tuple[int, str, "int | None", "int | None", "str | None", "str | None", "str | None"]
"""A stored raw finding: seq, rule, cpu, pid, pc (text), message or data (JSON)."""


def finding_params(findings: list[RawFinding]) -> list[FindingRow]:
    rows: list[FindingRow] = []
    for raw in findings:
        pc = None if raw.pc is None else str(raw.pc)
        message = raw.data.get("message") if len(raw.data) == 1 else None
        data = None if message is not None else json.dumps(raw.data, separators=(",", ":"))
        rows.append((raw.seq, raw.rule, raw.cpu, raw.pid, pc, message, data))
    return rows


def raw_finding(row: FindingRow) -> RawFinding:
    seq, rule, cpu, pid, pc, message, data = row
    values = {"message": message} if data is None else json.loads(data)
    return RawFinding(seq, rule, cpu, pid, None if pc is None else int(pc), values)


def seq_class(raw: RawFinding) -> str:
    """Which facts decide whether a raw finding shows (see `checks.render`)."""
    if raw.rule == KERNEL_ON_APP_TCB:
        return FS_EVIDENCE if raw.data["evidence"] else FS_NO_EVIDENCE
    return STAR if raw.rule == STAR_GDT_MISMATCH else ALWAYS


def seq_params(findings: list[RawFinding]) -> list[tuple[str, bytes]]:
    classes: dict[str, array[int]] = {}
    for raw in findings:
        seqs = classes.setdefault(seq_class(raw), array("q"))
        if not seqs or seqs[-1] != raw.seq:
            seqs.append(raw.seq)
    return [(name, seqs.tobytes()) for name, seqs in classes.items()]


def analysis_meta(analysis: TraceAnalysis) -> str:
    return json.dumps(
        {
            "version": ANALYSIS_VERSION,
            "events": analysis.events,
            "through_seq": analysis.through_seq,
        }
    )


@dataclass(frozen=True)
class StoredAnalysis:
    """Owner rows and raw findings covering a whole trace (read from its file or computed).

    `seqs` holds the seqs with findings by class (sorted); `rows_at(seq)` the raw findings at
    one seq, in the checker's order; `all_rows()` every one."""

    owner_rows: list[OwnerRow]
    seqs: dict[str, array[int]]
    through_seq: int
    saved: str  # "stored", "updated", or why the file was not updated
    rows_at: Callable[[int], list[FindingRow]]
    all_rows: Callable[[], list[FindingRow]]

    def findings(self) -> list[RawFinding]:
        return [raw_finding(row) for row in self.all_rows()]

    @classmethod
    def in_memory(
        cls, owner_rows: list[OwnerRow], findings: list[RawFinding], through_seq: int, saved: str
    ) -> StoredAnalysis:
        rows = finding_params(findings)
        by_seq = [row[0] for row in rows]

        def rows_at(seq: int) -> list[FindingRow]:
            return rows[bisect.bisect_left(by_seq, seq) : bisect.bisect_right(by_seq, seq)]

        seqs = {name: _unpack(blob) for name, blob in seq_params(findings)}
        return cls(owner_rows, seqs, through_seq, saved, rows_at, lambda: rows)


def _unpack(blob: bytes) -> array[int]:
    seqs = array("q")
    seqs.frombytes(blob)
    return seqs


def load_stored(conn: sqlite3.Connection, meta: dict[str, str]) -> StoredAnalysis | None:
    """The analysis the file holds, when it covers every event of a complete file."""
    text = meta.get(META_ANALYSIS)
    if text is None or meta.get(META_COMPLETE) != "1":
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if info.get("version") != ANALYSIS_VERSION or str(info.get("events")) != meta.get(
        META_EVENT_COUNT
    ):
        return None
    try:
        owners = [
            (pid, int(value), since, label)
            for pid, value, since, label in conn.execute(
                "SELECT pid, value, since, label FROM owners"
            )
        ]
        seqs: dict[str, array[int]] = {}
        for name, blob in conn.execute("SELECT class, seqs FROM finding_seqs ORDER BY rowid"):
            seqs.setdefault(name, array("q")).extend(_unpack(blob))
    except (sqlite3.Error, ValueError, TypeError):
        return None  # damaged or foreign tables: analyse again

    def rows_at(seq: int) -> list[FindingRow]:
        sql = f"SELECT {FINDING_COLUMNS} FROM findings WHERE seq = ? ORDER BY rowid"
        return conn.execute(sql, (seq,)).fetchall()

    def all_rows() -> list[FindingRow]:
        return conn.execute(f"SELECT {FINDING_COLUMNS} FROM findings ORDER BY rowid").fetchall()

    through = int(info["through_seq"])
    return StoredAnalysis(owners, seqs, through, "stored", rows_at, all_rows)


def save_analysis(path: str, analysis: TraceAnalysis) -> str:
    """Write `analysis` into the trace file at `path`; "updated", or why it could not be."""
    uri = pathlib.Path(path).absolute().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return f"not updated: {exc}"
    try:
        conn.execute("PRAGMA busy_timeout = 200")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in ANALYSIS_DDL:
                conn.execute(statement)
            for table in ("owners", "findings", "finding_seqs"):
                conn.execute(f"DELETE FROM {table}")
            conn.executemany(INSERT_OWNER, owner_params(analysis.owners.rows()))
            conn.executemany(INSERT_FINDING, finding_params(analysis.findings))
            conn.executemany(INSERT_SEQS, seq_params(analysis.findings))
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (META_ANALYSIS, analysis_meta(analysis)),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:  # a read-only file or folder, a locked file
        return f"not updated: {exc}"
    finally:
        conn.close()
    return "updated"


class AnalysisScan:
    """Analyse a trace a chunk at a time (for a file without a stored analysis); `result`
    once done, and the file updated when it can be."""

    def __init__(self, source: TraceSource, path: str | None, save: bool) -> None:
        self.source = source
        self.path = path
        self.save = save
        self.analysis = TraceAnalysis()
        self.result: StoredAnalysis | None = None
        self._next_seq = 0

    @property
    def done(self) -> bool:
        return self.result is not None

    def steps(self) -> Iterator[float]:
        """Analyse to the end, yielding the fraction done."""
        total = max(1, self.source.count())
        while not self.step():
            yield min(1.0, self.analysis.events / total)

    def step(self) -> bool:
        if self.result is not None:
            return True
        chunk = list(self.source.events(self._next_seq, SCAN_CHUNK))
        self.analysis.feed(chunk)
        if chunk:
            self._next_seq = chunk[-1].seq + 1
        if len(chunk) < SCAN_CHUNK:
            saved = "not updated: in memory only"
            if self.save and self.path is not None:
                saved = save_analysis(self.path, self.analysis)
            self.result = StoredAnalysis.in_memory(
                self.analysis.owners.rows(),
                self.analysis.findings,
                self.analysis.through_seq,
                saved,
            )
        return self.result is not None
