"""Every event as one JSON object per line (the same objects as `tracer report --json`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO

from tracer.events import Event
from tracer.report import event_to_json


def write_jsonl(events: Iterable[Event], out: IO[str]) -> int:
    """Write one line per event; returns the number of lines."""
    count = 0
    for event in events:
        out.write(json.dumps(event_to_json(event), separators=(",", ":")))
        out.write("\n")
        count += 1
    return count
