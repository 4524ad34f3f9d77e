"""Pause and single-step on two vCPUs: the pause stops both (gdb all-stop), a step moves only
the vCPU it names while the other stays where the pause left it, and each pause and step
records every vCPU's registers as a note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from capture_support import BOOT_IMAGE, KERNEL, USER, build_guest

from tracer.capture import CaptureControl, CaptureOptions, Program, StopRequest, capture
from tracer.events import Event, Note, SyscallEntry
from tracer.store import TraceReader

pytestmark = pytest.mark.qemu
STEPS = (1, 1, 0)  # the vCPU each step names


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def _rips(note: str) -> int:
    return int(re.search(r"stopped at (0x[0-9a-f]+)", note).group(1), 16)  # type: ignore[union-attr]


def test_pause_stops_every_vcpu_and_a_step_moves_one(tmp_path: Path) -> None:
    """The pause is asked from `on_event` at the 40th syscall, which a tracer lagging the
    guest (a loaded host) sees late, however late: the program never ends by itself (two
    threads spin, calling sched_yield now and then), so the pause finds them running, and the
    capture stops once it has resumed."""
    control = CaptureControl()
    stop = StopRequest()
    syscalls = 0

    def on_event(event: Event) -> None:
        nonlocal syscalls
        syscalls += isinstance(event, SyscallEntry)
        if syscalls == 40 and isinstance(event, SyscallEntry):
            control.pause()
            for cpu in STEPS:
                control.step(cpu)
            control.resume()
        elif isinstance(event, Note) and event.text == "resumed":
            stop.request()

    options = CaptureOptions(
        kernel=KERNEL,
        boot_image=BOOT_IMAGE,
        output=tmp_path / "t.db",
        programs=[Program(USER / "pthread-musl", ("forever",))],
        timeout=240,
        idle_timeout=60,
        control=control,
        smp=2,
    )
    result = capture(options, on_event=on_event, stop=stop)
    assert result.error is None, result.failure()
    assert result.reason == "stopped", result.failure()  # the guest never exits by itself
    with TraceReader.open(options.output) as reader:
        events = list(reader.events())
    start = next(
        i for i, e in enumerate(events) if isinstance(e, Note) and e.text.startswith("paused at")
    )
    end = next(i for i, e in enumerate(events) if isinstance(e, Note) and e.text == "resumed")
    held = events[start:end]
    assert all(isinstance(e, Note) for e in held), held  # no vCPU ran a probe meanwhile
    texts = [e.text for e in held if isinstance(e, Note)]
    steps = [t for t in texts if t.startswith("step: rip")]
    assert [t.rsplit(" ", 1)[-1] for t in steps] == [f"cpu{cpu}" for cpu in STEPS]
    # After the pause and after each step: one note per vCPU, cpu0 then cpu1.
    per_cpu = [t for t in texts if re.match(r"cpu\d stopped at", t)]
    assert [t.split(" ")[0] for t in per_cpu] == ["cpu0", "cpu1"] * (1 + len(STEPS))
    rips = [(_rips(per_cpu[i]), _rips(per_cpu[i + 1])) for i in range(0, len(per_cpu), 2)]
    for before, after, cpu in zip(rips[:-1], rips[1:], STEPS, strict=True):
        assert after[cpu] != before[cpu], (cpu, rips)  # the named vCPU moved
        assert after[1 - cpu] == before[1 - cpu], (cpu, rips)  # the other stayed put
    assert "gs_base 0xffff" in per_cpu[0] and "gs_base" in per_cpu[1]
