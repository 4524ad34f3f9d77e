"""Each kind's agent side on a fake CPU, its records through the pipe's JSON and `parse_hit`, and
back into events by the builder: the two halves of a kind agree, without gdb or QEMU."""

from __future__ import annotations

import json
from typing import Any

from tracer.decode.msr import MSR_FS_BASE, MSR_LSTAR
from tracer.decode.ptregs import LINUX_PT_REGS, decode_pt_regs, encode_pt_regs
from tracer.events import (
    ContextSwitch,
    Interrupt,
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegCause,
    SyscallEntry,
    SyscallExit,
    TlsSnapshot,
)
from tracer.image.entry_path import EntryPath, ExitSite
from tracer.probes import funcgraph, irq, msr, ringbuf, sched, syscall
from tracer.probes.builder import EventBuilder
from tracer.probes.kinds import AgentProbe, Mode, ProbeKind
from tracer.probes.plan import ProbePlan
from tracer.probes.registry import KINDS, liftable
from tracer.probes.ringbuf import RingLayout
from tracer.probes.sched import TaskLayout
from tracer.probes.stops import StopContext
from tracer.target.gdb import parse_hit

CR3 = 0x20_0000
PERCPU = 0xFFFF_FFFF_8011_70C0
REGS = 0xFFFF_8880_001F_DF58  # pt_regs on the kernel stack
DISPATCH, SYSRET, IRET = 0x1040, 0x10EE, 0x2078
USER_BUF = 0x40_5000


class FakeCpu:
    """Registers and sparse memory, as the agent's gdb-backed Cpu would give them."""

    def __init__(self, memory: dict[int, bytes] | None = None, **registers: int) -> None:
        self.thread = 1
        self.registers = {"cr3": CR3, "fs_base": 0, "gs_base": PERCPU, "k_gs_base": 0}
        self.registers.update(registers)
        self.memory = {addr: bytearray(data) for addr, data in (memory or {}).items()}
        self.stack_callers: list[int] = []

    def reg(self, name: str) -> int:
        return self.registers.get(name, 0)

    def read(self, addr: int, length: int) -> bytes | None:
        for start, data in self.memory.items():
            if start <= addr and addr + length <= start + len(data):
                return bytes(data[addr - start : addr - start + length])
        return None

    def write(self, addr: int, data: bytes) -> bool:
        for start, region in self.memory.items():
            if start <= addr and addr + len(data) <= start + len(region):
                region[addr - start : addr - start + len(data)] = data
                return True
        return False

    def callers(self, depth: int) -> list[int]:
        return self.stack_callers[:depth]


def _path() -> EntryPath:
    return EntryPath(
        entry=0x1000,
        entry_swapgs=(0x1000,),
        exit_swapgs=(0x10EB, 0x2075),
        dispatch_call=DISPATCH,
        dispatcher=0x5000,
        dispatcher_name="do_syscall_64",
        regs_pointer="rdi",
        exit_sites=(ExitSite(SYSRET, "sysretq"), ExitSite(IRET, "iretq")),
        user_rsp_save=None,
        kernel_stack_load=None,
        pushes=(),
        blocks=(),
    )


class Rig:
    """A plan, the agent's context for it, and a builder reading what the agent wrote."""

    def __init__(self, plan: ProbePlan | None = None, **flags: Any) -> None:
        self.plan = plan or ProbePlan(Mode.DEFAULT, entry=_path())
        self.lines: list[str] = []
        agent_plan = json.loads(json.dumps(self.plan.agent_plan(stop_first_syscall=False, cpus=1)))
        self.ctx = StopContext.from_plan(agent_plan, lambda r: self.lines.append(json.dumps(r)))
        for name, value in flags.items():
            setattr(self.ctx, name, value)
        self.builder = EventBuilder(self.plan, ["hello"], t0_ns=0)

    def stop(self, kind: ProbeKind, cpu: FakeCpu, **spec: Any) -> bool:
        return KINDS[kind].at_stop(self.ctx, {"kind": str(kind), **spec}, cpu)  # type: ignore[misc]

    def records(self) -> list[str]:
        return [json.loads(line)["probe"] for line in self.lines]

    def events(self) -> list[Any]:
        out = []
        for line in self.lines:
            out += self.builder.feed(parse_hit(line.encode()))  # type: ignore[arg-type]
        self.lines = []
        return out + self.builder.flush_held()


