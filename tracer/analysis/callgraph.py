"""Call trees from function entry/exit events, per task, across the user/kernel boundary.

A pure view model (`build_call_tree(events)`) shared by `report --graph`, the exporters and the
TUI. Each task (pid; pid 0 once per CPU) gets a tree of nodes: function calls, syscalls (the
user -> kernel -> user crossing that holds the kernel's calls), interrupts, and events shown
inline as comments (MSR writes, base changes, TLS snapshots, exits). Events are taken in seq
order, which the capture keeps in execution order per CPU.

Durations are guest time only (`FuncEntry.guest_ns`); a call without guest time on both ends has
`duration_ns is None`, never a host-time stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from tracer.events import (
    ContextSwitch,
    Event,
    FuncEntry,
    FuncExit,
    Gap,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)

TaskKey: TypeAlias = tuple[int, int | None]
"""(pid, cpu): the cpu is set only for pid 0, the kernel's own thread, which runs on every CPU."""

COMMENT_EVENTS = (MsrWrite, SegBaseChange, TlsSnapshot)
MAX_NESTING = 200
"""Open frames per task beyond which exits must have been lost (ftrace stops at 50 calls)."""


class NodeKind(StrEnum):
    CALL = "call"
    SYSCALL = "syscall"
    IRQ = "irq"
    COMMENT = "comment"


class Ending(StrEnum):
    """How a node was closed."""

    RETURNED = "returned"  # its exit event was recorded
    NO_EXIT = "no_exit"  # an enclosing frame ended first: this exit was not recorded
    TASK_EXITED = "task_exited"  # the task ended inside it (exit_group never returns)
    TRUNCATED = "truncated"  # still open when the trace ended


@dataclass(eq=False, slots=True)
class CallNode:
    """One call, syscall, interrupt or comment. `entry` is None when it began before the trace
    did (an exit without an entry); `exit` is None unless `ending` is RETURNED."""

    kind: NodeKind
    pid: int
    cpu: int
    addr: int  # function address (CALL), vector (IRQ), syscall number (SYSCALL), 0 (COMMENT)
    entry: Event | None
    exit: Event | None = None
    ending: Ending | None = None
    close_seq: int | None = None  # seq of the exit, or of the event that forced the close
    close_time_ns: int | None = None
    close_cpu: int | None = None  # where the closing event happened (a task can move CPU)
    depth: int = 0  # CALL ancestors: the indentation level in function_graph output
    parent: CallNode | None = field(default=None, repr=False)
    children: list[CallNode] = field(default_factory=list, repr=False)

    @property
    def event(self) -> Event:
        """The event that opened the node, else the one that closed it."""
        event = self.entry if self.entry is not None else self.exit
        assert event is not None
        return event

    @property
    def seq(self) -> int:
        return self.event.seq

    @property
    def duration_ns(self) -> int | None:
        """Guest-time duration of a call, None when either end lacks guest time."""
        if not isinstance(self.entry, FuncEntry) or not isinstance(self.exit, FuncExit):
            return None
        if self.entry.guest_ns is None or self.exit.guest_ns is None:
            return None
        return self.exit.guest_ns - self.entry.guest_ns

    @property
    def retval(self) -> int | None:
        return self.exit.retval if isinstance(self.exit, FuncExit) else None

    def walk(self) -> Iterator[CallNode]:
        """This node and its descendants, depth first, in execution order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


_Inside: TypeAlias = Callable[[CallNode], bool]


@dataclass(eq=False, slots=True)
class TaskCalls:
    """One task's calls: top-level nodes in execution order."""

    pid: int
    cpu: int | None
    roots: list[CallNode] = field(default_factory=list)
    first_seq: int = 0
    last_seq: int = 0
    first_time_ns: int = 0
    last_time_ns: int = 0

    @property
    def key(self) -> TaskKey:
        return (self.pid, self.cpu)

    def walk(self) -> Iterator[CallNode]:
        for root in self.roots:
            yield from root.walk()


@dataclass(slots=True)
class CpuRun:
    """A stretch of one task on one CPU, between context switches (seen or implied)."""

    cpu: int
    pid: int
    start_seq: int
    end_seq: int
    start_ns: int
    end_ns: int
    switch: ContextSwitch | None = None  # the switch that started it, when one was recorded


@dataclass(slots=True)
class CallForest:
    tasks: dict[TaskKey, TaskCalls]
    runs: list[CpuRun]
    switches: list[ContextSwitch]
    gaps: list[Gap]
    names: dict[int, str]
    calls: int = 0  # CALL nodes
    timed_calls: int = 0  # CALL nodes with a guest-time duration

    @property
    def cpus(self) -> list[int]:
        return sorted({run.cpu for run in self.runs})

    @property
    def durations_known(self) -> bool:
        return self.calls > 0 and self.timed_calls == self.calls

    def task_name(self, pid: int) -> str:
        return self.names.get(pid) or ("<idle>" if pid == 0 else "<...>")

    def walk(self) -> Iterator[CallNode]:
        for task in self.tasks.values():
            yield from task.walk()


