"""`tracer bench`'s third leg: the tracer's agent and plan in a batch gdb, its records to
/dev/null, counted from outside its stop() (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from capture_support import build_guest

from tracer.bench.stops import _fuzzer_options
from tracer.capture import capture
from tracer.store import TraceReader
from tracer.target.bench import agent_alone_rate

pytestmark = pytest.mark.qemu


def test_the_agent_alone_stops_where_the_tracer_did(tmp_path: Path) -> None:
    build_guest()
    options = _fuzzer_options(150, tmp_path / "t.db")
    result = capture(options)
    assert result.reason == "guest-exit", result.failure()
    with TraceReader.open(options.output) as reader:
        syscalls = sum(1 for _ in reader.events(kinds="syscall_entry"))
    plan = result.plan.agent_plan(stop_first_syscall=False, cpus=1)
    alone = agent_alone_rate(options.kernel, options.qemu_config(), plan, tmp_path)
    # The same program under the same probes: an entry and an exit stop per syscall (exit and
    # exit_group have no exit; an iretq exit probe also sees interrupts' returns), and the
    # plan's other probes too (the MSR writes at exec, interrupts, switches).
    assert alone.syscall.stops >= 2 * syscalls - 2, (alone, syscalls)
    assert alone.entries == syscalls, (alone, syscalls)  # the same program, syscall for syscall
    assert alone.handled.stops > alone.syscall.stops, alone
    assert alone.syscall.per_second > 0 and alone.stop_us > 0
