"""A syscall's exit where the dispatcher returns (Linux: the iretq of its iret route pops a
copy of the frame and returns every interrupt too): the agent finds the syscall by the frame
at RSP, and the builder rebuilds the swapgs of the way out the frame takes, after the stop."""

from __future__ import annotations

from types import SimpleNamespace

from test_probes_agent import PERCPU, REGS, USER_BUF, FakeCpu, Rig, _path, _ptregs

from tracer.analysis.checks import KernelFacts, run_checks
from tracer.capture.run import adapt_plan
from tracer.events import ProcessEvent, SegBaseChange, SegBases, SegCause, SyscallExit
from tracer.probes.kinds import AgentProbe, Mode, ProbeKind
from tracer.probes.plan import ProbePlan
from tracer.probes.syscall import ReturnExit

RETURN = 0x1045  # after _path()'s dispatch call
SYSRET_SWAPGS, IRET, IRET_SWAPGS = 0x10EB, 0x2078, 0x2075  # _path()'s exits and their swapgs
NEW_CR3 = 0x31_0000
OLD_TCB, USER_GS = 0x41_D198, 0
NEW_IP, NEW_SP = 0x40_1BC0, 0x7FFE_1000
RETURN_SPEC = {"exit_kind": "return", "frame_at": "rsp"}


def _plan() -> ProbePlan:
    plan = ProbePlan(Mode.DEFAULT, entry=_path())
    plan.return_exits[RETURN] = ReturnExit(SYSRET_SWAPGS, IRET_SWAPGS, (IRET,))
    return plan


def _enter(
    rig: Rig,
    nr: int,
    *args: int,
    path: bytes = b"/bin/two_threads",
    thread: int = 1,
    stack: int = REGS,
    **regs: int,
) -> FakeCpu:
    """A syscall entered at the dispatch call (kernel GS, the old program's FS)."""
    frame = _ptregs(orig_ax=nr, ip=0x40_1000, cx=0x40_1000, sp=0x7FFF_0000, cs=0x33,
                    **dict(zip(("di", "si", "dx"), args, strict=False)))  # fmt: skip
    memory = {stack: frame, USER_BUF: path.ljust(4096, b"\0")}  # a whole page
    cpu = FakeCpu(memory, rip=0x1040, rdi=stack, fs_base=OLD_TCB, k_gs_base=USER_GS, **regs)
    cpu.thread = thread  # gdb's thread n is vCPU n - 1
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    return cpu


def _returned(rig: Rig, cpu: FakeCpu, **frame: int) -> bool:
    """Where the dispatcher returned: RSP at pt_regs, the kernel's GS still loaded."""
    cpu.write(REGS, _ptregs(**frame))
    cpu.registers.update(rip=RETURN, rsp=REGS)
    return rig.stop(ProbeKind.SYSCALL_EXIT, cpu, **RETURN_SPEC)


def _execve_returns(rig: Rig) -> list:
    cpu = _enter(rig, 59, USER_BUF)
    # The new program: its own address space, FS reset by a null selector (no probe sees it).
    cpu.registers.update(cr3=NEW_CR3, fs_base=0)
    del cpu.memory[USER_BUF]  # the old address space is gone
    reads: list[int] = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    _returned(rig, cpu, orig_ax=59, ax=0, ip=NEW_IP, cx=0, sp=NEW_SP, flags=0x202, cs=0x33)
    assert reads == [REGS]  # pt_regs only: nothing of the old program's memory
    return rig.events()


def test_execve_exits_where_the_dispatcher_returns_with_its_result_and_new_registers() -> None:
    rig = Rig(_plan())
    events = _execve_returns(rig)
    assert rig.records() == [] and not rig.ctx.frames and not rig.ctx.inflight
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    entry_seq = next(e.seq for e in events if e.kind == "syscall_entry")
    assert (exit_.nr, exit_.ret, exit_.entry_seq) == (59, 0, entry_seq)
    assert (exit_.user_rip, exit_.user_rsp, exit_.pc) == (NEW_IP, NEW_SP, RETURN)
    # What user mode gets back once the iret way's swapgs has run.
    assert exit_.bases == SegBases(0, USER_GS, PERCPU)
    started = [e for e in events if isinstance(e, ProcessEvent) and e.action == "start"]
    assert [(e.pid, e.name) for e in started] == [(1, "hello"), (1, "two_threads")]


def test_the_exec_fs_reset_has_the_execve_exit_as_cause_and_the_swapgs_follows() -> None:
    events = _execve_returns(Rig(_plan()))
    exit_seq = next(e.seq for e in events if isinstance(e, SyscallExit))
    entry_seq = next(e.seq for e in events if e.kind == "syscall_entry")
    changes = [(e.which, e.old, e.new, e.cause, e.pc) for e in events
               if isinstance(e, SegBaseChange) and entry_seq < e.seq < exit_seq]  # fmt: skip
    assert changes == [("fs", OLD_TCB, 0, SegCause.SYSCALL_EXIT, RETURN),
                       ("gs", PERCPU, USER_GS, "swapgs", IRET_SWAPGS),
                       ("kgs", USER_GS, PERCPU, "swapgs", IRET_SWAPGS)]  # fmt: skip
    findings = run_checks(events, KernelFacts())
    assert not [f for f in findings if f.rule == "unknown-base-change"], findings


def test_an_fs_change_at_another_syscalls_exit_stays_unexplained() -> None:
    rig = Rig(_plan())
    cpu = _enter(rig, 15)  # rt_sigreturn: pt_regs rewritten, orig_ax -1
    cpu.registers.update(fs_base=0x1234)
    _returned(rig, cpu, orig_ax=-1, ax=0, ip=0x40_2000, sp=NEW_SP, cs=0x33)
    events = rig.events()
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    assert (exit_.nr, exit_.user_rip) == (15, 0x40_2000)
    fs = next(e for e in events if isinstance(e, SegBaseChange) and e.which == "fs")
    assert fs.cause is SegCause.UNKNOWN


