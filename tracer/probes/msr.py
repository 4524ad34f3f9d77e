"""wrmsr: every site in the kernel, with the MSR and value it writes. A write to a segment base
MSR is a base change like wrfsbase's; one to LSTAR can ask for a real stop, so the tracer can
find the syscall entry on a kernel without the entry's symbol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracer.decode.msr import MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_LSTAR
from tracer.events import Event, MsrWrite, SegBases, SegCause, SegReg
from tracer.probes import segbase
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, StopContext

if TYPE_CHECKING:
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

BASE_MSRS: dict[int, SegReg] = {MSR_FS_BASE: "fs", MSR_GS_BASE: "gs", MSR_KERNEL_GS_BASE: "kgs"}
LOW32 = 0xFFFFFFFF


def find_sites(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """Always armed: the syscall MSRs and the segment bases are what the tracer is about."""
    from tracer.image import scan_sites  # noqa: PLC0415 - capstone, tracer side only

    plan.probes += [AgentProbe(s.addr, ProbeKind.WRMSR) for s in scan_sites(image, {"wrmsr"})]


def at_wrmsr(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    msr = cpu.reg("rcx") & LOW32
    value = ((cpu.reg("rdx") & LOW32) << 32) | (cpu.reg("rax") & LOW32)
    extra = {}
    if msr in BASE_MSRS:
        extra = segbase.write_context(ctx, cpu, value if msr == MSR_FS_BASE else None)
    ctx.emit(ProbeKind.WRMSR, cpu.reg("rip"), cpu, msr=msr, value=value, **extra)
    return ctx.stop_on_lstar and msr == MSR_LSTAR


def on_wrmsr(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    why = segbase.attribute(core, hit, SegCause.WRMSR)
    segbase.arrive(core, hit, observed, why, out)
    msr, value = int(hit.fields["msr"]), int(hit.fields["value"])
    which = BASE_MSRS.get(msr)
    old = observed.get(which) if which else core.msr_values.get(msr)
    pid = core.pid(hit)
    out.append(MsrWrite(core.next_seq(), core.time(hit), hit.cpu, pid, msr, old, value, hit.pc))
    core.msr_values[msr] = value
    if which is not None:
        segbase.base_write(core, hit, which, observed, value, why.cause, out)
