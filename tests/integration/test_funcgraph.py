"""The function graph from the real guest: its ring buffer, breakpoints, and the two compared."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from capture_support import Captured, build_guest, run_capture

from tracer.analysis.callgraph import NodeKind, build_call_tree, call_shape
from tracer.events import FuncEntry, FuncExit, ProcessEvent, SyscallEntry, SyscallExit
from tracer.export.ftrace import GraphOptions, graph_lines, normalize_graph
from tracer.image import ElfImage

pytestmark = pytest.mark.qemu

GOLDEN = Path(__file__).parent / "golden" / "hello_glibc_graph.txt"
# Preemption makes schedule()'s subtree differ run to run; the rest of a syscall does not.
NOTRACE = ("schedule",)


@pytest.fixture(scope="module", autouse=True)
def guest() -> None:
    build_guest()


def _syscall_trees(captured: Captured, dispatcher: int) -> list:
    """Each do_syscall_64 call's shape, in order."""
    forest = build_call_tree(captured.events)
    shapes = []
    for task in forest.tasks.values():
        for node in task.walk():
            if node.kind is NodeKind.CALL and node.addr == dispatcher:
                shapes.append(call_shape([node]))
    return shapes


def _normalize(line: str) -> str:
    """uftrace-style: durations and addresses out, getrandom's bytes (random each run) and the
    program's own path."""
    line = re.sub(r'getrandom\("[^"]*"', 'getrandom("<random>"', normalize_graph(line))
    # The program's path (where the checkout is) and the length readlink returns for it.
    return re.sub(
        r'(readlink\("/proc/self/exe", )"[^"]*"(\.\.\.)?(, \d+\) = )\d+', r'\1"<exe>"\3<len>', line
    )


def _calls_only(captured: Captured) -> list:
    keep = (FuncEntry, FuncExit, SyscallEntry, SyscallExit, ProcessEvent)
    return [e for e in captured.events if isinstance(e, keep)]


@pytest.fixture(scope="module")
def hello_ring(tmp_path_factory: pytest.TempPathFactory) -> Captured:
    """The glibc hello with the ring-buffer graph under do_syscall_64 (two tests read it)."""
    return run_capture(
        tmp_path_factory.mktemp("ring"),
        [("hello-glibc", ())],
        ftrace=True,
        ftrace_functions=("do_syscall_64",),
        ftrace_notrace=NOTRACE,
    )


def test_ring_buffer_graph_has_guest_durations(hello_ring: Captured) -> None:
    captured = hello_ring
    funcs = [e for e in captured.events if isinstance(e, FuncEntry | FuncExit)]
    assert funcs and all(e.source == "ringbuf" and e.guest_ns is not None for e in funcs)
    entries = [e for e in captured.events if isinstance(e, SyscallEntry)]
    roots = [e for e in funcs if isinstance(e, FuncEntry) and e.depth == 0]
    # Every syscall runs do_syscall_64 once, exit_group's included (its exit never comes).
    assert len(roots) == len(entries)
    exits = [e for e in funcs if isinstance(e, FuncExit) and e.depth == 0]
    assert len(exits) == len(entries) - 1


def test_ring_buffer_graph_matches_golden(hello_ring: Captured) -> None:
    captured = hello_ring
    kernel = ElfImage.open(Path(__file__).resolve().parents[2] / "guest/build/kernel.elf")
    lines = graph_lines(_calls_only(captured), GraphOptions(irqs=False), kernel.symbolize)
    text = "\n".join(_normalize(line) for line in lines) + "\n"
    if os.environ.get("TRACER_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_breakpoints_and_ring_buffer_give_the_same_call_trees(tmp_path: Path) -> None:
    ring = run_capture(
        tmp_path / "ring",
        [("hello-musl", ())],
        ftrace=True,
        ftrace_functions=("do_syscall_64",),
        ftrace_notrace=NOTRACE,
        read_msrs=False,
    )
    kernel = ElfImage.open(Path(__file__).resolve().parents[2] / "guest/build/kernel.elf")
    seen = sorted(
        {kernel.symbolize(e.addr) for e in ring.events if isinstance(e, FuncEntry)} - {None}
    )
    assert "do_syscall_64" in seen and len(seen) <= 40
    bp = run_capture(
        tmp_path / "bp",
        [("hello-musl", ())],
        graph=tuple(seen),
        ftrace_notrace=NOTRACE,
        read_msrs=False,
    )
    assert all(
        e.source == "breakpoint" and e.guest_ns is None
        for e in bp.events
        if isinstance(e, FuncEntry | FuncExit)
    )
    dispatcher = kernel.symbol("do_syscall_64").addr
    assert _syscall_trees(ring, dispatcher)
    assert _syscall_trees(ring, dispatcher) == _syscall_trees(bp, dispatcher)
