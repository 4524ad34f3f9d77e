"""Segment bases: wrfsbase/wrgsbase and swapgs sites, and what any base write becomes (the
change, its cause from where it was called, and a TLS snapshot when FS moves).

swapgs on the syscall and interrupt paths is rebuilt in default mode (see `builder`); only the
rest (e.g. the first entry to user mode) is probed unless the plan is exhaustive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from tracer.decode.syscall_table import syscall_number
from tracer.decode.tls import decode_tls_block
from tracer.decode.x86 import KERNEL_HALF
from tracer.events import Event, SegBases, SegCause, SegReg, TlsSnapshot
from tracer.probes.attribution import Attribution, stack_words
from tracer.probes.kinds import AgentProbe, Mode, ProbeKind
from tracer.probes.stops import Cpu, ProbeSpec, StopContext, stack_top

if TYPE_CHECKING:
    from tracer.image import ElfImage
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

NR_ARCH_PRCTL = syscall_number("arch_prctl")
CALLER_DEPTH = 4
_REG_OPERAND = re.compile(r"^\s*([a-z0-9]+)\s*$")


def with_base(bases: SegBases, which: SegReg, value: int) -> SegBases:
    name = {"fs": "fs_base", "gs": "gs_base", "kgs": "kernel_gs_base"}[which]
    return replace(bases, **{name: value})


def swapped(bases: SegBases) -> SegBases:
    """What swapgs leaves: GS base and KERNEL_GS_BASE exchanged."""
    return SegBases(bases.fs_base, bases.kernel_gs_base, bases.gs_base)


# --- sites -----------------------------------------------------------------------------------


def find_base_writes(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """wrfsbase/wrgsbase, each with the register it writes from. In default mode not a
    write of the inactive base (swapgs; wr*base; swapgs: Linux's `__wrgsbase_inactive`, run at
    every context switch, half its stops there): what it leaves in KERNEL_GS_BASE is found at
    the CPU's next stop and credited to the switch or the arch_prctl in progress."""
    if "segbase" not in request.probes:
        return
    from tracer.image import scan_sites  # noqa: PLC0415 - capstone, tracer side only

    swaps = {site.addr: site for site in scan_sites(image, {"swapgs"})}
    ends = {site.addr + site.size for site in swaps.values()}
    for site in scan_sites(image, {"wrfsbase", "wrgsbase"}):
        inactive = site.addr in ends and site.addr + site.size in swaps
        if inactive and plan.mode is Mode.DEFAULT:
            plan.inactive_writes_rebuilt = True
            plan.notes.append(f"{site.function or hex(site.addr)}: an inactive-base write "
                              "between two swapgs, rebuilt at the next stop")  # fmt: skip
            continue
        match = _REG_OPERAND.match(site.text.split(None, 1)[1] if " " in site.text else "")
        extra = (("source", match.group(1)),) if match else ()
        plan.probes.append(AgentProbe(site.addr, ProbeKind(site.kind), extra))


def on_path_swapgs(plan: ProbePlan) -> set[int]:
    """swapgs that default mode rebuilds instead of stopping at."""
    sites: set[int] = set()
    if plan.entry is not None:
        sites |= set(plan.entry.swapgs_sites)
    for stub in plan.interrupt_stubs.values():
        sites |= set(stub.path.swapgs_sites)
    return sites


def add_swapgs_probes(plan: ProbePlan, image: ElfImage) -> list[AgentProbe]:
    """swapgs off the rebuilt paths (e.g. the first entry to user mode) is always probed; on
    them only in exhaustive mode."""
    from tracer.image import scan_sites  # noqa: PLC0415 - capstone, tracer side only

    on_path = on_path_swapgs(plan)
    armed = {p.addr for p in plan.probes if p.kind == ProbeKind.SWAPGS}
    added = []
    for site in scan_sites(image, {"swapgs"}):
        if site.addr in armed:
            continue
        if plan.mode is Mode.EXHAUSTIVE or site.addr not in on_path:
            added.append(AgentProbe(site.addr, ProbeKind.SWAPGS))
    plan.probes += added
    return added


