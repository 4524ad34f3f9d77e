"""The TUI on a Linux trace: Debian's bzImage under KASLR with symbols from its System.map
(fixtures/, made by make_tui_fixture.py: the entry code and the map lines it needs). The CPU
pane names LSTAR's slid value, the entry path is Linux's, pt_regs and processes are named."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("textual")

from tracer.decode.flags_proc import ARCH_SET_FS  # noqa: E402
from tracer.decode.syscall_table import NR_ARCH_PRCTL  # noqa: E402
from tracer.events import SyscallEntry  # noqa: E402
from tracer.store import TraceReader  # noqa: E402
from tracer.tui.app import TracerApp  # noqa: E402
from tracer.tui.open_trace import OpenTrace  # noqa: E402

os.environ.pop("NO_COLOR", None)
TRACE = Path(__file__).resolve().parent / "fixtures" / "linux-hello-musl.db"


def text_of(widget: Any) -> str:
    from rich.console import Console

    static = widget.body if hasattr(widget, "body") else widget
    with open(os.devnull, "w") as devnull:
        console = Console(width=200, record=True, color_system=None, file=devnull)
        console.print(static.content)
        return console.export_text()


async def settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def panes_at_set_fs(reader: TraceReader) -> dict[str, Any]:
    """What the panes show at the program's arch_prctl(ARCH_SET_FS)."""
    set_fs = next(
        e for e in reader.events()
        if isinstance(e, SyscallEntry) and e.nr == NR_ARCH_PRCTL and e.args[0] == ARCH_SET_FS
        and e.pid != 1
    )  # fmt: skip
    trace = OpenTrace(reader, TRACE)
    app = TracerApp(trace)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen: Any = app.screen
        screen.go_to_seq(set_fs.seq)
        await settle(pilot)
        seen = {"cpu": text_of(screen.panes["cpu"]), "symtab": trace.kernel_image().has_symtab}
        await pilot.press("2")
        await settle(pilot)
        seen["ptregs"] = text_of(screen.panes["ptregs"])
        await pilot.press("4")
        await settle(pilot)
        listing = screen.panes["entry"].listing
        seen["entry"] = [line.plain for line in listing.lines]
        seen["here"] = listing.lines[listing.here].plain if listing.here is not None else ""
        return seen


def test_a_kaslr_bzimage_trace_in_the_tui() -> None:
    with TraceReader.open(TRACE) as reader:
        slide = int(reader.meta["kaslr_slide"], 16)
        lstar = int(reader.meta["msr.LSTAR"], 16)
        seen = asyncio.run(panes_at_set_fs(reader))
    assert slide and seen["symtab"]  # the entry code's symbols: the map beside it
    cpu = seen["cpu"]
    lstar_row = next(line for line in cpu.splitlines() if line.startswith("LSTAR"))
    assert f"{lstar:016x}" in lstar_row and "entry_SYSCALL_64" in lstar_row  # slid, named
    assert "percpu[cpu0]" in cpu and "2:hello-musl" in cpu
    assert "arch_prctl(ARCH_SET_FS" in seen["ptregs"] and "orig_ax" in seen["ptregs"]
    assert "entry_SYSCALL_64:" in seen["entry"]
    assert any("swapgs: GS base <-> KERNEL_GS_BASE (entry)" in line for line in seen["entry"])
    assert "PROBE syscall entry" in seen["here"] and "do_syscall_64" in seen["here"]


def test_processes_are_named_on_the_timeline() -> None:
    with TraceReader.open(TRACE) as reader:
        trace = OpenTrace(reader, TRACE)
        assert trace.index.process_label(1) == "1:init"
        assert trace.index.process_label(2) == "2:hello-musl"
