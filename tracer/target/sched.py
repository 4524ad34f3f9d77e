"""How QEMU and gdb are scheduled beside the tracer process: a short time slice each.

A stop is a relay between QEMU's threads and gdb (a packet, a wake-up, a reply, a dozen times
a stop); the tracer process, decoding and storing records meanwhile, keeps a core busy at a
lower priority (`capture.priority.tracer_yields_cpu`). Linux's EEVDF scheduler (6.6 on) lets a
running task finish its slice before a task it woke gets the core, unless the woken one asks
for a shorter slice (`sched_attr.sched_runtime`, honoured for SCHED_OTHER from 6.12): QEMU and
gdb ask for 0.1 ms, the shortest allowed, so the relay's wake-ups take the core at once.
Threads inherit it, so it is set in the child before exec. Older kernels ignore it; any
failure leaves the default.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import struct

SLICE_NS = 100_000  # the kernel's floor for a requested slice
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}.get(platform.machine())
# struct sched_attr (SCHED_ATTR_SIZE_VER1): size, policy, flags, nice, priority, runtime,
# deadline, period, util_min, util_max.
_ATTR = struct.Struct("IIQiIQQQII")


def slice_ns() -> int:
    """The slice QEMU and gdb ask for; TRACER_SLICE_US=0 leaves the kernel's default."""
    value = os.environ.get("TRACER_SLICE_US")
    if value is None:
        return SLICE_NS
    try:
        return max(0, int(float(value) * 1000))
    except ValueError:
        return SLICE_NS


def set_thread(
    tid: int, *, policy: int = os.SCHED_OTHER, nice: int = 0, runtime_ns: int = 0
) -> bool:
    """sched_setattr(2) for one thread (0: the caller); False where it is not available."""
    if _SCHED_SETATTR is None:
        return False
    attr = ctypes.create_string_buffer(
        _ATTR.pack(_ATTR.size, policy, 0, nice, 0, runtime_ns, 0, 0, 0, 0)
    )
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syscall(_SCHED_SETATTR, tid, attr, 0)) == 0
    except (OSError, AttributeError):
        return False


def short_slice() -> None:
    """In a child before exec (a preexec_fn): ask for the short slice, keeping its nice."""
    runtime = slice_ns()
    if runtime:
        with contextlib.suppress(OSError):
            set_thread(0, nice=os.getpriority(os.PRIO_PROCESS, 0), runtime_ns=runtime)


def batch(tid: int, nice: int) -> bool:
    """SCHED_BATCH at `nice` for one of the tracer's threads: it never preempts a woken
    task (QEMU's, gdb's) and is treated as the CPU-bound work it is."""
    return set_thread(tid, policy=os.SCHED_BATCH, nice=nice)


def normal(tid: int, nice: int) -> bool:
    return set_thread(tid, policy=os.SCHED_OTHER, nice=nice)
