"""What the TUI learns once from a trace: process names, MSR history, and who owns an address.

Fed with events in any order (each list is kept sorted by seq), so the rare kinds can be read at
open and the common ones (syscalls, base changes) scanned later in the background.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.analysis.tls import OwnerKind, TlsOwners
from tracer.decode.flags_proc import ARCH_SET_GS
from tracer.decode.msr import MSR_FS_BASE, MSR_KERNEL_GS_BASE
from tracer.decode.syscall_table import NR_ARCH_PRCTL
from tracer.decode.x86 import KERNEL_HALF, is_kernel_address
from tracer.events import (
    ContextSwitch,
    Event,
    EventKind,
    MsrRead,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegReg,
    SyscallEntry,
)

RARE_KINDS = (EventKind.MSR_WRITE, EventKind.MSR_READ, EventKind.PROCESS)
"""Read whole at open: a trace has few of them."""

OWNER_KINDS = (
    EventKind.SYSCALL_ENTRY, EventKind.SEGBASE, EventKind.CONTEXT_SWITCH, EventKind.MSR_WRITE,
    EventKind.MSR_READ, EventKind.PROCESS,
)  # fmt: skip
"""Scanned in seq order in the background: arch_prctl calls, GS_BASE writes and base changes
give owners (a Linux capture, armed after the boot, reads the per-CPU area's GS_BASE instead
of seeing it written); process starts and context switches name the threads."""


def in_kernel(pc: int | None) -> bool:
    return pc is not None and is_kernel_address(pc)


def event_pid(event: Event) -> int | None:
    """The process an event belongs to (a context switch: the one switched to)."""
    if isinstance(event, ContextSwitch):
        return event.next_pid
    return getattr(event, "pid", None)


@dataclass(frozen=True, slots=True)
class MsrValue:
    """An MSR's value as last seen: written by `wrmsr` or read on demand."""

    msr: int
    value: int
    seq: int
    cpu: int
    how: str  # "wrmsr" or "rdmsr"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose block an address is, from the moment `since` (a seq) on."""

    label: str
    since: int


@dataclass
class _History:
    seqs: list[int] = field(default_factory=list)
    values: list[MsrValue] = field(default_factory=list)

    def add(self, value: MsrValue) -> None:
        at = bisect.bisect_left(self.seqs, value.seq)
        if at < len(self.seqs) and self.seqs[at] == value.seq:
            return
        self.seqs.insert(at, value.seq)
        self.values.insert(at, value)

    def at(self, seq: int, cpu: int | None) -> MsrValue | None:
        """The last value at or before `seq`, on `cpu` if that CPU has one, else on any CPU."""
        end = bisect.bisect_right(self.seqs, seq)
        fallback = None
        for position in range(end - 1, -1, -1):
            value = self.values[position]
            if cpu is None or value.cpu == cpu:
                return value
            if fallback is None:
                fallback = value
        return fallback


