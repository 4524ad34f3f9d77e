"""Syscalls by watchpoints (`syscall_watch`): where the plan puts them on a real kernel image,
and what the agent makes of each watchpoint's stop, against a fake CPU and fake watchpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_probes_agent import DISPATCH, REGS, FakeCpu, Rig, _path, _ptregs

from tracer.events import Gap, SyscallEntry, SyscallExit
from tracer.image import ElfImage
from tracer.probes.kinds import AgentProbe, Mode, ProbeKind
from tracer.probes.plan import ProbePlan, build_plan
from tracer.probes.syscall import ReturnExit
from tracer.probes.syscall_watch import MAX_WATCHED_FRAMES, AtCall, SyscallWatch, WatchSites

KERNEL = Path(__file__).parents[1] / "tui" / "fixtures" / "kernel.elf"  # the built-in guest's
DISPATCHER = 0x5000  # _path()'s dispatcher
POPPED = 0x10E2  # after the sysret way's first pop
SWAPGS = 0x10EB


class FakeWatch:
    def __init__(self, addr: int, write: bool) -> None:
        self.addr, self.write, self.enabled, self.deleted = addr, write, True, False

    def delete(self) -> None:
        self.deleted = True


class FakeBreakpoint:
    def __init__(self, kind: ProbeKind, **extra: Any) -> None:
        self.probe = {"kind": str(kind), **extra}
        self.enabled = self.liftable = True


class WatchRig(Rig):
    """The agent's side of a plan with its syscalls watched: a `SyscallWatch` with fake
    watchpoints, the entry breakpoint and a sysretq exit breakpoint waiting."""

    def __init__(self) -> None:
        plan = ProbePlan(Mode.DEFAULT, entry=_path())
        plan.return_exits[POPPED] = ReturnExit(SWAPGS, SWAPGS, ())
        plan.watch = WatchSites(DISPATCH, DISPATCHER, (POPPED,))
        super().__init__(plan)
        self.made: list[FakeWatch] = []
        self.entry_bp = FakeBreakpoint(ProbeKind.SYSCALL_ENTRY, regs_pointer="rdi")
        self.exit_bp = FakeBreakpoint(ProbeKind.SYSCALL_EXIT, exit_kind="sysretq")
        self.watch = SyscallWatch(
            plan.watch.to_json(), self.entry_bp.probe, self.make, self.ctx.sink
        )
        self.cached: list[tuple[int, int]] = []
        self.watch.start(
            [self.entry_bp, self.exit_bp], 168, lambda lo, hi: self.cached.append((lo, hi))
        )

    def make(self, addr: int, write: bool) -> FakeWatch:
        self.made.append(FakeWatch(addr, write))
        return self.made[-1]

    def breakpoint_entry(self, cpu: FakeCpu) -> None:
        """The entry breakpoint: at the dispatch call, RSP and RDI at the frame."""
        cpu.registers.update(rip=DISPATCH, rsp=REGS, rdi=REGS)
        self.watch.at_breakpoint(self.ctx, ProbeKind.SYSCALL_ENTRY, cpu)
        self.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
        self.watch.after_breakpoint(ProbeKind.SYSCALL_ENTRY, self.entry_bp, cpu)

    def watched_entry(self, cpu: FakeCpu) -> bool | None:
        """The call's write: the dispatcher's first instruction, its return address pushed."""
        cpu.registers.update(rip=DISPATCHER, rsp=REGS - 8, rdi=REGS)
        return self.watch.at_stop(self.ctx, cpu, write=True)

    def watched_exit(self, cpu: FakeCpu, ax: int) -> bool | None:
        """The way out's first pop: RSP one word into the frame, the frame still whole."""
        cpu.write(REGS, _ptregs(orig_ax=39, ax=ax, ip=0x40_1000, cx=0x40_1000, sp=0x7FFF_0000,
                                flags=0x246, r11=0x246, cs=0x33))  # fmt: skip
        cpu.registers.update(rip=POPPED, rsp=REGS + 8)
        return self.watch.at_stop(self.ctx, cpu, write=False)


def _cpu() -> FakeCpu:
    frame = _ptregs(orig_ax=39, ip=0x40_1000, cx=0x40_1000, sp=0x7FFF_0000, cs=0x33, r11=0x246)
    return FakeCpu({REGS - 8: b"\0" * 8 + frame})