def _ptregs(**values: int) -> bytes:
    return encode_pt_regs(values, LINUX_PT_REGS)


def _syscall_cpu(nr: int, *args: int, ax: int = 0, **memory: bytes) -> FakeCpu:
    regs = dict(zip(("di", "si", "dx", "r10", "r8", "r9"), args, strict=False))
    frame = _ptregs(
        orig_ax=nr,
        ax=ax,
        ip=0x40_1000,
        cx=0x40_1000,
        sp=0x7FFF_0000,
        flags=0x246,
        r11=0x246,
        cs=0x33,
        **regs,
    )
    return FakeCpu({REGS: frame, USER_BUF: memory.get("buf", b"")}, rip=DISPATCH, rdi=REGS)


def _pop_regs(cpu: FakeCpu, rip: int) -> None:
    """What a Linux-style sysretq path does: every register from the frame, rcx = ip."""
    frame = dict(decode_pt_regs(cpu.read(REGS, 168) or b"", LINUX_PT_REGS))
    for name in ("bp", "bx", "ax", "cx", "dx", "si", "di"):
        cpu.registers["r" + name] = frame[name]
    cpu.registers.update({f"r{n}": frame[f"r{n}"] for n in range(8, 16)})
    cpu.registers.update(rip=rip, rsp=frame["sp"])


def _exit_frame(rig: Rig, cpu: FakeCpu, nr: int) -> tuple[bytes, int]:
    """A syscall through entry and a sysretq exit: the exit record's pt_regs, and how many
    memory reads the exit made."""
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    frame = _ptregs(
        orig_ax=nr,
        ax=7,
        ip=0x40_1000,
        cx=0x40_1000,
        flags=0x246,
        r11=0x246,
        sp=0x7FFF_0000,
        cs=0x33,
        ss=0x2B,
        bx=3,
        r12=12,
        r15=15,
        bp=9,
        di=4,
    )
    cpu.write(REGS, frame)
    _pop_regs(cpu, SYSRET)
    reads = []
    read = cpu.read
    cpu.read = lambda addr, n: reads.append(addr) or read(addr, n)  # type: ignore[method-assign]
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    return bytes.fromhex(json.loads(rig.lines[-1])["ptregs"]), len(reads)


def test_sysret_exit_assembles_pt_regs_from_registers_without_reading_memory() -> None:
    cpu = _syscall_cpu(39)
    cpu.write(REGS + 136, (0x33).to_bytes(8, "little"))
    cpu.write(REGS + 160, (0x2B).to_bytes(8, "little"))
    data, reads = _exit_frame(Rig(), cpu, 39)
    assert data == cpu.read(REGS, 168)  # all 21 fields, as the memory read would have given
    assert reads == 0


def test_sysret_exit_of_rt_sigreturn_reads_its_rewritten_frame() -> None:
    cpu = _syscall_cpu(15)
    data, reads = _exit_frame(Rig(), cpu, 15)
    assert data == cpu.read(REGS, 168)
    assert reads == 1


def test_syscall_entry_and_sysret_exit_round_trip_with_user_buffers() -> None:
    rig = Rig()
    cpu = _syscall_cpu(1, 1, USER_BUF, 5, buf=b"hello")
    assert rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi") is False
    cpu.write(REGS + 80, (5).to_bytes(8, "little"))  # the kernel sets pt_regs->ax
    _pop_regs(cpu, SYSRET)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    assert rig.records() == ["syscall_entry", "syscall_exit"]
    assert not rig.ctx.inflight and not rig.ctx.frames
    events = rig.events()
    entry = next(e for e in events if isinstance(e, SyscallEntry))
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    assert (entry.nr, entry.args[:3], entry.memory) == (1, (1, USER_BUF, 5), ((1, b"hello"),))
    assert (exit_.ret, exit_.entry_seq, exit_.user_rip) == (5, entry.seq, 0x40_1000)
    assert isinstance(events[0], ProcessEvent) and events[0].name == "hello"


