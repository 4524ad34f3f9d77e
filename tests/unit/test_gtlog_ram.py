"""The built-in guest's truth log read back from its RAM file (qemu/qemu_profiles.read_gtlog),
without QEMU: a RAM file written here as the kernel would leave it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "qemu"))
import qemu_profiles  # noqa: E402

OFFSET = 0x5000
REAL_OFFSET = qemu_profiles.gtlog_mem_offset  # before the fixture replaces it


def ram_file(tmp_path: Path, text: bytes, *, magic: bytes = b"GTLOGMEM", room: int = 4096) -> Path:
    header = qemu_profiles.GTLOG_MEM_HEADER.pack(magic, room, len(text), 0)
    path = tmp_path / "ram"
    path.write_bytes(bytes(OFFSET) + header + text + bytes(64))
    return path


@pytest.fixture(autouse=True)
def _offset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu_profiles, "gtlog_mem_offset", lambda _elf: OFFSET)


def test_the_buffer_then_the_port(tmp_path: Path) -> None:
    port = tmp_path / "port"
    port.write_bytes(b'{"ev":"c"}\n')
    ram = ram_file(tmp_path, b'{"ev":"a"}\n{"ev":"b"}\n')
    assert qemu_profiles.read_gtlog(ram, port, "k") == b'{"ev":"a"}\n{"ev":"b"}\n{"ev":"c"}\n'
    assert qemu_profiles.read_gtlog(ram, tmp_path / "none", "k") == b'{"ev":"a"}\n{"ev":"b"}\n'


def test_a_buffer_never_set_up_is_empty(tmp_path: Path) -> None:
    port = tmp_path / "port"
    port.write_bytes(b'{"ev":"boot"}\n')  # gtlog=1: everything on the port
    assert qemu_profiles.read_gtlog(ram_file(tmp_path, b"x", magic=bytes(8)), port, "k") == (
        b'{"ev":"boot"}\n'
    )
    assert qemu_profiles.read_gtlog(ram_file(tmp_path, b"x" * 10, room=4), None, "k") == b""
    short = tmp_path / "short"
    short.write_bytes(bytes(16))  # RAM that ends before the buffer
    assert qemu_profiles.read_gtlog(short, None, "k") == b""


def test_the_offset_is_the_symbols_physical_address() -> None:
    kernel = REPO / "guest" / "build" / "kernel.elf"
    if not kernel.exists():
        pytest.skip("the guest is not built")
    from elftools.elf.elffile import ELFFile

    with open(kernel, "rb") as f:
        vaddr = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name("gtlog_mem")[0]
    assert REAL_OFFSET(kernel) == vaddr["st_value"] - 0xFFFFFFFF80000000  # the guest's KERNEL_VMA


def test_read_through_a_descriptor_left_open(tmp_path: Path) -> None:
    """qemu/boot's way: the file already unlinked, read through its descriptor, kept open."""
    path = ram_file(tmp_path, b'{"ev":"a"}\n')
    fd = os.open(path, os.O_RDONLY)
    try:
        path.unlink()
        assert qemu_profiles.read_gtlog(fd, None, "k") == b'{"ev":"a"}\n'
        assert os.fstat(fd).st_size > OFFSET  # still open: the caller closes it
    finally:
        os.close(fd)