CallShape: TypeAlias = tuple[tuple[str, int, "CallShape"], ...]


def call_shape(nodes: Iterable[CallNode]) -> CallShape:
    """Calls, syscalls and interrupts as nested (kind, address/number, children), without
    times, comments or how they ended: what two sources of the same run must agree on."""
    return tuple(
        (node.kind.value, node.addr, call_shape(node.children))
        for node in nodes
        if node.kind is not NodeKind.COMMENT
    )


def task_key(pid: int, cpu: int) -> TaskKey:
    return (pid, cpu if pid == 0 else None)


def build_call_tree(events: Iterable[Event]) -> CallForest:
    """Build every task's call tree from events in seq order."""
    builder = _Builder()
    for event in events:
        builder.add(event)
    return builder.finish()


class _Builder:
    def __init__(self) -> None:
        self.tasks: dict[TaskKey, TaskCalls] = {}
        self.open: dict[TaskKey, CallNode | None] = {}
        self.runs: list[CpuRun] = []
        self.current_run: dict[int, CpuRun] = {}
        self.switches: list[ContextSwitch] = []
        self.gaps: list[Gap] = []
        self.names: dict[int, str] = {}

    # -- dispatch ----------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if isinstance(event, Gap):
            self.gaps.append(event)
            return
        if isinstance(event, ContextSwitch):
            self._context_switch(event)
            return
        pid = getattr(event, "pid", None)
        cpu = getattr(event, "cpu", None)
        if pid is None or cpu is None:
            return  # Note: nothing to place
        self._track_run(event, cpu, pid)
        key = task_key(pid, cpu)
        task = self._task(key, event)
        if isinstance(event, FuncEntry):
            self._push(key, CallNode(NodeKind.CALL, pid, cpu, event.addr, event))
        elif isinstance(event, FuncExit):
            self._func_exit(key, task, event)
        elif isinstance(event, SyscallEntry):
            self._push(key, CallNode(NodeKind.SYSCALL, pid, cpu, event.nr, event))
        elif isinstance(event, SyscallExit):
            self._close_or_adopt(key, task, NodeKind.SYSCALL, event.nr, event)
        elif isinstance(event, Interrupt):
            if event.action == "entry":
                self._push(key, CallNode(NodeKind.IRQ, pid, cpu, event.vector, event))
            else:
                self._close_or_adopt(key, task, NodeKind.IRQ, event.vector, event)
        elif isinstance(event, COMMENT_EVENTS):
            self._comment(key, task, event)
        elif isinstance(event, ProcessEvent):
            self.names[event.pid] = event.name
            if event.action == "exit":
                self._close_all(key, Ending.TASK_EXITED, event)
                self._comment(key, task, event)

    def finish(self) -> CallForest:
        calls = timed = 0
        for key, task in self.tasks.items():
            self._close_all(key, Ending.TRUNCATED, None)
            for node in task.walk():
                node.depth = _call_depth(node.parent)
                if node.kind is NodeKind.CALL:
                    calls += 1
                    timed += node.duration_ns is not None
        return CallForest(self.tasks, self.runs, self.switches, self.gaps, self.names, calls, timed)

    # -- tasks and CPUs ----------------------------------------------------------------------

    def _task(self, key: TaskKey, event: Event) -> TaskCalls:
        task = self.tasks.get(key)
        if task is None:
            task = TaskCalls(key[0], key[1], first_seq=event.seq, first_time_ns=event.time_ns)
            self.tasks[key] = task
            self.open[key] = None
        task.last_seq = event.seq
        task.last_time_ns = max(task.last_time_ns, event.time_ns)
        return task

    def _context_switch(self, event: ContextSwitch) -> None:
        self.switches.append(event)
        self.names.setdefault(event.prev_pid, event.prev_name)
        self.names.setdefault(event.next_pid, event.next_name)
        self._start_run(event.cpu, event.next_pid, event, event)

    def _track_run(self, event: Event, cpu: int, pid: int) -> None:
        run = self.current_run.get(cpu)
        if run is None or run.pid != pid:
            self._start_run(cpu, pid, event, None)
        else:
            run.end_seq = event.seq
            run.end_ns = max(run.end_ns, event.time_ns)

    def _start_run(self, cpu: int, pid: int, event: Event, switch: ContextSwitch | None) -> None:
        previous = self.current_run.get(cpu)
        if previous is not None:
            previous.end_seq = event.seq
            previous.end_ns = max(previous.end_ns, event.time_ns)
        run = CpuRun(cpu, pid, event.seq, event.seq, event.time_ns, event.time_ns, switch)
        self.runs.append(run)
        self.current_run[cpu] = run

    # -- the stack ---------------------------------------------------------------------------

    def _container(self, key: TaskKey) -> list[CallNode]:
        top = self.open[key]
        return top.children if top is not None else self.tasks[key].roots

    def _push(self, key: TaskKey, node: CallNode) -> None:
        top = self.open[key]
        if top is not None and top.depth + 1 >= MAX_NESTING:
            self._shed(key, node)
            top = self.open[key]
        node.depth = top.depth + 1 if top is not None else 0  # nesting while open
        node.parent = top
        self._container(key).append(node)
        self.open[key] = node

    def _shed(self, key: TaskKey, node: CallNode) -> None:
        """Too deep to be real: close the calls a new entry cannot be inside (recorded depth
        at or below its own), or failing that the whole stack, as exits not recorded."""
        entry = node.entry
        stop = self.open[key]
        if isinstance(entry, FuncEntry):
            while (
                stop is not None
                and isinstance(stop.entry, FuncEntry)
                and stop.entry.depth >= entry.depth
            ):
                stop = stop.parent
        if stop is not None and stop.depth + 1 >= MAX_NESTING:
            stop = None
        self._close_down_to(key, stop, entry)

    def _comment(self, key: TaskKey, task: TaskCalls, event: Event) -> None:
        node = CallNode(
            NodeKind.COMMENT,
            task.pid,
            getattr(event, "cpu", 0),
            0,
            event,
            ending=Ending.RETURNED,
            close_seq=event.seq,
            close_time_ns=event.time_ns,
        )
        node.parent = self.open[key]
        self._container(key).append(node)

    def _close(self, node: CallNode, ending: Ending, event: Event | None) -> None:
        node.ending = ending
        if event is not None:
            node.close_seq = event.seq
            node.close_time_ns = event.time_ns
            node.close_cpu = getattr(event, "cpu", None)
            if ending is Ending.RETURNED:
                node.exit = event

    def _close_down_to(
        self,
        key: TaskKey,
        stop: CallNode | None,
        event: Event | None,
        ending: Ending = Ending.NO_EXIT,
    ) -> None:
        """Close every open node above `stop` (which stays open)."""
        node = self.open[key]
        while node is not None and node is not stop:
            self._close(node, ending, event)
            node = node.parent
        self.open[key] = stop

    def _close_all(self, key: TaskKey, ending: Ending, event: Event | None) -> None:
        self._close_down_to(key, None, event, ending)

    def _func_exit(self, key: TaskKey, task: TaskCalls, event: FuncExit) -> None:
        node = self.open[key]
        while node is not None and node.kind is NodeKind.CALL:
            if node.addr == event.addr:
                self._close_down_to(key, node, event)
                self._close(node, Ending.RETURNED, event)
                self.open[key] = node.parent
                return
            node = node.parent
        # No open entry: the call began before the trace (or its entry was lost). Calls still
        # open above the nearest syscall/interrupt frame ran inside it and returned unseen.
        self._close_down_to(key, node, event)
        self._adopt(
            key,
            CallNode(NodeKind.CALL, event.pid, event.cpu, event.addr, None),
            event,
            lambda item: _inside_call(item, event.depth),
        )

    def _close_or_adopt(
        self,
        key: TaskKey,
        task: TaskCalls,
        kind: NodeKind,
        addr: int,
        event: SyscallExit | Interrupt,
    ) -> None:
        node = self.open[key]
        while node is not None:
            if node.kind is kind and node.addr == addr:
                self._close_down_to(key, node, event)
                self._close(node, Ending.RETURNED, event)
                self.open[key] = node.parent
                return
            node = node.parent
        # Entered before the trace: everything still open ran inside it.
        self._close_all(key, Ending.NO_EXIT, event)
        self._adopt(
            key,
            CallNode(kind, event.pid, event.cpu, addr, None),
            event,
            lambda item: item.kind is not NodeKind.SYSCALL,
        )

    def _adopt(self, key: TaskKey, node: CallNode, event: Event, inside: _Inside) -> None:
        """Close an exit-only node, making it the parent of the trailing items that ran in it."""
        container = self._container(key)
        start = len(container)
        while start > 0 and inside(container[start - 1]):
            start -= 1
        node.children = container[start:]
        del container[start:]
        for child in node.children:
            child.parent = node
        node.parent = self.open[key]
        container.append(node)
        self._close(node, Ending.RETURNED, event)


def _inside_call(item: CallNode, exit_depth: int) -> bool:
    """Whether a finished sibling ran inside a call that returned at `exit_depth`: deeper
    calls did; interrupts and comments go with their neighbours; a syscall boundary stops."""
    if item.kind is NodeKind.CALL:
        ends = item.entry if item.entry is not None else item.exit
        return isinstance(ends, FuncEntry | FuncExit) and ends.depth > exit_depth
    return item.kind is not NodeKind.SYSCALL


def _call_depth(node: CallNode | None) -> int:
    depth = 0
    while node is not None:
        depth += node.kind is NodeKind.CALL
        node = node.parent
    return depth