def test_iretq_exit_finds_its_syscall_by_the_frame_on_the_stack() -> None:
    rig = Rig()
    cpu = _syscall_cpu(39, ax=7)
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    rsp = REGS + 128  # iretq pops the frame that starts at pt_regs->ip
    frame = b"".join(v.to_bytes(8, "little") for v in (0x40_2000, 0x33, 0x202, 0x7FFE_0000, 0x2B))
    assert cpu.write(rsp, frame)  # the kernel returns elsewhere than it came from
    cpu.registers.update(rip=IRET, rsp=rsp)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="iretq")
    exit_ = next(e for e in rig.events() if isinstance(e, SyscallExit))
    assert (exit_.nr, exit_.ret, exit_.user_rip, exit_.user_rsp) == (39, 7, 0x40_2000, 0x7FFE_0000)


def test_exit_group_leaves_nothing_in_flight_and_the_next_exit_is_a_return_to_user() -> None:
    rig = Rig()
    cpu = _syscall_cpu(231, 3)
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    assert not rig.ctx.inflight
    cpu.registers.update(rip=SYSRET)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    assert rig.records() == ["syscall_entry", "return_to_user"]
    procs = [(e.action, e.pid, e.status) for e in rig.events() if isinstance(e, ProcessEvent)]
    # The address space was forgotten at exit_group: whatever returns to it next is new.
    assert procs == [("start", 1, None), ("exit", 1, 3), ("start", 2, None)]


def test_first_syscall_stop_is_asked_for_once() -> None:
    rig = Rig(stop_first_syscall=True)
    cpu = _syscall_cpu(39)
    assert rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi") is True
    assert rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi") is False


def test_page_fault_entry_and_its_iretq_exit() -> None:
    rig = Rig()
    frame = _ptregs(orig_ax=6, ip=0x40_1234, cs=0x33)
    cpu = FakeCpu({REGS: frame}, rip=0x3000, rsp=REGS, cr2=0xDEAD000)
    rig.stop(ProbeKind.INTERRUPT_ENTRY, cpu, regs_pointer="rsp", vector=14, has_error_code=True)
    cpu.registers.update(rip=IRET, rsp=REGS + 128)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="iretq")
    assert rig.records() == ["interrupt_entry", "interrupt_exit"]
    entry, exit_ = [e for e in rig.events() if isinstance(e, Interrupt)]
    assert (entry.name, entry.error_code, entry.cr2, entry.from_ring) == ("#PF", 6, 0xDEAD000, 3)
    assert (exit_.action, exit_.vector, exit_.rip, exit_.from_ring) == ("exit", 14, 0x40_1234, 3)


def test_device_interrupt_vector_is_the_handlers_second_argument() -> None:
    rig = Rig()
    cpu = FakeCpu({REGS: _ptregs(cs=0x10)}, rip=0x3000, rdi=REGS, rsi=0x120)
    rig.stop(ProbeKind.INTERRUPT_ENTRY, cpu, stub="asm_common_interrupt")
    (event,) = [e for e in rig.events() if isinstance(e, Interrupt)]
    assert (event.vector, event.name, event.from_ring) == (0x20, "irq32", 0)


