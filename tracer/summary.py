"""`tracer report --summary`: strace -c's table (time, calls and errors per syscall, a total).

Time is guest time where the trace has it: the kernel functions the function-graph ring timed
inside the syscall (its top-level calls, do_syscall_64 on the built-in guest). A syscall without
it counts host time (the capture clock, entry stop to exit stop, which includes the tracer's own
stops); rows timed that way are marked and the table says so. Pure: events in, lines out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tracer.decode.errno import MAX_ERRNO
from tracer.decode.syscall_table import syscall_name
from tracer.decode.xlat import to_signed
from tracer.events import Event, FuncEntry, FuncExit, ProcessEvent, SyscallEntry, SyscallExit


@dataclass
class SyscallStats:
    nr: int
    calls: int = 0
    errors: int = 0
    guest_ns: int = 0
    host_ns: int = 0
    host_timed: int = 0  # calls whose time is host time (no guest time for them)

    @property
    def name(self) -> str:
        return syscall_name(self.nr)

    @property
    def seconds(self) -> float:
        return (self.guest_ns + self.host_ns) / 1e9

    @property
    def host_time(self) -> bool:
        return self.host_timed > 0


@dataclass
class _Open:
    entry: SyscallEntry
    depth: int = 0  # function calls open inside the syscall
    starts: list[int | None] = field(default_factory=list)
    guest_ns: int = 0
    timed: bool = True  # every top-level call had guest time on both ends
    calls: int = 0


def syscall_stats(events: Iterable[Event]) -> list[SyscallStats]:
    """Per syscall number: calls, errors and time, over every pid; biggest time first."""
    stats: dict[int, SyscallStats] = {}
    open_: dict[int, _Open] = {}
    for event in events:
        if isinstance(event, SyscallEntry):
            _close(stats, open_.pop(event.pid, None), None)
            open_[event.pid] = _Open(event)
        elif isinstance(event, SyscallExit):
            _close(stats, open_.pop(event.pid, None), event)
        elif isinstance(event, FuncEntry | FuncExit) and event.pid in open_:
            _func(open_[event.pid], event)
        elif isinstance(event, ProcessEvent) and event.action == "exit":
            _close(stats, open_.pop(event.pid, None), None)
    for pending in open_.values():
        _close(stats, pending, None)
    return sorted(stats.values(), key=lambda s: (-s.seconds, -s.calls, s.name))


def _func(call: _Open, event: FuncEntry | FuncExit) -> None:
    if isinstance(event, FuncEntry):
        if call.depth == 0:
            call.starts.append(event.guest_ns)
        call.depth += 1
        return
    if call.depth == 0:
        return  # a return from a call that began before the syscall
    call.depth -= 1
    if call.depth == 0:
        start = call.starts.pop() if call.starts else None
        call.calls += 1
        if start is None or event.guest_ns is None:
            call.timed = False
        else:
            call.guest_ns += event.guest_ns - start


def _close(stats: dict[int, SyscallStats], call: _Open | None, exit_: SyscallExit | None) -> None:
    """Count a syscall; one that never returned (exit_group) counts with no time, as strace."""
    if call is None:
        return
    row = stats.setdefault(call.entry.nr, SyscallStats(call.entry.nr))
    row.calls += 1
    if exit_ is None:
        return
    if -MAX_ERRNO <= to_signed(exit_.ret, 64) < 0:
        row.errors += 1
    if call.calls and call.timed and call.depth == 0:
        row.guest_ns += call.guest_ns
    else:
        row.host_ns += max(0, exit_.time_ns - call.entry.time_ns)
        row.host_timed += 1


_RULE = "------ ----------- ----------- --------- --------- ----------------"


def summary_lines(stats: list[SyscallStats]) -> Iterator[str]:
    """strace -c's table; rows in host time end with `*` and a note says so."""
    total_s = sum(s.seconds for s in stats)
    yield "% time     seconds  usecs/call     calls    errors syscall"
    yield _RULE
    for row in stats:
        share = 100 * row.seconds / total_s if total_s else 0.0
        per_call = round(row.seconds * 1e6 / row.calls) if row.calls else 0
        errors = str(row.errors) if row.errors else ""
        mark = " *" if row.host_time else ""
        yield (
            f"{share:6.2f} {row.seconds:11.6f} {per_call:11d} {row.calls:9d} {errors:>9} "
            f"{row.name}{mark}"
        )
    yield _RULE
    calls = sum(s.calls for s in stats)
    failed = sum(s.errors for s in stats)
    yield f"100.00 {total_s:11.6f} {'':11} {calls:9d} {failed or '':>9} total"
    host = [s for s in stats if s.host_time]
    if not stats:
        return
    if not host:
        yield "time: guest time (kernel functions timed by the function-graph ring)"
    elif not any(s.guest_ns for s in stats):
        yield "time: host time (capture clock, tracer stops included): no guest time in this trace"
    else:
        yield "time: guest time; * rows (partly) host time (capture clock, tracer stops included)"


__all__ = ["SyscallStats", "summary_lines", "syscall_stats"]
