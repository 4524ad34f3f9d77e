"""Live mode's feed: a capture runs in a worker thread and feeds the UI in batches.

The capture's callbacks run in the worker thread; they only buffer events and post messages
(about every 50 ms, never per event). The screen's handlers append to the `MemoryTrace` the
views read, so widgets never touch the capture and the capture never touches a widget.
Stopping uses the capture's own controls: a `StopRequest` ends it now, and its `until_event`
predicate (asked about every event) ends it at the event a condition the user set accepts;
a `CaptureControl` pauses, steps and resumes the guest (the capture loop drives gdb).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from textual.message import Message

from tracer.capture import CaptureControl, StopRequest
from tracer.events import Event

BATCH_SECONDS = 0.05

RunCapture = Callable[..., Any]
"""`capture(options, on_event=..., progress=..., stop=...)` or a stand-in with that shape."""


class CaptureFeed:
    """Runs one capture and posts its events to a screen in batches."""

    class Batch(Message):
        def __init__(self, events: list[Event]) -> None:
            super().__init__()
            self.events = events

    class Progress(Message):
        def __init__(self, stats: Any) -> None:
            super().__init__()
            self.stats = stats

    class Finished(Message):
        def __init__(self, result: Any, error: str | None) -> None:
            super().__init__()
            self.result = result
            self.error = error

    def __init__(
        self,
        options: Any,
        post: Callable[[Message], Any],
        run_capture: RunCapture | None = None,
        checker: Callable[[], Any] | None = None,
    ) -> None:
        self.options = options
        self.post = post
        self.run_capture = run_capture
        self.stop_when: Callable[[Event], bool] | None = None  # set by the UI thread
        self.make_checker = checker  # a tracer check Checker, built in the worker thread
        self._checker: Any = None
        self.violation = False  # did the event `until` is asked about break an invariant
        self.stop_reason = ""
        self.stop = StopRequest()
        self.control = CaptureControl()
        self._buffer: list[Event] = []
        self._lock = threading.Lock()
        self._last_post = time.monotonic()
        self.started = threading.Event()
        self.finished = threading.Event()

    def request_stop(self, reason: str) -> None:
        if not self.stop.requested:
            self.stop_reason = reason
        self.stop.request(reason)

    # In the worker thread.

    def run(self) -> None:
        self.started.set()
        result, error = None, None
        if self.make_checker is not None:
            try:
                self._checker = self.make_checker()
            except Exception:  # no kernel facts: stopping at a violation sees flags only
                self._checker = None
        run_capture: RunCapture
        if self.run_capture is not None:
            run_capture = self.run_capture
        else:
            from tracer.capture import capture as run_capture
        try:
            result = run_capture(
                self._options(), on_event=self._on_event, progress=self._on_progress, stop=self.stop
            )
        except Exception as exc:  # the UI must hear of any failure, then the app decides
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._flush()
            self.post(self.Finished(result, error))
            self.finished.set()

    def _options(self) -> Any:
        """The options with `until_event` asking the user's condition as well as any given."""
        given = getattr(self.options, "until_event", None)

        def until(event: Event) -> bool:
            # The checker sees every event (it keeps state), so a stop armed late still
            # knows which TCB belongs to whom.
            self.violation = bool(self._checker and list(self._checker.check([event])))
            condition = self.stop_when
            if condition is not None and condition(event):
                self.stop_reason = self.stop_reason or f"stopped at #{event.seq}"
                return True
            return given is not None and given(event)

        options: Any = self.options
        if dataclasses.is_dataclass(options) and not isinstance(options, type):
            names = {f.name for f in dataclasses.fields(options)}
            control = {"control": self.control} if "control" in names else {}
            return dataclasses.replace(options, until_event=until, **control)
        return self.options

    def _on_event(self, event: Event) -> None:
        with self._lock:
            self._buffer.append(event)
        if time.monotonic() - self._last_post >= BATCH_SECONDS:
            self._flush()

    def _on_progress(self, stats: Any) -> None:
        self._flush()
        self.post(self.Progress(stats))

    def _flush(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
        self._last_post = time.monotonic()
        if events:
            self.post(self.Batch(events))
