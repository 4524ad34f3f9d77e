"""With nothing watching the events as they come, the capture loop holds the agent's records
and builds their events when the guest stops (at a real stop, at the end, or every
`HOLD_RECORDS`): the same trace as built record by record, the same hang check."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest
from test_capture_loop import NR_EXIT_GROUP, NR_WRITE, Guest, binaries, run, syscalls

from tracer.capture import (
    CaptureOptions,
    Program,
    StopRequest,
    capture,
    holding,
    plan_capture,
)
from tracer.capture import loop as loop_module
from tracer.capture.control import CaptureInterrupted
from tracer.events import MsrRead, Note
from tracer.image import ElfImage
from tracer.probes.builder import EventBuilder
from tracer.store import TraceReader
from tracer.target.fake import FakeTarget, InTransit, PowerOff, Records, Stop
from tracer.target.records import StopEvent

__all__ = ["binaries"]  # the fixture, shared with test_capture_loop


def _comparable(events: list) -> list:
    """Events without what differs between two runs: the time of the events the loop made
    itself (notes, the MSRs it read), and the wall clock in a note's text."""
    out = []
    for event in events:
        if isinstance(event, Note | MsrRead):
            event = dataclasses.replace(event, time_ns=0)
        if isinstance(event, Note):
            event = dataclasses.replace(event, text=event.text.split(":")[0])
        out.append(dataclasses.astuple(event))
    return out


@pytest.mark.parametrize("limit", ["3", str(holding.HOLD_RECORDS)])
def test_held_records_make_the_trace_built_record_by_record(
    binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: str
) -> None:
    def script(g: Guest) -> list:
        first = [Records((g.start(), g.entry(12))), Stop(StopEvent("breakpoint-hit", g.dispatch))]
        writes = [g.syscall(NR_WRITE, 5) for _ in range(10)]
        last = [Records((g.entry(NR_EXIT_GROUP, 0),)), PowerOff(1)]
        return [*first, Records((g.exit(12, 0x4AC000),)), *writes, *last]

    releases: list[int] = []
    release = loop_module.CaptureLoop.release

    def counted(self: loop_module.CaptureLoop, **how: bool) -> None:
        releases.append(len(self.held))
        release(self, **how)

    monkeypatch.setattr(loop_module.CaptureLoop, "release", counted)
    (tmp_path / "live").mkdir()
    (tmp_path / "held").mkdir()
    monkeypatch.setenv("TRACER_HOLD_RECORDS", "0")
    live, _target, live_events = run(binaries, tmp_path / "live", build=script)
    assert not any(releases)  # nothing was held
    monkeypatch.setenv("TRACER_HOLD_RECORDS", limit)
    held, _target, held_events = run(binaries, tmp_path / "held", build=script)
    assert max(releases) >= 3  # records waited, then became events together
    if limit == "3":
        assert max(releases) == 3
    assert held.reason == live.reason == "guest-exit"
    assert syscalls(held_events) == syscalls(live_events) == [12, *[NR_WRITE] * 10, NR_EXIT_GROUP]
    assert _comparable(held_events) == _comparable(live_events)
    assert held.programs == live.programs and held.stats.held == 0


def test_only_a_capture_nobody_watches_holds_records(binaries) -> None:
    kernel, _user = binaries
    base = CaptureOptions(kernel, kernel, [], Path("t.db"))
    assert holding.hold_limit(base, None) == holding.HOLD_RECORDS
    assert holding.hold_limit(base, print) == 0  # a live view
    watched = (
        {"until": "syscall:write"},
        {"max_events": 10},
        {"until_event": lambda event: False},
        {"from_boot": True},
    )
    for change in watched:
        assert holding.hold_limit(dataclasses.replace(base, **change), None) == 0, change


