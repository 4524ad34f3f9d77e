"""The function-graph tab in ftrace's function_graph layout, for the events around a moment.

    0)               |  do_syscall_64() {
    0)   0.412 us    |    ksys_write();
    0)   1.020 us    |  }

Durations come from guest time (`guest_ns`) only: host time between two stops is not how long
the guest ran, so without guest time the column stays empty. Other events sit inline as
`/* ... */` comments at the current depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracer.events import Event, FuncEntry, FuncExit, SyscallEntry, SyscallExit
from tracer.tui.view_models.rows import Symbolizer, summarize

MARKERS = ((1e9, "$"), (1e8, "@"), (1e7, "*"), (1e6, "#"), (1e5, "!"), (1e4, "+"))


@dataclass(frozen=True, slots=True)
class GraphLine:
    seq: int
    text: str
    style: str = "func"  # func, leaf, close, comment


def duration_column(ns: int | None) -> str:
    """ftrace's duration column: marker, value in µs, unit; blank when unknown."""
    if ns is None:
        return " " * 13
    marker = next((m for limit, m in MARKERS if ns > limit), " ")
    return f"{marker} {ns / 1000:8.3f} us"


def _name(addr: int, symbolize: Symbolizer | None) -> str:
    return (symbolize(addr) if symbolize else None) or f"{addr:#x}"


def _span(entry: FuncEntry, exit_: FuncExit) -> int | None:
    if entry.guest_ns is None or exit_.guest_ns is None:
        return None
    return exit_.guest_ns - entry.guest_ns


def graph_lines(events: Sequence[Event], symbolize: Symbolizer | None = None) -> list[GraphLine]:
    lines: list[GraphLine] = []
    stack: list[FuncEntry] = []
    depth = 0
    position = 0
    while position < len(events):
        event = events[position]
        cpu = getattr(event, "cpu", 0)
        prefix = f"{cpu:>2}) "
        if isinstance(event, FuncEntry):
            depth = event.depth
            following = events[position + 1] if position + 1 < len(events) else None
            indent = "  " * (depth + 1)
            name = _name(event.addr, symbolize)
            if isinstance(following, FuncExit) and following.addr == event.addr:
                column = duration_column(_span(event, following))
                lines.append(GraphLine(event.seq, f"{prefix}{column} | {indent}{name}();", "leaf"))
                position += 2
                continue
            stack.append(event)
            lines.append(
                GraphLine(event.seq, f"{prefix}{duration_column(None)} | {indent}{name}() {{")
            )
            depth += 1
        elif isinstance(event, FuncExit):
            entry = stack.pop() if stack and stack[-1].addr == event.addr else None
            depth = event.depth
            span = _span(entry, event) if entry is not None else None
            indent = "  " * (depth + 1)
            tail = f" /* {_name(event.addr, symbolize)} */" if entry is None else ""
            lines.append(
                GraphLine(event.seq, f"{prefix}{duration_column(span)} | {indent}}}{tail}", "close")
            )
        elif isinstance(event, SyscallEntry | SyscallExit):
            text, _ = summarize(event)
            indent = "  " * (depth + 1)
            lines.append(
                GraphLine(
                    event.seq, f"{prefix}{duration_column(None)} | {indent}/* {text} */", "comment"
                )
            )
        else:
            text, _ = summarize(event, symbolize=symbolize)
            indent = "  " * (depth + 1)
            lines.append(
                GraphLine(
                    event.seq,
                    f"{prefix}{duration_column(None)} | {indent}/* {event.kind.value}: {text} */",
                    "comment",
                )
            )
        position += 1
    return lines
