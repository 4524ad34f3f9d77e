"""The kallsyms boot on Debian's bzImage: the dump agrees with the -dbg package's System.map."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.image.symbol_map import SymbolMap
from tracer.linux.kallsyms_boot import kallsyms_for
from tracer.linux.packages import KernelFiles

pytestmark = [pytest.mark.linux, pytest.mark.qemu]


def test_kallsyms_boot_then_its_cache(debian_kernel_dbg: KernelFiles, tmp_path: Path) -> None:
    said: list[str] = []
    dump = kallsyms_for(debian_kernel_dbg.vmlinuz, root=tmp_path, progress=said.append)
    assert len(said) == 1 and "kallsyms" in said[0]
    dumped = SymbolMap.open(dump)
    assert debian_kernel_dbg.system_map
    system_map = SymbolMap.open(debian_kernel_dbg.system_map)
    # nokaslr: the running kernel's addresses are the link-time ones.
    for name in ("_text", "entry_SYSCALL_64", "do_syscall_64", "__switch_to_asm", "current_task"):
        assert dumped.address_of(name) == system_map.address_of(name), name
    assert len(dumped.symbols) > 0.9 * len(system_map.symbols)
    again = kallsyms_for(debian_kernel_dbg.vmlinuz, root=tmp_path, progress=said.append)
    assert again == dump and len(said) == 1  # from the cache: no second boot said