def test_wrmsr_to_fs_base_snapshots_the_tls_block_and_lstar_asks_for_a_stop() -> None:
    tcb = 0x4A_C380
    plan = ProbePlan(Mode.DEFAULT, entry=_path(), tls_span=16)
    rig = Rig(plan, stop_on_lstar=True)
    block = (0x11).to_bytes(8, "little") + (0x22).to_bytes(8, "little") + tcb.to_bytes(8, "little")
    cpu = FakeCpu({tcb - 16: block, 0x7000: bytes(64)}, rip=0x3000, rsp=0x7000)
    cpu.registers.update(rcx=MSR_FS_BASE, rax=tcb & 0xFFFFFFFF, rdx=tcb >> 32)
    cpu.stack_callers = [0x5555]
    assert rig.stop(ProbeKind.WRMSR, cpu) is False
    cpu.registers.update(rcx=MSR_LSTAR, rax=0x8100_0000, rdx=0xFFFF_FFFF)
    assert rig.stop(ProbeKind.WRMSR, cpu) is True
    events = rig.events()
    writes = [(e.msr, e.new) for e in events if isinstance(e, MsrWrite)]
    assert writes == [(MSR_FS_BASE, tcb), (MSR_LSTAR, 0xFFFF_FFFF_8100_0000)]
    change = next(e for e in events if isinstance(e, SegBaseChange))
    assert (change.which, change.old, change.new, change.cause) == ("fs", 0, tcb, "wrmsr")
    snapshot = next(e for e in events if isinstance(e, TlsSnapshot))
    assert snapshot.self_pointer == tcb
    assert rig.builder.msr_values[MSR_LSTAR] == 0xFFFF_FFFF_8100_0000


def test_wrfsbase_reads_its_source_register() -> None:
    rig = Rig()
    cpu = FakeCpu({0x7000: bytes(64)}, rip=0x3000, rsp=0x7000, rbx=0x1234_0000)
    rig.stop(ProbeKind.WRFSBASE, cpu, source="rbx")
    change = next(e for e in rig.events() if isinstance(e, SegBaseChange))
    assert (change.which, change.new, change.cause) == ("fs", 0x1234_0000, "wrfsbase")


def _ring() -> RingLayout:
    return RingLayout(
        rings=0x9000,
        ring_size=40,
        ring_fields={"head": (0, 8), "tail": (8, 8), "size": (16, 8), "overruns": (24, 8),
                     "entries": (32, 8)},
        entry_size=32,
        entry_fields={"tsc": (0, 8), "func_addr": (8, 8), "depth": (16, 4), "type": (20, 4),
                      "pid": (24, 4), "retval": (28, 4)},
        enabled=0x8000, graph_funcs=None, graph_count=None, notrace_funcs=None,
        notrace_count=None, max_depth=None, buffer_full=0x6000, tsc_khz=None, max_funcs=32,
    )  # fmt: skip


def _entry(tsc: int, func: int, depth: int, kind: int, retval: int = 0) -> bytes:
    return b"".join(
        v.to_bytes(n, "little") for v, n in ((tsc, 8), (func, 8), (depth, 4), (kind, 4), (1, 4))
    ) + retval.to_bytes(4, "little")


def test_ring_drain_reads_unread_entries_marks_them_read_and_counts_overruns() -> None:
    plan = ProbePlan(Mode.DEFAULT, entry=_path())
    ringbuf.add_ring_probe(plan, _ring())
    assert [p.kind for p in plan.probes] == [ProbeKind.FTRACE_FULL]
    rig = Rig(plan, ring_armed=True)
    header = b"".join(v.to_bytes(8, "little") for v in (2, 0, 4, 3, 0xA000))
    entries = _entry(10, 0xF00, 0, 0) + _entry(20, 0xF00, 0, 1, retval=9)
    cpu = FakeCpu({0x9000: header, 0xA000: entries + bytes(64)}, rip=0x6000)
    rig.stop(ProbeKind.FTRACE_FULL, cpu)
    assert int.from_bytes(cpu.read(0x9008, 8) or b"", "little") == 2  # tail moved to head
    events = rig.events()
    assert [type(e).__name__ for e in events] == ["Gap", "FuncEntry", "FuncExit"]
    assert events[0].count == 3 and events[2].retval == 9
    assert rig.ctx.drain_bytes == 64
    rig.stop(ProbeKind.FTRACE_FULL, cpu)  # nothing new: no record
    assert rig.lines == []


