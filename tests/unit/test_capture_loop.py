"""The capture loop driven through FakeTarget: no QEMU, no gdb, the real builder and store."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from test_image_support import build_kernel, build_user

from tracer.capture import (
    CaptureControl,
    CaptureOptions,
    CaptureResult,
    Program,
    ProgramExit,
    StopRequest,
    capture,
    console_tail,
    plan_capture,
)
from tracer.capture import loop as loop_module
from tracer.decode.msr import FMASK, GS_BASE, IA32_EFER, KERNEL_GS_BASE, LSTAR, STAR
from tracer.decode.ptregs import encode_pt_regs
from tracer.events import Event, Gap, MsrRead, Note, ProcessEvent, SyscallEntry
from tracer.image import ElfImage
from tracer.probes.plan import ProbePlan
from tracer.store import TraceReader
from tracer.target.fake import (
    Call,
    FakeTarget,
    GdbDies,
    InTransit,
    PowerOff,
    Records,
    Step,
    Stop,
)
from tracer.target.records import AgentError, ProbeHit, StopEvent, parse_record

PERCPU = 0xFFFF_FFFF_8011_7000
CR3 = 0x20_0000
REGS_ADDR = 0xFFFF_8880_001F_DF58
MSRS = {IA32_EFER: 0xD01, STAR: 0x23_0010 << 32, LSTAR: 0xFFFF_FFFF_8000_1000, FMASK: 0x47700,
        GS_BASE: PERCPU, KERNEL_GS_BASE: 0}  # fmt: skip
NR_WRITE, NR_EXIT_GROUP = 1, 231


@pytest.fixture(scope="module")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("loop")
    return build_kernel(out), build_user(out)


class Guest:
    """Agent records a run of the fixture kernel would produce, in order."""

    def __init__(self, plan: ProbePlan) -> None:
        assert plan.entry is not None and plan.entry.dispatch_call is not None
        self.plan = plan
        self.dispatch = plan.entry.dispatch_call
        self.sysret = next(s.addr for s in plan.entry.exit_sites if s.kind == "sysretq")
        self.iret = next(s.addr for s in plan.entry.exit_sites if s.kind == "iretq")
        self.seq = 0

    def hit(self, probe: str, pc: int, bases: tuple[int, int, int], **fields: object) -> ProbeHit:
        self.seq += 1
        return ProbeHit(self.seq, 1000 + self.seq, probe, pc, 0, CR3, bases, dict(fields))

    def regs(self, **values: int) -> str:
        regs = {name: 0 for name, _, _ in self.plan.ptregs_layout}
        regs.update(values)
        return encode_pt_regs(regs, self.plan.ptregs_layout).hex()

    def start(self) -> ProbeHit:
        return self.hit("return_to_user", self.iret, (0, 0, PERCPU), exit_kind="iretq")

    def entry(self, nr: int, arg0: int = 1) -> ProbeHit:
        regs = self.regs(orig_ax=nr, ax=2**64 - 38, di=arg0, ip=0x401000, sp=0x7FFF0000)
        return self.hit("syscall_entry", self.dispatch, (0, PERCPU, 0), regs_addr=REGS_ADDR,
                        ptregs=regs, cpu_regs={}, memory=[])  # fmt: skip

    def exit(self, nr: int, ret: int) -> ProbeHit:
        regs = self.regs(orig_ax=nr, ax=ret, di=1, ip=0x401000, sp=0x7FFF0000)
        return self.hit("syscall_exit", self.sysret, (0, 0, PERCPU), exit_kind="sysretq",
                        regs_addr=REGS_ADDR, ptregs=regs, iret_frame=None, memory=[],
                        cpu_regs={"rax": ret, "rcx": 0x401000, "r11": 0x246,
                                  "rsp": 0x7FFF0000})  # fmt: skip

    def syscall(self, nr: int, ret: int = 0) -> Records:
        return Records((self.entry(nr), self.exit(nr, ret)))


def run(
    binaries: tuple[Path, Path],
    tmp_path: Path,
    script: list[Step] | None = None,
    build: object = None,
    stop: StopRequest | None = None,
    on_event: Callable[[Event], None] | None = None,
    **options: object,
) -> tuple[CaptureResult, FakeTarget, list]:
    kernel, user = binaries
    opts = CaptureOptions(kernel, kernel, [Program(user)], tmp_path / "trace.db", **options)  # type: ignore[arg-type]
    guest = Guest(plan_capture(opts, ElfImage.open(kernel)))
    if script is None:
        assert callable(build)
        script = build(guest)
    target = FakeTarget(list(script), registers={"cs": 0x10, "rip": guest.dispatch}, msrs=MSRS)
    result = capture(opts, target_factory=lambda _options: target, stop=stop, on_event=on_event)
    with TraceReader.open(result.output) as reader:
        events = list(reader.events())
    return result, target, events


def hello(guest: Guest, status: int = 0) -> list[Step]:
    """Start, a first syscall (the tracer's stop), write, exit_group(status), power-off."""
    return [
        Records((guest.start(), guest.entry(12))),
        Stop(StopEvent("breakpoint-hit", guest.dispatch)),
        Records((guest.exit(12, 0x4AC000),)),
        guest.syscall(NR_WRITE, 14),
        Records((guest.entry(NR_EXIT_GROUP, status),)),
        PowerOff(((status and 1) << 1) | 1),  # the guest reports a failed program as 1
    ]


def syscalls(events: list) -> list[int]:
    return [e.nr for e in events if isinstance(e, SyscallEntry)]


def test_a_whole_run_reads_msrs_at_the_first_syscall_and_ends_with_the_guest(binaries, tmp_path):
    result, target, events = run(binaries, tmp_path, build=hello)
    assert result.reason == "guest-exit" and result.failure() is None
    assert syscalls(events) == [12, NR_WRITE, NR_EXIT_GROUP]
    reads = {e.msr: e.value for e in events if isinstance(e, MsrRead)}
    assert reads == MSRS and result.msr_values == MSRS
    # The rdmsr injected at the stop is undone: registers as they were, so the agent can
    # drop gdb's second report of the same hit.
    rip = target.registers["rip"]
    writes = [arg for name, arg in target.calls if name == "write_memory"]
    assert writes == [(rip, b"\x0f\x32"), (rip, b"\0\0")]
    assert target.registers["rcx"] == 0 and target.registers["cs"] == 0x10
    # Its steps run with the probes quiet: gdb may report a step as the probe's hit.
    quiet = [i for i, (name, _arg) in enumerate(target.calls) if name == "set_probes_quiet"]
    steps = [i for i, (name, _arg) in enumerate(target.calls) if name == "step"]
    assert [target.calls[i][1] for i in quiet] == [True, False]
    assert steps and quiet[0] < steps[0] and steps[-1] < quiet[1]
    assert isinstance(events[-1], Note) and "guest-exit" in events[-1].text
    assert result.programs == (ProgramExit(binaries[1], 1, 0),)
    phases = result.stats.phases
    assert list(phases) == ["plan", "qemu", "agent", "first_user", "run", "finish", "write"]
    assert list(phases.values()) == sorted(phases.values())


def test_a_program_that_exits_3_is_data_not_a_failure(binaries, tmp_path):
    result, _target, events = run(binaries, tmp_path, build=lambda g: hello(g, 3))
    assert result.failure() is None and result.guest_status == 1
    assert result.programs[0].status == 3 and result.program_status == 3
    assert [e.status for e in events if isinstance(e, ProcessEvent) and e.action == "exit"] == [3]


def test_a_guest_that_ends_before_its_program_ran_is_a_failure(binaries, tmp_path):
    result, _target, events = run(binaries, tmp_path, [PowerOff((2 << 1) | 1)], read_msrs=False)
    assert result.guest_status == 2 and result.programs[0].pid is None
    failure = result.failure()
    assert failure is not None and "status 2 before user.elf ran" in failure
    assert events[-1].level == "warning"


def test_until_a_syscall_ends_there_and_records_nothing_after(binaries, tmp_path):
    result, _target, events = run(binaries, tmp_path, build=hello, until="syscall:write")
    assert result.reason == "until syscall:write"
    assert syscalls(events) == [12, NR_WRITE]


def test_max_events_cuts_at_the_limit(binaries, tmp_path):
    result, _target, events = run(binaries, tmp_path, build=hello, max_events=4)
    assert result.reason == "max-events"
    assert len([e for e in events if not isinstance(e, Note)]) <= 4 < len(events)


def test_until_event_takes_any_predicate(binaries, tmp_path):
    result, _target, events = run(
        binaries, tmp_path, build=hello,
        until_event=lambda e: isinstance(e, SyscallEntry) and e.nr == NR_EXIT_GROUP,
    )  # fmt: skip
    assert result.reason == "until" and syscalls(events)[-1] == NR_EXIT_GROUP


def test_a_guest_that_stops_making_progress_is_a_hang(binaries, tmp_path):
    script = lambda g: [Records((g.start(),)), g.syscall(NR_WRITE)]  # noqa: E731
    result, _target, events = run(binaries, tmp_path, build=script, idle_timeout=0.2,
                                  read_msrs=False)  # fmt: skip
    assert result.reason == "hang" and "hung" in (result.failure() or "")
    assert syscalls(events) == [NR_WRITE]


def test_the_overall_timeout_ends_a_guest_that_outruns_the_tracer(binaries, tmp_path):
    # Records never stop coming (more than the tracer takes in the time allowed): the loop
    # still leaves the drain to see its deadline, and does not record everything first.
    script = lambda g: [g.syscall(NR_WRITE)] * 100_000  # noqa: E731
    result, _target, events = run(binaries, tmp_path, build=script, timeout=0.2,
                                  idle_timeout=None, read_msrs=False)  # fmt: skip
    assert result.reason == "timeout" and "timed out" in (result.failure() or "")
    assert 0 < len(syscalls(events)) < 100_000


def test_a_stop_asked_while_records_stream_in_ends_the_capture_there(binaries, tmp_path):
    stop = StopRequest()
    seen = []

    def on_event(event: Event) -> None:
        if isinstance(event, SyscallEntry):
            seen.append(event)
            if len(seen) == 50:
                stop.request("stopped")

    script = lambda g: [g.syscall(NR_WRITE)] * 5_000  # noqa: E731
    result, _target, events = run(binaries, tmp_path, build=script, stop=stop,
                                  on_event=on_event, timeout=600, read_msrs=False)  # fmt: skip
    assert result.reason == "stopped" and result.error is None
    assert len(syscalls(events)) == 50


def test_gdb_dying_mid_batch_keeps_what_came_before(binaries, tmp_path):
    script = lambda g: [Records((g.start(),)), g.syscall(NR_WRITE), GdbDies("gdb was killed")]  # noqa: E731
    result, target, events = run(binaries, tmp_path, build=script, read_msrs=False)
    assert result.error is not None and "gdb was killed" in result.error
    assert syscalls(events) == [NR_WRITE]
    assert isinstance(events[-1], Gap) and "gdb was killed" in events[-1].reason
    assert ("finish", None) in target.calls


def test_qemu_killed_is_named(binaries, tmp_path):
    script = lambda g: [g.syscall(NR_WRITE), PowerOff(-signal.SIGKILL)]  # noqa: E731
    result, _target, events = run(binaries, tmp_path, build=script, read_msrs=False)
    assert result.error == "QEMU was killed by SIGKILL"
    assert syscalls(events) == [NR_WRITE]


def test_pause_step_and_resume_are_served_between_drains(binaries, tmp_path):
    control = CaptureControl()

    def ask() -> None:
        control.pause()
        control.step()
        control.step()
        control.resume()

    script = lambda g: [g.syscall(NR_WRITE), Call(ask), g.syscall(39), PowerOff(1)]  # noqa: E731
    result, target, events = run(binaries, tmp_path, build=script, read_msrs=False,
                                 control=control)  # fmt: skip
    notes = [e.text for e in events if isinstance(e, Note)]
    paused = next(i for i, text in enumerate(notes) if text.startswith("paused at "))
    assert [text.split(":")[0] for text in notes[paused + 1 : paused + 4]] == [
        "step", "step", "resumed",
    ]  # fmt: skip
    assert [c for c, _ in target.calls].count("step") == 2 and not control.paused
    assert result.reason == "guest-exit" and syscalls(events) == [NR_WRITE, 39]


def test_agent_errors_become_gaps_and_the_capture_goes_on(binaries, tmp_path):
    seen = parse_record(
        b'{"probe":"agent_error","kind":"interrupt_entry","error":"lost","gap":true}'
    )
    script = lambda g: [Records((AgentError("syscall_entry", "KeyError: 'x'"), seen)),  # noqa: E731
                        g.syscall(NR_WRITE), PowerOff(1)]  # fmt: skip
    result, _target, events = run(binaries, tmp_path, build=script, read_msrs=False)
    gaps = [e for e in events if isinstance(e, Gap)]
    assert [(g.reason, g.count) for g in gaps] == [
        ("probe failed: KeyError: 'x'", 1),
        ("lost", None),
    ]
    assert result.failure() is None and syscalls(events) == [NR_WRITE]


def test_the_ring_is_armed_at_the_first_syscall_stop_only_when_asked(binaries, tmp_path):
    _result, target, _events = run(binaries, tmp_path, build=hello, read_msrs=False)
    agent_plan = next(arg for name, arg in target.calls if name == "load_agent")
    assert agent_plan["stop_first_syscall"] is False
    assert not [c for c in target.calls if c[0] in ("set_ring_armed", "write_memory")]


def test_the_console_tail_leaves_the_firmware_out():
    console = (
        "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\n"
        "Booting from ROM..spin: started\nsecond\nthird\nspin: going round forever\n"
    )
    assert console_tail(console) == "second | third | spin: going round forever"
    assert console_tail(console, lines=5) == (
        "spin: started | second | third | spin: going round forever"
    )
    assert console_tail("SeaBIOS (version 1.16)\nBooting from ROM..\n") == ""


def test_a_pause_waits_for_every_record_written_before_it(binaries, tmp_path, monkeypatch):
    """A starved tracer process gets the agent's records slowly: the pause is noted after all
    of them, however long they take while they keep coming (here 0.8 s, four times the idle
    limit: a limit on the whole wait would note the pause first)."""
    monkeypatch.setattr(loop_module, "DRAIN_ALL_IDLE_S", 0.2)
    control = CaptureControl()

    def ask() -> None:
        control.pause()
        control.resume()

    def script(g: Guest) -> list[Step]:
        slow = InTransit(g.syscall(39).items * 4, every_s=0.1)  # 0.8 s in all
        return [g.syscall(NR_WRITE), Call(ask), slow, g.syscall(NR_WRITE), PowerOff(1)]

    result, _target, events = run(binaries, tmp_path, build=script, read_msrs=False,
                                  control=control)  # fmt: skip
    paused = next(i for i, e in enumerate(events) if isinstance(e, Note) and "paused" in e.text)
    assert syscalls(events[:paused]) == [NR_WRITE] + [39] * 4
    assert syscalls(events[paused:]) == [NR_WRITE] and result.reason == "guest-exit"
