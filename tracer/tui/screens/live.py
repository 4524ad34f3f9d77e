"""The main screen fed by a capture running now: events arrive in batches, the view follows
the newest one until the user moves, and the capture can be stopped now or at a condition."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import work

from tracer.events import SegBaseChange, SyscallEntry, TlsSnapshot
from tracer.store import MemoryTrace
from tracer.tui.capture_feed import CaptureFeed, RunCapture
from tracer.tui.open_trace import OpenTrace
from tracer.tui.screens.main import MainScreen
from tracer.tui.screens.prompt import PromptScreen
from tracer.tui.view_models.rows import is_flagged

STOP_CONDITIONS = {
    "syscall": ("the next syscall", lambda e: isinstance(e, SyscallEntry)),
    "segbase": ("the next TLS switch", lambda e: isinstance(e, SegBaseChange | TlsSnapshot)),
    "flagged": ("the next violation", is_flagged),
}


class LiveScreen(MainScreen):
    def __init__(
        self, trace: OpenTrace, options: Any, run_capture: RunCapture | None = None
    ) -> None:
        super().__init__(trace)
        assert isinstance(trace.source, MemoryTrace)
        self.source: MemoryTrace = trace.source
        self.feed = CaptureFeed(options, self.post_message, run_capture, trace.checker)
        self.result: Any = None
        self.state = "starting"
        self.guest_paused = False  # what the user asked for; the capture's notes confirm it
        self.timeline.follow = True
        for pane in (self.panes["cpu"], self.cpu_side):
            pane.paused_vcpus = self.paused_vcpus

    def paused_vcpus(self) -> tuple[dict[int, dict[str, int]], int | None]:
        """Each vCPU's registers as the pause or the last step left them ({} while running)."""
        control = self.feed.control
        if not (self.guest_paused and control.paused):
            return {}, None
        return control.vcpus, control.stepped

    def on_mount(self) -> None:
        super().on_mount()
        self.run_feed()

    @work(thread=True, exclusive=True, group="capture")
    def run_feed(self) -> None:
        self.state = "capturing"
        self.feed.run()

    def trace_state(self) -> str:
        follow = "following" if self.timeline.follow else "paused view"
        return f"live: {self.state}, {follow}"

    # Messages from the capture thread.

    def on_capture_feed_batch(self, message: CaptureFeed.Batch) -> None:
        self.source.extend(message.events)
        if self.trace.add_events(message.events):
            self.load_kernel()  # the capture named the kernel's ELF, symbols or slide
        self.timeline.grew()
        self.update_bar()
        self.update_position()
        if self.guest_paused:  # a pause's or a step's notes: the vCPUs moved
            self.vcpus_moved()
        if self.findings is not None:
            self.run_findings()  # check the new events (restarts where the check stopped)

    def on_capture_feed_progress(self, message: CaptureFeed.Progress) -> None:
        stats = message.stats
        hits = getattr(stats, "hits", None)
        if hits is not None:
            self.status.busy = f"{hits:,} stops, {getattr(stats, 'elapsed', 0):.1f} s"

    def on_capture_feed_finished(self, message: CaptureFeed.Finished) -> None:
        self.result = message.result
        reason = getattr(message.result, "reason", None) or "ended"
        if self.feed.stop_reason:
            reason = self.feed.stop_reason
        error = message.error or getattr(message.result, "error", None)
        if error and error != "interrupted":
            reason = f"failed: {error}"
        self.state = f"ended ({reason})"
        self.status.busy = ""
        self.say(f"capture {self.state}; the trace is in {self.trace.name}")
        console = getattr(message.result, "console", None)
        if console:
            self.panes["console"].set_text(console)
        self.update_bar()
        if self.feed.stop_reason.startswith("stopped at #"):
            self.go_to_seq(int(self.feed.stop_reason.removeprefix("stopped at #")))

    # Controls.

    def action_follow(self) -> None:
        self.timeline.follow = not self.timeline.follow
        if self.timeline.follow:
            self.timeline.action_last()
        self.update_bar()

    def action_cursor(self, how: str) -> None:
        # Any move pauses the view (the timeline drops `follow`); G follows the newest again.
        super().action_cursor(how)
        if how == "last":
            self.timeline.follow = True
        self.update_bar()

    def action_stop_capture(self) -> None:
        if self.feed.finished.is_set():
            self.say("the capture has ended")
            return
        self.feed.request_stop("stopped by you")
        self.say("stopping the capture…")

    def action_pause_capture(self) -> None:
        if self.feed.finished.is_set():
            self.say("the capture has ended")
            return
        self.guest_paused = not self.guest_paused
        if self.guest_paused:
            self.feed.control.pause()
            self.state = "paused"
        else:
            self.feed.control.resume()
            self.state = "capturing"
        self.say("pausing the guest…" if self.guest_paused else "resuming the guest…")
        self.update_bar()
        self.vcpus_moved()

    def vcpus_moved(self) -> None:
        """The vCPUs were paused, stepped or resumed: the CPU panes redraw what they show."""
        for pane in (self.panes["cpu"], self.cpu_side):
            pane.invalidate()
        self.show_active_pane()

    def action_step_capture(self) -> None:
        if self.feed.finished.is_set():
            self.say("the capture has ended")
            return
        cpu = self.view_filter.cpu  # the CPU view (C) names the vCPU; else the one stopped
        self.feed.control.step(cpu)  # pauses first when running; the other vCPUs stay put
        self.guest_paused = True
        self.state = "paused"
        which = "" if cpu is None else f" of CPU {cpu}"
        self.say(f"one instruction{which}: its RIP is the next note")
        self.update_bar()

    def action_stop_at(self, what: str) -> None:
        label, condition = STOP_CONDITIONS[what]
        if what == "flagged":
            feed = self.feed

            def condition(event: Any) -> bool:
                return feed.violation or is_flagged(event)

        self.set_stop(condition, label)

    def set_stop(self, condition: Any, label: str) -> None:
        if self.feed.finished.is_set():
            self.say("the capture has ended")
            return
        self.feed.stop_when = condition
        self.timeline.follow = True
        self.say(f"the capture stops at {label}")

    def action_stop_at_prompt(self) -> None:
        from tracer.decode.syscall_table import syscall_number

        def check(text: str) -> str | None:
            return None if syscall_number(text.strip()) is not None else "not a syscall name"

        def done(text: str | None) -> None:
            if text:
                nr = syscall_number(text.strip())
                self.set_stop(
                    lambda e, nr=nr: isinstance(e, SyscallEntry) and e.nr == nr,
                    f"the next {text.strip()}",
                )

        self.app.push_screen(
            PromptScreen("stop the capture at syscall", hint="e.g. write", check=check), done
        )

    async def before_quit(self) -> None:
        """Stop the capture and let it close the trace file and end QEMU and gdb."""
        if self.feed.finished.is_set():
            return
        self.feed.request_stop("stopped by quitting")
        self.say("stopping the capture before quitting…")
        await asyncio.to_thread(self.feed.finished.wait, 60)
