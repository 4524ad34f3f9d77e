"""The checks' first half: what the trace alone says, before the kernel's facts are known.

`TraceRules` walks events in seq order and yields `RawFinding`s: every rule's evidence with the
parameters its message needs, but nothing that depends on the kernel image (does it use FS,
which functions touch %fs:, its GDT, its symbols). `tracer.analysis.checks.render` turns them
into findings once the facts are known. The split lets a trace file store its raw findings at
write time and a reader render them in an instant with whatever kernel it has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tracer.decode.msr import MSR_FMASK, MSR_STAR, RFLAGS_MASKS
from tracer.events import (
    Event,
    Interrupt,
    MsrRead,
    MsrWrite,
    SegBaseChange,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.tls_owners import OwnerKind, TlsOwners, owner_kind

FMASK_REQUIRED = {name: RFLAGS_MASKS[name] for name in ("IF", "TF", "DF", "AC")}

KERNEL_ON_APP_TCB = "kernel-on-app-tcb"
GS_NOT_PERCPU = "gs-not-percpu-in-kernel"
STAR_GDT_MISMATCH = "star-gdt-mismatch"


@dataclass(frozen=True, slots=True)
class RawFinding:
    """One rule's evidence at one event; `data` holds what its message needs (JSON values).

    Rules whose message the trace alone decides carry it whole in `data["message"]`; the
    others carry their parameters (see `tracer.analysis.checks.render`)."""

    seq: int
    rule: str
    cpu: int | None
    pid: int | None
    pc: int | None
    data: dict[str, Any]


def canonical(addr: int) -> bool:
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1


@dataclass
class TraceRules:
    """Feed it every event in order (`scan`); it remembers owners and bases between calls."""

    owners: TlsOwners = field(default_factory=TlsOwners)
    bases: dict[int, SegBases] = field(default_factory=dict)
    kernel_tcb_seen: bool = False

    def scan(self, events: Iterable[Event]) -> Iterator[RawFinding]:
        for event in events:
            yield from self._check_one(event)
            self.owners.learn(event)
            self._track(event)

    def _raw(self, event: Event, rule: str, **data: Any) -> RawFinding:
        cpu, pid = getattr(event, "cpu", None), getattr(event, "pid", None)
        return RawFinding(event.seq, rule, cpu, pid, getattr(event, "pc", None), data)

    def _track(self, event: Event) -> None:
        if isinstance(event, SyscallEntry | SyscallExit):
            self.bases[event.cpu] = event.bases
        elif isinstance(event, SegBaseChange):
            last = self.bases.get(event.cpu, SegBases(0, 0, 0))
            values = {"fs": last.fs_base, "gs": last.gs_base, "kgs": last.kernel_gs_base}
            values[event.which] = event.new
            self.bases[event.cpu] = SegBases(values["fs"], values["gs"], values["kgs"])

    def _check_one(self, event: Event) -> Iterator[RawFinding]:
        if isinstance(event, SyscallEntry):
            yield from self._kernel_side(event, event.bases, "syscall entry")
            yield from self._pt_regs(event)
        elif isinstance(event, SyscallExit):
            yield from self._user_side(event)
        elif isinstance(event, Interrupt) and event.action == "entry":
            bases = self.bases.get(event.cpu)
            if bases is not None:
                yield from self._kernel_side(event, bases, f"{event.name} entry", gs=False)
        elif isinstance(event, SegBaseChange) and event.cause is SegCause.UNKNOWN:
            message = (
                f"{event.which.upper()} base {event.old:#x} -> {event.new:#x} with no known cause"
            )
            yield self._raw(event, "unknown-base-change", message=message)
        elif isinstance(event, MsrWrite | MsrRead):
            yield from self._msr(event)

    def _kernel_uses_fs_evidence(self) -> bool:
        """A kernel TCB has been seen in FS: the kernel runs on TCBs of its own (once true,
        true for good, as labels are never taken back)."""
        if not self.kernel_tcb_seen:
            self.kernel_tcb_seen = any(
                owner_kind(label) == OwnerKind.KERNEL_TCB for label in self.owners.labels.values()
            )
        return self.kernel_tcb_seen

    def _kernel_side(
        self, event: Event, bases: SegBases, where: str, gs: bool = True
    ) -> Iterator[RawFinding]:
        pid = getattr(event, "pid", None)
        fs_owner = self.owners.owner(bases.fs_base, "fs", pid)
        if owner_kind(fs_owner) == OwnerKind.APP_TCB:
            yield self._raw(
                event,
                KERNEL_ON_APP_TCB,
                where=where,
                owner=fs_owner,
                fs=bases.fs_base,
                evidence=self._kernel_uses_fs_evidence(),
                entry=isinstance(event, SyscallEntry),
            )
        if not gs:
            return
        # Unnamed kernel-half values are named from the symbols when rendered.
        gs_owner = self.owners.owner(bases.gs_base, "gs", pid)
        if owner_kind(gs_owner) != OwnerKind.PERCPU:
            yield self._raw(event, GS_NOT_PERCPU, where=where, gs=bases.gs_base, owner=gs_owner)
        elif (owner_cpu := percpu_cpu(gs_owner)) not in (None, getattr(event, "cpu", None)):
            message = (
                f"cpu{getattr(event, 'cpu', '?')} in ring 0 at {where} runs on "
                f"cpu{owner_cpu}'s per-CPU area ({bases.gs_base:#x}): stale GS base"
            )
            yield self._raw(event, "gs-other-cpu-percpu", message=message)

    def _user_side(self, event: SyscallExit) -> Iterator[RawFinding]:
        gs_owner = self.owners.owner(event.bases.gs_base, "gs", event.pid)
        if owner_kind(gs_owner) == OwnerKind.PERCPU:
            message = (
                f"returning to ring 3 with GS base still the per-CPU area "
                f"({event.bases.gs_base:#x}): swapgs missing or doubled"
            )
            yield self._raw(event, "gs-percpu-in-user", message=message)
        if not canonical(event.user_rip):
            message = f"return to non-canonical RIP {event.user_rip:#x}"
            yield self._raw(event, "sysret-noncanonical", message=message)

    def _pt_regs(self, event: SyscallEntry) -> Iterator[RawFinding]:
        regs = dict(event.regs)
        if not regs:
            return
        problems = []
        if "cx" in regs and regs.get("ip") != regs["cx"]:
            problems.append(f"ip {regs.get('ip', 0):#x} != RCX {regs['cx']:#x}")
        if "r11" in regs and regs.get("flags") != regs["r11"]:
            problems.append(f"flags {regs.get('flags', 0):#x} != R11 {regs['r11']:#x}")
        if not canonical(regs.get("ip", 0)) or regs.get("ip", 0) >> 47:
            problems.append(f"ip {regs.get('ip', 0):#x} is not a user address")
        if regs.get("sp", 0) >> 47:
            problems.append(f"sp {regs.get('sp', 0):#x} is not a user stack address")
        if (regs.get("cs", 3) & 3) != 3:
            problems.append(f"cs {regs.get('cs', 0):#x} is not a ring-3 selector")
        if problems:
            yield self._raw(event, "pt-regs-mismatch", message="; ".join(problems))

    def _msr(self, event: MsrWrite | MsrRead) -> Iterator[RawFinding]:
        value = event.new if isinstance(event, MsrWrite) else event.value
        if event.msr == MSR_FMASK:
            missing = [name for name, bit in FMASK_REQUIRED.items() if not value & bit]
            if missing:
                message = f"FMASK {value:#x} does not clear {'|'.join(missing)}"
                yield self._raw(event, "fmask-incomplete", message=message)
        elif event.msr == MSR_STAR:
            yield self._raw(event, STAR_GDT_MISMATCH, star=value)  # judged against the GDT


def percpu_cpu(label: str) -> int | None:
    """The CPU a `percpu[cpuN]` owner label names (None for any other label)."""
    prefix = f"{OwnerKind.PERCPU}[cpu"
    if label.startswith(prefix) and label.endswith("]") and label[len(prefix) : -1].isdigit():
        return int(label[len(prefix) : -1])
    return None
