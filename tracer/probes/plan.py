"""The probe plan: where to break and how to read each stop, learned from the kernel image.

Each kind finds its own sites (`registry.SITE_FINDERS`); the plan holds what they found and
what the agent needs to read pt_regs and thread-local blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracer.decode.ptregs import LINUX_PT_REGS
from tracer.probes.funcgraph import add_graph_probes
from tracer.probes.irq import InterruptStub
from tracer.probes.kinds import AgentProbe, Mode, PlanError, ProbeKind
from tracer.probes.registry import SITE_FINDERS
from tracer.probes.ringbuf import RingLayout, add_ring_probe
from tracer.probes.sched import TaskLayout
from tracer.probes.syscall import ReturnExit, add_entry, exit_swapgs_for, find_entry
from tracer.probes.syscall_watch import WatchSites

if TYPE_CHECKING:
    from tracer.image import ElfImage, EntryPath

__all__ = [
    "ALL_PROBES",
    "AgentProbe",
    "Mode",
    "PlanError",
    "ProbePlan",
    "SiteRequest",
    "add_entry",
    "add_graph_probes",
    "add_ring_probe",
    "build_plan",
    "exit_swapgs_for",
    "find_entry",
    "ptregs_layout",
    "tls_span",
]

PT_REGS_NEEDED = {"orig_ax", "ax", "di", "si", "dx", "r10", "r8", "r9", "ip", "sp", "flags"}
ALL_PROBES = frozenset({"syscall", "msr", "segbase", "irq", "sched"})
"""The probe groups a capture can ask for (wrmsr and swapgs are always armed)."""


@dataclass(frozen=True)
class SiteRequest:
    """What the caller asked the site finders for."""

    probes: frozenset[str] = ALL_PROBES
    entry_addr: int | None = None  # the syscall entry, when known other than by symbol


@dataclass
class ProbePlan:
    mode: Mode
    probes: list[AgentProbe] = field(default_factory=list)
    entry: EntryPath | None = None
    ptregs_layout: tuple[tuple[str, int, int], ...] = LINUX_PT_REGS
    ptregs_size: int = 168
    ptregs_from_dwarf: bool = False
    notes: list[str] = field(default_factory=list)
    wants_lstar_stop: bool = False
    interrupt_stubs: dict[int, InterruptStub] = field(default_factory=dict)  # by dispatch call
    exit_swapgs: dict[int, int] = field(default_factory=dict)  # exit site -> its swapgs
    return_exits: dict[int, ReturnExit] = field(default_factory=dict)  # by site
    task_layout: TaskLayout | None = None
    tls_span: int = 0
    graph_functions: dict[int, str] = field(default_factory=dict)
    ring: RingLayout | None = None
    vdso: bool = False  # break on each process's vDSO functions (found at run time)
    # Inactive-base writes (swapgs; wr*base; swapgs) left unarmed: their KERNEL_GS_BASE is
    # rebuilt at the CPU's next stop (segbase.find_base_writes, EventBuilder.reconcile).
    inactive_writes_rebuilt: bool = False
    watch_wanted: bool = False  # syscalls by watchpoints where the kernel allows (one CPU)
    watch: WatchSites | None = None  # set by `syscall_watch.add_watch` when it does

    def lifts_sites(self, cpus: int) -> bool:
        """Whether the agent may lift the syscall sites at their stops instead of letting gdb
        step over them (`registry.liftable`): two guest runs a syscall instead of four. Only
        on one CPU (a breakpoint is lifted for every CPU at once) and with the context switch
        probed (a task the CPU switches to stops there before it can reach a lifted site)."""
        return cpus == 1 and self.count(ProbeKind.CONTEXT_SWITCH) > 0

    def watches(self, cpus: int) -> bool:
        """Whether the agent takes syscalls by watchpoints (`syscall_watch`): where the kernel
        allows, on one CPU, and with no breakpoint where a watchpoint stops (gdb would step
        over it unseen: the function graph's at the dispatcher)."""
        if self.watch is None or not self.lifts_sites(cpus):
            return False
        stops_at = {self.watch.dispatcher, *self.watch.exit_pops}
        return not any(p.addr in stops_at for p in self.probes)

    def agent_plan(self, *, stop_first_syscall: bool, cpus: int) -> dict[str, Any]:
        """What the agent's `install` reads (`tracer.probes.stops.StopContext.from_plan`)."""
        return {
            "lift_sites": self.lifts_sites(cpus),
            "watch": self.watch.to_json() if self.watches(cpus) else None,
            "probes": [p.to_json() for p in self.probes],
            "ptregs_layout": [list(f) for f in self.ptregs_layout],
            "ptregs_size": self.ptregs_size,
            "stop_first_syscall": stop_first_syscall,
            "stop_on_lstar": self.wants_lstar_stop,
            "tls_span": self.tls_span,
            "ring": self.ring.to_json() if self.ring is not None else None,
            "vdso": self.vdso,
        }

    def count(self, kind: str) -> int:
        return sum(1 for p in self.probes if p.kind == kind)

    def armed_at(self, kind: str, addr: int) -> bool:
        return any(p.kind == kind and p.addr == addr for p in self.probes)

    def routed_iret(self, addr: int) -> bool:
        """An iretq whose syscall returns were taken where the dispatcher returned."""
        return any(addr in way_out.irets for way_out in self.return_exits.values())


def ptregs_layout(image: ElfImage) -> tuple[tuple[tuple[str, int, int], ...], int, bool]:
    """pt_regs from DWARF when the kernel has it, else Linux's layout."""
    from tracer.image.kernel_entry import ptregs_layout as layout  # noqa: PLC0415 - DWARF

    return layout(image)


def tls_span(images: list[ElfImage]) -> int:
    """How much to read below a TCB to see every thread-local variable (capped at 4 KiB)."""
    span = 0
    for image in images:
        seg = image.tls_segment
        if seg is not None:
            align = max(1, seg.align)
            span = max(span, -(-seg.memsz // align) * align)
    return min(span, 4096)


def build_plan(
    image: ElfImage,
    mode: Mode = Mode.DEFAULT,
    probes: frozenset[str] = ALL_PROBES,
    entry_addr: int | None = None,
    programs: tuple[ElfImage, ...] = (),
    *,
    watch: bool = False,
) -> ProbePlan:
    """Everything to arm before the guest runs. The entry may be unknown until LSTAR is written.
    `watch`: take syscalls by watchpoints where the kernel allows (`syscall_watch`; one CPU)."""
    layout, size, from_dwarf = ptregs_layout(image)
    plan = ProbePlan(mode, ptregs_layout=layout, ptregs_size=size, ptregs_from_dwarf=from_dwarf)
    plan.watch_wanted = watch
    if not from_dwarf:
        plan.notes.append("no struct pt_regs in DWARF: using Linux's x86-64 layout")
    plan.tls_span = tls_span([image, *programs])
    request = SiteRequest(frozenset(probes), entry_addr)
    for find_sites in SITE_FINDERS:
        find_sites(plan, image, request)
    return plan