def _ring_workload(rig: Rig) -> list[tuple[str, int]]:
    """The guest writes function records between a syscall's entry and exit stops and then
    fills the ring: the events the tracer makes of it, in order."""
    cpu = _syscall_cpu(39)
    cpu.memory[0x9000] = bytearray(b"".join(v.to_bytes(8, "little") for v in (0, 0, 8, 0, 0xA000)))
    cpu.memory[0xA000] = bytearray(8 * 32)

    def guest_writes(*funcs: int) -> None:
        head = int.from_bytes(cpu.read(0x9000, 8) or b"", "little")
        for i, func in enumerate(funcs):
            cpu.write(0xA000 + ((head + i) % 8) * 32, _entry(head + i, func, 0, 0))
        cpu.write(0x9000, (head + len(funcs)).to_bytes(8, "little"))

    guest_writes(0xF01, 0xF02)
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    guest_writes(0xF03)
    _pop_regs(cpu, SYSRET)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="sysretq")  # nothing new: no drain point
    guest_writes(0xF04, 0xF05, 0xF06)  # the high-water mark (6 of 8)
    rig.stop(ProbeKind.FTRACE_FULL, cpu)
    guest_writes(0xF07, 0xF08, 0xF09, 0xF0A)  # wraps the 8-entry ring
    rig.stop(ProbeKind.FTRACE_FULL, cpu)
    out = []
    for event in rig.events():
        key = getattr(event, "addr", None) or getattr(event, "nr", None) or 0
        out.append((type(event).__name__, key))
    return out


def test_deferred_ring_drain_keeps_the_order_of_draining_at_every_stop(monkeypatch) -> None:
    plan = ProbePlan(Mode.DEFAULT, entry=_path())
    ringbuf.add_ring_probe(plan, _ring())
    deferred = Rig(plan, ring_armed=True)
    order = _ring_workload(deferred)
    monkeypatch.setattr(ringbuf, "HOLD_RECORDS", 0)  # every drain point drains at once
    eager = Rig(plan, ring_armed=True)
    assert order == _ring_workload(eager)
    assert [name for name, _ in order if name.startswith("Syscall")] == [
        "SyscallEntry",
        "SyscallExit",
    ]
    funcs = [func for name, func in order if name == "FuncEntry"]
    assert funcs == list(range(0xF01, 0xF0B))
    assert order.index(("FuncEntry", 0xF03)) < order.index(("SyscallExit", 39))
    assert order.index(("SyscallExit", 39)) < order.index(("FuncEntry", 0xF04))
    assert (deferred.ctx.drains, eager.ctx.drains) == (2, 4)


def test_context_switch_names_both_tasks_from_their_structs() -> None:
    layout = TaskLayout(pid_offset=8, pid_size=4, comm_offset=16, comm_size=8)
    plan = ProbePlan(Mode.DEFAULT, entry=_path(), task_layout=layout)
    rig = Rig(plan)

    def task(pid: int, name: bytes) -> bytes:
        return pid.to_bytes(4, "little") + bytes(4) + name.ljust(8, b"\0")

    cpu = FakeCpu({0xA008: task(1, b"init"), 0xB008: task(2, b"sh")}, rdi=0xA000, rsi=0xB000)
    rig.stop(ProbeKind.CONTEXT_SWITCH, cpu, task_span=list(layout.span))
    (switch,) = [e for e in rig.events() if isinstance(e, ContextSwitch)]
    assert (switch.prev_pid, switch.prev_name, switch.next_pid, switch.next_name) == (
        1, "init", 2, "sh",
    )  # fmt: skip


