"""ImageError: one user-facing line for every file the tracer cannot use."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from test_image_support import build_kernel, build_user, require_tool

from tracer.image import ElfImage, ImageError, scan_sites


@pytest.fixture(scope="module")
def kernel_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_kernel(tmp_path_factory.mktemp("kernel")).read_bytes()


def _open_bytes(tmp_path: Path, data: bytes) -> ImageError:
    path = tmp_path / "broken.elf"
    path.write_bytes(data)
    with pytest.raises(ImageError) as caught:
        ElfImage.open(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return caught.value


def _with_machine(data: bytes, machine: int) -> bytes:
    return data[:18] + struct.pack("<H", machine) + data[20:]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        ElfImage.open(tmp_path / "absent.elf")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory"):
        ElfImage.open(tmp_path)


@pytest.mark.parametrize("data", [b"", b"#!/bin/sh\necho hi\n", b"\x7fELB" + bytes(60)])
def test_not_an_elf_file(tmp_path: Path, data: bytes) -> None:
    assert _open_bytes(tmp_path, data).reason == "not an ELF file"


@pytest.mark.parametrize(("machine", "name"), [(40, "ARM"), (3, "i386"), (183, "AArch64")])
def test_other_architectures(tmp_path: Path, kernel_bytes: bytes, machine: int, name: str) -> None:
    error = _open_bytes(tmp_path, _with_machine(kernel_bytes, machine))
    assert error.reason == f"ELF for {name}, need x86-64"


def test_32_bit_x86_64_is_refused(tmp_path: Path, kernel_bytes: bytes) -> None:
    data = kernel_bytes[:4] + b"\x01" + kernel_bytes[5:]
    assert "64-bit" in _open_bytes(tmp_path, data).reason


@pytest.mark.parametrize("keep", [30, 63, 1000, 0.5, -1])
def test_truncated(tmp_path: Path, kernel_bytes: bytes, keep: float) -> None:
    size = int(len(kernel_bytes) * keep) if isinstance(keep, float) else keep
    assert "truncated" in _open_bytes(tmp_path, kernel_bytes[:size]).reason


def test_section_data_past_the_end(tmp_path: Path, kernel_bytes: bytes) -> None:
    """Section headers intact (moved to the front) but a section's bytes cut off."""
    (shoff,) = struct.unpack_from("<Q", kernel_bytes, 40)
    shentsize, shnum = struct.unpack_from("<HH", kernel_bytes, 58)
    table = kernel_bytes[shoff : shoff + shentsize * shnum]
    cut = kernel_bytes[: len(kernel_bytes) // 2] + table
    data = cut[:40] + struct.pack("<Q", len(cut) - len(table)) + cut[48:]
    assert "truncated" in _open_bytes(tmp_path, data).reason


@pytest.mark.parametrize(
    ("offset", "fmt", "value"), [(62, "<H", 0x7777), (58, "<H", 7)],
    ids=["shstrndx-out-of-range", "shentsize-too-small"],
)  # fmt: skip
def test_corrupt_headers(
    tmp_path: Path, kernel_bytes: bytes, offset: int, fmt: str, value: int
) -> None:
    data = bytearray(kernel_bytes)
    struct.pack_into(fmt, data, offset, value)
    assert "corrupt" in _open_bytes(tmp_path, bytes(data)).reason


def test_garbage_section_headers(tmp_path: Path, kernel_bytes: bytes) -> None:
    (shoff,) = struct.unpack_from("<Q", kernel_bytes, 40)
    data = kernel_bytes[:shoff] + b"\xff" * (len(kernel_bytes) - shoff)
    _open_bytes(tmp_path, data)


def test_stripped_file(tmp_path: Path) -> None:
    strip = require_tool("strip")
    user = build_user(tmp_path)
    subprocess.run([strip, str(user)], check=True)
    error = _open_bytes(tmp_path, user.read_bytes())
    assert error.reason == "stripped: no .symtab; the tracer needs symbols"
    relaxed = ElfImage.open(user, require_symbols=False)
    assert not relaxed.has_symtab and relaxed.symbols == ()
    sites = scan_sites(relaxed, ["syscall"])
    assert len(sites) == 2 and all(site.function is None for site in sites)
