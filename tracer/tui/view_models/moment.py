"""The CPU at one moment of the trace: RIP, ring, CR3, MSRs and segment bases, with owners.

A trace records changes, not states, so the state at an event is folded from the events before
it on the same CPU: the nearest syscall stop (which carries every base and CR3), the base
changes and MSR writes after it. A window of recent events covers almost every moment; queries
by kind cover the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tracer.decode.msr import (
    CSTAR,
    MSR_EFER,
    MSR_FMASK,
    MSR_FS_BASE,
    MSR_GS_BASE,
    MSR_KERNEL_GS_BASE,
    MSR_LSTAR,
    MSR_STAR,
)
from tracer.events import (
    ContextSwitch,
    Event,
    EventKind,
    Interrupt,
    MsrRead,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SyscallEntry,
    SyscallExit,
)
from tracer.store.api import TraceSource
from tracer.tui.view_models.lookup import last_at_or_before, window_before
from tracer.tui.view_models.trace_index import (
    MsrValue,
    TraceIndex,
    event_pid,
    in_kernel,
)

CONTROL_MSRS = (MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_FMASK)
BASE_MSRS = {"fs": MSR_FS_BASE, "gs": MSR_GS_BASE, "kgs": MSR_KERNEL_GS_BASE}
BASES = ("fs", "gs", "kgs")
WINDOW = 256
NEAR_WINDOW = 16  # tried before WINDOW (`_window_for`)
_SYSCALL_KINDS = (EventKind.SYSCALL_ENTRY, EventKind.SYSCALL_EXIT)
KernelSection = Callable[[int], str | None]  # the kernel ELF section holding an address


@dataclass(frozen=True, slots=True)
class BaseValue:
    """FS base, GS base or KERNEL_GS_BASE at a moment, and where the tracer saw it."""

    value: int | None
    seq: int | None = None
    how: str = "not recorded"
    owner: str | None = None


@dataclass(frozen=True)
class Moment:
    event: Event
    cpu: int | None
    pid: int | None
    process: str
    rip: int | None
    ring: int | None
    cr3: int | None
    ring_how: str = ""  # the evidence for `ring`
    msrs: dict[int, MsrValue | None] = field(default_factory=dict)
    bases: dict[str, BaseValue] = field(default_factory=dict)

    @property
    def seq(self) -> int:
        return self.event.seq


def ring_of(
    event: Event, pc: int | None, kernel_section: KernelSection | None = None
) -> tuple[int | None, str]:
    """The ring the CPU is in at the event's pc, and the evidence. Probes and MSR accesses
    only happen in ring 0; otherwise the kernel ELF's sections decide (its 32-bit boot code
    lies low), then the canonical half, marked as a guess."""
    if pc is None:
        return None, ""
    if isinstance(event, SyscallEntry | SyscallExit):
        cs = event.reg("cs")
        came = f", from ring {cs & 3}: cs {cs:#x}" if cs is not None else ""
        return 0, f"syscall probe{came}"
    if isinstance(event, Interrupt):
        return 0, f"{event.action} probe, taken from ring {event.from_ring}"
    if isinstance(event, MsrWrite | MsrRead):
        return 0, f"{'wrmsr' if isinstance(event, MsrWrite) else 'rdmsr'} is privileged"
    if isinstance(event, ContextSwitch):
        return 0, "scheduler probe"
    section = kernel_section(pc) if kernel_section is not None else None
    if section is not None:
        return 0, f"kernel {section}"
    if in_kernel(pc):
        return 0, "kernel half?"
    if kernel_section is not None:
        return 3, "outside the kernel image?"
    return None, "no kernel image to tell"


def _pc(event: Event) -> int | None:
    pc = getattr(event, "pc", None)
    return pc if pc else None


def _base_from(event: Event, which: str) -> BaseValue | None:
    if isinstance(event, SegBaseChange) and event.which == which:
        how = f"{event.cause}" + (", inferred" if event.inferred else "")
        return BaseValue(event.new, event.seq, how)
    if isinstance(event, MsrWrite) and event.msr == BASE_MSRS[which]:
        return BaseValue(event.new, event.seq, "wrmsr")
    if isinstance(event, MsrRead) and event.msr == BASE_MSRS[which]:
        return BaseValue(event.value, event.seq, "rdmsr")
    if isinstance(event, SyscallEntry | SyscallExit):
        side = "entry" if isinstance(event, SyscallEntry) else "exit"
        return BaseValue(event.bases.get(which), event.seq, f"at syscall {side}")  # type: ignore[arg-type]
    return None


def _fold(
    events: list[Event], end: int, cpu: int | None
) -> tuple[dict[str, BaseValue], int | None]:
    """Bases and CR3 from events[:end+1] on `cpu`, newest first; missing ones left out."""
    bases: dict[str, BaseValue] = {}
    cr3: int | None = None
    for position in range(end, -1, -1):
        event = events[position]
        if getattr(event, "cpu", cpu) != cpu:
            continue
        for which in BASES:
            if which not in bases:
                found = _base_from(event, which)
                if found is not None:
                    bases[which] = found
        if cr3 is None and isinstance(event, SyscallEntry | SyscallExit | ProcessEvent):
            cr3 = event.cr3
        if cr3 is not None and len(bases) == len(BASES):
            break
    return bases, cr3


def _fallback(
    source: TraceSource,
    index: TraceIndex,
    seq: int,
    cpu: int | None,
    bases: dict[str, BaseValue],
    cr3: int | None,
) -> tuple[dict[str, BaseValue], int | None]:
    """What the window missed: the last syscall stop on this CPU, and base MSR writes."""
    stop = last_at_or_before(source, seq, kinds=_SYSCALL_KINDS, cpu=cpu)
    for which in BASES:
        if which in bases:
            continue
        candidates = []
        if stop is not None:
            candidates.append(_base_from(stop, which))
        msr = index.msr_at(BASE_MSRS[which], seq, cpu)
        if msr is not None and (cpu is None or msr.cpu == cpu):  # another CPU's is not this one's
            candidates.append(BaseValue(msr.value, msr.seq, msr.how))
        known = [c for c in candidates if c is not None]
        if known:
            bases[which] = max(known, key=lambda c: c.seq or -1)
    if cr3 is None and isinstance(stop, SyscallEntry | SyscallExit):
        cr3 = stop.cr3
    return bases, cr3


def _moment(
    source: TraceSource,
    index: TraceIndex,
    events: list[Event],
    end: int,
    *,
    fallback: bool,
    kernel_section: KernelSection | None = None,
) -> Moment:
    event = events[end]
    cpu = getattr(event, "cpu", None)
    pid = event_pid(event)
    bases, cr3 = _fold(events, end, cpu)
    if fallback and (cr3 is None or len(bases) < len(BASES)):
        bases, cr3 = _fallback(source, index, event.seq, cpu, bases, cr3)
    owned = {
        which: BaseValue(
            value.value,
            value.seq,
            value.how,
            None if value.value is None else index.owner(value.value, event.seq, pid),
        )
        for which, value in bases.items()
    }
    for which in BASES:
        owned.setdefault(which, BaseValue(None))
    pc = _pc(event)
    ring, ring_how = ring_of(event, pc, kernel_section)
    return Moment(
        event=event,
        cpu=cpu,
        pid=pid,
        process=index.process_label(pid),
        rip=pc,
        ring=ring,
        cr3=cr3,
        ring_how=ring_how,
        msrs={msr: index.msr_at(msr, event.seq, cpu) for msr in _msrs_to_show(index)},
        bases=owned,
    )


def _msrs_to_show(index: TraceIndex) -> tuple[int, ...]:
    seen = index.msrs_seen()
    return CONTROL_MSRS + ((CSTAR,) if CSTAR in seen else ())


def build_moments(
    source: TraceSource,
    index: TraceIndex,
    seq: int,
    window: int = WINDOW,
    kernel_section: KernelSection | None = None,
) -> tuple[Moment | None, Moment | None]:
    """The moment at `seq` and the one at the previous event on the same CPU (for changes)."""
    events = _window_for(source, seq, window, _folds_inside)
    if events is None:
        return None, None
    return _moments(source, index, events, kernel_section)


def _window_for(
    source: TraceSource, seq: int, window: int, answers: Callable[[list[Event]], bool]
) -> list[Event] | None:
    """The events up to `seq` (None when it is not in the trace): a short window first, kept
    when `answers` says the events before it could change nothing (a fold stops at the newest
    event that names every base, which a syscall stop does), so a jump decodes a dozen events
    instead of `window`."""
    if window > NEAR_WINDOW:
        events = window_before(source, seq, NEAR_WINDOW)
        if not events or events[-1].seq != seq:
            return None
        if answers(events):
            return events
    events = window_before(source, seq, window)
    return events if events and events[-1].seq == seq else None


def _folds_inside(events: list[Event]) -> bool:
    """Whether the last event and the previous one on its CPU both fold completely within
    `events`."""
    end = len(events) - 1
    cpu = getattr(events[end], "cpu", None)
    before = next(
        (p for p in range(end - 1, -1, -1) if getattr(events[p], "cpu", cpu) == cpu), None
    )
    if before is None:
        return False
    folds = (  # as `_moment` folds each: by that event's own CPU
        _fold(events, end, cpu),
        _fold(events, before, getattr(events[before], "cpu", None)),
    )
    return all(cr3 is not None and len(bases) == len(BASES) for bases, cr3 in folds)


def _moments(
    source: TraceSource,
    index: TraceIndex,
    events: list[Event],
    kernel_section: KernelSection | None,
) -> tuple[Moment | None, Moment | None]:
    end = len(events) - 1
    now = _moment(source, index, events, end, fallback=True, kernel_section=kernel_section)
    for position in range(end - 1, -1, -1):
        if getattr(events[position], "cpu", now.cpu) == now.cpu:
            before = _moment(
                source, index, events, position, fallback=True, kernel_section=kernel_section
            )
            return now, before
    return now, None


def changed(now: Moment, before: Moment | None) -> set[str]:
    """Names of the rows whose value differs from the previous moment on this CPU."""
    if before is None:
        return set()
    pairs: list[tuple[str, int | None, int | None]] = [
        ("rip", now.rip, before.rip),
        ("ring", now.ring, before.ring),
        ("cr3", now.cr3, before.cr3),
    ]
    for msr, value in now.msrs.items():
        old = before.msrs.get(msr)
        pairs.append((f"msr:{msr:#x}", value.value if value else None, old.value if old else None))
    for which in BASES:
        pairs.append((which, now.bases[which].value, before.bases[which].value))
    # A value that only became known (nothing recorded before) is not a change.
    return {name for name, new, old in pairs if new is not None and old is not None and new != old}


@dataclass(frozen=True, slots=True)
class CpuBases:
    """One CPU's segment bases at a moment of the trace (folded from that CPU's own events),
    and what ran there last."""

    cpu: int
    pid: int | None
    process: str
    bases: dict[str, BaseValue]


def bases_by_cpu(
    source: TraceSource, index: TraceIndex, seq: int, cpus: list[int], window: int = WINDOW
) -> list[CpuBases]:
    """Every CPU's FS base, GS base and KERNEL_GS_BASE as they stand at `seq`."""

    def answers(events: list[Event]) -> bool:  # each CPU's bases and task inside `events`
        end = len(events) - 1
        return all(
            len(_fold(events, end, cpu)[0]) == len(BASES)
            and any(getattr(e, "cpu", None) == cpu and event_pid(e) is not None for e in events)
            for cpu in cpus
        )

    events = _window_for(source, seq, window, answers)
    if events is None:
        return []
    end = len(events) - 1
    found = []
    for cpu in cpus:
        bases, cr3 = _fold(events, end, cpu)
        if len(bases) < len(BASES):
            bases, cr3 = _fallback(source, index, seq, cpu, bases, cr3)
        pid = _pid_on(source, events, seq, cpu)
        owned = {
            which: (
                BaseValue(value.value, value.seq, value.how, index.owner(value.value, seq, pid))
                if (value := bases.get(which)) is not None and value.value is not None
                else BaseValue(None)
            )
            for which in BASES
        }
        found.append(CpuBases(cpu, pid, index.process_label(pid), owned))
    return found


def _pid_on(source: TraceSource, events: list[Event], seq: int, cpu: int) -> int | None:
    """The task on `cpu` at `seq`: the pid of its latest event that names one."""
    for event in reversed(events):
        if getattr(event, "cpu", None) == cpu and (pid := event_pid(event)) is not None:
            return pid
    last = last_at_or_before(source, seq, cpu=cpu)
    return event_pid(last) if last is not None else None
