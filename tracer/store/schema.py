"""The trace file's tables, and the meta keys the writer owns."""

from __future__ import annotations

SCHEMA_VERSION = 1
FORMAT = "tracer-trace"
SQLITE_MAGIC = b"SQLite format 3\x00"

DDL = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        time_ns INTEGER,
        kind TEXT NOT NULL,
        cpu INTEGER,
        pid INTEGER,
        nr INTEGER,
        summary TEXT,
        payload TEXT NOT NULL
    )""",
    "CREATE INDEX events_kind ON events (kind, seq)",
    "CREATE INDEX events_cpu ON events (cpu, seq)",
    "CREATE INDEX events_pid ON events (pid, seq)",
    "CREATE INDEX events_time ON events (time_ns)",
)

# Meta keys only the writer sets (set_meta refuses them).
META_FORMAT = "format"
META_SCHEMA_VERSION = "schema_version"
META_COMPLETE = "complete"  # "0" while writing, "1" once closed
META_STARTED_AT = "started_at"  # wall clock, ISO 8601 UTC
META_ENDED_AT = "ended_at"
META_END_TIME_NS = "end_time_ns"  # time_ns of the last event
META_EVENT_COUNT = "event_count"  # kept current with every committed batch
META_EVENT_COUNTS = "event_counts"  # JSON {kind: count}, kept current too
META_TIME_ORDERED = "time_ordered"  # "1" while time_ns never decreases along seq
META_ANALYSIS = "analysis"  # JSON {version, events, through_seq}: see tracer.store.analysis
META_MARKS = "marks"  # JSON {version, events, through_seq}: see tracer.store.marks
RESERVED_META = frozenset(
    {
        META_FORMAT,
        META_SCHEMA_VERSION,
        META_COMPLETE,
        META_STARTED_AT,
        META_ENDED_AT,
        META_END_TIME_NS,
        META_EVENT_COUNT,
        META_EVENT_COUNTS,
        META_TIME_ORDERED,
        META_ANALYSIS,
        META_MARKS,
    }
)
