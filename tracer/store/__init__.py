"""The trace file (SQLite): a streaming writer, a paged reader, and an in-memory live trace.

All readers share one API, `TraceSource`, so a view reads a live capture and a saved file alike.
Imports `tracer.events` and the standard library only.
"""

from tracer.store.api import EventFilter, TraceFileError, TraceSource
from tracer.store.memory import MemoryTrace
from tracer.store.reader import TraceReader
from tracer.store.schema import SCHEMA_VERSION
from tracer.store.writer import TraceWriter

__all__ = [
    "SCHEMA_VERSION",
    "EventFilter",
    "MemoryTrace",
    "TraceFileError",
    "TraceReader",
    "TraceSource",
    "TraceWriter",
]
