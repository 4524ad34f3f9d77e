"""A sysretq exit takes its syscall by the user rip and rsp it returns to, without reading the
kernel stack slot, only when that cannot be another thread's: exactly one syscall in flight in
the address space entered from there, and no clone, fork or vfork in flight there."""

from __future__ import annotations

from test_probes_agent import REGS, SYSRET, FakeCpu, _pop_regs, _syscall_cpu
from test_probes_threads_vdso import PERCPU_AREA, REGS_B, TOP_SLOT, _running, _threads_rig

from tracer.events import SyscallEntry, SyscallExit
from tracer.probes.kinds import ProbeKind

NR_GETPID, NR_FUTEX, NR_CLONE = 39, 202, 56
SLOT = PERCPU_AREA + TOP_SLOT  # where the running thread's kernel stack top is


def _counting_reads(cpu: FakeCpu) -> list[int]:
    reads: list[int] = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    return reads


def _second_thread(nr: int) -> FakeCpu:
    cpu = _syscall_cpu(nr)
    cpu.memory[REGS_B] = cpu.memory.pop(REGS)
    cpu.registers["rdi"] = REGS_B
    return cpu


def test_once_the_stack_slot_worked_an_unambiguous_sysret_exit_reads_no_memory() -> None:
    rig = _threads_rig()
    sysret = dict(next(p for p in rig.plan.probes if p.addr == SYSRET).extra)
    for call in range(2):
        cpu = _syscall_cpu(NR_GETPID)
        rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
        _running(cpu, REGS)
        _pop_regs(cpu, SYSRET)
        reads = _counting_reads(cpu)
        rig.stop(ProbeKind.SYSCALL_EXIT, cpu, **sysret)
        # The first exit proves the slot (one 8-byte read); the second needs no read at all.
        assert reads == ([SLOT] if call == 0 else [])
    events = rig.events()
    entries = [e.seq for e in events if isinstance(e, SyscallEntry)]
    assert [e.entry_seq for e in events if isinstance(e, SyscallExit)] == entries
    assert not rig.ctx.frames and not rig.ctx.inflight


def test_two_threads_in_flight_each_exit_finds_its_own_syscall_without_the_slot() -> None:
    rig = _threads_rig()
    sysret = dict(next(p for p in rig.plan.probes if p.addr == SYSRET).extra)
    rig.ctx.stack_slot_works = True
    a = _syscall_cpu(NR_FUTEX, 0x40_8000, 0)
    b = _second_thread(NR_GETPID)
    b.write(REGS_B + 152, (0x7FFE_0000).to_bytes(8, "little"))  # B's own user stack
    rig.stop(ProbeKind.SYSCALL_ENTRY, a, regs_pointer="rdi")
    rig.stop(ProbeKind.SYSCALL_ENTRY, b, regs_pointer="rdi")
    b.registers.update(rip=SYSRET, rax=77, rcx=0x40_1000, r11=0x246, rsp=0x7FFE_0000)
    reads = _counting_reads(b)
    rig.stop(ProbeKind.SYSCALL_EXIT, b, **sysret)
    assert reads == []
    events = rig.events()
    entries = {e.nr: e.seq for e in events if isinstance(e, SyscallEntry)}
    exits = [e for e in events if isinstance(e, SyscallExit)]
    assert [(e.nr, e.entry_seq) for e in exits] == [(NR_GETPID, entries[NR_GETPID])]
    assert list(rig.ctx.frames) == [REGS]  # A's futex still in flight


def test_a_child_returning_to_its_parents_clone_site_is_told_apart_by_the_slot() -> None:
    """The child of a clone without a stack of its own returns to the parent's user rip and
    rsp: with the clone in flight the slot decides, and it is nobody's syscall exit."""
    rig = _threads_rig()
    sysret = dict(next(p for p in rig.plan.probes if p.addr == SYSRET).extra)
    rig.ctx.stack_slot_works = True
    parent = _syscall_cpu(NR_CLONE)
    rig.stop(ProbeKind.SYSCALL_ENTRY, parent, regs_pointer="rdi")
    child = _syscall_cpu(NR_CLONE)
    _running(child, REGS_B)  # the child's own kernel stack: no frame the agent saw built
    child.registers.update(rip=SYSRET, rax=0, rcx=0x40_1000, r11=0x246, rsp=0x7FFF_0000)
    reads = _counting_reads(child)
    rig.stop(ProbeKind.SYSCALL_EXIT, child, **sysret)
    assert reads == [SLOT]
    assert rig.records()[-1] == str(ProbeKind.RETURN_TO_USER)
    assert list(rig.ctx.frames) == [REGS]  # the parent's clone is still in flight


def test_two_syscalls_entered_from_the_same_place_leave_it_to_the_slot() -> None:
    rig = _threads_rig()
    sysret = dict(next(p for p in rig.plan.probes if p.addr == SYSRET).extra)
    rig.ctx.stack_slot_works = True
    a = _syscall_cpu(NR_FUTEX)
    b = _second_thread(NR_GETPID)
    rig.stop(ProbeKind.SYSCALL_ENTRY, a, regs_pointer="rdi")
    rig.stop(ProbeKind.SYSCALL_ENTRY, b, regs_pointer="rdi")
    _running(b, REGS_B)
    b.registers.update(rip=SYSRET, rax=77, rcx=0x40_1000, r11=0x246, rsp=0x7FFF_0000)
    reads = _counting_reads(b)
    rig.stop(ProbeKind.SYSCALL_EXIT, b, **sysret)
    assert reads == [SLOT]
    exits = [e for e in rig.events() if isinstance(e, SyscallExit)]
    assert [e.nr for e in exits] == [NR_GETPID]
    assert list(rig.ctx.frames) == [REGS]
