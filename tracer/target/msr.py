"""Read real MSR values the gdbstub does not expose, by running one `rdmsr` in the guest.

At a stop in ring 0: save RIP, RAX, RCX, RDX and the two bytes at RIP (as the guest has them,
not as the kernel's file does: put back from the file, the bytes of an instruction Linux patched
at boot broke it, a `call __fentry__` over its NOP); write `rdmsr` there; for each MSR set RCX,
single-step, read EDX:EAX; then put every byte and register back. The caller
tells the agent to let the next hit at this PC pass, since gdb will see its breakpoint again.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracer.target.errors import TargetError
from tracer.target.protocol import Machine

RDMSR = b"\x0f\x32"
SAVED_REGISTERS = ("rax", "rcx", "rdx", "rsp", "eflags")
STEP_ATTEMPTS = 3


class MsrReadError(TargetError):
    """The injected rdmsr did not run as expected (not ring 0, or the guest faulted)."""


def read_msrs(gdb: Machine, msrs: Sequence[int]) -> dict[int, int]:
    rip = gdb.read_register("rip")
    cs = gdb.read_register("cs")
    if cs & 3:
        raise MsrReadError(f"cannot run rdmsr at {rip:#x}: the CPU is in ring {cs & 3}, not 0")
    saved = {name: gdb.read_register(name) for name in SAVED_REGISTERS}
    original = gdb.read_code(rip, len(RDMSR))
    values: dict[int, int] = {}
    gdb.write_memory(rip, RDMSR)
    try:
        for msr in msrs:
            gdb.write_register("rip", rip)
            gdb.write_register("rcx", msr)
            after = rip
            for _attempt in range(STEP_ATTEMPTS):
                # gdb now and then reports a step with nothing done (RIP unmoved): step again.
                gdb.step_instruction()
                after = gdb.read_register("rip")
                if after != rip:
                    break
            if after != rip + len(RDMSR):
                raise MsrReadError(f"rdmsr {msr:#x} did not complete (rip {after:#x}): #GP?")
            eax = gdb.read_register("rax") & 0xFFFFFFFF
            edx = gdb.read_register("rdx") & 0xFFFFFFFF
            values[msr] = (edx << 32) | eax
    finally:
        gdb.write_memory(rip, original)
        for name, value in saved.items():
            gdb.write_register(name, value)
        gdb.write_register("rip", rip)
    return values
