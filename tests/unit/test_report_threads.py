"""strace lines for threads that share a pid (Linux without a switch probe): each exit with
the entry the tracer matched it to, not with its pid's latest entry."""

from __future__ import annotations

from tracer.events import ProcessEvent, SegBases, SyscallEntry, SyscallExit
from tracer.report import strace_lines

BASES = SegBases(0, 0, 0)
NR_GETPPID, NR_FUTEX, NR_CLONE3, NR_EXIT, NR_EXECVE = 110, 202, 435, 60, 59
MAIN, WORKER = 0xFFFF_C900_0000_3F58, 0xFFFF_C900_0001_3F58  # their kernel stacks' pt_regs


def _entry(seq: int, cpu: int, nr: int, regs_addr: int) -> SyscallEntry:
    return SyscallEntry(seq, seq, cpu, 2, 0x1000, nr, (0,) * 6, 0, 0, 0, regs_addr, (), BASES, 0)


def _exit(seq: int, cpu: int, nr: int, ret: int, entry_seq: int | None) -> SyscallExit:
    return SyscallExit(seq, seq, cpu, 2, 0x1000, nr, ret, entry_seq, 0, 0, 0, (), BASES, 0)


def test_threads_of_one_pid_each_get_their_own_return() -> None:
    events = [
        _entry(1, 0, NR_CLONE3, MAIN),
        _entry(2, 1, NR_GETPPID, WORKER),  # the new thread, before its parent's clone3 returns
        _exit(3, 0, NR_CLONE3, 86, 1),
        _entry(4, 0, NR_FUTEX, MAIN),  # the main thread waits to join
        _exit(5, 1, NR_GETPPID, 1, 2),
        _entry(6, 1, NR_EXIT, WORKER),
        ProcessEvent(7, 7, 1, 2, 0x1000, "exit", "prog", status=0),
        _exit(8, 0, NR_FUTEX, 0, 4),
    ]
    assert [_call(line) for line in strace_lines(events)] == [
        ("clone3", "86"),
        ("getppid", "1"),
        ("exit", "?"),
        ("+++ exited with 0 +++", None),
        ("futex", "0"),
    ]


def _call(line: str) -> tuple[str, str | None]:
    """(syscall name, what it returned) of one strace line; the whole text of any other."""
    text = line.split("] ", 1)[1]
    if " = " not in text:
        return text, None
    return text.split("(", 1)[0], text.rsplit(" = ", 1)[1]


def test_an_entry_that_never_returns_ends_at_its_threads_next_entry() -> None:
    events = [
        _entry(1, 0, NR_EXECVE, MAIN),
        _entry(2, 1, NR_FUTEX, WORKER),  # another thread: the execve is not ended by it
        _entry(3, 0, NR_GETPPID, MAIN),
        _exit(4, 0, NR_GETPPID, 1, 3),
    ]
    lines = [line.split("] ", 1)[1] for line in strace_lines(events)]
    assert lines[0].startswith("execve(") and lines[0].endswith("= ?")
    assert lines[1].startswith("getppid(") and lines[1].endswith("= 1")
    assert lines[2].startswith("futex(") and lines[2].endswith("= ?")  # never returned
