"""Who owns an FS/GS base value, from which seq on: the owners a viewer looks up by moment.

`OwnerHistory` learns from events in seq order through `tracer.tls_owners.TlsOwners`, whose
rules and labels (`app-tcb[hello:1]`, `percpu[cpu0]`, `kernel-tcb[thread 3]`) the checker and
the reports share, and remembers from which seq each label holds. A trace writer keeps one as
events arrive and stores its rows (`take_new`); a reader loads them back (`load`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.decode.flags_proc import ARCH_SET_GS
from tracer.decode.msr import MSR_FS_BASE, MSR_KERNEL_GS_BASE
from tracer.decode.syscall_table import NR_ARCH_PRCTL
from tracer.decode.x86 import KERNEL_HALF
from tracer.events import (
    ContextSwitch,
    Event,
    EventKind,
    MsrWrite,
    SegBaseChange,
    SegReg,
    SyscallEntry,
)
from tracer.tls_owners import OwnerKind, TlsOwners

OWNER_KINDS = (
    EventKind.SYSCALL_ENTRY, EventKind.SEGBASE, EventKind.CONTEXT_SWITCH, EventKind.MSR_WRITE,
    EventKind.MSR_READ, EventKind.PROCESS,
)  # fmt: skip
"""The kinds owners are learned from: arch_prctl calls, GS_BASE writes and base changes give
owners (a Linux capture, armed after the boot, reads the per-CPU area's GS_BASE instead of
seeing it written); process starts and context switches name the threads."""

_OWNER_KIND_VALUES = frozenset(kind.value for kind in OWNER_KINDS)

OwnerKey = tuple[int | None, int]
"""(pid, value) for a user address, (None, value) for a kernel one."""

OwnerRow = tuple[int | None, int, int, str]
"""(pid or None, value, since seq, label): one stored row."""


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose block an address is, from the moment `since` (a seq) on."""

    label: str
    since: int


def event_pid(event: Event) -> int | None:
    """The process an event belongs to (a context switch: the one switched to)."""
    if isinstance(event, ContextSwitch):
        return event.next_pid
    return getattr(event, "pid", None)


@dataclass
class OwnerHistory:
    owners: dict[OwnerKey, list[Owner]] = field(default_factory=dict)
    rules: TlsOwners = field(default_factory=TlsOwners)
    new_rows: list[OwnerRow] = field(default_factory=list)  # learned since `take_new`
    keep_new: bool = False

    def learn(self, events: Iterable[Event], all_kinds: bool = True) -> None:
        """Owner evidence from events in seq order; with `all_kinds` False, events not of
        OWNER_KINDS are skipped (what a scan of those kinds alone would have seen)."""
        for event in events:
            if not all_kinds and event.kind.value not in _OWNER_KIND_VALUES:
                continue
            self.rules.learn(event)
            values = _labelled_values(event)
            if not values:
                continue
            pid = event_pid(event)
            for value, which in values:
                if not value:
                    continue
                label = self.rules.owner(value, which, pid)
                if (
                    isinstance(event, SegBaseChange)
                    and event.new_owner not in (None, "", OwnerKind.UNKNOWN)
                    and value == event.new
                ):
                    label = event.new_owner  # the capture named it: that wins
                if label in (None, OwnerKind.UNKNOWN, OwnerKind.ZERO):
                    continue
                key = _key(value, pid)
                if self.label_at(key, event.seq) != label:
                    self.owners.setdefault(key, []).append(Owner(label, event.seq))
                    if self.keep_new:
                        self.new_rows.append((key[0], key[1], event.seq, label))

    def take_new(self) -> list[OwnerRow]:
        rows, self.new_rows = self.new_rows, []
        return rows

    def rows(self) -> list[OwnerRow]:
        return [
            (key[0], key[1], owner.since, owner.label)
            for key, owners in self.owners.items()
            for owner in owners
        ]

    def load(self, rows: Iterable[OwnerRow]) -> None:
        """Rows as `rows()` or `take_new()` gave them (in any order)."""
        for pid, value, since, label in rows:
            self.owners.setdefault((pid, value), []).append(Owner(label, since))
        for owners in self.owners.values():
            owners.sort(key=lambda owner: owner.since)

    def label_at(self, key: OwnerKey, seq: int) -> str | None:
        owners = self.owners.get(key)
        if not owners:
            return None
        at = bisect.bisect_right(owners, seq, key=lambda o: o.since)
        return owners[at - 1].label if at else None

    def owner(self, value: int, seq: int, pid: int | None = None) -> str | None:
        """Who `value` belongs to at `seq` (in `pid`'s address space for a user address):
        "zero", a label like `percpu[cpu0]` or `app-tcb[hello:1]`, or None."""
        if value == 0:
            return OwnerKind.ZERO
        label = self.label_at(_key(value, pid), seq)
        if label is None and value < KERNEL_HALF and pid is None:
            labels = (self.label_at(key, seq) for key in self.owners if key[1] == value)
            label = next((found for found in labels if found), None)
        return label


def _key(value: int, pid: int | None) -> OwnerKey:
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
