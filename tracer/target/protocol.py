"""The Target Protocol: everything the capture loop may ask of a machine under gdb.

`TargetSession` (QEMU + gdb + the agent) implements it; `FakeTarget` (target/fake.py) replays
scripted records and stops for unit tests. Nothing above `target/` sees gdb, MI or QEMU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tracer.target.records import AgentRecord, StopEvent


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """What is left once the target has ended: QEMU's status, the console, the agent's count."""

    qemu_returncode: int | None
    console: str
    triple_fault: bool = False
    agent_written: int | None = None  # records the agent wrote to its pipe (None: unknown)


class Machine(Protocol):
    """Registers, memory and single steps of the CPU that stopped (enough to run `rdmsr`)."""

    def read_register(self, name: str) -> int: ...

    def write_register(self, name: str, value: int) -> None: ...

    def read_memory(self, addr: int, length: int) -> bytes: ...

    def read_code(self, addr: int, length: int) -> bytes:
        """What the CPU runs at `addr` now: the guest's memory, never the kernel file's bytes
        (`read_memory` may answer read-only sections from the file; a kernel patches its text
        as it boots: Linux's ftrace NOPs, alternatives, static calls)."""
        ...

    def write_memory(self, addr: int, data: bytes) -> None: ...

    def step_instruction(self, timeout: float = 10.0) -> StopEvent: ...


class Target(Machine, Protocol):
    """A guest the capture loop drives: run control, the agent's records, liveness."""

    agent_stats: dict[str, int]

    # Run control. A "real" stop is one the loop must answer (see StopEvent).
    def resume(self) -> None: ...

    def interrupt(self) -> None: ...

    def wait_stopped(self, timeout: float) -> StopEvent: ...

    def poll_stop(self) -> StopEvent | None: ...

    def mark_stopped(self) -> None: ...

    # Every vCPU while the guest is stopped (CPU n is gdb's thread n + 1).
    def vcpus(self) -> list[int]: ...

    def vcpu_registers(self, cpu: int, names: Sequence[str]) -> dict[str, int]: ...

    def selected_vcpu(self) -> int:
        """The vCPU registers and memory go to now: after a stop, the one that stopped."""
        ...

    def select_vcpu(self, cpu: int) -> None:
        """Make `cpu` the one registers, memory and single steps go to."""
        ...

    def run_until(self, addrs: Sequence[int], timeout: float) -> StopEvent:
        """Resume with plain breakpoints at `addrs` (no agent) until the guest stops; the
        breakpoints are gone when this returns."""
        ...

    # The agent: probes armed in gdb, records streamed back.
    def load_agent(self, plan: dict[str, Any]) -> None: ...

    def arm(self, probes: Sequence[dict[str, Any]]) -> None: ...

    def drain(self, timeout: float = 0.05) -> Iterator[AgentRecord | None]: ...

    def flush_agent(self) -> int | None: ...

    def set_ring_armed(self, armed: bool) -> None: ...

    def set_stop_on_lstar(self, stop: bool) -> None: ...

    def set_stop_first_syscall(self, stop: bool) -> None: ...

    def set_probes_quiet(self, quiet: bool) -> None:
        """While the tracer runs code in the guest (`target.msr`), hits are not passes."""
        ...

    def set_watchpoints_paused(self, paused: bool) -> None:
        """While the user pauses and steps the guest, the syscall watchpoints are out."""
        ...

    def bench_read(self, addr: int, size: int, reps: int) -> dict[str, int]: ...

    # Liveness and the end.
    @property
    def qemu_pid(self) -> int | None: ...

    @property
    def gdb_pid(self) -> int | None: ...

    @property
    def private_dir(self) -> Path | None: ...

    @property
    def control_alive(self) -> bool: ...

    def control_death(self) -> str: ...

    @property
    def guest_returncode(self) -> int | None: ...

    def wait_guest(self, timeout: float) -> int | None: ...

    def guest_killed_by(self) -> int | None: ...

    def triple_faulted(self) -> bool: ...

    def finish(self) -> SessionEnd: ...

    # Opened and closed as a `with` block: leaving it ends every process the target started.
    def __enter__(self) -> Target: ...

    def __exit__(self, *exc: object) -> None: ...
