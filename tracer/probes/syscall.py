"""Syscalls: entry at the entry path's call to its C dispatcher (pt_regs complete), exit at each
sysretq/iretq the path reaches. An exit instruction also serves interrupts (their frame is on
the stack) and the first entry to user mode (no frame the tracer saw built).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracer.decode.ptregs import decode_pt_regs
from tracer.decode.strace import entry_reads, exit_reads
from tracer.events import Event, ProcessEvent, PtRegsValues, SegBases, SyscallEntry, SyscallExit
from tracer.probes import ringbuf, segbase, vdso
from tracer.probes.kinds import AgentProbe, PlanError, ProbeKind
from tracer.probes.stops import (
    MASK64,
    Cpu,
    InFlight,
    ProbeSpec,
    StopContext,
    follow_memory,
    regs,
    user_memory,
)

if TYPE_CHECKING:
    from tracer.image import ElfImage, EntryPath
    from tracer.probes.builder import EventBuilder
    from tracer.probes.plan import ProbePlan, SiteRequest
    from tracer.target.gdb import ProbeHit

ENTRY_SYMBOLS = ("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "syscall_entry")
NO_RETURN = frozenset({60, 231})  # exit, exit_group: the address space may be reused at once
NR_EXIT_GROUP = 231
EXECS = {59: 0, 322: 1}  # execve, execveat: which argument is the path
CLONES = frozenset({56, 435})  # clone, clone3
ARG_FIELDS = ("di", "si", "dx", "r10", "r8", "r9")
IRET_FRAME = 40  # rip, cs, rflags, rsp, ss
# At sysretq the exit path has restored every general register from pt_regs, and sysretq
# itself takes the user rip from rcx and rflags from r11: the pt_regs field -> the register
# holding its value. orig_ax, cs and ss are kept from the entry's read.
SYSRET_REGISTERS = {
    **{f"r{n}": f"r{n}" for n in range(8, 16)},
    **{name: "r" + name for name in ("bp", "bx", "ax", "cx", "dx", "si", "di")},
    "ip": "rcx",
    "flags": "r11",
    "sp": "rsp",
}
KEPT_AT_ENTRY = ("orig_ax", "cs", "ss")
# A syscall that may rewrite its own frame's kept fields (rt_sigreturn restores a whole
# context and sets orig_ax to -1): its exit reads pt_regs from memory.
REWRITES_FRAME = frozenset({15})


@dataclass
class Pending:
    """A syscall between its entry and exit events (the tracer's side of `InFlight`)."""

    entry_seq: int
    nr: int
    args: tuple[int, int, int, int, int, int]
    cr3: int = 0


# --- sites -----------------------------------------------------------------------------------


def find_entry(image: ElfImage) -> int | None:
    from tracer.image.kernel_entry import first_address  # noqa: PLC0415 - tracer side only

    return first_address(image, ENTRY_SYMBOLS)


def exit_swapgs_for(entry: EntryPath, exit_addr: int) -> int | None:
    """The swapgs that runs just before this exit instruction, if the path has one."""
    before = [a for a in entry.exit_swapgs if a < exit_addr and exit_addr - a <= 64]
    return max(before) if before else None


def add_exits(plan: ProbePlan, path: EntryPath) -> None:
    """A probe at each exit instruction of the path (once, whichever paths share it).

    A sysretq exit finds its syscall's frame through the per-CPU slot the entry loads its
    kernel stack from: threads of one address space have a syscall each in flight."""
    armed = {p.addr for p in plan.probes if p.kind == ProbeKind.SYSCALL_EXIT}
    slot = path.kernel_stack_load.gs_offset if path.kernel_stack_load is not None else None
    for addr, kind in path.exit_sites:
        swap = exit_swapgs_for(path, addr)
        if swap is not None:
            plan.exit_swapgs[addr] = swap
        if addr not in armed:
            extra: tuple[tuple[str, Any], ...] = (("exit_kind", kind),)
            if slot is not None and kind != "iretq":
                extra += (("stack_slot", slot),)
            plan.probes.append(AgentProbe(addr, ProbeKind.SYSCALL_EXIT, extra))
            armed.add(addr)


def add_entry(plan: ProbePlan, image: ElfImage, entry_addr: int) -> list[AgentProbe]:
    """Analyse the syscall entry path and add its probes; returns the probes added."""
    from tracer.image import analyze_syscall_entry  # noqa: PLC0415 - capstone, tracer side only

    entry = analyze_syscall_entry(image, entry_addr)
    if entry.dispatch_call is None:
        raise PlanError(f"no dispatcher call found in the syscall entry at {entry_addr:#x}")
    plan.entry = entry
    before = len(plan.probes)
    regs_pointer = (("regs_pointer", entry.regs_pointer),)
    plan.probes.append(AgentProbe(entry.dispatch_call, ProbeKind.SYSCALL_ENTRY, regs_pointer))
    add_exits(plan, entry)
    segbase.add_swapgs_probes(plan, image)
    plan.wants_lstar_stop = False
    return plan.probes[before:]


def find_sites(plan: ProbePlan, image: ElfImage, request: SiteRequest) -> None:
    """The entry (by symbol, or the one given); without either, wait for the LSTAR write."""
    if "syscall" not in request.probes:
        return
    entry_addr = request.entry_addr if request.entry_addr is not None else find_entry(image)
    if entry_addr is None:
        plan.wants_lstar_stop = True
        plan.notes.append("no syscall entry symbol: waiting for the LSTAR write")
    else:
        add_entry(plan, image, entry_addr)


# --- at the stop (in gdb) ----------------------------------------------------------------------


def at_entry(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    ringbuf.drain(ctx, cpu)
    regs_addr = cpu.reg(probe.get("regs_pointer", "rdi"))
    data = ctx.read_ptregs(cpu, regs_addr)
    nr = ctx.ptregs_field(data, "orig_ax")
    args = [ctx.ptregs_field(data, n) or 0 for n in ARG_FIELDS]
    memory = user_memory(cpu, entry_reads(nr, args)) if nr is not None else []
    if nr is not None:
        memory = follow_memory(cpu, nr, args, None, memory)
    record = ctx.emit(
        ProbeKind.SYSCALL_ENTRY,
        cpu.reg("rip"),
        cpu,
        regs_addr=regs_addr,
        ptregs=None if data is None else data.hex(),
        cpu_regs={} if data is not None else regs(cpu, ("rax", "rcx", "r11", "rsp")),
        memory=memory,
    )
    cr3 = record["cr3"]
    if nr is None or nr & 0xFFFFFFFF not in NO_RETURN:
        kept = {name: ctx.ptregs_field(data, name) for name in KEPT_AT_ENTRY}
        entry = InFlight(
            "syscall",
            regs_addr,
            cr3,
            nr,
            args,
            kept={k: v for k, v in kept.items() if v is not None},
            entry_memory={index: None if data is None else b"" for index, data in memory},
            user_return=(ctx.ptregs_field(data, "ip"), ctx.ptregs_field(data, "sp")),
        )
        ctx.inflight[cr3] = ctx.frames[regs_addr] = entry
    else:
        ctx.inflight.pop(cr3, None)
        if nr & 0xFFFFFFFF == NR_EXIT_GROUP:  # every thread of the process ends with it
            ctx.frames = {addr: f for addr, f in ctx.frames.items() if f.cr3 != cr3}
        ringbuf.release(ctx, cpu)  # the process ends: the guest may power off before a stop
    if ctx.stop_first_syscall:
        ctx.stop_first_syscall = False
        return True
    return False


def _frame_at_exit(
    ctx: StopContext, probe: ProbeSpec, cpu: Cpu, values: dict[str, int]
) -> InFlight | None:
    """sysretq: the frame at the top of this thread's kernel stack (or, with no stack slot
    known, the syscall in flight in this address space); iretq: the frame on the stack."""
    kind = probe.get("exit_kind", "sysretq")
    if kind != "iretq":
        entry = ctx.returning_syscall(values["cr3"], values["rcx"], values["rsp"])
        if entry is not None:  # known without reading the stack slot
            return entry
        regs_addr = _thread_frame(ctx, probe, cpu)
        entry = ctx.frames.pop(regs_addr, None) if regs_addr is not None else None
        if entry is not None:
            ctx.stack_slot_works = True
            if ctx.inflight.get(entry.cr3) is entry:
                ctx.inflight.pop(entry.cr3)
            return entry
        if ctx.stack_slot_works:
            return None  # a new thread's first return: nothing of its own in flight
        entry = ctx.inflight.pop(values["cr3"], None)
        if entry is not None:
            ctx.frames.pop(entry.regs_addr, None)
        return entry
    entry = ctx.frames.pop((values["rsp"] - ctx.ip_offset) & MASK64, None)
    if entry is not None and entry.kind == "syscall":
        ctx.inflight.pop(entry.cr3, None)
    return entry


def _thread_frame(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> int | None:
    """Where the running thread's pt_regs sit: below the kernel stack top its entry loaded
    from the per-CPU slot (the per-CPU area is in KERNEL_GS_BASE once the exit's swapgs ran)."""
    slot = probe.get("stack_slot")
    if slot is None:
        return None
    top = cpu.read((cpu.reg("k_gs_base") + slot) & MASK64, 8)
    if top is None:
        return None
    return (int.from_bytes(top, "little") - ctx.ptregs_size) & MASK64


def _sysret_ptregs(ctx: StopContext, cpu: Cpu, entry: InFlight) -> bytes | None:
    """The frame the sysretq path restored, from the registers gdb already fetched (no memory
    read), or None when a field cannot be known that way."""
    if entry.nr is None or entry.nr & 0xFFFFFFFF in REWRITES_FRAME:
        return None
    values = {name: cpu.reg(reg) for name, reg in SYSRET_REGISTERS.items()}
    return ctx.ptregs_from({**values, **entry.kept})


def _iret_frame(raw: bytes | None) -> list[int] | None:
    if raw is None or len(raw) < IRET_FRAME:
        return None
    return [int.from_bytes(raw[i : i + 8], "little") for i in range(0, IRET_FRAME, 8)]


def _exit_ptregs(
    ctx: StopContext, cpu: Cpu, kind: str, entry: InFlight, rsp: int
) -> tuple[bytes | None, list[int] | None | bool]:
    """pt_regs at a syscall's exit, and its iret frame when the pt_regs read held it (else
    False: read it apart)."""
    if kind != "iretq":
        data = _sysret_ptregs(ctx, cpu, entry)
        return (data if data is not None else ctx.read_ptregs(cpu, entry.regs_addr)), None
    data = ctx.read_ptregs(cpu, entry.regs_addr)
    ip_at = (entry.regs_addr + ctx.ip_offset) & MASK64
    if data is None or rsp != ip_at or ctx.ip_offset + IRET_FRAME > len(data):
        return data, False
    return data, _iret_frame(data[ctx.ip_offset : ctx.ip_offset + IRET_FRAME])


def at_exit(ctx: StopContext, probe: ProbeSpec, cpu: Cpu) -> bool:
    ringbuf.drain(ctx, cpu)
    pc = cpu.reg("rip")
    values = regs(cpu, ("rax", "rcx", "r11", "rsp", "cr3"))
    kind = probe.get("exit_kind", "sysretq")
    entry = _frame_at_exit(ctx, probe, cpu, values)
    data: bytes | None = None
    frame: list[int] | None | bool = False if kind == "iretq" else None
    if entry is not None and entry.kind == "syscall":
        data, frame = _exit_ptregs(ctx, cpu, kind, entry, values["rsp"])
    if frame is False:  # one 40-byte read: the frame iretq pops
        frame = _iret_frame(cpu.read(values["rsp"], IRET_FRAME))
    shared: dict[str, Any] = {"exit_kind": kind, "iret_frame": frame}
    if entry is None:  # first entry to user mode, or a frame the tracer did not see built
        ctx.emit(ProbeKind.RETURN_TO_USER, pc, cpu, **shared)
        if ctx.vdso and (kind != "iretq" or isinstance(frame, list)):
            user_rsp = frame[3] if isinstance(frame, list) else values["rsp"]
            return vdso.at_user_entry(ctx, cpu, values["cr3"], user_rsp)
    elif entry.kind == "interrupt":
        extra = {"vector": entry.vector, "regs_addr": entry.regs_addr}
        ctx.emit(ProbeKind.INTERRUPT_EXIT, pc, cpu, **shared, **extra)
    else:
        ret = ctx.ptregs_field(data, "ax")
        ret = values["rax"] if ret is None else ret
        reads = (
            exit_reads(entry.nr, entry.args, ret, entry.entry_memory)
            if entry.nr is not None
            else []
        )
        memory = user_memory(cpu, reads)
        if entry.nr is not None:
            memory = follow_memory(cpu, entry.nr, entry.args, ret, memory)
        ctx.emit(
            ProbeKind.SYSCALL_EXIT,
            pc,
            cpu,
            **shared,
            regs_addr=entry.regs_addr,
            ptregs=None if data is None else data.hex(),
            cpu_regs=values,
            memory=memory,
        )
    return False


# --- events ------------------------------------------------------------------------------------


def ptregs(core: EventBuilder, hit: ProbeHit) -> tuple[PtRegsValues, dict[str, int]]:
    """pt_regs as the record carried them, decoded by the plan's layout."""
    raw = hit.fields.get("ptregs")
    values = decode_pt_regs(bytes.fromhex(raw), core.plan.ptregs_layout) if raw else ()
    return values, dict(values)


def user_buffers(hit: ProbeHit) -> tuple[tuple[int, bytes | None], ...]:
    return tuple(
        (int(index), None if data is None else bytes.fromhex(data))
        for index, data in hit.fields.get("memory") or ()
    )


def on_entry(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    pid = core.pid(hit)
    sites = core.plan.entry.entry_swapgs if core.plan.entry is not None else []
    core.entry_swaps(hit, observed, sites, out)
    regs_, values = ptregs(core, hit)
    nr = values.get("orig_ax", hit.fields.get("cpu_regs", {}).get("rax", 0))
    args = tuple(values.get(name, 0) for name in ARG_FIELDS)
    seq, t = core.next_seq(), core.time(hit)
    out.append(
        SyscallEntry(
            seq,
            t,
            hit.cpu,
            pid,
            hit.cr3,
            nr,
            args,  # type: ignore[arg-type]
            user_rip=values.get("ip", 0),
            user_rsp=values.get("sp", 0),
            user_rflags=values.get("flags", 0),
            regs_addr=hit.fields.get("regs_addr", 0),
            regs=regs_,
            bases=observed,
            pc=hit.pc,
            memory=user_buffers(hit),
        )
    )
    core.start_syscall(hit, Pending(seq, nr, args, hit.cr3))  # type: ignore[arg-type]
    if nr in EXECS:
        path = dict(user_buffers(hit)).get(EXECS[nr])
        core.ids.exec_started(hit.cpu, pid, path)
    if nr in NO_RETURN:
        name = core.process_name(pid)
        status = args[0] & 0xFF
        out.append(
            ProcessEvent(core.next_seq(), t, hit.cpu, pid, hit.cr3, "exit", name, status=status)
        )
        group_exit = nr & 0xFFFFFFFF == NR_EXIT_GROUP
        core.end_syscall(hit, group_exit=group_exit)
        # One thread's exit leaves the address space to the others (a worker ends while the
        # main thread runs in user mode or waits in a syscall to join it): a raw exit forgets
        # it only in a process no clone has returned in, with no other syscall in flight.
        threads = core.ids.is_threaded(hit.cr3) or core.syscalls_in_space(hit.cr3)
        if group_exit or not threads:
            core.ids.exited(hit.cpu, hit.cr3)


def on_return_to_user(
    core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]
) -> None:
    core.inferred_swaps(hit, observed, core.exit_sites(hit), out)


def on_exit(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    pid = core.pid(hit)
    core.inferred_swaps(hit, observed, core.exit_sites(hit), out)
    inflight = core.end_syscall(hit)
    if inflight is not None and inflight.nr in EXECS:
        core.ids.exec_failed(hit.cpu)  # it returned to the old address space
    regs_, values = ptregs(core, hit)
    cpu_regs = hit.fields.get("cpu_regs", {})
    ret = values.get("ax", cpu_regs.get("rax", 0))
    if inflight is not None and inflight.nr in CLONES and 0 < ret < 1 << 31:
        core.ids.cloned(hit.cr3)
    frame = hit.fields.get("iret_frame")
    if hit.fields.get("exit_kind") == "iretq" and frame:
        user_rip, user_rflags, user_rsp = frame[0], frame[2], frame[3]
    else:
        user_rip, user_rflags = cpu_regs.get("rcx", 0), cpu_regs.get("r11", 0)
        user_rsp = cpu_regs.get("rsp", 0)
    out.append(
        SyscallExit(
            core.next_seq(),
            core.time(hit),
            hit.cpu,
            pid,
            hit.cr3,
            nr=inflight.nr if inflight else values.get("orig_ax", 0),
            ret=ret,
            entry_seq=inflight.entry_seq if inflight else None,
            user_rip=user_rip,
            user_rsp=user_rsp,
            user_rflags=user_rflags,
            regs=regs_,
            bases=observed,
            pc=hit.pc,
            memory=user_buffers(hit),
        )
    )
