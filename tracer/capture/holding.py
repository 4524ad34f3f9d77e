"""Records held while the guest runs: when nothing needs the events as they come, the agent's
records wait and become events when the guest stops (`CaptureLoop.release`), off the cores QEMU
and gdb need."""

from __future__ import annotations

import os
from collections.abc import Callable

from tracer.capture.options import CaptureOptions
from tracer.events import Event
from tracer.probes.kinds import ProbeKind

# Records whose events are all clock-driven: they are no progress for `hang` either.
CLOCK_DRIVEN_RECORDS = frozenset(
    {
        ProbeKind.INTERRUPT_ENTRY,
        ProbeKind.INTERRUPT_EXIT,
        ProbeKind.CONTEXT_SWITCH,
        ProbeKind.SWAPGS,
        ProbeKind.WRFSBASE,
        ProbeKind.WRGSBASE,
        ProbeKind.FUNC_ENTRY,
        ProbeKind.FUNC_EXIT,
        ProbeKind.FTRACE_FULL,
        ProbeKind.FTRACE_DRAIN,
    }
)
# Records that carry the function graph's ring (up to hundreds of KiB): never held, the ones
# before them built with them.
RELEASING = frozenset({ProbeKind.FTRACE_DRAIN, ProbeKind.FTRACE_FULL})
# With nothing watching the events as they come, records wait (up to this many) and become
# events when the guest stops, off the cores QEMU and gdb need: TRACER_HOLD_RECORDS=0 builds
# each as it arrives. About 1.5 KiB a record: the bound keeps the tracer's memory flat.
HOLD_RECORDS = 10_000


def hold_limit(options: CaptureOptions, on_event: Callable[[Event], None] | None) -> int:
    """How many records may wait before their events are built (0: none wait): only when no
    one needs the events as they come (a live view, a pause, a limit to stop at, a Linux boot
    whose progress is its events)."""
    live = (
        on_event is not None
        or options.control is not None
        or options.until.startswith("syscall:")
        or options.until_event is not None
        or options.max_events is not None
        or options.from_boot
    )
    if live:
        return 0
    try:
        return max(0, int(os.environ.get("TRACER_HOLD_RECORDS", HOLD_RECORDS)))
    except ValueError:
        return HOLD_RECORDS
