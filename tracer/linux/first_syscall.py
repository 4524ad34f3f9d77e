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
from tracer.target.protocol import Target

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


def enter_first_syscall(target: Target, init: ElfImage, timeout: float) -> int:
    """From a guest halted at reset: run until `init` makes its first syscall and step into
    it. Returns LSTAR; the guest is left at it, in ring 0, RAX the syscall number."""
    while True:
        stop = target.run_until([init.entry], timeout)
        if stop.ended:
            raise TargetError("the guest ended before /init ran")
        # Another program at the same address is told apart by the ring only at its entry.
        if stop.pc == init.entry and target.read_register("cs") & 3 == 3:
            break
    sites = [site.addr for site in find_syscall_instructions(init)]
    while True:
        stop = target.run_until(sites, timeout)
        if stop.ended:
            raise TargetError("the guest ended before /init's first syscall")
        if stop.pc is not None and target.read_memory(stop.pc, 2) == SYSCALL:
            break
    site = stop.pc
    for _attempt in range(3):
        # Like a breakpoint, a step is now and then reported with nothing done: step again.
        target.step_instruction()
        if target.read_register("rip") != site:
            break
    rip, cs = target.read_register("rip"), target.read_register("cs")
    if cs & 3:
        raise TargetError(f"stepping into `syscall` at {site:#x} stopped at {rip:#x} in ring 3")
    return rip