def test_an_exec_or_exit_switched_out_before_it_returns_caused_its_fs_reset() -> None:
    """Linux may switch an exec'ing or exiting task out after mm_release reset FS
    (deactivate_mm's null selector, no probe sees it): the switch sees FS at 0, the exec or
    exit in flight explains it."""
    layout = TaskLayout(pid_offset=8, pid_size=4, comm_offset=16, comm_size=8)

    def task(pid: int, name: bytes) -> bytes:
        return pid.to_bytes(4, "little") + bytes(4) + name.ljust(8, b"\0")

    structs = {0xA008: task(1, b"hello"), 0xB008: task(9, b"kworker")}
    # getpid; execve, exit, exit_group
    for nr, cause in ((39, SegCause.UNKNOWN), (59, SegCause.SYSCALL), (60, SegCause.SYSCALL),
                      (231, SegCause.SYSCALL)):  # fmt: skip
        rig = Rig(ProbePlan(Mode.DEFAULT, entry=_path(), task_layout=layout))
        cpu = _syscall_cpu(nr, USER_BUF, buf=b"/bin/x\0")
        cpu.registers["fs_base"] = 0x41_D198
        rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
        switch = FakeCpu(structs, rdi=0xA000, rsi=0xB000, fs_base=0)
        rig.stop(ProbeKind.CONTEXT_SWITCH, switch, task_span=list(layout.span))
        fs = [e for e in rig.events() if isinstance(e, SegBaseChange) and e.which == "fs"]
        assert [(e.old, e.new, e.cause) for e in fs] == [(0x41_D198, 0, cause)], nr


def test_function_graph_by_breakpoints_nests_calls() -> None:
    rig = Rig()
    cpu = FakeCpu(rip=0xF00, rsp=0x7F00)
    rig.stop(ProbeKind.FUNC_ENTRY, cpu, func=0xF00)
    cpu.registers.update(rip=0xE00, rsp=0x7E00)
    rig.stop(ProbeKind.FUNC_ENTRY, cpu, func=0xE00)
    cpu.registers.update(rip=0xE10, rax=1)
    rig.stop(ProbeKind.FUNC_EXIT, cpu, func=0xE00)
    cpu.registers.update(rip=0xF10, rsp=0x7F00, rax=2)
    rig.stop(ProbeKind.FUNC_EXIT, cpu, func=0xF00)
    calls = [(type(e).__name__, e.addr, e.depth) for e in rig.events()]
    assert calls == [
        ("FuncEntry", 0xF00, 0),
        ("FuncEntry", 0xE00, 1),
        ("FuncExit", 0xE00, 1),
        ("FuncExit", 0xF00, 0),
    ]


def test_every_kind_a_plan_arms_has_an_agent_side_and_every_record_an_event_side() -> None:
    armed = {ProbeKind.SYSCALL_ENTRY, ProbeKind.SYSCALL_EXIT, ProbeKind.INTERRUPT_ENTRY,
             ProbeKind.WRMSR, ProbeKind.WRFSBASE, ProbeKind.WRGSBASE, ProbeKind.SWAPGS,
             ProbeKind.CONTEXT_SWITCH, ProbeKind.FUNC_ENTRY, ProbeKind.FUNC_EXIT,
             ProbeKind.FTRACE_FULL, ProbeKind.VDSO_CALL}  # fmt: skip
    assert {k for k, h in KINDS.items() if h.at_stop is not None} == armed
    records = set(ProbeKind) - {ProbeKind.FTRACE_FULL, ProbeKind.AGENT_ERROR}
    assert {k for k, h in KINDS.items() if h.to_events is not None} == records


def test_agent_probe_json_carries_the_kind_as_its_string() -> None:
    probe = AgentProbe(0x10, ProbeKind.SYSCALL_EXIT, (("exit_kind", "iretq"),))
    assert json.loads(json.dumps(probe.to_json())) == {
        "addr": 0x10,
        "kind": "syscall_exit",
        "exit_kind": "iretq",
    }


