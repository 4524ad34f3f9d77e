"""Is an ELF kernel bootable by QEMU's `-kernel` as is? It is when it carries a Xen PVH entry
note (Linux's vmlinux does); otherwise QEMU refuses an ELF64. Reads only the headers and notes,
so a 633 MB vmlinux answers in microseconds."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

XEN_ELFNOTE_PHYS32_ENTRY = 18
_PT_NOTE = 4
_MAX_NOTES_BYTES = 1 << 20


def _notes(data: bytes) -> list[tuple[bytes, int, bytes]]:
    """(owner, type, descriptor) of each note in one PT_NOTE segment's bytes."""
    notes, pos = [], 0
    while pos + 12 <= len(data):
        namesz, descsz, note_type = struct.unpack_from("<III", data, pos)
        pos += 12
        name = data[pos : pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        desc = data[pos : pos + descsz]
        pos += (descsz + 3) & ~3
        notes.append((name, note_type, desc))
    return notes


def _note_segments(f: BinaryIO) -> list[tuple[int, int]]:
    """(file offset, size) of each PT_NOTE program header of an ELF32 or ELF64."""
    header = f.read(64)
    if len(header) < 52 or header[:4] != b"\x7fELF" or header[5] != 1:
        return []
    if header[4] == 2:
        (phoff,) = struct.unpack_from("<Q", header, 32)
        phentsize, phnum = struct.unpack_from("<HH", header, 54)
        layout, fields = struct.Struct("<IIQQQQ"), (0, 2, 5)  # p_type, p_offset, p_filesz
    else:
        (phoff,) = struct.unpack_from("<I", header, 28)
        phentsize, phnum = struct.unpack_from("<HH", header, 42)
        layout, fields = struct.Struct("<IIIII"), (0, 1, 4)
    f.seek(phoff)
    table = f.read(phentsize * phnum)
    found = []
    for i in range(phnum):
        entry = table[i * phentsize : i * phentsize + layout.size]
        if len(entry) < layout.size:
            break
        values = layout.unpack(entry)
        p_type, offset, filesz = (values[k] for k in fields)
        if p_type == _PT_NOTE and filesz <= _MAX_NOTES_BYTES:
            found.append((offset, filesz))
    return found


def pvh_entry(path: str | Path) -> int | None:
    """The 32-bit physical PVH entry point from the kernel's "Xen" note, or None without one
    (or for what is not a little-endian ELF)."""
    try:
        with open(path, "rb") as f:
            for offset, size in _note_segments(f):
                f.seek(offset)
                for owner, note_type, desc in _notes(f.read(size)):
                    if owner == b"Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY and desc:
                        return int.from_bytes(desc[:4], "little")
    except OSError:
        return None
    return None


def has_pvh_note(path: str | Path) -> bool:
    """True for an ELF QEMU boots through its PVH entry (XEN_ELFNOTE_PHYS32_ENTRY, owner Xen)."""
    return pvh_entry(path) is not None
