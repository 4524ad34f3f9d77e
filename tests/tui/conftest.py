"""Fixtures for the TUI tests: a trace built in code, the recorded fixture trace, and a helper
that lets a pilot settle (background workers done, screen refreshed)."""

from __future__ import annotations

import asyncio
import inspect
import os
from pathlib import Path

import pytest

pytest.importorskip("textual")

from tests.tui.demo_trace import demo_events, demo_meta  # noqa: E402
from tracer.store import MemoryTrace, TraceReader, TraceWriter  # noqa: E402

os.environ.pop("NO_COLOR", None)  # NO_COLOR changes every snapshot

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDED = FIXTURES / "hello-tls.db"
BROKEN = FIXTURES / "tls-broken.db"
KERNEL = FIXTURES / "kernel.elf"


@pytest.fixture
def demo_source() -> MemoryTrace:
    return MemoryTrace(demo_events(), demo_meta(str(KERNEL)))


@pytest.fixture
def demo_file(tmp_path: Path) -> Path:
    path = tmp_path / "demo.db"
    with TraceWriter(path, demo_meta(str(KERNEL))) as writer:
        for event in demo_events():
            writer.append(event)
    return path


@pytest.fixture
def recorded() -> TraceReader:
    with TraceReader.open(RECORDED) as reader:
        yield reader


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Let every worker finish and the screen catch up."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests here with asyncio.run (no async plugin needed for pilots)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
