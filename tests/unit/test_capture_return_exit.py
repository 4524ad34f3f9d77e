"""The capture loop (FakeTarget, the real builder and store) on a kernel whose iret route moves
the frame, as Linux's does: the plan's exit where the dispatcher returns, an execve's exit
there with its result, and the exec's FS reset explained for `tracer check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_image_iret_route import ENTRY, LINUX_ROUTE
from test_image_support import assemble_program, build_user

from tracer.analysis.checks import KernelFacts, run_checks
from tracer.capture import CaptureOptions, Program, capture, plan_capture
from tracer.decode.ptregs import encode_pt_regs
from tracer.events import SegBaseChange, SegCause, SyscallEntry, SyscallExit
from tracer.export.labels import syscall_line
from tracer.image import ElfImage
from tracer.probes.plan import ProbePlan
from tracer.store import TraceReader
from tracer.target.fake import FakeTarget, PowerOff, Records
from tracer.target.records import ProbeHit

PERCPU, REGS = 0xFFFF_8880_1F40_0000, 0xFFFF_C900_0001_3F58
OLD_CR3, NEW_CR3, OLD_TCB = 0x606_A000, 0x606_8000, 0x41_D198
PATH = 0x7FFD_0000_1000
NR_EXECVE, NR_BRK, NR_EXIT_GROUP = 59, 12, 231


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("return-exit")
    kernel = assemble_program(out, "kernel", ENTRY.format(after_call=LINUX_ROUTE))
    return kernel, build_user(out)


class Run:
    """Agent records as the plan's probes would write them, in order."""

    def __init__(self, plan: ProbePlan) -> None:
        assert plan.entry is not None and plan.entry.dispatch_call is not None
        (self.returned,) = plan.return_exits
        self.dispatch, self.plan, self.seq = plan.entry.dispatch_call, plan, 0

    def _hit(self, probe: str, pc: int, cr3: int, fs: int, **fields: object) -> ProbeHit:
        self.seq += 1
        return ProbeHit(self.seq, 1000 + self.seq, probe, pc, 0, cr3, (fs, PERCPU, 0), fields)

    def _regs(self, **values: int) -> str:
        return encode_pt_regs(values, self.plan.ptregs_layout).hex()

    def entry(self, nr: int, cr3: int, fs: int, memory: list | None = None) -> ProbeHit:
        regs = self._regs(orig_ax=nr, di=PATH, ip=0x40_1000, cx=0x40_1000, cs=0x33)
        return self._hit("syscall_entry", self.dispatch, cr3, fs, regs_addr=REGS, ptregs=regs,
                         cpu_regs={}, memory=memory or [])  # fmt: skip

    def exit(self, nr: int, cr3: int, fs: int, ret: int, ip: int, cx: int) -> ProbeHit:
        regs = self._regs(orig_ax=nr, ax=ret, ip=ip, cx=cx, flags=0x246, r11=0x246,
                          sp=0x7FFE_0000, cs=0x33, ss=0x2B)  # fmt: skip
        frame = [ip, 0x33, 0x246, 0x7FFE_0000, 0x2B]
        return self._hit("syscall_exit", self.returned, cr3, fs, exit_kind="return",
                         regs_addr=REGS, ptregs=regs, iret_frame=frame, memory=[],
                         cpu_regs={"rax": ret, "rcx": 0, "r11": 0, "rsp": REGS,
                                   "cr3": cr3})  # fmt: skip


def _capture(binaries: tuple[Path, Path], tmp_path: Path) -> tuple[Run, list]:
    kernel, user = binaries
    options = CaptureOptions(kernel, kernel, [Program(user)], tmp_path / "t.db", read_msrs=False)
    run = Run(plan_capture(options, ElfImage.open(kernel)))
    path = [[0, b"/bin/user.elf\0".hex()]]
    script = [
        Records((run.entry(NR_EXECVE, OLD_CR3, OLD_TCB, path),
                 # The new program's first return: its own CR3, FS reset (unseen), by iret.
                 run.exit(NR_EXECVE, NEW_CR3, 0, 0, ip=0x40_1BC0, cx=0),
                 run.entry(NR_BRK, NEW_CR3, 0),
                 run.exit(NR_BRK, NEW_CR3, 0, 0x4AC_000, ip=0x40_1000, cx=0x40_1000),
                 run.entry(NR_EXIT_GROUP, NEW_CR3, 0))),
        PowerOff(1),
    ]  # fmt: skip
    target = FakeTarget(script, registers={"cs": 0x10, "rip": run.dispatch})
    result = capture(options, target_factory=lambda _options: target)
    with TraceReader.open(result.output) as reader:
        return run, list(reader.events())


def test_the_plan_exits_where_the_dispatcher_returns(binaries, tmp_path):
    kernel, user = binaries
    options = CaptureOptions(kernel, kernel, [Program(user)], tmp_path / "t.db")
    plan = plan_capture(options, ElfImage.open(kernel))
    exits = {p.addr: dict(p.extra) for p in plan.probes if p.kind == "syscall_exit"}
    (returned,) = plan.return_exits
    assert exits[returned] == {"exit_kind": "return", "frame_at": "rsp"}
    assert [e["exit_kind"] for e in exits.values()] == ["iretq", "return"]  # no sysretq


def test_an_execve_has_its_result_and_explains_the_fs_reset(binaries, tmp_path):
    run, events = _capture(binaries, tmp_path)
    entries = {e.seq: e for e in events if isinstance(e, SyscallEntry)}
    exits = [e for e in events if isinstance(e, SyscallExit)]
    assert [(entries[e.entry_seq].nr, e.ret) for e in exits] == [
        (NR_EXECVE, 0),
        (NR_BRK, 0x4AC_000),
    ]
    execve = exits[0]
    assert syscall_line(entries[execve.entry_seq], execve).endswith(" = 0")
    assert (execve.user_rip, execve.pid) == (0x40_1BC0, entries[execve.entry_seq].pid)
    fs = [e for e in events if isinstance(e, SegBaseChange) and e.which == "fs"]
    assert [(e.old, e.new, e.cause) for e in fs] == [(OLD_TCB, 0, SegCause.SYSCALL_EXIT)]
    swaps = [e.pc for e in events if isinstance(e, SegBaseChange) and e.cause == "swapgs"
             and entries[execve.entry_seq].seq < e.seq < execve.seq]  # fmt: skip
    iret_swapgs = run.plan.return_exits[run.returned].iret_swapgs
    assert swaps[-2:] == [iret_swapgs, iret_swapgs] and iret_swapgs is not None
    findings = run_checks(events, KernelFacts())
    assert not [f for f in findings if f.rule == "unknown-base-change"], findings
