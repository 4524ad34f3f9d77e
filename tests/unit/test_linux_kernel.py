"""Telling a bzImage from a PVH vmlinux from anything else, before any boot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.image import ImageError
from tracer.linux.kernel import is_bzimage, open_linux_kernel


def _bzimage_header() -> bytes:
    head = bytearray(0x400)
    head[0x1FE:0x200] = b"\x55\xaa"
    head[0x202:0x206] = b"HdrS"
    return bytes(head)


def test_bzimage_header_is_recognised(tmp_path: Path) -> None:
    image = tmp_path / "vmlinuz"
    image.write_bytes(_bzimage_header())
    assert is_bzimage(image)
    image.write_bytes(_bzimage_header()[:0x204])
    assert not is_bzimage(image)
    image.write_bytes(_bzimage_header().replace(b"HdrS", b"HdrX"))
    assert not is_bzimage(image)
    assert not is_bzimage(tmp_path / "absent")


def test_neither_bzimage_nor_pvh_is_a_one_line_error(tmp_path: Path) -> None:
    junk = tmp_path / "kernel"
    junk.write_bytes(b"\x7fELF" + bytes(200))
    with pytest.raises(ImageError, match="neither a bzImage nor an ELF with a PVH entry note"):
        open_linux_kernel(junk)


def test_bzimage_with_a_bad_symbols_file_says_so(tmp_path: Path) -> None:
    image = tmp_path / "vmlinuz"
    image.write_bytes(_bzimage_header())
    symbols = tmp_path / "System.map"
    symbols.write_text("this is not a map\n")
    with pytest.raises(ImageError, match="not `ADDRESS TYPE NAME`"):
        open_linux_kernel(image, symbols)
