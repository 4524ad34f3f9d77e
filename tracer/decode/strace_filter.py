"""Which events a view keeps: strace's `-e trace=NAME,...` (the syscalls and the events that go
with them), and the folding of inferred swapgs changes into their crossings.

`write,brk` keeps those two; `!write` (or `!write,brk`) keeps every syscall but those; names
or numbers. A syscall left out takes the events inside it along (the function calls, base
changes and interrupts of that pid between its entry and exit), so a function graph or an
export shows the chosen calls whole and nothing of the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tracer.decode.syscall_table import SYSCALLS, syscall_number
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


class TraceSpecError(ValueError):
    """A `--trace` list that names no known syscall, or an empty one."""


def parse_trace_spec(spec: str) -> frozenset[int]:
    """`write,brk` -> their numbers; `!write` -> every known syscall but write."""
    text = spec.strip()
    negate = text.startswith("!")
    names = [name.strip() for name in text.removeprefix("!").split(",") if name.strip()]
    if not names:
        raise TraceSpecError(f"--trace={spec}: name at least one syscall (e.g. write,brk)")
    numbers = set()
    for name in names:
        nr = int(name) if name.isdigit() else syscall_number(name)
        if nr is None:
            raise TraceSpecError(f"--trace: unknown syscall {name!r}")
        numbers.add(nr)
    return frozenset(set(SYSCALLS) - numbers) if negate else frozenset(numbers)


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
    "TraceSpecError",
    "fold_inferred_swapgs",
    "is_inferred_swapgs",
    "only_syscalls",
    "parse_trace_spec",
]
