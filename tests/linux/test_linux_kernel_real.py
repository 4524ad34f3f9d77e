"""`--kernel`/`--symbols` combinations on Debian's kernel, as a capture would open them."""

from __future__ import annotations

import pytest

from tracer.image import ElfImage, SymbolMap, has_pvh_note
from tracer.linux.kernel import open_linux_kernel
from tracer.linux.packages import KernelFiles

pytestmark = pytest.mark.linux


def test_dwarf_vmlinux_boots_itself_and_gives_gdb_a_stripped_copy(
    debian_kernel_dbg: KernelFiles,
) -> None:
    assert debian_kernel_dbg.vmlinux
    kernel = open_linux_kernel(debian_kernel_dbg.vmlinux)
    assert kernel.boot_image == debian_kernel_dbg.vmlinux and has_pvh_note(kernel.boot_image)
    assert isinstance(kernel.symbols, ElfImage) and kernel.layout.from_dwarf
    assert kernel.gdb_file is not None and kernel.gdb_file != debian_kernel_dbg.vmlinux
    assert not ElfImage.open(kernel.gdb_file).has_dwarf
    assert kernel.layout.task_comm is not None


def test_bzimage_with_system_map_has_the_abi_layout(debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.system_map
    kernel = open_linux_kernel(debian_kernel_dbg.vmlinuz, debian_kernel_dbg.system_map)
    assert kernel.boot_image == debian_kernel_dbg.vmlinuz and kernel.gdb_file is None
    assert isinstance(kernel.symbols, SymbolMap)
    assert not kernel.layout.from_dwarf and kernel.layout.task_pid is None
    assert kernel.layout.current_task == kernel.symbols.address_of("current_task")
    assert kernel.layout.pt_regs.size == 168


def test_bzimage_with_the_dwarf_vmlinux_as_symbols(debian_kernel_dbg: KernelFiles) -> None:
    assert debian_kernel_dbg.vmlinux
    kernel = open_linux_kernel(debian_kernel_dbg.vmlinuz, debian_kernel_dbg.vmlinux)
    assert kernel.boot_image == debian_kernel_dbg.vmlinuz
    assert kernel.layout.from_dwarf and kernel.gdb_file is not None
