"""The gdb agent's filter of breakpoint hits, run in this process with a stand-in `gdb` module:
gdb's second report of one hit is dropped, a real second pass is kept, and the hits gdb reports
while the tracer runs code in the guest (the injected rdmsr's single steps, with RCX holding an
MSR number) record nothing and are not what the next hit is compared with. Where the plan allows
it, a syscall site is lifted at its stop (no step over it) and put back at the next stop."""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

ENTRY = 0xFFFF_FFFF_8000_2040  # the probe's address
SYSRET = 0xFFFF_FFFF_8000_2100  # the entry path's sysretq
IRET = 0xFFFF_FFFF_8000_2200  # an iretq that interrupts return through too
TIMER = 0xFFFF_FFFF_8000_2300  # an interrupt stub's call to its handler
IRQ_REGS = 0xFFFF_8800_0001_FE58  # the frame the stub built
PT_REGS = 0xFFFF_8800_0001_FF58  # where the entry built the user's registers
LAYOUT = [("r10", 56, 8), ("r9", 64, 8), ("r8", 72, 8), ("ax", 80, 8), ("cx", 88, 8),
          ("dx", 96, 8), ("si", 104, 8), ("di", 112, 8), ("orig_ax", 120, 8), ("ip", 128, 8),
          ("cs", 136, 8), ("sp", 152, 8)]  # fmt: skip
NR_BRK = 12


class Breakpoint:
    def __init__(self, spec: str, internal: bool = False) -> None:
        self.spec = spec
        self.enabled = True  # gdb takes it out of the guest when False

    def is_valid(self) -> bool:
        return True

    def delete(self) -> None:
        pass


class Guest:
    """The registers and memory the stand-in gdb shows the agent."""

    def __init__(self) -> None:
        self.registers = {
            **dict.fromkeys(("rax", "rdx", "fs_base", "k_gs_base", "rbx", "rbp"), 0),
            **{f"r{n}": 0 for n in range(8, 16) if n != 11},
            "rip": ENTRY, "rdi": PT_REGS, "rsp": PT_REGS, "rcx": 0x401A2B, "rsi": NR_BRK,
            "r11": 0x246, "cr3": 0x41_0000, "gs_base": 0xFFFF_FFFF_8010_0000,
        }  # fmt: skip
        frame = bytearray(168)
        for name, value in {"orig_ax": NR_BRK, "ax": 2**64 - 38, "ip": 0x401A2B}.items():
            offset = next(off for field, off, _size in LAYOUT if field == name)
            frame[offset : offset + 8] = struct.pack("<Q", value)
        self.memory = {PT_REGS: bytes(frame)}

    def read_memory(self, addr: int, length: int) -> bytes:
        return self.memory[addr][:length]


PROBES = [{"kind": "syscall_entry", "addr": ENTRY}]
LIFTING = {
    "lift_sites": True,
    "probes": [
        *PROBES,
        {"kind": "syscall_exit", "addr": SYSRET, "exit_kind": "sysretq"},
        {"kind": "syscall_exit", "addr": IRET, "exit_kind": "iretq"},
        {"kind": "interrupt_entry", "addr": TIMER, "regs_pointer": "rdi", "vector": 32},
    ],
}


@pytest.fixture
def agent(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[Any, Guest, int]]:
    """The agent installed with the plan `request.param` adds to, if any."""
    guest = Guest()
    gdb = types.ModuleType("gdb")
    gdb.Breakpoint = Breakpoint  # type: ignore[attr-defined]
    gdb.error = type("error", (Exception,), {})  # type: ignore[attr-defined]
    gdb.MemoryError = type("MemoryError", (gdb.error,), {})  # type: ignore[attr-defined]
    gdb.parse_and_eval = lambda expr: guest.registers[expr.removeprefix("$")]  # type: ignore[attr-defined]
    gdb.selected_thread = lambda: types.SimpleNamespace(num=1)  # type: ignore[attr-defined]
    gdb.selected_inferior = lambda: guest  # type: ignore[attr-defined]
    gdb.write = lambda text: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gdb", gdb)
    monkeypatch.delitem(sys.modules, "tracer.target.agent.tracer_agent", raising=False)
    read_end, write_end = os.pipe()
    monkeypatch.setenv("TRACER_AGENT_FD", str(write_end))
    module = importlib.import_module("tracer.target.agent.tracer_agent")
    plan = {"ptregs_size": 168, "ptregs_layout": LAYOUT, "probes": PROBES,
            **getattr(request, "param", {})}  # fmt: skip
    module.install(json.dumps(plan))
    yield module, guest, read_end
    module.AGENT.batch.closed = True  # ends the flusher thread
    sys.modules.pop("tracer.target.agent.tracer_agent", None)
    os.close(read_end)
    os.close(write_end)


