"""The ring-buffer function graph on two vCPUs, as ftrace would print it: each CPU's calls
from that CPU's own ring (every ring of `ftrace_rings[]` is drained, tracer/probes/ringbuf.py),
by the task running there.

Guest time follows instructions (-icount, as in test_smp_truth.py): in real time every timer
tick costs the function graph's and the interrupts' stops on both CPUs, so the guest did the
same work in 14 s unloaded and 48 s on a loaded machine, most of it ticks; with -icount the
capture takes the same stops whatever the load (about 5 s)."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_support import build_guest, run_capture

from tracer.events import ContextSwitch, FuncEntry, FuncExit

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def test_each_cpus_calls_come_from_its_own_ring(tmp_path: Path) -> None:
    captured = run_capture(
        tmp_path,
        [("pthread-musl", ("2", "20", "20"))],
        ftrace=True,
        smp=2,
        cmdline="gtlog=1",
        icount="shift=0,sleep=off",
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
    assert len(running) == 2, running  # switches seen on both CPUs: the check had work there
    assert not misplaced, f"{len(misplaced)} calls under a task not running on their CPU"
