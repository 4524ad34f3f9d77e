"""Linux's layouts from DWARF, cached by build-id, and the ABI pt_regs without DWARF."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_image_support import compile_program, require_tool

from tracer.image import ElfImage
from tracer.linux.layout import PT_REGS_ABI, cached_layout, linux_layout

# A miniature of the kernel's types: a different pt_regs than the ABI's, so a hard-coded one
# would not pass.
SOURCE = r"""
struct pt_regs { unsigned long r15, r14, ax, orig_ax, ip, cs, flags, sp, ss; };
struct task_struct { long state; void *stack; int prio; int pid; int tgid; char comm[16]; };
struct task_struct *current_task;
struct pt_regs regs_seen;
void _start(void) { for (;;) { if (current_task) regs_seen.ax = current_task->pid; } }
"""


def _vmlinux(tmp_path: Path, *flags: str) -> Path:
    source = tmp_path / "kernel.c"
    source.write_text(SOURCE)
    out = tmp_path / ("vmlinux" + "".join(flags).replace("-", "_"))
    return compile_program(
        out, [source], ["-O1", "-nostdlib", "-static", "-Wl,--build-id", *flags]
    )  # fmt: skip


def test_layout_from_dwarf_then_from_the_cache(tmp_path: Path) -> None:
    vmlinux = _vmlinux(tmp_path, "-g")
    cache = tmp_path / "dwarf"
    assert cached_layout(vmlinux, cache) is None
    layout = linux_layout(vmlinux, cache_dir=cache)
    assert layout.from_dwarf and layout.build_id
    assert layout.pt_regs.size == 9 * 8 and layout.pt_regs.offset_of("orig_ax") == 24
    assert (layout.task_pid, layout.task_comm) == (20, 28)
    assert layout.current_task_type == "struct task_struct *"
    assert layout.current_task == ElfImage.open(vmlinux).address_of("current_task")
    assert list((cache).glob("*.json")) == [cache / f"{layout.build_id}.json"]
    assert cached_layout(vmlinux, cache) == layout


def test_a_stripped_copy_finds_the_cached_dwarf_layout(tmp_path: Path) -> None:
    vmlinux = _vmlinux(tmp_path, "-g")
    cache = tmp_path / "dwarf"
    first = linux_layout(vmlinux, cache_dir=cache)
    stripped = tmp_path / "vmlinux.nodebug"
    objcopy = require_tool("objcopy")
    subprocess.run([objcopy, "--strip-debug", str(vmlinux), str(stripped)], check=True)
    assert not ElfImage.open(stripped).has_dwarf
    assert linux_layout(stripped, cache_dir=cache) == first


def test_without_dwarf_pt_regs_is_the_abi_layout_and_nothing_is_cached(tmp_path: Path) -> None:
    vmlinux = _vmlinux(tmp_path)
    cache = tmp_path / "dwarf"
    layout = linux_layout(vmlinux, cache_dir=cache)
    assert not layout.from_dwarf and layout.task_struct is None and layout.task_pid is None
    assert layout.pt_regs == PT_REGS_ABI
    assert PT_REGS_ABI.size == 168 and PT_REGS_ABI.offset_of("orig_ax") == 0x78
    assert PT_REGS_ABI.offset_of("ip") == 0x80 and PT_REGS_ABI.offset_of("ss") == 0xA0
    assert layout.current_task is not None
    assert not cache.exists()


def test_a_damaged_cache_entry_is_looked_up_again(tmp_path: Path) -> None:
    vmlinux = _vmlinux(tmp_path, "-g")
    cache = tmp_path / "dwarf"
    layout = linux_layout(vmlinux, cache_dir=cache)
    (cache / f"{layout.build_id}.json").write_text("{not json")
    assert cached_layout(vmlinux, cache) is None
    assert linux_layout(vmlinux, cache_dir=cache) == layout
