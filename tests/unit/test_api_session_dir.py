"""The API's private trace directory: kept when it holds a trace, never left empty."""

from __future__ import annotations

from tracer.api import Session
from tracer.guest import BUILTIN_KERNEL


def test_a_session_that_never_captured_leaves_no_directory() -> None:
    if not BUILTIN_KERNEL.exists():
        import pytest

        pytest.skip("the built-in guest is not built (./run setup)")
    with Session(keep=True) as session:
        directory = session.output.parent
        assert directory.is_dir() and directory.name.startswith("tracer-session-")
    assert not directory.exists()


def test_a_session_takes_syscalls_by_watchpoints_unless_told_not_to() -> None:
    if not BUILTIN_KERNEL.exists():
        import pytest

        pytest.skip("the built-in guest is not built (./run setup)")
    with Session() as default, Session(watch=False) as breakpoints:
        assert default.base_options.watch and not breakpoints.base_options.watch
