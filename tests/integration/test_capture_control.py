"""Pause, single-step and resume a real capture (CaptureControl): the stops the tracer causes
are recorded as Notes and never taken for the guest's end or for the agent's first-syscall
stop; the capture then runs to the guest's own end, and QEMU and gdb are gone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from capture_support import BOOT_IMAGE, KERNEL, USER, build_guest
from test_faults_support import running, wait_for

from tracer.capture import CaptureControl, CaptureOptions, Program, capture
from tracer.events import Event, MsrRead, Note, SyscallEntry
from tracer.store import TraceReader

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def test_pause_step_twice_and_resume(tmp_path: Path) -> None:
    control = CaptureControl()
    pids: list[int | None] = []
    syscalls = 0

    def on_event(event: Event) -> None:
        nonlocal syscalls
        syscalls += isinstance(event, SyscallEntry)
        if syscalls == 5 and isinstance(event, SyscallEntry):
            control.pause()
            control.step()
            control.step()
            control.resume()

    options = CaptureOptions(
        kernel=KERNEL,
        boot_image=BOOT_IMAGE,
        output=tmp_path / "t.db",
        programs=[
            Program(USER / "fuzzer", ("1500", "7"))
        ],  # paused at the 5th, after the first-syscall stop: room for a lagging tracer
        timeout=240,
        idle_timeout=60,
        control=control,
    )
    result = capture(
        options, on_event=on_event, on_start=lambda s: pids.extend((s.qemu.pid, s.gdb.pid))
    )
    assert result.error is None, result.failure()
    assert result.reason == "guest-exit" and result.guest_status == 0, result.failure()
    assert not control.paused, result.failure()
    with TraceReader.open(options.output) as reader:
        events = list(reader.events())
    notes = [e.text for e in events if isinstance(e, Note)]
    ours = [n for n in notes if n.startswith(("paused at", "step: rip", "resumed"))]
    assert [n.split(" ")[0] for n in ours] == ["paused", "step:", "step:", "resumed"], notes
    first = next(i for i, e in enumerate(events) if isinstance(e, Note) and e.text == ours[0])
    held = events[first : first + 4]
    assert all(isinstance(e, Note) for e in held), held  # nothing ran meanwhile
    rips = [int(re.search(r"0x[0-9a-f]+", n).group(0), 16) for n in ours[:3]]  # type: ignore[union-attr]
    assert rips[0] != rips[1] != rips[2], ours  # each step moved (a rep or hlt would not)
    # The pause came after the first-syscall stop was served: the MSR snapshot is there once.
    assert sum(isinstance(e, MsrRead) and e.msr == 0xC0000082 for e in events) == 1, notes
    assert sum(isinstance(e, SyscallEntry) for e in events) > 20
    assert notes[-1] == "capture ended: guest-exit", notes
    for pid, name in zip(pids, ("qemu-system", "gdb"), strict=True):
        assert pid is not None
        wait_for(lambda pid=pid, name=name: not running(pid, name), 10, f"{name} to end")
