"""The ring-buffer function graph on two vCPUs, as ftrace would print it: each CPU's calls
from that CPU's own ring, by the task running there.

Today the capture drains only the first CPU's ring (`ftrace_rings[0]`) and labels what it
drains with the CPU that happened to stop, so CPU 1's calls are missing and some of CPU 0's
show on CPU 1 under a task that is not running there: strict xfail until the drain is per CPU
(tracer/probes/ringbuf.py), so the fix turns this test into a failure that says remove the mark.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_support import build_guest, run_capture

from tracer.events import ContextSwitch, FuncEntry, FuncExit

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


@pytest.mark.xfail(strict=True, reason="the function-graph ring is drained from CPU 0 only")
def test_each_cpus_calls_come_from_its_own_ring(tmp_path: Path) -> None:
    captured = run_capture(
        tmp_path, [("pthread-musl", ("2", "50"))], ftrace=True, smp=2, cmdline="gtlog=1"
    )
    running: dict[int, int] = {}  # cpu -> pid, from the context switches
    misplaced, per_cpu = [], {0: 0, 1: 0}
    for event in captured.events:
        if isinstance(event, ContextSwitch):
            running[event.cpu] = event.next_pid
        elif isinstance(event, FuncEntry | FuncExit) and event.source == "ringbuf":
            per_cpu[event.cpu] += 1
            if event.cpu in running and running[event.cpu] != event.pid:
                misplaced.append(event)
    assert per_cpu[0] and per_cpu[1], per_cpu
    assert not misplaced, f"{len(misplaced)} calls under a task not running on their CPU"