def test_a_thread_is_watched_from_its_first_entry_and_each_syscall_is_two_watchpoint_stops() -> (
    None
):
    rig, cpu = WatchRig(), _cpu()
    assert (rig.entry_bp.enabled, rig.exit_bp.enabled) == (True, False)  # the exits wait
    rig.breakpoint_entry(cpu)
    call_write, first_word = rig.made
    assert (call_write.addr, call_write.write, first_word.addr, first_word.write) == (
        REGS - 8, True, REGS, False,
    )  # fmt: skip
    # The entry breakpoint waits for a switch; the call write is not watched during the syscall.
    assert not rig.entry_bp.enabled and not call_write.enabled and first_word.enabled
    assert rig.cached == [(REGS & ~0xFFF, (REGS + 168 + 0xFFF) & ~0xFFF)]
    assert rig.watched_exit(cpu, ax=7) is False
    assert call_write.enabled  # between syscalls: the next call write is the next entry
    assert rig.watched_entry(cpu) is False
    assert not call_write.enabled
    assert rig.watched_exit(cpu, ax=8) is False
    assert rig.records() == ["syscall_entry", "syscall_exit", "syscall_entry", "syscall_exit"]
    events = rig.events()
    entries = [e for e in events if isinstance(e, SyscallEntry)]
    exits = [e for e in events if isinstance(e, SyscallExit)]
    # A watched entry is recorded as the call site's: the same pc and frame as a breakpoint's.
    assert [(e.pc, e.regs_addr, e.nr) for e in entries] == [(DISPATCH, REGS, 39)] * 2
    assert [(e.pc, e.ret, e.entry_seq) for e in exits] == [
        (POPPED, 7, entries[0].seq), (POPPED, 8, entries[1].seq),
    ]  # fmt: skip
    assert len(rig.made) == 2 and rig.watch.active


def test_other_code_touching_the_watched_words_records_nothing() -> None:
    rig, cpu = WatchRig(), _cpu()
    rig.breakpoint_entry(cpu)
    rig.watched_exit(cpu, ax=0)
    rig.lines.clear()
    stops = rig.watch.stops
    # An interrupt of user mode calls its handler from the same frame, and pops it to return.
    cpu.registers.update(rip=0x6000, rsp=REGS - 8)
    assert rig.watch.at_stop(rig.ctx, cpu, write=True) is None
    cpu.registers.update(rip=POPPED, rsp=REGS + 8)  # a pop with no syscall in flight
    assert rig.watch.at_stop(rig.ctx, cpu, write=False) is False
    cpu.registers.update(rip=0x6100, rsp=REGS + 8)
    assert rig.watch.at_stop(rig.ctx, cpu, write=False) is None
    assert rig.records() == [] and rig.watch.stops == stops + 3


def test_an_interrupts_breakpoint_lifts_the_call_write_it_would_step_over_until_the_next_stop() -> (
    None
):
    """gdb steps over the interrupt stub's breakpoint at its handler call with the watchpoints
    blind: the frame's call write is lifted for that step and back at the next stop."""
    rig, cpu = WatchRig(), _cpu()
    rig.breakpoint_entry(cpu)
    rig.watched_exit(cpu, ax=0)
    call_write = rig.made[0]
    cpu.registers.update(rip=0x2000, rsp=REGS)
    rig.watch.at_breakpoint(rig.ctx, ProbeKind.INTERRUPT_ENTRY, cpu)
    rig.watch.after_breakpoint(
        ProbeKind.INTERRUPT_ENTRY, FakeBreakpoint(ProbeKind.INTERRUPT_ENTRY), cpu
    )
    assert not call_write.enabled
    rig.watch.at_breakpoint(rig.ctx, ProbeKind.SYSCALL_EXIT, cpu)  # its iretq
    assert call_write.enabled


def test_a_switch_brings_the_entry_breakpoint_back_for_a_thread_not_watched() -> None:
    rig, cpu = WatchRig(), _cpu()
    rig.breakpoint_entry(cpu)
    assert not rig.entry_bp.enabled
    rig.watch.at_breakpoint(rig.ctx, ProbeKind.CONTEXT_SWITCH, cpu)
    assert rig.entry_bp.enabled and not rig.exit_bp.enabled


def test_an_exit_the_watchpoints_missed_gives_the_syscalls_back_to_the_breakpoints() -> None:
    rig, cpu = WatchRig(), _cpu()
    rig.breakpoint_entry(cpu)
    rig.made[0].enabled = True  # as if its exit had left by a way the plan did not know
    assert rig.watched_entry(cpu) is False  # still recorded
    assert not rig.watch.active
    assert rig.entry_bp.enabled and rig.exit_bp.enabled
    assert not any(w.enabled for w in rig.made)
    assert rig.records() == ["syscall_entry", "agent_error", "syscall_entry"]
    gap = rig.builder.agent_error(json.loads(rig.lines[1]), 0)
    assert isinstance(gap, Gap) and "went by unseen" in gap.reason


def test_past_the_most_frames_watched_the_longest_unused_ones_are_deleted() -> None:
    rig = WatchRig()
    for n in range(MAX_WATCHED_FRAMES + 1):
        rig.watch.watch(REGS + 0x4000 * n)
    rig.watch.watch(REGS + 0x4000)  # used again: not the oldest any more
    rig.watch.watch(REGS + 0x4000 * (MAX_WATCHED_FRAMES + 1))
    deleted = [w.addr for w in rig.made if w.deleted]
    assert deleted == [REGS - 8, REGS, REGS + 0x8000 - 8, REGS + 0x8000]
    assert len(rig.watch.watched) == MAX_WATCHED_FRAMES


