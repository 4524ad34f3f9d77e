"""ELF notes read straight from the file's program headers, so a 633 MB vmlinux answers in
microseconds: its GNU build-id (the key of caches), and whether QEMU's `-kernel` boots it as is,
which it does when it carries a Xen PVH entry note (Linux's vmlinux does) and refuses otherwise
for an ELF64."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

XEN_ELFNOTE_PHYS32_ENTRY = 18
NT_GNU_BUILD_ID = 3
# Elf64_Shdr: name, type, flags, addr, offset, size, link, info, addralign, entsize
_SHDR = struct.Struct("<IIQQQQIIQQ")
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


def read_notes(path: str | Path) -> list[tuple[bytes, int, bytes]]:
    """(owner, type, descriptor) of every note in the PT_NOTE segments; [] if none or unreadable."""
    try:
        with open(path, "rb") as f:
            found = []
            for offset, size in _note_segments(f):
                f.seek(offset)
                found += _notes(f.read(size))
            return found
    except OSError:
        return []


def build_id(path: str | Path) -> str | None:
    """The GNU build-id in hex, or None when the file has none."""
    for owner, note_type, desc in read_notes(path):
        if owner == b"GNU" and note_type == NT_GNU_BUILD_ID and desc:
            return desc.hex()
    return None


def pvh_entry(path: str | Path) -> int | None:
    """The 32-bit physical PVH entry point from the kernel's "Xen" note, or None without one
    (or for what is not a little-endian ELF)."""
    for owner, note_type, desc in read_notes(path):
        if owner == b"Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY and len(desc) >= 4:
            return int.from_bytes(desc[:4], "little")
    return None


def has_pvh_note(path: str | Path) -> bool:
    """True for an ELF QEMU boots through its PVH entry (XEN_ELFNOTE_PHYS32_ENTRY, owner Xen)."""
    return pvh_entry(path) is not None


def section_names(path: str | Path) -> list[str]:
    """The ELF64's section names, from its section headers alone ([] if unreadable)."""
    try:
        with open(path, "rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return []
            (shoff,) = struct.unpack_from("<Q", header, 40)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", header, 58)
            f.seek(shoff)
            table = f.read(shentsize * shnum)
            if len(table) < shentsize * shnum or shstrndx >= shnum:
                return []
            entries = [_SHDR.unpack_from(table, i * shentsize) for i in range(shnum)]
            f.seek(entries[shstrndx][4])
            names = f.read(entries[shstrndx][5])
    except (OSError, struct.error):
        return []
    return [names[e[0] : names.find(b"\0", e[0])].decode("utf-8", "replace") for e in entries]


def has_debug_info(path: str | Path) -> bool:
    """Does the ELF carry DWARF (.debug_info), known without reading the file?"""
    return ".debug_info" in section_names(path)
