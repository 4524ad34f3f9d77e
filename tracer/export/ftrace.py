"""Linux's function_graph text (kernel/trace/trace_functions_graph.c) from a call forest.

Columns, duration markers, the interrupt arrows and the context-switch block are ftrace's; the
options are its funcgraph-* flags, max_graph_depth and tracing_thresh. Durations are guest time:
a call without it shows `? us`, and the header says why.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import NamedTuple

from tracer.analysis.callgraph import CallForest, CallNode, Ending, NodeKind, build_call_tree
from tracer.events import ContextSwitch, Event, FuncEntry, FuncExit, Gap, Symbolizer
from tracer.export.ftrace_columns import (
    abstime_column,
    duration_column,
    duration_mark,
    format_duration,
    proc_column,
    retval_text,
)
from tracer.export.graph_options import GraphOptions, add_graph_arguments, options_from_args
from tracer.export.labels import (
    comment_text,
    function_name,
    irq_comment,
    syscall_entry_comment,
    syscall_exit_comment,
)

INDENT = 2  # TRACE_GRAPH_INDENT
SEPARATOR = " ------------------------------------------"
FILL_FULL = "              |  "
END = math.inf  # where lines closing calls still open at the end of the trace sort

__all__ = [
    "GraphLine",
    "GraphOptions",
    "abstime_column",
    "add_graph_arguments",
    "duration_column",
    "duration_mark",
    "format_duration",
    "forest_lines",
    "graph_lines",
    "graph_rows",
    "normalize_graph",
    "options_from_args",
    "proc_column",
    "retval_text",
]

_NORMALIZE = (
    (re.compile(r"[ +!#*@$] \d+(?:\.\d+)? us +\|"), "  <dur> us    |"),
    (re.compile(r"^( *)\d+\.\d{6} \|"), r"\1<time>.000000 |"),
    (re.compile(r"0x[0-9a-f]{5,}"), "0x<addr>"),
)


class _Col(Enum):
    FILL = "fill"  # no duration: an entry `{` or a comment
    DURATION = "duration"
    ARROW = "arrow"
    SWITCH = "switch"
    GAP = "gap"


class _Row(NamedTuple):
    seq: float
    col: _Col
    cpu: int
    pid: int
    stamp_ns: int | None
    duration_ns: int | None
    depth: int
    text: str
    switch: ContextSwitch | None = None
    opens: bool = False


def graph_lines(
    events: Iterable[Event],
    options: GraphOptions | None = None,
    symbolize: Symbolizer | None = None,
) -> Iterator[str]:
    """function_graph lines for a trace's events (in seq order)."""
    options = options or GraphOptions()
    forest = build_call_tree(filter_events(events, options))
    yield from forest_lines(forest, options, symbolize)


def filter_events(events: Iterable[Event], options: GraphOptions) -> Iterator[Event]:
    start, end = options.time_range or (None, None)
    for event in events:
        if start is not None and event.time_ns < start:
            continue
        if end is not None and event.time_ns >= end:
            continue
        if options.pid is not None:
            if isinstance(event, ContextSwitch):
                if options.pid not in (event.prev_pid, event.next_pid):
                    continue
            elif getattr(event, "pid", options.pid) != options.pid:
                continue
        yield event


class GraphLine(NamedTuple):
    """One output line and the event it came from (None: closing a call at the trace's end),
    so a view can keep the graph in step with a selected event."""

    seq: int | None
    cpu: int
    pid: int
    text: str
    opens: bool = False  # `f() {` or folded `f() { ... }`: a call a view can fold by `seq`


def forest_lines(
    forest: CallForest, options: GraphOptions | None = None, symbolize: Symbolizer | None = None
) -> Iterator[str]:
    """function_graph lines for a built forest, header included when asked."""
    options = options or GraphOptions()
    renderer = _Renderer(forest, options, _cached(symbolize))
    if options.header:
        yield from renderer.header()
    for line in renderer.rows():
        yield line.text


def graph_rows(
    forest: CallForest, options: GraphOptions | None = None, symbolize: Symbolizer | None = None
) -> Iterator[GraphLine]:
    """The graph's lines without the header, each with its event's seq, cpu and pid."""
    yield from _Renderer(forest, options or GraphOptions(), _cached(symbolize)).rows()


def _cached(symbolize: Symbolizer | None) -> Symbolizer | None:
    if symbolize is None:
        return None
    names: dict[int, str | None] = {}

    def lookup(addr: int) -> str | None:
        if addr not in names:
            names[addr] = symbolize(addr)
        return names[addr]

    return lookup


def normalize_graph(line: str) -> str:
    """A graph line with durations, absolute times and long addresses replaced by
    placeholders (uftrace's way of comparing graphs from different runs)."""
    for pattern, replacement in _NORMALIZE:
        line = pattern.sub(replacement, line)
    return line


# -- rendering ----------------------------------------------------------------------------------


