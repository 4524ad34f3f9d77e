"""Demand paging on Debian's kernel: buffers in pages the program never touched are not mapped
at the syscall's entry; the trace reads them at the exit or shows their address, never other
bytes. Built with musl, whose small static binaries put their strings at addresses the
tracer's own /init (gdb's file for a bzImage) holds code at."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_linux_capture import capture

from tracer.events import SyscallEntry, SyscallExit
from tracer.export.labels import syscall_line
from tracer.linux.packages import KernelFiles

pytestmark = [pytest.mark.linux, pytest.mark.qemu]
SOURCE = Path(__file__).parent / "programs" / "fresh_pages.c"


def _build(tmp_path: Path) -> Path:
    if shutil.which("musl-gcc") is None:
        pytest.skip("musl-gcc not installed (apt-get install musl-tools)")
    program = tmp_path / "fresh_pages"
    subprocess.run(["musl-gcc", "-O2", "-static", "-o", program, SOURCE], check=True)
    return program


def _lines(events: list, pid: int) -> list[str]:
    exits = {e.entry_seq: e for e in events if isinstance(e, SyscallExit)}
    return [
        syscall_line(e, exits.get(e.seq))
        for e in events
        if isinstance(e, SyscallEntry) and e.pid == pid
    ]


def test_fresh_pages_read_at_exit_or_shown_unread(tmp_path: Path, debian_kernel_dbg: KernelFiles):
    assert debian_kernel_dbg.system_map is not None
    program = _build(tmp_path)
    _, events = capture(tmp_path, "--kernel", debian_kernel_dbg.vmlinuz,
                        "--symbols", debian_kernel_dbg.system_map, program=program)  # fmt: skip
    pid = next(e.pid for e in events if e.kind == "process" and e.name == program.name)
    lines = _lines(events, pid)
    start = next(i for i, line in enumerate(lines) if line.startswith("write("))
    mine = [line.split(" = ")[0] for line in lines[start:]]
    assert mine[:5] == [
        'write(1, "\\0\\0\\0\\0\\0\\0\\0\\0", 8)',  # the zero page, mapped by the kernel's read
        'open("/init", O_RDONLY|O_LARGEFILE)',  # at an address of /init's code: not its bytes
        'read(4, "\\177ELF", 4)',  # into a page the kernel's copy mapped
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
        'open("", O_RDONLY|O_LARGEFILE)',  # a fresh anonymous page, faulted in to be read
    ]
    never = next(line for line in lines[start:] if line.endswith("EFAULT (Bad address)"))
    # PROT_NONE: unread at both ends, shown by its address (an mmap one: 0x7f..., or 0x7e...
    # when ASLR puts the mmap base lower)
    assert re.fullmatch(r"write\(1, 0x7[ef][0-9a-f]{10}, 8\) = -1 EFAULT \(Bad address\)", never)
