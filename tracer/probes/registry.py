"""Every probe kind and its handlers on both sides: what the agent does at its stop (in gdb),
and what the tracer makes of its records (in `EventBuilder`). One line per kind.

Imported by the gdb agent: its modules keep to the standard library and the pure packages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tracer.probes import (
    funcgraph,
    irq,
    msr,
    ringbuf,
    sched,
    segbase,
    syscall,
    syscall_exit,
    syscall_watch,
    vdso,
)
from tracer.probes.kinds import ProbeKind
from tracer.probes.stops import ProbeSpec, StopHandler

if TYPE_CHECKING:
    from tracer.events import Event, SegBases
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

    EventHandler = Callable[[EventBuilder, ProbeHit, SegBases, list[Event]], None]
    SiteFinder = Callable[[ProbePlan, ElfImage, SiteRequest], None]


@dataclass(frozen=True)
class Handlers:
    at_stop: StopHandler | None  # None: a record the agent writes from another kind's stop
    to_events: EventHandler | None  # None: a probe whose stop only writes other records
    crosses_user: bool = False  # fires only on a way into or out of user mode


KINDS: dict[ProbeKind, Handlers] = {
    ProbeKind.SYSCALL_ENTRY: Handlers(syscall.at_entry, syscall.on_entry, crosses_user=True),
    # A way out of the kernel too: on_exit names the thread itself, once it knows an exec's.
    ProbeKind.SYSCALL_EXIT: Handlers(syscall_exit.at_exit, syscall.on_exit),
    ProbeKind.RETURN_TO_USER: Handlers(None, syscall.on_return_to_user, crosses_user=True),
    ProbeKind.INTERRUPT_ENTRY: Handlers(irq.at_entry, irq.on_entry),
    ProbeKind.INTERRUPT_EXIT: Handlers(None, irq.on_exit),
    ProbeKind.WRMSR: Handlers(msr.at_wrmsr, msr.on_wrmsr),
    ProbeKind.WRFSBASE: Handlers(segbase.at_wrbase, segbase.on_wrbase),
    ProbeKind.WRGSBASE: Handlers(segbase.at_wrbase, segbase.on_wrbase),
    ProbeKind.SWAPGS: Handlers(segbase.at_swapgs, segbase.on_swapgs, crosses_user=True),
    ProbeKind.CONTEXT_SWITCH: Handlers(sched.at_switch, sched.on_switch),
    ProbeKind.FUNC_ENTRY: Handlers(funcgraph.at_entry, funcgraph.on_entry),
    ProbeKind.FUNC_EXIT: Handlers(funcgraph.at_exit, funcgraph.on_exit),
    ProbeKind.FTRACE_FULL: Handlers(ringbuf.at_full, None),
    ProbeKind.FTRACE_DRAIN: Handlers(None, ringbuf.on_drain),
    ProbeKind.VDSO_IMAGE: Handlers(None, vdso.on_image),
    ProbeKind.VDSO_CALL: Handlers(vdso.at_call, vdso.on_call),
}


def liftable(probe: ProbeSpec) -> bool:
    """Whether a probe's site can do without gdb's step over it when the agent lifts it at
    its stop and puts it back at the next stop (`tracer_agent.Agent.put_back`): its site must
    not be reached again on that CPU before some other probe stops there. With one CPU and
    every context switch probed (`ProbePlan.lifts_sites`), the syscall entry is reached again
    only after its syscall left through an exit probe or the CPU switched tasks; an exit that
    returns syscalls alone (sysretq, the dispatcher's return) only after the next entry or a
    switch. Not an iretq: an interrupt taken in the kernel returns through it too, and so do
    the interrupts and exceptions that nest, each reaching its stub's site again."""
    kind = probe.get("kind")
    if kind == ProbeKind.SYSCALL_ENTRY:
        return True
    return kind == ProbeKind.SYSCALL_EXIT and probe.get("exit_kind") != "iretq"


# Sites found in every plan, in this order: the swapgs left to probe are known only once the
# syscall entry and the interrupt stubs are. The function graph is added on request
# (`funcgraph.add_graph_probes`, `ringbuf.add_ring_probe`).
SITE_FINDERS: tuple[SiteFinder, ...] = (
    msr.find_sites,
    segbase.find_base_writes,
    sched.find_sites,
    irq.find_sites,
    syscall.find_sites,
    syscall_watch.find_sites,
    segbase.find_swapgs,
)
