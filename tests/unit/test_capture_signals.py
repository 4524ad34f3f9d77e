"""Ctrl-C and SIGTERM during a capture: the trace is finished and closed, then the signal goes on
to the caller (a script, pytest) instead of being swallowed. Driven through FakeTarget: no QEMU.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_capture_loop import NR_WRITE, Guest, binaries, hello, syscalls  # noqa: F401

from tracer.capture import (
    CaptureInterrupted,
    CaptureOptions,
    CaptureTerminated,
    Program,
    capture,
    plan_capture,
)
from tracer.events import Gap, Note
from tracer.image import ElfImage
from tracer.store import TraceReader
from tracer.target.fake import Call, FakeTarget, Step
from tracer.target.session import signals_deferred

UNIT = Path(__file__).resolve().parent
REPO = UNIT.parents[1]


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Python's own Ctrl-C handler for each test, whatever the runner inherited (a shell's
    background job starts with SIGINT ignored), and the runner's back afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def kill_self(signum: int) -> Call:
    return Call(lambda: os.kill(os.getpid(), signum))


class SignalledAtFinish(FakeTarget):
    """A target that receives Ctrl-C while the capture ends gdb and QEMU."""

    def finish(self):  # type: ignore[no-untyped-def]
        if ("finish", None) not in self.calls:
            os.kill(os.getpid(), signal.SIGINT)
        return super().finish()


def fake_capture(
    binaries: tuple[Path, Path], tmp_path: Path, build, target_class=FakeTarget
) -> Path:
    """Run capture() over a FakeTarget playing `build(guest)`; the trace's path."""
    kernel, user = binaries
    options = CaptureOptions(kernel, kernel, [Program(user)], tmp_path / "trace.db",
                             read_msrs=False)  # fmt: skip
    guest = Guest(plan_capture(options, ElfImage.open(kernel)))
    script: list[Step] = build(guest)
    target = target_class(script, registers={"cs": 0x10, "rip": guest.dispatch})
    capture(options, target_factory=lambda _options: target)
    return options.output


def read_events(path: Path) -> list:
    with TraceReader.open(path) as reader:
        return list(reader.events())


def test_ctrl_c_ends_the_capture_between_events_then_is_raised(binaries, tmp_path):
    script = lambda g: [g.syscall(NR_WRITE), kill_self(signal.SIGINT), g.syscall(39)]  # noqa: E731
    with pytest.raises(CaptureInterrupted) as raised:
        fake_capture(binaries, tmp_path, script)
    assert not isinstance(raised.value, CaptureTerminated)
    assert isinstance(raised.value, KeyboardInterrupt)
    result = raised.value.result
    assert result.reason == "interrupted" and result.error == "interrupted"
    events = read_events(result.output)  # written and closed before the raise
    assert NR_WRITE in syscalls(events)
    assert isinstance(events[-1], Gap) and "interrupted" in events[-1].reason
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_is_raised_as_terminated_with_the_handler_restored(binaries, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    script = lambda g: [g.syscall(NR_WRITE), kill_self(signal.SIGTERM), g.syscall(39)]  # noqa: E731
    with pytest.raises(CaptureTerminated) as raised:
        fake_capture(binaries, tmp_path, script)
    assert raised.value.result.reason == "terminated"
    assert isinstance(read_events(raised.value.result.output)[-1], Gap)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_ctrl_c_during_the_cleanup_waits_for_it_then_is_raised(binaries, tmp_path):
    """The guest had ended: the trace is whole and says so, and the Ctrl-C still stops the
    caller (it used to be held and then dropped)."""
    with pytest.raises(CaptureInterrupted) as raised:
        fake_capture(binaries, tmp_path, hello, target_class=SignalledAtFinish)
    result = raised.value.result
    assert result.reason == "guest-exit" and result.error is None
    events = read_events(result.output)
    assert syscalls(events) == [12, NR_WRITE, 231]
    assert isinstance(events[-1], Note) and "guest-exit" in events[-1].text


def test_a_clean_capture_raises_nothing(binaries, tmp_path):
    trace = fake_capture(binaries, tmp_path, hello)
    assert isinstance(read_events(trace)[-1], Note)


def test_a_deferral_inside_another_hands_its_signals_on():
    with signals_deferred() as outer:
        with signals_deferred() as inner:
            os.kill(os.getpid(), signal.SIGINT)
        assert inner == [signal.SIGINT]
        assert outer == [signal.SIGINT]
        os.kill(os.getpid(), signal.SIGTERM)
    assert outer == [signal.SIGINT, signal.SIGTERM]  # held, not acted on: the caller decides
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


PYTEST_RUN = """
import os, signal
from pathlib import Path

import pytest
from test_capture_loop import NR_WRITE
from test_capture_signals import fake_capture, kill_self

BINARIES = (Path(os.environ["FAKE_KERNEL"]), Path(os.environ["FAKE_USER"]))


@pytest.fixture(scope="module", params=["first", "second"])
def captured(request, tmp_path_factory):
    (Path(os.environ["MARKS"]) / request.param).touch()
    script = lambda g: [g.syscall(NR_WRITE), kill_self(signal.SIGINT), g.syscall(39)]
    return fake_capture(BINARIES, tmp_path_factory.mktemp(request.param), script)


def test_one(captured):
    pass


def test_two(captured):
    pass
"""


def test_ctrl_c_in_a_module_scoped_capture_stops_pytest(binaries, tmp_path):
    """What was seen: pytest went on to the next param's capture after each Ctrl-C."""
    (tmp_path / "test_interrupted.py").write_text(textwrap.dedent(PYTEST_RUN))
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, FAKE_KERNEL=str(binaries[0]), FAKE_USER=str(binaries[1]),
               MARKS=str(marks), PYTHONPATH=f"{REPO}{os.pathsep}{UNIT}")  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), "test_interrupted.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, proc.stdout + proc.stderr
    assert "CaptureInterrupted: interrupted" in proc.stdout
    assert sorted(p.name for p in marks.iterdir()) == ["first"]
