"""A syscall's exit, at the stop (in gdb): which syscall is leaving, and its record.

Exits are the sysretq/iretq instructions of the entry path. A sysretq exit finds its frame
through the kernel-stack slot (threads of one address space have a syscall each in flight), an
iretq exit by the frame it pops. Where an iretq cannot show it (Linux copies the frame to a
trampoline stack, and its iretq returns every interrupt too), the exit is taken where the
dispatcher returns, RSP at pt_regs (`syscall.add_return_exit`).
"""

from __future__ import annotations

from typing import Any

from tracer.decode.strace import exit_reads
from tracer.probes import ringbuf, vdso
from tracer.probes.kinds import ProbeKind
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
# A syscall that may rewrite its own frame's kept fields (rt_sigreturn restores a whole
# context and sets orig_ax to -1): its exit reads pt_regs from memory.
REWRITES_FRAME = frozenset({15})
# PCID (bits 0-11) and PTI's user page-table bit (12) are not the address space.
ADDRESS_SPACE = MASK64 & ~0x1FFF


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
        entry = ctx.take_frame(_thread_frame(ctx, probe, cpu))
        if entry is not None:
            ctx.stack_slot_works = True
            return entry
        if ctx.stack_slot_works:
            return None  # a new thread's first return: nothing of its own in flight
        entry = ctx.inflight.pop(values["cr3"], None)
        if entry is not None:
            ctx.frames.pop(entry.regs_addr, None)
        return entry
    return ctx.take_frame((values["rsp"] - ctx.ip_offset) & MASK64)


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
    if probe.get("frame_at") == "rsp":
        return at_frame(ctx, cpu, cpu.reg("rsp"))
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
        extra = {"vector": entry.vector, "regs_addr": entry.regs_addr, "stub": entry.stub}
        ctx.emit(ProbeKind.INTERRUPT_EXIT, pc, cpu, **shared, **extra)
    else:
        _emit_exit(ctx, cpu, pc, entry, data, values, shared)
    return False


def _emit_exit(
    ctx: StopContext,
    cpu: Cpu,
    pc: int,
    entry: InFlight,
    data: bytes | None,
    values: dict[str, int],
    shared: dict[str, Any],
) -> None:
    """The syscall's exit record, with what it wrote to user memory (nothing when the exit
    returns to another address space: a successful exec's buffers were in the old one)."""
    ret = ctx.ptregs_field(data, "ax")
    ret = values["rax"] if ret is None else ret
    same_space = (values["cr3"] ^ entry.cr3) & ADDRESS_SPACE == 0
    reads = []
    if entry.nr is not None and same_space:
        reads = exit_reads(entry.nr, entry.args, ret, entry.entry_memory)
    memory = user_memory(cpu, reads)
    if entry.nr is not None and same_space:
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


def at_frame(ctx: StopContext, cpu: Cpu, regs_addr: int) -> bool:
    """Where the syscall's pt_regs at `regs_addr` are complete and final (the exit work has
    run), whichever way it then leaves: where the dispatcher returned (RSP at the frame), or
    at a way out's first pop (`syscall_watch`). A syscall entered before the probes were
    armed has no frame here and no record."""
    entry = ctx.frames.get(regs_addr)
    if entry is None or entry.kind != "syscall":
        return False
    ctx.take_frame(regs_addr)
    data = ctx.read_ptregs(cpu, regs_addr)
    if _stale(ctx, data, entry):
        return False
    ringbuf.drain(ctx, cpu)
    values = regs(cpu, ("rax", "rcx", "r11", "rsp", "cr3"))
    frame = None  # what user mode gets back (iretq pops these; sysretq takes the same)
    if data is not None and ctx.ip_offset + IRET_FRAME <= len(data):
        frame = _iret_frame(data[ctx.ip_offset : ctx.ip_offset + IRET_FRAME])
    shared: dict[str, Any] = {"exit_kind": "return", "iret_frame": frame}
    _emit_exit(ctx, cpu, cpu.reg("rip"), entry, data, values, shared)
    return False


def _stale(ctx: StopContext, data: bytes | None, entry: InFlight) -> bool:
    """A frame left from a syscall whose exit was never seen (its task killed), its stack now
    another task's: pt_regs->orig_ax is no longer its number (rt_sigreturn sets it to -1)."""
    orig_ax = ctx.ptregs_field(data, "orig_ax")
    if orig_ax is None or entry.nr is None or entry.nr & 0xFFFFFFFF in REWRITES_FRAME:
        return False
    return orig_ax != entry.nr & MASK64
