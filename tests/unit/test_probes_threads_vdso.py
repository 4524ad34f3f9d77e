"""Threads and the vDSO on the agent's fake CPU: syscalls of two threads of one address space
in flight at once, and a process's vDSO found through its auxiliary vector (the host's own
vDSO image, which this project never built)."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import pytest
from test_probes_agent import REGS, SYSRET, FakeCpu, Rig, _path, _pop_regs, _syscall_cpu

from tracer.events import Note, SyscallEntry, SyscallExit, VdsoCall
from tracer.export.labels import vdso_line
from tracer.image.entry_path import GsSlot
from tracer.probes import vdso
from tracer.probes.kinds import Mode, ProbeKind
from tracer.probes.plan import ProbePlan
from tracer.probes.syscall import add_exits

PERCPU_AREA = 0xFFFF_FFFF_8012_0000
TOP_SLOT = 0x18  # mov %gs:0x18, %rsp in the entry
REGS_B = REGS - 0x4000  # the other thread's kernel stack
USER_STACK = 0x7FFF_FFFF_E000
VDSO_BASE = 0x7FFF_F7FF_E000


def _threads_rig() -> Rig:
    path = _path()
    object.__setattr__(path, "kernel_stack_load", GsSlot(0x1008, TOP_SLOT, "mov rsp, gs:[0x18]"))
    plan = ProbePlan(Mode.DEFAULT, entry=path)
    add_exits(plan, path)
    return Rig(plan)


def _running(cpu: FakeCpu, regs_addr: int) -> None:
    """The per-CPU slot says whose kernel stack is loaded: this thread's."""
    cpu.memory[PERCPU_AREA + TOP_SLOT] = bytearray((regs_addr + 168).to_bytes(8, "little"))
    cpu.registers["k_gs_base"] = PERCPU_AREA


def test_sysret_exit_plan_carries_the_kernel_stack_slot() -> None:
    rig = _threads_rig()
    sysret = next(p for p in rig.plan.probes if p.addr == SYSRET)
    assert ("stack_slot", TOP_SLOT) in sysret.extra


def test_two_threads_of_one_address_space_end_their_own_syscalls() -> None:
    """Thread A blocks in futex; thread B (same CR3) makes getpid meanwhile; A's exit is
    still A's futex, B's is B's getpid."""
    rig = _threads_rig()
    sysret = dict(next(p for p in rig.plan.probes if p.addr == SYSRET).extra)
    a = _syscall_cpu(202, 0x40_8000, 0)
    b = _syscall_cpu(39)
    b.memory[REGS_B] = b.memory.pop(REGS)
    b.registers["rdi"] = REGS_B
    rig.stop(ProbeKind.SYSCALL_ENTRY, a, regs_pointer="rdi")
    rig.stop(ProbeKind.SYSCALL_ENTRY, b, regs_pointer="rdi")
    b.write(REGS_B + 80, (77).to_bytes(8, "little"))  # getpid's return value in pt_regs->ax
    _running(b, REGS_B)
    b.registers.update(rip=SYSRET, rax=77, rcx=0x40_1000, r11=0x246, rsp=0x7FFF_0000)
    rig.stop(ProbeKind.SYSCALL_EXIT, b, **sysret)
    _running(a, REGS)
    _pop_regs(a, SYSRET)
    rig.stop(ProbeKind.SYSCALL_EXIT, a, **sysret)
    events = rig.events()
    entries = {e.nr: e for e in events if isinstance(e, SyscallEntry)}
    exits = [e for e in events if isinstance(e, SyscallExit)]
    assert [(e.nr, e.entry_seq) for e in exits] == [
        (39, entries[39].seq),
        (202, entries[202].seq),
    ]
    assert exits[0].ret == 77
    assert not rig.ctx.frames and not rig.builder.inflight


def _host_vdso() -> bytes:
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    base = libc.getauxval(vdso.AT_SYSINFO_EHDR)
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith("[vdso]"):
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if start == base:
                return ctypes.string_at(base, end - start)
    pytest.skip("this host maps no vDSO")


def _new_process_stack() -> bytes:
    """argc, argv, envp and the auxiliary vector as a kernel lays them out at exec."""
    words = [1, 0x7FFF_FFFF_F000, 0, 0x7FFF_FFFF_F010, 0x7FFF_FFFF_F020, 0]
    words += [6, 4096, vdso.AT_SYSINFO_EHDR, VDSO_BASE, 25, 0x7FFF_FFFF_F030, 0, 0]
    return b"".join(w.to_bytes(8, "little") for w in words)