class TraceIndex:
    """Process names, MSR values over time and the owners of FS/GS base values.

    Names and MSR values may be fed in any order (`feed`); owners are learned in seq order
    (`learn_owners`) by `tracer.analysis.tls.TlsOwners`, whose rules and labels
    (`app-tcb[hello:1]`, `percpu[cpu0]`, `kernel-tcb[thread 3]`) the checker and the reports
    share; the index remembers from which seq each label holds.
    """

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self._msrs: dict[int, _History] = {}
        self._owners: dict[tuple[int | None, int], list[Owner]] = {}  # (pid or None, value)
        self._rules = TlsOwners()
        self.owner_scan_done = False
        self.owners_scanned_to: int = -1  # owners are complete for moments up to this seq

    def feed(self, events: Iterable[Event]) -> None:
        """Names and MSR history, from events in any order."""
        for event in events:
            self._feed_one(event)

    def feed_live(self, events: Iterable[Event]) -> None:
        """A live batch, in seq order: everything, owners included."""
        events = list(events)
        self.feed(events)
        self.learn_owners(events)

    def _feed_one(self, event: Event) -> None:
        if isinstance(event, ProcessEvent):
            if event.action == "start" or event.pid not in self.names:
                self.names[event.pid] = event.name
        elif isinstance(event, MsrWrite | MsrRead):
            value = event.new if isinstance(event, MsrWrite) else event.value
            how = "wrmsr" if isinstance(event, MsrWrite) else "rdmsr"
            history = self._msrs.setdefault(event.msr, _History())
            history.add(MsrValue(event.msr, value, event.seq, event.cpu, how))
        elif isinstance(event, ContextSwitch):
            for pid, name in ((event.prev_pid, event.prev_name), (event.next_pid, event.next_name)):
                if name and pid not in self.names:
                    self.names[pid] = name

    def learn_owners(self, events: Iterable[Event]) -> None:
        """Owner evidence from events in seq order (the kinds in OWNER_KINDS and RARE_KINDS)."""
        for event in events:
            self._rules.learn(event)
            pid = event_pid(event)
            for value, which in _labelled_values(event):
                if not value:
                    continue
                label = self._rules.owner(value, which, pid)
                if (
                    isinstance(event, SegBaseChange)
                    and event.new_owner not in (None, "", OwnerKind.UNKNOWN)
                    and value == event.new
                ):
                    label = event.new_owner  # the capture named it: that wins
                if label in (None, OwnerKind.UNKNOWN, OwnerKind.ZERO):
                    continue
                key = _key(value, pid)
                if self._label_at(key, event.seq) != label:
                    self._owners.setdefault(key, []).append(Owner(label, event.seq))
            self.owners_scanned_to = max(self.owners_scanned_to, event.seq)

    def _label_at(self, key: tuple[int | None, int], seq: int) -> str | None:
        owners = self._owners.get(key)
        if not owners:
            return None
        at = bisect.bisect_right(owners, seq, key=lambda o: o.since)
        return owners[at - 1].label if at else None

    def msr_at(self, msr: int, seq: int, cpu: int | None = None) -> MsrValue | None:
        history = self._msrs.get(msr)
        return history.at(seq, cpu) if history else None

    def msrs_seen(self) -> list[int]:
        return sorted(self._msrs)

    def owner(self, value: int, seq: int, pid: int | None = None) -> str | None:
        """Who `value` belongs to at `seq` (in `pid`'s address space for a user address):
        "zero", a label like `percpu[cpu0]` or `app-tcb[hello:1]`, or None."""
        if value == 0:
            return OwnerKind.ZERO
        label = self._label_at(_key(value, pid), seq)
        if label is None and value < KERNEL_HALF and pid is None:
            labels = (self._label_at(key, seq) for key in self._owners if key[1] == value)
            label = next((found for found in labels if found), None)
        return label

    def process_label(self, pid: int | None) -> str:
        if pid is None:
            return ""
        name = self.names.get(pid, "kernel" if pid == 0 else "?")
        return f"{pid}:{name}"


def _key(value: int, pid: int | None) -> tuple[int | None, int]:
    """User addresses mean something per address space (two copies of a program put their
    TCBs at the same address); kernel addresses are the same for everyone."""
    return (None, value) if value >= KERNEL_HALF else (pid, value)


def _labelled_values(event: Event) -> tuple[tuple[int, SegReg], ...]:
    """The values an event can give an owner to (what `TlsOwners.learn` labels)."""
    if isinstance(event, SyscallEntry) and event.nr == NR_ARCH_PRCTL:
        return ((event.args[1], "gs" if event.args[0] == ARCH_SET_GS else "fs"),)
    if isinstance(event, MsrWrite):
        which: SegReg = {MSR_FS_BASE: "fs", MSR_KERNEL_GS_BASE: "kgs"}.get(event.msr, "gs")  # type: ignore[assignment]
        return ((event.new, which),)
    if isinstance(event, SegBaseChange):
        return ((event.new, event.which),)
    return ()
