"""The event builder on hand-made probe hits: no QEMU, no gdb."""

from __future__ import annotations

from tracer.decode.ptregs import LINUX_PT_REGS, encode_pt_regs
from tracer.events import (
    MsrWrite,
    ProcessEvent,
    SegBaseChange,
    SegCause,
    SyscallEntry,
    SyscallExit,
)
from tracer.image.entry_path import EntryPath, ExitSite
from tracer.probes.builder import EventBuilder
from tracer.probes.plan import Mode, ProbePlan
from tracer.target.gdb import ProbeHit

PERCPU = 0xFFFF_FFFF_8011_70C0
ENTRY, ENTRY_SWAPGS, DISPATCH = 0x1000, 0x1000, 0x1040
SYSRET_SWAPGS, SYSRET = 0x10EB, 0x10EE
IRET_SWAPGS, IRET = 0x2075, 0x2078
CR3 = 0x20_0000


def _entry_path() -> EntryPath:
    return EntryPath(
        entry=ENTRY,
        entry_swapgs=(ENTRY_SWAPGS,),
        exit_swapgs=(SYSRET_SWAPGS, IRET_SWAPGS),
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


def _plan(mode: Mode = Mode.DEFAULT) -> ProbePlan:
    return ProbePlan(
        mode, entry=_entry_path(), exit_swapgs={SYSRET: SYSRET_SWAPGS, IRET: IRET_SWAPGS}
    )


def _regs(**values: int) -> str:
    regs = {name: 0 for name, _, _ in LINUX_PT_REGS}
    regs.update(values)
    return encode_pt_regs(regs, LINUX_PT_REGS).hex()


class Hits:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(
        self, probe: str, pc: int, bases: tuple[int, int, int], **fields: object
    ) -> ProbeHit:
        self.seq += 1
        return ProbeHit(self.seq, 1000 + self.seq, probe, pc, 0, CR3, bases, dict(fields))


def _feed(builder: EventBuilder, hits: list[ProbeHit]) -> list:
    out = []
    for hit in hits:
        out += builder.feed(hit)
    return out


def _syscall(hit: Hits, nr: int, ret: int, fs: int = 0) -> list[ProbeHit]:
    kernel, user = (fs, PERCPU, 0), (fs, 0, PERCPU)
    regs = _regs(orig_ax=nr, ax=(-38) & (2**64 - 1), di=1, ip=0x401000, sp=0x7FFF0000, flags=0x246)
    done = _regs(orig_ax=nr, ax=ret, di=1, ip=0x401000, sp=0x7FFF0000, flags=0x246)
    return [
        hit(
            "syscall_entry",
            DISPATCH,
            kernel,
            regs_addr=0xFFFF8880001FDF58,
            ptregs=regs,
            cpu_regs={},
            memory=[],
        ),
        hit(
            "syscall_exit",
            SYSRET,
            user,
            exit_kind="sysretq",
            regs_addr=0xFFFF8880001FDF58,
            ptregs=done,
            cpu_regs={"rax": ret, "rcx": 0x401000, "r11": 0x246, "rsp": 0x7FFF0000},
            iret_frame=None,
            memory=[],
        ),
    ]


def test_syscall_pair_with_rebuilt_swapgs() -> None:
    hit = Hits()
    builder = EventBuilder(_plan(), ["hello"], t0_ns=1000)
    events = _feed(
        builder,
        [hit("return_to_user", IRET, (0, 0, PERCPU), exit_kind="iretq"), *_syscall(hit, 39, 1)],
    )
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ProcessEvent"
    entry = next(e for e in events if isinstance(e, SyscallEntry))
    exit_ = next(e for e in events if isinstance(e, SyscallExit))
    assert (entry.nr, entry.args[0], entry.user_rip, entry.pid) == (39, 1, 0x401000, 1)
    assert (exit_.ret, exit_.entry_seq, exit_.user_rip, exit_.user_rflags) == (
        1,
        entry.seq,
        0x401000,
        0x246,
    )
    swaps = [e for e in events if isinstance(e, SegBaseChange)]
    assert all(e.cause is SegCause.SWAPGS and e.inferred for e in swaps)
    assert [(e.which, e.pc) for e in swaps] == [
        ("gs", IRET_SWAPGS),
        ("kgs", IRET_SWAPGS),
        ("gs", ENTRY_SWAPGS),
        ("kgs", ENTRY_SWAPGS),
        ("gs", SYSRET_SWAPGS),
        ("kgs", SYSRET_SWAPGS),
    ]


def test_fs_write_during_arch_prctl_is_attributed_to_it() -> None:
    hit = Hits()
    builder = EventBuilder(_plan(), ["hello"], t0_ns=1000)
    entry, exit_ = _syscall(hit, 158, 0, fs=0)
    wrmsr = hit("wrmsr", 0x3000, (0, PERCPU, 0), msr=0xC0000100, value=0x4AC380)
    exit_ = ProbeHit(
        exit_.seq + 1,
        exit_.time_ns,
        exit_.probe,
        exit_.pc,
        0,
        CR3,
        (0x4AC380, 0, PERCPU),
        exit_.fields,
    )
    events = _feed(builder, [entry, wrmsr, exit_])
    write = next(e for e in events if isinstance(e, MsrWrite))
    assert (write.old, write.new) == (0, 0x4AC380)
    change = next(e for e in events if isinstance(e, SegBaseChange) and e.which == "fs")
    assert change.cause is SegCause.ARCH_PRCTL and not change.inferred
    assert not [e for e in events if isinstance(e, SegBaseChange) and e.cause is SegCause.UNKNOWN]


def test_change_nobody_explains_is_unknown() -> None:
    hit = Hits()
    builder = EventBuilder(_plan(), ["hello"], t0_ns=1000)
    first = _syscall(hit, 39, 1)
    second = _syscall(hit, 39, 1, fs=0x1234)  # FS moved with no probe seeing why
    events = _feed(builder, first + second)
    unknown = [e for e in events if isinstance(e, SegBaseChange) and e.cause is SegCause.UNKNOWN]
    assert [(e.which, e.old, e.new) for e in unknown] == [("fs", 0, 0x1234)]


def test_exit_group_ends_the_process_and_a_new_address_space_is_a_new_pid() -> None:
    hit = Hits()
    builder = EventBuilder(_plan(), ["one", "two"], t0_ns=1000)
    events = _feed(builder, _syscall(hit, 231, 0)[:1] + _syscall(hit, 39, 2))
    procs = [(e.action, e.pid, e.name) for e in events if isinstance(e, ProcessEvent)]
    assert procs == [("start", 1, "one"), ("exit", 1, "one"), ("start", 2, "two")]


def test_exhaustive_mode_takes_swapgs_from_its_own_stops() -> None:
    hit = Hits()
    builder = EventBuilder(_plan(Mode.EXHAUSTIVE), ["hello"], t0_ns=1000)
    entry, exit_ = _syscall(hit, 39, 1)
    events = _feed(
        builder,
        [
            hit("swapgs", ENTRY_SWAPGS, (0, 0, PERCPU)),
            entry,
            hit("swapgs", SYSRET_SWAPGS, (0, PERCPU, 0)),
            exit_,
        ],
    )
    swaps = [e for e in events if isinstance(e, SegBaseChange)]
    assert len(swaps) == 4 and not any(e.inferred for e in swaps)


def test_an_unwatched_swapgs_is_inferred_not_unknown() -> None:
    # An interrupt from user mode whose stub is not probed: its entry swapgs is never seen,
    # and the next stop (its iretq exit) finds GS and KERNEL_GS_BASE traded places.
    hit = Hits()
    builder = EventBuilder(_plan(), ["hello"], t0_ns=1000)
    events = _feed(builder, [*_syscall(hit, 39, 1)])
    events += builder.feed(hit("return_to_user", IRET, (0, 0, PERCPU), exit_kind="iretq"))
    changes = [e for e in events if isinstance(e, SegBaseChange)]
    assert changes and all(e.cause is SegCause.SWAPGS and e.inferred for e in changes)


def _rebuilt_plan() -> ProbePlan:
    plan = _plan()
    plan.inactive_writes_rebuilt = True
    return plan


def test_an_unarmed_inactive_write_at_a_switch_is_the_switchs() -> None:
    """Linux's `__wrgsbase_inactive` (swapgs; wrgsbase; swapgs) is not armed in default mode:
    the KERNEL_GS_BASE it left is seen at the CPU's next stop, here the exit of the task
    switched in, whose user GS differs, and is credited to the switch under way."""
    hit = Hits()
    builder = EventBuilder(_rebuilt_plan(), ["hello"], t0_ns=1000)
    entry, exit_ = _syscall(hit, 39, 1)
    entry = ProbeHit(entry.seq, entry.time_ns, entry.probe, entry.pc, 0, CR3,
                     (0, PERCPU, 0x7000), entry.fields)  # fmt: skip
    # __switch_to's wrfsbase, called from the scheduler (its return address in a switch
    # function), with the user GS of the task switched out (0x7000) inactive
    switch = ProbeHit(2, exit_.time_ns, "wrfsbase", 0x3000, 0, CR3, (0, PERCPU, 0x7000),
                      {"value": 0, "callers": [0x3050], "stack": ""})  # fmt: skip
    builder.causes.switch_ranges.append((0x3000, 0x3100))
    exit_ = ProbeHit(3, exit_.time_ns + 1, exit_.probe, exit_.pc, 0, CR3, (0, 0x9000, PERCPU),
                     exit_.fields)  # fmt: skip
    events = _feed(builder, [entry, switch, exit_]) + builder.flush_held()
    kgs = [e for e in events if isinstance(e, SegBaseChange) and e.which == "kgs"
           and e.cause is not SegCause.SWAPGS]  # fmt: skip
    assert [(e.old, e.new, e.cause) for e in kgs] == [(0x7000, 0x9000, SegCause.CONTEXT_SWITCH)]
    assert not [e for e in events if isinstance(e, SegBaseChange) and e.cause is SegCause.UNKNOWN]


def test_a_switch_out_of_an_arch_prctl_is_a_switch() -> None:
    """A task switched out inside arch_prctl (ARCH_GET_GS here), on a kernel without CFI for
    the unwinder (no callers): the wrfsbase sits in `__switch_to` itself, so it and the
    unarmed inactive-GS write after it are the switch's, not arch_prctl's (seen on Debian's
    6.1: `unknown-base-change: KGS base 0x4a40e0 -> 0x0` at `__switch_to+0xf5`)."""
    hit = Hits()
    builder = EventBuilder(_rebuilt_plan(), ["hello"], t0_ns=1000)
    entry, exit_ = _syscall(hit, 158, 0)
    entry = ProbeHit(entry.seq, entry.time_ns, entry.probe, entry.pc, 0, CR3,
                     (0x4000, PERCPU, 0x7000), entry.fields)  # fmt: skip
    entry.fields["ptregs"] = _regs(orig_ax=158, di=0x1004, si=0x6000, ip=0x401000)
    switch = ProbeHit(2, exit_.time_ns, "wrfsbase", 0x30F5, 0, CR3, (0x4000, PERCPU, 0x7000),
                      {"value": 0, "callers": [], "stack": ""})  # fmt: skip
    builder.causes.switch_ranges.append((0x3000, 0x3100))
    back = ProbeHit(3, exit_.time_ns + 1, "wrfsbase", 0x30F5, 0, CR3, (0, PERCPU, 0),
                    {"value": 0x4000, "callers": [], "stack": ""})  # fmt: skip
    events = _feed(builder, [entry, switch, back]) + builder.flush_held()
    changes = [(e.which, e.old, e.new, e.cause) for e in events
               if isinstance(e, SegBaseChange) and e.cause is not SegCause.SWAPGS]  # fmt: skip
    assert changes == [
        ("fs", 0x4000, 0, SegCause.CONTEXT_SWITCH),
        ("kgs", 0x7000, 0, SegCause.CONTEXT_SWITCH),
        ("fs", 0, 0x4000, SegCause.CONTEXT_SWITCH),
    ], changes


def test_an_unarmed_inactive_write_before_a_swapgs_and_by_arch_prctl() -> None:
    """arch_prctl(ARCH_SET_GS) writes the inactive GS too; its value may have been swapped
    into GS by the time of the next stop: the write, then the swapgs."""
    for rebuilt, unknown in ((True, 0), (False, 1)):
        hit = Hits()
        plan = _rebuilt_plan() if rebuilt else _plan()
        builder = EventBuilder(plan, ["hello"], t0_ns=1000)
        entry, _ = _syscall(hit, 158, 0)  # arch_prctl
        entry.fields["ptregs"] = _regs(orig_ax=158, di=0x1001, si=0x5000, ip=0x401000)
        later = hit("return_to_user", IRET, (0, 0x5000, PERCPU), exit_kind="iretq")
        events = _feed(builder, [entry, later])
        changes = [e for e in events if isinstance(e, SegBaseChange)]
        flagged = [e for e in changes if e.cause is SegCause.UNKNOWN]
        assert len(flagged) == unknown, changes
        if rebuilt:
            assert [(e.which, e.cause) for e in changes][-3:] == [
                ("kgs", SegCause.ARCH_PRCTL), ("gs", SegCause.SWAPGS), ("kgs", SegCause.SWAPGS),
            ]  # fmt: skip
