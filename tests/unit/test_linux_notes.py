"""PVH note detection on hand-built ELF files: what decides whether QEMU boots an ELF64."""

from __future__ import annotations

import struct
from pathlib import Path

from test_image_support import compile_program

from tracer.image.notes import (
    XEN_ELFNOTE_PHYS32_ENTRY,
    build_id,
    has_debug_info,
    has_pvh_note,
    pvh_entry,
    section_names,
)


def _note(owner: bytes, note_type: int, desc: bytes) -> bytes:
    name = owner + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), note_type) + pad(name) + pad(desc)


def _elf64(notes: bytes) -> bytes:
    """An ELF64 header, one PT_NOTE program header, then the notes."""
    phoff, note_off = 64, 64 + 56
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, phoff, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(notes), len(notes), 4)
    return header + phdr + notes


def test_xen_phys32_entry_note_is_found(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinux"
    notes = _note(b"GNU", 3, b"\xaa" * 20) + _note(b"Xen", 6, b"linux\0")
    notes += _note(b"Xen", XEN_ELFNOTE_PHYS32_ENTRY, struct.pack("<I", 0x1000850))
    kernel.write_bytes(_elf64(notes))
    assert pvh_entry(kernel) == 0x1000850
    assert has_pvh_note(kernel)


def test_other_owners_and_types_are_not_a_pvh_entry(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinux"
    notes = _note(b"GNU", XEN_ELFNOTE_PHYS32_ENTRY, b"\1\0\0\0") + _note(b"Xen", 6, b"linux\0")
    kernel.write_bytes(_elf64(notes))
    assert pvh_entry(kernel) is None


def test_not_an_elf_or_missing_is_no(tmp_path: Path) -> None:
    junk = tmp_path / "bzImage"
    junk.write_bytes(b"MZ" + bytes(600))
    assert not has_pvh_note(junk)
    assert not has_pvh_note(tmp_path / "absent")
    truncated = tmp_path / "short"
    truncated.write_bytes(_elf64(_note(b"Xen", 18, b"\1\0\0\0"))[:100])
    assert not has_pvh_note(truncated)


def test_build_id_is_read_from_the_gnu_note(tmp_path: Path) -> None:
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(_elf64(_note(b"Xen", 6, b"linux\0") + _note(b"GNU", 3, bytes(range(20)))))
    assert build_id(kernel) == bytes(range(20)).hex()
    kernel.write_bytes(_elf64(_note(b"Xen", 6, b"linux\0")))
    assert build_id(kernel) is None


def test_section_names_and_debug_info_from_headers_alone(tmp_path: Path) -> None:
    source = tmp_path / "p.c"
    source.write_text("int x = 1; void _start(void) { for (;;) x++; }\n")
    with_dwarf = compile_program(tmp_path / "g", [source], ["-g", "-nostdlib", "-static"])
    without = compile_program(tmp_path / "n", [source], ["-nostdlib", "-static"])
    assert ".text" in section_names(with_dwarf) and ".symtab" in section_names(with_dwarf)
    assert has_debug_info(with_dwarf) and not has_debug_info(without)
    assert section_names(tmp_path / "p.c") == [] and not has_debug_info(tmp_path / "absent")
