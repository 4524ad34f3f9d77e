"""The assertion helpers on traces built in memory: what passes, and what a failure says."""

from __future__ import annotations

import pytest

from tracer.events import Event, SegBaseChange, SegBases, SegCause, SyscallEntry
from tracer.pytest_plugin import (
    assert_segbase,
    assert_syscalls,
    segbase_changes,
    syscall_names,
)
from tracer.store import MemoryTrace, TraceWriter

NR = {"brk": 12, "arch_prctl": 158, "set_tid_address": 218, "write": 1, "exit_group": 231}
BASES = SegBases(0, 0, 0)


def entry(seq: int, name: str, pid: int = 1) -> SyscallEntry:
    nr = NR.get(name, 999)
    return SyscallEntry(seq, seq, 0, pid, 0x1000, nr, (0,) * 6, 0, 0, 0, 0, (), BASES, 0)


def trace_of(*names: str) -> MemoryTrace:
    return MemoryTrace(entry(i + 1, n) for i, n in enumerate(names))


HELLO = trace_of("brk", "brk", "arch_prctl", "set_tid_address", "write", "exit_group")


def failure_text(call: object) -> str:
    with pytest.raises(pytest.fail.Exception) as caught:
        call()  # type: ignore[operator]
    return str(caught.value)


def test_names_come_from_the_syscall_table() -> None:
    assert syscall_names(trace_of("write", "mystery")) == ["write", "syscall_0x3e7"]


def test_subsequence_passes_with_calls_between() -> None:
    assert_syscalls(HELLO, ["brk", "arch_prctl", "exit_group"])
    assert_syscalls(HELLO, [])


def test_subsequence_failure_says_where_it_stopped() -> None:
    text = failure_text(lambda: assert_syscalls(HELLO, ["brk", "write", "arch_prctl"]))
    assert "'arch_prctl' (expected #2) not found after write (#4)" in text
    assert "matched in order: brk, write" in text
    assert "actual from there: exit_group" in text
    assert "all 6 syscalls: brk, brk, arch_prctl, set_tid_address, write, exit_group" in text


def test_exact_failure_is_a_diff() -> None:
    assert_syscalls(HELLO, list(syscall_names(HELLO)), mode="exact")
    text = failure_text(
        lambda: assert_syscalls(
            HELLO, ["brk", "brk", "arch_prctl", "write", "exit_group"], mode="exact"
        )
    )
    assert "syscalls differ (- expected, + actual)" in text
    assert "+set_tid_address" in text


def test_prefix() -> None:
    assert_syscalls(HELLO, ["brk", "brk", "arch_prctl"], mode="prefix")
    text = failure_text(lambda: assert_syscalls(HELLO, ["brk", "arch_prctl"], mode="prefix"))
    assert "do not start as expected" in text and "-arch_prctl" in text


def test_per_pid_and_unknown_mode() -> None:
    two = MemoryTrace([entry(1, "brk", pid=1), entry(2, "write", pid=2)])
    assert_syscalls(two, ["write"], pid=2, mode="exact")
    assert "syscalls of pid 1" in failure_text(lambda: assert_syscalls(two, ["write"], pid=1))
    with pytest.raises(ValueError):
        assert_syscalls(two, [], mode="sorted")  # type: ignore[arg-type]


def change(seq: int, which: str, cause: SegCause, new: int, inferred: bool = False) -> Event:
    return SegBaseChange(seq, seq, 0, 1, which, 0, new, cause, 0, inferred)  # type: ignore[arg-type]


SEG = MemoryTrace(
    [
        change(1, "gs", SegCause.SWAPGS, 0xFFFF8880, inferred=True),
        change(2, "fs", SegCause.ARCH_PRCTL, 0x4AC380),
        change(3, "gs", SegCause.SWAPGS, 0, inferred=True),
    ]
)


def test_segbase_changes_and_assertions() -> None:
    assert [c.seq for c in segbase_changes(SEG, "gs")] == [1, 3]
    assert [c.seq for c in segbase_changes(SEG, inferred=False)] == [2]
    assert_segbase(SEG, [("fs", "arch_prctl")])
    assert_segbase(SEG, [("fs", "arch_prctl", 0x4AC380)], which="fs", mode="exact")
    text = failure_text(lambda: assert_segbase(SEG, [("fs", "wrmsr")]))
    assert "'fs:wrmsr' (expected #0) not found" in text
    with pytest.raises(ValueError):
        assert_segbase(SEG, [("fs", "arch_prctl"), ("gs", "swapgs", 0)])  # type: ignore[list-item]


def test_helpers_read_saved_traces_by_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.db"
    with TraceWriter(path) as writer:
        for event in HELLO.events():
            writer.append(event)
    assert_syscalls(path, ["arch_prctl", "write"])
    assert_syscalls(str(path), syscall_names(HELLO), mode="exact")
