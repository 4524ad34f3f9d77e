"""Make the Linux trace the TUI tests open without Debian's package:
`python -m tests.linux.make_tui_fixture TRACE` on a `tracer capture --kernel vmlinuz --symbols
System.map` trace (a bzImage under KASLR, symbols from a map).

Beside the trimmed trace go the kernel's entry code (two pages of the bzImage's extracted ELF
around entry_SYSCALL_64, linked at their address) and the System.map lines the trace's pcs
and that code need, the meta naming them relative to the trace file (600 KB in all).
"""

from __future__ import annotations

import bisect
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from tracer.events import Event, SegBaseChange, SyscallExit
from tracer.image.symbol_map import SymbolMap
from tracer.store import TraceReader, TraceWriter

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRACE = FIXTURES / "linux-hello-musl.db"
KERNEL = FIXTURES / "linux-entry.elf"
SYMBOLS = FIXTURES / "linux-entry.map"
PAGE = 4096
CODE_PAGES = 2  # entry_SYSCALL_64 to the iretq path: Debian 6.1's entry text starts a page
KEPT_BOOT_SEGBASE = 60  # base changes of /init and the idle task kept (the rest repeat them)
WRITER_META = {"format", "schema_version", "complete", "started_at", "ended_at",
               "event_count", "event_counts", "time_ordered", "end_time_ns"}  # fmt: skip


def trimmed(events: list[Event], program: str) -> list[Event]:
    """Everything but the base changes before `program` starts (all but the first few),
    renumbered, exits pointing at their entries' new numbers."""
    start = next(e.seq for e in events if e.kind == "process" and e.name == program)
    kept, boot_changes = [], 0
    for event in events:
        if isinstance(event, SegBaseChange) and event.seq < start:
            boot_changes += 1
            if boot_changes > KEPT_BOOT_SEGBASE:
                continue
        kept.append(event)
    renumber = {e.seq: i for i, e in enumerate(kept)}
    out = []
    for i, event in enumerate(kept):
        event = replace(event, seq=i)
        if isinstance(event, SyscallExit) and event.entry_seq is not None:
            event = replace(event, entry_seq=renumber.get(event.entry_seq))
        out.append(event)
    return out


def map_lines(system_map: Path, pcs: set[int], lo: int, hi: int) -> list[str]:
    """The map's lines for the symbols holding each pc (and the next, where it ends) and for
    every symbol in [lo, hi)."""
    found = sorted(SymbolMap.open(system_map).symbols, key=lambda s: s.addr)
    addrs = [s.addr for s in found]
    wanted = {s.name for s in found if lo <= s.addr < hi}
    wanted.add("do_syscall_64")
    for pc in pcs:
        at = bisect.bisect_right(addrs, pc) - 1
        wanted.update(s.name for s in found[max(at, 0) : at + 2])
    lines = system_map.read_text().splitlines()
    return [line for line in lines if line.split()[-1:] and line.split()[-1] in wanted]


def carve_code(kernel_elf: Path, start: int, out: Path) -> None:
    """`CODE_PAGES` pages of .text from `start`, as an ELF linked there."""
    with tempfile.TemporaryDirectory() as tmp:
        text, blob, obj = Path(tmp) / "text.bin", Path(tmp) / "entry.bin", Path(tmp) / "entry.o"
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", kernel_elf, text],
                       check=True)  # fmt: skip
        text_addr = _section_addr(kernel_elf, ".text")
        offset = start - text_addr
        blob.write_bytes(text.read_bytes()[offset : offset + CODE_PAGES * PAGE])
        subprocess.run(["objcopy", "-I", "binary", "-O", "elf64-x86-64", "-B", "i386:x86-64",
                        "--rename-section", ".data=.text,alloc,load,readonly,code,contents",
                        blob.name, obj.name], check=True, cwd=tmp)  # fmt: skip
        link = ["ld", f"-Ttext={start:#x}", "-e", f"{start:#x}", "--strip-all", "-o", out, obj]
        subprocess.run(link, check=True)


def _section_addr(elf: Path, name: str) -> int:
    from tracer.image import ElfImage

    image = ElfImage.open(elf, require_symbols=False)
    return next(s.addr for s in image.sections if s.name == name)


def make(trace: Path, program: str = "hello-musl") -> Path:
    FIXTURES.mkdir(exist_ok=True)
    with TraceReader.open(trace) as reader:
        meta = {k: v for k, v in reader.meta.items() if k not in WRITER_META}
        events = trimmed(list(reader.events()), program)
    system_map = Path(meta["symbols"])
    entry = SymbolMap.open(system_map).address_of("entry_SYSCALL_64")
    assert entry is not None
    start = entry & ~(PAGE - 1)
    carve_code(Path(meta["kernel"]), start, KERNEL)
    pcs = {e.pc for e in events if isinstance(getattr(e, "pc", None), int)}
    SYMBOLS.write_text("\n".join(map_lines(system_map, pcs, start, start + CODE_PAGES * PAGE)))
    meta.update(kernel=KERNEL.name, symbols=SYMBOLS.name, programs=program,
                boot_image="vmlinuz")  # fmt: skip
    with TraceWriter(TRACE, meta, overwrite=True) as writer:
        for event in events:
            writer.append(event)
    return TRACE


if __name__ == "__main__":
    made = make(Path(sys.argv[1]), *sys.argv[2:])
    for path in (made, KERNEL, SYMBOLS):
        print(path, path.stat().st_size, "bytes")