def test_new_process_vdso_found_through_its_auxv_and_its_functions_armed() -> None:
    image = _host_vdso()
    rig = Rig(vdso=True)
    user_rsp = USER_STACK - 0x100
    cpu = FakeCpu({user_rsp: _new_process_stack().ljust(0x100, b"\0"), VDSO_BASE: image})
    assert vdso.at_user_entry(rig.ctx, cpu, cpu.reg("cr3"), user_rsp) is True
    assert rig.records() == ["vdso_image"]
    sent = bytes.fromhex(json.loads(rig.lines[0])["image"])
    assert len(sent) > 1024 and sent == image[: len(sent)]
    # the same image in the next process: no second stop, and no second image
    other = FakeCpu({user_rsp: _new_process_stack(), VDSO_BASE: image}, cr3=0x30_0000)
    assert vdso.at_user_entry(rig.ctx, other, other.reg("cr3"), user_rsp) is False
    events = rig.events()
    note = next(e for e in events if isinstance(e, Note))
    assert note.text.startswith(f"vDSO at {VDSO_BASE:#x}: ")
    probes = vdso.take_pending(rig.builder)
    names = {dict(p.extra)["symbol"] for p in probes}
    assert {"clock_gettime", "gettimeofday", "time", "getcpu"} <= names
    assert all(p.kind is ProbeKind.VDSO_CALL and p.addr > VDSO_BASE for p in probes)
    assert vdso.take_pending(rig.builder) == []

    clock = next(p for p in probes if dict(p.extra)["symbol"] == "clock_gettime")
    caller = FakeCpu(
        {0x7FFF_0000: (0x40_1234).to_bytes(8, "little")},
        rip=clock.addr,
        rsp=0x7FFF_0000,
        rdi=1,
        rsi=0x7FFF_0100,
    )
    assert rig.stop(ProbeKind.VDSO_CALL, caller, **dict(clock.extra)) is False
    (call,) = [e for e in rig.events() if isinstance(e, VdsoCall)]
    assert (call.name, call.args[:2], call.return_addr) == (
        "clock_gettime",
        (1, 0x7FFF_0100),
        0x40_1234,
    )
    assert call.crossing is False and call.addr == clock.addr
    assert vdso_line(call) == "clock_gettime(CLOCK_MONOTONIC, 0x7fff0100) [vdso]"
    # code at the same address in an address space without this vDSO is not a vDSO call
    stranger = FakeCpu({0x7FFF_0000: bytes(8)}, rip=clock.addr, rsp=0x7FFF_0000, cr3=0x50_0000)
    rig.stop(ProbeKind.VDSO_CALL, stranger, **dict(clock.extra))
    assert rig.lines == []


def test_a_process_without_a_vdso_asks_for_nothing() -> None:
    rig = Rig(vdso=True)
    words = [0, 0, 0, 6, 4096, 0, 0]  # no arguments, no environment, no AT_SYSINFO_EHDR
    stack = b"".join(w.to_bytes(8, "little") for w in words)
    cpu = FakeCpu({USER_STACK - 0x38: stack})
    assert vdso.at_user_entry(rig.ctx, cpu, cpu.reg("cr3"), USER_STACK - 0x38) is False
    assert rig.lines == []
    reads: list[int] = []
    cpu.read = lambda addr, n: reads.append(addr)  # type: ignore[method-assign,assignment,return-value]
    # its threads' first returns to user mode: the stack is not walked again
    assert vdso.at_user_entry(rig.ctx, cpu, cpu.reg("cr3"), USER_STACK - 0x800) is False
    assert reads == []


def test_a_new_thread_crossing_before_its_parents_clone_returns_owns_its_tcb() -> None:
    """On two CPUs the child's set_robust_list can return before the parent's clone3 does."""
    from dataclasses import replace

    from test_analysis_checks import APP, PERCPU, _exit

    from tracer.events import ProcessEvent, SegBases
    from tracer.tls_owners import TlsOwners

    tcb = 0x7FFF_F7FF_C6C0
    args = (0x80000 | 0x100 | 0x10000).to_bytes(8, "little") + bytes(48) + tcb.to_bytes(8, "little")
    clone = SyscallEntry(
        2, 2, 0, 1, 0x1000, 435, (0x7FFF0000, 88, 0, 0, 0, 0), 0x401000, 0x7FFF0000, 0x246,
        0, (), SegBases(APP, PERCPU, 0), 0, ((0, args + bytes(16)),),
    )  # fmt: skip
    child = replace(_exit(4, tcb), cpu=1, pid=7, nr=273, entry_seq=3)
    stranger = replace(_exit(5, tcb), cpu=1, pid=8, cr3=0x9000, entry_seq=3)  # other space
    parent = replace(_exit(6, APP), nr=435, ret=7, entry_seq=2)
    owners = TlsOwners()
    owners.learn(ProcessEvent(1, 1, 0, 1, 0x1000, "start", "worker"))
    owners.learn(clone)
    owners.learn(child)
    assert owners.owner(tcb, "fs", 7) == "app-tcb[worker:1 tid 7]"
    owners.learn(stranger)
    assert owners.owner(tcb, "fs", 8) == "unknown"
    owners.learn(parent)
    assert owners.owner(tcb, "fs", 7) == owners.owner(tcb, "fs", 1) == "app-tcb[worker:1 tid 7]"
