"""Every event as one JSON object per line (the same objects as `tracer report --json`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tracer.events import Event, SyscallEntry, SyscallExit
from tracer.export.labels import syscall_line


def event_to_json(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready dict (bytes as hex, regs as an object)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == "regs":
            value = dict(value)
        elif f.name == "memory":
            value = {str(i): (None if d is None else d.hex()) for i, d in value}
        elif f.name == "bases":
            value = dataclasses.asdict(value)
        elif f.name == "args":
            value = list(value)
        elif hasattr(value, "value"):
            value = value.value
        out[f.name] = value
    if isinstance(event, SyscallEntry):
        out["text"] = syscall_line(event, None)
    return out


def json_lines(events: Iterable[Event]) -> Iterator[str]:
    """Every event as JSON; a syscall exit's `text` is the whole strace line, its out-parameters
    decoded (the same decoding as the report and the TUI)."""
    pending: dict[int, SyscallEntry] = {}
    for event in events:
        out = event_to_json(event)
        if isinstance(event, SyscallEntry):
            pending[event.pid] = event
        elif isinstance(event, SyscallExit) and event.pid in pending:
            out["text"] = syscall_line(pending.pop(event.pid), event)
        yield json.dumps(out, separators=(",", ":"))


def write_jsonl(events: Iterable[Event], out: IO[str]) -> int:
    """Write one line per event; returns the number of lines."""
    count = 0
    for line in json_lines(events):
        out.write(line)
        out.write("\n")
        count += 1
    return count
