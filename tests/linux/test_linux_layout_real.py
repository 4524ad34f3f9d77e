"""Debian's vmlinux: the layouts the tracer needs, read from 633 MB of DWARF by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.image.symbol_map import SymbolMap
from tracer.linux.layout import PT_REGS_ABI, linux_layout
from tracer.linux.packages import KernelFiles

pytestmark = pytest.mark.linux


def test_dwarf_layouts_match_the_abi_and_system_map(
    debian_kernel_dbg: KernelFiles, tmp_path: Path
) -> None:
    assert debian_kernel_dbg.vmlinux and debian_kernel_dbg.system_map
    layout = linux_layout(debian_kernel_dbg.vmlinux, cache_dir=tmp_path)
    assert layout.from_dwarf
    # Linux's DWARF pt_regs has unions for cs/ss (FRED-era headers): compare offsets and size.
    assert layout.pt_regs.size == PT_REGS_ABI.size
    for field in PT_REGS_ABI.fields:
        assert layout.pt_regs.offset_of(field.name) == field.offset, field.name
    assert layout.task_pid and layout.task_comm and layout.task_comm > layout.task_pid
    assert layout.current_task_type == "struct task_struct *"
    system_map = SymbolMap.open(debian_kernel_dbg.system_map)
    assert layout.current_task == system_map.address_of("current_task")
    cached = linux_layout(debian_kernel_dbg.vmlinux_nodebug or Path(), cache_dir=tmp_path)
    assert cached == layout  # the stripped copy shares the build-id
