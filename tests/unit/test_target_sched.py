"""QEMU and gdb ask for a short time slice, set in the child before exec so that every thread
it starts inherits it; TRACER_SLICE_US=0 leaves the kernel's default."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tracer.target import sched
from tracer.target.qemu import die_with_parent

# A child that starts a thread and sleeps: its threads' slices are read from /proc meanwhile.
CHILD = (
    "import threading, time; threading.Thread(target=time.sleep, args=(5,)).start(); time.sleep(5)"
)


def _kernel_honours_slices() -> bool:
    """Linux 6.12 on keeps a requested slice for SCHED_OTHER, shown in /proc/<tid>/sched."""
    try:
        major, minor = (int(part) for part in platform.release().split(".")[:2])
    except ValueError:
        return False
    has_line = any(line.startswith("se.slice") for line in Path("/proc/self/sched").open())
    return (major, minor) >= (6, 12) and has_line and sched._SCHED_SETATTR is not None


def _slices(pid: int) -> list[int]:
    """se.slice of every thread of `pid`, once it has two."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        tids = os.listdir(f"/proc/{pid}/task")
        if len(tids) >= 2:
            break
        time.sleep(0.02)
    out = []
    for tid in tids:
        for line in Path(f"/proc/{pid}/task/{tid}/sched").open():
            if line.startswith("se.slice"):
                out.append(int(line.split(":")[1]))
    return out


def _child(monkeypatch: pytest.MonkeyPatch, value: str | None) -> list[int]:
    if value is None:
        monkeypatch.delenv("TRACER_SLICE_US", raising=False)
    else:
        monkeypatch.setenv("TRACER_SLICE_US", value)
    child = subprocess.Popen([sys.executable, "-c", CHILD], preexec_fn=die_with_parent)
    try:
        return _slices(child.pid)
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not _kernel_honours_slices(), reason="this kernel keeps no requested slice")
def test_every_thread_of_a_child_asks_for_the_short_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    slices = _child(monkeypatch, None)
    assert len(slices) == 2 and set(slices) == {sched.SLICE_NS}


@pytest.mark.skipif(not _kernel_honours_slices(), reason="this kernel keeps no requested slice")
def test_tracer_slice_us_zero_leaves_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    default = _child(monkeypatch, "0")
    assert len(default) == 2 and sched.SLICE_NS not in default


def test_the_slice_asked_for_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (
        ("250", 250_000),
        ("0", 0),
        ("bad", sched.SLICE_NS),
        (None, sched.SLICE_NS),
    ):
        if value is None:
            monkeypatch.delenv("TRACER_SLICE_US", raising=False)
        else:
            monkeypatch.setenv("TRACER_SLICE_US", value)
        assert sched.slice_ns() == expected