def records(module: Any, read_end: int) -> list[dict[str, Any]]:
    module.AGENT.batch.flush()
    os.set_blocking(read_end, False)
    try:
        data = os.read(read_end, 1 << 20)
    except BlockingIOError:
        return []
    return [json.loads(line) for line in data.decode().splitlines()]


def test_a_second_report_of_one_hit_is_dropped_and_a_second_pass_kept(agent) -> None:
    module, guest, read_end = agent
    probe = module.AGENT.breakpoints[0]
    assert probe.stop() is False  # the guest never waits on the tracer
    assert probe.stop() is False  # gdb reports it again, nothing changed
    guest.registers["rsp"] -= 0x100  # the next syscall, from a deeper user stack
    probe.stop()
    assert [r["probe"] for r in records(module, read_end)] == ["syscall_entry"] * 2
    assert module.AGENT.duplicates == 1


def test_hits_while_the_tracer_steps_the_guest_are_not_passes(agent) -> None:
    module, guest, read_end = agent
    probe = module.AGENT.breakpoints[0]
    probe.stop()
    module.set_quiet(True)  # the tracer runs rdmsr at this address, RCX = the MSR
    saved_rcx, guest.registers["rcx"] = guest.registers["rcx"], 0xC000_0080
    probe.stop()
    guest.registers["rcx"] = saved_rcx
    module.set_quiet(False)
    probe.stop()  # gdb's report of the first hit when the guest goes on: still the same
    taken = records(module, read_end)
    assert [r["probe"] for r in taken] == ["syscall_entry"]
    assert taken[0]["ptregs"] == guest.memory[PT_REGS].hex()
    assert module.AGENT.quiet_hits == 1 and module.AGENT.duplicates == 1


def enabled(module: Any) -> list[bool]:
    return [bp.enabled for bp in module.AGENT.breakpoints]


@pytest.mark.parametrize("agent", [LIFTING], indirect=True)
def test_a_syscall_site_is_lifted_at_its_stop_and_put_back_at_the_next(agent) -> None:
    module, guest, read_end = agent
    entry, sysret, iret, _timer = module.AGENT.breakpoints
    assert entry.stop() is False
    assert enabled(module) == [False, True, True, True]  # gdb finds nothing to step over
    guest.registers.update(rip=SYSRET, rsp=0x7FFF_F000, rax=0)
    assert sysret.stop() is False
    assert enabled(module) == [True, False, True, True]  # the entry back before it runs on
    guest.registers.update(rip=IRET, rsp=PT_REGS + 128)
    guest.memory[PT_REGS + 128] = bytes(40)
    iret.stop()  # interrupts return through it too: gdb steps over it as before
    assert enabled(module) == [True] * 4
    assert module.AGENT.lifted_stops == 2
    assert [r["probe"] for r in records(module, read_end)] == [
        "syscall_entry",
        "syscall_exit",
        "return_to_user",
    ]


@pytest.mark.parametrize("agent", [{**LIFTING, "lift_sites": False}], indirect=True)
def test_nothing_is_lifted_where_the_plan_does_not_allow_it(agent) -> None:
    module, guest, _read_end = agent
    entry, sysret, _iret, _timer = module.AGENT.breakpoints
    entry.stop()
    guest.registers.update(rip=SYSRET, rsp=0x7FFF_F000)
    sysret.stop()
    assert enabled(module) == [True] * 4
    assert module.AGENT.lifted_stops == 0


@pytest.mark.parametrize("agent", [{**LIFTING, "stop_first_syscall": True}], indirect=True)
def test_a_site_where_the_tracer_asked_for_a_real_stop_stays_armed(agent) -> None:
    module, guest, _read_end = agent
    entry = module.AGENT.breakpoints[0]
    assert entry.stop() is True  # gdb stops; when resumed, it steps over the site itself
    assert enabled(module) == [True] * 4
    guest.registers["rsp"] -= 0x100
    assert entry.stop() is False  # the next syscall: lifted as usual
    assert enabled(module) == [False, True, True, True]