def test_a_guest_spinning_with_its_records_held_is_still_a_hang(
    binaries, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timer interrupts keep coming (2 s of them) while the program makes no syscall: the
    hang is seen 0.3 s after its last syscall, long before the interrupts end."""
    ticks = 200

    def script(g: Guest) -> list:
        started = Records((g.start(), g.entry(12), g.exit(12, 0)))
        tick = [g.hit("interrupt_entry", g.dispatch, (0, 0, 0), vector=32) for _ in range(ticks)]
        return [started, InTransit(tuple(tick), every_s=0.01)]

    taken: list[int] = []
    finish = loop_module.CaptureLoop.finish

    def counted(self: loop_module.CaptureLoop, target: object) -> object:
        taken.append(self.stats.records)
        return finish(self, target)  # type: ignore[arg-type]

    monkeypatch.setattr(loop_module.CaptureLoop, "finish", counted)
    result, _target, events = run(binaries, tmp_path, build=script, idle_timeout=0.3,
                                  read_msrs=False)  # fmt: skip
    assert result.reason == "hang"
    assert syscalls(events) == [12]
    assert taken[0] < 3 + ticks  # the loop ended while the interrupts still came


def test_ctrl_c_while_held_records_are_built_leaves_no_hole(
    binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that forces the end (a stop asked long ago and not yet served) lands while a
    batch of held records becomes events: it is heard between two records, never inside one,
    so every event up to the cut is in the trace."""
    kernel, user = binaries
    opts = CaptureOptions(kernel, kernel, [Program(user)], tmp_path / "trace.db", read_msrs=False)
    guest = Guest(plan_capture(opts, ElfImage.open(kernel)))
    script = [Records((guest.start(),)), *[guest.syscall(NR_WRITE, 5) for _ in range(40)]]
    target = FakeTarget(script, registers={"cs": 0x10, "rip": guest.dispatch})
    stop = StopRequest()
    feed, fed = EventBuilder.feed, []

    def feed_then_ctrl_c(self: EventBuilder, hit: object) -> list:
        events = feed(self, hit)  # type: ignore[arg-type]
        fed.append(hit)
        if len(fed) == 30:  # mid-batch, the record's events made: the stop was asked 10 s
            stop.request("interrupted")  # ago, so this signal raises when it is heard
            stop.requested_at = (stop.requested_at or 0.0) - 10
            os.kill(os.getpid(), signal.SIGINT)
        return events

    monkeypatch.setattr(EventBuilder, "feed", feed_then_ctrl_c)
    monkeypatch.setenv("TRACER_HOLD_RECORDS", "25")
    with pytest.raises(CaptureInterrupted) as ended:
        capture(opts, target_factory=lambda _options: target, stop=stop)
    assert ended.value.result.reason == "interrupted"
    with TraceReader.open(ended.value.result.output) as reader:
        seqs = [event.seq for event in reader.events()]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(fed) > 30  # the records held at the cut were built too


def test_a_record_carrying_the_ring_is_built_at_once_with_those_before_it(
    binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function-graph drain carries up to hundreds of KiB: it is never held, and the records
    before it become events with it, in order."""

    def script(g: Guest) -> list:
        drain = g.hit("ftrace_drain", g.dispatch, (0, 0, 0), cpu_rings=[])
        records = Records((g.start(), *g.syscall(NR_WRITE, 5).items, drain))
        return [records, g.syscall(39), PowerOff(1)]

    releases: list[tuple[int, str]] = []
    release = loop_module.CaptureLoop.release

    def counted(self: loop_module.CaptureLoop, **how: bool) -> None:
        last = self.held[-1] if self.held else None
        releases.append((len(self.held), getattr(last, "probe", "")))
        release(self, **how)

    monkeypatch.setattr(loop_module.CaptureLoop, "release", counted)
    _result, _target, events = run(binaries, tmp_path, build=script, read_msrs=False)
    assert (4, "ftrace_drain") in releases  # start, entry, exit, the drain: built together
    assert syscalls(events) == [NR_WRITE, 39]
