"""Pictures of every pane, compared with the stored SVGs (pytest-textual-snapshot).

Update them after a deliberate change with `pytest tests/tui --snapshot-update`, then look at
the diffs. Textual is pinned, so a picture changes only when the UI does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytest_textual_snapshot")

from tests.tui.conftest import BROKEN, FIXTURES, RECORDED  # noqa: E402
from tracer.store import TraceReader  # noqa: E402
from tracer.tui.app import TracerApp  # noqa: E402
from tracer.tui.open_trace import OpenTrace  # noqa: E402

SMALL = (80, 24)
LARGE = (160, 48)
SET_FS_TLS_MUSL = 68  # arch_prctl(ARCH_SET_FS) of tls-musl in the recorded trace
SET_FS_TLS_MUSL_EXIT = 74
WRITEV_EXIT = 47  # writev(1, ..., 2) = 14 of hello-musl
FIRST_VIOLATION = 44  # in tls-broken.db: the kernel entered with FS on the app's TCB
SMP = FIXTURES / "smp-musl.db"
SMP_THREAD_ON_CPU1 = 233  # smp-musl.db: the second thread's first syscall, on CPU 1


def recorded_app(path: Path = RECORDED) -> TracerApp:
    return TracerApp(OpenTrace(TraceReader.open(path), path))


def demo_app(path: Path) -> TracerApp:
    return TracerApp(OpenTrace(TraceReader.open(path), path))


def at(seq: int, *keys: str):  # type: ignore[no-untyped-def]
    """A run_before that settles, selects `seq`, presses `keys` and settles again."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        pilot.app.screen.go_to_seq(seq)
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        pilot.app.screen_stack[1].status.message = ""  # the main screen, under any modal
        await pilot.pause()

    return run_before


PANES = {
    "cpu": (SET_FS_TLS_MUSL, "1"),
    "ptregs": (WRITEV_EXIT, "2"),
    "tls": (SET_FS_TLS_MUSL_EXIT, "3"),
    "entry": (SET_FS_TLS_MUSL, "4"),
    "console": (SET_FS_TLS_MUSL, "5"),
}


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
@pytest.mark.parametrize("pane", list(PANES))
def test_recorded_trace_panes(snap_compare, pane: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    seq, key = PANES[pane]
    assert snap_compare(recorded_app(), terminal_size=size, run_before=at(seq, key))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
@pytest.mark.parametrize("pane, seq, key", [("findings", 66, "6"), ("graph", 44, "7")])
def test_demo_trace_panes(
    snap_compare,
    demo_file,
    pane: str,
    seq: int,
    key: str,  # type: ignore[no-untyped-def]
    size: tuple[int, int],
) -> None:
    assert snap_compare(demo_app(demo_file), terminal_size=size, run_before=at(seq, key))


def test_folded_graph_call(snap_compare, demo_file) -> None:  # type: ignore[no-untyped-def]
    """do_syscall_64() folded to one line with its duration (`o` on its opening line)."""

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await at(44, "7")(pilot)
        pilot.app.screen.panes["graph"].listing.focus()
        await pilot.press("k", "o")
        await pilot.pause()

    assert snap_compare(demo_app(demo_file), terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
@pytest.mark.parametrize("key", ["1", "6"], ids=["cpu", "findings"])
def test_broken_tls_trace(snap_compare, key: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = recorded_app(BROKEN)
    assert snap_compare(app, terminal_size=size, run_before=at(FIRST_VIOLATION, key))


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=at(0, "question_mark"))


def test_filter_prompt(snap_compare) -> None:  # type: ignore[no-untyped-def]
    keys = ("f", "s", "y", "s", "colon", "w", "r", "i", "t", "e", "v")
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=at(0, *keys))


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_two_cpus_cpu_pane(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """A lane per CPU in the timeline, the CPU selector in the top bar, every CPU's bases."""
    app = recorded_app(SMP)
    assert snap_compare(app, terminal_size=size, run_before=at(SMP_THREAD_ON_CPU1, "1"))


def test_two_cpus_one_cpu_view(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """C twice: only CPU 1's events, and the graph pane of CPU 1."""
    app = recorded_app(SMP)
    keys = ("C", "C", "7")
    assert snap_compare(app, terminal_size=SMALL, run_before=at(SMP_THREAD_ON_CPU1, *keys))
