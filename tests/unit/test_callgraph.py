"""Call trees from synthetic function, syscall, interrupt and switch events."""

from __future__ import annotations

from callgraph_demo import ScriptedTrace, hello_glibc

from tracer.analysis.callgraph import (
    MAX_NESTING,
    CallForest,
    CallNode,
    Ending,
    NodeKind,
    build_call_tree,
    call_shape,
)
from tracer.events import MsrWrite, SegBaseChange, SyscallEntry


def _shape(nodes: list[CallNode], trace: ScriptedTrace) -> list[object]:
    """Nested [name, [children]] for calls, syscalls and interrupts (comments by kind)."""
    out: list[object] = []
    for node in nodes:
        if node.kind is NodeKind.CALL:
            name = trace.symbolize(node.addr)
        elif node.kind is NodeKind.COMMENT:
            name = f"#{node.event.kind.value}"
        else:
            name = f"{node.kind.value}:{node.addr}"
        out.append([name, _shape(node.children, trace)] if node.children else name)
    return out


def _only_task(forest: CallForest) -> list[CallNode]:
    assert len(forest.tasks) == 1
    return next(iter(forest.tasks.values())).roots


def test_hello_nests_kernel_calls_inside_each_syscall_across_the_ring_boundary() -> None:
    trace = hello_glibc()
    forest = build_call_tree(trace.events)
    roots = _only_task(forest)
    assert [node.kind for node in roots] == [
        NodeKind.SYSCALL,
        NodeKind.COMMENT,
        NodeKind.SYSCALL,
        NodeKind.SYSCALL,
        NodeKind.SYSCALL,
        NodeKind.COMMENT,
    ]
    write = roots[3]
    assert isinstance(write.entry, SyscallEntry) and write.addr == 1
    assert write.ending is Ending.RETURNED
    assert _shape(write.children, trace) == [
        [
            "do_syscall_64",
            [
                [
                    "__x64_sys_write",
                    [
                        [
                            "ksys_write",
                            [
                                [
                                    "vfs_write",
                                    [
                                        ["irq:32", [["timer_interrupt", ["tick_handle"]]]],
                                        "console_write",
                                    ],
                                ]
                            ],
                        ]
                    ],
                ]
            ],
        ],
    ]


def test_depth_counts_calls_only_and_an_interrupt_continues_the_interrupted_depth() -> None:
    forest = build_call_tree(hello_glibc().events)
    depths = {}
    trace = hello_glibc()
    for node in forest.walk():
        if node.kind is NodeKind.CALL:
            depths.setdefault(trace.symbolize(node.addr), node.depth)
        elif node.kind is NodeKind.IRQ:
            depths["irq"] = node.depth
    assert depths["do_syscall_64"] == 0
    assert depths["vfs_write"] == 3
    assert depths["irq"] == 4
    assert depths["timer_interrupt"] == 4
    assert depths["tick_handle"] == 5


def test_durations_are_guest_time_differences() -> None:
    trace = ScriptedTrace()
    with trace.syscall(39):
        with trace.call("do_syscall_64", 50):
            trace.leaf("__x64_sys_getpid", 1_234)
    forest = build_call_tree(trace.events)
    syscall = _only_task(forest)[0]
    outer = syscall.children[0]
    inner = outer.children[0]
    assert inner.duration_ns == 1_234 + 10  # the exit event itself costs the script 10 ns
    assert outer.duration_ns is not None and outer.duration_ns > inner.duration_ns
    assert syscall.duration_ns is None  # syscall events carry host time only
    assert forest.durations_known and forest.calls == forest.timed_calls == 2


def test_breakpoint_mode_without_guest_time_leaves_durations_unknown() -> None:
    trace = ScriptedTrace(guest_time=False, source="breakpoint")
    with trace.call("do_syscall_64", 5_000):
        trace.leaf("__x64_sys_getpid", 5_000)
    forest = build_call_tree(trace.events)
    assert [node.duration_ns for node in forest.walk()] == [None, None]
    assert forest.calls == 2 and forest.timed_calls == 0 and not forest.durations_known


def test_missing_exit_is_closed_when_its_caller_returns_and_at_the_end_of_the_trace() -> None:
    trace = ScriptedTrace()
    trace.enter("do_syscall_64")
    trace.enter("lost_exit")
    trace.leaf("inner")
    trace.exit("do_syscall_64")  # lost_exit's exit never came
    trace.enter("still_running")
    forest = build_call_tree(trace.events)
    first, last = _only_task(forest)
    assert first.ending is Ending.RETURNED
    lost = first.children[0]
    assert lost.ending is Ending.NO_EXIT and lost.exit is None and lost.duration_ns is None
    assert lost.close_seq == first.exit.seq  # type: ignore[union-attr]
    assert _shape(lost.children, trace) == ["inner"]
    assert last.ending is Ending.TRUNCATED and last.close_seq is None