def find_swapgs(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """With syscalls traced, the entry adds these once its path is known (maybe at LSTAR)."""
    if "syscall" not in request.probes:
        add_swapgs_probes(plan, image)


# --- at the stop (in gdb) ----------------------------------------------------------------------


def write_context(ctx: StopContext, cpu: Cpu, fs_value: int | None) -> dict[str, object]:
    """What explains a base write: the callers, the stack top, and (FS) the TLS block."""
    extra: dict[str, object] = {"callers": cpu.callers(CALLER_DEPTH), "stack": stack_top(cpu)}
    if fs_value:
        extra["tls_block"] = ctx.tls_block(cpu, fs_value)
    return extra


def at_wrbase(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    source = probe.get("source")
    value = cpu.reg(source) if source else None
    kind = ProbeKind(probe["kind"])
    extra = write_context(ctx, cpu, value if kind is ProbeKind.WRFSBASE else None)
    ctx.emit(kind, cpu.reg("rip"), cpu, value=value, **extra)
    return False


def at_swapgs(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    ctx.emit(ProbeKind.SWAPGS, cpu.reg("rip"), cpu)
    return False


# --- events ------------------------------------------------------------------------------------


def attribute(core: EventBuilder, hit: ProbeHit, default: SegCause) -> Attribution:
    inflight = core.syscall_on_cpu(hit.cpu)
    in_arch_prctl = inflight is not None and inflight.nr == NR_ARCH_PRCTL
    return core.causes.attribute(
        hit.fields.get("callers") or (),
        stack_words(hit.fields.get("stack")),
        in_arch_prctl,
        default,
        hit.pc,
    )


def arrive(
    core: EventBuilder, hit: ProbeHit, observed: SegBases, why: Attribution, out: list[Event]
) -> None:
    """Bring the state up to this stop. A write on an entry path's way in comes after that
    path's swapgs (when it came from user mode: GS and KGS are then swapped from the last
    state); rebuild it here, and not again at the path's own stop."""
    last = core.bases.get(hit.cpu)
    if (
        why.entry_swapgs
        and last is not None
        and core.plan.mode is Mode.DEFAULT
        and swapped(last) == observed
        and last != observed
    ):
        core.inferred_swaps(hit, observed, why.entry_swapgs, out)
        core.swapped_early[hit.cpu] = True
    else:
        # Inside a context switch, a change found on arrival is the switch's own (Linux loads
        # a null FS selector before writing the base, which zeroes it unseen).
        switch = why.cause is SegCause.CONTEXT_SWITCH
        core.reconcile(hit, observed, out, SegCause.CONTEXT_SWITCH if switch else SegCause.UNKNOWN)


def base_write(
    core: EventBuilder,
    hit: ProbeHit,
    which: SegReg,
    observed: SegBases,
    value: int,
    cause: SegCause,
    out: list[Event],
) -> None:
    """A base written at this stop: the change, then (FS) the TLS block it points at."""
    core.base_change(hit, which, observed.get(which), value, cause, hit.pc, False, out)
    core.bases[hit.cpu] = with_base(observed, which, value)
    if which == "fs" and hit.fields.get("tls_block") is not None:
        out.append(tls_snapshot(core, hit, value))


def tls_snapshot(core: EventBuilder, hit: ProbeHit, fs_base: int) -> TlsSnapshot:
    # A kernel-half TCB holds the kernel's thread-locals, a user one the program's. The
    # owner's name is given when the event is released, once it is known.
    key = "kernel" if fs_base >= KERNEL_HALF else core.process_name(core.pid(hit))
    variables = core.tls_variables.get(key, ())
    raw = bytes.fromhex(hit.fields["tls_block"])
    block = decode_tls_block(fs_base, raw, core.plan.tls_span, variables)
    return TlsSnapshot(
        core.next_seq(),
        core.time(hit),
        hit.cpu,
        core.pid(hit),
        fs_base,
        block.self_pointer,
        "",
        block.values,
    )


@dataclass(frozen=True)
class _Instruction:
    which: SegReg
    cause: SegCause


_WRITES = {
    ProbeKind.WRFSBASE: _Instruction("fs", SegCause.WRFSBASE),
    ProbeKind.WRGSBASE: _Instruction("gs", SegCause.WRGSBASE),
}


def on_wrbase(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    insn = _WRITES[ProbeKind(hit.probe)]
    why = attribute(core, hit, insn.cause)
    arrive(core, hit, observed, why, out)
    if why.cause is SegCause.CONTEXT_SWITCH:
        core.inactive_write_by(hit.cpu, SegCause.CONTEXT_SWITCH)
    value = hit.fields.get("value")
    if value is not None:
        base_write(core, hit, insn.which, observed, int(value), why.cause, out)


def on_swapgs(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    core.reconcile(hit, observed, out)
    core.swapgs(hit, observed, hit.pc, False, out)
