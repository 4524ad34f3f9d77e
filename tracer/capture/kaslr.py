"""Where the kernel really is: LSTAR read from the running kernel, before any probe is armed.

A bzImage moves its kernel (KASLR) where the symbols cannot say; a breakpoint at a symbol's
address would silently never hit. The guest runs untouched until the kernel has set up
SYSCALL; then an interrupt, one injected `rdmsr` of LSTAR at a kernel RIP, and the slide is
LSTAR - entry_SYSCALL_64 (tracer.linux.kaslr).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tracer.decode.msr import LSTAR
from tracer.decode.x86 import KERNEL_HALF
from tracer.target.errors import TargetError, TargetTimeout
from tracer.target.msr import read_msrs
from tracer.target.protocol import Target

POLL_SECONDS = 0.25  # between two looks at the booting kernel
STOP_TIMEOUT = 5.0


class NoLstar(TargetError):
    """The kernel never set LSTAR (or never ran in ring 0 where it could be read) in time."""


def read_lstar_when_set(
    target: Target, timeout: float, *, poll: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:  # fmt: skip
    """Let the guest boot and look now and then until LSTAR holds a kernel address.

    Leaves the guest stopped (the caller arms its probes, then resumes). Looks only at stops
    in ring 0 at a kernel-half RIP, where an injected rdmsr is safe and meaningful.
    """
    deadline = time.monotonic() + timeout
    looks = 0
    while True:
        target.resume()
        sleep(poll)
        stop = _stop(target)
        looks += 1
        if stop is not None and _in_kernel(target):
            try:
                lstar = read_msrs(target, (LSTAR,))[LSTAR]
            except TargetError:
                lstar = 0  # an interrupt came in between: look again
            if lstar >= KERNEL_HALF:
                return lstar
        if target.guest_returncode is not None:
            raise NoLstar(f"the guest ended before setting LSTAR ({looks} looks)")
        if time.monotonic() > deadline:
            raise NoLstar(f"LSTAR was not set within {timeout:g} s ({looks} looks at the kernel)")


def _stop(target: Target) -> object | None:
    target.interrupt()
    try:
        return target.wait_stopped(STOP_TIMEOUT)
    except TargetTimeout:
        return None


def _in_kernel(target: Target) -> bool:
    return target.read_register("cs") & 3 == 0 and target.read_register("rip") >= KERNEL_HALF
