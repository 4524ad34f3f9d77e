"""Debian's real kernel package: what the fixture hands the other tests."""

from __future__ import annotations

import pytest

from tracer.image.elf import ElfImage
from tracer.image.notes import has_pvh_note
from tracer.linux.packages import KernelFiles

pytestmark = pytest.mark.linux


def test_vmlinuz_is_a_bzimage(debian_kernel: KernelFiles) -> None:
    header = debian_kernel.vmlinuz.read_bytes()[:0x210]
    assert header[0x202:0x206] == b"HdrS"  # the Linux boot protocol's header magic


def test_dbg_files_and_the_stripped_copy(debian_kernel_dbg: KernelFiles) -> None:
    k = debian_kernel_dbg
    assert k.vmlinux and k.system_map and k.vmlinux_nodebug
    assert has_pvh_note(k.vmlinux_nodebug)
    stripped = ElfImage.open(k.vmlinux_nodebug)
    assert not stripped.has_dwarf
    assert stripped.address_of("entry_SYSCALL_64") is not None
    assert k.vmlinux_nodebug.stat().st_size < k.vmlinux.stat().st_size // 4
    assert "entry_SYSCALL_64" in k.system_map.read_text()
