"""Which events a view keeps: the syscalls `--trace` chose (each with the events inside it), and
the folding of inferred swapgs changes into the crossings they belong to. Pure: events in,
events out; shared by report, export and the TUI.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tracer.events import (
    ContextSwitch,
    Event,
    Gap,
    Note,
    ProcessEvent,
    SegBaseChange,
    SegCause,
    SyscallEntry,
    SyscallExit,
)

_ALWAYS = (ProcessEvent, ContextSwitch, Gap, Note)


def only_syscalls(events: Iterable[Event], chosen: frozenset[int]) -> Iterator[Event]:
    """The events, without the syscalls outside `chosen` and what happened inside them."""
    hidden: set[int] = set()  # pids inside a syscall left out
    for event in events:
        if isinstance(event, SyscallEntry):
            if event.nr in chosen:
                hidden.discard(event.pid)
                yield event
            else:
                hidden.add(event.pid)
        elif isinstance(event, SyscallExit):
            if event.pid in hidden:
                hidden.discard(event.pid)
            elif event.nr in chosen:
                yield event
        elif isinstance(event, _ALWAYS):
            if isinstance(event, ProcessEvent) and event.action == "exit":
                hidden.discard(event.pid)
            yield event
        elif getattr(event, "pid", None) not in hidden:
            yield event


def is_inferred_swapgs(event: Event) -> bool:
    """A base change reconstructed from the entry path's swapgs: part of every crossing, shown
    by default folded into it (the crossing's own bases say the same)."""
    return isinstance(event, SegBaseChange) and event.inferred and event.cause is SegCause.SWAPGS


def fold_inferred_swapgs(events: Iterable[Event]) -> Iterator[Event]:
    """The events without the inferred swapgs changes; real ones (arch_prctl, context switches,
    wrmsr, violations, swapgs seen at a stop) stay."""
    return (event for event in events if not is_inferred_swapgs(event))


__all__ = [
    "fold_inferred_swapgs",
    "is_inferred_swapgs",
    "only_syscalls",
]