def test_a_plain_syscall_leaves_by_sysret_and_its_swapgs_is_that_ways() -> None:
    rig = Rig(_plan())
    cpu = _enter(rig, 39)  # getpid
    _returned(rig, cpu, orig_ax=39, ax=2, ip=0x40_1000, cx=0x40_1000, flags=0x246, r11=0x246,
              sp=0x7FFF_0000, cs=0x33)  # fmt: skip
    events = rig.events()
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    assert (exit_.ret, exit_.user_rip, exit_.user_rsp, exit_.user_rflags) == (
        2, 0x40_1000, 0x7FFF_0000, 0x246)  # fmt: skip
    assert exit_.bases == SegBases(OLD_TCB, USER_GS, PERCPU)
    swaps = [e.pc for e in events if isinstance(e, SegBaseChange) and e.seq > exit_.seq - 3]
    assert swaps == [SYSRET_SWAPGS, SYSRET_SWAPGS]


def test_a_syscall_entered_before_the_probes_costs_no_record() -> None:
    rig = Rig(_plan())
    cpu = FakeCpu({REGS: _ptregs(orig_ax=61, ip=0x40_1234, cs=0x33)}, rip=RETURN, rsp=REGS)
    reads: list[int] = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    assert rig.stop(ProbeKind.SYSCALL_EXIT, cpu, **RETURN_SPEC) is False
    assert rig.lines == [] and reads == []


def test_a_frame_left_by_a_syscall_that_never_exited_is_dropped_not_matched() -> None:
    """Its task was killed in the syscall; a new task's first return uses the same stack."""
    rig = Rig(_plan())
    cpu = _enter(rig, 61)  # wait4
    rig.lines = []
    _returned(rig, cpu, orig_ax=56, ax=0, ip=0x40_3000, cs=0x33)  # a forked child's frame
    assert rig.lines == [] and not rig.ctx.frames


def test_the_iretq_adds_nothing_after_an_exit_where_the_dispatcher_returned() -> None:
    """With interrupt probes the iretq is armed too: it sees the same way out again."""
    rig = Rig(_plan())
    cpu = _enter(rig, 59, USER_BUF)
    cpu.registers.update(cr3=NEW_CR3, fs_base=0)
    _returned(rig, cpu, orig_ax=59, ax=0, ip=NEW_IP, cx=0, sp=NEW_SP, cs=0x33)
    before = rig.events()
    cpu.registers.update(rip=IRET, rsp=0xFFFF_FE00_0000_1000, gs_base=USER_GS, k_gs_base=PERCPU)
    # The trampoline stack holds a copy of the frame, not the pt_regs the syscall built.
    cpu.memory[0xFFFF_FE00_0000_1000] = bytearray(b"".join(
        v.to_bytes(8, "little") for v in (NEW_IP, 0x33, 0x202, NEW_SP, 0x2B)))  # fmt: skip
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="iretq")
    assert rig.records() == ["return_to_user"]
    assert rig.events() == [] and before


def _probe(addr: int, kind: ProbeKind, **extra: object) -> AgentProbe:
    return AgentProbe(addr, kind, tuple(extra.items()))


def test_linux_without_irq_probes_keeps_the_return_exit_and_drops_the_shared_iretq() -> None:
    plan = _plan()
    plan.probes = [
        _probe(0x1040, ProbeKind.SYSCALL_ENTRY, regs_pointer="rdi"),
        _probe(IRET, ProbeKind.SYSCALL_EXIT, exit_kind="iretq"),
        _probe(RETURN, ProbeKind.SYSCALL_EXIT, **RETURN_SPEC),
        _probe(0x3000, ProbeKind.SWAPGS),
    ]
    linux = SimpleNamespace(kernel=SimpleNamespace(layout=SimpleNamespace(task_pid=None)))
    adapt_plan(plan, linux, frozenset({"syscall", "msr", "segbase"}))  # type: ignore[arg-type]
    assert [p.addr for p in plan.probes] == [0x1040, RETURN]
    assert not plan.notes  # nothing lost: no "show no exit" note


def test_an_exec_moved_to_another_cpu_names_its_new_space_by_its_own_exit() -> None:
    """sched_exec moved pid 2's exec from CPU 1 to CPU 0, where pid 1 has an exec of its own
    pending: the exit at the frame says whose the new space is (the oldest pending exec, the
    rule without it, would say pid 1's)."""
    rig = Rig(_plan())
    other = {"stack": REGS - 0x4000, "cr3": 0x32_0000}
    _enter(rig, 39, **other)  # pid 1 on CPU 0
    _enter(rig, 39, thread=2)  # pid 2 on CPU 1
    _enter(rig, 59, USER_BUF, path=b"/bin/slow", **other)
    cpu = _enter(rig, 59, USER_BUF, thread=2)
    rig.events()
    cpu.thread = 1  # pid 2's exec ends on CPU 0
    cpu.registers.update(cr3=NEW_CR3, fs_base=0)
    _returned(rig, cpu, orig_ax=59, ax=0, ip=NEW_IP, cx=0, sp=NEW_SP, cs=0x33)
    exit_ = next(e for e in rig.events() if isinstance(e, SyscallExit))
    assert (exit_.cpu, exit_.pid, rig.builder.process_name(exit_.pid)) == (0, 2, "two_threads")
    assert rig.builder.ids.execs == {0: (1, "slow")}
