"""LSTAR without knowing where the kernel is: stop at a user program's entry (a user address,
so KASLR does not move it), then at its first `syscall`, and step into it: RIP is then LSTAR,
the slid `entry_SYSCALL_64`. The tracer's own /init is the first user process, static and
non-PIE, so its addresses are known before the boot.

Only one breakpoint is set during the boot: QEMU (TCG) checks every breakpoint as it translates
code, and 100 of them made Debian's kernel boot take 19 s instead of 3.5 s (PVH), 79 s instead
of 8.5 s (bzImage)."""

from __future__ import annotations

import struct

from tracer.image import ElfImage, find_syscall_instructions
from tracer.target.errors import TargetError
from tracer.target.gdb import Gdb, StopEvent

SYSCALL = b"\x0f\x05"


class Breakpoints:
    """Breakpoints at addresses, deleted together."""

    def __init__(self, gdb: Gdb) -> None:
        self.gdb = gdb
        self.numbers: list[str] = []

    def insert(self, addr: int) -> None:
        result = self.gdb.mi.command(f"-break-insert *{addr:#x}")
        self.numbers.append(str(result.get("bkpt", {}).get("number")))

    def delete_all(self) -> None:
        if self.numbers:
            self.gdb.mi.command(f"-break-delete {' '.join(self.numbers)}")
        self.numbers.clear()


def run_to_stop(gdb: Gdb, timeout: float) -> StopEvent:
    for _ in gdb.async_records():  # the stop reported at connect, or one already handled
        pass
    gdb.cont()
    return gdb.wait_stopped(timeout)


def read_u64(gdb: Gdb, addr: int) -> int:
    return int(struct.unpack("<Q", gdb.read_memory(addr, 8))[0])


def lstar_from_first_syscall(gdb: Gdb, program: ElfImage, timeout: float = 300) -> int:
    """From a halted guest: run until `program` makes its first syscall and step into it.
    Returns LSTAR; the guest is left stopped there, in ring 0, RAX the syscall number."""
    breakpoints = Breakpoints(gdb)
    breakpoints.insert(program.entry)
    while True:
        stop = run_to_stop(gdb, timeout)
        # Another program at the same address is told apart by the ring only at its entry.
        if stop.pc == program.entry and gdb.read_register("cs") & 3 == 3:
            break
    breakpoints.delete_all()
    for found in find_syscall_instructions(program):
        breakpoints.insert(found.addr)
    while True:
        stop = run_to_stop(gdb, timeout)
        if stop.pc is not None and gdb.read_memory(stop.pc, 2) == SYSCALL:
            break
    breakpoints.delete_all()
    site = stop.pc or 0
    for _attempt in range(3):
        for _ in gdb.async_records():
            pass
        step = gdb.step_instruction()
        rip, cs = gdb.read_register("rip"), gdb.read_register("cs")
        # Like a breakpoint, a step is now and then reported with nothing done (the agent
        # meets the same under TCG): still at the `syscall`, step again.
        if rip != site:
            break
    if cs & 3:
        raise TargetError(
            f"stepping into `syscall` at {site:#x} did not reach ring 0: stopped at {rip:#x} "
            f"(cs {cs:#x}, {step.reason})"
        )
    return rip
