"""The tracer's own threads while the guest runs: a lower priority and SCHED_BATCH, so QEMU and
gdb (which ask for short slices, `tracer.target.sched`) get the cores first."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from tracer.target import sched


@contextlib.contextmanager
def tracer_yields_cpu() -> Iterator[None]:
    """While the guest runs, this process's threads (not gdb's, not QEMU's: other processes)
    run at a lower priority and as SCHED_BATCH (never preempting a task they wake; QEMU and gdb
    ask for short slices, `tracer.target.sched`): on a busy machine the stop's own work goes
    first and the tracer catches up in between, the agent's records waiting in its 1 MiB pipe.
    Only where the priority can be given back afterwards (root, or RLIMIT_NICE allowing it): a
    library caller's process is never left slower. TRACER_NICE=0 turns it off."""
    step = int(os.environ.get("TRACER_NICE", "10") or 0)
    threads = _own_threads() if step > 0 and _can_restore_priority() else []
    before: dict[int, tuple[int, bool]] = {}  # thread -> its nice, and whether made batch
    for tid in threads:
        with contextlib.suppress(OSError):
            nice = os.getpriority(os.PRIO_PROCESS, tid)
            # A thread under another policy (a caller's choice) keeps it: only its nice moves.
            batched = _policy(tid) == os.SCHED_OTHER and sched.batch(tid, min(19, nice + step))
            if not batched:
                os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + step))
            before[tid] = (nice, batched)
    try:
        yield
    finally:
        for tid, (nice, batched) in before.items():
            with contextlib.suppress(OSError):  # a thread gone, or not allowed to raise back
                if not (batched and sched.normal(tid, nice)):
                    os.setpriority(os.PRIO_PROCESS, tid, nice)


def _policy(tid: int) -> int | None:
    try:
        return os.sched_getscheduler(tid)
    except (AttributeError, OSError):
        return None


def _can_restore_priority() -> bool:
    if not hasattr(os, "setpriority"):
        return False
    if os.geteuid() == 0:
        return True
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NICE)
        floor = 20 - soft  # the lowest nice value this process may set
        return soft == resource.RLIM_INFINITY or os.getpriority(os.PRIO_PROCESS, 0) >= floor
    except (ImportError, AttributeError, OSError, ValueError):
        return False


def _own_threads() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return []