@pytest.mark.parametrize("agent", [LIFTING], indirect=True)
def test_hits_while_the_tracer_steps_the_guest_leave_the_lifted_site_alone(agent) -> None:
    module, guest, _read_end = agent
    entry, sysret, _iret, _timer = module.AGENT.breakpoints
    entry.stop()
    module.set_quiet(True)
    guest.registers.update(rip=SYSRET)
    sysret.stop()  # not a pass of the guest: nothing has run since the lifted stop
    module.set_quiet(False)
    assert enabled(module) == [False, True, True, True]


def interrupt(guest: Guest, cs: int) -> None:
    """The guest at the timer stub's call, its frame saying which mode it interrupted."""
    frame = bytearray(168)
    frame[136:144] = struct.pack("<Q", cs)
    guest.memory[IRQ_REGS] = bytes(frame)
    guest.registers.update(rip=TIMER, rdi=IRQ_REGS, rsi=32, cr2=0)


@pytest.mark.parametrize("agent", [LIFTING], indirect=True)
def test_a_kernel_with_an_unprobed_way_back_to_user_mode_stops_the_lifting(agent) -> None:
    """The next stop after a lifted entry interrupts user mode: the syscall went back there
    unseen (a return path with no probe), and so did the syscalls after it, the entry being
    lifted. The trace says so and gdb steps over every site from then on."""
    module, guest, read_end = agent
    entry, _sysret, _iret, timer = module.AGENT.breakpoints
    entry.stop()
    interrupt(guest, cs=0x33)
    timer.stop()
    taken = records(module, read_end)
    assert [r["probe"] for r in taken] == ["syscall_entry", "interrupt_entry", "agent_error"]
    assert "no exit probe" in taken[-1]["error"] and taken[-1]["gap"] is True
    assert enabled(module) == [True] * 4 and not module.AGENT.lifts
    guest.registers.update(rip=ENTRY, rdi=PT_REGS, rsp=PT_REGS - 0x100)
    entry.stop()
    assert enabled(module) == [True] * 4  # stepped over by gdb, as on several CPUs


@pytest.mark.parametrize("agent", [LIFTING], indirect=True)
def test_an_interrupt_of_the_kernel_after_a_lifted_entry_is_the_syscall_at_work(agent) -> None:
    module, guest, read_end = agent
    entry, sysret, _iret, timer = module.AGENT.breakpoints
    entry.stop()
    interrupt(guest, cs=0x10)  # taken inside the syscall
    timer.stop()
    assert module.AGENT.lifts
    assert [r["probe"] for r in records(module, read_end)] == ["syscall_entry", "interrupt_entry"]
    interrupt(guest, cs=0x33)  # the entry was put back at the stop before: nothing unseen
    guest.registers["rsp"] -= 0x40  # another pass, not gdb's second report of the last
    timer.stop()
    assert module.AGENT.lifts
    guest.registers.update(rip=ENTRY, rdi=PT_REGS, rsp=PT_REGS - 0x100)
    entry.stop()
    assert enabled(module) == [False, True, True, True]
    guest.registers.update(rip=SYSRET, rsp=0x7FFF_F000)
    sysret.stop()  # the syscall's exit: user mode reached the probed way
    interrupt(guest, cs=0x33)
    timer.stop()
    assert module.AGENT.lifts


@pytest.mark.parametrize("agent", [LIFTING], indirect=True)
def test_only_a_hit_gdb_stepped_over_can_be_reported_twice(agent) -> None:
    module, guest, read_end = agent
    entry, _sysret, iret, _timer = module.AGENT.breakpoints
    entry.stop()  # lifted: gdb runs on without a step, so nothing reports this hit again
    entry.stop()  # the site reached again (put back meanwhile), every register the same
    guest.registers.update(rip=IRET, rsp=PT_REGS + 128)
    guest.memory[PT_REGS + 128] = bytes(40)
    iret.stop()
    iret.stop()  # gdb's step over the iretq, reported as a second hit: dropped
    taken = [r["probe"] for r in records(module, read_end)]
    assert taken == ["syscall_entry", "syscall_entry", "syscall_exit"]
    assert module.AGENT.duplicates == 1
