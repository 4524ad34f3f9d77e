"""Reading LSTAR from a booting kernel through FakeTarget."""

from __future__ import annotations

import pytest

from tracer.capture.kaslr import NoLstar, read_lstar_when_set
from tracer.decode.msr import LSTAR
from tracer.target.fake import FakeTarget, PowerOff
from tracer.target.records import StopEvent

KERNEL_RIP = 0xFFFF_FFFF_9A00_1234
RUNTIME_ENTRY = 0xFFFF_FFFF_9A80_0000


class Booting(FakeTarget):
    """A kernel that is in firmware for a few looks, then in user mode, then sets LSTAR."""

    def __init__(self, states: list[tuple[int, int, int]]) -> None:
        super().__init__([], registers={}, msrs={})
        self.states = states  # (cs, rip, lstar) at each interrupt

    def interrupt(self) -> None:
        cs, rip, lstar = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        self.registers.update(cs=cs, rip=rip, rcx=0, rax=0, rdx=0)
        self.msrs[LSTAR] = lstar
        super().interrupt()


def test_lstar_is_read_once_the_kernel_has_set_it() -> None:
    target = Booting([(0xF000, 0xFFF0, 0), (0x10, KERNEL_RIP, 0), (0x33, 0x401000, 0),
                      (0x10, KERNEL_RIP, RUNTIME_ENTRY)])  # fmt: skip
    assert read_lstar_when_set(target, 5.0, sleep=lambda _s: None) == RUNTIME_ENTRY
    # Firmware and user mode were not touched: one rdmsr stepped per kernel look.
    assert [c for c, _ in target.calls].count("step") == 2
    assert target.registers["rip"] == KERNEL_RIP and not target.running


def test_a_kernel_that_never_sets_lstar_is_said_in_one_line() -> None:
    target = Booting([(0x10, KERNEL_RIP, 0)])
    with pytest.raises(NoLstar, match="LSTAR was not set within 0.05 s"):
        read_lstar_when_set(target, 0.05, poll=0.01)


def test_a_guest_that_ends_first_is_said() -> None:
    target = Booting([(0x33, 0x401000, 0)])
    target.returncode = PowerOff(1).qemu_returncode
    with pytest.raises(NoLstar, match="ended before setting LSTAR"):
        read_lstar_when_set(target, 5.0, sleep=lambda _s: None)


class StepsLate(Booting):
    """A CPU whose first single step is reported with nothing done, as gdb now and then does."""

    def __init__(self, states: list[tuple[int, int, int]]) -> None:
        super().__init__(states)
        self.idle_steps = 1

    def step_instruction(self, timeout: float = 10.0):  # type: ignore[override]
        if self.idle_steps:
            self.idle_steps -= 1
            self.calls.append(("step", None))
            return StopEvent("end-stepping-range", self.registers.get("rip"))
        return super().step_instruction(timeout)


def test_a_step_reported_with_nothing_done_is_taken_again() -> None:
    from tracer.target.msr import read_msrs

    target = StepsLate([(0x10, KERNEL_RIP, RUNTIME_ENTRY)])
    target.interrupt()
    assert read_msrs(target, (LSTAR,)) == {LSTAR: RUNTIME_ENTRY}
    assert [c for c, _ in target.calls].count("step") == 2
    assert target.registers["rip"] == KERNEL_RIP  # put back where it was


def test_the_bytes_put_back_are_the_running_kernels_not_the_files() -> None:
    """Linux NOPs its `call __fentry__` sites at boot; a look at one must leave the NOP there
    (putting back the file's call broke the instruction and hung the boot)."""
    from tracer.target.msr import read_msrs

    target = Booting([(0x10, KERNEL_RIP, RUNTIME_ENTRY)])
    nop, call = bytes.fromhex("0f1f440000"), bytes.fromhex("e82bf2f1ff")
    for i in range(5):
        target.memory[KERNEL_RIP + i] = nop[i]
        target.file_bytes[KERNEL_RIP + i] = call[i]
    target.interrupt()
    assert read_msrs(target, (LSTAR,)) == {LSTAR: RUNTIME_ENTRY}
    assert target.read_code(KERNEL_RIP, 5) == nop
