"""The TUI's live mode on a Linux capture: the view starts with only --kernel (a bzImage,
which is no ELF) and learns how to read the kernel from the file the capture writes: the
extracted ELF, the System.map, and the KASLR slide once the probes are armed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tracer.linux.proof import DEFAULT_PROGRAM
from tracer.store import MemoryTrace, TraceWriter
from tracer.tui.open_trace import OpenTrace

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SLIDE = 0x18600000  # the fixture trace's, with LSTAR at 0xffffffff9a200080
LSTAR = 0xFFFFFFFF9A200080


def live_view(tmp_path: Path) -> tuple[OpenTrace, TraceWriter]:
    """A writer as the capture opens it (kernel, symbols, no slide yet) and the live view."""
    for name in ("linux-entry.elf", "linux-entry.map"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "vmlinuz").write_bytes(b"a bzImage")
    meta = {"kernel": "linux-entry.elf", "boot_image": "vmlinuz", "symbols": "linux-entry.map"}
    writer = TraceWriter(tmp_path / "live.db", meta=meta)
    writer.flush()
    view = OpenTrace(MemoryTrace(meta={"kernel": "vmlinuz"}), tmp_path / "live.db", live=True)
    return view, writer


def test_live_view_reads_the_kernel_the_capture_names(tmp_path: Path) -> None:
    view, writer = live_view(tmp_path)
    with writer:
        assert view.kernel_image() is None  # the bzImage itself: nothing to read
        assert view.add_events([])  # changed: the screen loads the kernel again
        assert view.kernel_path == tmp_path / "linux-entry.elf" and view.kaslr_slide == 0
        assert not view.add_events([])  # nothing new yet
        writer.set_meta("kaslr_slide", hex(SLIDE))  # the probes armed
        assert view.add_events([])
        assert view.kaslr_slide == SLIDE
        assert view.kernel_image() is not None
        assert view.kernel.running(view.symbolize)(LSTAR) == "entry_SYSCALL_64"
        writer.set_meta("kaslr_slide", "0x0")
        assert not view.add_events([])
        assert view.kaslr_slide == SLIDE  # settled: no more reads of the file


def test_the_entry_path_is_found_again_with_the_right_kernel(tmp_path: Path) -> None:
    view, writer = live_view(tmp_path)
    with writer:
        _entry, _fields, error = view.entry_path()
        assert error  # the bzImage is no ELF
        writer.set_meta("kaslr_slide", hex(SLIDE))
        view.add_events([])
        entry, _fields, error = view.entry_path()
        assert error is None and entry is not None


def fake_bzimage(path: Path) -> Path:
    """Just Linux's boot-protocol header: enough for the options to take it as a bzImage."""
    head = bytearray(0x400)
    head[0x1FE:0x200], head[0x202:0x206] = b"\x55\xaa", b"HdrS"
    path.write_bytes(bytes(head))
    return path


def test_live_mode_takes_capture_linux_options(tmp_path: Path) -> None:
    from tracer.cli import build_parser
    from tracer.commands.capture import build_options

    kernel, symbols = fake_bzimage(tmp_path / "vmlinuz"), FIXTURES / "linux-entry.map"
    program = DEFAULT_PROGRAM
    if not program.exists():
        pytest.skip(f"{program} not built (./run setup)")
    argv = ["tui", "--kernel", kernel, "--symbols", symbols, "--from-boot", "--program", program]
    options = build_options(build_parser().parse_args(list(map(str, argv))))
    assert options.from_boot and options.symbols == symbols and options.kernel == kernel


def test_the_live_screen_names_lstar_once_the_capture_says_where(tmp_path: Path) -> None:
    """A stand-in capture writes the file as the real one does (the ELF and map first, the
    slide once armed) and sends the fixture trace's events: the CPU pane names LSTAR."""
    import asyncio
    import time

    from test_linux_tui import settle, text_of

    from tests.tui.test_live import FakeOptions, FakeResult
    from tracer.events import MsrRead
    from tracer.store import TraceReader
    from tracer.tui.app import TracerApp
    from tracer.tui.screens.live import LiveScreen

    view, writer = live_view(tmp_path)
    with TraceReader.open(FIXTURES / "linux-hello-musl.db") as reader:
        events = list(reader.events(0, 200))
    lstar_read = next(e.seq for e in events if isinstance(e, MsrRead) and e.value == LSTAR)

    def capture(options: Any, on_event: Any, progress: Any, stop: Any) -> FakeResult:
        deadline = time.monotonic() + 30
        while not view.image_error(view.kernel_path) and time.monotonic() < deadline:
            time.sleep(0.01)  # the screen has tried the bzImage, as before a real boot's end
        with writer:
            writer.set_meta("kaslr_slide", hex(SLIDE))
            for event in events:
                on_event(event)
        return FakeResult("guest-exit", None, "")

    async def cpu_pane() -> str:
        screen = LiveScreen(view, options=FakeOptions(), run_capture=capture)
        async with TracerApp(view, screen).run_test(size=(160, 50)) as pilot:
            while screen.result is None:
                await pilot.pause(0.05)
            await settle(pilot)
            screen.go_to_seq(lstar_read + 1)
            await settle(pilot)
            return text_of(screen.panes["cpu"])

    lstar_row = next(ln for ln in asyncio.run(cpu_pane()).splitlines() if ln.startswith("LSTAR"))
    assert f"{LSTAR:016x}" in lstar_row and "entry_SYSCALL_64" in lstar_row