def test_graph_probes_arm_entry_returns_and_tail_calls_out_of_the_set() -> None:
    plan = ProbePlan(Mode.DEFAULT)
    f = funcgraph.GraphFunction("f", 0x100, 0x40, (0x120, 0x130), ((0x138, 0x900),))
    g = funcgraph.GraphFunction("g", 0x200, 0x40, (0x220,), ((0x228, 0x100),))
    funcgraph.add_graph_probes(plan, [f, g])
    sites = [(p.addr, str(p.kind), dict(p.extra).get("how")) for p in plan.probes]
    assert sites == [
        (0x100, "func_entry", None),
        (0x120, "func_exit", "ret"),
        (0x130, "func_exit", "ret"),
        (0x138, "func_exit", "tail"),
        (0x200, "func_entry", None),
        (0x220, "func_exit", "ret"),
    ]


def test_kind_modules_share_the_exit_sites() -> None:
    plan = ProbePlan(Mode.DEFAULT)
    syscall.add_exits(plan, _path())
    syscall.add_exits(plan, _path())  # an interrupt stub reaching the same exits
    assert plan.count(ProbeKind.SYSCALL_EXIT) == 2
    assert plan.exit_swapgs == {SYSRET: 0x10EB, IRET: 0x2075}
    assert irq.vector_name(14) == "#PF" and msr.BASE_MSRS[MSR_FS_BASE] == "fs"
    assert sched.find_switch.__module__ == "tracer.probes.sched"


def test_a_system_vector_is_named_by_its_stub_entry_and_exit() -> None:
    rig = Rig()
    frame = _ptregs(orig_ax=-1 & (2**64 - 1), ip=0x40_1234, cs=0x33)
    cpu = FakeCpu({REGS: frame}, rip=0x3000, rdi=REGS, rsi=0x77)  # rsi: not an argument
    rig.stop(ProbeKind.INTERRUPT_ENTRY, cpu, stub="asm_sysvec_apic_timer_interrupt")
    cpu.registers.update(rip=IRET, rsp=REGS + 128)
    rig.stop(ProbeKind.SYSCALL_EXIT, cpu, exit_kind="iretq")
    entry, exit_ = [e for e in rig.events() if isinstance(e, Interrupt)]
    assert (entry.vector, entry.name, entry.from_ring) == (-1, "sysvec_apic_timer_interrupt", 3)
    assert (exit_.vector, exit_.name, exit_.rip) == (-1, "sysvec_apic_timer_interrupt", 0x40_1234)


def test_syscall_sites_are_lifted_on_one_cpu_with_the_context_switch_probed() -> None:
    plan = ProbePlan(Mode.DEFAULT, entry=_path())
    plan.probes.append(AgentProbe(DISPATCH, ProbeKind.SYSCALL_ENTRY))
    assert not plan.lifts_sites(cpus=1)  # a task switched to could reach a lifted site unseen
    plan.probes.append(AgentProbe(0x3000, ProbeKind.CONTEXT_SWITCH))
    assert plan.lifts_sites(cpus=1)
    assert plan.agent_plan(stop_first_syscall=False, cpus=1)["lift_sites"] is True
    assert not plan.lifts_sites(cpus=2)  # a breakpoint is lifted for every CPU at once
    assert plan.agent_plan(stop_first_syscall=False, cpus=2)["lift_sites"] is False


def test_only_sites_a_cpu_cannot_reach_twice_without_another_stop_are_liftable() -> None:
    def probe(kind: ProbeKind, **extra: Any) -> dict[str, Any]:
        return AgentProbe(0x1000, kind, tuple(extra.items())).to_json()

    assert liftable(probe(ProbeKind.SYSCALL_ENTRY, regs_pointer="rdi"))
    assert liftable(probe(ProbeKind.SYSCALL_EXIT, exit_kind="sysretq"))
    assert liftable(probe(ProbeKind.SYSCALL_EXIT, frame_at="rsp"))  # the dispatcher's return
    assert not liftable(probe(ProbeKind.SYSCALL_EXIT, exit_kind="iretq"))  # interrupts nest
    assert not liftable(probe(ProbeKind.INTERRUPT_ENTRY, regs_pointer="rdi"))
    assert not liftable(probe(ProbeKind.CONTEXT_SWITCH))
