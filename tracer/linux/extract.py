"""The kernel ELF inside a bzImage (what Linux's scripts/extract-vmlinux does): the payload
is found by its compression magic, decompressed, and kept if it is an x86-64 ELF. Cached by
the image's SHA-256, so a System.map or kallsyms capture has code to disassemble."""

from __future__ import annotations

import lzma
import os
import zlib
from pathlib import Path

from tracer.image.errors import ImageError

from .kallsyms_boot import image_digest
from .packages import cache_root

_XZ = b"\xfd7zXZ\x00"
_GZIP = b"\x1f\x8b\x08"
_ELF64 = b"\x7fELF\x02"


def _payloads(data: bytes) -> list[bytes]:
    """Every decompressible stream, xz first (Debian's), then gzip."""
    out = []
    for magic, decompress in ((_XZ, _unxz), (_GZIP, _gunzip)):
        at = data.find(magic)
        while at >= 0:
            try:
                out.append(decompress(data[at:]))
                break
            except (lzma.LZMAError, OSError, EOFError, zlib.error):
                at = data.find(magic, at + 1)
    return out


def _unxz(data: bytes) -> bytes:
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _gunzip(data: bytes) -> bytes:
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def extract_vmlinux(bzimage: Path, root: Path | None = None) -> Path:
    """The ELF a bzImage carries (no symbols: the caller brings them), or ImageError."""
    target = (root or cache_root()) / "extracted" / f"{image_digest(bzimage)}.vmlinux"
    if target.exists():
        return target
    for payload in _payloads(bzimage.read_bytes()):
        if payload.startswith(_ELF64):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}")
            partial.write_bytes(payload)
            os.replace(partial, target)
            return target
    raise ImageError(bzimage, "no xz or gzip payload holding an x86-64 ELF (not a bzImage?)")
