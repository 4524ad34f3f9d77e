"""Interrupts and exceptions: entry stubs found by Linux's names and read like the syscall entry.

Linux names its IDT stubs `asm_exc_<name>` (one per exception vector) and sends device
interrupts through `asm_common_interrupt` (the vector pushed into pt_regs->orig_ax by
`irq_entries_start`). Each stub builds pt_regs and calls a C handler; the probe sits on that
call, where pt_regs is complete, exactly like the syscall entry's dispatch call. Their exits
are the syscall module's sysretq/iretq probes, which know an interrupt's frame when they see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tracer.events import Event, Interrupt, SegBases
from tracer.probes import syscall
from tracer.probes.kinds import AgentProbe, ProbeKind
from tracer.probes.stops import Cpu, InFlight, ProbeSpec, StopContext

if TYPE_CHECKING:
    from tracer.image import ElfImage, EntryPath
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

# Linux's exception stub names (arch/x86/include/asm/idtentry.h) -> vector.
EXCEPTION_VECTORS: dict[str, int] = {
    "divide_error": 0, "debug": 1, "nmi": 2, "int3": 3, "overflow": 4, "bounds": 5,
    "invalid_op": 6, "device_not_available": 7, "double_fault": 8,
    "coproc_segment_overrun": 9, "invalid_tss": 10, "segment_not_present": 11,
    "stack_segment": 12, "general_protection": 13, "page_fault": 14,
    "spurious_interrupt_bug": 15, "coprocessor_error": 16, "alignment_check": 17,
    "machine_check": 18, "simd_coprocessor_error": 19, "virtualization_exception": 20,
    "control_protection": 21, "hypervisor_injection": 28, "vmm_communication": 29,
    "security_exception": 30,
}  # fmt: skip
VECTOR_NAMES: dict[int, str] = {
    0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
    9: "coproc-overrun", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
    17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE", 21: "#CP", 28: "#HV", 29: "#VC", 30: "#SX",
}  # fmt: skip
ERROR_CODE_VECTORS = frozenset({8, 10, 11, 12, 13, 14, 17, 21, 29, 30})
DEVICE_STUBS = ("asm_common_interrupt", "asm_spurious_interrupt")
PAGE_FAULT = 14  # its faulting address is in CR2


def vector_name(vector: int | None) -> str:
    if vector is None:
        return "?"
    if vector in VECTOR_NAMES:
        return VECTOR_NAMES[vector]
    return f"irq{vector}" if vector >= 32 else f"exception{vector}"


@dataclass(frozen=True)
class InterruptStub:
    name: str
    vector: int | None  # None: read from pt_regs->orig_ax (device interrupts)
    path: EntryPath

    @property
    def has_error_code(self) -> bool:
        return self.vector in ERROR_CODE_VECTORS


def find_interrupt_stubs(image: ElfImage) -> list[InterruptStub]:
    """Every stub with a recognisable name whose path reaches a handler call."""
    from tracer.image import ImageError, analyze_syscall_entry  # noqa: PLC0415 - capstone

    stubs = []
    for symbol in image.symbols:
        name = symbol.name
        if name.startswith("asm_exc_"):
            vector = EXCEPTION_VECTORS.get(name[len("asm_exc_") :])
            if vector is None and name.startswith("asm_exc_reserved_"):
                continue
        elif name in DEVICE_STUBS or name.startswith("asm_sysvec_"):
            vector = None
        else:
            continue
        try:
            path = analyze_syscall_entry(image, symbol.addr)
        except ImageError:
            continue
        if path.dispatch_call is not None:
            stubs.append(InterruptStub(name, vector, path))
    return stubs


def find_sites(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """A probe at each stub's handler call, and at its exits."""
    if "irq" not in request.probes:
        return
    stubs = find_interrupt_stubs(image)
    if not stubs:
        plan.notes.append("no interrupt stubs (asm_exc_*, asm_common_interrupt) found")
    for stub in stubs:
        assert stub.path.dispatch_call is not None
        plan.interrupt_stubs[stub.path.dispatch_call] = stub
        extra: list[tuple[str, Any]] = [
            ("regs_pointer", stub.path.regs_pointer or "rsp"),
            ("stub", stub.name),
            ("has_error_code", stub.has_error_code),
        ]
        if stub.vector is not None:
            extra.append(("vector", stub.vector))
        probe = AgentProbe(stub.path.dispatch_call, ProbeKind.INTERRUPT_ENTRY, tuple(extra))
        plan.probes.append(probe)
        syscall.add_exits(plan, stub.path)


# --- at the stop (in gdb) ----------------------------------------------------------------------


def at_entry(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    """At the call from an interrupt/exception stub to its C handler: pt_regs complete."""
    regs_addr = cpu.reg(probe.get("regs_pointer", "rdi"))
    data = ctx.read_ptregs(cpu, regs_addr)
    cs = ctx.ptregs_field(data, "cs")
    ctx.interrupted_user = None if cs is None else cs & 3 == 3
    vector = probe.get("vector")
    if vector is None and probe.get("stub") in DEVICE_STUBS:
        # Device interrupts: the vector is the handler's second argument (Linux's
        # common_interrupt(regs, vector)); stubs may already have reset orig_ax to -1.
        # A system vector's handler (sysvec_*(regs)) gets none: it is named by its stub.
        vector = cpu.reg("rsi") & 0xFF
    ctx.emit(
        ProbeKind.INTERRUPT_ENTRY,
        cpu.reg("rip"),
        cpu,
        regs_addr=regs_addr,
        ptregs=None if data is None else data.hex(),
        vector=vector,
        has_error_code=bool(probe.get("has_error_code")),
        cr2=cpu.reg("cr2") if vector == PAGE_FAULT else None,
        stub=probe.get("stub", ""),
    )
    stub = probe.get("stub", "")
    ctx.frames[regs_addr] = InFlight("interrupt", regs_addr, vector=vector, stub=stub)
    return False


# --- events ------------------------------------------------------------------------------------


def _interrupt(
    core: EventBuilder,
    hit: ProbeHit,
    action: Literal["entry", "exit"],
    ring: int,
    rip: int,
    error_code: int | None = None,
) -> Interrupt:
    vector = hit.fields.get("vector")
    stub = hit.fields.get("stub") or ""
    name = vector_name(vector) if vector is not None or not stub else stub.removeprefix("asm_")
    return Interrupt(
        core.next_seq(),
        core.time(hit),
        hit.cpu,
        core.pid(hit),
        action,
        -1 if vector is None else vector,
        name,
        error_code,
        hit.fields.get("cr2"),
        ring,
        rip,
        hit.pc,
    )


def on_entry(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    _, values = syscall.ptregs(core, hit)
    from_ring = values.get("cs", 0) & 3
    if from_ring == 3:
        core.user_thread(hit, out)
    stub = core.plan.interrupt_stubs.get(hit.pc)
    sites = stub.path.entry_swapgs if (stub is not None and from_ring == 3) else ()
    core.entry_swaps(hit, observed, sites, out)
    code = values.get("orig_ax") if hit.fields.get("has_error_code") else None
    out.append(_interrupt(core, hit, "entry", from_ring, values.get("ip", 0), code))


def on_exit(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    """Through an interrupt's own frame: `ring` is the one it returns to."""
    frame = hit.fields.get("iret_frame") or [0, 0, 0, 0, 0]
    to_ring = frame[1] & 3
    core.inferred_swaps(hit, observed, core.exit_sites(hit) if to_ring == 3 else (), out)
    out.append(_interrupt(core, hit, "exit", to_ring, frame[0]))