def test_exits_without_entries_adopt_the_calls_that_ran_inside_them() -> None:
    # The trace starts inside sys_write, inside do_syscall_64, inside a syscall.
    trace = ScriptedTrace()
    trace.depths[(0, 1)] = 2
    trace.leaf("ksys_write")  # depth 2
    trace.exit("__x64_sys_write")  # depth 1
    trace.leaf("syscall_exit_work")  # depth 1
    trace.exit("do_syscall_64")  # depth 0
    trace.syscall_exit(1, 14)
    with trace.syscall(39):
        trace.leaf("do_syscall_64")
    forest = build_call_tree(trace.events)
    roots = _only_task(forest)
    assert _shape(roots, trace) == [
        [
            "syscall:1",
            [["do_syscall_64", [["__x64_sys_write", ["ksys_write"]], "syscall_exit_work"]]],
        ],
        ["syscall:39", ["do_syscall_64"]],
    ]
    orphan = roots[0].children[0]
    assert orphan.entry is None and orphan.ending is Ending.RETURNED
    assert orphan.duration_ns is None and roots[0].entry is None


def test_interrupts_nest_and_unmatched_interrupt_exits_adopt() -> None:
    trace = ScriptedTrace()
    trace.leaf("handler_tail")
    trace.interrupt("exit")  # the trace started inside an interrupt
    trace.interrupt("entry", from_ring=3, rip=0x401234)
    trace.interrupt("entry", vector=14, name="page fault")  # nested: a fault in the handler
    trace.leaf("do_page_fault")
    trace.interrupt("exit", vector=14)
    trace.interrupt("exit")
    forest = build_call_tree(trace.events)
    assert _shape(_only_task(forest), trace) == [
        ["irq:32", ["handler_tail"]],
        ["irq:32", [["irq:14", ["do_page_fault"]]]],
    ]


def test_context_switch_keeps_a_stack_per_task() -> None:
    trace = ScriptedTrace(pid=1)
    trace.enter("schedule")
    trace.enter("__switch_to")
    trace.switch(2, "a", "b")
    trace.exit("__switch_to")  # task 2 resumes in its own schedule()
    trace.exit("schedule")
    trace.leaf("b_work")
    trace.enter("schedule")
    trace.switch(1, "b", "a")
    trace.exit("__switch_to")
    trace.exit("schedule")
    forest = build_call_tree(trace.events)
    a = forest.tasks[(1, None)]
    b = forest.tasks[(2, None)]
    assert _shape(a.roots, trace) == [["schedule", ["__switch_to"]]]
    assert all(node.ending is Ending.RETURNED for node in a.walk())
    assert _shape(b.roots, trace) == ["__switch_to", "schedule", "b_work", "schedule"]
    assert [node.entry is None for node in b.roots] == [True, True, False, False]
    assert b.roots[-1].ending is Ending.TRUNCATED
    assert [(run.pid, run.switch is not None) for run in forest.runs] == [
        (1, False),
        (2, True),
        (1, True),
    ]
    assert forest.names == {1: "a", 2: "b"}


def test_pid_zero_is_one_task_per_cpu_and_implicit_switches_make_runs() -> None:
    trace = ScriptedTrace(pid=0)
    trace.leaf("idle0")
    trace.cpu = 1
    trace.leaf("idle1")
    trace.cpu, trace.pid = 0, 7
    trace.leaf("work")
    forest = build_call_tree(trace.events)
    assert set(forest.tasks) == {(0, 0), (0, 1), (7, None)}
    assert [(run.cpu, run.pid) for run in forest.runs] == [(0, 0), (1, 0), (0, 7)]
    assert forest.cpus == [0, 1]
    assert forest.task_name(0) == "<idle>" and forest.task_name(99) == "<...>"


def test_inline_events_become_comments_at_their_depth_and_exit_closes_the_task() -> None:
    trace = hello_glibc()
    forest = build_call_tree(trace.events)
    comments = [node for node in forest.walk() if node.kind is NodeKind.COMMENT]
    by_type = {type(node.event).__name__: node for node in comments}
    assert by_type["MsrWrite"].depth == 3 and isinstance(by_type["MsrWrite"].event, MsrWrite)
    assert isinstance(by_type["SegBaseChange"].event, SegBaseChange)
    assert by_type["TlsSnapshot"].depth == 0 and by_type["ProcessEvent"].depth == 0
    exit_group = _only_task(forest)[4]
    assert exit_group.ending is Ending.TASK_EXITED
    assert [node.ending for node in exit_group.walk()] == [Ending.TASK_EXITED] * 3


def test_walk_is_in_execution_order() -> None:
    forest = build_call_tree(hello_glibc().events)
    seqs = [node.seq for node in forest.walk()]
    assert seqs == sorted(seqs)


def test_both_sources_give_the_same_shape_without_times() -> None:
    ringbuf = build_call_tree(hello_glibc(guest_time=True).events)
    breakpoints = build_call_tree(hello_glibc(guest_time=False).events)
    shapes = [call_shape(next(iter(f.tasks.values())).roots) for f in (ringbuf, breakpoints)]
    assert shapes[0] == shapes[1]
    assert shapes[0][0][:2] == ("syscall", 158)
    assert shapes[0][0][2][0][0] == "call"


def test_lost_exits_cannot_nest_without_bound() -> None:
    trace = ScriptedTrace(source="breakpoint")
    for _ in range(3 * MAX_NESTING):
        trace.enter("f")  # a return site the breakpoints missed, every time
    trace.leaf("g")
    forest = build_call_tree(trace.events)
    assert max(node.depth for node in forest.walk()) < MAX_NESTING
    assert sum(node.ending is Ending.NO_EXIT for node in forest.walk()) >= 2 * MAX_NESTING
