"""Faults in the middle of a capture: gdb killed, QEMU killed, Ctrl-C, SIGTERM.

Each ends `tracer capture` with one line on stderr, a trace file that opens and holds every
event up to the cut with a Gap saying why it ended, and no QEMU or gdb left running.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from capture_support import build_guest
from test_faults_support import (
    FOREVER,
    FUZZER,
    Children,
    assert_contiguous,
    assert_nothing_left,
    children_of,
    finish,
    read_all,
    recorded,
    send,
    start_tracer,
    wait_for,
)

from tracer.events import Gap, SyscallEntry

pytestmark = pytest.mark.qemu

SYSCALLS_BEFORE_FAULT = 60


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def start_long_capture(tmp_path: Path) -> tuple[subprocess.Popen[str], Children, Path]:
    """`tracer capture` of a fuzzer that never ends, once it has recorded some events."""
    trace = tmp_path / "trace.db"
    proc = start_tracer(
        # No function graph: the faults are the point, and syscalls should fill the trace.
        [
            "capture",
            "--no-ftrace",
            "--program",
            str(FUZZER),
            "--args",
            f"{FOREVER} 7",
            "-o",
            str(trace),
        ],  # fmt: skip
        cwd=tmp_path,
    )

    def recording() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"tracer ended early ({proc.returncode}): {proc.communicate()[1]}")
        # Syscalls, not events: under load the timer's interrupts make up more of the events.
        return recorded(trace, "syscall_entry") >= SYSCALLS_BEFORE_FAULT

    wait_for(recording, 90, f"{SYSCALLS_BEFORE_FAULT} syscalls in the trace")
    children = children_of(proc.pid)
    assert children.qemu is not None and children.gdb is not None, children
    return proc, children, trace


Fault = Callable[[subprocess.Popen[str], Children], None]

FAULTS: dict[str, tuple[Fault, int, str]] = {
    "gdb-killed": (lambda p, c: send(c.gdb or 0, signal.SIGKILL), 1, "gdb was killed by SIGKILL"),
    "qemu-killed": (
        lambda p, c: send(c.qemu or 0, signal.SIGKILL),
        1,
        "QEMU was killed by SIGKILL",
    ),
    "ctrl-c": (lambda p, c: send(p.pid, signal.SIGINT), 130, "interrupted"),
    "sigterm": (lambda p, c: send(p.pid, signal.SIGTERM), 143, "terminated"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_mid_capture_keeps_the_trace_and_leaves_nothing(tmp_path: Path, fault: str) -> None:
    inject, status, words = FAULTS[fault]
    proc, children, trace = start_long_capture(tmp_path)
    seen_before = recorded(trace)

    inject(proc, children)
    done = finish(proc)

    assert done.status == status, done.stderr
    line = done.error_line()
    assert words in line
    assert f"events kept in {trace}" in line
    events = read_all(trace)
    assert len(events) >= seen_before
    assert_contiguous(events)
    assert sum(isinstance(e, SyscallEntry) and e.pid == 1 for e in events) > 50
    last = events[-1]
    assert isinstance(last, Gap) and words in last.reason, last
    assert_nothing_left(children)


def test_ctrl_c_pressed_again_and_again_still_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl-C held down: signals keep arriving while the tool ends gdb and QEMU. Cleanup holds
    them, so it still completes; one landing after main() returned may end the process by
    SIGINT itself, which is fine, but never with a traceback or a child left behind."""
    proc, children, trace = start_long_capture(tmp_path)
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        send(proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
    done = finish(proc)
    assert done.status in (130, -signal.SIGINT), done.stderr
    assert "Traceback" not in done.stderr
    events = read_all(trace)
    assert_contiguous(events)
    assert isinstance(events[-1], Gap) and "interrupted" in events[-1].reason
    assert_nothing_left(children)
