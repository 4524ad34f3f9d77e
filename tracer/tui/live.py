"""Live mode: the TUI on a capture that runs while it is shown (the feed: `capture_feed`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracer.store import MemoryTrace
from tracer.tui.app import TracerApp
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.live import LiveScreen

if TYPE_CHECKING:
    from tracer.capture import CaptureOptions, CaptureResult


def run_live(options: CaptureOptions) -> CaptureResult | None:
    """Run the TUI on a new capture; returns the capture's result (None if it never ran)."""
    meta = {
        "kernel": str(options.kernel),
        "programs": " ".join(str(p.path) for p in options.programs),
        "cmdline": options.cmdline,
    }
    trace = OpenTrace(MemoryTrace(meta=meta), options.output, live=True)
    screen = LiveScreen(trace, options)
    try:
        TracerApp(trace, screen).run()
    finally:
        # However the app ended, the capture thread owns QEMU and gdb: let it wind down.
        screen.feed.request_stop("the TUI exited")
        if screen.feed.started.is_set():
            screen.feed.finished.wait(60)
    return screen.result
