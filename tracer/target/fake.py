"""An in-memory Target for unit tests: it replays a script of agent records and stops.

A script is a list of steps, taken in order while the guest "runs": `Records` are delivered by
`drain()`, `InTransit` are records the agent has already written that reach the tracer one
every `every_s` seconds (a starved tracer process), `Stop` is reported by `poll_stop()` once
the records before it are drained, `PowerOff` ends the guest with QEMU's exit code, `GdbDies`
closes the control channel and the agent's pipe, `Call` runs a function (e.g. to send a
signal). Registers and memory are dicts; `rdmsr` written at RIP and single-stepped reads
`msrs`, as the real CPU would. Other vCPUs' registers wait in `cpu_registers` until one is
selected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracer.target.errors import GdbDied, TargetError, TargetTimeout
from tracer.target.protocol import SessionEnd
from tracer.target.records import AgentRecord, StopEvent

RDMSR = b"\x0f\x32"


@dataclass(frozen=True)
class Records:
    items: tuple[AgentRecord, ...]


@dataclass(frozen=True)
class Stop:
    stop: StopEvent


@dataclass(frozen=True)
class PowerOff:
    qemu_returncode: int
    triple_fault: bool = False


@dataclass(frozen=True)
class GdbDies:
    message: str = "gdb exited with status 1"


@dataclass(frozen=True)
class Call:
    function: Callable[[], None]


@dataclass(frozen=True)
class InTransit:
    items: tuple[AgentRecord, ...]
    every_s: float


Step = Records | InTransit | Stop | PowerOff | GdbDies | Call


@dataclass
class FakeTarget:
    script: list[Step]
    registers: dict[str, int] = field(default_factory=dict)
    memory: dict[int, int] = field(default_factory=dict)  # address -> byte
    # What the kernel's file says where the running kernel patched its text: `read_memory`
    # answers these from the file, as gdb does with trust-readonly-sections; `read_code` not.
    file_bytes: dict[int, int] = field(default_factory=dict)
    msrs: dict[int, int] = field(default_factory=dict)
    cpu_registers: dict[int, dict[str, int]] = field(default_factory=dict)  # other vCPUs
    selected_cpu: int = 0  # the vCPU `registers` belongs to
    console: str = ""
    agent_stats: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)  # what the loop asked, in order
    running: bool = False
    returncode: int | None = None
    dead: str | None = None
    triple_fault: bool = False
    written: int = 0  # records delivered so far (what the agent "wrote")
    _pending_stop: StopEvent | None = None

    # Lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeTarget:
        self.calls.append(("open", None))
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> SessionEnd:
        if ("finish", None) not in self.calls:
            self.calls.append(("finish", None))
        self.running = False  # QEMU is gone: what the script holds past here never happened
        return SessionEnd(self.returncode, self.console, self.triple_fault, self.written)

    # Run control ----------------------------------------------------------------------------

    def resume(self) -> None:
        self._alive_or_raise()
        self.calls.append(("resume", None))
        self.running = True

    def interrupt(self) -> None:
        self.calls.append(("interrupt", None))
        if self.running:
            self.running = False
            self._pending_stop = StopEvent("signal-received", self.registers.get("rip"), "SIGINT")

    def wait_stopped(self, timeout: float) -> StopEvent:
        self._alive_or_raise()
        if self._pending_stop is None:
            raise TargetTimeout(f"the guest did not stop within {timeout:g} s")
        stop, self._pending_stop = self._pending_stop, None
        return stop

    def mark_stopped(self) -> None:
        self.running = False

    def run_until(self, addrs: Sequence[int], timeout: float) -> StopEvent:
        """The next scripted Stop (records before it are dropped: no agent runs)."""
        self.calls.append(("run_until", list(addrs)))
        self.running = True
        while self.script:
            step = self.script.pop(0)
            if isinstance(step, Stop):
                self.running = False
                if step.stop.pc is not None:
                    self.registers["rip"] = step.stop.pc
                return step.stop
            if isinstance(step, PowerOff):
                self.returncode = step.qemu_returncode
                self.running = False
                return StopEvent("exited", None)
        raise TargetTimeout(f"the guest did not stop within {timeout:g} s")

    def poll_stop(self) -> StopEvent | None:
        if not self.running or not self.script:
            return None
        step = self.script[0]
        if isinstance(step, Stop):
            self.script.pop(0)
            self.running = False
            return step.stop
        if isinstance(step, PowerOff):
            self.script.pop(0)
            self.running = False
            self.returncode = step.qemu_returncode
            self.triple_fault = step.triple_fault
            return StopEvent("exited", None, str(step.qemu_returncode))
        return None

    def step_instruction(self, timeout: float = 10.0) -> StopEvent:
        self._alive_or_raise()
        self.calls.append(("step", None))
        rip = self.registers.get("rip", 0)
        if self.read_code(rip, len(RDMSR)) == RDMSR:  # the CPU runs memory, not the file
            value = self.msrs.get(self.registers.get("rcx", 0) & 0xFFFFFFFF, 0)
            self.registers["rax"], self.registers["rdx"] = value & 0xFFFFFFFF, value >> 32
            self.registers["rip"] = rip + len(RDMSR)
        else:
            self.registers["rip"] = rip + 1
        return StopEvent("end-stepping-range", self.registers["rip"])

    def vcpus(self) -> list[int]:
        return sorted({0, *self.cpu_registers})

    def vcpu_registers(self, cpu: int, names: Sequence[str]) -> dict[str, int]:
        registers = self.registers if cpu == self.selected_cpu else self.cpu_registers.get(cpu, {})
        return {name: registers[name] for name in names if name in registers}

    def selected_vcpu(self) -> int:
        return self.selected_cpu

    def select_vcpu(self, cpu: int) -> None:
        """The selected vCPU's registers are `registers`; the others wait in `cpu_registers`."""
        self.calls.append(("select_vcpu", cpu))
        if cpu != self.selected_cpu:
            self.cpu_registers[self.selected_cpu] = self.registers
            self.registers = self.cpu_registers.pop(cpu, {})
            self.selected_cpu = cpu

    # Registers and memory -------------------------------------------------------------------

    def read_register(self, name: str) -> int:
        self._alive_or_raise()
        return self.registers.get(name, 0)

    def write_register(self, name: str, value: int) -> None:
        self.registers[name] = value

    def read_memory(self, addr: int, length: int) -> bytes:
        self._alive_or_raise()
        at = range(addr, addr + length)
        return bytes(self.file_bytes.get(a, self.memory.get(a, 0)) for a in at)

    def read_code(self, addr: int, length: int) -> bytes:
        self._alive_or_raise()
        return bytes(self.memory.get(a, 0) for a in range(addr, addr + length))

    def write_memory(self, addr: int, data: bytes) -> None:
        self.calls.append(("write_memory", (addr, data)))
        for i, byte in enumerate(data):
            self.memory[addr + i] = byte

    # The agent ------------------------------------------------------------------------------

    def load_agent(self, plan: dict[str, Any]) -> None:
        self.calls.append(("load_agent", plan))

    def arm(self, probes: Sequence[dict[str, Any]]) -> None:
        self.calls.append(("arm", list(probes)))

    def drain(self, timeout: float = 0.05) -> Iterator[AgentRecord | None]:
        # Records already written reach the tracer whether or not the guest runs.
        while self.script and (self.running or isinstance(self.script[0], InTransit)):
            step = self.script[0]
            if isinstance(step, Records | InTransit):
                # One record at a time, so a drain the loop leaves early loses none.
                if len(step.items) <= 1:
                    self.script.pop(0)
                else:
                    self.script[0] = replace(step, items=step.items[1:])
                if isinstance(step, InTransit):
                    time.sleep(step.every_s)
                if step.items:
                    self.written += 1
                    yield step.items[0]
            elif isinstance(step, Call):
                self.script.pop(0)
                step.function()
                return  # what it asked for is served before the guest goes on
            elif isinstance(step, GdbDies):
                self.script.pop(0)
                self.dead = step.message
                self.running = False
                yield None
                return
            else:
                return
        if self.dead is not None:
            yield None
            return
        if self.running and not self.script:
            time.sleep(min(timeout, 0.01))  # a guest with nothing more to say

    def flush_agent(self) -> int | None:
        self._alive_or_raise()
        return self.written + sum(len(s.items) for s in self.script if isinstance(s, InTransit))

    def _agent_setting(self, name: str, value: bool) -> None:
        """An agent switch the loop flipped, recorded in order (the agent must be loaded)."""
        self._agent_or_raise()
        self.calls.append((name, value))

    def set_ring_armed(self, armed: bool) -> None:
        self._agent_setting("set_ring_armed", armed)

    def set_stop_on_lstar(self, stop: bool) -> None:
        self._agent_setting("set_stop_on_lstar", stop)

    def set_stop_first_syscall(self, stop: bool) -> None:
        self._agent_setting("set_stop_first_syscall", stop)

    def set_probes_quiet(self, quiet: bool) -> None:
        self._agent_setting("set_probes_quiet", quiet)

    def set_watchpoints_paused(self, paused: bool) -> None:
        self._agent_setting("set_watchpoints_paused", paused)

    def bench_read(self, addr: int, size: int, reps: int) -> dict[str, int]:
        return {"bytes": size * reps, "ns": 1}

    # Liveness -------------------------------------------------------------------------------

    qemu_pid: int | None = None
    gdb_pid: int | None = None
    private_dir: Path | None = None

    @property
    def control_alive(self) -> bool:
        return self.dead is None

    def control_death(self) -> str:
        return self.dead or "gdb is alive"

    @property
    def guest_returncode(self) -> int | None:
        return self.returncode

    def wait_guest(self, timeout: float) -> int | None:
        return self.returncode

    def guest_killed_by(self) -> int | None:
        code = self.returncode
        return -code if code is not None and code < 0 else None

    def triple_faulted(self) -> bool:
        return self.triple_fault

    def _agent_or_raise(self) -> None:
        """gdb knows no `tracer_agent` before the agent is loaded: its commands fail."""
        if not any(name == "load_agent" for name, _arg in self.calls):
            raise TargetError("Error while executing Python code. (no agent loaded)")

    def _alive_or_raise(self) -> None:
        if self.dead is not None:
            raise GdbDied(self.dead)
