"""Ending, pausing and stepping a capture from outside its loop (other threads, signals)."""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

from tracer.target.errors import Terminated

if TYPE_CHECKING:
    from tracer.capture.options import CaptureResult

STUCK_AFTER = 5.0  # seconds a stop request may wait before another signal raises instead


class StopRequest:
    """Ask a running capture to end, from any thread; `reason` is what the trace records."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "stopped"
        self.requested_at: float | None = None
        self.signum: int | None = None  # the signal that asked, when a signal did

    def request(self, reason: str = "stopped") -> None:
        if not self._event.is_set():
            self.reason = reason
            self.requested_at = time.monotonic()
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()


class CaptureInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a capture. Raised once the trace is complete and QEMU and gdb are gone, so
    that whatever runs captures (a script, pytest, a benchmark) stops as Ctrl-C asks instead of
    going on to the next; `result` is what `capture()` would have returned."""

    def __init__(self, result: CaptureResult) -> None:
        super().__init__(result.reason)
        self.result = result


class CaptureTerminated(CaptureInterrupted, Terminated):
    """SIGTERM ended a capture (as CaptureInterrupted otherwise)."""


def interruption(signum: int, result: CaptureResult) -> CaptureInterrupted:
    """The exception that hands signal `signum` on to the caller, with the capture's result."""
    return CaptureTerminated(result) if signum == signal.SIGTERM else CaptureInterrupted(result)


class CaptureControl:
    """Pause, resume and single-step a running capture from any thread. Requests queue up;
    the capture loop serves them between drains and records a Note for each; `paused` is
    what the loop last made of them."""

    def __init__(self) -> None:
        self._requests: queue.Queue[str] = queue.Queue()
        self.paused = False
        # Each vCPU's registers as the last pause or step left them, by CPU number: the loop
        # replaces the dict whole, so another thread may read it at any time.
        self.vcpus: dict[int, dict[str, int]] = {}
        self.stepped: int | None = None  # the vCPU the last step moved, when one was named

    def pause(self) -> None:
        self._requests.put("pause")

    def resume(self) -> None:
        self._requests.put("resume")

    def step(self, cpu: int | None = None) -> None:
        """One instruction of vCPU `cpu` (default: the one the pause stopped), pausing first if
        the guest is running; the other vCPUs stay stopped."""
        self._requests.put("step" if cpu is None else f"step:{cpu}")

    @property
    def pending(self) -> bool:
        return not self._requests.empty()

    def take(self, timeout: float = 0.0) -> list[str]:
        """The requests made so far; waits up to `timeout` for the first one."""
        try:
            first = self._requests.get(timeout=timeout) if timeout else self._requests.get_nowait()
        except queue.Empty:
            return []
        requests = [first]
        with contextlib.suppress(queue.Empty):
            while True:
                requests.append(self._requests.get_nowait())
        return requests


@contextlib.contextmanager
def signals_stop(stop: StopRequest) -> Iterator[None]:
    """While the loop runs, Ctrl-C and SIGTERM ask it to stop between two events, so none is
    left half built; only if it has not stopped STUCK_AFTER seconds later does one raise."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        reason = "terminated" if signum == signal.SIGTERM else "interrupted"
        stop.signum = stop.signum or signum
        if stop.requested and time.monotonic() - (stop.requested_at or 0.0) > STUCK_AFTER:
            raise Terminated(reason) if signum == signal.SIGTERM else KeyboardInterrupt(reason)
        stop.request(reason)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
