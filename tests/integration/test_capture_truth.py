"""The tracer against the guest's ground-truth log, event for event.

The truth log is written by the guest to its debug port for these tests only; the tracer never
reads it. Every syscall's number, arguments, return value and pt_regs, the MSR writes and the
FS/GS/KERNEL_GS_BASE values must agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_support import KERNEL, Captured, build_guest, run_capture

from tracer.events import (
    ContextSwitch,
    Interrupt,
    MsrRead,
    MsrWrite,
    SegBaseChange,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.image import ElfImage, analyze_syscall_entry
from tracer.probes.plan import Mode
from tracer.store import TraceReader

pytestmark = pytest.mark.qemu

# getrandom, clocks, time, sleeps; and the stat calls, whose decoded structure holds times
RANDOM_OR_CLOCK = {318, 228, 96, 201, 229, 35, 230, 4, 5, 6, 262}
MSR_GS_BASE = 0xC0000101
MSR_KERNEL_GS_BASE = 0xC0000102


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


@pytest.fixture(scope="module", params=["hello-glibc", "hello-musl", "allsyscalls-glibc"])
def captured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    tmp = tmp_path_factory.mktemp(request.param)
    return run_capture(tmp, [(request.param, ())])


def _of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_capture_ran_to_the_guest_power_off(captured: Captured) -> None:
    assert captured.result.error is None
    assert captured.result.reason == "guest-exit"
    assert captured.result.guest_status == 0


def test_syscall_entries_equal_truth(captured: Captured) -> None:
    truth = [t for t in captured.truth if t["ev"] == "syscall_entry"]
    entries = _of(captured.events, SyscallEntry)
    assert len(entries) == len(truth) >= 5
    for mine, want in zip(entries, truth, strict=True):
        # The guest logs the dispatcher's `int nr`; the tracer keeps all of orig_ax.
        assert mine.nr & 0xFFFFFFFF == want["nr"]
        assert list(mine.args) == want["args"]
        assert (mine.user_rip, mine.user_rsp) == (want["rip"], want["rsp"])
        assert dict(mine.regs) == want["regs"], f"pt_regs differ for nr {mine.nr}"


def test_syscall_exits_equal_truth(captured: Captured) -> None:
    truth = [t for t in captured.truth if t["ev"] == "syscall_exit"]
    exits = _of(captured.events, SyscallExit)
    assert [(e.nr & 0xFFFFFFFF, e.ret) for e in exits] == [(t["nr"], t["ret"]) for t in truth]
    for exit_ in exits:
        # sysretq takes RIP from RCX and RFLAGS from R11: what the tracer saw at the exit
        # must be what pt_regs says the kernel is returning to.
        assert exit_.user_rip == exit_.reg("ip")
        assert exit_.user_rsp == exit_.reg("sp")
        assert exit_.ret == exit_.reg("ax")


def test_the_syscalls_were_taken_by_watchpoints(captured: Captured) -> None:
    """On one CPU the agent takes syscalls at two watchpoints on the thread's frame
    (`syscall_watch`: a watchpoint's stop costs QEMU no re-translation, a breakpoint's does):
    the entries and exits that equal the truth above were taken that way, all but each
    thread's first entry (a breakpoint's), and no exit was missed (the watchpoints never gave
    up)."""
    with TraceReader.open(captured.trace) as reader:
        meta = reader.meta
    entries = _of(captured.events, SyscallEntry)
    exits = _of(captured.events, SyscallExit)
    threads = int(meta["agent_watchpoints"]) // 2
    assert meta["agent_watching"] == "1" and int(meta["agent_lifted"]) == 0
    assert 1 <= threads < len(entries)
    watch = captured.result.plan.watch
    assert watch is not None and {e.pc for e in exits} <= set(watch.exit_pops)
    # An interrupt of user mode stops at the frame's pop too: its own return.
    assert int(meta["agent_watch_stops"]) >= len(entries) - threads + len(exits)


def test_msr_writes_equal_truth(captured: Captured) -> None:
    truth = [(t["msr"], t["value"]) for t in captured.truth if t["ev"] == "msr_write"]
    writes = [(w.msr, w.new) for w in _of(captured.events, MsrWrite)]
    # The truth log starts once the kernel can log; the tracer also sees the boot code's
    # EFER.LME write in 32-bit mode before that.
    assert writes[-len(truth) :] == truth
    assert len(writes) >= len(truth)


def test_segment_bases_at_every_crossing(captured: Captured) -> None:
    """Replay the recorded base changes; the bases seen at every stop must agree with them,
    and the FS and user-GS changes must be the ones the guest logged."""
    truth = [
        (t["which"], t["old"], t["new"])
        for t in captured.truth
        if t["ev"] == "segbase" and t["old"] != t["new"]
    ]
    state = {"fs": 0, "gs": 0, "kgs": 0}
    user_changes = []
    for event in captured.events:
        if isinstance(event, SegBaseChange):
            assert state[event.which] == event.old, event
            state[event.which] = event.new
            if event.cause is SegCause.ARCH_PRCTL:
                # In the kernel the user's GS base lives in KERNEL_GS_BASE.
                which = "gs" if event.which == "kgs" else event.which
                user_changes.append((which, event.old, event.new))
            assert event.cause is not SegCause.UNKNOWN, event
        if isinstance(event, SyscallEntry | SyscallExit):
            seen = event.bases
            assert (seen.fs_base, seen.gs_base, seen.kernel_gs_base) == (
                state["fs"],
                state["gs"],
                state["kgs"],
            ), event
    assert user_changes == truth


def test_swapgs_rebuilt_at_each_crossing(captured: Captured) -> None:
    swaps = [
        e
        for e in captured.events
        if isinstance(e, SegBaseChange) and e.cause is SegCause.SWAPGS and e.which == "gs"
    ]
    entries = _of(captured.events, SyscallEntry)
    exits = _of(captured.events, SyscallExit)
    # Interrupts and exceptions from user mode (the timer, lazily mapped pages) stop where
    # their stub calls its handler; both their swapgs are rebuilt like a syscall's.
    interrupts = [
        e
        for e in captured.events
        if isinstance(e, Interrupt) and e.action == "entry" and e.from_ring == 3
    ]
    returns = [
        e
        for e in captured.events
        if isinstance(e, Interrupt) and e.action == "exit" and e.from_ring == 3
    ]
    assert len(interrupts) == len(returns)
    assert all(e.inferred for e in swaps)
    # One swapgs into the kernel per syscall, one out per returning syscall, one for the
    # first entry to user mode, two per interrupt.
    assert len(swaps) == len(entries) + len(exits) + 1 + 2 * len(interrupts)
    entry = ElfImage.open(KERNEL).symbol("entry_SYSCALL_64")
    assert entry is not None
    assert len([e for e in swaps if e.pc == entry.addr]) == len(entries)
    assert not [
        e for e in captured.events if isinstance(e, SegBaseChange) and e.cause is SegCause.UNKNOWN
    ]


def test_on_demand_msr_reads_agree_with_last_writes(captured: Captured) -> None:
    reads = _of(captured.events, MsrRead)
    assert {r.msr for r in reads} >= {0xC0000080, 0xC0000081, 0xC0000082, 0xC0000084}
    last: dict[int, int] = {}
    for event in captured.events:
        if isinstance(event, MsrWrite):
            last[event.msr] = event.new
        if isinstance(event, MsrRead):
            assert event.value == last[event.msr], hex(event.msr)
    # The guest went on unharmed after the injected rdmsr: its syscalls matched the truth
    # log above and it powered off cleanly.
    assert captured.result.guest_status == 0


def test_default_and_exhaustive_modes_give_the_same_events(tmp_path: Path) -> None:
    """Default mode rebuilds the syscall path's swapgs; exhaustive mode stops at them. The
    timer interrupts land wherever host time puts them, so events they cause are compared by
    balance, and everything the program's syscalls cause is compared exactly."""
    image = ElfImage.open(KERNEL)
    entry = analyze_syscall_entry(image, image.symbol("entry_SYSCALL_64").addr)
    sysret_swapgs = {entry.entry_swapgs[0], entry.exit_swapgs[0]}

    def comparable(captured: Captured) -> list[tuple]:
        rows = []
        for event in captured.events:
            if isinstance(event, Interrupt | ContextSwitch):
                continue
            if (
                isinstance(event, SegBaseChange)
                and event.cause is SegCause.SWAPGS
                and (event.pc not in sysret_swapgs)
            ):
                continue
            skip = {"seq", "time_ns", "inferred", "entry_seq"}
            if isinstance(event, SyscallExit):
                skip.add("pc")  # default mode's is where a watchpoint saw the frame popped
            if getattr(event, "nr", None) in RANDOM_OR_CLOCK:
                skip |= {"memory", "ret", "regs"}  # what these return differs run to run
            fields = {k: v for k, v in vars_of(event).items() if k not in skip}
            rows.append((type(event).__name__, tuple(sorted(fields.items()))))
        return rows

    default = run_capture(tmp_path / "d", [("allsyscalls-musl", ())], read_msrs=False)
    exhaustive = run_capture(
        tmp_path / "e", [("allsyscalls-musl", ())], mode=Mode.EXHAUSTIVE, read_msrs=False
    )
    assert comparable(default) == comparable(exhaustive)
    watch = default.result.plan.watch
    assert watch is not None and exhaustive.result.plan.watch is None
    exit_sites = {site.addr for site in entry.exit_sites}
    assert {e.pc for e in _of(default.events, SyscallExit)} <= set(watch.exit_pops)
    assert {e.pc for e in _of(exhaustive.events, SyscallExit)} <= exit_sites
    for captured in (default, exhaustive):
        swaps = [
            e
            for e in captured.events
            if isinstance(e, SegBaseChange) and e.cause is SegCause.SWAPGS
        ]
        assert len(swaps) % 2 == 0
        assert not [
            e
            for e in captured.events
            if isinstance(e, SegBaseChange) and e.cause is SegCause.UNKNOWN
        ]
    inferred = [e for e in default.events if isinstance(e, SegBaseChange) and e.inferred]
    observed = [e for e in exhaustive.events if isinstance(e, SegBaseChange) and e.inferred]
    assert inferred and not observed
    assert exhaustive.result.stats.hits > default.result.stats.hits


def vars_of(event: object) -> dict:
    return {name: getattr(event, name) for name in event.__slots__}  # type: ignore[attr-defined]
