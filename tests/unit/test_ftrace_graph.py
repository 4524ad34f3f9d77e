"""function_graph text: ftrace's exact columns, its options, and golden files.

Goldens are compared after `normalize_graph` (durations, absolute times and addresses become
placeholders, as uftrace's tests do), so the same files can hold real captures later.
Regenerate with UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from callgraph_demo import ScriptedTrace, hello_glibc

from tracer.analysis.callgraph import build_call_tree
from tracer.export.ftrace import (
    GraphOptions,
    abstime_column,
    add_graph_arguments,
    duration_column,
    duration_mark,
    format_duration,
    graph_lines,
    graph_rows,
    normalize_graph,
    options_from_args,
    proc_column,
    retval_text,
)
from tracer.export.graph_options import parse_time, parse_time_range

GOLDEN = Path(__file__).parent / "golden"


def _graph(trace: ScriptedTrace, **options: object) -> list[str]:
    return list(graph_lines(trace.events, GraphOptions(**options), trace.symbolize))  # type: ignore[arg-type]


def _body(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("#")]


def check_golden(name: str, lines: list[str]) -> None:
    text = "".join(normalize_graph(line) + "\n" for line in lines)
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert text == path.read_text()


# -- ftrace's columns, as Documentation/trace/ftrace.rst shows them ------------------------


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_382, "1.382 us    "),
        (140_417, "140.417 us  "),
        (1_837_709, "1837.709 us "),
        (33_998_590, "33998.59 us "),
        (123_456_789, "123456.7 us "),
        (1_234_567_890, "1234567 us  "),
    ],
)
def test_duration_is_printed_like_trace_print_graph_duration(ns: int, text: str) -> None:
    assert format_duration(ns) == text


@pytest.mark.parametrize(
    ("ns", "mark"),
    [
        (10_000, " "),
        (10_001, "+"),
        (100_001, "!"),
        (1_000_001, "#"),
        (10_000_001, "*"),
        (100_000_001, "@"),
        (1_000_000_001, "$"),
    ],
)
def test_duration_marks(ns: int, mark: str) -> None:
    assert duration_mark(ns) == mark


def test_duration_column_width_and_unknown() -> None:
    assert duration_column(1_382) == "  1.382 us    |  "
    assert duration_column(1_837_709) == "# 1837.709 us |  "
    assert duration_column(1_837_709, overhead=False) == "  1837.709 us |  "
    assert duration_column(None) == "  ? us        |  "
    assert len({len(duration_column(ns)) for ns in (0, 999_999_999, None)}) == 1


def test_proc_abstime_and_retval_columns() -> None:
    assert proc_column("bash", 4251) == "  bash-4251   "
    assert proc_column("hello-glibc", 1) == "  hello-g-1   "
    assert len(proc_column("a-very-long-name", 123456789)) > 14  # ftrace does not cut pids
    assert abstime_column(360_774_522_123) == "  360.774522 |  "
    assert retval_text(0) == "0x0"
    assert retval_text((1 << 64) - 22) == "-22"
    assert retval_text(0xFFFF_FFEA) == "-22"  # an int error in a 32-bit register
    assert retval_text(0xFFFF_8880_0000_0000) == "0xffff888000000000"


def test_header_is_ftraces() -> None:
    lines = _graph(hello_glibc())
    assert lines[0] == "# tracer: function_graph"
    assert lines[-len(_body(lines)) - 2 : -len(_body(lines))] == [
        "# CPU  DURATION                  FUNCTION CALLS",
        "# |     |   |                     |   |   |   |",
    ]
    lines = _graph(hello_glibc(), abstime=True, proc=True)
    assert (
        "#     TIME        CPU  TASK/PID         DURATION                  FUNCTION CALLS" in lines
    )


def test_callers_leaves_and_interrupt_arrows() -> None:
    body = _body(_graph(hello_glibc()))
    assert " 0)               |  do_syscall_64() {" in body
    assert " 0)   1.510 us    |    __x64_sys_brk();" in body
    assert " 0)   ==========> |" in body
    assert " 0)   <========== |" in body
    assert " 0) + 12.010 us   |            tick_handle();" in body
    assert " 0) ! 150.010 us  |          console_write();" in body
    arrow = body.index(" 0)   ==========> |")
    assert body[arrow + 1].endswith(
        "/* timer (vector 32) from ring 0 at 0xffffffff81000200 <do_syscall_64> */"
    )


def test_ring_markers_frame_each_syscall() -> None:
    body = _body(_graph(hello_glibc()))
    write = next(i for i, line in enumerate(body) if "syscall at 0x40107e" in line)
    assert body[write] == (
        " 0)               |  /* ring 3 -> 0: syscall at 0x40107e, in the kernel at "
        '0xffffffff81000140 <entry_SYSCALL_64+0x40>: write(1, "Hello, world!\\n", 14) */'
    )
    assert body[write + 1] == " 0)               |  do_syscall_64() {"
    back = next(i for i, line in enumerate(body) if "to 0x401080" in line)
    assert body[back] == (
        " 0)               |  /* ring 0 -> 3 at 0xffffffff81000190 <entry_SYSCALL_64+0x90> "
        'to 0x401080: write(1, "Hello, world!\\n", 14) = 14 */'
    )
    assert body[back - 1] == " 0) ! 162.765 us  |  }"


def test_tail_and_retval() -> None:
    body = _body(_graph(hello_glibc(), tail=True))
    assert " 0) ! 162.610 us  |        } /* vfs_write */" in body
    body = _body(_graph(hello_glibc(), retval=True))
    assert " 0) ! 150.010 us  |          console_write(); /* = 0xe */" in body
    assert " 0) ! 162.610 us  |        } /* vfs_write = 0xe */" in body
    assert " 0)   0.090 us    |      } /* do_arch_prctl = 0x0 */" in body


def test_unknown_guest_time_is_said_not_invented() -> None:
    trace = ScriptedTrace(guest_time=False, source="breakpoint")
    with trace.call("do_syscall_64", 5_000):
        trace.leaf("__x64_sys_getpid", 5_000)
    lines = _graph(trace, abstime=True)
    assert (
        "# durations: guest time unknown for 2 of 2 calls (shown as `? us`); host time is "
        "not shown as guest time"
    ) in lines
    assert "# TIME: host clock, since the capture started (no guest time)" in lines
    body = _body(lines)
    host_ns = trace.events[1].time_ns
    assert body[1] == f"{abstime_column(host_ns)} 0)   ? us        |    __x64_sys_getpid();"


def test_context_switch_block() -> None:
    trace = ScriptedTrace(pid=1)
    trace.leaf("a_work")
    trace.switch(2, "sh", "hello")
    trace.leaf("b_work")
    trace.pid = 3  # a switch the capture did not record
    trace.leaf("c_work")
    body = _body(_graph(trace))
    assert body == [
        " 0)   0.110 us    |  a_work();",
        " ------------------------------------------",
        " 0)      sh-1      =>    hello-2    ",
        " ------------------------------------------",
        "",
        " 0)   0.110 us    |  b_work();",
        " ------------------------------------------",
        " 0)    hello-2     =>    <...>-3    ",
        " ------------------------------------------",
        "",
        " 0)   0.110 us    |  c_work();",
    ]


def test_depth_filter_turns_the_deepest_shown_calls_into_leaves() -> None:
    body = _body(_graph(hello_glibc(), max_depth=2))
    assert " 0) ! 162.705 us  |    __x64_sys_write();" in body
    assert not any("ksys_write" in line or "wrmsr" in line for line in body)


def test_duration_filter_keeps_long_calls_and_their_callers() -> None:
    body = _body(_graph(hello_glibc(), min_duration_ns=100_000))
    texts = [line.split("|", 1)[1].strip() for line in body if "=====" not in line]
    calls = [text for text in texts if not text.startswith("/*")]
    assert calls == [
        "do_syscall_64() {",
        "__x64_sys_write() {",
        "ksys_write() {",
        "vfs_write() {",
        "console_write();",
        "}",
        "}",
        "}",
        "}",
        "do_syscall_64() {",
        "do_exit() {",
        "} /* do_exit: the task exited */",
        "} /* do_syscall_64: the task exited */",
    ]


def test_irqs_off_hides_interrupts() -> None:
    body = _body(_graph(hello_glibc(), irqs=False))
    assert not any("=====" in line or "tick_handle" in line for line in body)


def test_pid_and_time_range_filter_events() -> None:
    trace = ScriptedTrace(pid=1)
    trace.leaf("one")
    trace.switch(2, "a", "b")
    trace.leaf("two")
    assert [line for line in _body(_graph(trace, pid=2)) if "()" in line] == [
        " 0)   0.110 us    |  two();"
    ]
    start = trace.events[1].time_ns  # from one()'s exit: an exit without its entry
    lines = _body(_graph(trace, time_range=(start, None)))
    assert lines[0] == " 0)   ? us        |  } /* one */"


def test_graph_arguments_parse_into_options() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int)
    add_graph_arguments(parser)
    args = parser.parse_args(
        [
            "--abstime",
            "--proc",
            "--tail",
            "--retval",
            "--no-irqs",
            "--max-depth",
            "3",
            "--min-duration",
            "10",
            "--time-range",
            "1.5ms:2s",
            "--pid",
            "4",
        ]
    )
    assert options_from_args(args) == GraphOptions(
        abstime=True,
        proc=True,
        tail=True,
        retval=True,
        irqs=False,
        max_depth=3,
        min_duration_ns=10_000,
        time_range=(1_500_000, 2_000_000_000),
        pid=4,
    )
    assert parse_time("250us") == 250_000 and parse_time(".5") == 500_000_000
    assert parse_time_range(":3ms") == (None, 3_000_000)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time_range("3ms")
    with pytest.raises(SystemExit):
        parser.parse_args(["--min-duration", "fast"])


def test_rows_carry_the_seq_of_the_event_they_show() -> None:
    trace = hello_glibc()
    rows = list(graph_rows(build_call_tree(trace.events), GraphOptions(), trace.symbolize))
    assert [row.text for row in rows] == _body(_graph(trace))
    by_seq = {event.seq: event for event in trace.events}
    brk = next(row for row in rows if "__x64_sys_brk();" in row.text)
    assert brk.seq is not None and by_seq[brk.seq].addr == trace.addr("__x64_sys_brk")  # type: ignore[union-attr]
    seqs = [row.seq for row in rows if row.seq is not None]
    assert seqs == sorted(seqs)


def test_a_folded_call_is_one_line_with_its_duration() -> None:
    trace = hello_glibc()
    forest = build_call_tree(trace.events)
    rows = list(graph_rows(forest, GraphOptions(), trace.symbolize))
    opening = [row for row in rows if row.opens]
    assert opening and all(row.text.endswith("() {") for row in opening)
    assert not any(row.opens for row in rows if not row.text.endswith("{"))
    call = opening[0]
    assert call.seq is not None
    node = next(n for n in forest.walk() if n.entry is not None and n.entry.seq == call.seq)
    folded = list(graph_rows(forest, GraphOptions(folded=frozenset({call.seq})), trace.symbolize))
    line = next(row for row in folded if row.seq == call.seq and row.opens)
    name = call.text.split("|")[-1].strip().removesuffix(" {")
    assert line.text.endswith(f"|  {name} {{ ... }}")
    assert duration_column(node.duration_ns) in line.text
    start = rows.index(call)
    column = len(call.text) - len(name) - len(" {")
    end = next(i for i in range(start + 1, len(rows)) if rows[i].text[column:].startswith("}"))
    assert end > start + 1
    assert folded == [*rows[:start], line, *rows[end + 1 :]]  # inside and `}` gone, nothing else


# -- goldens ------------------------------------------------------------------------------


def _two_cpus() -> ScriptedTrace:
    """Two CPUs: a task preempted by a timer from user mode and switched away, the idle task
    on CPU 1, and a trace that starts inside a call."""
    trace = ScriptedTrace(pid=1)
    trace.process("start", "busy")
    trace.depths[(0, 1)] = 1
    trace.leaf("copy_to_user", 300)
    trace.exit("__x64_sys_read", 5)  # entered before the trace started
    trace.interrupt("entry", from_ring=3, rip=0x401234)
    with trace.call("timer_interrupt", 200):
        trace.leaf("scheduler_tick", 20_000)
    trace.enter("schedule")
    trace.enter("__switch_to")
    trace.switch(0, "busy", "swapper")
    trace.cpu = 1
    trace.pid = 2
    trace.process("start", "other")
    with trace.syscall(39, (), 2):
        with trace.call("do_syscall_64", 30):
            trace.leaf("__x64_sys_getpid", 40, 2)
    trace.cpu, trace.pid = 0, 0
    trace.leaf("default_idle", 2_000_000)
    trace.gap("ring buffer full on cpu 0", 12)
    trace.switch(1, "swapper", "busy")
    trace.exit("__switch_to")
    trace.exit("schedule")
    trace.interrupt("exit")
    return trace


def test_golden_hello() -> None:
    trace = hello_glibc()
    check_golden("graph_hello.txt", _graph(trace))


def test_golden_hello_with_options() -> None:
    trace = hello_glibc()
    check_golden(
        "graph_hello_options.txt", _graph(trace, abstime=True, proc=True, tail=True, retval=True)
    )


def test_golden_two_cpus() -> None:
    check_golden("graph_two_cpus.txt", _graph(_two_cpus(), proc=True))


def test_golden_breakpoint_mode() -> None:
    check_golden("graph_hello_breakpoints.txt", _graph(hello_glibc(guest_time=False)))
