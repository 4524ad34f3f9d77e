"""`read_code` against gdb on the real guest: the bytes the CPU runs, where `read_memory` answers
a read-only section from the kernel's file (gdb's trust-readonly-sections, which the tracer
turns on for speed). A kernel that patches its own text (Linux's ftrace NOPs, alternatives)
differs from its file there, and the MSR snapshot must put back what ran, not the file's."""

from __future__ import annotations

import pytest
from capture_support import BOOT_IMAGE, KERNEL, USER, build_guest

from tracer.image import ElfImage
from tracer.target.qemu import Module, QemuConfig
from tracer.target.session import TargetSession

pytestmark = pytest.mark.qemu


def test_read_code_sees_the_guest_where_read_memory_sees_the_file() -> None:
    build_guest()
    image = ElfImage.open(KERNEL)
    entry = image.address_of("do_syscall_64")
    assert entry is not None
    config = QemuConfig(boot_image=BOOT_IMAGE, modules=(Module(USER / "hello-glibc"),))
    with TargetSession(KERNEL, config) as session:
        stop = session.run_until([entry], 30)
        assert stop.pc == entry
        site = entry + 16  # in .text, read-only in the file
        in_file = image.read(site, 2)
        session.write_memory(site, b"\x0f\x0b")  # as a kernel patching its text would
        assert session.read_memory(site, 2) == in_file  # from the file
        assert session.read_code(site, 2) == b"\x0f\x0b"  # from the guest
        assert session.read_memory(site, 2) == in_file  # the setting is back on
