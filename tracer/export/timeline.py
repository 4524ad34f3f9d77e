"""What the Chrome and Perfetto exporters draw, from a call forest: nested slices per thread and
per CPU, instants, and FS/GS/KERNEL_GS_BASE counters.

Every event has host capture time and only function events may have guest time, so the timeline
is on the host clock (ns since the capture started). A call's guest-time duration travels in its
args (`guest_ns`), or `guest_ns: "unknown"`: host time never stands in for it. Nesting is
guaranteed: a child is clamped into its parent and after its previous sibling.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass, field
from typing import TypeAlias

from tracer.analysis.callgraph import CallForest, CallNode, CpuRun, NodeKind, TaskCalls, task_key
from tracer.decode.x86 import BASE_NAMES
from tracer.events import (
    Event,
    FuncEntry,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    Symbolizer,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)
from tracer.export.labels import comment_text, node_name, syscall_text

ArgValue: TypeAlias = str | int | bool | None
Args: TypeAlias = tuple[tuple[str, ArgValue], ...]

CLOCK_NOTE = (
    "timestamps: host capture clock (ns since the capture started); guest-time "
    "durations of calls are in args.guest_ns"
)
KERNEL_TASK_TID = 1 << 22  # + cpu: pid 0, the kernel's own thread, once per CPU


@dataclass(eq=False, slots=True)
class Slice:
    name: str
    category: str  # call, syscall, irq, run
    start_ns: int
    end_ns: int
    args: Args = ()
    children: list[Slice] = field(default_factory=list)

    def walk(self, depth: int = 0) -> list[tuple[int, Slice]]:
        out = [(depth, self)]
        for child in self.children:
            out.extend(child.walk(depth + 1))
        return out


@dataclass(frozen=True, slots=True)
class Instant:
    name: str
    category: str  # msr, tls, process
    time_ns: int
    args: Args = ()


@dataclass(frozen=True, slots=True)
class Thread:
    pid: int
    tid: int
    name: str


@dataclass(slots=True)
class Timeline:
    processes: dict[int, str] = field(default_factory=dict)
    threads: list[Thread] = field(default_factory=list)
    thread_slices: dict[int, list[Slice]] = field(default_factory=dict)  # by tid
    thread_instants: dict[int, list[Instant]] = field(default_factory=dict)
    cpu_slices: dict[int, list[Slice]] = field(default_factory=dict)  # runs, by cpu
    counters: dict[tuple[str, int], list[tuple[int, int]]] = field(default_factory=dict)


def thread_id(key: tuple[int, int | None]) -> int:
    pid, cpu = key
    return KERNEL_TASK_TID + cpu if cpu is not None else pid


def build_timeline(forest: CallForest, symbolize: Symbolizer | None = None) -> Timeline:
    if symbolize is not None:
        symbolize = functools.lru_cache(maxsize=65536)(symbolize)
    timeline = Timeline()
    task_slices: dict[tuple[int, int | None], list[Slice]] = {}
    for key, task in forest.tasks.items():
        tid = thread_id(key)
        name = forest.task_name(task.pid)
        timeline.processes.setdefault(task.pid, "kernel" if task.pid == 0 else name)
        label = f"{name}/{task.cpu}" if task.cpu is not None else name
        timeline.threads.append(Thread(task.pid, tid, label))
        builder = _TaskSlices(task, symbolize)
        slices = builder.build()
        task_slices[key] = slices
        timeline.thread_slices[tid] = slices
        timeline.thread_instants[tid] = builder.instants
        _add_counters(timeline, task)
    for run in forest.runs:
        slices = task_slices.get(task_key(run.pid, run.cpu), [])
        timeline.cpu_slices.setdefault(run.cpu, []).append(_run_slice(forest, run, slices))
    for series in timeline.counters.values():
        series.sort()
    return timeline


class _TaskSlices:
    def __init__(self, task: TaskCalls, symbolize: Symbolizer | None) -> None:
        self.task = task
        self.symbolize = symbolize
        self.instants: list[Instant] = []

    def build(self) -> list[Slice]:
        return self._level(self.task.roots, self.task.first_time_ns, math.inf)

    def _level(self, nodes: list[CallNode], lower: int, upper: float) -> list[Slice]:
        out: list[Slice] = []
        cursor = lower
        for node in nodes:
            if node.kind is NodeKind.COMMENT:
                self._instant(node.event)
                continue
            start = node.entry.time_ns if node.entry is not None else cursor
            start = int(min(max(start, cursor), upper))
            end = self._raw_end(node)
            end = int(min(max(end, start), upper))
            piece = Slice(
                node_name(node, self.symbolize), node.kind.value, start, end, self._args(node)
            )
            piece.children = self._level(node.children, start, end)
            out.append(piece)
            cursor = end
        return out

    def _raw_end(self, node: CallNode) -> int:
        if node.exit is not None:
            return node.exit.time_ns
        if node.close_time_ns is not None:
            return node.close_time_ns
        return self.task.last_time_ns

    def _args(self, node: CallNode) -> Args:
        args: list[tuple[str, ArgValue]] = [("ending", (node.ending or "open").__str__())]
        if node.entry is None:
            args.append(("entered", "before the trace"))
        if node.kind is NodeKind.CALL:
            duration = node.duration_ns
            args.append(("addr", f"{node.addr:#x}"))
            args.append(("guest_ns", duration if duration is not None else "unknown"))
            if node.retval is not None:
                args.append(("retval", f"{node.retval:#x}"))
            if isinstance(node.entry, FuncEntry):
                args.append(("source", node.entry.source))
        elif node.kind is NodeKind.SYSCALL:
            args.append(("text", syscall_text(node)))
            if isinstance(node.entry, SyscallEntry):
                args.append(("user_rip", f"{node.entry.user_rip:#x}"))
        elif isinstance(node.entry, Interrupt):
            args += [
                ("vector", node.addr),
                ("from_ring", node.entry.from_ring),
                ("rip", f"{node.entry.rip:#x}"),
            ]
        return tuple(args)

    def _instant(self, event: Event) -> None:
        text = comment_text(event, self.symbolize)
        if isinstance(event, MsrWrite):
            name, category = text.split(" -> ")[0], "msr"
            args: Args = (
                ("msr", f"{event.msr:#x}"),
                ("new", f"{event.new:#x}"),
                ("old", None if event.old is None else f"{event.old:#x}"),
                ("pc", f"{event.pc:#x}"),
                ("text", text),
            )
        elif isinstance(event, SegBaseChange):
            name, category = f"{BASE_NAMES[event.which]} switch", "tls"
            args = (
                ("old", f"{event.old:#x}"),
                ("new", f"{event.new:#x}"),
                ("cause", event.cause.value),
                ("old_owner", event.old_owner),
                ("new_owner", event.new_owner),
                ("pc", f"{event.pc:#x}"),
            )
        elif isinstance(event, TlsSnapshot):
            name, category = "TLS snapshot", "tls"
            args = (
                ("fs_base", f"{event.fs_base:#x}"),
                ("owner", event.owner),
                ("self_pointer_ok", event.self_pointer_ok),
                ("text", text),
            )
        elif isinstance(event, ProcessEvent):
            name, category = f"{event.name} exited", "process"
            args = (("status", event.status),)
        else:
            name, category, args = text, "event", ()
        self.instants.append(Instant(name, category, event.time_ns, args))


def _add_counters(timeline: Timeline, task: TaskCalls) -> None:
    for node in task.walk():
        if node.kind is NodeKind.COMMENT and isinstance(node.entry, SegBaseChange):
            change = node.entry
            series = timeline.counters.setdefault((BASE_NAMES[change.which], change.cpu), [])
            series.append((change.time_ns, change.new))
        elif node.kind is NodeKind.SYSCALL:
            for event in (node.entry, node.exit):
                if isinstance(event, SyscallEntry | SyscallExit):
                    for which, name in BASE_NAMES.items():
                        series = timeline.counters.setdefault((name, event.cpu), [])
                        series.append((event.time_ns, event.bases.get(which)))  # type: ignore[arg-type]


def _run_slice(forest: CallForest, run: CpuRun, slices: list[Slice]) -> Slice:
    """A task's stretch on a CPU, with the parts of its slices that fall inside it."""
    name = f"{forest.task_name(run.pid)}-{run.pid}"
    piece = Slice(name, "run", run.start_ns, run.end_ns, (("pid", run.pid),))
    piece.children = _clip(slices, run.start_ns, run.end_ns)
    return piece


def _clip(slices: list[Slice], lo: int, hi: int) -> list[Slice]:
    """Copies of the slices overlapping [lo, hi], cut to it (a zero-width slice on the
    boundary of two runs shows in both)."""
    out: list[Slice] = []
    first = bisect.bisect_left(slices, lo, key=lambda s: s.end_ns)  # siblings do not overlap
    for piece in slices[first:]:
        if piece.start_ns > hi or (piece.start_ns == hi and piece.end_ns > hi):
            break
        if piece.end_ns == lo and piece.start_ns < lo:
            continue
        start, end = max(piece.start_ns, lo), min(piece.end_ns, hi)
        clipped = Slice(piece.name, piece.category, start, end, piece.args)
        clipped.children = _clip(piece.children, start, end)
        out.append(clipped)
    return out
