"""What the TUI learns once from a trace: process names, MSR history, and who owns an address.

Fed with events in any order (each list is kept sorted by seq), so the rare kinds can be read at
open and the common ones (syscalls, base changes) scanned later in the background.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.analysis.owner_history import OWNER_KINDS, Owner, OwnerHistory, OwnerRow, event_pid
from tracer.decode.x86 import is_kernel_address
from tracer.events import ContextSwitch, Event, EventKind, MsrRead, MsrWrite, ProcessEvent

__all__ = ["OWNER_KINDS", "RARE_KINDS", "MsrValue", "Owner", "TraceIndex", "event_pid", "in_kernel"]

RARE_KINDS = (EventKind.MSR_WRITE, EventKind.MSR_READ, EventKind.PROCESS)
"""Read whole at open: a trace has few of them."""


def in_kernel(pc: int | None) -> bool:
    return pc is not None and is_kernel_address(pc)


@dataclass(frozen=True, slots=True)
class MsrValue:
    """An MSR's value as last seen: written by `wrmsr` or read on demand."""

    msr: int
    value: int
    seq: int
    cpu: int
    how: str  # "wrmsr" or "rdmsr"


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
    (`learn_owners`) by `tracer.analysis.owner_history.OwnerHistory`, or loaded whole from
    what the trace file stored (`load_owners`).
    """

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self._msrs: dict[int, _History] = {}
        self.owner_history = OwnerHistory()
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
        events = list(events)
        self.owner_history.learn(events)
        if events:
            self.owners_scanned_to = max(self.owners_scanned_to, events[-1].seq)

    def load_owners(self, rows: Iterable[OwnerRow], through_seq: int) -> None:
        """Owners a trace file stored (complete up to `through_seq`)."""
        self.owner_history.load(rows)
        self.owners_scanned_to = max(self.owners_scanned_to, through_seq)
        self.owner_scan_done = True

    def msr_at(self, msr: int, seq: int, cpu: int | None = None) -> MsrValue | None:
        history = self._msrs.get(msr)
        return history.at(seq, cpu) if history else None

    def msrs_seen(self) -> list[int]:
        return sorted(self._msrs)

    def owner(self, value: int, seq: int, pid: int | None = None) -> str | None:
        """Who `value` belongs to at `seq` (in `pid`'s address space for a user address):
        "zero", a label like `percpu[cpu0]` or `app-tcb[hello:1]`, or None."""
        return self.owner_history.owner(value, seq, pid)

    def process_label(self, pid: int | None) -> str:
        if pid is None:
            return ""
        name = self.names.get(pid, "kernel" if pid == 0 else "?")
        return f"{pid}:{name}"
