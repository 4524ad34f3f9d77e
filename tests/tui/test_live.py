"""Live mode without QEMU: a stand-in capture feeds events from a thread, as the real one does."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.tui.conftest import KERNEL, settle
from tests.tui.demo_trace import demo_events, demo_meta
from tracer.events import EventKind
from tracer.store import MemoryTrace
from tracer.tui.app import TracerApp
from tracer.tui.capture_feed import CaptureFeed
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.live import LiveScreen


@dataclass
class FakeResult:
    reason: str
    error: str | None
    console: str


@dataclass
class FakeOptions:
    until_event: Any = None
    control: Any = None


class FakeCapture:
    """Sends the demo trace's events one by one from the worker thread, like `capture()`:
    it ends at the first event `until_event` accepts, or when `stop` is requested."""

    def __init__(self, pause_after: int | None = None, delay: float = 0.0) -> None:
        self.pause_after = pause_after  # hold here until released (a guest that idles)
        self.release = threading.Event()
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, options: Any, on_event: Any, progress: Any, stop: Any) -> FakeResult:
        self.threads.add(threading.current_thread().name)
        self.control = options.control
        for count, event in enumerate(demo_events()):
            if count == self.pause_after:
                while not self.release.wait(0.02) and not stop.requested:
                    progress({"idle": True})
            if stop.requested:
                return FakeResult(stop.reason, None, "")
            on_event(event)
            if options.until_event is not None and options.until_event(event):
                return FakeResult("until", None, "")
            time.sleep(self.delay)
        progress({"done": True})
        return FakeResult("guest-exit", None, "Hello, world!\ntls: ok\n")


def live_app(fake: FakeCapture) -> tuple[TracerApp, LiveScreen]:
    trace = OpenTrace(MemoryTrace(meta=demo_meta(str(KERNEL))), "live.db", live=True)
    screen = LiveScreen(trace, options=FakeOptions(), run_capture=fake)
    return TracerApp(trace, screen), screen


async def wait_until(pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


async def test_live_events_arrive_in_batches_and_the_view_follows() -> None:
    fake = FakeCapture()
    app, screen = live_app(fake)
    batches: list[int] = []
    post = screen.feed.post

    def counting(message: Any) -> Any:
        if isinstance(message, CaptureFeed.Batch):
            batches.append(len(message.events))
        return post(message)

    screen.feed.post = counting
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, screen.feed.finished.is_set)
        await settle(pilot)
        total = len(list(demo_events()))
        assert screen.source.count() == total == sum(batches)
        assert len(batches) < total  # batched, not one message per event
        assert "MainThread" not in fake.threads
        assert screen.selected.seq == total - 1  # followed the newest event
        assert "ended (guest-exit)" in screen.state
        assert screen.panes["console"]._text.startswith("Hello, world!")
        assert screen.trace.index.names == {1: "hello-glibc", 2: "tls-musl"}
        assert screen.panes["findings"].seqs  # the gap and the warning arrived live


async def test_stop_at_the_next_syscall_ends_the_capture_there() -> None:
    fake = FakeCapture(pause_after=12)
    app, screen = live_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 12)
        await pilot.press("z")
        fake.release.set()
        await wait_until(pilot, screen.feed.finished.is_set)
        await settle(pilot)
        first_syscall = next(
            e for e in demo_events() if e.seq >= 12 and e.kind == EventKind.SYSCALL_ENTRY
        )
        assert screen.selected.seq == first_syscall.seq
        assert screen.source.count() == first_syscall.seq + 1
        assert "stopped at" in screen.state


async def test_stop_now_and_following_can_be_paused() -> None:
    fake = FakeCapture(pause_after=20)
    app, screen = live_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 20)
        await pilot.pause()  # not settle(): the capture's worker is still running
        await pilot.press("k")  # moving away pauses following
        await pilot.pause()
        assert not screen.timeline.follow
        await pilot.press("r")
        assert screen.timeline.follow
        await pilot.press("X")
        await wait_until(pilot, screen.feed.finished.is_set)
        await settle(pilot)
        assert "stopped by you" in screen.state
        assert screen.source.count() == 20


async def test_pause_resume_and_step_go_to_the_capture_control() -> None:
    fake = FakeCapture(pause_after=5)
    app, screen = live_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 5)
        assert fake.control is screen.feed.control  # the capture got the TUI's control
        await pilot.press("P")
        assert screen.state == "paused" and "pausing" in screen.status.message
        await pilot.press("P", "full_stop", "full_stop", "P")
        assert screen.state == "capturing"
        assert fake.control.take() == ["pause", "resume", "step", "step", "resume"]
        fake.release.set()
        await wait_until(pilot, screen.feed.finished.is_set)
        await settle(pilot)
        await pilot.press("P")
        assert "the capture has ended" in screen.status.message
        assert fake.control.take() == []


async def test_quitting_stops_the_capture_first() -> None:
    fake = FakeCapture(pause_after=5)
    app, screen = live_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 5)
        await pilot.press("q")
        await pilot.pause()
    assert screen.feed.finished.is_set()


async def test_stop_at_the_next_violation() -> None:
    fake = FakeCapture(pause_after=12)
    app, screen = live_app(fake)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: screen.source.count() == 12)
        screen.action_stop_at("flagged")
        fake.release.set()
        await wait_until(pilot, screen.feed.finished.is_set)
        await settle(pilot)
        assert screen.selected.seq == 65  # FS base changed with no known cause
        assert screen.source.count() == 66
