"""The function graph is on by default where the kernel has the ring, off where it has none."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.unit.test_image_support import GUEST_KERNEL
from tracer.capture import options
from tracer.commands import capture
from tracer.commands.common import UsageError

HELLO = GUEST_KERNEL.parent / "user" / "hello-musl"


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    capture.add_parser(parser.add_subparsers())
    return parser.parse_args(["capture", *argv])


@pytest.fixture
def guest_kernel() -> Path:
    if not GUEST_KERNEL.exists() or not HELLO.exists():
        pytest.skip("the guest is not built (make -C guest)")
    return GUEST_KERNEL


def test_auto_follows_the_ring(guest_kernel: Path) -> None:
    assert options.ring_available(guest_kernel)
    assert options.ftrace_by_default(None, guest_kernel)
    assert not options.ring_available(HELLO)  # a program: no ftrace_rings, no DWARF layouts
    assert not options.ftrace_by_default(None, HELLO)


def test_explicit_choice_and_breakpoint_graph_win(guest_kernel: Path) -> None:
    assert not options.ftrace_by_default(False, guest_kernel)
    assert options.ftrace_by_default(True, HELLO)  # explicit: the capture reports the missing ring
    assert not options.ftrace_by_default(None, guest_kernel, graph=True)


def test_flags_reach_the_options(guest_kernel: Path) -> None:
    kernel = str(guest_kernel)
    assert capture._ftrace(_parse("--kernel", kernel), guest_kernel)["ftrace"] is True
    assert capture._ftrace(_parse("--kernel", kernel, "--no-ftrace"), guest_kernel) == {}
    with pytest.raises(UsageError, match="no function-graph ring buffer"):
        capture._ftrace(_parse("--ftrace"), HELLO)
    assert capture._ftrace(_parse(), HELLO) == {}  # no ring, nothing said: quietly off
    with pytest.raises(UsageError, match="need --ftrace"):
        capture._ftrace(_parse("--no-ftrace", "--max-graph-depth", "3"), guest_kernel)
