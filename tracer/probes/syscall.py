"""Syscalls: entry at the entry path's call to its C dispatcher (pt_regs complete), exit at each
sysretq/iretq the path reaches, or, where an iret route moves the frame away (Linux), where the
dispatcher returns. An exit instruction also serves interrupts (their frame is on the stack)
and the first entry to user mode (no frame the tracer saw built). The agent's side of exits is
in `syscall_exit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracer.decode.ptregs import decode_pt_regs
from tracer.decode.strace import entry_reads
from tracer.events import (
    Event,
    ProcessEvent,
    PtRegsValues,
    SegBases,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.probes import ringbuf, segbase
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
from tracer.tls_owners import ARCH_SET_GS

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
MAX_ERRNO = 4095
KEPT_AT_ENTRY = ("orig_ax", "cs", "ss")  # pt_regs fields no register holds at a sysretq exit


@dataclass
class Pending:
    """A syscall between its entry and exit events (the tracer's side of `InFlight`)."""

    entry_seq: int
    nr: int
    args: tuple[int, int, int, int, int, int]
    cr3: int = 0
    pid: int = 0


@dataclass(frozen=True)
class ReturnExit:
    """Exits taken where the dispatcher returns, before the way out is chosen: the swapgs
    each way runs after the stop, and the iretq the iret way reaches."""

    sysret_swapgs: int | None
    iret_swapgs: int | None
    irets: tuple[int, ...]


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


def add_return_exit(plan: ProbePlan, image: ElfImage, path: EntryPath) -> None:
    """Where the exit instructions cannot show every syscall's frame (an iret route moves it
    to another stack, and its iretq returns every interrupt too), the exit is taken where the
    dispatcher returns, RSP at pt_regs: once per syscall, whichever way it leaves, and no
    interrupt passes there. The path's sysretq then needs no probe."""
    from tracer.image.iret_route import find_iret_routes  # noqa: PLC0415 - capstone

    routes = find_iret_routes(image, path)
    if path.dispatch_call is None or not any(route.moves_frame for route in routes):
        return
    call = next((i for i in path.instructions if i.addr == path.dispatch_call), None)
    if call is None:
        return
    sysrets = {site.addr for site in path.exit_sites if site.kind == "sysretq"}
    plan.probes = [
        p for p in plan.probes if not (p.kind == ProbeKind.SYSCALL_EXIT and p.addr in sysrets)
    ]
    irets = tuple(route.iret for route in routes)
    site = call.addr + call.size
    plan.return_exits[site] = ReturnExit(
        sysret_swapgs=next((plan.exit_swapgs.get(a) for a in sorted(sysrets)), None),
        iret_swapgs=next((plan.exit_swapgs.get(a) for a in irets), None),
        irets=irets,
    )
    extra = (("exit_kind", "return"), ("frame_at", "rsp"))
    plan.probes.append(AgentProbe(site, ProbeKind.SYSCALL_EXIT, extra))


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
    add_return_exit(plan, image, entry)
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
    core.start_syscall(hit, Pending(seq, nr, args, hit.cr3, pid))  # type: ignore[arg-type]
    if nr == segbase.NR_ARCH_PRCTL and args and args[0] == ARCH_SET_GS:  # Linux: inactive write
        core.inactive_write_by(hit.cpu, SegCause.ARCH_PRCTL)
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
        core.exiting.add(hit.cpu)
        # One thread's exit leaves the address space to the others (a worker ends while the
        # main thread runs in user mode or waits in a syscall to join it): a raw exit forgets
        # it only in a process no clone has returned in, with no other syscall in flight.
        threads = core.ids.is_threaded(hit.cr3) or core.syscalls_in_space(hit.cr3)
        if group_exit or not threads:
            core.ids.exited(hit.cpu, hit.cr3)


def on_return_to_user(
    core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]
) -> None:
    if core.plan.routed_iret(hit.pc) and core.bases.get(hit.cpu) == observed:
        return  # a syscall's exit where the dispatcher returned already rebuilt this way out
    core.inferred_swaps(hit, observed, core.exit_sites(hit), out)


def on_exit(core: EventBuilder, hit: ProbeHit, observed: SegBases, out: list[Event]) -> None:
    inflight = core.end_syscall(hit)
    regs_, values = ptregs(core, hit)
    cpu_regs = hit.fields.get("cpu_regs", {})
    ret = values.get("ax", cpu_regs.get("rax", 0))
    if inflight is not None and inflight.nr in EXECS and not _failed(ret):
        # The new program's first crossing is its exec's exit: its address space is this
        # exec's pid's, on whichever CPU the exec ends.
        core.ids.exec_returned(hit.cpu, inflight.pid)
    core.user_thread(hit, out)
    pid = core.pid(hit)
    observed = _exit_bases(core, hit, observed, inflight, values, out)
    if inflight is not None and inflight.nr in EXECS and _failed(ret):
        core.ids.exec_failed(pid)  # it returned to the old address space
    if inflight is not None and inflight.nr in CLONES and 0 < ret < 1 << 31:
        core.ids.cloned(hit.cr3)
    frame = hit.fields.get("iret_frame")
    if frame:  # the frame iretq pops, or pt_regs' own where the dispatcher returned
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


def _failed(ret: int) -> bool:
    return ret > MASK64 - MAX_ERRNO  # -4095..-1


def _exit_bases(
    core: EventBuilder,
    hit: ProbeHit,
    observed: SegBases,
    inflight: Pending | None,
    values: dict[str, int],
    out: list[Event],
) -> SegBases:
    """Rebuild what ran between the last stop and this exit; the bases user mode gets back."""
    way_out = core.plan.return_exits.get(hit.pc)
    if way_out is None:
        core.inferred_swaps(hit, observed, core.exit_sites(hit), out)
        return observed
    # Stopped where the dispatcher returned, before the exit's swapgs. An exec resets FS and
    # the user GS by loading null selectors, which no probe sees: at its exit, their cause.
    ret = values.get("ax", 0)
    exec_done = inflight is not None and inflight.nr in EXECS and not _failed(ret)
    core.reconcile(hit, observed, out, SegCause.SYSCALL_EXIT if exec_done else SegCause.UNKNOWN)
    # sysret needs RCX = RIP and R11 = RFLAGS (what the syscall instruction left); anything
    # else (a new program, a restored context, a signal frame) leaves by iret.
    by_sysret = values.get("cx") == values.get("ip") and values.get("r11") == values.get("flags")
    swap = way_out.sysret_swapgs if by_sysret else way_out.iret_swapgs
    if swap is None:
        return observed
    if not core.plan.armed_at(ProbeKind.SWAPGS, swap):  # else its own stop records it
        core.swapgs(hit, observed, swap, True, out)
    return segbase.swapped(observed)
