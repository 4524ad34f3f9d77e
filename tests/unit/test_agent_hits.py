"""The gdb agent's filter of breakpoint hits, run in this process with a stand-in `gdb` module:
gdb's second report of one hit is dropped, a real second pass is kept, and the hits gdb reports
while the tracer runs code in the guest (the injected rdmsr's single steps, with RCX holding an
MSR number) record nothing and are not what the next hit is compared with."""

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
PT_REGS = 0xFFFF_8800_0001_FF58  # where the entry built the user's registers
LAYOUT = [("r10", 56, 8), ("r9", 64, 8), ("r8", 72, 8), ("ax", 80, 8), ("cx", 88, 8),
          ("dx", 96, 8), ("si", 104, 8), ("di", 112, 8), ("orig_ax", 120, 8), ("ip", 128, 8),
          ("sp", 152, 8)]  # fmt: skip
NR_BRK = 12


class Breakpoint:
    def __init__(self, spec: str, internal: bool = False) -> None:
        self.spec = spec

    def is_valid(self) -> bool:
        return True

    def delete(self) -> None:
        pass


class Guest:
    """The registers and memory the stand-in gdb shows the agent."""

    def __init__(self) -> None:
        self.registers = {
            **dict.fromkeys(("rax", "rdx", "r8", "fs_base", "k_gs_base"), 0),
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


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Guest, int]]:
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
    plan = {"ptregs_size": 168, "ptregs_layout": LAYOUT,
            "probes": [{"kind": "syscall_entry", "addr": ENTRY}]}  # fmt: skip
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