class _Renderer:
    def __init__(
        self, forest: CallForest, options: GraphOptions, symbolize: Symbolizer | None
    ) -> None:
        self.forest = forest
        self.options = options
        self.symbolize = symbolize
        self.guest_clock = forest.timed_calls > 0
        self.cpu_width = len(str(max(forest.cpus, default=0)))
        self.visible: dict[int, bool] = {}
        self.switch_seqs: dict[int, list[int]] = {}  # per CPU, in seq order
        for switch in forest.switches:
            self.switch_seqs.setdefault(switch.cpu, []).append(switch.seq)

    # header

    def header(self) -> Iterator[str]:
        options = self.options
        yield "# tracer: function_graph"
        yield "#"
        notes = self.notes()
        yield from (f"# {note}" for note in notes)
        if notes:
            yield "#"
        columns = [(options.abstime, "     TIME       ", "      |         "),
                   (options.cpu, " CPU", " |  "),
                   (options.proc, "  TASK/PID       ", "   |    |        "),
                   (options.duration, "  DURATION   ", "   |   |      ")]  # fmt: skip
        shown = [(name, bar) for wanted, name, bar in columns if wanted]
        yield "#" + "".join(name for name, _ in shown) + "               FUNCTION CALLS"
        yield "#" + "".join(bar for _, bar in shown) + "               |   |   |   |"

    def notes(self) -> list[str]:
        forest, notes = self.forest, []
        if forest.calls == 0:
            notes.append("no function entry/exit events: syscalls, interrupts and switches only")
        elif forest.durations_known:
            notes.append("durations: guest time")
        else:
            unknown = forest.calls - forest.timed_calls
            notes.append(
                f"durations: guest time unknown for {unknown} of {forest.calls} calls "
                "(shown as `? us`); host time is not shown as guest time"
            )
        if self.options.abstime:
            notes.append(
                "TIME: guest clock (blank where an event has none)"
                if self.guest_clock
                else "TIME: host clock, since the capture started (no guest time)"
            )
        return notes

    # rows

    def rows(self) -> Iterator[GraphLine]:
        streams: list[Iterable[_Row]] = [
            self._task_rows(task.roots) for task in self.forest.tasks.values()
        ]
        streams.append(
            _Row(s.seq, _Col.SWITCH, s.cpu, s.next_pid, None, None, 0, "", s)
            for s in self.forest.switches
        )
        streams.append(self._gap_row(gap) for gap in self.forest.gaps)
        last_pid: dict[int, int] = {}
        for row in heapq.merge(*streams, key=lambda row: row.seq):
            seq = int(row.seq) if row.seq != END else None
            if row.col is _Col.GAP:
                yield GraphLine(seq, row.cpu, row.pid, row.text)
                continue
            if row.col is _Col.SWITCH:
                assert row.switch is not None
                block = self._switch_block(row.cpu, row.switch.prev_pid, row.pid)
            elif row.seq != END and last_pid.get(row.cpu, row.pid) != row.pid:
                block = self._switch_block(row.cpu, last_pid[row.cpu], row.pid)
            else:
                block = []
            for text in block:
                yield GraphLine(seq, row.cpu, row.pid, text)
            last_pid[row.cpu] = row.pid
            if row.col is not _Col.SWITCH:
                yield GraphLine(seq, row.cpu, row.pid, self._format(row), row.opens)

    def _gap_row(self, gap: Gap) -> _Row:
        count = "?" if gap.count is None else str(gap.count)
        return _Row(gap.seq, _Col.GAP, 0, 0, None, None, 0, f"[LOST {count} EVENTS: {gap.reason}]")

    def _switch_block(self, cpu: int, prev: int, next_: int) -> list[str]:
        name = self.forest.task_name
        return [
            SEPARATOR,
            f"{self._cpu(cpu)}{proc_column(name(prev), prev)} => {proc_column(name(next_), next_)}",
            SEPARATOR,
            "",
        ]

    def _cpu(self, cpu: int) -> str:
        return f" {cpu:>{self.cpu_width}d}) "

    def _format(self, row: _Row) -> str:
        options = self.options
        prefix = abstime_column(row.stamp_ns) if options.abstime else ""
        if options.cpu:
            prefix += self._cpu(row.cpu)
        if options.proc:
            prefix += proc_column(self.forest.task_name(row.pid), row.pid) + " | "
        if row.col is _Col.ARROW:
            return prefix + ("  " + row.text + " |" if options.duration else row.text)
        if options.duration:
            prefix += (
                FILL_FULL
                if row.col is _Col.FILL
                else duration_column(row.duration_ns, options.overhead)
            )
        return prefix + " " * (row.depth * INDENT) + row.text

    def _stamp(self, event: Event | None) -> int | None:
        if event is None or not self.options.abstime:
            return None
        if self.guest_clock:
            return event.guest_ns if isinstance(event, FuncEntry | FuncExit) else None
        return event.time_ns

    def _row(
        self,
        col: _Col,
        node: CallNode,
        event: Event | None,
        text: str,
        duration: int | None = None,
        opens: bool = False,
    ) -> _Row:
        seq = (
            event.seq
            if event is not None
            else (node.close_seq if node.close_seq is not None else END)
        )
        if event is not None:
            cpu = getattr(event, "cpu", node.cpu)
        else:  # closed by another event (its exit lost) or by the trace's end
            cpu = node.close_cpu if node.close_cpu is not None else node.cpu
        return _Row(
            seq, col, cpu, node.pid, self._stamp(event), duration, node.depth, text, None, opens
        )

    def _task_rows(self, nodes: list[CallNode]) -> Iterator[_Row]:
        for node in nodes:
            if not self._is_visible(node):
                continue
            if node.kind is NodeKind.CALL:
                yield from self._call_rows(node)
            elif node.kind is NodeKind.SYSCALL:
                yield from self._syscall_rows(node)
            elif node.kind is NodeKind.IRQ:
                yield from self._irq_rows(node)
            else:
                text = f"/* {comment_text(node.event, self.symbolize)} */"
                yield self._row(_Col.FILL, node, node.entry, text)

    def _call_rows(self, node: CallNode) -> Iterator[_Row]:
        name = function_name(node.addr, self.symbolize)
        retval = node.retval if self.options.retval else None
        shown = [child for child in node.children if self._is_visible(child)]
        if node.entry is not None and node.exit is not None and not shown and self._stayed(node):
            text = f"{name}();" + (f" /* = {retval_text(retval)} */" if retval is not None else "")
            yield self._row(_Col.DURATION, node, node.entry, text, node.duration_ns)
            return
        if node.entry is not None and node.entry.seq in self.options.folded:
            yield self._row(
                _Col.DURATION, node, node.entry, f"{name}() {{ ... }}", node.duration_ns, opens=True
            )
            return
        if node.entry is not None:
            yield self._row(_Col.FILL, node, node.entry, f"{name}() {{", opens=True)
        yield from self._task_rows(shown)
        yield self._row(
            _Col.DURATION, node, node.exit, self._closing(node, name, retval), node.duration_ns
        )

    def _stayed(self, node: CallNode) -> bool:
        """Whether a call ran on one CPU without being switched out: ftrace prints `f();` only
        when the return is the next record of the entry's CPU."""
        entry, exit_ = node.entry, node.exit
        cpu = getattr(entry, "cpu", None)
        if entry is None or exit_ is None or cpu is None or cpu != getattr(exit_, "cpu", None):
            return False
        seqs = self.switch_seqs.get(cpu, [])
        after = bisect.bisect_right(seqs, entry.seq)
        return after == len(seqs) or seqs[after] > exit_.seq

    def _closing(self, node: CallNode, name: str, retval: int | None) -> str:
        """`}`, named when asked (funcgraph-tail) or when the CPU printing it never saw the
        entry: the trace began inside the call, or the task moved to another CPU in it."""
        if node.ending is Ending.RETURNED:
            if retval is not None:
                return f"}} /* {name} = {retval_text(retval)} */"
            moved = getattr(node.entry, "cpu", None) != getattr(node.exit, "cpu", None)
            named = node.entry is None or self.options.tail or moved
            return f"}} /* {name} */" if named else "}"
        why = {
            Ending.NO_EXIT: "exit not recorded",
            Ending.TASK_EXITED: "the task exited",
            Ending.TRUNCATED: "still running when the trace ended",
        }
        return f"}} /* {name}: {why.get(node.ending or Ending.TRUNCATED)} */"

    def _syscall_rows(self, node: CallNode) -> Iterator[_Row]:
        if node.entry is not None:
            text = f"/* {syscall_entry_comment(node, self.symbolize)} */"
            yield self._row(_Col.FILL, node, node.entry, text)
        yield from self._task_rows(node.children)
        text = f"/* {syscall_exit_comment(node, self.symbolize)} */"
        yield self._row(_Col.FILL, node, node.exit, text)

    def _irq_rows(self, node: CallNode) -> Iterator[_Row]:
        if node.entry is not None:
            yield self._row(_Col.ARROW, node, node.entry, "==========>")
            text = f"/* {irq_comment(node, self.symbolize)} */"
            yield self._row(_Col.FILL, node, node.entry, text)
        yield from self._task_rows(node.children)
        if node.ending is Ending.RETURNED:
            yield self._row(_Col.ARROW, node, node.exit, "<==========")
        else:
            why = (
                "return not recorded"
                if node.ending is Ending.NO_EXIT
                else "still in the handler when the trace ended"
            )
            yield self._row(_Col.FILL, node, None, f"/* interrupt: {why} */")

    # filters: max_graph_depth, tracing_thresh, funcgraph-irqs

    def _is_visible(self, node: CallNode) -> bool:
        known = self.visible.get(id(node))
        if known is None:
            known = self.visible[id(node)] = self._decide(node)
        return known

    def _decide(self, node: CallNode) -> bool:
        options = self.options
        if options.max_depth and node.depth >= options.max_depth:
            return False
        if node.kind is NodeKind.IRQ and not options.irqs:
            return False
        if not options.min_duration_ns or node.kind is NodeKind.COMMENT:
            return True
        if node.kind is NodeKind.CALL:
            duration = node.duration_ns
            if duration is None or duration >= options.min_duration_ns:
                return True  # unmeasured calls cannot be judged, so they stay
        return any(
            self._is_visible(child) for child in node.children if child.kind is not NodeKind.COMMENT
        )