def test_a_frame_not_at_rsp_at_the_call_leaves_the_syscalls_to_the_breakpoints() -> None:
    rig, cpu = WatchRig(), _cpu()
    cpu.registers.update(rip=DISPATCH, rsp=REGS - 16, rdi=REGS)  # the frame is not at RSP
    rig.watch.at_breakpoint(rig.ctx, ProbeKind.SYSCALL_ENTRY, cpu)
    rig.stop(ProbeKind.SYSCALL_ENTRY, cpu, regs_pointer="rdi")
    rig.watch.after_breakpoint(ProbeKind.SYSCALL_ENTRY, rig.entry_bp, cpu)
    assert not rig.watch.active and rig.made == []
    assert rig.entry_bp.enabled and rig.exit_bp.enabled  # this syscall's exit is the sysretq's
    assert rig.records() == ["syscall_entry"]  # nothing was missed: no gap


def test_a_frame_whose_page_gdb_cannot_cache_is_watched_all_the_same() -> None:
    """gdb refuses a `mem` region overlapping an earlier one (two threads' frames on a page):
    the earlier region caches it, and the frame is watched as any other."""
    rig, cpu = WatchRig(), _cpu()

    def overlapping(lo: int, hi: int) -> None:
        raise RuntimeError("Overlapping memory region")

    rig.watch.cache = overlapping
    rig.breakpoint_entry(cpu)
    assert len(rig.made) == 2 and not rig.entry_bp.enabled
    assert rig.watched_exit(cpu, ax=0) is False
    assert rig.records() == ["syscall_entry", "syscall_exit"]


def test_at_call_shows_the_call_site() -> None:
    cpu = FakeCpu(rip=DISPATCHER, rsp=REGS - 8, rdi=REGS, rax=39)
    at = AtCall(cpu, DISPATCH)
    assert (at.reg("rip"), at.reg("rsp"), at.reg("rdi"), at.reg("rax")) == (
        DISPATCH,
        REGS,
        REGS,
        39,
    )


@pytest.fixture(scope="module")
def kernel() -> ElfImage:
    return ElfImage.open(KERNEL)


def test_the_built_in_guest_is_watched_at_its_dispatcher_and_each_way_outs_first_pop(
    kernel: ElfImage,
) -> None:
    plan = build_plan(kernel, watch=True)
    assert plan.watch is not None and plan.entry is not None
    symbol = kernel.symbol
    assert plan.watch.call == plan.entry.dispatch_call
    assert plan.watch.dispatcher == symbol("do_syscall_64").addr  # type: ignore[union-attr]
    popq_r15 = 2  # 41 5f
    ways = ("syscall_return_via_sysret", "swapgs_restore_regs_and_return_to_usermode")
    assert set(plan.watch.exit_pops) == {symbol(w).addr + popq_r15 for w in ways}  # type: ignore[union-attr]
    for pop in plan.watch.exit_pops:  # each way's own swapgs, rebuilt after the stop
        way_out = plan.return_exits[pop]
        assert way_out.sysret_swapgs == way_out.iret_swapgs
        assert way_out.sysret_swapgs in plan.entry.exit_swapgs
    assert plan.watches(1) and not plan.watches(2)
    assert plan.agent_plan(stop_first_syscall=False, cpus=1)["watch"] == plan.watch.to_json()
    assert plan.agent_plan(stop_first_syscall=False, cpus=2)["watch"] is None


def test_no_watchpoints_unless_asked_in_default_mode_with_no_breakpoint_where_they_stop(
    kernel: ElfImage,
) -> None:
    assert build_plan(kernel).watch is None
    assert build_plan(kernel, Mode.EXHAUSTIVE, watch=True).watch is None
    assert (
        build_plan(kernel, probes=frozenset({"syscall", "msr"}), watch=True).watch is None
    )  # no switch probe
    plan = build_plan(kernel, watch=True)
    assert plan.watch is not None
    # A function graph by breakpoints with one at the dispatcher: gdb would step over it unseen.
    plan.probes.append(AgentProbe(plan.watch.dispatcher, ProbeKind.FUNC_ENTRY))
    assert not plan.watches(1)
    assert plan.agent_plan(stop_first_syscall=False, cpus=1)["watch"] is None


@pytest.mark.parametrize(
    ("changes", "watched"),
    [({}, True), ({"watch": False}, False), ({"smp": 2}, False), ({"accel": "kvm"}, False)],
)
def test_a_capture_asks_for_watchpoints_on_one_cpu_under_tcg_unless_told_not_to(
    tmp_path: Path, changes: dict[str, Any], watched: bool
) -> None:
    from tracer.capture import CaptureOptions
    from tracer.capture.run import plan_capture

    options = CaptureOptions(KERNEL, KERNEL, [], tmp_path / "t.db", **changes)  # type: ignore[arg-type]
    assert (plan_capture(options, ElfImage.open(KERNEL)).watch is not None) is watched
