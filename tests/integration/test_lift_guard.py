"""Lifting the syscall sites (breakpoints, `--no-watch`) relies on every way back to user mode
stopping at a probe first, and watching them (`syscall_watch`) on every way out popping the
frame where the tracer found it.
A kernel where one does not (here the built-in guest with its sysretq probe taken out of the
plan, as if the tracer had not found it) is caught at the first interrupt of user mode right
after a lifted entry: the trace gets a gap saying syscalls may be missing, and from there on
gdb steps over every site, so every later syscall is in the trace. Checked against the guest's
ground-truth log."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from capture_support import build_guest, run_capture

import tracer.capture.run as capture_run
from tracer.events import Gap, SyscallEntry, SyscallExit
from tracer.probes.kinds import ProbeKind
from tracer.store import TraceReader

pytestmark = pytest.mark.qemu


def test_an_unprobed_way_back_to_user_mode_is_reported_and_ends_the_lifting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_guest()
    planned = capture_run.build_plan

    def without_sysret(*args: Any, **kwargs: Any) -> Any:
        plan = planned(*args, **kwargs)
        sysret = [p for p in plan.probes if dict(p.extra).get("exit_kind") == "sysretq"]
        assert sysret and all(p.kind == ProbeKind.SYSCALL_EXIT for p in sysret)
        plan.probes = [p for p in plan.probes if p not in sysret]
        return plan

    monkeypatch.setattr(capture_run, "build_plan", without_sysret)
    captured = run_capture(tmp_path, [("fuzzer", ("600", "3"))], watch=False)
    assert captured.result.error is None
    gaps = [e for e in captured.events if isinstance(e, Gap) and "no exit probe" in e.reason]
    assert len(gaps) == 1 and gaps[0].count is None
    entries = [e for e in captured.events if isinstance(e, SyscallEntry)]
    truth = [t["nr"] for t in captured.truth if t["ev"] == "syscall_entry"]
    after = [e.nr & 0xFFFFFFFF for e in entries if e.seq > gaps[0].seq]
    # Before the gap a lifted entry may have missed some (none if an interrupt of user mode
    # came first); after it, none.
    assert len(entries) <= len(truth)
    assert len(after) > 100 and after == truth[len(truth) - len(after) :]
    with TraceReader.open(captured.trace) as reader:
        assert 0 < int(reader.meta["agent_lifted"]) < len(entries)


def test_an_exit_the_watchpoints_miss_is_reported_and_breakpoints_take_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The built-in guest with its sysret way's pop taken out of the watch plan, as if the
    tracer had not found that way out: the first syscall that leaves by it goes unseen, and
    its thread's next entry finds the frame still in flight. The trace gets a gap, and from
    there on the breakpoints (entry and sysretq) take every syscall."""
    build_guest()
    planned = capture_run.build_plan

    def without_sysret_pop(*args: Any, **kwargs: Any) -> Any:
        plan = planned(*args, **kwargs)
        assert plan.watch is not None and len(plan.watch.exit_pops) == 2
        iret_way = max(plan.watch.exit_pops)  # the sysret way is the entry path's own, first
        plan.watch = dataclasses.replace(plan.watch, exit_pops=(iret_way,))
        return plan

    monkeypatch.setattr(capture_run, "build_plan", without_sysret_pop)
    captured = run_capture(tmp_path, [("fuzzer", ("600", "3"))])
    assert captured.result.error is None
    gaps = [e for e in captured.events if isinstance(e, Gap) and "went by unseen" in e.reason]
    assert len(gaps) == 1 and gaps[0].count is None
    entries = [e for e in captured.events if isinstance(e, SyscallEntry)]
    exits = {e.entry_seq for e in captured.events if isinstance(e, SyscallExit)}
    truth = [t["nr"] for t in captured.truth if t["ev"] == "syscall_entry"]
    after = [e for e in entries if e.seq > gaps[0].seq]
    # Before the gap the entries after the unseen exit went unseen too (the call word is not
    # watched during a syscall) until the next stop showed it; after it, none, nor any exit.
    assert len(entries) <= len(truth)
    assert len(after) > 100
    assert [e.nr & 0xFFFFFFFF for e in after] == truth[len(truth) - len(after) :]
    assert all(e.seq in exits for e in after if e.nr != 231)  # exit_group has none
    with TraceReader.open(captured.trace) as reader:
        assert reader.meta["agent_watching"] == "0"
