"""The TUI's live mode on a Linux capture: the view starts with only --kernel (a bzImage,
which is no ELF) and learns how to read the kernel from the file the capture writes: the
extracted ELF, the System.map, and the KASLR slide once the probes are armed."""

from __future__ import annotations

import shutil
from pathlib import Path

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
        view.add_events([])
        assert view.kernel_path == tmp_path / "linux-entry.elf" and view.kaslr_slide == 0
        writer.set_meta("kaslr_slide", hex(SLIDE))  # the probes armed
        view.add_events([])
        assert view.kaslr_slide == SLIDE
        assert view.kernel_image() is not None
        assert view.kernel.running(view.symbolize)(LSTAR) == "entry_SYSCALL_64"
        writer.set_meta("kaslr_slide", "0x0")
        view.add_events([])
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
