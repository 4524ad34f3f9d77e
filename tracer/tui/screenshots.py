"""Regenerate the pictures of the TUI: `python -m tracer.tui.screenshots [--trace T] [--out D]`
(or `tracer tui T --screenshots D`). Each picture is an SVG from Textual and a PNG from it
(cairosvg, with the SVG's 'Fira Code' font swapped for DejaVu Sans Mono, which Debian has)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracer.decode.flags_proc import ARCH_SET_FS
from tracer.decode.syscall_table import NR_ARCH_PRCTL, NR_WRITE, NR_WRITEV
from tracer.events import Event, SyscallEntry, SyscallExit

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TRACE = REPO / "tests" / "tui" / "fixtures" / "hello-tls.db"
DEFAULT_OUT = REPO / "screenshots"


@dataclass(frozen=True)
class Shot:
    name: str
    size: tuple[int, int]
    moment: Callable[[list[Event]], int | None]  # which seq to select
    keys: tuple[str, ...] = ()  # pressed after selecting (tabs, prompts)
    title: str = ""
    sibling: str = ""  # another trace beside the given one, if there is such a file


def _first(events: list[Event], test: Callable[[Event], bool]) -> int | None:
    return next((e.seq for e in events if test(e)), None)


def _set_fs(event: Event) -> bool:
    return (
        isinstance(event, SyscallEntry)
        and event.nr == NR_ARCH_PRCTL
        and event.args[0] == ARCH_SET_FS
    )


def _write_exit(event: Event) -> bool:
    return isinstance(event, SyscallExit) and event.nr in (NR_WRITE, NR_WRITEV) and event.ret > 0


def _first_violation(events: list[Event]) -> int | None:
    # The broken scheme's first syscall entry after arch_prctl(ARCH_SET_FS) runs on the app TCB.
    set_fs = _first(events, _set_fs)
    if set_fs is None:
        return None
    return _first(events, lambda e: isinstance(e, SyscallEntry) and e.seq > set_fs)


def _second_cpu_syscall(events: list[Event]) -> int | None:
    """A thread's syscall on CPU 1 while the other CPU runs another thread of the process."""
    return _first(
        events, lambda e: isinstance(e, SyscallEntry) and e.cpu == 1 and e.pid not in (0, 1)
    )


def _last_set_fs(events: list[Event]) -> int | None:
    seqs = [e.seq for e in events if _set_fs(e)]
    return seqs[-1] if seqs else None


SHOTS = (
    Shot("timeline-cpu", (120, 36), _last_set_fs, ("1",), "the CPU at arch_prctl(ARCH_SET_FS)"),
    Shot("ptregs", (120, 36), lambda ev: _first(ev, _write_exit), ("2",), "pt_regs of a write"),
    Shot("tls", (120, 36), _last_set_fs, ("j", "j", "j", "3"), "TLS after arch_prctl"),
    Shot("entry-path", (120, 36), _last_set_fs, ("4",), "the syscall entry path"),
    Shot(
        "filter",
        (120, 36),
        _last_set_fs,
        ("f", *"sys:arch_prctl,writev", "enter", "1"),
        "filtered to two syscalls",
    ),
    Shot("small-80x24", (80, 24), lambda ev: _first(ev, _write_exit), ("1",), "80x24"),
    Shot(
        "findings",
        (120, 36),
        _first_violation,
        ("6",),
        "tls=broken: the kernel on the app's TCB",
        "tls-broken.db",
    ),
    Shot("wide-200x50", (200, 50), _last_set_fs, ("2",), "a wide terminal"),
    Shot(
        "graph",
        (120, 36),
        lambda ev: _first(ev, lambda e: isinstance(e, SyscallEntry) and e.nr == NR_WRITE),
        ("7",),
        "the function graph of the glibc hello's write",
        "hello-glibc.db",
    ),
    Shot("help", (100, 36), lambda ev: None, ("question_mark",), "the keys"),
    Shot(
        "smp-2cpu",
        (120, 44),
        _second_cpu_syscall,
        ("1",),
        "two CPUs: a lane and a colour per CPU, every CPU's bases",
        "smp-musl.db",
    ),
    Shot(
        "smp-cpu1",
        (120, 36),
        _second_cpu_syscall,
        ("C", "C", "7"),
        "only CPU 1 (C cycles the CPUs), its function graph",
        "smp-musl.db",
    ),
)
# Debian's 6.1 bzImage under KASLR, symbols from its System.map (tests/linux/fixtures).
LINUX_TRACE = REPO / "tests" / "linux" / "fixtures" / "linux-hello-musl.db"
LINUX_SHOTS = (
    Shot("linux-cpu", (120, 36), _last_set_fs, ("1",), "Linux 6.1: the CPU at arch_prctl"),
    Shot("linux-entry-path", (120, 36), _last_set_fs, ("4",), "Linux 6.1's entry_SYSCALL_64"),
)
_KEY_NAMES = {":": "colon", ",": "comma", "/": "slash", " ": "space", "_": "underscore"}


def svg_to_png(svg: Path, png: Path, width: int = 1400) -> None:
    import cairosvg

    text = svg.read_text().replace("Fira Code", "DejaVu Sans Mono")
    cairosvg.svg2png(bytestring=text.encode(), write_to=str(png), output_width=width)


async def _shoot(trace_path: Path, kernel: Path | None, shot: Shot, out: Path) -> Path:
    from tracer.store import TraceReader
    from tracer.tui.app import TracerApp
    from tracer.tui.open_trace import OpenTrace

    with TraceReader.open(trace_path) as reader:
        events = list(reader.events())
        app = TracerApp(OpenTrace(reader, trace_path, kernel=kernel))
        async with app.run_test(size=shot.size) as pilot:
            await _settle(pilot)
            screen: Any = app.screen
            seq = shot.moment(events)
            if seq is not None:
                screen.go_to_seq(seq)
            await _settle(pilot)
            for key in shot.keys:
                await pilot.press(_KEY_NAMES.get(key, key))
                await _settle(pilot)
            screen.status.message = ""
            await _settle(pilot)
            svg = out / f"{shot.name}.svg"
            app.save_screenshot(str(svg.name), str(out))
    return svg


async def _settle(pilot: Any) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def write_screenshots(
    trace: Path, out: Path, kernel: Path | None = None, shots: tuple[Shot, ...] = SHOTS
) -> list[Path]:
    """Every shot as SVG, and as PNG when cairosvg is installed; returns the files written."""
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):  # OSError: cairosvg without the cairo library
        png = False
        print("cairosvg (and libcairo2) missing: writing SVG only", file=sys.stderr)
    else:
        png = True
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in shots:
        sibling = trace.with_name(shot.sibling) if shot.sibling else None
        shot_trace = sibling if sibling is not None and sibling.exists() else trace
        svg = asyncio.run(_shoot(shot_trace, kernel, shot, out))
        written.append(svg)
        if png:
            svg_to_png(svg, svg.with_suffix(".png"))
            written.append(svg.with_suffix(".png"))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tracer.tui.screenshots", description=__doc__)
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--kernel", type=Path, default=None, help="kernel ELF (default: meta)")
    options = parser.parse_args(argv)
    written = write_screenshots(options.trace, options.out, options.kernel)
    if options.trace == DEFAULT_TRACE and LINUX_TRACE.exists():
        written += write_screenshots(LINUX_TRACE, options.out, shots=LINUX_SHOTS)
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
